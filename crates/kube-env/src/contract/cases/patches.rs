//! Patch types: JSON merge, JSON patch (with `test`), strategic merge (not for custom
//! resources), server-side apply with managers, conflicts and `force`.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::contract::{Case, Cluster, Gap, code, pinned, reason};

/// RFC 7386: a merge patch sets fields and `null` removes them.
pub async fn merge_patch_sets_and_null_removes(c: &impl Cluster) {
    let k = Case::new(c, "p-merge").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let pp = PatchParams::default();
    let w = widgets
        .patch(
            &name,
            &pp,
            &Patch::Merge(json!({"spec": {"color": "red", "size": 3}})),
        )
        .await
        .expect("set");
    assert_eq!((w.spec.size, w.spec.color.as_deref()), (3, Some("red")));
    let w = widgets
        .patch(&name, &pp, &Patch::Merge(json!({"spec": {"color": null}})))
        .await
        .expect("remove");
    assert_eq!((w.spec.size, w.spec.color), (3, None));
    k.clean(&widgets).await;
}

fn json_patch(ops: serde_json::Value) -> Patch<()> {
    Patch::Json(serde_json::from_value(ops).expect("a JSON patch"))
}

/// RFC 6902: operations apply in order; a failed `test` is 422 and changes nothing.
pub async fn json_patch_applies_and_a_failed_test_is_422(c: &impl Cluster) {
    let k = Case::new(c, "p-json").await;
    let nodes = k.nodes();
    let name = k.name("n");
    k.create(&nodes, "n").await;
    let pp = PatchParams::default();
    let ok = json_patch(json!([
        {"op": "test", "path": "/metadata/name", "value": name},
        {"op": "add", "path": "/metadata/labels/a", "value": "1"}
    ]));
    let n = nodes.patch(&name, &pp, &ok).await.expect("json patch");
    assert_eq!(n.labels().get("a").map(String::as_str), Some("1"));
    let failing = json_patch(json!([
        {"op": "test", "path": "/metadata/name", "value": "other"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"}
    ]));
    let e = nodes
        .patch(&name, &pp, &failing)
        .await
        .expect_err("test fails");
    assert_eq!(code(&e), 422);
    let n: Node = nodes.get(&name).await.expect("get");
    assert!(!n.labels().contains_key("b"), "nothing applied");
    k.clean(&nodes).await;
}

/// Custom resources have no strategic merge: 415.
pub async fn strategic_merge_on_a_custom_resource_is_415(c: &impl Cluster) {
    let k = Case::new(c, "p-smp").await;
    let widgets = k.widgets().await;
    widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let e = widgets
        .patch(
            &k.name("w"),
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 2}})),
        )
        .await
        .expect_err("415");
    assert_eq!(code(&e), 415);
    k.clean(&widgets).await;
}

/// A Widget apply configuration of this case.
fn config(k: &Case, size: Option<i32>, color: Option<&str>) -> serde_json::Value {
    let mut w = json!({"apiVersion": "contract.multi-eni.test/v1", "kind": "Widget",
        "metadata": {"name": k.name("w"), "labels": {crate::contract::CASE_LABEL: k.prefix}}});
    if let Some(s) = size {
        w["spec"]["size"] = json!(s);
    }
    if let Some(c) = color {
        w["spec"]["color"] = json!(c);
    }
    w
}

/// Server-side apply creates; another manager's different value is 409 unless forced; a
/// field its last manager stops applying is removed; apply without a manager is 422.
pub async fn server_side_apply_creates_conflicts_forces_and_removes(c: &impl Cluster) {
    let k = Case::new(c, "p-apply").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let a = PatchParams::apply("manager-a");
    let w = widgets
        .patch(&name, &a, &Patch::Apply(config(&k, Some(1), Some("red"))))
        .await
        .expect("apply creates");
    assert_eq!((w.spec.size, w.spec.color.as_deref()), (1, Some("red")));
    let managers: Vec<String> = w
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["manager-a"]);
    let b = PatchParams::apply("manager-b");
    let e = widgets
        .patch(&name, &b, &Patch::Apply(config(&k, Some(2), None)))
        .await
        .expect_err("b conflicts on spec.size");
    assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
    let w = widgets
        .patch(
            &name,
            &b.clone().force(),
            &Patch::Apply(config(&k, Some(2), None)),
        )
        .await
        .expect("forced");
    assert_eq!(w.spec.size, 2);
    // a stops applying color (size is b's now): color goes, size stays.
    let w = widgets
        .patch(&name, &a, &Patch::Apply(config(&k, None, None)))
        .await
        .expect("a shrinks its configuration");
    assert_eq!((w.spec.size, w.spec.color), (2, None));
    let e = widgets
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Apply(config(&k, Some(3), None)),
        )
        .await
        .expect_err("no field manager");
    assert_eq!((code(&e), reason(&e).as_str()), (422, "Invalid"));
    k.clean(&widgets).await;
}

/// Fields written by a create or update are owned by that (Update) manager: applying another
/// value is a 409 conflict on kube-apiserver.
pub async fn server_side_apply_conflicts_with_an_update_manager(c: &impl Cluster) {
    let k = Case::new(c, "p-apply-upd").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let apply = widgets
        .patch(
            &name,
            &PatchParams::apply("applier"),
            &Patch::Apply(config(&k, Some(2), None)),
        )
        .await;
    if pinned(c, Gap::ApplyIgnoresUpdateManagers) {
        let w = apply.expect("the double lets the apply take the field");
        assert_eq!(w.spec.size, 2);
    } else {
        let e = apply.expect_err("spec.size belongs to the creating manager");
        assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
    }
    k.clean(&widgets).await;
}

/// Two managers applying different items of a `listType=map` list each own their item: both
/// items are kept.
pub async fn server_side_apply_owns_map_list_items_per_manager(c: &impl Cluster) {
    let k = Case::new(c, "p-apply-map").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let with_port = |port: serde_json::Value| {
        let mut w = config(&k, Some(1), None);
        w["spec"]["ports"] = json!([port]);
        w
    };
    let a = with_port(json!({"name": "http", "port": 80}));
    widgets
        .patch(&name, &PatchParams::apply("manager-a"), &Patch::Apply(a))
        .await
        .expect("a applies http");
    let b = with_port(json!({"name": "https", "port": 443}));
    let applied = widgets
        .patch(&name, &PatchParams::apply("manager-b"), &Patch::Apply(b))
        .await;
    if pinned(c, Gap::ApplyListsAtomic) {
        let e = applied.expect_err("the double sees one atomic list owned by a");
        assert_eq!(code(&e), 409);
    } else {
        applied.expect("b applies https");
        let raw: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(
            k.client.clone(),
            "default",
            &kube::discovery::ApiResource::erase::<crate::contract::Widget>(&()),
        );
        let w = raw.get(&name).await.expect("get");
        let ports: Vec<&str> = w.data["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(ports, ["http", "https"]);
    }
    k.clean(&widgets).await;
}
