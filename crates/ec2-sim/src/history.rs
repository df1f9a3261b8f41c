//! Eventual consistency: every change to a resource is recorded as a timestamped snapshot,
//! and describes read the snapshot that was current `lag` ago. EC2 documents the effect
//! ("the result of an API command … might not be immediately visible to all subsequent
//! commands") but not the delay, so the lag is a setting.

use std::collections::BTreeMap;

use tokio::time::Instant;

/// Timestamped snapshots of a set of resources, by ID. `None` records a deletion.
#[derive(Debug)]
pub struct History<T> {
    by_id: BTreeMap<String, Vec<(Instant, Option<T>)>>,
}

impl<T: Clone> Default for History<T> {
    fn default() -> History<T> {
        History {
            by_id: BTreeMap::new(),
        }
    }
}

impl<T: Clone> History<T> {
    /// Records the state of `id` from `at` on (`at` never goes backwards per ID).
    pub fn record(&mut self, id: &str, at: Instant, state: Option<T>) {
        let versions = self.by_id.entry(id.to_string()).or_default();
        if let Some(last) = versions.last_mut()
            && last.0 >= at
        {
            // Same instant (or a late-settled transition): the newest write wins.
            last.1 = state;
            return;
        }
        versions.push((at, state));
    }

    /// The state of `id` as seen at `seen_at`.
    #[cfg(test)]
    pub fn get(&self, id: &str, seen_at: Instant) -> Option<&T> {
        self.by_id.get(id).and_then(|v| visible(v, seen_at))
    }

    /// Every resource visible at `seen_at`, by ID order.
    pub fn visible_at(&self, seen_at: Instant) -> impl Iterator<Item = (&String, &T)> {
        self.by_id
            .iter()
            .filter_map(move |(id, v)| visible(v, seen_at).map(|t| (id, t)))
    }

    /// Drops snapshots nobody can see any more: everything older than the one visible at
    /// `horizon`, and resources whose visible snapshot at `horizon` is a deletion.
    pub fn prune(&mut self, horizon: Instant) {
        self.by_id.retain(|_, versions| {
            let keep_from = versions
                .iter()
                .rposition(|(t, _)| *t <= horizon)
                .unwrap_or(0);
            versions.drain(..keep_from);
            !(versions.len() == 1 && versions[0].1.is_none() && versions[0].0 <= horizon)
        });
    }
}

fn visible<T>(versions: &[(Instant, Option<T>)], seen_at: Instant) -> Option<&T> {
    versions
        .iter()
        .rev()
        .find(|(t, _)| *t <= seen_at)
        .and_then(|(_, s)| s.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A history of `(id, seconds after t0, state)` records, and t0.
    fn history(records: &[(&str, u64, Option<i32>)]) -> (History<i32>, Instant) {
        let t0 = Instant::now();
        let mut h = History::default();
        for (id, at, state) in records {
            h.record(id, t0 + Duration::from_secs(*at), *state);
        }
        (h, t0)
    }

    #[test]
    fn readers_see_the_snapshot_current_at_their_horizon() {
        let s = Duration::from_secs;
        let (h, t0) = history(&[("a", 0, Some(1)), ("a", 2, Some(2)), ("a", 4, None)]);
        assert_eq!(h.get("a", t0 - s(1)), None, "not yet created");
        assert_eq!(h.get("a", t0 + s(1)), Some(&1));
        assert_eq!(h.get("a", t0 + s(3)), Some(&2));
        assert_eq!(h.get("a", t0 + s(5)), None, "deleted");
        assert_eq!(h.visible_at(t0 + s(3)).count(), 1);
    }

    #[test]
    fn same_instant_writes_collapse_to_the_last() {
        let (h, t0) = history(&[("a", 0, Some(1)), ("a", 0, Some(2))]);
        assert_eq!(h.get("a", t0), Some(&2));
    }

    #[test]
    fn prune_keeps_what_is_still_visible() {
        let s = Duration::from_secs;
        let (mut h, t0) = history(&[
            ("a", 0, Some(1)),
            ("a", 2, Some(2)),
            ("b", 0, Some(9)),
            ("b", 1, None),
        ]);
        h.prune(t0 + s(3));
        assert_eq!(h.get("a", t0 + s(3)), Some(&2));
        assert_eq!(h.get("b", t0 + s(3)), None);
        assert_eq!(
            h.by_id.len(),
            1,
            "b's deletion is visible to everyone: forgotten"
        );
        assert_eq!(h.by_id["a"].len(), 1);
    }
}
