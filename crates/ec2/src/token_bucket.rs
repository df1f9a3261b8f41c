//! The token bucket EC2 throttles with, implemented once: the adapter's client-side limiter
//! waits on it, the simulator's server side refuses with `RequestLimitExceeded` when it is
//! empty.
//!
//! Pure: every method takes `now`, so the arithmetic is tested without a clock. Callers pass
//! `tokio::time::Instant::now()`, so `tokio::time::pause()` drives it in tests.

use std::time::Duration;

use tokio::time::Instant;

/// Capacity and refill rate of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// Maximum tokens (the burst).
    pub capacity: f64,
    /// Tokens added per second (the sustained rate).
    pub refill_per_sec: f64,
}

impl BucketSpec {
    /// A spec.
    pub const fn new(capacity: f64, refill_per_sec: f64) -> BucketSpec {
        BucketSpec {
            capacity,
            refill_per_sec,
        }
    }

    /// The same bucket with its refill sped up `factor` times (simulator time scaling) —
    /// capacity unchanged, so bursts behave as on EC2.
    pub fn time_scaled(self, factor: f64) -> BucketSpec {
        BucketSpec {
            capacity: self.capacity,
            refill_per_sec: self.refill_per_sec * factor,
        }
    }

    /// The same bucket at a fraction of the rate and burst (a share of the account's budget).
    pub fn share(self, fraction: f64) -> BucketSpec {
        BucketSpec {
            capacity: (self.capacity * fraction).max(1.0),
            refill_per_sec: self.refill_per_sec * fraction,
        }
    }
}

/// A token bucket. Starts full, like EC2's.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    spec: BucketSpec,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(spec: BucketSpec, now: Instant) -> TokenBucket {
        TokenBucket {
            spec,
            tokens: spec.capacity,
            updated: now,
        }
    }

    /// The spec.
    pub fn spec(&self) -> BucketSpec {
        self.spec
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.spec.refill_per_sec).min(self.spec.capacity);
        self.updated = now.max(self.updated);
    }

    /// Tokens available at `now` (negative while in debt).
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Takes one token, or says how long until one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(self.time_until_one_token())
    }

    /// Takes one token even if none is there, going into debt (at most one capacity deep).
    /// For requests that are sent regardless — SDK retries — so that later requests wait for
    /// the tokens those retries really cost on EC2's side.
    pub fn charge(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(-self.spec.capacity);
    }

    /// Empties the bucket (keeping any debt): EC2 just said its bucket is empty, so ours
    /// was optimistic — other clients share the account's budget.
    pub fn drain(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
    }

    fn time_until_one_token(&self) -> Duration {
        if self.spec.refill_per_sec <= 0.0 {
            return Duration::MAX;
        }
        let missing = 1.0 - self.tokens;
        Duration::from_secs_f64(missing / self.spec.refill_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_full_bucket_serves_its_burst_then_refuses() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BucketSpec::new(50.0, 5.0), t0);
        for _ in 0..50 {
            assert!(b.try_take(t0).is_ok());
        }
        let wait = b
            .try_take(t0)
            .expect_err("the 51st request in the same instant is refused");
        assert_eq!(wait, secs(0.2), "one token every 1/5 s");
    }

    #[test]
    fn refill_is_continuous_and_capped_at_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BucketSpec::new(100.0, 20.0), t0);
        for _ in 0..100 {
            b.try_take(t0).expect("burst");
        }
        assert!((b.available(t0 + secs(0.5)) - 10.0).abs() < 1e-9);
        assert!((b.available(t0 + secs(60.0)) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn charging_goes_into_bounded_debt_that_later_takers_wait_out() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BucketSpec::new(2.0, 1.0), t0);
        for _ in 0..5 {
            b.charge(t0);
        }
        assert!(
            (b.available(t0) + 2.0).abs() < 1e-9,
            "debt capped at one capacity"
        );
        assert_eq!(b.try_take(t0), Err(secs(3.0)));
        assert!(b.try_take(t0 + secs(3.0)).is_ok());
    }

    #[test]
    fn drain_empties_but_keeps_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BucketSpec::new(10.0, 1.0), t0);
        b.drain(t0);
        assert_eq!(b.available(t0), 0.0);
        b.charge(t0);
        b.drain(t0);
        assert_eq!(b.available(t0), -1.0);
    }

    #[test]
    fn time_scaling_speeds_refill_not_burst_and_share_scales_both() {
        let spec = BucketSpec::new(50.0, 5.0);
        assert_eq!(spec.time_scaled(100.0), BucketSpec::new(50.0, 500.0));
        assert_eq!(spec.share(0.5), BucketSpec::new(25.0, 2.5));
        assert_eq!(spec.share(0.001).capacity, 1.0, "never a zero burst");
    }

    #[test]
    fn a_zero_rate_bucket_never_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BucketSpec::new(1.0, 0.0), t0);
        b.try_take(t0).expect("one token");
        assert_eq!(b.try_take(t0 + secs(1e6)), Err(Duration::MAX));
    }
}
