//! One real agent per simulated node (as root): each node gets its own network namespace and an
//! in-process [`Agent`] whose netlink socket lives there, talking to the API double like a
//! DaemonSet pod would. The simulated "hardware" is [`NodeAgents::sync`]: it makes each
//! namespace's links follow what EC2 shows attached (see [`crate::links`]), so the agent finds a
//! new ENI by its MAC, configures it, and the ENIAttachment reaches Ready.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use multi_eni_agent::address::MacAddr;
use multi_eni_agent::netns::Netns;
use multi_eni_agent::plan::Naming;
use multi_eni_agent::sysfs::{KernelWrite, Sysfs};
use multi_eni_agent::{Agent, AgentConfig};
use multi_eni_ec2::NetworkInterface;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::links::{self, LinkChange};
use crate::world::SimNode;

/// Whether to run agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AgentMode {
    /// When running as root (network namespaces need it); otherwise say why not and go on.
    #[default]
    Auto,
    /// Always; fail when they cannot run.
    On,
    /// Never: attachments stop at Attached.
    Off,
}

/// Whether this process runs as root (effective UID 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

struct NodeNs {
    instance_id: String,
    ns: Arc<Netns>,
}

/// The agents and their namespaces; dropping it deletes the namespaces.
pub struct NodeAgents {
    nodes: Vec<NodeNs>,
    /// (instance, ENI) → link name, for the links made so far.
    present: BTreeMap<(String, String), String>,
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for NodeAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgents")
            .field("present", &self.present)
            .finish_non_exhaustive()
    }
}

impl NodeAgents {
    /// A namespace and a running agent for each node, connected to the API server at `url`.
    pub async fn start(url: &str, nodes: &[SimNode]) -> Result<NodeAgents, String> {
        let dir = tempfile::Builder::new()
            .prefix("multi-eni-sandbox-agents-")
            .tempdir()
            .map_err(|e| format!("a directory for the agents' state: {e}"))?;
        let stop = CancellationToken::new();
        let mut agents = NodeAgents {
            nodes: Vec::new(),
            present: BTreeMap::new(),
            tasks: Vec::new(),
            stop: stop.clone(),
            _dir: dir,
        };
        for node in nodes {
            let ns = Arc::new(Netns::create("multi-eni-sandbox")?);
            let (links, events) = ns.try_connect_links()?;
            let base = agents._dir.path().join(&node.name);
            let sys = base.join("sys");
            std::fs::create_dir_all(&sys).map_err(|e| format!("{}: {e}", sys.display()))?;
            let config = AgentConfig {
                node_name: node.name.clone(),
                naming: Naming::Kernel,
                state_dir: base.join("state"),
                sriov_config: None,
                metrics_address: None,
                dpdk_verify_timeout: Duration::from_secs(5),
            };
            let uri = url
                .parse()
                .map_err(|e| format!("the API server URL {url}: {e}"))?;
            let client = kube::Client::try_from(kube::Config::new(uri))
                .map_err(|e| format!("a client for the agent of {}: {e}", node.name))?;
            let sysfs = Sysfs::new(sys, Arc::new(KernelWrite));
            let agent = Agent::new(config, client, links, events, sysfs)
                .await
                .map_err(|e| format!("the agent of {}: {e}", node.name))?;
            let (name, stopped) = (node.name.clone(), stop.clone());
            agents.tasks.push(tokio::spawn(async move {
                if let Err(e) = agent.run(stopped.cancelled_owned()).await {
                    warn!(node = %name, error = %e, "agent stopped");
                }
            }));
            agents.nodes.push(NodeNs {
                instance_id: node.instance_id.clone(),
                ns,
            });
        }
        Ok(agents)
    }

    /// Makes the nodes' links follow `enis` (what EC2 shows now). Returns what failed.
    pub fn sync(&mut self, enis: &[NetworkInterface]) -> Vec<String> {
        let instances: Vec<String> = self.nodes.iter().map(|n| n.instance_id.clone()).collect();
        let mut errors = Vec::new();
        for change in links::changes(&links::plugged(enis), &self.present, &instances) {
            if let Err(e) = self.apply(&change) {
                errors.push(e);
            }
        }
        errors
    }

    fn apply(&mut self, change: &LinkChange) -> Result<(), String> {
        let ns_of = |instance: &str| {
            self.nodes
                .iter()
                .find(|n| n.instance_id == instance)
                .map(|n| n.ns.clone())
                .ok_or_else(|| format!("no namespace for {instance}"))
        };
        match change {
            LinkChange::Add {
                instance_id,
                eni_id,
                mac,
                ifname,
                peer,
            } => {
                let mac: MacAddr = mac
                    .parse()
                    .map_err(|e| format!("{eni_id}'s MAC {mac}: {e}"))?;
                ns_of(instance_id)?.try_add_veth(ifname, None, mac, peer)?;
                self.present
                    .insert((instance_id.clone(), eni_id.clone()), ifname.clone());
            }
            LinkChange::Remove {
                instance_id,
                eni_id,
                ifname,
            } => {
                ns_of(instance_id)?.try_ip(&["link", "del", ifname])?;
                self.present.remove(&(instance_id.clone(), eni_id.clone()));
            }
        }
        Ok(())
    }

    /// How many agents run.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// No agents.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Stops the agents (interfaces stay as they are), then deletes the namespaces.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
