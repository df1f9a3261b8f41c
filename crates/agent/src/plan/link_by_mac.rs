//! Which link is the ENI: found by MAC only, never by name or index guesses.

use std::collections::BTreeSet;

use super::LinkFacts;
use crate::address::MacAddr;

/// The link carrying `mac`. Several links can share a MAC (a VLAN or macvlan stacked on the
/// ENI, a bond that took its slave's address): the one the others are stacked on or enslave is
/// the device itself. Anything still ambiguous is an error, never a guess.
pub(super) fn link_by_mac(links: &[LinkFacts], mac: MacAddr) -> Result<Option<&LinkFacts>, String> {
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

#[cfg(test)]
mod tests {
    use super::super::Outcome;
    use super::super::fixtures::*;

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
}
