//! The crash/fault campaign: seeded randomized runs of the whole controller process on the API
//! double and the EC2 simulator. Each seed fixes a schedule — a small fleet, one or two
//! replicas, and a list of events applied during the rollout: crashes (at a random point or
//! right after EC2 carried out a call, before its answer was recorded), orderly leader
//! handovers, EC2 error/lost-response/latency windows, API server faults (409, 5xx, 504, 410 on
//! lists, cut watches, compacted history), instances terminated, nodes relabelled, added and
//! deleted, NodeENIs created, edited and deleted. Then every fault is lifted, the run must
//! converge to what the final world asks for, and after deleting every NodeENI nothing may be
//! left: no object, no finalizer, no ENI.
//!
//! The seed fixes the schedule and the simulator's draws (IDs, which call fails); it does not
//! fix thread interleavings, so a replayed seed applies the same events in the same order at
//! the same pauses, not the same instructions at the same nanosecond.
//!
//! Shared by `tests/chaos.rs` (20 runs, in `cargo test`) and `benches/chaos.rs` (the full
//! campaign, which prints [`Campaign::table`]). `docs/reliability.md` has the results.

#![allow(dead_code)]

#[path = "system.rs"]
pub mod system;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use multi_eni_api::keys::reason;
use multi_eni_ec2::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Op, Page, SecurityGroup,
    Subnet, Tags,
};
use multi_eni_ec2_sim::{Ec2Sim, FaultPlan, SimConfig};
use multi_eni_kube_double::{FaultAction, FaultHandle, FaultRule, Verb};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use system::*;

/// How much faster than EC2 the simulator runs in runs with AWS-like timing: an attach takes
/// 200 ms, describes lag 100–300 ms behind, buckets refill ten times faster.
pub const AWS_TIME_SCALE: f64 = 10.0;
/// The environment variable that replays one seed.
pub const SEED_ENV: &str = "MULTI_ENI_CHAOS_SEED";
/// Every node's instance type: room for 14 ENIs, so no run hits the interface limit.
const INSTANCE_TYPE: &str = "c5n.18xlarge";
/// The most nodes a run ever has.
const MAX_NODES: usize = 6;
/// The most NodeENIs a run ever creates.
const MAX_NODE_ENIS: usize = 4;
/// The EC2 error codes injected: a throttle and the two 5xx EC2 answers with.
const EC2_CODES: [&str; 3] = ["RequestLimitExceeded", "InternalError", "Unavailable"];
/// The mutating calls a crash can be placed right after.
const CRASH_POINTS: [Op; 6] = [
    Op::CreateNetworkInterface,
    Op::CreateNetworkInterface,
    Op::AttachNetworkInterface,
    Op::ModifyNetworkInterfaceAttribute,
    Op::DetachNetworkInterface,
    Op::DeleteNetworkInterface,
];

// ----------------------------------------------------------------------------------------
// The schedule: a pure function of the seed.

/// One node of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeModel {
    pub name: String,
    /// In zone B (its subnet `subnet_b`) rather than zone A.
    pub zone_b: bool,
    pub labelled: bool,
    pub exists: bool,
}

/// One NodeENI of the model. Subnets are indexes into (subnet 1, subnet 2, zone-B subnet).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEniModel {
    pub name: String,
    pub subnets: Vec<usize>,
    pub delete_on_termination: bool,
    pub exists: bool,
}

/// What the cluster holds: the schedule's events change it, and the final one says what the
/// controller must converge to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub nodes: Vec<NodeModel>,
    pub node_enis: Vec<NodeEniModel>,
}

/// An API server fault: which requests, what they get, and the kind it is counted as.
#[derive(Debug, Clone)]
pub struct ApiFault {
    pub kind: &'static str,
    pub rule: FaultRule,
    pub action: FaultAction,
}

/// One event of a run.
#[derive(Debug, Clone)]
pub enum Event {
    /// Crash the leader (or the only replica) at a random point, or right after EC2 carried
    /// out its next call of this operation (before the answer is recorded); restart it.
    Kill {
        after: Option<Op>,
    },
    /// SIGTERM the leader (an orderly handover); restart it.
    Handover,
    /// Replace the EC2 fault plans (one per operation).
    Ec2Faults(Vec<(Op, FaultPlan)>),
    /// Arm these API server faults (each for a few requests).
    ApiFaults(Vec<ApiFault>),
    /// Cut every open watch connection.
    DropWatches,
    /// Compact the API server's history and cut every watch: each re-watch gets 410 Gone.
    Compact,
    /// Terminate the node's instance abruptly; the Node object goes a moment later (as the
    /// cloud node lifecycle controller does).
    Terminate(usize),
    Relabel(usize, bool),
    DeleteNode(usize),
    AddNode(NodeModel),
    /// New subnets and DeleteOnTermination for a NodeENI.
    EditNodeEni(usize, Vec<usize>, bool),
    DeleteNodeEni(usize),
    CreateNodeEni(NodeEniModel),
}

/// One event and the pause after it (the controller works in the meantime).
#[derive(Debug, Clone)]
pub struct Step {
    pub event: Event,
    pub pause: Duration,
}

/// Everything a seed decides.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    /// Two replicas electing a leader, rather than one.
    pub pair: bool,
    /// EC2 with AWS's delays, eventual consistency and token buckets ([`AWS_TIME_SCALE`] times
    /// faster), rather than instant.
    pub aws_timing: bool,
    /// The world before the first event.
    pub initial: Model,
    /// The EC2 fault plans from the start.
    pub ec2: Vec<(Op, FaultPlan)>,
    pub steps: Vec<Step>,
}

impl Schedule {
    /// The schedule of `seed`, with `events` events.
    pub fn from_seed(seed: u64, events: usize) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut model = Model::default();
        for _ in 0..rng.random_range(2..=4) {
            let zone_b = !model.nodes.is_empty() && rng.random_bool(0.25);
            let node = model.new_node(zone_b, rng.random_bool(0.85));
            model.apply(&Event::AddNode(node));
        }
        for _ in 0..rng.random_range(1..=3) {
            let ne = model.new_node_eni(&mut rng);
            model.apply(&Event::CreateNodeEni(ne));
        }
        let initial = model.clone();
        let ec2 = ec2_plans(&mut rng);
        let steps = (0..events)
            .map(|_| {
                let event = next_event(&mut rng, &model);
                model.apply(&event);
                let pause = Duration::from_millis(rng.random_range(50..400));
                Step { event, pause }
            })
            .collect();
        Schedule {
            seed,
            pair: rng.random_bool(0.5),
            aws_timing: rng.random_bool(0.5),
            initial,
            ec2,
            steps,
        }
    }

    /// The world after every event.
    pub fn final_model(&self) -> Model {
        let mut m = self.initial.clone();
        for s in &self.steps {
            m.apply(&s.event);
        }
        m
    }
}

impl Model {
    /// The next node (names are never reused).
    fn new_node(&self, zone_b: bool, labelled: bool) -> NodeModel {
        NodeModel {
            name: format!("node-{}", self.nodes.len()),
            zone_b,
            labelled,
            exists: true,
        }
    }

    /// The next NodeENI (names are never reused: a deleted one may still be going).
    fn new_node_eni(&self, rng: &mut ChaCha8Rng) -> NodeEniModel {
        NodeEniModel {
            name: format!("chaos-{}", self.node_enis.len()),
            subnets: draw_subnets(rng),
            delete_on_termination: rng.random_bool(0.7),
            exists: true,
        }
    }

    /// The world after `event` (faults and crashes leave it alone).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Terminate(i) | Event::DeleteNode(i) => self.nodes[*i].exists = false,
            Event::Relabel(i, l) => self.nodes[*i].labelled = *l,
            Event::AddNode(n) => self.nodes.push(n.clone()),
            Event::EditNodeEni(i, subnets, dot) => {
                self.node_enis[*i].subnets = subnets.clone();
                self.node_enis[*i].delete_on_termination = *dot;
            }
            Event::DeleteNodeEni(i) => self.node_enis[*i].exists = false,
            Event::CreateNodeEni(ne) => self.node_enis.push(ne.clone()),
            _ => {}
        }
    }

    fn live_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].exists)
            .collect()
    }

    fn live_node_enis(&self) -> Vec<usize> {
        (0..self.node_enis.len())
            .filter(|i| self.node_enis[*i].exists)
            .collect()
    }

    /// What the controller must converge to: per NodeENI, one ENI per labelled node and
    /// subnet of the node's zone, all reported ready by the agent; Degraded `AZMismatch` when
    /// a selected node has no subnet in its zone.
    pub fn want(&self) -> Vec<Want> {
        let selected: Vec<&NodeModel> = self
            .nodes
            .iter()
            .filter(|n| n.exists && n.labelled)
            .collect();
        self.node_enis
            .iter()
            .filter(|ne| ne.exists)
            .map(|ne| {
                let per_node: Vec<usize> = selected
                    .iter()
                    .map(|n| ne.subnets.iter().filter(|s| (**s == 2) == n.zone_b).count())
                    .collect();
                let desired = i32::try_from(per_node.iter().sum::<usize>()).unwrap_or(i32::MAX);
                let want = Want::ready(&ne.name, desired);
                if per_node.contains(&0) {
                    want.degraded(reason::AZ_MISMATCH)
                } else {
                    want
                }
            })
            .collect()
    }
}

/// One or two of the three subnets.
fn draw_subnets(rng: &mut ChaCha8Rng) -> Vec<usize> {
    let first = rng.random_range(0..3);
    if rng.random_bool(0.5) {
        vec![first]
    } else {
        vec![first, (first + rng.random_range(1..3)) % 3]
    }
}

/// The next event, valid in `model` (edits and deletes pick something that exists).
fn next_event(rng: &mut ChaCha8Rng, model: &Model) -> Event {
    loop {
        let nodes = model.live_nodes();
        let nes = model.live_node_enis();
        let event = match rng.random_range(0..16) {
            0 | 1 => Event::Kill { after: None },
            2 | 3 => Event::Kill {
                after: CRASH_POINTS.choose(rng).copied(),
            },
            4 => Event::Handover,
            5 | 6 => Event::Ec2Faults(ec2_plans(rng)),
            7 | 8 => Event::ApiFaults(api_faults(rng)),
            9 if rng.random_bool(0.5) => Event::DropWatches,
            9 => Event::Compact,
            10 if !nodes.is_empty() => Event::Terminate(*nodes.choose(rng).unwrap_or(&0)),
            11 if !nodes.is_empty() => {
                let i = *nodes.choose(rng).unwrap_or(&0);
                Event::Relabel(i, !model.nodes[i].labelled)
            }
            12 if !nodes.is_empty() => Event::DeleteNode(*nodes.choose(rng).unwrap_or(&0)),
            13 if model.nodes.len() < MAX_NODES => {
                Event::AddNode(model.new_node(rng.random_bool(0.25), true))
            }
            14 if !nes.is_empty() => Event::EditNodeEni(
                *nes.choose(rng).unwrap_or(&0),
                draw_subnets(rng),
                rng.random_bool(0.7),
            ),
            15 if !nes.is_empty() && rng.random_bool(0.5) => {
                Event::DeleteNodeEni(*nes.choose(rng).unwrap_or(&0))
            }
            15 if model.node_enis.len() < MAX_NODE_ENIS => {
                Event::CreateNodeEni(model.new_node_eni(rng))
            }
            _ => continue,
        };
        return event;
    }
}

/// EC2 fault plans for every operation: about one call in five fails. Describes fail 20 % of
/// the time with an error (a throttle or a 5xx, drawn per operation); calls that change
/// something fail 12 % of the time and, of the rest, 10 % are carried out with their answer
/// lost (a timeout after EC2 acted). A third of the operations answer 20–150 ms late.
fn ec2_plans(rng: &mut ChaCha8Rng) -> Vec<(Op, FaultPlan)> {
    Op::ALL
        .iter()
        .map(|op| {
            let mutating = op.family() == multi_eni_ec2::ApiFamily::Mutating;
            let code = EC2_CODES.choose(rng).copied().unwrap_or(EC2_CODES[0]);
            let mut plan = FaultPlan::errors(if mutating { 0.12 } else { 0.2 }, code);
            if mutating {
                plan.lost_response_rate = 0.1;
            }
            if rng.random_bool(0.33) {
                plan.latency = Duration::from_millis(rng.random_range(20..150));
            }
            (*op, plan)
        })
        .collect()
}

/// One to three API server faults, each for a few requests. Only requests the test itself
/// never makes while faults are armed are hit (the test's own writes would fail too: the
/// double cannot tell clients apart): the controller's and the agent's writes, the Lease
/// renewals, and lists.
fn api_faults(rng: &mut ChaCha8Rng) -> Vec<ApiFault> {
    let conflict = |rule: FaultRule| ApiFault {
        kind: "API 409 Conflict",
        rule,
        action: FaultAction::Conflict,
    };
    let fail = |code: u16, rule: FaultRule| ApiFault {
        kind: "API 5xx",
        rule,
        action: FaultAction::Fail {
            code,
            reason: if code == 503 {
                "ServiceUnavailable"
            } else {
                "InternalError"
            },
            message: format!("injected by the chaos campaign ({code})"),
        },
    };
    let atts = || FaultRule::any().resource("eniattachments");
    (0..rng.random_range(1..=3))
        .map(|_| {
            let n = rng.random_range(1..=4);
            let code = *[500, 503].choose(rng).unwrap_or(&500);
            match rng.random_range(0..9) {
                0 => conflict(atts().verb(Verb::Patch).times(n)),
                1 => conflict(atts().verb(Verb::Patch).subresource("status").times(n)),
                2 => conflict(
                    FaultRule::any()
                        .verb(Verb::Update)
                        .resource("leases")
                        .times(n),
                ),
                3 => fail(code, atts().verb(Verb::Create).times(n)),
                4 => fail(code, atts().verb(Verb::Delete).times(n)),
                5 => fail(
                    code,
                    FaultRule::any()
                        .verb(Verb::Patch)
                        .resource("nodeenis")
                        .subresource("status")
                        .times(n),
                ),
                6 => ApiFault {
                    kind: "API 504 Timeout",
                    rule: atts().verb(Verb::Patch).subresource("status").times(n),
                    action: FaultAction::Timeout(Duration::from_millis(100)),
                },
                7 => {
                    let resource = *["nodes", "nodeenis", "eniattachments"]
                        .choose(rng)
                        .unwrap_or(&"nodes");
                    ApiFault {
                        kind: "API 410 Expired on list",
                        rule: FaultRule::any()
                            .verb(Verb::List)
                            .resource(resource)
                            .times(1),
                        action: FaultAction::Fail {
                            code: 410,
                            reason: "Expired",
                            message: "injected: the list's resourceVersion is too old".into(),
                        },
                    }
                }
                _ => fail(
                    code,
                    FaultRule::any()
                        .verb(Verb::List)
                        .resource(["nodes", "nodeenis"].choose(rng).unwrap_or(&"nodes"))
                        .times(1),
                ),
            }
        })
        .collect()
}

// ----------------------------------------------------------------------------------------
// Counting what was injected.

/// Faults and events by kind, as actually injected (the simulator's counters, the fault
/// handles' hits, the events carried out).
#[derive(Debug, Clone, Default)]
pub struct Tally(pub BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, kind: &str, n: u64) {
        if n > 0 && !kind.is_empty() {
            *self.0.entry(kind.to_owned()).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The EC2 fault plans in force and the simulator's counters when they were set.
struct Ec2Window {
    plans: Vec<(Op, FaultPlan)>,
    since: BTreeMap<Op, multi_eni_ec2_sim::CallStats>,
}

impl Ec2Window {
    fn open(sim: &Ec2Sim, plans: Vec<(Op, FaultPlan)>) -> Ec2Window {
        sim.clear_faults();
        for (op, plan) in &plans {
            sim.set_faults(*op, plan.clone());
        }
        Ec2Window {
            plans,
            since: sim.all_stats(),
        }
    }

    /// Lifts the plans and counts what they injected; returns the calls made under them.
    fn close(self, sim: &Ec2Sim, tally: &mut Tally) -> u64 {
        sim.clear_faults();
        let now = sim.all_stats();
        let mut calls = 0;
        for (op, plan) in &self.plans {
            let (a, b) = (
                self.since.get(op).copied().unwrap_or_default(),
                now.get(op).copied().unwrap_or_default(),
            );
            tally.add(
                &format!("EC2 {}", plan.error_code),
                b.injected_errors - a.injected_errors,
            );
            tally.add(
                "EC2 lost response (carried out, answer lost)",
                b.lost_responses - a.lost_responses,
            );
            if !plan.latency.is_zero() {
                tally.add("EC2 call delayed 20-150 ms", b.calls - a.calls);
            }
            calls += b.calls - a.calls;
        }
        calls
    }
}

// ----------------------------------------------------------------------------------------
// Running a schedule.

/// A planted flaw in the EC2 the controller talks to, to show the campaign catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Every DeleteNetworkInterface answers success and deletes nothing.
    DropsDeletes,
}

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events per run.
    pub events: usize,
    /// How long convergence (and then the teardown) may take once faults are lifted.
    pub settle: Duration,
    pub flaw: Option<Flaw>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            events: 8,
            settle: Duration::from_secs(60),
            flaw: None,
        }
    }
}

/// Which invariant a run broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// An ENI of the cluster belongs to no ENIAttachment.
    LeakedEni,
    /// Two ENIs for one (NodeENI, node, subnet) or one ENIAttachment.
    DuplicateEni,
    /// Not converged to the final world's wants.
    NotConverged,
    /// After deleting every NodeENI, a NodeENI or ENIAttachment is still there (a finalizer).
    StuckFinalizer,
    /// After the teardown, EC2 still holds ENIs of the cluster.
    EnisLeft,
    /// The harness itself panicked (e.g. a step's own deadline).
    Panicked,
}

/// One broken invariant, with what was seen.
#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}

/// The outcome of one seed.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub seed: u64,
    pub took: Duration,
    pub tally: Tally,
    /// EC2 calls made while fault plans were on (what the EC2 faults are a share of).
    pub ec2_calls: u64,
    /// From faults off to converged.
    pub converge: Duration,
    /// From deleting every NodeENI to nothing left.
    pub teardown: Duration,
    pub pair: bool,
    pub aws_timing: bool,
    pub violation: Option<Violation>,
}

/// The controller processes of a run, each behind its own [`Gate`] (or the flawed EC2).
struct Replicas {
    pair: bool,
    flawed: Option<Arc<dyn Ec2>>,
    running: Vec<(Replica, Option<Arc<Gate>>)>,
    started: u32,
}

impl Replicas {
    fn start(&mut self, s: &System) {
        let id = self.pair.then(|| format!("replica-{}", self.started));
        self.started += 1;
        let (ec2, gate): (Arc<dyn Ec2>, _) = match &self.flawed {
            Some(f) => (f.clone(), None),
            None => {
                let g = Gate::new(s.sim().clone());
                (g.clone(), Some(g))
            }
        };
        self.running.push((s.start_with(id.as_deref(), ec2), gate));
    }

    /// What a kubelet does: a process that ended by itself (a preflight refused by an
    /// injected fault) is started again; a pair is kept a pair.
    fn supervise(&mut self, s: &System, tally: &mut Tally) {
        let before = self.running.len();
        self.running.retain(|(r, _)| !r.finished());
        tally.add(
            "replica exited by itself (restarted)",
            (before - self.running.len()) as u64,
        );
        let want = if self.pair { 2 } else { 1 };
        while self.running.len() < want {
            self.start(s);
        }
    }

    /// The leader's position (the first replica when the Lease names none of them).
    async fn leader(&self, s: &System) -> usize {
        if !self.pair {
            return 0;
        }
        let holder = s.lease_holder().await;
        self.running
            .iter()
            .position(|(r, _)| r.identity.is_some() && r.identity == holder)
            .unwrap_or(0)
    }

    async fn kill(&mut self, s: &System, after: Option<Op>, tally: &mut Tally) {
        let i = self.leader(s).await;
        let (replica, gate) = self.running.remove(i);
        let mut hung = false;
        if let (Some(op), Some(g)) = (after, gate) {
            g.hang_after(op);
            hung = tokio::time::timeout(Duration::from_secs(2), g.hit.notified())
                .await
                .is_ok();
        }
        replica.kill().await;
        self.count_leader_change(tally);
        match after {
            Some(op) if hung => tally.add(&format!("crash right after {op}, unrecorded"), 1),
            _ => tally.add("crash at a random point", 1),
        }
        self.start(s);
    }

    async fn handover(&mut self, s: &System, tally: &mut Tally) {
        let i = self.leader(s).await;
        let (replica, _) = self.running.remove(i);
        replica.stop().await;
        self.count_leader_change(tally);
        tally.add("orderly stop of the leader (SIGTERM)", 1);
        self.start(s);
    }

    /// Of two replicas, the one that took over from a killed or stopped leader is another.
    fn count_leader_change(&self, tally: &mut Tally) {
        if self.pair {
            tally.add("forced leader change (of two replicas)", 1);
        }
    }
}

/// A run in progress: the system, its replicas, the instances behind the nodes, the faults in
/// force, and the world as the events so far made it.
struct Run<'a> {
    s: &'a System,
    replicas: Replicas,
    instances: BTreeMap<String, String>,
    window: Option<Ec2Window>,
    api_hits: Vec<(&'static str, FaultHandle)>,
    model: Model,
    tally: Tally,
    /// EC2 calls made while fault plans were on.
    ec2_calls: u64,
}

impl Run<'_> {
    fn subnet(&self, i: usize) -> String {
        let e = &self.s.w.ec2;
        [&e.subnet_1, &e.subnet_2, &e.subnet_b][i].clone()
    }

    fn server(&self) -> &multi_eni_kube_double::ApiServerHandle {
        self.s.w.server.as_ref().expect("on the double")
    }

    async fn add_node(&mut self, n: &NodeModel) {
        let e = &self.s.w.ec2;
        let subnet = if n.zone_b { &e.subnet_b } else { &e.subnet_1 };
        let instance = self
            .s
            .w
            .node(&n.name, subnet, INSTANCE_TYPE, n.labelled)
            .await;
        self.instances.insert(n.name.clone(), instance);
    }

    fn spec(&self, ne: &NodeEniModel) -> serde_json::Value {
        let subnets: Vec<String> = ne.subnets.iter().map(|i| self.subnet(*i)).collect();
        json!({
            "subnetIDs": subnets, "securityGroupIDs": [self.s.w.ec2.sg],
            "deleteOnTermination": ne.delete_on_termination,
        })
    }

    /// Carries out one event, then moves the model past it.
    async fn apply(&mut self, event: &Event) {
        self.model.apply(event);
        let (w, m) = (&self.s.w, &self.model);
        let node = |i: usize| m.nodes[i].name.clone();
        match event {
            Event::Kill { after } => self.replicas.kill(self.s, *after, &mut self.tally).await,
            Event::Handover => self.replicas.handover(self.s, &mut self.tally).await,
            Event::Ec2Faults(plans) => self.ec2_faults(plans.clone()),
            Event::ApiFaults(faults) => self.arm(faults),
            Event::DropWatches => self.server().faults().drop_watches(),
            Event::Compact => {
                self.server().compact_history();
                self.server().faults().drop_watches();
            }
            Event::Terminate(i) => {
                let instance = self.instances.get(&node(*i)).cloned().unwrap_or_default();
                let sim = self.s.sim();
                sim.terminate_instance(&instance).expect("terminate");
                // The schedule's pace: EC2 acts first, the Node object goes a moment later.
                tokio::time::sleep(Duration::from_millis(200)).await;
                w.delete_node(&node(*i)).await;
            }
            Event::Relabel(i, l) => w.label(&node(*i), *l).await,
            Event::DeleteNode(i) => w.delete_node(&node(*i)).await,
            Event::AddNode(n) => self.add_node(n).await,
            Event::EditNodeEni(i, ..) => {
                let ne = &m.node_enis[*i];
                w.patch_spec(&ne.name, self.spec(ne)).await;
            }
            Event::DeleteNodeEni(i) => w.delete_node_eni(&m.node_enis[*i].name).await,
            Event::CreateNodeEni(ne) => {
                w.create_node_eni(&ne.name, self.spec(ne)).await;
            }
        }
        self.tally.add(event_kind(event), 1);
    }

    /// Replaces the EC2 fault plans (`[]`: none), counting what the old ones injected.
    fn ec2_faults(&mut self, plans: Vec<(Op, FaultPlan)>) {
        let sim = self.s.sim();
        if let Some(old) = self.window.take() {
            self.ec2_calls += old.close(sim, &mut self.tally);
        }
        if !plans.is_empty() {
            self.window = Some(Ec2Window::open(sim, plans));
        }
    }

    fn arm(&mut self, faults: &[ApiFault]) {
        let server = self.server().faults();
        let handles: Vec<_> = faults
            .iter()
            .map(|f| (f.kind, server.inject(f.rule.clone(), f.action.clone())))
            .collect();
        self.api_hits.extend(handles);
    }

    /// Lifts every fault and counts what the API faults hit.
    fn faults_off(&mut self) {
        self.ec2_faults(Vec::new());
        self.server().faults().clear();
        for (kind, h) in self.api_hits.drain(..) {
            self.tally.add(kind, h.hits() as u64);
        }
    }
}

/// What an event is counted as (faults are counted by what they injected instead).
fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::Kill { .. } | Event::Handover | Event::Ec2Faults(_) | Event::ApiFaults(_) => "",
        Event::DropWatches => "API watches cut",
        Event::Compact => "API history compacted, watches cut (410 Gone on re-watch)",
        Event::Terminate(_) => "instance terminated abruptly",
        Event::Relabel(..) => "node relabelled",
        Event::DeleteNode(_) => "node deleted",
        Event::AddNode(_) => "node added",
        Event::EditNodeEni(..) => "NodeENI edited mid-rollout",
        Event::DeleteNodeEni(_) => "NodeENI deleted mid-rollout",
        Event::CreateNodeEni(_) => "NodeENI created mid-rollout",
    }
}

/// Waits until `check` holds, or returns what it said last once `deadline` passes.
async fn settles<F, Fut>(deadline: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(last) if tokio::time::Instant::now() >= end => return Err(last),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Which invariant a failed [`System::check`] broke.
fn classify(err: &str, teardown: bool) -> Invariant {
    if err.starts_with("leaked ENI") {
        Invariant::LeakedEni
    } else if err.starts_with("several ENIs") {
        Invariant::DuplicateEni
    } else if teardown {
        Invariant::StuckFinalizer
    } else {
        Invariant::NotConverged
    }
}

/// The system for `schedule`: the world before the first event, EC2 faults on, the replicas,
/// the agent, the first NodeENIs.
async fn set_up<'a>(s: &'a System, schedule: &Schedule, opts: &Options) -> Run<'a> {
    let flawed: Option<Arc<dyn Ec2>> = opts.flaw.map(|f| {
        Arc::new(Flawed {
            sim: s.sim().clone(),
            flaw: f,
        }) as Arc<dyn Ec2>
    });
    let mut run = Run {
        s,
        replicas: Replicas {
            pair: schedule.pair,
            flawed,
            running: Vec::new(),
            started: 0,
        },
        instances: BTreeMap::new(),
        window: None,
        api_hits: Vec::new(),
        model: schedule.initial.clone(),
        tally: Tally::default(),
        ec2_calls: 0,
    };
    for n in &schedule.initial.nodes {
        run.add_node(n).await;
    }
    run.ec2_faults(schedule.ec2.clone());
    run.replicas.supervise(s, &mut Tally::default());
    for ne in &schedule.initial.node_enis {
        s.w.create_node_eni(&ne.name, run.spec(ne)).await;
    }
    run
}

/// Carries out `schedule` and checks the invariants.
pub async fn run(schedule: &Schedule, opts: &Options) -> RunReport {
    let started = Instant::now();
    let sim = if schedule.aws_timing {
        SimConfig::default().with_time_scale(AWS_TIME_SCALE)
    } else {
        SimConfig::instant()
    };
    let mut s = System::with_sim(sim.with_seed(schedule.seed)).await;
    s.config.lifecycle.detach_timeout = Duration::from_secs(1);
    let agent = s.agent(true);
    let mut run = set_up(&s, schedule, opts).await;
    for step in &schedule.steps {
        run.replicas.supervise(&s, &mut run.tally);
        run.apply(&step.event).await;
        // The schedule's pace: the controller works between events.
        tokio::time::sleep(step.pause).await;
    }
    run.faults_off();
    // The agent starts over, so a report it lost to a fault is made again.
    agent.cancel();
    let agent = s.agent(true);
    run.replicas.supervise(&s, &mut run.tally);
    let mut times = [Duration::ZERO; 2];
    let violation = finish(&s, &run.model, opts.settle, &mut times).await;
    agent.cancel();
    let throttled: u64 = s.sim().all_stats().values().map(|c| c.throttled).sum();
    run.tally.add(
        "EC2 RequestLimitExceeded from the token buckets (not injected)",
        throttled,
    );
    let (tally, ec2_calls) = (std::mem::take(&mut run.tally), run.ec2_calls);
    drop(run);
    RunReport {
        seed: schedule.seed,
        took: started.elapsed(),
        tally,
        ec2_calls,
        converge: times[0],
        teardown: times[1],
        pair: schedule.pair,
        aws_timing: schedule.aws_timing,
        violation,
    }
}

/// Converges to the final world's wants, then deletes every NodeENI and checks nothing is left.
/// Records how long convergence and the teardown took.
async fn finish(
    s: &System,
    model: &Model,
    settle: Duration,
    times: &mut [Duration; 2],
) -> Option<Violation> {
    let want = model.want();
    let from = Instant::now();
    if let Err(e) = settles(settle, || s.check(&want)).await {
        return Some(Violation {
            invariant: classify(&e, false),
            detail: e,
        });
    }
    times[0] = from.elapsed();
    let from = Instant::now();
    for ne in model.node_enis.iter().filter(|n| n.exists) {
        s.w.delete_node_eni(&ne.name).await;
    }
    if let Err(e) = settles(settle, || s.check(&[])).await {
        return Some(Violation {
            invariant: classify(&e, true),
            detail: e,
        });
    }
    times[1] = from.elapsed();
    let left = s.ours();
    (!left.is_empty()).then(|| Violation {
        invariant: Invariant::EnisLeft,
        detail: format!("{} ENIs of the cluster left in EC2", left.len()),
    })
}

// ----------------------------------------------------------------------------------------
// A campaign of many seeds.

/// The seeds of a campaign: `MULTI_ENI_CHAOS_SEED` alone when set, else `base..base + runs`.
pub fn seeds(base: u64, runs: u64) -> Vec<u64> {
    match std::env::var(SEED_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        Some(seed) => vec![seed],
        None => (base..base + runs).collect(),
    }
}

/// Every run's report.
#[derive(Debug, Clone, Default)]
pub struct Campaign {
    pub runs: Vec<RunReport>,
}

/// Runs every seed, `parallel` at a time, each on its own task (a panic is one run's
/// violation, not the campaign's end). `replay` is the command that replays one seed.
pub async fn campaign(seeds: &[u64], parallel: usize, opts: &Options) -> Campaign {
    let mut runs: Vec<RunReport> = futures::stream::iter(seeds.iter().copied())
        .map(|seed| {
            let opts = opts.clone();
            async move {
                let schedule = Schedule::from_seed(seed, opts.events);
                let started = Instant::now();
                match tokio::spawn(async move { run(&schedule, &opts).await }).await {
                    Ok(r) => r,
                    Err(e) => RunReport {
                        seed,
                        took: started.elapsed(),
                        tally: Tally::default(),
                        ec2_calls: 0,
                        converge: Duration::ZERO,
                        teardown: Duration::ZERO,
                        pair: false,
                        aws_timing: false,
                        violation: Some(Violation {
                            invariant: Invariant::Panicked,
                            detail: e.to_string(),
                        }),
                    },
                }
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    runs.sort_by_key(|r| r.seed);
    Campaign { runs }
}

impl Campaign {
    pub fn violations(&self) -> Vec<&RunReport> {
        self.runs.iter().filter(|r| r.violation.is_some()).collect()
    }

    /// The report: runs, faults by kind, violations by invariant, each failing seed with the
    /// command that replays it, and every seed with its time and faults.
    pub fn table(&self, replay: &str) -> String {
        let mut tally = Tally::default();
        for r in &self.runs {
            tally.merge(&r.tally);
        }
        let mut out = String::new();
        let secs: f64 = self.runs.iter().map(|r| r.took.as_secs_f64()).sum();
        let count = |f: fn(&RunReport) -> bool| self.runs.iter().filter(|r| f(r)).count();
        let _ = writeln!(
            out,
            "chaos campaign: {} runs ({} with two replicas, {} with AWS-like EC2 timing ×{}), \
             {} violations, {:.0} s of runs",
            self.runs.len(),
            count(|r| r.pair),
            count(|r| r.aws_timing),
            AWS_TIME_SCALE,
            self.violations().len(),
            secs
        );
        let _ = writeln!(out, "\n| injected | count |\n| --- | ---: |");
        for (k, v) in &tally.0 {
            let _ = writeln!(out, "| {k} | {v} |");
        }
        let _ = writeln!(out, "| **total** | **{}** |", tally.total());
        let calls: u64 = self.runs.iter().map(|r| r.ec2_calls).sum();
        let failed: u64 = (tally.0.iter())
            .filter(|(k, _)| {
                k.starts_with("EC2 ") && !k.contains("delayed") && !k.contains("not injected")
            })
            .map(|(_, v)| v)
            .sum();
        let _ = writeln!(
            out,
            "\nEC2 calls while fault plans were on: {calls}, of which failed or answer lost: \
             {failed} ({:.1} %)",
            100.0 * failed as f64 / calls.max(1) as f64
        );
        let mut by: BTreeMap<Invariant, u64> = BTreeMap::new();
        for r in self.violations() {
            if let Some(v) = &r.violation {
                *by.entry(v.invariant).or_default() += 1;
            }
        }
        let _ = writeln!(out, "\n| invariant | violations |\n| --- | ---: |");
        for inv in [
            Invariant::LeakedEni,
            Invariant::DuplicateEni,
            Invariant::NotConverged,
            Invariant::StuckFinalizer,
            Invariant::EnisLeft,
            Invariant::Panicked,
        ] {
            let _ = writeln!(out, "| {inv:?} | {} |", by.get(&inv).unwrap_or(&0));
        }
        for r in self.violations() {
            if let Some(v) = &r.violation {
                let _ = writeln!(
                    out,
                    "\nFAILED seed {}: {:?}: {}\n  replay: {SEED_ENV}={} {replay}",
                    r.seed, v.invariant, v.detail, r.seed
                );
            }
        }
        let slowest = |f: fn(&RunReport) -> Duration| {
            let r = self.runs.iter().max_by_key(|r| f(r));
            r.map(|r| (f(r).as_secs_f64(), r.seed)).unwrap_or_default()
        };
        let (c, cs) = slowest(|r| r.converge);
        let (t, ts) = slowest(|r| r.teardown);
        let _ = writeln!(
            out,
            "\nslowest convergence once faults were lifted: {c:.1} s (seed {cs}); slowest \
             teardown: {t:.1} s (seed {ts})"
        );
        let _ = writeln!(out, "\nseed: seconds, faults and events injected");
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{}: {:.1} s (converged {:.1} s after the faults, torn down in {:.1} s), {}{}{}{}",
                r.seed,
                r.took.as_secs_f64(),
                r.converge.as_secs_f64(),
                r.teardown.as_secs_f64(),
                r.tally.total(),
                if r.pair { ", two replicas" } else { "" },
                if r.aws_timing { ", AWS timing" } else { "" },
                if r.violation.is_some() { " FAILED" } else { "" }
            );
        }
        out
    }
}

// ----------------------------------------------------------------------------------------
// The planted flaw.

/// The simulator with one thing wrong (see [`Flaw`]).
#[derive(Debug)]
struct Flawed {
    sim: Arc<Ec2Sim>,
    flaw: Flaw,
}

#[async_trait]
impl Ec2 for Flawed {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        self.sim.create_network_interface(req).await
    }
    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        self.sim.attach_network_interface(req).await
    }
    async fn modify_network_interface_attribute(
        &self,
        id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.sim
            .modify_network_interface_attribute(id, change)
            .await
    }
    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        self.sim.detach_network_interface(req).await
    }
    async fn delete_network_interface(&self, id: &str) -> Result<(), Ec2Error> {
        match self.flaw {
            Flaw::DropsDeletes => {
                tracing::debug!(eni = id, "planted flaw: the delete is dropped");
                Ok(())
            }
        }
    }
    async fn describe_network_interfaces(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        self.sim.describe_network_interfaces(q).await
    }
    async fn create_tags(&self, ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        self.sim.create_tags(ids, tags).await
    }
    async fn describe_instances(&self, q: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.sim.describe_instances(q).await
    }
    async fn describe_subnets(&self, q: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.sim.describe_subnets(q).await
    }
    async fn describe_security_groups(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.sim.describe_security_groups(q).await
    }
    async fn describe_instance_types(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.sim.describe_instance_types(q).await
    }
}
