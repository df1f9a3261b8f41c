//! Network namespaces for running agents beside each other on one machine (feature `netns`):
//! `multi-eni sandbox` gives every simulated node one, and the tests throwaway ones. A namespace
//! is `ip netns add <name>`; veth pairs inside carry simulated ENI MACs; code run from a thread
//! that entered the namespace opens sockets (netlink, TCP) that belong to it for their whole
//! life. Deleted on drop.
//!
//! Needs root and iproute2; every method here returns an error saying so (the test fixtures in
//! `testing::netns` wrap them in panicking shorthands).

use std::path::PathBuf;
use std::process::Command;

use nix::sched::CloneFlags;
use serde::Deserialize;

use crate::address::MacAddr;
use crate::links::{LinkEvents, Links};

/// A network namespace that exists for the lifetime of this value.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// One link as `ip -j link show` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct IpLink {
    pub ifindex: u32,
    pub ifname: String,
    /// Flags (`UP`, `BROADCAST`, …).
    pub flags: Vec<String>,
    pub mtu: u32,
    pub address: Option<String>,
}

impl IpLink {
    /// Administratively up.
    pub fn up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
}

/// Runs `ip <args>`; its stdout, or an error naming the command and what `ip` said.
pub fn run_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!("cannot run `ip` ({e}): network namespaces need iproute2 (Debian package iproute2) and root")
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Creates `<prefix>-<random>` with `lo` up.
    pub fn create(prefix: &str) -> Result<Netns, String> {
        let name = format!("{prefix}-{:08x}", rand::random::<u32>());
        run_ip(&["netns", "add", &name]).map_err(|e| {
            format!("cannot create a network namespace ({e}); this needs root and iproute2")
        })?;
        let ns = Netns { name };
        ns.try_ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -n <ns> <args>`.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ip(&full)
    }

    /// Adds a veth pair `name`/`peer` (`name` at ifindex `index` when given), `name` carrying
    /// `mac` (a simulated ENI), both down.
    pub fn try_add_veth(
        &self,
        name: &str,
        index: Option<u32>,
        mac: MacAddr,
        peer: &str,
    ) -> Result<(), String> {
        let (index, mac) = (index.map(|i| i.to_string()), mac.to_string());
        let mut args = vec!["link", "add", name];
        if let Some(i) = &index {
            args.extend(["index", i.as_str()]);
        }
        args.extend(["address", &mac, "type", "veth", "peer", "name", peer]);
        self.try_ip(&args).map(drop)
    }

    /// Every link in the namespace.
    pub fn try_links(&self) -> Result<Vec<IpLink>, String> {
        let json = self.try_ip(&["-j", "link", "show"])?;
        serde_json::from_str(&json)
            .map_err(|e| format!("unexpected `ip -j link` output ({e}): {json}"))
    }

    /// Runs `f` on a thread that has entered the namespace: sockets it opens (netlink, TCP)
    /// belong to the namespace for their whole life, whichever thread uses them later.
    pub fn try_enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                let fd = std::fs::File::open(&path)
                    .map_err(|e| format!("open {}: {e}", path.display()))?;
                nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns into {}: {e}", path.display()))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Like [`Netns::try_enter`], with the current tokio runtime entered too, so `f` can open
    /// sockets driven by it (netlink connections spawn their I/O task on it).
    pub fn try_enter_runtime<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        let rt = tokio::runtime::Handle::current();
        self.try_enter(|| {
            let _guard = rt.enter();
            f()
        })
    }

    /// The agent's netlink socket, opened inside the namespace.
    pub fn try_connect_links(&self) -> Result<(Links, LinkEvents), String> {
        self.try_enter_runtime(Links::connect)?
            .map_err(|e| format!("netlink socket inside {}: {e}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}
