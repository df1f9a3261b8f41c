//! The NodeENI reconciler's main flow against the real kube-apiserver (etcd + kube-apiserver,
//! no controllers): the writes the double accepts, the real one accepts too — owner references,
//! guarded merge patches of finalizers and status, UID-preconditioned deletes, Events.

#[path = "support/fleet.rs"]
mod support;

use std::collections::BTreeMap;

use kube::ResourceExt;
use multi_eni_api::keys::{self, condition};
use multi_eni_kube_env::KubeEnv;
use serde_json::json;
use support::*;

const NE: &str = "fleet-real";
const NODES: [&str; 3] = ["fleet-real-1", "fleet-real-2", "fleet-real-3"];

/// name → resourceVersion of the NodeENI and its attachments.
async fn versions(w: &World) -> BTreeMap<String, String> {
    let ne = w.node_eni(NE).await;
    w.attachments(NE)
        .await
        .iter()
        .map(|a| (a.name_any(), a.resource_version().unwrap_or_default()))
        .chain([(ne.name_any(), ne.resource_version().unwrap_or_default())])
        .collect()
}

#[tokio::test]
async fn rollout_steady_state_and_deletion_on_the_real_apiserver() {
    let env = KubeEnv::shared();
    let w = World::on(env.client().await).await;
    for n in NODES {
        w.node(n, &w.ec2.subnet_1, FOUR_ENIS, true).await;
    }
    w.create_node_eni(
        NE,
        json!({"subnetNames": [SUBNET_1, SUBNET_2], "securityGroupNames": [SG], "deviceIndex": 2}),
    )
    .await;

    w.reconcile(NE).await;
    w.reconcile(NE).await;
    let atts = w.attachments(NE).await;
    assert_eq!(atts.len(), 6, "{:?}", w.layout(NE).await);
    let ne = w.node_eni(NE).await;
    for a in &atts {
        assert_eq!(a.owner_references()[0].uid, ne.uid().expect("uid"));
        assert_eq!(a.finalizers(), [keys::FINALIZER_ENI_CLEANUP.to_owned()]);
        let index = if a.spec.subnet_id == w.ec2.subnet_1 {
            2
        } else {
            3
        };
        assert_eq!(a.spec.device_index, index);
    }
    assert_eq!(ne.finalizers(), [keys::FINALIZER_NODEENI.to_owned()]);
    assert_eq!(counts(&ne), (6, 0, 0));
    assert_eq!(condition(&ne, condition::PROGRESSING).0, "True");
    assert_eq!(
        ne.status.as_ref().expect("status").observed_generation,
        ne.metadata.generation
    );

    // Unchanged: nothing written (no object's resourceVersion moves, no Event appears).
    let before = versions(&w).await;
    let events = w.events(NE).await.len();
    w.reconcile(NE).await;
    assert_eq!(versions(&w).await, before);
    assert_eq!(w.events(NE).await.len(), events);

    // Deletion: attachments first, then the NodeENI (nothing here garbage-collects).
    w.delete_node_eni(NE).await;
    w.reconcile(NE).await;
    let atts = w.attachments(NE).await;
    assert!(atts.iter().all(|a| a.metadata.deletion_timestamp.is_some()));
    w.release_attachments(NE).await;
    w.reconcile(NE).await;
    assert!(w.attachments(NE).await.is_empty());
    assert!(w.node_enis().get_opt(NE).await.expect("get").is_none());
    for n in NODES {
        w.delete_node(n).await;
    }
}
