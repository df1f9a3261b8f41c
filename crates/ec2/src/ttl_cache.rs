//! A map whose entries expire a fixed time after they were stored (per-entry TTL).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// Entries expire `ttl` after insertion; expired entries are dropped when read.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: HashMap<K, (V, Instant)>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache.
    pub fn new(ttl: Duration) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            entries: HashMap::new(),
        }
    }

    /// The value, if present and younger than the TTL at `now`.
    pub fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((value, stored)) if now.saturating_duration_since(*stored) < self.ttl => {
                Some(value.clone())
            }
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// How long ago the entry for `key` was stored (expired or not); `None` when absent.
    pub fn age(&self, key: &K, now: Instant) -> Option<Duration> {
        self.entries
            .get(key)
            .map(|(_, stored)| now.saturating_duration_since(*stored))
    }

    /// Stores `value`, restarting its TTL.
    pub fn insert(&mut self, key: K, value: V, now: Instant) {
        self.entries.insert(key, (value, now));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Forgets every entry for which `forget` is true (e.g. every name that resolved to one ID).
    pub fn remove_where(&mut self, mut forget: impl FnMut(&K, &V) -> bool) {
        self.entries.retain(|k, (v, _)| !forget(k, v));
    }

    /// Changes stored values in place; their ages stay as they were.
    pub fn update_all(&mut self, mut change: impl FnMut(&K, &mut V)) {
        for (k, (v, _)) in &mut self.entries {
            change(k, v);
        }
    }

    /// Number of stored (possibly expired) entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_individually() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(10));
        c.insert("a", 1, t0);
        c.insert("b", 2, t0 + Duration::from_secs(5));
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(
            c.get(&"a", t0 + Duration::from_secs(10)),
            None,
            "expired at TTL"
        );
        assert_eq!(c.get(&"b", t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(c.len(), 1, "the expired entry was dropped");
    }

    #[test]
    fn reinsert_restarts_the_ttl_and_remove_forgets() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(10));
        c.insert("a", 1, t0);
        c.insert("a", 3, t0 + Duration::from_secs(8));
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(15)), Some(3));
        c.remove(&"a");
        assert!(c.is_empty());
    }

    #[test]
    fn remove_where_forgets_only_the_matching_entries() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(10));
        c.insert("a", 1, t0);
        c.insert("b", 2, t0);
        c.insert("c", 1, t0);
        c.remove_where(|_, v| *v == 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&"b", t0), Some(2));
    }
}
