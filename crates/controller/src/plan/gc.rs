//! What the periodic resync decides from one complete, cluster-tag-filtered listing of ENIs:
//! which orphans to detach or delete ([`gc`]) and which ENIAttachments EC2 no longer agrees with
//! ([`drift`]).
//!
//! # Garbage collection
//!
//! An orphan is an ENI carrying our cluster tag and an ENIAttachment UID tag whose ENIAttachment
//! no longer exists. Everything else — other clusters' ENIs, ENIs without an attachment tag (the
//! Go controller's, a person's) — is never touched.
//!
//! An orphan is acted on only once it was seen orphaned on two passes at least `cooldown` apart:
//! the create of a brand-new ENIAttachment can finish before the watch brings that object into
//! the store, and the cooldown makes such an ENI (whose owner is simply not seen yet) safe.
//!
//! EC2 deletes only `available` interfaces. An orphan that is still attached (its ENIAttachment's
//! finalizer was removed by hand, or its CRD deleted) is first detached — a normal detach, never
//! a forced one — and deleted on a later pass, once EC2 lists it `available`. An orphan that is
//! attaching or detaching is waited for. The primary interface (device index 0) is never
//! detached, whatever its tags say.
//!
//! # Drift
//!
//! Only ENIAttachments whose status says they are settled (Attached, Ready) are compared: every
//! other phase is being worked on and polls anyway. Attachment state is compared here, in
//! memory, never with the `attachment.*` describe filters (moto answers those with HTTP 500, and
//! they would cost a call per question).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use multi_eni_api::keys::{TAG_ATTACHMENT, TAG_CLUSTER};
use multi_eni_api::{EniAttachment, Phase};
use multi_eni_ec2::{AttachmentStatus, EniStatus, NetworkInterface};

/// Everything one GC decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct GcInput<'a> {
    /// Our cluster name (the value of `keys::TAG_CLUSTER`).
    pub cluster: &'a str,
    /// One complete listing of the cluster-tagged ENIs.
    pub enis: &'a [NetworkInterface],
    /// UIDs of every ENIAttachment that exists (from the store, after its first full list).
    pub live: &'a BTreeSet<String>,
    /// ENI ID → when it was first seen orphaned, from the previous pass.
    pub seen: &'a BTreeMap<String, Timestamp>,
    /// The time of this pass's listing.
    pub now: Timestamp,
    /// How long an ENI must stay orphaned before it is touched.
    pub cooldown: Duration,
}

/// What the GC does this pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcPlan {
    /// `available` orphans to delete.
    pub delete: Vec<String>,
    /// Attached orphans to detach (deleted on a later pass).
    pub detach: Vec<GcDetach>,
    /// The orphan map for the next pass: every ENI orphaned now, with when it was first seen so.
    /// An ENI that is no longer orphaned (or no longer listed) is not in it.
    pub seen: BTreeMap<String, Timestamp>,
}

/// One orphan to detach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcDetach {
    /// `eni-…`.
    pub eni_id: String,
    /// `eni-attach-…`.
    pub attachment_id: String,
}

/// The GC's decision for one listing. See the module docs for the rules.
pub fn gc(input: &GcInput<'_>) -> GcPlan {
    let mut plan = GcPlan::default();
    for eni in input.enis.iter().filter(|e| is_orphan(e, input)) {
        let first = input.seen.get(&eni.id).copied();
        plan.seen.insert(eni.id.clone(), first.unwrap_or(input.now));
        let Some(first) = first else { continue };
        if elapsed(first, input.now) < input.cooldown {
            continue;
        }
        match orphan_action(eni) {
            OrphanAction::Delete => plan.delete.push(eni.id.clone()),
            OrphanAction::Detach(attachment_id) => plan.detach.push(GcDetach {
                eni_id: eni.id.clone(),
                attachment_id,
            }),
            OrphanAction::Wait => {}
        }
    }
    plan
}

fn is_orphan(eni: &NetworkInterface, input: &GcInput<'_>) -> bool {
    eni.tags.get(TAG_CLUSTER).map(String::as_str) == Some(input.cluster)
        && eni
            .tags
            .get(TAG_ATTACHMENT)
            .is_some_and(|uid| !input.live.contains(uid))
}

enum OrphanAction {
    Delete,
    Detach(String),
    Wait,
}

fn orphan_action(eni: &NetworkInterface) -> OrphanAction {
    let attachment = eni
        .attachment
        .as_ref()
        .filter(|a| a.status != AttachmentStatus::Detached);
    match attachment {
        None if eni.status == EniStatus::Available => OrphanAction::Delete,
        Some(a) if a.status == AttachmentStatus::Attached && a.device_index != 0 => {
            OrphanAction::Detach(a.attachment_id.clone())
        }
        // Attaching, detaching, a primary interface, or a status we do not know: not now.
        _ => OrphanAction::Wait,
    }
}

/// Time from `from` to `to`; zero when the clock went back.
fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    let ms = to.as_millisecond() - from.as_millisecond();
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Why an ENIAttachment needs a reconcile although nothing in Kubernetes changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftReason {
    /// Status says attached, but no ENI is recorded.
    NoEniRecorded,
    /// The recorded ENI is not in the listing: deleted behind our back.
    EniGone,
    /// The ENI is not attached (any more), or is being detached.
    Detached,
    /// Attached somewhere else: another instance, another attachment, another device index.
    Moved,
    /// DeleteOnTermination differs from the spec.
    DeleteOnTermination,
    /// The security groups differ from the spec (as sets).
    SecurityGroups,
    /// The description differs from the spec.
    Description,
    /// Another ENI carries this attachment's UID tag (a lost create raced a retry).
    Stray,
}

/// One ENIAttachment EC2 disagrees with.
#[derive(Debug, Clone)]
pub struct Drift<'a> {
    /// The attachment to reconcile.
    pub attachment: &'a EniAttachment,
    /// The first difference found.
    pub reason: DriftReason,
}

/// The settled ENIAttachments whose ENI, as listed, differs from what their status and spec say.
pub fn drift<'a>(
    enis: &[NetworkInterface],
    attachments: impl IntoIterator<Item = &'a EniAttachment>,
) -> Vec<Drift<'a>> {
    let by_id: BTreeMap<&str, &NetworkInterface> =
        enis.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut by_uid: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in enis {
        if let Some(uid) = e.tags.get(TAG_ATTACHMENT) {
            by_uid.entry(uid.as_str()).or_default().push(e.id.as_str());
        }
    }
    attachments
        .into_iter()
        .filter(|a| matches!(a.phase(), Phase::Attached | Phase::Ready))
        .filter_map(|a| {
            let tagged = a
                .metadata
                .uid
                .as_deref()
                .and_then(|uid| by_uid.get(uid))
                .map_or(&[][..], Vec::as_slice);
            drift_of(a, &by_id, tagged).map(|reason| Drift {
                attachment: a,
                reason,
            })
        })
        .collect()
}

fn drift_of(
    att: &EniAttachment,
    by_id: &BTreeMap<&str, &NetworkInterface>,
    tagged: &[&str],
) -> Option<DriftReason> {
    let status = att.status.as_ref()?;
    let Some(eni_id) = status.eni_id.as_deref() else {
        return Some(DriftReason::NoEniRecorded);
    };
    let Some(eni) = by_id.get(eni_id) else {
        return Some(DriftReason::EniGone);
    };
    let Some(a) = eni.attachment.as_ref().filter(|a| {
        matches!(
            a.status,
            AttachmentStatus::Attached | AttachmentStatus::Attaching
        )
    }) else {
        return Some(DriftReason::Detached);
    };
    let moved = a.instance_id.as_deref() != Some(att.spec.instance_id.as_str())
        || status
            .attachment_id
            .as_deref()
            .is_some_and(|id| id != a.attachment_id)
        || status.device_index.is_some_and(|i| i != a.device_index);
    let spec = &att.spec;
    let want: BTreeSet<&String> = spec.security_group_ids.iter().collect();
    let have: BTreeSet<&String> = eni.security_group_ids.iter().collect();
    if moved {
        Some(DriftReason::Moved)
    } else if a.delete_on_termination != spec.delete_on_termination {
        Some(DriftReason::DeleteOnTermination)
    } else if want != have {
        Some(DriftReason::SecurityGroups)
    } else if eni.description != spec.description.clone().unwrap_or_default() {
        Some(DriftReason::Description)
    } else if tagged.iter().any(|id| *id != eni_id) {
        Some(DriftReason::Stray)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{SG_1, SG_2, available_eni, existing_attachment};
    use multi_eni_api::EniAttachmentStatus;
    use multi_eni_ec2::EniAttachment as Ec2Attachment;

    const CLUSTER: &str = "prod";
    const COOLDOWN: Duration = Duration::from_secs(600);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid timestamp")
    }

    fn attached(mut eni: NetworkInterface, index: i32) -> NetworkInterface {
        eni.status = EniStatus::InUse;
        eni.attachment = Some(Ec2Attachment {
            attachment_id: format!("{}-attach", eni.id),
            instance_id: Some("i-00000001".into()),
            device_index: index,
            network_card_index: 0,
            status: AttachmentStatus::Attached,
            delete_on_termination: true,
        });
        eni
    }

    fn attachment_status(mut eni: NetworkInterface, s: AttachmentStatus) -> NetworkInterface {
        if let Some(a) = eni.attachment.as_mut() {
            a.status = s;
        }
        eni
    }

    /// One pass over `enis` at `now` with `live` UIDs and the previous pass's map.
    fn pass(
        enis: &[NetworkInterface],
        live: &[&str],
        seen: &BTreeMap<String, Timestamp>,
        now: i64,
    ) -> GcPlan {
        let live: BTreeSet<String> = live.iter().map(|s| (*s).to_owned()).collect();
        gc(&GcInput {
            cluster: CLUSTER,
            enis,
            live: &live,
            seen,
            now: at(now),
            cooldown: COOLDOWN,
        })
    }

    fn seen(entries: &[(&str, i64)]) -> BTreeMap<String, Timestamp> {
        entries
            .iter()
            .map(|(id, t)| ((*id).to_owned(), at(*t)))
            .collect()
    }

    #[test]
    fn first_sight_of_an_orphan_only_remembers_it() {
        let p = pass(
            &[available_eni("eni-1", "gone")],
            &[],
            &BTreeMap::new(),
            1000,
        );
        assert!(p.delete.is_empty() && p.detach.is_empty());
        assert_eq!(p.seen, seen(&[("eni-1", 1000)]));
    }

    #[test]
    fn orphan_seen_again_before_the_cooldown_is_left_alone_and_keeps_its_first_time() {
        let p = pass(
            &[available_eni("eni-1", "gone")],
            &[],
            &seen(&[("eni-1", 1000)]),
            1000 + 599,
        );
        assert!(p.delete.is_empty());
        assert_eq!(p.seen, seen(&[("eni-1", 1000)]));
    }

    #[test]
    fn available_orphan_seen_a_cooldown_apart_is_deleted() {
        let p = pass(
            &[available_eni("eni-1", "gone")],
            &[],
            &seen(&[("eni-1", 1000)]),
            1000 + 600,
        );
        assert_eq!(p.delete, vec!["eni-1".to_string()]);
        assert!(p.detach.is_empty());
    }

    #[test]
    fn zero_cooldown_still_needs_two_passes() {
        let live = BTreeSet::new();
        let enis = [available_eni("eni-1", "gone")];
        let input = GcInput {
            cluster: CLUSTER,
            enis: &enis,
            live: &live,
            seen: &BTreeMap::new(),
            now: at(1000),
            cooldown: Duration::ZERO,
        };
        let first = gc(&input);
        assert!(first.delete.is_empty());
        let second = gc(&GcInput {
            seen: &first.seen,
            ..input
        });
        assert_eq!(second.delete, vec!["eni-1".to_string()]);
    }

    #[test]
    fn eni_whose_attachment_exists_is_never_an_orphan_and_leaves_the_map() {
        let p = pass(
            &[available_eni("eni-1", "uid-a")],
            &["uid-a"],
            &seen(&[("eni-1", 0)]),
            100_000,
        );
        assert_eq!(p, GcPlan::default());
    }

    #[test]
    fn eni_no_longer_listed_leaves_the_map() {
        let p = pass(&[], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.seen.is_empty());
    }

    #[test]
    fn another_clusters_eni_is_never_touched() {
        let mut eni = available_eni("eni-1", "gone");
        eni.tags.insert(TAG_CLUSTER.into(), "staging".into());
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert_eq!(p, GcPlan::default());
    }

    #[test]
    fn eni_without_an_attachment_tag_is_never_touched() {
        let mut eni = available_eni("eni-1", "gone");
        eni.tags.remove(TAG_ATTACHMENT);
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert_eq!(p, GcPlan::default());
    }

    #[test]
    fn eni_without_a_cluster_tag_is_never_touched() {
        let mut eni = available_eni("eni-1", "gone");
        eni.tags.remove(TAG_CLUSTER);
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert_eq!(p, GcPlan::default());
    }

    #[test]
    fn attached_orphan_is_detached_not_deleted() {
        let eni = attached(available_eni("eni-1", "gone"), 2);
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.delete.is_empty());
        assert_eq!(
            p.detach,
            vec![GcDetach {
                eni_id: "eni-1".into(),
                attachment_id: "eni-1-attach".into()
            }]
        );
        assert_eq!(p.seen, seen(&[("eni-1", 0)]), "still an orphan");
    }

    #[test]
    fn detaching_orphan_is_waited_for_then_deleted_once_available() {
        let eni = attachment_status(
            attached(available_eni("eni-1", "gone"), 2),
            AttachmentStatus::Detaching,
        );
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.delete.is_empty() && p.detach.is_empty());
        let p = pass(&[available_eni("eni-1", "gone")], &[], &p.seen, 100_060);
        assert_eq!(p.delete, vec!["eni-1".to_string()]);
    }

    #[test]
    fn attaching_orphan_is_waited_for() {
        let eni = attachment_status(
            attached(available_eni("eni-1", "gone"), 2),
            AttachmentStatus::Attaching,
        );
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.delete.is_empty() && p.detach.is_empty());
        assert_eq!(p.seen.len(), 1);
    }

    #[test]
    fn finished_detach_not_yet_available_is_waited_for() {
        let mut eni = attachment_status(
            attached(available_eni("eni-1", "gone"), 2),
            AttachmentStatus::Detached,
        );
        eni.status = EniStatus::Detaching;
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.delete.is_empty() && p.detach.is_empty());
    }

    #[test]
    fn primary_interface_is_never_detached() {
        let eni = attached(available_eni("eni-1", "gone"), 0);
        let p = pass(&[eni], &[], &seen(&[("eni-1", 0)]), 100_000);
        assert!(p.delete.is_empty() && p.detach.is_empty());
    }

    #[test]
    fn clock_going_back_does_not_count_as_time_passed() {
        let p = pass(
            &[available_eni("eni-1", "gone")],
            &[],
            &seen(&[("eni-1", 5000)]),
            1000,
        );
        assert!(p.delete.is_empty());
    }

    #[test]
    fn only_the_orphans_among_many_are_collected() {
        let mut foreign = available_eni("eni-3", "gone-too");
        foreign.tags.insert(TAG_CLUSTER.into(), "other".into());
        let enis = [
            available_eni("eni-1", "gone"),
            available_eni("eni-2", "uid-live"),
            foreign,
        ];
        let p = pass(
            &enis,
            &["uid-live"],
            &seen(&[("eni-1", 0), ("eni-2", 0)]),
            100_000,
        );
        assert_eq!(p.delete, vec!["eni-1".to_string()]);
        assert_eq!(p.seen, seen(&[("eni-1", 0)]));
    }

    // Drift.

    /// Attachment `a` (UID `uid-a`) settled in `phase` on `eni-1` at index 1, spec: SG_1,
    /// DeleteOnTermination, no description — and the ENI exactly so.
    fn settled(phase: Phase) -> (EniAttachment, NetworkInterface) {
        let mut a = existing_attachment("a", "n1", crate::plan::fixtures::SUBNET_A, 1);
        a.status = Some(EniAttachmentStatus {
            phase: Some(phase),
            eni_id: Some("eni-1".into()),
            attachment_id: Some("eni-1-attach".into()),
            device_index: Some(1),
            ..Default::default()
        });
        (a, attached(available_eni("eni-1", "uid-a"), 1))
    }

    fn drift_reason(a: &EniAttachment, enis: &[NetworkInterface]) -> Option<DriftReason> {
        let d = drift(enis, [a]);
        assert!(d.len() <= 1);
        d.first().map(|d| d.reason)
    }

    #[test]
    fn eni_as_status_and_spec_say_is_no_drift() {
        for phase in [Phase::Attached, Phase::Ready] {
            let (a, eni) = settled(phase);
            assert_eq!(drift_reason(&a, &[eni]), None, "{phase}");
        }
    }

    #[test]
    fn eni_deleted_behind_our_back_is_drift() {
        let (a, _) = settled(Phase::Ready);
        assert_eq!(drift_reason(&a, &[]), Some(DriftReason::EniGone));
    }

    #[test]
    fn eni_detached_behind_our_back_is_drift() {
        let (a, eni) = settled(Phase::Ready);
        let mut available = eni.clone();
        available.attachment = None;
        available.status = EniStatus::Available;
        assert_eq!(drift_reason(&a, &[available]), Some(DriftReason::Detached));
        let detaching = attachment_status(eni, AttachmentStatus::Detaching);
        assert_eq!(drift_reason(&a, &[detaching]), Some(DriftReason::Detached));
    }

    #[test]
    fn eni_reattached_elsewhere_is_drift() {
        let (a, eni) = settled(Phase::Attached);
        let mut other_instance = eni.clone();
        if let Some(x) = other_instance.attachment.as_mut() {
            x.instance_id = Some("i-00000002".into());
        }
        let mut other_index = eni.clone();
        if let Some(x) = other_index.attachment.as_mut() {
            x.device_index = 3;
        }
        let mut other_attachment = eni;
        if let Some(x) = other_attachment.attachment.as_mut() {
            x.attachment_id = "eni-attach-new".into();
        }
        for e in [other_instance, other_index, other_attachment] {
            assert_eq!(drift_reason(&a, &[e]), Some(DriftReason::Moved));
        }
    }

    #[test]
    fn delete_on_termination_differing_from_spec_is_drift() {
        let (a, mut eni) = settled(Phase::Ready);
        if let Some(x) = eni.attachment.as_mut() {
            x.delete_on_termination = false;
        }
        assert_eq!(
            drift_reason(&a, &[eni]),
            Some(DriftReason::DeleteOnTermination)
        );
    }

    #[test]
    fn security_groups_compare_as_sets() {
        let (mut a, mut eni) = settled(Phase::Ready);
        eni.security_group_ids = vec![SG_2.into()];
        assert_eq!(
            drift_reason(&a, &[eni.clone()]),
            Some(DriftReason::SecurityGroups)
        );
        a.spec.security_group_ids = vec![SG_1.into(), SG_2.into()];
        eni.security_group_ids = vec![SG_2.into(), SG_1.into()];
        assert_eq!(drift_reason(&a, &[eni]), None, "order does not matter");
    }

    #[test]
    fn description_differing_from_spec_is_drift() {
        let (mut a, mut eni) = settled(Phase::Ready);
        eni.description = "edited by hand".into();
        assert_eq!(
            drift_reason(&a, &[eni.clone()]),
            Some(DriftReason::Description)
        );
        a.spec.description = Some("edited by hand".into());
        assert_eq!(drift_reason(&a, &[eni]), None);
    }

    #[test]
    fn a_second_eni_with_our_uid_is_drift() {
        let (a, eni) = settled(Phase::Ready);
        let stray = available_eni("eni-2", "uid-a");
        assert_eq!(drift_reason(&a, &[eni, stray]), Some(DriftReason::Stray));
    }

    #[test]
    fn settled_phase_without_an_eni_is_drift() {
        let (mut a, eni) = settled(Phase::Ready);
        if let Some(s) = a.status.as_mut() {
            s.eni_id = None;
        }
        assert_eq!(drift_reason(&a, &[eni]), Some(DriftReason::NoEniRecorded));
    }

    #[test]
    fn attachments_being_worked_on_are_not_compared() {
        for phase in [
            Phase::Pending,
            Phase::Creating,
            Phase::Attaching,
            Phase::Detaching,
            Phase::Deleting,
            Phase::Failed,
        ] {
            let (mut a, _) = settled(phase);
            if let Some(s) = a.status.as_mut() {
                s.phase = Some(phase);
            }
            assert_eq!(drift_reason(&a, &[]), None, "{phase}");
        }
        let (mut no_status, _) = settled(Phase::Ready);
        no_status.status = None;
        assert_eq!(drift_reason(&no_status, &[]), None);
    }

    #[test]
    fn only_the_drifted_attachments_are_returned() {
        let (a, eni_a) = settled(Phase::Ready);
        let (mut b, _) = settled(Phase::Ready);
        b.metadata.name = Some("b".into());
        b.metadata.uid = Some("uid-b".into());
        if let Some(s) = b.status.as_mut() {
            s.eni_id = Some("eni-9".into());
        }
        let atts = [a, b];
        let d = drift(&[eni_a], atts.iter());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].attachment.metadata.name.as_deref(), Some("b"));
        assert_eq!(d[0].reason, DriftReason::EniGone);
    }
}
