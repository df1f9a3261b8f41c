//! Scale: 5,000 Nodes and 20,000 custom objects written while 200 watchers (100 on Nodes, 100
//! on the custom resource) each see every object of their resource; then paginated and
//! label-selected lists and a fresh kube-rs watcher over the full state.

mod scale_support;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use scale_support::{Kind, current_rv, start_with_widgets, watch_until_all, write_all};

const NODES: usize = 5_000;
const OBJECTS: usize = 20_000;
const WATCHERS_PER_KIND: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_watchers_see_every_one_of_25000_objects() {
    let server = start_with_widgets(2 * (NODES + OBJECTS)).await;
    let addr = server.addr();

    let rv = current_rv(addr, Kind::Node).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let mut watchers = vec![];
    for _ in 0..WATCHERS_PER_KIND {
        watchers.push(tokio::spawn(watch_until_all(
            addr,
            Kind::Node,
            rv,
            NODES,
            delivered.clone(),
        )));
        watchers.push(tokio::spawn(watch_until_all(
            addr,
            Kind::Widget,
            rv,
            OBJECTS,
            delivered.clone(),
        )));
    }
    tokio::join!(
        write_all(addr, Kind::Node, NODES, 4),
        write_all(addr, Kind::Widget, OBJECTS, 8)
    );
    let all = async {
        let mut events = 0;
        for w in watchers {
            let t = w.await.expect("watcher task");
            assert_eq!(t.distinct, t.seen.len(), "a watcher missed objects");
            assert_eq!(t.events, t.distinct, "a watcher got duplicate ADDED events");
            events += t.events;
        }
        events
    };
    let events = tokio::time::timeout(Duration::from_secs(900), all)
        .await
        .expect("watchers finished within 15 minutes");
    assert_eq!(events, WATCHERS_PER_KIND * (NODES + OBJECTS));

    let client = server.client().expect("client");
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut lp = ListParams::default().limit(2_000);
    let mut listed = 0;
    loop {
        let page = widgets.list(&lp).await.expect("page");
        listed += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(listed, OBJECTS);
    let zone_a = widgets
        .list(&ListParams::default().labels("zone=us-east-1a"))
        .await
        .expect("selected");
    assert_eq!(zone_a.items.len(), OBJECTS.div_ceil(3));

    let nodes: Api<Node> = Api::all(client);
    let (reader, writer) = reflector::store();
    let task = tokio::spawn(
        reflector(writer, watcher(nodes, watcher::Config::default()))
            .applied_objects()
            .for_each(|_| async {}),
    );
    tokio::time::timeout(Duration::from_secs(300), reader.wait_until_ready())
        .await
        .expect("ready in time")
        .expect("reflector ready");
    assert_eq!(reader.state().len(), NODES);
    task.abort();
}
