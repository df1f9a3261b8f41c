//! The whole controller process on the API double and the EC2 simulator: NodeENIs rolled out,
//! changed and removed, nodes coming and going.

#[path = "support/system.rs"]
mod system;

use system::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_eni_reaches_every_matching_node_attached_then_ready() {
    let s = System::new().await;
    let (sub1, sub2, sg) = (
        s.w.ec2.subnet_1.clone(),
        s.w.ec2.subnet_2.clone(),
        s.w.ec2.sg.clone(),
    );
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-x", &sub1, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    s.w.create_node_eni(
        "multus",
        serde_json::json!({"subnetIDs": [sub1, sub2], "securityGroupIDs": [sg], "deviceIndex": 1}),
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
    agent.cancel();
    ctl.stop().await;
}
