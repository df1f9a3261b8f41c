//! kube-apiserver's generic registry rules for one object, as pure functions: the identity a
//! written object must have, what a create stamps on it, what an update may change (optimistic
//! concurrency, server-owned metadata, the status/spec split, no new finalizers while deleting,
//! generation) and schema admission. The shells in `writes` lock, version and record.

use serde_json::{Value, json};

use super::subject;
use crate::admission::{admit_object, generate_name, invalid_field};
use crate::conversion::to_storage;
use crate::crd;
use crate::meta::{finalizers, is_deleting, meta_str, now_ts};
use crate::resource::{Generation, ResourceType};
use crate::status::ApiError;
use crate::store::Stored;

/// Metadata only the server writes: an update keeps the stored values whatever the client sent.
const SERVER_OWNED_METADATA: [&str; 7] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "name",
    "namespace",
];

/// Sets `dst[key]` to `src[key]`, or removes it when `src` has none.
fn keep_from(dst: &mut Value, src: &Value, key: &str) {
    match src.get(key) {
        Some(v) => dst[key] = v.clone(),
        None => {
            if let Some(o) = dst.as_object_mut() {
                o.remove(key);
            }
        }
    }
}

/// kube stores no empty finalizer list.
fn drop_empty_finalizers(meta: &mut Value) {
    if meta
        .get("finalizers")
        .is_some_and(|f| f.as_array().is_some_and(Vec::is_empty))
        && let Some(m) = meta.as_object_mut()
    {
        m.remove("finalizers");
    }
}

pub(super) fn name_mismatch(obj: &Value, url_name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the name of the object ({}) does not match the name on the URL ({url_name})",
        meta_str(obj, "name").unwrap_or("")
    ))
}

/// Defaults and checks the identity of an object a client sent (apiVersion/kind/namespace),
/// and converts it to the resource's storage shape.
pub(super) fn normalize_identity(
    rt: &ResourceType,
    storage_version: &str,
    ns: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
                rt.api_version()
            )));
        }
        Some(_) => {}
    }
    // Stored in the storage version; presented in whichever version is asked for.
    if let Some(c) = rt.conversion()
        && obj.get("apiVersion").and_then(Value::as_str) != Some("v1")
    {
        *obj = to_storage(c, obj.take());
    }
    obj["apiVersion"] = json!(storage_version);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if !rt.namespaced {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        return Ok(());
    }
    let url_ns = ns.unwrap_or("");
    match meta_str(obj, "namespace") {
        None | Some("") => obj["metadata"]["namespace"] = json!(url_ns),
        Some(n) if n != url_ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Some(_) => {}
    }
    Ok(())
}

/// Schema admission plus `fieldValidation=Strict`: the `Warning` texts for pruned fields, or
/// the 400 strict decoding error kube-apiserver answers instead.
fn admit(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    strict: bool,
) -> Result<Vec<String>, ApiError> {
    let unknown: Vec<String> = admit_object(rt, obj, old)?
        .iter()
        .map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.')))
        .collect();
    if strict && !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = rt.kind,
            v = rt.version
        )));
    }
    Ok(unknown)
}

/// Makes a normalised client object into a new one (name, uid, timestamps, generation, the
/// per-kind additions) and admits it. Returns its name and the warnings.
pub(super) fn new_object(
    rt: &ResourceType,
    obj: &mut Value,
    strict: bool,
) -> Result<(String, Vec<String>), ApiError> {
    if meta_str(obj, "resourceVersion").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = match meta_str(obj, "name").filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match meta_str(obj, "generateName").filter(|n| !n.is_empty()) {
            Some(prefix) => generate_name(prefix),
            None => {
                return Err(invalid_field(
                    rt,
                    "",
                    "metadata.name",
                    "FieldValueRequired",
                    "Required value: name or generateName is required",
                ));
            }
        },
    };
    let m = &mut obj["metadata"];
    m["name"] = json!(name);
    m["uid"] = json!(uuid::Uuid::new_v4().to_string());
    m["creationTimestamp"] = json!(now_ts());
    if let Some(mm) = m.as_object_mut() {
        mm.remove("deletionTimestamp");
        mm.remove("deletionGracePeriodSeconds");
        mm.remove("generation");
    }
    drop_empty_finalizers(m);
    if rt.generation == Generation::Tracked {
        obj["metadata"]["generation"] = json!(1);
    }
    if rt.custom
        && rt.status_subresource
        && let Some(o) = obj.as_object_mut()
    {
        // kube drops status on create when the status subresource is on (CRs, not Nodes).
        o.remove("status");
    }
    kind_hooks_on_create(rt, obj)?;
    let warnings = admit(rt, obj, None, strict)?;
    Ok((name, warnings))
}

/// Per-kind behaviour kube-apiserver's own strategies and controllers add on create.
fn kind_hooks_on_create(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if rt.is_namespace() {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let labels = &mut obj["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        labels["kubernetes.io/metadata.name"] = json!(name);
    } else if rt.is_crd() {
        crd::resource_types(obj)?;
        crd::set_established(obj, None);
        let mut f = finalizers(obj);
        if !f.iter().any(|x| x == crd::CLEANUP_FINALIZER) {
            f.push(crd::CLEANUP_FINALIZER.to_string());
        }
        obj["metadata"]["finalizers"] = json!(f);
    }
    Ok(())
}

/// The object an update stores, from the current one and the normalised candidate (a PUT body
/// or a patched copy), with the warnings; `is_put` because only PUT must name a
/// resourceVersion (for custom resources).
pub(super) fn updated_object(
    rt: &ResourceType,
    current: &Stored,
    cand: Value,
    sub: Option<&str>,
    is_put: bool,
    strict: bool,
) -> Result<(Value, Vec<String>), ApiError> {
    let name = meta_str(&current.value, "name").unwrap_or("").to_string();
    let cur_rv = current.rv.to_string();
    match meta_str(&cand, "resourceVersion").filter(|s| !s.is_empty()) {
        Some(rv) if rv != cur_rv => return Err(ApiError::conflict(subject(rt, &name))),
        Some(_) => {}
        None if is_put && rt.custom => {
            return Err(invalid_field(
                rt,
                &name,
                "metadata.resourceVersion",
                "FieldValueInvalid",
                "Invalid value: 0x0: must be specified for an update",
            ));
        }
        None => {}
    }
    if meta_str(&cand, "name").is_some_and(|n| n != name) {
        return Err(name_mismatch(&cand, &name));
    }
    let old = &current.value;
    let mut new = if rt.status_subresource && sub == Some("status") {
        // Status writes change status only (and managedFields).
        let mut n = old.clone();
        keep_from(&mut n, &cand, "status");
        if let Some(mf) = cand.pointer("/metadata/managedFields") {
            n["metadata"]["managedFields"] = mf.clone();
        }
        n
    } else {
        let mut n = cand;
        if rt.status_subresource {
            keep_from(&mut n, old, "status");
        }
        n
    };
    for f in SERVER_OWNED_METADATA {
        keep_from(&mut new["metadata"], &old["metadata"], f);
    }
    if new.pointer("/metadata/managedFields").is_none()
        && let Some(mf) = old.pointer("/metadata/managedFields")
    {
        new["metadata"]["managedFields"] = mf.clone();
    }
    new["metadata"]["resourceVersion"] = json!(cur_rv);
    drop_empty_finalizers(&mut new["metadata"]);
    if is_deleting(old) {
        let before = finalizers(old);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(invalid_field(
                rt,
                &name,
                "metadata.finalizers",
                "FieldValueForbidden",
                format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                ),
            ));
        }
    }
    if rt.is_crd() {
        crd::resource_types(&new)?;
        crd::set_established(&mut new, old.get("status"));
    }
    let warnings = admit(rt, &mut new, Some(old), strict)?;
    if rt.generation == Generation::Tracked && spec_changed(rt, old, &new) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    Ok((new, warnings))
}

/// Whether what `generation` tracks differs: everything but metadata, apiVersion and kind (and
/// status, with a status subresource). Compared in place: updates are a hot path.
fn spec_changed(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    let tracked = |k: &&String| {
        let untracked = matches!(k.as_str(), "metadata" | "apiVersion" | "kind")
            || (rt.status_subresource && k.as_str() == "status");
        !untracked
    };
    a.keys().filter(tracked).count() != b.keys().filter(tracked).count()
        || a.iter()
            .filter(|(k, _)| tracked(k))
            .any(|(k, v)| b.get(k) != Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin_resources;

    #[test]
    fn generation_tracks_everything_but_metadata_and_split_status() {
        let all = builtin_resources();
        let crds = all.iter().find(|r| r.is_crd()).expect("crds");
        let mut no_split = crds.clone();
        no_split.status_subresource = false;
        let base = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"n": 1}, "status": {"s": 1}});
        let with = |ptr: &str, v: Value| {
            let mut o = base.clone();
            *o.pointer_mut(ptr).expect("path") = v;
            o
        };
        let mut extra = base.clone();
        extra["data"] = json!({});
        let mut no_spec = base.clone();
        no_spec.as_object_mut().expect("object").remove("spec");
        let cases = [
            ("same object", base.clone(), false, false),
            ("spec value", with("/spec/n", json!(2)), true, true),
            ("metadata", with("/metadata/name", json!("y")), false, false),
            (
                "apiVersion",
                with("/apiVersion", json!("a/v2")),
                false,
                false,
            ),
            ("status", with("/status/s", json!(2)), false, true),
            ("a new top-level field", extra, true, true),
            ("spec removed", no_spec, true, true),
        ];
        for (what, new, split, unsplit) in cases {
            assert_eq!(spec_changed(crds, &base, &new), split, "{what}");
            assert_eq!(
                spec_changed(&no_split, &base, &new),
                unsplit,
                "{what} (no status subresource)"
            );
        }
        assert!(
            spec_changed(crds, &json!("a"), &json!("b")),
            "non-objects compare whole"
        );
    }

    #[test]
    fn keep_from_copies_or_removes() {
        let mut dst = json!({"a": 1, "b": 2});
        keep_from(&mut dst, &json!({"a": 9}), "a");
        keep_from(&mut dst, &json!({}), "b");
        assert_eq!(dst, json!({"a": 9}));
    }
}
