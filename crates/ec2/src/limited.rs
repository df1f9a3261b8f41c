//! [`Limited`]: any [`Ec2`] behind the client-side [`RateLimiter`], as the `aws-sdk-ec2`
//! adapter puts itself behind it — a first attempt waits for a token of its request's bucket
//! ([`BucketId::for_request`]), and a throttled answer empties that bucket so the next callers
//! wait for a refill. For an `Ec2` with no limiter of its own: the simulator (benchmarks, the
//! sandbox), or a test double.
//!
//! It retries nothing (the caller's backoff does), so there are no retries to *charge*. It
//! counts, per action, the calls it let through, how many of them waited and for how long, and
//! how many the inner `Ec2` answered `Throttled` — the throttles the client saw, to set beside
//! the ones the server says it returned.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::{Ec2Error, ErrorKind};
use crate::limiter::RateLimiter;
use crate::model::Tags;
use crate::model::{Instance, InstanceTypeLimits, NetworkInterface, Page, SecurityGroup, Subnet};
use crate::op::Op;
use crate::port::Ec2;
use crate::request::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, EniAttributeChange,
};
use crate::throttling::BucketId;

/// What one action went through in a [`Limited`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStats {
    /// Calls let through to the inner `Ec2`.
    pub calls: u64,
    /// Of those, the ones that waited [`Limited::NOTICEABLE`] or longer for a token (every
    /// call queues a little, for the bucket's lock).
    pub waited: u64,
    /// All calls' waiting, summed.
    pub wait: Duration,
    /// Answered `Throttled` by the inner `Ec2` (the client-side view of server throttling).
    pub throttled: u64,
}

/// Where the tokens come from.
#[derive(Debug)]
enum Pacing {
    /// One limiter for every bucket, shared with whoever else holds it.
    Shared(Arc<RateLimiter>),
    /// One fixed-size limiter per bucket: EC2's sizes at a share and a time scale, which
    /// [`RateLimiter::aws_share`] (real time only) cannot express.
    PerBucket(BTreeMap<BucketId, RateLimiter>),
}

impl Pacing {
    fn limiter(&self, id: BucketId) -> Option<&RateLimiter> {
        match self {
            Pacing::Shared(limiter) => Some(limiter),
            Pacing::PerBucket(map) => map.get(&id),
        }
    }
}

/// An [`Ec2`] that waits for client-side tokens before each call to `inner`.
#[derive(Debug)]
pub struct Limited<E: ?Sized> {
    pacing: Pacing,
    stats: Mutex<BTreeMap<Op, LimitStats>>,
    inner: Arc<E>,
}

impl<E: Ec2 + ?Sized> Limited<E> {
    /// A wait counted in [`LimitStats::waited`].
    pub const NOTICEABLE: Duration = Duration::from_millis(1);

    /// `inner` behind `limiter` (e.g. [`RateLimiter::aws_share`] of the `--ec2-api-budget`).
    pub fn new(inner: Arc<E>, limiter: Arc<RateLimiter>) -> Limited<E> {
        Limited::with_pacing(inner, Pacing::Shared(limiter))
    }

    /// `inner` behind buckets of `fraction` of EC2's defaults, refilling `time_scale` times
    /// faster than EC2's — the client side of a simulator running at that time scale
    /// (`SimConfig::time_scale`), so client and server buckets keep EC2's proportions.
    pub fn aws_share_time_scaled(inner: Arc<E>, fraction: f64, time_scale: f64) -> Limited<E> {
        let buckets = Op::ALL
            .into_iter()
            .flat_map(|op| [BucketId::Api(op), BucketId::Unfiltered(op)])
            .map(|id| {
                let spec = id.aws_default().share(fraction).time_scaled(time_scale);
                (id, RateLimiter::fixed(spec))
            })
            .collect();
        Limited::with_pacing(inner, Pacing::PerBucket(buckets))
    }

    fn with_pacing(inner: Arc<E>, pacing: Pacing) -> Limited<E> {
        Limited {
            pacing,
            stats: Mutex::new(BTreeMap::new()),
            inner,
        }
    }

    /// The `Ec2` behind the limiter.
    pub fn inner(&self) -> &Arc<E> {
        &self.inner
    }

    /// Counters by action, since creation or the last [`Limited::reset_stats`].
    pub fn stats(&self) -> BTreeMap<Op, LimitStats> {
        self.stats.lock().clone()
    }

    /// Zeroes every counter.
    pub fn reset_stats(&self) {
        self.stats.lock().clear();
    }

    /// Token, call, and on a throttled answer an emptied bucket.
    async fn run<T>(
        &self,
        op: Op,
        query: Option<&DescribeQuery>,
        call: impl Future<Output = Result<T, Ec2Error>>,
    ) -> Result<T, Ec2Error> {
        let bucket = BucketId::for_request(op, query);
        let limiter = self.pacing.limiter(bucket);
        let waited = match limiter {
            Some(l) => l.acquire(bucket).await,
            None => Duration::ZERO,
        };
        let result = call.await;
        let throttled = matches!(&result, Err(e) if e.kind == ErrorKind::Throttled);
        if throttled && let Some(l) = limiter {
            l.drain(bucket);
        }
        let mut stats = self.stats.lock();
        let s = stats.entry(op).or_default();
        s.calls += 1;
        s.wait += waited;
        s.waited += u64::from(waited >= Self::NOTICEABLE);
        s.throttled += u64::from(throttled);
        result
    }
}

#[async_trait]
impl<E: Ec2 + ?Sized> Ec2 for Limited<E> {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        let call = self.inner.create_network_interface(req);
        self.run(Op::CreateNetworkInterface, None, call).await
    }

    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        let call = self.inner.attach_network_interface(req);
        self.run(Op::AttachNetworkInterface, None, call).await
    }

    async fn modify_network_interface_attribute(
        &self,
        network_interface_id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        let call = self
            .inner
            .modify_network_interface_attribute(network_interface_id, change);
        self.run(Op::ModifyNetworkInterfaceAttribute, None, call)
            .await
    }

    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        let call = self.inner.detach_network_interface(req);
        self.run(Op::DetachNetworkInterface, None, call).await
    }

    async fn delete_network_interface(&self, network_interface_id: &str) -> Result<(), Ec2Error> {
        let call = self.inner.delete_network_interface(network_interface_id);
        self.run(Op::DeleteNetworkInterface, None, call).await
    }

    async fn create_tags(&self, resource_ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        let call = self.inner.create_tags(resource_ids, tags);
        self.run(Op::CreateTags, None, call).await
    }

    async fn describe_network_interfaces(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        let call = self.inner.describe_network_interfaces(query);
        self.run(Op::DescribeNetworkInterfaces, Some(query), call)
            .await
    }

    async fn describe_instances(&self, query: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        let call = self.inner.describe_instances(query);
        self.run(Op::DescribeInstances, Some(query), call).await
    }

    async fn describe_subnets(&self, query: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        let call = self.inner.describe_subnets(query);
        self.run(Op::DescribeSubnets, Some(query), call).await
    }

    async fn describe_security_groups(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        let call = self.inner.describe_security_groups(query);
        self.run(Op::DescribeSecurityGroups, Some(query), call)
            .await
    }

    async fn describe_instance_types(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        let call = self.inner.describe_instance_types(query);
        self.run(Op::DescribeInstanceTypes, Some(query), call).await
    }
}
