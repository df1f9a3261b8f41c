//! The NodeENI status, aggregated from its ENIAttachments and the fleet plan: counts, the
//! Ready / Progressing / Degraded conditions, and the Go controller's `status.attachments[]` as a
//! capped view. Built so that an unchanged world gives an identical status — condition times move
//! only on a flip, entry times come from the attachments — and [`status_changed`] can skip the
//! write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use multi_eni_api::conditions::{find, set_condition};
use multi_eni_api::crds::MAX_STATUS_ATTACHMENTS;
use multi_eni_api::keys::{condition, reason};
use multi_eni_api::{AttachmentEntry, EniAttachment, NodeEni, NodeEniStatus, Phase};

use super::fleet::Plan;
use super::problem::Severity;
use super::recovery::ERROR_REASONS;

/// The status `ne` should have, given its fleet plan and its ENIAttachments, at `now` (used only
/// for conditions that flip).
pub fn node_eni_status(
    ne: &NodeEni,
    plan: &Plan,
    attachments: &[EniAttachment],
    now: Timestamp,
) -> NodeEniStatus {
    let mut s = ne.status.clone().unwrap_or_default();
    let generation = ne.metadata.generation;
    let count = |f: fn(Phase) -> bool| {
        let n = attachments.iter().filter(|a| f(a.phase())).count();
        i32::try_from(n).unwrap_or(i32::MAX)
    };
    s.desired_count = i32::try_from(plan.desired).unwrap_or(i32::MAX);
    s.attached_count = count(Phase::is_attached);
    s.ready_count = count(|p| p == Phase::Ready);
    s.observed_generation = generation;
    let mut entries: Vec<AttachmentEntry> = attachments.iter().map(entry).collect();
    entries.sort_by(|a, b| {
        (&a.node_id, a.device_index, &a.subnet_id).cmp(&(&b.node_id, b.device_index, &b.subnet_id))
    });
    let total = entries.len();
    entries.truncate(MAX_STATUS_ATTACHMENTS);
    s.attachments = entries;
    let c = conditions(plan, attachments, &s);
    let t = Time(now);
    let conds = &mut s.conditions;
    set_condition(
        conds,
        condition::READY,
        c.ready.0,
        c.ready.1,
        &c.ready.2,
        generation,
        t.clone(),
    );
    let (p, pr, pm) = c.progressing;
    set_condition(
        conds,
        condition::PROGRESSING,
        p,
        pr,
        &pm,
        generation,
        t.clone(),
    );
    let (dg, dr, dm) = c.degraded;
    set_condition(
        conds,
        condition::DEGRADED,
        dg,
        dr,
        &dm,
        generation,
        t.clone(),
    );
    if total > MAX_STATUS_ATTACHMENTS {
        let msg = format!(
            "status.attachments shows {MAX_STATUS_ATTACHMENTS} of {total}; list ENIAttachments \
             (kubectl get enia -l networking.k8s.aws/nodeeni=…) for all"
        );
        set_condition(
            conds,
            condition::ATTACHMENTS_TRUNCATED,
            true,
            condition::ATTACHMENTS_TRUNCATED,
            &msg,
            generation,
            t,
        );
    } else if find(conds, condition::ATTACHMENTS_TRUNCATED).is_some() {
        set_condition(
            conds,
            condition::ATTACHMENTS_TRUNCATED,
            false,
            reason::ALL_READY,
            "",
            generation,
            t,
        );
    }
    s
}

/// Whether `new` must be written: only when something in it differs.
pub fn status_changed(current: Option<&NodeEniStatus>, new: &NodeEniStatus) -> bool {
    current != Some(new)
}

type Cond = (bool, &'static str, String);

struct Conditions {
    ready: Cond,
    progressing: Cond,
    degraded: Cond,
}

fn conditions(plan: &Plan, attachments: &[EniAttachment], s: &NodeEniStatus) -> Conditions {
    let degraded = degraded(plan, attachments);
    let converged = plan.is_empty()
        && s.desired_count == s.ready_count
        && attachments.len() == usize::try_from(s.desired_count).unwrap_or(0)
        && !plan
            .problems
            .iter()
            .any(|p| p.severity == Severity::Progressing);
    let counts = format!(
        "{} desired, {} attached, {} ready",
        s.desired_count, s.attached_count, s.ready_count
    );
    let progressing = if converged {
        (false, reason::ALL_READY, counts.clone())
    } else {
        (true, reason::RECONCILING, counts.clone())
    };
    let ready = match &degraded {
        (true, why, msg) => (false, *why, msg.clone()),
        _ if plan.matching_nodes == 0 => (
            true,
            reason::NO_MATCHING_NODES,
            "no node matches nodeSelector".to_owned(),
        ),
        _ if converged => (true, reason::ALL_READY, counts),
        _ => (false, reason::RECONCILING, counts),
    };
    Conditions {
        ready,
        progressing,
        degraded,
    }
}

/// Degraded: the first problem a person must fix, from the plan or from an attachment.
fn degraded(plan: &Plan, attachments: &[EniAttachment]) -> Cond {
    let from_plan = plan
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Degraded)
        .map(|p| (p.reason, p.message.clone()));
    let from_attachments = attachments.iter().filter_map(|a| {
        let c = find(&a.status.as_ref()?.conditions, condition::READY)?;
        let why = ERROR_REASONS.iter().find(|r| **r == c.reason)?;
        Some((*why, format!("{}: {}", a.spec.node_name, c.message)))
    });
    let all: Vec<(&'static str, String)> = from_plan.chain(from_attachments).collect();
    match all.first() {
        None => (false, reason::ALL_READY, String::new()),
        Some((why, msg)) if all.len() == 1 => (true, why, msg.clone()),
        Some((why, msg)) => (
            true,
            why,
            format!("{msg} (and {} more problems)", all.len() - 1),
        ),
    }
}

/// One entry of the compatibility view.
fn entry(a: &EniAttachment) -> AttachmentEntry {
    let s = a.status.clone().unwrap_or_default();
    let i = s.interface.clone().unwrap_or_default();
    let last_updated = [
        find(&s.conditions, condition::READY).map(|c| c.last_transition_time.clone()),
        i.last_updated.clone(),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|t| t.0);
    AttachmentEntry {
        node_id: a.spec.node_name.clone(),
        instance_id: a.spec.instance_id.clone(),
        eni_id: s.eni_id.unwrap_or_default(),
        attachment_id: s.attachment_id.unwrap_or_default(),
        subnet_id: a.spec.subnet_id.clone(),
        subnet_cidr: s.subnet_cidr.unwrap_or_default(),
        mtu: a.spec.mtu.unwrap_or(0),
        device_index: s.device_index.unwrap_or(a.spec.device_index),
        status: a.phase().as_str().to_ascii_lowercase(),
        last_updated,
        dpdk_bound: i.dpdk_bound,
        dpdk_driver: i.dpdk_driver.unwrap_or_default(),
        dpdk_resource_name: a
            .spec
            .sriov
            .as_ref()
            .map(|r| r.resource_name.clone())
            .unwrap_or_default(),
        dpdk_pci_address: i.pci_address.unwrap_or_default(),
        mac_address: s.mac_address.unwrap_or_default(),
        interface_name: i.interface_name.unwrap_or_default(),
        private_ip_address: s.private_ip_address.unwrap_or_default(),
        availability_zone: s.availability_zone.unwrap_or_default(),
    }
}
