//! Reading the few `ObjectMeta` facts the server acts on out of stored JSON, and kube's
//! timestamp format. Objects are untyped JSON here, so absent and mistyped fields read as empty.

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

/// Now, as kube-apiserver writes `creationTimestamp` and friends (RFC 3339, whole seconds, `Z`).
pub fn now_ts() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The string at a JSON pointer, `""` when absent or not a string.
pub fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The strings of the array at a JSON pointer (non-strings skipped; absent: none).
pub fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.<field>` when it is a string.
pub fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

pub fn finalizers(v: &Value) -> Vec<String> {
    strings_at(v, "/metadata/finalizers")
}

/// Whether a delete has been asked for and finalizers are holding the object.
pub fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some()
}

/// The uids of the object's owners (`metadata.ownerReferences[].uid`).
pub fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mistyped_and_absent_fields_read_as_empty() {
        let v = json!({"metadata": {"name": 5, "finalizers": ["a", 1, "b"],
            "ownerReferences": [{"uid": "u1"}, {"name": "no-uid"}]}});
        assert_eq!(meta_str(&v, "name"), None);
        assert_eq!(str_at(&v, "/metadata/missing"), "");
        assert_eq!(finalizers(&v), ["a", "b"]);
        assert_eq!(owner_uids(&v), ["u1"]);
        assert!(!is_deleting(&v));
        assert!(strings_at(&json!("x"), "/metadata/finalizers").is_empty());
    }
}
