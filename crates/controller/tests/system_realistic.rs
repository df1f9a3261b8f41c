//! The whole controller process against EC2's own timing, ten times faster: attaches and
//! detaches that take a while, instances still pending, eventually consistent describes (a new
//! ENI unknown to other calls for a moment), server-side throttling.

#[path = "support/system.rs"]
mod system;

use std::time::Duration;

use multi_eni_ec2::{DescribeQuery, Ec2, Filter, Op};
use multi_eni_ec2_sim::SimConfig;
use multi_eni_testkit::wait_until;
use serde_json::json;
use system::*;

async fn realistic(seed: u64) -> System {
    System::with_sim(SimConfig::default().with_time_scale(10.0).with_seed(seed)).await
}

async fn create_node_eni(s: &System) {
    let e = &s.w.ec2;
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2, e.subnet_b], "securityGroupIDs": [e.sg]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_over_two_zones_changes_and_removal_converge() {
    let s = realistic(11).await;
    let e = &s.w.ec2;
    s.w.node("node-a1", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-a2", &e.subnet_2, FOUR_ENIS, true).await;
    s.w.node("node-b1", &e.subnet_b, FOUR_ENIS, true).await;
    s.w.node("node-b2", &e.subnet_b, FOUR_ENIS, false).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    create_node_eni(&s).await;
    s.converged(&[Want::ready("multus", 5)]).await;
    s.w.label("node-b2", true).await;
    s.w.label("node-a1", false).await;
    s.converged(&[Want::ready("multus", 4)]).await;
    s.w.patch_spec("multus", json!({"subnetIDs": [e.subnet_2, e.subnet_b]}))
        .await;
    s.converged(&[Want::ready("multus", 3)]).await;
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    assert!(s.ours().is_empty());
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_creates_while_ec2_lags_adopts_instead_of_duplicating() {
    let s = realistic(12).await;
    let e = &s.w.ec2;
    s.w.node("node-a1", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-b1", &e.subnet_b, FOUR_ENIS, true).await;
    let gate = Gate::new(s.sim().clone());
    gate.hang_after(Op::CreateNetworkInterface);
    let first = s.start_with(None, gate.clone());
    let agent = s.agent(true);
    create_node_eni(&s).await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("a create went through");
    first.kill().await;
    // Restarted at once: the new ENIs may not be listed by EC2 yet.
    let second = s.start(None);
    s.converged(&[Want::ready("multus", 3)]).await;
    assert_eq!(s.ours().len(), 3);
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    agent.cancel();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_and_a_leader_change_while_ec2_lags() {
    let s = realistic(13).await;
    let e = &s.w.ec2;
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &e.subnet_1, FOUR_ENIS, true)
            .await;
    }
    s.sim().lose_next_responses(Op::CreateNetworkInterface, 2);
    s.sim().lose_next_responses(Op::AttachNetworkInterface, 1);
    let leader = s.start(Some("replica-a"));
    assert_eq!(s.wait_for_leader().await, "replica-a");
    let standby = s.start(Some("replica-b"));
    let agent = s.agent(true);
    create_node_eni(&s).await;
    multi_eni_testkit::wait_until(WAIT, "the rollout to be under way", || async {
        if s.ours().len() >= 2 {
            Ok(())
        } else {
            Err(format!("{} ENIs", s.ours().len()))
        }
    })
    .await;
    leader.kill().await;
    s.converged(&[Want::ready("multus", 6)]).await;
    assert_eq!(s.lease_holder().await.as_deref(), Some("replica-b"));
    agent.cancel();
    standby.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_instance_ec2_does_not_list_yet_waits_for_it_and_is_not_ready_meanwhile() {
    // Describes show the world as it was 2 s (real time) ago; the visibility grace is 3 s.
    let lagging = SimConfig::default()
        .with_time_scale(10.0)
        .with_fixed_lag(Duration::from_secs(20));
    let s = System::with_sim(lagging).await;
    let ctl = s.start(None);
    let agent = s.agent(true);
    let e = &s.w.ec2;
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1], "securityGroupIDs": [e.sg]}),
    )
    .await;
    s.converged(&[Want::ready("multus", 0)]).await;
    // The Node shows up while EC2's reads still lag behind its instance's launch.
    let instance = s.w.node("node-a1", &e.subnet_1, FOUR_ENIS, true).await;
    let ready = wait_until(WAIT, "the NodeENI to wait for the node", || async {
        let ne = s.w.node_eni("multus").await;
        let ready = condition(&ne, "Ready");
        if ready.0 == "False" {
            Ok(ready)
        } else {
            Err(format!("{ready:?}"))
        }
    })
    .await;
    let query = DescribeQuery::filters(vec![Filter::new("instance-id", [instance.clone()])]);
    let listed = s.sim().describe_instances(&query).await.expect("describe");
    assert!(
        listed.items.is_empty(),
        "not Ready while EC2 does not list {instance} yet, not only after: {ready:?}"
    );
    // Listed a moment later: the node gets its ENI without waiting for a cache to expire.
    s.converged(&[Want::ready("multus", 1)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_killed_in_turn_mid_rollout_and_mid_removal() {
    let s = realistic(15).await;
    let e = &s.w.ec2;
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &e.subnet_1, FOUR_ENIS, true)
            .await;
    }
    let agent = s.agent(true);
    let a = s.start(Some("replica-a"));
    assert_eq!(s.wait_for_leader().await, "replica-a");
    let b = s.start(Some("replica-b"));
    create_node_eni(&s).await;
    let enis = |n: usize| {
        let s = &s;
        wait_until(WAIT, "ENIs to appear", move || async move {
            let have = s.ours().len();
            if have >= n {
                Ok(())
            } else {
                Err(format!("{have} ENIs"))
            }
        })
    };
    enis(2).await;
    a.kill().await;
    // Its replacement is a new pod: a new identity.
    let c = s.start(Some("replica-c"));
    s.converged(&[Want::ready("multus", 6)]).await;
    let first = s.wait_for_leader().await;
    assert_ne!(first, "replica-a", "a standby took over");
    s.w.delete_node_eni("multus").await;
    wait_until(WAIT, "the removal under way", || async {
        let n = s.ours().len();
        if n < 6 {
            Ok(())
        } else {
            Err(format!("{n} ENIs"))
        }
    })
    .await;
    // Kill whoever leads now; the last one finishes.
    let (dead, survivor) = if first == "replica-b" { (b, c) } else { (c, b) };
    dead.kill().await;
    s.converged(&[]).await;
    wait_until(WAIT, "the survivor to lead", || async {
        let holder = s.lease_holder().await;
        if holder == survivor.identity {
            Ok(())
        } else {
            Err(format!("{holder:?}"))
        }
    })
    .await;
    assert!(s.ours().is_empty());
    agent.cancel();
    survivor.stop().await;
}
