//! The crash/fault campaign, short form: 20 seeded randomized runs (seeds 1–20) of the whole
//! controller under crashes, leader changes, EC2 and API server faults and fleet churn, each
//! ending with the invariants (no leaked ENI, no duplicate, converged, nothing left after the
//! teardown) — and proof that the campaign does catch a broken EC2. The full campaign is
//! `cargo bench --profile dev -p multi-eni-controller --bench chaos`; `docs/reliability.md`.
//!
//! `MULTI_ENI_CHAOS_SEED=<seed> cargo test -p multi-eni-controller --test chaos` replays one seed.

#[path = "support/chaos.rs"]
mod chaos;

use std::time::Duration;

use chaos::*;
use multi_eni_api::keys::reason;

const REPLAY: &str = "cargo test -p multi-eni-controller --test chaos";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_randomized_runs_break_no_invariant() {
    let seeds = seeds(1, 20);
    let c = campaign(&seeds, 4, &Options::default()).await;
    let table = c.table(REPLAY);
    println!("{table}");
    assert_eq!(c.runs.len(), seeds.len());
    assert!(c.violations().is_empty(), "{table}");
    let mut all = Tally::default();
    for r in &c.runs {
        all.merge(&r.tally);
    }
    // The faults were injected, not only scheduled.
    let injected = |prefix: &str| {
        all.0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum::<u64>()
    };
    assert!(injected("EC2 ") > 0, "{table}");
    if seeds.len() > 1 {
        assert!(injected("crash") > 0 && injected("API ") > 0, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_an_ec2_that_never_deletes_reports_the_leak_and_passes_without_it() {
    // A run of seed 3 whose world surely has ENIs: two labelled nodes, one NodeENI with both
    // zone-A subnets, the seed's events.
    let mut schedule = Schedule::from_seed(3, 4);
    schedule.initial = Model {
        nodes: vec![
            node("node-0", false, true, true),
            node("node-1", false, true, true),
        ],
        node_enis: vec![node_eni("chaos-0", vec![0, 1], true)],
    };
    schedule
        .steps
        .retain(|s| !matches!(s.event, Event::CreateNodeEni(_)));
    for s in &mut schedule.steps {
        if let Event::Terminate(i) | Event::DeleteNode(i) | Event::Relabel(i, _) = s.event {
            s.event = Event::Relabel(i % 2, true);
        }
    }
    let opts = Options {
        events: 4,
        settle: Duration::from_secs(10),
        flaw: Some(Flaw::DropsDeletes),
    };
    let faithful = run(
        &schedule,
        &Options {
            flaw: None,
            settle: Duration::from_secs(60),
            ..opts.clone()
        },
    )
    .await;
    assert!(faithful.violation.is_none(), "{faithful:?}");
    println!("{faithful:?}");
    let r = run(&schedule, &opts).await;
    let v = r.violation.expect("the planted flaw is reported");
    assert!(
        matches!(
            v.invariant,
            Invariant::LeakedEni | Invariant::StuckFinalizer
        ),
        "{v:?}"
    );
}

fn node(name: &str, zone_b: bool, labelled: bool, exists: bool) -> NodeModel {
    NodeModel {
        name: name.into(),
        zone_b,
        labelled,
        exists,
    }
}

fn node_eni(name: &str, subnets: Vec<usize>, exists: bool) -> NodeEniModel {
    NodeEniModel {
        name: name.into(),
        subnets,
        delete_on_termination: true,
        exists,
    }
}

#[test]
fn a_seed_fixes_the_schedule_and_another_seed_changes_it() {
    let show = |seed| format!("{:?}", Schedule::from_seed(seed, 8));
    assert_eq!(show(11), show(11));
    assert_ne!(show(11), show(12));
}

#[test]
fn the_wants_follow_the_final_world() {
    let m = Model {
        nodes: vec![
            node("a", false, true, true),
            node("b", false, false, true),
            node("gone", false, true, false),
            node("z", true, true, true),
        ],
        node_enis: vec![
            node_eni("both-zones", vec![0, 2], true),
            node_eni("zone-a", vec![0, 1], true),
            node_eni("deleted", vec![0], false),
        ],
    };
    let wants: Vec<_> = m
        .want()
        .into_iter()
        .map(|w| (w.name, w.desired, w.ready, w.degraded))
        .collect();
    assert_eq!(
        wants,
        vec![
            ("both-zones".into(), 2, 2, None),
            ("zone-a".into(), 2, 2, Some(reason::AZ_MISMATCH.to_owned())),
        ]
    );
}
