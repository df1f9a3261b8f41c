//! Running the agent in-process against the API double, with netlink opened inside a throwaway
//! network namespace and sysfs faked.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use multi_eni_agent::address::MacAddr;
use multi_eni_agent::plan::Naming;
use multi_eni_agent::testing::cluster::TestCluster;
use multi_eni_agent::testing::netns::Netns;
use multi_eni_agent::testing::sysfs::FakeKernel;
use multi_eni_agent::{Agent, AgentConfig, AgentError};
use multi_eni_api::keys::reason;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use multi_eni_agent::testing::status::*;

pub const MAC_A: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 0, 0x0a]);
pub const MAC_B: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 0, 0x0b]);
pub const MAC_FOREIGN: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 0, 0xff]);

/// One node: a network namespace, a fake sysfs and a state directory.
pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub kernel: FakeKernel,
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = FakeKernel::new(dir.path().join("sys")).expect("fake sysfs");
        Node {
            name: name.into(),
            ns: Netns::new(),
            kernel,
            dir,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn sriov_config(&self) -> PathBuf {
        self.dir.path().join("pcidp/config.json")
    }

    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            node_name: self.name.clone(),
            naming: Naming::Kernel,
            state_dir: self.state_dir(),
            sriov_config: Some(self.sriov_config()),
            metrics_address: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            dpdk_verify_timeout: Duration::ZERO,
        }
    }

    /// Starts an agent for this node with netlink opened inside the namespace.
    pub async fn start_agent(&self, cluster: &TestCluster, config: AgentConfig) -> RunningAgent {
        let (links, events) = self.ns.connect_links();
        let agent = Agent::new(
            config,
            cluster.client.clone(),
            links,
            events,
            self.kernel.sysfs(),
        )
        .await
        .expect("agent");
        let metrics_addr = agent.metrics_addr().expect("metrics address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async move {
            let _ = stopped.await;
        }));
        RunningAgent {
            metrics_addr,
            stop: Some(stop),
            task,
        }
    }
}

pub struct RunningAgent {
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AgentError>>,
}

impl RunningAgent {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let res = (&mut self.task).await.expect("agent task");
        res.expect("agent ran without error");
    }

    /// GET a path of the metrics server.
    pub async fn get(&self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.metrics_addr)
            .await
            .expect("connect metrics");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.expect("read");
        let code = buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (code, body)
    }

    /// Asserts that `/metrics` has the sample `line` (name, labels and value), exactly.
    pub async fn assert_metric(&self, line: &str) {
        let (code, body) = self.get("/metrics").await;
        assert_eq!(code, 200, "{body}");
        assert!(body.lines().any(|l| l == line), "no {line:?} in:\n{body}");
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the agent reports that the attachment's link has not appeared (yet): the agent
/// knows the attachment, so a link created now is a hot-plug.
pub async fn wait_not_found(cluster: &TestCluster, name: &str) {
    cluster
        .wait_for(
            name,
            "InterfaceNotFound",
            has_reason("False", reason::INTERFACE_NOT_FOUND),
        )
        .await;
}
