//! `moto_server` on a free 127.0.0.1 port: the crate's `testing` harness, shared with other
//! crates' tests.

pub use multi_eni_ec2_aws::testing::MotoServer;
