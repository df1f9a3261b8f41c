//! One ENIAttachment's life as a state machine: what EC2 and the node showed in, one step out.
//!
//! Each call computes the status the attachment should have given what was observed (phase, the
//! ENI's IDs, the device index chosen, timers, the Ready condition) and the action that follows.
//! When that status differs from the stored one the step is [`Step::Persist`], carrying the
//! status and the EC2 call it announces, which the shell makes only after the write succeeded.
//! So every intent — "I am about to create with token n", "I am about to attach at index 3", "I
//! detached at 12:00" — is durable before the call, and a controller killed anywhere resumes from
//! status, never guessing. Deciding again from the stored status gives the same call (or, for a
//! forced detach, waits a timeout), so a write whose call was lost is repeated, not skipped. See
//! the table in the crate docs.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use multi_eni_api::conditions::{find, set_condition};
use multi_eni_api::keys::{self, condition, reason};
use multi_eni_api::{EniAttachment, EniAttachmentStatus, Phase};
use multi_eni_ec2::{
    AttachEni, AttachmentStatus, CreateEni, DetachEni, EniAttributeChange, Instance, InstanceState,
    NetworkInterface, Tags,
};
use sha2::{Digest, Sha256};

use super::adoption::{Verdict, adoption_candidate, tags_missing, verdict};
use super::device_index::{IndexChoice, choose_index};
use super::removal::removal;

/// Settings of the state machine (flags of the controller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// The cluster name: the `multi-eni.k8s.aws/cluster` tag, which scopes garbage collection.
    pub cluster: String,
    /// How long to wait for the agent's `released` before detaching anyway.
    pub release_timeout: Duration,
    /// How long a normal detach may take before it is forced.
    pub detach_timeout: Duration,
    /// How long EC2 may not list an ENI right after it was created before we believe it is gone
    /// (EC2's reads are eventually consistent).
    pub visibility_grace: Duration,
    /// How soon to look again while EC2 finishes an attach or detach.
    pub poll: Duration,
    /// How long after its create an ENI is first attached: a new ENI's ID reaches EC2's other
    /// APIs a few seconds after the create returns, and an attach before that is refused as
    /// `InvalidNetworkInterfaceID.NotFound` — a wasted mutating call and attach token. A
    /// rollout paced by the attach bucket never waits for it (its creates run ahead).
    pub attach_after_create: Duration,
    /// How long after a detach request EC2 may still show the ENI attached before the request
    /// counts as lost and is sent again: EC2's reads lag its writes by seconds, and each repeat
    /// spends a token of the small detach bucket.
    pub detach_resend_after: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> LifecycleConfig {
        LifecycleConfig {
            cluster: String::new(),
            release_timeout: Duration::from_secs(60),
            detach_timeout: Duration::from_secs(120),
            visibility_grace: Duration::from_secs(30),
            poll: Duration::from_secs(2),
            attach_after_create: Duration::from_secs(3),
            detach_resend_after: Duration::from_secs(30),
        }
    }
}

/// How much longer an attach of the ENI our create returned at `created_at` should wait for its
/// ID to reach the attach API; `None`: attach now (old enough, or not created by this process —
/// then a describe listed it long after its create).
pub fn attach_wait(
    created_at: Option<Timestamp>,
    now: Timestamp,
    cfg: &LifecycleConfig,
) -> Option<Duration> {
    cfg.attach_after_create
        .checked_sub(age(created_at?, now))
        .filter(|left| !left.is_zero())
}

/// Whether the ENI our create returned at `created_at` is still as the create showed it: until
/// its attach is due (and a poll after, for the reconcile that sends it) nothing changes it but
/// us, so there is nothing to describe.
pub fn as_created(created_at: Option<Timestamp>, now: Timestamp, cfg: &LifecycleConfig) -> bool {
    created_at.is_some_and(|t| age(t, now) < cfg.attach_after_create + cfg.poll)
}

fn age(since: Timestamp, now: Timestamp) -> Duration {
    let ms = now.as_millisecond() - since.as_millisecond();
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// What a describe showed about one attachment's world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Every ENI found by the recorded `status.eniID` or carrying this attachment's UID tag.
    /// Usually one; none when it does not exist (yet, or any more); several only after a lost
    /// create response raced a retry — the extras are deleted.
    pub enis: Vec<NetworkInterface>,
    /// The instance.
    pub instance: InstanceSeen,
    /// The subnet's CIDR (from the cached subnet lookup), for status.
    pub subnet_cidr: Option<String>,
    /// The Go controller's ENI this attachment may adopt ([`super::adoption_candidate`]), as
    /// described; `None` when there is no candidate or EC2 does not list it.
    pub adoptable: Option<NetworkInterface>,
}

/// What EC2 said about the attachment's instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSeen {
    /// It exists.
    Found(Box<InstanceView>),
    /// `InvalidInstanceID.NotFound`: gone for good.
    NotFound,
}

/// The instance, with what the plan needs to pick a device index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// DescribeInstances' view: state and every interface, foreign ones included.
    pub instance: Instance,
    /// ENIs on it that belong to ENIAttachments being removed: their index frees up soon, so an
    /// attachment that wants it waits instead of moving on.
    pub leaving: BTreeSet<String>,
    /// How many interfaces the attachment's network card takes (from the instance type).
    pub max_interfaces_on_card: Option<u32>,
}

/// The one thing to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Store `status` (resourceVersion-guarded, on the status subresource). Only once that write
    /// succeeded, make the EC2 call in `then`, if any — the status announces it, so a controller
    /// that dies in between finds the intent. Then call [`next_step`] again.
    Persist {
        /// The status to store.
        status: Box<EniAttachmentStatus>,
        /// The EC2 call the status announces.
        then: Option<Ec2Action>,
    },
    /// Make this EC2 call, fold its result into [`Observed`] (or describe again), and call
    /// [`next_step`] again. On failure see [`super::on_error`].
    Ec2(Ec2Action),
    /// Nothing to do now.
    Wait(Wait),
    /// The ENI is gone: remove `keys::FINALIZER_ENI_CLEANUP` so the object can go.
    DropFinalizer,
}

/// A wait, and when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// What we wait for.
    pub reason: WaitReason,
    /// Look again after this; `None`: only on a change (watch event or resync).
    pub requeue_after: Option<Duration>,
}

/// What an attachment waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Nothing: the ENI is as wanted.
    Converged,
    /// EC2 does not list the ENI yet (eventual consistency after create).
    EniNotVisible,
    /// The instance is not in a state to attach to (pending, stopping).
    InstanceNotReady,
    /// EC2 is attaching.
    Attaching,
    /// The wanted device index is held by an ENI of ours that is being removed.
    IndexBeingFreed(i32),
    /// No device index is free on the network card.
    NoFreeDeviceIndex,
    /// The agent is letting go of the interface (DPDK, SR-IOV, link).
    AgentRelease,
    /// EC2 is detaching.
    Detaching,
    /// The instance is gone and what was left is cleaned up: terminal.
    InstanceGone,
    /// The object has no UID (it was never stored): there is nothing to tag an ENI with.
    NotStored,
}

/// One EC2 call. Requests are ready to send; `network_interface_id` names the ENI acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ec2Action {
    /// CreateNetworkInterface, with tags at creation and the attempt's ClientToken.
    Create(CreateEni),
    /// AttachNetworkInterface (always with NetworkCardIndex).
    Attach(AttachEni),
    /// ModifyNetworkInterfaceAttribute.
    Modify {
        /// The ENI.
        network_interface_id: String,
        /// The one attribute.
        change: EniAttributeChange,
    },
    /// DetachNetworkInterface.
    Detach {
        /// The ENI (for logs and to fold the result in).
        network_interface_id: String,
        /// The request.
        request: DetachEni,
    },
    /// DeleteNetworkInterface.
    Delete {
        /// The ENI.
        network_interface_id: String,
    },
    /// CreateTags: our tags onto an adopted ENI.
    Tag {
        /// The ENI.
        network_interface_id: String,
        /// The tags to add.
        tags: Tags,
    },
}

impl Ec2Action {
    /// The ENI the action names (none for a create, whose ENI is not known before).
    pub fn eni_id(&self) -> Option<&str> {
        match self {
            Ec2Action::Create(_) => None,
            Ec2Action::Attach(req) => Some(&req.network_interface_id),
            Ec2Action::Modify {
                network_interface_id,
                ..
            }
            | Ec2Action::Detach {
                network_interface_id,
                ..
            }
            | Ec2Action::Delete {
                network_interface_id,
            }
            | Ec2Action::Tag {
                network_interface_id,
                ..
            } => Some(network_interface_id),
        }
    }

    /// The EC2 action's name.
    pub fn op(&self) -> multi_eni_ec2::Op {
        use multi_eni_ec2::Op;
        match self {
            Ec2Action::Create(_) => Op::CreateNetworkInterface,
            Ec2Action::Attach(_) => Op::AttachNetworkInterface,
            Ec2Action::Modify { .. } => Op::ModifyNetworkInterfaceAttribute,
            Ec2Action::Detach { .. } => Op::DetachNetworkInterface,
            Ec2Action::Delete { .. } => Op::DeleteNetworkInterface,
            Ec2Action::Tag { .. } => Op::CreateTags,
        }
    }
}

/// The ClientToken of creation attempt `attempt`: the UID and the attempt, hashed when longer
/// than EC2's 64 characters. A retry of the same attempt (lost response) sends the same token and
/// gets the same ENI back; a new attempt never reuses a token whose ENI was deleted.
pub fn client_token(uid: &str, attempt: i32) -> String {
    let token = format!("{uid}-{attempt}");
    if token.len() <= 64 {
        return token;
    }
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// The next step for `att`, given what was observed at `now`.
pub fn next_step(
    att: &EniAttachment,
    seen: &Observed,
    now: Timestamp,
    cfg: &LifecycleConfig,
) -> Step {
    let current = att.status.clone().unwrap_or_default();
    let mut d = Draft {
        att,
        seen,
        now,
        cfg,
        s: current.clone(),
    };
    let then = decide(&mut d);
    if then == Then::DropFinalizer {
        // The object is going: a last status write would be wasted.
        return Step::DropFinalizer;
    }
    let status = d.finish(&then, &current);
    if status != current {
        let then = match then {
            Then::Ec2(a) => Some(a),
            Then::Wait(_) | Then::DropFinalizer => None,
        };
        return Step::Persist {
            status: Box::new(status),
            then,
        };
    }
    match then {
        Then::Ec2(a) => Step::Ec2(a),
        Then::Wait(w) => Step::Wait(w),
        Then::DropFinalizer => Step::DropFinalizer,
    }
}

/// What follows once the status is stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Then {
    Ec2(Ec2Action),
    Wait(Wait),
    DropFinalizer,
}

impl Then {
    pub(super) fn wait(reason: WaitReason, requeue_after: Option<Duration>) -> Then {
        Then::Wait(Wait {
            reason,
            requeue_after,
        })
    }
}

/// The status being worked out, and the facts it is worked out from.
pub(super) struct Draft<'a> {
    pub att: &'a EniAttachment,
    pub seen: &'a Observed,
    pub now: Timestamp,
    pub cfg: &'a LifecycleConfig,
    pub s: EniAttachmentStatus,
}

impl Draft<'_> {
    pub fn phase(&self) -> Phase {
        self.s.phase.unwrap_or_default()
    }

    /// Moves to `p`, starting its clock when it is a change.
    pub fn set_phase(&mut self, p: Phase) {
        if self.s.phase != Some(p) {
            self.s.phase = Some(p);
            self.s.phase_since = Some(Time(self.now));
        }
    }

    /// Time since `t`; a missing time counts as long ago, so timers never block forever.
    pub fn since(&self, t: Option<&Time>) -> Duration {
        t.map_or(Duration::MAX, |t| {
            let ms = self.now.as_millisecond() - t.0.as_millisecond();
            Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    /// Our ENI among those observed, and the strays (same UID tag, not ours). An adopted ENI
    /// counts once it is recorded (until it carries our tag, only the adoption describe sees it).
    pub fn ours(&self) -> (Option<&NetworkInterface>, Vec<&NetworkInterface>) {
        let recorded = self.s.eni_id.as_deref();
        let adopted = self
            .seen
            .adoptable
            .iter()
            .filter(|a| Some(a.id.as_str()) == recorded && !self.seen.enis.contains(a));
        let enis: Vec<&NetworkInterface> = self.seen.enis.iter().chain(adopted).collect();
        let instance = self.att.spec.instance_id.as_str();
        let on_ours = |e: &&NetworkInterface| {
            e.attachment
                .as_ref()
                .is_some_and(|a| a.instance_id.as_deref() == Some(instance))
        };
        let pick = enis
            .iter()
            .find(|e| Some(e.id.as_str()) == recorded)
            .or_else(|| enis.iter().find(|e| on_ours(e)))
            .or_else(|| enis.iter().min_by(|a, b| a.id.cmp(&b.id)))
            .copied();
        let strays = enis
            .iter()
            .filter(|e| Some(e.id.as_str()) != pick.map(|p| p.id.as_str()))
            .copied()
            .collect();
        (pick, strays)
    }

    /// Our ENI, and an unattached extra ENI carrying our UID to delete (a lost create response
    /// raced a retry with another token). Attached extras are left for a person: never detach
    /// what might be in use.
    pub fn ours_and_stray(&self) -> (Option<NetworkInterface>, Option<String>) {
        let (ours, strays) = self.ours();
        let stray = strays
            .iter()
            .find(|e| e.attachment.is_none())
            .map(|e| e.id.clone());
        (ours.cloned(), stray)
    }

    /// Records the ENI's identity and addresses (RecordEni).
    pub fn record(&mut self, eni: &NetworkInterface) {
        if self.s.eni_id.as_deref() != Some(eni.id.as_str()) {
            self.s.attachment_id = None;
        }
        self.s.eni_id = Some(eni.id.clone());
        self.s.mac_address = Some(eni.mac_address.to_ascii_lowercase());
        self.s.private_ip_address = eni.private_ip_address.clone();
        self.s.availability_zone = Some(eni.availability_zone.clone());
        if let Some(cidr) = &self.seen.subnet_cidr {
            self.s.subnet_cidr = Some(cidr.clone());
        }
    }

    /// Forgets a vanished ENI.
    pub fn forget_eni(&mut self) {
        self.s.eni_id = None;
        self.s.attachment_id = None;
        self.s.mac_address = None;
        self.s.private_ip_address = None;
    }

    /// The status to store: observed generation and the Ready condition for where we are.
    fn finish(mut self, then: &Then, current: &EniAttachmentStatus) -> EniAttachmentStatus {
        self.s.observed_generation = self.att.metadata.generation;
        let (ready, why, message) = ready_condition(&self, then);
        let keep_error = matches!(then, Then::Ec2(_))
            && self.s.phase == current.phase
            && find(&current.conditions, condition::READY)
                .is_some_and(|c| super::recovery::ERROR_REASONS.contains(&c.reason.as_str()));
        if !keep_error {
            let generation = self.att.metadata.generation;
            let now = Time(self.now);
            set_condition(
                &mut self.s.conditions,
                condition::READY,
                ready,
                why,
                &message,
                generation,
                now,
            );
        }
        self.s
    }
}

fn ready_condition(d: &Draft<'_>, then: &Then) -> (bool, &'static str, String) {
    let index = d.s.device_index.unwrap_or(d.att.spec.device_index);
    match (d.phase(), then) {
        (Phase::Ready, _) => (
            true,
            reason::INTERFACE_CONFIGURED,
            format!("attached at device index {index} and configured on the node"),
        ),
        (Phase::Failed, _) => (
            false,
            reason::INSTANCE_GONE,
            format!(
                "instance {} is gone; nothing is left in EC2",
                d.att.spec.instance_id
            ),
        ),
        (
            _,
            Then::Wait(Wait {
                reason: WaitReason::NoFreeDeviceIndex,
                ..
            }),
        ) => (
            false,
            reason::LIMIT_EXCEEDED,
            format!(
                "no free device index from {} on network card {} of instance {}",
                d.att.spec.device_index, d.att.spec.network_card_index, d.att.spec.instance_id
            ),
        ),
        (Phase::Attached, _) => (
            false,
            reason::RECONCILING,
            format!("attached at device index {index}; waiting for the node agent"),
        ),
        (p, then) => (false, reason::RECONCILING, progress(d, p, then, index)),
    }
}

/// What a phase on its way is doing, for the Ready condition's message.
fn progress(d: &Draft<'_>, p: Phase, then: &Then, index: i32) -> String {
    let eni = d.s.eni_id.as_deref().unwrap_or("the ENI");
    let spec = &d.att.spec;
    match (p, then) {
        (Phase::Attaching, _) => format!(
            "attaching {eni} to {} at device index {index}",
            spec.instance_id
        ),
        (
            Phase::Detaching,
            Then::Wait(Wait {
                reason: WaitReason::AgentRelease,
                ..
            }),
        ) => "waiting for the node agent to release the interface".to_owned(),
        (Phase::Detaching, _) => format!("detaching {eni}"),
        (Phase::Deleting, _) => format!("deleting {eni}"),
        _ => format!("creating the ENI in {}", spec.subnet_id),
    }
}

fn decide(d: &mut Draft<'_>) -> Then {
    let gone = match &d.seen.instance {
        InstanceSeen::NotFound => true,
        InstanceSeen::Found(v) => v.instance.state.is_gone(),
    };
    if d.att.metadata.deletion_timestamp.is_some() || gone {
        return removal(d, gone);
    }
    let (ours, stray) = d.ours_and_stray();
    if let Some(eni) = &ours {
        d.record(eni);
    }
    if let Some(id) = stray {
        return Then::Ec2(Ec2Action::Delete {
            network_interface_id: id,
        });
    }
    match ours.or_else(|| adopted(d)) {
        None => missing_eni(d),
        Some(eni) => with_eni(d, &eni),
    }
}

/// The Go controller's ENI, when this attachment may adopt it and it is what its entry said
/// (recorded now, so the state machine takes it from here like an ENI of ours).
fn adopted(d: &mut Draft<'_>) -> Option<NetworkInterface> {
    let id = adoption_candidate(d.att)?;
    let found = d.seen.adoptable.as_ref();
    if verdict(d.att, id, found, &d.cfg.cluster) != Verdict::Adopt {
        return None;
    }
    let eni = found?.clone();
    d.record(&eni);
    Some(eni)
}

/// No ENI seen: create one, or wait for one just created to show up.
fn missing_eni(d: &mut Draft<'_>) -> Then {
    if d.att.uid().is_none_or(|u| u.is_empty()) {
        return Then::wait(WaitReason::NotStored, None);
    }
    let creating = matches!(d.phase(), Phase::Creating | Phase::Attaching);
    let young = d.since(d.s.phase_since.as_ref()) < d.cfg.visibility_grace;
    if d.s.eni_id.is_some() && creating && young {
        let left = d.cfg.visibility_grace - d.since(d.s.phase_since.as_ref());
        return Then::wait(WaitReason::EniNotVisible, Some(left.min(d.cfg.poll)));
    }
    let new_attempt =
        d.s.eni_id.is_some() || d.phase() != Phase::Creating || d.s.create_attempt.is_none();
    if new_attempt {
        // Vanished (or never made): a new attempt with a fresh token.
        d.forget_eni();
        d.s.create_attempt = Some(d.s.create_attempt.unwrap_or(0) + 1);
        d.s.device_index = None;
        d.s.detach_requested_at = None;
        d.s.detach_forced_at = None;
    }
    d.set_phase(Phase::Creating);
    Then::Ec2(Ec2Action::Create(create_request(d)))
}

fn create_request(d: &Draft<'_>) -> CreateEni {
    let spec = &d.att.spec;
    let uid = d.att.uid().unwrap_or_default();
    let attempt = d.s.create_attempt.unwrap_or(1);
    CreateEni {
        subnet_id: spec.subnet_id.clone(),
        security_group_ids: spec.security_group_ids.clone(),
        description: spec.description.clone(),
        tags: keys::eni_tags(
            &d.cfg.cluster,
            &spec.node_eni,
            &uid,
            &spec.node_name,
            &spec.instance_id,
        ),
        client_token: Some(client_token(&uid, attempt)),
    }
}

/// Our ENI exists and should be attached to our instance.
fn with_eni(d: &mut Draft<'_>, eni: &NetworkInterface) -> Then {
    let instance = d.att.spec.instance_id.clone();
    let poll = Some(d.cfg.poll);
    let Some(a) = eni
        .attachment
        .as_ref()
        .filter(|a| a.status != AttachmentStatus::Detached)
    else {
        return attach(d, eni);
    };
    if a.instance_id.as_deref() != Some(instance.as_str()) {
        // Ours by tag but on another instance (moved by hand): take it back.
        return match a.status {
            AttachmentStatus::Detaching => Then::wait(WaitReason::Detaching, poll),
            _ => detach(eni, &a.attachment_id, false),
        };
    }
    d.s.attachment_id = Some(a.attachment_id.clone());
    d.s.device_index = Some(a.device_index);
    match a.status {
        AttachmentStatus::Attached => attached(d, eni, a.delete_on_termination),
        AttachmentStatus::Detaching => Then::wait(WaitReason::Detaching, poll),
        _ => {
            d.set_phase(Phase::Attaching);
            Then::wait(WaitReason::Attaching, poll)
        }
    }
}

/// Attached: Ready when the agent says so; converge DeleteOnTermination, groups, description.
fn attached(d: &mut Draft<'_>, eni: &NetworkInterface, dot: bool) -> Then {
    let agent_ready = d
        .att
        .interface()
        .and_then(|i| find(&i.conditions, condition::INTERFACE_READY))
        .is_some_and(|c| c.status == "True");
    d.set_phase(if agent_ready {
        Phase::Ready
    } else {
        Phase::Attached
    });
    d.s.detach_requested_at = None;
    d.s.detach_forced_at = None;
    if let Some(tags) = tags_missing(d.att, eni, &d.cfg.cluster) {
        // Adopted: from now on our tag lookups, the resync and the GC know it as ours.
        return Then::Ec2(Ec2Action::Tag {
            network_interface_id: eni.id.clone(),
            tags,
        });
    }
    let spec = &d.att.spec;
    let modify = |change| {
        Then::Ec2(Ec2Action::Modify {
            network_interface_id: eni.id.clone(),
            change,
        })
    };
    if dot != spec.delete_on_termination {
        return modify(EniAttributeChange::DeleteOnTermination {
            attachment_id: d.s.attachment_id.clone().unwrap_or_default(),
            delete_on_termination: spec.delete_on_termination,
        });
    }
    let want: BTreeSet<&String> = spec.security_group_ids.iter().collect();
    let have: BTreeSet<&String> = eni.security_group_ids.iter().collect();
    if want != have {
        return modify(EniAttributeChange::SecurityGroups(
            spec.security_group_ids.clone(),
        ));
    }
    let description = spec.description.clone().unwrap_or_default();
    if eni.description != description {
        return modify(EniAttributeChange::Description(description));
    }
    Then::wait(WaitReason::Converged, None)
}

/// The ENI is unattached: pick the index (describe-then-act) and attach.
fn attach(d: &mut Draft<'_>, eni: &NetworkInterface) -> Then {
    d.s.attachment_id = None;
    let InstanceSeen::Found(view) = &d.seen.instance else {
        return Then::wait(WaitReason::InstanceGone, None);
    };
    if !matches!(
        view.instance.state,
        InstanceState::Running | InstanceState::Stopped
    ) {
        return Then::wait(WaitReason::InstanceNotReady, Some(d.cfg.poll));
    }
    let spec = &d.att.spec;
    // A retry of this attach starts where the last one left off (an index EC2 refused is skipped).
    let start = match (d.phase(), d.s.device_index) {
        (Phase::Attaching, Some(i)) => i.max(spec.device_index),
        _ => spec.device_index,
    };
    match choose_index(view, start, spec.network_card_index, &eni.id) {
        IndexChoice::Free(index) => {
            d.set_phase(Phase::Attaching);
            d.s.device_index = Some(index);
            Then::Ec2(Ec2Action::Attach(AttachEni {
                network_interface_id: eni.id.clone(),
                instance_id: spec.instance_id.clone(),
                device_index: index,
                network_card_index: Some(spec.network_card_index),
            }))
        }
        IndexChoice::BeingFreed(index) => {
            Then::wait(WaitReason::IndexBeingFreed(index), Some(d.cfg.poll))
        }
        IndexChoice::NoneFree => Then::wait(
            WaitReason::NoFreeDeviceIndex,
            Some(Duration::from_secs(300)),
        ),
    }
}

pub(super) fn detach(eni: &NetworkInterface, attachment_id: &str, force: bool) -> Then {
    Then::Ec2(Ec2Action::Detach {
        network_interface_id: eni.id.clone(),
        request: DetachEni {
            attachment_id: attachment_id.to_owned(),
            force,
        },
    })
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
