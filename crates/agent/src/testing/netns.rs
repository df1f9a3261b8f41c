//! Throwaway network namespaces for tests: `ip netns add multieni-test-<random>`, veth pairs
//! inside carrying simulated ENI MACs, code run from a thread that entered the namespace (so
//! netlink sockets it opens belong there), and a loopback relay so a process inside the
//! namespace can reach a server on the host's 127.0.0.1. Deleted on drop.
//!
//! Needs root and iproute2; fails loudly, saying so, when either is missing.

use std::net::SocketAddr;
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

fn run_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!(
            "cannot run `ip` ({e}): netns tests need iproute2 (Debian package iproute2) and root"
        )
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
    /// Creates a fresh namespace with `lo` up. Panics with what to do when not root or `ip` is
    /// missing.
    pub fn new() -> Self {
        let name = format!("multieni-test-{:08x}", rand::random::<u32>());
        if let Err(e) = run_ip(&["netns", "add", &name]) {
            panic!(
                "cannot create a network namespace ({e}); run the agent's netns tests as root with iproute2 installed"
            );
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -n <ns> <args>`; panics with its stderr on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ip(&full).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Adds a veth pair `name`/`peer`, `name` carrying `mac` (a simulated ENI), both down.
    pub fn add_veth(&self, name: &str, mac: MacAddr, peer: &str) {
        self.veth(name, None, mac, peer);
    }

    /// Like [`Netns::add_veth`], with `name` at ifindex `index` (to re-use an index on purpose).
    pub fn add_veth_at(&self, name: &str, index: u32, mac: MacAddr, peer: &str) {
        self.veth(name, Some(index), mac, peer);
    }

    fn veth(&self, name: &str, index: Option<u32>, mac: MacAddr, peer: &str) {
        let (index, mac) = (index.map(|i| i.to_string()), mac.to_string());
        let mut args = vec!["link", "add", name];
        if let Some(i) = &index {
            args.extend(["index", i.as_str()]);
        }
        args.extend(["address", &mac, "type", "veth", "peer", "name", peer]);
        self.ip(&args);
    }

    /// The link called `name`, if any.
    pub fn link(&self, name: &str) -> Option<IpLink> {
        self.links().into_iter().find(|l| l.ifname == name)
    }

    /// Every link in the namespace.
    pub fn links(&self) -> Vec<IpLink> {
        let json = self.ip(&["-j", "link", "show"]);
        serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("unexpected `ip -j link` output ({e}): {json}"))
    }

    /// Runs `f` on a thread that has entered the namespace: sockets it opens (netlink, TCP)
    /// belong to the namespace for their whole life, whichever thread uses them later.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                let fd = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns into {}: {e}", path.display()));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Like [`Netns::enter`], with the current tokio runtime entered too, so `f` can open
    /// sockets driven by it (netlink connections spawn their I/O task on it).
    pub fn enter_runtime<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let rt = tokio::runtime::Handle::current();
        self.enter(|| {
            let _guard = rt.enter();
            f()
        })
    }

    /// The agent's netlink socket, opened inside the namespace.
    pub fn connect_links(&self) -> (Links, LinkEvents) {
        self.enter_runtime(Links::connect)
            .unwrap_or_else(|e| panic!("netlink socket inside {}: {e}", self.name))
    }

    /// Listens on 127.0.0.1 *inside* the namespace and relays every connection to `target` on
    /// the host's loopback, so a process in the namespace can reach a test server. Runs on the
    /// current tokio runtime until it is dropped. Returns the address to use inside.
    pub async fn relay_to_host(&self, target: SocketAddr) -> SocketAddr {
        let std_listener = self.enter(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind inside the netns");
            l.set_nonblocking(true).expect("nonblocking");
            l
        });
        let inside = std_listener.local_addr().expect("local addr");
        let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                    }
                });
            }
        });
        inside
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}
