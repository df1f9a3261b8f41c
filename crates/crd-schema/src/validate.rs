//! OpenAPI v3 constraint checks, with kube-openapi's messages wrapped in kube-apiserver's field
//! errors exactly as apiextensions-apiserver converts them.

use serde_json::Value;

use crate::field_error::FieldError;
use crate::prune_default::join;
use crate::schema::{Additional, Node, Type};

/// Validates `v` against `node`, appending errors. A value of the wrong type is one error; its
/// subtree is not examined further.
pub(crate) fn validate(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if v.is_null() {
        if node.nullable {
            return;
        }
        // A null that pruning kept (root, or inside preserved fields) is a type error if typed.
        if let Some(t) = node.ty {
            out.push(type_error(path, v, t.as_str()));
            return;
        }
        return;
    }
    if let Some(t) = node.ty
        && !node.int_or_string
        && !has_type(v, t)
    {
        out.push(type_error(path, v, t.as_str()));
        return;
    }
    if node.int_or_string && !(v.is_string() || is_integer(v)) {
        out.push(FieldError::type_invalid(
            path,
            v,
            &format!(
                "{} in body must be of type integer-or-string: {:?}",
                shown(path),
                json_type(v)
            ),
        ));
        return;
    }

    // kube-openapi's validators in their order: string, format, number, array, enum, object.
    match v {
        Value::String(s) => check_string(node, s, v, path, out),
        Value::Number(_) => check_number(node, v, path, out),
        Value::Array(items) => check_array(node, items, path, out),
        Value::Object(_) | Value::Bool(_) | Value::Null => {}
    }
    if let Some(allowed) = &node.enumeration
        && !allowed.contains(v)
    {
        out.push(FieldError::not_supported(path, v, allowed));
    }
    if let Value::Object(map) = v {
        check_object(node, map, path, out);
    }
}

/// kube-openapi's object validator: property counts, then map entries (additionalProperties),
/// then declared properties, then `required`. (kube-openapi walks declared properties in Go map
/// order, so a real server lists errors of sibling properties in no fixed order; we take the
/// object's key order.)
fn check_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let n = map.len() as u64;
    if let Some(min) = node.min_properties
        && n < min
    {
        // kube-openapi's TooFewProperties carries the count, not the object.
        out.push(in_body(
            path,
            &Value::from(map.len()),
            &format!("should have at least {min} properties"),
        ));
    }
    if let Some(max) = node.max_properties
        && n > max
    {
        out.push(FieldError::too_many(path, map.len(), max));
    }
    let fields = map.iter().filter(|(key, _)| {
        // The root's apiVersion, kind and metadata are validated as ObjectMeta, not here.
        !(path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
    });
    if let Additional::Schema(Some(schema)) = &node.additional {
        for (key, child) in fields.clone() {
            if !node.properties.contains_key(key) {
                // kube-openapi names map entries with a dot: `spec.nodeSelector.ng`.
                validate(schema, child, &join(path, key), out);
            }
        }
    }
    for (key, child) in fields {
        if let Some(schema) = node.properties.get(key) {
            validate(schema, child, &join(path, key), out);
        }
    }
    for req in &node.required {
        if !map.contains_key(req) {
            out.push(FieldError::required(&join(path, req)));
        }
    }
}

fn check_string(node: &Node, s: &str, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    // kube-openapi counts characters (runes), not bytes.
    let len = s.chars().count() as u64;
    // kube-openapi's string validator reports only the first of these that fails.
    if let Some(max) = node.max_length
        && len > max
    {
        out.push(FieldError::too_long(path, max));
    } else if let Some(min) = node.min_length
        && len < min
    {
        out.push(in_body(
            path,
            v,
            &format!("should be at least {min} chars long"),
        ));
    } else if let Some((pattern, re)) = &node.pattern
        && !re.is_match(s)
    {
        out.push(in_body(path, v, &format!("should match '{pattern}'")));
    }
    if node.format.as_deref() == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        // kube-openapi reports a bad format as a type error (blocking CEL), not a bad value.
        out.push(FieldError::type_invalid(
            path,
            v,
            &format!("{} in body must be of type date-time: {s:?}", shown(path)),
        ));
    }
}

fn check_number(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let Some(x) = v.as_f64() else { return };
    if let Some(min) = node.minimum {
        let (bad, words) = if node.exclusive_minimum {
            (x <= min, "greater than")
        } else {
            (x < min, "greater than or equal to")
        };
        if bad {
            out.push(in_body(
                path,
                v,
                &format!("should be {words} {}", go_float(min)),
            ));
        }
    }
    if let Some(max) = node.maximum {
        let (bad, words) = if node.exclusive_maximum {
            (x >= max, "less than")
        } else {
            (x > max, "less than or equal to")
        };
        if bad {
            out.push(in_body(
                path,
                v,
                &format!("should be {words} {}", go_float(max)),
            ));
        }
    }
}

/// kube-openapi's slice validator: the items, then minItems, then maxItems.
fn check_array(node: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    if let Some(schema) = &node.items {
        for (i, item) in items.iter().enumerate() {
            validate(schema, item, &format!("{path}[{i}]"), out);
        }
    }
    let n = items.len() as u64;
    if let Some(min) = node.min_items
        && n < min
    {
        // kube-openapi's TooFewItems carries the count, not the array.
        out.push(in_body(
            path,
            &Value::from(items.len()),
            &format!("should have at least {min} items"),
        ));
    }
    if let Some(max) = node.max_items
        && n > max
    {
        out.push(FieldError::too_many(path, items.len(), max));
    }
}

/// apiextensions-apiserver's `ValidateListSetsAndMaps`, a pass of its own after the OpenAPI
/// validation: duplicates in `x-kubernetes-list-type: set` and `map` lists.
pub(crate) fn list_duplicates(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => {
            duplicates_in(node, items, path, out);
            if let Some(schema) = &node.items {
                for (i, item) in items.iter().enumerate() {
                    list_duplicates(schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                let schema = node.properties.get(key).or(match &node.additional {
                    Additional::Schema(Some(schema)) => Some(schema),
                    _ => None,
                });
                if let Some(schema) = schema {
                    list_duplicates(schema, child, &join(path, key), out);
                }
            }
        }
        _ => {}
    }
}

fn duplicates_in(node: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    let unique = node.unique_items || node.list_type.as_deref() == Some("set");
    if unique {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                out.push(FieldError::duplicate(&format!("{path}[{i}]"), item));
            }
        }
    }
    if node.list_type.as_deref() == Some("map") && !node.list_map_keys.is_empty() {
        let key_of = |item: &Value| -> Vec<Value> {
            node.list_map_keys
                .iter()
                .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                .collect()
        };
        for (i, item) in items.iter().enumerate() {
            let key = key_of(item);
            if items[..i].iter().any(|other| key_of(other) == key) {
                let shown_key: serde_json::Map<String, Value> =
                    node.list_map_keys.iter().cloned().zip(key).collect();
                out.push(FieldError::duplicate(
                    &format!("{path}[{i}]"),
                    &Value::Object(shown_key),
                ));
            }
        }
    }
}

/// A value of the wrong type. kube-openapi's `InvalidType` carries the value's JSON type, not the
/// value, so that is what the line shows (`Invalid value: "string": … must be of type integer:
/// "string"`).
fn type_error(path: &str, v: &Value, expected: &str) -> FieldError {
    FieldError::type_invalid(
        path,
        &Value::String(json_type(v).to_owned()),
        &format!(
            "{} in body must be of type {expected}: {:?}",
            shown(path),
            json_type(v)
        ),
    )
}

fn has_type(v: &Value, t: Type) -> bool {
    match t {
        Type::Object => v.is_object(),
        Type::Array => v.is_array(),
        Type::String => v.is_string(),
        Type::Integer => is_integer(v),
        Type::Number => v.is_number(),
        Type::Boolean => v.is_boolean(),
    }
}

/// JSON integers, and floats with no fractional part (Go's decoder accepts `1.0` for an int).
fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The field name as kube-openapi puts it in a message (`body` at the root).
fn shown(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

/// A bound as Go's `%v` prints a float64: `1`, not `1.0`.
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// kube-openapi's wording for a failed constraint: `<field> in body <detail>`, wrapped as an
/// Invalid field error.
fn in_body(path: &str, v: &Value, detail: &str) -> FieldError {
    FieldError::invalid(path, v, &format!("{} in body {detail}", shown(path)))
}
