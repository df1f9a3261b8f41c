//! The NodeENI status, aggregated from its ENIAttachments and the fleet plan: counts, the
//! Ready / Progressing / Degraded conditions, and the Go controller's `status.attachments[]` as a
//! capped view. Built so that an unchanged world gives an identical status — condition times move
//! only on a flip, entry times come from the attachments — and [`status_changed`] can skip the
//! write.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use multi_eni_api::conditions::{find, set_condition};
use multi_eni_api::crds::MAX_STATUS_ATTACHMENTS;
use multi_eni_api::keys::{condition, reason};
use multi_eni_api::{AttachmentEntry, EniAttachment, NodeEni, NodeEniStatus, Phase};

use super::adoption::adoption_candidate;
use super::fleet::Plan;
use super::problem::Severity;
use super::recovery::ERROR_REASONS;

/// The status `ne` should have, given its fleet plan and its ENIAttachments, at `now` (used only
/// for conditions that flip).
pub fn node_eni_status(
    ne: &NodeEni,
    plan: &Plan,
    attachments: &[Arc<EniAttachment>],
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
    let mut entries: Vec<AttachmentEntry> = attachments.iter().map(|a| entry(a)).collect();
    // The Go controller's entries not served by an ENIAttachment yet: the ENIs they name are
    // still there, and adopting them needs the entry until the ENIAttachment exists.
    entries.extend(plan.go_entries.iter().cloned());
    entries.sort_by(|a, b| {
        (&a.node_id, a.device_index, &a.subnet_id).cmp(&(&b.node_id, b.device_index, &b.subnet_id))
    });
    let total = entries.len();
    entries.truncate(MAX_STATUS_ATTACHMENTS);
    s.attachments = entries;
    let c = conditions(plan, attachments, &s);
    let mut set = |type_: &str, (status, why, message): Cond| {
        let conds = &mut s.conditions;
        set_condition(conds, type_, status, why, &message, generation, Time(now));
    };
    set(condition::READY, c.ready);
    set(condition::PROGRESSING, c.progressing);
    set(condition::DEGRADED, c.degraded);
    if total > MAX_STATUS_ATTACHMENTS {
        let msg = format!(
            "status.attachments shows {MAX_STATUS_ATTACHMENTS} of {total}; list the ENIAttachments \
             (kubectl get enia -l networking.k8s.aws/nodeeni=<name>) for all"
        );
        set(
            condition::ATTACHMENTS_TRUNCATED,
            (true, condition::ATTACHMENTS_TRUNCATED, msg),
        );
    } else {
        // Shown only while it is true: the view is whole again.
        s.conditions
            .retain(|c| c.type_ != condition::ATTACHMENTS_TRUNCATED);
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

fn conditions(plan: &Plan, attachments: &[Arc<EniAttachment>], s: &NodeEniStatus) -> Conditions {
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
fn degraded(plan: &Plan, attachments: &[Arc<EniAttachment>]) -> Cond {
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
        // Before an adoption is recorded, the ENI to adopt (it is attached already).
        eni_id: s
            .eni_id
            .or_else(|| adoption_candidate(a).map(str::to_owned))
            .unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::problem::Problem;
    use super::*;

    /// The status for attachments given by value (the reconciler shares the cache's).
    fn status_of(
        ne: &NodeEni,
        plan: &Plan,
        atts: &[EniAttachment],
        now: Timestamp,
    ) -> NodeEniStatus {
        let shared: Vec<Arc<EniAttachment>> = atts.iter().cloned().map(Arc::new).collect();
        node_eni_status(ne, plan, &shared, now)
    }
    use multi_eni_api::{EniAttachmentStatus, InterfaceStatus};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid time")
    }

    fn att(node: &str, subnet: &str, phase: Phase) -> EniAttachment {
        let mut a = existing_attachment(&format!("{node}-{subnet}"), node, subnet, 1);
        a.status = Some(EniAttachmentStatus {
            phase: Some(phase),
            eni_id: Some(format!("eni-{node}")),
            device_index: Some(2),
            ..Default::default()
        });
        a
    }

    fn plan(desired: usize) -> Plan {
        Plan {
            desired,
            matching_nodes: 1,
            ..Plan::default()
        }
    }

    fn cond<'a>(s: &'a NodeEniStatus, t: &str) -> (&'a str, &'a str) {
        let c = find(&s.conditions, t).expect("condition set");
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn counts_and_observed_generation_come_from_plan_and_attachments() {
        let ne = node_eni(serde_json::json!({}));
        let atts = [
            att("n1", SUBNET_A, Phase::Ready),
            att("n2", SUBNET_A, Phase::Attached),
            att("n3", SUBNET_A, Phase::Creating),
        ];
        let s = status_of(&ne, &plan(3), &atts, at(10));
        assert_eq!(
            (s.desired_count, s.attached_count, s.ready_count),
            (3, 2, 1)
        );
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(
            cond(&s, condition::PROGRESSING),
            ("True", reason::RECONCILING)
        );
        assert_eq!(cond(&s, condition::READY), ("False", reason::RECONCILING));
        assert_eq!(cond(&s, condition::DEGRADED), ("False", reason::ALL_READY));
    }

    #[test]
    fn every_attachment_ready_is_ready_all_ready() {
        let ne = node_eni(serde_json::json!({}));
        let atts = [
            att("n1", SUBNET_A, Phase::Ready),
            att("n2", SUBNET_A, Phase::Ready),
        ];
        let s = status_of(&ne, &plan(2), &atts, at(10));
        assert_eq!(cond(&s, condition::READY), ("True", reason::ALL_READY));
        assert_eq!(
            cond(&s, condition::PROGRESSING),
            ("False", reason::ALL_READY)
        );
    }

    #[test]
    fn pending_plan_changes_are_progressing_even_with_every_attachment_ready() {
        let ne = node_eni(serde_json::json!({}));
        let mut p = plan(1);
        p.delete.push("old".into());
        let s = status_of(&ne, &p, &[att("n1", SUBNET_A, Phase::Ready)], at(10));
        assert_eq!(
            cond(&s, condition::PROGRESSING),
            ("True", reason::RECONCILING)
        );
        assert_eq!(cond(&s, condition::READY).0, "False");
    }

    #[test]
    fn degraded_plan_problem_sets_ready_false_with_its_reason() {
        let ne = node_eni(serde_json::json!({}));
        let mut p = plan(1);
        p.problems.push(Problem::on_node(
            reason::LIMIT_EXCEEDED,
            Severity::Degraded,
            "n1",
            "m5.large takes 3",
        ));
        let s = status_of(&ne, &p, &[att("n1", SUBNET_A, Phase::Ready)], at(10));
        assert_eq!(
            cond(&s, condition::DEGRADED),
            ("True", reason::LIMIT_EXCEEDED)
        );
        assert_eq!(
            cond(&s, condition::READY),
            ("False", reason::LIMIT_EXCEEDED)
        );
        let msg = &find(&s.conditions, condition::DEGRADED)
            .expect("set")
            .message;
        assert_eq!(msg, "m5.large takes 3");
    }

    #[test]
    fn info_problems_do_not_degrade() {
        let ne = node_eni(serde_json::json!({}));
        let mut p = plan(1);
        p.problems.push(Problem::new(
            reason::AZ_MISMATCH,
            Severity::Info,
            "skips subnet-b",
        ));
        let s = status_of(&ne, &p, &[att("n1", SUBNET_A, Phase::Ready)], at(10));
        assert_eq!(cond(&s, condition::DEGRADED).0, "False");
        assert_eq!(cond(&s, condition::READY), ("True", reason::ALL_READY));
    }

    #[test]
    fn attachment_missing_an_iam_permission_degrades_the_node_eni() {
        let ne = node_eni(serde_json::json!({}));
        let mut a = att("n1", SUBNET_A, Phase::Creating);
        if let Some(s) = a.status.as_mut() {
            set_condition(
                &mut s.conditions,
                condition::READY,
                false,
                reason::MISSING_IAM_PERMISSIONS,
                "may not call ec2:CreateNetworkInterface",
                Some(1),
                Time(at(5)),
            );
        }
        let s = status_of(&ne, &plan(1), &[a], at(10));
        assert_eq!(
            cond(&s, condition::DEGRADED),
            ("True", reason::MISSING_IAM_PERMISSIONS)
        );
        let msg = &find(&s.conditions, condition::DEGRADED)
            .expect("set")
            .message;
        assert!(
            msg.starts_with("n1: may not call ec2:CreateNetworkInterface"),
            "{msg}"
        );
    }

    #[test]
    fn several_problems_name_the_first_and_count_the_rest() {
        let ne = node_eni(serde_json::json!({}));
        let mut p = plan(0);
        p.problems.push(Problem::new(
            reason::SUBNET_NOT_FOUND,
            Severity::Degraded,
            "subnet name \"x\"",
        ));
        p.problems.push(Problem::new(
            reason::NODE_NOT_ON_EC2,
            Severity::Degraded,
            "node k",
        ));
        let s = status_of(&ne, &p, &[], at(10));
        let c = find(&s.conditions, condition::DEGRADED).expect("set");
        assert_eq!(c.reason, reason::SUBNET_NOT_FOUND);
        assert!(c.message.ends_with("(and 1 more problems)"));
    }

    #[test]
    fn no_matching_nodes_is_ready_with_that_reason() {
        let ne = node_eni(serde_json::json!({}));
        let p = Plan::default();
        let s = status_of(&ne, &p, &[], at(10));
        assert_eq!(
            cond(&s, condition::READY),
            ("True", reason::NO_MATCHING_NODES)
        );
        assert_eq!(s.desired_count, 0);
    }

    #[test]
    fn compatible_view_keeps_the_go_fields_sorted_by_node_and_index() {
        let ne = node_eni(serde_json::json!({}));
        let mut b = att("n2", SUBNET_A, Phase::Ready);
        b.spec.mtu = Some(9001);
        if let Some(s) = b.status.as_mut() {
            s.attachment_id = Some("eni-attach-9".into());
            s.mac_address = Some("02:00:00:00:00:0b".into());
            s.interface = Some(InterfaceStatus {
                interface_name: Some("ens6".into()),
                dpdk_bound: true,
                dpdk_driver: Some("vfio-pci".into()),
                last_updated: Some(time(7)),
                ..Default::default()
            });
        }
        let atts = [b, att("n1", SUBNET_A, Phase::Attached)];
        let s = status_of(&ne, &plan(2), &atts, at(10));
        let nodes: Vec<&str> = s.attachments.iter().map(|e| e.node_id.as_str()).collect();
        assert_eq!(nodes, ["n1", "n2"]);
        let e = &s.attachments[1];
        assert_eq!(
            (
                e.instance_id.as_str(),
                e.eni_id.as_str(),
                e.attachment_id.as_str()
            ),
            ("i-00000001", "eni-n2", "eni-attach-9")
        );
        assert_eq!(
            (e.device_index, e.mtu, e.status.as_str()),
            (2, 9001, "ready")
        );
        assert_eq!(
            (
                e.dpdk_bound,
                e.dpdk_driver.as_str(),
                e.interface_name.as_str()
            ),
            (true, "vfio-pci", "ens6")
        );
        assert_eq!(e.last_updated, Some(time(7)));
        assert_eq!(s.attachments[0].status, "attached");
    }

    #[test]
    fn view_is_capped_with_the_truncated_condition_which_goes_when_whole_again() {
        let mut ne = node_eni(serde_json::json!({}));
        let many: Vec<EniAttachment> = (0..MAX_STATUS_ATTACHMENTS + 5)
            .map(|i| att(&format!("n{i:05}"), SUBNET_A, Phase::Ready))
            .collect();
        let s = status_of(&ne, &plan(many.len()), &many, at(10));
        assert_eq!(s.attachments.len(), MAX_STATUS_ATTACHMENTS);
        assert_eq!(s.ready_count, 1005, "counts cover every attachment");
        assert_eq!(cond(&s, condition::ATTACHMENTS_TRUNCATED).0, "True");
        ne.status = Some(s);
        let s = status_of(&ne, &plan(1), &many[..1], at(20));
        assert_eq!(s.attachments.len(), 1);
        assert!(find(&s.conditions, condition::ATTACHMENTS_TRUNCATED).is_none());
    }

    #[test]
    fn no_truncated_condition_when_never_truncated() {
        let ne = node_eni(serde_json::json!({}));
        let s = status_of(&ne, &plan(1), &[att("n1", SUBNET_A, Phase::Ready)], at(10));
        assert!(find(&s.conditions, condition::ATTACHMENTS_TRUNCATED).is_none());
    }

    #[test]
    fn unchanged_world_later_needs_no_write() {
        let mut ne = node_eni(serde_json::json!({}));
        let atts = [att("n1", SUBNET_A, Phase::Ready)];
        let first = status_of(&ne, &plan(1), &atts, at(10));
        assert!(status_changed(ne.status.as_ref(), &first));
        ne.status = Some(first);
        let again = status_of(&ne, &plan(1), &atts, at(500));
        assert!(!status_changed(ne.status.as_ref(), &again));
    }

    #[test]
    fn a_flip_writes_and_moves_only_that_conditions_time() {
        let mut ne = node_eni(serde_json::json!({}));
        let mut atts = [att("n1", SUBNET_A, Phase::Attached)];
        ne.status = Some(status_of(&ne, &plan(1), &atts, at(10)));
        atts[0].status.as_mut().expect("status").phase = Some(Phase::Ready);
        let s = status_of(&ne, &plan(1), &atts, at(20));
        assert!(status_changed(ne.status.as_ref(), &s));
        let t = |t: &str| {
            find(&s.conditions, t)
                .expect("set")
                .last_transition_time
                .clone()
        };
        assert_eq!(t(condition::READY), time(20));
        assert_eq!(t(condition::PROGRESSING), time(20));
        assert_eq!(t(condition::DEGRADED), time(10));
    }

    #[test]
    fn go_entries_not_served_yet_stay_in_the_view_and_a_pending_adoption_names_its_eni() {
        let ne = node_eni(serde_json::json!({}));
        let go = AttachmentEntry {
            node_id: "n0".into(),
            instance_id: "i-00000000".into(),
            eni_id: "eni-go".into(),
            subnet_id: SUBNET_A.into(),
            device_index: 1,
            status: "attached".into(),
            ..AttachmentEntry::default()
        };
        let mut adopting = existing_attachment("adopting", "n1", SUBNET_A, 1);
        adopting.metadata.annotations = Some(
            [(
                multi_eni_api::keys::ANNOTATION_ADOPT_ENI.to_owned(),
                "eni-go-1".to_owned(),
            )]
            .into(),
        );
        let p = Plan {
            go_entries: vec![go.clone()],
            ..plan(2)
        };
        let s = status_of(&ne, &p, &[adopting], at(10));
        let ids: Vec<(&str, &str)> = s
            .attachments
            .iter()
            .map(|e| (e.node_id.as_str(), e.eni_id.as_str()))
            .collect();
        assert_eq!(ids, [("n0", "eni-go"), ("n1", "eni-go-1")]);
        assert_eq!(s.attachments[0], go, "kept as the Go controller wrote it");
    }
}
