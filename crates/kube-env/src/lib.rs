//! A real Kubernetes control plane for tests: etcd and kube-apiserver, built from the pinned
//! Kubernetes release's Go modules by `scripts/install-test-deps.sh`, started on free loopback
//! ports in a temporary directory — what envtest is for Go operators.
//!
//! ```no_run
//! # async fn demo() {
//! use multi_eni_kube_env::KubeEnv;
//! // One control plane per test binary (started on first use, stopped when the binary exits):
//! let env = KubeEnv::shared();
//! let client = env.client().await;             // a fresh client for this test's runtime
//! env.kubeconfig();                             // the admin kubeconfig, for kubectl
//! // Or one of its own, stopped and removed when dropped (also when the test panics):
//! let own = KubeEnv::start().expect("kube-apiserver starts");
//! # drop((client, own)); }
//! ```
//!
//! A kube-apiserver alone runs no controllers: nothing garbage-collects owner references and a
//! deleted namespace stays Terminating, so tests delete what they create and share the server
//! by using distinct names.

mod binaries;
pub mod contract;
mod env;
mod objects;
mod pki;
mod ports;
mod process;

pub use binaries::{Binaries, INSTALL_COMMAND};
pub use env::{KubeEnv, StartError};
pub use objects::{apply_crds, create_node, wait_established};

/// How long the helpers here wait for the control plane (or a CRD) before failing the test.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
