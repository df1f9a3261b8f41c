//! [`Limited`] over the simulator (no delays; its server-side throttling only where a test
//! turns it on): first attempts wait for the request's own bucket, a throttled answer empties
//! it, and the counters say what waited and what was throttled. Paused tokio time.

use std::sync::Arc;
use std::time::Duration;

use multi_eni_ec2::{
    BucketId, BucketSpec, CreateEni, DescribeQuery, Ec2, ErrorKind, Filter, Limited, Op,
    RateLimiter,
};
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use tokio::time::Instant;

const CREATE: BucketId = BucketId::Api(Op::CreateNetworkInterface);

/// A simulator with one subnet; returns it and a create request into that subnet.
fn sim(config: SimConfig) -> (Arc<Ec2Sim>, CreateEni) {
    let sim = Arc::new(Ec2Sim::new(config));
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let subnet = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", None)
        .expect("subnet");
    let req = CreateEni {
        subnet_id: subnet,
        ..CreateEni::default()
    };
    (sim, req)
}

#[tokio::test(start_paused = true)]
async fn first_attempts_wait_for_tokens_and_the_waits_are_counted() {
    let (sim, req) = sim(SimConfig::instant());
    let limiter = Arc::new(RateLimiter::fixed(BucketSpec::new(2.0, 1.0)));
    let ec2 = Limited::new(sim.clone(), limiter);
    let t0 = Instant::now();
    for _ in 0..5 {
        ec2.create_network_interface(&req).await.expect("created");
    }
    // Two from the burst, then one a second.
    assert_eq!(Instant::now() - t0, Duration::from_secs(3));
    let s = ec2.stats()[&Op::CreateNetworkInterface];
    assert_eq!((s.calls, s.waited, s.throttled), (5, 3, 0));
    assert_eq!(s.wait, Duration::from_secs(3));
    assert_eq!(sim.calls(Op::CreateNetworkInterface), 5);
    ec2.reset_stats();
    assert!(ec2.stats().is_empty());
}

#[tokio::test(start_paused = true)]
async fn time_scaled_share_keeps_ec2s_burst_share_and_speeds_the_refill() {
    let (sim, req) = sim(SimConfig::instant());
    // CreateNetworkInterface: 100 burst, 5/s; half of it at ×10 is 50 burst, 25/s.
    let ec2 = Limited::aws_share_time_scaled(sim, 0.5, 10.0);
    let t0 = Instant::now();
    for _ in 0..60 {
        ec2.create_network_interface(&req).await.expect("created");
    }
    assert_eq!(Instant::now() - t0, Duration::from_millis(400));
    // Another action's bucket is untouched.
    let t1 = Instant::now();
    ec2.describe_subnets(&DescribeQuery::default())
        .await
        .expect("subnets");
    assert_eq!(Instant::now(), t1);
    assert_eq!(ec2.stats()[&Op::CreateNetworkInterface].waited, 10);
}

#[tokio::test(start_paused = true)]
async fn unfiltered_describes_draw_from_their_smaller_bucket() {
    let (sim, _) = sim(SimConfig::instant());
    // DescribeNetworkInterfaces: by IDs 50 burst (half: 25), with a filter 100 (half: 50).
    let ec2 = Limited::aws_share_time_scaled(sim, 0.5, 1.0);
    let by_id = DescribeQuery::ids(["eni-0"]);
    let filtered = DescribeQuery::filters(vec![Filter::tag_key("k")]);
    for _ in 0..25 {
        let _ = ec2.describe_network_interfaces(&by_id).await;
    }
    let t0 = Instant::now();
    for _ in 0..50 {
        let _ = ec2.describe_network_interfaces(&filtered).await;
    }
    assert_eq!(Instant::now(), t0, "the filtered bucket is a different one");
    let _ = ec2.describe_network_interfaces(&by_id).await;
    // One token of the small bucket at 5/s.
    assert_eq!(Instant::now() - t0, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_answer_is_counted_and_empties_the_clients_bucket() {
    let mut config = SimConfig::instant();
    config.throttling = true;
    // EC2's bucket is smaller than ours (another client spends the account's budget).
    config
        .bucket_overrides
        .insert(CREATE, BucketSpec::new(1.0, 0.0));
    let (sim, req) = sim(config);
    let limiter = Arc::new(RateLimiter::fixed(BucketSpec::new(10.0, 1.0)));
    let ec2 = Limited::new(sim.clone(), limiter.clone());
    ec2.create_network_interface(&req).await.expect("first");
    let err = ec2
        .create_network_interface(&req)
        .await
        .expect_err("EC2's bucket is empty");
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(ec2.stats()[&Op::CreateNetworkInterface].throttled, 1);
    assert_eq!(sim.stats(Op::CreateNetworkInterface).throttled, 1);
    assert_eq!(
        limiter.available(CREATE),
        0.0,
        "8 tokens left before: drained"
    );
    let t0 = Instant::now();
    let _ = ec2.create_network_interface(&req).await;
    assert_eq!(
        Instant::now() - t0,
        Duration::from_secs(1),
        "the next caller waits for a refill"
    );
}
