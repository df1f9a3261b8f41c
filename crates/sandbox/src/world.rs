//! The simulated AWS account and cluster the sandbox runs on: one VPC with subnets in two
//! availability zones (the IDs and names the samples use — `deploy/samples/nodeeni.yaml` and
//! the Go controller's own samples), their security groups, one running instance per node
//! (instance types differ), and the Kubernetes Nodes EKS would register for them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use multi_eni_ec2::Tags;
use multi_eni_ec2_sim::{Ec2Sim, SetupError};
use serde_json::json;

/// The two availability zones.
pub const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// The node selector of the sample NodeENIs: nodes carrying it get ENIs.
pub const SELECTOR: (&str, &str) = ("ng", "multi-eni");

/// A subnet of the simulated VPC: ID, `Name` tag, zone, CIDR.
struct SubnetDef(&'static str, &'static str, &'static str, &'static str);

/// The sandbox sample's subnets (one per zone), then the Go samples' (names and IDs as they
/// wrote them; all in the first zone, so their two-subnet NodeENIs give each node two ENIs).
const SUBNETS: [SubnetDef; 6] = [
    SubnetDef(
        "subnet-0a000000000000001",
        "sandbox-a",
        ZONES[0],
        "10.0.1.0/24",
    ),
    SubnetDef(
        "subnet-0b000000000000002",
        "sandbox-b",
        ZONES[1],
        "10.0.2.0/24",
    ),
    SubnetDef(
        "subnet-0c000000000000011",
        "multus-test-subnet-1",
        ZONES[0],
        "10.0.11.0/24",
    ),
    SubnetDef(
        "subnet-0c000000000000012",
        "multus-test-subnet-2",
        ZONES[0],
        "10.0.12.0/24",
    ),
    SubnetDef(
        "subnet-08c2ddc07218f1105",
        "go-sample-subnet",
        ZONES[0],
        "10.0.8.0/24",
    ),
    SubnetDef(
        "subnet-12345678",
        "go-sample-subnet-legacy",
        ZONES[0],
        "10.0.13.0/24",
    ),
];

/// Security groups: ID and name (the sandbox sample's, then the Go samples').
const GROUPS: [(&str, &str); 4] = [
    ("sg-0c000000000000003", "sandbox"),
    ("sg-0c000000000000004", "multus-test-sg"),
    ("sg-0e4680d35b5053f29", "go-sample-sg"),
    ("sg-12345678", "go-sample-sg-legacy"),
];

/// Node instance types, in turn: all take four interfaces (device indexes 0–3), as the Go
/// samples' device indexes 2 and 3 need.
const INSTANCE_TYPES: [&str; 3] = ["m5.xlarge", "c5.xlarge", "m5.2xlarge"];

/// One simulated node: its Kubernetes name and the instance behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    /// `sandbox-node-<n>`.
    pub name: String,
    /// Its availability zone.
    pub zone: String,
    /// The EC2 instance.
    pub instance_id: String,
    /// The instance's type.
    pub instance_type: String,
    /// Whether it carries the sample's selector label at start.
    pub selected: bool,
}

/// The most subnets per zone the sample may use: the nodes take four interfaces, the primary
/// is at device index 0 and the sample starts at 1.
pub const MAX_SUBNETS_PER_ZONE: u8 = 3;

/// The sample's subnets, `per_zone` in each zone: `sandbox-a` and `sandbox-b` first (the IDs
/// `deploy/samples/nodeeni.yaml` names), then `sandbox-a-2`, `sandbox-b-2`, … as (ID, name,
/// zone, CIDR).
pub fn sample_subnets(per_zone: u8) -> Vec<(String, String, &'static str, String)> {
    let mut subnets = Vec::new();
    for k in 1..=per_zone.clamp(1, MAX_SUBNETS_PER_ZONE) {
        for (z, zone) in ZONES.iter().enumerate() {
            let letter = if z == 0 { "a" } else { "b" };
            let (id, name) = if k == 1 {
                (SUBNETS[z].0.to_string(), SUBNETS[z].1.to_string())
            } else {
                (
                    format!("subnet-0{letter}{:015x}", 0x100 + u32::from(k)),
                    format!("sandbox-{letter}-{k}"),
                )
            };
            let cidr = format!("10.0.{}.0/24", 100 + 10 * u32::from(k) + z as u32);
            subnets.push((id, name, *zone, cidr));
        }
    }
    subnets
}

/// Builds the VPC, subnets (`subnets_per_zone` for the sample in each zone, and the Go
/// samples'), groups and `nodes` instances in `sim`. Nodes alternate between the zones; all but
/// the last carry the selector label (so there is one to label by hand), except a single node,
/// which carries it.
pub fn build(
    sim: &Arc<Ec2Sim>,
    nodes: u16,
    subnets_per_zone: u8,
) -> Result<Vec<SimNode>, SetupError> {
    let vpc = sim.add_vpc("10.0.0.0/16")?;
    let named = |name: &str| {
        let mut tags = Tags::new();
        tags.insert("Name".into(), name.into());
        tags
    };
    for (id, name, zone, cidr) in sample_subnets(subnets_per_zone) {
        sim.add_subnet_as(Some(&id), &vpc, zone, &cidr, named(&name))?;
    }
    for SubnetDef(id, name, zone, cidr) in &SUBNETS[2..] {
        sim.add_subnet_as(Some(id), &vpc, zone, cidr, named(name))?;
    }
    for (id, name) in GROUPS {
        sim.add_security_group_as(Some(id), &vpc, name)?;
    }
    (0..nodes)
        .map(|i| {
            let zone = ZONES[usize::from(i) % ZONES.len()];
            let home = if zone == ZONES[0] {
                SUBNETS[0].0
            } else {
                SUBNETS[1].0
            };
            let instance_type = INSTANCE_TYPES[usize::from(i) % INSTANCE_TYPES.len()];
            let name = format!("sandbox-node-{}", i + 1);
            let mut tags = Tags::new();
            tags.insert("Name".into(), name.clone());
            let instance_id = sim.launch_instance_with_tags(home, instance_type, tags)?;
            Ok(SimNode {
                name,
                zone: zone.into(),
                instance_id,
                instance_type: instance_type.into(),
                selected: nodes == 1 || i + 1 < nodes,
            })
        })
        .collect()
}

/// The Node object EKS registers for `n`: hostname, zone and instance-type labels, an
/// `aws:///<zone>/<instance>` provider ID, and the selector label when selected.
pub fn node_object(n: &SimNode) -> Result<Node, serde_json::Error> {
    let mut labels = json!({
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": n.zone,
        "node.kubernetes.io/instance-type": n.instance_type,
    });
    if n.selected {
        labels[SELECTOR.0] = SELECTOR.1.into();
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": n.name, "labels": labels},
        "spec": {"providerID": format!("aws:///{}/{}", n.zone, n.instance_id)},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2_sim::SimConfig;

    #[test]
    fn nodes_alternate_zones_and_all_but_the_last_are_selected() {
        let sim = Arc::new(Ec2Sim::new(SimConfig::instant()));
        let nodes = build(&sim, 3, 1).expect("world");
        let zones: Vec<_> = nodes.iter().map(|n| n.zone.as_str()).collect();
        assert_eq!(zones, [ZONES[0], ZONES[1], ZONES[0]]);
        let selected: Vec<_> = nodes.iter().map(|n| n.selected).collect();
        assert_eq!(selected, [true, true, false]);
        for n in &nodes {
            let inst = sim.instance(&n.instance_id).expect("the node's instance");
            assert_eq!(inst.instance_type, n.instance_type);
            assert_eq!(inst.availability_zone, n.zone);
        }
        let one = build(&Arc::new(Ec2Sim::new(SimConfig::instant())), 1, 1).expect("world");
        assert!(one[0].selected, "a single node is selected");
    }

    #[test]
    fn the_samples_ids_exist() {
        let sim = Arc::new(Ec2Sim::new(SimConfig::instant()));
        build(&sim, 0, MAX_SUBNETS_PER_ZONE).expect("world");
        for SubnetDef(id, _, zone, _) in SUBNETS {
            assert_eq!(sim.subnet(id).expect(id).availability_zone, zone);
        }
        let extra = sample_subnets(MAX_SUBNETS_PER_ZONE);
        assert_eq!(extra.len(), 6);
        for (id, name, zone, _) in &extra {
            let subnet = sim.subnet(id).expect(id);
            assert_eq!(
                (subnet.availability_zone.as_str(), subnet.tags.get("Name")),
                (*zone, Some(name))
            );
        }
        assert_eq!(sample_subnets(0).len(), 2, "at least one per zone");
        let sample = include_str!("../../../deploy/samples/nodeeni.yaml");
        for id in [
            "subnet-0a000000000000001",
            "subnet-0b000000000000002",
            "sg-0c000000000000003",
        ] {
            assert!(
                sample.contains(id),
                "deploy/samples/nodeeni.yaml names {id}"
            );
        }
    }

    #[test]
    fn node_objects_carry_provider_id_zone_and_selector() {
        let n = SimNode {
            name: "sandbox-node-1".into(),
            zone: ZONES[1].into(),
            instance_id: "i-0123".into(),
            instance_type: "m5.xlarge".into(),
            selected: true,
        };
        let node = node_object(&n).expect("node");
        let labels = node.metadata.labels.expect("labels");
        assert_eq!(labels["topology.kubernetes.io/zone"], ZONES[1]);
        assert_eq!(labels[SELECTOR.0], SELECTOR.1);
        let spec = node.spec.expect("spec");
        assert_eq!(
            spec.provider_id.as_deref(),
            Some("aws:///us-east-1b/i-0123")
        );
        let unselected = node_object(&SimNode {
            selected: false,
            ..n
        })
        .expect("node");
        assert!(
            !unselected
                .metadata
                .labels
                .expect("labels")
                .contains_key(SELECTOR.0)
        );
    }
}
