//! Deletes: preconditions, finalizers (the object gets a `deletionTimestamp` and goes when the
//! last finalizer is removed), deletecollection, and the cleanup kube's namespace and CRD
//! controllers do — empty a terminating namespace or CRD, then remove it.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, ListOpts, WriteResult, subject};
use crate::crd;
use crate::meta::{finalizers, is_deleting, meta_str, now_ts};
use crate::resource::{GroupResource, ResourceType};
use crate::status::ApiError;
use crate::store::{ChangeKind, ObjKey, Stored};

/// `DeleteOptions` (body or query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

fn check_preconditions(
    rt: &ResourceType,
    name: &str,
    current: &Stored,
    opts: &DeleteOpts,
) -> Result<(), ApiError> {
    if let Some(uid) = &opts.uid {
        let have = meta_str(&current.value, "uid").unwrap_or("");
        if uid != have {
            return Err(ApiError::conflict_with(
                subject(rt, name),
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.resource_version
        && *rv != current.rv.to_string()
    {
        return Err(ApiError::conflict_with(
            subject(rt, name),
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.rv
            ),
        ));
    }
    Ok(())
}

fn deleted(obj: Arc<Stored>) -> WriteResult {
    WriteResult {
        obj,
        created: false,
        warnings: vec![],
    }
}

impl Cluster {
    pub fn delete(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<WriteResult, ApiError> {
        let store = self.store(&rt.store_key());
        let mut g = store.lock();
        let key = ObjKey::of(rt, ns, name);
        let current = g
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))?;
        check_preconditions(rt, name, &current, opts)?;
        if opts.dry_run {
            return Ok(deleted(current));
        }
        // Namespaces always wait for their content (their `kubernetes` spec finalizer).
        let pending = !finalizers(&current.value).is_empty() || rt.is_namespace();
        if !pending {
            let last = current.value.clone();
            let stored = self.commit(
                &mut g,
                rt,
                ChangeKind::Deleted,
                key.clone(),
                last,
                Some(current),
            );
            drop(g);
            self.sync_served_types(rt, &stored, true)?;
            self.after_removal(rt, &key, &stored);
            return Ok(deleted(stored));
        }
        if is_deleting(&current.value) {
            return Ok(deleted(current));
        }
        let mut v = current.value.clone();
        v["metadata"]["deletionTimestamp"] = json!(now_ts());
        v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if rt.is_namespace() {
            // A status write may have stored a status that is no object.
            if !v["status"].is_object() {
                v["status"] = json!({});
            }
            v["status"]["phase"] = json!("Terminating");
        }
        let stored = self.commit(&mut g, rt, ChangeKind::Modified, key, v, Some(current));
        drop(g);
        self.sync_served_types(rt, &stored, false)?;
        if rt.is_namespace() {
            self.empty_namespace(name);
            self.finish_namespace(name);
        } else if rt.is_crd() {
            self.empty_crd(&stored.value);
        }
        Ok(deleted(stored))
    }

    pub fn delete_collection(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Vec<Arc<Stored>>, ApiError> {
        let page = self.list(
            rt,
            ns,
            &ListOpts {
                limit: None,
                continue_token: None,
                ..opts.clone()
            },
        )?;
        let mut out = vec![];
        for item in page.items {
            let name = meta_str(&item.value, "name").unwrap_or("");
            let item_ns = meta_str(&item.value, "namespace");
            match self.delete(rt, item_ns, name, &DeleteOpts::default()) {
                Ok(r) => out.push(r.obj),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Cleanup that follows an object's final removal: its dependents may be garbage now, and a
    /// terminating namespace or CRD may now be empty.
    pub(super) fn after_removal(&self, rt: &ResourceType, key: &ObjKey, removed: &Stored) {
        if let Some(uid) = meta_str(&removed.value, "uid") {
            self.collect_garbage(uid);
        }
        if rt.namespaced && !key.namespace.is_empty() {
            self.finish_namespace(&key.namespace);
        }
        if rt.custom {
            self.finish_crd(&rt.group_resource());
        }
    }

    /// One served type per store of namespaced objects.
    fn namespaced_stores(&self) -> Vec<Arc<ResourceType>> {
        let mut seen = HashSet::new();
        self.all_types()
            .into_iter()
            .filter(|rt| rt.namespaced && seen.insert(rt.store_key()))
            .collect()
    }

    /// Asks every object in a terminating namespace to go (the namespace controller's job).
    fn empty_namespace(&self, ns: &str) {
        for rt in self.namespaced_stores() {
            let names: Vec<String> = self
                .store(&rt.store_key())
                .lock()
                .in_namespace(ns)
                .map(|(k, _)| k.name.clone())
                .collect();
            for n in names {
                let _ = self.delete(&rt, Some(ns), &n, &DeleteOpts::default());
            }
        }
    }

    /// Removes a terminating namespace once nothing is left in it.
    fn finish_namespace(&self, ns: &str) {
        let Some(ns_rt) = self.resource("", "v1", "namespaces") else {
            return;
        };
        let Ok(obj) = self.get(&ns_rt, None, ns) else {
            return;
        };
        if !is_deleting(&obj.value) {
            return;
        }
        for rt in self.namespaced_stores() {
            if self
                .store(&rt.store_key())
                .lock()
                .in_namespace(ns)
                .next()
                .is_some()
            {
                return;
            }
        }
        self.remove_now(
            &ns_rt,
            &ObjKey {
                namespace: String::new(),
                name: ns.to_string(),
            },
        );
    }

    /// Asks every object of a terminating CRD to go (the CRD cleanup controller's job).
    fn empty_crd(&self, crd_obj: &Value) {
        let gr = crd::served_resource(crd_obj);
        if let Some(rt) = self.primary_type(&gr) {
            let keys: Vec<ObjKey> = self.store(&gr).lock().objects.keys().cloned().collect();
            for k in keys {
                let _ = self.delete(&rt, k.ns(), &k.name, &DeleteOpts::default());
            }
        }
        self.finish_crd(&gr);
    }

    /// Removes a terminating CRD, and with it its endpoints, once it has no objects left.
    fn finish_crd(&self, gr: &GroupResource) {
        if !self.crd_terminating(gr) || !self.store(gr).lock().objects.is_empty() {
            return;
        }
        let Some(crd_rt) = self.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        else {
            return;
        };
        let key = ObjKey {
            namespace: String::new(),
            name: format!("{}.{}", gr.plural, gr.group),
        };
        if let Some(stored) = self.remove_now(&crd_rt, &key) {
            let _ = self.sync_served_types(&crd_rt, &stored, true);
        }
    }

    /// Removes an object regardless of finalizers (what the cleanup controllers achieve by
    /// removing their own finalizer).
    fn remove_now(&self, rt: &ResourceType, key: &ObjKey) -> Option<Arc<Stored>> {
        let store = self.store(&rt.store_key());
        let mut g = store.lock();
        let current = g.objects.get(key).cloned()?;
        let mut v = current.value.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("finalizers");
        }
        if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
            s.remove("finalizers");
        }
        let stored = self.commit(
            &mut g,
            rt,
            ChangeKind::Deleted,
            key.clone(),
            v,
            Some(current),
        );
        drop(g);
        if let Some(uid) = meta_str(&stored.value, "uid") {
            self.collect_garbage(uid);
        }
        Some(stored)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cluster::fixture::{
        cluster, create, delete, merge, patch, rt, widget_crd, with_widgets,
    };
    use crate::patch::PatchKind;

    #[test]
    fn finalizers_delay_removal_until_the_last_goes() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        create(
            &c,
            &nodes,
            None,
            json!({"metadata": {"name": "n", "finalizers": ["a/x"]}}),
        )
        .expect("create");
        let d = delete(&c, &nodes, None, "n").expect("delete");
        assert!(d.obj.value["metadata"]["deletionTimestamp"].is_string());
        assert!(c.get(&nodes, None, "n").is_ok(), "still there");
        let e = merge(
            &c,
            &nodes,
            None,
            "n",
            r#"{"metadata":{"finalizers":["a/x","b/y"]}}"#,
        )
        .expect_err("no new finalizers while deleting");
        assert_eq!(e.code, 422);
        merge(&c, &nodes, None, "n", r#"{"metadata":{"finalizers":null}}"#)
            .expect("remove finalizer");
        assert_eq!(c.get(&nodes, None, "n").expect_err("gone").code, 404);
    }

    #[test]
    fn delete_preconditions() {
        let c = cluster();
        let nodes = rt(&c, "", "v1", "nodes");
        create(&c, &nodes, None, json!({"metadata": {"name": "n"}})).expect("create");
        let with = |opts: DeleteOpts| c.delete(&nodes, None, "n", &opts);
        let e = with(DeleteOpts {
            uid: Some("other".into()),
            ..Default::default()
        })
        .expect_err("uid");
        assert_eq!(e.code, 409);
        assert!(
            e.message
                .contains("Precondition failed: UID in precondition: other"),
            "{}",
            e.message
        );
        let e = with(DeleteOpts {
            resource_version: Some("1".into()),
            ..Default::default()
        })
        .expect_err("rv");
        assert_eq!(e.code, 409);
        delete(&c, &nodes, None, "n").expect("delete");
    }

    #[test]
    fn deleting_a_crd_removes_its_objects_then_itself() {
        let (c, crds, w) = with_widgets(widget_crd());
        create(
            &c,
            &w,
            Some("default"),
            json!({"metadata": {"name": "a", "finalizers": ["x/y"]}}),
        )
        .expect("cr");
        delete(&c, &crds, None, "widgets.example.com").expect("delete crd");
        assert!(
            c.get(&crds, None, "widgets.example.com").is_ok(),
            "waits for the finalized object"
        );
        let e = create(&c, &w, Some("default"), json!({"metadata": {"name": "b"}}))
            .expect_err("terminating");
        assert_eq!(e.code, 405);
        patch(
            &c,
            &w,
            Some("default"),
            "a",
            None,
            PatchKind::Json,
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        )
        .expect("finalize");
        assert_eq!(
            c.get(&crds, None, "widgets.example.com")
                .expect_err("gone")
                .code,
            404
        );
        assert!(c.resource("example.com", "v1", "widgets").is_none());
    }

    #[test]
    fn namespace_deletion_empties_it_first() {
        let c = cluster();
        let ns = rt(&c, "", "v1", "namespaces");
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        create(&c, &ns, None, json!({"metadata": {"name": "t"}})).expect("ns");
        create(
            &c,
            &leases,
            Some("t"),
            json!({"metadata": {"name": "l", "finalizers": ["x/y"]}}),
        )
        .expect("lease");
        let d = delete(&c, &ns, None, "t").expect("delete");
        assert_eq!(d.obj.value["status"]["phase"], "Terminating");
        assert_eq!(
            create(&c, &leases, Some("t"), json!({"metadata": {"name": "m"}}))
                .expect_err("terminating")
                .code,
            403
        );
        merge(
            &c,
            &leases,
            Some("t"),
            "l",
            r#"{"metadata":{"finalizers":[]}}"#,
        )
        .expect("finalize");
        assert_eq!(c.get(&ns, None, "t").expect_err("gone").code, 404);
    }

    #[test]
    fn a_namespace_whose_status_is_no_object_still_terminates() {
        let c = cluster();
        let ns = rt(&c, "", "v1", "namespaces");
        create(&c, &ns, None, json!({"metadata": {"name": "t"}})).expect("ns");
        patch(
            &c,
            &ns,
            None,
            "t",
            Some("status"),
            PatchKind::Merge,
            r#"{"status":"x"}"#,
        )
        .expect("status write");
        let d = delete(&c, &ns, None, "t").expect("delete");
        assert_eq!(d.obj.value["status"], json!({"phase": "Terminating"}));
        assert_eq!(c.get(&ns, None, "t").expect_err("empty, so gone").code, 404);
    }
}
