//! Test support: the moto harness, the moto contract world and a scripted EC2 endpoint.
//! Each test file uses a different part.
#![allow(dead_code)]

pub mod moto;
pub mod moto_world;
pub mod scripted;

use prometheus_client::registry::Registry;

pub use multi_eni_ec2_aws::testing::adapter;

/// The registry in Prometheus text format.
pub fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text
}
