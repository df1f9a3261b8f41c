//! What a plan could not do, said for a person: the NodeENI's conditions and Events.

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
