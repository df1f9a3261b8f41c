//! The `NodeENI` and `ENIAttachment` APIs of multi-eni.
//!
//! Everything here is pure data and pure functions — no I/O — so the controller, the agent, the
//! test doubles and the CLI all share one definition of the contract:
//!
//! * [`NodeEni`] — the user's intent, wire-compatible with the Go "AWS Multi-ENI Controller"
//!   (`networking.k8s.aws/v1alpha1`, kind `NodeENI`).
//! * [`EniAttachment`] — our per-ENI unit of work, one per (NodeENI, node, subnet).
//! * [`keys`] — every label, tag, finalizer, condition type and reason, once.
//! * [`naming`] — deterministic, always-valid object names and label values.
//! * [`validation`] — the patterns and CEL rules that go into the CRDs.
//! * [`crds`] — the generated CRDs, as objects and as YAML.

pub mod conditions;
pub mod crds;
pub mod eni_attachment;
pub mod keys;
pub mod naming;
pub mod node_eni;
pub mod status_patch;
pub mod validation;

pub use eni_attachment::{
    DpdkSpec, EniAttachment, EniAttachmentSpec, EniAttachmentStatus, InterfaceStatus, Phase,
    SriovSpec,
};
pub use node_eni::{AttachmentEntry, NodeEni, NodeEniSpec, NodeEniStatus, SubnetRef};

/// The API group both CRDs live in (the Go controller's group, kept for compatibility).
pub const GROUP: &str = "networking.k8s.aws";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
