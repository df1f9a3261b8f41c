//! Setting `metav1.Condition`s the way Kubernetes expects: `lastTransitionTime` moves only when
//! the status flips, so "since when" stays truthful across repeated reconciles.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Sets condition `type_` in `conditions`. Returns whether anything changed, so callers can skip
/// a status write (and the watch events it would cause) when nothing did.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Time,
) -> bool {
    let status = if status { "True" } else { "False" }.to_owned();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let changed = c.status != status
                || c.reason != reason
                || c.message != message
                || c.observed_generation != observed_generation;
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status;
            c.reason = reason.to_owned();
            c.message = message.to_owned();
            c.observed_generation = observed_generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_owned(),
                status,
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation,
                last_transition_time: now,
            });
            true
        }
    }
}

/// The condition of type `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut cs = Vec::new();
        assert!(set_condition(
            &mut cs,
            "Ready",
            false,
            "Reconciling",
            "",
            Some(1),
            at(10)
        ));
        assert!(!set_condition(
            &mut cs,
            "Ready",
            false,
            "Reconciling",
            "",
            Some(1),
            at(20)
        ));
        assert_eq!(cs[0].last_transition_time, at(10));
        assert!(set_condition(
            &mut cs,
            "Ready",
            false,
            "LimitExceeded",
            "too many",
            Some(1),
            at(30)
        ));
        assert_eq!(cs[0].last_transition_time, at(10));
        assert!(set_condition(
            &mut cs,
            "Ready",
            true,
            "AllReady",
            "",
            Some(2),
            at(40)
        ));
        assert_eq!(cs[0].last_transition_time, at(40));
        assert_eq!(cs.len(), 1);
        assert_eq!(
            find(&cs, "Ready").map(|c| c.reason.as_str()),
            Some("AllReady")
        );
    }
}
