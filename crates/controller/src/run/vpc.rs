//! The VPC that subnet and security-group *names* are resolved in. A name is only unique within
//! a VPC, so it is the configured one, or else learnt once from a selected node's instance (every
//! node of a cluster sits in the cluster's VPC) and remembered for the life of the process.

use parking_lot::Mutex;

use multi_eni_ec2::Instance;

/// The discovered VPC, shared by every NodeENI reconcile.
#[derive(Debug, Default)]
pub struct VpcCache {
    learnt: Mutex<Option<String>>,
}

impl VpcCache {
    /// The VPC to resolve names in: `configured` when set, else the one learnt before, else the
    /// first VPC among `instances` (then remembered). `None` while nothing tells.
    pub fn resolve<'a>(
        &self,
        configured: Option<&str>,
        instances: impl IntoIterator<Item = &'a Instance>,
    ) -> Option<String> {
        if let Some(vpc) = configured {
            return Some(vpc.to_owned());
        }
        // Every change is one assignment: a poisoned lock is still consistent.
        let mut learnt = self.learnt.lock();
        if learnt.is_none() {
            *learnt = instances.into_iter().find_map(|i| i.vpc_id.clone());
        }
        learnt.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::InstanceState;

    fn instance(vpc: Option<&str>) -> Instance {
        Instance {
            id: "i-0001".into(),
            state: InstanceState::Running,
            availability_zone: "us-east-1a".into(),
            instance_type: "m5.large".into(),
            subnet_id: None,
            vpc_id: vpc.map(str::to_owned),
            network_interfaces: Vec::new(),
        }
    }

    #[test]
    fn configured_vpc_wins_over_instances() {
        let c = VpcCache::default();
        let i = [instance(Some("vpc-b"))];
        assert_eq!(c.resolve(Some("vpc-a"), &i), Some("vpc-a".into()));
    }

    #[test]
    fn vpc_is_learnt_from_the_first_instance_that_has_one_and_kept() {
        let c = VpcCache::default();
        assert_eq!(c.resolve(None, &[instance(None)]), None);
        let i = [instance(None), instance(Some("vpc-b"))];
        assert_eq!(c.resolve(None, &i), Some("vpc-b".into()));
        // Learnt once: later reconciles (even with no node) still know it.
        assert_eq!(c.resolve(None, &[]), Some("vpc-b".into()));
    }
}
