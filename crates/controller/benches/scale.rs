//! The scale benchmark: N nodes × M subnets rolled out, held steady, one node relabelled, torn
//! down — the whole controller on the API double (or the real kube-apiserver) and the EC2
//! simulator with AWS's token buckets and delays, behind the client-side limiter at the
//! `--ec2-api-budget` share. Prints the report (headline figures beside issue 11's targets,
//! the floor's formula and inputs, calls by action, Kubernetes requests, steady state) and
//! writes the convergence plots to `docs/plots/`.
//!
//! `cargo bench -p multi-eni-controller --bench scale` (1,000 × 2, EC2 ×10, budget 0.5);
//! `MULTI_ENI_SCALE_NODES=200 MULTI_ENI_SCALE_APISERVER=real cargo bench …` on the real
//! kube-apiserver; also `MULTI_ENI_SCALE_SUBNETS`, `_TIME_SCALE`, `_BUDGET`, `_STEADY_PASSES`,
//! and `MULTI_ENI_SCALE_PLOTS=<dir>` (default `docs/plots`, `-` for none).

#[path = "../tests/support/scale.rs"]
mod scale;

use std::path::PathBuf;

fn main() {
    let options = scale::Options::from_env();
    // Named apart from the controller's threads, whose CPU time is what the report sums.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("scale-bench")
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime.block_on(scale::run(&options));
    println!("{}", report.markdown());
    let plots = std::env::var("MULTI_ENI_SCALE_PLOTS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plots").to_owned());
    if plots != "-" {
        let files = report
            .write_plots(&PathBuf::from(plots))
            .expect("plots written");
        for f in files {
            println!("plot: {}", f.display());
        }
    }
}
