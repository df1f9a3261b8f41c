//! Cached lookups of subnets, security groups and instance-type limits — the facts every
//! reconcile needs and that rarely change — with a per-entry TTL.
//!
//! Names are resolved within one VPC (the cluster's), and a name must match exactly one
//! resource: zero or several matches is an error naming the candidates, never a guess.
//! ID lookups use an ID *filter* rather than the ID list, so unknown IDs come back as a
//! precise [`LookupError::NotFound`] (EC2 fails the whole request for an unknown ID in the
//! list) and the request draws from the larger, filtered throttling bucket.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Ec2Error, ErrorKind};
use crate::model::{InstanceTypeLimits, NAME_TAG, SecurityGroup, Subnet};
use crate::op::Op;
use crate::pages::collect_pages;
use crate::port::Ec2;
use crate::request::{DescribeQuery, Filter};
use crate::ttl_cache::TtlCache;

/// How long each kind of entry stays fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupTtls {
    /// Subnets (AZ and CIDR never change; the free-address count does, so not too long).
    pub subnet: Duration,
    /// Security groups (IDs and names are stable; deletion is rare).
    pub security_group: Duration,
    /// Instance-type limits (fixed per type).
    pub instance_type: Duration,
}

impl Default for LookupTtls {
    fn default() -> LookupTtls {
        LookupTtls {
            subnet: Duration::from_secs(5 * 60),
            security_group: Duration::from_secs(5 * 60),
            instance_type: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Why a lookup found nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing matched.
    #[error("{what} {key} not found")]
    NotFound {
        /// `subnet`, `security group`, `instance type`.
        what: &'static str,
        /// The IDs or the name (with its VPC) that matched nothing.
        key: String,
    },
    /// A name matched several resources in the VPC.
    #[error("{what} name {name:?} matches {} in {vpc_id}: {}; name one by ID", candidates.len(), candidates.join(", "))]
    Ambiguous {
        /// `subnet` or `security group`.
        what: &'static str,
        /// The VPC searched.
        vpc_id: String,
        /// The name.
        name: String,
        /// IDs of every match.
        candidates: Vec<String>,
    },
    /// EC2 failed.
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
}

/// TTL-cached lookups over an [`Ec2`].
#[derive(Debug)]
pub struct Lookups {
    ec2: Arc<dyn Ec2>,
    subnets: Caches<Subnet>,
    groups: Caches<SecurityGroup>,
    types: Mutex<TtlCache<String, InstanceTypeLimits>>,
}

impl Lookups {
    /// Lookups with the given TTLs.
    pub fn new(ec2: Arc<dyn Ec2>, ttls: LookupTtls) -> Lookups {
        Lookups {
            ec2,
            subnets: Caches::new("subnet", ttls.subnet),
            groups: Caches::new("security group", ttls.security_group),
            types: Mutex::new(TtlCache::new(ttls.instance_type)),
        }
    }

    /// Subnets by ID, in the order asked; the misses are fetched in one request.
    pub async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, LookupError> {
        self.subnets
            .by_ids(ids, |missing| {
                self.describe_subnets(vec![Filter::new("subnet-id", missing)])
            })
            .await
    }

    /// One subnet by ID.
    pub async fn subnet(&self, id: &str) -> Result<Subnet, LookupError> {
        Ok(self.subnets(&[id.to_string()]).await?.remove(0))
    }

    /// The one subnet in `vpc_id` whose `Name` tag is `name`.
    pub async fn subnet_by_name(&self, vpc_id: &str, name: &str) -> Result<Subnet, LookupError> {
        let filters = vec![Filter::eq("vpc-id", vpc_id), Filter::tag(NAME_TAG, name)];
        self.subnets
            .by_name(vpc_id, name, self.describe_subnets(filters))
            .await
    }

    /// Security groups by ID, in the order asked; the misses are fetched in one request.
    pub async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, LookupError> {
        self.groups
            .by_ids(ids, |missing| {
                self.describe_groups(vec![Filter::new("group-id", missing)])
            })
            .await
    }

    /// One security group by ID.
    pub async fn security_group(&self, id: &str) -> Result<SecurityGroup, LookupError> {
        Ok(self.security_groups(&[id.to_string()]).await?.remove(0))
    }

    /// The one security group in `vpc_id` named `name` (`GroupName`).
    pub async fn security_group_by_name(
        &self,
        vpc_id: &str,
        name: &str,
    ) -> Result<SecurityGroup, LookupError> {
        let filters = vec![Filter::eq("vpc-id", vpc_id), Filter::eq("group-name", name)];
        self.groups
            .by_name(vpc_id, name, self.describe_groups(filters))
            .await
    }

    /// The interface limits of an instance type.
    pub async fn instance_type_limits(
        &self,
        instance_type: &str,
    ) -> Result<InstanceTypeLimits, LookupError> {
        let key = instance_type.to_string();
        if let Some(t) = self.types.lock().get(&key, Instant::now()) {
            return Ok(t);
        }
        let not_found = || LookupError::NotFound {
            what: "instance type",
            key: key.clone(),
        };
        let page = self
            .ec2
            .describe_instance_types(&DescribeQuery::ids([instance_type]))
            .await
            .map_err(|e| match e.kind {
                // Unknown type names fail the request instead of returning nothing
                // (`InvalidInstanceType`; moto says `InvalidInstanceType.NotFound`).
                ErrorKind::InvalidInput | ErrorKind::NotFound(_) => not_found(),
                _ => LookupError::Ec2(e),
            })?;
        let limits = page
            .items
            .into_iter()
            .find(|t| t.instance_type == instance_type)
            .ok_or_else(not_found)?;
        self.types
            .lock()
            .insert(key, limits.clone(), Instant::now());
        Ok(limits)
    }

    /// Forgets a cached subnet, under its ID and under every name that resolved to it (e.g.
    /// after `InsufficientFreeAddressesInSubnet`, so the next lookup — by ID or by name — sees
    /// the real free-address count).
    pub fn forget_subnet(&self, id: &str) {
        self.subnets.forget(id);
    }

    async fn describe_subnets(&self, filters: Vec<Filter>) -> Result<Vec<Subnet>, Ec2Error> {
        let ec2 = &*self.ec2;
        collect_pages(
            Op::DescribeSubnets,
            DescribeQuery::filters(filters),
            |q| async move { ec2.describe_subnets(&q).await },
        )
        .await
    }

    async fn describe_groups(&self, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>, Ec2Error> {
        let ec2 = &*self.ec2;
        collect_pages(
            Op::DescribeSecurityGroups,
            DescribeQuery::filters(filters),
            |q| async move { ec2.describe_security_groups(&q).await },
        )
        .await
    }
}

/// A resource [`Caches`] can hold: it knows its own ID.
trait Identified: Clone {
    fn id(&self) -> &str;
}

impl Identified for Subnet {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Identified for SecurityGroup {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The caches of one resource kind: by ID, and by (VPC, name).
#[derive(Debug)]
struct Caches<V> {
    /// `subnet`, `security group` (for errors).
    what: &'static str,
    by_id: Mutex<TtlCache<String, V>>,
    by_name: Mutex<TtlCache<(String, String), V>>,
}

impl<V: Identified> Caches<V> {
    fn new(what: &'static str, ttl: Duration) -> Caches<V> {
        Caches {
            what,
            by_id: Mutex::new(TtlCache::new(ttl)),
            by_name: Mutex::new(TtlCache::new(ttl)),
        }
    }

    /// `ids` in the order asked: hits from the cache, the misses from one `fetch` of them.
    /// The answer is built from what was read and fetched, not by reading the cache again,
    /// so it holds whatever the TTL (zero included).
    async fn by_ids<F, Fut>(&self, ids: &[String], fetch: F) -> Result<Vec<V>, LookupError>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<V>, Ec2Error>>,
    {
        let now = Instant::now();
        let mut found: HashMap<String, V> = {
            let mut cache = self.by_id.lock();
            ids.iter()
                .filter_map(|id| cache.get(id, now).map(|v| (id.clone(), v)))
                .collect()
        };
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let fetched = fetch(missing).await?;
            let now = Instant::now();
            let mut cache = self.by_id.lock();
            for v in fetched {
                cache.insert(v.id().to_string(), v.clone(), now);
                found.insert(v.id().to_string(), v);
            }
        }
        let absent: Vec<&str> = ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !absent.is_empty() {
            return Err(LookupError::NotFound {
                what: self.what,
                key: absent.join(", "),
            });
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    /// The one resource named `name` in `vpc_id`, from the cache or from `fetch` (every
    /// resource in the VPC with that name); a hit is cached under the name and its ID.
    async fn by_name(
        &self,
        vpc_id: &str,
        name: &str,
        fetch: impl Future<Output = Result<Vec<V>, Ec2Error>>,
    ) -> Result<V, LookupError> {
        let key = (vpc_id.to_string(), name.to_string());
        if let Some(v) = self.by_name.lock().get(&key, Instant::now()) {
            return Ok(v);
        }
        let v = exactly_one(fetch.await?, self.what, vpc_id, name)?;
        let now = Instant::now();
        self.by_id.lock().insert(v.id().to_string(), v.clone(), now);
        self.by_name.lock().insert(key, v.clone(), now);
        Ok(v)
    }

    fn forget(&self, id: &str) {
        self.by_id.lock().remove(&id.to_string());
        self.by_name.lock().remove_where(|_, v| v.id() == id);
    }
}

fn exactly_one<V: Identified>(
    mut found: Vec<V>,
    what: &'static str,
    vpc_id: &str,
    name: &str,
) -> Result<V, LookupError> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(LookupError::NotFound {
            what,
            key: format!("named {name:?} in {vpc_id}"),
        }),
        _ => {
            let mut candidates: Vec<String> = found.iter().map(|v| v.id().to_string()).collect();
            candidates.sort();
            Err(LookupError::Ambiguous {
                what,
                vpc_id: vpc_id.to_string(),
                name: name.to_string(),
                candidates,
            })
        }
    }
}
