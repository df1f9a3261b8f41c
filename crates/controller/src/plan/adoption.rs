//! Migration from the Go controller: its ENIs are adopted, not made again.
//!
//! The Go controller recorded each ENI it made in the NodeENI's `status.attachments[]` (`nodeID`,
//! `instanceID`, `eniID`, `subnetID`, …) and tagged it `NodeENI`/`Node`/`SubnetID` — never with
//! our tags, so neither our tag lookups nor the garbage collector can see it. Two decisions:
//!
//! * **Fleet** ([`go_entries`], [`go_entry_for`]): when the plan creates the ENIAttachment for a
//!   (node, subnet) that a Go entry covers, the new object carries
//!   [`keys::ANNOTATION_ADOPT_ENI`] with the entry's `eniID`; until then the entry stays in the
//!   status view, so a node held for a while (facts missing) does not lose it.
//! * **Lifecycle** ([`adoption_candidate`], [`verdict`]): an attachment that never created
//!   anything and carries the annotation describes that ENI and adopts it only if it is what the
//!   entry says — in the attachment's subnet, attached to its instance, and not already another
//!   attachment's or another cluster's. Adopted, the ENI is recorded in status (so the state
//!   machine goes straight to Attached: no create, no attach, no detach) and gets our tags with
//!   CreateTags ([`tags_missing`]), after which every tag-scoped lookup owns it. Refused, the
//!   attachment creates an ENI as usual and says why in an Event.
//!
//! An entry is the Go controller's when it names an ENI but carries no `macAddress`: our view
//! always writes the MAC together with the ENI ID (both come from one describe).

use kube::ResourceExt;
use multi_eni_api::keys::{self, ANNOTATION_ADOPT_ENI, TAG_ATTACHMENT, TAG_CLUSTER};
use multi_eni_api::{AttachmentEntry, EniAttachment, NodeEni};
use multi_eni_ec2::{AttachmentStatus, NetworkInterface, Tags};

/// The Go controller's entries in `ne`'s stored status: those naming an ENI without a MAC.
pub fn go_entries(ne: &NodeEni) -> Vec<&AttachmentEntry> {
    ne.status
        .iter()
        .flat_map(|s| &s.attachments)
        .filter(|e| !e.eni_id.is_empty() && e.mac_address.is_empty())
        .collect()
}

/// The Go entry for `node`'s ENI in `subnet`. An entry without `subnetID` (older Go versions)
/// counts only when the node gets a single subnet; an entry for another instance (the node was
/// replaced) never counts.
pub fn go_entry_for<'a>(
    entries: &[&'a AttachmentEntry],
    node: &str,
    instance_id: &str,
    subnet: &str,
    subnets_on_node: usize,
) -> Option<&'a AttachmentEntry> {
    entries.iter().copied().find(|e| {
        let same_subnet = e.subnet_id == subnet || (e.subnet_id.is_empty() && subnets_on_node == 1);
        let same_instance = e.instance_id.is_empty() || e.instance_id == instance_id;
        e.node_id == node && same_subnet && same_instance
    })
}

/// The ENI `att` should try to adopt: the annotation's, while the attachment has neither recorded
/// an ENI nor announced a create (afterwards the question is settled either way).
pub fn adoption_candidate(att: &EniAttachment) -> Option<&str> {
    let id = att
        .annotations()
        .get(ANNOTATION_ADOPT_ENI)
        .map(String::as_str)
        .filter(|id| id.starts_with("eni-"))?;
    let fresh = att
        .status
        .as_ref()
        .is_none_or(|s| s.eni_id.is_none() && s.create_attempt.is_none());
    fresh.then_some(id)
}

/// Whether to adopt the candidate ENI, as described (`None`: EC2 does not list it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is what the Go entry said: take it.
    Adopt,
    /// It is not; the message says why (for the Event).
    Refuse(String),
}

/// Checks the candidate `id` of `att` against what EC2 shows (`found`) for cluster `cluster`.
pub fn verdict(
    att: &EniAttachment,
    id: &str,
    found: Option<&NetworkInterface>,
    cluster: &str,
) -> Verdict {
    let spec = &att.spec;
    let refuse = |why: String| {
        Verdict::Refuse(format!(
            "not adopting ENI {id} from the Go controller's status: {why}; creating a new ENI"
        ))
    };
    let Some(eni) = found.filter(|e| e.id == id) else {
        return refuse("EC2 does not list it".to_owned());
    };
    if eni.subnet_id != spec.subnet_id {
        return refuse(format!(
            "it is in {}, not in {}",
            eni.subnet_id, spec.subnet_id
        ));
    }
    let on_instance = eni.attachment.as_ref().filter(|a| {
        a.status == AttachmentStatus::Attached
            && a.instance_id.as_deref() == Some(spec.instance_id.as_str())
    });
    if on_instance.is_none() {
        return refuse(format!("it is not attached to {}", spec.instance_id));
    }
    let uid = att.uid().unwrap_or_default();
    if let Some(owner) = eni.tags.get(TAG_ATTACHMENT).filter(|o| **o != uid) {
        return refuse(format!("it belongs to ENIAttachment {owner}"));
    }
    if let Some(other) = eni.tags.get(TAG_CLUSTER).filter(|c| *c != cluster) {
        return refuse(format!("it belongs to cluster {other}"));
    }
    Verdict::Adopt
}

/// Our tags for `att`'s ENI, when `eni` is the one `att` adopted and lacks some of them (also
/// after a restart between recording the adoption and tagging). `None` for ENIs we created:
/// they were tagged at creation.
pub fn tags_missing(att: &EniAttachment, eni: &NetworkInterface, cluster: &str) -> Option<Tags> {
    let adopted = att.annotations().get(ANNOTATION_ADOPT_ENI) == Some(&eni.id);
    if !adopted {
        return None;
    }
    let spec = &att.spec;
    let want = keys::eni_tags(
        cluster,
        &spec.node_eni,
        &att.uid().unwrap_or_default(),
        &spec.node_name,
        &spec.instance_id,
    );
    let missing = want.iter().any(|(k, v)| eni.tags.get(k) != Some(v));
    missing.then_some(want)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use multi_eni_api::{EniAttachmentStatus, NodeEniStatus};
    use multi_eni_ec2::EniAttachment as Ec2Attachment;

    const UID: &str = "uid-a";

    fn go_entry(node: &str, instance: &str, eni: &str, subnet: &str) -> AttachmentEntry {
        AttachmentEntry {
            node_id: node.into(),
            instance_id: instance.into(),
            eni_id: eni.into(),
            attachment_id: format!("{eni}-attach"),
            subnet_id: subnet.into(),
            device_index: 1,
            status: "attached".into(),
            ..AttachmentEntry::default()
        }
    }

    fn annotated(eni: &str) -> EniAttachment {
        let mut a = existing_attachment("a", "n1", SUBNET_A, 1);
        a.metadata.uid = Some(UID.into());
        a.metadata.annotations = Some([(ANNOTATION_ADOPT_ENI.to_owned(), eni.to_owned())].into());
        a
    }

    /// A Go-made ENI in SUBNET_A attached to i-00000001, with the Go controller's tags only.
    fn go_eni(id: &str) -> NetworkInterface {
        let mut e = available_eni(id, UID);
        e.tags = [("NodeENI", NE), ("Node", "n1"), ("SubnetID", SUBNET_A)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        e.attachment = Some(Ec2Attachment {
            attachment_id: format!("{id}-attach"),
            instance_id: Some("i-00000001".into()),
            device_index: 1,
            network_card_index: 0,
            status: AttachmentStatus::Attached,
            delete_on_termination: true,
        });
        e
    }

    #[test]
    fn go_entries_name_an_eni_without_a_mac() {
        let mut ne = node_eni(serde_json::json!({}));
        let ours = AttachmentEntry {
            mac_address: "02:00:00:00:00:0b".into(),
            ..go_entry("n2", "i-00000002", "eni-000000b", SUBNET_A)
        };
        let pending = go_entry("n3", "i-00000003", "", SUBNET_A);
        let go = go_entry("n1", "i-00000001", "eni-0000000a", SUBNET_A);
        ne.status = Some(NodeEniStatus {
            attachments: vec![ours, pending, go.clone()],
            ..NodeEniStatus::default()
        });
        assert_eq!(go_entries(&ne), vec![&go]);
    }

    #[test]
    fn go_entry_matches_node_subnet_and_instance() {
        let a = go_entry("n1", "i-00000001", "eni-a", SUBNET_A);
        let b = go_entry("n1", "i-00000001", "eni-b", SUBNET_B);
        let old = go_entry("n2", "i-0000000f", "eni-c", SUBNET_A);
        let bare = go_entry("n3", "", "eni-d", "");
        let entries = [&a, &b, &old, &bare];
        let table: [(&str, &str, &str, usize, Option<&str>); 7] = [
            ("n1", "i-00000001", SUBNET_A, 2, Some("eni-a")),
            ("n1", "i-00000001", SUBNET_B, 2, Some("eni-b")),
            ("n1", "i-00000001", SUBNET_C, 3, None),
            // The node now runs another instance: the old ENI is not on it.
            ("n2", "i-00000002", SUBNET_A, 1, None),
            // No subnet in the entry: only a node with a single subnet can mean it.
            ("n3", "i-00000003", SUBNET_A, 1, Some("eni-d")),
            ("n3", "i-00000003", SUBNET_A, 2, None),
            ("n4", "i-00000004", SUBNET_A, 1, None),
        ];
        for (node, instance, subnet, count, want) in table {
            let got = go_entry_for(&entries, node, instance, subnet, count).map(|e| &*e.eni_id);
            assert_eq!(got, want, "{node} {subnet} of {count}");
        }
    }

    #[test]
    fn only_a_fresh_attachment_with_the_annotation_is_a_candidate() {
        assert_eq!(
            adoption_candidate(&annotated("eni-0000000a")),
            Some("eni-0000000a")
        );
        assert_eq!(adoption_candidate(&annotated("not-an-eni")), None);
        let plain = existing_attachment("a", "n1", SUBNET_A, 1);
        assert_eq!(adoption_candidate(&plain), None);
        let mut recorded = annotated("eni-0000000a");
        recorded.status = Some(EniAttachmentStatus {
            eni_id: Some("eni-0000000a".into()),
            ..EniAttachmentStatus::default()
        });
        assert_eq!(adoption_candidate(&recorded), None, "already adopted");
        let mut created = annotated("eni-0000000a");
        created.status = Some(EniAttachmentStatus {
            create_attempt: Some(1),
            ..EniAttachmentStatus::default()
        });
        assert_eq!(
            adoption_candidate(&created),
            None,
            "refused before: created"
        );
    }

    #[test]
    fn adopts_only_what_the_entry_says() {
        let att = annotated("eni-0000000a");
        let ok = go_eni("eni-0000000a");
        let mut other_subnet = ok.clone();
        other_subnet.subnet_id = SUBNET_B.into();
        let mut elsewhere = ok.clone();
        if let Some(a) = elsewhere.attachment.as_mut() {
            a.instance_id = Some("i-00000009".into());
        }
        let mut detached = ok.clone();
        detached.attachment = None;
        let mut detaching = ok.clone();
        if let Some(a) = detaching.attachment.as_mut() {
            a.status = AttachmentStatus::Detaching;
        }
        let mut owned = ok.clone();
        owned.tags.insert(TAG_ATTACHMENT.into(), "uid-other".into());
        let mut mine = ok.clone();
        mine.tags.insert(TAG_ATTACHMENT.into(), UID.into());
        let mut foreign = ok.clone();
        foreign.tags.insert(TAG_CLUSTER.into(), "staging".into());
        let table: [(&str, Option<&NetworkInterface>, Option<&str>); 9] = [
            ("as the entry says", Some(&ok), None),
            ("half-adopted by us before a restart", Some(&mine), None),
            ("gone", None, Some("EC2 does not list it")),
            (
                "another subnet",
                Some(&other_subnet),
                Some("is in subnet-0000000b"),
            ),
            (
                "another instance",
                Some(&elsewhere),
                Some("not attached to i-00000001"),
            ),
            ("detached", Some(&detached), Some("not attached")),
            ("detaching", Some(&detaching), Some("not attached")),
            (
                "another attachment's",
                Some(&owned),
                Some("ENIAttachment uid-other"),
            ),
            ("another cluster's", Some(&foreign), Some("cluster staging")),
        ];
        for (case, found, refused) in table {
            match (verdict(&att, "eni-0000000a", found, "prod"), refused) {
                (Verdict::Adopt, None) => {}
                (Verdict::Refuse(msg), Some(why)) => {
                    assert!(msg.contains(why), "{case}: {msg}");
                    assert!(msg.contains("eni-0000000a"), "{case}: {msg}");
                }
                (v, _) => panic!("{case}: {v:?}"),
            }
        }
    }

    #[test]
    fn an_adopted_eni_lacking_our_tags_gets_them_and_ours_never_do() {
        let att = annotated("eni-0000000a");
        let go = go_eni("eni-0000000a");
        let want = keys::eni_tags("prod", NE, UID, "n1", "i-00000001");
        assert_eq!(tags_missing(&att, &go, "prod"), Some(want.clone()));
        let mut tagged = go.clone();
        tagged.tags.extend(want);
        assert_eq!(tags_missing(&att, &tagged, "prod"), None);
        let created = available_eni("eni-0000000b", UID);
        assert_eq!(
            tags_missing(&att, &created, "prod"),
            None,
            "not the adopted one"
        );
        let plain = existing_attachment("a", "n1", SUBNET_A, 1);
        assert_eq!(tags_missing(&plain, &go, "prod"), None);
    }
}
