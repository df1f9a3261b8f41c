//! What a plan could not do, said for a person: the NodeENI's conditions and Events — each
//! Event once, when the problem appears, not on every reconcile that still sees it.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// How much a problem weighs on the NodeENI's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Needs a person (a name that matches nothing, a missing permission…): `Degraded=True`.
    Degraded,
    /// Resolves by itself (facts not known yet, EC2 busy): `Progressing=True`.
    Progressing,
    /// Expected and harmless (a node skips a subnet of another AZ): an Event only.
    Info,
}

/// One thing the plan could not do, with a reason from `multi_eni_api::keys::reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A `keys::reason` constant: the condition and Event reason.
    pub reason: &'static str,
    /// How it weighs on the conditions.
    pub severity: Severity,
    /// The node it concerns, when it concerns one.
    pub node: Option<String>,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

impl Problem {
    /// A problem of the whole NodeENI.
    pub fn new(reason: &'static str, severity: Severity, message: impl Into<String>) -> Problem {
        Problem {
            reason,
            severity,
            node: None,
            message: message.into(),
        }
    }

    /// What makes two problems the same one, for publishing it once.
    pub fn key(&self) -> ProblemKey {
        (self.reason, self.node.clone(), self.message.clone())
    }

    /// A problem of one node.
    pub fn on_node(
        reason: &'static str,
        severity: Severity,
        node: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            node: Some(node.to_owned()),
            ..Problem::new(reason, severity, message)
        }
    }
}

/// A problem's identity: reason, node, message.
pub type ProblemKey = (&'static str, Option<String>, String);

/// The problems to publish as Events now: those not among `published` (what was published for
/// this NodeENI last time). With no memory (`None`: this process has not reconciled it yet) the
/// stored `Degraded` condition stands in for it: its problem was published by whoever wrote it,
/// so a restart does not repeat the one problem a person is most likely looking at.
pub fn unpublished<'a>(
    problems: &'a [Problem],
    published: Option<&BTreeSet<ProblemKey>>,
    degraded: Option<&Condition>,
) -> Vec<&'a Problem> {
    let in_condition = |p: &Problem| {
        degraded.is_some_and(|c| {
            c.status == "True"
                && p.severity == Severity::Degraded
                && c.reason == p.reason
                && c.message.starts_with(&p.message)
        })
    };
    problems
        .iter()
        .filter(|p| match published {
            Some(seen) => !seen.contains(&p.key()),
            None => !in_condition(p),
        })
        .collect()
}

/// The longest Event note the API server takes (events.k8s.io/v1 `note`: 1 kB).
pub const MAX_NOTE_BYTES: usize = 1024;

/// One Event to publish: problems grouped the way Events aggregate. An Event recorder folds
/// Events of the same type, reason and related object into one series that keeps the *first*
/// note, so two problems of one reason about one node (or about none) must share one note, or
/// the second is never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// A Warning (a person must act) or Normal.
    pub warning: bool,
    /// The Event reason.
    pub reason: &'static str,
    /// The node it concerns (the Event's related object).
    pub node: Option<String>,
    /// The messages, joined, at most [`MAX_NOTE_BYTES`].
    pub note: String,
}

/// The Events for `problems`, one per (type, reason, node), in first-seen order.
pub fn notices(problems: &[&Problem]) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::new();
    for p in problems {
        let warning = p.severity == Severity::Degraded;
        let same =
            |n: &&mut Notice| n.warning == warning && n.reason == p.reason && n.node == p.node;
        match out.iter_mut().find(same) {
            Some(n) => {
                n.note.push_str("; ");
                n.note.push_str(&p.message);
            }
            None => out.push(Notice {
                warning,
                reason: p.reason,
                node: p.node.clone(),
                note: p.message.clone(),
            }),
        }
    }
    for n in &mut out {
        truncate(&mut n.note, MAX_NOTE_BYTES);
    }
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let ellipsis = '…';
    let mut end = max - ellipsis.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push(ellipsis);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use multi_eni_api::keys::reason;

    fn degraded(status: &str, why: &str, message: &str) -> Condition {
        Condition {
            type_: "Degraded".into(),
            status: status.into(),
            reason: why.into(),
            message: message.into(),
            observed_generation: Some(1),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    fn problems() -> Vec<Problem> {
        vec![
            Problem::new(reason::SUBNET_NOT_FOUND, Severity::Degraded, "subnet x"),
            Problem::on_node(reason::AZ_MISMATCH, Severity::Info, "n1", "skips b"),
        ]
    }

    #[test]
    fn problems_of_one_reason_and_node_share_one_note() {
        let p = [
            Problem::new(reason::SUBNET_NOT_FOUND, Severity::Degraded, "subnet x"),
            Problem::on_node(reason::AZ_MISMATCH, Severity::Info, "n1", "skips b"),
            Problem::new(reason::SUBNET_NOT_FOUND, Severity::Degraded, "subnet y"),
            Problem::on_node(reason::AZ_MISMATCH, Severity::Info, "n2", "skips b"),
        ];
        let n = notices(&p.iter().collect::<Vec<_>>());
        let got: Vec<_> = n
            .iter()
            .map(|n| (n.warning, n.reason, n.node.as_deref(), n.note.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (true, reason::SUBNET_NOT_FOUND, None, "subnet x; subnet y"),
                (false, reason::AZ_MISMATCH, Some("n1"), "skips b"),
                (false, reason::AZ_MISMATCH, Some("n2"), "skips b"),
            ]
        );
    }

    #[test]
    fn long_notes_are_cut_to_what_the_api_server_takes() {
        let long = "é".repeat(MAX_NOTE_BYTES);
        let p = [Problem::new(
            reason::SUBNET_NOT_FOUND,
            Severity::Degraded,
            long,
        )];
        let n = notices(&p.iter().collect::<Vec<_>>());
        assert!(n[0].note.len() <= MAX_NOTE_BYTES, "{}", n[0].note.len());
        assert!(n[0].note.ends_with('…'));
    }

    #[test]
    fn problems_published_before_are_not_published_again() {
        let p = problems();
        let seen: BTreeSet<ProblemKey> = p.iter().map(Problem::key).collect();
        assert!(unpublished(&p, Some(&seen), None).is_empty());
    }

    #[test]
    fn a_new_or_changed_problem_is_published() {
        let p = problems();
        let seen = BTreeSet::from([p[1].key()]);
        assert_eq!(unpublished(&p, Some(&seen), None), vec![&p[0]]);
        let mut changed = p.clone();
        changed[1].message = "skips c".into();
        assert_eq!(
            unpublished(&changed, Some(&seen), None),
            vec![&changed[0], &changed[1]]
        );
    }

    #[test]
    fn after_a_restart_the_stored_degraded_condition_counts_as_published() {
        let p = problems();
        let c = degraded(
            "True",
            reason::SUBNET_NOT_FOUND,
            "subnet x (and 1 more problems)",
        );
        assert_eq!(unpublished(&p, None, Some(&c)), vec![&p[1]]);
        let resolved = degraded("False", reason::ALL_READY, "");
        assert_eq!(unpublished(&p, None, Some(&resolved)).len(), 2);
        let other = degraded("True", reason::LIMIT_EXCEEDED, "subnet x");
        assert_eq!(unpublished(&p, None, Some(&other)).len(), 2);
    }
}
