//! Test support, behind the `testing` feature: a `moto_server` process (pinned in
//! `scripts/install-test-deps.sh`) and the EC2 calls that set up a world in it (VPC, subnets,
//! security groups, instances) which the [`multi_eni_ec2::Ec2`] port does not have; and
//! [`Ec2Server`], EC2's Query protocol in front of any port (the simulator, for benchmarks of
//! the real controller binary). This crate stays the only one linking `aws-sdk-ec2`: other
//! crates' tests set moto up through here.

mod query_decode;
mod query_encode;
mod query_endpoint;
mod sim_server;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use prometheus_client::registry::Registry;

use crate::{AdapterOptions, AwsEc2, Ec2Metrics, RateLimiter};

pub use query_endpoint::{Answer, QueryEndpoint, QueryHandler, QueryRequest, Reply};
pub use sim_server::Ec2Server;

/// How long moto may take to start (a cold Python import on a busy 2-core box).
const STARTUP: Duration = Duration::from_secs(60);

/// A Linux AMI from moto's built-in catalogue (`moto/ec2/resources/amis.json.gz`).
pub const MOTO_AMI: &str = "ami-760aaa0f";

/// A running moto server, killed when dropped (its log kept if the thread is panicking).
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    log: PathBuf,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `moto_server` binary: `$MOTO_SERVER`, else the test venv.
fn binary() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("target/test-venv/bin/moto_server"),
    }
}

impl MotoServer {
    /// Starts a fresh server (fresh state) on a free 127.0.0.1 port and waits until it
    /// accepts connections, or panics saying what to install.
    pub async fn start() -> MotoServer {
        let bin = binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: run `bash scripts/install-test-deps.sh` (or set MOTO_SERVER)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let logs = workspace_root().join("target/moto-logs");
        std::fs::create_dir_all(&logs).expect("create target/moto-logs");
        let log = logs.join(format!("moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create moto log");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(port).await;
        server
    }

    async fn wait_ready(&mut self, port: u16) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited with {status} before listening; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not listen on {port} within {STARTUP:?}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep the log of a failed test for diagnosis.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// An SDK config for a local endpoint: us-east-1, dummy static credentials (`testing`).
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

/// The adapter at `endpoint` with the full AWS buckets, and the registry its metrics are in.
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

/// Raw `aws-sdk-ec2` calls that build a world in a local EC2 double (moto); each panics with
/// the call's name when the double refuses.
#[derive(Debug, Clone)]
pub struct Ec2Setup {
    raw: aws_sdk_ec2::Client,
}

impl Ec2Setup {
    /// Setup calls against `endpoint`.
    pub fn new(endpoint: &str) -> Ec2Setup {
        Ec2Setup {
            raw: aws_sdk_ec2::Client::new(&sdk_config(endpoint)),
        }
    }

    /// CreateVpc; the VPC's id.
    pub async fn create_vpc(&self, cidr: &str) -> String {
        let out = self
            .raw
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .expect("moto CreateVpc");
        out.vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string()
    }

    /// CreateSubnet, tagged `Name=<name>` when given; the subnet's id.
    pub async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String {
        let mut call = self
            .raw
            .create_subnet()
            .vpc_id(vpc_id)
            .availability_zone(zone)
            .cidr_block(cidr);
        if let Some(n) = name {
            call = call.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(Tag::builder().key("Name").value(n).build())
                    .build(),
            );
        }
        let out = call.send().await.expect("moto CreateSubnet");
        out.subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string()
    }

    /// CreateSecurityGroup named (and described as) `name`; the group's id.
    pub async fn create_security_group(&self, vpc_id: &str, name: &str) -> String {
        let out = self
            .raw
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(name)
            .send()
            .await
            .expect("moto CreateSecurityGroup");
        out.group_id().expect("group id").to_string()
    }

    /// RunInstances of one `instance_type` in `subnet_id` ([`MOTO_AMI`]); the instance's id.
    pub async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String {
        let ids = self.launch_instances(subnet_id, instance_type, 1).await;
        ids.into_iter().next().expect("instance id")
    }

    /// One RunInstances of `count` instances of `instance_type` in `subnet_id`; their ids.
    pub async fn launch_instances(
        &self,
        subnet_id: &str,
        instance_type: &str,
        count: i32,
    ) -> Vec<String> {
        let out = self
            .raw
            .run_instances()
            .image_id(MOTO_AMI)
            .instance_type(InstanceType::from(instance_type))
            .subnet_id(subnet_id)
            .min_count(count)
            .max_count(count)
            .send()
            .await
            .expect("moto RunInstances");
        let ids: Vec<String> = out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id())
            .map(str::to_string)
            .collect();
        assert_eq!(
            ids.len(),
            usize::try_from(count).unwrap_or(0),
            "moto RunInstances"
        );
        ids
    }

    /// StopInstances.
    pub async fn stop_instance(&self, instance_id: &str) {
        self.raw
            .stop_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto StopInstances");
    }

    /// StartInstances.
    pub async fn start_instance(&self, instance_id: &str) {
        self.raw
            .start_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto StartInstances");
    }

    /// TerminateInstances.
    pub async fn terminate_instance(&self, instance_id: &str) {
        self.raw
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto TerminateInstances");
    }
}
