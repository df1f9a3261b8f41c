//! [`Ec2Sim`]: the [`Ec2`] port over the simulated account, with server-side throttling,
//! fault injection, latency and per-operation call counters around every request.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use multi_eni_ec2::{
    AttachEni, AttachResult, BucketId, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Op, Page, SecurityGroup,
    Subnet, Tags, TokenBucket, attach_conflict, delete_conflict,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::faults::{Decision, FaultPlan, Faults};
use crate::state::{SimError, State};

/// Counters for one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Requests received.
    pub calls: u64,
    /// Refused by the server-side token bucket (`RequestLimitExceeded`).
    pub throttled: u64,
    /// Failed by an injected error.
    pub injected_errors: u64,
    /// Applied, then the response was lost.
    pub lost_responses: u64,
    /// Returned an error of any kind (including the above).
    pub failed: u64,
}

pub(crate) struct Inner {
    pub(crate) state: State,
    pub(crate) faults: Faults,
    buckets: HashMap<BucketId, TokenBucket>,
    pub(crate) stats: BTreeMap<Op, CallStats>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("enis", &self.state.enis.len())
            .field("instances", &self.state.instances.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// An in-memory EC2: implements [`Ec2`] faithfully enough that controller behaviour proven
/// on it holds on EC2, including what moto does not model. See `docs/ec2-simulator.md`.
#[derive(Debug)]
pub struct Ec2Sim {
    pub(crate) config: SimConfig,
    pub(crate) inner: Mutex<Inner>,
}

impl Ec2Sim {
    /// A simulator with `config`.
    pub fn new(config: SimConfig) -> Ec2Sim {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        // A second stream for consistency lags, derived from the same seed.
        let lag_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6c61_675f_7374_7265);
        Ec2Sim {
            config,
            inner: Mutex::new(Inner {
                state: State::new(rng, lag_rng),
                faults: Faults::default(),
                buckets: HashMap::new(),
                stats: BTreeMap::new(),
            }),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// Replaces the fault plan of `op`.
    pub fn set_faults(&self, op: Op, plan: FaultPlan) {
        self.lock().faults.set(op, plan);
    }

    /// The next `n` calls of `op` fail with `code` (nothing applied).
    pub fn fail_next(&self, op: Op, n: u32, code: &str) {
        self.lock().faults.fail_next(op, n, code);
    }

    /// The next `n` calls of `op` are applied, then answered with a transport error.
    pub fn lose_next_responses(&self, op: Op, n: u32) {
        self.lock().faults.lose_next(op, n);
    }

    /// Removes all fault injection.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Counters of `op`.
    pub fn stats(&self, op: Op) -> CallStats {
        self.lock().stats.get(&op).copied().unwrap_or_default()
    }

    /// Counters of every operation called so far.
    pub fn all_stats(&self) -> BTreeMap<Op, CallStats> {
        self.lock().stats.clone()
    }

    /// Requests of `op` received.
    pub fn calls(&self, op: Op) -> u64 {
        self.stats(op).calls
    }

    /// Resets every counter.
    pub fn reset_stats(&self) {
        self.lock().stats.clear();
    }

    /// Front door of every request: count, throttle, decide faults, wait the latency,
    /// settle and apply, then maybe lose the response.
    async fn call<T>(
        &self,
        op: Op,
        query: Option<&DescribeQuery>,
        apply: impl FnOnce(&mut State, &Applying) -> Result<T, SimError>,
    ) -> Result<T, Ec2Error> {
        let decision = self.lock().admit(op, query, &self.config)?;
        let latency = self.config.base_latency + decision.latency;
        if !latency.is_zero() {
            tokio::time::sleep(self.config.real(latency)).await;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = inner.state.tick(Instant::now());
        inner.state.settle(now, &self.config);
        let applying = Applying {
            now,
            horizon: now,
            config: &self.config,
            stuck_detach: decision.stuck_detach,
        };
        let result = apply(&mut inner.state, &applying);
        let stats = inner.stats.entry(op).or_default();
        if decision.lose_response {
            stats.lost_responses += 1;
            stats.failed += 1;
            return Err(Ec2Error::transport(
                op,
                "connection reset before the response arrived (simulated lost response; the request was processed)",
            ));
        }
        result.map_err(|e| {
            stats.failed += 1;
            Ec2Error::from_code(op, e.code, e.message)
        })
    }

    /// One describe request: `read` over the settled state, at this API's horizon.
    async fn describe<T>(
        &self,
        op: Op,
        query: &DescribeQuery,
        read: fn(&State, &DescribeQuery, &Applying) -> Result<Page<T>, SimError>,
    ) -> Result<Page<T>, Ec2Error> {
        self.call(op, Some(query), |s, at| {
            let horizon = s.read_horizon(op, at.now, at.config);
            read(s, query, &Applying { horizon, ..*at })
        })
        .await
    }
}

/// What a request is applied with: the settled time, the settings, and the injector's
/// decision on whether a detach hangs.
#[derive(Clone, Copy)]
pub(crate) struct Applying<'a> {
    pub(crate) now: Instant,
    /// What a describe sees: the moment its (lagged) read reflects.
    pub(crate) horizon: Instant,
    pub(crate) config: &'a SimConfig,
    pub(crate) stuck_detach: bool,
}

impl Inner {
    /// Counts a request and decides whether it gets in: refused by its server-side bucket,
    /// failed by an injected error (nothing applied either way), or admitted with the
    /// injector's decision for the rest of the call.
    fn admit(
        &mut self,
        op: Op,
        query: Option<&DescribeQuery>,
        config: &SimConfig,
    ) -> Result<Decision, Ec2Error> {
        let stats = self.stats.entry(op).or_default();
        stats.calls += 1;
        if config.throttling {
            let id = BucketId::for_request(op, query);
            let now = Instant::now();
            let bucket = self
                .buckets
                .entry(id)
                .or_insert_with(|| TokenBucket::new(config.bucket(id), now));
            if bucket.try_take(now).is_err() {
                stats.throttled += 1;
                stats.failed += 1;
                return Err(Ec2Error::from_code(
                    op,
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                ));
            }
        }
        let decision = self.faults.decide(op, &mut self.state.rng);
        if let Some(code) = &decision.error {
            let stats = self.stats.entry(op).or_default();
            stats.injected_errors += 1;
            stats.failed += 1;
            return Err(Ec2Error::from_code(
                op,
                code.clone(),
                "injected by the simulator",
            ));
        }
        Ok(decision)
    }
}

#[async_trait]
impl Ec2 for Ec2Sim {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        self.call(Op::CreateNetworkInterface, None, |s, at| {
            s.create_eni(req, at.now, at.config)
        })
        .await
    }

    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        let result = self
            .call(Op::AttachNetworkInterface, None, |s, at| {
                s.attach_eni(req, at.now, at.config)
            })
            .await;
        // The same refinement as the adapter's: one counted DescribeInstances.
        attach_conflict::refine_attach_result(self, req, result).await
    }

    async fn modify_network_interface_attribute(
        &self,
        network_interface_id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.call(Op::ModifyNetworkInterfaceAttribute, None, |s, at| {
            s.modify_eni(network_interface_id, change, at.now, at.config)
        })
        .await
    }

    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        self.call(Op::DetachNetworkInterface, None, |s, at| {
            s.detach_eni(req, at.now, at.config, at.stuck_detach)
        })
        .await
    }

    async fn delete_network_interface(&self, network_interface_id: &str) -> Result<(), Ec2Error> {
        let result = self
            .call(Op::DeleteNetworkInterface, None, |s, at| {
                s.delete_eni(network_interface_id, at.now, at.config)
            })
            .await;
        // The same refinement as the adapter's: one counted DescribeNetworkInterfaces.
        delete_conflict::refine_delete_result(self, network_interface_id, result).await
    }

    async fn create_tags(&self, resource_ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        self.call(Op::CreateTags, None, |s, at| {
            s.create_tags(resource_ids, tags, at.now, at.config)
        })
        .await
    }

    async fn describe_network_interfaces(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        self.describe(Op::DescribeNetworkInterfaces, query, State::describe_enis)
            .await
    }

    async fn describe_instances(&self, query: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.describe(Op::DescribeInstances, query, State::describe_instances)
            .await
    }

    async fn describe_subnets(&self, query: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.describe(Op::DescribeSubnets, query, State::describe_subnets)
            .await
    }

    async fn describe_security_groups(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.describe(Op::DescribeSecurityGroups, query, State::describe_groups)
            .await
    }

    async fn describe_instance_types(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.describe(Op::DescribeInstanceTypes, query, State::describe_types)
            .await
    }
}
