//! An Attached/Ready attachment: find its link, then bring it up with the spec MTU and name — or
//! hand its device to DPDK — and publish it to SR-IOV once it is ready.

use multi_eni_api::keys::reason;

use super::link_by_mac::link_by_mac;
use super::{
    AttachmentFacts, Decision, Facts, Found, LinkChange, LinkFacts, Observed, Op, Outcome, dpdk,
    failed, no_link_yet, observe, restore, sriov,
};
use crate::address::MacAddr;

pub(super) fn configure(att: &AttachmentFacts, shared: Option<String>, f: &Facts<'_>) -> Decision {
    let refuse = |message| {
        Decision::report(
            failed(reason::INTERFACE_CONFIG_FAILED, message),
            Observed::default(),
        )
    };
    if let Some(p) = &att.problem {
        return refuse(p.clone());
    }
    let Some(mac) = att.mac else {
        return Decision::report(
            Outcome::NotFound("waiting for the controller to report the ENI's MAC address".into()),
            Observed::default(),
        );
    };
    if let Some(names) = shared {
        return refuse(format!(
            "MAC {mac} is claimed by several attachments ({names}); touching none"
        ));
    }
    let link = match link_by_mac(f.links, mac) {
        Ok(l) => l,
        Err(msg) => return refuse(msg),
    };
    let binding = f.binding_of(&att.uid);
    let mut observed = observe(link, binding, f.devices);
    if let Some(held) = f.held_outcome(&att.uid) {
        return Decision::report(held, observed);
    }

    let found = Found { mac, link, binding };
    let mut ops = Vec::new();
    let mut outcome = match (&att.dpdk, binding, link) {
        (Some(want), _, _) => dpdk::bind(att, want, &found, f, &mut observed, &mut ops),
        (None, Some(b), _) => {
            // DPDK was switched off in the spec: give the device back first.
            ops.push(restore(b));
            Outcome::InProgress
        }
        (None, None, Some(link)) => link_changes(att, link, mac, f, &mut ops),
        (None, None, None) => no_link_yet(mac),
    };

    let mut entry = None;
    if let Some(want) = &att.sriov
        && matches!(outcome, Outcome::Configured | Outcome::DpdkBound)
    {
        match sriov::entry(want, &found, f, &observed) {
            Ok(e) => {
                observed.sriov_resource = Some(e.resource.clone());
                observed.pci.get_or_insert(e.pci.clone());
                entry = Some(e);
            }
            Err(msg) => outcome = failed(reason::INTERFACE_CONFIG_FAILED, msg),
        }
    }
    Decision {
        outcome,
        observed,
        ops,
        sriov: entry,
    }
}

/// Up, MTU and name for a link that stays with the kernel driver. A wanted name another link
/// holds is reported, not stolen; up and MTU are still applied.
fn link_changes(
    att: &AttachmentFacts,
    link: &LinkFacts,
    mac: MacAddr,
    f: &Facts<'_>,
    ops: &mut Vec<Op>,
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
        ops.push(Op::Link {
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

#[cfg(test)]
mod tests {
    use multi_eni_api::keys::reason;

    use super::super::fixtures::*;
    use super::super::{Held, LinkChange, Naming, Outcome};
    use crate::address::MacAddr;

    #[test]
    fn down_link_with_our_mac_is_brought_up_with_the_spec_mtu() {
        let w = World::new(
            vec![att("a", MAC_A)],
            vec![link(1, "lo", MacAddr([0; 6])), link(7, "ens6", MAC_A)],
        );
        let p = w.plan();
        assert_eq!(link_ops(&p), vec![(7, bring_up(9001))]);
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
        assert_eq!(link_ops(&p), vec![(7, bring_up(9001))]);
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
}
