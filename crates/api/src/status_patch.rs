//! Status writes as JSON merge patches (RFC 7396) that carry only what changed, so the controller
//! and the agent — who share an ENIAttachment's status and own different fields of it — never
//! overwrite each other's fields, and an unchanged status costs no write at all.

use serde_json::{Map, Value};

/// The merge patch that turns `prev` into `next`: changed and new keys with their new values,
/// removed keys as `null`, objects diffed recursively, anything else (arrays included, as merge
/// patches require) replaced whole. `None` when nothing changed.
pub fn merge_diff(prev: &Value, next: &Value) -> Option<Value> {
    match (prev, next) {
        (Value::Object(p), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match p.get(k) {
                    Some(pv) => {
                        if let Some(d) = merge_diff(pv, nv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None if nv.is_null() => {}
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for (k, pv) in p {
                if !n.contains_key(k) && !pv.is_null() {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ if prev == next => None,
        _ => Some(next.clone()),
    }
}

/// The patch that writes `next` as `status`, given the stored `prev`, guarded by
/// `resource_version` when given (the server then answers 409 if the object changed since it was
/// read, so a decision made on a stale read is never stored). `None` when nothing changed.
pub fn status_patch<T: serde::Serialize>(
    prev: Option<&T>,
    next: &T,
    resource_version: Option<&str>,
) -> Option<Value> {
    let prev = prev
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or(Value::Object(Map::new()));
    let next = serde_json::to_value(next).ok()?;
    let diff = merge_diff(&prev, &next)?;
    let mut patch = serde_json::json!({ "status": diff });
    if let Some(rv) = resource_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    Some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unchanged_values_give_no_patch() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}});
        assert_eq!(merge_diff(&v, &v), None);
        assert_eq!(status_patch(Some(&v), &v, Some("7")), None);
    }

    #[test]
    fn changes_additions_and_removals_are_minimal_and_nested() {
        let prev = json!({"phase": "Creating", "eniID": "eni-1", "x": {"keep": 1, "drop": 2}});
        let next = json!({"phase": "Attaching", "deviceIndex": 2, "x": {"keep": 1}});
        assert_eq!(
            merge_diff(&prev, &next),
            Some(
                json!({"phase": "Attaching", "deviceIndex": 2, "eniID": null, "x": {"drop": null}})
            )
        );
    }

    #[test]
    fn arrays_are_replaced_whole() {
        let prev = json!({"conditions": [{"type": "Ready", "status": "False"}]});
        let next = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(merge_diff(&prev, &next), Some(next.clone()));
    }

    #[test]
    fn fields_absent_on_both_sides_are_not_touched() {
        // The agent's `interface` is not in the controller's view: never nulled by it.
        let prev = json!({"phase": "Attached"});
        let next = json!({"phase": "Ready", "eniID": null});
        assert_eq!(merge_diff(&prev, &next), Some(json!({"phase": "Ready"})));
    }

    #[test]
    fn status_patch_carries_the_resource_version_guard() {
        let p = status_patch(None::<&Value>, &json!({"phase": "Creating"}), Some("42"));
        assert_eq!(
            p,
            Some(json!({"status": {"phase": "Creating"}, "metadata": {"resourceVersion": "42"}}))
        );
    }
}
