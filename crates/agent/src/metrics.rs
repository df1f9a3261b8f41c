//! Prometheus metrics of the agent, served with `/healthz` and `/readyz` by the shared probe
//! server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use multi_eni_probe_server::Probes;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

type Labels = Vec<(&'static str, String)>;

/// The agent's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Transitions of an attachment to configured (link up with its MTU and name).
    pub links_configured: Counter,
    /// Failed actions, by condition reason.
    pub config_errors: Family<Labels, Counter>,
    /// DPDK bind attempts, by result (`bound`, `rolled_back`, `rollback_failed`, `failed`).
    pub dpdk_binds: Family<Labels, Counter>,
    /// Rewrites of the SR-IOV device plugin config (each needs a plugin restart).
    pub sriov_config_writes: Counter,
    /// Seconds from the netlink notification that a link appeared to the link being configured.
    pub link_configure_seconds: Histogram,
    /// Attachments of this node the agent currently configures or releases.
    pub attachments: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("multi_eni_agent"),
            links_configured: Counter::default(),
            config_errors: Family::default(),
            dpdk_binds: Family::default(),
            sriov_config_writes: Counter::default(),
            // 0.25 ms … ~8 s.
            link_configure_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            attachments: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "links_configured",
            "Attachments whose link became configured",
            m.links_configured.clone(),
        );
        r.register(
            "config_errors",
            "Failed configuration actions, by reason",
            m.config_errors.clone(),
        );
        r.register(
            "dpdk_binds",
            "DPDK bind attempts, by result",
            m.dpdk_binds.clone(),
        );
        r.register(
            "sriov_config_writes",
            "Rewrites of the SR-IOV device plugin config (the plugin must be restarted to see them)",
            m.sriov_config_writes.clone(),
        );
        r.register(
            "link_configure_seconds",
            "Time from the netlink notification of a new link to it being configured",
            m.link_configure_seconds.clone(),
        );
        r.register(
            "attachments",
            "Attachments of this node being configured or released",
            m.attachments.clone(),
        );
        m
    }
}

impl Metrics {
    /// Counts a failed action.
    pub fn config_error(&self, reason: &str) {
        self.config_errors
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Counts a DPDK bind attempt.
    pub fn dpdk_bind(&self, result: &str) {
        self.dpdk_binds
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` (both 200 once `healthy` is set: the first list
/// of attachments is in and the netlink subscription is live) on `listener` until the task is
/// dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, healthy: Arc<AtomicBool>) {
    let ready = healthy.clone();
    let probes = Probes::new(move || metrics.render())
        .healthy(move || healthy.load(Ordering::Relaxed))
        .ready(move || ready.load(Ordering::Relaxed));
    multi_eni_probe_server::serve(listener, probes).await
}
