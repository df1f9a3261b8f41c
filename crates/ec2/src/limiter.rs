//! The process-wide client-side rate limiter: one token bucket per EC2 bucket
//! ([`BucketId`]), sized like EC2's, so the controller slows itself down instead of being
//! throttled.
//!
//! Retries sent by the SDK are *charged* (they take a token even into debt, without waiting),
//! never *waited for*: the SDK's own backoff and retry quota already pace them, and waiting
//! here too would limit twice. Charging keeps our bucket as empty as EC2's really is, so the
//! next first attempts wait instead.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::throttling::BucketId;
use crate::token_bucket::{BucketSpec, TokenBucket};

/// Client-side token buckets, one per [`BucketId`], created on first use.
#[derive(Debug)]
pub struct RateLimiter {
    sizing: Sizing,
    lanes: Mutex<HashMap<BucketId, Arc<Lane>>>,
}

#[derive(Debug, Clone, Copy)]
enum Sizing {
    /// A share of EC2's default bucket sizes.
    AwsShare(f64),
    /// Every bucket the same (tests).
    Fixed(BucketSpec),
}

/// One bucket and a FIFO queue of waiters, so a steady stream of callers is served in
/// arrival order instead of whoever polls at the right moment.
#[derive(Debug)]
struct Lane {
    queue: tokio::sync::Mutex<()>,
    bucket: Mutex<TokenBucket>,
}

impl RateLimiter {
    /// Buckets at `fraction` of EC2's defaults (1.0 = the whole account budget; less when
    /// other clients — the VPC CNI, autoscalers — share the account and Region).
    pub fn aws_share(fraction: f64) -> RateLimiter {
        RateLimiter {
            sizing: Sizing::AwsShare(fraction),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The same spec for every bucket.
    pub fn fixed(spec: BucketSpec) -> RateLimiter {
        RateLimiter {
            sizing: Sizing::Fixed(spec),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The spec a bucket gets.
    pub fn spec(&self, id: BucketId) -> BucketSpec {
        match self.sizing {
            Sizing::AwsShare(f) => id.aws_default().share(f),
            Sizing::Fixed(spec) => spec,
        }
    }

    fn lane(&self, id: BucketId) -> Arc<Lane> {
        let mut lanes = self.lanes.lock();
        lanes
            .entry(id)
            .or_insert_with(|| {
                Arc::new(Lane {
                    queue: tokio::sync::Mutex::new(()),
                    bucket: Mutex::new(TokenBucket::new(self.spec(id), Instant::now())),
                })
            })
            .clone()
    }

    /// Waits for a token for a first attempt; returns how long it waited.
    pub async fn acquire(&self, id: BucketId) -> Duration {
        let lane = self.lane(id);
        let started = Instant::now();
        let _turn = lane.queue.lock().await;
        loop {
            let wait = {
                let mut bucket = lane.bucket.lock();
                match bucket.try_take(Instant::now()) {
                    Ok(()) => return started.elapsed(),
                    Err(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Accounts for a request that is sent regardless (an SDK retry): takes a token, into
    /// debt if need be, without waiting.
    pub fn charge(&self, id: BucketId) {
        let lane = self.lane(id);
        let mut bucket = lane.bucket.lock();
        bucket.charge(Instant::now());
    }

    /// EC2 throttled a request from this bucket: empty ours so callers wait for a refill.
    pub fn drain(&self, id: BucketId) {
        let lane = self.lane(id);
        let mut bucket = lane.bucket.lock();
        bucket.drain(Instant::now());
    }

    /// Tokens available now (tests, debugging).
    pub fn available(&self, id: BucketId) -> f64 {
        let lane = self.lane(id);
        let mut bucket = lane.bucket.lock();
        bucket.available(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;

    const ATTACH: BucketId = BucketId::Api(Op::AttachNetworkInterface);
    const CREATE: BucketId = BucketId::Api(Op::CreateNetworkInterface);

    #[tokio::test(start_paused = true)]
    async fn burst_is_free_then_callers_are_paced_at_the_refill_rate() {
        let limiter = RateLimiter::aws_share(1.0);
        let t0 = Instant::now();
        for _ in 0..50 {
            assert_eq!(limiter.acquire(ATTACH).await, Duration::ZERO);
        }
        for _ in 0..10 {
            limiter.acquire(ATTACH).await;
        }
        // 10 more tokens at 5/s: two seconds of (paused, auto-advanced) tokio time.
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_per_action() {
        let limiter = RateLimiter::aws_share(1.0);
        for _ in 0..50 {
            limiter.acquire(ATTACH).await;
        }
        let t0 = Instant::now();
        assert_eq!(limiter.acquire(CREATE).await, Duration::ZERO);
        assert_eq!(
            Instant::now(),
            t0,
            "create is not slowed by attach's empty bucket"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn charged_retries_make_later_first_attempts_wait() {
        let limiter = RateLimiter::fixed(BucketSpec::new(2.0, 1.0));
        limiter.charge(ATTACH);
        limiter.charge(ATTACH);
        limiter.charge(ATTACH);
        assert_eq!(limiter.available(ATTACH), -1.0);
        let waited = limiter.acquire(ATTACH).await;
        assert_eq!(waited, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_after_a_throttle_forces_a_refill_wait() {
        let limiter = RateLimiter::fixed(BucketSpec::new(10.0, 5.0));
        limiter.drain(CREATE);
        assert_eq!(limiter.acquire(CREATE).await, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let limiter = Arc::new(RateLimiter::fixed(BucketSpec::new(1.0, 1.0)));
        limiter.acquire(ATTACH).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.acquire(ATTACH).await;
                order.lock().push(i);
            }));
            // Let task i queue before task i+1 is spawned.
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn aws_share_scales_every_bucket() {
        let limiter = RateLimiter::aws_share(0.5);
        assert_eq!(limiter.spec(ATTACH), BucketSpec::new(25.0, 2.5));
        assert_eq!(
            limiter.spec(BucketId::Api(Op::DescribeNetworkInterfaces)),
            BucketSpec::new(50.0, 10.0)
        );
    }
}
