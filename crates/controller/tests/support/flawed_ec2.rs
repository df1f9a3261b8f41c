//! The simulator with one thing wrong, to show the campaign catches it.

use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Page, SecurityGroup,
    Subnet, Tags,
};
use multi_eni_ec2_sim::Ec2Sim;

/// A planted flaw in the EC2 the controller talks to, to show the campaign catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Every DeleteNetworkInterface answers success and deletes nothing.
    DropsDeletes,
}

/// The simulator with one thing wrong (see [`Flaw`]).
#[derive(Debug)]
pub struct Flawed {
    pub sim: Arc<Ec2Sim>,
    pub flaw: Flaw,
}

#[async_trait]
impl Ec2 for Flawed {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        self.sim.create_network_interface(req).await
    }
    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        self.sim.attach_network_interface(req).await
    }
    async fn modify_network_interface_attribute(
        &self,
        id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.sim
            .modify_network_interface_attribute(id, change)
            .await
    }
    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        self.sim.detach_network_interface(req).await
    }
    async fn delete_network_interface(&self, id: &str) -> Result<(), Ec2Error> {
        match self.flaw {
            Flaw::DropsDeletes => {
                tracing::debug!(eni = id, "planted flaw: the delete is dropped");
                Ok(())
            }
        }
    }
    async fn describe_network_interfaces(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        self.sim.describe_network_interfaces(q).await
    }
    async fn create_tags(&self, ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        self.sim.create_tags(ids, tags).await
    }
    async fn describe_instances(&self, q: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.sim.describe_instances(q).await
    }
    async fn describe_subnets(&self, q: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.sim.describe_subnets(q).await
    }
    async fn describe_security_groups(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.sim.describe_security_groups(q).await
    }
    async fn describe_instance_types(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.sim.describe_instance_types(q).await
    }
}
