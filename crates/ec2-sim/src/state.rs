//! The simulated EC2 account: VPCs, subnets, groups, instances and interfaces, the timed
//! transitions between their states, and the snapshots describes read.
//!
//! Transitions (`attaching` → `attached`, `detaching` → detached, `shutting-down` →
//! `terminated`) are not driven by background tasks: each record carries the time its
//! transition is due, and [`State::settle`] applies everything due, at the time it was due,
//! before each call. So the simulator needs no runtime of its own and paused tokio time
//! drives it exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use multi_eni_ec2::{
    AttachmentStatus, EniStatus, Instance, InstanceInterface, InstanceState, NetworkInterface,
    SecurityGroup, Subnet, Tags,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::history::History;

/// An EC2 error the simulated service answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    /// EC2 error code.
    pub code: String,
    /// Message in EC2's style.
    pub message: String,
}

/// Shorthand for a [`SimError`].
pub fn fail<T>(code: &str, message: impl Into<String>) -> Result<T, SimError> {
    Err(SimError {
        code: code.to_string(),
        message: message.into(),
    })
}

#[derive(Debug, Clone)]
pub(crate) struct VpcRec {
    pub(crate) cidr: String,
    pub(crate) default_group: String,
}

/// A subnet with its address accounting. AWS reserves the first four addresses and the last
/// one of every subnet (<https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html>).
#[derive(Debug, Clone)]
pub(crate) struct SubnetRec {
    pub(crate) view: Subnet,
    pub(crate) base: u32,
    pub(crate) size: u32,
    pub(crate) used: BTreeSet<u32>,
}

impl SubnetRec {
    /// Reserved addresses per subnet.
    pub(crate) const RESERVED: u32 = 5;

    pub(crate) fn allocate(&mut self) -> Option<(u32, String)> {
        let offset = (4..self.size.saturating_sub(1)).find(|o| !self.used.contains(o))?;
        self.used.insert(offset);
        self.refresh_count();
        Some((offset, Ipv4Addr::from(self.base + offset).to_string()))
    }

    pub(crate) fn release(&mut self, offset: u32) {
        self.used.remove(&offset);
        self.refresh_count();
    }

    pub(crate) fn refresh_count(&mut self) {
        let usable = self.size.saturating_sub(Self::RESERVED);
        self.view.available_ip_address_count = usable.saturating_sub(self.used.len() as u32);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct InstanceRec {
    pub(crate) id: String,
    pub(crate) instance_type: String,
    pub(crate) availability_zone: String,
    pub(crate) subnet_id: String,
    pub(crate) vpc_id: String,
    pub(crate) state: InstanceState,
    pub(crate) tags: Tags,
    /// When the current transitional state (stopping, shutting-down) completes.
    pub(crate) transition_at: Option<Instant>,
    /// When it became `terminated` (it disappears `terminated_visibility` later).
    pub(crate) terminated_at: Option<Instant>,
}

/// What DescribeInstances shows of an instance, apart from its interfaces (which come from
/// the interface snapshots, so both describes agree at the same horizon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceBase {
    pub(crate) id: String,
    pub(crate) state: InstanceState,
    pub(crate) availability_zone: String,
    pub(crate) instance_type: String,
    pub(crate) subnet_id: Option<String>,
    pub(crate) vpc_id: Option<String>,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone)]
pub(crate) struct EniRec {
    /// The current truth.
    pub(crate) view: NetworkInterface,
    pub(crate) created_at: Instant,
    pub(crate) ip_offset: u32,
    /// When the attachment's transitional status completes.
    pub(crate) transition_at: Option<Instant>,
    /// A normal detach that will not finish until forced.
    pub(crate) stuck: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    /// The create request with its token removed: what "same parameters" means.
    pub(crate) fingerprint: multi_eni_ec2::CreateEni,
    pub(crate) eni_id: String,
}

/// The whole simulated account.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) vpcs: BTreeMap<String, VpcRec>,
    pub(crate) subnets: BTreeMap<String, SubnetRec>,
    pub(crate) groups: BTreeMap<String, SecurityGroup>,
    pub(crate) instances: BTreeMap<String, InstanceRec>,
    pub(crate) enis: BTreeMap<String, EniRec>,
    pub(crate) tokens: BTreeMap<String, TokenRec>,
    pub(crate) eni_history: History<NetworkInterface>,
    pub(crate) instance_history: History<InstanceBase>,
    /// Last `now` settled to: `now` never goes backwards inside the state.
    pub(crate) clock: Option<Instant>,
}

/// A due transition.
enum Due {
    Eni(Instant, String),
    Instance(Instant, String),
    Vanish(Instant, String),
}

impl Due {
    fn at(&self) -> Instant {
        match self {
            Due::Eni(t, _) | Due::Instance(t, _) | Due::Vanish(t, _) => *t,
        }
    }
}

impl State {
    pub(crate) fn new(rng: ChaCha8Rng) -> State {
        State {
            rng,
            vpcs: BTreeMap::new(),
            subnets: BTreeMap::new(),
            groups: BTreeMap::new(),
            instances: BTreeMap::new(),
            enis: BTreeMap::new(),
            tokens: BTreeMap::new(),
            eni_history: History::default(),
            instance_history: History::default(),
            clock: None,
        }
    }

    /// A fresh EC2-style ID: `prefix-` and 17 hex digits.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        let n: u128 = self.rng.random::<u128>() % (1u128 << 68);
        format!("{prefix}-{n:017x}")
    }

    /// A locally administered unicast MAC, as EC2 assigns (`02:…` prefix).
    pub(crate) fn new_mac(&mut self) -> String {
        let b: [u8; 5] = self.rng.random();
        format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4]
        )
    }

    /// The horizon describes read at.
    pub(crate) fn horizon(now: Instant, cfg: &SimConfig) -> Instant {
        let lag = cfg.real(cfg.consistency_lag);
        now.checked_sub(lag).unwrap_or(now)
    }

    /// Monotonic `now` for the state (callers may race to the lock with slightly older
    /// readings).
    pub(crate) fn tick(&mut self, now: Instant) -> Instant {
        let now = match self.clock {
            Some(c) if c > now => c,
            _ => now,
        };
        self.clock = Some(now);
        now
    }

    pub(crate) fn record_eni(&mut self, id: &str, at: Instant) {
        let view = self.enis.get(id).map(|r| r.view.clone());
        self.eni_history.record(id, at, view);
    }

    pub(crate) fn record_instance(&mut self, id: &str, at: Instant) {
        let base = self.instances.get(id).map(|i| InstanceBase {
            id: i.id.clone(),
            state: i.state.clone(),
            availability_zone: i.availability_zone.clone(),
            instance_type: i.instance_type.clone(),
            subnet_id: (i.state != InstanceState::Terminated).then(|| i.subnet_id.clone()),
            vpc_id: (i.state != InstanceState::Terminated).then(|| i.vpc_id.clone()),
            tags: i.tags.clone(),
        });
        self.instance_history.record(id, at, base);
    }

    /// Applies every transition due by `now`, in time order, each at its own time.
    pub(crate) fn settle(&mut self, now: Instant, cfg: &SimConfig) {
        let mut due: Vec<Due> = Vec::new();
        for (id, e) in &self.enis {
            if let Some(t) = e.transition_at
                && t <= now
            {
                due.push(Due::Eni(t, id.clone()));
            }
        }
        for (id, i) in &self.instances {
            if let Some(t) = i.transition_at
                && t <= now
            {
                due.push(Due::Instance(t, id.clone()));
            }
            if let Some(t) = i.terminated_at {
                let gone = t + cfg.real(cfg.terminated_visibility);
                if gone <= now {
                    due.push(Due::Vanish(gone, id.clone()));
                }
            }
        }
        due.sort_by_key(Due::at);
        for d in due {
            match d {
                Due::Eni(t, id) => self.finish_eni_transition(&id, t),
                Due::Instance(t, id) => self.finish_instance_transition(&id, t),
                Due::Vanish(t, id) => {
                    self.instances.remove(&id);
                    self.record_instance(&id, t);
                }
            }
        }
        let horizon = State::horizon(now, cfg);
        self.eni_history.prune(horizon);
        self.instance_history.prune(horizon);
    }

    fn finish_eni_transition(&mut self, id: &str, at: Instant) {
        let Some(rec) = self.enis.get_mut(id) else {
            return;
        };
        rec.transition_at = None;
        let Some(att) = rec.view.attachment.as_mut() else {
            return;
        };
        match att.status {
            AttachmentStatus::Attaching => {
                att.status = AttachmentStatus::Attached;
                rec.view.status = EniStatus::InUse;
            }
            AttachmentStatus::Detaching => {
                rec.view.attachment = None;
                rec.view.status = EniStatus::Available;
            }
            _ => {}
        }
        self.record_eni(id, at);
    }

    fn finish_instance_transition(&mut self, id: &str, at: Instant) {
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        inst.transition_at = None;
        match inst.state {
            InstanceState::Stopping => inst.state = InstanceState::Stopped,
            InstanceState::ShuttingDown => {
                inst.state = InstanceState::Terminated;
                inst.terminated_at = Some(at);
                self.apply_termination(id, at);
            }
            _ => {}
        }
        self.record_instance(id, at);
    }

    /// DeleteOnTermination: interfaces with it are deleted, the others detached to
    /// `available` (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-eni.html>).
    fn apply_termination(&mut self, instance_id: &str, at: Instant) {
        let attached: Vec<(String, bool)> = self
            .enis
            .iter()
            .filter_map(|(id, r)| {
                let a = r.view.attachment.as_ref()?;
                (a.instance_id.as_deref() == Some(instance_id))
                    .then(|| (id.clone(), a.delete_on_termination))
            })
            .collect();
        for (eni_id, delete) in attached {
            if delete {
                self.remove_eni(&eni_id, at);
            } else if let Some(rec) = self.enis.get_mut(&eni_id) {
                rec.view.attachment = None;
                rec.view.status = EniStatus::Available;
                rec.transition_at = None;
                rec.stuck = false;
                self.record_eni(&eni_id, at);
            }
        }
    }

    /// Deletes an interface and frees its address.
    pub(crate) fn remove_eni(&mut self, eni_id: &str, at: Instant) {
        if let Some(rec) = self.enis.remove(eni_id) {
            if let Some(s) = self.subnets.get_mut(&rec.view.subnet_id) {
                s.release(rec.ip_offset);
            }
            self.record_eni(eni_id, at);
        }
    }

    /// The instance view at `horizon`: its base snapshot plus the interfaces attached to
    /// it in the interface snapshots of the same horizon.
    pub(crate) fn instance_view(&self, base: &InstanceBase, horizon: Instant) -> Instance {
        let mut network_interfaces: Vec<InstanceInterface> = self
            .eni_history
            .visible_at(horizon)
            .filter_map(|(_, eni)| {
                let a = eni.attachment.as_ref()?;
                (a.instance_id.as_deref() == Some(base.id.as_str())).then(|| InstanceInterface {
                    network_interface_id: eni.id.clone(),
                    attachment_id: a.attachment_id.clone(),
                    device_index: a.device_index,
                    network_card_index: a.network_card_index,
                    status: a.status.clone(),
                    delete_on_termination: a.delete_on_termination,
                })
            })
            .collect();
        network_interfaces.sort_by_key(|n| (n.network_card_index, n.device_index));
        Instance {
            id: base.id.clone(),
            state: base.state.clone(),
            availability_zone: base.availability_zone.clone(),
            instance_type: base.instance_type.clone(),
            subnet_id: base.subnet_id.clone(),
            vpc_id: base.vpc_id.clone(),
            network_interfaces,
        }
    }

    /// Current truth of an instance (no lag), for setup and inspection.
    pub(crate) fn instance_now(&self, id: &str) -> Option<Instance> {
        let i = self.instances.get(id)?;
        let mut network_interfaces: Vec<InstanceInterface> = self
            .enis
            .values()
            .filter_map(|r| {
                let a = r.view.attachment.as_ref()?;
                (a.instance_id.as_deref() == Some(id)).then(|| InstanceInterface {
                    network_interface_id: r.view.id.clone(),
                    attachment_id: a.attachment_id.clone(),
                    device_index: a.device_index,
                    network_card_index: a.network_card_index,
                    status: a.status.clone(),
                    delete_on_termination: a.delete_on_termination,
                })
            })
            .collect();
        network_interfaces.sort_by_key(|n| (n.network_card_index, n.device_index));
        Some(Instance {
            id: i.id.clone(),
            state: i.state.clone(),
            availability_zone: i.availability_zone.clone(),
            instance_type: i.instance_type.clone(),
            subnet_id: Some(i.subnet_id.clone()),
            vpc_id: Some(i.vpc_id.clone()),
            network_interfaces,
        })
    }
}

/// Parses `a.b.c.d/n` into (base address, size).
pub(crate) fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    if !(16..=28).contains(&len) {
        // EC2 subnets are /16 to /28.
        return None;
    }
    let size = 1u32 << (32 - len);
    let base = u32::from(addr) & !(size - 1);
    Some((base, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_24_has_251_usable_addresses_from_dot_4() {
        let (base, size) = parse_cidr("10.0.1.0/24").expect("cidr");
        let mut s = SubnetRec {
            view: Subnet {
                id: "subnet-1".into(),
                vpc_id: "vpc-1".into(),
                availability_zone: "us-east-1a".into(),
                cidr_block: "10.0.1.0/24".into(),
                available_ip_address_count: 0,
                tags: Tags::new(),
            },
            base,
            size,
            used: BTreeSet::new(),
        };
        s.refresh_count();
        assert_eq!(s.view.available_ip_address_count, 251);
        let (off, ip) = s.allocate().expect("address");
        assert_eq!((off, ip.as_str()), (4, "10.0.1.4"));
        assert_eq!(s.view.available_ip_address_count, 250);
        s.release(off);
        assert_eq!(s.view.available_ip_address_count, 251);
    }

    #[test]
    fn a_slash_28_runs_out_after_11() {
        let (base, size) = parse_cidr("10.0.0.16/28").expect("cidr");
        let mut s = SubnetRec {
            view: Subnet {
                id: "s".into(),
                vpc_id: "v".into(),
                availability_zone: "a".into(),
                cidr_block: "10.0.0.16/28".into(),
                available_ip_address_count: 0,
                tags: Tags::new(),
            },
            base,
            size,
            used: BTreeSet::new(),
        };
        let got: Vec<_> = std::iter::from_fn(|| s.allocate()).collect();
        assert_eq!(got.len(), 11);
        assert_eq!(got[0].1, "10.0.0.20");
        assert_eq!(got[10].1, "10.0.0.30");
        assert_eq!(s.view.available_ip_address_count, 0);
    }

    #[test]
    fn cidrs_outside_ec2_subnet_sizes_are_refused() {
        assert!(parse_cidr("10.0.0.0/8").is_none());
        assert!(parse_cidr("10.0.0.0/29").is_none());
        assert!(parse_cidr("nonsense").is_none());
        assert_eq!(parse_cidr("10.0.0.7/24"), Some((0x0a00_0000, 256)));
    }
}
