//! The harness itself: a control plane starts, serves our CRDs and Nodes, enforces RBAC, and
//! leaves nothing behind when dropped.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, PostParams};
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_kube_env::{KubeEnv, apply_crds, create_node};

#[tokio::test]
async fn serves_nodes_and_our_crds_with_rbac_on() {
    let env = KubeEnv::shared();
    let client = env.client().await;

    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "37")
    );

    let node = create_node(
        &client,
        "kube-env-node-a",
        &[("ng", "multi-eni")],
        Some("aws:///us-east-1a/i-0123456789abcdef0"),
    )
    .await
    .expect("create a Node");
    assert_eq!(
        node.spec.and_then(|s| s.provider_id).as_deref(),
        Some("aws:///us-east-1a/i-0123456789abcdef0")
    );

    apply_crds(&client, &multi_eni_api::crds::all())
        .await
        .expect("our CRDs apply and become Established");
    let nenis: Api<NodeEni> = Api::all(client.clone());
    nenis
        .list(&Default::default())
        .await
        .expect("NodeENIs are served");
    let attachments: Api<EniAttachment> = Api::all(client.clone());
    attachments
        .list(&Default::default())
        .await
        .expect("ENIAttachments are served");

    // RBAC is on: an unknown user may not list Nodes, the admin may.
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let review = |user: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some("list".into()),
                resource: Some("nodes".into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let stranger = reviews
        .create(&PostParams::default(), &review("stranger"))
        .await
        .expect("SubjectAccessReview");
    assert!(!stranger.status.expect("status").allowed);

    Api::<Node>::all(client)
        .delete("kube-env-node-a", &DeleteParams::default())
        .await
        .expect("delete the Node");
}

#[test]
fn an_own_control_plane_stops_and_cleans_up_when_dropped() {
    let env = KubeEnv::start().expect("a control plane of its own starts");
    let dir = env.dir().to_path_buf();
    assert!(dir.join("kube-apiserver.log").exists());
    drop(env);
    assert!(!dir.exists(), "the directory is removed on drop");
}
