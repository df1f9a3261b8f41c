//! What the controller spends: EC2 calls by action and Kubernetes API writes, per ENI, for a
//! rollout, an idle period and a teardown of the Go controller's sample 01 (two subnet names, a
//! security group name, device index 2, DeleteOnTermination) on `nodes` nodes — the whole
//! controller process on the API double and the simulator with AWS-like timing and token
//! buckets. Shared by the benchmark (`benches/ec2_cost.rs`, which prints the table) and the
//! short test (`tests/ec2_cost.rs`, which holds the targets on a small fleet).

#![allow(dead_code)]

#[path = "system.rs"]
pub mod system;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use multi_eni_ec2::Op;
use multi_eni_ec2_sim::SimConfig;
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

/// EC2 seconds per real second in the measured runs, by default. EC2's delays and buckets are
/// compressed by it; the controller's own timers (poll, the describe batch window) are not, so
/// a lower scale is closer to production: `measure_at` takes another.
pub const TIME_SCALE: f64 = 50.0;
/// The resync period, in EC2 time the controller's default (5 minutes).
const RESYNC_EC2_TIME: Duration = Duration::from_secs(300);
/// Idle resync passes measured.
pub const IDLE_PASSES: u64 = 3;
/// The NodeENI.
const NAME: &str = "multi-subnet-nodeeni";

/// The mutating calls of an ENI's life.
pub const MUTATING: [Op; 5] = [
    Op::CreateNetworkInterface,
    Op::AttachNetworkInterface,
    Op::ModifyNetworkInterfaceAttribute,
    Op::DetachNetworkInterface,
    Op::DeleteNetworkInterface,
];

/// Calls (requests received, throttled ones included) by action.
pub type Calls = BTreeMap<Op, u64>;

/// One measured run.
#[derive(Debug, Clone)]
pub struct Report {
    /// EC2 seconds per real second.
    pub time_scale: f64,
    /// ENIs rolled out (two per node).
    pub enis: u64,
    /// EC2 calls from NodeENI creation until every ENI is attached and counted in status.
    pub rollout: Calls,
    /// EC2 calls over [`IDLE_PASSES`] resync periods with nothing changing.
    pub idle: Calls,
    /// EC2 calls from NodeENI deletion until it and every ENI are gone.
    pub teardown: Calls,
    /// Kubernetes API writes (create, update, patch, delete) in each phase.
    pub writes: (usize, usize, usize),
}

/// Calls of `ops` in `calls`.
pub fn sum(calls: &Calls, ops: &[Op]) -> u64 {
    ops.iter()
        .map(|op| calls.get(op).copied().unwrap_or(0))
        .sum()
}

/// Waits until the resync listed the cluster's ENIs `n` times in all (one page each here).
async fn listings(gate: &Arc<Gate>, n: u64, period: Duration) {
    let seen = gate.listings.load(Ordering::Relaxed);
    let deadline = WAIT + period * u32::try_from(n.saturating_sub(seen)).unwrap_or(u32::MAX);
    wait_until(deadline, "resync listings", || async {
        match gate.listings.load(Ordering::Relaxed) {
            seen if seen >= n => Ok(()),
            seen => Err(format!("{seen} listings")),
        }
    })
    .await;
}

fn snapshot(s: &System) -> Calls {
    s.sim()
        .all_stats()
        .into_iter()
        .map(|(op, st)| (op, st.calls))
        .collect()
}

/// Rolls sample 01 out to `nodes` nodes, idles, tears it down; counts everything.
pub async fn measure(nodes: usize) -> Report {
    measure_at(nodes, TIME_SCALE).await
}

/// [`measure`] with EC2 running `time_scale` times faster than real.
pub async fn measure_at(nodes: usize, time_scale: f64) -> Report {
    let mut s = System::with_sim(SimConfig::default().with_time_scale(time_scale)).await;
    s.config.resync_period = RESYNC_EC2_TIME.div_f64(time_scale);
    s.config.lifecycle.poll = Duration::from_millis(100);
    // The controller's default: how many reconciles run at once is what lets them share calls.
    s.config.concurrency = 16;
    let subnet = s.w.ec2.subnet_1.clone();
    let mut instances = Vec::new();
    for i in 0..nodes {
        let instance =
            s.w.node(&format!("node-{i:03}"), &subnet, FOUR_ENIS, true)
                .await;
        instances.push(instance);
    }
    // Nodes join a cluster once their instances run.
    wait_until(WAIT, "the instances to run", || async {
        let pending = instances
            .iter()
            .filter(|id| {
                s.sim()
                    .instance(id)
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
    let enis = u64::try_from(nodes * 2).unwrap_or(u64::MAX);
    let gate = Gate::new(s.sim().clone());
    let ctl = s.start_with(None, gate.clone());
    // Preflight and the first resync pass happen before the NodeENI exists: the rollout is
    // counted from its creation.
    listings(&gate, 1, s.config.resync_period).await;

    s.sim().reset_stats();
    // The double counts a request against the first rule it matches: one counter, read at
    // each phase's end.
    let writes = s.w.count_writes();
    s.w.create_node_eni(
        NAME,
        json!({"subnetNames": [SUBNET_1, SUBNET_2], "securityGroupNames": [SG],
               "deviceIndex": 2, "mtu": 9001, "deleteOnTermination": true,
               "description": "NodeENI created with subnet names and security group name"}),
    )
    .await;
    let want = i32::try_from(enis).unwrap_or(i32::MAX);
    s.converged(&[Want::attached(NAME, want)]).await;
    let rollout = snapshot(&s);
    let rollout_writes = writes.total();

    // Idle means steady: the period in which the rollout ended is not counted.
    let from = gate.listings.load(Ordering::Relaxed);
    listings(&gate, from + 1, s.config.resync_period).await;
    s.sim().reset_stats();
    let idle_from = writes.total();
    let from = gate.listings.load(Ordering::Relaxed);
    listings(&gate, from + IDLE_PASSES, s.config.resync_period).await;
    let idle = snapshot(&s);
    let idle_writes = writes.total() - idle_from;
    let before_teardown = writes.total();

    s.sim().reset_stats();
    s.w.delete_node_eni(NAME).await;
    s.converged(&[]).await;
    wait_until(WAIT, "every ENI gone", || async {
        match s.ours().len() {
            0 => Ok(()),
            n => Err(format!("{n} ENIs left")),
        }
    })
    .await;
    let teardown = snapshot(&s);
    let teardown_writes = writes.total() - before_teardown;
    ctl.stop().await;
    Report {
        time_scale,
        enis,
        rollout,
        idle,
        teardown,
        writes: (rollout_writes, idle_writes, teardown_writes),
    }
}

fn per(n: u64, enis: u64) -> f64 {
    // Counts far below 2^52: exact as f64.
    n as f64 / enis.max(1) as f64
}

impl Report {
    /// Mutating calls per ENI over a whole life (rollout + teardown).
    pub fn mutating_per_eni(&self) -> f64 {
        per(
            sum(&self.rollout, &MUTATING) + sum(&self.teardown, &MUTATING),
            self.enis,
        )
    }

    /// Describe calls (all five APIs) per ENI over the rollout.
    pub fn rollout_describes_per_eni(&self) -> f64 {
        per(sum(&self.rollout, &DESCRIBES), self.enis)
    }

    /// The table the benchmark prints: calls by action, per ENI, with the targets.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let enis = self.enis;
        let _ = writeln!(
            out,
            "{enis} ENIs ({} nodes × 2 subnets), simulator at AWS-like timing and buckets ×{}\n",
            enis / 2,
            self.time_scale
        );
        let _ = writeln!(
            out,
            "| action | rollout | per ENI | idle ({IDLE_PASSES} resyncs) | teardown | per ENI |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for op in MUTATING.iter().chain(DESCRIBES.iter()) {
            let (r, i, t) = (
                self.rollout.get(op).copied().unwrap_or(0),
                self.idle.get(op).copied().unwrap_or(0),
                self.teardown.get(op).copied().unwrap_or(0),
            );
            let _ = writeln!(
                out,
                "| {op:?} | {r} | {:.2} | {i} | {t} | {:.2} |",
                per(r, enis),
                per(t, enis)
            );
        }
        let (rw, iw, tw) = self.writes;
        let _ = writeln!(
            out,
            "| Kubernetes API writes | {rw} | {:.2} | {iw} | {tw} | {:.2} |\n",
            per(u64::try_from(rw).unwrap_or(0), enis),
            per(u64::try_from(tw).unwrap_or(0), enis)
        );
        let idle_describes = sum(&self.idle, &DESCRIBES);
        let _ = writeln!(
            out,
            "mutating calls per ENI life: {:.2} (target ≤ 5)\n\
             describes per ENI over the rollout: {:.3} (target ≤ 0.2)\n\
             describes per idle resync: {:.2} for {enis} attachments (target: O(pages) — one page holds 1000)\n\
             other EC2 calls while idle: {} (target 0)\n\
             Kubernetes API writes while idle: {iw} (target 0)",
            self.mutating_per_eni(),
            self.rollout_describes_per_eni(),
            per(idle_describes, IDLE_PASSES),
            self.idle.values().sum::<u64>() - idle_describes,
        );
        out
    }
}
