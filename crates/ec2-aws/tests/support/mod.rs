//! Test support: the moto harness, the moto contract world and a scripted EC2 endpoint.
//! Each test file uses a different part.
#![allow(dead_code)]

pub mod moto;
pub mod moto_world;
pub mod scripted;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use multi_eni_ec2_aws::{AdapterOptions, AwsEc2, Ec2Metrics, RateLimiter};
use prometheus_client::registry::Registry;

/// An SDK config for a local endpoint: us-east-1, dummy static credentials.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "multi-eni-tests",
        )))
        .endpoint_url(endpoint)
        .build()
}

/// Options for tests: real standard-mode retries with a short first backoff.
pub fn test_options() -> AdapterOptions {
    AdapterOptions {
        initial_backoff: Duration::from_millis(5),
        ..AdapterOptions::default()
    }
}

/// An adapter at `endpoint` with the full AWS buckets, and the registry its metrics are in.
pub fn adapter(endpoint: &str) -> (AwsEc2, Registry) {
    let mut registry = Registry::default();
    let metrics = Ec2Metrics::register(&mut registry);
    let ec2 = AwsEc2::new(
        &sdk_config(endpoint),
        &test_options(),
        Arc::new(RateLimiter::aws_share(1.0)),
        metrics,
    );
    (ec2, registry)
}

/// The registry in Prometheus text format.
pub fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text
}
