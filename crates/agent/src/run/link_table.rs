//! Every link of the namespace, kept current by netlink notifications instead of polling, and
//! when each new one appeared (the start of the link-appears → configured latency).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::plan::LinkFacts;

/// How long a link's appearance time is kept for the latency metric: links that are never
/// ours (pod veths, …) must not pile up.
const APPEARED_TTL: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub(super) struct LinkTable {
    links: BTreeMap<u32, LinkFacts>,
    /// When links first announced by a notification appeared, by ifindex. Links found by a
    /// (re)list are not timed: when they appeared is unknown.
    appeared: HashMap<u32, Instant>,
}

impl LinkTable {
    /// A full list: after start-up or lost notifications.
    pub fn replace(&mut self, links: Vec<LinkFacts>) {
        self.links = links.into_iter().map(|l| (l.index, l)).collect();
        let links = &self.links;
        self.appeared.retain(|i, _| links.contains_key(i));
    }

    /// A link appeared or changed (a notification, `now` being when it arrived).
    pub fn changed(&mut self, link: LinkFacts, now: Instant) {
        if !self.links.contains_key(&link.index) {
            self.appeared.insert(link.index, now);
        }
        self.links.insert(link.index, link);
    }

    /// What re-reading one link after a change showed (`None`: it is gone).
    pub fn refreshed(&mut self, index: u32, link: Option<LinkFacts>) {
        match link {
            Some(l) => {
                self.links.insert(index, l);
            }
            None => self.removed(index),
        }
    }

    pub fn removed(&mut self, index: u32) {
        self.links.remove(&index);
        self.appeared.remove(&index);
    }

    /// Forgets appearance times older than [`APPEARED_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.appeared
            .retain(|_, t| now.duration_since(*t) < APPEARED_TTL);
    }

    /// When the link at `index` appeared, once: it is configured now.
    pub fn take_appeared(&mut self, index: u32) -> Option<Instant> {
        self.appeared.remove(&index)
    }

    pub fn links(&self) -> impl Iterator<Item = &LinkFacts> {
        self.links.values()
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str) -> LinkFacts {
        LinkFacts {
            index,
            name: name.into(),
            mac: None,
            mtu: 1500,
            up: false,
            parent: None,
            master: None,
            pci: None,
        }
    }

    #[test]
    fn only_links_announced_by_a_notification_are_timed_and_only_once() {
        let t0 = Instant::now();
        let mut t = LinkTable::default();
        t.replace(vec![link(1, "lo"), link(2, "eth0")]);
        t.changed(link(2, "eth0"), t0);
        assert_eq!(
            t.take_appeared(2),
            None,
            "listed, so when it appeared is unknown"
        );
        t.changed(link(7, "ens6"), t0);
        let mut renamed = link(7, "eth1");
        renamed.up = true;
        t.changed(renamed, t0 + Duration::from_secs(1));
        assert_eq!(
            t.take_appeared(7),
            Some(t0),
            "a change is not a new appearance"
        );
        assert_eq!(t.take_appeared(7), None);
        assert_eq!(
            t.links().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["lo", "eth0", "eth1"]
        );
    }

    #[test]
    fn removed_and_re_listed_links_lose_their_time_and_old_times_expire() {
        let t0 = Instant::now();
        let mut t = LinkTable::default();
        t.changed(link(7, "ens6"), t0);
        t.removed(7);
        assert_eq!((t.len(), t.take_appeared(7)), (0, None));
        t.changed(link(8, "ens7"), t0);
        t.replace(vec![link(9, "ens8")]);
        assert_eq!(t.take_appeared(8), None, "not in the new list");
        t.changed(link(10, "ens9"), t0);
        t.expire(t0 + APPEARED_TTL);
        assert_eq!(t.take_appeared(10), None);
        t.refreshed(9, None);
        assert_eq!(t.links().map(|l| l.index).collect::<Vec<_>>(), [10]);
    }
}
