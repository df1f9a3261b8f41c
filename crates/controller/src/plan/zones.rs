//! Reporting subnets a node skips because they are in another availability zone. A node gets ENIs
//! only in its instance's AZ (an ENI cannot attach across zones); skipping is expected in a
//! multi-AZ cluster and reported once per subnet as information, while a node left with no subnet
//! at all is Degraded. Either way nothing is retried: the plan simply does not ask for it.

use std::collections::BTreeMap;

use multi_eni_api::keys::reason;
use multi_eni_ec2::Subnet;

use super::problem::{Problem, Severity};

/// At most this many node names in one message; a 5,000-node cluster must not make a
/// megabyte-long condition.
const MAX_NAMES: usize = 5;

/// Zone mismatches collected over the nodes of one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneReport {
    /// (subnet ID, its AZ) → the nodes (with their AZ) that skip it.
    skipped: BTreeMap<(String, String), Vec<String>>,
    /// Nodes (with their AZ) in whose AZ no listed subnet is.
    stranded: Vec<String>,
}

impl ZoneReport {
    /// Notes that `node` in `az` gets `used` of the `subnets`.
    pub fn note(&mut self, node: &str, az: &str, subnets: &[Subnet], used: usize) {
        let who = format!("{node} ({az})");
        for s in subnets.iter().filter(|s| s.availability_zone != az) {
            self.skipped
                .entry((s.id.clone(), s.availability_zone.clone()))
                .or_default()
                .push(who.clone());
        }
        if used == 0 && !subnets.is_empty() {
            self.stranded.push(who);
        }
    }

    /// The problems: one Info per skipped subnet, one Degraded for all stranded nodes.
    pub fn report(self, problems: &mut Vec<Problem>) {
        if !self.stranded.is_empty() {
            let msg = format!(
                "no listed subnet is in the availability zone of node(s) {}: they get no ENI; list \
                 a subnet in that zone or narrow nodeSelector",
                names(&self.stranded)
            );
            problems.push(Problem::new(reason::AZ_MISMATCH, Severity::Degraded, msg));
        }
        for ((subnet, az), nodes) in self.skipped {
            let msg = format!(
                "subnet {subnet} is in {az}; node(s) {} get no ENI in it",
                names(&nodes)
            );
            problems.push(Problem::new(reason::AZ_MISMATCH, Severity::Info, msg));
        }
    }
}

fn names(list: &[String]) -> String {
    let shown = list[..list.len().min(MAX_NAMES)].join(", ");
    match list.len().saturating_sub(MAX_NAMES) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn skipped_subnets_are_reported_once_each_with_capped_node_lists() {
        let subnets = [subnet(SUBNET_A, AZ_A), subnet(SUBNET_B, AZ_B)];
        let mut z = ZoneReport::default();
        for i in 0..8 {
            z.note(&format!("n{i}"), AZ_A, &subnets, 1);
        }
        let mut problems = Vec::new();
        z.report(&mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].severity, Severity::Info);
        assert!(problems[0].message.contains(SUBNET_B));
        assert!(problems[0].message.ends_with("and 3 more get no ENI in it"));
    }

    #[test]
    fn node_with_no_subnet_in_its_zone_is_degraded() {
        let subnets = [subnet(SUBNET_A, AZ_A)];
        let mut z = ZoneReport::default();
        z.note("n1", AZ_B, &subnets, 0);
        let mut problems = Vec::new();
        z.report(&mut problems);
        assert_eq!(problems[0].reason, reason::AZ_MISMATCH);
        assert_eq!(problems[0].severity, Severity::Degraded);
        assert!(problems[0].message.contains("n1 (us-east-1b)"));
    }
}
