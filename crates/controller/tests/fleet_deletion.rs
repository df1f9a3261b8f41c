//! A NodeENI's way out: its ENIAttachments are deleted first, and only once they are gone (their
//! own reconciler drops their finalizers; here the test does) are our finalizer and the Go
//! controller's legacy one removed — and nobody else's.

#[path = "support/fleet.rs"]
mod support;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use multi_eni_api::keys::{FINALIZER_NODEENI, LEGACY_FINALIZER_NODEENI};
use serde_json::json;
use support::*;

const NE: &str = "migrated";
const THEIRS: &str = "example.com/keep";

#[tokio::test]
async fn deleted_node_eni_goes_after_its_attachments_dropping_the_legacy_finalizer() {
    let w = World::on_double().await;
    w.node("n1", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    w.node("n2", &w.ec2.subnet_2, FOUR_ENIS, true).await;
    w.create_node_eni(
        NE,
        json!({"subnetNames": [SUBNET_1, SUBNET_2], "securityGroupNames": [SG], "deviceIndex": 2}),
    )
    .await;
    // As the Go controller left it, plus someone else's finalizer.
    let patch = json!({"metadata": {"finalizers": [LEGACY_FINALIZER_NODEENI, THEIRS]}});
    w.node_enis()
        .patch(NE, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("finalizers");
    w.reconcile(NE).await;
    assert_eq!(w.attachments(NE).await.len(), 4);
    let finalizers = w.node_eni(NE).await.finalizers().to_vec();
    assert_eq!(
        finalizers,
        [LEGACY_FINALIZER_NODEENI, THEIRS, FINALIZER_NODEENI]
    );

    w.delete_node_eni(NE).await;
    let action = w.reconcile(NE).await;
    assert_ne!(action, Action::await_change(), "it must look again");
    let atts = w.attachments(NE).await;
    assert_eq!(atts.len(), 4, "their cleanup finalizer holds them");
    assert!(
        atts.iter().all(|a| a.metadata.deletion_timestamp.is_some()),
        "every attachment is being deleted"
    );
    assert_eq!(w.node_eni(NE).await.finalizers().len(), 3, "still held");

    // While they go: nothing to write.
    let writes = w.count_writes();
    w.reconcile(NE).await;
    assert_eq!(writes.total(), 0);
    assert_eq!(w.node_eni(NE).await.finalizers().len(), 3);

    w.release_attachments(NE).await;
    let action = w.reconcile(NE).await;
    assert_eq!(action, Action::await_change());
    assert!(w.attachments(NE).await.is_empty());
    let left = w.node_eni(NE).await;
    assert_eq!(
        left.finalizers(),
        [THEIRS],
        "ours and the legacy one removed"
    );

    // Someone else's finalizer is theirs to remove; then it is gone.
    let patch = json!({"metadata": {"finalizers": null}});
    w.node_enis()
        .patch(NE, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("drop theirs");
    assert!(w.node_enis().get_opt(NE).await.expect("get").is_none());
}

#[tokio::test]
async fn deleted_node_eni_without_attachments_loses_its_finalizers_at_once() {
    let w = World::on_double().await;
    w.create_node_eni(
        NE,
        json!({"subnetIDs": [w.ec2.subnet_1], "securityGroupIDs": [w.ec2.sg]}),
    )
    .await;
    w.reconcile(NE).await;
    assert_eq!(w.node_eni(NE).await.finalizers(), [FINALIZER_NODEENI]);
    let status = w.node_eni(NE).await.status.expect("status");
    assert_eq!(status.desired_count, 0);

    w.delete_node_eni(NE).await;
    assert!(w.node_enis().get_opt(NE).await.expect("get").is_some());
    w.reconcile(NE).await;
    assert!(
        w.node_enis().get_opt(NE).await.expect("get").is_none(),
        "gone once our finalizer is"
    );
}
