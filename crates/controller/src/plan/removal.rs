//! The way out: the attachment is being deleted, or its instance is gone. Release handshake
//! with the agent (only if it ever reported), normal detach, forced detach after the timeout,
//! wait for `available`, delete, drop the finalizer. NotFound at any point means "already done".

use multi_eni_api::Phase;
use multi_eni_ec2::{
    AttachmentStatus, EniAttachment as Ec2Attachment, EniStatus, NetworkInterface,
};

use super::lifecycle::{Draft, Ec2Action, Then, WaitReason, detach};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub(super) fn removal(d: &mut Draft<'_>, instance_gone: bool) -> Then {
    let (ours, stray) = d.ours_and_stray();
    if let Some(id) = stray {
        return Then::Ec2(Ec2Action::Delete {
            network_interface_id: id,
        });
    }
    let Some(eni) = ours else {
        return nothing_left(d);
    };
    d.record(&eni);
    match eni
        .attachment
        .as_ref()
        .filter(|a| a.status != AttachmentStatus::Detached)
    {
        Some(a) => detaching(d, &eni, a, instance_gone),
        None if eni.status == EniStatus::Available => {
            d.s.attachment_id = None;
            d.set_phase(Phase::Deleting);
            Then::Ec2(Ec2Action::Delete {
                network_interface_id: eni.id.clone(),
            })
        }
        None => Then::wait(WaitReason::Detaching, Some(d.cfg.poll)),
    }
}

/// No ENI: done — unless a create may still surface (EC2 lists new ENIs late).
fn nothing_left(d: &mut Draft<'_>) -> Then {
    let maybe_in_flight = matches!(d.phase(), Phase::Creating | Phase::Attaching)
        && d.s.create_attempt.is_some()
        && d.since(d.s.phase_since.as_ref()) < d.cfg.visibility_grace;
    if maybe_in_flight {
        return Then::wait(WaitReason::EniNotVisible, Some(d.cfg.poll));
    }
    if d.att.metadata.deletion_timestamp.is_some() {
        return Then::DropFinalizer;
    }
    d.forget_eni();
    d.s.detach_requested_at = None;
    d.s.detach_forced_at = None;
    d.set_phase(Phase::Failed);
    Then::wait(WaitReason::InstanceGone, None)
}

fn detaching(d: &mut Draft<'_>, eni: &NetworkInterface, a: &Ec2Attachment, gone: bool) -> Then {
    d.set_phase(Phase::Detaching);
    let poll = Some(d.cfg.poll);
    // Only an agent that reported on this attachment has anything to let go of.
    let agent = d.att.interface();
    let must_wait = agent.is_some_and(|i| !i.released) && !gone;
    let waited = d.since(d.s.phase_since.as_ref());
    if must_wait && d.s.detach_requested_at.is_none() && waited < d.cfg.release_timeout {
        return Then::wait(
            WaitReason::AgentRelease,
            Some(d.cfg.release_timeout - waited),
        );
    }
    let Some(asked) = d.s.detach_requested_at.clone() else {
        d.s.detach_requested_at = Some(Time(d.now));
        return detach(eni, &a.attachment_id, false);
    };
    if d.since(Some(&asked)) >= d.cfg.detach_timeout {
        if d.since(d.s.detach_forced_at.as_ref()) >= d.cfg.detach_timeout {
            d.s.detach_forced_at = Some(Time(d.now));
            return detach(eni, &a.attachment_id, true);
        }
        return Then::wait(WaitReason::Detaching, poll);
    }
    let lost = d.since(Some(&asked)) >= d.cfg.detach_resend_after;
    match a.status {
        // Asked long enough ago, yet EC2 still shows it attached: the call was lost (or the
        // controller stopped between recording and calling). Detach is safe to repeat. Sooner,
        // a describe lagging behind the request shows the same thing.
        AttachmentStatus::Attached | AttachmentStatus::Attaching if lost => {
            detach(eni, &a.attachment_id, false)
        }
        _ => Then::wait(WaitReason::Detaching, poll),
    }
}
