//! End to end: the real `multi-eni agent` process, run inside a throwaway network namespace
//! (`ip netns exec`) against the Kubernetes API double, configures the veth carrying its
//! attachment's MAC, writes only the agent-owned status, releases on Detaching, and a second
//! agent for another node ignores it. Needs root and iproute2 (.ci/run runs it as root).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use multi_eni_agent::address::MacAddr;
use multi_eni_agent::testing::cluster::{TIMEOUT, TestCluster};
use multi_eni_agent::testing::netns::Netns;
use multi_eni_agent::testing::status::{configured, released};
use multi_eni_agent::testing::sysfs::FakeKernel;
use multi_eni_api::Phase;
use tokio::process::{Child, Command};

const MAC_A: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 9, 0x0a]);
const MAC_B: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 9, 0x0b]);

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
async fn agent_process_configures_its_node_reports_releases_and_ignores_other_nodes() {
    let cluster = TestCluster::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, node, mac) in [("att-a", "node-a", MAC_A), ("att-b", "node-b", MAC_B)] {
        cluster
            .attach(name, node, &mac.to_string(), |s| s.mtu = Some(9001))
            .await;
    }
    let a = start_node(&cluster, dir.path(), "node-a", MAC_A, MAC_B).await;
    let b = start_node(&cluster, dir.path(), "node-b", MAC_B, MAC_A).await;

    let configured = configured(None, 9001);
    let o = cluster
        .wait_for("att-a", "node-a's agent to configure att-a", |o| {
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

    // node-b's agent configured its own ENI and ignored att-a, whose MAC it also carries.
    cluster
        .wait_for("att-b", "node-b's agent to configure att-b", |o| {
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

    cluster.set_phase("att-a", Phase::Detaching).await;
    let o = cluster
        .wait_for("att-a", "att-a released", |o| {
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
    let b_att = cluster.api().get("att-b").await.expect("att-b");
    assert!(
        !b_att.interface().is_some_and(|i| i.released),
        "att-b is untouched by att-a's release"
    );
    assert!(b.ns.link("ens6").expect("node-b's ens6").up());

    a.stop().await;
    b.stop().await;
}
