//! The EC2 contract suite against the simulator (AWS-like delays, lag and buckets at 100×).

use std::sync::Arc;

use multi_eni_ec2_sim::contract::{SimWorld, World};

async fn sim_world() -> Arc<dyn World> {
    Arc::new(SimWorld::new(42))
}

multi_eni_ec2_sim::contract_suite!(sim_world);
