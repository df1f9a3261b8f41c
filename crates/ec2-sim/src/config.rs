//! Simulator settings: delays, consistency lag, throttling, quotas and time scaling. Every
//! figure is in *EC2 time*; [`SimConfig::time_scale`] compresses all of them at once.
//! Where each default comes from is in `docs/ec2-simulator.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use multi_eni_ec2::{BucketId, BucketSpec};

/// How the simulator behaves. [`SimConfig::default`] is AWS-like; [`SimConfig::instant`]
/// removes every delay for unit tests of pure request/response behaviour.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed for IDs, MACs and fault draws: same seed and same call sequence, same results.
    pub seed: u64,
    /// EC2 seconds per real second: 100 makes a 2 s attach take 20 ms and refills buckets
    /// 100× faster. Must be positive.
    pub time_scale: f64,
    /// `attaching` → `attached`.
    pub attach_delay: Duration,
    /// `detaching` → detached (interface `available`).
    pub detach_delay: Duration,
    /// A forced detach completes after this instead (EC2 does not promise it is faster; it
    /// only stops waiting for the guest).
    pub force_detach_delay: Duration,
    /// `stopping` → `stopped` and `shutting-down` → `terminated` (when DeleteOnTermination
    /// is applied).
    pub instance_transition_delay: Duration,
    /// `pending` → `running` after a launch or a start. Attaching to a `pending` instance is
    /// `IncorrectInstanceState`.
    pub instance_launch_delay: Duration,
    /// How long a terminated instance stays visible to DescribeInstances before it is
    /// `InvalidInstanceID.NotFound`.
    pub terminated_visibility: Duration,
    /// Eventual consistency, the least lag: describes show the world as it was at least this
    /// long ago, and a new interface's ID is unknown to other calls for at least this long.
    pub consistency_lag: Duration,
    /// Eventual consistency, the random part: every describe API draws its own lag from
    /// `consistency_lag + [0, consistency_jitter)` (so DescribeInstances and
    /// DescribeNetworkInterfaces see different moments), and every new interface draws, on
    /// its own, how long its ID takes to propagate to the other calls — so a describe may
    /// show an interface that an attach still answers `NotFound` for, and the other way
    /// round. Draws come from a generator seeded by [`SimConfig::seed`].
    pub consistency_jitter: Duration,
    /// Added to every call (before the change is applied).
    pub base_latency: Duration,
    /// Server-side request throttling with EC2's token buckets.
    pub throttling: bool,
    /// Bucket sizes differing from EC2's defaults (e.g. a raised account limit).
    pub bucket_overrides: BTreeMap<BucketId, BucketSpec>,
    /// The account's "network interfaces per Region" quota.
    pub max_network_interfaces: usize,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            time_scale: 1.0,
            attach_delay: Duration::from_secs(2),
            detach_delay: Duration::from_secs(3),
            force_detach_delay: Duration::from_secs(1),
            instance_transition_delay: Duration::from_secs(10),
            instance_launch_delay: Duration::from_secs(15),
            terminated_visibility: Duration::from_secs(60 * 60),
            consistency_lag: Duration::from_secs(1),
            consistency_jitter: Duration::from_secs(2),
            base_latency: Duration::ZERO,
            throttling: true,
            bucket_overrides: BTreeMap::new(),
            max_network_interfaces: 5000,
        }
    }
}

impl SimConfig {
    /// No delays, no lag, no throttling: every change is complete and visible at once.
    pub fn instant() -> SimConfig {
        SimConfig {
            attach_delay: Duration::ZERO,
            detach_delay: Duration::ZERO,
            force_detach_delay: Duration::ZERO,
            instance_transition_delay: Duration::ZERO,
            instance_launch_delay: Duration::ZERO,
            consistency_lag: Duration::ZERO,
            consistency_jitter: Duration::ZERO,
            throttling: false,
            ..SimConfig::default()
        }
    }

    /// The same settings with another seed.
    pub fn with_seed(mut self, seed: u64) -> SimConfig {
        self.seed = seed;
        self
    }

    /// The same settings running `factor` times faster than EC2.
    pub fn with_time_scale(mut self, factor: f64) -> SimConfig {
        self.time_scale = factor;
        self
    }

    /// The time scale in force: a nonsense setting (zero, negative, infinite, NaN) means
    /// real time rather than a division by zero.
    fn scale(&self) -> Option<f64> {
        (self.time_scale > 0.0 && self.time_scale.is_finite()).then_some(self.time_scale)
    }

    /// The same settings with a fixed consistency lag (no random part): for tests that
    /// need to know exactly when a change shows.
    pub fn with_fixed_lag(mut self, lag: Duration) -> SimConfig {
        self.consistency_lag = lag;
        self.consistency_jitter = Duration::ZERO;
        self
    }

    /// Real time for an EC2-time duration.
    pub fn real(&self, ec2_time: Duration) -> Duration {
        match self.scale() {
            Some(factor) => ec2_time.div_f64(factor),
            None => ec2_time,
        }
    }

    /// The server-side bucket for `id`, refill scaled to real time.
    pub fn bucket(&self, id: BucketId) -> BucketSpec {
        let spec = self
            .bucket_overrides
            .get(&id)
            .copied()
            .unwrap_or_else(|| id.aws_default());
        match self.scale() {
            Some(factor) => spec.time_scaled(factor),
            None => spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::Op;

    #[test]
    fn time_scale_compresses_delays_and_speeds_refill() {
        let c = SimConfig::default().with_time_scale(100.0);
        assert_eq!(c.real(Duration::from_secs(2)), Duration::from_millis(20));
        let b = c.bucket(BucketId::Api(Op::AttachNetworkInterface));
        assert_eq!(b, BucketSpec::new(50.0, 500.0));
    }

    #[test]
    fn overrides_replace_aws_defaults() {
        let mut c = SimConfig::default();
        c.bucket_overrides.insert(
            BucketId::Api(Op::CreateNetworkInterface),
            BucketSpec::new(3.0, 1.0),
        );
        assert_eq!(
            c.bucket(BucketId::Api(Op::CreateNetworkInterface)),
            BucketSpec::new(3.0, 1.0)
        );
        assert_eq!(
            c.bucket(BucketId::Api(Op::DeleteNetworkInterface)),
            BucketSpec::new(100.0, 5.0)
        );
    }

    #[test]
    fn a_nonsense_scale_means_real_time() {
        let c = SimConfig::default().with_time_scale(0.0);
        assert_eq!(c.real(Duration::from_secs(2)), Duration::from_secs(2));
    }
}
