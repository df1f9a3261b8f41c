//! Attachments whose last action failed: what to keep reporting meanwhile, and when to try again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::plan::Held;

/// The first retry after a failure; each consecutive failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long to wait after the `failures`-th consecutive failure (counting from 1).
fn delay(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(MAX_BACKOFF)
}

#[derive(Debug)]
struct Hold {
    held: Held,
    until: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Backoff {
    /// Attachments waiting out a back-off, by UID.
    held: BTreeMap<String, Hold>,
    /// Consecutive failures by UID; only a success (or the attachment going) resets it.
    failures: HashMap<String, u32>,
}

impl Backoff {
    /// Records a failure at `now`; returns how long the attachment is held.
    pub fn fail(&mut self, uid: &str, held: Held, now: Instant) -> Duration {
        let n = self.failures.entry(uid.to_owned()).or_default();
        *n += 1;
        let wait = delay(*n);
        self.held.insert(
            uid.to_owned(),
            Hold {
                held,
                until: now + wait,
            },
        );
        wait
    }

    /// The attachment reached where it should be: the next failure starts from the first delay.
    pub fn succeeded(&mut self, uid: &str) {
        self.failures.remove(uid);
    }

    /// The attachment is gone.
    pub fn forget(&mut self, uid: &str) {
        self.failures.remove(uid);
        self.held.remove(uid);
    }

    /// Lets go of the holds that are over at `now`.
    pub fn expire(&mut self, now: Instant) {
        self.held.retain(|_, h| h.until > now);
    }

    /// When the next hold is over.
    pub fn next_retry(&self) -> Option<Instant> {
        self.held.values().map(|h| h.until).min()
    }

    /// What the plan sees: the held attachments and why.
    pub fn held(&self) -> BTreeMap<String, Held> {
        self.held
            .iter()
            .map(|(uid, h)| (uid.clone(), h.held.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why() -> Held {
        Held {
            reason: "DPDKBindFailed",
            message: "EIO".into(),
        }
    }

    #[test]
    fn delay_doubles_per_consecutive_failure_up_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_hold_lasts_its_delay_and_a_success_starts_the_count_again() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.fail("a", why(), t0), Duration::from_secs(1));
        assert_eq!(b.fail("a", why(), t0), Duration::from_secs(2));
        assert_eq!(b.next_retry(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(b.held().get("a"), Some(&why()));
        b.expire(t0 + Duration::from_secs(1));
        assert!(b.held().contains_key("a"), "still within its delay");
        b.expire(t0 + Duration::from_secs(2));
        assert!(b.held().is_empty());
        assert_eq!(b.next_retry(), None);
        b.succeeded("a");
        assert_eq!(b.fail("a", why(), t0), Duration::from_secs(1));
        b.forget("a");
        assert!(b.held().is_empty());
        assert_eq!(
            b.fail("a", why(), t0),
            Duration::from_secs(1),
            "forgotten entirely"
        );
    }
}
