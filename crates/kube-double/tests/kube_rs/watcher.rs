//! kube-rs `watcher` across dropped connections and compacted history (410 → relist): the
//! double's fault hooks make both happen on demand.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use kube::runtime::{WatchStreamExt, watcher};
use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
use tokio::sync::mpsc;

use crate::support::{create_named, eventually, start};

/// What a watcher consumer sees: the names it believes exist, relists, and errors.
#[derive(Default, Debug)]
struct View {
    names: BTreeSet<String>,
    pending: BTreeSet<String>,
    init_done: usize,
    errors: usize,
}

fn spawn_view(api: Api<Node>, cfg: watcher::Config) -> mpsc::UnboundedReceiver<View> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut view = View::default();
        let mut stream = watcher(api, cfg).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => view.pending.clear(),
                Ok(watcher::Event::InitApply(n)) => {
                    view.pending.insert(n.name_any());
                }
                Ok(watcher::Event::InitDone) => {
                    view.names = std::mem::take(&mut view.pending);
                    view.init_done += 1;
                }
                Ok(watcher::Event::Apply(n)) => {
                    view.names.insert(n.name_any());
                }
                Ok(watcher::Event::Delete(n)) => {
                    view.names.remove(&n.name_any());
                }
                Err(_) => view.errors += 1,
            }
            let snapshot = View {
                names: view.names.clone(),
                pending: BTreeSet::new(),
                init_done: view.init_done,
                errors: view.errors,
            };
            if tx.send(snapshot).is_err() {
                return;
            }
        }
    });
    rx
}

async fn wait_view(
    rx: &mut mpsc::UnboundedReceiver<View>,
    what: &str,
    ok: impl Fn(&View) -> bool,
) -> View {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(v)) if ok(&v) => return v,
            Ok(Some(_)) => {}
            Ok(None) => panic!("watcher ended while waiting for: {what}"),
            Err(_) => panic!("timed out waiting for: {what}"),
        }
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn watcher_resumes_after_dropped_connection_and_relists_after_compaction() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    for n in ["n1", "n2"] {
        create_named(&nodes, n).await;
    }
    let mut rx = spawn_view(nodes.clone(), watcher::Config::default().page_size(1));
    wait_view(&mut rx, "initial list (paginated)", |v| {
        v.init_done == 1 && v.names == names(&["n1", "n2"])
    })
    .await;

    // A cut connection: the watcher re-watches from its resourceVersion, no relist.
    server.faults().drop_watches();
    create_named(&nodes, "n3").await;
    let v = wait_view(&mut rx, "n3 after reconnect", |v| v.names.contains("n3")).await;
    assert_eq!(
        v.init_done, 1,
        "resumed from its resourceVersion without relisting"
    );

    // Hold the watcher off, change things, compact: its resourceVersion is now too old.
    let block = server.faults().inject(
        FaultRule::any().verb(Verb::Watch).resource("nodes"),
        FaultAction::Fail {
            code: 500,
            reason: "InternalError",
            message: "held off".into(),
        },
    );
    server.faults().drop_watches();
    eventually("watcher retried against the fault", || async {
        (block.hits() > 0).then_some(())
    })
    .await;
    nodes
        .delete("n1", &DeleteParams::default())
        .await
        .expect("delete");
    create_named(&nodes, "n4").await;
    server.compact_history();
    block.remove();
    let v = wait_view(&mut rx, "relist after 410", |v| {
        v.init_done == 2 && v.names == names(&["n2", "n3", "n4"])
    })
    .await;
    assert!(
        v.errors >= 1,
        "the 410 surfaced as a watcher error before the relist"
    );
}
