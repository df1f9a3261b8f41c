//! The EC2 contract suite through the wire: the cases call the `aws-sdk-ec2` adapter, pointed
//! at `testing::Ec2Server` in front of the simulator of the simulator's own world. Every call
//! passes through the SDK's serializers, the server's Query decoding, the simulator, the
//! server's XML encoding and the SDK's deserializers; a case that passes on the simulator
//! and fails here is a wire bug (ours or the adapter's). One fresh simulator and server per
//! case.

use std::sync::Arc;

use multi_eni_ec2_aws::testing::{Ec2Server, adapter};
use multi_eni_ec2_sim::contract::{SimWorld, World};

/// The simulator's world, its port replaced by the adapter over HTTP; everything the simulator
/// models survives the wire, so no case is excused.
async fn wire_sim_world() -> Arc<dyn World> {
    let sim = SimWorld::new(42);
    let server = Ec2Server::start(sim.sim().clone()).await;
    let (ec2, _registry) = adapter(&server.endpoint);
    Arc::new(
        sim.with_port(Arc::new(ec2))
            .named("simulator over the wire", server),
    )
}

multi_eni_ec2_sim::contract_suite!(wire_sim_world);
