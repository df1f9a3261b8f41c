//! Fault injection per operation: errors (nothing applied), lost responses (applied, but the
//! caller gets a transport error — what a timeout after the server acted looks like), extra
//! latency, and detaches that never finish unless forced. Draws come from the simulator's
//! seeded RNG, so a seed reproduces a run.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use multi_eni_ec2::Op;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What to inject into one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Probability (0..=1) of failing with [`FaultPlan::error_code`] before applying.
    pub error_rate: f64,
    /// The EC2 code of injected errors (classified like a real one).
    pub error_code: String,
    /// Probability (0..=1) of applying the change and then losing the response.
    pub lost_response_rate: f64,
    /// Extra latency (EC2 time) before the call is applied.
    pub latency: Duration,
    /// For `DetachNetworkInterface`: probability that a normal detach stays `detaching`
    /// until a forced detach.
    pub stuck_detach_rate: f64,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan {
            error_rate: 0.0,
            error_code: "InternalError".to_string(),
            lost_response_rate: 0.0,
            latency: Duration::ZERO,
            stuck_detach_rate: 0.0,
        }
    }
}

impl FaultPlan {
    /// Fail this share of calls with `code`.
    pub fn errors(rate: f64, code: &str) -> FaultPlan {
        FaultPlan {
            error_rate: rate,
            error_code: code.to_string(),
            ..FaultPlan::default()
        }
    }

    /// Lose the response of this share of (applied) calls.
    pub fn lost_responses(rate: f64) -> FaultPlan {
        FaultPlan {
            lost_response_rate: rate,
            ..FaultPlan::default()
        }
    }

    /// Add this much latency.
    pub fn latency(latency: Duration) -> FaultPlan {
        FaultPlan {
            latency,
            ..FaultPlan::default()
        }
    }
}

/// What the injector decided for one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Fail before applying, with this code.
    pub error: Option<String>,
    /// Apply, then report a transport error.
    pub lose_response: bool,
    /// Extra latency (EC2 time).
    pub latency: Duration,
    /// A normal detach that will hang.
    pub stuck_detach: bool,
}

/// Per-operation plans plus one-shot "next N calls" faults (deterministic tests).
#[derive(Debug, Default)]
pub struct Faults {
    plans: BTreeMap<Op, FaultPlan>,
    next_errors: BTreeMap<Op, VecDeque<String>>,
    next_lost: BTreeMap<Op, u32>,
}

impl Faults {
    /// Replaces the plan for `op`.
    pub fn set(&mut self, op: Op, plan: FaultPlan) {
        self.plans.insert(op, plan);
    }

    /// Removes every plan and one-shot fault.
    pub fn clear(&mut self) {
        *self = Faults::default();
    }

    /// The next `n` calls of `op` fail with `code`.
    pub fn fail_next(&mut self, op: Op, n: u32, code: &str) {
        let queue = self.next_errors.entry(op).or_default();
        queue.extend((0..n).map(|_| code.to_string()));
    }

    /// The next `n` calls of `op` are applied and their responses lost.
    pub fn lose_next(&mut self, op: Op, n: u32) {
        *self.next_lost.entry(op).or_default() += n;
    }

    /// Decides the faults for one call of `op`. One-shot faults come first; the RNG is only
    /// drawn from when a plan has a non-zero rate, so adding a plan for one operation does
    /// not change the draws of runs that never call it.
    pub fn decide(&mut self, op: Op, rng: &mut ChaCha8Rng) -> Decision {
        let mut d = Decision::default();
        if let Some(code) = self.next_errors.get_mut(&op).and_then(VecDeque::pop_front) {
            d.error = Some(code);
            return d;
        }
        if let Some(n) = self.next_lost.get_mut(&op)
            && *n > 0
        {
            *n -= 1;
            d.lose_response = true;
        }
        let Some(plan) = self.plans.get(&op) else {
            return d;
        };
        d.latency = plan.latency;
        if plan.error_rate > 0.0 && rng.random_bool(plan.error_rate.clamp(0.0, 1.0)) {
            d.error = Some(plan.error_code.clone());
            return d;
        }
        if plan.lost_response_rate > 0.0 && rng.random_bool(plan.lost_response_rate.clamp(0.0, 1.0))
        {
            d.lose_response = true;
        }
        if plan.stuck_detach_rate > 0.0 && rng.random_bool(plan.stuck_detach_rate.clamp(0.0, 1.0)) {
            d.stuck_detach = true;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn one_shot_faults_fire_exactly_n_times() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut f = Faults::default();
        f.fail_next(Op::AttachNetworkInterface, 2, "InternalError");
        f.lose_next(Op::CreateNetworkInterface, 1);
        for _ in 0..2 {
            assert_eq!(
                f.decide(Op::AttachNetworkInterface, &mut rng)
                    .error
                    .as_deref(),
                Some("InternalError")
            );
        }
        assert_eq!(
            f.decide(Op::AttachNetworkInterface, &mut rng),
            Decision::default()
        );
        assert!(f.decide(Op::CreateNetworkInterface, &mut rng).lose_response);
        assert!(!f.decide(Op::CreateNetworkInterface, &mut rng).lose_response);
    }

    #[test]
    fn rates_are_reproducible_from_the_seed_and_roughly_right() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut f = Faults::default();
            f.set(
                Op::DescribeSubnets,
                FaultPlan::errors(0.3, "RequestLimitExceeded"),
            );
            (0..1000)
                .map(|_| f.decide(Op::DescribeSubnets, &mut rng).error.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((200..400).contains(&hits), "{hits} of 1000 at rate 0.3");
    }

    #[test]
    fn clear_removes_everything() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut f = Faults::default();
        f.set(
            Op::DeleteNetworkInterface,
            FaultPlan::errors(1.0, "InternalError"),
        );
        f.fail_next(Op::DeleteNetworkInterface, 3, "InternalError");
        f.clear();
        assert_eq!(
            f.decide(Op::DeleteNetworkInterface, &mut rng),
            Decision::default()
        );
    }
}
