//! Server settings.

use std::time::Duration;

/// How an [`crate::ApiServer`] is set up. `Default` suits tests and the sandbox.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Changes kept per resource for watches and list continuation; older positions get 410 Gone.
    pub history_size: usize,
    /// How often an idle watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Longest a watch stays open (kube-apiserver: `--min-request-timeout`, 30 min); a client's
    /// shorter `timeoutSeconds` wins.
    pub max_watch_timeout: Duration,
    /// Namespaces that exist at start (kube-apiserver creates these four).
    pub namespaces: Vec<String>,
    /// `gitVersion` served at `/version`.
    pub version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            history_size: 50_000,
            bookmark_interval: Duration::from_secs(10),
            max_watch_timeout: Duration::from_secs(1800),
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .to_vec(),
            version: "v1.32.0-multi-eni-double".into(),
        }
    }
}
