//! The whole controller process on the API double and the EC2 simulator: NodeENIs rolled out,
//! changed and removed, nodes coming and going. Every scenario ends with the shared invariant
//! checker ([`System::converged`]).

#[path = "support/system.rs"]
mod system;

use multi_eni_api::keys::reason;
use multi_eni_ec2::Op;
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

/// subnet_1, subnet_2 and the security group of the world.
fn ids(s: &System) -> (String, String, String) {
    let e = &s.w.ec2;
    (e.subnet_1.clone(), e.subnet_2.clone(), e.sg.clone())
}

/// The ENI IDs of a NodeENI's attachments, sorted.
async fn eni_ids(s: &System, ne: &str) -> Vec<String> {
    let mut v: Vec<String> =
        s.w.attachments(ne)
            .await
            .into_iter()
            .filter_map(|a| a.status.and_then(|st| st.eni_id))
            .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_eni_reaches_every_matching_node_attached_then_ready() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-x", &sub1, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1, sub2], "securityGroupIDs": [sg], "deviceIndex": 1}),
    )
    .await;
    s.converged(&[Want::attached("multus", 4)]).await;
    assert_eq!(
        s.w.layout("multus").await,
        vec![
            ("node-a".into(), sub1.clone(), 1),
            ("node-a".into(), sub2.clone(), 2),
            ("node-b".into(), sub1.clone(), 1),
            ("node-b".into(), sub2.clone(), 2),
        ]
    );
    let agent = s.agent(true);
    s.converged(&[Want::ready("multus", 4)]).await;
    assert_eq!(
        s.sim().calls(Op::CreateNetworkInterface),
        4,
        "no extra creates"
    );
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gaining_and_losing_the_label_gains_and_loses_its_enis() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    s.w.label("node-b", true).await;
    s.converged(&[Want::ready("multus", 2)]).await;
    s.w.label("node-a", false).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let layout = s.w.layout("multus").await;
    assert_eq!(layout, vec![("node-b".into(), sub1.clone(), 1)]);
    assert_eq!(s.ours().len(), 1, "node-a's ENI is deleted");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_node_loses_its_enis() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 2)]).await;
    s.w.delete_node("node-b").await;
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(s.ours().len(), 1);
    agent.cancel();
    ctl.stop().await;
}

async fn instance_terminates(delete_on_termination: bool) {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let doomed = s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg],
               "deleteOnTermination": delete_on_termination}),
    )
    .await;
    s.converged(&[Want::ready("multus", 2)]).await;
    s.sim().terminate_instance(&doomed).expect("terminate");
    // The Node object stays (as before the node lifecycle controller removes it): the
    // terminated instance gets nothing, and its ENI is gone either way.
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(s.ours().len(), 1);
    assert_eq!(s.sim().calls(Op::CreateNetworkInterface), 2, "no re-create");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_instance_with_delete_on_termination_leaves_nothing() {
    instance_terminates(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_instance_without_delete_on_termination_leaves_nothing() {
    instance_terminates(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_added_and_removed_in_the_spec() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1], "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let first = eni_ids(&s, "multus").await;
    s.w.patch_spec("multus", json!({"subnetIDs": [sub1, sub2]}))
        .await;
    s.converged(&[Want::ready("multus", 2)]).await;
    assert_eq!(
        s.w.layout("multus").await,
        vec![
            ("node-a".into(), sub1.clone(), 1),
            ("node-a".into(), sub2.clone(), 2)
        ]
    );
    assert!(
        eni_ids(&s, "multus").await.contains(&first[0]),
        "the first ENI is kept"
    );
    s.w.patch_spec("multus", json!({"subnetIDs": [sub2]})).await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let layout = s.w.layout("multus").await;
    assert_eq!(layout.len(), 1);
    assert_eq!(layout[0].1, sub2);
    assert_eq!(s.ours().len(), 1);
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_and_description_change_in_place() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    let sg2 = s
        .sim()
        .add_security_group(&s.w.ec2.vpc, "second-sg")
        .expect("security group");
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg], "description": "first"}),
    )
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let before = eni_ids(&s, "multus").await;
    s.w.patch_spec(
        "multus",
        json!({"securityGroupIDs": [sg2], "description": "second"}),
    )
    .await;
    wait_until(WAIT, "the ENI modified in place", || async {
        let enis = s.ours();
        match enis.as_slice() {
            [e] if e.security_group_ids == vec![sg2.clone()] && e.description == "second" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    assert_eq!(eni_ids(&s, "multus").await, before, "the same ENI");
    assert_eq!(s.sim().calls(Op::CreateNetworkInterface), 1);
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_index_held_by_a_foreign_interface_takes_the_next_free_one() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    let instance = s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.sim()
        .add_foreign_interface(&instance, 1)
        .expect("foreign interface");
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let att = &s.w.attachments("multus").await[0];
    let used = att.status.as_ref().and_then(|st| st.device_index);
    assert_eq!((att.spec.device_index, used), (1, Some(2)));
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_two_zones_with_subnets_in_one() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    let subnet_b = s.w.ec2.subnet_b.clone();
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &subnet_b, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1, sub2], "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 2).degraded(reason::AZ_MISMATCH)])
        .await;
    let nodes: Vec<String> =
        s.w.layout("multus")
            .await
            .into_iter()
            .map(|l| l.0)
            .collect();
    assert_eq!(nodes, vec!["node-a", "node-a"]);
    let ne = s.w.node_eni("multus").await;
    let (_, _, msg) = condition(&ne, "Degraded");
    assert!(msg.contains("node-b"), "{msg}");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_enis_than_the_instance_type_allows_is_degraded_without_churn() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    s.w.node("node-a", &sub1, THREE_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    // Device indexes 2 and 3 on a type with interfaces 0-2.
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1, sub2], "securityGroupIDs": [sg], "deviceIndex": 2}),
    )
    .await;
    s.converged(&[Want::ready("multus", 0).degraded(reason::LIMIT_EXCEEDED)])
        .await;
    let ne = s.w.node_eni("multus").await;
    let (_, _, msg) = condition(&ne, "Degraded");
    assert!(
        msg.contains("m5.large") && msg.contains("at most 3"),
        "{msg}"
    );
    // Several resync passes later: still nothing created, nothing deleted.
    resync_passes(&s, 4).await;
    s.converged(&[Want::ready("multus", 0).degraded(reason::LIMIT_EXCEEDED)])
        .await;
    let mutating: u64 = [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::DeleteNetworkInterface,
    ]
    .iter()
    .map(|op| s.sim().calls(*op))
    .sum();
    assert_eq!(mutating, 0, "no churn");
    assert!(s.w.attachments("multus").await.is_empty());
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_past_the_instance_type_limit_keeps_what_exists_without_churn() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    let sub3 = s
        .sim()
        .add_subnet(&s.w.ec2.vpc, AZ_A, "10.0.7.0/24", Some("third"))
        .expect("subnet");
    s.w.node("node-a", &sub1, THREE_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1], "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 1)]).await;
    let before = eni_ids(&s, "multus").await;
    // Indexes 1-3 on a type with interfaces 0-2: the node keeps its one ENI, gets nothing more.
    s.w.patch_spec("multus", json!({"subnetIDs": [sub1, sub2, sub3]}))
        .await;
    s.converged(&[Want::ready("multus", 1).degraded(reason::LIMIT_EXCEEDED)])
        .await;
    resync_passes(&s, 4).await;
    s.converged(&[Want::ready("multus", 1).degraded(reason::LIMIT_EXCEEDED)])
        .await;
    assert_eq!(eni_ids(&s, "multus").await, before);
    assert_eq!(s.sim().calls(Op::CreateNetworkInterface), 1, "no churn");
    assert_eq!(s.sim().calls(Op::DeleteNetworkInterface), 0, "no churn");
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_matching_nothing_or_two_things_name_the_candidates() {
    let s = System::new().await;
    let (sub1, _, _) = ids(&s);
    // A second subnet called like subnet 1, a second group called like the first.
    let twin = s
        .sim()
        .add_subnet(&s.w.ec2.vpc, AZ_A, "10.0.9.0/24", Some(SUBNET_1))
        .expect("twin subnet");
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    s.w.create_node_eni(
        "ambiguous",
        json!({"subnetName": SUBNET_1, "securityGroupNames": [SG]}),
    )
    .await;
    s.w.create_node_eni(
        "missing",
        json!({"subnetName": "no-such-subnet", "securityGroupNames": [SG]}),
    )
    .await;
    s.w.create_node_eni(
        "no-group",
        json!({"subnetID": sub1, "securityGroupNames": ["no-such-group"]}),
    )
    .await;
    s.converged(&[
        Want::attached("ambiguous", 0).degraded(reason::SUBNET_AMBIGUOUS),
        Want::attached("missing", 0).degraded(reason::SUBNET_NOT_FOUND),
        Want::attached("no-group", 0).degraded(reason::SECURITY_GROUP_NOT_FOUND),
    ])
    .await;
    let (_, _, msg) = condition(&s.w.node_eni("no-group").await, "Degraded");
    assert!(msg.contains("no-such-group"), "{msg}");
    let (_, _, msg) = condition(&s.w.node_eni("ambiguous").await, "Degraded");
    assert!(msg.contains(&sub1) && msg.contains(&twin), "{msg}");
    let (_, _, msg) = condition(&s.w.node_eni("missing").await, "Degraded");
    assert!(msg.contains("no-such-subnet"), "{msg}");
    assert_eq!(s.sim().calls(Op::CreateNetworkInterface), 0);
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_group_name_matching_two_groups_is_degraded() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    let twin = s
        .sim()
        .add_security_group(&s.w.ec2.vpc, SG)
        .expect("twin group");
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupNames": [SG]}),
    )
    .await;
    s.converged(&[Want::attached("multus", 0).degraded(reason::SECURITY_GROUP_AMBIGUOUS)])
        .await;
    let (_, _, msg) = condition(&s.w.node_eni("multus").await, "Degraded");
    assert!(msg.contains(&sg) && msg.contains(&twin), "{msg}");
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_node_eni_cleans_everything() {
    let s = System::new().await;
    let (sub1, sub2, sg) = ids(&s);
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [sub1, sub2], "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 4)]).await;
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    assert!(s.ours().is_empty());
    assert_eq!(s.sim().calls(Op::DeleteNetworkInterface), 4);
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_wrong_counts_leaks_and_duplicates() {
    let s = System::new().await;
    let (sub1, _, sg) = ids(&s);
    let instance = s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    s.w.create_node_eni(
        "multus",
        json!({"subnetID": sub1, "securityGroupIDs": [sg]}),
    )
    .await;
    s.converged(&[Want::attached("multus", 1)]).await;
    ctl.stop().await;
    let err = |r: Result<(), String>| r.expect_err("the checker objects");
    assert!(err(s.check(&[Want::ready("multus", 1)]).await).contains("counts"));
    assert!(err(s.check(&[Want::attached("multus", 2)]).await).contains("counts"));
    assert!(err(s.check(&[]).await).contains("NodeENIs"));
    let degraded = Want::attached("multus", 1).degraded(reason::LIMIT_EXCEEDED);
    assert!(err(s.check(&[degraded]).await).contains("Degraded"));
    // A second ENI for the same (NodeENI, node, subnet), as a duplicate create would leave.
    let att = &s.w.attachments("multus").await[0];
    let uid = att.metadata.uid.clone().expect("uid");
    let tags = multi_eni_api::keys::eni_tags(CLUSTER, "multus", &uid, "node-a", &instance);
    let create = multi_eni_ec2::CreateEni {
        subnet_id: sub1.clone(),
        security_group_ids: vec![sg.clone()],
        description: None,
        tags,
        client_token: None,
    };
    use multi_eni_ec2::Ec2;
    let dup = s
        .sim()
        .create_network_interface(&create)
        .await
        .expect("create");
    assert!(err(s.check(&[Want::attached("multus", 1)]).await).contains("several ENIs"));
    s.sim()
        .delete_network_interface(&dup.id)
        .await
        .expect("delete");
    // An ENI whose attachment is gone.
    let mut leak = create.clone();
    leak.tags = multi_eni_api::keys::eni_tags(CLUSTER, "multus", "gone", "node-a", &instance);
    s.sim()
        .create_network_interface(&leak)
        .await
        .expect("create");
    assert!(err(s.check(&[Want::attached("multus", 1)]).await).contains("leaked"));
}
