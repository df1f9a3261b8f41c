//! Create, update and patch: the shells around `rules` that lock a store, take the next
//! resourceVersion and record the change.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, rules, subject};
use crate::apply::{ApplyRequest, apply};
use crate::conversion::from_storage;
use crate::meta::{finalizers, is_deleting, meta_str};
use crate::patch::{PatchKind, json_patch, merge_patch, strategic_merge};
use crate::resource::ResourceType;
use crate::status::{ApiError, Subject};
use crate::store::{ChangeKind, ObjKey, Store, Stored};

/// The query options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields are an error instead of a warning.
    pub strict: bool,
    /// Server-side apply `force`.
    pub force: bool,
}

/// A write's outcome: the object as stored (or as it would be, for dry runs).
#[derive(Debug)]
pub struct WriteResult {
    pub obj: Arc<Stored>,
    pub created: bool,
    /// `Warning` header texts (`unknown field "spec.foo"`).
    pub warnings: Vec<String>,
}

/// The object a PUT or PATCH is addressed to.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    ns: Option<&'a str>,
    name: &'a str,
    sub: Option<&'a str>,
}

impl Cluster {
    fn normalize_identity(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        rules::normalize_identity(rt, &self.storage_version(rt), ns, obj)
    }

    /// New content needs a namespace that exists and is not terminating.
    fn namespace_state(&self, ns: &str) -> Result<(), ApiError> {
        let Some(ns_rt) = self.resource("", "v1", "namespaces") else {
            return Ok(());
        };
        match self.get(&ns_rt, None, ns) {
            Ok(o) if is_deleting(&o.value) => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))),
            Ok(_) => Ok(()),
            Err(_) => Err(ApiError::not_found(Subject {
                group: "",
                plural: "namespaces",
                name: ns,
            })),
        }
    }

    pub fn create(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        self.normalize_identity(rt, ns, &mut obj)?;
        if rt.namespaced && ns.is_none_or(str::is_empty) {
            return Err(ApiError::method_not_allowed(format!(
                "{} must be created in a namespace",
                rt.plural
            )));
        }
        self.create_normalized(rt, ns, obj, opts)
    }

    /// Creates an object whose identity is normalised (a POST, or a server-side apply of an
    /// object that does not exist yet).
    fn create_normalized(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        if rt.namespaced {
            self.namespace_state(ns.unwrap_or(""))?;
        }
        self.refuse_if_crd_terminating(rt)?;
        let store = self.store(&rt.store_key());
        let r = self.create_locked(rt, &mut store.lock(), obj, opts)?;
        if !opts.dry_run {
            self.sync_served_types(rt, &r.obj, false)?;
        }
        Ok(r)
    }

    fn create_locked(
        &self,
        rt: &ResourceType,
        g: &mut Store,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let (name, warnings) = rules::new_object(rt, &mut obj, opts.strict)?;
        let key = ObjKey::of(rt, meta_str(&obj, "namespace"), &name);
        if g.objects.contains_key(&key) {
            return Err(ApiError::already_exists(subject(rt, &name)));
        }
        let obj = if opts.dry_run {
            Stored::new(obj, 0)
        } else {
            self.commit(g, rt, ChangeKind::Added, key, obj, None)
        };
        Ok(WriteResult {
            obj,
            created: true,
            warnings,
        })
    }

    /// The shared read-modify-write of update and patch: `mutate` turns the current object (as
    /// the client sees it; `None`: there is none) into the candidate; `rules` then decide what
    /// is stored.
    fn modify(
        &self,
        rt: &ResourceType,
        at: Target<'_>,
        is_put: bool,
        opts: &WriteOpts,
        mutate: impl FnOnce(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<WriteResult, ApiError> {
        let store = self.store(&rt.store_key());
        let mut g = store.lock();
        let key = ObjKey::of(rt, at.ns, at.name);
        let Some(current) = g.objects.get(&key).cloned() else {
            // Only server-side apply creates through PATCH; `mutate` refuses the rest.
            let mut cand = mutate(None)?;
            drop(g);
            self.normalize_identity(rt, at.ns, &mut cand)?;
            if meta_str(&cand, "name") != Some(at.name) {
                return Err(rules::name_mismatch(&cand, at.name));
            }
            return self.create_normalized(rt, at.ns, cand, opts);
        };
        let presented = rt
            .conversion()
            .map(|c| from_storage(c, current.value.clone()));
        let mut cand = mutate(Some(presented.as_ref().unwrap_or(&current.value)))?;
        self.normalize_identity(rt, at.ns, &mut cand)?;
        let (new, warnings) =
            rules::updated_object(rt, &current, cand, at.sub, is_put, opts.strict)?;
        if new == current.value {
            // A no-op write: no new resourceVersion, no watch event.
            return Ok(WriteResult {
                obj: current,
                created: false,
                warnings,
            });
        }
        if opts.dry_run {
            return Ok(WriteResult {
                obj: Stored::new(new, current.rv),
                created: false,
                warnings,
            });
        }
        // The last finalizer of an object being deleted is gone: the update removes it.
        let removed = is_deleting(&new) && finalizers(&new).is_empty();
        let kind = if removed {
            ChangeKind::Deleted
        } else {
            ChangeKind::Modified
        };
        let stored = self.commit(&mut g, rt, kind, key.clone(), new, Some(current));
        drop(g);
        self.sync_served_types(rt, &stored, removed)?;
        if removed {
            self.after_removal(rt, &key, &stored);
        }
        Ok(WriteResult {
            obj: stored,
            created: false,
            warnings,
        })
    }

    /// PUT. It never creates: a missing object is 404, whichever way a race with a delete goes.
    pub fn update(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let at = Target { ns, name, sub };
        self.modify(rt, at, true, opts, |cur| match cur {
            Some(_) => Ok(body),
            None => Err(ApiError::not_found(subject(rt, name))),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        body: &[u8],
        opts: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let patch: Value = match kind {
            PatchKind::Apply => serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
            _ => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
        };
        if kind == PatchKind::Strategic && rt.custom {
            return Err(PatchKind::unsupported(kind.content_type(), false));
        }
        let mutate = |cur: Option<&Value>| -> Result<Value, ApiError> {
            match (kind, cur) {
                (PatchKind::Apply, cur) => {
                    let skeleton = json!({"apiVersion": patch.get("apiVersion"), "kind": patch.get("kind"),
                        "metadata": {"name": name, "namespace": ns}});
                    let base = cur.cloned().unwrap_or(skeleton);
                    let req = ApplyRequest {
                        applied: &patch,
                        manager: opts.field_manager.as_deref().unwrap_or(""),
                        force: opts.force,
                        api_version: &rt.api_version(),
                        subresource: sub,
                        subject: subject(rt, name),
                    };
                    let mut out = apply(&base, &req)?;
                    if cur.is_some() {
                        // Apply is never a stale write: it merges into whatever is current.
                        out["metadata"]["resourceVersion"] =
                            base["metadata"]["resourceVersion"].clone();
                    }
                    Ok(out)
                }
                (_, None) => Err(ApiError::not_found(subject(rt, name))),
                (PatchKind::Merge, Some(c)) => {
                    let mut v = c.clone();
                    merge_patch(&mut v, &patch);
                    Ok(v)
                }
                (PatchKind::Json, Some(c)) => {
                    let mut v = c.clone();
                    json_patch(&mut v, &patch)?;
                    Ok(v)
                }
                (PatchKind::Strategic, Some(c)) => {
                    let mut v = c.clone();
                    strategic_merge(&mut v, &patch, "", rt.as_ref())?;
                    Ok(v)
                }
            }
        };
        self.modify(rt, Target { ns, name, sub }, false, opts, mutate)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cluster::fixture::{cluster, create, merge, patch, rt, widget_crd, with_widgets};

    #[test]
    fn create_sets_identity_and_rejects_duplicates() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        let r = create(
            &c,
            &nodes,
            None,
            json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2"}}}),
        )
        .expect("create");
        let v = &r.obj.value;
        assert_eq!(v["kind"], "Node");
        assert_eq!(v["apiVersion"], "v1");
        assert!(v["metadata"]["uid"].is_string() && v["metadata"]["creationTimestamp"].is_string());
        assert!(
            v["metadata"].get("generation").is_none(),
            "nodes have no generation"
        );
        assert_eq!(
            v["status"]["capacity"]["cpu"], "2",
            "nodes may set status on create"
        );
        let e = create(&c, &nodes, None, json!({"metadata": {"name": "n1"}})).expect_err("dup");
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        assert_eq!(e.message, "nodes \"n1\" already exists");
    }

    #[test]
    fn generate_name_and_missing_name() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let r = create(
            &c,
            &leases,
            Some("default"),
            json!({"metadata": {"generateName": "l-"}}),
        )
        .expect("create");
        assert!(
            r.obj.value["metadata"]["name"]
                .as_str()
                .expect("name")
                .starts_with("l-")
        );
        let e = create(&c, &leases, Some("default"), json!({"metadata": {}})).expect_err("no name");
        assert_eq!(e.code, 422);
        let e = create(
            &c,
            &leases,
            Some("nope"),
            json!({"metadata": {"name": "x"}}),
        )
        .expect_err("no ns");
        assert_eq!(e.code, 404);
    }

    #[test]
    fn a_long_non_ascii_generate_name_is_a_422_not_a_crash() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        // kube cuts the prefix at 58 bytes; here byte 58 falls inside the 'é'.
        let prefix = format!("{}é", "a".repeat(57));
        let e = create(
            &c,
            &nodes,
            None,
            json!({"metadata": {"generateName": prefix}}),
        )
        .expect_err("not a DNS name");
        assert_eq!((e.code, e.reason), (422, "Invalid"));
    }

    #[test]
    fn stale_update_conflicts_and_noop_keeps_resource_version() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let o = create(
            &c,
            &leases,
            Some("default"),
            json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}),
        )
        .expect("create");
        let put = |body: Value| {
            c.update(
                &leases,
                Some("default"),
                "l",
                None,
                body,
                &WriteOpts::default(),
            )
        };
        let mut v1 = o.obj.value.clone();
        v1["spec"]["holderIdentity"] = json!("b");
        let u = put(v1.clone()).expect("update");
        assert!(u.obj.rv > o.obj.rv);
        let e = put(v1).expect_err("stale");
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        let same = put(u.obj.value.clone()).expect("noop");
        assert_eq!(
            same.obj.rv, u.obj.rv,
            "no-op write must not bump resourceVersion"
        );
        let e = c
            .update(
                &leases,
                Some("default"),
                "gone",
                None,
                json!({}),
                &WriteOpts::default(),
            )
            .expect_err("PUT does not create");
        assert_eq!(e.code, 404);
    }

    #[test]
    fn crd_is_servable_at_once_with_status_split_and_generation() {
        let (c, _, w) = with_widgets(widget_crd());
        let o = create(
            &c,
            &w,
            Some("default"),
            json!({"metadata": {"name": "a"}, "spec": {"junk": 1}, "status": {"ready": true}}),
        )
        .expect("create");
        assert_eq!(
            o.obj.value["spec"],
            json!({"size": 3}),
            "defaulted and pruned"
        );
        assert_eq!(o.warnings, vec!["unknown field \"spec.junk\"".to_string()]);
        assert!(
            o.obj.value.get("status").is_none(),
            "status dropped on create"
        );
        assert_eq!(o.obj.value["metadata"]["generation"], 1);
        let s = patch(
            &c,
            &w,
            Some("default"),
            "a",
            Some("status"),
            PatchKind::Merge,
            r#"{"status":{"ready":true},"spec":{"size":9}}"#,
        )
        .expect("status");
        assert_eq!(s.obj.value["status"]["ready"], true);
        assert_eq!(s.obj.value["spec"]["size"], 3, "status writes ignore spec");
        assert_eq!(s.obj.value["metadata"]["generation"], 1);
        let m = merge(
            &c,
            &w,
            Some("default"),
            "a",
            r#"{"status":{"ready":false},"spec":{"size":9}}"#,
        )
        .expect("main");
        assert_eq!(
            m.obj.value["status"]["ready"], true,
            "main writes ignore status"
        );
        assert_eq!(m.obj.value["metadata"]["generation"], 2);
        let e = merge(&c, &w, Some("default"), "a", r#"{"spec":{"size":0}}"#).expect_err("invalid");
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let e = patch(
            &c,
            &w,
            Some("default"),
            "a",
            None,
            PatchKind::Strategic,
            r#"{"spec":{"size":2}}"#,
        )
        .expect_err("415");
        assert_eq!(e.code, 415);
    }

    #[test]
    fn cel_rules_of_the_crd_are_enforced_including_transition_rules() {
        let mut crd = widget_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = json!([
            {"rule": "self.size <= 10", "message": "size is at most 10"},
            {"rule": "self.size >= oldSelf.size", "message": "size may not shrink"}
        ]);
        let (c, _, w) = with_widgets(crd);
        let e = create(
            &c,
            &w,
            Some("default"),
            json!({"metadata": {"name": "big"}, "spec": {"size": 11}}),
        )
        .expect_err("too big");
        assert_eq!(e.code, 422);
        assert!(e.message.contains("size is at most 10"), "{}", e.message);
        create(
            &c,
            &w,
            Some("default"),
            json!({"metadata": {"name": "a"}, "spec": {"size": 5}}),
        )
        .expect("ok");
        let e = merge(&c, &w, Some("default"), "a", r#"{"spec":{"size":4}}"#).expect_err("shrink");
        assert!(e.message.contains("size may not shrink"), "{}", e.message);
        merge(&c, &w, Some("default"), "a", r#"{"spec":{"size":6}}"#).expect("grow");
    }

    #[test]
    fn server_side_apply_of_a_non_object_metadata_is_a_400_not_a_crash() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        create(&c, &nodes, None, json!({"metadata": {"name": "n"}})).expect("create");
        let opts = WriteOpts {
            field_manager: Some("m".into()),
            ..Default::default()
        };
        for name in ["n", "new"] {
            let e = c
                .patch(
                    &nodes,
                    None,
                    name,
                    None,
                    PatchKind::Apply,
                    br#"{"apiVersion":"v1","kind":"Node","metadata":"x"}"#,
                    &opts,
                )
                .expect_err("metadata must be a map");
            assert_eq!((e.code, e.reason), (400, "BadRequest"), "{name}");
        }
        assert!(
            c.get(&nodes, None, "n").is_ok(),
            "the store is still usable"
        );
    }
}
