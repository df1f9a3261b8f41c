//! Fault hooks seen through kube-rs: injected errors, retried timeouts, restarts keeping state.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
use serde_json::json;

use crate::support::{code, create_named, eventually, start};

#[tokio::test]
async fn injected_errors_hit_only_the_chosen_requests() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    create_named(&nodes, "a").await;
    create_named(&nodes, "b").await;
    let f = server.faults().fail(
        FaultRule::any()
            .verb(Verb::Patch)
            .resource("nodes")
            .name("a")
            .times(1),
        500,
    );
    let p = Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}}));
    nodes
        .patch("b", &PatchParams::default(), &p)
        .await
        .expect("other names unaffected");
    let e = nodes
        .patch("a", &PatchParams::default(), &p)
        .await
        .expect_err("injected");
    assert_eq!(code(&e), 500);
    nodes
        .patch("a", &PatchParams::default(), &p)
        .await
        .expect("used up after one");
    assert_eq!(f.hits(), 1);

    server.faults().inject(
        FaultRule::any().verb(Verb::Get).name("a").times(1),
        FaultAction::Conflict,
    );
    assert_eq!(code(&nodes.get("a").await.expect_err("conflict")), 409);

    // kube-rs retries 504s itself: an injected server-side timeout is invisible to the caller.
    let t = server.faults().inject(
        FaultRule::any().verb(Verb::Get).name("b").times(1),
        FaultAction::Timeout(Duration::from_millis(50)),
    );
    nodes.get("b").await.expect("retried past the timeout");
    assert_eq!(t.hits(), 1);
}

#[tokio::test]
async fn restart_keeps_state_and_watchers_reconnect() {
    let server = start().await;
    let client = server.client().expect("client");
    let nodes: Api<Node> = Api::all(client.clone());
    let before = create_named(&nodes, "kept").await;
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(nodes.clone(), watcher::Config::default()).default_backoff(),
    )
    .applied_objects()
    .for_each(|_| async {});
    let task = tokio::spawn(stream);
    eventually("reflector has the node", || async {
        (reader.state().len() == 1).then_some(())
    })
    .await;

    server.restart().await.expect("restart");
    let after = create_named(&nodes, "new").await;
    let rv = |n: &Node| {
        n.resource_version()
            .and_then(|r| r.parse::<u64>().ok())
            .expect("rv")
    };
    assert!(
        rv(&after) > rv(&before),
        "resourceVersions keep increasing across the restart"
    );
    assert_eq!(
        nodes.get("kept").await.expect("state kept").uid(),
        before.uid()
    );
    eventually("reflector caught up through the restart", || async {
        let mut names: Vec<String> = reader.state().iter().map(|n| n.name_any()).collect();
        names.sort();
        (names == ["kept", "new"]).then_some(())
    })
    .await;
    task.abort();
}
