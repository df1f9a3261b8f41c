//! Server-side apply, to the degree kube-rs's `Patch::Apply` and `kubectl apply --server-side` use
//! it: field ownership per Apply manager kept in `metadata.managedFields` (FieldsV1), conflicts
//! with other Apply managers unless `force`, removal of fields a manager stops applying.
//! Lists are atomic (one leaf) here; see docs/kube-double.md for how that differs.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::meta::now_ts;
use crate::status::{ApiError, Subject};

type FieldPath = Vec<String>;
type FieldSet = BTreeSet<FieldPath>;

/// Metadata fields the server owns; they are never part of a manager's set.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
];

fn leaves(v: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if prefix.is_empty() && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                if prefix.len() == 1
                    && prefix[0] == "metadata"
                    && SERVER_METADATA.contains(&k.as_str())
                {
                    continue;
                }
                prefix.push(k.clone());
                leaves(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The leaf paths an applied configuration sets.
fn fields_of(applied: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    leaves(applied, &mut vec![], &mut out);
    out
}

fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            let entry = cur.entry(format!("f:{seg}")).or_insert_with(|| json!({}));
            match entry {
                Value::Object(m) => cur = m,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
    let Value::Object(m) = v else { return };
    let children: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, child) in children {
        prefix.push(k[2..].to_string());
        from_fields_v1(child, prefix, out);
        prefix.pop();
    }
}

fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| cur.get(seg))
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for seg in &path[..path.len() - 1] {
        if !cur.get(seg).is_some_and(Value::is_object) {
            cur[seg.as_str()] = json!({});
        }
        cur = &mut cur[seg.as_str()];
    }
    cur[path[path.len() - 1].as_str()] = value;
}

/// Removes a leaf and the parent maps it leaves empty.
fn remove(v: &mut Value, path: &[String]) {
    if path.is_empty() {
        return;
    }
    if path.len() == 1 {
        if let Value::Object(m) = v {
            m.remove(&path[0]);
        }
        return;
    }
    if let Some(child) = v.get_mut(&path[0]) {
        remove(child, &path[1..]);
        if child.as_object().is_some_and(Map::is_empty)
            && let Value::Object(m) = v
        {
            m.remove(&path[0]);
        }
    }
}

fn dotted(path: &[String]) -> String {
    format!(".{}", path.join("."))
}

struct Manager {
    name: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    fields: FieldSet,
    raw: Value,
}

fn managers_of(obj: &Value) -> Vec<Manager> {
    let Some(Value::Array(entries)) = obj.pointer("/metadata/managedFields") else {
        return vec![];
    };
    entries
        .iter()
        .map(|e| {
            let mut fields = FieldSet::new();
            if let Some(f) = e.get("fieldsV1") {
                from_fields_v1(f, &mut vec![], &mut fields);
            }
            Manager {
                name: e["manager"].as_str().unwrap_or("").to_string(),
                operation: e["operation"].as_str().unwrap_or("").to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                fields,
                raw: e.clone(),
            }
        })
        .collect()
}

/// One apply request.
#[derive(Debug)]
pub struct ApplyRequest<'a> {
    pub applied: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    pub api_version: &'a str,
    /// `Some("status")` for an apply to the status subresource.
    pub subresource: Option<&'a str>,
    pub subject: Subject<'a>,
}

/// Applies `req.applied` onto `current` (an empty object when creating) and returns the result
/// with updated `managedFields`, or a 409 listing the conflicting fields.
pub fn apply(current: &Value, req: &ApplyRequest<'_>) -> Result<Value, ApiError> {
    // kube-apiserver validates the PatchOptions like an object: 422 Invalid, not 400.
    if req.manager.is_empty() {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    // The object's metadata is a map; anything else would have it replaced by a scalar.
    if req.applied.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_request(
            "metadata of the applied configuration must be an object",
        ));
    }
    let wanted = fields_of(req.applied);
    let mut managers = managers_of(current);
    let sub = req.subresource.map(str::to_string);
    let is_me =
        |m: &Manager| m.name == req.manager && m.operation == "Apply" && m.subresource == sub;

    let mut conflicts: Vec<(String, String, String)> = vec![];
    for path in &wanted {
        if get(current, path) == get(req.applied, path) {
            continue;
        }
        for m in managers.iter().filter(|m| !is_me(m)) {
            if m.fields
                .iter()
                .any(|f| f.starts_with(path) || path.starts_with(f))
            {
                conflicts.push((m.name.clone(), m.api_version.clone(), dotted(path)));
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, v, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {v}"), "field": f}))
            .collect();
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, v, f)| format!("conflict with \"{m}\" using {v}: {f}"))
            .collect();
        let plural = if lines.len() == 1 {
            "conflict"
        } else {
            "conflicts"
        };
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {} {plural}: {}",
                lines.len(),
                lines.join("\n")
            ),
        );
        let mut details =
            json!({"name": req.subject.name, "kind": req.subject.plural, "causes": causes});
        if !req.subject.group.is_empty() {
            details["group"] = json!(req.subject.group);
        }
        e.details = Some(details);
        return Err(e);
    }

    let mut result = current.clone();
    let previous: FieldSet = managers
        .iter()
        .find(|m| is_me(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    for gone in previous.difference(&wanted) {
        let owned_elsewhere = managers
            .iter()
            .filter(|m| !is_me(m))
            .any(|m| m.fields.contains(gone));
        if !owned_elsewhere {
            remove(&mut result, gone);
        }
    }
    for path in &wanted {
        if let Some(v) = get(req.applied, path) {
            set(&mut result, path, v.clone());
        }
    }
    if req.force {
        for m in managers.iter_mut().filter(|m| !is_me(m)) {
            m.fields
                .retain(|f| !wanted.iter().any(|w| f.starts_with(w) || w.starts_with(f)));
        }
    }
    let now = now_ts();
    let mut entries: Vec<Value> = managers
        .iter()
        .filter(|m| !is_me(m) && !m.fields.is_empty())
        .map(|m| {
            let mut raw = m.raw.clone();
            raw["fieldsV1"] = to_fields_v1(&m.fields);
            raw
        })
        .collect();
    let mut mine = json!({"manager": req.manager, "operation": "Apply", "apiVersion": req.api_version,
        "time": now, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&wanted)});
    if let Some(s) = req.subresource {
        mine["subresource"] = json!(s);
    }
    entries.push(mine);
    result["metadata"]["managedFields"] = Value::Array(entries);
    for k in ["apiVersion", "kind"] {
        if let Some(v) = req.applied.get(k) {
            result[k] = v.clone();
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(applied: &'a Value, manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            applied,
            manager,
            force,
            api_version: "example.com/v1",
            subresource: None,
            subject: Subject {
                group: "example.com",
                plural: "widgets",
                name: "w",
            },
        }
    }

    #[test]
    fn apply_creates_sets_ownership_and_removes_dropped_fields() {
        let a1 = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"x": 1, "y": 2}});
        let o1 = apply(&json!({"metadata": {"name": "w"}}), &req(&a1, "me", false)).expect("apply");
        assert_eq!(o1["spec"], json!({"x": 1, "y": 2}));
        assert_eq!(
            o1["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"],
            json!({"f:x": {}, "f:y": {}})
        );
        let a2 = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"x": 3}});
        let o2 = apply(&o1, &req(&a2, "me", false)).expect("apply");
        assert_eq!(
            o2["spec"],
            json!({"x": 3}),
            "y was dropped from the applied config"
        );
        assert!(o2["metadata"].get("labels").is_none());
    }

    #[test]
    fn second_manager_conflicts_unless_forced_and_then_takes_ownership() {
        let a1 = json!({"metadata": {"name": "w"}, "spec": {"x": 1}});
        let o1 = apply(&json!({}), &req(&a1, "one", false)).expect("apply");
        let same = json!({"metadata": {"name": "w"}, "spec": {"x": 1}});
        apply(&o1, &req(&same, "two", false)).expect("same value is shared, not a conflict");
        let a2 = json!({"metadata": {"name": "w"}, "spec": {"x": 2}});
        let e = apply(&o1, &req(&a2, "two", false)).expect_err("conflict");
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"one\" using example.com/v1: .spec.x"
        );
        let o2 = apply(&o1, &req(&a2, "two", true)).expect("forced");
        assert_eq!(o2["spec"]["x"], 2);
        let mf = o2["metadata"]["managedFields"].as_array().expect("managed");
        assert_eq!(mf.len(), 1, "one lost its only field: {mf:?}");
        assert_eq!(mf[0]["manager"], "two");
    }

    #[test]
    fn applied_metadata_must_be_a_map() {
        let a = json!({"metadata": "x", "spec": {"x": 1}});
        let e = apply(&json!({"metadata": {"name": "w"}}), &req(&a, "me", false))
            .expect_err("scalar metadata");
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
    }

    #[test]
    fn apply_without_field_manager_is_422_invalid_as_in_kube() {
        let a = json!({"metadata": {"name": "w"}});
        let e = apply(&json!({}), &req(&a, "", false)).expect_err("no manager");
        assert_eq!((e.code, e.reason), (422, "Invalid"));
    }
}
