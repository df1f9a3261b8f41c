//! The simulator as a contract [`World`].

use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::Ec2;

use super::{Behaviour, World};
use crate::config::SimConfig;
use crate::sim::Ec2Sim;

/// Runs the contract against an [`Ec2Sim`]: AWS-like delays, lag and buckets, 100× faster.
#[derive(Clone)]
pub struct SimWorld {
    sim: Arc<Ec2Sim>,
    /// What the cases call: the simulator itself, or a wrapper around it.
    port: Arc<dyn Ec2>,
    /// The name the cases report.
    name: &'static str,
    /// Whatever the port needs alive for as long as the world (e.g. a server it calls).
    _keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SimWorld {
    /// The standard contract configuration: [`SimConfig::default`] at time scale 100 (a
    /// 2 s attach takes 20 ms; consistency lag 10 ms).
    pub fn new(seed: u64) -> SimWorld {
        SimWorld::with_sim(Arc::new(Ec2Sim::new(
            SimConfig::default().with_seed(seed).with_time_scale(100.0),
        )))
    }

    /// A world over an existing simulator.
    pub fn with_sim(sim: Arc<Ec2Sim>) -> SimWorld {
        SimWorld {
            port: sim.clone(),
            sim,
            name: "simulator",
            _keep: None,
        }
    }

    /// The same setup, but the cases call `port` — a wrapper around [`SimWorld::sim`], e.g.
    /// one with a planted flaw, to prove a case can fail.
    pub fn with_port(self, port: Arc<dyn Ec2>) -> SimWorld {
        SimWorld { port, ..self }
    }

    /// The same world under another name, keeping `keep` alive as long as it lives (e.g. the
    /// server a [`SimWorld::with_port`] port calls).
    pub fn named(self, name: &'static str, keep: impl std::any::Any + Send + Sync) -> SimWorld {
        SimWorld {
            name,
            _keep: Some(Arc::new(keep)),
            ..self
        }
    }

    /// The simulator.
    pub fn sim(&self) -> &Arc<Ec2Sim> {
        &self.sim
    }
}

#[async_trait]
impl World for SimWorld {
    fn name(&self) -> &str {
        self.name
    }

    fn ec2(&self) -> Arc<dyn Ec2> {
        self.port.clone()
    }

    fn models(&self, _b: Behaviour) -> bool {
        true
    }

    async fn create_vpc(&self, cidr: &str) -> String {
        self.sim.add_vpc(cidr).expect("add_vpc")
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String {
        self.sim
            .add_subnet(vpc_id, zone, cidr, name)
            .expect("add_subnet")
    }

    async fn create_security_group(&self, vpc_id: &str, name: &str) -> String {
        self.sim
            .add_security_group(vpc_id, name)
            .expect("add_security_group")
    }

    async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String {
        self.sim
            .launch_instance(subnet_id, instance_type)
            .expect("launch_instance")
    }

    async fn stop_instance(&self, instance_id: &str) {
        self.sim.stop_instance(instance_id).expect("stop_instance")
    }

    async fn start_instance(&self, instance_id: &str) {
        self.sim
            .start_instance(instance_id)
            .expect("start_instance")
    }

    async fn terminate_instance(&self, instance_id: &str) {
        self.sim
            .terminate_instance(instance_id)
            .expect("terminate_instance")
    }
}
