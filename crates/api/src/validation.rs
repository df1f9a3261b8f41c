//! The validation facts that go into the CRDs: ID and name patterns, bounds, and CEL rules.
//!
//! They live here, once, so the schema attributes on the types, the tests and the docs agree.
//! Every rule is enforced by the API server itself (OpenAPI constraints or CEL
//! `x-kubernetes-validations`), so a bad manifest is refused at `kubectl apply` on any cluster.

/// `subnet-` followed by 8 (legacy) or 17 lowercase hex digits; both forms exist in the wild.
pub const SUBNET_ID_PATTERN: &str = "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$";
/// `sg-` followed by 8 (legacy) or 17 lowercase hex digits.
pub const SECURITY_GROUP_ID_PATTERN: &str = "^sg-([0-9a-f]{8}|[0-9a-f]{17})$";
/// `i-` followed by 8 (legacy) or 17 lowercase hex digits.
pub const INSTANCE_ID_PATTERN: &str = "^i-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A PCI address `[domain:]bus:device.function`; device is 5 bits (00–1f), function 3 bits.
pub const PCI_ADDRESS_PATTERN: &str = "^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[01][0-9a-fA-F]\\.[0-7]$";
/// A device-plugin extended resource name: optional DNS-subdomain prefix, `/`, a qualified name
/// (`intel.com/sriov_kernel_1`).
pub const RESOURCE_NAME_PATTERN: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
/// A DNS-1123 subdomain: what Kubernetes object names (Nodes, NodeENIs) must be.
pub const OBJECT_NAME_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Device index 0 is the instance's primary ENI, never ours.
pub const DEVICE_INDEX_MIN: i32 = 1;
/// Well above any instance type's interface count today (the largest have 64 across all cards,
/// at most 15 per card), yet small enough that a typo like `100` is refused.
pub const DEVICE_INDEX_MAX: i32 = 63;
/// The smallest MTU a Linux IPv4 interface on EC2 may usefully carry.
pub const MTU_MIN: i32 = 576;
/// EC2's jumbo-frame MTU.
pub const MTU_MAX: i32 = 9001;
/// EC2 limits an ENI description to 255 characters.
pub const DESCRIPTION_MAX_LEN: u32 = 255;
/// The EC2 `Name` tag value limit.
pub const SUBNET_NAME_MAX_LEN: u32 = 256;
/// EC2 security group names are at most 255 characters.
pub const SECURITY_GROUP_NAME_MAX_LEN: u32 = 255;
/// No real configuration lists more; a bound keeps CEL cost estimates and objects small.
pub const MAX_LIST_ITEMS: u32 = 32;
/// A Kubernetes label value is at most 63 characters, so a longer selector value can never match.
pub const LABEL_VALUE_MAX_LEN: u32 = 63;
/// EC2 instances have at most 32 network cards today.
pub const NETWORK_CARD_INDEX_MAX: i32 = 31;

/// The DPDK drivers the agent knows how to bind.
pub const DPDK_DRIVERS: [&str; 3] = ["vfio-pci", "igb_uio", "uio_pci_generic"];
/// The default DPDK driver (the Go controller's default).
pub const DEFAULT_DPDK_DRIVER: &str = "vfio-pci";

/// CEL: a NodeENI must name at least one subnet, by ID or by Name tag.
pub const RULE_SUBNET_SOURCE: &str = "has(self.subnetID) || (has(self.subnetIDs) && size(self.subnetIDs) > 0) || has(self.subnetName) || (has(self.subnetNames) && size(self.subnetNames) > 0)";
/// The message shown when [`RULE_SUBNET_SOURCE`] fails.
pub const RULE_SUBNET_SOURCE_MESSAGE: &str =
    "at least one of subnetID, subnetIDs, subnetName or subnetNames must be set";
/// CEL: a NodeENI must name at least one security group, by ID or by name.
pub const RULE_SECURITY_GROUP_SOURCE: &str = "(has(self.securityGroupIDs) && size(self.securityGroupIDs) > 0) || (has(self.securityGroupNames) && size(self.securityGroupNames) > 0)";
/// The message shown when [`RULE_SECURITY_GROUP_SOURCE`] fails.
pub const RULE_SECURITY_GROUP_SOURCE_MESSAGE: &str =
    "at least one of securityGroupIDs or securityGroupNames must be set";
/// CEL on `mtu`: 0 keeps the Go controller's meaning ("leave the MTU alone"), so old manifests
/// that spell it out still apply; anything else must be a usable EC2 MTU.
pub const RULE_MTU: &str = "self == 0 || self >= 576";
/// The message shown when [`RULE_MTU`] fails.
pub const RULE_MTU_MESSAGE: &str =
    "mtu must be 0 (leave unchanged) or between 576 and 9001 (EC2 jumbo frames)";
