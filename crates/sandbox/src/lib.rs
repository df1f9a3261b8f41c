//! `multi-eni sandbox`: the whole system in one process, on a laptop with no AWS account and no
//! cluster — the Kubernetes API server double with the CRDs, the EC2 simulator (a VPC with
//! subnets in two zones, one instance per node, EC2's attach/detach delays and token buckets,
//! time-scaled), simulated Nodes, the real controller, a sample NodeENI and, as root, one real
//! agent per node in its own network namespace where attached ENIs appear as links.
//!
//! [`run`] is the command: start ([`Sandbox::start`]), show progress until converged
//! ([`display`]), tell the user what to try, run until asked to stop, then delete every
//! NodeENI, wait for the controller to remove their ENIs, and report any ENI left behind.

pub mod agents;
pub mod display;
pub mod links;
pub mod progress;
mod sandbox;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use agents::AgentMode;
pub use sandbox::{Sandbox, Teardown, run};

/// The cluster name the sandbox's controller tags its ENIs with.
pub const CLUSTER: &str = "sandbox";

/// Flags of `multi-eni sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Serve only the Kubernetes API double with the CRDs registered: no EC2 simulator, nodes,
    /// controller or sample. Point kubectl or any client at it.
    #[arg(long, env = "MULTI_ENI_SANDBOX_APISERVER_ONLY")]
    pub apiserver_only: bool,

    /// Port for the API double on 127.0.0.1; 0 picks a free one.
    #[arg(long, env = "MULTI_ENI_SANDBOX_PORT", default_value_t = 0)]
    pub port: u16,

    /// Where to write the kubeconfig [default: <run directory>/kubeconfig].
    #[arg(long, env = "MULTI_ENI_SANDBOX_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Simulated nodes (each an EC2 instance, alternating between two zones). All but the last
    /// carry `ng=multi-eni`, the sample NodeENI's selector, so one is left to label by hand.
    #[arg(long, env = "MULTI_ENI_SANDBOX_NODES", default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=500))]
    pub nodes: u16,

    /// Subnets per zone the sample NodeENI lists (1–3): each matching node gets one ENI per
    /// subnet in its zone, at device indexes 1, 2, 3.
    #[arg(long, env = "MULTI_ENI_SANDBOX_SUBNETS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=i64::from(world::MAX_SUBNETS_PER_ZONE)))]
    pub subnets: u8,

    /// EC2 seconds per real second: 10 makes a 2 s attach take 0.2 s and refills EC2's token
    /// buckets ten times faster. 1 is real time.
    #[arg(long, env = "MULTI_ENI_SANDBOX_TIME_SCALE", default_value_t = 10.0, value_parser = positive)]
    pub time_scale: f64,

    /// Run one real agent per node, each in its own network namespace (needs root and iproute2).
    /// `auto`: when root. Without agents, attachments stop at Attached.
    #[arg(long, env = "MULTI_ENI_SANDBOX_AGENTS", value_enum, default_value_t = AgentMode::Auto)]
    pub agents: AgentMode,

    /// Fault injection: this share (0–1) of EC2 calls is refused with RequestLimitExceeded, as
    /// EC2 does when throttling.
    #[arg(long, env = "MULTI_ENI_SANDBOX_THROTTLE_RATE", default_value_t = 0.0, value_parser = share)]
    pub throttle_rate: f64,

    /// Fault injection: this share (0–1) of EC2 calls is applied but its response lost (what a
    /// timeout after EC2 acted looks like).
    #[arg(long, env = "MULTI_ENI_SANDBOX_LOST_RESPONSE_RATE", default_value_t = 0.0, value_parser = share)]
    pub lost_response_rate: f64,

    /// Seed of the simulator (IDs, MACs, delays' jitter, fault draws).
    #[arg(long, env = "MULTI_ENI_SANDBOX_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Serve the controller's /metrics, /healthz and /readyz here (e.g. 127.0.0.1:8080).
    #[arg(long, env = "MULTI_ENI_SANDBOX_METRICS_ADDRESS", value_name = "ADDR")]
    pub metrics_address: Option<SocketAddr>,

    /// Do not apply the sample NodeENI (deploy/samples/nodeeni.yaml).
    #[arg(long, env = "MULTI_ENI_SANDBOX_NO_SAMPLE")]
    pub no_sample: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1 (e.g. 0.2)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_numbers_are_refused_with_what_is_wanted() {
        assert_eq!(positive("10"), Ok(10.0));
        assert!(positive("0").expect_err("zero").contains("positive"));
        assert!(positive("inf").is_err());
        assert_eq!(share("0.2"), Ok(0.2));
        assert!(
            share("1.5")
                .expect_err("above 1")
                .contains("between 0 and 1")
        );
        assert!(share("x").is_err());
    }
}
