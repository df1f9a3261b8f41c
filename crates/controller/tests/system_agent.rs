//! The whole controller process and the node agent's part of the ENIAttachment status: detach
//! waits for the agent's `released`, at most the release timeout, and not at all when the agent
//! never wrote anything. And the Go controller's sample manifests, applied unchanged.

#[path = "support/system.rs"]
mod system;

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use multi_eni_api::{NodeEni, Phase};
use multi_eni_ec2::Op;
use multi_eni_testkit::wait_until;
use serde::Deserialize;
use serde_json::json;
use system::*;

async fn one_node_two_subnets(s: &System) {
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2], "securityGroupIDs": [e.sg]}),
    )
    .await;
}

async fn delete_node_eni(s: &System) {
    s.w.delete_node_eni("multus").await;
}

/// Waits until every attachment is being deleted and waits for its agent (Detaching, no
/// detach issued).
async fn waiting_for_the_agent(s: &System) {
    wait_until(WAIT, "removal waiting for the agent", || async {
        let atts = s.w.attachments("multus").await;
        let waiting = atts
            .iter()
            .all(|a| a.metadata.deletion_timestamp.is_some() && a.phase() == Phase::Detaching);
        if waiting && atts.len() == 2 {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                atts.iter().map(|a| a.phase()).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    assert_eq!(
        s.sim().calls(Op::DetachNetworkInterface),
        0,
        "nothing detached yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_reported_is_not_waited_for() {
    let mut s = System::new().await;
    // Far beyond the test's patience: removal must not wait for it.
    s.config.lifecycle.release_timeout = Duration::from_secs(600);
    let ctl = s.start(None);
    one_node_two_subnets(&s).await;
    s.converged(&[Want::attached("multus", 2)]).await;
    delete_node_eni(&s).await;
    s.converged(&[]).await;
    assert_eq!(s.sim().calls(Op::DetachNetworkInterface), 2);
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_reported_but_never_releases_is_waited_for_the_release_timeout() {
    let mut s = System::new().await;
    s.config.lifecycle.release_timeout = Duration::from_secs(3);
    let ctl = s.start(None);
    let agent = s.agent(false);
    one_node_two_subnets(&s).await;
    s.converged(&[Want::ready("multus", 2)]).await;
    delete_node_eni(&s).await;
    waiting_for_the_agent(&s).await;
    s.converged(&[]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_reports_then_releases_lets_the_detach_go_at_once() {
    let mut s = System::new().await;
    s.config.lifecycle.release_timeout = Duration::from_secs(600);
    let ctl = s.start(None);
    one_node_two_subnets(&s).await;
    s.converged(&[Want::attached("multus", 2)]).await;
    for a in s.w.attachments("multus").await {
        s.agent_reports(&a.name_any()).await;
    }
    s.converged(&[Want::ready("multus", 2)]).await;
    delete_node_eni(&s).await;
    waiting_for_the_agent(&s).await;
    for a in s.w.attachments("multus").await {
        s.agent_releases(&a.name_any()).await;
    }
    s.converged(&[]).await;
    ctl.stop().await;
}

/// The NodeENI documents of a Go sample manifest, as written.
fn node_eni_documents(file: &str) -> Vec<serde_json::Value> {
    let path = format!("/work/shared/anchor-samples/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| v["kind"] == "NodeENI")
        .collect()
}

/// Applies a sample's NodeENIs unchanged to a world with the sample's fixed IDs and names, and
/// waits until they converge with the agent reporting.
async fn sample_converges(file: &str, want: &[(&str, i32)]) {
    let s = System::new().await;
    let vpc = s.w.ec2.vpc.clone();
    s.sim()
        .add_subnet_as(
            Some("subnet-08c2ddc07218f1105"),
            &vpc,
            AZ_A,
            "10.0.8.0/24",
            Default::default(),
        )
        .expect("the sample's subnet");
    s.sim()
        .add_security_group_as(Some("sg-0e4680d35b5053f29"), &vpc, "sample-sg")
        .expect("the sample's group");
    s.sim()
        .add_subnet_as(
            Some("subnet-12345678"),
            &vpc,
            AZ_A,
            "10.0.12.0/24",
            Default::default(),
        )
        .expect("the DPDK sample's subnet");
    s.sim()
        .add_security_group_as(Some("sg-12345678"), &vpc, "dpdk-sample-sg")
        .expect("the DPDK sample's group");
    let (sub1, sub_b) = (s.w.ec2.subnet_1.clone(), s.w.ec2.subnet_b.clone());
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-b", &sub1, FOUR_ENIS, true).await;
    s.w.node("node-z", &sub_b, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    let api: Api<DynamicObject> =
        Api::all_with(s.w.client.clone(), &ApiResource::erase::<NodeEni>(&()));
    let docs = node_eni_documents(file);
    assert_eq!(docs.len(), want.len(), "{file}");
    for doc in docs {
        let obj: DynamicObject = serde_json::from_value(doc).expect("a Kubernetes object");
        api.create(&PostParams::default(), &obj)
            .await
            .expect("the sample is accepted as written");
    }
    let wants: Vec<Want> = want.iter().map(|(n, d)| Want::ready(n, *d)).collect();
    s.converged(&wants).await;
    for (name, _) in want {
        let layout = s.w.layout(name).await;
        let nodes: Vec<&str> = layout.iter().map(|l| l.0.as_str()).collect();
        assert!(nodes.iter().all(|n| *n != "node-z"), "{nodes:?}");
    }
    for name in want.iter().map(|w| w.0) {
        s.w.delete_node_eni(name).await;
    }
    s.converged(&[]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_01_subnet_and_group_names_converges() {
    sample_converges("01-nodeeni-case1.yaml", &[("multi-subnet-nodeeni", 4)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_02_sriov_without_dpdk_converges() {
    sample_converges(
        "02-nodeeni-case2.yaml",
        &[("test-sriov-nondpdk-1", 2), ("test-sriov-nondpdk-2", 2)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_03_sriov_with_dpdk_converges() {
    sample_converges(
        "03-nodeeni-case3.yaml",
        &[
            ("test-sriov-integration-1", 2),
            ("test-sriov-integration-2", 2),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_with_dpdk_converges() {
    sample_converges("nodeeni-with-dpdk.yaml", &[("multus-eni-with-dpdk", 2)]).await;
}
