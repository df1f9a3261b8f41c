//! The three classic patch types: JSON merge (RFC 7386), JSON patch (RFC 6902, via `json-patch`,
//! including `test`), and strategic merge as core types use it (list merge keys, `$patch`,
//! `$setElementOrder`, `$deleteFromPrimitiveList`, `$retainKeys`). Pure functions on JSON.

use serde_json::{Map, Value};

use crate::status::ApiError;

/// A PATCH request's type, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    /// In the order kube-apiserver lists them in a 415.
    const ALL: [PatchKind; 4] = [
        PatchKind::Json,
        PatchKind::Merge,
        PatchKind::Strategic,
        PatchKind::Apply,
    ];

    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }

    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        let base = ct.split(';').next().unwrap_or("").trim();
        // kubectl may send apply configurations as CBOR's media type; the body is still YAML/JSON.
        if base == "application/apply-patch+cbor" {
            return Some(PatchKind::Apply);
        }
        Self::ALL.into_iter().find(|k| k.content_type() == base)
    }

    /// The 415 for a patch the resource does not take; custom resources take no strategic merge.
    pub fn unsupported(content_type: &str, with_strategic: bool) -> ApiError {
        let accepted: Vec<&str> = Self::ALL
            .into_iter()
            .filter(|k| with_strategic || *k != PatchKind::Strategic)
            .map(PatchKind::content_type)
            .collect();
        ApiError::unsupported_media_type(content_type, &accepted)
    }
}

/// RFC 7386: `null` deletes, objects merge recursively, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902. A failed `test` or a bad path is a 422, as kube-apiserver answers.
///
/// kube-apiserver's JSON patch library lets `test` of an absent path against `null` pass;
/// kube-rs's finalizer helper relies on that (`test /metadata/finalizers == null`, then `add`).
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    for op in ops.0 {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && target.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(target, &[op])
            .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
    }
    Ok(())
}

/// Where strategic merge finds list merge keys: `Some("")` marks a merged list of scalars
/// (patchStrategy=merge without a key, like `metadata.finalizers`), `None` a replaced list.
pub trait MergeKeys {
    fn merge_key(&self, path: &str) -> Option<&str>;
}

impl<F: Fn(&str) -> Option<&'static str>> MergeKeys for F {
    fn merge_key(&self, path: &str) -> Option<&str> {
        self(path)
    }
}

impl MergeKeys for crate::resource::ResourceType {
    fn merge_key(&self, path: &str) -> Option<&str> {
        crate::resource::ResourceType::merge_key(self, path)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Strategic merge patch of `patch` into `target` at `path` (dotted map keys, lists add nothing).
pub fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    path: &str,
    keys: &dyn MergeKeys,
) -> Result<(), ApiError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = p.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other}"
            )));
        }
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    let mut orders = vec![];
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), v.clone()));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(gone)) = (t.get_mut(field), v) {
                list.retain(|x| !gone.contains(x));
            }
            continue;
        }
        if k == "$retainKeys" {
            if let Value::Array(keep) = v {
                t.retain(|key, _| {
                    keep.iter().any(|x| x.as_str() == Some(key)) || p.contains_key(key)
                });
            }
            continue;
        }
        let sub = join(path, k);
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(existing, v, &sub, keys)?;
                if existing.is_null() {
                    t.remove(k);
                }
            }
            (Some(slot @ Value::Array(_)), Value::Array(items)) => {
                match (keys.merge_key(&sub), slot) {
                    (Some(""), Value::Array(existing)) => {
                        for item in items {
                            if !existing.contains(item) {
                                existing.push(item.clone());
                            }
                        }
                    }
                    (Some(key), Value::Array(existing)) => {
                        merge_keyed_list(existing, items, key, &sub, keys)?
                    }
                    (_, slot) => *slot = strip_directives(v),
                }
            }
            _ => {
                t.insert(k.clone(), strip_directives(v));
            }
        }
    }
    for (field, order) in orders {
        if let (Some(Value::Array(list)), Value::Array(order)) = (t.get_mut(&field), order) {
            let key = keys.merge_key(&join(path, &field)).unwrap_or("");
            reorder(list, &order, key);
        }
    }
    Ok(())
}

fn merge_keyed_list(
    existing: &mut Vec<Value>,
    items: &[Value],
    key: &str,
    path: &str,
    keys: &dyn MergeKeys,
) -> Result<(), ApiError> {
    for item in items {
        let id = item.get(key).cloned();
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = id
            .as_ref()
            .and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                existing.remove(i);
            }
            (Some("delete"), None) => {}
            (Some("replace"), _) => {
                return Err(ApiError::bad_request(
                    "$patch: replace inside a list item is not supported",
                ));
            }
            (_, Some(i)) => strategic_merge(&mut existing[i], item, path, keys)?,
            (_, None) => existing.push(strip_directives(item)),
        }
    }
    Ok(())
}

/// Orders a list as `$setElementOrder` says; elements it does not name keep their place at the end.
fn reorder(list: &mut Vec<Value>, order: &[Value], key: &str) {
    let ident = |v: &Value| {
        if key.is_empty() {
            v.clone()
        } else {
            v.get(key).cloned().unwrap_or(Value::Null)
        }
    };
    let mut ordered = vec![];
    for o in order {
        let want = ident(o);
        if let Some(i) = list.iter().position(|x| ident(x) == want) {
            ordered.push(list.remove(i));
        }
    }
    ordered.append(list);
    *list = ordered;
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_keys(path: &str) -> Option<&'static str> {
        match path {
            "status.conditions" => Some("type"),
            "metadata.finalizers" => Some(""),
            _ => None,
        }
    }

    #[test]
    fn patch_kinds_from_content_types() {
        for k in PatchKind::ALL {
            let ct = format!("{}; charset=utf-8", k.content_type());
            assert_eq!(PatchKind::from_content_type(&ct), Some(k));
        }
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+cbor"),
            Some(PatchKind::Apply)
        );
        assert_eq!(PatchKind::from_content_type("application/json"), None);
        let e = PatchKind::unsupported("text/plain", false);
        assert_eq!(e.code, 415);
        assert!(
            e.message.contains("include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got text/plain)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn merge_patch_deletes_with_null_and_replaces_lists() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_test_op_failure_is_422() {
        let mut t = json!({"metadata": {"finalizers": ["a"]}});
        let e = json_patch(&mut t, &json!([{"op": "test", "path": "/metadata/finalizers", "value": ["b"]}, {"op": "remove", "path": "/metadata/finalizers/0"}]))
            .expect_err("test fails");
        assert_eq!(e.code, 422);
        assert_eq!(t, json!({"metadata": {"finalizers": ["a"]}}));
        json_patch(&mut t, &json!([{"op": "test", "path": "/metadata/finalizers", "value": ["a"]}, {"op": "remove", "path": "/metadata/finalizers/0"}]))
            .expect("test passes");
        assert_eq!(t, json!({"metadata": {"finalizers": []}}));
    }

    #[test]
    fn json_patch_test_null_passes_for_an_absent_path_like_kube_apiserver() {
        let mut t = json!({"metadata": {"name": "x"}});
        json_patch(
            &mut t,
            &json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]),
        )
        .expect("kube-rs finalizer add");
        assert_eq!(t["metadata"]["finalizers"], json!(["f"]));
    }

    #[test]
    fn strategic_merge_merges_conditions_by_type_and_unions_finalizers() {
        let mut t = json!({"metadata": {"finalizers": ["a"]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}]}});
        let p = json!({"metadata": {"finalizers": ["b"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Extra", "status": "True"}, {"type": "DiskPressure", "$patch": "delete"}]}});
        strategic_merge(&mut t, &p, "", &node_keys).expect("patch");
        assert_eq!(t["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(
            t["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Extra", "status": "True"}])
        );
    }

    #[test]
    fn strategic_merge_directives_from_kubectl_apply() {
        let mut t = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
            "status": {"conditions": [{"type": "A"}, {"type": "B"}]}, "spec": {"taints": [{"key": "k"}]}});
        let p = json!({"metadata": {"labels": {"b": null}, "$deleteFromPrimitiveList/finalizers": ["x"]},
            "status": {"$setElementOrder/conditions": [{"type": "B"}, {"type": "A"}]},
            "spec": {"taints": [{"key": "z"}]}});
        strategic_merge(&mut t, &p, "", &node_keys).expect("patch");
        assert_eq!(t["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(t["metadata"]["finalizers"], json!(["y"]));
        assert_eq!(
            t["status"]["conditions"],
            json!([{"type": "B"}, {"type": "A"}])
        );
        assert_eq!(
            t["spec"]["taints"],
            json!([{"key": "z"}]),
            "lists without a merge key are replaced"
        );
    }

    #[test]
    fn strategic_merge_patch_replace_directive_replaces_a_map() {
        let mut t = json!({"spec": {"a": 1, "b": 2}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"$patch": "replace", "c": 3}}),
            "",
            &node_keys,
        )
        .expect("patch");
        assert_eq!(t, json!({"spec": {"c": 3}}));
    }
}
