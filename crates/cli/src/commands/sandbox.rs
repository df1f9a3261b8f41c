//! `multi-eni sandbox`: the embedded default. Everything in-process on 127.0.0.1 — the
//! Kubernetes API server double with the CRDs registered, simulated nodes and a sample NodeENI —
//! plus a kubeconfig so `kubectl` can explore it.
//!
//! The controller does not exist yet, so no ENIs are created: the sandbox shows the API, its
//! validation and the objects a cluster would hold, and says so when it starts.

use std::path::PathBuf;

use anyhow::Context;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use multi_eni_api::NodeEni;
use multi_eni_kube_double::{ApiServer, ServerConfig};

/// The NodeENI the sandbox applies (also `deploy/samples/nodeeni.yaml`).
const SAMPLE_NODEENI: &str = include_str!("../../../../deploy/samples/nodeeni.yaml");

/// Flags of `multi-eni sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Serve only the Kubernetes API double (with the CRDs registered): no simulated nodes, no
    /// sample NodeENI. Point kubectl or any client at it.
    #[arg(long)]
    pub apiserver_only: bool,

    /// Port for the API double on 127.0.0.1; 0 picks a free one.
    #[arg(long, env = "MULTI_ENI_SANDBOX_PORT", default_value_t = 0)]
    pub port: u16,

    /// Where to write the kubeconfig; default: a fresh directory under the system temp dir.
    #[arg(long, env = "MULTI_ENI_SANDBOX_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// How many simulated nodes to create; the first ⌈n/2⌉ carry `ng=multi-eni` and so match the
    /// sample NodeENI.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub nodes: u16,
}

/// Runs the sandbox until `shutdown` completes.
pub async fn run(args: &SandboxArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = ApiServer::start(ServerConfig {
        port: args.port,
        ..ServerConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "starting the Kubernetes API double on 127.0.0.1:{}",
            args.port
        )
    })?;
    let kubeconfig = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => {
            let dir =
                std::env::temp_dir().join(format!("multi-eni-sandbox-{}", server.addr().port()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join("kubeconfig")
        }
    };
    server
        .write_kubeconfig(&kubeconfig)
        .with_context(|| format!("writing the kubeconfig to {}", kubeconfig.display()))?;
    let client = server
        .client()
        .context("building a client for the API double")?;

    step("registering the CRDs");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in multi_eni_api::crds::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.create(&PostParams::default(), &crd)
            .await
            .with_context(|| format!("registering CRD {name}"))?;
        detail(&format!("customresourcedefinition/{name} created"));
    }

    if !args.apiserver_only {
        step(&format!("creating {} simulated nodes", args.nodes));
        let nodes: Api<Node> = Api::all(client.clone());
        for i in 0..args.nodes {
            let node = simulated_node(i, args.nodes)?;
            let name = node.metadata.name.clone().unwrap_or_default();
            nodes
                .create(&PostParams::default(), &node)
                .await
                .with_context(|| format!("creating node {name}"))?;
            detail(&format!("node/{name} created"));
        }
        step("applying the sample NodeENI (deploy/samples/nodeeni.yaml)");
        let sample: NodeEni =
            serde_yaml::from_str(SAMPLE_NODEENI).context("parsing the embedded sample NodeENI")?;
        Api::<NodeEni>::all(client.clone())
            .create(&PostParams::default(), &sample)
            .await
            .context("applying the sample NodeENI")?;
        detail("nodeeni.networking.k8s.aws/sample-multus created");
    }

    println!();
    println!("API server: {}", server.url());
    println!("kubeconfig: {}", kubeconfig.display());
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get neni,enia,nodes --show-labels");
    println!("  kubectl apply -f crates/api/tests/fixtures/valid/");
    println!(
        "  kubectl apply -f crates/api/tests/fixtures/invalid/09-device-index-zero.yaml   # refused"
    );
    println!();
    println!(
        "Note: the controller is not built yet, so no ENIs are created and NodeENI status stays empty."
    );
    println!("Press Ctrl-C to stop.");
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

/// A node as EKS registers one: zone and instance-type labels, an `aws://` provider ID.
fn simulated_node(i: u16, total: u16) -> anyhow::Result<Node> {
    let zones = ["us-east-1a", "us-east-1b"];
    let zone = zones[usize::from(i) % zones.len()];
    let matches = i < total.div_ceil(2);
    let mut labels = serde_json::json!({
        "kubernetes.io/hostname": format!("sandbox-node-{}", i + 1),
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": "m5.xlarge",
    });
    if matches {
        labels["ng"] = "multi-eni".into();
    }
    let node = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": format!("sandbox-node-{}", i + 1), "labels": labels},
        "spec": {"providerID": format!("aws:///{zone}/i-{:017x}", 0x0d00_0000_0000_0000_u64 + u64::from(i))},
    });
    serde_json::from_value(node).context("building a simulated Node")
}

fn step(what: &str) {
    println!("==> {what}");
}

fn detail(what: &str) {
    println!("    {what}");
}
