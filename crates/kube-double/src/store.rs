//! One resource's objects and its bounded change history.
//!
//! Invariants: every change gets its resourceVersion from the cluster-wide counter while this
//! store's lock is held, so within a store history is in resourceVersion order and a reader
//! holding the lock sees every change up to the counter's current value. History is a bounded
//! window; `compacted` is the newest resourceVersion that fell out of it: watching or
//! continuing a list from anything older is `410 Gone`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

/// A JSON value's bytes. Serialising a `Value` cannot fail (its map keys are strings).
pub fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Where an object lives: sorted by namespace then name, like etcd keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub namespace: String,
    pub name: String,
}

/// A stored object with its JSON serialised once, so lists and watches only copy bytes.
#[derive(Debug)]
pub struct Stored {
    pub value: Value,
    pub bytes: Bytes,
    pub rv: u64,
}

impl Stored {
    pub fn new(value: Value, rv: u64) -> Arc<Stored> {
        let bytes = json_bytes(&value);
        Arc::new(Stored { value, bytes, rv })
    }

    /// The object as written at `rv`, with `metadata.resourceVersion` saying so.
    pub fn versioned(mut value: Value, rv: u64) -> Arc<Stored> {
        value["metadata"]["resourceVersion"] = json!(rv.to_string());
        Stored::new(value, rv)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One entry of the history: the object after the change (for deletes: its last state at the
/// delete's resourceVersion) and before it, so filtered watches can turn a label change into
/// ADDED/DELETED and paginated lists can rebuild a past snapshot.
#[derive(Debug)]
pub struct Change {
    pub kind: ChangeKind,
    pub rv: u64,
    pub key: ObjKey,
    pub obj: Arc<Stored>,
    pub prev: Option<Arc<Stored>>,
    /// `{"type":…,"object":…}\n` as most watchers send it: rendered once per change.
    pub line: Bytes,
}

pub fn watch_line(kind: &str, object: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(object.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(object);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

#[derive(Debug)]
pub struct Store {
    pub objects: BTreeMap<ObjKey, Arc<Stored>>,
    history: VecDeque<Arc<Change>>,
    cap: usize,
    pub compacted: u64,
    /// The resourceVersion of this store's newest change; watchers wait on it.
    pub notify: tokio::sync::watch::Sender<u64>,
}

/// Past state for paginated lists: the objects as they were at a resourceVersion.
pub enum Snapshot {
    Current,
    /// Keys changed after the snapshot, with their value at the snapshot (`None`: did not exist).
    Rewound(BTreeMap<ObjKey, Option<Arc<Stored>>>),
}

impl Store {
    pub fn new(cap: usize) -> Store {
        Store {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            cap: cap.max(1),
            compacted: 0,
            notify: tokio::sync::watch::channel(0).0,
        }
    }

    /// Applies a change to the object map, records it in the history and wakes watchers: the
    /// map and the history never disagree.
    pub fn record(
        &mut self,
        kind: ChangeKind,
        key: ObjKey,
        obj: Arc<Stored>,
        prev: Option<Arc<Stored>>,
    ) {
        match kind {
            ChangeKind::Deleted => self.objects.remove(&key),
            ChangeKind::Added | ChangeKind::Modified => {
                self.objects.insert(key.clone(), obj.clone())
            }
        };
        let rv = obj.rv;
        let line = watch_line(kind.as_str(), &obj.bytes);
        self.history.push_back(Arc::new(Change {
            kind,
            rv,
            key,
            obj,
            prev,
            line,
        }));
        while self.history.len() > self.cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.notify.send_replace(rv);
    }

    /// The objects of one namespace, in name order.
    pub fn in_namespace<'a>(
        &'a self,
        ns: &'a str,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Arc<Stored>)> + 'a {
        let lower = ObjKey {
            namespace: ns.to_string(),
            name: String::new(),
        };
        self.objects
            .range(lower..)
            .take_while(move |(k, _)| k.namespace == ns)
    }

    /// Changes after `rv`, at most `max`; `Err` when `rv` is older than the kept history.
    pub fn changes_after(&self, rv: u64, max: usize) -> Result<Vec<Arc<Change>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Ok(self.history.range(start..).take(max).cloned().collect())
    }

    /// Drops all history: any watch or continue token from before `now` becomes 410.
    pub fn compact(&mut self, now: u64) {
        self.history.clear();
        self.compacted = now;
        // Wake watchers so they notice their position is gone.
        self.notify.send_replace(now);
    }

    /// How to see the store as of `rv` (for continue tokens); `Err` when history no longer covers it.
    pub fn snapshot_at(&self, rv: u64) -> Result<Snapshot, u64> {
        let changes = self.changes_after(rv, usize::MAX)?;
        if changes.is_empty() {
            return Ok(Snapshot::Current);
        }
        let mut rewound = BTreeMap::new();
        for c in changes.iter().rev() {
            rewound.insert(c.key.clone(), c.prev.clone());
        }
        Ok(Snapshot::Rewound(rewound))
    }

    /// Objects after `after` in key order as of `snapshot`, keeping those `keep` accepts, up to
    /// `limit`. Returns the page and, when more objects may follow, the last key it holds.
    pub fn page(
        &self,
        snapshot: &Snapshot,
        after: Option<&ObjKey>,
        namespace: Option<&str>,
        limit: usize,
        keep: &dyn Fn(&Stored) -> bool,
    ) -> (Vec<Arc<Stored>>, Option<ObjKey>) {
        let lower = match (after, namespace) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included(ObjKey {
                namespace: ns.to_string(),
                name: String::new(),
            }),
            (None, None) => Bound::Unbounded,
        };
        let current = self.objects.range((lower.clone(), Bound::Unbounded));
        let entries: Box<dyn Iterator<Item = (&ObjKey, Option<&Arc<Stored>>)>> = match snapshot {
            Snapshot::Current => Box::new(current.map(|(k, s)| (k, Some(s)))),
            Snapshot::Rewound(over) => {
                Box::new(rewound(current, over.range((lower, Bound::Unbounded))))
            }
        };
        let in_ns = |k: &ObjKey| namespace.is_none_or(|ns| k.namespace == ns);
        let mut out = vec![];
        let mut last: Option<ObjKey> = None;
        for (k, s) in entries.take_while(|(k, _)| in_ns(k)) {
            let Some(s) = s else { continue };
            if out.len() >= limit {
                return (out, last);
            }
            if keep(s) {
                out.push(s.clone());
                last = Some(k.clone());
            }
        }
        (out, None)
    }
}

/// The objects as of a snapshot, in key order: `current` with `overlay` (the keys changed
/// since, with their value then; `None`: absent then) laid over it.
fn rewound<'a>(
    current: impl Iterator<Item = (&'a ObjKey, &'a Arc<Stored>)>,
    overlay: impl Iterator<Item = (&'a ObjKey, &'a Option<Arc<Stored>>)>,
) -> impl Iterator<Item = (&'a ObjKey, Option<&'a Arc<Stored>>)> {
    let mut cur = current.peekable();
    let mut ovr = overlay.peekable();
    std::iter::from_fn(move || match (cur.peek().copied(), ovr.peek().copied()) {
        (None, None) => None,
        (Some((k, s)), None) => {
            cur.next();
            Some((k, Some(s)))
        }
        (Some((ck, cs)), Some((ok, _))) if ck < ok => {
            cur.next();
            Some((ck, Some(cs)))
        }
        (c, Some((ok, os))) => {
            if c.is_some_and(|(ck, _)| ck == ok) {
                cur.next();
            }
            ovr.next();
            Some((ok, os.as_ref()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> ObjKey {
        ObjKey {
            namespace: String::new(),
            name: n.into(),
        }
    }

    fn put(s: &mut Store, n: &str, rv: u64) {
        let obj = Stored::new(
            json!({"metadata": {"name": n, "resourceVersion": rv.to_string()}}),
            rv,
        );
        let prev = s.objects.get(&key(n)).cloned();
        let kind = if prev.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        s.record(kind, key(n), obj, prev);
    }

    fn del(s: &mut Store, n: &str, rv: u64) {
        let prev = s.objects.get(&key(n)).cloned();
        let obj = Stored::new(json!({"metadata": {"name": n}}), rv);
        s.record(ChangeKind::Deleted, key(n), obj, prev);
    }

    #[test]
    fn history_window_compacts_and_expires_old_positions() {
        let mut s = Store::new(2);
        put(&mut s, "a", 1);
        put(&mut s, "b", 2);
        put(&mut s, "c", 3);
        assert_eq!(s.compacted, 1);
        assert_eq!(s.changes_after(0, 10).err(), Some(1));
        let after1: Vec<u64> = s
            .changes_after(1, 10)
            .expect("kept")
            .iter()
            .map(|c| c.rv)
            .collect();
        assert_eq!(after1, vec![2, 3]);
        s.compact(3);
        assert!(s.changes_after(2, 10).is_err());
        assert!(s.changes_after(3, 10).expect("current").is_empty());
    }

    #[test]
    fn pages_of_a_past_snapshot_ignore_later_changes() {
        let mut s = Store::new(100);
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            put(&mut s, n, i as u64 + 1);
        }
        let snap_rv = 4;
        let all = |_: &Stored| true;
        let (p1, next) = s.page(&Snapshot::Current, None, None, 2, &all);
        assert_eq!(p1.len(), 2);
        let next = next.expect("more");
        // After the first page: b changes, c is deleted, e is added.
        put(&mut s, "b", 5);
        del(&mut s, "c", 6);
        put(&mut s, "e", 7);
        let current: Vec<&str> = s.objects.keys().map(|k| k.name.as_str()).collect();
        assert_eq!(
            current,
            ["a", "b", "d", "e"],
            "record keeps the map in step"
        );
        let snap = s.snapshot_at(snap_rv).expect("in history");
        let (p2, more) = s.page(&snap, Some(&next), None, 10, &all);
        let names: Vec<&str> = p2
            .iter()
            .map(|o| o.value["metadata"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, vec!["c", "d"]);
        assert!(more.is_none());
    }

    #[test]
    fn a_rewound_view_lays_the_old_values_over_the_current_ones() {
        let k = |n: &str| key(n);
        let obj = |n: &str, rv: u64| Stored::new(json!({"metadata": {"name": n}}), rv);
        // Now: a b d. Then: b was older, c existed, d did not.
        let current: BTreeMap<ObjKey, Arc<Stored>> = [("a", 1), ("b", 5), ("d", 6)]
            .map(|(n, rv)| (k(n), obj(n, rv)))
            .into();
        let overlay: BTreeMap<ObjKey, Option<Arc<Stored>>> = [
            (k("b"), Some(obj("b", 2))),
            (k("c"), Some(obj("c", 3))),
            (k("d"), None),
        ]
        .into();
        let seen: Vec<(&str, Option<u64>)> = rewound(current.iter(), overlay.iter())
            .map(|(k, s)| (k.name.as_str(), s.map(|s| s.rv)))
            .collect();
        assert_eq!(
            seen,
            [("a", Some(1)), ("b", Some(2)), ("c", Some(3)), ("d", None)]
        );
    }

    #[test]
    fn a_namespace_range_holds_only_that_namespace() {
        let mut s = Store::new(10);
        for (i, (ns, n)) in [("a", "x"), ("b", "y"), ("b", "z"), ("c", "x")]
            .iter()
            .enumerate()
        {
            let k = ObjKey {
                namespace: ns.to_string(),
                name: n.to_string(),
            };
            let obj = Stored::new(json!({"metadata": {"name": n}}), i as u64 + 1);
            s.record(ChangeKind::Added, k, obj, None);
        }
        let names: Vec<&str> = s.in_namespace("b").map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["y", "z"]);
        assert_eq!(s.in_namespace("bb").count(), 0);
    }
}
