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
//! The schedule is `chaos_schedule.rs` (pure), the planted flaw `flawed_ec2.rs`; this file runs
//! schedules and reports. Shared by `tests/chaos.rs` (20 runs, in `cargo test`) and
//! `benches/chaos.rs` (the full campaign, which prints [`Campaign::table`]).
//! `docs/reliability.md` has the results.

#![allow(dead_code)]

#[path = "system.rs"]
pub mod system;

#[path = "chaos_schedule.rs"]
pub mod schedule;

#[path = "flawed_ec2.rs"]
pub mod flawed;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use multi_eni_ec2::{Ec2, Op};
use multi_eni_ec2_sim::{Ec2Sim, FaultPlan, SimConfig};
use multi_eni_kube_double::FaultHandle;
use serde_json::json;
use system::*;

pub use flawed::Flaw;
use flawed::Flawed;
pub use schedule::*;

/// How much faster than EC2 the simulator runs in runs with AWS-like timing: an attach takes
/// 200 ms, describes lag 100–300 ms behind, buckets refill ten times faster.
pub const AWS_TIME_SCALE: f64 = 10.0;
/// The environment variable that replays one seed.
pub const SEED_ENV: &str = "MULTI_ENI_CHAOS_SEED";
/// Every node's instance type: room for 14 ENIs, so no run hits the interface limit.
const INSTANCE_TYPE: &str = "c5n.18xlarge";

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
    if let Err(e) = multi_eni_testkit::poll_until(settle, || s.check(&want)).await {
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
    if let Err(e) = multi_eni_testkit::poll_until(settle, || s.check(&[])).await {
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
