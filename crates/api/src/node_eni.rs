//! `NodeENI`: which nodes get which extra ENIs. Wire-compatible with the Go controller's type —
//! the same JSON field names and defaults — so existing manifests apply unchanged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validation::{
    DESCRIPTION_MAX_LEN, DEVICE_INDEX_MAX, DEVICE_INDEX_MIN, LABEL_VALUE_MAX_LEN, MAX_LIST_ITEMS,
    MTU_MAX, PCI_ADDRESS_PATTERN, RESOURCE_NAME_PATTERN, SECURITY_GROUP_ID_PATTERN,
    SECURITY_GROUP_NAME_MAX_LEN, SUBNET_ID_PATTERN, SUBNET_NAME_MAX_LEN,
};

/// What one NodeENI asks for: every node matching `nodeSelector` gets one ENI per listed subnet
/// in the node's availability zone, with these security groups, at `deviceIndex` onwards.
// Each `printcolumn(...)` repeats the same keys by design; clippy reads that as duplication.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "networking.k8s.aws",
    version = "v1alpha1",
    kind = "NodeENI",
    root = "NodeEni",
    plural = "nodeenis",
    singular = "nodeeni",
    shortname = "neni",
    category = "multi-eni",
    status = "NodeEniStatus",
    doc = "NodeENI gives every node matching nodeSelector extra AWS Elastic Network Interfaces.",
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredCount",
        description = "ENIs wanted across matching nodes"
    ),
    printcolumn(
        name = "Attached",
        type_ = "integer",
        json_path = ".status.attachedCount",
        description = "ENIs attached in EC2"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyCount",
        description = "ENIs configured by the node agent"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "The Ready condition"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1,
        description = "Why Ready is what it is"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": crate::validation::RULE_SUBNET_SOURCE, "message": crate::validation::RULE_SUBNET_SOURCE_MESSAGE},
    {"rule": crate::validation::RULE_SECURITY_GROUP_SOURCE, "message": crate::validation::RULE_SECURITY_GROUP_SOURCE_MESSAGE},
]))]
pub struct NodeEniSpec {
    /// Labels a node must carry (all of them) to get these ENIs.
    #[schemars(extend("additionalProperties" = {"type": "string", "maxLength": LABEL_VALUE_MAX_LEN}))]
    pub node_selector: BTreeMap<String, String>,

    /// One subnet ID. Combined with subnetIDs, subnetName and subnetNames (de-duplicated, in
    /// this order); a node gets one ENI per listed subnet in its availability zone.
    #[serde(rename = "subnetID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SUBNET_ID_PATTERN))]
    pub subnet_id: Option<String>,

    /// Several subnet IDs.
    #[serde(rename = "subnetIDs", default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS), inner(pattern(SUBNET_ID_PATTERN)))]
    pub subnet_ids: Vec<String>,

    /// One subnet by its `Name` tag, looked up in the cluster's VPC (zero or several matches is
    /// an error, never a guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = SUBNET_NAME_MAX_LEN))]
    pub subnet_name: Option<String>,

    /// Several subnets by their `Name` tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS), inner(length(min = 1, max = SUBNET_NAME_MAX_LEN)))]
    pub subnet_names: Vec<String>,

    /// Security group IDs for the ENIs. Combined with securityGroupNames.
    #[serde(
        rename = "securityGroupIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = MAX_LIST_ITEMS), inner(pattern(SECURITY_GROUP_ID_PATTERN)))]
    pub security_group_ids: Vec<String>,

    /// Security groups by name, looked up in the cluster's VPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS), inner(length(min = 1, max = SECURITY_GROUP_NAME_MAX_LEN)))]
    pub security_group_names: Vec<String>,

    /// The device index of the first ENI on a node; further subnets take the next indexes.
    /// If an index is taken by an interface multi-eni does not own, the next free one is used and
    /// reported in status.
    #[serde(default = "default_device_index")]
    #[schemars(range(min = DEVICE_INDEX_MIN, max = DEVICE_INDEX_MAX))]
    pub device_index: i32,

    /// Delete the ENI in EC2 when its instance terminates.
    #[serde(default = "default_true")]
    pub delete_on_termination: bool,

    /// The EC2 description of each ENI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = DESCRIPTION_MAX_LEN))]
    pub description: Option<String>,

    /// Interface MTU the node agent applies; 0 or unset leaves the MTU alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = MTU_MAX))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": crate::validation::RULE_MTU, "message": crate::validation::RULE_MTU_MESSAGE},
    ]))]
    pub mtu: Option<i32>,

    /// Bind the interface's PCI device to a DPDK driver.
    #[serde(rename = "enableDPDK", default, skip_serializing_if = "is_false")]
    pub enable_dpdk: bool,

    /// The DPDK driver to bind to when enableDPDK is true.
    #[serde(rename = "dpdkDriver", default = "default_dpdk_driver")]
    pub dpdk_driver: DpdkDriver,

    /// The SR-IOV device-plugin resource name for the device (`vendor.com/name`). Also used
    /// without enableDPDK, for SR-IOV with the kernel driver.
    #[serde(
        rename = "dpdkResourceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(pattern(RESOURCE_NAME_PATTERN), length(max = 253))]
    pub dpdk_resource_name: Option<String>,

    /// The PCI address of the device (`0000:00:07.0`) when it cannot be found from the
    /// interface. Also used without enableDPDK, for SR-IOV with the kernel driver.
    #[serde(
        rename = "dpdkPCIAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(pattern(PCI_ADDRESS_PATTERN))]
    pub dpdk_pci_address: Option<String>,
}

/// The DPDK drivers the agent can bind (see [`crate::validation::DPDK_DRIVERS`]).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum DpdkDriver {
    /// The IOMMU-backed driver; the default and the safe choice.
    #[default]
    #[serde(rename = "vfio-pci")]
    VfioPci,
    /// The out-of-tree DPDK UIO driver.
    #[serde(rename = "igb_uio")]
    IgbUio,
    /// The in-tree generic UIO driver.
    #[serde(rename = "uio_pci_generic")]
    UioPciGeneric,
}

impl DpdkDriver {
    /// The kernel driver name, as sysfs knows it.
    pub fn as_str(self) -> &'static str {
        match self {
            DpdkDriver::VfioPci => "vfio-pci",
            DpdkDriver::IgbUio => "igb_uio",
            DpdkDriver::UioPciGeneric => "uio_pci_generic",
        }
    }
}

impl std::fmt::Display for DpdkDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_device_index() -> i32 {
    DEVICE_INDEX_MIN
}
fn default_true() -> bool {
    true
}
fn default_dpdk_driver() -> DpdkDriver {
    DpdkDriver::VfioPci
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// A subnet named by a NodeENI, by ID or by `Name` tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubnetRef {
    /// `subnet-…`
    Id(String),
    /// The subnet's `Name` tag value, resolved within the cluster's VPC.
    Name(String),
}

/// A security group named by a NodeENI, by ID or by group name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityGroupRef {
    /// `sg-…`
    Id(String),
    /// The group's `GroupName`, resolved within the cluster's VPC.
    Name(String),
}

impl NodeEniSpec {
    /// The security groups this NodeENI names: securityGroupIDs then securityGroupNames,
    /// de-duplicated, in that order.
    pub fn security_group_refs(&self) -> Vec<SecurityGroupRef> {
        let ids = self
            .security_group_ids
            .iter()
            .cloned()
            .map(SecurityGroupRef::Id);
        let names = self
            .security_group_names
            .iter()
            .cloned()
            .map(SecurityGroupRef::Name);
        let mut out: Vec<SecurityGroupRef> = Vec::new();
        for r in ids.chain(names) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The subnets this NodeENI names: the union of subnetID, subnetIDs, subnetName and
    /// subnetNames, de-duplicated, in that order. The order fixes device indexes on a node.
    pub fn subnet_refs(&self) -> Vec<SubnetRef> {
        let ids = self
            .subnet_id
            .iter()
            .chain(&self.subnet_ids)
            .cloned()
            .map(SubnetRef::Id);
        let names = self
            .subnet_name
            .iter()
            .chain(&self.subnet_names)
            .cloned()
            .map(SubnetRef::Name);
        let mut out: Vec<SubnetRef> = Vec::new();
        for r in ids.chain(names) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The MTU to apply, if any: 0 and unset both mean "leave the interface's MTU alone".
    pub fn effective_mtu(&self) -> Option<i32> {
        self.mtu.filter(|m| *m > 0)
    }

    /// Whether `labels` satisfy the node selector (every key present with the same value).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// Observed state, aggregated by the controller from the NodeENI's ENIAttachments.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeEniStatus {
    /// Compatibility view of the ENIs, one entry per attachment, in the Go controller's shape.
    /// Capped at 1,000 entries (the AttachmentsTruncated condition says when); the ENIAttachments
    /// are the full truth at any scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentEntry>,
    /// Ready, Progressing, Degraded (standard `metav1.Condition`s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// ENIs wanted across all matching nodes.
    #[serde(default)]
    pub desired_count: i32,
    /// ENIs attached in EC2.
    #[serde(default)]
    pub attached_count: i32,
    /// ENIs configured by the node agent.
    #[serde(default)]
    pub ready_count: i32,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One ENI in the compatibility view: the Go controller's fields plus our additions.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentEntry {
    /// The node name (the Go controller called it nodeID).
    #[serde(rename = "nodeID", default)]
    pub node_id: String,
    /// The EC2 instance ID.
    #[serde(rename = "instanceID", default)]
    pub instance_id: String,
    /// The ENI ID.
    #[serde(rename = "eniID", default)]
    pub eni_id: String,
    /// The EC2 attachment ID.
    #[serde(rename = "attachmentID", default)]
    pub attachment_id: String,
    /// The subnet the ENI is in.
    #[serde(rename = "subnetID", default, skip_serializing_if = "String::is_empty")]
    pub subnet_id: String,
    /// The subnet's IPv4 CIDR.
    #[serde(
        rename = "subnetCIDR",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet_cidr: String,
    /// The MTU applied on the node (0: left alone).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: i32,
    /// The device index actually used.
    #[serde(default)]
    pub device_index: i32,
    /// The attachment's phase (attached, ready, detaching …).
    #[serde(default)]
    pub status: String,
    /// When this entry last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Whether the device is bound to a DPDK driver.
    #[serde(rename = "dpdkBound", default, skip_serializing_if = "is_false")]
    pub dpdk_bound: bool,
    /// The DPDK driver bound.
    #[serde(
        rename = "dpdkDriver",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub dpdk_driver: String,
    /// The SR-IOV resource name.
    #[serde(
        rename = "dpdkResourceName",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub dpdk_resource_name: String,
    /// The device's PCI address.
    #[serde(
        rename = "dpdkPCIAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub dpdk_pci_address: String,
    /// Addition: the ENI's MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// Addition: the Linux interface name on the node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    /// Addition: the ENI's primary private IPv4 address.
    #[serde(
        rename = "privateIPAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub private_ip_address: String,
    /// Addition: the availability zone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub availability_zone: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> NodeEniSpec {
        serde_json::from_value(json).expect("valid spec")
    }

    #[test]
    fn defaults_match_the_go_controller() {
        let s = spec(serde_json::json!({"nodeSelector": {}, "subnetID": "subnet-01234567"}));
        assert_eq!(s.device_index, 1);
        assert!(s.delete_on_termination);
        assert_eq!(s.dpdk_driver, DpdkDriver::VfioPci);
        assert!(!s.enable_dpdk);
        assert_eq!(s.effective_mtu(), None);
    }

    #[test]
    fn subnet_refs_are_the_union_in_spec_order_without_duplicates() {
        let s = spec(serde_json::json!({
            "nodeSelector": {},
            "subnetID": "subnet-0000000a",
            "subnetIDs": ["subnet-0000000b", "subnet-0000000a"],
            "subnetName": "blue",
            "subnetNames": ["green", "blue"],
        }));
        assert_eq!(
            s.subnet_refs(),
            vec![
                SubnetRef::Id("subnet-0000000a".into()),
                SubnetRef::Id("subnet-0000000b".into()),
                SubnetRef::Name("blue".into()),
                SubnetRef::Name("green".into()),
            ]
        );
    }

    #[test]
    fn security_group_refs_are_ids_then_names_without_duplicates() {
        let s = spec(serde_json::json!({
            "nodeSelector": {},
            "securityGroupIDs": ["sg-0000000a", "sg-0000000a"],
            "securityGroupNames": ["web", "db", "web"],
        }));
        assert_eq!(
            s.security_group_refs(),
            vec![
                SecurityGroupRef::Id("sg-0000000a".into()),
                SecurityGroupRef::Name("web".into()),
                SecurityGroupRef::Name("db".into()),
            ]
        );
    }

    #[test]
    fn zero_mtu_means_leave_alone() {
        let s = spec(serde_json::json!({"nodeSelector": {}, "mtu": 0}));
        assert_eq!(s.effective_mtu(), None);
        let s = spec(serde_json::json!({"nodeSelector": {}, "mtu": 9001}));
        assert_eq!(s.effective_mtu(), Some(9001));
    }

    #[test]
    fn selector_needs_every_label() {
        let s = spec(serde_json::json!({"nodeSelector": {"a": "1", "b": "2"}}));
        let mut labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert!(!s.selects(&labels));
        labels.insert("b".into(), "2".into());
        assert!(s.selects(&labels));
        labels.insert("b".into(), "3".into());
        assert!(!s.selects(&labels));
    }

    #[test]
    fn serialization_round_trips_go_field_names() {
        let s = spec(serde_json::json!({
            "nodeSelector": {"x": "y"}, "subnetID": "subnet-01234567", "securityGroupIDs": ["sg-01234567"],
            "enableDPDK": true, "dpdkResourceName": "intel.com/a", "dpdkPCIAddress": "0000:00:07.0"
        }));
        let v = serde_json::to_value(&s).expect("serializes");
        for key in [
            "subnetID",
            "securityGroupIDs",
            "enableDPDK",
            "dpdkDriver",
            "dpdkResourceName",
            "dpdkPCIAddress",
            "deviceIndex",
            "deleteOnTermination",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }
}
