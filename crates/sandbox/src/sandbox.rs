//! Starting the pieces, running the command, and tearing down.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use multi_eni_api::keys::TAG_CLUSTER;
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_controller::plan::LifecycleConfig;
use multi_eni_controller::run::ControllerConfig;
use multi_eni_controller::run::describe_batch::Pacing;
use multi_eni_controller::run::metrics::Metrics;
use multi_eni_controller::run::process::{self, Setup};
use multi_eni_ec2::Op;
use multi_eni_ec2_sim::{Ec2Sim, FaultPlan, SimConfig};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::agents::{self, AgentMode, NodeAgents};
use crate::display::Display;
use crate::progress::Goal;
use crate::world::{self, SimNode};
use crate::{Args, CLUSTER};

/// The NodeENI the sandbox applies (also `deploy/samples/nodeeni.yaml`).
const SAMPLE_NODEENI: &str = include_str!("../../../deploy/samples/nodeeni.yaml");

/// How long the teardown waits for the controller to remove every ENI.
const TEARDOWN_DEADLINE: Duration = Duration::from_secs(120);

/// How often the simulated nodes' links are brought in line with EC2.
const LINK_SYNC: Duration = Duration::from_millis(50);

/// The running sandbox.
pub struct Sandbox {
    server: ApiServerHandle,
    /// A client for the API double.
    pub client: Client,
    /// The EC2 simulator (`None` with `--apiserver-only`).
    pub sim: Option<Arc<Ec2Sim>>,
    /// The simulated nodes.
    pub nodes: Vec<SimNode>,
    /// Where the kubeconfig was written.
    pub kubeconfig: PathBuf,
    /// Why no agents run, when they don't.
    pub no_agents: Option<String>,
    /// Where the controller serves /metrics.
    pub metrics: Option<SocketAddr>,
    agents: Option<Arc<Mutex<NodeAgents>>>,
    links: Option<JoinHandle<()>>,
    controller: Option<(CancellationToken, JoinHandle<Result<(), String>>)>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("nodes", &self.nodes)
            .field("kubeconfig", &self.kubeconfig)
            .field("no_agents", &self.no_agents)
            .finish_non_exhaustive()
    }
}

/// What the teardown found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teardown {
    /// ENIs of the sandbox's cluster still in EC2 at the end (must be none).
    pub left: Vec<String>,
    /// The wait for the controller ended before everything was gone.
    pub cut_short: Option<String>,
}

fn say(what: &str) {
    println!("==> {what}");
}

fn detail(what: &str) {
    println!("    {what}");
}

/// The controller's settings in the sandbox: the production defaults, with the resync, GC and
/// retry waits shortened so changes show within seconds, and the waits for EC2's eventual
/// consistency in the simulator's time (`time_scale` EC2 seconds per real second).
fn controller_config(time_scale: f64) -> ControllerConfig {
    let l = LifecycleConfig::default();
    let d = ControllerConfig::default();
    let ec2 = |t: Duration| t.div_f64(time_scale.max(1.0));
    ControllerConfig {
        lifecycle: LifecycleConfig {
            cluster: CLUSTER.into(),
            poll: Duration::from_millis(500),
            attach_after_create: ec2(l.attach_after_create),
            // At least 2 s: the stored request time has one-second precision.
            detach_resend_after: ec2(l.detach_resend_after).max(Duration::from_secs(2)),
            ..l
        },
        describe_pacing: Pacing {
            window: d.describe_pacing.window,
            spacing: ec2(d.describe_pacing.spacing),
        },
        resync_period: Duration::from_secs(30),
        gc_cooldown: Duration::from_secs(10),
        max_retry_delay: Duration::from_secs(2),
        ..ControllerConfig::default()
    }
}

fn sim_config(args: &Args) -> SimConfig {
    SimConfig::default()
        .with_time_scale(args.time_scale)
        .with_seed(args.seed)
}

fn inject_faults(sim: &Ec2Sim, args: &Args) {
    if args.throttle_rate == 0.0 && args.lost_response_rate == 0.0 {
        return;
    }
    for op in Op::ALL {
        sim.set_faults(
            op,
            FaultPlan {
                error_rate: args.throttle_rate,
                error_code: "RequestLimitExceeded".into(),
                lost_response_rate: args.lost_response_rate,
                ..FaultPlan::default()
            },
        );
    }
}

impl Sandbox {
    /// Starts everything `args` asks for, writing files into `dir`; says what it does.
    pub async fn start(args: &Args, dir: &Path) -> anyhow::Result<Sandbox> {
        let server = ApiServer::start(ServerConfig {
            port: args.port,
            ..ServerConfig::default()
        })
        .await
        .with_context(|| {
            format!(
                "starting the Kubernetes API double on 127.0.0.1:{}",
                args.port
            )
        })?;
        let kubeconfig = args
            .kubeconfig
            .clone()
            .unwrap_or_else(|| dir.join("kubeconfig"));
        server
            .write_kubeconfig(&kubeconfig)
            .with_context(|| format!("writing the kubeconfig to {}", kubeconfig.display()))?;
        let client = server
            .client()
            .context("building a client for the API double")?;
        say(&format!("Kubernetes API double on {}", server.url()));
        register_crds(&client).await?;
        let mut sandbox = Sandbox {
            server,
            client,
            sim: None,
            nodes: Vec::new(),
            kubeconfig,
            no_agents: None,
            metrics: None,
            agents: None,
            links: None,
            controller: None,
        };
        if args.apiserver_only {
            return Ok(sandbox);
        }
        sandbox.start_ec2_and_nodes(args).await?;
        sandbox.start_agents(args.agents).await?;
        sandbox
            .start_controller(args.metrics_address, args.time_scale)
            .await?;
        if !args.no_sample {
            say("applying the sample NodeENI (deploy/samples/nodeeni.yaml)");
            let mut sample: NodeEni = serde_yaml::from_str(SAMPLE_NODEENI)
                .context("parsing the embedded sample NodeENI")?;
            sample.spec.subnet_ids = world::sample_subnets(args.subnets)
                .into_iter()
                .map(|(id, ..)| id)
                .collect();
            Api::<NodeEni>::all(sandbox.client.clone())
                .create(&PostParams::default(), &sample)
                .await
                .context("applying the sample NodeENI")?;
            detail(&format!(
                "nodeeni.networking.k8s.aws/{} created",
                sample.name_any()
            ));
        }
        Ok(sandbox)
    }

    async fn start_ec2_and_nodes(&mut self, args: &Args) -> anyhow::Result<()> {
        let sim = Arc::new(Ec2Sim::new(sim_config(args)));
        inject_faults(&sim, args);
        self.nodes =
            world::build(&sim, args.nodes, args.subnets).context("building the simulated VPC")?;
        say(&format!(
            "EC2 simulator: a VPC with {} sample subnets in each of {} and {}, {} instances, EC2 time ×{}{}",
            args.subnets,
            world::ZONES[0],
            world::ZONES[1],
            self.nodes.len(),
            args.time_scale,
            fault_note(args),
        ));
        let api: Api<Node> = Api::all(self.client.clone());
        for n in &self.nodes {
            let node = world::node_object(n).context("building a simulated Node")?;
            api.create(&PostParams::default(), &node)
                .await
                .with_context(|| format!("creating node {}", n.name))?;
            detail(&format!(
                "node/{} ({}, {}, {}){}",
                n.name,
                n.instance_id,
                n.instance_type,
                n.zone,
                if n.selected { ", ng=multi-eni" } else { "" }
            ));
        }
        self.sim = Some(sim);
        Ok(())
    }

    async fn start_agents(&mut self, mode: AgentMode) -> anyhow::Result<()> {
        let root = agents::is_root();
        let why_not = match mode {
            AgentMode::Off => Some("--agents off".to_string()),
            AgentMode::Auto if !root => {
                Some("not running as root: each agent needs its own network namespace".to_string())
            }
            _ => None,
        };
        if let Some(why) = why_not {
            say(&format!(
                "no node agents ({why}): attachments stop at Attached, not Ready"
            ));
            self.no_agents = Some(why);
            return Ok(());
        }
        let url = self.server.url();
        let agents = match NodeAgents::start(&url, &self.nodes).await {
            Ok(a) => a,
            Err(e) if mode == AgentMode::Auto => {
                say(&format!(
                    "no node agents ({e}): attachments stop at Attached, not Ready"
                ));
                self.no_agents = Some(e);
                return Ok(());
            }
            Err(e) => anyhow::bail!("starting the node agents (--agents on): {e}"),
        };
        say(&format!(
            "{} node agents, each in its own network namespace; an ENI attached in EC2 appears there as a link with its MAC",
            agents.len()
        ));
        let agents = Arc::new(Mutex::new(agents));
        let sim = self
            .sim
            .clone()
            .context("the simulator starts before the agents")?;
        let synced = agents.clone();
        self.links = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(LINK_SYNC);
            loop {
                tick.tick().await;
                let enis = sim.network_interfaces();
                for e in synced.lock().sync(&enis) {
                    warn!(error = %e, "simulated link change failed");
                }
            }
        }));
        self.agents = Some(agents);
        Ok(())
    }

    async fn start_controller(
        &mut self,
        metrics: Option<SocketAddr>,
        time_scale: f64,
    ) -> anyhow::Result<()> {
        let sim = self
            .sim
            .clone()
            .context("the simulator starts before the controller")?;
        let probes = match metrics {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on --metrics-address {addr}"))?;
                self.metrics = Some(l.local_addr().context("the metrics address")?);
                Some(l)
            }
            None => None,
        };
        let setup = Setup {
            client: self.client.clone(),
            ec2: sim,
            config: controller_config(time_scale),
            lease: None,
            metrics: Arc::new(Metrics::default()),
            probes,
        };
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            process::run(setup, stopped.cancelled_owned())
                .await
                .map_err(|e| e.to_string())
        });
        say(&format!("the controller (cluster name {CLUSTER:?})"));
        self.controller = Some((stop, task));
        Ok(())
    }

    /// What attachments can reach here.
    pub fn goal(&self) -> Goal {
        if self.agents.is_some() {
            Goal::Ready
        } else {
            Goal::Attached
        }
    }

    /// The API double's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The ENIs of the sandbox's cluster in EC2 now.
    pub fn our_enis(&self) -> Vec<String> {
        self.sim.as_ref().map_or_else(Vec::new, |sim| {
            sim.network_interfaces_tagged(TAG_CLUSTER, CLUSTER)
                .into_iter()
                .map(|e| e.id)
                .collect()
        })
    }

    /// Deletes every NodeENI, waits (up to two minutes, or until `skip` completes) for the
    /// controller to remove their ENIs, stops everything, and reports what EC2 still holds.
    pub async fn teardown(mut self, skip: impl Future<Output = ()>) -> Teardown {
        let cut_short = if self.controller.is_some() {
            tokio::pin!(skip);
            tokio::select! {
                r = self.remove_everything() => r.err(),
                () = tokio::time::sleep(TEARDOWN_DEADLINE) => Some(format!("gave up after {}s", TEARDOWN_DEADLINE.as_secs())),
                () = &mut skip => Some("skipped (Ctrl-C)".into()),
            }
        } else {
            None
        };
        if let Some((stop, task)) = self.controller.take() {
            stop.cancel();
            match task.await {
                Ok(Err(e)) => warn!(error = %e, "the controller stopped with an error"),
                Err(e) => warn!(error = %e, "the controller task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(links) = self.links.take() {
            links.abort();
            let _ = links.await;
        }
        if let Some(agents) = self.agents.take().and_then(Arc::into_inner) {
            agents.into_inner().stop().await;
        }
        let left = self.our_enis();
        self.server.shutdown().await;
        Teardown { left, cut_short }
    }

    async fn remove_everything(&self) -> Result<(), String> {
        let nes: Api<NodeEni> = Api::all(self.client.clone());
        let listed = nes
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        for ne in listed {
            say(&format!("deleting nodeeni/{}", ne.name_any()));
            let _ = nes.delete(&ne.name_any(), &DeleteParams::default()).await;
        }
        let atts: Api<EniAttachment> = Api::all(self.client.clone());
        let mut shown = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let left = (
                nes.list(&ListParams::default())
                    .await
                    .map(|l| l.items.len()),
                atts.list(&ListParams::default())
                    .await
                    .map(|l| l.items.len()),
                self.our_enis().len(),
            );
            let (Ok(n), Ok(a), e) = left else { continue };
            if shown != Some((n, a, e)) {
                detail(&format!("{n} NodeENIs, {a} ENIAttachments, {e} ENIs left"));
                shown = Some((n, a, e));
            }
            if (n, a, e) == (0, 0, 0) {
                return Ok(());
            }
        }
    }
}

fn fault_note(args: &Args) -> String {
    let mut faults = Vec::new();
    if args.throttle_rate > 0.0 {
        faults.push(format!(
            "{:.0}% of calls throttled",
            args.throttle_rate * 100.0
        ));
    }
    if args.lost_response_rate > 0.0 {
        faults.push(format!(
            "{:.0}% of responses lost",
            args.lost_response_rate * 100.0
        ));
    }
    if faults.is_empty() {
        String::new()
    } else {
        format!(" ({})", faults.join(", "))
    }
}

async fn register_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in multi_eni_api::crds::all() {
        let name = crd.name_any();
        crds.create(&PostParams::default(), &crd)
            .await
            .with_context(|| format!("registering CRD {name}"))?;
        detail(&format!("customresourcedefinition/{name} created"));
    }
    Ok(())
}

/// The command: start, show progress until converged, say what to try, follow changes until
/// `shutdown`, tear down (a second Ctrl-C skips the wait), report. Logs go to files in `dir`.
pub async fn run(
    args: &Args,
    dir: &Path,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Teardown> {
    let started = Instant::now();
    let sandbox = Sandbox::start(args, dir).await?;
    tokio::pin!(shutdown);
    if args.apiserver_only {
        print_access(&sandbox, dir);
        println!("Serving the API only. Press Ctrl-C to stop.");
        shutdown.await;
        let report = sandbox.teardown(std::future::ready(())).await;
        print_report(&report);
        return Ok(report);
    }
    let mut display = Display::new(&sandbox.client, started);
    let goal = sandbox.goal();
    println!();
    let stopping = tokio::select! {
        converged = display.until_converged(goal) => {
            if let Some(rows) = converged {
                let enis: i32 = rows.iter().map(|r| r.desired).sum();
                println!();
                println!("Converged in {}: {enis} ENIs for {} NodeENIs, each {}.", display.elapsed(), rows.len(), match goal {
                    Goal::Ready => "attached in EC2 and configured on its node by the agent (Ready)",
                    Goal::Attached => "attached in EC2 (Attached; no agents, so not Ready)",
                });
            }
            false
        }
        () = &mut shutdown => true,
    };
    if !stopping {
        print_access(&sandbox, dir);
        print_try(&sandbox);
        tokio::select! {
            () = display.follow() => {}
            () = &mut shutdown => {}
        }
    }
    println!();
    say(
        "stopping: deleting every NodeENI so the controller removes its ENIs (Ctrl-C again to skip)",
    );
    let skip = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let report = sandbox.teardown(skip).await;
    print_report(&report);
    Ok(report)
}

fn print_report(report: &Teardown) {
    match (&report.cut_short, report.left.is_empty()) {
        (_, true) => say("stopped: 0 ENIs left behind"),
        (why, false) => say(&format!(
            "stopped: {} ENIs left behind{}: {}",
            report.left.len(),
            why.as_ref()
                .map(|w| format!(" (teardown {w})"))
                .unwrap_or_default(),
            report.left.join(", ")
        )),
    }
}

fn print_access(sandbox: &Sandbox, dir: &Path) {
    println!();
    println!("API server:  {}", sandbox.url());
    println!("kubeconfig:  {}", sandbox.kubeconfig.display());
    println!("logs:        {}", dir.join("sandbox.log").display());
    if let Some(m) = sandbox.metrics {
        println!("metrics:     http://{m}/metrics");
    }
}

fn print_try(sandbox: &Sandbox) {
    println!();
    println!("Try, in another terminal:");
    println!("  export KUBECONFIG={}", sandbox.kubeconfig.display());
    println!("  kubectl get nodeenis,eniattachments -o wide");
    if let Some(n) = sandbox.nodes.iter().find(|n| !n.selected) {
        println!(
            "  kubectl label node {} ng=multi-eni                  # one more ENI follows",
            n.name
        );
    }
    println!(
        "  kubectl patch nodeeni sample-multus --type merge -p '{{\"spec\":{{\"mtu\":1500}}}}'"
    );
    println!(
        "  kubectl delete nodeeni sample-multus                # its ENIs are detached and deleted"
    );
    println!("  # The Go controller's sample manifests apply unchanged: their subnets and groups");
    println!(
        "  # (multus-test-subnet-1/2, multus-test-sg, subnet-08c2ddc07218f1105, …) exist here."
    );
    if let Some(why) = &sandbox.no_agents {
        println!();
        println!(
            "Without node agents ({why}) attachments stop at Attached; run as root to see them Ready."
        );
    }
    println!();
    println!(
        "Changes show below as they happen. Ctrl-C stops: every NodeENI is deleted first, and any ENI left behind is reported."
    );
}
