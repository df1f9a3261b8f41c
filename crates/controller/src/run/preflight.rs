//! What the controller checks before it starts, so that a missing CRD, RBAC rule or IAM
//! permission stops it at once with the fix, instead of surfacing later as retried reconcile
//! errors in a log nobody reads.
//!
//! One list (limit 1) of each kind it watches, and one small tag-filtered
//! DescribeNetworkInterfaces. A throttled or unreachable EC2 does not stop the start: the
//! controller retries such errors anyway; only what waiting cannot fix does.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use multi_eni_api::keys::TAG_CLUSTER;
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_ec2::{DescribeQuery, Ec2, ErrorKind, Filter};
use tracing::warn;

/// Why the controller cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A CRD is not installed.
    #[error(
        "the {kind} CustomResourceDefinition is not installed in this cluster: install the CRDs with `multi-eni crd | kubectl apply --server-side -f -` (or the Helm chart), then restart"
    )]
    MissingCrd {
        /// The kind.
        kind: &'static str,
    },
    /// RBAC refuses a list.
    #[error(
        "the controller's ServiceAccount may not list {resource}: apply the controller's ClusterRole from deploy/ (it needs get, list, watch on nodes, nodeenis and eniattachments, and to write nodeenis, eniattachments, their status, leases and events) — {source}"
    )]
    Forbidden {
        /// The resource.
        resource: &'static str,
        /// The API error.
        source: kube::Error,
    },
    /// The API server could not be asked.
    #[error("cannot list {resource} from the Kubernetes API server: {source}")]
    Kube {
        /// The resource.
        resource: &'static str,
        /// The error.
        source: kube::Error,
    },
    /// IAM refuses, or the credentials are rejected.
    #[error(
        "EC2 refused DescribeNetworkInterfaces ({code}): the controller's IAM role needs the actions listed in docs/controller.md#ec2-calls-and-iam, and valid credentials (IRSA or EKS Pod Identity) — {message}"
    )]
    Ec2Permission {
        /// EC2's error code.
        code: String,
        /// EC2's message.
        message: String,
    },
}

/// Checks the CRDs, RBAC and EC2 access; see the module docs.
pub async fn check(
    client: &kube::Client,
    ec2: &dyn Ec2,
    cluster: &str,
) -> Result<(), PreflightError> {
    let one = ListParams::default().limit(1);
    kube_list(
        Api::<Node>::all(client.clone()).list(&one).await,
        "Node",
        "nodes",
    )?;
    kube_list(
        Api::<NodeEni>::all(client.clone()).list(&one).await,
        "NodeENI",
        "nodeenis",
    )?;
    kube_list(
        Api::<EniAttachment>::all(client.clone()).list(&one).await,
        "ENIAttachment",
        "eniattachments",
    )?;
    let probe = DescribeQuery::filters(vec![Filter::tag(TAG_CLUSTER, cluster)]).page_size(5);
    match ec2.describe_network_interfaces(&probe).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::Permission => Err(PreflightError::Ec2Permission {
            code: e.code.unwrap_or_default(),
            message: e.message,
        }),
        Err(e) => {
            warn!(error = %e, "EC2 did not answer the start-up check; going on (calls are retried)");
            Ok(())
        }
    }
}

fn kube_list<T>(
    r: Result<T, kube::Error>,
    kind: &'static str,
    resource: &'static str,
) -> Result<(), PreflightError> {
    let Err(source) = r else { return Ok(()) };
    let code = match &source {
        kube::Error::Api(s) => s.code,
        _ => 0,
    };
    Err(match code {
        404 => PreflightError::MissingCrd { kind },
        403 => PreflightError::Forbidden { resource, source },
        _ => PreflightError::Kube { resource, source },
    })
}
