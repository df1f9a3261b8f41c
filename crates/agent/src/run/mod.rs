//! The agent's event loop: gather facts, plan, act, report — on every change, never on a timer.
//!
//! Wake-ups come from the ENIAttachment watch (label-scoped to this node), from netlink link
//! notifications, and from the back-off timer of a failed action. Each wake-up runs a
//! reconcile: facts → [`plan`](crate::plan::plan) → execute the actions → re-read what they
//! changed → plan again (a few rounds, so a hot-plugged link is up with its MTU within one
//! wake-up) → sync the SR-IOV config → write the statuses that changed.
//!
//! Rooms: `event_loop` (waiting for the next wake-up), `reconcile` (one wake-up: facts, plan,
//! act), `publish` (SR-IOV config, statuses, Events); and the loop's memory, each with its own
//! rules: `attachments` (what the watch shows), `link_table` (what netlink shows), `backoff`
//! (failed attachments waiting to be retried).

mod attachments;
mod backoff;
mod event_loop;
mod link_table;
mod publish;
mod reconcile;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;
use std::time::Duration;

use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kube::{Api, Client};
use multi_eni_api::keys;
use multi_eni_api::{EniAttachment, InterfaceStatus, naming};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::AgentError;
use crate::args::AgentArgs;
use crate::dpdk::Dpdk;
use crate::links::{LinkEvents, Links};
use crate::metrics::{self, Metrics};
use crate::plan::Naming;
use crate::sriov::SriovConfig;
use crate::status::Reporter;
use crate::sysfs::{KernelWrite, Sysfs};

use attachments::Attachments;
use backoff::Backoff;
use link_table::LinkTable;

/// Settings of one agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The node it runs on.
    pub node_name: String,
    /// Link naming.
    pub naming: Naming,
    /// Host directory for persisted state.
    pub state_dir: PathBuf,
    /// SR-IOV device plugin config file; `None` disables SR-IOV publishing.
    pub sriov_config: Option<PathBuf>,
    /// Where to serve `/metrics` and `/healthz`; `None` serves nothing.
    pub metrics_address: Option<SocketAddr>,
    /// How long a DPDK step may take to show in sysfs.
    pub dpdk_verify_timeout: Duration,
}

impl From<&AgentArgs> for AgentConfig {
    fn from(a: &AgentArgs) -> Self {
        AgentConfig {
            node_name: a.node_name.clone(),
            naming: a.naming(),
            state_dir: a.state_dir.clone(),
            sriov_config: a.sriov_config(),
            metrics_address: Some(a.metrics_address),
            dpdk_verify_timeout: a.dpdk_verify_timeout(),
        }
    }
}

/// Runs the agent as `multi-eni agent` does: real netlink in this process's network namespace,
/// real sysfs under `--sysfs-root`, the cluster from the kubeconfig (or in-cluster config).
/// Returns when `shutdown` completes; configured interfaces and DPDK bindings stay as they are.
pub async fn run(args: AgentArgs, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let client = match &args.kubeconfig {
        Some(path) => {
            let unusable = |e: &dyn std::fmt::Display| {
                AgentError::Config(format!("kubeconfig {}: {e}", path.display()))
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| unusable(&e))?;
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| unusable(&e))?;
            Client::try_from(cfg).map_err(AgentError::Kube)?
        }
        None => Client::try_default().await.map_err(AgentError::Kube)?,
    };
    let (links, events) = Links::connect()?;
    let sysfs = Sysfs::new(&args.sysfs_root, Arc::new(KernelWrite));
    Agent::new(AgentConfig::from(&args), client, links, events, sysfs)
        .await?
        .run(shutdown)
        .await
}

/// One agent, assembled from its parts (tests pass netlink opened inside a network namespace and
/// a fake sysfs).
pub struct Agent {
    config: AgentConfig,
    client: Client,
    links: Links,
    events: LinkEvents,
    sysfs: Sysfs,
    dpdk: Arc<Mutex<Dpdk>>,
    sriov: Option<SriovConfig>,
    metrics: Arc<Metrics>,
    listener: Option<TcpListener>,
    metrics_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.config)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Loads persisted state and binds the metrics address.
    pub async fn new(
        config: AgentConfig,
        client: Client,
        links: Links,
        events: LinkEvents,
        sysfs: Sysfs,
    ) -> Result<Self, AgentError> {
        if config.node_name.is_empty() {
            return Err(AgentError::Config(
                "the node name is empty: set NODE_NAME from the downward API (spec.nodeName)"
                    .into(),
            ));
        }
        let dpdk = Dpdk::open(sysfs.clone(), &config.state_dir, config.dpdk_verify_timeout)?;
        let sriov = config
            .sriov_config
            .as_ref()
            .map(|p| SriovConfig::new(p, &config.state_dir));
        let (listener, metrics_addr) = match config.metrics_address {
            Some(addr) => {
                let unbindable = |source| AgentError::Metrics { addr, source };
                let l = TcpListener::bind(addr).await.map_err(unbindable)?;
                let bound = l.local_addr().map_err(unbindable)?;
                (Some(l), Some(bound))
            }
            None => (None, None),
        };
        Ok(Agent {
            config,
            client,
            links,
            events,
            sysfs,
            dpdk: Arc::new(Mutex::new(dpdk)),
            sriov,
            metrics: Arc::new(Metrics::default()),
            listener,
            metrics_addr,
        })
    }

    /// The address `/metrics` and `/healthz` are served on (with the port actually bound).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Runs until `shutdown` completes (or netlink fails).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let healthy = Arc::new(AtomicBool::new(false));
        let server = self
            .listener
            .map(|l| tokio::spawn(metrics::serve(l, self.metrics.clone(), healthy.clone())));
        let selector = format!(
            "{}={}",
            keys::LABEL_NODE,
            naming::label_value(&self.config.node_name)
        );
        let api: Api<EniAttachment> = Api::all(self.client.clone());
        let watch =
            watcher::watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
        let mut state = Loop {
            reporter: Reporter::new(self.client.clone(), &self.config.node_name),
            config: self.config,
            links: self.links,
            sysfs: self.sysfs,
            dpdk: self.dpdk,
            sriov: self.sriov,
            metrics: self.metrics,
            attachments: Attachments::default(),
            table: LinkTable::default(),
            backoff: Backoff::default(),
            written: HashMap::new(),
            kick: None,
        };
        let result = state
            .event_loop(watch, self.events, shutdown, &healthy)
            .await;
        if let Some(s) = server {
            s.abort();
        }
        result
    }
}

/// The running agent: its parts and what it remembers between wake-ups.
struct Loop {
    config: AgentConfig,
    links: Links,
    sysfs: Sysfs,
    dpdk: Arc<Mutex<Dpdk>>,
    sriov: Option<SriovConfig>,
    metrics: Arc<Metrics>,
    reporter: Reporter,
    attachments: Attachments,
    table: LinkTable,
    backoff: Backoff,
    /// What we last wrote per UID, with the resourceVersion it was written over: until the
    /// watch shows a newer object, this is what the server has.
    written: HashMap<String, (Option<String>, InterfaceStatus)>,
    /// Reconcile again at this time (changes kept being needed, or a status write failed).
    kick: Option<Instant>,
}
