//! Driving the ENIAttachment reconciler against an API server (the double or the real
//! kube-apiserver) and the EC2 simulator, the way the controller's queue would: reconcile when the
//! object changed or its requeue came due.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{CustomResourceExt, ResourceExt};
use multi_eni_api::keys::{self, TAG_ATTACHMENT, TAG_CLUSTER};
use multi_eni_api::naming::label_value;
use multi_eni_api::{EniAttachment, EniAttachmentSpec, NodeEni};
use multi_eni_controller::plan::LifecycleConfig;
use multi_eni_controller::run::attachment::{error_policy, reconcile_next};
use multi_eni_controller::run::describe_batch::{DEFAULT_WINDOW, Pacing};
use multi_eni_controller::run::{Context, ControllerConfig, Stores};
use multi_eni_ec2::Ec2;
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use multi_eni_testkit::wait_until;
use serde_json::json;
use tokio::time::Instant;

/// How long a scenario may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The cluster name (the ENIs' cluster tag).
pub const CLUSTER: &str = "sim-test";
/// Requeues are honoured, but compressed to at most this, so a 10 s throttling delay does not
/// make a test take minutes.
const MAX_REQUEUE: Duration = Duration::from_millis(100);

/// A VPC with one subnet and one running m5.xlarge (4 interfaces) in the simulator.
pub struct World {
    pub sim: Arc<Ec2Sim>,
    pub subnet: String,
    pub group: String,
    pub instance: String,
}

impl World {
    pub fn new(config: SimConfig) -> World {
        let sim = Arc::new(Ec2Sim::new(config));
        let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
        let subnet = sim
            .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", Some("multus-a"))
            .expect("subnet");
        let group = sim.add_security_group(&vpc, "multus").expect("group");
        let instance = sim.launch_instance(&subnet, "m5.xlarge").expect("instance");
        World {
            sim,
            subnet,
            group,
            instance,
        }
    }

    /// Waits until DescribeInstances lists the instance (EC2's reads lag its launch), and runs
    /// it when `running` is asked for.
    pub async fn instance_listed(&self, running: bool) {
        let by_id = multi_eni_ec2::DescribeQuery::ids([self.instance.clone()]);
        wait_until(TIMEOUT, "the instance to be listed", || async {
            match self.sim.describe_instances(&by_id).await {
                Ok(p)
                    if p.items
                        .iter()
                        .any(|i| !running || i.state == multi_eni_ec2::InstanceState::Running) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    /// Every ENI of this cluster in EC2.
    pub fn ours(&self) -> Vec<multi_eni_ec2::NetworkInterface> {
        self.sim.network_interfaces_tagged(TAG_CLUSTER, CLUSTER)
    }

    /// The ENIs carrying attachment UID `uid`.
    pub fn enis_of(&self, uid: &str) -> Vec<multi_eni_ec2::NetworkInterface> {
        self.sim.network_interfaces_tagged(TAG_ATTACHMENT, uid)
    }
}

/// The state machine's settings for tests: quick polls, short grace.
pub fn lifecycle() -> LifecycleConfig {
    LifecycleConfig {
        cluster: CLUSTER.into(),
        release_timeout: Duration::from_secs(60),
        detach_timeout: Duration::from_secs(60),
        // Above the one-second precision of the stored phase clock.
        visibility_grace: Duration::from_secs(3),
        poll: Duration::from_millis(20),
        // Past the longest consistency lag these tests give the simulator (300 ms), with a
        // margin: the create's recorded time is truncated to the millisecond and the
        // simulator's lag runs from before the create returned, so an equal wait races.
        attach_after_create: Duration::from_millis(400),
        // Above the one-second precision of the stored request time.
        detach_resend_after: Duration::from_secs(2),
    }
}

/// Describes batched as in production, but at most 100 ms apart (the tests' polls are 20 ms).
pub fn test_pacing() -> Pacing {
    Pacing {
        window: DEFAULT_WINDOW,
        spacing: Duration::from_millis(100),
    }
}

/// The API double with the CRDs served.
pub async fn double() -> (ApiServerHandle, kube::Client) {
    let server = ApiServer::start(ServerConfig::default())
        .await
        .expect("start the API double");
    let client = server.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [EniAttachment::crd(), NodeEni::crd()] {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("register a CRD");
    }
    let api: Api<EniAttachment> = Api::all(client.clone());
    wait_until(TIMEOUT, "the ENIAttachment CRD to be served", || {
        let api = api.clone();
        async move {
            api.list(&ListParams::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    (server, client)
}

/// A Context over `client` and `ec2` with fresh caches and running stores.
pub async fn context(client: &kube::Client, ec2: Arc<dyn Ec2>) -> Arc<Context> {
    context_with(client, ec2, lifecycle()).await
}

/// [`context`] with these state-machine settings.
pub async fn context_with(
    client: &kube::Client,
    ec2: Arc<dyn Ec2>,
    lifecycle: LifecycleConfig,
) -> Arc<Context> {
    let (stores, run) = Stores::start(client);
    tokio::spawn(run);
    stores.ready().await;
    let config = ControllerConfig {
        lifecycle,
        describe_pacing: test_pacing(),
        ..ControllerConfig::default()
    };
    Arc::new(Context::new(client.clone(), ec2, config, stores, None))
}

/// Creates an ENIAttachment as the fleet does: labels, our finalizer, the spec.
pub async fn create_attachment(
    client: &kube::Client,
    w: &World,
    name: &str,
    device_index: i32,
    delete_on_termination: bool,
) -> EniAttachment {
    let spec: EniAttachmentSpec = serde_json::from_value(json!({
        "nodeENI": "multus", "nodeName": "node-1", "instanceID": w.instance,
        "subnetID": w.subnet, "securityGroupIDs": [w.group], "deviceIndex": device_index,
        "deleteOnTermination": delete_on_termination, "description": "multus ENI",
    }))
    .expect("valid spec");
    let mut a = EniAttachment::new(name, spec);
    a.metadata.labels = Some(BTreeMap::from([
        (keys::LABEL_NODEENI.to_owned(), label_value("multus")),
        (keys::LABEL_NODE.to_owned(), label_value("node-1")),
        (keys::LABEL_SUBNET.to_owned(), w.subnet.clone()),
        (
            keys::LABEL_MANAGED_BY.to_owned(),
            keys::MANAGED_BY.to_owned(),
        ),
    ]));
    a.metadata.finalizers = Some(vec![keys::FINALIZER_ENI_CLEANUP.to_owned()]);
    api(client)
        .create(&PostParams::default(), &a)
        .await
        .expect("create the ENIAttachment")
}

pub fn api(client: &kube::Client) -> Api<EniAttachment> {
    Api::all(client.clone())
}

/// Reconciles one object the way the controller's queue would: again when it changed (a new
/// resourceVersion) or when its requeue is due (compressed to [`MAX_REQUEUE`]); never after
/// `await_change` until it changes or [`Driver::poke`] (the resync's drift signal) is called.
pub struct Driver {
    pub ctx: Arc<Context>,
    pub client: kube::Client,
    pub name: String,
    last_rv: Option<String>,
    due: Option<Instant>,
    /// Reconciles run.
    pub reconciles: u32,
}

impl Driver {
    pub fn new(ctx: Arc<Context>, client: &kube::Client, name: &str) -> Driver {
        Driver {
            ctx,
            client: client.clone(),
            name: name.into(),
            last_rv: None,
            due: Some(Instant::now()),
            reconciles: 0,
        }
    }

    /// Reconcile at the next check even without a change.
    pub fn poke(&mut self) {
        self.due = Some(Instant::now());
    }

    /// The object now; `None` once it is gone.
    pub async fn get(&self) -> Option<EniAttachment> {
        api(&self.client)
            .get_opt(&self.name)
            .await
            .expect("get the ENIAttachment")
    }

    /// One check: reconciles if the object changed or is due. Returns the object as it is
    /// afterwards (`None`: gone).
    pub async fn tick(&mut self) -> Option<EniAttachment> {
        let obj = self.get().await?;
        let changed = obj.resource_version() != self.last_rv;
        let due = self.due.is_some_and(|d| Instant::now() >= d);
        if changed || due {
            self.last_rv = obj.resource_version();
            self.reconciles += 1;
            let obj = Arc::new(obj);
            let after = match reconcile_next(obj.clone(), self.ctx.clone()).await {
                Ok(next) => next.requeue_after,
                Err(e) => {
                    // Counts the failure for the backoff, as the controller's runtime would.
                    let _action = error_policy(obj, &e, self.ctx.clone());
                    Some(e.requeue_after())
                }
            };
            self.due = after.map(|d| Instant::now() + d.min(MAX_REQUEUE));
            return self.get().await;
        }
        Some(obj)
    }

    /// Drives until `done` holds for the object (`None`: gone), failing after [`TIMEOUT`].
    pub async fn until(
        &mut self,
        what: &str,
        done: impl Fn(Option<&EniAttachment>) -> bool,
    ) -> Option<EniAttachment> {
        let me = tokio::sync::Mutex::new(self);
        let (me, done) = (&me, &done);
        wait_until(TIMEOUT, what, move || async move {
            let obj = me.lock().await.tick().await;
            if done(obj.as_ref()) {
                Ok(obj)
            } else {
                Err(format!("{:?}", obj.as_ref().and_then(|o| o.status.clone())))
            }
        })
        .await
    }

    /// Deletes the object (it stays, with a deletionTimestamp, until our finalizer goes).
    pub async fn delete(&self) {
        api(&self.client)
            .delete(&self.name, &DeleteParams::default())
            .await
            .expect("delete the ENIAttachment");
    }

    /// Writes the agent's part of the status, as the node agent would.
    pub async fn agent_reports(&self, interface: serde_json::Value) {
        let patch = json!({ "status": { "interface": interface } });
        api(&self.client)
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("agent status write");
    }
}

/// The phase of `obj`, as a string ("" when none).
pub fn phase(obj: Option<&EniAttachment>) -> String {
    obj.and_then(|o| o.status.as_ref())
        .and_then(|s| s.phase)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

/// The end of every scenario: every ENI of the cluster belongs to a live ENIAttachment, and no
/// attachment has more than one.
pub async fn assert_no_leaks(client: &kube::Client, w: &World) {
    let live: Vec<String> = api(client)
        .list(&ListParams::default())
        .await
        .expect("list ENIAttachments")
        .items
        .iter()
        .filter_map(|a| a.uid())
        .collect();
    let mut per: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for eni in w.ours() {
        let uid = eni.tags.get(TAG_ATTACHMENT).cloned().unwrap_or_default();
        assert!(
            live.contains(&uid),
            "leaked ENI {} (attachment {uid:?} is gone)",
            eni.id
        );
        per.entry(uid).or_default().push(eni.id);
    }
    for (uid, enis) in per {
        assert!(
            enis.len() <= 1,
            "attachment {uid} has several ENIs: {enis:?}"
        );
    }
}
