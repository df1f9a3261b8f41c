//! The agent's event loop: gather facts, plan, act, report — on every change, never on a timer.
//!
//! Wake-ups come from the ENIAttachment watch (label-scoped to this node), from netlink link
//! notifications, and from the back-off timer of a failed action. Each wake-up runs a
//! reconcile: facts → [`plan`] → execute the actions → re-read what they changed → plan again
//! (a few rounds, so a hot-plugged link is up with its MTU within one wake-up) → sync the SR-IOV
//! config → write the statuses that changed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Client};
use multi_eni_api::keys::{self, reason};
use multi_eni_api::{EniAttachment, InterfaceStatus, naming};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::AgentError;
use crate::address::{MacAddr, PciAddr};
use crate::args::AgentArgs;
use crate::dpdk::{Binding, Dpdk, DpdkError};
use crate::links::{LinkError, LinkEvent, LinkEvents, Links};
use crate::metrics::{self, Metrics};
use crate::plan::{
    self, Action, AttachmentFacts, Facts, Held, Intent, LinkFacts, Naming, Op, Outcome, Plan,
};
use crate::sriov::SriovConfig;
use crate::status::{self, Reporter};
use crate::sysfs::{KernelWrite, Sysfs};

/// Plan/act rounds per wake-up. Configuring a link takes one round, DPDK a couple; more means
/// something keeps undoing our changes, and we come back after [`KICK`] instead of spinning.
const MAX_ROUNDS: usize = 4;
/// Delay before trying again when rounds ran out or a status write failed.
const KICK: Duration = Duration::from_secs(1);
/// Back-off after a failed action: doubles per consecutive failure, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a link's appearance time is kept for the latency metric.
const APPEARED_TTL: Duration = Duration::from_secs(120);

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
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| AgentError::Config(format!("kubeconfig {}: {e}", path.display())))?;
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| AgentError::Config(format!("kubeconfig {}: {e}", path.display())))?;
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
                let l = metrics::bind(addr)
                    .await
                    .map_err(|source| AgentError::Metrics { addr, source })?;
                let bound = l
                    .local_addr()
                    .map_err(|source| AgentError::Metrics { addr, source })?;
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
            objects: BTreeMap::new(),
            init: None,
            synced: false,
            table: BTreeMap::new(),
            appeared: HashMap::new(),
            held: BTreeMap::new(),
            failures: HashMap::new(),
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

/// The owned facts behind one [`Facts`].
struct Gathered {
    attachments: Vec<AttachmentFacts>,
    links: Vec<LinkFacts>,
    devices: BTreeMap<PciAddr, Option<String>>,
    bindings: Vec<Binding>,
}

struct Hold {
    held: Held,
    until: Instant,
}

struct Loop {
    config: AgentConfig,
    links: Links,
    sysfs: Sysfs,
    dpdk: Arc<Mutex<Dpdk>>,
    sriov: Option<SriovConfig>,
    metrics: Arc<Metrics>,
    reporter: Reporter,
    /// This node's attachments by name, as the watch last showed them.
    objects: BTreeMap<String, Arc<EniAttachment>>,
    /// The list being received after a (re)start of the watch.
    init: Option<BTreeMap<String, Arc<EniAttachment>>>,
    /// The watch has listed once: `objects` is complete.
    synced: bool,
    /// Every link, by ifindex, kept current by notifications.
    table: BTreeMap<u32, LinkFacts>,
    /// When links were first announced, for the latency metric.
    appeared: HashMap<u32, Instant>,
    /// Attachments waiting out a back-off, by UID.
    held: BTreeMap<String, Hold>,
    /// Consecutive failures by UID (for the back-off).
    failures: HashMap<String, u32>,
    /// What we last wrote per UID, with the resourceVersion it was written over: until the
    /// watch shows a newer object, this is what the server has.
    written: HashMap<String, (Option<String>, InterfaceStatus)>,
    /// Reconcile again at this time.
    kick: Option<Instant>,
}

fn lock(d: &Mutex<Dpdk>) -> std::sync::MutexGuard<'_, Dpdk> {
    d.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loop {
    async fn event_loop(
        &mut self,
        watch: impl futures::Stream<Item = Result<WatchEvent<EniAttachment>, watcher::Error>>,
        mut events: LinkEvents,
        shutdown: impl Future<Output = ()>,
        healthy: &AtomicBool,
    ) -> Result<(), AgentError> {
        let mut watch = pin!(watch);
        let mut shutdown = pin!(shutdown);
        self.relist().await?;
        tracing::info!(node = %self.config.node_name, links = self.table.len(), "agent started");
        loop {
            let deadline = self
                .held
                .values()
                .map(|h| h.until)
                .chain(self.kick)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let dirty = tokio::select! {
                biased;
                () = &mut shutdown => break,
                ev = events.next() => match ev {
                    None => return Err(AgentError::NetlinkClosed),
                    Some(ev) => { self.on_link_event(ev).await?; true }
                },
                ev = watch.next() => match ev {
                    None => return Err(AgentError::WatchEnded),
                    Some(Ok(ev)) => self.on_watch_event(ev),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "ENIAttachment watch failed; retrying with back-off");
                        false
                    }
                },
                () = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    self.held.retain(|_, h| h.until > now);
                    if self.kick.is_some_and(|k| k <= now) {
                        self.kick = None;
                    }
                    true
                }
            };
            if self.synced {
                healthy.store(true, Ordering::Relaxed);
                if dirty {
                    self.reconcile().await;
                }
            }
        }
        Ok(())
    }

    fn on_watch_event(&mut self, ev: WatchEvent<EniAttachment>) -> bool {
        let name = |o: &EniAttachment| o.metadata.name.clone().unwrap_or_default();
        match ev {
            WatchEvent::Init => {
                self.init = Some(BTreeMap::new());
                false
            }
            WatchEvent::InitApply(o) => {
                if let Some(init) = &mut self.init {
                    init.insert(name(&o), Arc::new(o));
                }
                false
            }
            WatchEvent::InitDone => {
                self.objects = self.init.take().unwrap_or_default();
                self.synced = true;
                true
            }
            WatchEvent::Apply(o) => {
                self.objects.insert(name(&o), Arc::new(o));
                true
            }
            WatchEvent::Delete(o) => {
                self.objects.remove(&name(&o));
                if let Some(uid) = &o.metadata.uid {
                    self.written.remove(uid);
                    self.failures.remove(uid);
                    self.held.remove(uid);
                }
                true
            }
        }
    }

    async fn on_link_event(&mut self, ev: LinkEvent) -> Result<(), AgentError> {
        match ev {
            LinkEvent::Changed(l) => {
                if !self.table.contains_key(&l.index) {
                    self.appeared.insert(l.index, Instant::now());
                }
                self.table.insert(l.index, l);
            }
            LinkEvent::Removed(index) => {
                self.table.remove(&index);
                self.appeared.remove(&index);
            }
            LinkEvent::Overrun => {
                tracing::warn!("netlink notifications were lost; re-listing links");
                self.relist().await?;
            }
        }
        Ok(())
    }

    async fn relist(&mut self) -> Result<(), AgentError> {
        let links = self.links.dump().await?;
        self.table = links.into_iter().map(|l| (l.index, l)).collect();
        let table = &self.table;
        self.appeared.retain(|i, _| table.contains_key(i));
        Ok(())
    }

    async fn refresh(&mut self, index: u32) {
        match self.links.get(index).await {
            Ok(Some(l)) => {
                self.table.insert(index, l);
            }
            Ok(None) => {
                self.table.remove(&index);
            }
            Err(e) => tracing::warn!(error = %e, index, "re-reading a link failed"),
        }
    }

    fn hold(&mut self, uid: &str, reason: &'static str, message: String) {
        let n = self.failures.entry(uid.to_owned()).or_default();
        *n += 1;
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (*n - 1).min(6))
            .min(MAX_BACKOFF);
        tracing::warn!(attachment_uid = uid, reason, %message, retry_in = ?backoff, "action failed");
        self.metrics.config_error(reason);
        self.held.insert(
            uid.to_owned(),
            Hold {
                held: Held { reason, message },
                until: Instant::now() + backoff,
            },
        );
    }

    /// The facts for one plan, read fresh from the link table and sysfs.
    fn gather(&self) -> Gathered {
        let attachments: Vec<AttachmentFacts> = self
            .objects
            .values()
            .filter_map(|o| AttachmentFacts::from_object(o, &self.config.node_name))
            .collect();
        let macs: HashSet<MacAddr> = attachments.iter().filter_map(|a| a.mac).collect();
        let links: Vec<LinkFacts> = self
            .table
            .values()
            .cloned()
            .map(|mut l| {
                if l.mac.is_some_and(|m| macs.contains(&m)) {
                    l.pci = self.sysfs.pci_of_link(&l.name);
                }
                l
            })
            .collect();
        let bindings = lock(&self.dpdk).bindings().to_vec();
        let mut pcis: BTreeSet<PciAddr> = links.iter().filter_map(|l| l.pci.clone()).collect();
        for a in &attachments {
            pcis.extend(a.dpdk.as_ref().and_then(|d| d.pci.clone()));
            pcis.extend(a.sriov.as_ref().and_then(|s| s.pci.clone()));
        }
        pcis.extend(bindings.iter().map(|b| b.pci.clone()));
        let devices = pcis
            .into_iter()
            .filter_map(|p| self.sysfs.driver_of(&p).ok().map(|d| (p, d)))
            .collect();
        Gathered {
            attachments,
            links,
            devices,
            bindings,
        }
    }

    async fn reconcile(&mut self) {
        let now = Instant::now();
        self.appeared
            .retain(|_, t| now.duration_since(*t) < APPEARED_TTL);
        let mut round = 0;
        let (plan, attachments) = loop {
            let Gathered {
                attachments,
                links,
                devices,
                bindings,
            } = self.gather();
            let held: BTreeMap<String, Held> = self
                .held
                .iter()
                .map(|(k, h)| (k.clone(), h.held.clone()))
                .collect();
            let plan = plan::plan(&Facts {
                attachments: &attachments,
                links: &links,
                devices: &devices,
                bindings: &bindings,
                held: &held,
                naming: &self.config.naming,
                complete: self.synced,
            });
            if plan.actions.is_empty() || round == MAX_ROUNDS {
                break (plan, attachments);
            }
            round += 1;
            for action in plan.actions {
                self.execute(action).await;
            }
        };
        if !plan.actions.is_empty() {
            tracing::warn!(
                actions = plan.actions.len(),
                "changes keep being needed; trying again shortly"
            );
            self.kick = Some(Instant::now() + KICK);
        }
        self.metrics.attachments.set(
            attachments
                .iter()
                .filter(|a| a.intent != Intent::Leave)
                .count() as i64,
        );
        self.finalize(plan).await;
    }

    async fn execute(&mut self, action: Action) {
        let Action { uid, op } = action;
        match op {
            Op::Link { index, mac, change } => match self.links.apply(index, mac, &change).await {
                Ok(()) => self.refresh(index).await,
                Err(e @ (LinkError::MacChanged { .. } | LinkError::Gone(_))) => {
                    // Our table was stale (a rename, a re-created link): re-read and re-plan.
                    tracing::info!(error = %e, "link changed under us; re-listing");
                    if let Err(e) = self.relist().await {
                        tracing::warn!(error = %e, "re-listing links failed");
                    }
                }
                Err(e) => self.hold(&uid, reason::INTERFACE_CONFIG_FAILED, e.to_string()),
            },
            Op::Bind {
                pci,
                driver,
                original_driver,
                attachment,
            } => {
                let dpdk = self.dpdk.clone();
                let u = uid.clone();
                let res = tokio::task::spawn_blocking(move || {
                    lock(&dpdk).bind(&pci, &driver, original_driver, &u, &attachment)
                })
                .await;
                match res {
                    Ok(Ok(())) => self.metrics.dpdk_bind("bound"),
                    Ok(Err(e)) => {
                        self.metrics.dpdk_bind(match e {
                            DpdkError::RolledBack { .. } => "rolled_back",
                            DpdkError::RollbackFailed { .. } => "rollback_failed",
                            _ => "failed",
                        });
                        self.hold(&uid, reason::DPDK_BIND_FAILED, e.to_string());
                    }
                    Err(e) => self.hold(&uid, reason::DPDK_BIND_FAILED, e.to_string()),
                }
            }
            Op::Restore {
                pci,
                original_driver,
            } => {
                let dpdk = self.dpdk.clone();
                let res = tokio::task::spawn_blocking(move || {
                    lock(&dpdk).restore(&pci, original_driver.as_deref())
                })
                .await;
                let err = match res {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(e) = err {
                    self.hold(
                        &uid,
                        reason::INTERFACE_CONFIG_FAILED,
                        format!("restoring the kernel driver: {e}"),
                    );
                }
            }
        }
    }

    async fn finalize(&mut self, plan: Plan) {
        let Plan {
            mut reports,
            sriov: entries,
            ..
        } = plan;
        let mut sriov_changed = false;
        let sriov_failed = |r: &mut plan::Report, message: String| {
            r.observed.sriov_resource = None;
            r.outcome = Outcome::Failed {
                reason: reason::INTERFACE_CONFIG_FAILED,
                message,
            };
        };
        match &self.sriov {
            None => {
                for r in reports
                    .iter_mut()
                    .filter(|r| r.observed.sriov_resource.is_some())
                {
                    sriov_failed(
                        r,
                        "SR-IOV asked for, but the agent runs with --sriov-config disabled".into(),
                    );
                }
            }
            Some(cfg) => {
                let cfg = cfg.clone();
                let res = tokio::task::spawn_blocking(move || cfg.sync(&entries)).await;
                match res {
                    Ok(Ok(synced)) => {
                        if synced.changed {
                            sriov_changed = true;
                            self.metrics.sriov_config_writes.inc();
                            tracing::warn!(
                                "SR-IOV device plugin config changed; the plugin reads it only at start: restart its pod on this node"
                            );
                        }
                        for (resource, message) in &synced.conflicts {
                            for r in reports
                                .iter_mut()
                                .filter(|r| r.observed.sriov_resource.as_deref() == Some(resource))
                            {
                                sriov_failed(r, message.clone());
                            }
                        }
                    }
                    res => {
                        let message = match res {
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                            Ok(Ok(_)) => String::new(),
                        };
                        let mut failed = Vec::new();
                        for r in reports.iter_mut().filter(|r| {
                            r.observed.sriov_resource.is_some() || r.outcome == Outcome::Released
                        }) {
                            sriov_failed(r, message.clone());
                            failed.push(r.uid.clone());
                        }
                        for uid in failed {
                            self.hold(&uid, reason::INTERFACE_CONFIG_FAILED, message.clone());
                        }
                    }
                }
            }
        }

        for report in reports {
            let Some(obj) = self
                .objects
                .values()
                .find(|o| o.metadata.uid.as_deref() == Some(report.uid.as_str()))
                .cloned()
            else {
                continue;
            };
            if matches!(
                report.outcome,
                Outcome::Configured | Outcome::DpdkBound | Outcome::Released
            ) {
                self.failures.remove(&report.uid);
            }
            // Link appeared → configured, measured before the status write (which is reporting,
            // not configuring).
            let latency = match (&report.outcome, report.observed.if_index) {
                (Outcome::Configured, Some(i)) => self.appeared.remove(&i).map(|t| t.elapsed()),
                _ => None,
            };
            if let Some(l) = latency {
                self.metrics.link_configure_seconds.observe(l.as_secs_f64());
            }
            let rv = obj.metadata.resource_version.clone();
            let base = match self.written.get(&report.uid) {
                Some((at, st)) if *at == rv => Some(st.clone()),
                _ => obj.interface().cloned(),
            };
            let Some(next) =
                status::next_interface(base.as_ref(), &report, obj.metadata.generation, now_time())
            else {
                continue;
            };
            let patch = status::merge_patch(base.as_ref(), &next);
            match self.reporter.write(&obj, &patch).await {
                Ok(_) => {
                    let before = status::ready_reason(base.as_ref()).map(str::to_owned);
                    self.written.insert(report.uid.clone(), (rv, next.clone()));
                    self.announce(&obj, &report, before.as_deref(), sriov_changed, latency)
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attachment = ?obj.metadata.name, "writing status.interface failed; retrying");
                    self.kick = Some(Instant::now() + KICK);
                }
            }
        }
    }

    /// Events, metrics and logs for a status transition.
    async fn announce(
        &mut self,
        obj: &EniAttachment,
        report: &plan::Report,
        before: Option<&str>,
        sriov_changed: bool,
        latency: Option<Duration>,
    ) {
        let (_, reason, mut message) = status::condition_for(report);
        if before == Some(reason) {
            return;
        }
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        match &report.outcome {
            Outcome::Configured => {
                self.metrics.links_configured.inc();
                if let Some(l) = latency {
                    message.push_str(&format!(
                        " ({:.1} ms after the link appeared)",
                        l.as_secs_f64() * 1e3
                    ));
                }
                tracing::info!(attachment = name, %message, "interface configured");
            }
            Outcome::DpdkBound | Outcome::Released => {
                tracing::info!(attachment = name, %message, "{reason}")
            }
            Outcome::Failed { .. } => tracing::warn!(attachment = name, %message, "{reason}"),
            _ => return,
        }
        if sriov_changed && report.observed.sriov_resource.is_some() {
            message.push_str(
                "; SR-IOV device plugin config changed: restart the plugin pod to pick it up",
            );
        }
        let warning = matches!(report.outcome, Outcome::Failed { .. });
        self.reporter.event(obj, warning, reason, message).await;
    }
}

fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}
