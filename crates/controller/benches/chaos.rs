//! The crash/fault campaign, full form: `MULTI_ENI_CHAOS_RUNS` seeded randomized runs (default
//! 200, seeds 1–200) of the whole controller under crashes, leader changes, EC2 and API server
//! faults and fleet churn; prints the faults injected by kind, the violations by invariant, and
//! every seed. Exits non-zero when any run broke an invariant.
//!
//! `cargo bench --profile dev -p multi-eni-controller --bench chaos`;
//! `MULTI_ENI_CHAOS_BASE_SEED=1000` for other seeds, `MULTI_ENI_CHAOS_SEED=<seed>` to replay
//! one, `MULTI_ENI_CHAOS_PARALLEL` runs at a time (default 4), `MULTI_ENI_CHAOS_EVENTS` events
//! per run (default 8).

#[path = "../tests/support/chaos.rs"]
mod chaos;

const REPLAY: &str = "cargo bench --profile dev -p multi-eni-controller --bench chaos";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let seeds = chaos::seeds(
        env("MULTI_ENI_CHAOS_BASE_SEED", 1),
        env("MULTI_ENI_CHAOS_RUNS", 200),
    );
    let opts = chaos::Options {
        events: usize::try_from(env("MULTI_ENI_CHAOS_EVENTS", 8)).unwrap_or(8),
        ..chaos::Options::default()
    };
    let parallel = usize::try_from(env("MULTI_ENI_CHAOS_PARALLEL", 4)).unwrap_or(4);
    let campaign = runtime.block_on(chaos::campaign(&seeds, parallel, &opts));
    println!("{}", campaign.table(REPLAY));
    if !campaign.violations().is_empty() {
        std::process::exit(1);
    }
}
