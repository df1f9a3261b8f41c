//! The garbage collector's background propagation, run synchronously when an owner goes:
//! dependents none of whose owners exist any more are deleted (finalizers honoured). The index
//! it reads is kept in step with every change by [`Cluster::commit`].

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Cluster, DeleteOpts};
use crate::meta::{is_deleting, meta_str, owner_uids};
use crate::resource::GroupResource;
use crate::store::{ChangeKind, ObjKey};

/// Which objects exist (by uid) and who depends on whom.
#[derive(Debug, Default)]
pub(super) struct Ownership {
    live: HashSet<String>,
    dependents: HashMap<String, HashSet<(GroupResource, ObjKey)>>,
}

impl Ownership {
    /// Takes in one change: `obj` after it (for deletes: its last state), `prev` before.
    pub(super) fn update(
        &mut self,
        gr: &GroupResource,
        key: &ObjKey,
        kind: ChangeKind,
        obj: &Value,
        prev: Option<&Value>,
    ) {
        let entry = (gr.clone(), key.clone());
        for u in prev.map(owner_uids).unwrap_or_default() {
            if let Some(set) = self.dependents.get_mut(&u) {
                set.remove(&entry);
                if set.is_empty() {
                    self.dependents.remove(&u);
                }
            }
        }
        let uid = meta_str(obj, "uid").unwrap_or("").to_string();
        if kind == ChangeKind::Deleted {
            self.live.remove(&uid);
            return;
        }
        self.live.insert(uid);
        for u in owner_uids(obj) {
            self.dependents.entry(u).or_default().insert(entry.clone());
        }
    }

    fn dependents_of(&self, owner_uid: &str) -> Vec<(GroupResource, ObjKey)> {
        self.dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// True when none of the object's owners exists (an object without owners is no orphan of
    /// anyone, but is never a dependent either).
    fn orphaned(&self, obj: &Value) -> bool {
        owner_uids(obj).iter().all(|u| !self.live.contains(u))
    }
}

impl Cluster {
    pub(super) fn collect_garbage(&self, owner_uid: &str) {
        let candidates = self.ownership.lock().dependents_of(owner_uid);
        for (gr, key) in candidates {
            let Some(rt) = self.primary_type(&gr) else {
                continue;
            };
            let Ok(obj) = self.get(&rt, key.ns(), &key.name) else {
                continue;
            };
            let orphaned = self.ownership.lock().orphaned(&obj.value);
            if orphaned && !is_deleting(&obj.value) {
                let _ = self.delete(&rt, key.ns(), &key.name, &DeleteOpts::default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::cluster::fixture::{cluster, create, delete, rt};
    use crate::store::Stored;

    #[test]
    fn the_index_follows_owner_references_through_changes() {
        let gr = GroupResource {
            group: String::new(),
            plural: "pods".into(),
        };
        let key = ObjKey {
            namespace: "default".into(),
            name: "p".into(),
        };
        let owned_by = |owners: &[&str]| {
            let refs: Vec<Value> = owners.iter().map(|u| json!({"uid": u})).collect();
            json!({"metadata": {"uid": "p-uid", "ownerReferences": refs}})
        };
        let mut o = Ownership::default();
        o.update(&gr, &key, ChangeKind::Added, &owned_by(&["a"]), None);
        assert_eq!(o.dependents_of("a"), [(gr.clone(), key.clone())]);
        assert!(o.live.contains("p-uid"));
        o.update(
            &gr,
            &key,
            ChangeKind::Modified,
            &owned_by(&["b"]),
            Some(&owned_by(&["a"])),
        );
        assert!(o.dependents_of("a").is_empty(), "a no longer owns it");
        assert!(!o.dependents.contains_key("a"), "empty sets are dropped");
        assert_eq!(o.dependents_of("b").len(), 1);
        assert!(o.orphaned(&owned_by(&["b"])), "b does not exist");
        o.update(
            &gr,
            &key,
            ChangeKind::Deleted,
            &owned_by(&["b"]),
            Some(&owned_by(&["b"])),
        );
        assert!(o.dependents.is_empty() && o.live.is_empty());
    }

    #[test]
    fn garbage_collector_deletes_dependents_once_all_owners_are_gone() {
        let c = cluster();
        let leases = rt(&c, "coordination.k8s.io", "v1", "leases");
        let mk = |name: &str, owners: &[&Arc<Stored>], fin: bool| {
            let refs: Vec<Value> = owners
                .iter()
                .map(|o| json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": o.value["metadata"]["name"], "uid": o.value["metadata"]["uid"]}))
                .collect();
            let mut m = json!({"name": name, "ownerReferences": refs});
            if fin {
                m["finalizers"] = json!(["x/y"]);
            }
            create(&c, &leases, Some("default"), json!({"metadata": m}))
                .expect("create")
                .obj
        };
        let a = mk("owner-a", &[], false);
        let b = mk("owner-b", &[], false);
        mk("only-a", &[&a], false);
        mk("a-and-b", &[&a, &b], false);
        mk("a-finalized", &[&a], true);
        delete(&c, &leases, Some("default"), "owner-a").expect("delete");
        let get = |name: &str| c.get(&leases, Some("default"), name);
        assert_eq!(get("only-a").expect_err("collected").code, 404);
        assert!(get("a-and-b").is_ok(), "b still owns it");
        let f = get("a-finalized").expect("finalizer holds it");
        assert!(f.value["metadata"]["deletionTimestamp"].is_string());
        delete(&c, &leases, Some("default"), "owner-b").expect("delete");
        assert_eq!(get("a-and-b").expect_err("collected").code, 404);
    }
}
