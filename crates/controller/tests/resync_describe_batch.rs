//! The describe batcher on the simulator, on paused time: many concurrent requests, one call;
//! each caller gets exactly its ENIs; an error reaches every waiter of the failed call.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use multi_eni_controller::run::EniIndex;
use multi_eni_controller::run::describe_batch::{DEFAULT_WINDOW, DescribeBatch};
use multi_eni_ec2::{CreateEni, Ec2, ErrorKind, NetworkInterface, Op, Tags};
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_testkit::wait_until;
use tokio::task::JoinSet;

/// An ID EC2 has never seen.
const UNKNOWN: &str = "eni-0000000000000dead";

/// A simulator with `n` ENIs; returns their IDs in creation order.
async fn sim_with_enis(config: SimConfig, n: usize) -> (Arc<Ec2Sim>, Vec<String>) {
    let sim = Arc::new(Ec2Sim::new(config));
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let subnet = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.0.0/20", None)
        .expect("subnet");
    let mut ids = Vec::new();
    for _ in 0..n {
        let eni = sim
            .create_network_interface(&CreateEni {
                subnet_id: subnet.clone(),
                tags: Tags::new(),
                ..CreateEni::default()
            })
            .await
            .expect("create ENI");
        ids.push(eni.id);
    }
    sim.reset_stats();
    (sim, ids)
}

fn ids_of(enis: &[NetworkInterface]) -> BTreeSet<String> {
    enis.iter().map(|e| e.id.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_callers_share_one_describe_and_each_gets_exactly_its_enis() {
    let (sim, ids) = sim_with_enis(SimConfig::instant(), 101).await;
    let batch = Arc::new(DescribeBatch::new(sim.clone(), DEFAULT_WINDOW));
    let shared = ids[100].clone();
    let mut callers = JoinSet::new();
    for (i, id) in ids.iter().take(100).enumerate() {
        let (batch, id, shared) = (batch.clone(), id.clone(), shared.clone());
        callers.spawn(async move {
            // Every caller asks for its own ENI, some also for a shared one or an unknown one.
            let mut ask = vec![id.clone()];
            if i % 3 == 0 {
                ask.push(shared.clone());
            }
            if i % 5 == 0 {
                ask.push(UNKNOWN.into());
            }
            let got = batch.describe(ask).await.expect("describe");
            let mut want = BTreeSet::from([id]);
            if i % 3 == 0 {
                want.insert(shared);
            }
            (want, ids_of(&got), got.len())
        });
    }
    let mut answered = 0;
    while let Some(r) = callers.join_next().await {
        let (want, got, n) = r.expect("caller");
        assert_eq!(got, want);
        assert_eq!(n, want.len(), "no duplicates");
        answered += 1;
    }
    assert_eq!(answered, 100);
    assert_eq!(sim.calls(Op::DescribeNetworkInterfaces), 1);
    assert_eq!(sim.all_stats().len(), 1, "{:?}", sim.all_stats());
}

#[tokio::test(start_paused = true)]
async fn an_error_reaches_every_waiter_of_that_call_and_the_next_call_works() {
    let (sim, ids) = sim_with_enis(SimConfig::instant(), 20).await;
    let batch = Arc::new(DescribeBatch::new(sim.clone(), DEFAULT_WINDOW));
    sim.fail_next(Op::DescribeNetworkInterfaces, 1, "RequestLimitExceeded");
    let mut callers = JoinSet::new();
    for id in &ids {
        let (batch, id) = (batch.clone(), id.clone());
        callers.spawn(async move { batch.describe(vec![id]).await });
    }
    let mut failed = 0;
    while let Some(r) = callers.join_next().await {
        let err = r.expect("caller").expect_err("the one call failed");
        assert_eq!(err.kind, ErrorKind::Throttled);
        failed += 1;
    }
    assert_eq!(failed, 20);
    assert_eq!(sim.calls(Op::DescribeNetworkInterfaces), 1);

    let again = batch
        .describe(vec![ids[0].clone()])
        .await
        .expect("next call");
    assert_eq!(ids_of(&again), BTreeSet::from([ids[0].clone()]));
    assert_eq!(sim.calls(Op::DescribeNetworkInterfaces), 2);
}

#[tokio::test(start_paused = true)]
async fn requests_arriving_while_a_call_is_in_flight_share_the_next_call() {
    let slow = SimConfig {
        base_latency: Duration::from_secs(1),
        ..SimConfig::instant()
    };
    let (sim, ids) = sim_with_enis(slow, 51).await;
    let batch = Arc::new(DescribeBatch::new(sim.clone(), DEFAULT_WINDOW));
    let first = {
        let (batch, id) = (batch.clone(), ids[0].clone());
        tokio::spawn(async move { batch.describe(vec![id]).await })
    };
    wait_until(
        Duration::from_secs(5),
        "the first call to be in flight",
        || {
            let sim = sim.clone();
            async move {
                match sim.calls(Op::DescribeNetworkInterfaces) {
                    1 => Ok(()),
                    n => Err(format!("{n} calls")),
                }
            }
        },
    )
    .await;
    let mut later = JoinSet::new();
    for id in &ids[1..] {
        let (batch, id) = (batch.clone(), id.clone());
        later.spawn(async move { (id.clone(), batch.describe(vec![id]).await) });
    }
    let got = first.await.expect("first caller").expect("first describe");
    assert_eq!(ids_of(&got), BTreeSet::from([ids[0].clone()]));
    while let Some(r) = later.join_next().await {
        let (id, got) = r.expect("caller");
        assert_eq!(ids_of(&got.expect("describe")), BTreeSet::from([id]));
    }
    assert_eq!(sim.calls(Op::DescribeNetworkInterfaces), 2);
}

#[tokio::test(start_paused = true)]
async fn more_ids_than_a_filter_takes_are_split_into_calls_of_200() {
    let (sim, ids) = sim_with_enis(SimConfig::instant(), 250).await;
    let batch = DescribeBatch::new(sim.clone(), Duration::ZERO);
    let got = batch.describe(ids.clone()).await.expect("describe");
    assert_eq!(ids_of(&got), ids.iter().cloned().collect());
    assert_eq!(sim.calls(Op::DescribeNetworkInterfaces), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_records_what_it_found_and_leaves_the_rest_of_the_index_alone() {
    let (sim, ids) = sim_with_enis(SimConfig::instant(), 2).await;
    let batch = DescribeBatch::new(sim.clone(), DEFAULT_WINDOW);
    let index = EniIndex::default();
    let mut stale = sim.network_interface(&ids[1]).expect("exists");
    stale.id = UNKNOWN.into();
    index.upsert(stale);
    let got = batch
        .refresh(vec![ids[0].clone(), UNKNOWN.into()], &index)
        .await
        .expect("refresh");
    assert_eq!(ids_of(&got), BTreeSet::from([ids[0].clone()]));
    assert!(index.get(&ids[0]).is_some(), "found: recorded");
    assert!(index.get(UNKNOWN).is_some(), "absent: the caller decides");
    assert!(batch.describe(vec![]).await.expect("nothing").is_empty());
    assert_eq!(
        sim.calls(Op::DescribeNetworkInterfaces),
        1,
        "nothing asked, nothing called"
    );
}
