//! End to end: the real `multi-eni agent` process, run inside a throwaway network namespace
//! (`ip netns exec`), configures the veth carrying its attachment's MAC, writes only the
//! agent-owned status, releases on Detaching, and a second agent for another node ignores it.
//! The same scenario runs twice: on the Kubernetes API double, and on the real kube-apiserver
//! (`multi-eni-kube-env`, TLS and a bearer token, RBAC on) so the double is not the only
//! witness. Needs root and iproute2 (.ci/run runs it as root), and the real control plane
//! built by `scripts/install-test-deps.sh`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kube::CustomResourceExt;
use multi_eni_agent::address::MacAddr;
use multi_eni_agent::testing::cluster::{TIMEOUT, TestCluster};
use multi_eni_agent::testing::netns::Netns;
use multi_eni_agent::testing::status::{configured, released};
use multi_eni_agent::testing::sysfs::FakeKernel;
use multi_eni_api::{EniAttachment, Phase};
use multi_eni_kube_env::{KubeEnv, apply_crds};
use tokio::process::{Child, Command};

const MAC_A: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 9, 0x0a]);
const MAC_B: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 9, 0x0b]);

// Names of this test's own: the real kube-apiserver is shared by the test binary and keeps
// whatever a test leaves behind.
const NODE_A: &str = "agent-process-node-a";
const NODE_B: &str = "agent-process-node-b";
const ATT_A: &str = "agent-process-att-a";
const ATT_B: &str = "agent-process-att-b";

/// One simulated node: its namespace (with a veth for its own ENI and one carrying the other
/// node's ENI MAC, which it must leave alone) and the agent process.
struct NodeProcess {
    ns: Netns,
    child: Child,
    log: PathBuf,
}

async fn start_node(
    cluster: &TestCluster,
    dir: &Path,
    node: &str,
    own: MacAddr,
    other: MacAddr,
) -> NodeProcess {
    let ns = Netns::new();
    ns.add_veth("ens6", own, "peer6");
    ns.add_veth("ens7", other, "peer7");
    let base = dir.join(node);
    std::fs::create_dir_all(&base).expect("node dir");
    let kubeconfig = base.join("kubeconfig");
    cluster.kubeconfig_for(&ns, &kubeconfig).await;
    // An empty fake sysfs: nothing here asks for DPDK, and the real /sys is never written.
    FakeKernel::new(base.join("sys")).expect("fake sysfs");
    let log = base.join("agent.log");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            env!("CARGO_BIN_EXE_multi-eni"),
            "agent",
        ])
        .env("NODE_NAME", node)
        .env("KUBECONFIG", &kubeconfig)
        .env("MULTI_ENI_SYSFS_ROOT", base.join("sys"))
        .env("MULTI_ENI_STATE_DIR", base.join("state"))
        .env("MULTI_ENI_SRIOV_CONFIG", base.join("pcidp/config.json"))
        .env("MULTI_ENI_AGENT_METRICS_ADDRESS", "127.0.0.1:0")
        .env("MULTI_ENI_LOG", "multi_eni_agent=debug,info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("start `multi-eni agent` under `ip netns exec` (needs root and iproute2)");
    NodeProcess { ns, child, log }
}

impl NodeProcess {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `what` (a check that did not pass yet) with the agent's logs, to see why.
    fn with_logs(&self, what: String) -> String {
        format!("{what}; agent logs:\n{}", self.logs())
    }

    /// SIGTERM, as the kubelet sends, then a clean exit within the deadline.
    async fn stop(mut self) {
        let pid = self.child.id().expect("agent still running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("agent exits on SIGTERM")
            .expect("wait");
        assert!(
            exit.success(),
            "agent exited with {exit}; logs:\n{}",
            self.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_double_agent_process_configures_its_node_reports_releases_and_ignores_other_nodes()
{
    two_agents(TestCluster::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_real_kube_apiserver_agent_process_configures_its_node_reports_releases_and_ignores_other_nodes()
 {
    two_agents(real_cluster().await).await;
}

/// The shared real kube-apiserver with the ENIAttachment CRD applied and `Established`, reached
/// with its admin kubeconfig (CA and token kept when it is pointed at the relay).
async fn real_cluster() -> TestCluster {
    let env = KubeEnv::shared();
    let client = env.client().await;
    apply_crds(&client, &[EniAttachment::crd()])
        .await
        .expect("apply the ENIAttachment CRD to the real kube-apiserver");
    let addr: SocketAddr = env
        .url()
        .strip_prefix("https://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("kube-env's URL is https://<ip>:<port>, got {}", env.url()));
    TestCluster::on_server(client, env.kubeconfig_yaml(), addr)
}

/// The scenario: two nodes, each agent configuring its own attachment and leaving the other
/// alone, then a release; ends by stopping both agents and deleting the attachments.
async fn two_agents(cluster: TestCluster) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, node, mac) in [(ATT_A, NODE_A, MAC_A), (ATT_B, NODE_B, MAC_B)] {
        cluster
            .attach(name, node, &mac.to_string(), |s| s.mtu = Some(9001))
            .await;
    }
    let a = start_node(&cluster, dir.path(), NODE_A, MAC_A, MAC_B).await;
    let b = start_node(&cluster, dir.path(), NODE_B, MAC_B, MAC_A).await;

    each_configures_its_own(&cluster, &a, &b).await;
    release_is_per_attachment(&cluster, &a, &b).await;

    a.stop().await;
    b.stop().await;
    for name in [ATT_A, ATT_B] {
        cluster.delete(name).await;
    }
}

/// node-a's agent configures att-a's link and reports it next to the controller's fields;
/// node-b's agent configures its own and ignores att-a, whose MAC it also carries.
async fn each_configures_its_own(cluster: &TestCluster, a: &NodeProcess, b: &NodeProcess) {
    let configured = configured(None, 9001);
    let o = cluster
        .wait_for(ATT_A, "node-a's agent to configure att-a", |o| {
            configured(o).map_err(|e| a.with_logs(e))
        })
        .await;
    let ens6 = a.ns.link("ens6").expect("ens6 in node-a");
    assert!(ens6.up() && ens6.mtu == 9001, "{ens6:?}");
    let i = o.interface().expect("interface");
    assert_eq!(
        (i.interface_name.as_deref(), i.if_index),
        (Some("ens6"), Some(ens6.ifindex))
    );
    let s = o.status.as_ref().expect("status");
    assert_eq!(s.phase, Some(Phase::Attached));
    assert_eq!(s.eni_id.as_deref(), Some("eni-0123456789abcdef0"));
    assert_eq!(
        s.attachment_id.as_deref(),
        Some("eni-attach-0123456789abcdef0")
    );
    assert_eq!(s.mac_address.as_deref(), Some(MAC_A.to_string().as_str()));
    assert_eq!(s.subnet_cidr.as_deref(), Some("10.0.1.0/24"));

    cluster
        .wait_for(ATT_B, "node-b's agent to configure att-b", |o| {
            configured(o).map_err(|e| b.with_logs(e))
        })
        .await;
    for (ns, name) in [(&a.ns, "ens7"), (&b.ns, "ens7")] {
        let l = ns.link(name).expect("the other node's MAC");
        assert!(
            !l.up() && l.mtu == 1500,
            "a link of another node's attachment was touched: {l:?}"
        );
    }
}

/// Detaching att-a makes node-a's agent let its link go and say so, controller fields intact;
/// att-b and node-b's link are untouched.
async fn release_is_per_attachment(cluster: &TestCluster, a: &NodeProcess, b: &NodeProcess) {
    cluster.set_phase(ATT_A, Phase::Detaching).await;
    let o = cluster
        .wait_for(ATT_A, "att-a released", |o| {
            released(o).map_err(|e| a.with_logs(e))
        })
        .await;
    assert!(
        !a.ns.link("ens6").expect("ens6").up(),
        "released links are let go (down)"
    );
    assert_eq!(
        o.status.as_ref().and_then(|s| s.eni_id.as_deref()),
        Some("eni-0123456789abcdef0")
    );
    let b_att = cluster.api().get(ATT_B).await.expect("att-b");
    assert!(
        !b_att.interface().is_some_and(|i| i.released),
        "att-b is untouched by att-a's release"
    );
    assert!(b.ns.link("ens6").expect("node-b's ens6").up());
}
