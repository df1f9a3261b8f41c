//! The NodeENI reconciler rolling a NodeENI out to its nodes, on the API double and the EC2
//! simulator: the Go controller's sample manifest applied unchanged, the ENIAttachments it makes,
//! the NodeENI's finalizer and status, a node leaving the selector, and an unchanged fleet that
//! costs no write.

#[path = "support/fleet.rs"]
mod support;

use kube::ResourceExt;
use multi_eni_api::keys::{self, condition, reason};
use multi_eni_api::naming::attachment_name;
use support::*;

/// The Go controller's `deploy/samples/01-nodeeni-case1.yaml`, byte for byte.
const SAMPLE_01: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/go-sample-01-nodeeni-case1.yaml"
);
const SAMPLE_01_NAME: &str = "multi-subnet-nodeeni";

/// `kubectl apply -f` of a manifest against the double, as a user would.
async fn kubectl_apply(w: &World, manifest: &str) {
    let dir = std::env::temp_dir().join(format!("fleet-rollout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join(format!(
        "kubeconfig-{}",
        w.server.as_ref().expect("double").addr().port()
    ));
    w.server
        .as_ref()
        .expect("double")
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig");
    let manifest = manifest.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["apply", "-f", &manifest])
            .output()
    })
    .await
    .expect("kubectl ran")
    .expect("kubectl starts");
    assert!(
        out.status.success(),
        "kubectl apply: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three labelled nodes on 4-interface instances in zone A, and the sample applied.
async fn sample_on_three_nodes() -> (World, Vec<String>) {
    let w = World::on_double().await;
    let mut instances = Vec::new();
    for n in ["node-1", "node-2", "node-3"] {
        instances.push(w.node(n, &w.ec2.subnet_1, FOUR_ENIS, true).await);
    }
    kubectl_apply(&w, SAMPLE_01).await;
    (w, instances)
}

#[tokio::test]
async fn go_sample_with_two_subnet_names_makes_six_attachments_on_three_nodes() {
    let (w, instances) = sample_on_three_nodes().await;
    let action = w.reconcile(SAMPLE_01_NAME).await;
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(w.ctx.config.resync_period)
    );

    let ne = w.node_eni(SAMPLE_01_NAME).await;
    assert!(
        ne.finalizers()
            .contains(&keys::FINALIZER_NODEENI.to_owned()),
        "{:?}",
        ne.finalizers()
    );
    let atts = w.attachments(SAMPLE_01_NAME).await;
    assert_eq!(atts.len(), 6, "{:?}", w.layout(SAMPLE_01_NAME).await);
    let (s1, s2) = (&w.ec2.subnet_1, &w.ec2.subnet_2);
    for (i, node) in ["node-1", "node-2", "node-3"].into_iter().enumerate() {
        for (subnet, index) in [(s1, 2), (s2, 3)] {
            let name = attachment_name(SAMPLE_01_NAME, node, subnet);
            let a = atts
                .iter()
                .find(|a| a.name_any() == name)
                .unwrap_or_else(|| panic!("no {name}"));
            assert_eq!(a.spec.node_name, node);
            assert_eq!(a.spec.instance_id, instances[i]);
            assert_eq!(&a.spec.subnet_id, subnet);
            assert_eq!(a.spec.device_index, index);
            assert_eq!(a.spec.security_group_ids, vec![w.ec2.sg.clone()]);
            assert_eq!(a.spec.mtu, Some(9001));
            assert!(a.spec.delete_on_termination);
            assert_eq!(
                a.spec.description.as_deref(),
                Some("NodeENI created with subnet names and security group name")
            );
            let label = |k: &str| a.labels().get(k).cloned();
            assert_eq!(label(keys::LABEL_NODEENI).as_deref(), Some(SAMPLE_01_NAME));
            assert_eq!(label(keys::LABEL_NODE).as_deref(), Some(node));
            assert_eq!(label(keys::LABEL_SUBNET).as_ref(), Some(subnet));
            assert_eq!(a.finalizers(), [keys::FINALIZER_ENI_CLEANUP.to_owned()]);
            let owner = &a.owner_references()[0];
            assert_eq!(owner.kind, "NodeENI");
            assert_eq!(owner.name, SAMPLE_01_NAME);
            assert_eq!(Some(&owner.uid), ne.metadata.uid.as_ref());
            assert_eq!(owner.controller, Some(true));
        }
    }
    assert_eq!(counts(&ne), (6, 0, 0));
    let status = ne.status.as_ref().expect("status");
    assert_eq!(status.observed_generation, ne.metadata.generation);
    assert_eq!(
        condition(&ne, condition::PROGRESSING).0,
        "True",
        "the ENIs are still to be made"
    );
    assert_eq!(condition(&ne, condition::DEGRADED).0, "False");
}

#[tokio::test]
async fn second_reconcile_of_an_unchanged_fleet_writes_nothing() {
    let (w, _) = sample_on_three_nodes().await;
    w.reconcile(SAMPLE_01_NAME).await;
    // The second pass sees the attachments the first made and records them in status.
    w.reconcile(SAMPLE_01_NAME).await;
    let ne = w.node_eni(SAMPLE_01_NAME).await;
    assert_eq!(ne.status.as_ref().expect("status").attachments.len(), 6);

    let writes = w.count_writes();
    let rv = w.resource_version();
    let action = w.reconcile(SAMPLE_01_NAME).await;
    assert_eq!(writes.total(), 0, "an unchanged fleet made API writes");
    assert_eq!(w.resource_version(), rv, "something was written");
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(w.ctx.config.resync_period)
    );
    // The counter does count: a change is one write at least.
    w.label("node-3", false).await;
    w.reconcile(SAMPLE_01_NAME).await;
    assert!(writes.total() >= 3, "label, 2 deletes: {}", writes.total());
}

#[tokio::test]
async fn node_leaving_the_selector_loses_its_attachments_and_the_rest_stay() {
    let (w, _) = sample_on_three_nodes().await;
    w.reconcile(SAMPLE_01_NAME).await;
    let before: Vec<_> = w
        .attachments(SAMPLE_01_NAME)
        .await
        .into_iter()
        .filter(|a| a.spec.node_name != "node-2")
        .map(|a| (a.name_any(), a.uid()))
        .collect();

    w.label("node-2", false).await;
    w.reconcile(SAMPLE_01_NAME).await;

    let atts = w.attachments(SAMPLE_01_NAME).await;
    // Their cleanup finalizer keeps them until the ENI is gone; they are being deleted.
    let (going, staying): (Vec<_>, Vec<_>) = atts
        .iter()
        .partition(|a| a.metadata.deletion_timestamp.is_some());
    let going: Vec<&str> = going.iter().map(|a| a.spec.node_name.as_str()).collect();
    assert_eq!(going, ["node-2", "node-2"]);
    let staying: Vec<_> = staying.iter().map(|a| (a.name_any(), a.uid())).collect();
    assert_eq!(
        staying, before,
        "the other nodes' attachments are untouched"
    );

    w.release_attachments(SAMPLE_01_NAME).await;
    w.reconcile(SAMPLE_01_NAME).await;
    let ne = w.node_eni(SAMPLE_01_NAME).await;
    assert_eq!(counts(&ne).0, 4);
    let left: Vec<_> = w
        .attachments(SAMPLE_01_NAME)
        .await
        .iter()
        .map(|a| (a.name_any(), a.uid()))
        .collect();
    assert_eq!(
        left, before,
        "node-2's went once released, nothing else did"
    );
}

#[tokio::test]
async fn a_new_labelled_node_gets_its_attachments_on_the_next_reconcile() {
    let (w, _) = sample_on_three_nodes().await;
    w.reconcile(SAMPLE_01_NAME).await;
    w.node("node-4", &w.ec2.subnet_2, FOUR_ENIS, true).await;
    w.reconcile(SAMPLE_01_NAME).await;
    let layout = w.layout(SAMPLE_01_NAME).await;
    let n4: Vec<_> = layout.iter().filter(|(n, _, _)| n == "node-4").collect();
    assert_eq!(
        n4,
        [
            &("node-4".to_owned(), w.ec2.subnet_1.clone(), 2),
            &("node-4".to_owned(), w.ec2.subnet_2.clone(), 3)
        ]
    );
    assert_eq!(layout.len(), 8);
    let ne = w.node_eni(SAMPLE_01_NAME).await;
    assert_eq!(counts(&ne).0, 8);
    assert_eq!(condition(&ne, condition::READY).1, reason::RECONCILING);
}
