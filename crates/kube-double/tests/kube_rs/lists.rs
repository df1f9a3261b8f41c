//! Lists through kube-rs: label (equality and set-based) and field selectors, pagination,
//! discovery, and the Status errors for bad requests.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::discovery::Discovery;

use crate::support::{code, install_widget_crd, named, start};

fn node(name: &str, pool: &str) -> Node {
    let mut n: Node = named(name);
    n.metadata.labels = Some([("pool".to_string(), pool.to_string())].into());
    n
}

fn names(l: &kube::core::ObjectList<Node>) -> Vec<String> {
    l.items.iter().map(|n| n.name_any()).collect()
}

#[tokio::test]
async fn selectors_and_pagination() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    for (n, p) in [("a", "x"), ("b", "y"), ("c", "z"), ("d", "x"), ("e", "y")] {
        nodes
            .create(&PostParams::default(), &node(n, p))
            .await
            .expect("create");
    }
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(
        names(&nodes.list(&sel("pool=x")).await.expect("list")),
        ["a", "d"]
    );
    assert_eq!(
        names(&nodes.list(&sel("pool in (x,z)")).await.expect("list")),
        ["a", "c", "d"]
    );
    assert_eq!(
        names(
            &nodes
                .list(&sel("pool notin (x),pool!=z"))
                .await
                .expect("list")
        ),
        ["b", "e"]
    );
    assert_eq!(
        names(&nodes.list(&sel("!pool")).await.expect("list")),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &nodes
                .list(&ListParams::default().fields("metadata.name=c"))
                .await
                .expect("list")
        ),
        ["c"]
    );

    let mut seen = vec![];
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = nodes.list(&lp).await.expect("page");
        pages += 1;
        seen.extend(names(&page));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(
        (seen, pages),
        (
            vec![
                "a".to_string(),
                "b".into(),
                "c".into(),
                "d".into(),
                "e".into()
            ],
            3
        )
    );

    assert_eq!(
        code(
            &nodes
                .list(&sel("pool in x"))
                .await
                .expect_err("bad selector")
        ),
        400
    );
    assert_eq!(
        code(
            &nodes
                .list(&ListParams::default().fields("spec.bogus=1"))
                .await
                .expect_err("bad field")
        ),
        400
    );
}

#[tokio::test]
async fn discovery_finds_builtins_and_a_fresh_crd() {
    let server = start().await;
    let client = server.client().expect("client");
    install_widget_crd(&client).await;
    let d = Discovery::new(client).run().await.expect("discovery");
    let kinds: Vec<String> = d
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(ar, _)| format!("{}/{}", ar.api_version, ar.kind))
        .collect();
    for want in [
        "v1/Node",
        "v1/Namespace",
        "coordination.k8s.io/v1/Lease",
        "events.k8s.io/v1/Event",
        "example.com/v1/Widget",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn delete_collection_and_metadata_only_reads() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    for (n, p) in [("a", "x"), ("b", "y"), ("c", "x")] {
        nodes
            .create(&PostParams::default(), &node(n, p))
            .await
            .expect("create");
    }
    let meta = nodes
        .get_metadata("a")
        .await
        .expect("PartialObjectMetadata");
    assert_eq!(
        meta.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pool"))
            .map(String::as_str),
        Some("x")
    );
    let metas = nodes
        .list_metadata(&ListParams::default().labels("pool=x"))
        .await
        .expect("PartialObjectMetadataList");
    assert_eq!(metas.items.len(), 2);

    let gone = nodes
        .delete_collection(
            &kube::api::DeleteParams::default(),
            &ListParams::default().labels("pool=x"),
        )
        .await
        .expect("deletecollection");
    let gone: Vec<String> = gone
        .left()
        .expect("a list of what was deleted")
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(gone, ["a", "c"]);
    assert_eq!(
        names(&nodes.list(&ListParams::default()).await.expect("list")),
        ["b"]
    );
}
