//! The simulated EC2 account: VPCs, subnets, groups, instances and interfaces, the timed
//! transitions between their states, and the snapshots describes read.
//!
//! Transitions (`attaching` → `attached`, `detaching` → detached, `shutting-down` →
//! `terminated`) are not driven by background tasks: each record carries the time its
//! transition is due, and [`State::settle`] applies everything due, at the time it was due,
//! before each call. So the simulator needs no runtime of its own and paused tokio time
//! drives it exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use multi_eni_ec2::{
    AttachmentStatus, EniStatus, Instance, InstanceInterface, InstanceState, NetworkInterface, Op,
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

    /// A subnet with no address in use; `None` for a CIDR EC2 would refuse.
    pub(crate) fn new(
        id: String,
        vpc_id: &str,
        availability_zone: &str,
        cidr: &str,
        tags: Tags,
    ) -> Option<SubnetRec> {
        let (base, size) = parse_cidr(cidr)?;
        let mut rec = SubnetRec {
            view: Subnet {
                id,
                vpc_id: vpc_id.to_string(),
                availability_zone: availability_zone.to_string(),
                cidr_block: cidr.to_string(),
                available_ip_address_count: 0,
                tags,
            },
            base,
            size,
            used: BTreeSet::new(),
        };
        rec.refresh_count();
        Some(rec)
    }

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

    fn refresh_count(&mut self) {
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
    /// `(network card, device index)` slots a forced detach left unusable: EC2 documents that
    /// after a forced detach the index may not take another interface until the instance is
    /// stopped and started. Cleared on start.
    pub(crate) stale_slots: BTreeSet<(i32, i32)>,
}

impl InstanceRec {
    /// What DescribeInstances shows of it apart from its interfaces. EC2 drops the subnet and
    /// VPC of a terminated instance.
    pub(crate) fn base(&self) -> InstanceBase {
        let placed = self.state != InstanceState::Terminated;
        InstanceBase {
            id: self.id.clone(),
            state: self.state.clone(),
            availability_zone: self.availability_zone.clone(),
            instance_type: self.instance_type.clone(),
            subnet_id: placed.then(|| self.subnet_id.clone()),
            vpc_id: placed.then(|| self.vpc_id.clone()),
            tags: self.tags.clone(),
        }
    }
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
    /// When its ID has propagated: other calls than describes know it from then on.
    pub(crate) known_at: Instant,
    /// The ClientToken that created it, if any (a token outlives its interface).
    pub(crate) client_token: Option<String>,
    pub(crate) ip_offset: u32,
    /// When the attachment's transitional status completes.
    pub(crate) transition_at: Option<Instant>,
    /// A normal detach that will not finish until forced.
    pub(crate) stuck: bool,
}

impl EniRec {
    /// Sets the interface status from its attachment, the way EC2 reports the pair: so the
    /// two are changed in one place and never disagree.
    pub(crate) fn sync_status(&mut self) {
        self.view.status = match self.view.attachment.as_ref().map(|a| &a.status) {
            None | Some(AttachmentStatus::Detached) => EniStatus::Available,
            Some(AttachmentStatus::Attaching) => EniStatus::Attaching,
            Some(AttachmentStatus::Attached) => EniStatus::InUse,
            Some(AttachmentStatus::Detaching) => EniStatus::Detaching,
            Some(AttachmentStatus::Unknown(_)) => return,
        };
    }

    /// Ends the attachment: the interface is `available` again.
    pub(crate) fn detached(&mut self) {
        self.view.attachment = None;
        self.transition_at = None;
        self.sync_status();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    /// The create request with its token removed: what "same parameters" means.
    pub(crate) fingerprint: multi_eni_ec2::CreateEni,
    pub(crate) eni_id: String,
    /// The interface as it was when deleted: what a reuse of the token answers (see
    /// `docs/ec2-simulator.md`, "ClientToken").
    pub(crate) deleted: Option<NetworkInterface>,
}

/// The whole simulated account.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) rng: ChaCha8Rng,
    /// Draws of eventual-consistency lags, apart from `rng` so that the number of describes
    /// does not change the IDs handed out.
    pub(crate) lag_rng: ChaCha8Rng,
    /// Each describe API's own lag, drawn on its first use.
    pub(crate) api_lags: HashMap<Op, Duration>,
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
    pub(crate) fn new(rng: ChaCha8Rng, lag_rng: ChaCha8Rng) -> State {
        State {
            rng,
            lag_rng,
            api_lags: HashMap::new(),
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

    /// The oldest horizon any describe can read at: snapshots older than the one visible
    /// then are never read again.
    pub(crate) fn oldest_horizon(now: Instant, cfg: &SimConfig) -> Instant {
        let lag = cfg.real(cfg.consistency_lag + cfg.consistency_jitter);
        now.checked_sub(lag).unwrap_or(now)
    }

    /// One draw of the eventual-consistency lag, in real time: `consistency_lag` plus a
    /// uniform share of `consistency_jitter`.
    pub(crate) fn draw_lag(&mut self, cfg: &SimConfig) -> Duration {
        let base = cfg.real(cfg.consistency_lag);
        let jitter = cfg.real(cfg.consistency_jitter);
        if jitter.is_zero() {
            return base;
        }
        base + jitter.mul_f64(self.lag_rng.random::<f64>())
    }

    /// The horizon describe API `op` reads at: `now` minus that API's own lag, drawn once.
    /// So each API's reads move forward smoothly (a poller sees every state that lasts
    /// longer than its poll interval), while two APIs see different moments.
    pub(crate) fn read_horizon(&mut self, op: Op, now: Instant, cfg: &SimConfig) -> Instant {
        let lag = match self.api_lags.get(&op) {
            Some(lag) => *lag,
            None => {
                let lag = self.draw_lag(cfg);
                self.api_lags.insert(op, lag);
                lag
            }
        };
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
        let base = self.instances.get(id).map(InstanceRec::base);
        self.instance_history.record(id, at, base);
    }

    /// Adds an interface record (its address already allocated) and its first snapshot; its
    /// ID propagates `propagation` later.
    pub(crate) fn insert_eni(
        &mut self,
        view: NetworkInterface,
        ip_offset: u32,
        now: Instant,
        propagation: Duration,
    ) {
        let id = view.id.clone();
        self.enis.insert(
            id.clone(),
            EniRec {
                view,
                known_at: now + propagation,
                client_token: None,
                ip_offset,
                transition_at: None,
                stuck: false,
            },
        );
        self.record_eni(&id, now);
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
        let horizon = State::oldest_horizon(now, cfg);
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
                rec.sync_status();
            }
            AttachmentStatus::Detaching => rec.detached(),
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
            InstanceState::Pending => inst.state = InstanceState::Running,
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
                rec.detached();
                rec.stuck = false;
                self.record_eni(&eni_id, at);
            }
        }
    }

    /// Deletes an interface and frees its address. Its ClientToken keeps the interface as it
    /// was.
    pub(crate) fn remove_eni(&mut self, eni_id: &str, at: Instant) {
        if let Some(rec) = self.enis.remove(eni_id) {
            if let Some(s) = self.subnets.get_mut(&rec.view.subnet_id) {
                s.release(rec.ip_offset);
            }
            if let Some(token) = rec
                .client_token
                .as_ref()
                .and_then(|t| self.tokens.get_mut(t))
            {
                token.deleted = Some(rec.view.clone());
            }
            self.record_eni(eni_id, at);
        }
    }

    /// Every instance visible at `horizon`, with the interfaces attached to it in the
    /// interface snapshots of the same horizon (so both describes agree). One pass over the
    /// interfaces for all instances.
    pub(crate) fn instances_at(&self, horizon: Instant) -> Vec<(&InstanceBase, Instance)> {
        let mut attached: HashMap<&str, Vec<InstanceInterface>> = HashMap::new();
        for (_, eni) in self.eni_history.visible_at(horizon) {
            if let Some((instance, entry)) = listed_on_instance(eni) {
                attached.entry(instance).or_default().push(entry);
            }
        }
        self.instance_history
            .visible_at(horizon)
            .map(|(_, base)| {
                let interfaces = attached.remove(base.id.as_str()).unwrap_or_default();
                (base, instance_view(base, interfaces))
            })
            .collect()
    }

    /// Current truth of an instance (no lag), for setup and inspection: what a describe with
    /// no consistency lag would show.
    pub(crate) fn instance_now(&self, id: &str) -> Option<Instance> {
        let rec = self.instances.get(id)?;
        let interfaces = self
            .enis
            .values()
            .filter_map(|r| listed_on_instance(&r.view))
            .filter(|(instance, _)| *instance == id)
            .map(|(_, entry)| entry)
            .collect();
        Some(instance_view(&rec.base(), interfaces))
    }
}

/// How DescribeInstances lists an attached interface: the instance it is attached to, and
/// the entry.
fn listed_on_instance(eni: &NetworkInterface) -> Option<(&str, InstanceInterface)> {
    let a = eni.attachment.as_ref()?;
    let instance = a.instance_id.as_deref()?;
    Some((
        instance,
        InstanceInterface {
            network_interface_id: eni.id.clone(),
            attachment_id: a.attachment_id.clone(),
            device_index: a.device_index,
            network_card_index: a.network_card_index,
            status: a.status.clone(),
            delete_on_termination: a.delete_on_termination,
        },
    ))
}

/// An instance as DescribeInstances shows it: interfaces ordered by card, then device index.
fn instance_view(base: &InstanceBase, mut network_interfaces: Vec<InstanceInterface>) -> Instance {
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
        let mut s = SubnetRec::new(
            "subnet-1".into(),
            "vpc-1",
            "us-east-1a",
            "10.0.1.0/24",
            Tags::new(),
        )
        .expect("cidr");
        assert_eq!(s.view.available_ip_address_count, 251);
        let (off, ip) = s.allocate().expect("address");
        assert_eq!((off, ip.as_str()), (4, "10.0.1.4"));
        assert_eq!(s.view.available_ip_address_count, 250);
        s.release(off);
        assert_eq!(s.view.available_ip_address_count, 251);
    }

    #[test]
    fn a_slash_28_runs_out_after_11() {
        let mut s =
            SubnetRec::new("s".into(), "v", "a", "10.0.0.16/28", Tags::new()).expect("cidr");
        assert_eq!(s.view.available_ip_address_count, 11);
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
