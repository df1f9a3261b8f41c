//! The facts about a node the fleet plan needs: who it is (name, UID, labels) and which EC2
//! instance backs it. The instance comes from `spec.providerID`; its AZ and type from EC2, which is
//! authoritative (the zone label is only a hint, and can be wrong on a re-used node name).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use multi_eni_ec2::{InstanceState, InstanceTypeLimits};

/// A node as the fleet plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFacts {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
}

impl NodeFacts {
    /// The facts of a Node object.
    pub fn from_node(node: &Node) -> NodeFacts {
        NodeFacts {
            name: node.metadata.name.clone().unwrap_or_default(),
            uid: node.metadata.uid.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            provider_id: node.spec.as_ref().and_then(|s| s.provider_id.clone()),
        }
    }

    /// The EC2 instance behind the node, from its providerID.
    pub fn instance_id(&self) -> Option<&str> {
        self.provider_id
            .as_deref()
            .and_then(parse_provider_id)
            .map(|p| p.instance_id)
    }
}

/// The parts of an AWS providerID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderId<'a> {
    /// The zone the cloud provider wrote (a hint only).
    pub zone: Option<&'a str>,
    /// `i-…`.
    pub instance_id: &'a str,
}

/// Parses `aws:///<az>/<instance-id>` (also `aws:///<instance-id>`). Anything else — another
/// cloud, a Fargate pod's `…/fargate-…`, an empty string — is not an EC2 instance.
pub fn parse_provider_id(provider_id: &str) -> Option<ProviderId<'_>> {
    let rest = provider_id.strip_prefix("aws://")?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let (instance_id, before) = parts.split_last()?;
    let id_ok = instance_id
        .strip_prefix("i-")
        .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !id_ok || before.len() > 1 {
        return None;
    }
    Some(ProviderId {
        zone: before.first().copied(),
        instance_id,
    })
}

/// What EC2 said about one instance (DescribeInstances, plus DescribeInstanceTypes for limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceLookup {
    /// The instance exists (in any state).
    Found(InstanceFacts),
    /// EC2 does not know the instance (`InvalidInstanceID.NotFound`, or absent from the answer).
    NotFound,
}

/// The facts of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    /// Placement AZ: decides which subnets apply.
    pub availability_zone: String,
    /// e.g. `m5.large`.
    pub instance_type: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// The type's interface limits; `None` while unknown (not described yet, or the describe
    /// failed) — the plan then holds the node as it is.
    pub limits: Option<InstanceTypeLimits>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_id_with_zone_gives_instance_and_zone_hint() {
        let p = parse_provider_id("aws:///us-east-1a/i-0123456789abcdef0").expect("parses");
        assert_eq!(p.instance_id, "i-0123456789abcdef0");
        assert_eq!(p.zone, Some("us-east-1a"));
        let p = parse_provider_id("aws:///i-0abc").expect("parses");
        assert_eq!((p.instance_id, p.zone), ("i-0abc", None));
    }

    #[test]
    fn provider_ids_that_are_not_ec2_instances_are_refused() {
        for bad in [
            "",
            "gce://project/zone/name",
            "aws:///us-east-1a/fargate-ip-10-0-0-1",
            "aws:///us-east-1a/i-",
            "aws:///us-east-1a/i-xyz",
            "aws:///a/b/i-0abc",
            "kind://docker/kind/kind-worker",
        ] {
            assert_eq!(parse_provider_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn node_facts_come_from_metadata_and_provider_id() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "uid": "u1", "labels": {"a": "b"}},
            "spec": {"providerID": "aws:///us-east-1a/i-0abc"}
        }))
        .expect("valid node");
        let f = NodeFacts::from_node(&node);
        assert_eq!(f.name, "n1");
        assert_eq!(f.uid, "u1");
        assert_eq!(f.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(f.instance_id(), Some("i-0abc"));
    }
}
