//! The whole controller process at the edges: detaches EC2 never finishes, NodeENIs migrated
//! from the Go controller, nodes going away mid-creation, and a larger fleet under EC2's own
//! throttling.

#[path = "support/system.rs"]
mod system;

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use multi_eni_api::NodeEni;
use multi_eni_ec2::{BucketId, BucketSpec, CreateEni, Ec2, Op};
use multi_eni_ec2_sim::{FaultPlan, SimConfig};
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

async fn delete_node_eni(s: &System, name: &str) {
    s.w.delete_node_eni(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_detach_is_forced_and_the_index_it_leaves_busy_is_skipped_next_time() {
    let mut s = System::new().await;
    s.config.lifecycle.detach_timeout = Duration::from_secs(1);
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    let spec = json!({"subnetIDs": [e.subnet_1], "securityGroupIDs": [e.sg]});
    s.w.create_node_eni("multus", spec.clone()).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    s.sim().set_faults(
        Op::DetachNetworkInterface,
        FaultPlan {
            stuck_detach_rate: 1.0,
            ..FaultPlan::default()
        },
    );
    delete_node_eni(&s, "multus").await;
    s.converged(&[]).await;
    assert!(s.sim().stuck_detaches().is_empty(), "forced through");
    s.sim().clear_faults();
    // The same NodeENI again on the same instance: index 1 is still busy in EC2.
    s.w.create_node_eni("multus", spec).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let att = &s.w.attachments("multus").await[0];
    let used = att.status.as_ref().and_then(|st| st.device_index);
    assert_eq!(used, Some(2));
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_eni_migrated_from_the_go_controller_is_taken_over_and_deletable() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    // What the Go controller left: its finalizer, its status, and an ENI without our tags.
    let go_eni = s
        .sim()
        .create_network_interface(&CreateEni {
            subnet_id: e.subnet_1.clone(),
            security_group_ids: vec![e.sg.clone()],
            description: Some("created by the Go controller".into()),
            tags: [(
                "node.k8s.amazonaws.com/no_manage".to_owned(),
                "true".to_owned(),
            )]
            .into(),
            client_token: None,
        })
        .await
        .expect("create");
    let api: Api<DynamicObject> =
        Api::all_with(s.w.client.clone(), &ApiResource::erase::<NodeEni>(&()));
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
        "metadata": {"name": "multus", "finalizers": ["nodeeni.networking.k8s.aws/finalizer"]},
        "spec": {"nodeSelector": {"ng": "multi-eni"}, "subnetID": e.subnet_1,
                 "securityGroupIDs": [e.sg], "deviceIndex": 2},
    }))
    .expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.converged(&[Want::ready("multus", 1)]).await;
    delete_node_eni(&s, "multus").await;
    s.converged(&[]).await;
    assert!(
        s.sim().network_interface(&go_eni.id).is_some(),
        "an ENI without our tags is never touched"
    );
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_deleted_while_its_enis_are_being_created() {
    let s = System::new().await;
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-b", &e.subnet_1, FOUR_ENIS, true).await;
    let gate = Gate::new(s.sim().clone());
    gate.hang_after(Op::CreateNetworkInterface);
    // The first process hangs in its creates and is killed; node-b goes meanwhile.
    let first = s.start_with(None, gate.clone());
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2], "securityGroupIDs": [e.sg]}),
    )
    .await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("creating");
    first.kill().await;
    s.w.delete_node("node-b").await;
    let second = s.start(None);
    s.converged(&[Want::ready("multus", 2)]).await;
    agent.cancel();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_twelve_nodes_and_two_node_enis_under_ec2_throttling() {
    let mut config = SimConfig::default().with_time_scale(20.0).with_seed(21);
    // A small account: the mutating buckets run dry during the rollout.
    for op in [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::ModifyNetworkInterfaceAttribute,
        Op::DetachNetworkInterface,
        Op::DeleteNetworkInterface,
    ] {
        config
            .bucket_overrides
            .insert(BucketId::Api(op), BucketSpec::new(2.0, 0.5));
    }
    config.consistency_jitter = Duration::from_secs(1);
    let s = System::with_sim(config).await;
    let e = &s.w.ec2;
    for n in 0..12 {
        let subnet = if n % 3 == 0 { &e.subnet_b } else { &e.subnet_1 };
        s.w.node(&format!("node-{n:02}"), subnet, FOUR_ENIS, true)
            .await;
    }
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "data",
        json!({"subnetIDs": [e.subnet_1, e.subnet_b], "securityGroupIDs": [e.sg], "deviceIndex": 1}),
    )
    .await;
    s.w.create_node_eni(
        "storage",
        json!({"subnetIDs": [e.subnet_2], "securityGroupIDs": [e.sg], "deviceIndex": 2}),
    )
    .await;
    // data: one ENI per node; storage: zone-A nodes only (8), Degraded for the zone-B ones.
    s.converged(&[
        Want::ready("data", 12),
        Want::ready("storage", 8).degraded(multi_eni_api::keys::reason::AZ_MISMATCH),
    ])
    .await;
    let throttled: u64 = s.sim().all_stats().values().map(|c| c.throttled).sum();
    assert!(throttled > 0, "EC2 throttled the rollout");
    delete_node_eni(&s, "data").await;
    delete_node_eni(&s, "storage").await;
    s.converged(&[]).await;
    wait_until(WAIT, "no ENI left", || async {
        let n = s.ours().len();
        if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} ENIs"))
        }
    })
    .await;
    agent.cancel();
    ctl.stop().await;
}
