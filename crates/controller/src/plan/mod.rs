//! The controller's decisions as pure functions: no API server, no EC2, no clock (time comes in
//! as a parameter), so every rule is a table test.
//!
//! Rooms: `nodes` (a node's instance from its providerID), `lookups` (resolved subnets and
//! security groups, their failures as problems), `zones` (subnets a node skips for its AZ),
//! `fleet` (which ENIAttachments a NodeENI wants), `finalizer` (the NodeENI's way out),
//! `lifecycle` (one ENIAttachment's next step towards its ENI, and back), `device_index` (which
//! index to attach at), `observe_need` (when a describe is worth its cost), `removal` (detach
//! and delete), `gc` (orphan ENIs to collect and attachments EC2 drifted from, from one resync
//! listing), `recovery` (what an EC2 error means for
//! the next step), `status` (the NodeENI status aggregated from its ENIAttachments), `problem`
//! (what could not be done, for conditions and Events), `lease` (leader election: take, renew,
//! follow or release the Lease), `adoption` (taking over the Go controller's ENIs).

mod adoption;
mod device_index;
mod finalizer;
mod fleet;
mod fold;
mod gc;
mod lease;
mod lifecycle;
mod lookups;
mod nodes;
mod observe_need;
mod problem;
mod recovery;
mod removal;
mod status;
mod triggers;
mod zones;

#[cfg(test)]
mod fixtures;

pub use adoption::{Verdict, adoption_candidate, go_entries, go_entry_for, tags_missing, verdict};
pub use device_index::IndexChoice;
pub use finalizer::{FinalizerStep, finalizer_step};
pub use fleet::{FleetInput, Plan, plan};
pub use fold::Ec2Outcome;
pub use gc::{Drift, DriftReason, GcDetach, GcInput, GcPlan, drift, gc};
pub use lease::{LeaseStep, LeaseTiming, lease_step, released, still_leading};
pub use lifecycle::{
    Ec2Action, InstanceSeen, InstanceView, LifecycleConfig, Observed, Step, Wait, WaitReason,
    as_created, attach_wait, client_token, next_step,
};
pub use lookups::{GroupLookup, SubnetLookup, Subnets};
pub use nodes::{InstanceFacts, InstanceLookup, NodeFacts, ProviderId, parse_provider_id};
pub use observe_need::{DescribeNeed, describe_need, take_described};
pub use problem::{MAX_NOTE_BYTES, Notice, Problem, ProblemKey, Severity, notices, unpublished};
pub use recovery::{ErrorClass, Recovery, on_error};
pub use status::{node_eni_status, status_changed};
pub use triggers::{
    KeyFilter, attachment_fleet_key, attachment_key, node_eni_key, node_enis_for_node, node_key,
};
