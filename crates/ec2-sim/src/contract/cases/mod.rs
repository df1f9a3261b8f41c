//! The contract cases, grouped by what they are about: network interfaces, their
//! attachments, and the lookups the controller makes. Each case starts
//! from a fresh [`Fixture`](super::Fixture) and asserts what EC2 does; where a world does not
//! model something, the case says so and asserts it only where it is modelled (pinning moto's
//! actual behaviour for the important gaps). The list of cases is
//! [`contract_case_list!`](crate::contract_case_list).

mod attachments;
mod interfaces;
mod lookups;

pub use attachments::*;
pub use interfaces::*;
pub use lookups::*;

/// The cluster tag key the cases tag interfaces with, as the controller does.
const CLUSTER: &str = "multi-eni.k8s.aws/cluster";
