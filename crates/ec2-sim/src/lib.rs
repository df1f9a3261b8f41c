//! An in-memory EC2 for multi-eni: [`Ec2Sim`] implements the [`multi_eni_ec2::Ec2`] port
//! faithfully enough that controller behaviour proven on it holds on EC2 — including what
//! moto does not model: attachment states and delays, device-index conflicts, interface
//! limits, availability-zone checks, in-use checks, DeleteOnTermination on terminate,
//! ClientToken idempotency, eventual consistency, EC2's token buckets, fault injection
//! (errors, latency, lost responses, stuck detaches) and per-operation call counters.
//! Deterministic from a seed; every delay scales with one time factor.
//!
//! Also home of the [`contract`] suite run against the simulator and against moto.
//!
//! See `docs/ec2-simulator.md`.

pub mod config;
pub mod contract;
mod describe;
pub mod faults;
pub mod filters;
mod history;
mod inspect;
pub mod instance_types;
mod mutations;
mod setup;
mod sim;
mod state;

pub use config::SimConfig;
pub use faults::FaultPlan;
pub use setup::SetupError;
pub use sim::{CallStats, Ec2Sim};
