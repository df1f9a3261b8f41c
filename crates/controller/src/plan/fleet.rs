//! The fleet plan: which ENIAttachments one NodeENI wants, given the nodes, what EC2 says about
//! their instances, the resolved subnets and security groups, and the ENIAttachments that exist.
//!
//! Rules (DESIGN §2): a selected node on EC2 gets one attachment per listed subnet in its
//! instance's AZ, at `deviceIndex` + the subnet's ordinal among those; a node that is gone, stops
//! matching, or now runs another instance loses its attachments. Names are deterministic, so a
//! replacement (new instance, new device index) is a delete now and a create once the old object
//! is gone. Whenever a fact is missing or something would exceed the instance type's limits, the
//! node is *held*: what exists stays, nothing is created or deleted for it — no churn.

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};

use kube::{Resource, ResourceExt};
use multi_eni_api::keys::{self, reason};
use multi_eni_api::naming::{attachment_name, label_value};
use multi_eni_api::{
    AttachmentEntry, DpdkSpec, EniAttachment, EniAttachmentSpec, NodeEni, SriovSpec,
};
use multi_eni_ec2::Subnet;

use super::adoption::{go_entries, go_entry_for};
use super::lookups::{GroupLookup, SubnetLookup, Subnets, resolve_groups, resolve_subnets};
use super::nodes::{InstanceFacts, InstanceLookup, NodeFacts};
use super::problem::{Problem, Severity};
use super::zones::ZoneReport;

/// Everything the fleet plan looks at, gathered by the shell.
#[derive(Debug, Clone, Copy)]
pub struct FleetInput<'a> {
    /// The NodeENI being planned.
    pub node_eni: &'a NodeEni,
    /// All nodes (the plan applies the selector).
    pub nodes: &'a [NodeFacts],
    /// One lookup result per `subnet_refs()` entry, in spec order.
    pub subnets: &'a [SubnetLookup],
    /// One lookup result per `security_group_refs()` entry, in spec order.
    pub security_groups: &'a [GroupLookup],
    /// What EC2 said about the selected nodes' instances, by instance ID. An instance missing
    /// here is "not known yet": its node is held.
    pub instances: &'a BTreeMap<String, InstanceLookup>,
    /// This NodeENI's ENIAttachments (by the `networking.k8s.aws/nodeeni` label).
    pub existing: &'a [Arc<EniAttachment>],
}

/// What to change so the ENIAttachments match the NodeENI.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Objects to create (name, labels, finalizer and owner reference set).
    pub create: Vec<EniAttachment>,
    /// In-place spec changes (security groups, description, DeleteOnTermination, MTU, DPDK,
    /// SR-IOV), by name.
    pub update: Vec<(String, EniAttachmentSpec)>,
    /// Objects to delete, by name (their finalizer then detaches and deletes the ENI).
    pub delete: Vec<String>,
    /// What could not be done, for conditions and Events.
    pub problems: Vec<Problem>,
    /// How many ENIs the NodeENI wants right now (held nodes count what they keep).
    pub desired: usize,
    /// How many nodes the selector matches.
    pub matching_nodes: usize,
    /// The Go controller's `status.attachments[]` entries to keep in the compatibility view:
    /// those of selected nodes whose ENIAttachment does not exist yet (see [`super::go_entry_for`]).
    pub go_entries: Vec<AttachmentEntry>,
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// What one selected node wants.
#[derive(Debug, Clone, PartialEq)]
enum NodeWant {
    /// These attachments, by name.
    Specs(BTreeMap<String, EniAttachmentSpec>),
    /// Keep what exists, change nothing.
    Hold,
    /// Nothing: its attachments go.
    Nothing,
}

/// The plan for one NodeENI. A NodeENI being deleted only deletes (see also
/// [`super::finalizer_step`]).
pub fn plan(input: &FleetInput<'_>) -> Plan {
    let ne = input.node_eni;
    let mut plan = Plan::default();
    if ne.metadata.deletion_timestamp.is_some() {
        plan.delete = live(input.existing).map(|e| e.name_any()).collect();
        return plan;
    }
    let subnets = resolve_subnets(input.subnets, &mut plan.problems);
    let groups = resolve_groups(input.security_groups, &mut plan.problems);
    let mut zones = ZoneReport::default();
    let mut wants: BTreeMap<&str, NodeWant> = BTreeMap::new();
    for node in input.nodes.iter().filter(|n| ne.spec.selects(&n.labels)) {
        let ctx = NodeCtx {
            ne,
            node,
            subnets: &subnets,
            groups: groups.as_deref(),
            has_attachments: live(input.existing).any(|e| e.spec.node_name == node.name),
        };
        let want = node_want(&ctx, input.instances, &mut zones, &mut plan.problems);
        wants.insert(node.name.as_str(), want);
    }
    plan.matching_nodes = wants.len();
    zones.report(&mut plan.problems);
    reconcile(&mut plan, ne, &wants, &subnets, input.existing);
    plan
}

fn live(existing: &[Arc<EniAttachment>]) -> impl Iterator<Item = &EniAttachment> {
    existing
        .iter()
        .filter(|e| e.metadata.deletion_timestamp.is_none())
        .map(|e| &**e)
}

struct NodeCtx<'a> {
    ne: &'a NodeEni,
    node: &'a NodeFacts,
    subnets: &'a Subnets,
    groups: Option<&'a [String]>,
    /// Whether this NodeENI has live ENIAttachments on the node.
    has_attachments: bool,
}

fn node_want(
    c: &NodeCtx<'_>,
    instances: &BTreeMap<String, InstanceLookup>,
    zones: &mut ZoneReport,
    problems: &mut Vec<Problem>,
) -> NodeWant {
    let name = c.node.name.as_str();
    let Some(instance_id) = c.node.instance_id() else {
        let msg = format!(
            "node {name} has no EC2 providerID (aws:///<zone>/<instance-id>), so it gets no ENI"
        );
        problems.push(Problem::on_node(
            reason::NODE_NOT_ON_EC2,
            Severity::Degraded,
            name,
            msg,
        ));
        return NodeWant::Nothing;
    };
    let facts = match instances.get(instance_id) {
        None => {
            let msg = format!("waiting for EC2 to describe instance {instance_id} of node {name}");
            problems.push(Problem::on_node(
                reason::RECONCILING,
                Severity::Progressing,
                name,
                msg,
            ));
            return NodeWant::Hold;
        }
        Some(InstanceLookup::Found(f)) if !f.state.is_gone() => f,
        // EC2's reads are eventually consistent: a just-launched instance may not be listed yet.
        // A node we never gave anything waits for it; one whose ENIs we made lost it.
        Some(InstanceLookup::NotFound) if !c.has_attachments => {
            let msg = format!(
                "EC2 does not list instance {instance_id} of node {name} (yet): waiting for it"
            );
            problems.push(Problem::on_node(
                reason::RECONCILING,
                Severity::Progressing,
                name,
                msg,
            ));
            return NodeWant::Hold;
        }
        Some(_) => {
            let msg = format!("instance {instance_id} of node {name} is terminated or gone");
            problems.push(Problem::on_node(
                reason::INSTANCE_GONE,
                Severity::Info,
                name,
                msg,
            ));
            return NodeWant::Nothing;
        }
    };
    let in_zone = c.subnets.in_zone(&facts.availability_zone);
    zones.note(
        name,
        &facts.availability_zone,
        &c.subnets.resolved,
        in_zone.len(),
    );
    let Some(groups) = c.groups else {
        return NodeWant::Hold;
    };
    if let Some(problem) = over_limit(c, facts, in_zone.len()) {
        problems.push(problem);
        return NodeWant::Hold;
    }
    let first = c.ne.spec.device_index;
    NodeWant::Specs(
        in_zone
            .into_iter()
            .zip(first..)
            .map(|(subnet, index)| {
                let spec = attachment_spec(c, instance_id, subnet, groups, index);
                (attachment_name(&c.ne.name_any(), name, &subnet.id), spec)
            })
            .collect(),
    )
}

/// A problem when the node's instance type cannot take the device indexes asked for, or its
/// limits are not known yet (then the node is held, too).
fn over_limit(c: &NodeCtx<'_>, facts: &InstanceFacts, wanted: usize) -> Option<Problem> {
    let name = c.node.name.as_str();
    if wanted == 0 {
        return None;
    }
    let Some(limits) = &facts.limits else {
        let msg = format!(
            "waiting for the interface limits of instance type {} (node {name})",
            facts.instance_type
        );
        return Some(Problem::on_node(
            reason::RECONCILING,
            Severity::Progressing,
            name,
            msg,
        ));
    };
    let max = i64::from(limits.max_interfaces_on_card(0).unwrap_or(0));
    let first = i64::from(c.ne.spec.device_index);
    let last = first + wanted as i64 - 1;
    (last >= max).then(|| {
        let msg = format!(
            "instance type {} of node {name} takes at most {max} network interfaces (device \
             indexes 0-{}); this NodeENI wants device indexes {first}-{last}: the node keeps what \
             it has and gets nothing more",
            facts.instance_type,
            max - 1,
        );
        Problem::on_node(reason::LIMIT_EXCEEDED, Severity::Degraded, name, msg)
    })
}

fn attachment_spec(
    c: &NodeCtx<'_>,
    instance_id: &str,
    subnet: &Subnet,
    groups: &[String],
    device_index: i32,
) -> EniAttachmentSpec {
    let s = &c.ne.spec;
    EniAttachmentSpec {
        node_eni: c.ne.name_any(),
        node_name: c.node.name.clone(),
        instance_id: instance_id.to_owned(),
        subnet_id: subnet.id.clone(),
        security_group_ids: groups.to_vec(),
        device_index,
        network_card_index: 0,
        description: s.description.clone(),
        delete_on_termination: s.delete_on_termination,
        mtu: s.effective_mtu(),
        dpdk: s.enable_dpdk.then(|| DpdkSpec {
            driver: s.dpdk_driver,
            pci_address: s.dpdk_pci_address.clone(),
        }),
        sriov: s.dpdk_resource_name.clone().map(|resource_name| SriovSpec {
            resource_name,
            pci_address: s.dpdk_pci_address.clone(),
        }),
    }
}

/// How an existing attachment relates to the one wanted under its name.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Keep,
    Update(Box<EniAttachmentSpec>),
    /// Identity changed (instance, subnet, device index …): a new attachment, after this one goes.
    Replace,
}

fn compare(existing: &EniAttachmentSpec, want: &EniAttachmentSpec, complete: bool) -> Change {
    let mut want = want.clone();
    if !complete {
        // Ordinals may shift once the missing subnet resolves: re-index then, not now.
        want.device_index = existing.device_index;
    }
    let identity = |s: &EniAttachmentSpec| {
        (
            s.node_eni.clone(),
            s.node_name.clone(),
            s.instance_id.clone(),
            s.subnet_id.clone(),
            s.device_index,
            s.network_card_index,
        )
    };
    if identity(existing) != identity(&want) {
        Change::Replace
    } else if *existing != want {
        Change::Update(Box::new(want))
    } else {
        Change::Keep
    }
}

fn reconcile(
    plan: &mut Plan,
    ne: &NodeEni,
    wants: &BTreeMap<&str, NodeWant>,
    subnets: &Subnets,
    existing: &[Arc<EniAttachment>],
) {
    let present: BTreeSet<String> = existing.iter().map(|e| e.name_any()).collect();
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for e in live(existing) {
        let name = e.name_any();
        let keep = match wants.get(e.spec.node_name.as_str()) {
            None | Some(NodeWant::Nothing) => false,
            Some(NodeWant::Hold) => true,
            Some(NodeWant::Specs(specs)) => match specs.get(&name) {
                Some(want) => match compare(&e.spec, want, subnets.complete) {
                    Change::Keep => true,
                    Change::Update(spec) => {
                        plan.update.push((name.clone(), *spec));
                        true
                    }
                    Change::Replace => false,
                },
                None => !subnets.complete && !subnets.contains(&e.spec.subnet_id),
            },
        };
        if keep {
            plan.desired += 1;
            kept.insert(name);
        } else {
            plan.delete.push(name);
        }
    }
    let go = go_entries(ne);
    for specs in wants.values() {
        let NodeWant::Specs(specs) = specs else {
            continue;
        };
        for (name, spec) in specs.iter().filter(|(name, _)| !kept.contains(*name)) {
            plan.desired += 1;
            // A present name is being deleted (now or before): its replacement comes once it is gone.
            if !present.contains(name) {
                let n = &spec.node_name;
                let adopt = go_entry_for(&go, n, &spec.instance_id, &spec.subnet_id, specs.len());
                let adopt = adopt.map(|e| e.eni_id.as_str());
                plan.create
                    .push(attachment_object(ne, name, spec.clone(), adopt));
            }
        }
    }
    plan.go_entries = go
        .into_iter()
        .filter(|e| go_entry_pending(e, wants, existing))
        .cloned()
        .collect();
}

/// Whether a Go entry stays in the view: its node is still selected (wanted or held) and no
/// ENIAttachment serves its (node, subnet) yet — once one does, that one's entry replaces it.
fn go_entry_pending(
    e: &AttachmentEntry,
    wants: &BTreeMap<&str, NodeWant>,
    existing: &[Arc<EniAttachment>],
) -> bool {
    let selected = matches!(
        wants.get(e.node_id.as_str()),
        Some(NodeWant::Hold | NodeWant::Specs(_))
    );
    let served = existing.iter().any(|a| {
        a.spec.node_name == e.node_id && (e.subnet_id.is_empty() || a.spec.subnet_id == e.subnet_id)
    });
    selected && !served
}

/// A new ENIAttachment: labels for the agent's and the fleet's selectors, the cleanup finalizer
/// (the intent to delete the ENI is durable before the ENI exists), the NodeENI as owner, and
/// the Go controller's ENI to adopt, if any.
fn attachment_object(
    ne: &NodeEni,
    name: &str,
    spec: EniAttachmentSpec,
    adopt: Option<&str>,
) -> EniAttachment {
    let labels = BTreeMap::from([
        (keys::LABEL_NODEENI.to_owned(), label_value(&spec.node_eni)),
        (keys::LABEL_NODE.to_owned(), label_value(&spec.node_name)),
        (keys::LABEL_SUBNET.to_owned(), spec.subnet_id.clone()),
        (
            keys::LABEL_MANAGED_BY.to_owned(),
            keys::MANAGED_BY.to_owned(),
        ),
    ]);
    let mut a = EniAttachment::new(name, spec);
    a.metadata.labels = Some(labels);
    a.metadata.finalizers = Some(vec![keys::FINALIZER_ENI_CLEANUP.to_owned()]);
    a.metadata.owner_references = ne.controller_owner_ref(&()).map(|r| vec![r]);
    a.metadata.annotations =
        adopt.map(|id| BTreeMap::from([(keys::ANNOTATION_ADOPT_ENI.to_owned(), id.to_owned())]));
    a
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use multi_eni_ec2::{InstanceState, LookupError};

    fn names(p: &Plan) -> Vec<(String, String, i32)> {
        p.create
            .iter()
            .map(|c| {
                (
                    c.spec.node_name.clone(),
                    c.spec.subnet_id.clone(),
                    c.spec.device_index,
                )
            })
            .collect()
    }

    fn reasons(p: &Plan) -> Vec<(&'static str, Severity)> {
        p.problems.iter().map(|p| (p.reason, p.severity)).collect()
    }

    #[test]
    fn matching_node_gets_one_attachment_per_subnet_at_consecutive_indexes() {
        let mut f = Fleet::new(node_eni(serde_json::json!({"deviceIndex": 2})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        let p = f.plan();
        assert_eq!(
            names(&p),
            vec![
                ("n1".into(), SUBNET_A.into(), 2),
                ("n1".into(), SUBNET_B.into(), 3)
            ]
        );
        assert_eq!(p.desired, 2);
        assert_eq!(p.matching_nodes, 1);
        assert!(p.problems.is_empty());
    }

    #[test]
    fn created_attachment_carries_name_labels_finalizer_owner_and_spec() {
        let mut f = Fleet::new(node_eni(serde_json::json!({
            "deleteOnTermination": false, "description": "storage net", "mtu": 9001,
            "enableDPDK": true, "dpdkResourceName": "intel.com/dpdk", "dpdkPCIAddress": "0000:00:06.0"
        })));
        f.add_node("n1", "i-00000001", AZ_A);
        let p = f.plan();
        let a = &p.create[0];
        assert_eq!(a.name_any(), attachment_name(NE, "n1", SUBNET_A));
        let labels = a.labels();
        assert_eq!(
            labels.get(keys::LABEL_NODEENI).map(String::as_str),
            Some(NE)
        );
        assert_eq!(labels.get(keys::LABEL_NODE).map(String::as_str), Some("n1"));
        assert_eq!(
            labels.get(keys::LABEL_SUBNET).map(String::as_str),
            Some(SUBNET_A)
        );
        assert_eq!(a.finalizers(), [keys::FINALIZER_ENI_CLEANUP.to_owned()]);
        let owner = &a.owner_references()[0];
        assert_eq!((owner.uid.as_str(), owner.controller), (NE_UID, Some(true)));
        let s = &a.spec;
        assert_eq!(s.instance_id, "i-00000001");
        assert_eq!(s.security_group_ids, vec![SG_1.to_owned()]);
        assert!(!s.delete_on_termination);
        assert_eq!(s.description.as_deref(), Some("storage net"));
        assert_eq!(s.mtu, Some(9001));
        assert_eq!(
            s.dpdk.as_ref().map(|d| d.pci_address.as_deref()),
            Some(Some("0000:00:06.0"))
        );
        assert_eq!(
            s.sriov.as_ref().map(|r| r.resource_name.as_str()),
            Some("intel.com/dpdk")
        );
    }

    #[test]
    fn node_selector_matches_labels_exactly() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("n2", "i-00000002", AZ_A);
        f.nodes[1].labels.insert("role".into(), "storage-x".into());
        f.add_node("n3", "i-00000003", AZ_A);
        f.nodes[2].labels.clear();
        let p = f.plan();
        assert_eq!(names(&p), vec![("n1".into(), SUBNET_A.into(), 1)]);
        assert_eq!(p.matching_nodes, 1);
    }

    #[test]
    fn node_in_other_az_gets_no_eni_for_that_subnet() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_B, AZ_B), (SUBNET_A, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        let p = f.plan();
        // The AZ_A subnet is the first used on this node: it takes the first index.
        assert_eq!(names(&p), vec![("n1".into(), SUBNET_A.into(), 1)]);
        assert_eq!(reasons(&p), vec![(reason::AZ_MISMATCH, Severity::Info)]);
    }

    #[test]
    fn az_comes_from_ec2_not_from_the_provider_id_hint() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_B)]);
        f.add_node("n1", "i-00000001", AZ_B); // providerID says AZ_A
        assert_eq!(names(&f.plan()), vec![("n1".into(), SUBNET_B.into(), 1)]);
    }

    #[test]
    fn node_with_no_subnet_in_its_zone_is_degraded_and_never_retried() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_B);
        let p = f.apply();
        assert!(p.create.is_empty());
        assert_eq!(p.desired, 0);
        assert!(reasons(&p).contains(&(reason::AZ_MISMATCH, Severity::Degraded)));
        assert!(f.apply().is_empty(), "nothing to retry");
    }

    #[test]
    fn node_without_provider_id_is_reported_and_skipped() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("kind", "i-00000002", AZ_A);
        f.nodes[1].provider_id = Some("kind://docker/kind/kind-worker".into());
        let p = f.plan();
        assert_eq!(names(&p), vec![("n1".into(), SUBNET_A.into(), 1)]);
        assert_eq!(
            reasons(&p),
            vec![(reason::NODE_NOT_ON_EC2, Severity::Degraded)]
        );
        assert_eq!(p.problems[0].node.as_deref(), Some("kind"));
    }

    #[test]
    fn node_whose_instance_is_not_described_yet_is_held() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.instances.clear();
        let p = f.plan();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.desired, 1);
        assert_eq!(
            reasons(&p),
            vec![(reason::RECONCILING, Severity::Progressing)]
        );
    }

    #[test]
    fn more_enis_than_the_instance_type_allows_is_degraded_without_churn() {
        let mut f = Fleet::new(node_eni(serde_json::json!({"deviceIndex": 1})));
        f.set_subnets(&[(SUBNET_A, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        f.instances
            .insert("i-00000001".into(), instance_with_limit(AZ_A, 3));
        f.apply();
        // Two more subnets: indexes 1-3 on a type with 3 interfaces (0-2).
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_A), (SUBNET_C, AZ_A)]);
        let p = f.plan();
        assert!(p.is_empty(), "keeps what exists: {p:?}");
        assert_eq!(p.desired, 1);
        assert_eq!(
            reasons(&p),
            vec![(reason::LIMIT_EXCEEDED, Severity::Degraded)]
        );
        assert!(p.problems[0].message.contains("m5.large"));
        assert!(p.problems[0].message.contains("at most 3"));
    }

    #[test]
    fn unknown_instance_type_limits_hold_the_node() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        if let Some(InstanceLookup::Found(facts)) = f.instances.get_mut("i-00000001") {
            facts.limits = None;
        }
        let p = f.plan();
        assert!(p.create.is_empty());
        assert_eq!(
            reasons(&p),
            vec![(reason::RECONCILING, Severity::Progressing)]
        );
    }

    #[test]
    fn deleted_node_loses_its_attachments() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("n2", "i-00000002", AZ_A);
        f.apply();
        f.nodes.retain(|n| n.name != "n2");
        let p = f.plan();
        assert_eq!(p.delete, vec![attachment_name(NE, "n2", SUBNET_A)]);
        assert_eq!(p.desired, 1);
    }

    #[test]
    fn node_that_stops_matching_loses_its_attachments() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.nodes[0].labels.clear();
        let p = f.plan();
        assert_eq!(p.delete, vec![attachment_name(NE, "n1", SUBNET_A)]);
        assert_eq!((p.desired, p.matching_nodes), (0, 0));
    }

    #[test]
    fn terminated_instance_loses_its_attachments() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        for gone in [
            Some(InstanceState::Terminated),
            Some(InstanceState::ShuttingDown),
            None,
        ] {
            let lookup = match gone.clone() {
                Some(state) => match instance(AZ_A) {
                    InstanceLookup::Found(facts) => {
                        InstanceLookup::Found(InstanceFacts { state, ..facts })
                    }
                    other => other,
                },
                None => InstanceLookup::NotFound,
            };
            f.instances.insert("i-00000001".into(), lookup);
            let p = f.plan();
            assert_eq!(p.delete.len(), 1, "{gone:?}");
            assert!(p.create.is_empty(), "{gone:?}");
            assert_eq!(reasons(&p), vec![(reason::INSTANCE_GONE, Severity::Info)]);
        }
    }

    #[test]
    fn instance_ec2_does_not_list_yet_holds_a_node_without_attachments() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.instances
            .insert("i-00000001".into(), InstanceLookup::NotFound);
        let p = f.plan();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!((p.desired, p.matching_nodes), (0, 1));
        assert_eq!(
            reasons(&p),
            vec![(reason::RECONCILING, Severity::Progressing)]
        );
        assert!(p.problems[0].message.contains("i-00000001"));
    }

    #[test]
    fn new_instance_behind_the_same_node_name_gets_fresh_attachments_after_the_old_go() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.nodes[0] = node("n1", "i-00000009");
        f.instances.insert("i-00000009".into(), instance(AZ_A));
        let name = attachment_name(NE, "n1", SUBNET_A);
        let p = f.plan();
        assert_eq!(p.delete, vec![name.clone()]);
        assert!(
            p.create.is_empty(),
            "same name: created once the old one is gone"
        );
        // The old object lingers with its finalizer while its ENI is cleaned up.
        f.existing[0].metadata.deletion_timestamp = Some(time(100));
        let p = f.plan();
        assert!(p.is_empty());
        assert_eq!(p.desired, 1);
        f.existing.clear();
        let p = f.plan();
        assert_eq!(p.create[0].spec.instance_id, "i-00000009");
    }

    #[test]
    fn security_group_description_dot_mtu_and_dpdk_changes_are_updates_in_place() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.ne.spec.description = Some("new".into());
        f.ne.spec.delete_on_termination = false;
        f.ne.spec.mtu = Some(9001);
        f.ne.spec.enable_dpdk = true;
        f.groups.push((
            multi_eni_api::node_eni::SecurityGroupRef::Id(SG_2.into()),
            Ok(group(SG_2, "two")),
        ));
        let p = f.plan();
        assert!(p.create.is_empty() && p.delete.is_empty());
        let (name, spec) = &p.update[0];
        assert_eq!(name, &attachment_name(NE, "n1", SUBNET_A));
        assert_eq!(
            spec.security_group_ids,
            vec![SG_1.to_owned(), SG_2.to_owned()]
        );
        assert_eq!(spec.description.as_deref(), Some("new"));
        assert!(!spec.delete_on_termination);
        assert_eq!(spec.mtu, Some(9001));
        assert!(spec.dpdk.is_some());
        f.apply();
        assert!(f.plan().is_empty(), "converged");
    }

    #[test]
    fn changed_device_index_means_delete_then_create() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.ne.spec.device_index = 2;
        let p = f.apply();
        assert_eq!(p.delete.len(), 1);
        assert!(p.create.is_empty());
        let p = f.apply();
        assert_eq!(p.create[0].spec.device_index, 2);
    }

    #[test]
    fn removed_subnet_loses_its_attachment_and_later_subnets_move_up() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.set_subnets(&[(SUBNET_B, AZ_A)]);
        let p = f.plan();
        assert_eq!(
            p.delete,
            vec![
                attachment_name(NE, "n1", SUBNET_A),
                attachment_name(NE, "n1", SUBNET_B)
            ]
        );
    }

    #[test]
    fn unresolved_subnet_name_deletes_and_reindexes_nothing() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        // SUBNET_A is now named, and the name lookup is throttled.
        f.subnets[0] = (
            multi_eni_api::SubnetRef::Name("blue".into()),
            Err(LookupError::Ec2(multi_eni_ec2::Ec2Error::from_code(
                multi_eni_ec2::Op::DescribeSubnets,
                "RequestLimitExceeded",
                "slow down",
            ))),
        );
        let p = f.plan();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.desired, 2);
        assert_eq!(
            reasons(&p),
            vec![(reason::THROTTLED, Severity::Progressing)]
        );
    }

    #[test]
    fn ambiguous_security_group_name_holds_every_node_and_names_the_candidates() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.groups = vec![(
            multi_eni_api::node_eni::SecurityGroupRef::Name("web".into()),
            Err(LookupError::Ambiguous {
                what: "security group",
                vpc_id: VPC.into(),
                name: "web".into(),
                candidates: vec![SG_1.into(), SG_2.into()],
            }),
        )];
        f.add_node("n1", "i-00000001", AZ_A);
        let p = f.plan();
        assert!(p.create.is_empty());
        assert_eq!(
            reasons(&p),
            vec![(reason::SECURITY_GROUP_AMBIGUOUS, Severity::Degraded)]
        );
        assert!(p.problems[0].message.contains(SG_1) && p.problems[0].message.contains(SG_2));
    }

    #[test]
    fn unresolved_security_group_keeps_existing_attachments_untouched() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.apply();
        f.groups[0].1 = Err(LookupError::NotFound {
            what: "security group",
            key: SG_1.into(),
        });
        let p = f.plan();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.desired, 1);
        assert_eq!(
            reasons(&p),
            vec![(reason::SECURITY_GROUP_NOT_FOUND, Severity::Degraded)]
        );
    }

    #[test]
    fn resolved_subnets_proceed_while_another_name_fails() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.subnets.push((
            multi_eni_api::SubnetRef::Name("missing".into()),
            Err(LookupError::NotFound {
                what: "subnet",
                key: "missing".into(),
            }),
        ));
        let p = f.plan();
        assert_eq!(names(&p), vec![("n1".into(), SUBNET_A.into(), 1)]);
        assert_eq!(
            reasons(&p),
            vec![(reason::SUBNET_NOT_FOUND, Severity::Degraded)]
        );
    }

    #[test]
    fn deleted_node_eni_deletes_every_live_attachment_and_creates_nothing() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("n2", "i-00000002", AZ_A);
        f.apply();
        f.existing[1].metadata.deletion_timestamp = Some(time(5));
        f.ne.metadata.deletion_timestamp = Some(time(10));
        let p = f.plan();
        assert_eq!(p.delete, vec![attachment_name(NE, "n1", SUBNET_A)]);
        assert!(p.create.is_empty() && p.update.is_empty());
    }

    #[test]
    fn converged_fleet_plans_nothing() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_B)]);
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("n2", "i-00000002", AZ_B);
        assert_eq!(f.apply().create.len(), 2);
        let p = f.plan();
        assert!(p.is_empty());
        assert_eq!(p.desired, 2);
    }

    /// The NodeENI status the Go controller left: one entry per (node, subnet) it served.
    fn with_go_status(f: &mut Fleet, entries: &[(&str, &str, &str, &str)]) {
        let attachments = entries
            .iter()
            .map(
                |(node, instance, eni, subnet)| multi_eni_api::AttachmentEntry {
                    node_id: (*node).into(),
                    instance_id: (*instance).into(),
                    eni_id: (*eni).into(),
                    attachment_id: format!("{eni}-attach"),
                    subnet_id: (*subnet).into(),
                    device_index: 1,
                    status: "attached".into(),
                    ..Default::default()
                },
            )
            .collect();
        f.ne.status = Some(multi_eni_api::NodeEniStatus {
            attachments,
            ..Default::default()
        });
    }

    fn adopts(a: &EniAttachment) -> Option<&str> {
        a.annotations()
            .get(keys::ANNOTATION_ADOPT_ENI)
            .map(String::as_str)
    }

    #[test]
    fn node_the_go_controller_served_gets_an_attachment_adopting_its_eni() {
        let mut f = Fleet::new(node_eni(serde_json::json!({})));
        f.set_subnets(&[(SUBNET_A, AZ_A), (SUBNET_B, AZ_A)]);
        f.add_node("n1", "i-00000001", AZ_A);
        f.add_node("n2", "i-00000002", AZ_A);
        with_go_status(
            &mut f,
            &[
                ("n1", "i-00000001", "eni-0000000a", SUBNET_A),
                // The node runs another instance now: that ENI is not on it.
                ("n2", "i-0000000f", "eni-0000000f", SUBNET_A),
            ],
        );
        let p = f.plan();
        let by: Vec<(&str, &str, Option<&str>)> = p
            .create
            .iter()
            .map(|a| (&*a.spec.node_name, &*a.spec.subnet_id, adopts(a)))
            .collect();
        assert_eq!(
            by,
            vec![
                ("n1", SUBNET_A, Some("eni-0000000a")),
                ("n1", SUBNET_B, None),
                ("n2", SUBNET_A, None),
                ("n2", SUBNET_B, None),
            ]
        );
        assert_eq!(p.desired, 4, "adopted or created, each counts once");
    }

    #[test]
    fn go_entries_stay_in_the_view_until_their_attachment_exists_or_the_node_goes() {
        let mut f = Fleet::new(node_eni(
            serde_json::json!({"nodeSelector": {"role": "net"}}),
        ));
        f.add_node("n1", "i-00000001", AZ_A);
        f.nodes[0].labels.insert("role".into(), "net".into());
        with_go_status(&mut f, &[("n1", "i-00000001", "eni-0000000a", SUBNET_A)]);
        let eni_ids =
            |p: &Plan| -> Vec<String> { p.go_entries.iter().map(|e| e.eni_id.clone()).collect() };
        // Held (instance not described yet): nothing created, the entry is kept.
        let described = f.instances.clone();
        f.instances.clear();
        let p = f.plan();
        assert!(p.create.is_empty());
        assert_eq!(eni_ids(&p), vec!["eni-0000000a".to_owned()]);
        // Created with the annotation; the entry stays until the object exists …
        f.instances = described;
        let p = f.apply();
        assert_eq!(adopts(&p.create[0]), Some("eni-0000000a"));
        assert_eq!(eni_ids(&p), vec!["eni-0000000a".to_owned()]);
        // … and then the ENIAttachment's own entry replaces it.
        assert!(eni_ids(&f.plan()).is_empty());
        // A node that stops matching takes its Go entry out of the view too.
        f.existing.clear();
        f.nodes[0].labels.clear();
        assert!(eni_ids(&f.plan()).is_empty());
    }
}
