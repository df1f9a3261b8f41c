//! The campaign's schedules: what a seed decides before anything runs — the fleet, one or two
//! replicas, instant or AWS-like EC2, and the events of the run — and the world they leave, from
//! which the wants are computed. Pure: no I/O, no clock.

use std::time::Duration;

use multi_eni_api::keys::reason;
use multi_eni_ec2::Op;
use multi_eni_ec2_sim::FaultPlan;
use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::system::Want;

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
