//! DescribeInstances, batched and cached: one paginated call for every instance a reconcile needs
//! (a NodeENI's whole fleet at once), by the `instance-id` filter so an unknown ID is simply
//! absent instead of failing the whole request, and a short-lived cache so the fleet and the
//! attachment reconcilers of one rollout share one describe. Only instances EC2 listed are
//! cached.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use multi_eni_ec2::{Ec2, Ec2Error, Instance, InstanceInterface, TtlCache};

use super::describe_batch::{Batch, DEFAULT_WINDOW};

/// What EC2 said about an instance: `None` when it does not know it.
pub type Seen = Option<Instance>;

/// The cache of instances, by ID.
#[derive(Debug)]
pub struct Instances {
    batch: Batch<Instance>,
    cache: Mutex<TtlCache<String, Seen>>,
}

impl Instances {
    /// Entries are fresh for `ttl`; a caller that needs fresher facts (picking a device index)
    /// [`Instances::forget`]s first.
    pub fn new(ec2: Arc<dyn Ec2>, ttl: Duration) -> Instances {
        Instances {
            batch: Batch::new(ec2, DEFAULT_WINDOW),
            cache: Mutex::new(TtlCache::new(ttl)),
        }
    }

    /// Every instance in `ids`, from the cache when fresh, else in one DescribeInstances shared
    /// with every other reconcile asking within the batch window (a call per 200 IDs).
    pub async fn get(&self, ids: &[String]) -> Result<BTreeMap<String, Seen>, Ec2Error> {
        let now = Instant::now();
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        {
            let mut cache = self.cache.lock();
            for id in ids {
                match cache.get(id, now) {
                    Some(seen) => {
                        out.insert(id.clone(), seen);
                    }
                    None if !missing.contains(id) => missing.push(id.clone()),
                    None => {}
                }
            }
        }
        if !missing.is_empty() {
            let mut found: BTreeMap<String, Instance> = self
                .batch
                .describe(missing.clone())
                .await?
                .into_iter()
                .map(|i| (i.id.clone(), i))
                .collect();
            let mut cache = self.cache.lock();
            for id in missing {
                let seen = found.remove(&id);
                // Absence is not cached: EC2's reads lag behind a launch, and a node waiting for
                // its instance to be listed must see it at its next look, not a TTL later.
                if seen.is_some() {
                    cache.insert(id.clone(), seen.clone(), now);
                }
                out.insert(id, seen);
            }
        }
        Ok(out)
    }

    /// One instance.
    pub async fn one(&self, id: &str) -> Result<Seen, Ec2Error> {
        Ok(self.get(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// Puts an interface our own attach just placed into the cached instance (if cached), so the
    /// next device-index choice on it from the cache sees the index taken — without the
    /// describe a [`Instances::forget`] would cost every attach. Restarts the entry's TTL: other
    /// changes it may miss meanwhile (a foreign attach) are refused by EC2 as DeviceIndexInUse.
    pub fn record_attach(&self, instance_id: &str, interface: InstanceInterface) {
        let now = Instant::now();
        let key = instance_id.to_string();
        let mut cache = self.cache.lock();
        if let Some(Some(mut instance)) = cache.get(&key, now) {
            instance
                .network_interfaces
                .retain(|i| i.network_interface_id != interface.network_interface_id);
            instance.network_interfaces.push(interface);
            cache.insert(key, Some(instance), now);
        }
    }

    /// The cached entry for `id` while fresh, without describing: `Some(None)` when EC2 did not
    /// know it, `None` when not cached.
    pub fn peek(&self, id: &str) -> Option<Seen> {
        self.cache.lock().get(&id.to_string(), Instant::now())
    }

    /// Forgets every cached instance that still shows ENI `id` (we just deleted it): the next
    /// index choice there describes afresh instead of seeing the index held.
    pub fn record_deleted(&self, id: &str) {
        self.cache.lock().remove_where(|_, seen| {
            seen.as_ref().is_some_and(|i| {
                i.network_interfaces
                    .iter()
                    .any(|n| n.network_interface_id == id)
            })
        });
    }

    /// Drops an instance from the cache, so the next read describes it.
    pub fn forget(&self, id: &str) {
        self.cache.lock().remove(&id.to_string());
    }
}
