//! The whole controller under test: `run::process::run` (preflight, caches, leader election,
//! both kube-rs Controllers and the resync) on the API double and the EC2 simulator, with real
//! watches. The world (double, CRDs, VPC, nodes) comes from `support/fleet.rs`.
//!
//! Each replica runs on its own Tokio runtime with its own client, so [`Replica::kill`] is a
//! real crash: the runtime is shut down and every future of that process — reconciles in the
//! middle of an EC2 call, the elector, the caches — is dropped where it stands, the Lease left
//! held. [`Replica::stop`] is the orderly stop (SIGTERM).
//!
//! Every scenario ends with [`System::converged`]: the shared invariant checker.

#![allow(dead_code)]

#[path = "fleet.rs"]
pub mod fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use multi_eni_api::conditions::find;
use multi_eni_api::keys::{TAG_ATTACHMENT, TAG_CLUSTER, TAG_NODE, TAG_NODEENI, condition};
use multi_eni_api::{EniAttachment, NodeEni, Phase};
use multi_eni_controller::plan::LifecycleConfig;
use multi_eni_controller::run::ControllerConfig;
use multi_eni_controller::run::describe_batch::{DEFAULT_WINDOW, Pacing};
use multi_eni_controller::run::leader::LeaseConfig;
use multi_eni_controller::run::metrics::Metrics;
use multi_eni_controller::run::process::{self, Setup};
use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Op, Page, SecurityGroup,
    Subnet, Tags,
};
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_testkit::wait_until;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use fleet::*;

/// The cluster name: the ENIs' cluster tag.
pub const CLUSTER: &str = "system-test";
/// How long a scenario step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(40);
/// The Lease replicas elect a leader on.
pub const LEASE: &str = "multi-eni-controller";
/// The Lease's namespace.
pub const LEASE_NS: &str = "default";

/// The describe actions: what the cost and scale reports count as describes.
pub const DESCRIBES: [Op; 5] = [
    Op::DescribeNetworkInterfaces,
    Op::DescribeInstances,
    Op::DescribeInstanceTypes,
    Op::DescribeSubnets,
    Op::DescribeSecurityGroups,
];

/// The controller's settings for system tests: quick polls and resyncs, short timeouts.
pub fn config() -> ControllerConfig {
    ControllerConfig {
        lifecycle: LifecycleConfig {
            cluster: CLUSTER.into(),
            release_timeout: Duration::from_secs(2),
            detach_timeout: Duration::from_secs(5),
            // Above the one-second precision of the stored phase clock.
            visibility_grace: Duration::from_secs(3),
            poll: Duration::from_millis(20),
            // Past the simulators' consistency lags in these tests (≤ 300 ms), with a margin
            // for the create time's millisecond truncation (an equal wait races).
            attach_after_create: Duration::from_millis(400),
            // Above the one-second precision of the stored request time.
            detach_resend_after: Duration::from_secs(2),
        },
        vpc_id: None,
        concurrency: 4,
        resync_period: Duration::from_millis(300),
        gc_cooldown: Duration::from_secs(1),
        // EC2's error classes wait 10 s (throttled) to 10 min (invalid input) before a retry.
        max_retry_delay: Duration::from_millis(500),
        instance_ttl: Duration::from_secs(10),
        describe_pacing: Pacing {
            window: DEFAULT_WINDOW,
            spacing: Duration::from_millis(100),
        },
    }
}

/// The API double with the CRDs, the simulated VPC, and the settings replicas start with.
pub struct System {
    /// Nodes, NodeENIs, attachments and the simulator (see `support/fleet.rs`).
    pub w: World,
    /// What [`System::start`] gives each replica; change it before starting one.
    pub config: ControllerConfig,
    url: String,
}

impl System {
    /// A fresh API double and simulator; no controller yet.
    pub async fn new() -> System {
        System::with_sim(SimConfig::instant()).await
    }

    /// [`System::new`] over a simulator with these settings (e.g. EC2's delays and eventual
    /// consistency, time-scaled), holding the same VPC, subnets and group.
    pub async fn with_sim(sim: SimConfig) -> System {
        let w = World::on_double_with(Ec2World::with_config(sim)).await;
        let url = w.server.as_ref().expect("on the double").url();
        System {
            w,
            config: config(),
            url,
        }
    }

    /// The simulator.
    pub fn sim(&self) -> &Arc<Ec2Sim> {
        &self.w.ec2.sim
    }

    /// Starts a controller process on the simulator: the only replica (`identity` `None`) or
    /// one taking part in the leader election as `identity`.
    pub fn start(&self, identity: Option<&str>) -> Replica {
        self.start_with(identity, self.w.ec2.sim.clone())
    }

    /// [`System::start`] with another EC2 (e.g. a [`Gate`] over the simulator).
    pub fn start_with(&self, identity: Option<&str>, ec2: Arc<dyn Ec2>) -> Replica {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the replica");
        let shutdown = CancellationToken::new();
        let lease = identity.map(|id| LeaseConfig {
            namespace: LEASE_NS.into(),
            name: LEASE.into(),
            identity: id.into(),
            duration: Duration::from_secs(2),
            renew: Duration::from_millis(100),
        });
        let (url, config, stop) = (self.url.clone(), self.config.clone(), shutdown.clone());
        let task = runtime.spawn(async move {
            // Its own client on its own runtime: nothing of it survives a kill.
            let uri = url.parse().expect("the double's URL");
            let client = Client::try_from(kube::Config::new(uri)).expect("client");
            let setup = Setup {
                client,
                ec2,
                config,
                lease,
                metrics: Arc::new(Metrics::default()),
                probes: None,
            };
            process::run(setup, stop.cancelled_owned())
                .await
                .map_err(|e| e.to_string())
        });
        Replica {
            identity: identity.map(str::to_owned),
            runtime: Some(runtime),
            shutdown,
            task: Some(task),
        }
    }

    /// The holder of the Lease now.
    pub async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.w.client.clone(), LEASE_NS)
            .get_opt(LEASE)
            .await
            .expect("get the Lease")
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    }

    /// Waits until some replica holds the Lease; returns its identity.
    pub async fn wait_for_leader(&self) -> String {
        wait_until(WAIT, "a replica to lead", || async {
            self.lease_holder()
                .await
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "no holder".to_owned())
        })
        .await
    }

    /// Every ENI of this cluster in EC2.
    pub fn ours(&self) -> Vec<NetworkInterface> {
        self.sim().network_interfaces_tagged(TAG_CLUSTER, CLUSTER)
    }

    /// Waits until [`System::check`] holds for `want`, failing with what it saw last.
    pub async fn converged(&self, want: &[Want]) {
        wait_until(WAIT, "the controller to converge", || self.check(want)).await;
    }

    /// The three invariants. (1) no leaked ENI: every ENI with our cluster tag belongs to a
    /// live ENIAttachment (by its UID tag); (2) at most one ENI per (NodeENI, node, subnet) and
    /// per ENIAttachment; (3) converged: exactly the wanted NodeENIs and no other ENIAttachments,
    /// each NodeENI's status current (observedGeneration), with the wanted counts and
    /// conditions, each attachment Attached (Ready when the agent reported) with its ENI
    /// attached at the index its status names.
    pub async fn check(&self, want: &[Want]) -> Result<(), String> {
        let atts = self.list_attachments().await?;
        self.check_enis(&atts)?;
        let nes = self
            .w
            .node_enis()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items;
        let names: BTreeSet<&str> = want.iter().map(|w| w.name.as_str()).collect();
        let have: BTreeSet<String> = nes.iter().map(ResourceExt::name_any).collect();
        if have.iter().map(String::as_str).collect::<BTreeSet<_>>() != names {
            return Err(format!("NodeENIs {have:?}, want {names:?}"));
        }
        if let Some(stray) = atts
            .iter()
            .find(|a| !names.contains(a.spec.node_eni.as_str()))
        {
            return Err(format!("stray ENIAttachment {}", stray.name_any()));
        }
        for w in want {
            let ne = nes
                .iter()
                .find(|n| n.name_any() == w.name)
                .ok_or("listed")?;
            let mine: Vec<&EniAttachment> =
                atts.iter().filter(|a| a.spec.node_eni == w.name).collect();
            self.check_node_eni(ne, &mine, w)?;
        }
        Ok(())
    }

    async fn list_attachments(&self) -> Result<Vec<EniAttachment>, String> {
        Ok(self
            .w
            .attachments_api()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items)
    }

    /// Invariants (1) and (2) over every ENI of the cluster.
    fn check_enis(&self, atts: &[EniAttachment]) -> Result<(), String> {
        let live: BTreeSet<String> = atts.iter().filter_map(ResourceExt::uid).collect();
        let mut per_key: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        let mut per_uid: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for eni in self.ours() {
            let tag = |k: &str| eni.tags.get(k).cloned().unwrap_or_default();
            let uid = tag(TAG_ATTACHMENT);
            if !live.contains(&uid) {
                return Err(format!(
                    "leaked ENI {} (attachment {uid:?} is gone)",
                    eni.id
                ));
            }
            let key = (tag(TAG_NODEENI), tag(TAG_NODE), eni.subnet_id.clone());
            per_key.entry(key).or_default().push(eni.id.clone());
            per_uid.entry(uid).or_default().push(eni.id.clone());
        }
        if let Some((k, v)) = per_key.iter().find(|(_, v)| v.len() > 1) {
            return Err(format!("several ENIs for {k:?}: {v:?}"));
        }
        if let Some((k, v)) = per_uid.iter().find(|(_, v)| v.len() > 1) {
            return Err(format!("several ENIs for attachment {k}: {v:?}"));
        }
        Ok(())
    }

    /// Invariant (3) for one NodeENI.
    fn check_node_eni(
        &self,
        ne: &NodeEni,
        atts: &[&EniAttachment],
        w: &Want,
    ) -> Result<(), String> {
        let name = &w.name;
        let s = ne.status.as_ref().ok_or(format!("{name}: no status"))?;
        if s.observed_generation != ne.metadata.generation {
            return Err(format!(
                "{name}: status is of generation {:?}",
                s.observed_generation
            ));
        }
        let counts = (s.desired_count, s.attached_count, s.ready_count);
        let wanted = (w.desired, w.desired, w.ready);
        if counts != wanted || atts.len() != usize::try_from(w.desired).unwrap_or(0) {
            return Err(format!(
                "{name}: counts {counts:?} with {} ENIAttachments, want {wanted:?}",
                atts.len()
            ));
        }
        for a in atts {
            self.check_attachment(a)?;
        }
        check_view(name, s, atts)?;
        let ready = atts.iter().filter(|a| a.phase() == Phase::Ready).count();
        if ready != usize::try_from(w.ready).unwrap_or(0) {
            return Err(format!(
                "{name}: {ready} attachments Ready, want {}",
                w.ready
            ));
        }
        let cond = |t: &str| {
            find(&s.conditions, t)
                .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
                .ok_or(format!("{name}: no {t} condition"))
        };
        let degraded = cond(condition::DEGRADED)?;
        match &w.degraded {
            None if degraded.0 != "False" => return Err(format!("{name}: Degraded {degraded:?}")),
            Some(reason) if degraded.0 != "True" || degraded.1 != *reason => {
                return Err(format!("{name}: Degraded {degraded:?}, want {reason}"));
            }
            _ => {}
        }
        let ready_cond = cond(condition::READY)?;
        let want_ready = w.degraded.is_none() && w.ready == w.desired;
        if (ready_cond.0 == "True") != want_ready {
            return Err(format!("{name}: Ready {ready_cond:?}, want {want_ready}"));
        }
        Ok(())
    }

    /// An attachment that is Attached or Ready has its one ENI attached where its status says.
    fn check_attachment(&self, a: &EniAttachment) -> Result<(), String> {
        let name = a.name_any();
        if !a.phase().is_attached() || a.metadata.deletion_timestamp.is_some() {
            return Err(format!("{name}: phase {}", a.phase()));
        }
        let s = a.status.as_ref().ok_or(format!("{name}: no status"))?;
        let eni_id = s.eni_id.as_deref().ok_or(format!("{name}: no eniID"))?;
        let eni = self
            .sim()
            .network_interface(eni_id)
            .ok_or(format!("{name}: {eni_id} is not in EC2"))?;
        let at = eni
            .attachment
            .as_ref()
            .ok_or(format!("{name}: {eni_id} not attached"))?;
        let placed = (
            at.instance_id.as_deref(),
            Some(at.device_index),
            at.status.clone(),
            eni.subnet_id.as_str(),
        );
        let wanted = (
            Some(a.spec.instance_id.as_str()),
            s.device_index,
            AttachmentStatus::Attached,
            a.spec.subnet_id.as_str(),
        );
        if placed != wanted || at.delete_on_termination != a.spec.delete_on_termination {
            return Err(format!("{name}: {eni_id} is {placed:?}, want {wanted:?}"));
        }
        Ok(())
    }

    /// Writes the agent's report for one attachment: interface found, up, configured
    /// (InterfaceReady), as the node agent does.
    pub async fn agent_reports(&self, attachment: &str) {
        let patch = json!({"status": {"interface": ready_interface(Timestamp::now())}});
        self.w
            .attachments_api()
            .patch_status(attachment, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("agent status write");
    }

    /// Writes the agent's `released` for one attachment (it let go of the device).
    pub async fn agent_releases(&self, attachment: &str) {
        let patch = json!({"status": {"interface": {"released": true, "up": false}}});
        self.w
            .attachments_api()
            .patch_status(attachment, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("agent status write");
    }

    /// Runs a node agent for every node until the returned token is cancelled: it reports each
    /// attached ENIAttachment configured and, when `release`, releases each one being deleted.
    pub fn agent(&self, release: bool) -> CancellationToken {
        let stop = CancellationToken::new();
        let (api, done) = (self.w.attachments_api(), stop.clone());
        // Driven by a watch, as the node agent is: every change to an attachment is looked at
        // once (the agent's merge patches carry no resourceVersion, so none is lost to a race).
        let changes = watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        tokio::spawn(async move {
            let mut changes = std::pin::pin!(changes);
            loop {
                tokio::select! {
                    () = done.cancelled() => return,
                    next = changes.next() => match next {
                        Some(Ok(a)) => agent_step(&api, &a, release).await,
                        // The watcher retries with backoff by itself.
                        Some(Err(_)) => {}
                        None => return,
                    },
                }
            }
        });
        stop
    }
}

/// Waits until the resync has listed the cluster's ENIs `n` more times (each pass is one
/// DescribeNetworkInterfaces on a small fleet).
pub async fn resync_passes(s: &System, n: u64) {
    let from = s.sim().calls(Op::DescribeNetworkInterfaces);
    wait_until(WAIT, "resync passes", || async {
        let now = s.sim().calls(Op::DescribeNetworkInterfaces);
        if now >= from + n {
            Ok(())
        } else {
            Err(format!("{} describes", now - from))
        }
    })
    .await;
}

/// The agent's status part once it configured the interface.
fn ready_interface(now: Timestamp) -> serde_json::Value {
    json!({
        "interfaceName": "eth1", "ifIndex": 3, "mtu": 9001, "up": true, "released": false,
        "conditions": [{
            "type": condition::INTERFACE_READY, "status": "True",
            "reason": multi_eni_api::keys::reason::INTERFACE_CONFIGURED,
            "message": "configured", "lastTransitionTime": now.to_string(),
        }],
    })
}

/// One look of the auto agent at one attachment.
async fn agent_step(api: &Api<EniAttachment>, a: &EniAttachment, release: bool) {
    let iface = a.status.as_ref().and_then(|s| s.interface.as_ref());
    let deleting = a.metadata.deletion_timestamp.is_some();
    let patch = if deleting {
        match iface {
            Some(i) if release && !i.released => {
                json!({"status": {"interface": {"released": true, "up": false}}})
            }
            _ => return,
        }
    } else if a.phase() == Phase::Attached && iface.is_none() {
        json!({"status": {"interface": ready_interface(Timestamp::now())}})
    } else {
        return;
    };
    // A conflict or a vanished object is seen again at the next look.
    let _ = api
        .patch_status(
            &a.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
}

/// The Go controller's `status.attachments[]` view shows each ENIAttachment as it is now.
fn check_view(
    name: &str,
    s: &multi_eni_api::NodeEniStatus,
    atts: &[&EniAttachment],
) -> Result<(), String> {
    type Row = (String, String, String, i32, String);
    let mut shown: Vec<Row> = s
        .attachments
        .iter()
        .map(|e| {
            let (node, eni, id) = (e.node_id.clone(), e.eni_id.clone(), e.attachment_id.clone());
            (node, eni, id, e.device_index, e.status.clone())
        })
        .collect();
    let mut actual: Vec<Row> = atts
        .iter()
        .map(|a| {
            let st = a.status.clone().unwrap_or_default();
            (
                a.spec.node_name.clone(),
                st.eni_id.unwrap_or_default(),
                st.attachment_id.unwrap_or_default(),
                st.device_index.unwrap_or(a.spec.device_index),
                a.phase().as_str().to_ascii_lowercase(),
            )
        })
        .collect();
    shown.sort();
    actual.sort();
    if shown == actual {
        Ok(())
    } else {
        Err(format!(
            "{name}: status.attachments {shown:?}, ENIAttachments {actual:?}"
        ))
    }
}

/// What one NodeENI should have converged to.
#[derive(Debug, Clone)]
pub struct Want {
    /// The NodeENI.
    pub name: String,
    /// ENIAttachments (and ENIs) it should have, all attached.
    pub desired: i32,
    /// How many of them the agent reported ready.
    pub ready: i32,
    /// The reason of a True Degraded condition; `None`: not degraded.
    pub degraded: Option<String>,
}

impl Want {
    /// `desired` attachments, none reported by the agent.
    pub fn attached(name: &str, desired: i32) -> Want {
        Want {
            name: name.into(),
            desired,
            ready: 0,
            degraded: None,
        }
    }

    /// `desired` attachments, all reported ready by the agent.
    pub fn ready(name: &str, desired: i32) -> Want {
        Want {
            ready: desired,
            ..Want::attached(name, desired)
        }
    }

    /// Degraded for `reason`.
    pub fn degraded(mut self, reason: &str) -> Want {
        self.degraded = Some(reason.into());
        self
    }
}

/// One controller process.
pub struct Replica {
    /// Its Lease identity (`None`: no election).
    pub identity: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Replica {
    /// A crash: every future of the process is dropped where it stands (mid EC2 call, mid
    /// write), nothing is released. Returns once the process's runtime is gone.
    pub async fn kill(mut self) {
        self.shut_runtime().await;
    }

    /// The orderly stop: shutdown is signalled and the process must end cleanly.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().expect("running");
        let r = tokio::time::timeout(WAIT, task)
            .await
            .expect("the process stops in time")
            .expect("the process does not panic");
        r.expect("the process ends without error");
        self.shut_runtime().await;
    }

    /// Whether the process ended (it returns only after shutdown or a failed preflight).
    pub fn finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the process to end by itself (a failed preflight); returns its result.
    pub async fn outcome(&mut self) -> Result<(), String> {
        let task = self.task.take().expect("running");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("the process ends")
            .expect("the process does not panic")
    }

    async fn shut_runtime(&mut self) {
        if let Some(rt) = self.runtime.take() {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(10)))
                .await
                .expect("the runtime shuts down");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// EC2 over the simulator that can stop a process in the middle of a step: after the call of
/// [`Gate::hang_after`]'s operation went through in EC2, its answer never comes back (the
/// caller hangs until killed). [`Gate::hit`] fires when that happens.
#[derive(Debug)]
pub struct Gate {
    /// The simulator calls go to.
    pub sim: Arc<Ec2Sim>,
    hang: Mutex<Option<Op>>,
    /// Notified when a call hangs.
    pub hit: Notify,
    calls: AtomicU64,
    /// Cluster-wide listings seen (DescribeNetworkInterfaces by the cluster tag: the resync's
    /// pages), told apart from the describes of single reconciles.
    pub listings: AtomicU64,
}

impl Gate {
    /// A gate that lets everything through.
    pub fn new(sim: Arc<Ec2Sim>) -> Arc<Gate> {
        Arc::new(Gate {
            sim,
            hang: Mutex::new(None),
            hit: Notify::new(),
            calls: AtomicU64::new(0),
            listings: AtomicU64::new(0),
        })
    }

    /// From now on, every `op` call hangs after EC2 carried it out.
    pub fn hang_after(&self, op: Op) {
        *self.hang.lock() = Some(op);
    }

    /// Calls made through the gate: a killed process makes no more.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn sim(&self) -> &Ec2Sim {
        self.calls.fetch_add(1, Ordering::SeqCst);
        &self.sim
    }

    async fn pass<T>(&self, op: Op, r: Result<T, Ec2Error>) -> Result<T, Ec2Error> {
        let hang = *self.hang.lock() == Some(op);
        if hang {
            self.hit.notify_one();
            std::future::pending::<()>().await;
        }
        r
    }
}

#[async_trait]
impl Ec2 for Gate {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        let r = self.sim().create_network_interface(req).await;
        self.pass(Op::CreateNetworkInterface, r).await
    }
    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        let r = self.sim().attach_network_interface(req).await;
        self.pass(Op::AttachNetworkInterface, r).await
    }
    async fn modify_network_interface_attribute(
        &self,
        id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        let r = self
            .sim
            .modify_network_interface_attribute(id, change)
            .await;
        self.pass(Op::ModifyNetworkInterfaceAttribute, r).await
    }
    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        let r = self.sim().detach_network_interface(req).await;
        self.pass(Op::DetachNetworkInterface, r).await
    }
    async fn delete_network_interface(&self, id: &str) -> Result<(), Ec2Error> {
        let r = self.sim().delete_network_interface(id).await;
        self.pass(Op::DeleteNetworkInterface, r).await
    }
    async fn describe_network_interfaces(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        let listing = format!("tag:{TAG_CLUSTER}");
        if q.filters.iter().any(|f| f.name == listing) {
            self.listings.fetch_add(1, Ordering::SeqCst);
        }
        self.sim().describe_network_interfaces(q).await
    }
    async fn create_tags(&self, ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        self.sim().create_tags(ids, tags).await
    }
    async fn describe_instances(&self, q: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.sim().describe_instances(q).await
    }
    async fn describe_subnets(&self, q: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.sim().describe_subnets(q).await
    }
    async fn describe_security_groups(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.sim().describe_security_groups(q).await
    }
    async fn describe_instance_types(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.sim().describe_instance_types(q).await
    }
}
