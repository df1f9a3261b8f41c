//! Cached lookups of subnets, security groups and instance-type limits — the facts every
//! reconcile needs and that rarely change — with a per-entry TTL.
//!
//! Names are resolved within one VPC (the cluster's), and a name must match exactly one
//! resource: zero or several matches is an error naming the candidates, never a guess.
//! ID lookups use an ID *filter* rather than the ID list, so unknown IDs come back as a
//! precise [`LookupError::NotFound`] (EC2 fails the whole request for an unknown ID in the
//! list) and the request draws from the larger, filtered throttling bucket.

use std::sync::{Arc, Mutex, PoisonError};
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
    subnets: Mutex<TtlCache<String, Subnet>>,
    subnet_names: Mutex<TtlCache<(String, String), Subnet>>,
    groups: Mutex<TtlCache<String, SecurityGroup>>,
    group_names: Mutex<TtlCache<(String, String), SecurityGroup>>,
    types: Mutex<TtlCache<String, InstanceTypeLimits>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lookups {
    /// Lookups with the given TTLs.
    pub fn new(ec2: Arc<dyn Ec2>, ttls: LookupTtls) -> Lookups {
        Lookups {
            ec2,
            subnets: Mutex::new(TtlCache::new(ttls.subnet)),
            subnet_names: Mutex::new(TtlCache::new(ttls.subnet)),
            groups: Mutex::new(TtlCache::new(ttls.security_group)),
            group_names: Mutex::new(TtlCache::new(ttls.security_group)),
            types: Mutex::new(TtlCache::new(ttls.instance_type)),
        }
    }

    /// Subnets by ID, in the order asked; the misses are fetched in one request.
    pub async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, LookupError> {
        let now = Instant::now();
        let missing: Vec<String> = {
            let mut cache = lock(&self.subnets);
            ids.iter()
                .filter(|id| cache.get(id, now).is_none())
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            let query = DescribeQuery::filters(vec![Filter::new("subnet-id", missing.clone())]);
            let ec2 = &*self.ec2;
            let found = collect_pages(Op::DescribeSubnets, query, |q| async move {
                ec2.describe_subnets(&q).await
            })
            .await?;
            let now = Instant::now();
            let mut cache = lock(&self.subnets);
            for s in found {
                cache.insert(s.id.clone(), s, now);
            }
        }
        self.cached(&self.subnets, ids, "subnet")
    }

    /// One subnet by ID.
    pub async fn subnet(&self, id: &str) -> Result<Subnet, LookupError> {
        Ok(self.subnets(&[id.to_string()]).await?.remove(0))
    }

    /// The one subnet in `vpc_id` whose `Name` tag is `name`.
    pub async fn subnet_by_name(&self, vpc_id: &str, name: &str) -> Result<Subnet, LookupError> {
        let key = (vpc_id.to_string(), name.to_string());
        if let Some(s) = lock(&self.subnet_names).get(&key, Instant::now()) {
            return Ok(s);
        }
        let query = DescribeQuery::filters(vec![
            Filter::eq("vpc-id", vpc_id),
            Filter::tag(NAME_TAG, name),
        ]);
        let ec2 = &*self.ec2;
        let found = collect_pages(Op::DescribeSubnets, query, |q| async move {
            ec2.describe_subnets(&q).await
        })
        .await?;
        let subnet = exactly_one(found, "subnet", vpc_id, name, |s| &s.id)?;
        let now = Instant::now();
        lock(&self.subnets).insert(subnet.id.clone(), subnet.clone(), now);
        lock(&self.subnet_names).insert(key, subnet.clone(), now);
        Ok(subnet)
    }

    /// Security groups by ID, in the order asked; the misses are fetched in one request.
    pub async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, LookupError> {
        let now = Instant::now();
        let missing: Vec<String> = {
            let mut cache = lock(&self.groups);
            ids.iter()
                .filter(|id| cache.get(id, now).is_none())
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            let query = DescribeQuery::filters(vec![Filter::new("group-id", missing.clone())]);
            let ec2 = &*self.ec2;
            let found = collect_pages(Op::DescribeSecurityGroups, query, |q| async move {
                ec2.describe_security_groups(&q).await
            })
            .await?;
            let now = Instant::now();
            let mut cache = lock(&self.groups);
            for g in found {
                cache.insert(g.id.clone(), g, now);
            }
        }
        self.cached(&self.groups, ids, "security group")
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
        let key = (vpc_id.to_string(), name.to_string());
        if let Some(g) = lock(&self.group_names).get(&key, Instant::now()) {
            return Ok(g);
        }
        let query = DescribeQuery::filters(vec![
            Filter::eq("vpc-id", vpc_id),
            Filter::eq("group-name", name),
        ]);
        let ec2 = &*self.ec2;
        let found = collect_pages(Op::DescribeSecurityGroups, query, |q| async move {
            ec2.describe_security_groups(&q).await
        })
        .await?;
        let group = exactly_one(found, "security group", vpc_id, name, |g| &g.id)?;
        let now = Instant::now();
        lock(&self.groups).insert(group.id.clone(), group.clone(), now);
        lock(&self.group_names).insert(key, group.clone(), now);
        Ok(group)
    }

    /// The interface limits of an instance type.
    pub async fn instance_type_limits(
        &self,
        instance_type: &str,
    ) -> Result<InstanceTypeLimits, LookupError> {
        if let Some(t) = lock(&self.types).get(&instance_type.to_string(), Instant::now()) {
            return Ok(t);
        }
        let page = self
            .ec2
            .describe_instance_types(&DescribeQuery::ids([instance_type]))
            .await
            .map_err(|e| match e.kind {
                // Unknown type names fail the request instead of returning nothing
                // (`InvalidInstanceType`; moto says `InvalidInstanceType.NotFound`).
                ErrorKind::InvalidInput | ErrorKind::NotFound(_) => LookupError::NotFound {
                    what: "instance type",
                    key: instance_type.to_string(),
                },
                _ => LookupError::Ec2(e),
            })?;
        let limits = page
            .items
            .into_iter()
            .find(|t| t.instance_type == instance_type)
            .ok_or_else(|| LookupError::NotFound {
                what: "instance type",
                key: instance_type.to_string(),
            })?;
        lock(&self.types).insert(instance_type.to_string(), limits.clone(), Instant::now());
        Ok(limits)
    }

    /// Forgets a cached subnet (e.g. after `InsufficientFreeAddressesInSubnet`, so the next
    /// lookup sees the real free-address count).
    pub fn forget_subnet(&self, id: &str) {
        lock(&self.subnets).remove(&id.to_string());
    }

    fn cached<V: Clone>(
        &self,
        cache: &Mutex<TtlCache<String, V>>,
        ids: &[String],
        what: &'static str,
    ) -> Result<Vec<V>, LookupError> {
        // Read at the time of the request so entries stored a moment ago still count.
        let now = Instant::now();
        let mut cache = lock(cache);
        let mut out = Vec::with_capacity(ids.len());
        let mut absent = Vec::new();
        for id in ids {
            match cache.get(id, now) {
                Some(v) => out.push(v),
                None => absent.push(id.clone()),
            }
        }
        if absent.is_empty() {
            Ok(out)
        } else {
            Err(LookupError::NotFound {
                what,
                key: absent.join(", "),
            })
        }
    }
}

fn exactly_one<T>(
    mut found: Vec<T>,
    what: &'static str,
    vpc_id: &str,
    name: &str,
    id: impl Fn(&T) -> &String,
) -> Result<T, LookupError> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(LookupError::NotFound {
            what,
            key: format!("named {name:?} in {vpc_id}"),
        }),
        _ => {
            let mut candidates: Vec<String> = found.iter().map(|t| id(t).clone()).collect();
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
