//! `multi-eni controller`: the cluster-wide controller, wired to EC2 through the AWS SDK.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use multi_eni_controller::run::metrics::Metrics;
use multi_eni_controller::run::process::{self, Setup};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Flags of `multi-eni controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    controller: multi_eni_controller::Args,

    #[command(flatten)]
    ec2: multi_eni_ec2_aws::Ec2Args,
}

/// Runs the controller until `shutdown`.
pub async fn run(args: ControllerArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let lease = args.controller.lease().map_err(anyhow::Error::msg)?;
    let mut registry = Registry::default();
    let ec2 = multi_eni_ec2_aws::connect(&args.ec2, &mut registry).await?;
    let metrics = Arc::new(Metrics::with_registry(registry));
    let client = kube::Client::try_default().await.context(
        "no Kubernetes API access: run in a pod with a ServiceAccount, or set KUBECONFIG",
    )?;
    let address = args.controller.metrics_address;
    let probes = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on --metrics-address {address}"))?;
    tracing::info!(%address, cluster = %args.controller.cluster_name, "serving /metrics, /healthz and /readyz");
    let setup = Setup {
        client,
        ec2: Arc::new(ec2),
        config: args.controller.config(),
        lease,
        metrics,
        probes: Some(probes),
    };
    process::run(setup, shutdown).await?;
    Ok(())
}
