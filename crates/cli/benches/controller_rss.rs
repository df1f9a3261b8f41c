//! The controller's own footprint at scale: the real `multi-eni controller` process — the binary
//! the image ships, in a process of its own — on the real kube-apiserver, with the EC2 simulator
//! served over EC2's wire protocol behind the real `aws-sdk-ec2` adapter, rolling a NodeENI out
//! to N nodes × 2 subnets and tearing it down. Its peak resident set (`VmHWM`) and CPU seconds
//! are read from `/proc`; nothing else lives in it (the simulator runs in the bench's process).
//!
//! ```text
//! cargo bench -p multi-eni --bench controller_rss
//! ```
//!
//! It measures what ships: the image's binary (`--profile image --no-default-features`, as the
//! Dockerfile builds it; the bench builds it first — the first build compiles `aws-sdk-ec2`
//! optimized: about half an hour on 2 cores and ~9 GB of memory) with the
//! controller Deployment's allocator settings (`GLIBC_*`, read from
//! `deploy/kustomize/base/controller.yaml`).
//! Settings: `MULTI_ENI_RSS_NODES` (1000), `MULTI_ENI_RSS_BUDGET` (`--ec2-api-budget`, 1.0),
//! `MULTI_ENI_RSS_BINARY` (another `multi-eni` binary to measure instead, e.g.
//! `target/release/multi-eni`).
//! The simulator is AWS-like in real time (`SimConfig::default()`: attach and detach delays,
//! eventual consistency, EC2's token buckets), so the run takes about as long as on EC2.
//! Moto served here before: at 3,000 ENIs it needs more than the adapter's 10-s attempt
//! timeout per 200-ID DescribeInstances, and the run at 1,000 × 2 could not finish.
//! Needs `bash scripts/test.sh`'s kube-apiserver and etcd.

#[path = "../tests/support/controller_process.rs"]
#[allow(dead_code)]
mod controller_process;

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller_process::{ControllerProcess, Launch};
use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use multi_eni_api::{EniAttachment, NodeEni, Phase};
use multi_eni_ec2::Ec2;
use multi_eni_ec2_aws::testing::Ec2Server;
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_kube_env::{KubeEnv, apply_crds, create_node};
use serde_json::json;

const CLUSTER: &str = "rss";
const ZONE: &str = "us-east-1a";
/// Room for the two extra ENIs from device index 2 (the primary and the VPC CNI's index 1).
const INSTANCE_TYPE: &str = "m5.xlarge";
const NAME: &str = "rss-multus";
/// The longest the rollout or the teardown may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(45 * 60);

fn var<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a valid value")),
        Err(_) => default,
    }
}

/// One figure of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of process `pid` (`/proc/<pid>/stat`, clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state.
    let total = ticks(11)? + ticks(12)?;
    #[allow(clippy::cast_precision_loss)]
    Some(total as f64 / 100.0)
}

fn mib(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let k = kib as f64;
    k / 1024.0
}

/// Counts of the NodeENI's ENIAttachments: (all, Attached or Ready).
async fn progress(api: &Api<EniAttachment>) -> (usize, usize) {
    let list = match api
        .list(
            &ListParams::default()
                .labels(&format!("{}={NAME}", multi_eni_api::keys::LABEL_NODEENI)),
        )
        .await
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rss: listing ENIAttachments failed ({e}); trying again");
            return (usize::MAX, 0);
        }
    };
    let attached = list
        .items
        .iter()
        .filter(|a| {
            matches!(
                a.status.as_ref().and_then(|s| s.phase),
                Some(Phase::Attached | Phase::Ready)
            )
        })
        .count();
    (list.items.len(), attached)
}

/// Polls every 5 s until `done`, saying where things are every 30 s; panics after the limit.
async fn until<F, Fut>(what: &str, c: &mut ControllerProcess, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let start = Instant::now();
    let mut said = Instant::now();
    loop {
        c.assert_running();
        let (ok, note) = done().await;
        if ok {
            eprintln!(
                "rss: {what}: {note} after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PHASE_LIMIT,
            "{}",
            c.with_logs(format!("{what}: not done after {PHASE_LIMIT:?} ({note})"))
        );
        if said.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "rss: {what}: {note} ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The largest resident set sampled, with its split into anonymous memory (heap, stacks) and
/// file pages (the binary's code and read-only data), in KiB.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    rss: u64,
    anon: u64,
    file: u64,
}

/// Samples the process's resident set every second, keeping the largest.
fn sample_rss(pid: u32, peak: Arc<parking_lot::Mutex<Sample>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(rss) = status_kib(pid, "VmRSS:") else {
                return;
            };
            let mut p = peak.lock();
            if rss > p.rss {
                *p = Sample {
                    rss,
                    anon: status_kib(pid, "RssAnon:").unwrap_or(0),
                    file: status_kib(pid, "RssFile:").unwrap_or(0),
                };
            }
        }
    })
}

/// The simulator with a VPC, the node subnet, `rss-multus-1` and `-2`, `rss-multus-sg` and
/// `nodes` running instances; a Node per instance labelled `ng=multi-eni`. The node names.
async fn build_world(client: &kube::Client, sim: &Ec2Sim, nodes: usize) -> Vec<String> {
    let vpc = sim.add_vpc("10.20.0.0/16").expect("a VPC");
    let hosts = sim
        .add_subnet(&vpc, ZONE, "10.20.0.0/20", Some("rss-nodes"))
        .expect("the node subnet");
    for (i, cidr) in ["10.20.16.0/20", "10.20.32.0/20"].iter().enumerate() {
        let name = format!("rss-multus-{}", i + 1);
        sim.add_subnet(&vpc, ZONE, cidr, Some(&name))
            .expect("a multus subnet");
    }
    sim.add_security_group(&vpc, "rss-multus-sg")
        .expect("the group");
    let mut names = Vec::new();
    for i in 0..nodes {
        let instance = sim
            .launch_instance(&hosts, INSTANCE_TYPE)
            .expect("an instance");
        let name = format!("rss-node-{i:04}");
        let provider_id = format!("aws:///{ZONE}/{instance}");
        let labels = [("ng", "multi-eni"), ("topology.kubernetes.io/zone", ZONE)];
        create_node(client, &name, &labels, Some(&provider_id))
            .await
            .expect("create the node");
        names.push(name);
    }
    eprintln!("rss: {nodes} instances in the simulator, {nodes} Nodes in the kube-apiserver");
    names
}

/// The binary to measure: `MULTI_ENI_RSS_BINARY`, else the image's own (the Dockerfile's
/// `cargo build --profile image -p multi-eni --no-default-features`), built now.
fn binary_to_measure() -> std::path::PathBuf {
    if let Some(b) = std::env::var_os("MULTI_ENI_RSS_BINARY") {
        let b = std::path::PathBuf::from(b);
        assert!(
            b.exists(),
            "MULTI_ENI_RSS_BINARY={}: no such file",
            b.display()
        );
        eprintln!("rss: measuring {}", b.display());
        return b;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = [
        "build",
        "--locked",
        "--profile",
        "image",
        "-p",
        "multi-eni",
        "--no-default-features",
    ];
    eprintln!(
        "rss: building the image's binary (cargo {}; the first build takes minutes)",
        args.join(" ")
    );
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(args)
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "building the image's binary failed: {status}"
    );
    let b = target.join("image/multi-eni");
    eprintln!("rss: measuring {}", b.display());
    b
}

/// The allocator settings the shipped controller Deployment sets (`GLIBC_*` variables of its
/// container, `deploy/kustomize/base/controller.yaml`), so the bench measures what ships.
fn allocator_env() -> Vec<(String, String)> {
    use k8s_openapi::api::apps::v1::Deployment;
    use serde::Deserialize;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kustomize/base/controller.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let deployment = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .find(|d| d.get("kind").and_then(|k| k.as_str()) == Some("Deployment"))
        .and_then(|d| serde_yaml::from_value::<Deployment>(d).ok())
        .expect("the controller Deployment");
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("its pod spec");
    pod.containers
        .iter()
        .flat_map(|c| c.env.iter().flatten())
        .filter(|e| e.name.starts_with("GLIBC_"))
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

/// The NodeENI: both subnets by name, the group by name, device index 2.
fn node_eni() -> NodeEni {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
        "metadata": { "name": NAME },
        "spec": {
            "nodeSelector": { "ng": "multi-eni" },
            "subnetNames": ["rss-multus-1", "rss-multus-2"],
            "securityGroupNames": ["rss-multus-sg"],
            "deviceIndex": 2, "deleteOnTermination": true, "mtu": 9001,
            "description": "multi-eni RSS bench",
        },
    }))
    .expect("a valid NodeENI")
}

/// What one run measured.
struct Measured {
    nodes: usize,
    budget: f64,
    idle_kib: u64,
    attached_kib: u64,
    hwm_kib: u64,
    sampled: Sample,
    rollout_cpu: f64,
    cpu: f64,
    rollout: Duration,
    teardown: Duration,
}

/// Rolls the NodeENI out and tears it down with controller `c` running, measuring it.
async fn run(
    client: &kube::Client,
    c: &mut ControllerProcess,
    nodes: usize,
    budget: f64,
) -> Measured {
    let enis = 2 * nodes;
    let pid = c.pid().expect("the controller runs");
    let peak = Arc::new(parking_lot::Mutex::new(Sample::default()));
    let sampler = sample_rss(pid, peak.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    let node_enis: Api<NodeEni> = Api::all(client.clone());
    node_enis
        .create(&PostParams::default(), &node_eni())
        .await
        .expect("create the NodeENI");
    let attachments: Api<EniAttachment> = Api::all(client.clone());
    let rollout = until("rollout", c, || async {
        let (all, attached) = progress(&attachments).await;
        let note = format!("{attached} of {enis} ENIs Attached");
        (all == enis && attached == enis, note)
    })
    .await;
    let rollout_cpu = cpu_secs(pid).unwrap_or(0.0);
    let attached_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    node_enis
        .delete(NAME, &DeleteParams::default())
        .await
        .expect("delete the NodeENI");
    let teardown = until("teardown", c, || async {
        let (all, _) = progress(&attachments).await;
        let ne_gone = matches!(node_enis.get_opt(NAME).await, Ok(None));
        (all == 0 && ne_gone, format!("{all} ENIAttachments left"))
    })
    .await;
    sampler.abort();
    Measured {
        nodes,
        budget,
        idle_kib,
        attached_kib,
        hwm_kib: status_kib(pid, "VmHWM:").unwrap_or(0),
        sampled: *peak.lock(),
        rollout_cpu,
        cpu: cpu_secs(pid).unwrap_or(0.0),
        rollout,
        teardown,
    }
}

impl Measured {
    fn markdown(&self, binary: &std::path::Path, env: &[(String, String)]) -> String {
        let (nodes, enis, budget) = (self.nodes, 2 * self.nodes, self.budget);
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut out = format!(
            "## Controller footprint: {nodes} nodes × 2 subnets = {enis} ENIs; `{} controller` ({}), real kube-apiserver, the EC2 simulator (AWS-like delays and buckets) over the wire\n\n\
             | figure | measured | target |\n| --- | --- | --- |\n",
            binary.display(),
            if env.is_empty() {
                "no allocator settings".to_owned()
            } else {
                env.join(" ")
            }
        );
        let rows = [
            (
                "peak resident set (VmHWM), rollout and teardown".to_owned(),
                format!(
                    "{:.1} MiB (largest sample, each second: {:.1} MiB = {:.1} anonymous + {:.1} file pages)",
                    mib(self.hwm_kib),
                    mib(self.sampled.rss),
                    mib(self.sampled.anon),
                    mib(self.sampled.file)
                ),
                "≤ 64 MiB",
            ),
            (
                "resident set at start, before the NodeENI".to_owned(),
                format!("{:.1} MiB", mib(self.idle_kib)),
                "–",
            ),
            (
                "resident set with every ENI attached".to_owned(),
                format!("{:.1} MiB", mib(self.attached_kib)),
                "–",
            ),
            (
                "CPU seconds: rollout / rollout + teardown".to_owned(),
                format!("{:.1} / {:.1}", self.rollout_cpu, self.cpu),
                "–",
            ),
            (
                format!(
                    "rollout / teardown (EC2 delays in real time; the limiter at budget {budget})"
                ),
                format!(
                    "{:.0} s / {:.0} s",
                    self.rollout.as_secs_f64(),
                    self.teardown.as_secs_f64()
                ),
                "–",
            ),
        ];
        for (what, measured, target) in rows {
            let _ = writeln!(out, "| {what} | {measured} | {target} |");
        }
        out
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes: usize = var("MULTI_ENI_RSS_NODES", 1000);
    let budget: f64 = var("MULTI_ENI_RSS_BUDGET", 1.0);
    let binary = binary_to_measure();
    eprintln!(
        "rss: {nodes} nodes × 2 subnets = {} ENIs, budget {budget}",
        2 * nodes
    );
    let env = KubeEnv::shared();
    let client = env.client().await;
    apply_crds(&client, &[NodeEni::crd(), EniAttachment::crd()])
        .await
        .expect("apply the CRDs");
    let sim = Arc::new(Ec2Sim::new(SimConfig::default()));
    let node_names = build_world(&client, &sim, nodes).await;
    let port: Arc<dyn Ec2> = sim.clone();
    let server = Ec2Server::start(port).await;
    let deployment_env = allocator_env();
    eprintln!("rss: the Deployment's allocator settings: {deployment_env:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let budget_flag = budget.to_string();
    let mut c = ControllerProcess::launch(&Launch {
        dir: dir.path(),
        name: "controller",
        kubeconfig: env.kubeconfig(),
        ec2_endpoint: &server.endpoint,
        cluster: CLUSTER,
        resync: "5m",
        log_filter: "info",
        extra: &["--ec2-api-budget", &budget_flag],
        binary: Some(&binary),
        env: &deployment_env,
    });
    let measured = run(&client, &mut c, nodes, budget).await;
    c.terminate().await;
    // Our Nodes go too: the shared kube-apiserver may serve more in this process.
    let api = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone());
    for name in node_names {
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    println!("{}", measured.markdown(&binary, &deployment_env));
}
