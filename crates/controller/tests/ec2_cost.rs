//! The short form of `benches/ec2_cost.rs`: the EC2 and Kubernetes API cost targets held on a
//! small fleet (counts, never times). The per-ENI describe target (≤ 0.2 amortized) is a
//! rollout-size figure — the fixed lookups alone are 0.25 per ENI on 20 ENIs — so here the
//! rollout must simply spend fewer ENI describes than ENIs (they are batched), and the bench
//! reports the amortized figure.

#[path = "support/cost.rs"]
mod cost;

use cost::*;
use multi_eni_ec2::Op;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_idle_and_teardown_stay_within_the_call_targets() {
    let r = measure(10).await;
    let table = r.table();
    let calls = |c: &Calls, op: Op| c.get(&op).copied().unwrap_or(0);
    // One create, attach, DeleteOnTermination, detach and delete per ENI: nothing repeated
    // (an attach waits out the new ENI's ID propagation instead of being refused).
    for op in [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::ModifyNetworkInterfaceAttribute,
        Op::DetachNetworkInterface,
        Op::DeleteNetworkInterface,
    ] {
        let life = calls(&r.rollout, op) + calls(&r.teardown, op);
        assert_eq!(life, r.enis, "{op:?}\n{table}");
    }
    assert!(
        calls(&r.rollout, Op::DescribeNetworkInterfaces) < r.enis,
        "describes are not shared\n{table}"
    );
    // Idle: one listing per resync (one page) and one DescribeInstances per NodeENI per period
    // at most; no mutating call, no Kubernetes write.
    assert_eq!(
        calls(&r.idle, Op::DescribeNetworkInterfaces),
        IDLE_PASSES,
        "{table}"
    );
    assert!(
        calls(&r.idle, Op::DescribeInstances) <= IDLE_PASSES,
        "{table}"
    );
    assert_eq!(sum(&r.idle, &MUTATING), 0, "{table}");
    assert_eq!(r.writes.1, 0, "{table}");
}
