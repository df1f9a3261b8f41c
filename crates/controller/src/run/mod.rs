//! The thin shells around [`crate::plan`]: gather facts, call the plan, carry out its steps,
//! record what happened. Every decision lives in `plan/`; what is here does I/O.
//!
//! Rooms: `process` (the whole controller: checks, caches, probes, election, controllers, orderly
//! stop), `preflight` (start-up checks of CRDs, RBAC and IAM), `controllers` (the wiring: both kube-rs Controllers and the resync, while leading),
//! `context` (what every reconciler shares: clients, caches, settings), `eni_index` (the
//! cluster's ENIs as the last describe saw them), `attachment` (the ENIAttachment reconciler),
//! `executor` (one EC2 call of the plan, its result folded back), `observe` (what one attachment's
//! world looks like now), `fleet` (the NodeENI reconciler), `instances` (batched, cached
//! DescribeInstances), `resync` (the periodic tag-filtered describe, drift and garbage collection),
//! `describe_batch` (concurrent describe-by-ID requests coalesced into one call),
//! `backoff` (per-object exponential backoff on repeated failures), `leader` (Lease-based leader
//! election), `metrics`, `events`.

pub mod attachment;
pub mod backoff;
pub mod context;
pub mod controllers;
pub mod describe_batch;
pub mod eni_index;
pub mod error;
pub mod events;
pub mod executor;
pub mod feed;
pub mod fleet;
pub mod instances;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod preflight;
pub mod process;
pub mod resync;
pub mod vpc;

pub use context::{Context, ControllerConfig, Stores};
pub use eni_index::EniIndex;
pub use error::Error;
pub use instances::Instances;
pub use leader::{Leader, LeaseConfig, Role};
