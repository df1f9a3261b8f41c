//! The NodeENI reconciler's test world: an API server (the double, or the real kube-apiserver)
//! with the CRDs, watch caches, and an EC2 simulator with one VPC, subnets in two zones and a
//! security group — named as the Go controller's sample manifests expect. Tests drive
//! `run::fleet::reconcile` themselves, one call at a time, and wait for the caches in between.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use multi_eni_api::conditions::find;
use multi_eni_api::keys;
use multi_eni_api::naming::label_value;
use multi_eni_api::{EniAttachment, NodeEni, crds};
use multi_eni_controller::run::{Context, ControllerConfig, Stores, fleet};
use multi_eni_ec2::Ec2;
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_kube_double::{
    ApiServer, ApiServerHandle, FaultAction, FaultHandle, FaultRule, Verb,
};
use multi_eni_testkit::wait_until;

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const AZ_A: &str = "us-east-1a";
pub const AZ_B: &str = "us-east-1b";
/// The names the Go controller's sample 01 looks up.
pub const SUBNET_1: &str = "multus-test-subnet-1";
pub const SUBNET_2: &str = "multus-test-subnet-2";
pub const SG: &str = "multus-test-sg";
/// The sample's node selector.
pub const SELECTOR: (&str, &str) = ("ng", "multi-eni");
/// Takes four interfaces: device indexes 0-3.
pub const FOUR_ENIS: &str = "m5.xlarge";
/// Takes three interfaces: device indexes 0-2.
pub const THREE_ENIS: &str = "m5.large";

/// One VPC: two named subnets in `AZ_A`, one in `AZ_B`, a named security group.
pub struct Ec2World {
    pub sim: Arc<Ec2Sim>,
    pub vpc: String,
    pub subnet_1: String,
    pub subnet_2: String,
    pub subnet_b: String,
    pub sg: String,
}

impl Ec2World {
    pub fn new() -> Ec2World {
        Ec2World::with_config(SimConfig::instant())
    }

    /// The same world on a simulator with `config` (e.g. AWS-like timing and buckets).
    pub fn with_config(config: SimConfig) -> Ec2World {
        let sim = Arc::new(Ec2Sim::new(config));
        let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
        let subnet = |az: &str, cidr: &str, name: &str| {
            sim.add_subnet(&vpc, az, cidr, Some(name)).expect("subnet")
        };
        let subnet_1 = subnet(AZ_A, "10.0.1.0/24", SUBNET_1);
        let subnet_2 = subnet(AZ_A, "10.0.2.0/24", SUBNET_2);
        let subnet_b = subnet(AZ_B, "10.0.3.0/24", "zone-b");
        let sg = sim.add_security_group(&vpc, SG).expect("security group");
        Ec2World {
            sim,
            vpc,
            subnet_1,
            subnet_2,
            subnet_b,
            sg,
        }
    }

    /// A running instance of `instance_type` in `subnet`.
    pub fn instance(&self, subnet: &str, instance_type: &str) -> String {
        self.sim
            .launch_instance(subnet, instance_type)
            .expect("instance")
    }
}

/// Counts the write requests the double serves (a pass-through fault per verb).
pub struct Writes {
    handles: Vec<FaultHandle>,
}

impl Writes {
    pub fn total(&self) -> usize {
        self.handles.iter().map(FaultHandle::hits).sum()
    }
}

/// An API server with the CRDs, watch caches over it, and the reconciler's context.
pub struct World {
    /// `None` on the real kube-apiserver.
    pub server: Option<ApiServerHandle>,
    pub client: Client,
    pub ec2: Ec2World,
    pub ctx: Arc<Context>,
}

impl World {
    /// On the API double.
    pub async fn on_double() -> World {
        World::on_double_with(Ec2World::new()).await
    }

    /// On the API double, with `ec2`.
    pub async fn on_double_with(ec2: Ec2World) -> World {
        let server = ApiServer::start(Default::default())
            .await
            .expect("API double starts");
        let client = server.client().expect("client");
        let mut w = World::on_with(client, ec2).await;
        w.server = Some(server);
        w
    }

    /// On any API server (the CRDs are applied).
    pub async fn on(client: Client) -> World {
        World::on_with(client, Ec2World::new()).await
    }

    /// On any API server, with `ec2`.
    pub async fn on_with(client: Client, ec2: Ec2World) -> World {
        multi_eni_kube_env::apply_crds(&client, &crds::all())
            .await
            .expect("CRDs");
        let (stores, run) = Stores::start(&client);
        tokio::spawn(run);
        stores.ready().await;
        let port: Arc<dyn Ec2> = ec2.sim.clone();
        let config = ControllerConfig::default();
        let ctx = Arc::new(Context::new(client.clone(), port, config, stores, None));
        World {
            server: None,
            client,
            ec2,
            ctx,
        }
    }

    fn server(&self) -> &ApiServerHandle {
        self.server.as_ref().expect("a test of the API double")
    }

    /// Starts counting create/update/patch/delete requests (double only).
    pub fn count_writes(&self) -> Writes {
        let faults = self.server().faults();
        let verbs = [Verb::Create, Verb::Update, Verb::Patch, Verb::Delete];
        Writes {
            handles: verbs
                .into_iter()
                .map(|v| {
                    faults.inject(FaultRule::any().verb(v), FaultAction::Delay(Duration::ZERO))
                })
                .collect(),
        }
    }

    /// The double's cluster-wide resourceVersion: moves with every write of anything.
    pub fn resource_version(&self) -> u64 {
        self.server().resource_version()
    }

    /// A node backed by a new `instance_type` instance in `subnet`, with the sample's label
    /// when `labelled`; returns the instance ID.
    pub async fn node(
        &self,
        name: &str,
        subnet: &str,
        instance_type: &str,
        labelled: bool,
    ) -> String {
        let instance = self.ec2.instance(subnet, instance_type);
        let az = self
            .ec2
            .sim
            .instance(&instance)
            .expect("launched")
            .availability_zone;
        let provider = format!("aws:///{az}/{instance}");
        let labels: &[(&str, &str)] = if labelled { &[SELECTOR] } else { &[] };
        multi_eni_kube_env::create_node(&self.client, name, labels, Some(&provider))
            .await
            .expect("node");
        instance
    }

    /// Sets or removes the sample's label on a node.
    pub async fn label(&self, node: &str, labelled: bool) {
        let value = labelled.then_some(SELECTOR.1);
        let patch = serde_json::json!({"metadata": {"labels": {SELECTOR.0: value}}});
        Api::<Node>::all(self.client.clone())
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("label node");
    }

    pub async fn delete_node(&self, name: &str) {
        Api::<Node>::all(self.client.clone())
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete node");
    }

    /// Creates a NodeENI selecting the sample's label, with `spec` merged in.
    pub async fn create_node_eni(&self, name: &str, spec: serde_json::Value) -> NodeEni {
        let mut full = serde_json::json!({"nodeSelector": {SELECTOR.0: SELECTOR.1}});
        if let (Some(f), Some(s)) = (full.as_object_mut(), spec.as_object()) {
            f.extend(s.clone());
        }
        let ne: NodeEni = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
            "metadata": {"name": name}, "spec": full
        }))
        .expect("valid NodeENI");
        self.node_enis()
            .create(&PostParams::default(), &ne)
            .await
            .expect("create NodeENI")
    }

    /// Merges `spec` into the NodeENI's spec.
    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        let patch = serde_json::json!({ "spec": spec });
        self.node_enis()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch NodeENI spec");
    }

    /// Deletes a NodeENI (its finalizers hold it until the controller is done).
    pub async fn delete_node_eni(&self, name: &str) {
        self.node_enis()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete the NodeENI");
    }

    pub fn node_enis(&self) -> Api<NodeEni> {
        Api::all(self.client.clone())
    }

    pub fn attachments_api(&self) -> Api<EniAttachment> {
        Api::all(self.client.clone())
    }

    pub async fn node_eni(&self, name: &str) -> NodeEni {
        self.node_enis().get(name).await.expect("NodeENI")
    }

    /// The NodeENI as stored now, reconciled once (after the caches caught up).
    pub async fn reconcile(&self, name: &str) -> Action {
        self.settle().await;
        let ne = self.node_eni(name).await;
        fleet::reconcile(Arc::new(ne), self.ctx.clone())
            .await
            .expect("reconcile succeeds")
    }

    /// This NodeENI's ENIAttachments as stored, sorted by name.
    pub async fn attachments(&self, ne: &str) -> Vec<EniAttachment> {
        let selector = format!("{}={}", keys::LABEL_NODEENI, label_value(ne));
        let mut list = self
            .attachments_api()
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list ENIAttachments")
            .items;
        list.sort_by_key(|a| a.name_any());
        list
    }

    /// (node, subnet ID, device index) of each attachment, sorted.
    pub async fn layout(&self, ne: &str) -> Vec<(String, String, i32)> {
        let mut v: Vec<_> = self
            .attachments(ne)
            .await
            .into_iter()
            .map(|a| (a.spec.node_name, a.spec.subnet_id, a.spec.device_index))
            .collect();
        v.sort();
        v
    }

    /// Waits until the watch caches hold exactly what the server has (Nodes, ENIAttachments),
    /// so a reconcile decides on the current world.
    pub async fn settle(&self) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let atts = self.attachments_api();
        let stores = &self.ctx.stores;
        wait_until(TIMEOUT, "the watch caches to catch up", || {
            let (nodes, atts) = (nodes.clone(), atts.clone());
            async move {
                let lp = ListParams::default();
                let key = |name: String, rv: Option<String>| (name, rv.unwrap_or_default());
                let served: BTreeSet<_> = (nodes.list(&lp).await.map_err(|e| e.to_string())?)
                    .items
                    .into_iter()
                    .map(|n| key(n.name_any(), n.resource_version()))
                    .chain(
                        (atts.list(&lp).await.map_err(|e| e.to_string())?)
                            .items
                            .into_iter()
                            .map(|a| key(a.name_any(), a.resource_version())),
                    )
                    .collect();
                let cached: BTreeSet<_> = stores
                    .nodes
                    .state()
                    .iter()
                    .map(|n| key(n.name_any(), n.resource_version()))
                    .chain(
                        stores
                            .attachments
                            .state()
                            .iter()
                            .map(|a| key(a.name_any(), a.resource_version())),
                    )
                    .collect();
                if served == cached {
                    Ok(())
                } else {
                    Err(format!("served {served:?}, cached {cached:?}"))
                }
            }
        })
        .await
    }

    /// Takes every finalizer off these ENIAttachments — what their own reconciler does once the
    /// ENI is gone (not this reconciler's job).
    pub async fn release_attachments(&self, ne: &str) {
        for a in self.attachments(ne).await {
            let patch = serde_json::json!({"metadata": {"finalizers": null}});
            self.attachments_api()
                .patch(
                    &a.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .expect("drop ENIAttachment finalizers");
        }
    }

    /// Events about the NodeENI `ne`: (type, reason, note).
    pub async fn events(&self, ne: &str) -> Vec<(String, String, String)> {
        let lp = ListParams::default().fields(&format!("involvedObject.name={ne}"));
        Api::<Event>::namespaced(self.client.clone(), "default")
            .list(&lp)
            .await
            .expect("list Events")
            .items
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// (status, reason, message) of condition `type_` of `ne`.
pub fn condition(ne: &NodeEni, type_: &str) -> (String, String, String) {
    let s = ne.status.as_ref().expect("NodeENI has a status");
    let c = find(&s.conditions, type_).unwrap_or_else(|| panic!("no {type_} in {s:?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// (desired, attached, ready) of `ne`'s status.
pub fn counts(ne: &NodeEni) -> (i32, i32, i32) {
    let s = ne.status.as_ref().expect("NodeENI has a status");
    (s.desired_count, s.attached_count, s.ready_count)
}
