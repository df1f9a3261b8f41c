//! SDK-free views of the EC2 resources the controller reads. Only the fields it uses; every
//! adapter converts into these, so the controller never sees an SDK type.

use std::collections::BTreeMap;

/// EC2 tags: key → value, ordered so comparisons and logs are stable.
pub type Tags = BTreeMap<String, String>;

/// The `Name` tag key, which EC2 consoles show as the resource name.
pub const NAME_TAG: &str = "Name";

/// A network interface (`DescribeNetworkInterfaces` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    /// `eni-…`.
    pub id: String,
    /// The subnet it lives in (fixed for its lifetime).
    pub subnet_id: String,
    /// The subnet's VPC.
    pub vpc_id: String,
    /// The subnet's availability zone; it can attach only to instances in this zone.
    pub availability_zone: String,
    /// Lower-case `aa:bb:…`; how the agent finds the link on the node.
    pub mac_address: String,
    /// The primary private IPv4 address.
    pub private_ip_address: Option<String>,
    /// Interface status.
    pub status: EniStatus,
    /// The current attachment, if any.
    pub attachment: Option<EniAttachment>,
    /// Security group IDs.
    pub security_group_ids: Vec<String>,
    /// Free text; EC2 returns an empty string when unset.
    pub description: String,
    /// Tags.
    pub tags: Tags,
}

/// `NetworkInterface.Status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EniStatus {
    /// Not attached: can be attached or deleted.
    Available,
    /// Being attached.
    Attaching,
    /// Attached to an instance.
    InUse,
    /// Being detached.
    Detaching,
    /// Associated with another service's resource (not something we create).
    Associated,
    /// A status this code does not know.
    Unknown(String),
}

impl EniStatus {
    /// Parses EC2's wire value.
    pub fn parse(s: &str) -> EniStatus {
        match s {
            "available" => EniStatus::Available,
            "attaching" => EniStatus::Attaching,
            "in-use" => EniStatus::InUse,
            "detaching" => EniStatus::Detaching,
            "associated" => EniStatus::Associated,
            other => EniStatus::Unknown(other.to_string()),
        }
    }

    /// EC2's wire value.
    pub fn as_str(&self) -> &str {
        match self {
            EniStatus::Available => "available",
            EniStatus::Attaching => "attaching",
            EniStatus::InUse => "in-use",
            EniStatus::Detaching => "detaching",
            EniStatus::Associated => "associated",
            EniStatus::Unknown(s) => s,
        }
    }
}

/// `NetworkInterface.Attachment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniAttachment {
    /// `eni-attach-…`; detach and DeleteOnTermination need it.
    pub attachment_id: String,
    /// The instance it is attached to.
    pub instance_id: Option<String>,
    /// Device index on the instance (0 is the primary interface).
    pub device_index: i32,
    /// Network card index (non-zero only on multi-card instance types).
    pub network_card_index: i32,
    /// Attachment status.
    pub status: AttachmentStatus,
    /// Whether EC2 deletes the interface when the instance terminates.
    pub delete_on_termination: bool,
}

/// `NetworkInterfaceAttachment.Status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttachmentStatus {
    /// Attach accepted, not finished.
    Attaching,
    /// Attached.
    Attached,
    /// Detach accepted, not finished.
    Detaching,
    /// Detached (EC2 shows this briefly before the attachment disappears).
    Detached,
    /// A status this code does not know.
    Unknown(String),
}

impl AttachmentStatus {
    /// Parses EC2's wire value.
    pub fn parse(s: &str) -> AttachmentStatus {
        match s {
            "attaching" => AttachmentStatus::Attaching,
            "attached" => AttachmentStatus::Attached,
            "detaching" => AttachmentStatus::Detaching,
            "detached" => AttachmentStatus::Detached,
            other => AttachmentStatus::Unknown(other.to_string()),
        }
    }

    /// EC2's wire value.
    pub fn as_str(&self) -> &str {
        match self {
            AttachmentStatus::Attaching => "attaching",
            AttachmentStatus::Attached => "attached",
            AttachmentStatus::Detaching => "detaching",
            AttachmentStatus::Detached => "detached",
            AttachmentStatus::Unknown(s) => s,
        }
    }

    /// Occupies its device index: everything except a finished detach.
    pub fn holds_device_index(&self) -> bool {
        !matches!(self, AttachmentStatus::Detached)
    }
}

/// An instance (`DescribeInstances` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Placement availability zone; authoritative for which subnets apply to the node.
    pub availability_zone: String,
    /// e.g. `m5.large`; the key for [`InstanceTypeLimits`].
    pub instance_type: String,
    /// The primary interface's subnet (absent once terminated).
    pub subnet_id: Option<String>,
    /// The primary interface's VPC (absent once terminated).
    pub vpc_id: Option<String>,
    /// Every attached interface, including the primary one (device index 0).
    pub network_interfaces: Vec<InstanceInterface>,
}

/// One interface as `DescribeInstances` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInterface {
    /// `eni-…`.
    pub network_interface_id: String,
    /// `eni-attach-…`.
    pub attachment_id: String,
    /// Device index.
    pub device_index: i32,
    /// Network card index.
    pub network_card_index: i32,
    /// Attachment status.
    pub status: AttachmentStatus,
    /// DeleteOnTermination.
    pub delete_on_termination: bool,
}

/// `InstanceState.Name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Launching.
    Pending,
    /// Running.
    Running,
    /// Terminating.
    ShuttingDown,
    /// Gone (EC2 still lists it for about an hour).
    Terminated,
    /// Stopping.
    Stopping,
    /// Stopped.
    Stopped,
    /// A state this code does not know.
    Unknown(String),
}

impl InstanceState {
    /// Parses EC2's wire value.
    pub fn parse(s: &str) -> InstanceState {
        match s {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            other => InstanceState::Unknown(other.to_string()),
        }
    }

    /// EC2's wire value.
    pub fn as_str(&self) -> &str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Unknown(s) => s,
        }
    }

    /// Terminated or on its way there: the node is gone for good.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            InstanceState::ShuttingDown | InstanceState::Terminated
        )
    }
}

/// A subnet (`DescribeSubnets` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone.
    pub availability_zone: String,
    /// IPv4 CIDR.
    pub cidr_block: String,
    /// Free IPv4 addresses; zero means creating an ENI here will fail.
    pub available_ip_address_count: u32,
    /// Tags.
    pub tags: Tags,
}

impl Subnet {
    /// The `Name` tag.
    pub fn name(&self) -> Option<&str> {
        self.tags.get(NAME_TAG).map(String::as_str)
    }
}

/// A security group (`DescribeSecurityGroups` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// `GroupName` (unique within a VPC).
    pub name: String,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
}

/// How many interfaces an instance type takes (`DescribeInstanceTypes` → `NetworkInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTypeLimits {
    /// e.g. `m5.large`.
    pub instance_type: String,
    /// `MaximumNetworkInterfaces`: across all cards, including the primary interface.
    pub max_network_interfaces: u32,
    /// `MaximumNetworkCards` (1 on most types).
    pub max_network_cards: u32,
    /// `DefaultNetworkCardIndex`: the card the primary interface sits on.
    pub default_network_card_index: u32,
    /// `NetworkCards[]`: per-card limits.
    pub network_cards: Vec<NetworkCardLimit>,
}

/// One entry of `NetworkInfo.NetworkCards`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkCardLimit {
    /// `NetworkCardIndex`.
    pub index: u32,
    /// `MaximumNetworkInterfaces` on this card.
    pub max_network_interfaces: u32,
}

impl InstanceTypeLimits {
    /// The interface limit of one card: its own entry, or the whole limit when EC2 lists none.
    pub fn max_interfaces_on_card(&self, card: u32) -> Option<u32> {
        if self.network_cards.is_empty() {
            return (card == 0).then_some(self.max_network_interfaces);
        }
        self.network_cards
            .iter()
            .find(|c| c.index == card)
            .map(|c| c.max_network_interfaces)
    }
}

/// One page of a paginated describe: the items and the token for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// `Some` when there are more pages; pass it back as `next_token`.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// A single, final page.
    pub fn last(items: Vec<T>) -> Page<T> {
        Page {
            items,
            next_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for s in [
            "available",
            "attaching",
            "in-use",
            "detaching",
            "associated",
        ] {
            assert_eq!(EniStatus::parse(s).as_str(), s);
        }
        for s in ["attaching", "attached", "detaching", "detached"] {
            assert_eq!(AttachmentStatus::parse(s).as_str(), s);
        }
        for s in [
            "pending",
            "running",
            "shutting-down",
            "terminated",
            "stopping",
            "stopped",
        ] {
            assert_eq!(InstanceState::parse(s).as_str(), s);
        }
        assert_eq!(
            EniStatus::parse("weird"),
            EniStatus::Unknown("weird".into())
        );
    }

    #[test]
    fn only_a_finished_detach_frees_the_device_index() {
        assert!(AttachmentStatus::Attaching.holds_device_index());
        assert!(AttachmentStatus::Attached.holds_device_index());
        assert!(AttachmentStatus::Detaching.holds_device_index());
        assert!(!AttachmentStatus::Detached.holds_device_index());
    }

    #[test]
    fn per_card_limit_falls_back_to_the_total_on_single_card_types() {
        let single = InstanceTypeLimits {
            instance_type: "t3.medium".into(),
            max_network_interfaces: 3,
            max_network_cards: 1,
            default_network_card_index: 0,
            network_cards: vec![],
        };
        assert_eq!(single.max_interfaces_on_card(0), Some(3));
        assert_eq!(single.max_interfaces_on_card(1), None);
        let dual = InstanceTypeLimits {
            network_cards: vec![
                NetworkCardLimit {
                    index: 0,
                    max_network_interfaces: 7,
                },
                NetworkCardLimit {
                    index: 1,
                    max_network_interfaces: 7,
                },
            ],
            max_network_interfaces: 14,
            max_network_cards: 2,
            ..single
        };
        assert_eq!(dual.max_interfaces_on_card(1), Some(7));
        assert_eq!(dual.max_interfaces_on_card(2), None);
    }
}
