//! The ENIAttachment reconciler end to end: the API double (and once the real kube-apiserver)
//! plus the EC2 simulator, driven the way the controller's queue drives it. Every scenario ends
//! with no leaked ENI and at most one ENI per attachment.

#[path = "support/attachment.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{CustomResourceExt, ResourceExt};
use multi_eni_api::conditions::find;
use multi_eni_api::keys::{
    FINALIZER_ENI_CLEANUP, TAG_ATTACHMENT, TAG_CLUSTER, TAG_INSTANCE_ID, TAG_NODE, TAG_NODEENI,
    condition, reason,
};
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_controller::plan::{LifecycleConfig, client_token};
use multi_eni_controller::run::attachment::{Next, reconcile, reconcile_next};
use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Op, Page, SecurityGroup,
    Subnet, Tags,
};
use multi_eni_ec2_sim::{Ec2Sim, FaultPlan, SimConfig};
use multi_eni_kube_env::{KubeEnv, apply_crds};
use multi_eni_testkit::wait_until;
use serde_json::json;
use support::*;
use tokio::sync::Notify;

fn attached(o: Option<&EniAttachment>) -> bool {
    phase(o) == "Attached"
}

fn gone(o: Option<&EniAttachment>) -> bool {
    o.is_none()
}

fn status(o: &EniAttachment) -> multi_eni_api::EniAttachmentStatus {
    o.status.clone().expect("status")
}

/// Deletes the object, drives it until it is gone, and checks nothing leaked.
async fn delete_and_finish(d: &mut Driver, w: &World) {
    d.delete().await;
    d.until("the ENIAttachment to be gone", gone).await;
    assert_no_leaks(&d.client, w).await;
}

/// The one ENI of attachment `uid`, checked against its spec and its status.
fn assert_eni_as_specified(w: &World, obj: &EniAttachment, uid: &str) -> NetworkInterface {
    let enis = w.enis_of(uid);
    assert_eq!(enis.len(), 1, "{enis:?}");
    let eni = &enis[0];
    let s = status(obj);
    assert_eq!(s.eni_id.as_deref(), Some(eni.id.as_str()));
    assert_eq!(s.device_index, Some(1));
    assert_eq!(s.create_attempt, Some(1));
    assert_eq!(s.mac_address.as_deref(), Some(eni.mac_address.as_str()));
    assert_eq!(s.subnet_cidr.as_deref(), Some("10.0.1.0/24"));
    assert_eq!(s.availability_zone.as_deref(), Some("us-east-1a"));
    let tags = |k: &str| eni.tags.get(k).cloned();
    assert_eq!(tags(TAG_CLUSTER).as_deref(), Some(CLUSTER));
    assert_eq!(tags(TAG_ATTACHMENT).as_deref(), Some(uid));
    assert_eq!(tags(TAG_NODEENI).as_deref(), Some("multus"));
    assert_eq!(tags(TAG_NODE).as_deref(), Some("node-1"));
    assert_eq!(tags(TAG_INSTANCE_ID).as_deref(), Some(w.instance.as_str()));
    assert_eq!(eni.description, "multus ENI");
    assert_eq!(eni.security_group_ids, vec![w.group.clone()]);
    let a = eni.attachment.clone().expect("attached in EC2");
    assert_eq!(a.instance_id.as_deref(), Some(w.instance.as_str()));
    assert_eq!((a.device_index, a.status), (1, AttachmentStatus::Attached));
    assert!(a.delete_on_termination, "DeleteOnTermination set");
    assert_eq!(s.attachment_id.as_deref(), Some(a.attachment_id.as_str()));
    eni.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_attaches_at_the_wanted_index_with_tags_token_and_delete_on_termination() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let att = create_attachment(&client, &w, "att-create", 1, true).await;
    let uid = att.uid().expect("uid");
    let mut d = Driver::new(ctx.clone(), &client, "att-create");
    let obj = d.until("Attached", attached).await.expect("object");

    let eni = assert_eni_as_specified(&w, &obj, &uid);
    let eni = &eni;

    // The create carried the attempt's ClientToken: the same token returns the same ENI.
    let again = w
        .sim
        .create_network_interface(&CreateEni {
            subnet_id: w.subnet.clone(),
            security_group_ids: vec![w.group.clone()],
            description: Some("multus ENI".into()),
            tags: eni.tags.clone(),
            client_token: Some(client_token(&uid, 1)),
        })
        .await
        .expect("idempotent create");
    assert_eq!(again.id, eni.id);

    // Converged: the next reconcile waits for a change and calls nothing.
    let calls = w.sim.all_stats();
    let next = reconcile_next(Arc::new(obj.clone()), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(
        next,
        Next {
            requeue_after: None
        }
    );
    assert_eq!(w.sim.all_stats(), calls, "no EC2 call when converged");
    let action = reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(action, kube::runtime::controller::Action::await_change());

    // The agent reports the interface configured: Ready.
    d.agent_reports(json!({
        "interfaceName": "eth1", "up": true,
        "conditions": [{
            "type": condition::INTERFACE_READY, "status": "True", "reason": "InterfaceConfigured",
            "message": "up", "lastTransitionTime": "2026-01-01T00:00:00Z",
        }],
    }))
    .await;
    let obj = d
        .until("Ready", |o| phase(o) == "Ready")
        .await
        .expect("object");
    let ready = find(&status(&obj).conditions, condition::READY).cloned();
    assert_eq!(ready.map(|c| c.status), Some("True".to_owned()));
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains(r#"op="CreateNetworkInterface",result="ok""#),
        "{metrics}"
    );
    assert!(
        metrics.contains("multi_eni_controller_ready_seconds_count 1"),
        "{metrics}"
    );

    // Events tell people what happened, with the same words as the status.
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(client.clone(), "default");
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for want in ["Created", "Attached"] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }

    // The agent releases at once here, so removal goes straight through.
    d.agent_reports(json!({ "released": true })).await;
    delete_and_finish(&mut d, &w).await;
    assert!(w.enis_of(&uid).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_attachment_the_agent_never_reported_on_detaches_at_once() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-quiet", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx, &client, "att-quiet");
    d.until("Attached", attached).await;
    assert_eq!(w.sim.calls(Op::DetachNetworkInterface), 0);

    d.delete().await;
    d.tick().await;
    assert_eq!(
        w.sim.calls(Op::DetachNetworkInterface),
        1,
        "detached in the first reconcile after the delete"
    );
    d.until("the ENIAttachment to be gone", gone).await;
    assert!(w.enis_of(&uid).is_empty(), "ENI deleted");
    assert_eq!(w.sim.calls(Op::DeleteNetworkInterface), 1);
    assert_no_leaks(&client, &w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_reported_is_waited_for_until_it_released_the_interface() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-agent", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx, &client, "att-agent");
    d.until("Attached", attached).await;
    d.agent_reports(json!({ "interfaceName": "eth1", "up": true, "released": false }))
        .await;
    d.delete().await;
    d.until("Detaching", |o| phase(o) == "Detaching").await;
    for _ in 0..3 {
        d.poke();
        d.tick().await;
    }
    assert_eq!(
        w.sim.calls(Op::DetachNetworkInterface),
        0,
        "waits for the agent"
    );
    let eni = w.enis_of(&uid).pop().expect("ENI");
    let state = eni.attachment.map(|a| a.status);
    assert_eq!(state, Some(AttachmentStatus::Attached));

    d.agent_reports(json!({ "released": true })).await;
    d.until("the ENIAttachment to be gone", gone).await;
    assert_eq!(
        w.sim.calls(Op::DetachNetworkInterface),
        1,
        "one normal detach"
    );
    assert!(w.enis_of(&uid).is_empty());
    assert_no_leaks(&client, &w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_interface_on_the_wanted_index_moves_the_eni_to_the_next_free_one() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let foreign = w
        .sim
        .add_foreign_interface(&w.instance, 1)
        .expect("foreign");
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-foreign", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx, &client, "att-foreign");
    let obj = d.until("Attached", attached).await.expect("object");
    assert_eq!(status(&obj).device_index, Some(2));
    let eni = w.enis_of(&uid).pop().expect("ENI");
    assert_eq!(eni.attachment.map(|a| a.device_index), Some(2));

    delete_and_finish(&mut d, &w).await;
    let foreign = w.sim.network_interface(&foreign).expect("foreign ENI kept");
    assert_eq!(foreign.attachment.map(|a| a.device_index), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_response_is_adopted_not_duplicated() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    w.sim.lose_next_responses(Op::CreateNetworkInterface, 1);
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-lost", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx, &client, "att-lost");
    let obj = d.until("Attached", attached).await.expect("object");
    assert_eq!(w.sim.stats(Op::CreateNetworkInterface).lost_responses, 1);
    assert_eq!(w.enis_of(&uid).len(), 1);
    assert_eq!(status(&obj).create_attempt, Some(1));
    delete_and_finish(&mut d, &w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_response_not_yet_listed_is_retried_with_the_same_token() {
    let (_server, client) = double().await;
    // Describes lag 200 ms: the retry cannot see the first ENI and creates again.
    let w = World::new(SimConfig::instant().with_fixed_lag(Duration::from_millis(200)));
    // A node joins long after its instance is listed; so does this one.
    w.instance_listed(false).await;
    w.sim.lose_next_responses(Op::CreateNetworkInterface, 1);
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-lost-lag", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx, &client, "att-lost-lag");
    let obj = d.until("Attached", attached).await.expect("object");
    assert_eq!(
        w.sim.calls(Op::CreateNetworkInterface),
        2,
        "created again, once"
    );
    assert_eq!(w.enis_of(&uid).len(), 1, "the same token gave the same ENI");
    assert_eq!(status(&obj).create_attempt, Some(1));
    delete_and_finish(&mut d, &w).await;
}

/// EC2 whose creates go through and then never answer while `hang` is set: a controller that
/// dies between the create request and recording its result.
#[derive(Debug)]
struct HangAfterCreate {
    sim: Arc<Ec2Sim>,
    hang: AtomicBool,
    created: Notify,
}

#[async_trait]
impl Ec2 for HangAfterCreate {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        let r = self.sim.create_network_interface(req).await;
        if self.hang.load(Ordering::SeqCst) {
            self.created.notify_one();
            std::future::pending::<()>().await;
        }
        r
    }
    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        self.sim.attach_network_interface(req).await
    }
    async fn modify_network_interface_attribute(
        &self,
        id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.sim
            .modify_network_interface_attribute(id, change)
            .await
    }
    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        self.sim.detach_network_interface(req).await
    }
    async fn delete_network_interface(&self, id: &str) -> Result<(), Ec2Error> {
        self.sim.delete_network_interface(id).await
    }
    async fn create_tags(&self, ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        self.sim.create_tags(ids, tags).await
    }
    async fn describe_network_interfaces(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        self.sim.describe_network_interfaces(q).await
    }
    async fn describe_instances(&self, q: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.sim.describe_instances(q).await
    }
    async fn describe_subnets(&self, q: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.sim.describe_subnets(q).await
    }
    async fn describe_security_groups(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.sim.describe_security_groups(q).await
    }
    async fn describe_instance_types(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.sim.describe_instance_types(q).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_after_its_create_call_adopts_the_eni_after_restart() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let hanging = Arc::new(HangAfterCreate {
        sim: w.sim.clone(),
        hang: AtomicBool::new(true),
        created: Notify::new(),
    });
    let first = context(&client, hanging.clone()).await;
    let att = create_attachment(&client, &w, "att-crash", 1, true).await;
    let uid = att.uid().expect("uid");
    tokio::select! {
        r = reconcile_next(Arc::new(att), first) => panic!("the create was to hang, got {r:?}"),
        () = hanging.created.notified() => {}
    }
    // The reconcile is dropped mid-call: the ENI exists, status has only the intent.
    assert_eq!(w.enis_of(&uid).len(), 1);
    let mut d = Driver::new(context(&client, w.sim.clone()).await, &client, "att-crash");
    let obj = d.get().await.expect("object");
    let s = status(&obj);
    assert_eq!(
        (s.phase.map(|p| p.as_str()), s.eni_id),
        (Some("Creating"), None)
    );

    let obj = d.until("Attached", attached).await.expect("object");
    let enis = w.enis_of(&uid);
    assert_eq!(enis.len(), 1, "adopted, not duplicated: {enis:?}");
    assert_eq!(status(&obj).eni_id.as_deref(), Some(enis[0].id.as_str()));
    assert_eq!(w.sim.calls(Op::CreateNetworkInterface), 1);
    delete_and_finish(&mut d, &w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_instance_fails_the_attachment_cleans_up_and_creates_nothing_more() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    // Without DeleteOnTermination the ENI outlives the instance: ours to delete.
    let uid = create_attachment(&client, &w, "att-gone", 1, false)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx.clone(), &client, "att-gone");
    d.until("Attached", attached).await;
    w.sim.terminate_instance(&w.instance).expect("terminate");
    // What the resync does: list the cluster's ENIs and signal drift — its next pass, past the
    // visibility grace (within it the listing might only lag our own attach).
    let grace = ctx.config.lifecycle.visibility_grace;
    let later = Timestamp::now() + (grace + Duration::from_secs(1));
    ctx.enis.replace(w.ours(), later, grace);
    d.poke();
    let obj = d
        .until("Failed", |o| phase(o) == "Failed")
        .await
        .expect("object");
    let ready = find(&status(&obj).conditions, condition::READY).cloned();
    assert_eq!(
        ready.map(|c| c.reason),
        Some(reason::INSTANCE_GONE.to_owned())
    );
    assert!(w.enis_of(&uid).is_empty(), "the left-over ENI is deleted");

    let calls = w.sim.all_stats();
    for _ in 0..3 {
        d.poke();
        d.tick().await;
    }
    let mutating = |s: &std::collections::BTreeMap<Op, _>| {
        s.iter()
            .filter(|(op, _)| op.family() == multi_eni_ec2::ApiFamily::Mutating)
            .map(|(op, st)| (*op, *st))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mutating(&w.sim.all_stats()),
        mutating(&calls),
        "no create loop"
    );
    assert_eq!(w.sim.calls(Op::CreateNetworkInterface), 1);
    delete_and_finish(&mut d, &w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_on_every_call_still_converges_to_one_eni_and_back_to_none() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant().with_seed(7));
    for op in Op::ALL {
        w.sim
            .set_faults(op, FaultPlan::errors(0.3, "RequestLimitExceeded"));
    }
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-throttled", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx.clone(), &client, "att-throttled");
    d.until("Attached", attached).await;
    assert_eq!(w.enis_of(&uid).len(), 1);
    delete_and_finish(&mut d, &w).await;
    let injected: u64 = w.sim.all_stats().values().map(|s| s.injected_errors).sum();
    assert!(injected > 0, "faults were injected");
    assert!(
        ctx.metrics.render().contains(r#"result="throttled""#),
        "throttled calls are counted"
    );
}

/// The parts the double could get wrong, checked on both servers: the finalizer added by the
/// reconciler, a stale copy refused by the resourceVersion guard (and nothing done in EC2), the
/// status subresource, and the finalizer removal that lets the object go.
async fn guarded_life(client: kube::Client, name: &str) {
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let created = create_attachment(&client, &w, name, 1, true).await;
    let uid = created.uid().expect("uid");
    // The object as created lacks nothing; take our finalizer off to see it put back.
    let api = api(&client);
    let stripped = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .expect("strip the finalizer");
    assert!(stripped.finalizers().is_empty());
    let err = reconcile_next(Arc::new(created), ctx.clone())
        .await
        .expect_err("a stale copy is refused");
    assert!(
        matches!(&err, multi_eni_controller::run::Error::Kube(kube::Error::Api(s)) if s.code == 409),
        "{err}"
    );
    assert_eq!(w.sim.calls(Op::CreateNetworkInterface), 0);

    let mut d = Driver::new(ctx, &client, name);
    let obj = d.until("Attached", attached).await.expect("object");
    assert!(obj.finalizers().iter().any(|f| f == FINALIZER_ENI_CLEANUP));
    assert_eq!(w.enis_of(&uid).len(), 1);
    delete_and_finish(&mut d, &w).await;
    assert!(w.enis_of(&uid).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_double_the_guards_and_the_finalizer_hold() {
    let (_server, client) = double().await;
    guarded_life(client, "att-guarded-double").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_real_kube_apiserver_the_guards_and_the_finalizer_hold() {
    let client = KubeEnv::shared().client().await;
    apply_crds(&client, &[EniAttachment::crd(), NodeEni::crd()])
        .await
        .expect("apply the CRDs");
    guarded_life(client, "att-guarded-real").await;
}

/// The describe budget before coalescing: the index and the folded call results carry every step
/// but one — the look at an attach EC2 finishes by itself (a new ENI's ID propagating before its
/// attach is waited out, not described) — so a rollout driven one attachment at a time spends
/// at most one DescribeNetworkInterfaces per ENI (the batcher merges those of concurrent
/// reconciles; `tests/ec2_cost.rs` holds the shared figure) and shares one DescribeInstances
/// through the instance cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_spends_at_most_one_eni_describe_per_eni_and_shares_the_instance_describe() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let names = ["att-roll-1", "att-roll-2", "att-roll-3"];
    for (i, name) in (1..).zip(names) {
        create_attachment(&client, &w, name, i, true).await;
    }
    let mut drivers: Vec<Driver> = names
        .iter()
        .map(|n| Driver::new(ctx.clone(), &client, n))
        .collect();
    for d in &mut drivers {
        d.until("Attached", attached).await;
    }
    let describes = w.sim.calls(Op::DescribeNetworkInterfaces);
    assert!(describes <= 3, "{describes} ENI describes for 3 ENIs");
    assert_eq!(
        w.sim.calls(Op::DescribeInstances),
        1,
        "one instance describe"
    );
    assert_eq!(w.sim.calls(Op::CreateNetworkInterface), 3);
    assert_eq!(w.sim.calls(Op::AttachNetworkInterface), 3);
    for d in &mut drivers {
        delete_and_finish(d, &w).await;
    }
}

/// EC2's reads lag its writes: a describe right after our attach still shows the ENI free, one
/// right after our detach still shows it attached. The reconciler must not attach again (EC2
/// refuses: in use, and the conflict costs a backoff), nor detach again every poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_lagging_behind_our_calls_does_not_make_them_again() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant().with_fixed_lag(Duration::from_millis(300)));
    w.instance_listed(false).await;
    let ctx = context(&client, w.sim.clone()).await;
    let uid = create_attachment(&client, &w, "att-lag", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut d = Driver::new(ctx.clone(), &client, "att-lag");
    d.until("Attached", attached).await;
    assert_eq!(w.enis_of(&uid).len(), 1);
    let metrics = ctx.metrics.render();
    let attaches_ok = r#"op="AttachNetworkInterface",result="ok"} 1"#;
    assert!(metrics.contains(attaches_ok), "{metrics}");
    assert!(
        !metrics.contains(r#"op="AttachNetworkInterface",result="conflict""#),
        "{metrics}"
    );
    delete_and_finish(&mut d, &w).await;
    // Nor detach again while the describe still shows the detach we asked for as not begun.
    assert_eq!(w.sim.calls(Op::DetachNetworkInterface), 1);
    // Nor was the attach refused while the new ENI's ID propagated.
    assert_eq!(w.sim.calls(Op::AttachNetworkInterface), 1);
}

/// A new ENI's ID reaches the attach API only after EC2's consistency lag (300 ms here): the
/// attach waits `attach_after_create` instead of spending a refused call. Without the wait the
/// same run is refused once — the simulator is as unkind as EC2, and the wait is what helps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_waits_for_the_new_enis_id_instead_of_being_refused() {
    let (_server, client) = double().await;
    for (wait, waits) in [
        (lifecycle().attach_after_create, true),
        (Duration::ZERO, false),
    ] {
        let w = World::new(SimConfig::instant().with_fixed_lag(Duration::from_millis(300)));
        w.instance_listed(false).await;
        let cfg = LifecycleConfig {
            attach_after_create: wait,
            ..lifecycle()
        };
        let ctx = context_with(&client, w.sim.clone(), cfg).await;
        let name = format!("att-settle-{}", wait.as_millis());
        create_attachment(&client, &w, &name, 1, true).await;
        let mut d = Driver::new(ctx.clone(), &client, &name);
        d.until("Attached", attached).await;
        let calls = w.sim.calls(Op::AttachNetworkInterface);
        assert_eq!(
            calls == 1,
            waits,
            "attach_after_create {wait:?}: {calls} attaches"
        );
        let refused = r#"op="AttachNetworkInterface",result="not_found"}"#;
        assert_eq!(
            ctx.metrics.render().contains(refused),
            !waits,
            "attach_after_create {wait:?}: {}",
            ctx.metrics.render()
        );
        delete_and_finish(&mut d, &w).await;
    }
}

/// An index held by one of our ENIs on its way out is waited for, not skipped: after a
/// replacement the new ENI lands where the old one was, and no index after it shifts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_held_by_our_leaving_eni_is_waited_for_then_taken() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    create_attachment(&client, &w, "att-old", 1, true).await;
    let mut old = Driver::new(ctx.clone(), &client, "att-old");
    old.until("Attached", attached).await;
    old.agent_reports(json!({ "interfaceName": "eth1", "up": true, "released": false }))
        .await;
    old.delete().await;
    old.until("Detaching", |o| phase(o) == "Detaching").await;
    let stores = ctx.stores.clone();
    wait_until(TIMEOUT, "the store to see the old one leaving", || {
        let stores = stores.clone();
        async move {
            let leaving = stores
                .attachments
                .state()
                .iter()
                .any(|a| a.name_any() == "att-old" && a.metadata.deletion_timestamp.is_some());
            if leaving {
                Ok(())
            } else {
                Err("not yet".into())
            }
        }
    })
    .await;

    let new_uid = create_attachment(&client, &w, "att-new", 1, true)
        .await
        .uid()
        .expect("uid");
    let mut new = Driver::new(ctx.clone(), &client, "att-new");
    new.until("the new ENI created", |o| {
        o.and_then(|o| o.status.as_ref())
            .is_some_and(|s| s.eni_id.is_some())
    })
    .await;
    for _ in 0..3 {
        new.poke();
        new.tick().await;
    }
    let obj = new.get().await.expect("object");
    assert_eq!(phase(Some(&obj)), "Creating", "waits for index 1");
    assert_eq!(
        w.sim.calls(Op::AttachNetworkInterface),
        1,
        "only the old attach"
    );

    old.agent_reports(json!({ "released": true })).await;
    old.until("the old ENIAttachment to be gone", gone).await;
    new.poke();
    let obj = new.until("Attached", attached).await.expect("object");
    assert_eq!(status(&obj).device_index, Some(1));
    let eni = w.enis_of(&new_uid).pop().expect("ENI");
    assert_eq!(eni.attachment.map(|a| a.device_index), Some(1));
    delete_and_finish(&mut new, &w).await;
}

/// EC2-like timing, 20 times faster: describes lag 1–3 s, attaches take 2 s, detaches 3 s, the
/// server throttles. Three attachments on one instance still converge to one ENI each and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_like_timing_converges_for_several_attachments() {
    let (_server, client) = double().await;
    let w = World::new(SimConfig::default().with_time_scale(20.0).with_seed(3));
    w.instance_listed(true).await;
    let ctx = context(&client, w.sim.clone()).await;
    let names = ["att-ec2-1", "att-ec2-2", "att-ec2-3"];
    for (i, name) in (1..).zip(names) {
        create_attachment(&client, &w, name, i, true).await;
    }
    let drivers: Vec<tokio::sync::Mutex<Driver>> = names
        .iter()
        .map(|n| tokio::sync::Mutex::new(Driver::new(ctx.clone(), &client, n)))
        .collect();
    let drivers = &drivers;
    let all = |want: &'static str| async move {
        wait_until(TIMEOUT, want, || async move {
            let mut seen = Vec::new();
            for d in drivers {
                seen.push(phase(d.lock().await.tick().await.as_ref()));
            }
            if seen.iter().all(|p| p == want) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        })
        .await;
    };
    all("Attached").await;
    for name in names {
        let obj = api(&client).get(name).await.expect("object");
        assert_eq!(w.enis_of(&obj.uid().expect("uid")).len(), 1, "{name}");
    }
    assert_no_leaks(&client, &w).await;
    for d in drivers {
        d.lock().await.delete().await;
    }
    all("").await;
    assert!(w.ours().is_empty(), "{:?}", w.ours());
}

/// The executor on its own: EC2's "in use" answer to deleting an attached ENI is a wait, never
/// bad input (no InvalidRequest in the Ready condition); NotFound on delete is done; every call
/// is counted and what it proves lands in the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_treats_delete_in_use_as_retry_later_and_delete_not_found_as_done() {
    use multi_eni_controller::plan::{Ec2Action, Ec2Outcome, ErrorClass, on_error};
    use multi_eni_controller::run::executor::execute;
    let (_server, client) = double().await;
    let w = World::new(SimConfig::instant());
    let ctx = context(&client, w.sim.clone()).await;
    let att = create_attachment(&client, &w, "att-exec", 1, true).await;
    let create = Ec2Action::Create(CreateEni {
        subnet_id: w.subnet.clone(),
        security_group_ids: vec![w.group.clone()],
        description: None,
        tags: [(TAG_CLUSTER.to_owned(), CLUSTER.to_owned())].into(),
        client_token: Some("exec-1".into()),
    });
    let Ec2Outcome::Created(eni) = execute(&ctx, &create).await.expect("create") else {
        panic!("a create returns the ENI");
    };
    assert!(ctx.enis.get(&eni.id).is_some(), "created ENI indexed");
    let attach = Ec2Action::Attach(AttachEni {
        network_interface_id: eni.id.clone(),
        instance_id: w.instance.clone(),
        device_index: 1,
        network_card_index: Some(0),
    });
    execute(&ctx, &attach).await.expect("attach");
    let indexed = ctx.enis.get(&eni.id).and_then(|e| e.attachment);
    assert_eq!(indexed.map(|a| a.device_index), Some(1), "attach folded in");

    let delete = Ec2Action::Delete {
        network_interface_id: eni.id.clone(),
    };
    let err = execute(&ctx, &delete).await.expect_err("in use");
    assert_eq!(ErrorClass::of(&err.kind), ErrorClass::Conflict, "{err}");
    let recovery = on_error(&att, &delete, &err, Timestamp::now());
    assert_eq!(recovery.status, None, "no InvalidRequest reported");
    assert!(ctx.enis.get(&eni.id).is_some(), "still there");

    let detach = Ec2Action::Detach {
        network_interface_id: eni.id.clone(),
        request: DetachEni {
            attachment_id: indexed_attachment(&w, &eni.id),
            force: false,
        },
    };
    execute(&ctx, &detach).await.expect("detach");
    execute(&ctx, &delete).await.expect("delete");
    assert!(ctx.enis.get(&eni.id).is_none(), "deleted ENI dropped");
    let again = execute(&ctx, &delete).await.expect("NotFound is done");
    assert_eq!(again, Ec2Outcome::Done);
    let again = execute(&ctx, &detach).await.expect("NotFound is done");
    assert_eq!(again, Ec2Outcome::Done);
    let metrics = ctx.metrics.render();
    for line in [
        r#"op="DeleteNetworkInterface",result="conflict"} 1"#,
        r#"op="DeleteNetworkInterface",result="ok"} 1"#,
        r#"op="DeleteNetworkInterface",result="not_found"} 1"#,
        r#"op="DetachNetworkInterface",result="not_found"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    api(&client)
        .delete("att-exec", &Default::default())
        .await
        .expect("delete the object");
    let mut d = Driver::new(ctx, &client, "att-exec");
    d.until("the ENIAttachment to be gone", gone).await;
    assert_no_leaks(&client, &w).await;
}

fn indexed_attachment(w: &World, eni: &str) -> String {
    w.sim
        .network_interface(eni)
        .and_then(|e| e.attachment)
        .map(|a| a.attachment_id)
        .expect("attached")
}
