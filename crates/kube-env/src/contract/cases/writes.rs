//! Writes: optimistic concurrency (409 on a stale resourceVersion), AlreadyExists, dry runs,
//! delete preconditions, no-op updates, generation, deletecollection and metadata-only reads.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use crate::contract::{Case, Cluster, code, reason};

fn leases(k: &Case) -> Api<Lease> {
    Api::namespaced(k.client.clone(), "default")
}

fn writer(l: &mut Lease, who: &str) {
    l.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("writer".into(), who.into());
}

/// Two writers read the same version; the second replace is 409 `Conflict`, and succeeds
/// after re-reading.
pub async fn stale_update_is_409_conflict_and_succeeds_after_rereading(c: &impl Cluster) {
    let k = Case::new(c, "wr-stale").await;
    let api = leases(&k);
    let name = k.name("l");
    k.create(&api, "l").await;
    let mut a = api.get(&name).await.expect("get");
    let mut b = api.get(&name).await.expect("get");
    writer(&mut a, "a");
    api.replace(&name, &PostParams::default(), &a)
        .await
        .expect("a wins");
    writer(&mut b, "b");
    let e = api
        .replace(&name, &PostParams::default(), &b)
        .await
        .expect_err("b is stale");
    assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
    let mut b = api.get(&name).await.expect("re-read");
    assert_eq!(b.labels().get("writer").map(String::as_str), Some("a"));
    writer(&mut b, "b");
    api.replace(&name, &PostParams::default(), &b)
        .await
        .expect("b after re-reading");
    k.clean(&api).await;
}

/// Concurrent get-modify-replace loops that retry on 409 lose no increment.
pub async fn concurrent_read_modify_write_loops_lose_no_update(c: &impl Cluster) {
    let k = Case::new(c, "wr-counter").await;
    let api = leases(&k);
    let name = k.name("counter");
    k.create(&api, "counter").await;
    let (writers, each) = (4, 10);
    let mut tasks = vec![];
    for _ in 0..writers {
        let (api, name) = (api.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..each {
                loop {
                    let mut l = api.get(&name).await.expect("get");
                    let spec = l.spec.get_or_insert_with(Default::default);
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    match api.replace(&name, &PostParams::default(), &l).await {
                        Ok(_) => break,
                        Err(e) if code(&e) == 409 => continue,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let l = api.get(&name).await.expect("get");
    assert_eq!(
        l.spec.and_then(|s| s.lease_transitions),
        Some(writers * each)
    );
    k.clean(&api).await;
}

/// Creating a name that exists is 409 `AlreadyExists`.
pub async fn create_of_an_existing_name_is_409_already_exists(c: &impl Cluster) {
    let k = Case::new(c, "wr-exists").await;
    let api = leases(&k);
    k.create(&api, "l").await;
    let e = api
        .create(&PostParams::default(), &k.object::<Lease>("l"))
        .await
        .expect_err("exists");
    assert_eq!((code(&e), reason(&e).as_str()), (409, "AlreadyExists"));
    k.clean(&api).await;
}

/// `dryRun=All` answers as if it created the object but stores nothing.
pub async fn dry_run_create_stores_nothing(c: &impl Cluster) {
    let k = Case::new(c, "wr-dry").await;
    let nodes = k.nodes();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = nodes
        .create(&dry, &k.object::<Node>("d"))
        .await
        .expect("dry run");
    assert_eq!(answered.name_any(), k.name("d"));
    assert!(
        nodes.get_opt(&k.name("d")).await.expect("get").is_none(),
        "dry run stores nothing"
    );
}

/// Delete preconditions: a stale resourceVersion or a wrong uid is 409; the right ones delete.
pub async fn delete_preconditions_on_uid_and_resource_version(c: &impl Cluster) {
    let k = Case::new(c, "wr-precond").await;
    let nodes = k.nodes();
    let name = k.name("d");
    let created = k.create(&nodes, "d").await;
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"v": "2"}}})),
        )
        .await
        .expect("patch");
    let only = |uid: Option<String>, resource_version: Option<String>| DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version,
        }),
        ..DeleteParams::default()
    };
    let stale = only(None, created.resource_version());
    assert_eq!(
        code(&nodes.delete(&name, &stale).await.expect_err("stale")),
        409
    );
    let wrong = only(Some("0d4f6a5e-0000-4000-8000-000000000000".into()), None);
    assert_eq!(
        code(&nodes.delete(&name, &wrong).await.expect_err("uid")),
        409
    );
    let current = nodes.get(&name).await.expect("get");
    let right = only(current.uid(), current.resource_version());
    nodes.delete(&name, &right).await.expect("delete");
    assert_eq!(code(&nodes.get(&name).await.expect_err("gone")), 404);
}

/// Replacing an object with itself changes nothing: same resourceVersion.
pub async fn no_op_update_keeps_the_resource_version(c: &impl Cluster) {
    let k = Case::new(c, "wr-noop").await;
    let api = leases(&k);
    let l = k.create(&api, "l").await;
    let again = api
        .replace(&k.name("l"), &PostParams::default(), &l)
        .await
        .expect("replace");
    assert_eq!(again.resource_version(), l.resource_version());
    k.clean(&api).await;
}

/// Custom resources allow no unconditional update: a PUT without resourceVersion is 422.
pub async fn custom_resource_update_needs_a_resource_version(c: &impl Cluster) {
    let k = Case::new(c, "wr-cr-rv").await;
    let widgets = k.widgets().await;
    let mut w = widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    w.metadata.resource_version = None;
    w.spec.size = 2;
    let e = widgets
        .replace(&k.name("w"), &PostParams::default(), &w)
        .await
        .expect_err("no resourceVersion");
    assert_eq!((code(&e), reason(&e).as_str()), (422, "Invalid"));
    k.clean(&widgets).await;
}

/// `metadata.generation` starts at 1 and bumps when the spec changes, not when only
/// metadata does.
pub async fn generation_bumps_on_spec_changes_only(c: &impl Cluster) {
    let k = Case::new(c, "wr-generation").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let w = widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    assert_eq!(w.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let w = widgets
        .patch(
            &name,
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await
        .expect("label");
    assert_eq!(w.metadata.generation, Some(1), "metadata only");
    let w = widgets
        .patch(&name, &pp, &Patch::Merge(json!({"spec": {"size": 2}})))
        .await
        .expect("spec");
    assert_eq!(w.metadata.generation, Some(2), "spec changed");
    k.clean(&widgets).await;
}

/// `deletecollection` with a label selector deletes the matching objects and returns them;
/// metadata-only get and list (`PartialObjectMetadata`) carry labels.
pub async fn delete_collection_and_metadata_only_reads(c: &impl Cluster) {
    let k = Case::new(c, "wr-collection").await;
    let nodes = k.nodes();
    for (n, pool) in [("a", "x"), ("b", "y"), ("c", "x")] {
        let node = Node {
            metadata: k.meta(n, &[("pool", pool)]),
            ..Node::default()
        };
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create");
    }
    let meta = nodes.get_metadata(&k.name("a")).await.expect("metadata");
    assert_eq!(meta.labels().get("pool").map(String::as_str), Some("x"));
    let x = ListParams::default().labels(&format!("{},pool=x", k.selector()));
    let metas = nodes.list_metadata(&x).await.expect("metadata list");
    assert_eq!(metas.items.len(), 2);
    let gone = nodes
        .delete_collection(&DeleteParams::default(), &x)
        .await
        .expect("deletecollection")
        .left()
        .expect("the deleted objects");
    let mut gone: Vec<String> = gone.items.iter().map(|n| n.name_any()).collect();
    gone.sort();
    assert_eq!(gone, [k.name("a"), k.name("c")]);
    let left = nodes
        .list(&ListParams::default().labels(&k.selector()))
        .await
        .expect("list");
    let left: Vec<String> = left.items.iter().map(|n| n.name_any()).collect();
    assert_eq!(left, [k.name("b")]);
    k.clean(&nodes).await;
}
