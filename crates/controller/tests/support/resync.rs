//! What the resync tests share: the API double with both CRDs, an instant `Ec2Sim` with a VPC,
//! a subnet, two security groups and one instance, and Contexts over them — watching the double,
//! or with an ENIAttachment store the test feeds itself (to model a watch that has not delivered
//! an object yet).

#![allow(dead_code)] // Each test binary uses a different part.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use multi_eni_api::{EniAttachment, EniAttachmentSpec, EniAttachmentStatus, NodeEni, Phase, keys};
use multi_eni_controller::plan::LifecycleConfig;
use multi_eni_controller::run::{Context, ControllerConfig, Stores};
use multi_eni_ec2::{AttachEni, CreateEni, Ec2, NetworkInterface, Tags};
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use multi_eni_testkit::wait_until;

/// Our cluster's name.
pub const CLUSTER: &str = "prod";
/// Generous: everything here is local.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The double, the simulator and the EC2 objects the tests build on.
pub struct World {
    /// Kept so the double runs for the test's life.
    pub server: ApiServerHandle,
    pub client: kube::Client,
    pub sim: Arc<Ec2Sim>,
    pub subnet: String,
    pub sg1: String,
    pub sg2: String,
    pub instance: String,
}

impl World {
    /// Starts the double (both CRDs served) and an instant simulator.
    pub async fn start() -> World {
        let server = ApiServer::start(ServerConfig::default())
            .await
            .expect("start the Kubernetes API double");
        let client = server.client().expect("client for the double");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in multi_eni_api::crds::all() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("register a CRD");
        }
        let (atts, nes): (Api<EniAttachment>, Api<NodeEni>) =
            (Api::all(client.clone()), Api::all(client.clone()));
        wait_until(TIMEOUT, "both CRDs to be served", || {
            let (atts, nes) = (atts.clone(), nes.clone());
            async move {
                atts.list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                nes.list(&ListParams::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        let sim = Arc::new(Ec2Sim::new(SimConfig::instant()));
        let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
        let subnet = sim
            .add_subnet(&vpc, "us-east-1a", "10.0.0.0/20", Some("main"))
            .expect("subnet");
        let sg1 = sim.add_security_group(&vpc, "one").expect("sg one");
        let sg2 = sim.add_security_group(&vpc, "two").expect("sg two");
        let instance = sim
            .launch_instance(&subnet, "c5n.18xlarge")
            .expect("instance");
        World {
            server,
            client,
            sim,
            subnet,
            sg1,
            sg2,
            instance,
        }
    }

    /// Settings for cluster [`CLUSTER`] with this GC cooldown.
    pub fn config(&self, cooldown: Duration) -> ControllerConfig {
        ControllerConfig {
            lifecycle: LifecycleConfig {
                cluster: CLUSTER.into(),
                ..LifecycleConfig::default()
            },
            gc_cooldown: cooldown,
            ..ControllerConfig::default()
        }
    }

    /// A Context whose stores watch the double (ready when returned).
    pub async fn watching(&self, config: ControllerConfig) -> Context {
        let (stores, run) = Stores::start(&self.client);
        tokio::spawn(run);
        stores.ready().await;
        Context::new(self.client.clone(), self.sim.clone(), config, stores, None)
    }

    /// A Context whose ENIAttachment store holds only what the test applies to the returned
    /// writer (it starts ready and empty).
    pub fn fed_by_hand(&self, config: ControllerConfig) -> (Context, Writer<EniAttachment>) {
        let (nodes, mut w_nodes) = reflector::store::<Node>();
        let (attachments, mut w_att) = reflector::store::<EniAttachment>();
        let (node_enis, mut w_ne) = reflector::store::<NodeEni>();
        w_nodes.apply_watcher_event(&watcher::Event::InitDone);
        w_ne.apply_watcher_event(&watcher::Event::InitDone);
        w_att.apply_watcher_event(&watcher::Event::Init);
        w_att.apply_watcher_event(&watcher::Event::InitDone);
        let stores = Stores::of(nodes, attachments, node_enis);
        let ctx = Context::new(self.client.clone(), self.sim.clone(), config, stores, None);
        (ctx, w_att)
    }

    /// An available ENI in the subnet with group one and `tags`.
    pub async fn create_eni(&self, tags: Tags) -> NetworkInterface {
        self.sim
            .create_network_interface(&CreateEni {
                subnet_id: self.subnet.clone(),
                security_group_ids: vec![self.sg1.clone()],
                description: None,
                tags,
                client_token: None,
            })
            .await
            .expect("create ENI")
    }

    /// Attaches `eni` to the instance at `index`; returns the attachment ID.
    pub async fn attach(&self, eni: &str, index: i32) -> String {
        self.sim
            .attach_network_interface(&AttachEni {
                network_interface_id: eni.into(),
                instance_id: self.instance.clone(),
                device_index: index,
                network_card_index: None,
            })
            .await
            .expect("attach ENI")
            .attachment_id
    }

    /// The tags the controller puts on attachment `uid`'s ENI in our cluster.
    pub fn tags(&self, uid: &str) -> Tags {
        keys::eni_tags(CLUSTER, "ne", uid, "node-1", &self.instance)
    }

    /// A spec for an ENI of the instance in the subnet with group one.
    pub fn spec(&self, index: i32) -> EniAttachmentSpec {
        serde_json::from_value(serde_json::json!({
            "nodeENI": "ne", "nodeName": "node-1", "instanceID": self.instance,
            "subnetID": self.subnet, "securityGroupIDs": [self.sg1], "deviceIndex": index
        }))
        .expect("valid spec")
    }

    /// Creates ENIAttachment `name` in the double; returns it (with its UID).
    pub async fn create_attachment(&self, name: &str, index: i32) -> EniAttachment {
        let api: Api<EniAttachment> = Api::all(self.client.clone());
        api.create(
            &PostParams::default(),
            &EniAttachment::new(name, self.spec(index)),
        )
        .await
        .expect("create ENIAttachment")
    }

    /// Writes the status of a settled attachment (`Ready` on `eni` at `index`).
    pub async fn settle(&self, name: &str, eni: &str, attachment_id: &str, index: i32) {
        let api: Api<EniAttachment> = Api::all(self.client.clone());
        let status = serde_json::json!({ "status": settled_status(eni, attachment_id, index) });
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .expect("write ENIAttachment status");
    }

    /// Deletes ENIAttachment `name` (none of these carry finalizers).
    pub async fn delete_attachment(&self, name: &str) {
        let api: Api<EniAttachment> = Api::all(self.client.clone());
        api.delete(name, &Default::default())
            .await
            .expect("delete ENIAttachment");
    }
}

/// The status of an attachment `Ready` on `eni`.
pub fn settled_status(eni: &str, attachment_id: &str, index: i32) -> EniAttachmentStatus {
    EniAttachmentStatus {
        phase: Some(Phase::Ready),
        eni_id: Some(eni.into()),
        attachment_id: Some(attachment_id.into()),
        device_index: Some(index),
        ..EniAttachmentStatus::default()
    }
}

/// An ENIAttachment object as the watch would deliver it, for a store fed by hand.
pub fn object(world: &World, name: &str, uid: &str, index: i32) -> EniAttachment {
    let mut a = EniAttachment::new(name, world.spec(index));
    a.metadata.uid = Some(uid.into());
    a
}

/// Waits until `ctx`'s store shows every named attachment with a status.
pub async fn store_has_settled(ctx: &Context, names: &[&str]) {
    wait_until(
        TIMEOUT,
        "the store to show every attachment settled",
        || async {
            let state = ctx.stores.attachments.state();
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| {
                    !state
                        .iter()
                        .any(|a| a.name_any() == *n && a.status.is_some())
                })
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing or without status: {missing:?}"))
            }
        },
    )
    .await;
}

/// Waits until `ctx`'s store shows attachment `name`.
pub async fn store_has_object(ctx: &Context, name: &str) {
    wait_until(TIMEOUT, "the store to show the attachment", || async {
        let state = ctx.stores.attachments.state();
        if state.iter().any(|a| a.name_any() == name) {
            Ok(())
        } else {
            Err(format!("{} objects, not {name}", state.len()))
        }
    })
    .await;
}
