//! The EC2 API actions the controller uses: one [`Op`] per request type, named exactly as EC2
//! names the action, so metrics, call counters, throttling buckets and error messages agree.

use std::fmt;

/// One EC2 API action. Every [`crate::Ec2`] method issues exactly one request of one `Op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `CreateNetworkInterface`.
    CreateNetworkInterface,
    /// `AttachNetworkInterface`.
    AttachNetworkInterface,
    /// `ModifyNetworkInterfaceAttribute` (one attribute per request, as EC2 requires).
    ModifyNetworkInterfaceAttribute,
    /// `DetachNetworkInterface`.
    DetachNetworkInterface,
    /// `DeleteNetworkInterface`.
    DeleteNetworkInterface,
    /// `DescribeNetworkInterfaces`.
    DescribeNetworkInterfaces,
    /// `DescribeInstances`.
    DescribeInstances,
    /// `DescribeSubnets`.
    DescribeSubnets,
    /// `DescribeSecurityGroups`.
    DescribeSecurityGroups,
    /// `DescribeInstanceTypes`.
    DescribeInstanceTypes,
    /// `CreateTags` (on network interfaces: adopting an ENI another controller made).
    CreateTags,
}

/// Whether an action changes anything. EC2 sizes its throttling buckets by this category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// Create, attach, modify, detach, delete, tag.
    Mutating,
    /// `Describe*`.
    NonMutating,
}

impl Op {
    /// Every action, in a stable order (metrics registration, counters, docs).
    pub const ALL: [Op; 11] = [
        Op::CreateNetworkInterface,
        Op::AttachNetworkInterface,
        Op::ModifyNetworkInterfaceAttribute,
        Op::DetachNetworkInterface,
        Op::DeleteNetworkInterface,
        Op::DescribeNetworkInterfaces,
        Op::DescribeInstances,
        Op::DescribeSubnets,
        Op::DescribeSecurityGroups,
        Op::DescribeInstanceTypes,
        Op::CreateTags,
    ];

    /// The EC2 action name, as it appears on the wire (`Action=`) and in CloudTrail.
    pub fn action(self) -> &'static str {
        match self {
            Op::CreateNetworkInterface => "CreateNetworkInterface",
            Op::AttachNetworkInterface => "AttachNetworkInterface",
            Op::ModifyNetworkInterfaceAttribute => "ModifyNetworkInterfaceAttribute",
            Op::DetachNetworkInterface => "DetachNetworkInterface",
            Op::DeleteNetworkInterface => "DeleteNetworkInterface",
            Op::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Op::DescribeInstances => "DescribeInstances",
            Op::DescribeSubnets => "DescribeSubnets",
            Op::DescribeSecurityGroups => "DescribeSecurityGroups",
            Op::DescribeInstanceTypes => "DescribeInstanceTypes",
            Op::CreateTags => "CreateTags",
        }
    }

    /// The `Op` for an EC2 action name; `None` for actions we never call.
    pub fn from_action(action: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.action() == action)
    }

    /// Mutating or not.
    pub fn family(self) -> ApiFamily {
        match self {
            Op::CreateNetworkInterface
            | Op::AttachNetworkInterface
            | Op::ModifyNetworkInterfaceAttribute
            | Op::DetachNetworkInterface
            | Op::DeleteNetworkInterface
            | Op::CreateTags => ApiFamily::Mutating,
            Op::DescribeNetworkInterfaces
            | Op::DescribeInstances
            | Op::DescribeSubnets
            | Op::DescribeSecurityGroups
            | Op::DescribeInstanceTypes => ApiFamily::NonMutating,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action())
    }
}

impl ApiFamily {
    /// A short label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFamily::Mutating => "mutating",
            ApiFamily::NonMutating => "non_mutating",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_action(op.action()), Some(op));
        }
        assert_eq!(Op::from_action("RunInstances"), None);
    }

    #[test]
    fn describes_are_non_mutating_and_the_rest_mutate() {
        for op in Op::ALL {
            let describe = op.action().starts_with("Describe");
            assert_eq!(op.family() == ApiFamily::NonMutating, describe, "{op}");
        }
    }
}
