//! The whole controller process when EC2 misbehaves: missing IAM permissions, lost responses,
//! throttling storms, and the garbage collector among live ENIs and real orphans.

#[path = "support/system.rs"]
mod system;

use multi_eni_api::keys::{eni_tags, reason};
use multi_eni_ec2::{AttachEni, CreateEni, Ec2, Op};
use multi_eni_ec2_sim::FaultPlan;
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

/// A NodeENI putting ENIs of both named subnets on every labelled node.
async fn two_subnets(s: &System, name: &str) {
    let e = &s.w.ec2;
    s.w.create_node_eni(
        name,
        json!({"subnetIDs": [e.subnet_1, e.subnet_2], "securityGroupIDs": [e.sg]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_to_list_enis_the_process_refuses_to_start() {
    let s = System::new().await;
    s.sim().set_faults(
        Op::DescribeNetworkInterfaces,
        FaultPlan::errors(1.0, "UnauthorizedOperation"),
    );
    let mut ctl = s.start(None);
    let err = ctl.outcome().await.expect_err("the preflight refuses");
    assert!(err.contains("UnauthorizedOperation"), "{err}");
    assert!(err.contains("IAM"), "says what to fix: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_create_permission_is_degraded_until_granted() {
    let s = System::new().await;
    let sub1 = s.w.ec2.subnet_1.clone();
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.sim().set_faults(
        Op::CreateNetworkInterface,
        FaultPlan::errors(1.0, "UnauthorizedOperation"),
    );
    let ctl = s.start(None);
    let agent = s.agent(true);
    two_subnets(&s, "multus").await;
    wait_until(WAIT, "Degraded for the missing permission", || async {
        let ne = s.w.node_eni("multus").await;
        let degraded = ne
            .status
            .as_ref()
            .and_then(|st| multi_eni_api::conditions::find(&st.conditions, "Degraded"))
            .map(|c| (c.status.clone(), c.reason.clone()));
        match degraded {
            Some((st, why)) if st == "True" && why == reason::MISSING_IAM_PERMISSIONS => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(s.ours().is_empty());
    // The permission is granted: the retries (capped for the test) get through.
    s.sim().clear_faults();
    s.converged(&[Want::ready("multus", 2)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_response_gives_the_same_eni_not_a_second_one() {
    let s = System::new().await;
    let sub1 = s.w.ec2.subnet_1.clone();
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    s.sim().lose_next_responses(Op::CreateNetworkInterface, 2);
    let ctl = s.start(None);
    let agent = s.agent(true);
    two_subnets(&s, "multus").await;
    s.converged(&[Want::ready("multus", 2)]).await;
    assert_eq!(s.ours().len(), 2);
    let creates = s.sim().stats(Op::CreateNetworkInterface);
    assert_eq!(creates.lost_responses, 2, "both first answers were lost");
    // Each lost ENI was adopted (by its tag) or found again by its ClientToken: no new attempt.
    for a in s.w.attachments("multus").await {
        let attempt = a.status.and_then(|st| st.create_attempt);
        assert_eq!(attempt, Some(1), "{}", a.metadata.name.unwrap_or_default());
    }
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_converges_without_duplicates_and_cleans_up() {
    let s = System::new().await;
    let (sub1, sub_b) = (s.w.ec2.subnet_1.clone(), s.w.ec2.subnet_b.clone());
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &sub1, FOUR_ENIS, true).await;
    }
    s.w.node("node-b", &sub_b, FOUR_ENIS, true).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    for op in Op::ALL {
        s.sim()
            .set_faults(op, FaultPlan::errors(0.4, "RequestLimitExceeded"));
    }
    let e = &s.w.ec2;
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2, e.subnet_b], "securityGroupIDs": [e.sg]}),
    )
    .await;
    // 3 nodes × 2 subnets in zone A, 1 node × 1 subnet in zone B.
    s.converged(&[Want::ready("multus", 7)]).await;
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    assert!(s.ours().is_empty());
    agent.cancel();
    ctl.stop().await;
}

/// Creates an ENI tagged for this cluster and attachment `uid` in subnet 1, attached at
/// `attach_at` of `instance` when given.
async fn hand_made_eni(
    s: &System,
    cluster: &str,
    uid: &str,
    attach: Option<(&str, i32)>,
) -> String {
    let tags = eni_tags(cluster, "multus", uid, "node-a", "i-unknown");
    let eni = s
        .sim()
        .create_network_interface(&CreateEni {
            subnet_id: s.w.ec2.subnet_1.clone(),
            security_group_ids: vec![s.w.ec2.sg.clone()],
            description: Some("left over".into()),
            tags,
            client_token: None,
        })
        .await
        .expect("create");
    if let Some((instance, index)) = attach {
        s.sim()
            .attach_network_interface(&AttachEni {
                network_interface_id: eni.id.clone(),
                instance_id: instance.into(),
                device_index: index,
                network_card_index: None,
            })
            .await
            .expect("attach");
    }
    eni.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_real_orphans_and_leaves_live_and_foreign_enis_alone() {
    let s = System::new().await;
    let sub1 = s.w.ec2.subnet_1.clone();
    let instance = s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    let loose = hand_made_eni(&s, CLUSTER, "uid-of-a-deleted-attachment", None).await;
    let attached = hand_made_eni(&s, CLUSTER, "uid-of-another", Some((&instance, 3))).await;
    let other_cluster = hand_made_eni(&s, "another-cluster", "uid-x", None).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    two_subnets(&s, "multus").await;
    s.converged(&[Want::ready("multus", 2)]).await;
    wait_until(WAIT, "the orphans to be collected", || async {
        let left: Vec<_> = [&loose, &attached]
            .into_iter()
            .filter(|id| s.sim().network_interface(id).is_some())
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?} still exist"))
        }
    })
    .await;
    assert!(
        s.sim().network_interface(&other_cluster).is_some(),
        "another cluster's ENI is never touched"
    );
    // The controller's own ENIs, created while the GC ran, are all there.
    s.converged(&[Want::ready("multus", 2)]).await;
    assert_eq!(
        s.sim().calls(Op::DeleteNetworkInterface),
        2,
        "only the orphans"
    );
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_leaves_an_eni_whose_owner_it_has_not_seen_yet_alone_for_the_cooldown() {
    let mut s = System::new().await;
    s.config.gc_cooldown = std::time::Duration::from_secs(600);
    let sub1 = s.w.ec2.subnet_1.clone();
    s.w.node("node-a", &sub1, FOUR_ENIS, true).await;
    // What a create looks like when it finished before the watch brought its ENIAttachment.
    let fresh = hand_made_eni(&s, CLUSTER, "uid-not-in-the-cache-yet", None).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    two_subnets(&s, "multus").await;
    resync_passes(&s, 5).await;
    assert!(s.sim().network_interface(&fresh).is_some(), "left alone");
    assert_eq!(s.sim().calls(Op::DeleteNetworkInterface), 0);
    // Gone once the owner is gone for good: the process restarted with a short cooldown.
    ctl.stop().await;
    let mut s = s;
    s.config.gc_cooldown = std::time::Duration::from_millis(500);
    let ctl = s.start(None);
    wait_until(WAIT, "the orphan to be collected", || async {
        match s.sim().network_interface(&fresh) {
            None => Ok(()),
            Some(e) => Err(format!("{e:?}")),
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 2)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_status_writes_and_dropped_watches_mid_rollout_leave_no_duplicates() {
    use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
    let s = System::new().await;
    let sub1 = s.w.ec2.subnet_1.clone();
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &sub1, FOUR_ENIS, true).await;
    }
    let faults = s.w.server.as_ref().expect("double").faults();
    // The status write recording each first create is lost (the ENI exists, its ID is not
    // stored); some creates of ENIAttachments time out after the server did nothing.
    let status = faults.fail(
        FaultRule::any()
            .verb(Verb::Patch)
            .resource("eniattachments")
            .subresource("status")
            .times(6),
        500,
    );
    let creates = faults.inject(
        FaultRule::any()
            .verb(Verb::Create)
            .resource("eniattachments")
            .times(2),
        FaultAction::Timeout(std::time::Duration::from_millis(50)),
    );
    let ctl = s.start(None);
    let agent = s.agent(true);
    two_subnets(&s, "multus").await;
    wait_until(WAIT, "the rollout under way", || async {
        if s.ours().is_empty() {
            Err("no ENI".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    faults.drop_watches();
    s.converged(&[Want::ready("multus", 6)]).await;
    assert!(
        status.hits() >= 1 && creates.hits() >= 1,
        "the faults fired"
    );
    assert_eq!(s.ours().len(), 6);
    faults.drop_watches();
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    agent.cancel();
    ctl.stop().await;
}
