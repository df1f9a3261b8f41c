//! The admission pipeline on a hand-written schema: each behaviour kube-apiserver has, proven
//! both ways.

use multi_eni_crd_schema::{CrdSchema, FieldErrorKind};
use serde_json::{Value, json};

fn schema() -> CrdSchema {
    CrdSchema::from_openapi(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["name"],
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "min must not exceed max"}
                ],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                    "min": {"type": "integer", "default": 1, "minimum": 0},
                    "max": {"type": "integer", "default": 10, "maximum": 100, "exclusiveMaximum": false},
                    "ratio": {"type": "number", "minimum": 0.5, "exclusiveMinimum": true},
                    "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                    "tags": {"type": "array", "maxItems": 2, "minItems": 1, "x-kubernetes-list-type": "set",
                             "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "maybe": {"type": "string", "nullable": true},
                    "when": {"type": "string", "format": "date-time"},
                    "nested": {"type": "object", "default": {}, "properties": {
                        "flag": {"type": "boolean", "default": true}
                    }},
                    "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                              "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {"type": "integer"}}}}
                }
            }
        }
    }))
    .expect("schema compiles")
}

fn admit(obj: Value) -> Result<Value, Vec<String>> {
    let mut obj = obj;
    schema()
        .admit(&mut obj, None)
        .map(|_| obj)
        .map_err(|e| e.causes.iter().map(|c| c.message.clone()).collect())
}

#[test]
fn defaults_fill_missing_fields_including_nested_objects() {
    let obj = admit(json!({"spec": {"name": "ab"}})).expect("valid");
    assert_eq!(obj["spec"]["min"], 1);
    assert_eq!(obj["spec"]["max"], 10);
    assert_eq!(obj["spec"]["mode"], "a");
    assert_eq!(obj["spec"]["nested"]["flag"], true);
}

#[test]
fn defaults_do_not_override_given_values() {
    let obj =
        admit(json!({"spec": {"name": "ab", "min": 3, "nested": {"flag": false}}})).expect("valid");
    assert_eq!(obj["spec"]["min"], 3);
    assert_eq!(obj["spec"]["nested"]["flag"], false);
}

#[test]
fn unknown_fields_are_pruned_and_reported_but_preserved_where_allowed() {
    let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
        "spec": {"name": "ab", "bogus": 1, "free": {"anything": {"goes": true}}}, "extra": 2});
    let admitted = schema().admit(&mut obj, None).expect("valid");
    assert_eq!(
        admitted.pruned,
        vec!["extra".to_owned(), "spec.bogus".to_owned()]
    );
    assert!(obj["spec"].get("bogus").is_none());
    assert_eq!(obj["spec"]["free"]["anything"]["goes"], true);
    assert_eq!(obj["metadata"]["name"], "n");
    assert_eq!(obj["kind"], "K");
}

#[test]
fn null_in_non_nullable_field_is_dropped_then_defaulted() {
    let obj = admit(json!({"spec": {"name": "ab", "min": null, "maybe": null}})).expect("valid");
    assert_eq!(obj["spec"]["min"], 1);
    assert_eq!(obj["spec"]["maybe"], Value::Null);
}

/// apiextensions-apiserver's error when a blocking schema error kept the CEL rules from running.
const NOT_CHECKED: &str = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

#[test]
fn each_constraint_is_reported_with_the_apiserver_line() {
    // Missing, mistyped, unsupported and oversized values block the CEL rules (`true`): kube
    // says so in one more error.
    let cases: Vec<(Value, &str, bool)> = vec![
        (json!({}), "spec.name: Required value", true),
        (
            json!({"name": "ABC"}),
            "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'",
            false,
        ),
        (
            json!({"name": "a"}),
            "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long",
            false,
        ),
        (
            json!({"name": "abcdef"}),
            "spec.name: Too long: may not be more than 5 bytes",
            true,
        ),
        (
            json!({"name": "ab", "min": -1}),
            "spec.min: Invalid value: -1: spec.min in body should be greater than or equal to 0",
            false,
        ),
        (
            json!({"name": "ab", "max": 101}),
            "spec.max: Invalid value: 101: spec.max in body should be less than or equal to 100",
            false,
        ),
        (
            json!({"name": "ab", "ratio": 0.5}),
            "spec.ratio: Invalid value: 0.5: spec.ratio in body should be greater than 0.5",
            false,
        ),
        (
            json!({"name": "ab", "mode": "c"}),
            "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"",
            true,
        ),
        (
            json!({"name": "ab", "tags": ["x", "y", "z"]}),
            "spec.tags: Too many: 3: must have at most 2 items",
            true,
        ),
        (
            json!({"name": "ab", "tags": []}),
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
            false,
        ),
        (
            json!({"name": "ab", "tags": ["x", "x"]}),
            "spec.tags[1]: Duplicate value: \"x\"",
            false,
        ),
        (
            json!({"name": "ab", "labels": {"k": "long"}}),
            "spec.labels.k: Too long: may not be more than 3 bytes",
            true,
        ),
        (
            json!({"name": "ab", "min": "1"}),
            "spec.min: Invalid value: \"string\": spec.min in body must be of type integer: \"string\"",
            true,
        ),
        (
            json!({"name": "ab", "when": "yesterday"}),
            "spec.when: Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
            true,
        ),
        (
            json!({"name": "ab", "items": [{"k": "a"}, {"k": "a", "v": 1}]}),
            "spec.items[1]: Duplicate value: {\"k\":\"a\"}",
            false,
        ),
        (
            json!({"name": "ab", "min": 5, "max": 4}),
            "spec: Invalid value: min must not exceed max",
            false,
        ),
    ];
    for (spec, expected, blocks_cel) in cases {
        let errors =
            admit(json!({"spec": spec.clone()})).expect_err(&format!("{spec} must be refused"));
        let mut want = vec![expected.to_owned()];
        if blocks_cel {
            want.push(NOT_CHECKED.to_owned());
        }
        assert_eq!(errors, want, "for {spec}");
    }
}

#[test]
fn the_same_values_pass_when_within_bounds() {
    admit(
        json!({"spec": {"name": "abc", "min": 0, "max": 100, "ratio": 0.6, "mode": "b",
        "tags": ["x", "y"], "labels": {"k": "abc"}, "when": "2026-12-01T00:00:00Z",
        "items": [{"k": "a"}, {"k": "b"}]}}),
    )
    .expect("valid");
}

#[test]
fn cel_is_skipped_when_types_are_wrong() {
    let errors = admit(json!({"spec": {"name": "ab", "min": "x", "max": 4}})).expect_err("refused");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[1], NOT_CHECKED, "instead of min > max");
}

/// Bounds and patterns do not block CEL: a real cluster reports the rule's failure with them.
#[test]
fn cel_runs_after_errors_that_do_not_block_it() {
    let errors = admit(json!({"spec": {"name": "ABC", "min": 5, "max": 4}})).expect_err("refused");
    assert_eq!(
        errors,
        vec![
            "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"
                .to_owned(),
            "spec: Invalid value: min must not exceed max".to_owned(),
        ]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let mut obj = json!({"spec": {"name": "A", "mode": "z"}});
    let invalid = schema().admit(&mut obj, None).expect_err("refused");
    let kinds: Vec<FieldErrorKind> = invalid.causes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            FieldErrorKind::NotSupported,
            FieldErrorKind::Invalid,
            FieldErrorKind::Invalid,
            FieldErrorKind::Invalid
        ]
    );
    assert_eq!(invalid.causes[0].reason(), "FieldValueNotSupported");
    let message = invalid.message("Thing", "example.com", "t1");
    assert!(
        message.starts_with("Thing.example.com \"t1\" is invalid: [spec.mode: Unsupported value"),
        "{message}"
    );
}

#[test]
fn single_cause_message_has_no_brackets() {
    let mut obj = json!({"spec": {"name": "a"}});
    let invalid = schema().admit(&mut obj, None).expect_err("refused");
    assert_eq!(
        invalid.message("Thing", "", "t1"),
        "Thing \"t1\" is invalid: spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"
    );
}

#[test]
fn a_cel_rule_that_does_not_compile_is_refused_at_schema_load() {
    let err = CrdSchema::from_openapi(&json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.a ==", "message": "broken"}],
        "properties": {"a": {"type": "integer"}}
    }))
    .expect_err("must not compile");
    assert!(
        err.to_string().contains("CEL rule does not compile"),
        "{err}"
    );
}

#[test]
fn a_bad_pattern_is_refused_at_schema_load() {
    let err = CrdSchema::from_openapi(
        &json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
    )
    .expect_err("must not compile");
    assert!(err.to_string().contains("pattern"), "{err}");
}

#[test]
fn transition_rules_see_the_old_object() {
    let s = CrdSchema::from_openapi(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "id": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "id is immutable"}]}
        }}}
    }))
    .expect("compiles");
    let old = json!({"spec": {"id": "a"}});
    let mut same = json!({"spec": {"id": "a"}});
    s.admit(&mut same, Some(&old))
        .expect("unchanged id is fine");
    let mut changed = json!({"spec": {"id": "b"}});
    let err = s
        .admit(&mut changed, Some(&old))
        .expect_err("changed id refused");
    assert_eq!(
        err.causes[0].message,
        "spec.id: Invalid value: \"b\": id is immutable"
    );
    let mut created = json!({"spec": {"id": "b"}});
    s.admit(&mut created, None)
        .expect("transition rules do not apply on create");
}

#[test]
fn from_crd_picks_the_version_and_names_missing_ones() {
    let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Thing"}, "versions": [
        {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"a": {"type": "integer", "default": 7}}}}}}}
    ]}});
    let s = CrdSchema::from_crd(&crd, "v1").expect("compiles");
    let mut obj = json!({"spec": {}});
    s.admit(&mut obj, None).expect("valid");
    assert_eq!(obj["spec"]["a"], 7);
    let err = CrdSchema::from_crd(&crd, "v2").expect_err("no v2");
    assert!(err.to_string().contains("v2"));
}

/// kube-apiserver 1.37 shows a failing rule's value only for scalars, and honours its `reason`.
#[test]
fn cel_errors_show_scalar_values_and_use_the_rules_reason() {
    let s = CrdSchema::from_openapi(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.locked)", "message": "locked may not be set", "reason": "FieldValueForbidden"}],
            "properties": {
                "size": {"type": "integer", "x-kubernetes-validations": [{"rule": "self % 2 == 0", "message": "size must be even"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-validations": [{"rule": "self.size() < 2"}]},
                "locked": {"type": "boolean"}
            }}}
    }))
    .expect("compiles");
    let mut obj = json!({"spec": {"size": 3, "tags": ["a", "b"], "locked": true}});
    let err = s.admit(&mut obj, None).expect_err("three rules fail");
    let mut lines: Vec<(String, &str)> = err
        .causes
        .iter()
        .map(|c| (c.message.clone(), c.reason()))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            (
                "spec.size: Invalid value: 3: size must be even".to_owned(),
                "FieldValueInvalid"
            ),
            (
                "spec.tags: Invalid value: failed rule: self.size() < 2".to_owned(),
                "FieldValueInvalid"
            ),
            (
                "spec: Forbidden: locked may not be set".to_owned(),
                "FieldValueForbidden"
            ),
        ]
    );
}
