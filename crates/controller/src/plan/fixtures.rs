//! The little world the plan tests build, with defaults so that a row of a table only says what
//! is special about it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use multi_eni_api::node_eni::SecurityGroupRef;
use multi_eni_api::{EniAttachment, EniAttachmentSpec, NodeEni, SubnetRef};
use multi_eni_ec2::{InstanceState, InstanceTypeLimits, SecurityGroup, Subnet};

use super::fleet::{FleetInput, Plan, plan};
use super::lookups::{GroupLookup, SubnetLookup};
use super::nodes::{InstanceFacts, InstanceLookup, NodeFacts};

pub const VPC: &str = "vpc-01234567";
pub const AZ_A: &str = "us-east-1a";
pub const AZ_B: &str = "us-east-1b";
pub const SUBNET_A: &str = "subnet-0000000a";
pub const SUBNET_B: &str = "subnet-0000000b";
pub const SUBNET_C: &str = "subnet-0000000c";
pub const SG_1: &str = "sg-00000001";
pub const SG_2: &str = "sg-00000002";
pub const NE: &str = "storage";
pub const NE_UID: &str = "0b5a7c1e-0000-4000-8000-000000000001";

pub fn time(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).expect("valid timestamp"))
}

pub fn subnet(id: &str, az: &str) -> Subnet {
    Subnet {
        id: id.into(),
        vpc_id: VPC.into(),
        availability_zone: az.into(),
        cidr_block: "10.0.1.0/24".into(),
        available_ip_address_count: 200,
        tags: BTreeMap::new(),
    }
}

pub fn group(id: &str, name: &str) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        name: name.into(),
        vpc_id: Some(VPC.into()),
        description: String::new(),
        tags: BTreeMap::new(),
    }
}

/// A NodeENI named `storage` selecting `role=storage`, with `extra` merged into its spec.
pub fn node_eni(extra: serde_json::Value) -> NodeEni {
    let mut spec = serde_json::json!({
        "nodeSelector": {"role": "storage"},
        "subnetIDs": [SUBNET_A],
        "securityGroupIDs": [SG_1],
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    let mut ne = NodeEni::new(NE, serde_json::from_value(spec).expect("valid spec"));
    ne.metadata.uid = Some(NE_UID.into());
    ne.metadata.generation = Some(1);
    ne
}

/// A node labelled `role=storage` backed by `instance`.
pub fn node(name: &str, instance: &str) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        uid: format!("uid-{name}"),
        labels: BTreeMap::from([("role".to_owned(), "storage".to_owned())]),
        provider_id: Some(format!("aws:///{AZ_A}/{instance}")),
    }
}

/// A running instance taking 4 interfaces, in `az`.
pub fn instance(az: &str) -> InstanceLookup {
    instance_with_limit(az, 4)
}

pub fn instance_with_limit(az: &str, max: u32) -> InstanceLookup {
    InstanceLookup::Found(InstanceFacts {
        availability_zone: az.into(),
        instance_type: "m5.large".into(),
        state: InstanceState::Running,
        limits: Some(InstanceTypeLimits {
            instance_type: "m5.large".into(),
            max_network_interfaces: max,
            max_network_cards: 1,
            default_network_card_index: 0,
            network_cards: vec![],
        }),
    })
}

/// An ENIAttachment of NodeENI `storage` as the fleet plan would have made it.
pub fn existing_attachment(name: &str, node: &str, subnet: &str, index: i32) -> EniAttachment {
    let spec: EniAttachmentSpec = serde_json::from_value(serde_json::json!({
        "nodeENI": NE, "nodeName": node, "instanceID": "i-00000001", "subnetID": subnet,
        "securityGroupIDs": [SG_1], "deviceIndex": index
    }))
    .expect("valid spec");
    let mut a = EniAttachment::new(name, spec);
    a.metadata.uid = Some(format!("uid-{name}"));
    a.metadata.generation = Some(1);
    a
}

/// Everything a fleet plan looks at; tests change a field and plan again.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub ne: NodeEni,
    pub nodes: Vec<NodeFacts>,
    pub subnets: Vec<SubnetLookup>,
    pub groups: Vec<GroupLookup>,
    pub instances: BTreeMap<String, InstanceLookup>,
    pub existing: Vec<EniAttachment>,
}

impl Fleet {
    /// NodeENI `storage` on SUBNET_A (us-east-1a) with SG_1; no nodes yet.
    pub fn new(ne: NodeEni) -> Fleet {
        let mut f = Fleet {
            ne,
            nodes: vec![],
            subnets: vec![],
            groups: vec![],
            instances: BTreeMap::new(),
            existing: vec![],
        };
        f.set_subnets(&[(SUBNET_A, AZ_A)]);
        f.groups = vec![(SecurityGroupRef::Id(SG_1.into()), Ok(group(SG_1, "one")))];
        f
    }

    /// The subnets by ID, resolved to these AZs (and the NodeENI's spec listing them).
    pub fn set_subnets(&mut self, subnets: &[(&str, &str)]) {
        self.ne.spec.subnet_ids = subnets.iter().map(|(id, _)| (*id).to_owned()).collect();
        self.subnets = subnets
            .iter()
            .map(|(id, az)| (SubnetRef::Id((*id).into()), Ok(subnet(id, az))))
            .collect();
    }

    /// Adds a node with its instance, in `az`.
    pub fn add_node(&mut self, name: &str, instance_id: &str, az: &str) {
        self.nodes.push(node(name, instance_id));
        self.instances.insert(instance_id.into(), instance(az));
    }

    pub fn plan(&self) -> Plan {
        let existing: Vec<Arc<EniAttachment>> =
            self.existing.iter().cloned().map(Arc::new).collect();
        plan(&FleetInput {
            node_eni: &self.ne,
            nodes: &self.nodes,
            subnets: &self.subnets,
            security_groups: &self.groups,
            instances: &self.instances,
            existing: &existing,
        })
    }

    /// Plans and carries the plan out the way the API server would: creates appear, updates
    /// replace specs, deletes go (the finalizer's work is not modelled here). Returns the plan.
    pub fn apply(&mut self) -> Plan {
        let p = self.plan();
        for (name, spec) in &p.update {
            if let Some(e) = self.existing.iter_mut().find(|e| &e.name_any() == name) {
                e.spec = spec.clone();
            }
        }
        self.existing.retain(|e| !p.delete.contains(&e.name_any()));
        for c in &p.create {
            let mut c = c.clone();
            c.metadata.uid = Some(format!("uid-{}", c.name_any()));
            self.existing.push(c);
        }
        p
    }
}

/// A running instance `i-00000001` with these `(eni, device index, card)` slots attached, on a
/// type taking `max` interfaces per card.
pub fn view(slots: &[(&str, i32, i32)], max: u32) -> super::lifecycle::InstanceView {
    use multi_eni_ec2::{AttachmentStatus, Instance, InstanceInterface};
    super::lifecycle::InstanceView {
        instance: Instance {
            id: "i-00000001".into(),
            state: InstanceState::Running,
            availability_zone: AZ_A.into(),
            instance_type: "m5.large".into(),
            subnet_id: Some(SUBNET_A.into()),
            vpc_id: Some(VPC.into()),
            network_interfaces: slots
                .iter()
                .map(|(eni, index, card)| InstanceInterface {
                    network_interface_id: (*eni).into(),
                    attachment_id: format!("{eni}-attach"),
                    device_index: *index,
                    network_card_index: *card,
                    status: AttachmentStatus::Attached,
                    delete_on_termination: false,
                })
                .collect(),
        },
        leaving: Default::default(),
        max_interfaces_on_card: Some(max),
    }
}

/// An unattached ENI in SUBNET_A carrying attachment `uid`'s tags (cluster `prod`, node `n1`).
pub fn available_eni(id: &str, uid: &str) -> multi_eni_ec2::NetworkInterface {
    multi_eni_ec2::NetworkInterface {
        id: id.into(),
        subnet_id: SUBNET_A.into(),
        vpc_id: VPC.into(),
        availability_zone: AZ_A.into(),
        mac_address: "02:00:00:00:00:0A".into(),
        private_ip_address: Some("10.0.1.10".into()),
        status: multi_eni_ec2::EniStatus::Available,
        attachment: None,
        security_group_ids: vec![SG_1.into()],
        description: String::new(),
        tags: multi_eni_api::keys::eni_tags("prod", NE, uid, "n1", "i-00000001"),
    }
}
