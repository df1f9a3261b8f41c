//! Optimistic concurrency between writers: stale replaces get 409 Conflict, retries converge with
//! no lost update, and spec/status writers on one object do not overwrite each other.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{code, create_named, reason, start, widget_w};

#[tokio::test]
async fn second_writer_with_a_stale_resource_version_gets_409_and_wins_after_rereading() {
    let server = start().await;
    let leases: Api<Lease> = Api::namespaced(server.client().expect("client"), "default");
    create_named(&leases, "l").await;
    let mut a = leases.get("l").await.expect("get");
    let mut b = leases.get("l").await.expect("get");
    a.metadata.labels = Some([("writer".to_string(), "a".to_string())].into());
    leases
        .replace("l", &PostParams::default(), &a)
        .await
        .expect("a wins");
    b.metadata.labels = Some([("writer".to_string(), "b".to_string())].into());
    let e = leases
        .replace("l", &PostParams::default(), &b)
        .await
        .expect_err("b is stale");
    assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
    let mut b = leases.get("l").await.expect("reread");
    assert_eq!(
        b.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("writer"))
            .map(String::as_str),
        Some("a")
    );
    b.metadata.labels = Some([("writer".to_string(), "b".to_string())].into());
    leases
        .replace("l", &PostParams::default(), &b)
        .await
        .expect("b after reread");
}

#[tokio::test]
async fn concurrent_read_modify_write_loops_lose_no_update() {
    let server = start().await;
    let leases: Api<Lease> = Api::namespaced(server.client().expect("client"), "default");
    create_named(&leases, "counter").await;
    let (writers, each) = (4, 25);
    let mut tasks = vec![];
    for _ in 0..writers {
        let leases = leases.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..each {
                loop {
                    let mut l = leases.get("counter").await.expect("get");
                    let spec = l.spec.get_or_insert_with(Default::default);
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    match leases.replace("counter", &PostParams::default(), &l).await {
                        Ok(_) => break,
                        Err(e) if code(&e) == 409 => conflicts += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.expect("writer");
    }
    let l = leases.get("counter").await.expect("get");
    assert_eq!(
        l.spec.and_then(|s| s.lease_transitions),
        Some(writers * each),
        "every increment landed ({conflicts} conflicts retried)"
    );
}

#[tokio::test]
async fn spec_writer_and_status_writer_do_not_clobber_each_other() {
    let server = start().await;
    let widgets = widget_w(&server).await;
    // Writer 1 (controller): replace of the main resource from a stale copy carrying a status.
    let mut stale = widgets.get("w").await.expect("get");
    // Writer 2 (agent): status patch in between.
    widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"agent": "configured"}})),
        )
        .await
        .expect("status");
    stale.spec.size = 2;
    stale.status = Some(Default::default());
    let e = widgets
        .replace("w", &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert_eq!(code(&e), 409);
    let mut fresh = widgets.get("w").await.expect("get");
    fresh.spec.size = 2;
    fresh.status = None;
    let after = widgets
        .replace("w", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_eq!(after.spec.size, 2);
    assert_eq!(
        after.status.and_then(|s| s.agent).as_deref(),
        Some("configured"),
        "main-resource writes ignore status"
    );
    let mut st = widgets.get_status("w").await.expect("get status");
    st.spec.size = 99;
    st.status.get_or_insert_with(Default::default).observed = Some(2);
    let after = widgets
        .replace_status("w", &PostParams::default(), &st)
        .await
        .expect("replace_status");
    assert_eq!(after.spec.size, 2, "status writes ignore spec");
    assert_eq!(after.status.as_ref().and_then(|s| s.observed), Some(2));
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "status writes do not bump generation"
    );
}
