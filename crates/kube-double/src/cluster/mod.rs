//! The cluster state and the write semantics of kube-apiserver's generic registry. No HTTP here.
//!
//! * `registry`: which resources are served (built-ins, CRDs) and in which version they are stored.
//! * `reads`: get, list (pagination over past snapshots), where a watch starts, presenting
//!   objects in the version asked for.
//! * `rules`: kube's create and update rules on one object — identity, server-owned metadata,
//!   the status split, generation, schema admission. Pure.
//! * `writes`: create, update, patch: locking, resourceVersions, recording.
//! * `deletion`: delete with preconditions and finalizers, deletecollection, namespace and CRD
//!   cleanup.
//! * `gc`: the ownerReferences index and the garbage collector.
//!
//! Lock order: a store's lock before the type registry's, the store map's and the ownership
//! index's (that one only inside [`Cluster::commit`]); none of those is held while a store's
//! lock is taken.

mod deletion;
mod gc;
mod reads;
mod registry;
mod rules;
mod writes;

#[cfg(test)]
mod fixture;

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::builtin::builtin_resources;
use crate::config::ServerConfig;
use crate::resource::{GroupResource, ResourceType};
use crate::status::Subject;
use crate::store::{ChangeKind, ObjKey, Store, Stored};

pub use deletion::DeleteOpts;
pub use reads::{ListOpts, ListPage, WatchStart};
pub use writes::{WriteOpts, WriteResult};

use gc::Ownership;
use registry::Types;

/// The whole in-memory cluster.
#[derive(Debug)]
pub struct Cluster {
    rv: AtomicU64,
    ownership: Mutex<Ownership>,
    types: RwLock<Types>,
    stores: RwLock<HashMap<GroupResource, Arc<Mutex<Store>>>>,
    pub config: ServerConfig,
}

fn subject<'a>(rt: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: &rt.group,
        plural: &rt.plural,
        name,
    }
}

impl ObjKey {
    /// Where an object of `rt` named `name` lives (cluster-scoped objects have no namespace).
    fn of(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
        ObjKey {
            namespace: if rt.namespaced { ns.unwrap_or("") } else { "" }.to_string(),
            name: name.to_string(),
        }
    }

    /// The namespace as the cluster's methods take it.
    fn ns(&self) -> Option<&str> {
        (!self.namespace.is_empty()).then_some(self.namespace.as_str())
    }
}

impl Cluster {
    pub fn new(config: ServerConfig) -> Arc<Cluster> {
        let c = Arc::new(Cluster {
            rv: AtomicU64::new(1),
            ownership: Mutex::new(Ownership::default()),
            types: RwLock::new(Types::default()),
            stores: RwLock::new(HashMap::new()),
            config,
        });
        for rt in builtin_resources() {
            c.register(rt, None);
        }
        let ns_rt = c
            .resource("", "v1", "namespaces")
            .expect("namespaces are built in");
        for ns in c.config.namespaces.clone() {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // Fresh state: the only possible failure is a name the config got wrong.
            if let Err(e) = c.create(&ns_rt, None, body, &WriteOpts::default()) {
                tracing::warn!(namespace = %ns, error = %e.message, "initial namespace not created");
            }
        }
        c
    }

    pub fn current_rv(&self) -> u64 {
        self.rv.load(Ordering::SeqCst)
    }

    fn next_rv(&self) -> u64 {
        self.rv.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn store(&self, gr: &GroupResource) -> Arc<Mutex<Store>> {
        if let Some(s) = self.stores.read().get(gr) {
            return s.clone();
        }
        self.stores
            .write()
            .entry(gr.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Store::new(self.config.history_size))))
            .clone()
    }

    /// Drops all watch history: every older resourceVersion becomes 410 Gone.
    pub fn compact(&self) {
        let stores: Vec<Arc<Mutex<Store>>> = self.stores.read().values().cloned().collect();
        for s in stores {
            let mut g = s.lock();
            g.compact(self.current_rv());
        }
    }

    /// Writes a change at the next resourceVersion: stamps it, keeps the ownership index in
    /// step and records it. Taking the store's guard is what keeps each store's history in
    /// resourceVersion order.
    fn commit(
        &self,
        g: &mut Store,
        rt: &ResourceType,
        kind: ChangeKind,
        key: ObjKey,
        value: Value,
        prev: Option<Arc<Stored>>,
    ) -> Arc<Stored> {
        let stored = Stored::versioned(value, self.next_rv());
        self.ownership.lock().update(
            &rt.store_key(),
            &key,
            kind,
            &stored.value,
            prev.as_ref().map(|p| &p.value),
        );
        g.record(kind, key, stored.clone(), prev);
        stored
    }
}
