//! Every patch type kube-rs sends: merge, JSON (with `test`), strategic (core types only) and
//! server-side apply with field managers, conflicts and `force`; plus dry runs and delete
//! preconditions.

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use crate::support::{code, create_named, named, reason, start, widget_api, widget_w};

#[tokio::test]
async fn server_side_apply_creates_updates_conflicts_and_forces() {
    let server = start().await;
    let widgets = widget_api(&server).await;
    let cfg = |size: i32, color: Option<&str>| {
        let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": size}});
        if let Some(c) = color {
            w["spec"]["color"] = json!(c);
        }
        w
    };
    let a = PatchParams::apply("manager-a");
    let w = widgets
        .patch("w", &a, &Patch::Apply(cfg(1, Some("red"))))
        .await
        .expect("apply creates");
    assert_eq!((w.spec.size, w.spec.color.as_deref()), (1, Some("red")));
    assert_eq!(w.metadata.managed_fields.as_ref().map(Vec::len), Some(1));

    let b = PatchParams::apply("manager-b");
    let e = widgets
        .patch("w", &b, &Patch::Apply(cfg(2, None)))
        .await
        .expect_err("b conflicts on spec.size");
    assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
    let w = widgets
        .patch("w", &b.clone().force(), &Patch::Apply(cfg(2, None)))
        .await
        .expect("forced");
    assert_eq!(w.spec.size, 2);

    // a stops applying color (and no longer owns size): color is removed, size stays b's.
    let w = widgets
        .patch("w", &a, &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})))
        .await
        .expect("a shrinks its config");
    assert_eq!((w.spec.size, w.spec.color), (2, None));
    let e = widgets
        .patch("w", &PatchParams::default(), &Patch::Apply(cfg(3, None)))
        .await
        .expect_err("no manager");
    assert_eq!(code(&e), 400);
}

#[tokio::test]
async fn merge_json_and_strategic_patches_on_nodes() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    create_named(&nodes, "n").await;
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}});
    nodes
        .patch_status("n", &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status");
    let smp = json!({"metadata": {"labels": {"zone": "a"}}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let n = nodes
        .patch_status("n", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .expect("strategic");
    let conds: Vec<(String, String)> = n
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        conds,
        vec![
            ("Ready".into(), "True".into()),
            ("MemoryPressure".into(), "False".into())
        ],
        "merged by type"
    );
    assert!(
        n.metadata.labels.is_none(),
        "a status patch ignores metadata labels"
    );

    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/name", "value": "n"},
        {"op": "add", "path": "/metadata/labels", "value": {"a": "1"}}
    ]))
    .expect("patch");
    let n = nodes
        .patch("n", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .expect("json patch");
    assert_eq!(n.labels().get("a").map(String::as_str), Some("1"));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/metadata/name", "value": "other"}]))
            .expect("patch");
    let e = nodes
        .patch("n", &PatchParams::default(), &Patch::Json::<()>(failing))
        .await
        .expect_err("test fails");
    assert_eq!(code(&e), 422);
}

#[tokio::test]
async fn strategic_merge_on_a_custom_resource_is_415() {
    let server = start().await;
    let widgets = widget_w(&server).await;
    let e = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 2}})),
        )
        .await
        .expect_err("415");
    assert_eq!(code(&e), 415);
}

#[tokio::test]
async fn dry_run_and_delete_preconditions() {
    let server = start().await;
    let nodes: Api<Node> = Api::all(server.client().expect("client"));
    let n: Node = named("d");
    nodes
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &n,
        )
        .await
        .expect("dry run");
    assert!(
        nodes.get_opt("d").await.expect("get").is_none(),
        "dry run stores nothing"
    );
    let created = nodes
        .create(&PostParams::default(), &n)
        .await
        .expect("create");
    let only = |uid: Option<String>, resource_version: Option<String>| DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version,
        }),
        ..Default::default()
    };
    let stale = only(None, Some("1".into()));
    assert_eq!(
        code(&nodes.delete("d", &stale).await.expect_err("stale rv")),
        409
    );
    let wrong = only(Some("nope".into()), None);
    assert_eq!(
        code(&nodes.delete("d", &wrong).await.expect_err("wrong uid")),
        409
    );
    let right = only(created.uid(), created.resource_version());
    nodes.delete("d", &right).await.expect("delete");
    assert_eq!(code(&nodes.get("d").await.expect_err("gone")), 404);
}
