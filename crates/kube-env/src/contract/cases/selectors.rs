//! Lists: label selectors (equality and set-based), field selectors (metadata, and CRD
//! `selectableFields` — our ENIAttachments' `spec.nodeName` / `spec.nodeENI`), pagination, 400s.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use multi_eni_api::EniAttachment;
use serde_json::json;

use crate::contract::{Case, Cluster, Gap, code, pinned};

async fn pooled_nodes(k: &Case, pools: &[(&str, &str)]) -> Api<Node> {
    let nodes = k.nodes();
    for (n, pool) in pools {
        let node = Node {
            metadata: k.meta(n, &[("pool", pool)]),
            ..Node::default()
        };
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create");
    }
    nodes
}

/// The case's objects matching `also` (a selector added to the case label), as short names.
async fn names_where(k: &Case, nodes: &Api<Node>, also: &str) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("{},{also}", k.selector()));
    let list = nodes
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("list {also}: {e}"));
    let prefix = format!("{}-", k.prefix);
    list.items
        .iter()
        .map(|n| n.name_any().trim_start_matches(&prefix).to_string())
        .collect()
}

/// `=`, `!=`, `in`, `notin`, `!key`, in name order.
pub async fn label_selectors_equality_and_set_based(c: &impl Cluster) {
    let k = Case::new(c, "sel-labels").await;
    let pools = [("a", "x"), ("b", "y"), ("c", "z"), ("d", "x"), ("e", "y")];
    let nodes = pooled_nodes(&k, &pools).await;
    assert_eq!(names_where(&k, &nodes, "pool=x").await, ["a", "d"]);
    assert_eq!(
        names_where(&k, &nodes, "pool in (x,z)").await,
        ["a", "c", "d"]
    );
    assert_eq!(
        names_where(&k, &nodes, "pool notin (x),pool!=z").await,
        ["b", "e"]
    );
    assert!(names_where(&k, &nodes, "!pool").await.is_empty());
    let e = nodes
        .list(&ListParams::default().labels("pool in x"))
        .await
        .expect_err("malformed selector");
    assert_eq!(code(&e), 400);
    k.clean(&nodes).await;
}

/// `metadata.name` selects; a field the resource does not support is 400.
pub async fn field_selectors_on_name_and_unsupported_fields_are_400(c: &impl Cluster) {
    let k = Case::new(c, "sel-fields").await;
    let nodes = pooled_nodes(&k, &[("a", "x"), ("b", "x")]).await;
    let lp = ListParams::default()
        .labels(&k.selector())
        .fields(&format!("metadata.name={}", k.name("b")));
    let got: Vec<String> = nodes
        .list(&lp)
        .await
        .expect("list")
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(got, [k.name("b")]);
    let lp = ListParams::default()
        .fields(&format!("metadata.name!={}", k.name("b")))
        .labels(&k.selector());
    let got: Vec<String> = nodes
        .list(&lp)
        .await
        .expect("list")
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(got, [k.name("a")]);
    let e = nodes
        .list(&ListParams::default().fields("spec.bogus=1"))
        .await
        .expect_err("unsupported field");
    assert_eq!(code(&e), 400);
    k.clean(&nodes).await;
}

/// `limit` and `continue` page through a list: every object once, pages no larger than the
/// limit, the last page without a continue token.
pub async fn list_pages_with_limit_and_continue(c: &impl Cluster) {
    let k = Case::new(c, "sel-pages").await;
    let pools = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x"), ("e", "x")];
    let nodes = pooled_nodes(&k, &pools).await;
    let mut lp = ListParams::default().labels(&k.selector()).limit(2);
    let (mut seen, mut pages) = (vec![], 0);
    loop {
        let page = nodes.list(&lp).await.expect("page");
        pages += 1;
        assert!(
            page.items.len() <= 2,
            "page {pages} has {}",
            page.items.len()
        );
        seen.extend(page.items.iter().map(|n| n.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
        assert!(pages < 10, "paging does not end: {seen:?}");
    }
    let want: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|s| k.name(s))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(pages, 3);
    k.clean(&nodes).await;
}

fn attachment(k: &Case, short: &str, node: &str, node_eni: &str) -> EniAttachment {
    let mut a: EniAttachment = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment",
        "metadata": {"name": k.name(short)},
        "spec": {"nodeENI": k.name(node_eni), "nodeName": k.name(node),
            "instanceID": "i-0123456789abcdef0", "subnetID": "subnet-0123456789abcdef0",
            "securityGroupIDs": ["sg-0123456789abcdef0"], "deviceIndex": 1}
    }))
    .expect("an ENIAttachment");
    a.metadata = k.meta(short, &[]);
    a
}

/// Our ENIAttachment CRD declares `spec.nodeName` and `spec.nodeENI` selectable: field
/// selectors on them filter (the agent lists its node's attachments this way); a field not
/// declared is 400.
pub async fn our_crds_selectable_fields_filter_eni_attachments(c: &impl Cluster) {
    let k = Case::new(c, "sel-enia").await;
    k.install(&multi_eni_api::crds::all()).await;
    let api: Api<EniAttachment> = Api::all(k.client.clone());
    for (a, node, ne) in [
        ("a1", "n1", "multus"),
        ("a2", "n2", "multus"),
        ("a3", "n1", "storage"),
    ] {
        api.create(&PostParams::default(), &attachment(&k, a, node, ne))
            .await
            .unwrap_or_else(|e| panic!("create {a}: {e}"));
    }
    let by = |field: &str, value: &str| {
        ListParams::default()
            .labels(&k.selector())
            .fields(&format!("{field}={}", k.name(value)))
    };
    let names = |l: kube::core::ObjectList<EniAttachment>| -> Vec<String> {
        let prefix = format!("{}-", k.prefix);
        l.items
            .iter()
            .map(|a| a.name_any().trim_start_matches(&prefix).to_string())
            .collect()
    };
    let on_n1 = api.list(&by("spec.nodeName", "n1")).await.expect("by node");
    assert_eq!(names(on_n1), ["a1", "a3"]);
    let multus = api
        .list(&by("spec.nodeENI", "multus"))
        .await
        .expect("by NodeENI");
    assert_eq!(names(multus), ["a1", "a2"]);
    let both = ListParams::default().labels(&k.selector()).fields(&format!(
        "spec.nodeName={},spec.nodeENI={}",
        k.name("n1"),
        k.name("storage")
    ));
    assert_eq!(names(api.list(&both).await.expect("both")), ["a3"]);
    let e = api
        .list(&ListParams::default().fields("spec.instanceID=i-0123456789abcdef0"))
        .await
        .expect_err("not selectable");
    assert_eq!(code(&e), 400);
    k.clean(&api).await;
}

/// A paginated list says how many items remain after the page (no selector: the count is
/// exact). Namespaces: kube-apiserver creates four and no case adds any.
pub async fn paginated_list_counts_the_remaining_items(c: &impl Cluster) {
    let k = Case::new(c, "sel-remaining").await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(k.client.clone());
    let all = namespaces.list(&ListParams::default()).await.expect("list");
    let page = namespaces
        .list(&ListParams::default().limit(1))
        .await
        .expect("first page");
    assert_eq!(page.items.len(), 1);
    let remaining = page.metadata.remaining_item_count;
    if pinned(c, Gap::NoRemainingItemCount) {
        assert_eq!(remaining, None);
    } else {
        assert_eq!(remaining, Some(all.items.len() as i64 - 1));
    }
}
