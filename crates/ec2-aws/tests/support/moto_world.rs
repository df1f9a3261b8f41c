//! moto as a contract [`World`]: the adapter under test for the port, raw `aws-sdk-ec2`
//! calls for setup. [`MotoWorld::models`] records the gaps measured against moto 5.2.5.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use multi_eni_ec2::Ec2;
use multi_eni_ec2_sim::contract::{Behaviour, World};

use super::moto::MotoServer;

/// A Linux AMI from moto's built-in catalogue (`moto/ec2/resources/amis.json.gz`).
const AMI: &str = "ami-760aaa0f";

/// One moto server per world (fresh state per test).
#[derive(Debug)]
pub struct MotoWorld {
    raw: aws_sdk_ec2::Client,
    ec2: Arc<dyn Ec2>,
    _server: MotoServer,
}

impl MotoWorld {
    /// Starts moto and connects the adapter to it.
    pub async fn start() -> MotoWorld {
        let server = MotoServer::start().await;
        let sdk = super::sdk_config(&server.endpoint);
        let (adapter, _registry) = super::adapter(&server.endpoint);
        MotoWorld {
            raw: aws_sdk_ec2::Client::new(&sdk),
            ec2: Arc::new(adapter),
            _server: server,
        }
    }
}

#[async_trait]
impl World for MotoWorld {
    fn name(&self) -> &str {
        "moto"
    }

    fn ec2(&self) -> Arc<dyn Ec2> {
        self.ec2.clone()
    }

    /// Measured against moto 5.2.5 (see `docs/ec2.md`). To re-measure after a moto
    /// upgrade, run the suite with `MULTI_ENI_MOTO_ASSUME_MODELLED=1`: every case then
    /// asserts the full behaviour, and the failures are the gaps.
    fn models(&self, b: Behaviour) -> bool {
        if std::env::var_os("MULTI_ENI_MOTO_ASSUME_MODELLED").is_some() {
            return true;
        }
        match b {
            Behaviour::DeviceIndexConflicts
            | Behaviour::AttachmentLimits
            | Behaviour::AttachTransitions
            | Behaviour::InUseChecks
            | Behaviour::DeleteOnTermination
            | Behaviour::DeleteOnTerminationModify
            | Behaviour::ClientToken
            | Behaviour::AttachmentStatusFilter
            | Behaviour::AttachmentDeviceIndexFilter
            | Behaviour::Pagination
            | Behaviour::AzMismatch
            | Behaviour::NetworkCards
            | Behaviour::GroupValidation
            | Behaviour::UnknownFilterNames
            | Behaviour::ForcedDetachHoldsIndex
            | Behaviour::TagUnknownResourceChecks => false,
            Behaviour::IdsWithMaxResults | Behaviour::FreeAddressAccounting => true,
        }
    }

    async fn create_vpc(&self, cidr: &str) -> String {
        let out = self
            .raw
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .expect("moto CreateVpc");
        out.vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string()
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String {
        let mut call = self
            .raw
            .create_subnet()
            .vpc_id(vpc_id)
            .availability_zone(zone)
            .cidr_block(cidr);
        if let Some(n) = name {
            call = call.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(Tag::builder().key("Name").value(n).build())
                    .build(),
            );
        }
        let out = call.send().await.expect("moto CreateSubnet");
        out.subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string()
    }

    async fn create_security_group(&self, vpc_id: &str, name: &str) -> String {
        let out = self
            .raw
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(name)
            .send()
            .await
            .expect("moto CreateSecurityGroup");
        out.group_id().expect("group id").to_string()
    }

    async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String {
        let out = self
            .raw
            .run_instances()
            .image_id(AMI)
            .instance_type(InstanceType::from(instance_type))
            .subnet_id(subnet_id)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("moto RunInstances");
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .expect("instance id")
            .to_string()
    }

    async fn stop_instance(&self, instance_id: &str) {
        self.raw
            .stop_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto StopInstances");
    }

    async fn start_instance(&self, instance_id: &str) {
        self.raw
            .start_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto StartInstances");
    }

    async fn terminate_instance(&self, instance_id: &str) {
        self.raw
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto TerminateInstances");
    }
}
