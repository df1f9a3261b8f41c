//! End to end: the real `multi-eni controller` process on the real kube-apiserver
//! (`multi-eni-kube-env`, our CRDs applied) and moto behind the real EC2 adapter. The Go
//! controller's sample NodeENI, applied unchanged with kubectl, gets six ENIs on three nodes;
//! a `kill -9` and a restart change nothing in EC2; a node leaving the selector loses its two;
//! deleting the NodeENI deletes the rest and lets the NodeENI go. The probe port answers, and
//! a cluster without our CRDs stops the binary with the command that installs them. The
//! migration: ENIs the Go controller made and recorded (its tags, status entries and finalizer)
//! are adopted with our tags added and no ENI created, attached or detached, and cleaned up.
//!
//! Moto does not model device-index conflicts, ENI limits, in-use checks or attach states, and
//! answers the `attachment.status` / `attachment.device-index` filters with HTTP 500: this
//! passes only if the controller relies on none of them. Needs `scripts/install-test-deps.sh`
//! (moto, kube-apiserver, etcd) and kubectl. Run alone:
//! `cargo test -p multi-eni --test controller_e2e`.

#[path = "support/controller_process.rs"]
mod controller_process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use controller_process::{ControllerProcess, sample_sum};
use k8s_openapi::api::core::v1::Node;
use kube::CustomResourceExt;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use multi_eni_api::keys::{self, TAG_CLUSTER};
use multi_eni_api::{EniAttachment, NodeEni, Phase};
use multi_eni_ec2::{
    AttachEni, CreateEni, DescribeQuery, Ec2, EniAttributeChange, Filter, NetworkInterface,
};
use multi_eni_ec2_aws::AwsEc2;
use multi_eni_ec2_aws::testing::{Ec2Setup, MotoServer, adapter};
use multi_eni_kube_env::{KubeEnv, apply_crds, create_node};
use multi_eni_testkit::wait_until;

/// The Go controller's `deploy/samples/01-nodeeni-case1.yaml`, byte for byte (the controller
/// crate's fixture of it).
const SAMPLE_01: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../controller/tests/fixtures/go-sample-01-nodeeni-case1.yaml"
);
const SAMPLE_01_NAME: &str = "multi-subnet-nodeeni";
/// The sample's `description`, which the Go controller gave its ENIs.
const SAMPLE_01_DESCRIPTION: &str = "NodeENI created with subnet names and security group name";
const CLUSTER: &str = "e2e";
const ZONE: &str = "us-east-1a";
/// Four ENIs per instance: the primary, the VPC CNI's index 1, and the sample's 2 and 3.
const INSTANCE_TYPE: &str = "m5.xlarge";
const NODES: [&str; 3] = ["e2e-node-1", "e2e-node-2", "e2e-node-3"];
/// How long the controller may take for a step (a few EC2 calls per ENI on a local moto).
const STEP: Duration = Duration::from_secs(90);

/// What the test built in moto: the two named subnets, the group and one instance per node.
struct Ec2World {
    subnets: [String; 2],
    security_group: String,
    instances: BTreeMap<&'static str, String>,
}

/// A VPC, `multus-test-subnet-1` and `-2` in one zone, `multus-test-sg`, and a running
/// instance per node (all in subnet 1).
async fn build_world(setup: &Ec2Setup) -> Ec2World {
    let vpc = setup.create_vpc("10.10.0.0/16").await;
    let s1 = setup
        .create_subnet(&vpc, ZONE, "10.10.1.0/24", Some("multus-test-subnet-1"))
        .await;
    let s2 = setup
        .create_subnet(&vpc, ZONE, "10.10.2.0/24", Some("multus-test-subnet-2"))
        .await;
    let security_group = setup.create_security_group(&vpc, "multus-test-sg").await;
    let mut instances = BTreeMap::new();
    for node in NODES {
        instances.insert(node, setup.launch_instance(&s1, INSTANCE_TYPE).await);
    }
    Ec2World {
        subnets: [s1, s2],
        security_group,
        instances,
    }
}

/// The three Nodes labelled `ng=multi-eni`, each with its instance's provider ID.
async fn create_nodes(client: &kube::Client, world: &Ec2World) {
    for (node, instance) in &world.instances {
        let provider_id = format!("aws:///{ZONE}/{instance}");
        create_node(client, node, &[("ng", "multi-eni")], Some(&provider_id))
            .await
            .expect("create the node");
    }
}

/// The ENIs tagged for [`CLUSTER`], as the adapter describes them.
async fn cluster_enis(ec2: &AwsEc2) -> Result<Vec<NetworkInterface>, String> {
    let query = DescribeQuery::filters(vec![Filter::tag(TAG_CLUSTER, CLUSTER)]);
    let page = ec2
        .describe_network_interfaces(&query)
        .await
        .map_err(|e| format!("DescribeNetworkInterfaces: {e}"))?;
    assert!(page.next_token.is_none(), "one page holds this test's ENIs");
    Ok(page.items)
}

/// ENI id → (instance, device index, subnet) for the cluster's ENIs, if every one is attached.
type Layout = BTreeMap<String, (String, i32, String)>;

fn layout(enis: &[NetworkInterface]) -> Result<Layout, String> {
    enis.iter()
        .map(|e| {
            let a = e
                .attachment
                .as_ref()
                .ok_or(format!("{} is not attached", e.id))?;
            let instance = a.instance_id.clone().unwrap_or_default();
            Ok((
                e.id.clone(),
                (instance, a.device_index, e.subnet_id.clone()),
            ))
        })
        .collect()
}

/// Waits until EC2 holds exactly the sample's ENIs for `nodes`: on each node's instance one in
/// subnet 1 at index 2 and one in subnet 2 at index 3, all attached, and nothing else.
async fn wait_for_layout(
    ec2: &AwsEc2,
    world: &Ec2World,
    nodes: &[&str],
    c: &ControllerProcess,
) -> Layout {
    let want: BTreeSet<(String, i32, String)> = nodes
        .iter()
        .flat_map(|n| {
            let i = &world.instances[n];
            [
                (i.clone(), 2, world.subnets[0].clone()),
                (i.clone(), 3, world.subnets[1].clone()),
            ]
        })
        .collect();
    let what = format!("{} ENIs at device indices 2 and 3 of {nodes:?}", want.len());
    wait_until(STEP, &what, || async {
        let got = layout(&cluster_enis(ec2).await?).map_err(|e| c.with_logs(e))?;
        let seen: BTreeSet<_> = got.values().cloned().collect();
        if seen == want && got.len() == want.len() {
            Ok(got)
        } else {
            Err(c.with_logs(format!("EC2 holds {got:?}")))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_binary_rolls_out_the_go_sample_survives_kill_9_and_cleans_up() {
    let env = KubeEnv::shared();
    let client = env.client().await;
    apply_crds(&client, &[NodeEni::crd(), EniAttachment::crd()])
        .await
        .expect("apply our CRDs to the real kube-apiserver");
    let moto = MotoServer::start().await;
    let world = build_world(&Ec2Setup::new(&moto.endpoint)).await;
    let (ec2, _) = adapter(&moto.endpoint);
    create_nodes(&client, &world).await;
    kubectl(env.kubeconfig(), &["apply", "-f", SAMPLE_01]).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str| {
        ControllerProcess::start(
            dir.path(),
            name,
            env.kubeconfig(),
            &moto.endpoint,
            CLUSTER,
            "2s",
        )
    };
    let first = start("first");
    let six = wait_for_layout(&ec2, &world, &NODES, &first).await;
    statuses_say(&client, &six, &first).await;
    probes_answer(&first).await;
    first.kill9().await;

    let mut second = start("second");
    restart_changes_nothing(&ec2, &mut second, &six).await;

    kubectl(env.kubeconfig(), &["label", "node", NODES[2], "ng-"]).await;
    wait_for_layout(&ec2, &world, &NODES[..2], &second).await;

    kubectl(
        env.kubeconfig(),
        &["delete", "nodeeni", SAMPLE_01_NAME, "--wait=false"],
    )
    .await;
    everything_goes(&client, &ec2, &second).await;

    second.terminate().await;
    let nodes: Api<Node> = Api::all(client);
    for node in NODES {
        nodes
            .delete(node, &DeleteParams::default())
            .await
            .expect("delete the node");
    }
}

/// Every ENIAttachment reports `Attached` with the ENI and device index EC2 shows (no agent
/// runs, so none gets to `Ready`).
async fn statuses_say(client: &kube::Client, six: &Layout, c: &ControllerProcess) {
    let api: Api<EniAttachment> = Api::all(client.clone());
    let want: BTreeMap<String, i32> = six.iter().map(|(id, (_, i, _))| (id.clone(), *i)).collect();
    wait_until(STEP, "six ENIAttachments Attached as EC2 shows", || async {
        let list = api
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let got: BTreeMap<String, i32> = list
            .items
            .iter()
            .filter(|a| a.phase() == Phase::Attached)
            .filter_map(|a| a.status.as_ref())
            .filter_map(|s| Some((s.eni_id.clone()?, s.device_index?)))
            .collect();
        if got == want {
            Ok(())
        } else {
            let phases: Vec<_> = list.items.iter().map(|a| a.phase()).collect();
            Err(c.with_logs(format!("phases {phases:?}, attached {got:?}")))
        }
    })
    .await;
}

/// `/readyz` answers 200 once the caches are synced (leader election is off), `/healthz` too,
/// and `/metrics` carries the controller's and the EC2 adapter's series.
async fn probes_answer(c: &ControllerProcess) {
    for path in ["/readyz", "/healthz"] {
        wait_until(STEP, &format!("{path} answers 200"), || async {
            match c.get(path).await {
                Ok((200, _)) => Ok(()),
                other => Err(c.with_logs(format!("{other:?}"))),
            }
        })
        .await;
    }
    let text = c.metrics().await.expect("/metrics");
    let created = sample_sum(
        &text,
        "multi_eni_ec2_requests_total",
        &[("op", "CreateNetworkInterface")],
    );
    assert_eq!(created, 6.0, "one CreateNetworkInterface per ENI:\n{text}");
    no_ec2_errors(&text);
    assert_eq!(
        sample_sum(&text, "multi_eni_controller_leader", &[]),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("multi_eni_controller_reconciles_total"),
        "{text}"
    );
}

/// After a `kill -9` the new process reconciles everything and lists EC2 twice over (two
/// resync passes, each finding the same six ENIs and collecting nothing) without creating,
/// attaching, detaching or deleting anything: EC2 holds the same six ENIs at the same places.
///
/// The reconciles are waited for, not counted at the second pass: an ENIAttachment that needs a
/// fresh look at its ENI waits for the next shared describe, and those are paced seconds apart
/// (`describe_batch::Pacing`), longer than two 2-s resync passes.
///
/// Drift is allowed here, and ModifyNetworkInterfaceAttribute calls: moto accepts, but does not
/// apply, a DeleteOnTermination change (docs/ec2.md), so every pass finds the sample's
/// `deleteOnTermination: true` missing and the reconciler sets it again.
async fn restart_changes_nothing(ec2: &AwsEc2, c: &mut ControllerProcess, six: &Layout) {
    let text = wait_until(
        STEP,
        "two resync passes and every object reconciled after the restart",
        || async {
            c.get("/readyz").await.map_err(|e| c.with_logs(e))?;
            let passes = c.events("resync pass");
            let full = passes
                .iter()
                .filter(|p| p["listed"] == 6 && p["gc_deleted"] == 0 && p["gc_detached"] == 0)
                .count();
            let text = c.metrics().await.map_err(|e| c.with_logs(e))?;
            let reconciled = |kind| {
                sample_sum(
                    &text,
                    "multi_eni_controller_reconciles_total",
                    &[("kind", kind), ("result", "ok")],
                )
            };
            let (fleets, attachments) = (reconciled("NodeENI"), reconciled("ENIAttachment"));
            if full >= 2 && fleets >= 1.0 && attachments >= 6.0 {
                Ok(text)
            } else {
                Err(c.with_logs(format!(
                    "{full} full resync passes of 2 ({passes:?}); ok reconciles: \
                     {fleets} NodeENI of 1, {attachments} ENIAttachment of 6"
                )))
            }
        },
    )
    .await;
    c.assert_running();
    for op in [
        "CreateNetworkInterface",
        "AttachNetworkInterface",
        "DetachNetworkInterface",
        "DeleteNetworkInterface",
    ] {
        let n = sample_sum(&text, "multi_eni_ec2_requests_total", &[("op", op)]);
        assert_eq!(n, 0.0, "{op} after a restart on a settled fleet:\n{text}");
    }
    no_ec2_errors(&text);
    let now = layout(&cluster_enis(ec2).await.expect("describe")).expect("all attached");
    assert_eq!(&now, six, "the same six ENIs at the same places");
}

/// No EC2 call failed: in particular the controller never sent the `attachment.status` /
/// `attachment.device-index` filters, which moto answers with HTTP 500.
fn no_ec2_errors(text: &str) {
    let errors = sample_sum(text, "multi_eni_ec2_errors_total", &[]);
    assert_eq!(errors, 0.0, "failed EC2 calls:\n{text}");
}

/// Deleting the NodeENI deletes every ENI it made (none left tagged for the cluster), then
/// the NodeENI and its ENIAttachments are gone.
async fn everything_goes(client: &kube::Client, ec2: &AwsEc2, c: &ControllerProcess) {
    let nodeenis: Api<NodeEni> = Api::all(client.clone());
    let attachments: Api<EniAttachment> = Api::all(client.clone());
    wait_until(STEP, "no ENI, no NodeENI, no ENIAttachment", || async {
        let enis = cluster_enis(ec2).await?;
        let nodeeni = nodeenis
            .get_opt(SAMPLE_01_NAME)
            .await
            .map_err(|e| e.to_string())?;
        let left = attachments
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        if enis.is_empty() && nodeeni.is_none() && left.items.is_empty() {
            Ok(())
        } else {
            let ids: Vec<_> = enis.iter().map(|e| &e.id).collect();
            let names: Vec<_> = left.items.iter().map(|a| &a.metadata.name).collect();
            let what = format!(
                "ENIs {ids:?}; NodeENI present: {}; ENIAttachments {names:?}",
                nodeeni.is_some()
            );
            Err(c.with_logs(what))
        }
    })
    .await;
}

/// The migration from the Go controller, on the real binary: ENIs the Go controller made,
/// tagged and recorded its way, with its finalizer on the NodeENI, become ENIAttachments
/// (same ENI IDs, same indices) and get our tags, with no ENI created, attached or detached;
/// deleting the NodeENI then deletes them and lets both finalizers go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_binary_adopts_the_go_controllers_enis_and_cleans_them_up() {
    // A control plane of its own: the sample's NodeENI name is the other test's too.
    let env = KubeEnv::start().expect("a kube-apiserver of this test's own starts");
    let client = env.client().await;
    apply_crds(&client, &[NodeEni::crd(), EniAttachment::crd()])
        .await
        .expect("apply our CRDs to the real kube-apiserver");
    let moto = MotoServer::start().await;
    let world = build_world(&Ec2Setup::new(&moto.endpoint)).await;
    let (ec2, _) = adapter(&moto.endpoint);
    create_nodes(&client, &world).await;
    let (go, entries) = go_controller_enis(&ec2, &world).await;
    kubectl(env.kubeconfig(), &["apply", "-f", SAMPLE_01]).await;
    go_controller_status(&client, entries).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let c = ControllerProcess::start(
        dir.path(),
        "migrate",
        env.kubeconfig(),
        &moto.endpoint,
        CLUSTER,
        "2s",
    );
    statuses_say(&client, &go, &c).await;
    adopted_and_tagged(&client, &ec2, &go, &c).await;
    adoption_made_nothing(&c).await;
    let nodeenis: Api<NodeEni> = Api::all(client.clone());
    let ne = nodeenis.get(SAMPLE_01_NAME).await.expect("get the NodeENI");
    for f in [keys::FINALIZER_NODEENI, keys::LEGACY_FINALIZER_NODEENI] {
        assert!(ne.finalizers().iter().any(|x| x == f), "{f} on {ne:?}");
    }

    kubectl(
        env.kubeconfig(),
        &["delete", "nodeeni", SAMPLE_01_NAME, "--wait=false"],
    )
    .await;
    everything_goes(&client, &ec2, &c).await;
    let query = DescribeQuery::filters(vec![Filter::tag("NodeENI", SAMPLE_01_NAME)]);
    let left = ec2
        .describe_network_interfaces(&query)
        .await
        .expect("describe");
    assert!(
        left.items.is_empty(),
        "Go-tagged ENIs left: {:?}",
        left.items
    );
    c.terminate().await;
}

/// What the Go controller did for the sample on every node: per subnet an ENI tagged
/// `NodeENI`/`Node`/`SubnetID`, attached at the sample's index (2, then 3) with
/// DeleteOnTermination. Returns where they are and the `status.attachments[]` entries it wrote.
async fn go_controller_enis(ec2: &AwsEc2, world: &Ec2World) -> (Layout, Vec<serde_json::Value>) {
    let mut go = Layout::new();
    let mut entries = Vec::new();
    let cidrs = ["10.10.1.0/24", "10.10.2.0/24"];
    for (node, instance) in &world.instances {
        for ((subnet, cidr), index) in world.subnets.iter().zip(cidrs).zip([2, 3]) {
            let tags = [
                ("NodeENI", SAMPLE_01_NAME),
                ("Node", node),
                ("SubnetID", subnet),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let create = CreateEni {
                subnet_id: subnet.clone(),
                security_group_ids: vec![world.security_group.clone()],
                description: Some(SAMPLE_01_DESCRIPTION.to_owned()),
                tags,
                client_token: None,
            };
            let eni = ec2
                .create_network_interface(&create)
                .await
                .expect("Go's create");
            let attach = AttachEni {
                network_interface_id: eni.id.clone(),
                instance_id: instance.clone(),
                device_index: index,
                network_card_index: None,
            };
            let attached = ec2
                .attach_network_interface(&attach)
                .await
                .expect("Go's attach");
            let dot = EniAttributeChange::DeleteOnTermination {
                attachment_id: attached.attachment_id.clone(),
                delete_on_termination: true,
            };
            ec2.modify_network_interface_attribute(&eni.id, &dot)
                .await
                .expect("Go's DeleteOnTermination");
            entries.push(serde_json::json!({
                "nodeID": node, "instanceID": instance, "eniID": eni.id,
                "attachmentID": attached.attachment_id, "subnetID": subnet, "subnetCIDR": cidr,
                "mtu": 9001, "deviceIndex": index, "status": "attached",
                "lastUpdated": "2026-01-01T00:00:00Z",
            }));
            go.insert(eni.id, (instance.clone(), index, subnet.clone()));
        }
    }
    (go, entries)
}

/// The NodeENI as the Go controller left it: its finalizer, and its status entries.
async fn go_controller_status(client: &kube::Client, entries: Vec<serde_json::Value>) {
    let api: Api<NodeEni> = Api::all(client.clone());
    let finalizer =
        serde_json::json!({"metadata": {"finalizers": [keys::LEGACY_FINALIZER_NODEENI]}});
    api.patch(
        SAMPLE_01_NAME,
        &PatchParams::default(),
        &Patch::Merge(&finalizer),
    )
    .await
    .expect("the Go controller's finalizer");
    let status = serde_json::json!({"status": {"attachments": entries}});
    api.patch_status(
        SAMPLE_01_NAME,
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .expect("the Go controller's status");
}

/// Waits until every Go ENI carries our tags for the ENIAttachment that adopted it, keeps the Go
/// controller's tags, and sits where the Go controller attached it.
async fn adopted_and_tagged(
    client: &kube::Client,
    ec2: &AwsEc2,
    go: &Layout,
    c: &ControllerProcess,
) {
    let api: Api<EniAttachment> = Api::all(client.clone());
    wait_until(
        STEP,
        "our tags added to the Go controller's ENIs",
        || async {
            let enis = cluster_enis(ec2).await?;
            let now = layout(&enis)?;
            if &now != go {
                return Err(c.with_logs(format!("tagged for the cluster: {now:?}")));
            }
            let atts = api
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            for a in &atts.items {
                let id = a.status.as_ref().and_then(|s| s.eni_id.clone());
                let eni = enis
                    .iter()
                    .find(|e| Some(&e.id) == id.as_ref())
                    .ok_or(format!("{} records {id:?}", a.name_any()))?;
                let spec = &a.spec;
                let uid = a.uid().unwrap_or_default();
                let mut want = keys::eni_tags(
                    CLUSTER,
                    &spec.node_eni,
                    &uid,
                    &spec.node_name,
                    &spec.instance_id,
                );
                want.insert("NodeENI".into(), SAMPLE_01_NAME.into());
                want.insert("Node".into(), spec.node_name.clone());
                want.insert("SubnetID".into(), eni.subnet_id.clone());
                if want.iter().any(|(k, v)| eni.tags.get(k) != Some(v)) {
                    return Err(c.with_logs(format!("{} has tags {:?}", eni.id, eni.tags)));
                }
            }
            Ok(())
        },
    )
    .await;
}

/// Once a resync pass has listed the six adopted ENIs (and collected nothing), the binary has
/// made no CreateNetworkInterface, AttachNetworkInterface, DetachNetworkInterface or
/// DeleteNetworkInterface call, one CreateTags per ENI, and no failed call.
async fn adoption_made_nothing(c: &ControllerProcess) {
    wait_until(
        STEP,
        "a resync pass listing the six adopted ENIs",
        || async {
            let passes = c.events("resync pass");
            let settled = passes
                .iter()
                .any(|p| p["listed"] == 6 && p["gc_deleted"] == 0 && p["gc_detached"] == 0);
            if settled {
                Ok(())
            } else {
                Err(c.with_logs(format!("resync passes: {passes:?}")))
            }
        },
    )
    .await;
    let text = c.metrics().await.expect("/metrics");
    for op in [
        "CreateNetworkInterface",
        "AttachNetworkInterface",
        "DetachNetworkInterface",
        "DeleteNetworkInterface",
    ] {
        let n = sample_sum(&text, "multi_eni_ec2_requests_total", &[("op", op)]);
        assert_eq!(n, 0.0, "{op} during the migration:\n{text}");
    }
    let tagged = sample_sum(
        &text,
        "multi_eni_ec2_requests_total",
        &[("op", "CreateTags")],
    );
    assert_eq!(tagged, 6.0, "one CreateTags per adopted ENI:\n{text}");
    no_ec2_errors(&text);
}

/// A cluster without our CRDs: the binary exits non-zero at once, saying how to install them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_binary_without_the_crds_exits_with_the_install_command() {
    let bare = KubeEnv::start().expect("a kube-apiserver of this test's own starts");
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens there: the CRD check comes first and needs no EC2.
    let mut c = ControllerProcess::start(
        dir.path(),
        "no-crds",
        bare.kubeconfig(),
        "http://127.0.0.1:9",
        CLUSTER,
        "2s",
    );
    let status = c.wait_exit().await;
    assert!(!status.success(), "{}", c.with_logs(status));
    let logs = c.logs();
    assert!(
        logs.contains("NodeENI CustomResourceDefinition is not installed")
            && logs.contains("multi-eni crd | kubectl apply --server-side -f -"),
        "{}",
        c.with_logs("no install hint")
    );
}

/// Runs kubectl with `kubeconfig`; fails the test with its output if it fails.
async fn kubectl(kubeconfig: &Path, args: &[&str]) {
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .expect("run kubectl (install it: scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
