//! The cluster's ENIs as EC2 last showed them: filled by the resync (one paginated,
//! cluster-tag-filtered DescribeNetworkInterfaces per period) and kept current between resyncs
//! by what the executor's own calls prove. Reconcilers read it instead of describing one ENI at a
//! time, which is what keeps describes O(pages) rather than O(ENIs).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use multi_eni_api::keys::TAG_ATTACHMENT;
use multi_eni_ec2::NetworkInterface;
use parking_lot::RwLock;

/// ENIs by ID, with the time of the listing they came from.
#[derive(Debug, Default)]
pub struct EniIndex {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    enis: BTreeMap<String, NetworkInterface>,
    /// When each entry was last shown (by a listing, a describe or a call's result).
    seen: BTreeMap<String, Timestamp>,
    /// ENIs a describe has listed (not only a call's result): EC2 knows their IDs everywhere.
    listed: BTreeSet<String>,
    listed_at: Option<Timestamp>,
}

impl EniIndex {
    /// Replaces everything with a complete listing taken at `at`.
    pub fn replace(&self, enis: Vec<NetworkInterface>, at: Timestamp) {
        let mut g = self.inner.write();
        g.seen = enis.iter().map(|e| (e.id.clone(), at)).collect();
        g.listed = enis.iter().map(|e| e.id.clone()).collect();
        g.enis = enis.into_iter().map(|e| (e.id.clone(), e)).collect();
        g.listed_at = Some(at);
    }

    /// Records what a describe listed about one ENI.
    pub fn upsert_listed(&self, eni: NetworkInterface) {
        self.inner.write().listed.insert(eni.id.clone());
        self.upsert(eni);
    }

    /// Notes that a describe listed `id` (its content kept: the index knows better).
    pub fn mark_listed(&self, id: &str) {
        let mut g = self.inner.write();
        if g.enis.contains_key(id) {
            g.listed.insert(id.to_owned());
        }
    }

    /// Whether a describe has listed `id`. A new ENI's ID takes a while to reach all of EC2:
    /// an attach by an ID only the create's answer showed may be refused as not found.
    pub fn is_listed(&self, id: &str) -> bool {
        self.inner.read().listed.contains(id)
    }

    /// Records what a call or a targeted describe showed about one ENI.
    pub fn upsert(&self, eni: NetworkInterface) {
        let mut g = self.inner.write();
        g.seen.insert(eni.id.clone(), Timestamp::now());
        g.enis.insert(eni.id.clone(), eni);
    }

    /// Forgets an ENI that was deleted (or that EC2 no longer knows).
    pub fn remove(&self, id: &str) {
        let mut g = self.inner.write();
        g.enis.remove(id);
        g.seen.remove(id);
        g.listed.remove(id);
    }

    /// When the entry for `id` was last shown, so a reconciler can tell whether it is fresher
    /// than a poll (and skip a describe).
    pub fn seen_at(&self, id: &str) -> Option<Timestamp> {
        self.inner.read().seen.get(id).copied()
    }

    /// One ENI by ID.
    pub fn get(&self, id: &str) -> Option<NetworkInterface> {
        self.inner.read().enis.get(id).cloned()
    }

    /// Every ENI tagged with this ENIAttachment UID, plus the one recorded in its status (when
    /// known and not tagged, e.g. a Go controller ENI being adopted).
    pub fn for_attachment(&self, uid: &str, recorded: Option<&str>) -> Vec<NetworkInterface> {
        let g = self.inner.read();
        g.enis
            .values()
            .filter(|e| {
                e.tags.get(TAG_ATTACHMENT).map(String::as_str) == Some(uid)
                    || recorded == Some(e.id.as_str())
            })
            .cloned()
            .collect()
    }

    /// Every ENI, for garbage collection.
    pub fn all(&self) -> Vec<NetworkInterface> {
        self.inner.read().enis.values().cloned().collect()
    }

    /// When the last complete listing was taken; `None` before the first.
    pub fn listed_at(&self) -> Option<Timestamp> {
        self.inner.read().listed_at
    }
}
