//! Throwaway network namespaces for tests: the fallible [`crate::netns::Netns`] with panicking
//! shorthands (a test that cannot make its namespace must fail loudly, saying why), and a
//! loopback relay so a process inside the namespace can reach a server on the host's
//! 127.0.0.1.
//!
//! Needs root and iproute2.

use std::net::SocketAddr;

use crate::address::MacAddr;
use crate::links::{LinkEvents, Links};

pub use crate::netns::{IpLink, Netns};

fn must<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}; run the agent's netns tests as root with iproute2 installed"))
}

impl Netns {
    /// Creates a fresh `multieni-test-*` namespace with `lo` up. Panics with what to do when
    /// not root or `ip` is missing.
    pub fn new() -> Self {
        must(Netns::create("multieni-test"))
    }

    /// Runs `ip -n <ns> <args>`; panics with its stderr on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        must(self.try_ip(args))
    }

    /// Adds a veth pair `name`/`peer`, `name` carrying `mac` (a simulated ENI), both down.
    pub fn add_veth(&self, name: &str, mac: MacAddr, peer: &str) {
        must(self.try_add_veth(name, None, mac, peer));
    }

    /// Like [`Netns::add_veth`], with `name` at ifindex `index` (to re-use an index on purpose).
    pub fn add_veth_at(&self, name: &str, index: u32, mac: MacAddr, peer: &str) {
        must(self.try_add_veth(name, Some(index), mac, peer));
    }

    /// The link called `name`, if any.
    pub fn link(&self, name: &str) -> Option<IpLink> {
        self.links().into_iter().find(|l| l.ifname == name)
    }

    /// Every link in the namespace.
    pub fn links(&self) -> Vec<IpLink> {
        must(self.try_links())
    }

    /// Runs `f` on a thread that has entered the namespace (see [`Netns::try_enter`]).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        must(self.try_enter(f))
    }

    /// Like [`Netns::enter`], with the current tokio runtime entered too.
    pub fn enter_runtime<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        must(self.try_enter_runtime(f))
    }

    /// The agent's netlink socket, opened inside the namespace.
    pub fn connect_links(&self) -> (Links, LinkEvents) {
        must(self.try_connect_links())
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
