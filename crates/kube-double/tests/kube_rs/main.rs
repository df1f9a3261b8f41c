//! The double driven by unmodified kube-rs clients and runtime (one test binary, one file per
//! behaviour).

mod support;

mod apply_and_patch;
mod conflicts;
mod controller;
mod events;
mod faults;
mod leader_election;
mod lists;
mod project_crds;
mod watcher;
