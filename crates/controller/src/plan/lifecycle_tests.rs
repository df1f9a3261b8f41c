//! The state machine as tables: each test builds a world (attachment, what EC2 shows), asks for
//! steps, and where useful lets a tiny in-test EC2 carry them out.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use multi_eni_api::conditions::find;
use multi_eni_api::keys::{self, condition, reason};
use multi_eni_api::{EniAttachment, InterfaceStatus, Phase};
use multi_eni_ec2::{
    AttachmentStatus, EniAttachment as Ec2Attachment, EniAttributeChange, EniStatus, InstanceState,
    NetworkInterface,
};

use super::super::fixtures::*;
use super::*;

const UID: &str = "uid-a";
const INSTANCE: &str = "i-00000001";

struct World {
    att: EniAttachment,
    seen: Observed,
    now: i64,
    cfg: LifecycleConfig,
    next_eni: u32,
    calls: Vec<Ec2Action>,
    /// ClientToken → the ENI it created, as EC2 remembers it.
    tokens: std::collections::BTreeMap<String, String>,
}

impl World {
    /// Attachment `a` wanting device index 1 on a running 3-interface instance with only its
    /// primary interface; nothing in EC2 yet.
    fn new() -> World {
        let mut att = existing_attachment("a", "n1", SUBNET_A, 1);
        att.metadata.uid = Some(UID.into());
        World {
            att,
            seen: Observed {
                enis: vec![],
                instance: InstanceSeen::Found(Box::new(view(&[("eni-primary", 0, 0)], 3))),
                subnet_cidr: Some("10.0.1.0/24".into()),
                adoptable: None,
            },
            now: 1_000,
            cfg: LifecycleConfig {
                cluster: "prod".into(),
                ..LifecycleConfig::default()
            },
            next_eni: 1,
            calls: vec![],
            tokens: Default::default(),
        }
    }

    fn at(&self) -> Timestamp {
        Timestamp::from_second(self.now).expect("valid time")
    }

    fn step(&self) -> Step {
        next_step(&self.att, &self.seen, self.at(), &self.cfg)
    }

    fn status(&self) -> EniAttachmentStatus {
        self.att.status.clone().unwrap_or_default()
    }

    /// Stores Persist steps until the decision is something else, or an EC2 call follows a
    /// write; a status must settle in at most three writes, or the machine would loop writing.
    fn settle(&mut self) -> Step {
        for _ in 0..3 {
            match self.step() {
                Step::Persist { status, then } => {
                    self.att.status = Some(*status);
                    if let Some(a) = then {
                        return Step::Ec2(a);
                    }
                }
                other => return other,
            }
        }
        panic!("status does not settle: {:?}", self.step());
    }

    /// The next EC2 action, after storing what comes first.
    fn ec2_step(&mut self) -> Ec2Action {
        match self.settle() {
            Step::Ec2(a) => a,
            other => panic!("expected an EC2 call, got {other:?}"),
        }
    }

    fn wait(&mut self) -> WaitReason {
        match self.settle() {
            Step::Wait(w) => w.reason,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    /// A minimal EC2: carries out `a` on the observed world at once.
    fn execute(&mut self, a: &Ec2Action) {
        self.calls.push(a.clone());
        match a {
            Ec2Action::Create(req) => {
                let token = req.client_token.clone().expect("every create has a token");
                if self.tokens.contains_key(&token) {
                    return; // idempotent: EC2 returns the ENI it made for this token
                }
                let id = format!("eni-{:08x}", self.next_eni);
                self.tokens.insert(token, id.clone());
                self.next_eni += 1;
                let mut e = eni(&id);
                e.tags = req.tags.clone();
                e.security_group_ids = req.security_group_ids.clone();
                e.description = req.description.clone().unwrap_or_default();
                self.seen.enis.push(e);
            }
            Ec2Action::Attach(req) => {
                let e = self.eni_mut(&req.network_interface_id);
                e.status = EniStatus::InUse;
                e.attachment = Some(attachment(
                    &req.instance_id,
                    req.device_index,
                    AttachmentStatus::Attached,
                ));
            }
            Ec2Action::Modify {
                network_interface_id,
                change,
            } => {
                let e = self.eni_mut(network_interface_id);
                match change {
                    EniAttributeChange::SecurityGroups(g) => e.security_group_ids = g.clone(),
                    EniAttributeChange::Description(d) => e.description = d.clone(),
                    EniAttributeChange::DeleteOnTermination {
                        delete_on_termination,
                        ..
                    } => {
                        if let Some(at) = e.attachment.as_mut() {
                            at.delete_on_termination = *delete_on_termination;
                        }
                    }
                }
            }
            Ec2Action::Detach {
                network_interface_id,
                ..
            } => {
                let e = self.eni_mut(network_interface_id);
                e.attachment = None;
                e.status = EniStatus::Available;
            }
            Ec2Action::Delete {
                network_interface_id,
            } => {
                self.seen.enis.retain(|e| &e.id != network_interface_id);
            }
            Ec2Action::Tag {
                network_interface_id,
                tags,
            } => {
                let e = self.eni_mut(network_interface_id);
                e.tags.extend(tags.clone());
            }
        }
    }

    fn eni_mut(&mut self, id: &str) -> &mut NetworkInterface {
        self.seen
            .enis
            .iter_mut()
            .chain(self.seen.adoptable.as_mut())
            .find(|e| e.id == id)
            .expect("ENI exists")
    }

    /// Runs decisions and EC2 calls until the machine waits (or drops the finalizer).
    fn run(&mut self) -> Step {
        for _ in 0..20 {
            match self.settle() {
                Step::Ec2(a) => {
                    assert_announced(&self.status(), &a);
                    self.execute(&a);
                }
                other => return other,
            }
        }
        panic!("no rest after 20 steps: {:?}", self.calls);
    }

    fn delete(&mut self) {
        self.att.metadata.deletion_timestamp = Some(time(self.now));
    }

    fn agent_reports(&mut self, ready: bool, released: bool) {
        let mut i = InterfaceStatus {
            released,
            ..Default::default()
        };
        multi_eni_api::conditions::set_condition(
            &mut i.conditions,
            condition::INTERFACE_READY,
            ready,
            reason::INTERFACE_CONFIGURED,
            "",
            Some(1),
            time(self.now),
        );
        let mut s = self.status();
        s.interface = Some(i);
        self.att.status = Some(s);
    }
}

/// Crash safety: every EC2 call is announced in the stored status before it is made, so a
/// controller restarted after the call finds its intent there.
fn assert_announced(s: &EniAttachmentStatus, a: &Ec2Action) {
    match a {
        Ec2Action::Create(req) => {
            assert_eq!(s.phase, Some(Phase::Creating));
            let attempt = s.create_attempt.expect("attempt stored before create");
            assert_eq!(
                req.client_token.as_deref(),
                Some(client_token(UID, attempt).as_str())
            );
        }
        Ec2Action::Attach(req) => {
            assert_eq!(s.phase, Some(Phase::Attaching));
            assert_eq!(s.eni_id.as_deref(), Some(req.network_interface_id.as_str()));
            assert_eq!(s.device_index, Some(req.device_index));
        }
        Ec2Action::Detach { .. } => assert!(s.detach_requested_at.is_some()),
        Ec2Action::Delete {
            network_interface_id,
        } if s.eni_id.as_deref() == Some(network_interface_id) => {
            assert_eq!(s.phase, Some(Phase::Deleting));
        }
        Ec2Action::Tag {
            network_interface_id,
            ..
        } => {
            assert_eq!(s.eni_id.as_deref(), Some(network_interface_id.as_str()));
        }
        Ec2Action::Delete { .. } | Ec2Action::Modify { .. } => {}
    }
}

/// An unattached ENI carrying attachment `a`'s tags.
fn eni(id: &str) -> NetworkInterface {
    available_eni(id, UID)
}

fn attachment(instance: &str, index: i32, status: AttachmentStatus) -> Ec2Attachment {
    Ec2Attachment {
        attachment_id: format!("eni-attach-{index}"),
        instance_id: Some(instance.into()),
        device_index: index,
        network_card_index: 0,
        status,
        delete_on_termination: false,
    }
}

fn attached_world() -> World {
    let mut w = World::new();
    assert!(matches!(w.run(), Step::Wait(_)));
    assert_eq!(w.status().phase, Some(Phase::Attached));
    w.calls.clear();
    w
}

fn ready_reason(w: &World) -> String {
    find(&w.status().conditions, condition::READY)
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

#[test]
fn pending_attachment_stores_creating_and_attempt_before_creating() {
    let w = World::new();
    match w.step() {
        Step::Persist {
            status: s,
            then: Some(Ec2Action::Create(_)),
        } => {
            assert_eq!(s.phase, Some(Phase::Creating));
            assert_eq!(s.create_attempt, Some(1));
            assert_eq!(s.phase_since, Some(time(1_000)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_carries_our_tags_and_the_attempts_client_token() {
    let mut w = World::new();
    let Ec2Action::Create(req) = w.ec2_step() else {
        panic!("create first")
    };
    assert_eq!(req.subnet_id, SUBNET_A);
    assert_eq!(req.security_group_ids, vec![SG_1.to_owned()]);
    assert_eq!(req.tags, keys::eni_tags("prod", NE, UID, "n1", INSTANCE));
    assert_eq!(req.client_token.as_deref(), Some("uid-a-1"));
}

#[test]
fn happy_path_creates_attaches_sets_delete_on_termination_and_rests() {
    let mut w = World::new();
    let rest = w.run();
    assert_eq!(
        rest,
        Step::Wait(Wait {
            reason: WaitReason::Converged,
            requeue_after: None
        })
    );
    let ops: Vec<&str> = w.calls.iter().map(|c| c.op().action()).collect();
    assert_eq!(
        ops,
        [
            "CreateNetworkInterface",
            "AttachNetworkInterface",
            "ModifyNetworkInterfaceAttribute"
        ]
    );
    let s = w.status();
    assert_eq!(s.phase, Some(Phase::Attached));
    assert_eq!(s.eni_id.as_deref(), Some("eni-00000001"));
    assert_eq!(s.attachment_id.as_deref(), Some("eni-attach-1"));
    assert_eq!(s.mac_address.as_deref(), Some("02:00:00:00:00:0a"));
    assert_eq!(s.private_ip_address.as_deref(), Some("10.0.1.10"));
    assert_eq!(s.subnet_cidr.as_deref(), Some("10.0.1.0/24"));
    assert_eq!(s.availability_zone.as_deref(), Some(AZ_A));
    assert_eq!(s.device_index, Some(1));
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(ready_reason(&w), reason::RECONCILING);
}

#[test]
fn delete_on_termination_is_set_right_after_attach() {
    let mut w = World::new();
    w.run();
    let last = w.calls.last().expect("calls");
    assert!(matches!(
        last,
        Ec2Action::Modify {
            change: EniAttributeChange::DeleteOnTermination { delete_on_termination: true, attachment_id },
            ..
        } if attachment_id == "eni-attach-1"
    ));
}

#[test]
fn crash_after_create_before_record_adopts_by_tag() {
    let mut w = World::new();
    let create = w.ec2_step();
    w.execute(&create); // the ENI exists; the controller dies before recording it
    w.calls.clear();
    match w.step() {
        Step::Persist { status, then } => {
            assert_eq!(status.eni_id.as_deref(), Some("eni-00000001"));
            assert!(!matches!(then, Some(Ec2Action::Create(_))));
        }
        other => panic!("adopt first: {other:?}"),
    }
    w.run();
    assert!(
        w.calls.iter().all(|c| !matches!(c, Ec2Action::Create(_))),
        "{:?}",
        w.calls
    );
    assert_eq!(w.seen.enis.len(), 1);
}

#[test]
fn eni_tagged_before_status_existed_is_adopted_instead_of_created() {
    let mut w = World::new();
    w.seen.enis.push(eni("eni-0000000f"));
    w.run();
    assert!(w.calls.iter().all(|c| !matches!(c, Ec2Action::Create(_))));
    assert_eq!(w.status().eni_id.as_deref(), Some("eni-0000000f"));
}

#[test]
fn lost_create_response_retries_with_the_same_token() {
    let mut w = World::new();
    let first = w.ec2_step();
    // The response was lost and EC2 does not list the ENI yet: the same request again.
    assert_eq!(w.ec2_step(), first);
    assert_eq!(w.status().create_attempt, Some(1));
}

#[test]
fn vanished_eni_is_recreated_with_a_new_token() {
    let mut w = attached_world();
    w.seen.enis.clear(); // deleted behind our back
    let Ec2Action::Create(req) = w.ec2_step() else {
        panic!("re-create")
    };
    assert_eq!(req.client_token.as_deref(), Some("uid-a-2"));
    let s = w.status();
    assert_eq!(
        (s.eni_id, s.attachment_id, s.phase),
        (None, None, Some(Phase::Creating))
    );
}

#[test]
fn eni_not_listed_right_after_create_is_waited_for_not_recreated() {
    let mut w = World::new();
    let create = w.ec2_step();
    w.execute(&create);
    w.settle(); // recorded
    w.seen.enis.clear(); // a lagging read
    w.now += 5;
    assert_eq!(w.wait(), WaitReason::EniNotVisible);
    w.now += 60;
    assert!(
        matches!(w.ec2_step(), Ec2Action::Create(_)),
        "past the grace it is gone"
    );
}

#[test]
fn foreign_interface_on_wanted_index_moves_us_to_next_free_index() {
    let mut w = World::new();
    w.seen.instance = InstanceSeen::Found(Box::new(view(
        &[("eni-primary", 0, 0), ("eni-cni", 1, 0)],
        4,
    )));
    w.run();
    let s = w.status();
    assert_eq!(s.device_index, Some(2));
    assert!(w.calls.iter().any(|c| matches!(c, Ec2Action::Attach(r) if r.device_index == 2 && r.network_card_index == Some(0))));
}

#[test]
fn index_refused_by_ec2_is_skipped_on_the_next_attempt() {
    let mut w = World::new();
    let create = w.ec2_step();
    w.execute(&create);
    let Ec2Action::Attach(req) = w.ec2_step() else {
        panic!("attach")
    };
    assert_eq!(req.device_index, 1);
    // A forced detach elsewhere keeps index 1 busy though describe does not show it.
    let err = multi_eni_ec2::Ec2Error::codeless(
        multi_eni_ec2::Op::AttachNetworkInterface,
        multi_eni_ec2::ErrorKind::DeviceIndexInUse,
        "taken",
    );
    let r = super::super::on_error(&w.att, &Ec2Action::Attach(req), &err, w.at());
    assert_eq!(r.requeue_after, Duration::ZERO);
    w.att.status = r.status.map(|s| *s);
    let Ec2Action::Attach(again) = w.ec2_step() else {
        panic!("attach again")
    };
    assert_eq!(again.device_index, 2);
}

#[test]
fn index_held_by_our_leaving_eni_is_waited_for() {
    let mut w = World::new();
    let mut v = view(&[("eni-primary", 0, 0), ("eni-old", 1, 0)], 4);
    v.leaving.insert("eni-old".into());
    w.seen.instance = InstanceSeen::Found(Box::new(v));
    let create = w.ec2_step();
    w.execute(&create);
    assert_eq!(w.wait(), WaitReason::IndexBeingFreed(1));
}

#[test]
fn no_free_index_waits_with_limit_exceeded() {
    let mut w = World::new();
    w.seen.instance = InstanceSeen::Found(Box::new(view(
        &[("eni-primary", 0, 0), ("eni-x", 1, 0), ("eni-y", 2, 0)],
        3,
    )));
    let create = w.ec2_step();
    w.execute(&create);
    assert_eq!(w.wait(), WaitReason::NoFreeDeviceIndex);
    assert_eq!(ready_reason(&w), reason::LIMIT_EXCEEDED);
}

#[test]
fn pending_instance_is_waited_for_before_attach() {
    let mut w = World::new();
    if let InstanceSeen::Found(v) = &mut w.seen.instance {
        v.instance.state = InstanceState::Pending;
    }
    let create = w.ec2_step();
    w.execute(&create);
    assert_eq!(w.wait(), WaitReason::InstanceNotReady);
}

#[test]
fn attaching_in_ec2_is_recorded_and_waited_for() {
    let mut w = World::new();
    let create = w.ec2_step();
    w.execute(&create);
    w.ec2_step();
    w.seen.enis[0].attachment = Some(attachment(INSTANCE, 1, AttachmentStatus::Attaching));
    assert_eq!(w.wait(), WaitReason::Attaching);
    assert_eq!(w.status().attachment_id.as_deref(), Some("eni-attach-1"));
}

#[test]
fn changed_security_groups_and_description_are_modified_in_place() {
    let mut w = attached_world();
    w.att.spec.security_group_ids = vec![SG_1.into(), SG_2.into()];
    w.att.spec.description = Some("storage".into());
    w.att.metadata.generation = Some(2);
    w.run();
    assert_eq!(
        w.calls
            .iter()
            .map(|c| match c {
                Ec2Action::Modify { change, .. } => change.clone(),
                other => panic!("only modifies: {other:?}"),
            })
            .collect::<Vec<_>>(),
        vec![
            EniAttributeChange::SecurityGroups(vec![SG_1.into(), SG_2.into()]),
            EniAttributeChange::Description("storage".into()),
        ]
    );
    assert_eq!(w.status().observed_generation, Some(2));
}

#[test]
fn security_groups_in_another_order_are_not_a_change() {
    let mut w = attached_world();
    w.att.spec.security_group_ids = vec![SG_2.into(), SG_1.into()];
    w.seen.enis[0].security_group_ids = vec![SG_1.into(), SG_2.into()];
    assert_eq!(w.wait(), WaitReason::Converged);
}

#[test]
fn delete_on_termination_drift_is_corrected() {
    let mut w = attached_world();
    if let Some(a) = w.seen.enis[0].attachment.as_mut() {
        a.delete_on_termination = false;
    }
    assert!(matches!(
        w.ec2_step(),
        Ec2Action::Modify {
            change: EniAttributeChange::DeleteOnTermination {
                delete_on_termination: true,
                ..
            },
            ..
        }
    ));
}

#[test]
fn agent_ready_moves_attached_to_ready_and_back() {
    let mut w = attached_world();
    w.agent_reports(true, false);
    assert_eq!(w.wait(), WaitReason::Converged);
    assert_eq!(w.status().phase, Some(Phase::Ready));
    assert_eq!(ready_reason(&w), reason::INTERFACE_CONFIGURED);
    w.agent_reports(false, false);
    w.settle();
    assert_eq!(w.status().phase, Some(Phase::Attached));
}

#[test]
fn converged_attachment_waits_without_writing() {
    let mut w = attached_world();
    w.now += 3600;
    assert!(matches!(
        w.step(),
        Step::Wait(Wait {
            reason: WaitReason::Converged,
            requeue_after: None
        })
    ));
}

#[test]
fn eni_attached_to_another_instance_is_taken_back() {
    let mut w = attached_world();
    w.seen.enis[0].attachment = Some(attachment("i-0000000f", 1, AttachmentStatus::Attached));
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { request, .. } if !request.force));
}

#[test]
fn agent_never_reported_detaches_at_once() {
    let mut w = attached_world();
    w.delete();
    let Ec2Action::Detach { request, .. } = w.ec2_step() else {
        panic!("detach")
    };
    assert!(!request.force);
    let s = w.status();
    assert_eq!(s.phase, Some(Phase::Detaching));
    assert_eq!(s.detach_requested_at, Some(time(w.now)));
}

#[test]
fn agent_that_reported_is_waited_for_until_released() {
    let mut w = attached_world();
    w.agent_reports(true, false);
    w.delete();
    assert_eq!(w.wait(), WaitReason::AgentRelease);
    assert_eq!(w.status().phase, Some(Phase::Detaching));
    w.now += 10;
    assert_eq!(w.wait(), WaitReason::AgentRelease);
    w.agent_reports(false, true);
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { request, .. } if !request.force));
}

#[test]
fn silent_agent_is_waited_for_at_most_the_release_timeout() {
    let mut w = attached_world();
    w.agent_reports(true, false);
    w.delete();
    match w.settle() {
        Step::Wait(wait) => assert_eq!(wait.requeue_after, Some(w.cfg.release_timeout)),
        other => panic!("{other:?}"),
    }
    w.now += 61;
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { .. }));
}

#[test]
fn stuck_detach_is_forced_after_the_timeout_and_once_per_timeout() {
    let mut w = attached_world();
    w.delete();
    w.ec2_step();
    w.seen.enis[0].attachment = Some(attachment(INSTANCE, 1, AttachmentStatus::Detaching));
    w.now += 10;
    assert_eq!(w.wait(), WaitReason::Detaching);
    w.now += 120;
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { request, .. } if request.force));
    assert_eq!(w.status().detach_forced_at, Some(time(w.now)));
    w.now += 10;
    assert_eq!(w.wait(), WaitReason::Detaching);
    w.now += 120;
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { request, .. } if request.force));
}

#[test]
fn lost_detach_is_repeated() {
    let mut w = attached_world();
    w.delete();
    let first = w.ec2_step();
    let resend = i64::try_from(w.cfg.detach_resend_after.as_secs()).expect("small");
    w.now += resend; // EC2 still shows it attached: the call never arrived
    assert_eq!(w.ec2_step(), first);
    assert_eq!(w.status().detach_requested_at, Some(time(w.now - resend)));
}

#[test]
fn detach_shown_attached_by_a_lagging_read_is_not_sent_again() {
    let mut w = attached_world();
    w.delete();
    w.ec2_step();
    let resend = i64::try_from(w.cfg.detach_resend_after.as_secs()).expect("small");
    for later in [0, 2, resend - 1] {
        w.now += later;
        // The describe lags behind the request: it still shows the ENI attached.
        assert_eq!(
            w.wait(),
            WaitReason::Detaching,
            "{later} s after the request"
        );
        w.now -= later;
    }
}

#[test]
fn deletion_detaches_waits_for_available_deletes_and_drops_the_finalizer() {
    let mut w = attached_world();
    w.delete();
    assert_eq!(w.run(), Step::DropFinalizer);
    let ops: Vec<&str> = w.calls.iter().map(|c| c.op().action()).collect();
    assert_eq!(ops, ["DetachNetworkInterface", "DeleteNetworkInterface"]);
    assert!(w.seen.enis.is_empty());
}

#[test]
fn detaching_eni_is_not_deleted_until_available() {
    let mut w = attached_world();
    w.delete();
    w.ec2_step();
    w.seen.enis[0].attachment = None;
    w.seen.enis[0].status = EniStatus::Detaching;
    assert_eq!(w.wait(), WaitReason::Detaching);
}

#[test]
fn not_found_while_deleting_is_done() {
    let mut w = attached_world();
    w.delete();
    w.ec2_step();
    w.seen.enis.clear();
    assert_eq!(w.settle(), Step::DropFinalizer);
}

#[test]
fn deleting_before_anything_was_created_drops_the_finalizer_at_once() {
    let mut w = World::new();
    w.delete();
    assert_eq!(w.step(), Step::DropFinalizer);
}

#[test]
fn deletion_right_after_a_create_waits_for_the_eni_to_surface() {
    let mut w = World::new();
    w.ec2_step(); // Creating, attempt 1 stored; the create may be in flight
    w.delete();
    assert_eq!(w.wait(), WaitReason::EniNotVisible);
    w.now += 60;
    assert_eq!(w.settle(), Step::DropFinalizer, "the GC sweeps a late one");
}

#[test]
fn terminated_instance_is_cleaned_up_and_terminal_without_create() {
    let mut w = attached_world();
    if let InstanceSeen::Found(v) = &mut w.seen.instance {
        v.instance.state = InstanceState::Terminated;
    }
    // EC2 detached it (DeleteOnTermination off here): delete what is left, then stop.
    w.seen.enis[0].attachment = None;
    w.seen.enis[0].status = EniStatus::Available;
    let rest = w.run();
    assert_eq!(
        rest,
        Step::Wait(Wait {
            reason: WaitReason::InstanceGone,
            requeue_after: None
        })
    );
    assert_eq!(
        w.calls.iter().map(|c| c.op().action()).collect::<Vec<_>>(),
        ["DeleteNetworkInterface"]
    );
    assert_eq!(w.status().phase, Some(Phase::Failed));
    assert_eq!(ready_reason(&w), reason::INSTANCE_GONE);
    assert_eq!(w.settle(), rest, "terminal: nothing more");
}

#[test]
fn instance_not_found_before_create_creates_nothing() {
    let mut w = World::new();
    w.seen.instance = InstanceSeen::NotFound;
    assert_eq!(
        w.run(),
        Step::Wait(Wait {
            reason: WaitReason::InstanceGone,
            requeue_after: None
        })
    );
    assert!(w.calls.is_empty());
    // The instance shows up after all (a lagging read): the attachment resumes.
    w.seen.instance = InstanceSeen::Found(Box::new(view(&[("eni-primary", 0, 0)], 3)));
    assert!(matches!(w.ec2_step(), Ec2Action::Create(_)));
}

#[test]
fn terminated_instance_skips_the_release_wait() {
    let mut w = attached_world();
    w.agent_reports(true, false);
    w.seen.instance = InstanceSeen::NotFound;
    assert!(matches!(w.ec2_step(), Ec2Action::Detach { .. }));
}

#[test]
fn extra_eni_with_our_uid_is_deleted() {
    let mut w = attached_world();
    w.seen.enis.push(eni("eni-0000000e"));
    assert_eq!(
        w.ec2_step(),
        Ec2Action::Delete {
            network_interface_id: "eni-0000000e".into()
        }
    );
    assert_eq!(
        w.status().eni_id.as_deref(),
        Some("eni-00000001"),
        "the recorded one stays ours"
    );
}

#[test]
fn client_tokens_differ_per_attempt_and_fit_ec2s_limit() {
    assert_eq!(
        client_token("0b5a7c1e-0000-4000-8000-000000000001", 1),
        "0b5a7c1e-0000-4000-8000-000000000001-1"
    );
    assert_ne!(client_token("u", 1), client_token("u", 2));
    let long = "x".repeat(70);
    assert_eq!(client_token(&long, 1).len(), 64);
    assert_ne!(client_token(&long, 1), client_token(&long, 2));
}

impl World {
    /// Runs to rest like [`World::run`], but the `k`-th EC2 call announced by a stored status is
    /// never made: the controller died right after the write.
    fn run_dying_before_call(&mut self, k: usize) -> Step {
        let mut announced = 0;
        for _ in 0..30 {
            match self.step() {
                Step::Persist { status, then } => {
                    self.att.status = Some(*status);
                    if let Some(a) = then {
                        announced += 1;
                        if announced != k {
                            self.execute(&a);
                        }
                    }
                }
                Step::Ec2(a) => self.execute(&a),
                other => return other,
            }
        }
        panic!("no rest: {:?}", self.calls);
    }
}

#[test]
fn controller_dying_before_any_announced_call_still_converges_to_one_eni() {
    for k in 1..=6 {
        let mut w = World::new();
        let rest = w.run_dying_before_call(k);
        assert_eq!(
            rest,
            Step::Wait(Wait {
                reason: WaitReason::Converged,
                requeue_after: None
            }),
            "k={k}"
        );
        assert_eq!(w.seen.enis.len(), 1, "k={k}: one ENI, never two");
        assert_eq!(w.status().phase, Some(Phase::Attached), "k={k}");
        w.delete();
        for j in 1..=3 {
            let mut d = World {
                calls: vec![],
                ..w.clone_world()
            };
            let mut rest = d.run_dying_before_call(j);
            if matches!(&rest, Step::Wait(w) if w.reason == WaitReason::Detaching) {
                // The detach was announced but never sent: it goes again once EC2 has had
                // time to show it done.
                d.now += i64::try_from(d.cfg.detach_resend_after.as_secs()).expect("small");
                rest = d.run();
            }
            assert_eq!(rest, Step::DropFinalizer, "k={k} j={j}");
            assert!(d.seen.enis.is_empty(), "k={k} j={j}: nothing leaked");
        }
    }
}

#[test]
fn lost_create_response_with_a_lagging_read_makes_no_second_eni() {
    let mut w = World::new();
    let create = w.ec2_step();
    w.execute(&create);
    let made = w.seen.enis.remove(0); // the response is lost and describe lags
    w.now += 1;
    let again = w.ec2_step();
    assert_eq!(again, create, "same token");
    w.execute(&again);
    w.seen.enis.push(made); // the read catches up
    w.run();
    assert_eq!(w.seen.enis.len(), 1);
    assert_eq!(w.status().eni_id.as_deref(), Some("eni-00000001"));
}

impl World {
    fn clone_world(&self) -> World {
        World {
            att: self.att.clone(),
            seen: self.seen.clone(),
            now: self.now,
            cfg: self.cfg.clone(),
            next_eni: self.next_eni,
            calls: self.calls.clone(),
            tokens: self.tokens.clone(),
        }
    }
}

#[test]
fn eni_detached_behind_our_back_is_attached_again() {
    let mut w = attached_world();
    w.seen.enis[0].attachment = None;
    w.seen.enis[0].status = EniStatus::Available;
    let Ec2Action::Attach(req) = w.ec2_step() else {
        panic!("attach again")
    };
    assert_eq!((req.device_index, req.network_card_index), (1, Some(0)));
    assert_eq!(w.status().phase, Some(Phase::Attaching));
    assert_eq!(w.status().attachment_id, None);
}

#[test]
fn released_agent_lets_deletion_detach_and_delete_in_two_calls() {
    let mut w = attached_world();
    w.agent_reports(false, true);
    w.delete();
    assert_eq!(w.run(), Step::DropFinalizer);
    assert_eq!(w.calls.len(), 2, "detach and delete only: {:?}", w.calls);
}

#[test]
fn object_without_uid_creates_nothing() {
    let mut w = World::new();
    w.att.metadata.uid = None;
    assert_eq!(w.wait(), WaitReason::NotStored);
    assert!(w.calls.is_empty());
}

/// A world whose attachment names the Go controller's ENI `eni-00000g0` (annotation) and whose
/// adoption describe found it as `found` made it: attached to our instance at index 1 in our
/// subnet, with the Go controller's tags only.
fn go_world(change: impl FnOnce(&mut NetworkInterface)) -> World {
    let mut w = World::new();
    w.att.metadata.annotations = Some(
        [(
            keys::ANNOTATION_ADOPT_ENI.to_owned(),
            "eni-0000g000".to_owned(),
        )]
        .into(),
    );
    let mut go = eni("eni-0000g000");
    go.tags = [("NodeENI", NE), ("Node", "n1"), ("SubnetID", SUBNET_A)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    go.status = EniStatus::InUse;
    go.attachment = Some(attachment(INSTANCE, 1, AttachmentStatus::Attached));
    change(&mut go);
    w.seen.adoptable = Some(go);
    w
}

fn creates_attaches_or_detaches(calls: &[Ec2Action]) -> bool {
    calls.iter().any(|c| {
        matches!(
            c,
            Ec2Action::Create(_) | Ec2Action::Attach(_) | Ec2Action::Detach { .. }
        )
    })
}

#[test]
fn go_eni_on_our_instance_is_recorded_attached_then_tagged_without_create_or_attach() {
    let mut w = go_world(|_| {});
    match w.step() {
        Step::Persist {
            status,
            then: Some(Ec2Action::Tag { tags, .. }),
        } => {
            assert_eq!(status.eni_id.as_deref(), Some("eni-0000g000"));
            assert_eq!(status.phase, Some(Phase::Attached));
            assert_eq!(status.device_index, Some(1));
            assert_eq!(status.attachment_id.as_deref(), Some("eni-attach-1"));
            assert_eq!(status.create_attempt, None, "nothing was created");
            assert_eq!(tags, keys::eni_tags("prod", NE, UID, "n1", INSTANCE));
        }
        other => panic!("expected the adoption to be recorded, then tagged: {other:?}"),
    }
    let rest = w.run();
    assert!(matches!(rest, Step::Wait(_)), "{rest:?}");
    assert!(!creates_attaches_or_detaches(&w.calls), "{:?}", w.calls);
    assert!(matches!(w.calls[0], Ec2Action::Tag { .. }), "{:?}", w.calls);
    let adopted = w.seen.adoptable.as_ref().expect("still seen");
    assert_eq!(
        adopted.tags.get("NodeENI").map(String::as_str),
        Some(NE),
        "Go tags stay"
    );
    assert_eq!(
        adopted.tags.get(keys::TAG_ATTACHMENT).map(String::as_str),
        Some(UID)
    );
    assert_eq!(w.status().phase, Some(Phase::Attached));
    // Converged: a further look changes nothing and calls nothing.
    w.calls.clear();
    assert!(matches!(w.run(), Step::Wait(_)));
    assert!(w.calls.is_empty(), "{:?}", w.calls);
}

#[test]
fn go_eni_that_is_not_what_the_entry_said_is_left_alone_and_a_new_eni_is_made() {
    type Change = fn(&mut NetworkInterface);
    let table: [(&str, Change); 4] = [
        ("on another instance", |e| {
            e.attachment = Some(attachment("i-00000009", 1, AttachmentStatus::Attached));
        }),
        ("in another subnet", |e| e.subnet_id = SUBNET_B.into()),
        ("detached", |e| {
            e.attachment = None;
            e.status = EniStatus::Available;
        }),
        ("another cluster's", |e| {
            e.tags.insert(keys::TAG_CLUSTER.into(), "staging".into());
        }),
    ];
    for (case, change) in table {
        let mut w = go_world(change);
        let first = w.ec2_step();
        assert!(matches!(first, Ec2Action::Create(_)), "{case}: {first:?}");
        w.execute(&first);
        assert!(matches!(w.run(), Step::Wait(_)), "{case}");
        assert_eq!(w.status().phase, Some(Phase::Attached), "{case}");
        assert_ne!(w.status().eni_id.as_deref(), Some("eni-0000g000"), "{case}");
        let touched = w.calls.iter().any(|c| c.eni_id() == Some("eni-0000g000"));
        assert!(!touched, "{case}: the Go ENI was touched: {:?}", w.calls);
    }
}

#[test]
fn go_eni_ec2_does_not_list_is_not_waited_for() {
    let mut w = go_world(|_| {});
    w.seen.adoptable = None;
    assert!(matches!(w.ec2_step(), Ec2Action::Create(_)));
}

#[test]
fn restart_between_recording_the_adoption_and_tagging_tags_it() {
    let mut w = go_world(|_| {});
    let Step::Persist { status, .. } = w.step() else {
        panic!("the adoption is recorded first")
    };
    // The controller dies after the write: the next observe finds the ENI by its recorded ID.
    w.att.status = Some(*status);
    let go = w.seen.adoptable.take().expect("described");
    w.seen.enis.push(go);
    assert!(matches!(w.ec2_step(), Ec2Action::Tag { .. }));
}

#[test]
fn an_attach_waits_out_a_new_enis_propagation_and_only_that() {
    let cfg = LifecycleConfig::default();
    let ms = |n: i64| Timestamp::from_millisecond(n).expect("valid time");
    let created = 1_000_000;
    let rows: [(Option<i64>, i64, Option<Duration>); 5] = [
        // Created just now: the whole wait.
        (Some(created), created, Some(cfg.attach_after_create)),
        (
            Some(created),
            created + 1_200,
            Some(cfg.attach_after_create - Duration::from_millis(1_200)),
        ),
        // Old enough.
        (Some(created), created + 3_000, None),
        (Some(created), created + 60_000, None),
        // Not created by this process: a describe found it, long after its create.
        (None, created, None),
    ];
    for (created_at, now, want) in rows {
        assert_eq!(
            attach_wait(created_at.map(ms), ms(now), &cfg),
            want,
            "created {created_at:?}, now {now}"
        );
    }
    // As the create showed it (nothing to describe) until a poll after the attach is due.
    let due = i64::try_from((cfg.attach_after_create + cfg.poll).as_millis()).expect("small");
    for (created_at, now, want) in [
        (Some(created), created, true),
        (Some(created), created + due - 1, true),
        (Some(created), created + due, false),
        (None, created, false),
    ] {
        assert_eq!(
            as_created(created_at.map(ms), ms(now), &cfg),
            want,
            "created {created_at:?}, now {now}"
        );
    }
}
