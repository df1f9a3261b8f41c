//! What [`super::plan`] decides on: this node's attachments reduced to what matters to the agent,
//! the links netlink reports, and the settings and memory (bindings, back-offs) of the agent.

use std::collections::BTreeMap;

use multi_eni_api::{EniAttachment, Phase};

use crate::address::{MacAddr, PciAddr};
use crate::dpdk::Binding;

/// What the agent should do with an attachment, from its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Attached or Ready: find the link and configure it.
    Configure,
    /// Detaching or Deleting (or being deleted): undo DPDK and SR-IOV, let go of the link,
    /// then report `released`.
    Release,
    /// Any other phase: not ours to act on yet (or any more); leave everything as it is.
    Leave,
}

/// How the agent names the links it owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Naming {
    /// Keep whatever name the kernel/udev gave the link (the default).
    #[default]
    Kernel,
    /// `<prefix><deviceIndex>` (e.g. `multi1`), or `<prefix>c<card>d<deviceIndex>` on network
    /// cards other than 0 — stable across reboots and instance families.
    DeviceIndex {
        /// The name prefix; checked at start-up to leave room for the index within 15 bytes.
        prefix: String,
    },
}

impl Naming {
    /// The name the attachment's link should have, if the agent names links at all.
    pub fn name_for(&self, att: &AttachmentFacts) -> Option<String> {
        match self {
            Naming::Kernel => None,
            Naming::DeviceIndex { prefix } if att.network_card_index == 0 => {
                Some(format!("{prefix}{}", att.device_index))
            }
            Naming::DeviceIndex { prefix } => Some(format!(
                "{prefix}c{}d{}",
                att.network_card_index, att.device_index
            )),
        }
    }
}

/// The DPDK binding an attachment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkWant {
    /// The userspace driver (`vfio-pci`, …) as sysfs names it.
    pub driver: String,
    /// The spec's PCI address: a fallback for when the link has no sysfs device.
    pub pci: Option<PciAddr>,
}

/// The SR-IOV device-plugin resource an attachment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SriovWant {
    /// The full extended resource name, `vendor.com/name` (the prefix is optional).
    pub resource: String,
    /// The spec's PCI address: a fallback for when the link has no sysfs device.
    pub pci: Option<PciAddr>,
}

/// One ENIAttachment of this node, reduced to what the agent decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFacts {
    /// The object's UID: the key of reports, actions and persisted bindings.
    pub uid: String,
    /// The object's name, for messages and the DPDK state file.
    pub name: String,
    /// `metadata.generation`, reported back as `observedGeneration`.
    pub generation: Option<i64>,
    /// What its phase asks of the agent.
    pub intent: Intent,
    /// The ENI's MAC once the controller knows it.
    pub mac: Option<MacAddr>,
    /// The MTU to apply, if the spec sets one.
    pub mtu: Option<u32>,
    /// The device index actually used (status), else the one asked for (spec).
    pub device_index: i32,
    /// The network card the ENI is attached on.
    pub network_card_index: i32,
    /// DPDK binding asked for.
    pub dpdk: Option<DpdkWant>,
    /// SR-IOV resource asked for.
    pub sriov: Option<SriovWant>,
    /// A field of the object the agent cannot use (an unparsable MAC or PCI address).
    pub problem: Option<String>,
}

impl AttachmentFacts {
    /// The facts of `att`, or `None` when it is not for `node`. The watch is already
    /// label-scoped to this node; checking `spec.nodeName` too means a mislabelled object can
    /// never make two agents configure the same ENI.
    pub fn from_object(att: &EniAttachment, node: &str) -> Option<Self> {
        if att.spec.node_name != node {
            return None;
        }
        let mut problems = Vec::new();
        let phase = att.phase();
        let intent = if att.metadata.deletion_timestamp.is_some()
            || matches!(phase, Phase::Detaching | Phase::Deleting)
        {
            Intent::Release
        } else if phase.is_attached() {
            Intent::Configure
        } else {
            Intent::Leave
        };
        let mac = att
            .status
            .as_ref()
            .and_then(|s| s.mac_address.as_deref())
            .and_then(|m| {
                m.parse::<MacAddr>()
                    .map_err(|e| problems.push(e.to_string()))
                    .ok()
            });
        let mut pci = |p: &Option<String>| {
            p.as_deref().and_then(|p| {
                p.parse::<PciAddr>()
                    .map_err(|e| problems.push(e.to_string()))
                    .ok()
            })
        };
        let dpdk = att.spec.dpdk.as_ref().map(|d| DpdkWant {
            driver: d.driver.as_str().to_owned(),
            pci: pci(&d.pci_address),
        });
        let sriov = att.spec.sriov.as_ref().map(|s| SriovWant {
            resource: s.resource_name.clone(),
            pci: pci(&s.pci_address),
        });
        let mtu = att.spec.mtu.and_then(|m| u32::try_from(m).ok());
        Some(AttachmentFacts {
            uid: att.metadata.uid.clone().unwrap_or_default(),
            name: att.metadata.name.clone().unwrap_or_default(),
            generation: att.metadata.generation,
            intent,
            mac,
            mtu,
            device_index: att
                .status
                .as_ref()
                .and_then(|s| s.device_index)
                .unwrap_or(att.spec.device_index),
            network_card_index: att.spec.network_card_index,
            dpdk,
            sriov,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        })
    }
}

/// A network link as netlink reports it (plus its PCI device, read from sysfs by the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFacts {
    /// The ifindex: what every change is addressed by.
    pub index: u32,
    /// The current name (may change under us: udev, systemd, a person).
    pub name: String,
    /// The link-layer address, when it is an Ethernet one.
    pub mac: Option<MacAddr>,
    /// The current MTU.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// `IFLA_LINK`: the link this one is stacked on (VLAN, macvlan) or a veth's peer.
    pub parent: Option<u32>,
    /// `IFLA_MASTER`: the bond/bridge this link is enslaved to.
    pub master: Option<u32>,
    /// The PCI address of the link's device (`<sysfs>/class/net/<name>/device`), if any.
    pub pci: Option<PciAddr>,
}

/// Why an attachment is on hold: the last action for it failed and it waits out a back-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The condition reason to report (`InterfaceConfigFailed`, `DPDKBindFailed`).
    pub reason: &'static str,
    pub message: String,
}

/// Everything [`super::plan`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// This node's attachments.
    pub attachments: &'a [AttachmentFacts],
    /// Every link of the network namespace.
    pub links: &'a [LinkFacts],
    /// PCI devices of interest and their current driver (`None` = no driver bound). A device
    /// missing from the map does not exist under the sysfs root.
    pub devices: &'a BTreeMap<PciAddr, Option<String>>,
    /// The persisted DPDK bindings this agent made.
    pub bindings: &'a [Binding],
    /// Attachments waiting out a back-off after a failed action.
    pub held: &'a BTreeMap<String, Held>,
    /// How links are named.
    pub naming: &'a Naming,
    /// Whether `attachments` is the complete list (the watch has listed once). Until then a
    /// binding without an attachment may just not have been seen yet, so nothing is undone.
    pub complete: bool,
}

impl Facts<'_> {
    /// Our persisted DPDK binding for the attachment `uid`, if any.
    pub(super) fn binding_of(&self, uid: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.attachment_uid == uid)
    }

    /// The failure an attachment waits out, as the outcome to keep reporting meanwhile.
    pub(super) fn held_outcome(&self, uid: &str) -> Option<super::Outcome> {
        self.held.get(uid).map(|h| super::Outcome::Failed {
            reason: h.reason,
            message: h.message.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::MAC_A;
    use super::*;

    #[test]
    fn facts_from_an_object_of_another_node_are_none() {
        let obj: EniAttachment = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment",
            "metadata": {"name": "x", "uid": "u1", "generation": 3},
            "spec": {"nodeENI": "ne", "nodeName": "node-a", "instanceID": "i-01234567", "subnetID": "subnet-01234567",
                     "securityGroupIDs": ["sg-01234567"], "deviceIndex": 2, "mtu": 9001,
                     "dpdk": {"driver": "vfio-pci", "pciAddress": "00:06.0"}},
            "status": {"phase": "Attached", "macAddress": "02:00:00:00:00:0A", "deviceIndex": 3}
        }))
        .expect("valid object");
        assert!(AttachmentFacts::from_object(&obj, "node-b").is_none());
        let f = AttachmentFacts::from_object(&obj, "node-a").expect("ours");
        assert_eq!(f.intent, Intent::Configure);
        assert_eq!(f.mac, Some(MAC_A));
        assert_eq!(f.device_index, 3, "the index actually used wins");
        assert_eq!(f.mtu, Some(9001));
        assert_eq!(
            f.dpdk.and_then(|d| d.pci).map(|p| p.to_string()).as_deref(),
            Some("0000:00:06.0")
        );
        assert_eq!(f.generation, Some(3));
    }
}
