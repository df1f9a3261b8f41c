//! The controller's Prometheus metrics. The EC2 adapter's per-action metrics (`Ec2Metrics` in
//! `multi-eni-ec2-aws`) are registered into the same registry by the binary.
//!
//! | name | labels | meaning |
//! |---|---|---|
//! | `multi_eni_controller_reconciles_total` | `kind`, `result` | reconciles (`ok`, or the error class) |
//! | `multi_eni_controller_ec2_actions_total` | `op`, `result` | EC2 calls the state machine made (`ok` or the error class) |
//! | `multi_eni_controller_attachments` | `phase` | ENIAttachments by phase, as last reconciled |
//! | `multi_eni_controller_attach_seconds` | | ENIAttachment creation → Attached |
//! | `multi_eni_controller_ready_seconds` | | ENIAttachment creation → Ready |
//! | `multi_eni_controller_gc_deleted_total` | | orphan ENIs the GC deleted |
//! | `multi_eni_controller_leader` | | 1 while this replica leads |

use parking_lot::{Mutex, MutexGuard};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpResult {
    op: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

fn latency() -> Histogram {
    // 0.5 s … ~68 min: an attach takes seconds; a throttled rollout, minutes.
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

/// The controller's metrics and the registry they (and the EC2 adapter's) live in.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<KindResult, Counter>,
    ec2_actions: Family<OpResult, Counter>,
    attachments: Family<PhaseLabel, Gauge>,
    /// Seconds from ENIAttachment creation to Attached.
    pub attach_seconds: Histogram,
    /// Seconds from ENIAttachment creation to Ready.
    pub ready_seconds: Histogram,
    /// Orphan ENIs deleted by the GC.
    pub gc_deleted: Counter,
    /// 1 while this replica holds the lease.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::with_registry(Registry::default())
    }
}

impl Metrics {
    /// The controller's metrics, registered into `registry` next to what is already there (the
    /// EC2 adapter's metrics, registered while it was built).
    pub fn with_registry(registry: Registry) -> Metrics {
        let m = Metrics {
            registry: Mutex::new(registry),
            reconciles: Family::default(),
            ec2_actions: Family::default(),
            attachments: Family::default(),
            attach_seconds: latency(),
            ready_seconds: latency(),
            gc_deleted: Counter::default(),
            leader: Gauge::default(),
        };
        {
            let mut r = m.registry();
            let p = "multi_eni_controller";
            r.register(
                format!("{p}_reconciles"),
                "Reconciles by kind and result",
                m.reconciles.clone(),
            );
            r.register(
                format!("{p}_ec2_actions"),
                "EC2 calls of the state machine by action and result",
                m.ec2_actions.clone(),
            );
            r.register(
                format!("{p}_attachments"),
                "ENIAttachments by phase",
                m.attachments.clone(),
            );
            r.register(
                format!("{p}_attach_seconds"),
                "ENIAttachment creation to Attached",
                m.attach_seconds.clone(),
            );
            r.register(
                format!("{p}_ready_seconds"),
                "ENIAttachment creation to Ready",
                m.ready_seconds.clone(),
            );
            r.register(
                format!("{p}_gc_deleted"),
                "Orphan ENIs deleted by the GC",
                m.gc_deleted.clone(),
            );
            r.register(
                format!("{p}_leader"),
                "1 while this replica leads",
                m.leader.clone(),
            );
        }
        m
    }

    /// One reconcile of `kind` (`NodeENI`, `ENIAttachment`) ended with `result` (`ok` or an
    /// error class).
    pub fn reconciled(&self, kind: &str, result: &str) {
        self.reconciles
            .get_or_create(&KindResult {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    /// One EC2 call of the state machine.
    pub fn ec2_action(&self, op: &str, result: &str) {
        self.ec2_actions
            .get_or_create(&OpResult {
                op: op.into(),
                result: result.into(),
            })
            .inc();
    }

    /// How many ENIAttachments are in `phase`.
    pub fn set_phase_count(&self, phase: &str, n: i64) {
        self.attachments
            .get_or_create(&PhaseLabel {
                phase: phase.into(),
            })
            .set(n);
    }

    /// The registry, to add more metrics (the EC2 adapter's) to it.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock()
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry());
        out
    }
}
