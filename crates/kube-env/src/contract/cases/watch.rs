//! Watches: from a resourceVersion, resumed, expired (410) and relisted, bookmarks, streaming
//! lists, kube-rs's `watcher`, and selector transitions.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use super::{drain, kinds};
use crate::contract::fixture::{crd, next_event};
use crate::contract::{Case, Cluster};

fn leases(k: &Case) -> Api<Lease> {
    Api::namespaced(k.client.clone(), "default")
}

fn watch_params(k: &Case) -> WatchParams {
    WatchParams::default()
        .labels(&k.selector())
        .timeout(30)
        .disable_bookmarks()
}

/// Type and object name of a watch event (bookmarks and errors have no name).
fn seen<K: kube::Resource>(e: &WatchEvent<K>) -> (&'static str, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED", o.meta().name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => ("MODIFIED", o.meta().name.clone().unwrap_or_default()),
        WatchEvent::Deleted(o) => ("DELETED", o.meta().name.clone().unwrap_or_default()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(s) => ("ERROR", s.reason.clone()),
    }
}

fn label(value: &str) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"labels": {"touched": value}}}))
}

/// A watch from a resourceVersion replays exactly the changes after it, in order.
pub async fn watch_from_a_resource_version_sees_later_changes_in_order(c: &impl Cluster) {
    let k = Case::new(c, "w-order").await;
    let api = leases(&k);
    let a = k.create(&api, "a").await;
    let from = a.resource_version().expect("a resourceVersion");
    k.create(&api, "b").await;
    let pp = PatchParams::default();
    api.patch(&k.name("b"), &pp, &label("1"))
        .await
        .expect("patch b");
    api.delete(&k.name("a"), &Default::default())
        .await
        .expect("delete a");
    let mut s = api
        .watch(&watch_params(&k), &from)
        .await
        .expect("watch")
        .boxed();
    let mut got = vec![];
    for n in 0..3 {
        got.push(seen(&next_event(&mut s, &format!("event {n}")).await));
    }
    assert_eq!(
        got,
        [
            ("ADDED", k.name("b")),
            ("MODIFIED", k.name("b")),
            ("DELETED", k.name("a"))
        ]
    );
    k.clean(&api).await;
}

/// A client that lost its watch re-watches from the last resourceVersion it saw and gets
/// exactly what it missed — no relist, no repeats.
pub async fn watch_resumes_from_the_last_resource_version_seen(c: &impl Cluster) {
    let k = Case::new(c, "w-resume").await;
    let api = leases(&k);
    let start = api
        .list(&ListParams::default().labels(&k.selector()))
        .await
        .expect("list");
    let from = start
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut s = api
        .watch(&watch_params(&k), &from)
        .await
        .expect("watch")
        .boxed();
    k.create(&api, "x").await;
    let last = match next_event(&mut s, "ADDED x").await {
        WatchEvent::Added(l) => l.resource_version().expect("rv"),
        other => panic!("expected ADDED x, got {other:?}"),
    };
    drop(s);
    k.create(&api, "y").await;
    let pp = PatchParams::default();
    api.patch(&k.name("x"), &pp, &label("1"))
        .await
        .expect("patch x");
    let mut s = api
        .watch(&watch_params(&k), &last)
        .await
        .expect("re-watch")
        .boxed();
    let got = [
        seen(&next_event(&mut s, "first missed change").await),
        seen(&next_event(&mut s, "second missed change").await),
    ];
    assert_eq!(got, [("ADDED", k.name("y")), ("MODIFIED", k.name("x"))]);
    k.clean(&api).await;
}

/// A watch from a resourceVersion the server no longer keeps — here one from before the
/// resource was registered, older than its watch cache — gets an `ERROR` event with 410
/// `Expired`; listing again and watching from the list's resourceVersion recovers.
pub async fn watch_from_an_expired_resource_version_is_410_and_a_relist_recovers(c: &impl Cluster) {
    let k = Case::new(c, "w-gone").await;
    let before = Api::<Namespace>::all(k.client.clone())
        .list(&ListParams::default().limit(1))
        .await
        .expect("list namespaces")
        .metadata
        .resource_version
        .expect("a resourceVersion");
    // A resource of its own, so its history starts after `before` on any server.
    let group = "w-gone.contract.multi-eni.test";
    k.install(&[crd(group, "Gadget")]).await;
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", "Gadget"), "gadgets");
    let api: Api<DynamicObject> = Api::namespaced_with(k.client.clone(), "default", &ar);
    let gadget = |short: &str| {
        let mut o = DynamicObject::new(&k.name(short), &ar).data(json!({"spec": {"size": 1}}));
        o.metadata = k.meta(short, &[]);
        o
    };
    let pp = PostParams::default();
    api.create(&pp, &gadget("g1")).await.expect("create g1");

    let mut s = api
        .watch(&watch_params(&k), &before)
        .await
        .expect("the watch request itself succeeds")
        .boxed();
    match next_event(&mut s, "410").await {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected ERROR 410 Expired, got {other:?}"),
    }
    let relist = api
        .list(&ListParams::default().labels(&k.selector()))
        .await
        .expect("relist");
    let names: Vec<String> = relist.items.iter().map(|o| o.name_any()).collect();
    assert_eq!(names, [k.name("g1")]);
    let from = relist
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut s = api
        .watch(&watch_params(&k), &from)
        .await
        .expect("watch")
        .boxed();
    api.create(&pp, &gadget("g2")).await.expect("create g2");
    assert_eq!(
        seen(&next_event(&mut s, "ADDED g2").await),
        ("ADDED", k.name("g2"))
    );
    k.clean(&api).await;
}

/// A watch that sets `allowWatchBookmarks` and sees none of its objects change gets a
/// `BOOKMARK` before it times out; one that does not ask gets none. kube-apiserver sends one
/// shortly before the timeout (then about once a minute), but only once its watch cache has
/// moved on, so another object of the resource changes meanwhile.
pub async fn idle_watch_gets_a_bookmark_only_when_it_asks(c: &impl Cluster) {
    let k = Case::new(c, "w-bookmark").await;
    let api = leases(&k);
    let l = k.create(&api, "idle").await;
    let from = l.resource_version().expect("rv");
    let other = Case {
        client: k.client.clone(),
        prefix: format!("{}-other", k.prefix),
    };
    other.create(&api, "tick").await;
    let asking = WatchParams::default().labels(&k.selector()).timeout(6);
    let events = with_changes_elsewhere(&other, &api, async {
        drain(api.watch(&asking, &from).await.expect("watch")).await
    })
    .await;
    let bookmarks = events
        .iter()
        .filter(|e| matches!(e, WatchEvent::Bookmark(_)))
        .count();
    assert!(
        bookmarks > 0 && bookmarks == events.len(),
        "only bookmarks, at least one: {:?}",
        kinds(&events)
    );
    let silent = asking.disable_bookmarks().timeout(3);
    let events = with_changes_elsewhere(&other, &api, async {
        drain(api.watch(&silent, &from).await.expect("watch")).await
    })
    .await;
    assert!(
        events.is_empty(),
        "no bookmarks unasked: {:?}",
        kinds(&events)
    );
    k.clean(&api).await;
    other.clean(&api).await;
}

/// Runs `watch` while `other`'s Lease `tick` changes four times a second (load, not a wait).
async fn with_changes_elsewhere<T>(
    other: &Case,
    api: &Api<Lease>,
    watch: impl std::future::Future<Output = T>,
) -> T {
    let ticks = async {
        let mut every = tokio::time::interval(std::time::Duration::from_millis(250));
        for n in 0u64.. {
            every.tick().await;
            api.patch(
                &other.name("tick"),
                &PatchParams::default(),
                &label(&n.to_string()),
            )
            .await
            .expect("tick");
        }
    };
    tokio::select! {
        out = watch => out,
        () = ticks => unreachable!("ticks until the watch ends"),
    }
}

/// `sendInitialEvents=true` (a streaming list): `ADDED` for what exists, then a `BOOKMARK`
/// annotated `k8s.io/initial-events-end: "true"`, then the changes.
pub async fn streaming_list_ends_initial_events_with_an_annotated_bookmark(c: &impl Cluster) {
    let k = Case::new(c, "w-stream").await;
    let api = leases(&k);
    k.create(&api, "a").await;
    k.create(&api, "b").await;
    let wp = WatchParams::default()
        .labels(&k.selector())
        .timeout(30)
        .initial_events();
    let mut s = api.watch(&wp, "").await.expect("watch").boxed();
    let mut initial = BTreeSet::new();
    let end = loop {
        match next_event(&mut s, "initial events").await {
            WatchEvent::Added(l) => {
                initial.insert(l.name_any());
            }
            WatchEvent::Bookmark(b) => break b,
            other => panic!("unexpected during initial events: {other:?}"),
        }
    };
    assert_eq!(initial, BTreeSet::from([k.name("a"), k.name("b")]));
    assert_eq!(
        end.metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    k.create(&api, "c").await;
    let next = loop {
        match next_event(&mut s, "ADDED c").await {
            WatchEvent::Bookmark(_) => continue,
            other => break seen(&other),
        }
    };
    assert_eq!(next, ("ADDED", k.name("c")));
    k.clean(&api).await;
}

/// Runs a kube-rs `watcher` until the names it believes exist are `want` (short names) after
/// exactly `lists` initial lists; fails after [`crate::TIMEOUT`].
async fn follow(api: Api<Lease>, cfg: watcher::Config, k: &Case, want: &[&str], lists: usize) {
    let want: BTreeSet<String> = want.iter().map(|s| k.name(s)).collect();
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let (mut names, mut pending, mut done) = (BTreeSet::new(), BTreeSet::new(), 0);
    let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
    while names != want || done != lists {
        let ev = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("watcher ended; saw {names:?} after {done} list(s)"),
            Err(_) => panic!("timed out waiting for {want:?}; saw {names:?} after {done} list(s)"),
        };
        match ev.expect("watcher event") {
            watcher::Event::Init => pending.clear(),
            watcher::Event::InitApply(l) => {
                pending.insert(l.name_any());
            }
            watcher::Event::InitDone => {
                names = std::mem::take(&mut pending);
                done += 1;
            }
            watcher::Event::Apply(l) => {
                names.insert(l.name_any());
            }
            watcher::Event::Delete(l) => {
                names.remove(&l.name_any());
            }
        }
    }
}

/// kube-rs's `watcher` builds its view from a paginated list and from a streaming list, and
/// then follows creates and deletes.
pub async fn kube_rs_watcher_lists_in_pages_and_streams_and_follows_changes(c: &impl Cluster) {
    let k = Case::new(c, "w-watcher").await;
    let api = leases(&k);
    k.create(&api, "a").await;
    k.create(&api, "b").await;
    let paged = watcher::Config::default()
        .labels(&k.selector())
        .page_size(1);
    follow(api.clone(), paged, &k, &["a", "b"], 1).await;
    let streaming = watcher::Config::default()
        .labels(&k.selector())
        .streaming_lists();
    follow(api.clone(), streaming, &k, &["a", "b"], 1).await;

    let cfg = watcher::Config::default().labels(&k.selector());
    let writes = async {
        k.create(&api, "c").await;
        api.delete(&k.name("a"), &Default::default())
            .await
            .expect("delete a");
    };
    tokio::join!(follow(api.clone(), cfg, &k, &["b", "c"], 1), writes);
    k.clean(&api).await;
}

/// A label-selected watch sees an object that starts matching as `ADDED` and one that stops
/// matching as `DELETED`.
pub async fn filtered_watch_sees_objects_enter_and_leave_as_added_and_deleted(c: &impl Cluster) {
    let k = Case::new(c, "w-filter").await;
    let nodes = k.nodes();
    let n = k.create(&nodes, "n").await;
    let from = n.resource_version().expect("rv");
    let wp = WatchParams::default()
        .labels(&format!("{},pool=a", k.selector()))
        .timeout(30)
        .disable_bookmarks();
    let mut s = nodes.watch(&wp, &from).await.expect("watch").boxed();
    let pool = |v: &str| Patch::Merge(json!({"metadata": {"labels": {"pool": v}}}));
    let pp = PatchParams::default();
    nodes
        .patch(&k.name("n"), &pp, &pool("a"))
        .await
        .expect("label");
    nodes
        .patch(&k.name("n"), &pp, &pool("b"))
        .await
        .expect("relabel");
    let got = [
        seen(&next_event(&mut s, "enters").await),
        seen(&next_event(&mut s, "leaves").await),
    ];
    assert_eq!(got, [("ADDED", k.name("n")), ("DELETED", k.name("n"))]);
    k.clean(&nodes).await;
}
