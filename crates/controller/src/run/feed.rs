//! One watch per kind, shared: the reflector that keeps a [`Store`] current also tells every
//! subscriber what changed, so the controllers' triggers come from the same watch as the cache
//! they read — not from watches of their own, each with its own connection, its own decoding of
//! every event and (for a controller's own kind) its own second copy of every object.
//!
//! A change is published after the store applied it, so a subscriber that looks an object up
//! finds at least that version. A subscriber starts with every object the store holds (a
//! controller that starts leading later still looks at everything once); one that falls behind
//! by more than [`BUFFER`] changes is given every stored object again instead of what it missed
//! (a deletion it missed then shows only as the object's absence — the same as after a watch's
//! relist, which reconcilers already handle by their periodic look).

use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::broadcast::{self, error::RecvError};

/// Changes kept for a slow subscriber before it is given the whole store instead. A trigger
/// stream only maps each change to a reconcile key, so it falls this far behind only when the
/// process is starved.
/// (A change is dropped once every subscriber has taken it, so the buffer holds no old objects.)
pub const BUFFER: usize = 1024;

/// A change to one object, as the store holds it afterwards.
#[derive(Debug)]
pub enum Change<K> {
    /// Created or changed (or listed again): the stored object, shared with the store.
    Applied(Arc<K>),
    /// Deleted: its last state.
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Change<K> {
        match self {
            Change::Applied(o) => Change::Applied(o.clone()),
            Change::Deleted(o) => Change::Deleted(o.clone()),
        }
    }
}

impl<K> Change<K> {
    /// The object changed or deleted.
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// A kind's store and its changes.
#[derive(Debug)]
pub struct Feed<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    tx: broadcast::Sender<Change<K>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Feed<K> {
    fn clone(&self) -> Feed<K> {
        Feed {
            store: self.store.clone(),
            tx: self.tx.clone(),
        }
    }
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The changes of the watch that keeps `store` current ([`Feed::publish`] them).
    pub fn new(store: Store<K>) -> Feed<K> {
        let (tx, _) = broadcast::channel(BUFFER);
        Feed { store, tx }
    }

    /// Tells the subscribers about a watch event the store has just applied. A (re)list's objects
    /// reach the store all at once, when it ends (kube-runtime's writer swaps the new list in on
    /// `InitDone`): until then the store still holds the old versions, so the list's objects are
    /// told then, from the store, not one by one as they arrive.
    pub fn publish(&self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) => {
                let stored = self.store.get(&ObjectRef::from_obj(o));
                self.send(Change::Applied(
                    stored.unwrap_or_else(|| Arc::new(o.clone())),
                ));
            }
            watcher::Event::Delete(o) => self.send(Change::Deleted(Arc::new(o.clone()))),
            watcher::Event::InitDone => {
                for o in self.store.state() {
                    self.send(Change::Applied(o));
                }
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    fn send(&self, change: Change<K>) {
        // No subscriber (no controller running): nobody to tell.
        let _ = self.tx.send(change);
    }

    /// Every object in the store, then every change from now on (see the module's notes on
    /// falling behind). Ends when the feed's watch ends.
    pub fn subscribe(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        // Subscribed before the store is read: a change in between comes twice, never not at all.
        let rx = self.tx.subscribe();
        let store = self.store.clone();
        let everything = |store: &Store<K>| -> Vec<Change<K>> {
            store.state().into_iter().map(Change::Applied).collect()
        };
        let first = everything(&store);
        let later = stream::unfold((rx, store), move |(mut rx, store)| async move {
            let batch = match rx.recv().await {
                Ok(change) => vec![change],
                Err(RecvError::Lagged(_)) => {
                    // From the newest change on, after the store as it is now: what was
                    // missed is in the store, and the retained backlog would repeat it.
                    rx = rx.resubscribe();
                    everything(&store)
                }
                Err(RecvError::Closed) => return None,
            };
            Some((stream::iter(batch), (rx, store)))
        })
        .flatten();
        stream::iter(first).chain(later)
    }

    /// The store.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector;

    fn cm(name: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn seen(c: &Change<ConfigMap>) -> String {
        let o = c.object();
        let kind = match c {
            Change::Applied(_) => "+",
            Change::Deleted(_) => "-",
        };
        format!(
            "{kind}{}@{}",
            o.metadata.name.as_deref().unwrap_or_default(),
            o.metadata.resource_version.as_deref().unwrap_or_default()
        )
    }

    /// A store and its feed, the way the reflector drives them: apply, then publish.
    struct Watch {
        writer: reflector::store::Writer<ConfigMap>,
        feed: Feed<ConfigMap>,
    }

    impl Watch {
        fn new(objects: &[ConfigMap]) -> Watch {
            let (store, mut writer) = reflector::store::<ConfigMap>();
            writer.apply_watcher_event(&watcher::Event::Init);
            for o in objects {
                writer.apply_watcher_event(&watcher::Event::InitApply(o.clone()));
            }
            writer.apply_watcher_event(&watcher::Event::InitDone);
            Watch {
                writer,
                feed: Feed::new(store),
            }
        }

        fn event(&mut self, ev: watcher::Event<ConfigMap>) {
            self.writer.apply_watcher_event(&ev);
            self.feed.publish(&ev);
        }
    }

    fn ready(s: &mut (impl Stream<Item = Change<ConfigMap>> + Unpin), n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let c = s
                    .next()
                    .now_or_never()
                    .expect("a change is ready")
                    .expect("the stream goes on");
                seen(&c)
            })
            .collect()
    }

    #[test]
    fn a_subscriber_sees_the_store_then_each_change_shared_with_the_store() {
        let mut w = Watch::new(&[cm("a", "1")]);
        let mut s = Box::pin(w.feed.subscribe());
        w.event(watcher::Event::Apply(cm("a", "2")));
        w.event(watcher::Event::Apply(cm("b", "3")));
        w.event(watcher::Event::Delete(cm("a", "4")));
        assert_eq!(ready(&mut s, 4), ["+a@1", "+a@2", "+b@3", "-a@4"]);
        assert!(s.next().now_or_never().is_none(), "nothing more");
        // An applied change is the store's own object, not a copy.
        let mut s2 = Box::pin(w.feed.subscribe());
        let first = s2.next().now_or_never().flatten().expect("b is stored");
        let stored = w
            .feed
            .store()
            .get(&ObjectRef::new("b").within("ns"))
            .expect("b is stored");
        assert!(Arc::ptr_eq(first.object(), &stored));
    }

    #[test]
    fn a_relist_is_told_once_it_is_in_the_store() {
        let mut w = Watch::new(&[cm("a", "1"), cm("gone", "1")]);
        let mut s = Box::pin(w.feed.subscribe());
        assert_eq!(ready(&mut s, 2), ["+a@1", "+gone@1"]);
        // The watch is cut and lists again: `a` changed meanwhile, `gone` was deleted.
        w.event(watcher::Event::Init);
        w.event(watcher::Event::InitApply(cm("a", "5")));
        assert!(
            s.next().now_or_never().is_none(),
            "nothing before the list is in the store"
        );
        w.event(watcher::Event::InitDone);
        assert_eq!(ready(&mut s, 1), ["+a@5"]);
        assert!(s.next().now_or_never().is_none(), "nothing more");
    }

    #[test]
    fn a_subscriber_that_falls_behind_gets_the_whole_store_instead() {
        let mut w = Watch::new(&[]);
        let mut s = Box::pin(w.feed.subscribe());
        for i in 0..=BUFFER {
            let name = format!("o{}", i % 3);
            w.event(watcher::Event::Apply(cm(&name, &i.to_string())));
        }
        let mut got = ready(&mut s, 3);
        got.sort();
        let last = BUFFER;
        let want: Vec<String> = (0..3)
            .map(|k| {
                // The latest version of each of the three names.
                let v = (0..=last).rev().find(|i| i % 3 == k).unwrap_or_default();
                format!("+o{k}@{v}")
            })
            .collect();
        assert_eq!(got, want);
        assert!(s.next().now_or_never().is_none(), "nothing more");
    }

    #[test]
    fn the_stream_ends_with_the_watch() {
        let w = Watch::new(&[cm("a", "1")]);
        let mut s = Box::pin(w.feed.subscribe());
        let Watch { writer, feed } = w;
        drop(writer);
        drop(feed);
        assert_eq!(ready(&mut s, 1), ["+a@1"]);
        assert!(matches!(s.next().now_or_never(), Some(None)));
    }
}
