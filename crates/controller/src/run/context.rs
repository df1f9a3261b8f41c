//! What every reconciler shares: the clients, the caches and the settings.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_ec2::{Ec2, LookupTtls, Lookups};

use super::backoff::Backoff;
use super::describe_batch::{DescribeBatch, Pacing};
use super::eni_index::EniIndex;
use super::events::Events;
use super::feed::Feed;
use super::fleet::FleetMemory;
use super::instances::Instances;
use super::metrics::Metrics;
use crate::plan::LifecycleConfig;

/// Settings of the controller (its flags, minus the wiring).
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The state machine's settings; `lifecycle.cluster` is the cluster name (tags, GC scope).
    pub lifecycle: LifecycleConfig,
    /// The VPC that subnet and security-group names are looked up in; `None`: discovered from
    /// the nodes' instances.
    pub vpc_id: Option<String>,
    /// Reconciles running at once, per controller (NodeENI, ENIAttachment).
    pub concurrency: u16,
    /// How often the whole cluster's ENIs are listed (drift, GC).
    pub resync_period: Duration,
    /// How long an orphan must stay seen before the GC deletes it.
    pub gc_cooldown: Duration,
    /// The longest wait before a failed reconcile is retried (its error class's delay plus the
    /// object's backoff, capped). The default caps nothing; tests shorten it.
    pub max_retry_delay: Duration,
    /// How long what DescribeInstances showed is used before it is described again. An
    /// instance's zone, type and interfaces change rarely and our own attaches are written into
    /// the cache; an attach EC2 refuses for the instance's sake (an index someone else took, a
    /// stopped or vanished instance) drops the entry. So a rollout describes its fleet about
    /// once per this period, not once per attach.
    pub instance_ttl: Duration,
    /// How the reconciles' describes (ENIs by ID, instances) are batched into shared calls.
    pub describe_pacing: Pacing,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            lifecycle: LifecycleConfig::default(),
            vpc_id: None,
            concurrency: 64,
            resync_period: Duration::from_secs(5 * 60),
            gc_cooldown: Duration::from_secs(10 * 60),
            max_retry_delay: Duration::from_secs(15 * 60),
            instance_ttl: Duration::from_secs(5 * 60),
            describe_pacing: Pacing::default(),
        }
    }
}

/// The reflector caches the reconcilers read, kept current by one watch per kind, and those
/// watches' changes, which trigger the controllers ([`Feed`]).
#[derive(Debug, Clone)]
pub struct Stores {
    /// Every Node.
    pub nodes: Store<Node>,
    /// Every ENIAttachment.
    pub attachments: Store<EniAttachment>,
    /// Every NodeENI.
    pub node_enis: Store<NodeEni>,
    /// The Nodes' changes.
    pub node_changes: Feed<Node>,
    /// The ENIAttachments' changes.
    pub attachment_changes: Feed<EniAttachment>,
    /// The NodeENIs' changes.
    pub node_eni_changes: Feed<NodeEni>,
}

/// Shared by every reconcile.
pub struct Context {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// EC2, rate-limited and metered by whoever built it.
    pub ec2: Arc<dyn Ec2>,
    /// TTL-cached subnet, security-group and instance-type lookups over `ec2`.
    pub lookups: Lookups,
    /// Batched, briefly cached DescribeInstances.
    pub instances: Instances,
    /// Settings.
    pub config: ControllerConfig,
    /// The cluster's ENIs as last seen.
    pub enis: EniIndex,
    /// Describe-by-ID, coalesced across concurrent reconciles.
    pub describe: DescribeBatch,
    /// Watched objects.
    pub stores: Stores,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Kubernetes Events.
    pub events: Events,
    /// Failures in a row per object, for exponential backoff.
    pub backoff: Backoff,
    /// What the NodeENI reconciler keeps between reconciles (the discovered VPC, the problems
    /// already published).
    pub fleet: FleetMemory,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Stores for every Node, ENIAttachment and NodeENI, and the future that keeps them current
    /// (run it for as long as the stores are used; it ends only when the client is dropped).
    pub fn start(client: &kube::Client) -> (Stores, impl Future<Output = ()> + Send + 'static) {
        let (nodes, w_nodes) = reflector::store::<Node>();
        let (attachments, w_att) = reflector::store::<EniAttachment>();
        let (node_enis, w_ne) = reflector::store::<NodeEni>();
        let stores = Stores::of(nodes, attachments, node_enis);
        let cfg = watcher::Config::default();
        let nodes_run = feed(
            w_nodes,
            stores.node_changes.clone(),
            watcher(Api::all(client.clone()), cfg.clone()).modify(keep_what_we_read),
        );
        let att_run = feed(
            w_att,
            stores.attachment_changes.clone(),
            watcher(Api::all(client.clone()), cfg.clone()).modify(forget_bookkeeping),
        );
        let ne_run = feed(
            w_ne,
            stores.node_eni_changes.clone(),
            watcher(Api::all(client.clone()), cfg).modify(forget_bookkeeping),
        );
        let run = async move {
            futures::join!(nodes_run, att_run, ne_run);
        };
        (stores, run)
    }

    /// Stores over these caches, with their feeds (fed by whoever applies events to the
    /// caches: [`Stores::start`]'s watches, or a test).
    pub fn of(
        nodes: Store<Node>,
        attachments: Store<EniAttachment>,
        node_enis: Store<NodeEni>,
    ) -> Stores {
        Stores {
            node_changes: Feed::new(nodes.clone()),
            attachment_changes: Feed::new(attachments.clone()),
            node_eni_changes: Feed::new(node_enis.clone()),
            nodes,
            attachments,
            node_enis,
        }
    }

    /// Waits until every store has its first complete list.
    pub async fn ready(&self) {
        // `wait_until_ready` fails only when the writer is dropped, which ends the run anyway.
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.attachments.wait_until_ready().await;
        let _ = self.node_enis.wait_until_ready().await;
    }
}

/// Runs `events` into the store behind `writer`, then tells the feed; errors are retried with
/// backoff inside, so it ends only on shutdown.
async fn feed<K>(
    writer: reflector::store::Writer<K>,
    feed: Feed<K>,
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
) where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    reflector::reflector(writer, events)
        .default_backoff()
        .for_each(move |ev| {
            if let Ok(ev) = ev {
                feed.publish(&ev);
            }
            futures::future::ready(())
        })
        .await;
}

/// Any watched object as the controller keeps it: without `metadata.managedFields` (which field
/// manager set what: kilobytes per object, several times that once parsed, that nothing here
/// reads) and kubectl's last-applied-configuration annotation (a second copy of the object).
/// At 2,000 ENIAttachments this is most of what the cache would hold.
pub fn forget_bookkeeping<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// `kubectl apply`'s copy of what it applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A Node as the controller keeps it: name, UID, labels and `spec.providerID` — what the fleet
/// reads. A real Node also carries its status (images, conditions, addresses, volumes) and
/// managed fields, often tens of kilobytes: kept for a thousand nodes they would be most of the
/// controller's memory.
pub fn keep_what_we_read(node: &mut Node) {
    node.status = None;
    forget_bookkeeping(node);
    node.metadata.annotations = None;
    if let Some(spec) = node.spec.as_mut() {
        let provider_id = spec.provider_id.take();
        *spec = NodeSpec {
            provider_id,
            ..NodeSpec::default()
        };
    }
}

impl Context {
    /// A context over `client` and `ec2` with fresh caches.
    pub fn new(
        client: kube::Client,
        ec2: Arc<dyn Ec2>,
        config: ControllerConfig,
        stores: Stores,
        instance: Option<String>,
    ) -> Context {
        Context {
            lookups: Lookups::new(ec2.clone(), LookupTtls::default()),
            instances: Instances::new(ec2.clone(), config.instance_ttl, config.describe_pacing),
            describe: DescribeBatch::paced(
                ec2.clone(),
                config.describe_pacing.window,
                config.describe_pacing.spacing,
            ),
            events: Events::new(client.clone(), instance),
            client,
            ec2,
            config,
            enis: EniIndex::default(),
            stores,
            metrics: Arc::new(Metrics::default()),
            backoff: Backoff::default(),
            fleet: FleetMemory::default(),
        }
    }

    /// The time every decision of one reconcile is made at.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NodeFacts;

    /// A cached ENIAttachment loses the field managers' bookkeeping and kubectl's copy, and keeps
    /// everything else — the adoption annotation among it.
    #[test]
    fn a_cached_object_keeps_all_but_the_bookkeeping() {
        let full: EniAttachment = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment",
            "metadata": {
                "name": "a1", "labels": { "multi-eni.k8s.aws/nodeeni": "n" },
                "annotations": {
                    (multi_eni_api::keys::ANNOTATION_ADOPT_ENI): "eni-1",
                    (LAST_APPLIED): "{\"big\": \"copy\"}",
                },
                "managedFields": [{ "manager": "multi-eni", "operation": "Apply" }],
            },
            "spec": {
                "nodeENI": "n", "nodeName": "node-1", "instanceID": "i-1",
                "subnetID": "subnet-1", "securityGroupIDs": [], "deviceIndex": 1,
            },
        }))
        .expect("an ENIAttachment");
        let mut kept = full.clone();
        forget_bookkeeping(&mut kept);
        assert!(kept.metadata.managed_fields.is_none());
        let mut expected = full;
        expected.metadata.managed_fields = None;
        if let Some(a) = expected.metadata.annotations.as_mut() {
            a.remove(LAST_APPLIED);
        }
        let json = |a: &EniAttachment| serde_json::to_value(a).expect("serializes");
        assert_eq!(json(&kept), json(&expected));
        assert_eq!(
            kept.metadata.annotations.as_ref().map(|a| a.len()),
            Some(1),
            "the adoption annotation stays"
        );
    }

    /// What the watch cache keeps of a Node is all the fleet reads of it — and not its status.
    #[test]
    fn a_cached_node_keeps_exactly_what_the_fleet_reads() {
        let full: Node = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "n1", "uid": "u1", "labels": { "ng": "multi-eni" },
                "annotations": { "node.alpha.kubernetes.io/ttl": "0" },
                "managedFields": [{ "manager": "kubelet", "operation": "Update" }],
            },
            "spec": { "providerID": "aws:///us-east-1a/i-0123", "podCIDR": "10.0.0.0/24" },
            "status": {
                "images": [{ "names": ["registry/image:tag"], "sizeBytes": 1 }],
                "addresses": [{ "type": "InternalIP", "address": "10.0.0.1" }],
            },
        }))
        .expect("a Node");
        let mut kept = full.clone();
        keep_what_we_read(&mut kept);
        assert_eq!(NodeFacts::from_node(&kept), NodeFacts::from_node(&full));
        assert!(kept.status.is_none());
        assert!(kept.metadata.managed_fields.is_none());
        assert!(kept.metadata.annotations.is_none());
        assert_eq!(
            kept.spec.and_then(|s| s.pod_cidr),
            None,
            "only the providerID of the spec"
        );
    }
}
