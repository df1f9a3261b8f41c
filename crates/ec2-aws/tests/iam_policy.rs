//! `deploy/iam-policy.json` allows exactly the EC2 actions the adapter can call, and allows the
//! mutating ones only on ENIs tagged for the cluster.
//!
//! The adapter side is proven, not listed: every port method is called once against moto and
//! the action each call sent is read from the adapter's own per-action metrics. That set must be
//! `Op::ALL`, and `Op::ALL` must be the policy's set. The policy side is checked against the
//! resource types each action authorizes (AWS Service Authorization Reference, "Actions,
//! resources, and condition keys for Amazon EC2"; the table is `AUTHORIZES` below): every
//! required resource type is granted (or the call would be refused), nothing else is, and every
//! grant on `network-interface` carries the cluster-tag condition.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use multi_eni_ec2::{
    ApiFamily, AttachEni, CreateEni, DescribeQuery, DetachEni, Ec2, EniAttributeChange, Filter, Op,
    Tags,
};
use multi_eni_ec2_aws::testing::{Ec2Setup, MotoServer, adapter};
use prometheus_client::registry::Registry;
use serde_json::Value;

const TAG_CLUSTER: &str = "multi-eni.k8s.aws/cluster";
const PLACEHOLDER: &str = "${CLUSTER_NAME}";

// ---------------------------------------------------------------------------------------------
// The adapter: which action each port method sends.

/// Requests per action so far, from the adapter's `multi_eni_ec2_requests_total{op}`.
fn requests(registry: &Registry) -> BTreeMap<String, u64> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text.lines()
        .filter_map(|l| l.strip_prefix("multi_eni_ec2_requests_total{op=\""))
        .filter_map(|rest| {
            let (op, count) = rest.split_once("\"} ")?;
            Some((op.to_owned(), count.trim().parse().ok()?))
        })
        .collect()
}

/// The one action a call sent, from the counters before and after it.
fn sent(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
    after
        .iter()
        .flat_map(|(op, n)| {
            let extra = n - before.get(op).copied().unwrap_or(0);
            std::iter::repeat_n(op.clone(), extra as usize)
        })
        .collect()
}

/// Records which action each port call sent.
struct Probe<'a> {
    registry: &'a Registry,
    before: BTreeMap<String, u64>,
    seen: Vec<(&'static str, Vec<String>)>,
}

impl Probe<'_> {
    fn after(&mut self, method: &'static str) {
        let now = requests(self.registry);
        self.seen.push((method, sent(&self.before, &now)));
        self.before = now;
    }
}

#[tokio::test]
async fn every_port_method_sends_one_action_and_together_they_are_op_all() {
    let server = MotoServer::start().await;
    let setup = Ec2Setup::new(&server.endpoint);
    let vpc = setup.create_vpc("10.0.0.0/16").await;
    let subnet = setup
        .create_subnet(&vpc, "us-east-1a", "10.0.1.0/24", None)
        .await;
    let group = setup.create_security_group(&vpc, "iam-policy-test").await;
    let instance = setup.launch_instance(&subnet, "m5.large").await;
    let (ec2, registry) = adapter(&server.endpoint);
    let mut p = Probe {
        registry: &registry,
        before: requests(&registry),
        seen: Vec::new(),
    };

    let tags: Tags = [(TAG_CLUSTER.to_owned(), "iam".to_owned())].into();
    ec2.describe_subnets(&DescribeQuery::ids([&subnet]))
        .await
        .expect("describe subnets");
    p.after("describe_subnets");
    ec2.describe_security_groups(&DescribeQuery::ids([&group]))
        .await
        .expect("describe groups");
    p.after("describe_security_groups");
    ec2.describe_instances(&DescribeQuery::ids([&instance]))
        .await
        .expect("describe instances");
    p.after("describe_instances");
    ec2.describe_instance_types(&DescribeQuery::ids(["m5.large"]))
        .await
        .expect("describe types");
    p.after("describe_instance_types");
    let create = CreateEni {
        subnet_id: subnet.clone(),
        security_group_ids: vec![group.clone()],
        tags: tags.clone(),
        ..CreateEni::default()
    };
    let eni = ec2
        .create_network_interface(&create)
        .await
        .expect("create")
        .id;
    p.after("create_network_interface");
    let listing = DescribeQuery::filters(vec![Filter::tag(TAG_CLUSTER, "iam")]);
    ec2.describe_network_interfaces(&listing)
        .await
        .expect("describe ENIs");
    p.after("describe_network_interfaces");
    ec2.create_tags(std::slice::from_ref(&eni), &tags)
        .await
        .expect("tag");
    p.after("create_tags");
    let attach = AttachEni {
        network_interface_id: eni.clone(),
        instance_id: instance.clone(),
        device_index: 1,
        network_card_index: None,
    };
    let attachment_id = ec2
        .attach_network_interface(&attach)
        .await
        .expect("attach")
        .attachment_id;
    p.after("attach_network_interface");
    let change = EniAttributeChange::DeleteOnTermination {
        attachment_id: attachment_id.clone(),
        delete_on_termination: true,
    };
    ec2.modify_network_interface_attribute(&eni, &change)
        .await
        .expect("modify");
    p.after("modify_network_interface_attribute");
    let detach = DetachEni {
        attachment_id,
        force: false,
    };
    ec2.detach_network_interface(&detach).await.expect("detach");
    p.after("detach_network_interface");
    ec2.delete_network_interface(&eni).await.expect("delete");
    p.after("delete_network_interface");

    for (method, actions) in &p.seen {
        assert_eq!(
            actions.len(),
            1,
            "{method} sent {actions:?}, not exactly one request"
        );
    }
    let called: BTreeSet<String> = p.seen.iter().flat_map(|(_, a)| a.clone()).collect();
    let all: BTreeSet<String> = Op::ALL.iter().map(|op| op.action().to_owned()).collect();
    assert_eq!(called, all, "the port's methods send exactly Op::ALL");
    assert_eq!(p.seen.len(), Op::ALL.len(), "one port method per action");
    assert_eq!(
        policy_actions(&policy()),
        all,
        "deploy/iam-policy.json allows exactly Op::ALL"
    );
}

// ---------------------------------------------------------------------------------------------
// The policy.

fn policy() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/iam-policy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("deploy/iam-policy.json is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

/// The EC2 action names (without `ec2:`) the policy allows.
fn policy_actions(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .map(|a| a.strip_prefix("ec2:").unwrap_or(&a).to_owned())
        .collect()
}

/// The EC2 resource type of an ARN (`arn:aws:ec2:*:*:network-interface/*` → `network-interface`);
/// `*` for all resources.
fn resource_type(arn: &str) -> String {
    if arn == "*" {
        return "*".into();
    }
    let tail = arn.rsplit(':').next().unwrap_or_default();
    tail.split('/').next().unwrap_or_default().to_owned()
}

/// What each action authorizes (Service Authorization Reference for Amazon EC2): the resource
/// types that must be allowed, and those that may be (checked when the request names one).
/// Describes authorize no resource type: `Resource: "*"`.
const AUTHORIZES: [(Op, &[&str], &[&str]); 11] = [
    (
        Op::CreateNetworkInterface,
        &["network-interface", "subnet"],
        &["security-group"],
    ),
    (
        Op::AttachNetworkInterface,
        &["instance", "network-interface"],
        &[],
    ),
    (
        Op::DetachNetworkInterface,
        &["instance", "network-interface"],
        &[],
    ),
    (
        Op::ModifyNetworkInterfaceAttribute,
        &["network-interface"],
        &["instance", "security-group", "subnet"],
    ),
    (Op::DeleteNetworkInterface, &["network-interface"], &[]),
    (Op::CreateTags, &["network-interface"], &[]),
    (Op::DescribeNetworkInterfaces, &["*"], &[]),
    (Op::DescribeInstances, &["*"], &[]),
    (Op::DescribeSubnets, &["*"], &[]),
    (Op::DescribeSecurityGroups, &["*"], &[]),
    (Op::DescribeInstanceTypes, &["*"], &[]),
];

/// The statements allowing `op`, each with the resource types it names.
fn grants(policy: &Value, op: Op) -> Vec<(Value, BTreeSet<String>)> {
    let action = format!("ec2:{}", op.action());
    statements(policy)
        .into_iter()
        .filter(|s| s["Effect"] == "Allow" && strings(&s["Action"]).contains(&action))
        .map(|s| {
            let types = strings(&s["Resource"])
                .iter()
                .map(|r| resource_type(r))
                .collect();
            (s, types)
        })
        .collect()
}

/// The cluster-tag condition a grant on `network-interface` must carry for `op`: the tag the
/// request sets (creating, tagging) or the tag the ENI already has (everything else).
fn tag_condition_key(op: Op) -> String {
    match op {
        Op::CreateNetworkInterface | Op::CreateTags => format!("aws:RequestTag/{TAG_CLUSTER}"),
        _ => format!("ec2:ResourceTag/{TAG_CLUSTER}"),
    }
}

fn condition(statement: &Value, operator: &str, key: &str) -> Option<String> {
    statement["Condition"][operator][key]
        .as_str()
        .map(str::to_owned)
}

/// Everything wrong with the policy, one line each.
fn problems(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (op, required, optional) in AUTHORIZES {
        let grants = grants(policy, op);
        let granted: BTreeSet<String> = grants.iter().flat_map(|(_, t)| t.clone()).collect();
        for r in required {
            if !granted.contains(*r) {
                out.push(format!("{op}: {r} is required but not granted"));
            }
        }
        for t in &granted {
            if !required.contains(&t.as_str()) && !optional.contains(&t.as_str()) {
                out.push(format!("{op}: granted on {t}, which it does not authorize"));
            }
        }
        if op.family() == ApiFamily::NonMutating {
            continue;
        }
        for (s, types) in &grants {
            let sid = s["Sid"].as_str().unwrap_or("?");
            if types.contains("network-interface")
                && condition(s, "StringEquals", &tag_condition_key(op)).as_deref()
                    != Some(PLACEHOLDER)
            {
                out.push(format!(
                    "{op} in {sid}: on ENIs without the cluster-tag condition"
                ));
            }
            if op == Op::CreateTags && !tagging_is_scoped(s) {
                out.push(format!(
                    "{sid}: CreateTags neither on create nor on a Go controller ENI"
                ));
            }
        }
    }
    out
}

/// A CreateTags grant is either tag-on-create (`ec2:CreateAction`) or the adoption of an ENI the
/// Go controller made (it carries the Go controller's `NodeENI` tag); both write only our keys.
fn tagging_is_scoped(s: &Value) -> bool {
    let on_create = condition(s, "StringEquals", "ec2:CreateAction").as_deref()
        == Some("CreateNetworkInterface");
    let adoption = condition(s, "Null", "ec2:ResourceTag/NodeENI").as_deref() == Some("false");
    let keys = strings(&s["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"]);
    let ours = keys
        .iter()
        .all(|k| k.starts_with("multi-eni.k8s.aws/") || k == "node.k8s.amazonaws.com/no_manage");
    (on_create || adoption) && !keys.is_empty() && ours
}

#[test]
fn mutations_are_allowed_only_on_enis_tagged_for_the_cluster() {
    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17");
    let problems = problems(&policy);
    assert!(
        problems.is_empty(),
        "deploy/iam-policy.json:\n{}",
        problems.join("\n")
    );

    // Every mutating action needs our tagged ENI: no statement allows one on all resources, and
    // Delete and CreateTags touch nothing but ENIs.
    for op in Op::ALL
        .into_iter()
        .filter(|op| op.family() == ApiFamily::Mutating)
    {
        for (s, types) in grants(&policy, op) {
            assert!(!types.contains("*"), "{op} allowed on every resource: {s}");
        }
    }
    for op in [Op::DeleteNetworkInterface, Op::CreateTags] {
        let types: BTreeSet<String> = grants(&policy, op)
            .into_iter()
            .flat_map(|(_, t)| t)
            .collect();
        assert_eq!(
            types,
            BTreeSet::from(["network-interface".to_owned()]),
            "{op}"
        );
    }
    // The cluster name is a placeholder to substitute, and the only one.
    let text = policy.to_string();
    assert!(text.contains(PLACEHOLDER));
    assert!(
        !text.replace(PLACEHOLDER, "prod").contains("${"),
        "another placeholder left"
    );
}

#[test]
fn the_check_catches_an_unconditioned_delete_and_a_missing_resource_type() {
    let mut loose = policy();
    let statements = loose["Statement"].as_array_mut().expect("statements");
    for s in statements.iter_mut() {
        if strings(&s["Action"]).contains(&"ec2:DeleteNetworkInterface".to_owned()) {
            s.as_object_mut().expect("statement").remove("Condition");
        }
        if s["Sid"] == "TheNodesInstancesOnlyTogetherWithOurEni" {
            s["Resource"] = Value::String("arn:aws:ec2:*:*:volume/*".into());
        }
    }
    let found = problems(&loose);
    assert!(
        found
            .iter()
            .any(|p| p.contains("DeleteNetworkInterface") && p.contains("cluster-tag")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("AttachNetworkInterface: instance is required")),
        "{found:?}"
    );
    assert!(found.iter().any(|p| p.contains("volume")), "{found:?}");
}
