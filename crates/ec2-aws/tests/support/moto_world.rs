//! moto as a contract [`World`]: the adapter under test for the port, raw `aws-sdk-ec2`
//! calls for setup. [`MotoWorld::models`] records the gaps measured against moto 5.2.5.

use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::Ec2;
use multi_eni_ec2_aws::testing::Ec2Setup;
use multi_eni_ec2_sim::contract::{Behaviour, World};

use super::moto::MotoServer;

/// One moto server per world (fresh state per test).
#[derive(Debug)]
pub struct MotoWorld {
    setup: Ec2Setup,
    ec2: Arc<dyn Ec2>,
    _server: MotoServer,
}

impl MotoWorld {
    /// Starts moto and connects the adapter to it.
    pub async fn start() -> MotoWorld {
        let server = MotoServer::start().await;
        let (adapter, _registry) = super::adapter(&server.endpoint);
        MotoWorld {
            setup: Ec2Setup::new(&server.endpoint),
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
        self.setup.create_vpc(cidr).await
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String {
        self.setup.create_subnet(vpc_id, zone, cidr, name).await
    }

    async fn create_security_group(&self, vpc_id: &str, name: &str) -> String {
        self.setup.create_security_group(vpc_id, name).await
    }

    async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String {
        self.setup.launch_instance(subnet_id, instance_type).await
    }

    async fn stop_instance(&self, instance_id: &str) {
        self.setup.stop_instance(instance_id).await
    }

    async fn start_instance(&self, instance_id: &str) {
        self.setup.start_instance(instance_id).await
    }

    async fn terminate_instance(&self, instance_id: &str) {
        self.setup.terminate_instance(instance_id).await
    }
}
