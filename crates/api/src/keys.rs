//! Every well-known key of multi-eni, in one place: labels, EC2 tags, finalizers, annotations,
//! condition types and reasons, event reasons.
//!
//! Our EC2 tags live in our own namespace on purpose: the VPC CNI and other ENI cleaners delete
//! ENIs described `aws-K8S-…` or tagged `node.k8s.amazonaws.com/instance_id` / `eks:eni:owner`, so
//! we never use those.

/// Label on every ENIAttachment: the name (or hashed label value) of its NodeENI.
pub const LABEL_NODEENI: &str = "networking.k8s.aws/nodeeni";
/// Label on every ENIAttachment: the node label value (see [`crate::naming::label_value`]).
/// The agent watches only objects carrying its own node's value.
pub const LABEL_NODE: &str = "networking.k8s.aws/node";
/// Label on every ENIAttachment: the subnet it puts an ENI in.
pub const LABEL_SUBNET: &str = "networking.k8s.aws/subnet";
/// Marks objects created by multi-eni (the standard `app.kubernetes.io/managed-by`).
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "multi-eni";

/// Finalizer on each ENIAttachment: its ENI is detached and deleted in EC2 before the object goes.
pub const FINALIZER_ENI_CLEANUP: &str = "multi-eni.k8s.aws/eni-cleanup";
/// Finalizer on each NodeENI: its ENIAttachments are gone before the NodeENI goes.
pub const FINALIZER_NODEENI: &str = "multi-eni.k8s.aws/nodeeni-cleanup";
/// The Go controller's NodeENI finalizer. NodeENIs migrated from it still carry it; we remove it
/// once we own the cleanup so such objects can be deleted.
pub const LEGACY_FINALIZER_NODEENI: &str = "nodeeni.networking.k8s.aws/finalizer";

/// Annotation on an ENIAttachment created for a (node, subnet) the Go controller had already
/// served: the ID of the ENI it made (from the NodeENI's `status.attachments[]`). The attachment
/// adopts that ENI — after checking it is attached to the node's instance in that subnet — instead
/// of creating one.
pub const ANNOTATION_ADOPT_ENI: &str = "multi-eni.k8s.aws/adopt-eni";

/// EC2 tag: the cluster the ENI belongs to. Scopes garbage collection.
pub const TAG_CLUSTER: &str = "multi-eni.k8s.aws/cluster";
/// EC2 tag: the NodeENI that asked for the ENI.
pub const TAG_NODEENI: &str = "multi-eni.k8s.aws/nodeeni";
/// EC2 tag: the UID of the ENIAttachment that owns the ENI — the adoption key after a crash.
pub const TAG_ATTACHMENT: &str = "multi-eni.k8s.aws/attachment";
/// EC2 tag: the node name.
pub const TAG_NODE: &str = "multi-eni.k8s.aws/node";
/// EC2 tag: the instance ID the ENI is meant for.
pub const TAG_INSTANCE_ID: &str = "multi-eni.k8s.aws/instance-id";
/// EC2 tag the VPC CNI honours: it will not manage (or clean up) an ENI carrying it.
pub const TAG_NO_MANAGE: &str = "node.k8s.amazonaws.com/no_manage";
/// The value of [`TAG_NO_MANAGE`].
pub const TAG_NO_MANAGE_VALUE: &str = "true";

/// Condition types. NodeENI uses Ready, Progressing and Degraded (plus Truncated when the
/// compatibility view is capped); ENIAttachment uses Ready and the agent's InterfaceReady.
pub mod condition {
    /// Everything desired exists and is configured.
    pub const READY: &str = "Ready";
    /// Work is under way towards the desired state.
    pub const PROGRESSING: &str = "Progressing";
    /// Something needs a person: the reason says what.
    pub const DEGRADED: &str = "Degraded";
    /// `status.attachments` is capped; the ENIAttachments hold the full truth.
    pub const ATTACHMENTS_TRUNCATED: &str = "AttachmentsTruncated";
    /// The agent has configured the interface (agent-owned, on ENIAttachment).
    pub const INTERFACE_READY: &str = "InterfaceReady";
}

/// Condition and event reasons: CamelCase words a person can act on.
pub mod reason {
    /// All desired ENIs are attached and configured.
    pub const ALL_READY: &str = "AllReady";
    /// No node matches the selector; nothing to do.
    pub const NO_MATCHING_NODES: &str = "NoMatchingNodes";
    /// ENIs are being created, attached or configured.
    pub const RECONCILING: &str = "Reconciling";
    /// A subnet named in the spec does not exist (or its name matches nothing).
    pub const SUBNET_NOT_FOUND: &str = "SubnetNotFound";
    /// A subnet name matches several subnets in the VPC.
    pub const SUBNET_AMBIGUOUS: &str = "SubnetAmbiguous";
    /// A security group named in the spec does not exist.
    pub const SECURITY_GROUP_NOT_FOUND: &str = "SecurityGroupNotFound";
    /// A security group name matches several groups in the VPC.
    pub const SECURITY_GROUP_AMBIGUOUS: &str = "SecurityGroupAmbiguous";
    /// No listed subnet is in the node's availability zone.
    pub const AZ_MISMATCH: &str = "AZMismatch";
    /// The instance type cannot take that many interfaces.
    pub const LIMIT_EXCEEDED: &str = "LimitExceeded";
    /// The controller's IAM role lacks a needed EC2 permission.
    pub const MISSING_IAM_PERMISSIONS: &str = "MissingIAMPermissions";
    /// The node's instance is gone (terminated or not found).
    pub const INSTANCE_GONE: &str = "InstanceGone";
    /// EC2 is throttling us; we are backing off.
    pub const THROTTLED: &str = "Throttled";
    /// The node has no `aws:///<az>/<instance-id>` providerID: it is not an EC2 instance.
    pub const NODE_NOT_ON_EC2: &str = "NodeNotOnEC2";
    /// EC2 refused a request as invalid; retrying the same request cannot help.
    pub const INVALID_REQUEST: &str = "InvalidRequest";
    /// EC2 failed in a way worth retrying (server error, timeout, lost response).
    pub const EC2_UNAVAILABLE: &str = "EC2Unavailable";
    /// The agent found the interface and configured it.
    pub const INTERFACE_CONFIGURED: &str = "InterfaceConfigured";
    /// The agent waits for the interface with the attachment's MAC to appear.
    pub const INTERFACE_NOT_FOUND: &str = "InterfaceNotFound";
    /// The agent could not configure the interface; the message says why.
    pub const INTERFACE_CONFIG_FAILED: &str = "InterfaceConfigFailed";
    /// The device is bound to its DPDK driver.
    pub const DPDK_BOUND: &str = "DPDKBound";
    /// Binding to the DPDK driver failed and was rolled back.
    pub const DPDK_BIND_FAILED: &str = "DPDKBindFailed";
    /// The agent let go of the interface for detachment.
    pub const RELEASED: &str = "Released";
    /// An ENI made by the Go controller was adopted: it now carries our tags.
    pub const ADOPTED: &str = "Adopted";
    /// An ENI named by the Go controller's status was not what the entry said; a new one is made.
    pub const ADOPTION_REFUSED: &str = "AdoptionRefused";
}

/// The tags every ENI we create carries, for one ENIAttachment. Tags are set at creation
/// (`TagSpecifications`) so an ENI is never untagged, even for a moment.
pub fn eni_tags(
    cluster: &str,
    node_eni: &str,
    attachment_uid: &str,
    node: &str,
    instance_id: &str,
) -> std::collections::BTreeMap<String, String> {
    [
        (TAG_CLUSTER, cluster),
        (TAG_NODEENI, node_eni),
        (TAG_ATTACHMENT, attachment_uid),
        (TAG_NODE, node),
        (TAG_INSTANCE_ID, instance_id),
        (TAG_NO_MANAGE, TAG_NO_MANAGE_VALUE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eni_tags_never_use_names_other_cleaners_delete() {
        let tags = eni_tags("c", "ne", "uid", "node", "i-0123456789abcdef0");
        for key in tags.keys() {
            assert_ne!(key, "node.k8s.amazonaws.com/instance_id");
            assert_ne!(key, "eks:eni:owner");
        }
        assert_eq!(tags.get(TAG_NO_MANAGE).map(String::as_str), Some("true"));
        assert_eq!(tags.get(TAG_ATTACHMENT).map(String::as_str), Some("uid"));
        assert_eq!(tags.len(), 6);
    }
}
