//! Per-object exponential backoff on repeated failures: an object that keeps failing is looked at
//! less and less often (up to a cap), so one broken ENIAttachment cannot eat the EC2 budget of a
//! whole rollout; the first success resets it.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::time::Duration;

/// The extra wait after the first failure in a row.
const FIRST: Duration = Duration::from_millis(500);
/// The longest extra wait.
const CAP: Duration = Duration::from_secs(300);

/// The extra wait after `failures` failures in a row: none before the first, then 0.5 s,
/// doubling up to 5 minutes.
pub fn extra_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    // 2^20 × 0.5 s is far beyond the cap: no need to shift further.
    let doublings = (failures - 1).min(20);
    FIRST.saturating_mul(1 << doublings).min(CAP)
}

/// Failures in a row, by object UID.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Counts one more failure of `key` and returns the extra wait it earns.
    pub fn failed(&self, key: &str) -> Duration {
        let mut g = self.lock();
        let n = g.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        extra_delay(*n)
    }

    /// `key` succeeded: its next failure starts from the bottom again.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Failures in a row of `key`.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_delay_doubles_from_half_a_second_up_to_five_minutes() {
        let ms = Duration::from_millis;
        let table = [
            (0, ms(0)),
            (1, ms(500)),
            (2, ms(1000)),
            (3, ms(2000)),
            (4, ms(4000)),
            (10, ms(256_000)),
            (11, ms(300_000)),
            (40, ms(300_000)),
            (u32::MAX, ms(300_000)),
        ];
        for (failures, want) in table {
            assert_eq!(extra_delay(failures), want, "{failures} failures");
        }
    }

    #[test]
    fn failures_count_per_key_and_reset_on_success() {
        let b = Backoff::default();
        assert_eq!(b.failed("a"), Duration::from_millis(500));
        assert_eq!(b.failed("a"), Duration::from_millis(1000));
        assert_eq!(b.failed("b"), Duration::from_millis(500));
        b.succeeded("a");
        assert_eq!(b.failures("a"), 0);
        assert_eq!(b.failures("b"), 1);
        assert_eq!(b.failed("a"), Duration::from_millis(500));
    }
}
