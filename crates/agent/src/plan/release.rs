//! The release handshake's agent side: give a DPDK device back to its kernel driver and take the
//! link down (we brought it up); only with nothing left to undo is the attachment `Released`.

use super::link_by_mac::link_by_mac;
use super::{AttachmentFacts, Decision, Facts, LinkChange, Op, Outcome, observe, restore};

pub(super) fn release(att: &AttachmentFacts, shared: Option<String>, f: &Facts<'_>) -> Decision {
    let binding = f.binding_of(&att.uid);
    // A MAC two attachments claim is nobody's link: releasing must not take it down either.
    let link = match (att.mac, shared) {
        (Some(mac), None) => link_by_mac(f.links, mac).ok().flatten(),
        _ => None,
    };
    let observed = observe(link, binding, f.devices);
    if let Some(held) = f.held_outcome(&att.uid) {
        return Decision::report(held, observed);
    }
    let mut ops = Vec::new();
    if let Some(b) = binding {
        ops.push(restore(b));
    }
    if let (Some(link), Some(mac)) = (link, att.mac)
        && link.up
    {
        ops.push(Op::Link {
            index: link.index,
            mac,
            change: LinkChange {
                up: Some(false),
                ..Default::default()
            },
        });
    }
    let outcome = if ops.is_empty() {
        Outcome::Released
    } else {
        Outcome::Releasing
    };
    Decision {
        outcome,
        observed,
        ops,
        sriov: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{Action, Intent, LinkChange, Op, Outcome};

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
}
