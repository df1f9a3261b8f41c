//! The production [`multi_eni_ec2::Ec2`] adapter on `aws-sdk-ec2` — the only crate of
//! multi-eni that links the AWS SDK.
//!
//! * Region and credentials from the standard chain (environment, profile, web identity /
//!   IRSA, EKS Pod Identity and ECS container credentials, IMDSv2 instance profile).
//! * Endpoint override: `--ec2-endpoint`, else the standard `AWS_ENDPOINT_URL_EC2` /
//!   `AWS_ENDPOINT_URL` variables.
//! * SDK *standard* retry mode, 3 attempts by default; every retry is charged to the
//!   process-wide client-side [`RateLimiter`] (one bucket per EC2 API bucket), so the two
//!   never limit twice.
//! * Per-API metrics ([`Ec2Metrics`]).
//!
//! See `docs/ec2.md`.

mod adapter;
mod args;
mod convert;
mod errors;
mod metrics;
mod retry_charge;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

pub use adapter::{AdapterOptions, AwsEc2};
pub use args::Ec2Args;
use aws_sdk_ec2::config::ProvideCredentials;
pub use metrics::Ec2Metrics;
pub use multi_eni_ec2::RateLimiter;
use prometheus_client::registry::Registry;

/// Why the adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No Region anywhere in the chain.
    #[error(
        "no AWS Region: pass --aws-region, or set AWS_REGION, or run where the instance metadata service answers"
    )]
    NoRegion,
    /// The standard chain found no credentials (or could not load them).
    #[error(
        "no AWS credentials: give the controller's ServiceAccount an IAM role (IRSA or EKS Pod Identity), or set AWS_ACCESS_KEY_ID / AWS_PROFILE, or run where the instance metadata service answers — {0}"
    )]
    NoCredentials(String),
}

/// Loads region and credentials from the standard chain, applies `args`, and returns the
/// adapter with its limiter (at `args.api_budget` of EC2's buckets) and metrics registered
/// into `registry`.
pub async fn connect(args: &Ec2Args, registry: &mut Registry) -> Result<AwsEc2, ConnectError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(ConnectError::NoRegion);
    }
    // Loaded once here so that a missing identity is a clear start-up error, not a transport
    // error on every call (the provider caches what it loads).
    let Some(credentials) = sdk.credentials_provider() else {
        return Err(ConnectError::NoCredentials("no provider configured".into()));
    };
    if let Err(e) = credentials.provide_credentials().await {
        return Err(ConnectError::NoCredentials(e.to_string()));
    }
    let limiter = Arc::new(RateLimiter::aws_share(args.api_budget));
    let metrics = Ec2Metrics::register(registry);
    Ok(AwsEc2::new(&sdk, &args.options(), limiter, metrics))
}
