//! What only the double can do, driven by unmodified kube-rs clients: fault injection, dropped
//! watch connections, forced compaction and restarts. The protocol itself (watch, 410, bookmarks,
//! conflicts, status, finalizers, patches, selectors, Leases, Events, CRD admission) is proven
//! by the contract suite in `multi-eni-kube-env` (`tests/contract.rs`), against this double and
//! the real kube-apiserver alike.

mod support;

mod faults;
mod watcher;
