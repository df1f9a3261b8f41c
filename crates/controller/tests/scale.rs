//! The short form of `benches/scale.rs`: 50 nodes × 2 subnets through rollout, steady state, a
//! relabelled node and teardown, on the API double and the time-scaled simulator behind the
//! client-side limiter — holding the targets that are counts, never times (the benchmark
//! reports the time ratios). Also the pure parts: the floor, the meters' parsers.

#[path = "support/scale.rs"]
mod scale;

use multi_eni_ec2::Op;
use scale::Options;
use scale::floor::{Floor, Term};
use scale::meters::{parse_stat, requests_by_verb};
use scale::report::MUTATING;
use scale::system::DESCRIBES;

#[test]
fn floor_is_the_slowest_bucket_on_the_path_plus_ec2s_delay() {
    // 100 ENIs at half the budget: create 50 burst at 2.5/s, attach 25 burst at 2.5/s.
    let f = Floor::rollout(100, 0.5, 2.0);
    assert_eq!(f.terms[0].burst, 50.0);
    assert_eq!(f.terms[1].burst, 25.0);
    assert_eq!(f.done(1), 2.0, "the first ENIs ride the bursts");
    assert_eq!(f.done(26), 2.0 + 1.0 / 2.5, "attach's burst runs out first");
    assert_eq!(f.secs(), 2.0 + 75.0 / 2.5);
    let curve = f.curve();
    assert_eq!(curve.len(), 100);
    assert!(curve.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn teardown_floor_waits_for_the_detach_before_the_delete() {
    let f = Floor::teardown(10, 1.0, 3.0);
    // Both bursts cover 10 calls: detach at 0, detached at 3, delete at once.
    assert_eq!(f.secs(), 3.0);
    let t = Term::of(Op::DeleteNetworkInterface, 200, 1.0, 0.0);
    assert_eq!((t.burst, t.rate), (100.0, 5.0));
    assert_eq!(t.token(200), 20.0);
}

#[test]
fn proc_stat_and_apiserver_metrics_are_read() {
    let stat = "4242 (multi-eni-ctl) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0";
    assert_eq!(parse_stat(stat), Some(("multi-eni-ctl", 175)));
    let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 0 0";
    assert_eq!(parse_stat(odd), Some(("a (b) c", 3)));
    let metrics = "# HELP apiserver_request_total x\n\
        apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"networking.k8s.aws\",resource=\"eniattachments\",scope=\"resource\",subresource=\"status\",verb=\"PATCH\",version=\"v1alpha1\"} 12\n\
        apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"nodes\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 3\n\
        apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"coordination.k8s.io\",resource=\"leases\",scope=\"resource\",subresource=\"\",verb=\"PUT\",version=\"v1\"} 99\n\
        apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"events.k8s.io\",resource=\"events\",scope=\"resource\",subresource=\"\",verb=\"APPLY\",version=\"v1\"} 1\n";
    let by_verb = requests_by_verb(metrics);
    assert_eq!(by_verb.get("patch/eniattachments"), Some(&12));
    assert_eq!(by_verb.get("patch/events"), Some(&1));
    assert_eq!(by_verb.get("create/nodes"), Some(&3));
    assert_eq!(by_verb.len(), 3, "leases are not ours: {by_verb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_by_two_subnets_hold_the_structural_targets() {
    let options = Options {
        nodes: 50,
        subnets: 2,
        time_scale: 50.0,
        budget: 0.5,
        real_apiserver: false,
        steady_passes: 2,
    };
    let r = scale::run(&options).await;
    let table = r.markdown();
    println!("{table}");
    let enis = r.enis();
    let calls = |p: &scale::Phase, op| p.calls(&[op]);
    assert!(r.rollout.done_ec2_secs.is_some(), "{table}");
    // Nothing EC2 throttled reached a condition or an Event; nothing reached EC2 unpaced.
    assert_eq!(r.visible_throttles, 0, "{table}");
    // Five mutating calls per ENI life — one create, attach, DeleteOnTermination, detach and
    // delete — and nothing repeated: a new ENI's attach waits out its ID's propagation instead
    // of being refused, and a lagging describe neither re-sends a detach nor a modify.
    for op in [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::ModifyNetworkInterfaceAttribute,
        Op::DetachNetworkInterface,
        Op::DeleteNetworkInterface,
    ] {
        let life = calls(&r.rollout, op) + calls(&r.teardown, op);
        assert_eq!(life, enis, "{op:?}\n{table}");
    }
    assert_eq!(r.rollout.calls(&[Op::CreateTags]), 0, "{table}");
    // Describes over the rollout: the fixed lookups, and ENI describes shared by the
    // reconciles in flight (see `rollout_describe_bound`).
    let bound = rollout_describe_bound(enis, 16);
    assert!(r.rollout.calls(&DESCRIBES) <= bound, "{bound}\n{table}");
    // Steady: per resync pass one listing page and at most one batched DescribeInstances;
    // nothing mutating, no Kubernetes write.
    let passes = options.steady_passes;
    assert_eq!(r.steady_pages, passes, "{table}");
    assert!(r.steady.calls(&DESCRIBES) <= 2 * passes, "{table}");
    assert_eq!(r.steady.calls(&MUTATING), 0, "{table}");
    assert_eq!(r.steady.kube_writes(), 0, "{table}");
    // One node relabelled: its two ENIs go and come back — the work of 2 × 2 ENI
    // lifecycle halves, where the fleet has 100: detach and delete, then create, attach and
    // modify; nothing more.
    let changed = 2 * u64::try_from(options.subnets).unwrap_or(0);
    let mutating = r.unlabel.calls(&MUTATING) + r.relabel.calls(&MUTATING);
    assert_eq!(mutating, 5 * changed / 2, "{table}");
    let describes = r.unlabel.calls(&DESCRIBES) + r.relabel.calls(&DESCRIBES);
    assert!(describes <= RELABEL_DESCRIBES_PER_ENI * changed, "{table}");
    let writes = r.unlabel.kube_writes() + r.relabel.kube_writes();
    assert!(writes <= RELABEL_WRITES_PER_ENI * changed, "{table}");
}

/// Describes a rollout of `enis` may spend with `concurrency` reconciles in flight: five
/// fixed lookups (two subnet names, the group, the instance type, one instance batch), and at
/// most two rounds of ENI describes per ENI (the look at an attach EC2 finishes by itself, and
/// one more when EC2 had not finished it yet — a new ENI's ID propagating is waited out, not
/// described), each round shared by up to `concurrency` reconciles through the describe batch.
/// 19 at 100 ENIs (measured 13); the bench's 2,000 ENIs spend 0.13 per ENI (docs/benchmarks.md).
fn rollout_describe_bound(enis: u64, concurrency: u64) -> u64 {
    5 + 2 * enis.div_ceil(concurrency)
}

/// Describes per changed ENI when a node is relabelled (a rollout spends 0.2).
const RELABEL_DESCRIBES_PER_ENI: u64 = 4;
/// Kubernetes writes per changed ENI (a rollout spends about 7: the ENIAttachment's create,
/// status patches and Events, and the NodeENI's status).
const RELABEL_WRITES_PER_ENI: u64 = 12;
