//! Per-API Prometheus metrics of the EC2 adapter, registered into the binary's registry.
//!
//! | name | labels | meaning |
//! |---|---|---|
//! | `multi_eni_ec2_requests_total` | `op` | port calls (one per EC2 request, before SDK retries) |
//! | `multi_eni_ec2_errors_total` | `op`, `class` | calls that finally failed, by [`ErrorKind`] label |
//! | `multi_eni_ec2_throttles_total` | `op` | attempts EC2 answered with a throttling code |
//! | `multi_eni_ec2_retries_total` | `op` | extra attempts the SDK sent |
//! | `multi_eni_ec2_request_duration_seconds` | `op` | call latency, SDK retries included |
//! | `multi_eni_ec2_limiter_wait_seconds` | `bucket` | time spent waiting for a client-side token |

use std::time::Duration;

use multi_eni_ec2::{BucketId, ErrorKind, Op};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    op: String,
    class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: String,
}

fn latency_histogram() -> Histogram {
    // 5 ms … ~41 s: EC2 calls are 50–500 ms; retries with backoff take seconds.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The adapter's metrics. Cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub struct Ec2Metrics {
    requests: Family<OpLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    throttles: Family<OpLabels, Counter>,
    retries: Family<OpLabels, Counter>,
    duration: Family<OpLabels, Histogram, fn() -> Histogram>,
    limiter_wait: Family<BucketLabels, Histogram, fn() -> Histogram>,
}

impl Default for Ec2Metrics {
    fn default() -> Ec2Metrics {
        Ec2Metrics {
            requests: Family::default(),
            errors: Family::default(),
            throttles: Family::default(),
            retries: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            limiter_wait: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl Ec2Metrics {
    /// Metrics registered into `registry` under `multi_eni_ec2_*`.
    pub fn register(registry: &mut Registry) -> Ec2Metrics {
        let m = Ec2Metrics::default();
        registry.register(
            "multi_eni_ec2_requests",
            "EC2 requests made by the controller, by API action (before SDK retries)",
            m.requests.clone(),
        );
        registry.register(
            "multi_eni_ec2_errors",
            "EC2 requests that failed, by API action and error class",
            m.errors.clone(),
        );
        registry.register(
            "multi_eni_ec2_throttles",
            "EC2 attempts answered with a throttling error, by API action",
            m.throttles.clone(),
        );
        registry.register(
            "multi_eni_ec2_retries",
            "Extra attempts sent by the SDK's standard retry strategy, by API action",
            m.retries.clone(),
        );
        registry.register(
            "multi_eni_ec2_request_duration_seconds",
            "EC2 request latency including SDK retries, by API action",
            m.duration.clone(),
        );
        registry.register(
            "multi_eni_ec2_limiter_wait_seconds",
            "Time spent waiting for the client-side token bucket, by bucket",
            m.limiter_wait.clone(),
        );
        m
    }

    fn op(op: Op) -> OpLabels {
        OpLabels {
            op: op.action().to_string(),
        }
    }

    /// One finished call.
    pub fn observe(&self, op: Op, elapsed: Duration, error: Option<&ErrorKind>) {
        let labels = Self::op(op);
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    op: labels.op,
                    class: kind.as_str().to_string(),
                })
                .inc();
        }
    }

    /// One attempt answered with a throttling code.
    pub fn throttled(&self, op: Op) {
        self.throttles.get_or_create(&Self::op(op)).inc();
    }

    /// One SDK retry.
    pub fn retried(&self, op: Op) {
        self.retries.get_or_create(&Self::op(op)).inc();
    }

    /// Time waited for a client-side token.
    pub fn waited(&self, bucket: BucketId, waited: Duration) {
        self.limiter_wait
            .get_or_create(&BucketLabels {
                bucket: bucket.label(),
            })
            .observe(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn names_and_labels_in_the_exposition() {
        let mut registry = Registry::default();
        let m = Ec2Metrics::register(&mut registry);
        m.observe(Op::AttachNetworkInterface, Duration::from_millis(20), None);
        m.observe(
            Op::AttachNetworkInterface,
            Duration::from_millis(20),
            Some(&ErrorKind::DeviceIndexInUse),
        );
        m.throttled(Op::CreateNetworkInterface);
        m.retried(Op::CreateNetworkInterface);
        m.waited(
            BucketId::Api(Op::CreateNetworkInterface),
            Duration::from_millis(200),
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        for line in [
            "multi_eni_ec2_requests_total{op=\"AttachNetworkInterface\"} 2",
            "multi_eni_ec2_errors_total{op=\"AttachNetworkInterface\",class=\"device_index_in_use\"} 1",
            "multi_eni_ec2_throttles_total{op=\"CreateNetworkInterface\"} 1",
            "multi_eni_ec2_retries_total{op=\"CreateNetworkInterface\"} 1",
            "multi_eni_ec2_request_duration_seconds_count{op=\"AttachNetworkInterface\"} 2",
            "multi_eni_ec2_limiter_wait_seconds_count{bucket=\"CreateNetworkInterface\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
