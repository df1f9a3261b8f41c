//! The schemas and cases crd-schema's tests run locally and on the real kube-apiserver.

#![allow(dead_code)] // Each test binary uses its own part.

use serde_json::{Value, json};

/// apiextensions-apiserver's error when a blocking schema error kept the CEL rules from running.
pub const NOT_CHECKED: &str = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// A schema with one of each constraint kube-apiserver checks (structural, so a real CRD can
/// carry it).
pub fn thing_schema() -> Value {
    json!({
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
                              "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}, "v": {"type": "integer"}}}}
                }
            }
        }
    })
}

/// CEL rules with a `reason`, on scalars and arrays.
pub fn reasons_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.locked)", "message": "locked may not be set", "reason": "FieldValueForbidden"}],
            "properties": {
                "size": {"type": "integer", "x-kubernetes-validations": [{"rule": "self % 2 == 0", "message": "size must be even"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-validations": [{"rule": "self.size() < 2"}]},
                "locked": {"type": "boolean"}
            }}}
    })
}

/// One spec per constraint of [`thing_schema`] and the lines kube-apiserver refuses it with.
/// Missing, mistyped, unsupported and oversized values block the CEL rules (`true`): kube says so
/// in one more error.
pub fn constraint_cases() -> Vec<(Value, Vec<String>)> {
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
    cases
        .into_iter()
        .map(|(spec, line, blocks_cel)| {
            let mut lines = vec![line.to_owned()];
            if blocks_cel {
                lines.push(NOT_CHECKED.to_owned());
            }
            (spec, lines)
        })
        .collect()
}
