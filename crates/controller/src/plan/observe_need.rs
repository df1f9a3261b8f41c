//! Whether one attachment's ENIs must be described before deciding, and by what. The ENI index
//! (filled by the periodic listing and by what our own calls prove) answers most reconciles for
//! free; a describe is spent only where the index cannot know: an ENI we expect but the index has
//! not seen, and the phases in which EC2 changes things by itself (an attach or detach finishing,
//! a create surfacing) once the index's view is older than a poll.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use multi_eni_api::{EniAttachment, Phase};
use multi_eni_ec2::{AttachmentStatus, EniAttachment as Ec2Attachment, NetworkInterface};

/// What to describe: ENIs by ID (the `network-interface-id` filter, so an unknown ID is absent
/// rather than an error) and ENIs by attachment UID (the `multi-eni.k8s.aws/attachment` tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeNeed {
    /// ENI IDs.
    pub ids: Vec<String>,
    /// ENIAttachment UIDs.
    pub uids: Vec<String>,
}

impl DescribeNeed {
    /// Nothing to describe.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.uids.is_empty()
    }
}

/// What `att` needs described at `now`, given the index entries found for it (`known`: ID and
/// when the index last saw it). Entries younger than `fresh_for` (one poll) count as current.
pub fn describe_need(
    att: &EniAttachment,
    known: &[(String, Option<Timestamp>)],
    now: Timestamp,
    fresh_for: Duration,
) -> DescribeNeed {
    let none = DescribeNeed::default();
    let Some(uid) = att.uid().filter(|u| !u.is_empty()) else {
        return none;
    };
    let s = att.status.clone().unwrap_or_default();
    // No create was ever announced: no ENI can carry this UID, and none was recorded.
    if s.create_attempt.is_none() && s.eni_id.is_none() {
        return none;
    }
    let phase = s.phase.unwrap_or_default();
    let transitional = matches!(
        phase,
        Phase::Creating | Phase::Attaching | Phase::Detaching | Phase::Deleting
    );
    let old = |seen: &Option<Timestamp>| {
        seen.is_none_or(|t| {
            let age = now.as_millisecond().saturating_sub(t.as_millisecond());
            u128::try_from(age).unwrap_or(0) >= fresh_for.as_millis()
        })
    };
    let stale = known.is_empty() || (transitional && known.iter().any(|(_, seen)| old(seen)));
    // After a retried create with a new token an extra ENI may carry our UID; before the
    // finalizer goes, look for it by tag, so it is deleted with ours and not left to the GC.
    let strays_possible = s.create_attempt.is_some_and(|n| n > 1);
    if att.metadata.deletion_timestamp.is_some() && strays_possible {
        return DescribeNeed {
            ids: s.eni_id.into_iter().collect(),
            uids: vec![uid],
        };
    }
    if !stale {
        return none;
    }
    match s.eni_id {
        // Once recorded the ENI is known by ID (a create retried with the same token returns
        // the same ENI; strays of a lost create surface in the resync), and a describe by ID
        // joins every other reconcile's in one batched call.
        Some(id) => DescribeNeed {
            ids: vec![id],
            uids: vec![],
        },
        // Created but not recorded: a lost create's ENI is known only by its tag.
        _ => DescribeNeed {
            ids: vec![],
            uids: vec![uid],
        },
    }
}

/// What to keep of an ENI a describe returned, given what the index knew (`known`, last seen at
/// `known_at`): the described one, unless it is behind what the index saw within `grace`. EC2's
/// reads lag its writes: right after our attach a describe still shows the ENI free (believing it
/// would attach again, which EC2 refuses and which costs a conflict's backoff), right after
/// our detach it still shows it attached (believing it would detach again every poll), and right
/// after our modify it still shows the old attribute (believing it would modify again).
pub fn take_described(
    known: Option<&NetworkInterface>,
    known_at: Option<Timestamp>,
    described: &NetworkInterface,
    now: Timestamp,
    grace: Duration,
) -> bool {
    let Some(known) = known else { return true };
    let recent = known_at.is_some_and(|t| {
        let age = now.as_millisecond().saturating_sub(t.as_millisecond());
        u128::try_from(age).unwrap_or(u128::MAX) < grace.as_millis()
    });
    if !recent {
        return true;
    }
    let (k, d) = (known.attachment.as_ref(), described.attachment.as_ref());
    let behind = match (k, d) {
        // The same attachment, at an earlier stage than seen — or at the same stage, where the
        // index holds what our own modify just changed (DeleteOnTermination, groups,
        // description) and the describe may not show it yet.
        (Some(k), Some(d)) if k.attachment_id == d.attachment_id => rank(d) <= rank(k),
        // An attach we saw begin, not listed yet.
        (Some(k), d) => {
            matches!(rank(k), 1 | 2) && d.is_none_or(|d| d.status == AttachmentStatus::Detached)
        }
        (None, _) => false,
    };
    !behind
}

/// An attachment's stages in the order EC2 moves through them.
fn rank(a: &Ec2Attachment) -> u8 {
    match a.status {
        AttachmentStatus::Attaching => 1,
        AttachmentStatus::Attached => 2,
        AttachmentStatus::Detaching => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use multi_eni_api::EniAttachmentStatus;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).expect("valid time")
    }

    fn att(phase: Option<Phase>, attempt: Option<i32>, eni: Option<&str>) -> EniAttachment {
        let mut a = existing_attachment("a", "n1", SUBNET_A, 1);
        a.status = Some(EniAttachmentStatus {
            phase,
            create_attempt: attempt,
            eni_id: eni.map(str::to_owned),
            ..Default::default()
        });
        a
    }

    #[test]
    fn describes_only_what_the_index_cannot_know() {
        let poll = Duration::from_secs(2);
        let now = at(10_000);
        let fresh = vec![("eni-1".to_owned(), Some(at(9_000)))];
        let old = vec![("eni-1".to_owned(), Some(at(5_000)))];
        let none: Vec<(String, Option<Timestamp>)> = vec![];
        let by_id = |id: &str| DescribeNeed {
            ids: vec![id.to_owned()],
            uids: vec![],
        };
        let by_uid = DescribeNeed {
            ids: vec![],
            uids: vec!["uid-a".to_owned()],
        };
        let nothing = DescribeNeed::default();
        use Phase as P;
        let table = [
            // Never created: nothing can exist.
            ("new", att(None, None, None), &none, nothing.clone()),
            (
                "pending",
                att(Some(P::Pending), None, None),
                &none,
                nothing.clone(),
            ),
            // A create was announced but the index has nothing: look by tag.
            (
                "creating, unseen",
                att(Some(P::Creating), Some(1), None),
                &none,
                by_uid.clone(),
            ),
            (
                "creating, recorded, old",
                att(Some(P::Creating), Some(1), Some("eni-1")),
                &old,
                by_id("eni-1"),
            ),
            // Transitional phases trust the index for one poll, then describe by ID.
            (
                "attaching, fresh",
                att(Some(P::Attaching), Some(1), Some("eni-1")),
                &fresh,
                nothing.clone(),
            ),
            (
                "attaching, old",
                att(Some(P::Attaching), Some(1), Some("eni-1")),
                &old,
                by_id("eni-1"),
            ),
            (
                "detaching, old",
                att(Some(P::Detaching), Some(1), Some("eni-1")),
                &old,
                by_id("eni-1"),
            ),
            (
                "deleting, unseen",
                att(Some(P::Deleting), Some(1), Some("eni-1")),
                &none,
                by_id("eni-1"),
            ),
            // Settled phases trust the index however old (the resync refreshes it).
            (
                "attached, old",
                att(Some(P::Attached), Some(1), Some("eni-1")),
                &old,
                nothing.clone(),
            ),
            (
                "ready, vanished from the index",
                att(Some(P::Ready), Some(1), Some("eni-1")),
                &none,
                by_id("eni-1"),
            ),
            // Adopting an ENI recorded by another controller, never created by us.
            (
                "adopted",
                att(Some(P::Attached), None, Some("eni-9")),
                &none,
                by_id("eni-9"),
            ),
        ];
        for (what, a, known, want) in table {
            assert_eq!(describe_need(&a, known, now, poll), want, "{what}");
        }
    }

    #[test]
    fn a_deleting_attachment_that_created_more_than_once_looks_for_strays_by_tag() {
        let poll = Duration::from_secs(2);
        let fresh = vec![("eni-2".to_owned(), Some(at(9_500)))];
        let mut a = att(Some(Phase::Attached), Some(2), Some("eni-2"));
        assert!(describe_need(&a, &fresh, at(10_000), poll).is_empty());
        a.metadata.deletion_timestamp = Some(time(9));
        let want = DescribeNeed {
            ids: vec!["eni-2".to_owned()],
            uids: vec!["uid-a".to_owned()],
        };
        assert_eq!(describe_need(&a, &fresh, at(10_000), poll), want);
        // One attempt: the same token always gave the same ENI; nothing extra to find.
        let mut one = att(Some(Phase::Attached), Some(1), Some("eni-2"));
        one.metadata.deletion_timestamp = Some(time(9));
        assert!(describe_need(&one, &fresh, at(10_000), poll).is_empty());
    }

    #[test]
    fn a_lagging_describe_does_not_undo_an_attach_or_detach_we_just_made() {
        let grace = Duration::from_secs(30);
        let on = |status| {
            let mut e = available_eni("eni-1", "uid-a");
            e.attachment = Some(Ec2Attachment {
                attachment_id: "eni-attach-1".into(),
                instance_id: Some("i-00000001".into()),
                device_index: 1,
                network_card_index: 0,
                status,
                delete_on_termination: false,
            });
            e
        };
        let free = available_eni("eni-1", "uid-a");
        let attaching = on(AttachmentStatus::Attaching);
        let attached = on(AttachmentStatus::Attached);
        let detached = on(AttachmentStatus::Detached);
        let detaching = on(AttachmentStatus::Detaching);
        let mut modified = attached.clone();
        if let Some(a) = modified.attachment.as_mut() {
            a.delete_on_termination = !a.delete_on_termination;
        }
        let now = at(100_000);
        let recent = Some(at(95_000));
        let long_ago = Some(at(10_000));
        let table = [
            ("nothing known", None, recent, &free, true),
            (
                "attach proved, describe lags",
                Some(&attaching),
                recent,
                &free,
                false,
            ),
            (
                "attach proved, that attachment since detached",
                Some(&attaching),
                recent,
                &detached,
                true,
            ),
            (
                "attach proved, describe caught up",
                Some(&attaching),
                recent,
                &attached,
                true,
            ),
            (
                "attach proved long ago: believe EC2",
                Some(&attaching),
                long_ago,
                &free,
                true,
            ),
            (
                "attached, describe lags",
                Some(&attached),
                recent,
                &attaching,
                false,
            ),
            (
                "detach proved, describe lags",
                Some(&detaching),
                recent,
                &attached,
                false,
            ),
            (
                "detach proved, describe caught up",
                Some(&detaching),
                recent,
                &free,
                true,
            ),
            (
                "detach proved, then detached",
                Some(&detaching),
                recent,
                &detached,
                true,
            ),
            (
                "detach proved long ago",
                Some(&detaching),
                long_ago,
                &attached,
                true,
            ),
            (
                "modify proved, describe shows the old attribute",
                Some(&modified),
                recent,
                &attached,
                false,
            ),
            (
                "modify proved long ago: believe EC2",
                Some(&modified),
                long_ago,
                &attached,
                true,
            ),
            ("known free", Some(&free), recent, &attached, true),
            ("known detached", Some(&detached), recent, &free, true),
        ];
        for (what, known, known_at, described, want) in table {
            assert_eq!(
                take_described(known, known_at, described, now, grace),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn an_object_without_uid_needs_nothing() {
        let mut a = att(Some(Phase::Creating), Some(1), None);
        a.metadata.uid = None;
        let need = describe_need(&a, &[], at(0), Duration::from_secs(2));
        assert!(need.is_empty());
    }
}
