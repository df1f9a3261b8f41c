//! Test fixtures shared by this crate's tests and the CLI's end-to-end test (feature `testing`):
//! a fake sysfs tree with a tiny kernel behind it, throwaway network namespaces, a Kubernetes
//! API server (the double, or one handed in such as the real kube-apiserver) with the
//! ENIAttachment CRD registered, and checks on what the agent reports for waiting on it.

pub mod cluster;
pub mod netns;
pub mod status;
pub mod sysfs;

/// The workspace's one poll-until-deadline helper, re-exported for the tests that reach it here.
pub use multi_eni_testkit::wait_until;
