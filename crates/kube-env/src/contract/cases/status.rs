//! The status subresource: spec and status writers on one object do not overwrite each other,
//! custom resources drop status on create, and strategic merge of Node status.

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use kube::ResourceExt;
use multi_eni_api::status_patch::patch_status_metadata;

use crate::contract::{Case, Cluster, Gap, WidgetStatus, code, pinned};

/// A main-resource write ignores `status`, a status write ignores everything else and does
/// not bump `generation`; a replace from a copy read before a status write is 409.
pub async fn spec_and_status_writers_do_not_clobber_each_other(c: &impl Cluster) {
    let k = Case::new(c, "st-split").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let mut stale = widgets.get(&name).await.expect("get");
    widgets
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"agent": "configured"}})),
        )
        .await
        .expect("status patch");
    stale.spec.size = 2;
    stale.status = Some(WidgetStatus::default());
    let e = widgets
        .replace(&name, &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert_eq!(code(&e), 409);
    let mut fresh = widgets.get(&name).await.expect("get");
    fresh.spec.size = 2;
    fresh.status = None;
    let after = widgets
        .replace(&name, &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_eq!(after.spec.size, 2);
    assert_eq!(
        after.status.and_then(|s| s.agent).as_deref(),
        Some("configured"),
        "main-resource writes ignore status"
    );
    let mut st = widgets.get_status(&name).await.expect("get status");
    st.spec.size = 99;
    st.status.get_or_insert_with(Default::default).observed = Some(2);
    let after = widgets
        .replace_status(&name, &PostParams::default(), &st)
        .await
        .expect("replace status");
    assert_eq!(after.spec.size, 2, "status writes ignore spec");
    assert_eq!(after.status.as_ref().and_then(|s| s.observed), Some(2));
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "status writes keep generation"
    );
    k.clean(&widgets).await;
}

/// With a status subresource, a create's `status` is dropped.
pub async fn custom_resource_create_drops_status(c: &impl Cluster) {
    let k = Case::new(c, "st-create").await;
    let widgets = k.widgets().await;
    let mut w = k.widget("w", 1);
    w.status = Some(WidgetStatus {
        observed: Some(7),
        ..WidgetStatus::default()
    });
    let created = widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    assert_eq!(created.status.and_then(|s| s.observed), None);
    k.clean(&widgets).await;
}

/// A strategic merge patch of Node status merges `conditions` by `type`.
pub async fn node_status_strategic_merge_merges_conditions_by_type(c: &impl Cluster) {
    let k = Case::new(c, "st-node").await;
    let nodes = k.nodes();
    let name = k.name("n");
    k.create(&nodes, "n").await;
    let pp = PatchParams::default();
    let both = json!({"status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}});
    nodes
        .patch_status(&name, &pp, &Patch::Merge(both))
        .await
        .expect("status");
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let n = nodes
        .patch_status(&name, &pp, &Patch::Strategic(ready))
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
        [
            ("Ready".to_string(), "True".to_string()),
            ("MemoryPressure".into(), "False".into())
        ],
        "merged by type"
    );
    assert_eq!(n.metadata.name.as_deref(), Some(name.as_str()));
    k.clean(&nodes).await;
}

/// A custom resource's status write changes only status: labels sent along are ignored. A
/// Node's status write applies them (kube's Node status strategy resets only the spec).
pub async fn custom_resource_status_writes_ignore_metadata_node_status_writes_apply_it(
    c: &impl Cluster,
) {
    let k = Case::new(c, "st-meta").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let patch =
        Patch::Merge(json!({"metadata": {"labels": {"extra": "1"}}, "status": {"observed": 1}}));
    let w = widgets
        .patch_status(&name, &PatchParams::default(), &patch)
        .await
        .expect("status patch");
    assert_eq!(w.status.and_then(|s| s.observed), Some(1));
    assert_eq!(
        w.metadata.labels.unwrap_or_default().get("extra"),
        None,
        "custom resource"
    );
    let nodes = k.nodes();
    k.create(&nodes, "n").await;
    let n = nodes
        .patch_status(&k.name("n"), &PatchParams::default(), &patch)
        .await
        .expect("node status patch");
    let extra = n.metadata.labels.unwrap_or_default().get("extra").cloned();
    if pinned(c, Gap::NodeStatusWritesKeepMetadata) {
        assert_eq!(extra, None, "the double keeps the Node's labels");
    } else {
        assert_eq!(extra.as_deref(), Some("1"), "Node");
    }
    k.clean(&widgets).await;
    k.clean(&nodes).await;
}

/// A status write asked to answer with metadata only (`as=PartialObjectMetadata`, how the
/// controller writes a NodeENI's status) writes the status and answers with the object's
/// metadata alone, at the new resourceVersion.
pub async fn status_write_answers_with_metadata_only_when_asked(c: &impl Cluster) {
    let k = Case::new(c, "st-meta").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let created = widgets
        .create(&PostParams::default(), &k.widget("w", 1))
        .await
        .expect("create");
    let patch = json!({"status": {"agent": "configured"}});
    let meta = patch_status_metadata(&k.client, &widgets, &name, &patch)
        .await
        .expect("status patch");
    let kind = meta.types.as_ref().map(|t| t.kind.as_str());
    assert_eq!(kind, Some("PartialObjectMetadata"), "metadata only");
    assert_eq!(meta.name_any(), name);
    assert_ne!(meta.resource_version(), created.resource_version());
    let now = widgets.get(&name).await.expect("get");
    assert_eq!(meta.resource_version(), now.resource_version());
    let agent = now.status.and_then(|s| s.agent);
    assert_eq!(
        agent.as_deref(),
        Some("configured"),
        "the status was written"
    );
    k.clean(&widgets).await;
}
