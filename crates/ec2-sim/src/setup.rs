//! Building a simulated account: VPCs, subnets, security groups and instances, and changing
//! instance state from outside (stop, start, terminate) — what the controller tests,
//! benchmarks and `multi-eni sandbox` set up. Setup calls are immediate, free, never
//! throttled and never faulted.

use multi_eni_ec2::{
    AttachmentStatus, EniAttachment, EniStatus, InstanceState, NAME_TAG, NetworkInterface,
    SecurityGroup, Tags,
};
use std::time::Duration;

use tokio::time::Instant;

use crate::instance_types;
use crate::sim::Ec2Sim;
use crate::state::{InstanceRec, State, SubnetRec, VpcRec, parse_cidr};

/// A setup request that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A referenced resource does not exist.
    #[error("{what} {id} does not exist")]
    Missing {
        /// Kind of resource.
        what: &'static str,
        /// Its ID.
        id: String,
    },
    /// A CIDR EC2 would refuse.
    #[error("invalid CIDR {0:?} (EC2 takes /16 to /28)")]
    BadCidr(String),
    /// A subnet CIDR outside its VPC's (EC2: `InvalidSubnet.Range`).
    #[error("subnet CIDR {cidr} is not inside the VPC's {vpc_cidr}")]
    OutsideVpc {
        /// The subnet CIDR.
        cidr: String,
        /// The VPC CIDR.
        vpc_cidr: String,
    },
    /// The simulator does not know the instance type's limits.
    #[error("unknown instance type {0:?}; known: {1}")]
    UnknownInstanceType(String, String),
    /// The subnet has no free address.
    #[error("subnet {0} has no free address")]
    SubnetFull(String),
    /// The instance is not in a state that allows the change.
    #[error("instance {id} is {state}")]
    WrongState {
        /// Instance ID.
        id: String,
        /// Its state.
        state: String,
    },
}

impl Ec2Sim {
    fn setup<T>(&self, f: impl FnOnce(&mut State, Instant) -> T) -> T {
        let mut guard = self.lock();
        let now = guard.state.tick(Instant::now());
        guard.state.settle(now, &self.config);
        f(&mut guard.state, now)
    }

    /// Adds a VPC and its `default` security group; returns the VPC ID.
    pub fn add_vpc(&self, cidr: &str) -> Result<String, SetupError> {
        parse_cidr(cidr).ok_or_else(|| SetupError::BadCidr(cidr.to_string()))?;
        Ok(self.setup(|s, _| {
            let id = s.new_id("vpc");
            let group = s.new_id("sg");
            s.groups.insert(
                group.clone(),
                SecurityGroup {
                    id: group.clone(),
                    name: "default".into(),
                    vpc_id: Some(id.clone()),
                    description: "default VPC security group".into(),
                    tags: Tags::new(),
                },
            );
            s.vpcs.insert(
                id.clone(),
                VpcRec {
                    cidr: cidr.to_string(),
                    default_group: group,
                },
            );
            id
        }))
    }

    /// The VPC's default security group.
    pub fn default_security_group(&self, vpc_id: &str) -> Option<String> {
        self.lock()
            .state
            .vpcs
            .get(vpc_id)
            .map(|v| v.default_group.clone())
    }

    /// Adds a subnet (optionally with a `Name` tag); returns its ID.
    pub fn add_subnet(
        &self,
        vpc_id: &str,
        availability_zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> Result<String, SetupError> {
        let mut tags = Tags::new();
        if let Some(n) = name {
            tags.insert(NAME_TAG.to_string(), n.to_string());
        }
        self.add_subnet_with_tags(vpc_id, availability_zone, cidr, tags)
    }

    /// Adds a subnet with arbitrary tags; returns its ID.
    pub fn add_subnet_with_tags(
        &self,
        vpc_id: &str,
        availability_zone: &str,
        cidr: &str,
        tags: Tags,
    ) -> Result<String, SetupError> {
        self.add_subnet_as(None, vpc_id, availability_zone, cidr, tags)
    }

    /// Adds a subnet with a given ID (`Some`: e.g. the IDs written in a published manifest, so
    /// it applies unchanged) or a fresh one; returns its ID.
    pub fn add_subnet_as(
        &self,
        id: Option<&str>,
        vpc_id: &str,
        availability_zone: &str,
        cidr: &str,
        tags: Tags,
    ) -> Result<String, SetupError> {
        let bad_cidr = || SetupError::BadCidr(cidr.to_string());
        let (base, size) = parse_cidr(cidr).ok_or_else(bad_cidr)?;
        self.setup(|s, _| {
            let Some(vpc) = s.vpcs.get(vpc_id) else {
                return Err(SetupError::Missing {
                    what: "vpc",
                    id: vpc_id.to_string(),
                });
            };
            // EC2 refuses a subnet outside its VPC's CIDR (`InvalidSubnet.Range`). In u64: a
            // range at the top of the address space ends at 2^32.
            let end = |base: u32, size: u32| u64::from(base) + u64::from(size);
            let inside = parse_cidr(&vpc.cidr).is_some_and(|(vbase, vsize)| {
                base >= vbase && end(base, size) <= end(vbase, vsize)
            });
            if !inside {
                return Err(SetupError::OutsideVpc {
                    cidr: cidr.to_string(),
                    vpc_cidr: vpc.cidr.clone(),
                });
            }
            let id = id.map_or_else(|| s.new_id("subnet"), str::to_string);
            let rec = SubnetRec::new(id.clone(), vpc_id, availability_zone, cidr, tags)
                .ok_or_else(bad_cidr)?;
            s.subnets.insert(id.clone(), rec);
            Ok(id)
        })
    }

    /// Adds a security group; returns its ID.
    pub fn add_security_group(&self, vpc_id: &str, name: &str) -> Result<String, SetupError> {
        self.add_security_group_as(None, vpc_id, name)
    }

    /// Adds a security group with a given ID (`Some`) or a fresh one; returns its ID.
    pub fn add_security_group_as(
        &self,
        id: Option<&str>,
        vpc_id: &str,
        name: &str,
    ) -> Result<String, SetupError> {
        self.setup(|s, _| {
            if !s.vpcs.contains_key(vpc_id) {
                return Err(SetupError::Missing {
                    what: "vpc",
                    id: vpc_id.to_string(),
                });
            }
            let id = id.map_or_else(|| s.new_id("sg"), str::to_string);
            s.groups.insert(
                id.clone(),
                SecurityGroup {
                    id: id.clone(),
                    name: name.to_string(),
                    vpc_id: Some(vpc_id.to_string()),
                    description: format!("{name} (simulated)"),
                    tags: Tags::new(),
                },
            );
            Ok(id)
        })
    }

    /// Launches an instance in `subnet_id` with its primary interface at device index 0
    /// (DeleteOnTermination set, not tagged — never ours); returns the instance ID. It is
    /// `pending` for [`SimConfig::instance_launch_delay`](crate::SimConfig), then `running`
    /// (at once with a zero delay, as in [`SimConfig::instant`](crate::SimConfig::instant)).
    pub fn launch_instance(
        &self,
        subnet_id: &str,
        instance_type: &str,
    ) -> Result<String, SetupError> {
        self.launch_instance_with_tags(subnet_id, instance_type, Tags::new())
    }

    /// [`Ec2Sim::launch_instance`] with instance tags.
    pub fn launch_instance_with_tags(
        &self,
        subnet_id: &str,
        instance_type: &str,
        tags: Tags,
    ) -> Result<String, SetupError> {
        if instance_types::limits(instance_type).is_none() {
            let known: Vec<String> = instance_types::all()
                .into_iter()
                .map(|t| t.instance_type)
                .collect();
            return Err(SetupError::UnknownInstanceType(
                instance_type.to_string(),
                known.join(", "),
            ));
        }
        let launch = self.config.real(self.config.instance_launch_delay);
        self.setup(|s, now| {
            let placed = Placed::allocate(s, subnet_id)?;
            let id = s.new_id("i");
            let (state, transition_at) = if launch.is_zero() {
                (InstanceState::Running, None)
            } else {
                (InstanceState::Pending, Some(now + launch))
            };
            let group = s.vpcs.get(&placed.vpc_id).map(|v| v.default_group.clone());
            s.instances.insert(
                id.clone(),
                InstanceRec {
                    id: id.clone(),
                    instance_type: instance_type.to_string(),
                    availability_zone: placed.availability_zone.clone(),
                    subnet_id: subnet_id.to_string(),
                    vpc_id: placed.vpc_id.clone(),
                    state,
                    tags,
                    transition_at,
                    terminated_at: None,
                    stale_slots: Default::default(),
                },
            );
            let groups = group.into_iter().collect();
            placed.attach_new_interface(s, &id, 0, groups, "Primary network interface", now);
            s.record_instance(&id, now);
            Ok(id)
        })
    }

    /// Attaches an interface nobody in multi-eni owns (like the VPC CNI's) at `device_index`,
    /// immediately; returns its ID.
    pub fn add_foreign_interface(
        &self,
        instance_id: &str,
        device_index: i32,
    ) -> Result<String, SetupError> {
        self.setup(|s, now| {
            let Some(inst) = s.instances.get(instance_id) else {
                return Err(SetupError::Missing {
                    what: "instance",
                    id: instance_id.to_string(),
                });
            };
            let subnet_id = inst.subnet_id.clone();
            let placed = Placed::allocate(s, &subnet_id)?;
            let description = "aws-K8S-foreign (simulated)";
            Ok(placed.attach_new_interface(s, instance_id, device_index, vec![], description, now))
        })
    }

    /// Stops a running instance (`stopping`, then `stopped`); interfaces stay attached.
    pub fn stop_instance(&self, instance_id: &str) -> Result<(), SetupError> {
        self.change_instance(instance_id, InstanceState::Stopping)
    }

    /// Starts a stopped instance: `pending` for the launch delay, then `running`. Device
    /// indexes a forced detach left unusable are usable again.
    pub fn start_instance(&self, instance_id: &str) -> Result<(), SetupError> {
        self.change_instance(instance_id, InstanceState::Pending)
    }

    /// Terminates an instance: `shutting-down`, then `terminated`, when interfaces with
    /// DeleteOnTermination are deleted and the others become `available`.
    pub fn terminate_instance(&self, instance_id: &str) -> Result<(), SetupError> {
        self.change_instance(instance_id, InstanceState::ShuttingDown)
    }

    fn change_instance(&self, instance_id: &str, to: InstanceState) -> Result<(), SetupError> {
        let delay = self.config.real(match to {
            InstanceState::Pending => self.config.instance_launch_delay,
            _ => self.config.instance_transition_delay,
        });
        self.setup(|s, now| {
            let Some(inst) = s.instances.get_mut(instance_id) else {
                return Err(SetupError::Missing {
                    what: "instance",
                    id: instance_id.to_string(),
                });
            };
            let allowed = match to {
                InstanceState::Stopping => inst.state == InstanceState::Running,
                InstanceState::Pending => inst.state == InstanceState::Stopped,
                InstanceState::ShuttingDown => !inst.state.is_gone(),
                _ => false,
            };
            if !allowed {
                return Err(SetupError::WrongState {
                    id: instance_id.to_string(),
                    state: inst.state.as_str().to_string(),
                });
            }
            if to == InstanceState::Pending {
                inst.stale_slots.clear();
            }
            inst.state = to;
            inst.transition_at = Some(now + delay);
            s.record_instance(instance_id, now);
            // A zero delay completes now rather than on the next call.
            if delay.is_zero() {
                s.settle(now, &self.config);
            }
            Ok(())
        })
    }
}

/// An address allocated in a subnet for an interface about to be created.
struct Placed {
    subnet_id: String,
    vpc_id: String,
    availability_zone: String,
    ip_offset: u32,
    ip: String,
}

impl Placed {
    fn allocate(s: &mut State, subnet_id: &str) -> Result<Placed, SetupError> {
        let Some(subnet) = s.subnets.get_mut(subnet_id) else {
            return Err(SetupError::Missing {
                what: "subnet",
                id: subnet_id.to_string(),
            });
        };
        let (vpc_id, availability_zone) = (
            subnet.view.vpc_id.clone(),
            subnet.view.availability_zone.clone(),
        );
        let (ip_offset, ip) = subnet
            .allocate()
            .ok_or_else(|| SetupError::SubnetFull(subnet_id.to_string()))?;
        Ok(Placed {
            subnet_id: subnet_id.to_string(),
            vpc_id,
            availability_zone,
            ip_offset,
            ip,
        })
    }

    /// An untagged interface here, attached at once to `instance_id` at `device_index` on
    /// card 0 with DeleteOnTermination — how EC2 launches primaries and how the VPC CNI's
    /// interfaces look; returns its ID.
    fn attach_new_interface(
        self,
        s: &mut State,
        instance_id: &str,
        device_index: i32,
        security_group_ids: Vec<String>,
        description: &str,
        now: Instant,
    ) -> String {
        let eni_id = s.new_id("eni");
        let attachment_id = s.new_id("eni-attach");
        let mac_address = s.new_mac();
        let view = NetworkInterface {
            id: eni_id.clone(),
            subnet_id: self.subnet_id,
            vpc_id: self.vpc_id,
            availability_zone: self.availability_zone,
            mac_address,
            private_ip_address: Some(self.ip),
            status: EniStatus::InUse,
            attachment: Some(EniAttachment {
                attachment_id,
                instance_id: Some(instance_id.to_string()),
                device_index,
                network_card_index: 0,
                status: AttachmentStatus::Attached,
                delete_on_termination: true,
            }),
            security_group_ids,
            description: description.to_string(),
            tags: Tags::new(),
        };
        // EC2 made it before anyone could ask: its ID is known at once (describes still lag).
        s.insert_eni(view, self.ip_offset, now, Duration::ZERO);
        eni_id
    }
}
