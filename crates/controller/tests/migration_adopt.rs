//! Migration from the Go controller: its ENIs — attached, tagged `NodeENI`/`Node`/`SubnetID`, and
//! recorded in the NodeENI's `status.attachments[]` — become ENIAttachments with our tags added,
//! with no ENI created, attached or detached. An entry that does not describe its ENI truly is
//! not adopted: a new ENI is made and an Event says why. The NodeENI keeps the Go controller's
//! finalizer until our cleanup is done.

#[path = "support/attachment.rs"]
mod attachment_support;
#[path = "support/fleet.rs"]
mod fleet_support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use multi_eni_api::keys::{self, TAG_ATTACHMENT, TAG_CLUSTER};
use multi_eni_api::{EniAttachment, Phase};
use multi_eni_ec2::{AttachEni, CreateEni, Ec2, EniAttributeChange, NetworkInterface, Op};
use multi_eni_ec2_sim::Ec2Sim;
use multi_eni_kube_env::KubeEnv;

use attachment_support::{CLUSTER, Driver, context};
use fleet_support::{FOUR_ENIS, SG, SUBNET_1, SUBNET_2, World};

const NE: &str = "multus";

/// What the Go controller did for one (node, subnet): an ENI created with its tags, attached at
/// `index` with DeleteOnTermination; returns the ENI.
async fn go_eni(
    sim: &Ec2Sim,
    node: &str,
    instance: &str,
    subnet: &str,
    group: &str,
    index: i32,
) -> NetworkInterface {
    let tags = [("NodeENI", NE), ("Node", node), ("SubnetID", subnet)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let eni = sim
        .create_network_interface(&CreateEni {
            subnet_id: subnet.to_owned(),
            security_group_ids: vec![group.to_owned()],
            description: None,
            tags,
            client_token: None,
        })
        .await
        .expect("Go controller's create");
    let attached = sim
        .attach_network_interface(&AttachEni {
            network_interface_id: eni.id.clone(),
            instance_id: instance.to_owned(),
            device_index: index,
            network_card_index: None,
        })
        .await
        .expect("Go controller's attach");
    let dot = EniAttributeChange::DeleteOnTermination {
        attachment_id: attached.attachment_id,
        delete_on_termination: true,
    };
    sim.modify_network_interface_attribute(&eni.id, &dot)
        .await
        .expect("Go controller's DeleteOnTermination");
    sim.network_interface(&eni.id).expect("created")
}

/// The `status.attachments[]` entry the Go controller wrote for `eni` on `node`.
fn go_entry(node: &str, eni: &NetworkInterface) -> serde_json::Value {
    let a = eni.attachment.as_ref().expect("attached");
    serde_json::json!({
        "nodeID": node, "instanceID": a.instance_id, "eniID": eni.id,
        "attachmentID": a.attachment_id, "subnetID": eni.subnet_id, "subnetCIDR": "10.0.1.0/24",
        "deviceIndex": a.device_index, "status": "attached",
        "lastUpdated": "2026-01-01T00:00:00Z",
    })
}

/// The NodeENI as the Go controller left it: the sample's spec over `subnets`, its finalizer,
/// and its status entries.
async fn go_node_eni(w: &World, subnets: &[&str], entries: Vec<serde_json::Value>) {
    w.create_node_eni(
        NE,
        serde_json::json!({"subnetNames": subnets, "securityGroupNames": [SG]}),
    )
    .await;
    let finalizers =
        serde_json::json!({"metadata": {"finalizers": [keys::LEGACY_FINALIZER_NODEENI]}});
    w.node_enis()
        .patch(NE, &PatchParams::default(), &Patch::Merge(&finalizers))
        .await
        .expect("the Go controller's finalizer");
    let status = serde_json::json!({"status": {"attachments": entries}});
    w.node_enis()
        .patch_status(NE, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("the Go controller's status");
}

/// Drives every ENIAttachment of the NodeENI until it is Attached.
async fn drive_all_attached(w: &World, drivers: &mut BTreeMap<String, Driver>) {
    for a in w.attachments(NE).await {
        let ctx = context(&w.client, w.ec2.sim.clone()).await;
        let d = drivers
            .entry(a.name_any())
            .or_insert_with(|| Driver::new(ctx, &w.client, &a.name_any()));
        d.until("the ENIAttachment to be Attached", |o| {
            o.is_some_and(|o| o.phase() == Phase::Attached)
        })
        .await;
    }
}

fn eni_of(a: &EniAttachment) -> String {
    a.status
        .as_ref()
        .and_then(|s| s.eni_id.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_controller_enis_are_adopted_tagged_and_never_created_attached_or_detached() {
    adopt_and_clean_up(World::on_double().await).await;
}

/// The same on the real kube-apiserver: the Go controller's status and finalizer, our annotation
/// and the compatibility view go through its schema and write path unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_controller_enis_are_adopted_on_the_real_apiserver() {
    let env = KubeEnv::shared();
    adopt_and_clean_up(World::on(env.client().await).await).await;
}

async fn adopt_and_clean_up(w: World) {
    let sim = w.ec2.sim.clone();
    let instance = w.node("node-1", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    let on_1 = go_eni(&sim, "node-1", &instance, &w.ec2.subnet_1, &w.ec2.sg, 1).await;
    let on_2 = go_eni(&sim, "node-1", &instance, &w.ec2.subnet_2, &w.ec2.sg, 2).await;
    let entries = vec![go_entry("node-1", &on_1), go_entry("node-1", &on_2)];
    go_node_eni(&w, &[SUBNET_1, SUBNET_2], entries).await;
    sim.reset_stats();

    w.reconcile(NE).await;
    let created = w.attachments(NE).await;
    assert_eq!(created.len(), 2, "{created:?}");
    let view = w.node_eni(NE).await.status.expect("status").attachments;
    let listed: Vec<&str> = view.iter().map(|e| e.eni_id.as_str()).collect();
    assert!(
        listed.contains(&on_1.id.as_str()) && listed.contains(&on_2.id.as_str()),
        "the compatibility view keeps naming the ENIs: {listed:?}"
    );
    let mut drivers = BTreeMap::new();
    drive_all_attached(&w, &mut drivers).await;

    let mut adopted = BTreeMap::new();
    for a in w.attachments(NE).await {
        let s = a.status.clone().expect("status");
        let want = if a.spec.subnet_id == w.ec2.subnet_1 {
            &on_1
        } else {
            &on_2
        };
        assert_eq!(
            eni_of(&a),
            want.id,
            "{} adopted its (node, subnet)'s ENI",
            a.name_any()
        );
        let index = want.attachment.as_ref().map(|x| x.device_index);
        assert_eq!(s.device_index, index, "at the index the Go controller used");
        let eni = sim.network_interface(&want.id).expect("still there");
        let uid = a.uid().expect("uid");
        assert_eq!(eni.tags.get(TAG_ATTACHMENT), Some(&uid), "our tags added");
        assert_eq!(eni.tags.get(TAG_CLUSTER).map(String::as_str), Some(CLUSTER));
        assert_eq!(
            eni.tags.get("NodeENI").map(String::as_str),
            Some(NE),
            "Go tags kept"
        );
        let att = eni.attachment.expect("still attached");
        assert_eq!(att.instance_id.as_deref(), Some(instance.as_str()));
        adopted.insert(want.id.clone(), uid);
    }
    assert_eq!(adopted.len(), 2);
    let events = Api::<Event>::namespaced(w.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items;
    for id in adopted.keys() {
        let said = events.iter().any(|e| {
            e.reason.as_deref() == Some(keys::reason::ADOPTED)
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains(id.as_str()))
        });
        assert!(said, "an Adopted Event for {id}: {events:?}");
    }
    for op in [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::DetachNetworkInterface,
        Op::DeleteNetworkInterface,
    ] {
        assert_eq!(sim.calls(op), 0, "{op} during the migration");
    }
    assert_eq!(
        sim.calls(Op::CreateTags),
        2,
        "one CreateTags per adopted ENI"
    );

    // The fleet's next look: converged, the view now from the ENIAttachments (with MACs).
    w.reconcile(NE).await;
    let ne = w.node_eni(NE).await;
    let view = ne.status.clone().expect("status").attachments;
    assert_eq!(view.len(), 2, "{view:?}");
    assert!(
        view.iter()
            .all(|e| adopted.contains_key(&e.eni_id) && !e.mac_address.is_empty())
    );
    let finalizers = ne.finalizers();
    assert!(finalizers.contains(&keys::FINALIZER_NODEENI.to_owned()));
    assert!(finalizers.contains(&keys::LEGACY_FINALIZER_NODEENI.to_owned()));

    // Deleting the NodeENI now cleans up the adopted ENIs, and both finalizers go.
    w.delete_node_eni(NE).await;
    w.reconcile(NE).await;
    for d in drivers.values_mut() {
        d.until("the ENIAttachment to be gone", |o| o.is_none())
            .await;
    }
    for id in adopted.keys() {
        assert!(sim.network_interface(id).is_none(), "{id} deleted");
    }
    w.reconcile(NE).await;
    let left = w.node_enis().get_opt(NE).await.expect("get NodeENI");
    assert!(left.is_none(), "both finalizers removed: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_does_not_describe_its_eni_is_not_adopted_and_says_so() {
    let w = World::on_double().await;
    let sim = w.ec2.sim.clone();
    let instance_1 = w.node("node-1", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    w.node("node-2", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    let on_1 = go_eni(&sim, "node-1", &instance_1, &w.ec2.subnet_1, &w.ec2.sg, 1).await;
    // A stale entry: node-2's status names node-1's ENI.
    let mut stale = go_entry("node-2", &on_1);
    stale["instanceID"] = serde_json::Value::Null;
    go_node_eni(&w, &[SUBNET_1], vec![stale]).await;
    sim.reset_stats();

    w.reconcile(NE).await;
    let mut drivers = BTreeMap::new();
    drive_all_attached(&w, &mut drivers).await;
    let atts = w.attachments(NE).await;
    let on_node_2 = atts
        .iter()
        .find(|a| a.spec.node_name == "node-2")
        .expect("node-2's ENIAttachment");
    assert_eq!(
        on_node_2.annotations().get(keys::ANNOTATION_ADOPT_ENI),
        Some(&on_1.id),
        "the fleet offered the entry's ENI"
    );
    assert_ne!(eni_of(on_node_2), on_1.id, "but it was not taken");
    let untouched = sim.network_interface(&on_1.id).expect("still there");
    assert_eq!(
        untouched.attachment.and_then(|a| a.instance_id),
        Some(instance_1),
        "the ENI stays where it is"
    );
    assert!(
        !untouched.tags.contains_key(TAG_ATTACHMENT),
        "and is not tagged"
    );
    // node-1 has no entry at all: both nodes got a new ENI, attached once.
    assert_eq!(sim.calls(Op::CreateNetworkInterface), 2);
    assert_eq!(sim.calls(Op::AttachNetworkInterface), 2);
    assert_eq!(sim.calls(Op::DetachNetworkInterface), 0);
    assert_eq!(sim.calls(Op::CreateTags), 0);
    let lp = ListParams::default().fields(&format!("involvedObject.name={}", on_node_2.name_any()));
    let events = Api::<Event>::namespaced(w.client.clone(), "default")
        .list(&lp)
        .await
        .expect("list Events")
        .items;
    let refused = events
        .iter()
        .find(|e| e.reason.as_deref() == Some(keys::reason::ADOPTION_REFUSED))
        .unwrap_or_else(|| panic!("an AdoptionRefused Event: {events:?}"));
    let note = refused.message.clone().unwrap_or_default();
    assert!(
        note.contains(&on_1.id) && note.contains("not attached to"),
        "{note}"
    );
}
