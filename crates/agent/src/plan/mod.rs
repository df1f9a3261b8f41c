//! The agent's decision as a pure function: which link is each attachment's, what has to change
//! on it, which DPDK bindings to make or undo, which SR-IOV entries exist, and what to report.
//!
//! No netlink, no sysfs, no API server, no clock: the shells in [`crate::run`] gather [`Facts`],
//! call [`plan`], execute the [`Action`]s and write the [`Report`]s. Every safety rule of the
//! agent — touch only links whose MAC is one of this node's attached ENIs, never guess between
//! two candidates, never bind a device the attachment did not ask for — is decided here, so it is
//! tested here, as tables.
//!
//! Rooms: `facts` (the inputs, read from the ENIAttachment and netlink), `link_by_mac` (which
//! link is the ENI), `configure` (up, MTU, name), `dpdk` (bind, re-bind, give back), `sriov`
//! (the device-plugin entry), `release` (the detach handshake). This file holds the outputs and
//! the round that ties them together, including undoing bindings of attachments that are gone.

mod configure;
mod dpdk;
mod facts;
mod link_by_mac;
mod release;
mod sriov;

#[cfg(test)]
mod fixtures;

use std::collections::{BTreeMap, BTreeSet};

pub use facts::{AttachmentFacts, DpdkWant, Facts, Held, Intent, LinkFacts, Naming, SriovWant};

use crate::address::{MacAddr, PciAddr};
use crate::dpdk::Binding;

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
        change: LinkChange,
    },
    /// Bind a PCI device to a DPDK driver (persisting the binding first).
    Bind {
        pci: PciAddr,
        driver: String,
        /// The kernel driver to restore on release (`None`: none was bound).
        original_driver: Option<String>,
        /// The attachment's name, for the state file.
        attachment: String,
    },
    /// Give a device back to its original kernel driver and forget the binding.
    Restore {
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
    pub op: Op,
}

/// One SR-IOV device-plugin entry: a device published under a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SriovEntry {
    /// The full resource name, `vendor.com/name`.
    pub resource: String,
    pub pci: PciAddr,
    /// The driver the device is bound to (the plugin's `drivers` selector).
    pub driver: Option<String>,
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
    pub uid: String,
    pub outcome: Outcome,
    pub observed: Observed,
}

/// The whole decision for one round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
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

/// One attachment's share of a round: `configure` and `release` each decide one of these.
#[derive(Debug)]
struct Decision {
    outcome: Outcome,
    observed: Observed,
    ops: Vec<Op>,
    sriov: Option<SriovEntry>,
}

impl Decision {
    /// A decision that changes nothing and only reports.
    fn report(outcome: Outcome, observed: Observed) -> Self {
        Decision {
            outcome,
            observed,
            ops: Vec::new(),
            sriov: None,
        }
    }
}

/// What was found on this node of an attachment that is being configured: its MAC, the link
/// carrying it (none while DPDK holds the device, or before it appears) and our DPDK binding.
#[derive(Debug, Clone, Copy)]
struct Found<'a> {
    mac: MacAddr,
    link: Option<&'a LinkFacts>,
    binding: Option<&'a Binding>,
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
        let decision = match att.intent {
            Intent::Leave => continue,
            Intent::Configure => configure::configure(att, shared, f),
            Intent::Release => release::release(att, shared, f),
        };
        out.actions
            .extend(decision.ops.into_iter().map(|op| Action {
                uid: att.uid.clone(),
                op,
            }));
        out.sriov.extend(decision.sriov);
        out.reports.push(Report {
            uid: att.uid.clone(),
            outcome: decision.outcome,
            observed: decision.observed,
        });
    }
    if f.complete {
        // A binding of an attachment we know is that attachment's business (decided above, or
        // left alone in the phases we leave alone); one whose attachment is gone is undone
        // here — unless a failed restore of it waits out a back-off.
        let known: BTreeSet<&str> = f.attachments.iter().map(|a| a.uid.as_str()).collect();
        for b in f.bindings {
            let uid = b.attachment_uid.as_str();
            if !known.contains(uid) && !f.held.contains_key(uid) {
                out.actions.push(Action {
                    uid: b.attachment_uid.clone(),
                    op: restore(b),
                });
            }
        }
    }
    out.sriov.sort();
    out
}

/// Give the device of our binding `b` back to its kernel driver.
fn restore(b: &Binding) -> Op {
    Op::Restore {
        pci: b.pci.clone(),
        original_driver: b.original_driver.clone(),
    }
}

fn failed(reason: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        reason,
        message: message.into(),
    }
}

fn no_link_yet(mac: MacAddr) -> Outcome {
    Outcome::NotFound(format!("no link with MAC {mac} yet"))
}

/// What is seen of an attachment's link and of our DPDK binding for it (if any). While bound,
/// the binding supplies the device: the netdev has gone with its kernel driver.
fn observe(
    link: Option<&LinkFacts>,
    binding: Option<&Binding>,
    devices: &BTreeMap<PciAddr, Option<String>>,
) -> Observed {
    let mut observed = link
        .map(|l| Observed {
            interface_name: Some(l.name.clone()),
            if_index: Some(l.index),
            mtu: Some(l.mtu),
            up: l.up,
            pci: l.pci.clone(),
            ..Observed::default()
        })
        .unwrap_or_default();
    if let Some(b) = binding {
        observed.pci = Some(b.pci.clone());
        observed.original_driver = b.original_driver.clone();
        observed.dpdk_driver = Some(b.driver.clone());
        observed.dpdk_bound = devices
            .get(&b.pci)
            .is_some_and(|d| d.as_deref() == Some(&b.driver));
    }
    observed
}

/// Why no PCI device could be chosen for an attachment.
#[derive(Debug, PartialEq, Eq)]
enum NoDevice {
    /// The spec names another device than the one found.
    Contradicts { found: PciAddr, spec: PciAddr },
    /// Nothing was found and the spec names nothing.
    Unknown,
}

/// The device to act on. The one found through the link (or our binding) is authoritative; the
/// spec's address is only a fallback, and a spec address naming another device is refused,
/// never preferred — it could be someone else's NIC.
fn pick_device(found: Option<&PciAddr>, spec: Option<&PciAddr>) -> Result<PciAddr, NoDevice> {
    match (found, spec) {
        (Some(found), Some(spec)) if found != spec => Err(NoDevice::Contradicts {
            found: found.clone(),
            spec: spec.clone(),
        }),
        (Some(found), _) => Ok(found.clone()),
        (None, Some(spec)) => Ok(spec.clone()),
        (None, None) => Err(NoDevice::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

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
}
