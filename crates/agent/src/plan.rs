//! The agent's decision as a pure function: which link is each attachment's, what has to change
//! on it, which DPDK bindings to make or undo, which SR-IOV entries exist, and what to report.
//!
//! No netlink, no sysfs, no API server, no clock: the shells in [`crate::run`] gather [`Facts`],
//! call [`plan`], execute the [`Action`]s and write the [`Report`]s. Every safety rule of the
//! agent — touch only links whose MAC is one of this node's attached ENIs, never guess between
//! two candidates, never bind a device the attachment did not ask for — is decided here, so it is
//! tested here, as tables.

use std::collections::{BTreeMap, BTreeSet};

use multi_eni_api::keys::reason;
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
    /// What went wrong.
    pub message: String,
}

/// Everything [`plan`] decides on.
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

/// What to change on one link, by ifindex. Fields left `None` stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkChange {
    /// Rename to this (the link is taken down for the rename and brought back up).
    pub name: Option<String>,
    /// Set this MTU.
    pub mtu: Option<u32>,
    /// Set administratively up (`true`) or down (`false`).
    pub up: Option<bool>,
}

impl LinkChange {
    fn is_empty(&self) -> bool {
        self == &LinkChange::default()
    }
}

/// One change to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Change a link; the executor re-checks that `index` still carries `mac` right before.
    Link {
        /// The ifindex to change.
        index: u32,
        /// The MAC the link must still have.
        mac: MacAddr,
        /// What to change.
        change: LinkChange,
    },
    /// Bind a PCI device to a DPDK driver (persisting the binding first).
    Bind {
        /// The device.
        pci: PciAddr,
        /// The DPDK driver.
        driver: String,
        /// The kernel driver to restore on release (`None`: none was bound).
        original_driver: Option<String>,
        /// The attachment's name, for the state file.
        attachment: String,
    },
    /// Give a device back to its original kernel driver and forget the binding.
    Restore {
        /// The device.
        pci: PciAddr,
        /// The kernel driver to restore (`None`: leave it to the kernel's matching).
        original_driver: Option<String>,
    },
}

/// One change, on behalf of one attachment (by UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The attachment the change is for; failures are reported on it.
    pub uid: String,
    /// The change.
    pub op: Op,
}

/// One SR-IOV device-plugin entry: a device published under a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SriovEntry {
    /// The full resource name, `vendor.com/name`.
    pub resource: String,
    /// The device.
    pub pci: PciAddr,
    /// The driver the device is bound to (the plugin's `drivers` selector).
    pub driver: Option<String>,
    /// The attachment it is for.
    pub uid: String,
}

/// Where an attachment stands, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The link is up with the wanted MTU and name.
    Configured,
    /// The device is bound to its DPDK driver.
    DpdkBound,
    /// Changes were issued this round; the next round reports their result.
    InProgress,
    /// Waiting for the link (or the MAC) to appear.
    NotFound(String),
    /// Cannot proceed; the message says why.
    Failed {
        /// The condition reason.
        reason: &'static str,
        /// What is wrong and, where possible, what to do.
        message: String,
    },
    /// Undoing DPDK / letting go of the link.
    Releasing,
    /// Let go of everything: safe to detach.
    Released,
}

/// What the agent observed of an attachment's interface, for `status.interface`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The link's current name.
    pub interface_name: Option<String>,
    /// The link's ifindex.
    pub if_index: Option<u32>,
    /// The link's current MTU.
    pub mtu: Option<u32>,
    /// Whether the link is administratively up.
    pub up: bool,
    /// Bound to the DPDK driver.
    pub dpdk_bound: bool,
    /// The DPDK driver wanted or bound.
    pub dpdk_driver: Option<String>,
    /// The device's PCI address.
    pub pci: Option<PciAddr>,
    /// The kernel driver before binding.
    pub original_driver: Option<String>,
    /// The SR-IOV resource the device is published under.
    pub sriov_resource: Option<String>,
}

/// The report for one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The attachment's UID.
    pub uid: String,
    /// Where it stands.
    pub outcome: Outcome,
    /// What was observed.
    pub observed: Observed,
}

/// The whole decision for one round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Changes, in order.
    pub actions: Vec<Action>,
    /// One report per attachment that is configured or released.
    pub reports: Vec<Report>,
    /// The SR-IOV entries that should exist (all of ours, sorted).
    pub sriov: Vec<SriovEntry>,
}

impl Plan {
    /// The report for `uid`.
    pub fn report(&self, uid: &str) -> Option<&Report> {
        self.reports.iter().find(|r| r.uid == uid)
    }
}

/// Decide one round. Pure: the same facts always give the same plan.
pub fn plan(f: &Facts<'_>) -> Plan {
    let mut out = Plan::default();
    let mut claims: BTreeMap<MacAddr, Vec<&str>> = BTreeMap::new();
    for a in f.attachments.iter().filter(|a| a.intent != Intent::Leave) {
        if let Some(mac) = a.mac {
            claims.entry(mac).or_default().push(&a.name);
        }
    }
    for att in f.attachments {
        let shared = att
            .mac
            .and_then(|m| claims.get(&m))
            .filter(|names| names.len() > 1)
            .map(|names| names.join(", "));
        let report = match att.intent {
            Intent::Leave => continue,
            Intent::Configure => configure(att, shared, f, &mut out),
            Intent::Release => release(att, shared, f, &mut out),
        };
        out.reports.push(report);
    }
    if f.complete {
        let live: BTreeSet<&str> = f
            .attachments
            .iter()
            .filter(|a| a.intent != Intent::Release)
            .map(|a| a.uid.as_str())
            .collect();
        let released: BTreeSet<&str> = f
            .attachments
            .iter()
            .filter(|a| a.intent == Intent::Release)
            .map(|a| a.uid.as_str())
            .collect();
        for b in f.bindings {
            let uid = b.attachment_uid.as_str();
            // Bindings of gone attachments are undone here; those of live or releasing ones
            // were handled above.
            if !live.contains(uid) && !released.contains(uid) && !f.held.contains_key(uid) {
                out.actions.push(restore(b));
            }
        }
    }
    out.sriov.sort();
    out
}

fn restore(b: &Binding) -> Action {
    Action {
        uid: b.attachment_uid.clone(),
        op: Op::Restore {
            pci: b.pci.clone(),
            original_driver: b.original_driver.clone(),
        },
    }
}

fn failed(reason: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        reason,
        message: message.into(),
    }
}

/// The link carrying `mac`. Several links can share a MAC (a VLAN or macvlan stacked on the
/// ENI, a bond that took its slave's address): the one the others are stacked on or enslave is
/// the device itself. Anything still ambiguous is an error, never a guess.
fn find_link(links: &[LinkFacts], mac: MacAddr) -> Result<Option<&LinkFacts>, String> {
    let cands: Vec<&LinkFacts> = links.iter().filter(|l| l.mac == Some(mac)).collect();
    if cands.len() <= 1 {
        return Ok(cands.first().copied());
    }
    let indices: BTreeSet<u32> = cands.iter().map(|l| l.index).collect();
    let lower: Vec<&LinkFacts> = cands
        .iter()
        .copied()
        .filter(|l| !l.parent.is_some_and(|p| indices.contains(&p)))
        .filter(|l| !cands.iter().any(|o| o.master == Some(l.index)))
        .collect();
    match lower.as_slice() {
        [one] => Ok(Some(one)),
        _ => Err(format!(
            "several links carry MAC {mac} ({}); touching none",
            cands
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn observe_link(link: Option<&LinkFacts>) -> Observed {
    link.map(|l| Observed {
        interface_name: Some(l.name.clone()),
        if_index: Some(l.index),
        mtu: Some(l.mtu),
        up: l.up,
        pci: l.pci.clone(),
        ..Observed::default()
    })
    .unwrap_or_default()
}

fn configure(
    att: &AttachmentFacts,
    shared: Option<String>,
    f: &Facts<'_>,
    out: &mut Plan,
) -> Report {
    let report = |outcome, observed| Report {
        uid: att.uid.clone(),
        outcome,
        observed,
    };
    if let Some(p) = &att.problem {
        return report(
            failed(reason::INTERFACE_CONFIG_FAILED, p.clone()),
            Observed::default(),
        );
    }
    let Some(mac) = att.mac else {
        return report(
            Outcome::NotFound("waiting for the controller to report the ENI's MAC address".into()),
            Observed::default(),
        );
    };
    if let Some(names) = shared {
        return report(
            failed(
                reason::INTERFACE_CONFIG_FAILED,
                format!("MAC {mac} is claimed by several attachments ({names}); touching none"),
            ),
            Observed::default(),
        );
    }
    let link = match find_link(f.links, mac) {
        Ok(l) => l,
        Err(msg) => {
            return report(
                failed(reason::INTERFACE_CONFIG_FAILED, msg),
                Observed::default(),
            );
        }
    };
    let binding = f.bindings.iter().find(|b| b.attachment_uid == att.uid);
    let mut observed = observe_link(link);
    if let Some(b) = binding {
        observed.pci = Some(b.pci.clone());
        observed.original_driver = b.original_driver.clone();
        observed.dpdk_driver = Some(b.driver.clone());
        observed.dpdk_bound = f
            .devices
            .get(&b.pci)
            .is_some_and(|d| d.as_deref() == Some(&b.driver));
    }
    if let Some(h) = f.held.get(&att.uid) {
        return report(failed(h.reason, h.message.clone()), observed);
    }

    let mut actions = Vec::new();
    let mut outcome = match &att.dpdk {
        Some(want) => dpdk_outcome(att, want, link, binding, f, &mut observed, &mut actions),
        None => {
            if let Some(b) = binding {
                // DPDK was switched off in the spec: give the device back first.
                actions.push(restore(b).op);
                Outcome::InProgress
            } else if let Some(link) = link {
                link_outcome(att, link, mac, f, &mut actions)
            } else {
                Outcome::NotFound(format!("no link with MAC {mac} yet"))
            }
        }
    };

    if let Some(want) = &att.sriov
        && matches!(outcome, Outcome::Configured | Outcome::DpdkBound)
    {
        let pci = match (
            link.and_then(|l| l.pci.clone())
                .or(binding.map(|b| b.pci.clone())),
            &want.pci,
        ) {
            (Some(found), Some(spec)) if &found != spec => Err(format!(
                "spec.sriov.pciAddress {spec} is not the device of the link with MAC {mac} ({found})"
            )),
            (Some(found), _) => Ok(found),
            (None, Some(spec)) => Ok(spec.clone()),
            (None, None) => Err(format!(
                "SR-IOV asked for, but the link with MAC {mac} has no PCI device and spec.sriov.pciAddress is unset"
            )),
        };
        match pci {
            Ok(pci) => {
                let driver = if observed.dpdk_bound {
                    observed.dpdk_driver.clone()
                } else {
                    f.devices.get(&pci).cloned().flatten()
                };
                observed.sriov_resource = Some(want.resource.clone());
                observed.pci.get_or_insert(pci.clone());
                out.sriov.push(SriovEntry {
                    resource: want.resource.clone(),
                    pci,
                    driver,
                    uid: att.uid.clone(),
                });
            }
            Err(msg) => outcome = failed(reason::INTERFACE_CONFIG_FAILED, msg),
        }
    }
    out.actions.extend(actions.into_iter().map(|op| Action {
        uid: att.uid.clone(),
        op,
    }));
    report(outcome, observed)
}

fn dpdk_outcome(
    att: &AttachmentFacts,
    want: &DpdkWant,
    link: Option<&LinkFacts>,
    binding: Option<&Binding>,
    f: &Facts<'_>,
    observed: &mut Observed,
    actions: &mut Vec<Op>,
) -> Outcome {
    observed.dpdk_driver = Some(want.driver.clone());
    // The PCI address: from the link found by MAC (authoritative), else the spec's — but only
    // with the link present, so the MAC proves the ENI is here — else our own persisted binding.
    let pci = match (link, binding) {
        (Some(l), _) => match (&l.pci, &want.pci) {
            (Some(found), Some(spec)) if found != spec => {
                return failed(
                    reason::DPDK_BIND_FAILED,
                    format!(
                        "spec.dpdk.pciAddress {spec} is not the device of {} ({found}); binding nothing",
                        l.name
                    ),
                );
            }
            (Some(found), _) => found.clone(),
            (None, Some(spec)) => spec.clone(),
            (None, None) => {
                return failed(
                    reason::DPDK_BIND_FAILED,
                    format!(
                        "{} has no PCI device under sysfs and spec.dpdk.pciAddress is unset",
                        l.name
                    ),
                );
            }
        },
        (None, Some(b)) => b.pci.clone(),
        (None, None) => {
            return Outcome::NotFound(format!(
                "no link with MAC {} yet",
                att.mac.map(|m| m.to_string()).unwrap_or_default()
            ));
        }
    };
    observed.pci = Some(pci.clone());
    if let Some(b) = binding
        && b.pci != pci
    {
        // Our binding is for another device (the spec changed): undo it first.
        actions.push(Op::Restore {
            pci: b.pci.clone(),
            original_driver: b.original_driver.clone(),
        });
        return Outcome::InProgress;
    }
    let Some(current) = f.devices.get(&pci) else {
        return failed(
            reason::DPDK_BIND_FAILED,
            format!("PCI device {pci} does not exist under the sysfs root"),
        );
    };
    let bound = current.as_deref() == Some(want.driver.as_str());
    match binding {
        Some(b) if bound && b.driver == want.driver => {
            observed.dpdk_bound = true;
            observed.original_driver = b.original_driver.clone();
            Outcome::DpdkBound
        }
        _ => {
            // Re-binding keeps the first original driver: after a crash mid-bind the device may
            // be driverless or on another DPDK driver, and that is not what to restore.
            let original_driver = match binding {
                Some(b) => b.original_driver.clone(),
                None if bound => None,
                None => current.clone(),
            };
            actions.push(Op::Bind {
                pci,
                driver: want.driver.clone(),
                original_driver,
                attachment: att.name.clone(),
            });
            Outcome::InProgress
        }
    }
}

fn link_outcome(
    att: &AttachmentFacts,
    link: &LinkFacts,
    mac: MacAddr,
    f: &Facts<'_>,
    actions: &mut Vec<Op>,
) -> Outcome {
    let mut change = LinkChange::default();
    let mut problem = None;
    if let Some(name) = f.naming.name_for(att)
        && name != link.name
    {
        match f.links.iter().find(|l| l.name == name) {
            Some(other) => {
                problem = Some(format!(
                    "cannot name {} {name}: that name belongs to ifindex {}, which is not ours",
                    link.name, other.index
                ));
            }
            None => change.name = Some(name),
        }
    }
    if let Some(mtu) = att.mtu
        && mtu != link.mtu
    {
        change.mtu = Some(mtu);
    }
    if !link.up {
        change.up = Some(true);
    }
    let pending = !change.is_empty();
    if pending {
        actions.push(Op::Link {
            index: link.index,
            mac,
            change,
        });
    }
    match (problem, pending) {
        (Some(msg), _) => failed(reason::INTERFACE_CONFIG_FAILED, msg),
        (None, true) => Outcome::InProgress,
        (None, false) => Outcome::Configured,
    }
}

fn release(att: &AttachmentFacts, shared: Option<String>, f: &Facts<'_>, out: &mut Plan) -> Report {
    let binding = f.bindings.iter().find(|b| b.attachment_uid == att.uid);
    // A MAC two attachments claim is nobody's link: releasing must not take it down either.
    let link = match (att.mac, shared) {
        (Some(mac), None) => find_link(f.links, mac).ok().flatten(),
        _ => None,
    };
    let mut observed = observe_link(link);
    if let Some(b) = binding {
        observed.pci = Some(b.pci.clone());
        observed.original_driver = b.original_driver.clone();
        observed.dpdk_driver = Some(b.driver.clone());
        observed.dpdk_bound = f
            .devices
            .get(&b.pci)
            .is_some_and(|d| d.as_deref() == Some(&b.driver));
    }
    let report = |outcome, observed| Report {
        uid: att.uid.clone(),
        outcome,
        observed,
    };
    if let Some(h) = f.held.get(&att.uid) {
        return report(failed(h.reason, h.message.clone()), observed);
    }
    let mut pending = false;
    if let Some(b) = binding {
        out.actions.push(restore(b));
        pending = true;
    }
    if let (Some(link), Some(mac)) = (link, att.mac)
        && link.up
    {
        out.actions.push(Action {
            uid: att.uid.clone(),
            op: Op::Link {
                index: link.index,
                mac,
                change: LinkChange {
                    up: Some(false),
                    ..Default::default()
                },
            },
        });
        pending = true;
    }
    report(
        if pending {
            Outcome::Releasing
        } else {
            Outcome::Released
        },
        observed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
    const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);
    const MAC_FOREIGN: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xf]);

    fn pci(s: &str) -> PciAddr {
        s.parse().expect("valid PCI address")
    }

    fn att(uid: &str, mac: MacAddr) -> AttachmentFacts {
        AttachmentFacts {
            uid: uid.into(),
            name: format!("att-{uid}"),
            generation: Some(1),
            intent: Intent::Configure,
            mac: Some(mac),
            mtu: Some(9001),
            device_index: 1,
            network_card_index: 0,
            dpdk: None,
            sriov: None,
            problem: None,
        }
    }

    fn link(index: u32, name: &str, mac: MacAddr) -> LinkFacts {
        LinkFacts {
            index,
            name: name.into(),
            mac: Some(mac),
            mtu: 1500,
            up: false,
            parent: None,
            master: None,
            pci: None,
        }
    }

    fn configured(mut l: LinkFacts, mtu: u32) -> LinkFacts {
        l.up = true;
        l.mtu = mtu;
        l
    }

    struct World {
        attachments: Vec<AttachmentFacts>,
        links: Vec<LinkFacts>,
        devices: BTreeMap<PciAddr, Option<String>>,
        bindings: Vec<Binding>,
        held: BTreeMap<String, Held>,
        naming: Naming,
        complete: bool,
    }

    impl World {
        fn new(attachments: Vec<AttachmentFacts>, links: Vec<LinkFacts>) -> Self {
            World {
                attachments,
                links,
                devices: BTreeMap::new(),
                bindings: vec![],
                held: BTreeMap::new(),
                naming: Naming::Kernel,
                complete: true,
            }
        }
        fn plan(&self) -> Plan {
            plan(&Facts {
                attachments: &self.attachments,
                links: &self.links,
                devices: &self.devices,
                bindings: &self.bindings,
                held: &self.held,
                naming: &self.naming,
                complete: self.complete,
            })
        }
    }

    fn binding(uid: &str, addr: &str, original: Option<&str>) -> Binding {
        Binding {
            pci: pci(addr),
            attachment_uid: uid.into(),
            attachment: format!("att-{uid}"),
            driver: "vfio-pci".into(),
            original_driver: original.map(str::to_owned),
        }
    }

    fn link_ops(p: &Plan) -> Vec<(u32, LinkChange)> {
        p.actions
            .iter()
            .filter_map(|a| match &a.op {
                Op::Link { index, change, .. } => Some((*index, change.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn down_link_with_our_mac_is_brought_up_with_the_spec_mtu() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![link(1, "lo", MacAddr([0; 6])), link(7, "ens6", MAC_A)],
        );
        let p = w.plan();
        assert_eq!(
            link_ops(&p),
            vec![(
                7,
                LinkChange {
                    name: None,
                    mtu: Some(9001),
                    up: Some(true)
                }
            )]
        );
        assert_eq!(
            p.report("a").map(|r| &r.outcome),
            Some(&Outcome::InProgress)
        );
    }

    #[test]
    fn configured_link_needs_nothing_and_reports_what_it_has() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![configured(link(7, "ens6", MAC_A), 9001)],
        );
        let p = w.plan();
        assert!(p.actions.is_empty());
        let r = p.report("a").expect("report");
        assert_eq!(r.outcome, Outcome::Configured);
        assert_eq!(r.observed.interface_name.as_deref(), Some("ens6"));
        assert_eq!(
            (r.observed.if_index, r.observed.mtu, r.observed.up),
            (Some(7), Some(9001), true)
        );
    }

    #[test]
    fn mac_match_ignores_case_because_addresses_are_parsed() {
        let mut a = att("a", MAC_A);
        a.mac = Some("02:00:00:00:00:0A".parse().expect("valid"));
        let w = World::new(vec![a], vec![configured(link(7, "ens6", MAC_A), 9001)]);
        assert_eq!(
            w.plan().report("a").map(|r| &r.outcome),
            Some(&Outcome::Configured)
        );
    }

    #[test]
    fn mtu_drift_is_repaired_and_nothing_else_is_touched() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![configured(link(7, "ens6", MAC_A), 1500)],
        );
        assert_eq!(
            link_ops(&w.plan()),
            vec![(
                7,
                LinkChange {
                    mtu: Some(9001),
                    ..Default::default()
                }
            )]
        );
    }

    #[test]
    fn unset_mtu_leaves_the_link_mtu_alone() {
        let mut a = att("a", MAC_A);
        a.mtu = None;
        let w = World::new(vec![a], vec![configured(link(7, "ens6", MAC_A), 1500)]);
        assert!(w.plan().actions.is_empty());
    }

    #[test]
    fn links_with_foreign_macs_are_never_touched() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![
                link(2, "eth0", MAC_FOREIGN),
                link(3, "eni1234", MAC_B),
                link(4, "vlan.eth.1", MAC_FOREIGN),
            ],
        );
        let p = w.plan();
        assert!(p.actions.is_empty(), "{p:?}");
        assert!(matches!(
            p.report("a").map(|r| &r.outcome),
            Some(Outcome::NotFound(_))
        ));
    }

    #[test]
    fn attachment_without_mac_waits_for_the_controller() {
        let mut a = att("a", MAC_A);
        a.mac = None;
        let p = World::new(vec![a], vec![link(7, "ens6", MAC_A)]).plan();
        assert!(p.actions.is_empty());
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::NotFound(m)) if m.contains("MAC"))
        );
    }

    #[test]
    fn attachments_in_other_phases_get_no_action_and_no_report() {
        let mut a = att("a", MAC_A);
        a.intent = Intent::Leave;
        let p = World::new(vec![a], vec![link(7, "ens6", MAC_A)]).plan();
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn two_attachments_claiming_one_mac_touch_nothing() {
        let w = World::new(
            vec![att("a", MAC_A), att("b", MAC_A)],
            vec![link(7, "ens6", MAC_A)],
        );
        let p = w.plan();
        assert!(p.actions.is_empty());
        for uid in ["a", "b"] {
            assert!(matches!(
                p.report(uid).map(|r| &r.outcome),
                Some(Outcome::Failed { .. })
            ));
        }
    }

    #[test]
    fn vlan_stacked_on_the_eni_is_not_mistaken_for_it() {
        let mut vlan = link(9, "ens6.100", MAC_A);
        vlan.parent = Some(7);
        let w = World::new(vec![att("a", MAC_A)], vec![vlan, link(7, "ens6", MAC_A)]);
        assert_eq!(link_ops(&w.plan()).first().map(|(i, _)| *i), Some(7));
    }

    #[test]
    fn bond_that_took_the_enis_mac_is_not_mistaken_for_it() {
        let mut slave = link(7, "ens6", MAC_A);
        slave.master = Some(12);
        let w = World::new(vec![att("a", MAC_A)], vec![link(12, "bond0", MAC_A), slave]);
        assert_eq!(link_ops(&w.plan()).first().map(|(i, _)| *i), Some(7));
    }

    #[test]
    fn two_unrelated_links_with_one_mac_are_ambiguous_and_untouched() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![link(7, "x", MAC_A), link(8, "y", MAC_A)],
        );
        let p = w.plan();
        assert!(p.actions.is_empty());
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::Failed { message, .. }) if message.contains("several links"))
        );
    }

    #[test]
    fn device_index_naming_renames_only_our_link() {
        let mut w = World::new(
            vec![att("a", MAC_A)],
            vec![
                configured(link(7, "ens6", MAC_A), 9001),
                link(2, "eth0", MAC_FOREIGN),
            ],
        );
        w.naming = Naming::DeviceIndex {
            prefix: "multi".into(),
        };
        assert_eq!(
            link_ops(&w.plan()),
            vec![(
                7,
                LinkChange {
                    name: Some("multi1".into()),
                    ..Default::default()
                }
            )]
        );
        w.attachments[0].network_card_index = 1;
        w.attachments[0].device_index = 2;
        assert_eq!(link_ops(&w.plan())[0].1.name.as_deref(), Some("multic1d2"));
    }

    #[test]
    fn wanted_name_taken_by_a_foreign_link_is_reported_not_stolen() {
        let mut w = World::new(
            vec![att("a", MAC_A)],
            vec![link(7, "ens6", MAC_A), link(3, "multi1", MAC_FOREIGN)],
        );
        w.naming = Naming::DeviceIndex {
            prefix: "multi".into(),
        };
        let p = w.plan();
        assert_eq!(
            link_ops(&p),
            vec![(
                7,
                LinkChange {
                    name: None,
                    mtu: Some(9001),
                    up: Some(true)
                }
            )]
        );
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::Failed { message, .. }) if message.contains("multi1"))
        );
    }

    #[test]
    fn held_attachment_waits_out_its_backoff() {
        let mut w = World::new(vec![att("a", MAC_A)], vec![link(7, "ens6", MAC_A)]);
        w.held.insert(
            "a".into(),
            Held {
                reason: reason::INTERFACE_CONFIG_FAILED,
                message: "EPERM".into(),
            },
        );
        let p = w.plan();
        assert!(p.actions.is_empty());
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::Failed { message, .. }) if message == "EPERM")
        );
    }

    fn dpdk_att(uid: &str, mac: MacAddr, spec_pci: Option<&str>) -> AttachmentFacts {
        let mut a = att(uid, mac);
        a.dpdk = Some(DpdkWant {
            driver: "vfio-pci".into(),
            pci: spec_pci.map(pci),
        });
        a
    }

    #[test]
    fn dpdk_binds_the_device_of_the_link_found_by_mac_remembering_its_driver() {
        let mut l = link(7, "ens6", MAC_A);
        l.pci = Some(pci("0000:00:06.0"));
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        let p = w.plan();
        assert_eq!(
            p.actions,
            vec![Action {
                uid: "a".into(),
                op: Op::Bind {
                    pci: pci("0000:00:06.0"),
                    driver: "vfio-pci".into(),
                    original_driver: Some("ena".into()),
                    attachment: "att-a".into()
                }
            }]
        );
        assert!(
            link_ops(&p).is_empty(),
            "a link going to DPDK is not brought up"
        );
    }

    #[test]
    fn dpdk_spec_address_is_used_only_when_the_link_proves_the_eni_is_here() {
        let mut w = World::new(vec![dpdk_att("a", MAC_A, Some("00:06.0"))], vec![]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        let p = w.plan();
        assert!(
            p.actions.is_empty(),
            "no link with the MAC: nothing may be unbound"
        );
        w.links.push(link(7, "ens6", MAC_A));
        assert!(
            matches!(w.plan().actions.first().map(|a| &a.op), Some(Op::Bind { pci: p, .. }) if p.as_str() == "0000:00:06.0")
        );
    }

    #[test]
    fn dpdk_spec_address_contradicting_the_link_binds_nothing() {
        let mut l = link(7, "ens6", MAC_A);
        l.pci = Some(pci("0000:00:07.0"));
        let mut w = World::new(vec![dpdk_att("a", MAC_A, Some("0000:00:06.0"))], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.devices.insert(pci("0000:00:07.0"), Some("ena".into()));
        let p = w.plan();
        assert!(p.actions.is_empty());
        assert!(
            matches!(p.report("a").map(|r| &r.outcome), Some(Outcome::Failed { reason: r, .. }) if *r == reason::DPDK_BIND_FAILED)
        );
    }

    #[test]
    fn bound_device_with_its_binding_reports_dpdk_bound() {
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        let p = w.plan();
        assert!(p.actions.is_empty());
        let r = p.report("a").expect("report");
        assert_eq!(r.outcome, Outcome::DpdkBound);
        assert!(r.observed.dpdk_bound);
        assert_eq!(r.observed.original_driver.as_deref(), Some("ena"));
        assert_eq!(
            r.observed.interface_name, None,
            "the netdev is gone while bound"
        );
    }

    #[test]
    fn after_a_reboot_the_binding_is_made_again_with_the_first_original_driver() {
        // Reboot: the kernel driver is back and the netdev reappeared; the state file remembers.
        let mut l = link(7, "ens6", MAC_A);
        l.pci = Some(pci("0000:00:06.0"));
        let mut w = World::new(vec![dpdk_att("a", MAC_A, None)], vec![l]);
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        assert!(
            matches!(&w.plan().actions[..], [Action { op: Op::Bind { original_driver: Some(o), .. }, .. }] if o == "ena")
        );
        // Crash mid-bind: driverless now, but "ena" is still what to restore.
        w.links.clear();
        w.devices.insert(pci("0000:00:06.0"), None);
        assert!(
            matches!(&w.plan().actions[..], [Action { op: Op::Bind { original_driver: Some(o), .. }, .. }] if o == "ena")
        );
    }

    #[test]
    fn dpdk_switched_off_restores_the_kernel_driver() {
        let mut w = World::new(vec![att("a", MAC_A)], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        assert_eq!(
            w.plan().actions,
            vec![Action {
                uid: "a".into(),
                op: Op::Restore {
                    pci: pci("0000:00:06.0"),
                    original_driver: Some("ena".into())
                }
            }]
        );
    }

    #[test]
    fn binding_of_a_deleted_attachment_is_undone_only_once_the_list_is_complete() {
        let mut w = World::new(vec![], vec![]);
        w.bindings
            .push(binding("gone", "0000:00:06.0", Some("ena")));
        w.complete = false;
        assert!(w.plan().actions.is_empty());
        w.complete = true;
        assert!(matches!(
            &w.plan().actions[..],
            [Action {
                op: Op::Restore { .. },
                ..
            }]
        ));
    }

    #[test]
    fn release_restores_dpdk_and_takes_the_link_down_before_reporting_released() {
        let mut a = dpdk_att("a", MAC_A, None);
        a.intent = Intent::Release;
        let mut w = World::new(vec![a], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        let p = w.plan();
        assert!(matches!(
            &p.actions[..],
            [Action {
                op: Op::Restore { .. },
                ..
            }]
        ));
        assert_eq!(p.report("a").map(|r| &r.outcome), Some(&Outcome::Releasing));
        // The kernel driver is back: the netdev reappears, up from before.
        w.bindings.clear();
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.links.push(configured(link(7, "ens6", MAC_A), 9001));
        assert_eq!(
            link_ops(&w.plan()),
            vec![(
                7,
                LinkChange {
                    up: Some(false),
                    ..Default::default()
                }
            )]
        );
        w.links[0].up = false;
        let p = w.plan();
        assert!(p.actions.is_empty());
        assert_eq!(p.report("a").map(|r| &r.outcome), Some(&Outcome::Released));
        assert!(p.sriov.is_empty());
    }

    #[test]
    fn release_without_a_link_is_released_at_once() {
        let mut a = att("a", MAC_A);
        a.intent = Intent::Release;
        let p = World::new(vec![a], vec![link(2, "eth0", MAC_FOREIGN)]).plan();
        assert!(p.actions.is_empty());
        assert_eq!(p.report("a").map(|r| &r.outcome), Some(&Outcome::Released));
    }

    fn sriov_att(uid: &str, mac: MacAddr, resource: &str) -> AttachmentFacts {
        let mut a = att(uid, mac);
        a.sriov = Some(SriovWant {
            resource: resource.into(),
            pci: None,
        });
        a
    }

    #[test]
    fn two_devices_under_one_resource_are_both_published() {
        let mut la = configured(link(7, "ens6", MAC_A), 9001);
        la.pci = Some(pci("0000:00:06.0"));
        let mut lb = configured(link(8, "ens7", MAC_B), 9001);
        lb.pci = Some(pci("0000:00:07.0"));
        let mut w = World::new(
            vec![
                sriov_att("a", MAC_A, "aws.com/ena"),
                sriov_att("b", MAC_B, "aws.com/ena"),
            ],
            vec![la, lb],
        );
        w.devices.insert(pci("0000:00:06.0"), Some("ena".into()));
        w.devices.insert(pci("0000:00:07.0"), Some("ena".into()));
        let p = w.plan();
        let pcis: Vec<&str> = p.sriov.iter().map(|e| e.pci.as_str()).collect();
        assert_eq!(pcis, vec!["0000:00:06.0", "0000:00:07.0"]);
        assert!(
            p.sriov
                .iter()
                .all(|e| e.resource == "aws.com/ena" && e.driver.as_deref() == Some("ena"))
        );
    }

    #[test]
    fn sriov_entry_appears_only_once_the_device_is_ready() {
        let mut l = link(7, "ens6", MAC_A);
        l.pci = Some(pci("0000:00:06.0"));
        let w = World::new(vec![sriov_att("a", MAC_A, "aws.com/ena")], vec![l]);
        assert!(w.plan().sriov.is_empty(), "link still down");
    }

    #[test]
    fn sriov_with_dpdk_publishes_the_dpdk_driver() {
        let mut a = dpdk_att("a", MAC_A, None);
        a.sriov = Some(SriovWant {
            resource: "aws.com/dpdk".into(),
            pci: None,
        });
        let mut w = World::new(vec![a], vec![]);
        w.devices
            .insert(pci("0000:00:06.0"), Some("vfio-pci".into()));
        w.bindings.push(binding("a", "0000:00:06.0", Some("ena")));
        let p = w.plan();
        assert_eq!(p.sriov.len(), 1);
        assert_eq!(p.sriov[0].driver.as_deref(), Some("vfio-pci"));
        assert_eq!(
            p.report("a")
                .and_then(|r| r.observed.sriov_resource.as_deref()),
            Some("aws.com/dpdk")
        );
    }

    #[test]
    fn unparsable_mac_is_a_failure_not_a_guess() {
        let mut a = att("a", MAC_A);
        a.mac = None;
        a.problem = Some("MAC address \"zz\" is not valid".into());
        let p = World::new(vec![a], vec![link(7, "ens6", MAC_A)]).plan();
        assert!(p.actions.is_empty());
        assert!(matches!(
            p.report("a").map(|r| &r.outcome),
            Some(Outcome::Failed { .. })
        ));
    }

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
