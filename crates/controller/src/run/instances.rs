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

use super::describe_batch::{Batch, Pacing};

/// What EC2 said about an instance: `None` when it does not know it.
pub type Seen = Option<Instance>;

/// The cache of instances, by ID.
#[derive(Debug)]
pub struct Instances {
    batch: Batch<Instance>,
    ttl: Duration,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    entries: TtlCache<String, Seen>,
    /// When each instance was last asked for, while within a TTL: the ones refreshed ahead.
    asked: BTreeMap<String, Instant>,
}

impl Cache {
    /// The instances asked for within the TTL whose entries are missing or past half of it:
    /// a describe that is made anyway refreshes them too, so a fleet's entries, filled by one
    /// describe, are refreshed by one describe rather than expiring one by one.
    fn due(&mut self, now: Instant, ttl: Duration) -> Vec<String> {
        self.asked
            .retain(|_, at| now.saturating_duration_since(*at) < ttl);
        let entries = &self.entries;
        self.asked
            .keys()
            .filter(|id| entries.age(id, now).is_none_or(|age| age >= ttl / 2))
            .cloned()
            .collect()
    }
}

impl Instances {
    /// Entries are fresh for `ttl`; describes are batched as `pacing` says. A caller that needs fresher facts (picking a device index)
    /// [`Instances::forget`]s first.
    pub fn new(ec2: Arc<dyn Ec2>, ttl: Duration, pacing: Pacing) -> Instances {
        Instances {
            batch: Batch::paced(ec2, pacing.window, pacing.spacing),
            ttl,
            cache: Mutex::new(Cache {
                entries: TtlCache::new(ttl),
                asked: BTreeMap::new(),
            }),
        }
    }

    /// Every instance in `ids`, from the cache when fresh, else in one DescribeInstances shared
    /// with every other reconcile asking within the batch window (a call per 200 IDs).
    pub async fn get(&self, ids: &[String]) -> Result<BTreeMap<String, Seen>, Ec2Error> {
        let now = Instant::now();
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        let mut ahead = Vec::new();
        {
            let mut cache = self.cache.lock();
            for id in ids {
                cache.asked.insert(id.clone(), now);
                match cache.entries.get(id, now) {
                    Some(seen) => {
                        out.insert(id.clone(), seen);
                    }
                    None if !missing.contains(id) => missing.push(id.clone()),
                    None => {}
                }
            }
            if !missing.is_empty() {
                ahead = cache.due(now, self.ttl);
                ahead.retain(|id| !missing.contains(id));
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let asked: Vec<String> = missing.iter().chain(&ahead).cloned().collect();
        let mut found: BTreeMap<String, Instance> = self
            .batch
            .describe(asked)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        let mut cache = self.cache.lock();
        for id in ahead {
            if let Some(i) = found.remove(&id) {
                cache.entries.insert(id, Some(i), now);
            }
        }
        for id in missing {
            let seen = found.remove(&id);
            // Absence is not cached: EC2's reads lag behind a launch, and a node waiting for
            // its instance to be listed must see it at its next look, not a TTL later.
            if seen.is_some() {
                cache.entries.insert(id.clone(), seen.clone(), now);
            }
            out.insert(id, seen);
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
        if let Some(Some(mut instance)) = cache.entries.get(&key, now) {
            instance
                .network_interfaces
                .retain(|i| i.network_interface_id != interface.network_interface_id);
            instance.network_interfaces.push(interface);
            cache.entries.insert(key, Some(instance), now);
        }
    }

    /// The cached entry for `id` while fresh, without describing: `Some(None)` when EC2 did not
    /// know it, `None` when not cached.
    pub fn peek(&self, id: &str) -> Option<Seen> {
        self.cache
            .lock()
            .entries
            .get(&id.to_string(), Instant::now())
    }

    /// Takes ENI `id` (we just deleted it) off every cached instance that still shows it, so
    /// the next index choice there sees the index free — without the describe a
    /// [`Instances::forget`] would cost every delete of a teardown. The entries keep their age.
    pub fn record_deleted(&self, id: &str) {
        self.cache.lock().entries.update_all(|_, seen| {
            if let Some(instance) = seen {
                instance
                    .network_interfaces
                    .retain(|n| n.network_interface_id != id);
            }
        });
    }

    /// Drops an instance from the cache, so the next read describes it.
    pub fn forget(&self, id: &str) {
        self.cache.lock().entries.remove(&id.to_string());
    }
}
