//! The agent's command line (`multi-eni agent`). Every flag can also come from the environment,
//! which is how the DaemonSet sets them (`NODE_NAME` from the downward API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::plan::Naming;

/// How the agent names the links it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum InterfaceNames {
    /// Keep the kernel's / udev's name (ens6, eth1, …).
    #[default]
    Kernel,
    /// `<prefix><deviceIndex>` (multi1, multi2, …; `<prefix>c<card>d<index>` on network cards
    /// other than 0), the same on every instance family.
    DeviceIndex,
}

/// Configure this node's extra ENIs: find each by MAC, bring it up with its MTU, optionally
/// bind it to DPDK and publish it to the SR-IOV device plugin, and report on its ENIAttachment.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The node this agent runs on; only ENIAttachments labelled for it are watched. Set it from
    /// the downward API (`spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,

    /// Kubeconfig to use; default: in-cluster config, else the usual kubeconfig lookup.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// How to name the links the agent owns. See docs/agent.md before turning renaming on: with
    /// udev/systemd-networkd configuration matched by name it changes which config applies.
    #[arg(long, env = "MULTI_ENI_INTERFACE_NAMES", value_enum, default_value_t = InterfaceNames::Kernel)]
    pub interface_names: InterfaceNames,

    /// Prefix of the names given by `--interface-names device-index` (1–8 lower-case letters,
    /// digits, `_` or `-`, starting with a letter).
    #[arg(long, env = "MULTI_ENI_INTERFACE_NAME_PREFIX", default_value = "multi", value_parser = parse_prefix)]
    pub interface_name_prefix: String,

    /// Root of the sysfs tree used for PCI addresses and DPDK driver binding.
    #[arg(long, env = "MULTI_ENI_SYSFS_ROOT", default_value = "/sys")]
    pub sysfs_root: PathBuf,

    /// Host directory for state that must survive agent restarts and reboots (DPDK bindings,
    /// the SR-IOV resources the agent owns). Mount it from the host.
    #[arg(
        long,
        env = "MULTI_ENI_STATE_DIR",
        default_value = "/var/lib/multi-eni"
    )]
    pub state_dir: PathBuf,

    /// The SR-IOV network device plugin's config file; set to an empty string to disable
    /// SR-IOV publishing.
    #[arg(
        long,
        env = "MULTI_ENI_SRIOV_CONFIG",
        default_value = "/etc/pcidp/config.json",
        value_parser = path_or_empty
    )]
    pub sriov_config: PathBuf,

    /// Address for `/metrics` and `/healthz`.
    #[arg(
        long,
        env = "MULTI_ENI_AGENT_METRICS_ADDRESS",
        default_value = "0.0.0.0:9465"
    )]
    pub metrics_address: SocketAddr,

    /// How long a DPDK bind step may take to show in sysfs before it counts as failed and is
    /// rolled back, in milliseconds.
    #[arg(long, env = "MULTI_ENI_DPDK_VERIFY_TIMEOUT_MS", default_value_t = 2000)]
    pub dpdk_verify_timeout_ms: u64,
}

/// Like clap's path parser, but an empty value is allowed (it means "disabled").
fn path_or_empty(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

fn parse_prefix(s: &str) -> Result<String, String> {
    let ok = (1..=8).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1–8 characters: lower-case letters, digits, '_' or '-', starting with a letter (names must fit 15 bytes with the index)".into())
    }
}

impl AgentArgs {
    /// The naming scheme.
    pub fn naming(&self) -> Naming {
        match self.interface_names {
            InterfaceNames::Kernel => Naming::Kernel,
            InterfaceNames::DeviceIndex => Naming::DeviceIndex {
                prefix: self.interface_name_prefix.clone(),
            },
        }
    }

    /// The SR-IOV config path, `None` when disabled.
    pub fn sriov_config(&self) -> Option<PathBuf> {
        (!self.sriov_config.as_os_str().is_empty()).then(|| self.sriov_config.clone())
    }

    /// The DPDK verification timeout.
    pub fn dpdk_verify_timeout(&self) -> Duration {
        Duration::from_millis(self.dpdk_verify_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    #[test]
    fn defaults_are_production_paths_and_kernel_names() {
        let c = Cli::try_parse_from(["agent", "--node-name", "n1"]).expect("parses");
        assert_eq!(c.agent.naming(), Naming::Kernel);
        assert_eq!(c.agent.sysfs_root, PathBuf::from("/sys"));
        assert_eq!(
            c.agent.sriov_config(),
            Some(PathBuf::from("/etc/pcidp/config.json"))
        );
        let c = Cli::try_parse_from([
            "agent",
            "--node-name",
            "n1",
            "--sriov-config",
            "",
            "--interface-names",
            "device-index",
        ])
        .expect("parses");
        assert_eq!(c.agent.sriov_config(), None);
        assert_eq!(
            c.agent.naming(),
            Naming::DeviceIndex {
                prefix: "multi".into()
            }
        );
    }

    #[test]
    fn prefix_that_could_overflow_an_interface_name_is_rejected() {
        for (prefix, ok) in [("waytoolong", false), ("Eth", false), ("net", true)] {
            let parsed = Cli::try_parse_from([
                "agent",
                "--node-name",
                "n",
                "--interface-name-prefix",
                prefix,
            ]);
            assert_eq!(parsed.is_ok(), ok, "prefix {prefix:?}");
        }
    }
}
