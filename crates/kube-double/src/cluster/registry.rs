//! Which resources are served: the built-ins, and the resources of stored CRDs, kept in step
//! with every CRD write (registration is synchronous: a CRD is servable as soon as its create
//! returns, and its endpoints go with it).

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::Cluster;
use crate::crd;
use crate::meta::is_deleting;
use crate::resource::{GroupResource, ResourceType};
use crate::status::ApiError;
use crate::store::{Store, Stored};

#[derive(Debug, Default)]
pub(super) struct Types {
    /// By (group, version, plural).
    served: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// Storage apiVersion per resource: objects are kept in it and presented in the asked version.
    storage: HashMap<GroupResource, String>,
    /// CRDs being deleted: their custom resources refuse creates.
    terminating: HashSet<GroupResource>,
}

impl Types {
    fn unserve(&mut self, gr: &GroupResource) {
        self.served
            .retain(|(g, _, p), _| !(g == &gr.group && p == &gr.plural));
    }
}

impl Cluster {
    pub(super) fn register(&self, rt: ResourceType, storage: Option<String>) {
        let mut t = self.types.write();
        let storage = match (&rt.stored_as, storage) {
            (Some(_), _) => "v1".to_string(),
            (None, Some(s)) => s,
            (None, None) => rt.api_version(),
        };
        t.storage.insert(rt.group_resource(), storage);
        t.served.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            Arc::new(rt),
        );
    }

    /// The served resource at `/apis/<group>/<version>/<plural>`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .served
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Every served resource type, grouped by group then version.
    pub fn all_types(&self) -> Vec<Arc<ResourceType>> {
        let mut v: Vec<Arc<ResourceType>> = self.types.read().served.values().cloned().collect();
        // Core group first, then the rest by name: the order kube-apiserver's discovery uses
        // matters to nobody, but stable output makes discovery caches stable.
        v.sort_by(|a, b| {
            (!a.group.is_empty(), &a.group, &a.version).cmp(&(
                !b.group.is_empty(),
                &b.group,
                &b.version,
            ))
        });
        v
    }

    /// A served type whose objects live in store `gr` in their own shape (not a converted view
    /// such as events.k8s.io Events): what cleanup and the garbage collector delete through.
    pub(super) fn primary_type(&self, gr: &GroupResource) -> Option<Arc<ResourceType>> {
        self.all_types()
            .into_iter()
            .find(|t| t.store_key() == *gr && t.stored_as.is_none())
    }

    pub(super) fn storage_version(&self, rt: &ResourceType) -> String {
        self.types
            .read()
            .storage
            .get(&rt.group_resource())
            .cloned()
            .unwrap_or_else(|| rt.api_version())
    }

    pub(super) fn crd_terminating(&self, gr: &GroupResource) -> bool {
        self.types.read().terminating.contains(gr)
    }

    pub(super) fn refuse_if_crd_terminating(&self, rt: &ResourceType) -> Result<(), ApiError> {
        if rt.custom && self.crd_terminating(&rt.group_resource()) {
            return Err(ApiError::method_not_allowed(
                "create not allowed while custom resource definition is terminating",
            ));
        }
        Ok(())
    }

    /// After any write of `rt`: when it is a CRD, serve what the stored CRD now says (or, once
    /// `removed`, nothing, and drop its store).
    pub(super) fn sync_served_types(
        &self,
        rt: &ResourceType,
        obj: &Stored,
        removed: bool,
    ) -> Result<(), ApiError> {
        if !rt.is_crd() {
            return Ok(());
        }
        let gr = crd::served_resource(&obj.value);
        if removed {
            {
                let mut t = self.types.write();
                t.unserve(&gr);
                t.storage.remove(&gr);
                t.terminating.remove(&gr);
            }
            self.stores.write().remove(&gr);
            return Ok(());
        }
        let types = crd::resource_types(&obj.value)?;
        let storage = crd::storage_api_version(&obj.value);
        // A new resource's history starts at its registration, as kube-apiserver's watch cache
        // does: a watch from an older resourceVersion is 410 Expired, not a replay.
        self.stores.write().entry(gr.clone()).or_insert_with(|| {
            let mut store = Store::new(self.config.history_size);
            store.compacted = obj.rv;
            Arc::new(Mutex::new(store))
        });
        {
            let mut t = self.types.write();
            t.unserve(&gr);
            if is_deleting(&obj.value) {
                t.terminating.insert(gr);
            }
        }
        for t in types {
            self.register(t, Some(storage.clone()));
        }
        Ok(())
    }
}
