//! Leader election on a `coordination.k8s.io/v1` Lease, the pure part: given the Lease as read,
//! who we are and the time, what to write (if anything), and until when a leader that cannot
//! renew may go on leading.
//!
//! Expiry is judged from the Lease's own `renewTime` + `leaseDurationSeconds`, so both replicas
//! must have roughly synchronised clocks (they do on EKS: chrony against the Amazon Time Sync
//! Service). A leader steps down [`LeaseTiming::deadline`] after its last successful renewal,
//! one renew interval *before* anyone else may consider the Lease expired, so two leaders never
//! overlap even when the leader cannot reach the API server to learn it lost.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

/// How long a Lease lasts and how often its holder renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// `leaseDurationSeconds` written into the Lease: how long after the last renewal the other
    /// replicas may take it over.
    pub duration: Duration,
    /// How often the holder renews, and how often a follower looks whether it may take over.
    pub renew: Duration,
}

impl LeaseTiming {
    /// How long after its last successful renewal a leader that cannot renew stops leading:
    /// one renew interval short of the duration, so it has stopped before anyone can take over.
    pub fn deadline(&self) -> Duration {
        self.duration.saturating_sub(self.renew)
    }

    /// Whether the timing can work: renewals must come well within the duration.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration.as_secs() < 1 {
            return Err(format!(
                "the lease duration must be at least 1s (it is written in whole seconds), not {:?}",
                self.duration
            ));
        }
        if self.renew.is_zero() || self.renew * 2 > self.duration {
            return Err(format!(
                "the renew interval ({:?}) must be more than 0 and at most half the lease duration ({:?})",
                self.renew, self.duration
            ));
        }
        Ok(())
    }
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseStep {
    /// No Lease yet: create it with us as the holder.
    Create(LeaseSpec),
    /// Free, released or expired: take it over (a write guarded by the resourceVersion read, so
    /// of two replicas racing only one wins).
    Acquire(LeaseSpec),
    /// Ours: renew it (guarded likewise; a conflict means someone took it).
    Renew(LeaseSpec),
    /// Another replica holds a live Lease: follow it and look again later.
    Follow {
        /// Its holder.
        holder: String,
    },
}

/// The step for `lease` (`None`: it does not exist) as seen by `me` at `now`.
pub fn lease_step(
    lease: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    timing: LeaseTiming,
) -> LeaseStep {
    let Some(spec) = lease else {
        return LeaseStep::Create(claimed(None, me, now, timing));
    };
    match spec.holder_identity.as_deref().filter(|h| !h.is_empty()) {
        Some(h) if h == me => LeaseStep::Renew(renewed(spec, now, timing)),
        Some(h) if !expired(spec, now, timing) => LeaseStep::Follow { holder: h.into() },
        _ => LeaseStep::Acquire(claimed(Some(spec), me, now, timing)),
    }
}

/// Whether a leader whose last successful renewal was at `last_renewed` still leads at `now`.
pub fn still_leading(last_renewed: Timestamp, now: Timestamp, timing: LeaseTiming) -> bool {
    since(last_renewed, now) < timing.deadline()
}

/// The Lease as a leader leaves it on shutdown: no holder, so a follower takes it over at its
/// next look instead of waiting for the duration to pass. `None` when it is not ours (anymore):
/// then there is nothing to release.
pub fn released(spec: &LeaseSpec, me: &str, now: Timestamp) -> Option<LeaseSpec> {
    (spec.holder_identity.as_deref() == Some(me)).then(|| LeaseSpec {
        holder_identity: None,
        renew_time: Some(MicroTime(now)),
        ..spec.clone()
    })
}

/// Whether the holder's renewal is older than the Lease's duration. A Lease without a renew
/// time or duration is treated as expired: no holder could be relying on it.
fn expired(spec: &LeaseSpec, now: Timestamp, timing: LeaseTiming) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(timing.duration, Duration::from_secs);
    since(renewed.0, now) > duration
}

fn claimed(
    previous: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    timing: LeaseTiming,
) -> LeaseSpec {
    let transitions = previous.map_or(0, |p| {
        let had_holder = p.holder_identity.as_deref().is_some_and(|h| !h.is_empty());
        p.lease_transitions.unwrap_or(0) + i32::from(had_holder)
    });
    LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(seconds(timing.duration)),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..previous.cloned().unwrap_or_default()
    }
}

fn renewed(spec: &LeaseSpec, now: Timestamp, timing: LeaseTiming) -> LeaseSpec {
    LeaseSpec {
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(seconds(timing.duration)),
        acquire_time: spec.acquire_time.clone().or(Some(MicroTime(now))),
        ..spec.clone()
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// Time from `t` to `now`; zero when `t` is in the future (clock skew counts as fresh).
fn since(t: Timestamp, now: Timestamp) -> Duration {
    let ms = now.as_millisecond() - t.as_millisecond();
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: LeaseTiming = LeaseTiming {
        duration: Duration::from_secs(15),
        renew: Duration::from_secs(5),
    };

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid time")
    }

    fn lease(holder: Option<&str>, renewed: Option<i64>, secs: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(Into::into),
            renew_time: renewed.map(|s| MicroTime(at(s))),
            acquire_time: renewed.map(|s| MicroTime(at(s - 100))),
            lease_duration_seconds: secs,
            lease_transitions: Some(3),
            ..LeaseSpec::default()
        }
    }

    /// What kind of step, and the holder it writes (or follows).
    fn kind(step: &LeaseStep) -> (&'static str, Option<String>) {
        match step {
            LeaseStep::Create(s) => ("create", s.holder_identity.clone()),
            LeaseStep::Acquire(s) => ("acquire", s.holder_identity.clone()),
            LeaseStep::Renew(s) => ("renew", s.holder_identity.clone()),
            LeaseStep::Follow { holder } => ("follow", Some(holder.clone())),
        }
    }

    #[test]
    fn step_for_each_lease_state() {
        let me = "me";
        #[rustfmt::skip]
        let rows: Vec<(&str, Option<LeaseSpec>, &str, &str)> = vec![
            ("absent", None, "create", "me"),
            ("no holder (released)", Some(lease(None, Some(0), Some(15))), "acquire", "me"),
            ("empty holder", Some(lease(Some(""), Some(0), Some(15))), "acquire", "me"),
            ("ours", Some(lease(Some("me"), Some(0), Some(15))), "renew", "me"),
            ("ours though expired: still ours to renew", Some(lease(Some("me"), Some(-60), Some(15))), "renew", "me"),
            ("other, fresh", Some(lease(Some("other"), Some(-5), Some(15))), "follow", "other"),
            ("other, exactly at expiry", Some(lease(Some("other"), Some(-15), Some(15))), "follow", "other"),
            ("other, expired", Some(lease(Some("other"), Some(-16), Some(15))), "acquire", "me"),
            ("other, its own longer duration wins", Some(lease(Some("other"), Some(-16), Some(60))), "follow", "other"),
            ("other, no duration: ours applies", Some(lease(Some("other"), Some(-16), None)), "acquire", "me"),
            ("other, never renewed", Some(lease(Some("other"), None, Some(15))), "acquire", "me"),
            ("other, renewed in our future (skew)", Some(lease(Some("other"), Some(30), Some(15))), "follow", "other"),
        ];
        for (name, spec, want_kind, want_holder) in rows {
            let step = lease_step(spec.as_ref(), me, at(0), T);
            assert_eq!(
                kind(&step),
                (want_kind, Some(want_holder.to_string())),
                "{name}"
            );
        }
    }

    #[test]
    fn writes_carry_our_duration_and_now_and_count_transitions() {
        let LeaseStep::Acquire(s) = lease_step(
            Some(&lease(Some("other"), Some(-60), Some(15))),
            "me",
            at(0),
            T,
        ) else {
            panic!("expected acquire");
        };
        assert_eq!(s.lease_duration_seconds, Some(15));
        assert_eq!(s.renew_time, Some(MicroTime(at(0))));
        assert_eq!(s.acquire_time, Some(MicroTime(at(0))));
        assert_eq!(s.lease_transitions, Some(4), "taken from another holder");

        let LeaseStep::Acquire(s) =
            lease_step(Some(&lease(None, Some(0), Some(15))), "me", at(0), T)
        else {
            panic!("expected acquire");
        };
        assert_eq!(
            s.lease_transitions,
            Some(3),
            "a released lease is no transition"
        );

        let LeaseStep::Renew(s) =
            lease_step(Some(&lease(Some("me"), Some(-5), Some(15))), "me", at(0), T)
        else {
            panic!("expected renew");
        };
        assert_eq!(s.renew_time, Some(MicroTime(at(0))));
        assert_eq!(
            s.acquire_time,
            Some(MicroTime(at(-105))),
            "acquire time kept"
        );
        assert_eq!(s.lease_transitions, Some(3));

        let LeaseStep::Create(s) = lease_step(None, "me", at(0), T) else {
            panic!("expected create");
        };
        assert_eq!(s.lease_transitions, Some(0));
    }

    #[test]
    fn leader_steps_down_one_renew_interval_before_expiry() {
        #[rustfmt::skip]
        let rows = [
            (0, true),
            (5, true),
            (9, true),
            (10, false), // duration 15 − renew 5
            (15, false),
        ];
        for (after, leading) in rows {
            assert_eq!(
                still_leading(at(0), at(after), T),
                leading,
                "{after}s after renewal"
            );
        }
    }

    #[test]
    fn only_our_own_lease_is_released() {
        let ours = lease(Some("me"), Some(-1), Some(15));
        let r = released(&ours, "me", at(0)).expect("ours");
        assert_eq!(r.holder_identity, None);
        assert_eq!(r.renew_time, Some(MicroTime(at(0))));
        assert_eq!(
            lease_step(Some(&r), "other", at(0), T),
            LeaseStep::Acquire(claimed(Some(&r), "other", at(0), T)),
            "a released lease is taken over at once"
        );
        assert_eq!(
            released(&lease(Some("other"), Some(-1), Some(15)), "me", at(0)),
            None
        );
    }

    #[test]
    fn timing_is_checked() {
        assert_eq!(T.validate(), Ok(()));
        for (duration, renew) in [(15, 0), (15, 8), (0, 0)] {
            let t = LeaseTiming {
                duration: Duration::from_secs(duration),
                renew: Duration::from_secs(renew),
            };
            assert!(t.validate().is_err(), "{duration}s / {renew}s");
        }
    }
}
