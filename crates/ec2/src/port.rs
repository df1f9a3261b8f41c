//! The EC2 port: everything the controller asks of EC2, one method per EC2 request.

use async_trait::async_trait;

use crate::error::Ec2Error;
use crate::model::{
    Instance, InstanceTypeLimits, NetworkInterface, Page, SecurityGroup, Subnet, Tags,
};
use crate::request::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, EniAttributeChange,
};

/// The EC2 API as the controller sees it. Implemented by the `aws-sdk-ec2` adapter
/// (`multi-eni-ec2-aws`) and the simulator (`multi-eni-ec2-sim`); used as `Arc<dyn Ec2>`.
///
/// One method issues exactly one EC2 request (paginated describes return one page and its
/// `next_token`), so call counts, throttling and metrics mean the same thing on both sides.
/// The one exception is documented on [`Ec2::attach_network_interface`].
#[async_trait]
pub trait Ec2: Send + Sync + std::fmt::Debug {
    /// `CreateNetworkInterface`, tagged at creation. With a `client_token`, a retry after a
    /// lost response returns the interface the first request created.
    async fn create_network_interface(&self, req: &CreateEni)
    -> Result<NetworkInterface, Ec2Error>;

    /// `AttachNetworkInterface`. Not idempotent: describe first. EC2 reports an occupied
    /// device index as `InvalidParameterValue`; implementations then spend one
    /// `DescribeInstances` to tell that case apart and return
    /// [`crate::ErrorKind::DeviceIndexInUse`] (see [`crate::attach_conflict`]).
    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error>;

    /// `ModifyNetworkInterfaceAttribute` for one attribute.
    async fn modify_network_interface_attribute(
        &self,
        network_interface_id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error>;

    /// `DetachNetworkInterface` (normal or forced). Returns when EC2 accepted it; the
    /// interface becomes `available` later.
    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error>;

    /// `DeleteNetworkInterface`. EC2 refuses while the interface is attached, with the
    /// generic `InvalidParameterValue`; implementations refine that to
    /// [`crate::ErrorKind::IncorrectState`] with one describe ([`crate::delete_conflict`]).
    async fn delete_network_interface(&self, network_interface_id: &str) -> Result<(), Ec2Error>;

    /// `CreateTags` on network interfaces: adds `tags` to every one of `resource_ids`,
    /// overwriting the value of a key already present and leaving other tags alone. All or
    /// nothing: an unknown ID (`InvalidNetworkInterfaceID.NotFound`) or a resource that would
    /// pass EC2's 50-tag limit (`TagLimitExceeded`) fails the whole request.
    async fn create_tags(&self, resource_ids: &[String], tags: &Tags) -> Result<(), Ec2Error>;

    /// One page of `DescribeNetworkInterfaces`.
    async fn describe_network_interfaces(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error>;

    /// One page of `DescribeInstances` (reservations flattened).
    async fn describe_instances(&self, query: &DescribeQuery) -> Result<Page<Instance>, Ec2Error>;

    /// One page of `DescribeSubnets`.
    async fn describe_subnets(&self, query: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error>;

    /// One page of `DescribeSecurityGroups`.
    async fn describe_security_groups(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error>;

    /// One page of `DescribeInstanceTypes` (`ids` are instance type names).
    async fn describe_instance_types(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error>;
}
