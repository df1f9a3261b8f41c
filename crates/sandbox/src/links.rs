//! Which links the simulated nodes should have (pure): an ENI the simulator shows `attached` to
//! a node's instance appears in that node's network namespace as a link carrying the ENI's MAC,
//! named as a Nitro instance names it (`ens5` is device index 0, `ens6` index 1, …); it goes
//! away once EC2 no longer shows it attached.

use std::collections::BTreeMap;

use multi_eni_ec2::{AttachmentStatus, NetworkInterface};

/// An ENI attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugged {
    /// The instance.
    pub instance_id: String,
    /// The ENI.
    pub eni_id: String,
    /// Its MAC address.
    pub mac: String,
    /// Its device index.
    pub device_index: i32,
}

/// What to do to one node's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// Add a veth `ifname` (peer `peer`) carrying `mac` for `eni_id` on `instance_id`.
    Add {
        /// The instance (node) it belongs to.
        instance_id: String,
        /// The ENI it stands for.
        eni_id: String,
        /// The ENI's MAC.
        mac: String,
        /// The link's name.
        ifname: String,
        /// The veth peer's name.
        peer: String,
    },
    /// Remove the link `ifname` of `eni_id` on `instance_id`.
    Remove {
        /// The instance (node).
        instance_id: String,
        /// The ENI it stood for.
        eni_id: String,
        /// The link's name.
        ifname: String,
    },
}

/// The ENIs of `enis` attached (not attaching or detaching) to an instance.
pub fn plugged(enis: &[NetworkInterface]) -> Vec<Plugged> {
    enis.iter()
        .filter_map(|e| {
            let a = e.attachment.as_ref()?;
            (a.status == AttachmentStatus::Attached).then_some(())?;
            Some(Plugged {
                instance_id: a.instance_id.clone()?,
                eni_id: e.id.clone(),
                mac: e.mac_address.clone(),
                device_index: a.device_index,
            })
        })
        .collect()
}

/// The changes that make `present` ((instance, ENI) → link name) match `plugged`, for the
/// instances in `nodes` only: removals first, so a device index freed and taken again in one
/// step never meets its old link.
pub fn changes(
    plugged: &[Plugged],
    present: &BTreeMap<(String, String), String>,
    nodes: &[String],
) -> Vec<LinkChange> {
    let ours = |instance: &str| nodes.iter().any(|n| n == instance);
    let wanted: BTreeMap<(String, String), &Plugged> = plugged
        .iter()
        .filter(|p| ours(&p.instance_id))
        .map(|p| ((p.instance_id.clone(), p.eni_id.clone()), p))
        .collect();
    let removals = present
        .iter()
        .filter(|(key, _)| !wanted.contains_key(*key))
        .map(|((instance_id, eni_id), ifname)| LinkChange::Remove {
            instance_id: instance_id.clone(),
            eni_id: eni_id.clone(),
            ifname: ifname.clone(),
        });
    let additions = wanted
        .iter()
        .filter(|(key, _)| !present.contains_key(*key))
        .map(|(_, p)| LinkChange::Add {
            instance_id: p.instance_id.clone(),
            eni_id: p.eni_id.clone(),
            mac: p.mac.clone(),
            ifname: format!("ens{}", 5 + p.device_index),
            peer: format!("sim{}", p.device_index),
        });
    removals.chain(additions).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(instance: &str, eni: &str, index: i32) -> Plugged {
        Plugged {
            instance_id: instance.into(),
            eni_id: eni.into(),
            mac: format!("02:00:00:00:00:{index:02x}"),
            device_index: index,
        }
    }

    fn present(items: &[(&str, &str, &str)]) -> BTreeMap<(String, String), String> {
        items
            .iter()
            .map(|(i, e, n)| (((*i).into(), (*e).into()), (*n).into()))
            .collect()
    }

    #[test]
    fn adds_removes_and_ignores_other_instances() {
        let nodes = vec!["i-1".to_string(), "i-2".to_string()];
        let plugged = [
            p("i-1", "eni-a", 1),
            p("i-2", "eni-c", 2),
            p("i-9", "eni-x", 1),
        ];
        let got = changes(
            &plugged,
            &present(&[("i-1", "eni-a", "ens6"), ("i-1", "eni-b", "ens7")]),
            &nodes,
        );
        assert_eq!(
            got,
            [
                LinkChange::Remove {
                    instance_id: "i-1".into(),
                    eni_id: "eni-b".into(),
                    ifname: "ens7".into()
                },
                LinkChange::Add {
                    instance_id: "i-2".into(),
                    eni_id: "eni-c".into(),
                    mac: "02:00:00:00:00:02".into(),
                    ifname: "ens7".into(),
                    peer: "sim2".into(),
                },
            ]
        );
        let done = present(&[("i-1", "eni-a", "ens6"), ("i-2", "eni-c", "ens7")]);
        assert!(
            changes(&plugged, &done, &nodes).is_empty(),
            "nothing to do once matched"
        );
    }

    #[test]
    fn a_reused_index_is_removed_before_it_is_added() {
        let nodes = vec!["i-1".to_string()];
        let got = changes(
            &[p("i-1", "eni-new", 1)],
            &present(&[("i-1", "eni-old", "ens6")]),
            &nodes,
        );
        assert!(matches!(&got[0], LinkChange::Remove { eni_id, .. } if eni_id == "eni-old"));
        assert!(matches!(&got[1], LinkChange::Add { ifname, .. } if ifname == "ens6"));
    }

    #[test]
    fn only_attached_interfaces_are_plugged() {
        use multi_eni_ec2::{EniAttachment, EniStatus};
        let eni = |id: &str, status: Option<AttachmentStatus>| NetworkInterface {
            id: id.into(),
            mac_address: "02:00:00:00:00:01".into(),
            status: EniStatus::InUse,
            attachment: status.map(|status| EniAttachment {
                attachment_id: format!("{id}-attach"),
                instance_id: Some("i-1".into()),
                device_index: 1,
                network_card_index: 0,
                status,
                delete_on_termination: false,
            }),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "us-east-1a".into(),
            private_ip_address: None,
            security_group_ids: Vec::new(),
            description: String::new(),
            tags: Default::default(),
        };
        let enis = [
            eni("eni-attached", Some(AttachmentStatus::Attached)),
            eni("eni-attaching", Some(AttachmentStatus::Attaching)),
            eni("eni-detaching", Some(AttachmentStatus::Detaching)),
            eni("eni-free", None),
        ];
        let ids: Vec<_> = plugged(&enis).into_iter().map(|p| p.eni_id).collect();
        assert_eq!(ids, ["eni-attached"]);
    }
}
