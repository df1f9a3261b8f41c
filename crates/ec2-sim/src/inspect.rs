//! Looking at the simulated account as it really is (no lag, not counted, not throttled):
//! what tests and benchmarks check their invariants against — no leaked interface, never
//! two for one owner, everything desired attached.

use multi_eni_ec2::{Instance, NetworkInterface, Subnet};
use tokio::time::Instant;

use crate::sim::Ec2Sim;

impl Ec2Sim {
    fn settled<T>(&self, f: impl FnOnce(&crate::state::State) -> T) -> T {
        let mut guard = self.lock();
        let now = guard.state.tick(Instant::now());
        guard.state.settle(now, &self.config);
        f(&guard.state)
    }

    /// Every interface that exists now, primary ones included, by ID.
    pub fn network_interfaces(&self) -> Vec<NetworkInterface> {
        self.settled(|s| s.enis.values().map(|r| r.view.clone()).collect())
    }

    /// Interfaces carrying tag `key` = `value`.
    pub fn network_interfaces_tagged(&self, key: &str, value: &str) -> Vec<NetworkInterface> {
        self.settled(|s| {
            s.enis
                .values()
                .filter(|r| r.view.tags.get(key).map(String::as_str) == Some(value))
                .map(|r| r.view.clone())
                .collect()
        })
    }

    /// One interface as it is now.
    pub fn network_interface(&self, id: &str) -> Option<NetworkInterface> {
        self.settled(|s| s.enis.get(id).map(|r| r.view.clone()))
    }

    /// One instance as it is now (`None` once terminated and gone).
    pub fn instance(&self, id: &str) -> Option<Instance> {
        self.settled(|s| s.instance_now(id))
    }

    /// One subnet as it is now.
    pub fn subnet(&self, id: &str) -> Option<Subnet> {
        self.settled(|s| s.subnets.get(id).map(|r| r.view.clone()))
    }

    /// Interfaces stuck in `detaching` by fault injection (they need a forced detach).
    pub fn stuck_detaches(&self) -> Vec<String> {
        self.settled(|s| {
            s.enis
                .iter()
                .filter(|(_, r)| r.stuck)
                .map(|(id, _)| id.clone())
                .collect()
        })
    }
}
