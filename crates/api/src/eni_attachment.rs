//! `ENIAttachment`: one ENI for one (NodeENI, node, subnet) — the unit of work, like a Pod under a
//! Deployment. Its finalizer makes the intent to clean up durable before the ENI exists.
//!
//! Ownership of fields is split so two writers never contend: the controller owns `spec` and
//! `status` except `status.interface`, which only the node agent writes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::node_eni::DpdkDriver;
use crate::validation::{
    DESCRIPTION_MAX_LEN, DEVICE_INDEX_MAX, DEVICE_INDEX_MIN, INSTANCE_ID_PATTERN, MAX_LIST_ITEMS,
    MTU_MAX, NETWORK_CARD_INDEX_MAX, OBJECT_NAME_PATTERN, PCI_ADDRESS_PATTERN,
    RESOURCE_NAME_PATTERN, SECURITY_GROUP_ID_PATTERN, SUBNET_ID_PATTERN,
};

/// What the controller wants for this one ENI. Written by the controller only.
// Each `printcolumn(...)` repeats the same keys by design; clippy reads that as duplication.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "networking.k8s.aws",
    version = "v1alpha1",
    kind = "ENIAttachment",
    root = "EniAttachment",
    plural = "eniattachments",
    singular = "eniattachment",
    shortname = "enia",
    category = "multi-eni",
    status = "EniAttachmentStatus",
    doc = "ENIAttachment is one AWS ENI for one (NodeENI, node, subnet), managed by multi-eni.",
    selectable = ".spec.nodeName",
    selectable = ".spec.nodeENI",
    printcolumn(name = "Node", type_ = "string", json_path = ".spec.nodeName"),
    printcolumn(name = "Subnet", type_ = "string", json_path = ".spec.subnetID"),
    printcolumn(
        name = "Index",
        type_ = "integer",
        json_path = ".status.deviceIndex",
        description = "The device index actually used"
    ),
    printcolumn(name = "ENI", type_ = "string", json_path = ".status.eniID"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Interface",
        type_ = "string",
        json_path = ".status.interface.interfaceName"
    ),
    printcolumn(
        name = "MAC",
        type_ = "string",
        json_path = ".status.macAddress",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EniAttachmentSpec {
    /// The NodeENI this ENI serves.
    #[serde(rename = "nodeENI")]
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub node_eni: String,
    /// The node the ENI is attached to.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub node_name: String,
    /// The node's EC2 instance.
    #[serde(rename = "instanceID")]
    #[schemars(pattern(INSTANCE_ID_PATTERN))]
    pub instance_id: String,
    /// The subnet the ENI is created in.
    #[serde(rename = "subnetID")]
    #[schemars(pattern(SUBNET_ID_PATTERN))]
    pub subnet_id: String,
    /// Security groups of the ENI (resolved to IDs).
    #[serde(rename = "securityGroupIDs")]
    #[schemars(length(min = 1, max = MAX_LIST_ITEMS), inner(pattern(SECURITY_GROUP_ID_PATTERN)))]
    pub security_group_ids: Vec<String>,
    /// The device index wanted; the one actually used is in status.
    #[schemars(range(min = DEVICE_INDEX_MIN, max = DEVICE_INDEX_MAX))]
    pub device_index: i32,
    /// The network card to attach on (instances with several cards).
    #[serde(default)]
    #[schemars(range(min = 0, max = NETWORK_CARD_INDEX_MAX))]
    pub network_card_index: i32,
    /// The ENI's EC2 description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = DESCRIPTION_MAX_LEN))]
    pub description: Option<String>,
    /// Delete the ENI when the instance terminates.
    #[serde(default = "default_true")]
    pub delete_on_termination: bool,
    /// MTU for the agent to apply; unset leaves the interface's MTU alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = crate::validation::MTU_MIN, max = MTU_MAX))]
    pub mtu: Option<i32>,
    /// Bind the device to a DPDK driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpdk: Option<DpdkSpec>,
    /// Publish the device to the SR-IOV network device plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov: Option<SriovSpec>,
}

fn default_true() -> bool {
    true
}

/// DPDK binding wanted for the device.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DpdkSpec {
    /// The userspace driver to bind.
    pub driver: DpdkDriver,
    /// The device's PCI address, when it cannot be found from the interface.
    #[serde(
        rename = "pciAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(pattern(PCI_ADDRESS_PATTERN))]
    pub pci_address: Option<String>,
}

/// An SR-IOV network device-plugin resource for the device (DPDK or kernel driver).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SriovSpec {
    /// The extended resource name, `vendor.com/name`.
    #[schemars(pattern(RESOURCE_NAME_PATTERN), length(min = 1, max = 253))]
    pub resource_name: String,
    /// The device's PCI address, when it cannot be found from the interface.
    #[serde(
        rename = "pciAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(pattern(PCI_ADDRESS_PATTERN))]
    pub pci_address: Option<String>,
}

/// Where an ENIAttachment is in its life. Every phase is a line of the lifecycle:
/// Pending → Creating → Attaching → Attached → (agent) Ready → Detaching → Deleting → gone.
// Ordered as the lifecycle runs (the sandbox shows phases in that order).
#[derive(
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
    Default,
)]
pub enum Phase {
    /// Accepted; nothing exists in EC2 yet.
    #[default]
    Pending,
    /// CreateNetworkInterface issued or the ENI exists unattached.
    Creating,
    /// AttachNetworkInterface issued; waiting for `attached`.
    Attaching,
    /// Attached in EC2; the agent has not configured it yet.
    Attached,
    /// Attached and configured on the node.
    Ready,
    /// Being let go: the agent releases the interface, then the controller detaches.
    Detaching,
    /// Detached; the ENI is being deleted.
    Deleting,
    /// Stuck on something a person must fix; the Ready condition says what.
    Failed,
}

impl Phase {
    /// The phase as the status string (also used in the NodeENI compatibility view).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Creating => "Creating",
            Phase::Attaching => "Attaching",
            Phase::Attached => "Attached",
            Phase::Ready => "Ready",
            Phase::Detaching => "Detaching",
            Phase::Deleting => "Deleting",
            Phase::Failed => "Failed",
        }
    }

    /// Whether the ENI is attached to the instance, so the node agent should configure it.
    pub fn is_attached(self) -> bool {
        matches!(self, Phase::Attached | Phase::Ready)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state. The controller writes everything but `interface`; the agent writes only
/// `interface`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EniAttachmentStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The ENI's ID once created.
    #[serde(rename = "eniID", default, skip_serializing_if = "Option::is_none")]
    pub eni_id: Option<String>,
    /// The EC2 attachment ID once attached.
    #[serde(
        rename = "attachmentID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attachment_id: Option<String>,
    /// The ENI's MAC address: how the agent finds the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// The ENI's primary private IPv4 address.
    #[serde(
        rename = "privateIPAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub private_ip_address: Option<String>,
    /// The subnet's IPv4 CIDR.
    #[serde(
        rename = "subnetCIDR",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subnet_cidr: Option<String>,
    /// The availability zone of the subnet and instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// The device index actually used (may differ from spec when that index was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_index: Option<i32>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Which creation attempt the ClientToken belongs to. Bumped (and persisted) before a create
    /// that follows a vanished ENI, so a token is never reused after its ENI was deleted — what
    /// EC2 does with such a token is undocumented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub create_attempt: Option<i32>,
    /// When `phase` last changed: starts the release timeout (Detaching) and the grace for an
    /// ENI that EC2 does not list yet right after its creation (Creating, Attaching).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_since: Option<Time>,
    /// When the normal DetachNetworkInterface was issued: a forced detach follows after the
    /// detach timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detach_requested_at: Option<Time>,
    /// When the last forced detach was issued (it is repeated at most once per detach timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detach_forced_at: Option<Time>,
    /// Controller conditions (Ready), with reasons a person can act on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The node agent's part: what it found and did on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceStatus>,
}

/// The agent-owned part of the status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    /// The Linux interface name (absent while bound to DPDK: the netdev is gone then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// The Linux interface index the agent acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_index: Option<u32>,
    /// The MTU the interface has after configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    /// Whether the link is administratively up.
    #[serde(default)]
    pub up: bool,
    /// Whether the device is bound to a DPDK driver.
    #[serde(rename = "dpdkBound", default)]
    pub dpdk_bound: bool,
    /// The DPDK driver bound.
    #[serde(
        rename = "dpdkDriver",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dpdk_driver: Option<String>,
    /// The device's PCI address.
    #[serde(
        rename = "pciAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pci_address: Option<String>,
    /// The kernel driver the device had before DPDK binding, restored on release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_driver: Option<String>,
    /// The SR-IOV device-plugin resource the device is published under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov_resource_name: Option<String>,
    /// The agent let go of the device (DPDK unbound, SR-IOV entry dropped): safe to detach.
    #[serde(default)]
    pub released: bool,
    /// The spec generation the agent last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the agent last changed this part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Agent conditions (InterfaceReady).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl EniAttachment {
    /// The phase, Pending when the controller has not written status yet.
    pub fn phase(&self) -> Phase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or_default()
    }

    /// The ENI's MAC, lower-cased, once the controller knows it.
    pub fn mac_address(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.mac_address.as_deref())
            .map(str::to_ascii_lowercase)
    }

    /// The agent's part of the status, if it has written one.
    pub fn interface(&self) -> Option<&InterfaceStatus> {
        self.status.as_ref().and_then(|s| s.interface.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_serialize_as_their_names() {
        for p in [
            Phase::Pending,
            Phase::Creating,
            Phase::Attaching,
            Phase::Attached,
            Phase::Ready,
            Phase::Detaching,
            Phase::Deleting,
            Phase::Failed,
        ] {
            assert_eq!(serde_json::to_value(p).expect("serializes"), p.as_str());
        }
    }

    #[test]
    fn only_attached_phases_are_for_the_agent() {
        assert!(Phase::Attached.is_attached());
        assert!(Phase::Ready.is_attached());
        assert!(!Phase::Attaching.is_attached());
        assert!(!Phase::Detaching.is_attached());
    }

    #[test]
    fn mac_is_normalised_to_lower_case() {
        let mut a = EniAttachment::new(
            "x",
            serde_json::from_value(serde_json::json!({
                "nodeENI": "ne", "nodeName": "n", "instanceID": "i-01234567", "subnetID": "subnet-01234567",
                "securityGroupIDs": ["sg-01234567"], "deviceIndex": 1
            }))
            .expect("valid spec"),
        );
        assert_eq!(a.mac_address(), None);
        assert_eq!(a.phase(), Phase::Pending);
        a.status = Some(EniAttachmentStatus {
            mac_address: Some("0A:1B:2C:3D:4E:5F".into()),
            ..Default::default()
        });
        assert_eq!(a.mac_address().as_deref(), Some("0a:1b:2c:3d:4e:5f"));
    }
}
