//! The multi-eni node agent.
//!
//! Runs on every node that gets extra ENIs (a DaemonSet with hostNetwork and NET_ADMIN). It
//! watches only the ENIAttachments labelled with its node, finds each attached ENI's Linux
//! interface by MAC over netlink, configures it (up, MTU, optional stable name), optionally
//! binds it to a DPDK driver and publishes it to the SR-IOV network device plugin, and writes
//! what it did to the agent-owned `status.interface` of the ENIAttachment. When the controller
//! moves an attachment to Detaching, the agent undoes all of that and reports `released`.
//!
//! Layout: [`plan`] decides (pure); [`links`], [`dpdk`] and [`sriov`] act on the node;
//! [`status`] says what to report; [`run`] is the event loop tying them together. `docs/agent.md`
//! has a table of every file and its job.

pub mod address;
pub mod args;
pub mod atomic_file;
pub mod dpdk;
pub mod links;
pub mod metrics;
#[cfg(feature = "netns")]
pub mod netns;
pub mod plan;
pub mod run;
pub mod sriov;
pub mod status;
pub mod sysfs;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use args::{AgentArgs, InterfaceNames};
pub use run::{Agent, AgentConfig, run};

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A setting is unusable; the message says which and what to do.
    #[error("{0}")]
    Config(String),
    /// No Kubernetes client could be built.
    #[error("connecting to the Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// Netlink could not be opened or listed.
    #[error(transparent)]
    Netlink(#[from] links::LinkError),
    /// The netlink notification socket closed.
    #[error("the netlink notification socket closed")]
    NetlinkClosed,
    /// The ENIAttachment watch ended.
    #[error("the ENIAttachment watch ended")]
    WatchEnded,
    /// The persisted DPDK state is unreadable.
    #[error(transparent)]
    Dpdk(#[from] dpdk::DpdkError),
    /// The metrics address could not be bound.
    #[error("serving metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
