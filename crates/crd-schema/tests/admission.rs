//! The admission pipeline on a hand-written schema: each behaviour kube-apiserver has, proven
//! both ways.

mod support;

use multi_eni_crd_schema::{CrdSchema, FieldErrorKind};
use serde_json::{Value, json};

fn schema() -> CrdSchema {
    CrdSchema::from_openapi(&support::thing_schema()).expect("schema compiles")
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

#[test]
fn each_constraint_is_reported_with_the_apiserver_line() {
    let cases = support::constraint_cases();
    for (spec, want) in cases {
        let errors =
            admit(json!({"spec": spec.clone()})).expect_err(&format!("{spec} must be refused"));
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
    assert_eq!(errors[1], support::NOT_CHECKED, "instead of min > max");
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
            FieldErrorKind::Invalid, // minLength; kube reports one problem per string
            FieldErrorKind::Invalid  // CEL not checked
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
    let s = CrdSchema::from_openapi(&support::reasons_schema()).expect("compiles");
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
