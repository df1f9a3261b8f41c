//! The EC2 contract suite through the `aws-sdk-ec2` adapter against moto (`moto[server]`
//! 5.2.5 from `bash scripts/install-test-deps.sh`), one fresh server per case.

mod support;

use std::sync::Arc;

use multi_eni_ec2_sim::contract::World;

async fn moto_world() -> Arc<dyn World> {
    Arc::new(support::moto_world::MotoWorld::start().await)
}

multi_eni_ec2_sim::contract_suite!(moto_world);
