//! The EC2 contract suite through the wire: the cases call the `aws-sdk-ec2` adapter, pointed
//! at `testing::Ec2Server` in front of the simulator of the simulator's own world. Every call
//! passes through the SDK's serializers, the server's Query decoding, the simulator, the
//! server's XML encoding and the SDK's deserializers; a case that passes on the simulator
//! and fails here is a wire bug (ours or the adapter's). One fresh simulator and server per
//! case.

use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::Ec2;
use multi_eni_ec2_aws::testing::{Ec2Server, adapter};
use multi_eni_ec2_sim::contract::{Behaviour, SimWorld, World};

/// The simulator's world, its port replaced by the adapter over HTTP.
#[derive(Debug)]
struct WireSimWorld {
    sim: SimWorld,
    /// Serves for as long as the world lives.
    _server: Ec2Server,
}

async fn wire_sim_world() -> Arc<dyn World> {
    let sim = SimWorld::new(42);
    let server = Ec2Server::start(sim.sim().clone()).await;
    let (ec2, _registry) = adapter(&server.endpoint);
    Arc::new(WireSimWorld {
        sim: sim.with_port(Arc::new(ec2)),
        _server: server,
    })
}

#[async_trait]
impl World for WireSimWorld {
    fn name(&self) -> &str {
        "simulator over the wire"
    }

    fn ec2(&self) -> Arc<dyn Ec2> {
        self.sim.ec2()
    }

    /// Everything the simulator models survives the wire: no case is excused.
    fn models(&self, b: Behaviour) -> bool {
        self.sim.models(b)
    }

    async fn create_vpc(&self, cidr: &str) -> String {
        self.sim.create_vpc(cidr).await
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String {
        self.sim.create_subnet(vpc_id, zone, cidr, name).await
    }

    async fn create_security_group(&self, vpc_id: &str, name: &str) -> String {
        self.sim.create_security_group(vpc_id, name).await
    }

    async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String {
        self.sim.launch_instance(subnet_id, instance_type).await
    }

    async fn stop_instance(&self, instance_id: &str) {
        self.sim.stop_instance(instance_id).await
    }

    async fn start_instance(&self, instance_id: &str) {
        self.sim.start_instance(instance_id).await
    }

    async fn terminate_instance(&self, instance_id: &str) {
        self.sim.terminate_instance(instance_id).await
    }
}

multi_eni_ec2_sim::contract_suite!(wire_sim_world);
