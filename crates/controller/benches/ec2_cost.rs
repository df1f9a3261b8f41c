//! What the controller spends, per ENI: EC2 calls by action for a rollout, an idle period and a
//! teardown, and Kubernetes API writes — the whole controller on the API double and the
//! simulator with AWS-like timing and token buckets. Prints a table with the targets.
//!
//! `cargo bench -p multi-eni-controller --bench ec2_cost` (100 ENIs: 50 nodes × 2 subnets);
//! `MULTI_ENI_BENCH_NODES=250 cargo bench …` for another fleet size,
//! `MULTI_ENI_BENCH_TIME_SCALE=5` to run EC2 closer to real time (default ×50).

#[path = "../tests/support/cost.rs"]
mod cost;

fn main() {
    let nodes = std::env::var("MULTI_ENI_BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let scale = std::env::var("MULTI_ENI_BENCH_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cost::TIME_SCALE);
    let report = runtime.block_on(cost::measure_at(nodes, scale));
    println!("{}", report.table());
}
