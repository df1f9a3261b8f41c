//! The scale benchmark: the whole controller process (`run::process::run`) on its own runtime,
//! on the API double or the real kube-apiserver, and the EC2 simulator with AWS's per-action
//! token buckets and attach/detach delays, time-scaled — behind [`Limited`] at the
//! `--ec2-api-budget` share, as the aws-sdk adapter is behind its limiter. N nodes × M
//! subnets: rollout, steady state, one node relabelled (away and back), teardown. Measured:
//! time to all Attached against the token-bucket floor (`support/floor.rs`), EC2 calls by
//! action (server side) and the limiter's waits and throttles (client side), Kubernetes API
//! requests by verb, the controller's CPU seconds and the process's peak RSS, and the
//! convergence curves (`support/plot.rs`).
//!
//! Shared by `benches/scale.rs` (full size, prints the report, writes the plots) and
//! `tests/scale.rs` (50 × 2, holds the structural targets).

#![allow(dead_code)]

#[path = "floor.rs"]
pub mod floor;
#[path = "plot.rs"]
pub mod plot;
#[path = "system.rs"]
pub mod system;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::reflector::ObjectRef;
use multi_eni_api::keys::{TAG_CLUSTER, reason};
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_controller::plan::LifecycleConfig;
use multi_eni_controller::run::ControllerConfig;
use multi_eni_controller::run::describe_batch::Pacing;
use multi_eni_controller::run::metrics::Metrics;
use multi_eni_controller::run::process::{self, Setup};
use multi_eni_ec2::{Ec2, LimitStats, Limited, Op};
use multi_eni_ec2_sim::{CallStats, Ec2Sim, SimConfig};
use multi_eni_kube_double::{ApiServer, ServerConfig};
use multi_eni_kube_env::KubeEnv;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use floor::Floor;
use system::{AZ_A, CLUSTER, Ec2World, FOUR_ENIS, Gate, SG, World};

#[path = "meters.rs"]
pub mod meters;
#[path = "report.rs"]
pub mod report;
pub use meters::{Cpu, KubeMeter, Rss};

/// The NodeENI.
pub const NAME: &str = "scale";
/// The controller's worker threads (and blocking pool): what its CPU time is summed over.
pub const CONTROLLER_THREADS: &str = "multi-eni-ctl";
/// The resync period in EC2 time (the controller's default).
const RESYNC: Duration = Duration::from_secs(300);
/// The writing verbs.
const WRITES: [&str; 4] = ["create", "update", "patch", "delete"];
/// Changes the API double keeps per resource for watches. Its default (50,000) keeps every
/// version of the NodeENI, whose status lists all its attachments, in the process whose
/// memory is measured; kube-apiserver's watch cache keeps far fewer.
const DOUBLE_HISTORY: usize = 1000;
/// One resync listing page holds this many ENIs (`run::resync::PAGE_SIZE`).
const PAGE: u64 = 1000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Nodes.
    pub nodes: usize,
    /// Subnets in the NodeENI (ENIs per node), 1..=7.
    pub subnets: usize,
    /// EC2 seconds per real second.
    pub time_scale: f64,
    /// `--ec2-api-budget`: the share of EC2's buckets the client-side limiter allows.
    pub budget: f64,
    /// The real kube-apiserver (`multi-eni-kube-env`) instead of the API double.
    pub real_apiserver: bool,
    /// Resync passes measured in steady state.
    pub steady_passes: u64,
}

impl Options {
    /// The full benchmark: 1,000 × 2 at ×10 on the double, half the budget (the default).
    /// Overridden by `MULTI_ENI_SCALE_NODES`, `_SUBNETS`, `_TIME_SCALE`, `_BUDGET`,
    /// `_STEADY_PASSES` and `MULTI_ENI_SCALE_APISERVER=real`.
    pub fn from_env() -> Options {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(format!("MULTI_ENI_SCALE_{name}"))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        }
        Options {
            nodes: var("NODES", 1000),
            subnets: var("SUBNETS", 2).clamp(1, 7),
            time_scale: var("TIME_SCALE", 10.0),
            budget: var("BUDGET", 0.5),
            real_apiserver: var("APISERVER", String::new()) == "real",
            steady_passes: var("STEADY_PASSES", 3),
        }
    }

    /// ENIs the rollout makes.
    pub fn enis(&self) -> u64 {
        u64::try_from(self.nodes * self.subnets).unwrap_or(u64::MAX)
    }

    /// The controller's defaults with every EC2-paced timer divided by the time scale, so
    /// the controller lives in EC2 time as the simulator does (the phase clock's one-second
    /// precision bounds the visibility grace from below).
    pub fn controller_config(&self) -> ControllerConfig {
        let d = ControllerConfig::default();
        let l = LifecycleConfig::default();
        let s = |t: Duration| t.div_f64(self.time_scale);
        ControllerConfig {
            lifecycle: LifecycleConfig {
                cluster: CLUSTER.into(),
                release_timeout: s(l.release_timeout),
                detach_timeout: s(l.detach_timeout),
                visibility_grace: s(l.visibility_grace).max(Duration::from_secs(3)),
                poll: s(l.poll),
                attach_after_create: s(l.attach_after_create),
                // The stored request time has one-second precision.
                detach_resend_after: s(l.detach_resend_after).max(Duration::from_secs(2)),
            },
            vpc_id: None,
            concurrency: d.concurrency,
            resync_period: s(d.resync_period),
            gc_cooldown: s(d.gc_cooldown),
            max_retry_delay: s(d.max_retry_delay),
            instance_ttl: s(d.instance_ttl),
            describe_pacing: Pacing {
                window: s(d.describe_pacing.window),
                spacing: s(d.describe_pacing.spacing),
            },
        }
    }

    /// Real time for an EC2-time duration.
    pub fn real(&self, ec2: Duration) -> Duration {
        ec2.div_f64(self.time_scale)
    }

    /// EC2 seconds for a real duration.
    pub fn ec2_secs(&self, real: Duration) -> f64 {
        real.as_secs_f64() * self.time_scale
    }

    /// The instance type: room for `subnets` ENIs from device index 1.
    fn instance_type(&self) -> &'static str {
        if self.subnets <= 3 {
            FOUR_ENIS
        } else {
            "c5n.18xlarge"
        }
    }

    /// Subnet names, as the NodeENI names them.
    fn subnet_names(&self) -> Vec<String> {
        (1..=self.subnets)
            .map(|k| match k {
                1 => system::SUBNET_1.to_owned(),
                2 => system::SUBNET_2.to_owned(),
                k => format!("scale-subnet-{k}"),
            })
            .collect()
    }
}

/// Calls, waits and requests over one phase.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Real time the phase took.
    pub elapsed: Duration,
    /// EC2 time to the phase's end mark (all Attached, all gone), when it has one.
    pub done_ec2_secs: Option<f64>,
    /// What the simulator received, by action (the server side).
    pub ec2: BTreeMap<Op, CallStats>,
    /// What went through the client-side limiter, by action.
    pub client: BTreeMap<Op, LimitStats>,
    /// Kubernetes API requests by `verb/resource` (verbs `get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`), the controller's resources only, minus the bench's own
    /// writes.
    pub kube: BTreeMap<String, u64>,
    /// (EC2 seconds, ENIs Attached — or left, for the teardown) samples.
    pub curve: Vec<(f64, u64)>,
}

impl Phase {
    /// Calls of `ops` the simulator received.
    pub fn calls(&self, ops: &[Op]) -> u64 {
        ops.iter()
            .map(|op| self.ec2.get(op).map_or(0, |s| s.calls))
            .sum()
    }

    /// Responses the simulator throttled.
    pub fn server_throttled(&self) -> u64 {
        self.ec2.values().map(|s| s.throttled).sum()
    }

    /// Throttled answers the limiter saw.
    pub fn client_throttled(&self) -> u64 {
        self.client.values().map(|s| s.throttled).sum()
    }

    /// Kubernetes requests of every verb.
    pub fn kube_requests(&self) -> u64 {
        self.kube.values().sum()
    }

    /// Kubernetes requests of `verb`, every resource.
    pub fn kube_verb(&self, verb: &str) -> u64 {
        self.kube
            .iter()
            .filter(|(k, _)| k.split('/').next() == Some(verb))
            .map(|(_, n)| n)
            .sum()
    }

    /// Kubernetes writes of `resource`.
    pub fn kube_writes_of(&self, resource: &str) -> u64 {
        WRITES
            .iter()
            .map(|v| {
                self.kube
                    .get(&format!("{v}/{resource}"))
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Kubernetes writes.
    pub fn kube_writes(&self) -> u64 {
        WRITES.iter().map(|v| self.kube_verb(v)).sum()
    }
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub rollout: Phase,
    pub rollout_floor: Floor,
    pub steady: Phase,
    /// Resync listing pages in the steady window.
    pub steady_pages: u64,
    /// One node's label removed (its ENIs torn down).
    pub unlabel: Phase,
    /// The label put back (its ENIs made again).
    pub relabel: Phase,
    pub teardown: Phase,
    pub teardown_floor: Floor,
    /// Samples in which a NodeENI or ENIAttachment condition said Throttled, and Events
    /// with reason Throttled at the end: user-visible throttling.
    pub visible_throttles: u64,
    /// CPU seconds of the controller's threads (user + system).
    pub cpu_secs: f64,
    pub rss: Rss,
    /// The state machine's failed EC2 calls: action, error class, count.
    pub refused: Vec<(String, String, u64)>,
}

/// The world the controller runs in.
struct Scene {
    options: Options,
    w: World,
    gate: Arc<Gate>,
    limited: Arc<Limited<Gate>>,
    kube: KubeMeter,
    env: Option<&'static KubeEnv>,
    nodes: Vec<String>,
}

impl Scene {
    fn sim(&self) -> &Arc<Ec2Sim> {
        &self.w.ec2.sim
    }

    /// Our ENIs in EC2, and how many of them are attached.
    fn enis(&self) -> (u64, u64) {
        let ours = self.sim().network_interfaces_tagged(TAG_CLUSTER, CLUSTER);
        let attached = ours
            .iter()
            .filter(|e| {
                e.attachment
                    .as_ref()
                    .is_some_and(|a| a.status == multi_eni_ec2::AttachmentStatus::Attached)
            })
            .count();
        (len(ours.len()), len(attached))
    }

    /// The NodeENI as the bench's own watch cache has it (no request).
    fn node_eni(&self) -> Option<Arc<NodeEni>> {
        self.w.ctx.stores.node_enis.get(&ObjectRef::new(NAME))
    }

    /// Conditions that say Throttled, in the cache right now.
    fn throttled_conditions(&self) -> u64 {
        let ne = self.node_eni().map_or(0, |ne| {
            let conds = ne.status.as_ref().map(|s| s.conditions.as_slice());
            throttled(conds.unwrap_or_default())
        });
        let atts: u64 = self
            .w
            .ctx
            .stores
            .attachments
            .state()
            .iter()
            .map(|a: &Arc<EniAttachment>| {
                throttled(a.status.as_ref().map_or(&[][..], |s| &s.conditions))
            })
            .sum();
        ne + atts
    }

    /// Starts a phase: counters zeroed.
    async fn mark(&self) -> (Instant, BTreeMap<String, u64>) {
        self.sim().reset_stats();
        self.limited.reset_stats();
        (Instant::now(), self.kube.snapshot().await)
    }

    /// Ends a phase begun at `mark`, minus the `own` requests the bench made.
    async fn phase(&self, mark: (Instant, BTreeMap<String, u64>), own: &[(&str, u64)]) -> Phase {
        let kube = self.kube.snapshot().await;
        let mut delta: BTreeMap<String, u64> = kube
            .iter()
            .map(|(verb, n)| (verb.clone(), n - mark.1.get(verb).copied().unwrap_or(0)))
            .collect();
        for (verb, n) in own {
            if let Some(v) = delta.get_mut(*verb) {
                *v = v.saturating_sub(*n);
            }
        }
        Phase {
            elapsed: mark.0.elapsed(),
            ec2: self.sim().all_stats(),
            client: self.limited.stats(),
            kube: delta,
            ..Phase::default()
        }
    }
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn throttled(conds: &[Condition]) -> u64 {
    len(conds
        .iter()
        .filter(|c| c.reason == reason::THROTTLED)
        .count())
}

/// The simulated VPC with room for `options`: subnets of 4,091 addresses each (a /24
/// would run out at 251 ENIs), the nodes in a subnet of their own.
fn ec2_world(options: &Options) -> (Ec2World, String) {
    let config = SimConfig::default().with_time_scale(options.time_scale);
    let sim = Arc::new(Ec2Sim::new(config));
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let subnet = |az: &str, cidr: &str, name: &str| {
        sim.add_subnet(&vpc, az, cidr, Some(name)).expect("subnet")
    };
    let names = options.subnet_names();
    let ids: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| subnet(AZ_A, &format!("10.0.{}.0/20", 16 * (i + 1)), name))
        .collect();
    let nodes = subnet(AZ_A, "10.0.128.0/18", "scale-nodes");
    let subnet_b = subnet(system::AZ_B, "10.0.200.0/24", "zone-b");
    let sg = sim.add_security_group(&vpc, SG).expect("security group");
    let world = Ec2World {
        sim,
        vpc,
        subnet_1: ids[0].clone(),
        subnet_2: ids.get(1).cloned().unwrap_or_else(|| ids[0].clone()),
        subnet_b,
        sg,
    };
    (world, nodes)
}

impl Scene {
    /// The API server, the VPC, `nodes` labelled nodes whose instances run.
    async fn new(options: &Options) -> Scene {
        let (ec2, nodes_subnet) = ec2_world(options);
        let (w, env) = if options.real_apiserver {
            let env = KubeEnv::shared();
            (World::on_with(env.client().await, ec2).await, Some(env))
        } else {
            let config = ServerConfig {
                history_size: DOUBLE_HISTORY,
                ..ServerConfig::default()
            };
            let server = ApiServer::start(config).await.expect("API double starts");
            let mut w = World::on_with(server.client().expect("client"), ec2).await;
            w.server = Some(server);
            (w, None)
        };
        let names: Vec<String> = (0..options.nodes)
            .map(|i| format!("scale-{i:04}"))
            .collect();
        let instance_type = options.instance_type();
        let instances: Vec<String> = futures::stream::iter(&names)
            .map(|n| w.node(n, &nodes_subnet, instance_type, true))
            .buffered(16)
            .collect()
            .await;
        let sim = w.ec2.sim.clone();
        let launch = options.real(sim.config().instance_launch_delay);
        multi_eni_testkit::wait_until(launch + system::WAIT, "the instances to run", || async {
            let pending = instances
                .iter()
                .filter(|id| {
                    sim.instance(id)
                        .is_none_or(|i| i.state != multi_eni_ec2::InstanceState::Running)
                })
                .count();
            if pending == 0 {
                Ok(())
            } else {
                Err(format!("{pending} pending"))
            }
        })
        .await;
        let gate = Gate::new(sim);
        let limited = Arc::new(Limited::aws_share_time_scaled(
            gate.clone(),
            options.budget,
            options.time_scale,
        ));
        let kube = match env {
            Some(_) => KubeMeter::real(w.client.clone()),
            None => KubeMeter::double(&w),
        };
        Scene {
            options: options.clone(),
            w,
            gate,
            limited,
            kube,
            env,
            nodes: names,
        }
    }
}

/// The controller process on a runtime of its own, with named threads.
struct Controller {
    metrics: Arc<Metrics>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Controller {
    fn start(scene: &Scene) -> Controller {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(CONTROLLER_THREADS)
            .enable_all()
            .build()
            .expect("the controller's runtime");
        let stop = CancellationToken::new();
        let ec2: Arc<dyn Ec2> = scene.limited.clone();
        let config = scene.options.controller_config();
        let (env, url) = (scene.env, scene.w.server.as_ref().map(|s| s.url()));
        let done = stop.clone();
        let metrics = Arc::new(Metrics::default());
        let shared = metrics.clone();
        let task = runtime.spawn(async move {
            // Its own client on its own runtime: a client's connections belong to the runtime
            // that made them.
            let client = match (env, url) {
                (Some(env), _) => env.client().await,
                (None, Some(url)) => {
                    let uri = url.parse().expect("the double's URL");
                    kube::Client::try_from(kube::Config::new(uri)).expect("client")
                }
                (None, None) => return Err("no API server".to_owned()),
            };
            let setup = Setup {
                client,
                ec2,
                config,
                lease: None,
                metrics: shared,
                probes: None,
            };
            process::run(setup, done.cancelled_owned())
                .await
                .map_err(|e| e.to_string())
        });
        Controller {
            metrics,
            runtime: Some(runtime),
            stop,
            task: Some(task),
        }
    }

    /// The orderly stop; the process must end cleanly.
    async fn stop(mut self) {
        self.stop.cancel();
        let task = self.task.take().expect("running");
        let ended = tokio::time::timeout(system::WAIT, task)
            .await
            .expect("the controller stops in time")
            .expect("the controller does not panic");
        ended.expect("the controller ends without error");
        if let Some(rt) = self.runtime.take() {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(10)))
                .await
                .expect("the runtime shuts down");
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// How long a phase may take before the run fails: five floors and a margin, in real time.
fn patience(options: &Options, floor_secs: f64) -> Duration {
    options.real(Duration::from_secs_f64(5.0 * floor_secs + 600.0)) + system::WAIT
}

/// Samples every 100 ms until `done` says the phase reached its end; returns the curve.
async fn sample_until(
    scene: &Scene,
    started: Instant,
    deadline: Duration,
    mut probe: impl FnMut(&Scene) -> (u64, bool),
    visible: &mut u64,
) -> Vec<(f64, u64)> {
    let mut curve = vec![(0.0, probe(scene).0)];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let (value, done) = probe(scene);
        let t = scene.options.ec2_secs(started.elapsed());
        curve.push((t, value));
        *visible += scene.throttled_conditions();
        if done {
            return curve;
        }
        assert!(
            started.elapsed() < deadline,
            "not done after {deadline:?}: {value} (EC2 {:?}, NodeENI status {:?})",
            scene.enis(),
            scene.node_eni().and_then(|n| n.status.clone())
        );
    }
}

/// Waits until the resync listed every page `passes` more times, after the one in progress.
async fn resync_passes(scene: &Scene, passes: u64) -> u64 {
    let pages = scene.options.enis().div_ceil(PAGE).max(1);
    let from = scene.gate.listings.load(Ordering::SeqCst);
    let target = (from / pages + 1 + passes) * pages;
    let period = scene.options.controller_config().resync_period;
    let deadline = system::WAIT + period * u32::try_from(passes + 2).unwrap_or(u32::MAX);
    multi_eni_testkit::wait_until(deadline, "resync passes", || async {
        match scene.gate.listings.load(Ordering::SeqCst) {
            n if n >= target => Ok(()),
            n => Err(format!("{n} listing pages of {target}")),
        }
    })
    .await;
    target
}

/// Runs everything once.
pub async fn run(options: &Options) -> Report {
    let scene = Scene::new(options).await;
    let enis = options.enis();
    let sim_config = scene.sim().config().clone();
    let rollout_floor = Floor::rollout(enis, options.budget, sim_config.attach_delay.as_secs_f64());
    let teardown_floor =
        Floor::teardown(enis, options.budget, sim_config.detach_delay.as_secs_f64());
    let cpu = Cpu::start(CONTROLLER_THREADS);
    let rss_before = Rss::reset_peak();
    let ctl = Controller::start(&scene);
    // Preflight and a first resync pass happen before the NodeENI exists.
    resync_passes(&scene, 0).await;
    let mut visible = 0;

    eprintln!(
        "scale: {enis} ENIs, rollout (floor {:.0} s EC2 time)",
        rollout_floor.secs()
    );
    let (rollout, _) = rollout(&scene, &rollout_floor, &mut visible).await;
    eprintln!(
        "scale: steady state, {} resync passes",
        options.steady_passes
    );
    let (steady, steady_pages) = steady(&scene).await;
    eprintln!("scale: one node relabelled");
    let (unlabel, relabel) = relabel(&scene, &mut visible).await;
    eprintln!("scale: teardown");
    let teardown = teardown(&scene, &teardown_floor, &mut visible).await;

    visible += meters::throttle_events(&scene.w.client).await;
    let cpu_secs = cpu.stop().await;
    let rss = Rss::measure(rss_before);
    let refused = refused_calls(&ctl.metrics.render());
    ctl.stop().await;
    Report {
        options: options.clone(),
        rollout,
        rollout_floor,
        steady,
        steady_pages,
        unlabel,
        relabel,
        teardown,
        teardown_floor,
        visible_throttles: visible,
        cpu_secs,
        rss,
        refused,
    }
}

/// The state machine's EC2 calls that failed, by action and error class, from its metric:
/// `(op, class, count)`.
fn refused_calls(metrics: &str) -> Vec<(String, String, u64)> {
    let prefix = "multi_eni_controller_ec2_actions_total{";
    metrics
        .lines()
        .filter_map(|l| {
            let (labels, n) = l.strip_prefix(prefix)?.split_once("} ")?;
            let label = |k: &str| {
                let start = labels.find(&format!("{k}=\""))? + k.len() + 2;
                let len = labels[start..].find('"')?;
                Some(labels[start..start + len].to_owned())
            };
            let (op, class) = (label("op")?, label("result")?);
            let n: u64 = n.trim().parse().ok()?;
            (class != "ok" && n > 0).then_some((op, class, n))
        })
        .collect()
}

/// The NodeENI over every node and subnet: until its status counts every ENI Attached.
async fn rollout(scene: &Scene, floor: &Floor, visible: &mut u64) -> (Phase, ()) {
    let enis = scene.options.enis();
    let mark = scene.mark().await;
    let subnets = scene.options.subnet_names();
    scene
        .w
        .create_node_eni(
            NAME,
            json!({"subnetNames": subnets, "securityGroupNames": [SG],
                   "deviceIndex": 1, "mtu": 9001, "deleteOnTermination": true,
                   "description": "scale benchmark"}),
        )
        .await;
    let started = Instant::now();
    let want = i32::try_from(enis).unwrap_or(i32::MAX);
    let mut done_at = None;
    let curve = sample_until(
        scene,
        started,
        patience(&scene.options, floor.secs()),
        |s| {
            let attached =
                s.w.ctx
                    .stores
                    .attachments
                    .state()
                    .iter()
                    .filter(|a| a.phase().is_attached())
                    .count();
            let status = s.node_eni().and_then(|n| n.status.clone());
            let all =
                status.is_some_and(|st| st.attached_count == want && st.desired_count == want);
            if all && done_at.is_none() {
                done_at = Some(s.options.ec2_secs(started.elapsed()));
            }
            (len(attached), all)
        },
        visible,
    )
    .await;
    let mut phase = scene.phase(mark, &[("create/nodeenis", 1)]).await;
    phase.done_ec2_secs = done_at;
    phase.curve = curve;
    (phase, ())
}

/// Nothing changes: `steady_passes` whole resync passes after the one in progress.
async fn steady(scene: &Scene) -> (Phase, u64) {
    resync_passes(scene, 0).await;
    let mark = scene.mark().await;
    let from = scene.gate.listings.load(Ordering::SeqCst);
    let to = resync_passes(scene, scene.options.steady_passes.saturating_sub(1)).await;
    let phase = scene.phase(mark, &[]).await;
    (phase, to - from)
}

/// One node's label off (its ENIs go), then on again (they come back).
async fn relabel(scene: &Scene, visible: &mut u64) -> (Phase, Phase) {
    let node = scene.nodes[0].clone();
    let enis = scene.options.enis();
    let per_node = len(scene.options.subnets);
    let mut phases = Vec::new();
    for (labelled, want) in [(false, enis - per_node), (true, enis)] {
        let mark = scene.mark().await;
        scene.w.label(&node, labelled).await;
        let started = Instant::now();
        let want_i32 = i32::try_from(want).unwrap_or(i32::MAX);
        sample_until(
            scene,
            started,
            patience(&scene.options, 60.0),
            |s| {
                let (ours, attached) = s.enis();
                let status = s.node_eni().and_then(|n| n.status.clone());
                let counted = status.is_some_and(|st| {
                    st.attached_count == want_i32 && st.desired_count == want_i32
                });
                (ours, counted && ours == want && attached == want)
            },
            visible,
        )
        .await;
        phases.push(scene.phase(mark, &[]).await);
    }
    let relabel = phases.pop().expect("two phases");
    let unlabel = phases.pop().expect("two phases");
    (unlabel, relabel)
}

/// The NodeENI deleted: until it and every ENI are gone.
async fn teardown(scene: &Scene, floor: &Floor, visible: &mut u64) -> Phase {
    let mark = scene.mark().await;
    scene.w.delete_node_eni(NAME).await;
    let started = Instant::now();
    let mut done_at = None;
    let curve = sample_until(
        scene,
        started,
        patience(&scene.options, floor.secs()),
        |s| {
            let (ours, _) = s.enis();
            let gone = ours == 0 && s.node_eni().is_none();
            if ours == 0 && done_at.is_none() {
                done_at = Some(s.options.ec2_secs(started.elapsed()));
            }
            (ours, gone)
        },
        visible,
    )
    .await;
    let mut phase = scene.phase(mark, &[("delete/nodeenis", 1)]).await;
    phase.done_ec2_secs = done_at;
    phase.curve = curve;
    phase
}
