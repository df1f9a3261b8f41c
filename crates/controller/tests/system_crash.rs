//! The whole controller process killed (every future dropped where it stands, the Lease left
//! held) at every step of an ENI's lifecycle, and two replicas handing over mid-rollout. Nothing
//! leaks, nothing is duplicated, and whoever runs next finishes the job.

#[path = "support/system.rs"]
mod system;

use std::time::Duration;

use multi_eni_ec2::Op;
use serde_json::json;
use system::*;

/// Two nodes, a NodeENI with both zone-A subnets on each.
async fn fleet_of_two(s: &System) {
    let e = &s.w.ec2;
    s.w.node("node-a", &e.subnet_1, FOUR_ENIS, true).await;
    s.w.node("node-b", &e.subnet_1, FOUR_ENIS, true).await;
}

async fn create_node_eni(s: &System) {
    let e = &s.w.ec2;
    s.w.create_node_eni(
        "multus",
        json!({"subnetIDs": [e.subnet_1, e.subnet_2], "securityGroupIDs": [e.sg]}),
    )
    .await;
}

/// Kills the process right after EC2 carried out its first `op` call (before it could record
/// the answer), restarts it, and checks it converges with nothing leaked or duplicated.
async fn killed_on_the_way_up(op: Op) {
    let s = System::new().await;
    fleet_of_two(&s).await;
    let gate = Gate::new(s.sim().clone());
    gate.hang_after(op);
    let first = s.start_with(None, gate.clone());
    let agent = s.agent(true);
    create_node_eni(&s).await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("the step is reached");
    first.kill().await;
    let dead = gate.calls();
    let after_kill = s.sim().calls(Op::CreateNetworkInterface);
    let second = s.start(None);
    s.converged(&[Want::ready("multus", 4)]).await;
    assert_eq!(s.ours().len(), 4);
    assert_eq!(
        gate.calls(),
        dead,
        "the killed process made no call after its death"
    );
    if op == Op::CreateNetworkInterface {
        // Every ENI the dead process created was adopted: one create per attachment in all.
        let created_after = s.sim().calls(Op::CreateNetworkInterface) - after_kill;
        assert_eq!(
            (after_kill + created_after),
            4,
            "{after_kill} then {created_after}"
        );
    }
    // And all of it goes away again.
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    agent.cancel();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_create_and_recording_the_eni_id() {
    killed_on_the_way_up(Op::CreateNetworkInterface).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_attach_and_recording_it() {
    killed_on_the_way_up(Op::AttachNetworkInterface).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_setting_delete_on_termination() {
    killed_on_the_way_up(Op::ModifyNetworkInterfaceAttribute).await;
}

/// Converges, then deletes the NodeENI and kills the process right after its first `op` call.
async fn killed_on_the_way_down(op: Op) {
    let s = System::new().await;
    fleet_of_two(&s).await;
    let gate = Gate::new(s.sim().clone());
    let first = s.start_with(None, gate.clone());
    let agent = s.agent(true);
    create_node_eni(&s).await;
    s.converged(&[Want::ready("multus", 4)]).await;
    gate.hang_after(op);
    s.w.delete_node_eni("multus").await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("the step is reached");
    first.kill().await;
    let second = s.start(None);
    s.converged(&[]).await;
    assert!(s.ours().is_empty());
    agent.cancel();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_detach_and_recording_it() {
    killed_on_the_way_down(Op::DetachNetworkInterface).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_delete_and_dropping_the_finalizer() {
    killed_on_the_way_down(Op::DeleteNetworkInterface).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_at_every_phase_of_a_rollout_and_removal() {
    let s = System::new().await;
    fleet_of_two(&s).await;
    let agent = s.agent(true);
    let mut ctl = s.start(None);
    create_node_eni(&s).await;
    // Kill as soon as any ENI exists, then as soon as any is attached.
    for (what, enis) in [("an ENI created", 1), ("two ENIs created", 2)] {
        multi_eni_testkit::wait_until(WAIT, what, || async {
            if s.ours().len() >= enis {
                Ok(())
            } else {
                Err(format!("{} ENIs", s.ours().len()))
            }
        })
        .await;
        ctl.kill().await;
        ctl = s.start(None);
    }
    s.converged(&[Want::ready("multus", 4)]).await;
    s.w.label("node-b", false).await;
    multi_eni_testkit::wait_until(WAIT, "node-b's removal to start", || async {
        let deleting =
            s.w.attachments("multus")
                .await
                .iter()
                .any(|a| a.metadata.deletion_timestamp.is_some());
        if deleting {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    ctl.kill().await;
    let ctl = s.start(None);
    s.converged(&[Want::ready("multus", 2)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_finishes_the_rollout_when_the_leader_dies() {
    let s = System::new().await;
    fleet_of_two(&s).await;
    let e = &s.w.ec2;
    s.w.node("node-c", &e.subnet_1, FOUR_ENIS, true).await;
    let gate = Gate::new(s.sim().clone());
    gate.hang_after(Op::AttachNetworkInterface);
    let leader = s.start_with(Some("replica-a"), gate.clone());
    assert_eq!(s.wait_for_leader().await, "replica-a");
    let standby = s.start(Some("replica-b"));
    let agent = s.agent(true);
    create_node_eni(&s).await;
    tokio::time::timeout(WAIT, gate.hit.notified())
        .await
        .expect("the leader is mid-rollout");
    let attached =
        s.w.attachments("multus")
            .await
            .iter()
            .filter(|a| a.phase().is_attached())
            .count();
    assert_eq!(attached, 0, "no attach was recorded yet");
    leader.kill().await;
    s.converged(&[Want::ready("multus", 6)]).await;
    assert_eq!(s.lease_holder().await.as_deref(), Some("replica-b"));
    s.w.delete_node_eni("multus").await;
    s.converged(&[]).await;
    agent.cancel();
    standby.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopping_mid_rollout_hands_over_and_the_other_finishes() {
    let s = System::new().await;
    fleet_of_two(&s).await;
    let first = s.start(Some("replica-a"));
    assert_eq!(s.wait_for_leader().await, "replica-a");
    let second = s.start(Some("replica-b"));
    let agent = s.agent(true);
    create_node_eni(&s).await;
    multi_eni_testkit::wait_until(WAIT, "the rollout to be under way", || async {
        if s.ours().is_empty() {
            Err("no ENI yet".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    first.stop().await;
    s.converged(&[Want::ready("multus", 4)]).await;
    assert_eq!(s.lease_holder().await.as_deref(), Some("replica-b"));
    agent.cancel();
    second.stop().await;
}

/// EC2 calls that change something, so far.
fn mutating_calls(s: &System) -> u64 {
    s.sim()
        .all_stats()
        .iter()
        .filter(|(op, _)| op.family() == multi_eni_ec2::ApiFamily::Mutating)
        .map(|(_, c)| c.calls)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_every_ec2_change_while_ec2_lags_still_converges_up_and_down() {
    let config = multi_eni_ec2_sim::SimConfig::default()
        .with_time_scale(10.0)
        .with_seed(31);
    let s = System::with_sim(config).await;
    let e = &s.w.ec2;
    for n in 0..3 {
        s.w.node(&format!("node-{n}"), &e.subnet_1, FOUR_ENIS, true)
            .await;
    }
    let agent = s.agent(true);
    let mut ctl = s.start(None);
    create_node_eni(&s).await;
    // Up: a crash after every EC2 change, fourteen times over.
    for round in 0..14 {
        let from = mutating_calls(&s);
        multi_eni_testkit::wait_until(WAIT, "one more EC2 change", || async {
            let done = s.check(&[Want::ready("multus", 6)]).await.is_ok();
            if done || mutating_calls(&s) > from {
                Ok(())
            } else {
                Err(format!("round {round}: {} calls", mutating_calls(&s)))
            }
        })
        .await;
        ctl.kill().await;
        ctl = s.start(None);
    }
    s.converged(&[Want::ready("multus", 6)]).await;
    // Down, the same way.
    s.w.delete_node_eni("multus").await;
    for round in 0..10 {
        let from = mutating_calls(&s);
        multi_eni_testkit::wait_until(WAIT, "one more EC2 change", || async {
            let done = s.check(&[]).await.is_ok();
            if done || mutating_calls(&s) > from {
                Ok(())
            } else {
                Err(format!("round {round}: {} calls", mutating_calls(&s)))
            }
        })
        .await;
        ctl.kill().await;
        ctl = s.start(None);
    }
    s.converged(&[]).await;
    assert!(s.ours().is_empty());
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_acting_and_leadership_resumes_after() {
    use multi_eni_kube_double::{FaultRule, Verb};
    let s = System::new().await;
    fleet_of_two(&s).await;
    let a = s.start(Some("replica-a"));
    assert_eq!(s.wait_for_leader().await, "replica-a");
    let b = s.start(Some("replica-b"));
    let agent = s.agent(true);
    create_node_eni(&s).await;
    s.converged(&[Want::ready("multus", 4)]).await;
    // Every Lease write fails: the leader cannot renew, nobody can take over.
    let faults = s.w.server.as_ref().expect("double").faults();
    let cut = faults.fail(FaultRule::any().resource("leases").verb(Verb::Update), 500);
    let refused = |n: usize| {
        let cut = &cut;
        multi_eni_testkit::wait_until(WAIT, "refused Lease writes", move || async move {
            if cut.hits() >= n {
                Ok(())
            } else {
                Err(format!("{} refused", cut.hits()))
            }
        })
    };
    // The renew interval is 100 ms and the Lease lasts 2 s: 25 refused writes outlast it.
    refused(25).await;
    let calls = mutating_calls(&s);
    s.w.label("node-b", false).await;
    s.w.node("node-c", &s.w.ec2.subnet_1, FOUR_ENIS, true).await;
    refused(cut.hits() + 10).await;
    assert_eq!(mutating_calls(&s), calls, "nobody leads, nothing is done");
    cut.remove();
    // What changed while nobody led is done by whoever leads next.
    multi_eni_testkit::wait_until(WAIT, "node-b's ENIs moved to node-c", || async {
        let layout = s.w.layout("multus").await;
        let nodes: Vec<&str> = layout.iter().map(|l| l.0.as_str()).collect();
        if nodes == ["node-a", "node-a", "node-c", "node-c"] {
            Ok(())
        } else {
            Err(format!("{nodes:?}"))
        }
    })
    .await;
    s.converged(&[Want::ready("multus", 4)]).await;
    let holder = s.wait_for_leader().await;
    assert!(
        ["replica-a", "replica-b"].contains(&holder.as_str()),
        "{holder}"
    );
    agent.cancel();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_before_its_caches_synced_the_process_still_stops() {
    use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
    let s = System::new().await;
    fleet_of_two(&s).await;
    create_node_eni(&s).await;
    // Every list of NodeENIs takes 2 s: the preflight's, then the caches' (which the
    // controllers read and take their triggers from).
    let faults = s.w.server.as_ref().expect("double").faults();
    let slow = faults.inject(
        FaultRule::any().verb(Verb::List).resource("nodeenis"),
        FaultAction::Delay(Duration::from_secs(2)),
    );
    let ctl = s.start(None);
    multi_eni_testkit::wait_until(WAIT, "the caches' list to be asked", || async {
        if slow.hits() >= 2 {
            Ok(())
        } else {
            Err(format!("{} lists", slow.hits()))
        }
    })
    .await;
    // SIGTERM now, while the caches wait for their first list.
    ctl.stop().await;
    slow.remove();
    // Nothing was half done: a new process does it all.
    let agent = s.agent(true);
    let ctl = s.start(None);
    s.converged(&[Want::ready("multus", 4)]).await;
    agent.cancel();
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_losing_the_lease_before_its_caches_synced_can_lead_again() {
    use multi_eni_kube_double::{FaultAction, FaultRule, Verb};
    let s = System::new().await;
    fleet_of_two(&s).await;
    create_node_eni(&s).await;
    let faults = s.w.server.as_ref().expect("double").faults();
    let slow = faults.inject(
        FaultRule::any().verb(Verb::List).resource("nodeenis"),
        FaultAction::Delay(Duration::from_secs(4)),
    );
    let a = s.start(Some("replica-a"));
    let at_least = |handle: &multi_eni_kube_double::FaultHandle, n: usize, what: &'static str| {
        let handle = handle.clone();
        multi_eni_testkit::wait_until(WAIT, what, move || {
            let hits = handle.hits();
            async move {
                if hits >= n {
                    Ok(())
                } else {
                    Err(format!("{hits}"))
                }
            }
        })
    };
    // A leads, and its caches wait for their first list.
    at_least(&slow, 2, "the caches' list to be asked").await;
    assert_eq!(s.wait_for_leader().await, "replica-a");
    // It loses the Lease then (every write refused for longer than the Lease lasts).
    let cut = faults.fail(FaultRule::any().resource("leases").verb(Verb::Update), 500);
    at_least(&cut, 25, "the Lease to run out").await;
    cut.remove();
    slow.remove();
    let b = s.start(Some("replica-b"));
    let agent = s.agent(true);
    s.converged(&[Want::ready("multus", 4)]).await;
    // Whoever leads now steps aside: the other must be able to take over.
    let holder = s.wait_for_leader().await;
    let (gone, left) = if holder == "replica-a" {
        (a, b)
    } else {
        (b, a)
    };
    gone.stop().await;
    s.w.label("node-b", false).await;
    s.converged(&[Want::ready("multus", 2)]).await;
    assert_eq!(s.lease_holder().await, left.identity);
    agent.cancel();
    left.stop().await;
}
