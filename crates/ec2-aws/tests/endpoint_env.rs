//! `connect()` honours the standard `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL` variables and
//! the standard credential/region chain, and `--ec2-endpoint` (here via its
//! `MULTI_ENI_EC2_ENDPOINT` env fallback) wins over them.
//!
//! Environment variables are process-wide (and `set_var` is `unsafe` in edition 2024), so
//! the test re-runs its own binary as a child with the variables set; the child connects and
//! makes one request, and the parent checks which endpoint received it.

mod support;

use clap::Parser;
use multi_eni_ec2::{DescribeQuery, Ec2};
use multi_eni_ec2_aws::{Ec2Args, connect};
use support::scripted::{Reply, Scripted};

const CHILD: &str = "MULTI_ENI_ENDPOINT_TEST_CHILD";
const TEST: &str = "standard_endpoint_variables_are_honoured_and_the_flag_wins";

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    ec2: Ec2Args,
}

fn subnets_xml() -> Reply {
    Reply::ok(
        r#"<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><subnetSet><item><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><availabilityZone>us-east-1a</availabilityZone><cidrBlock>10.0.1.0/24</cidrBlock><availableIpAddressCount>251</availableIpAddressCount></item></subnetSet></DescribeSubnetsResponse>"#,
    )
}

/// The child's side: flags from the environment, the standard chain, one request.
async fn child() {
    let cli = Cli::try_parse_from(["child"]).expect("flags from the environment");
    let mut registry = prometheus_client::registry::Registry::default();
    let ec2 = connect(&cli.ec2, &mut registry).await.expect("connect");
    let page = ec2
        .describe_subnets(&DescribeQuery::ids(["subnet-1"]))
        .await
        .expect("DescribeSubnets reaches the scripted endpoint");
    assert_eq!(page.items[0].available_ip_address_count, 251);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_endpoint_variables_are_honoured_and_the_flag_wins() {
    if std::env::var_os(CHILD).is_some() {
        return child().await;
    }
    let exe = std::env::current_exe().expect("test binary path");
    // (variables pointing at the target, variables pointing at a decoy)
    let cases: [(&[&str], &[&str]); 3] = [
        (&["AWS_ENDPOINT_URL_EC2"], &[]),
        (&["AWS_ENDPOINT_URL"], &[]),
        (
            &["MULTI_ENI_EC2_ENDPOINT"],
            &["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"],
        ),
    ];
    for (to_target, to_decoy) in cases {
        let target = Scripted::start(vec![subnets_xml()]).await;
        let decoy = Scripted::start(vec![subnets_xml()]).await;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
        for var in [
            "AWS_ENDPOINT_URL_EC2",
            "AWS_ENDPOINT_URL",
            "MULTI_ENI_EC2_ENDPOINT",
            "AWS_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        ] {
            cmd.env_remove(var);
        }
        for var in to_target {
            cmd.env(var, &target.endpoint);
        }
        for var in to_decoy {
            cmd.env(var, &decoy.endpoint);
        }
        let out = cmd.output().await.expect("run the child");
        assert!(
            out.status.success(),
            "child with {to_target:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            target.actions(),
            ["DescribeSubnets"],
            "{to_target:?} must select the endpoint"
        );
        assert!(
            decoy.actions().is_empty(),
            "{to_decoy:?} must lose to {to_target:?}"
        );
    }
}
