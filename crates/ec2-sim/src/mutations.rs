//! The mutating calls, with EC2's checks and error codes, applied to [`State`].
//!
//! Codes follow the EC2 error reference
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>); where EC2
//! answers with a generic code (an occupied device index is `InvalidParameterValue`), so does
//! the simulator, and the same refinement as on the real service applies.

use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, CreateEni, DetachEni, EniAttachment,
    EniAttributeChange, EniStatus, InstanceState, NetworkInterface, Tags,
};
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::instance_types;
use crate::state::{EniRec, SimError, State, TokenRec, fail};

/// EC2's tag limits (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html>).
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
/// `Description` is at most 255 characters.
const MAX_DESCRIPTION: usize = 255;
/// A ClientToken is at most 64 ASCII characters.
const MAX_CLIENT_TOKEN: usize = 64;

/// The IDs requests carry: the prefix EC2 gives each kind, and the code it answers an ID
/// without it with.
#[derive(Debug, Clone, Copy)]
enum IdKind {
    NetworkInterface,
    SecurityGroup,
    Subnet,
    Instance,
    Attachment,
}

impl IdKind {
    fn check(self, id: &str) -> Result<(), SimError> {
        let (prefix, code, what) = match self {
            IdKind::NetworkInterface => (
                "eni-",
                "InvalidNetworkInterfaceID.Malformed",
                "network interface",
            ),
            IdKind::SecurityGroup => ("sg-", "InvalidGroupId.Malformed", "security group"),
            IdKind::Subnet => ("subnet-", "InvalidSubnetID.Malformed", "subnet"),
            IdKind::Instance => ("i-", "InvalidInstanceID.Malformed", "instance"),
            IdKind::Attachment => ("eni-attach-", "InvalidAttachmentID.Malformed", "attachment"),
        };
        if id.starts_with(prefix) {
            return Ok(());
        }
        fail(
            code,
            format!("Invalid id: \"{id}\" (expecting \"{prefix}...\"); {what}"),
        )
    }
}

fn check_tags(tags: &Tags) -> Result<(), SimError> {
    if tags.len() > MAX_TAGS {
        return fail(
            "TagLimitExceeded",
            format!("The maximum number of tags ({MAX_TAGS}) was exceeded"),
        );
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > MAX_TAG_KEY || v.len() > MAX_TAG_VALUE {
            return fail(
                "InvalidParameterValue",
                format!("Tag {k:?} has an invalid key or value length"),
            );
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return fail(
                "InvalidParameterValue",
                format!("Tag keys starting with 'aws:' are reserved: {k}"),
            );
        }
    }
    Ok(())
}

fn check_description(d: &str) -> Result<(), SimError> {
    if d.chars().count() > MAX_DESCRIPTION {
        return fail(
            "InvalidParameterValue",
            "Description must be at most 255 characters",
        );
    }
    Ok(())
}

impl State {
    /// An interface other calls may act on: it exists and its ID has propagated.
    fn eni_for_mutation(
        &mut self,
        id: &str,
        now: Instant,
        _cfg: &SimConfig,
    ) -> Result<&mut EniRec, SimError> {
        IdKind::NetworkInterface.check(id)?;
        match self.enis.get_mut(id) {
            Some(rec) if rec.known_at <= now => Ok(rec),
            _ => fail(
                "InvalidNetworkInterfaceID.NotFound",
                format!("The networkInterface ID '{id}' does not exist"),
            ),
        }
    }

    /// Security groups for an interface in `vpc_id`: known, and in that VPC.
    fn check_groups(
        &self,
        groups: &[String],
        vpc_id: &str,
        subnet_id: &str,
    ) -> Result<(), SimError> {
        for g in groups {
            IdKind::SecurityGroup.check(g)?;
            let Some(group) = self.groups.get(g) else {
                return fail(
                    "InvalidGroup.NotFound",
                    format!("The security group '{g}' does not exist"),
                );
            };
            if group.vpc_id.as_deref() != Some(vpc_id) {
                return fail(
                    "InvalidParameter",
                    format!(
                        "Security group {g} and subnet {subnet_id} belong to different networks."
                    ),
                );
            }
        }
        Ok(())
    }

    /// `CreateNetworkInterface`.
    pub(crate) fn create_eni(
        &mut self,
        req: &CreateEni,
        now: Instant,
        cfg: &SimConfig,
    ) -> Result<NetworkInterface, SimError> {
        let fingerprint = CreateEni {
            client_token: None,
            security_group_ids: {
                let mut g = req.security_group_ids.clone();
                g.sort();
                g
            },
            ..req.clone()
        };
        if let Some(token) = &req.client_token {
            if token.is_empty() || token.len() > MAX_CLIENT_TOKEN || !token.is_ascii() {
                return fail(
                    "InvalidParameterValue",
                    "ClientToken must be 1 to 64 ASCII characters",
                );
            }
            if let Some(prior) = self.tokens.get(token) {
                if prior.fingerprint != fingerprint {
                    return fail(
                        "IdempotentParameterMismatch",
                        "The client token you have provided is associated with a resource that was created with different parameters",
                    );
                }
                // The original request's result: the interface it created, as it is now —
                // or, once deleted, as it was (our unkind choice for what EC2 leaves
                // undocumented: success naming an interface that no longer exists).
                if let Some(rec) = self.enis.get(&prior.eni_id) {
                    return Ok(rec.view.clone());
                }
                if let Some(view) = &prior.deleted {
                    return Ok(view.clone());
                }
                return fail(
                    "InvalidNetworkInterfaceID.NotFound",
                    format!("The networkInterface ID '{}' does not exist", prior.eni_id),
                );
            }
        }
        IdKind::Subnet.check(&req.subnet_id)?;
        let Some(subnet) = self.subnets.get(&req.subnet_id) else {
            return fail(
                "InvalidSubnetID.NotFound",
                format!("The subnet ID '{}' does not exist", req.subnet_id),
            );
        };
        let vpc_id = subnet.view.vpc_id.clone();
        let az = subnet.view.availability_zone.clone();
        self.check_groups(&req.security_group_ids, &vpc_id, &req.subnet_id)?;
        if let Some(d) = &req.description {
            check_description(d)?;
        }
        check_tags(&req.tags)?;
        if self.enis.len() >= cfg.max_network_interfaces {
            return fail(
                "NetworkInterfaceLimitExceeded",
                "You have reached the maximum number of network interfaces for this Region",
            );
        }
        let groups = if req.security_group_ids.is_empty() {
            match self.vpcs.get(&vpc_id) {
                Some(v) => vec![v.default_group.clone()],
                None => vec![],
            }
        } else {
            req.security_group_ids.clone()
        };
        let Some((ip_offset, ip)) = self
            .subnets
            .get_mut(&req.subnet_id)
            .and_then(|s| s.allocate())
        else {
            return fail(
                "InsufficientFreeAddressesInSubnet",
                format!(
                    "There are not enough free addresses in subnet '{}' to satisfy the requested number of instances.",
                    req.subnet_id
                ),
            );
        };
        let id = self.new_id("eni");
        let mac = self.new_mac();
        let view = NetworkInterface {
            id: id.clone(),
            subnet_id: req.subnet_id.clone(),
            vpc_id,
            availability_zone: az,
            mac_address: mac,
            private_ip_address: Some(ip),
            status: EniStatus::Available,
            attachment: None,
            security_group_ids: groups,
            description: req.description.clone().unwrap_or_default(),
            tags: req.tags.clone(),
        };
        if let Some(token) = &req.client_token {
            self.tokens.insert(
                token.clone(),
                TokenRec {
                    fingerprint,
                    eni_id: id.clone(),
                    deleted: None,
                },
            );
        }
        let propagation = self.draw_lag(cfg);
        self.insert_eni(view.clone(), ip_offset, now, propagation);
        if let Some(rec) = self.enis.get_mut(&id) {
            rec.client_token = req.client_token.clone();
        }
        Ok(view)
    }

    /// `AttachNetworkInterface`.
    pub(crate) fn attach_eni(
        &mut self,
        req: &AttachEni,
        now: Instant,
        cfg: &SimConfig,
    ) -> Result<AttachResult, SimError> {
        let eni_az = {
            let rec = self.eni_for_mutation(&req.network_interface_id, now, cfg)?;
            if rec.view.attachment.is_some() {
                return fail(
                    "InvalidNetworkInterface.InUse",
                    format!("Interface: [{}] in use.", req.network_interface_id),
                );
            }
            rec.view.availability_zone.clone()
        };
        IdKind::Instance.check(&req.instance_id)?;
        let Some(inst) = self.instances.get(&req.instance_id) else {
            return fail(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{}' does not exist", req.instance_id),
            );
        };
        if inst.state.is_gone() || inst.state == InstanceState::Pending {
            return fail(
                "IncorrectInstanceState",
                format!(
                    "The instance '{}' is not in a valid state for this operation.",
                    req.instance_id
                ),
            );
        }
        if inst.availability_zone != eni_az {
            return fail(
                "InvalidParameterValue",
                format!(
                    "The network interface {} is in availability zone {eni_az} and cannot be attached to instance {} in {}.",
                    req.network_interface_id, req.instance_id, inst.availability_zone
                ),
            );
        }
        let instance_type = inst.instance_type.clone();
        let Some(limits) = instance_types::limits(&instance_type) else {
            return fail(
                "InvalidInstanceType",
                format!("Unknown instance type {instance_type}"),
            );
        };
        let card = req.network_card_index.unwrap_or(0);
        if card < 0 || card as u32 >= limits.max_network_cards {
            return fail(
                "InvalidParameterValue",
                format!("Network card index {card} is out of range for {instance_type}"),
            );
        }
        if req.device_index < 0 {
            return fail(
                "InvalidParameterValue",
                format!("Invalid device index {}", req.device_index),
            );
        }
        let holding: Vec<(i32, i32)> = self
            .enis
            .values()
            .filter_map(|r| r.view.attachment.as_ref())
            .filter(|a| a.instance_id.as_deref() == Some(req.instance_id.as_str()))
            .filter(|a| a.status.holds_device_index())
            .map(|a| (a.network_card_index, a.device_index))
            .collect();
        let on_card = holding.iter().filter(|(c, _)| *c == card).count() as u32;
        let card_max = limits.max_interfaces_on_card(card as u32).unwrap_or(0);
        if holding.len() as u32 >= limits.max_network_interfaces || on_card >= card_max {
            return fail(
                "AttachmentLimitExceeded",
                format!(
                    "Interface count {} exceeds the limit for {instance_type}",
                    holding.len() + 1
                ),
            );
        }
        // A slot a forced detach left behind answers like an occupied one, though
        // DescribeInstances shows it free.
        let stale = inst.stale_slots.contains(&(card, req.device_index));
        if stale || holding.contains(&(card, req.device_index)) {
            return fail(
                "InvalidParameterValue",
                format!(
                    "Instance '{}' already has an interface attached at device index '{}'.",
                    req.instance_id, req.device_index
                ),
            );
        }
        let attachment_id = self.new_id("eni-attach");
        let delay = cfg.real(cfg.attach_delay);
        let rec = self.eni_for_mutation(&req.network_interface_id, now, cfg)?;
        let immediate = delay.is_zero();
        rec.view.attachment = Some(EniAttachment {
            attachment_id: attachment_id.clone(),
            instance_id: Some(req.instance_id.clone()),
            device_index: req.device_index,
            network_card_index: card,
            status: if immediate {
                AttachmentStatus::Attached
            } else {
                AttachmentStatus::Attaching
            },
            delete_on_termination: false,
        });
        rec.sync_status();
        rec.transition_at = (!immediate).then(|| now + delay);
        let id = req.network_interface_id.clone();
        self.record_eni(&id, now);
        Ok(AttachResult {
            attachment_id,
            network_card_index: card,
        })
    }

    /// `ModifyNetworkInterfaceAttribute`.
    pub(crate) fn modify_eni(
        &mut self,
        id: &str,
        change: &EniAttributeChange,
        now: Instant,
        cfg: &SimConfig,
    ) -> Result<(), SimError> {
        let (vpc_id, subnet_id) = {
            let rec = self.eni_for_mutation(id, now, cfg)?;
            (rec.view.vpc_id.clone(), rec.view.subnet_id.clone())
        };
        match change {
            EniAttributeChange::SecurityGroups(groups) => {
                if groups.is_empty() {
                    return fail(
                        "MissingParameter",
                        "The request must contain the parameter groupId",
                    );
                }
                self.check_groups(groups, &vpc_id, &subnet_id)?;
                let rec = self.eni_for_mutation(id, now, cfg)?;
                rec.view.security_group_ids = groups.clone();
            }
            EniAttributeChange::Description(d) => {
                check_description(d)?;
                let rec = self.eni_for_mutation(id, now, cfg)?;
                rec.view.description = d.clone();
            }
            EniAttributeChange::DeleteOnTermination {
                attachment_id,
                delete_on_termination,
            } => {
                let rec = self.eni_for_mutation(id, now, cfg)?;
                match rec.view.attachment.as_mut() {
                    Some(a) if &a.attachment_id == attachment_id => {
                        a.delete_on_termination = *delete_on_termination;
                    }
                    _ => {
                        return fail(
                            "InvalidAttachmentID.NotFound",
                            format!("The attachment ID '{attachment_id}' does not exist"),
                        );
                    }
                }
            }
        }
        self.record_eni(id, now);
        Ok(())
    }

    /// `CreateTags`, for network interfaces (the only resources the simulator tags after
    /// creation). All or nothing, as on EC2: every ID must name a visible interface and no
    /// interface may pass the tag limit, else nothing changes. New values overwrite old ones.
    pub(crate) fn create_tags(
        &mut self,
        ids: &[String],
        tags: &Tags,
        now: Instant,
        cfg: &SimConfig,
    ) -> Result<(), SimError> {
        if ids.is_empty() {
            return fail(
                "MissingParameter",
                "The request must contain the parameter resourceIdSet",
            );
        }
        if tags.is_empty() {
            return fail(
                "MissingParameter",
                "The request must contain the parameter tagSet",
            );
        }
        check_tags(tags)?;
        for id in ids {
            if !id.starts_with("eni-") {
                return fail("InvalidID", format!("The ID '{id}' is not valid"));
            }
            let rec = self.eni_for_mutation(id, now, cfg)?;
            let added = tags
                .keys()
                .filter(|k| !rec.view.tags.contains_key(*k))
                .count();
            if rec.view.tags.len() + added > MAX_TAGS {
                return fail(
                    "TagLimitExceeded",
                    format!("The maximum number of tags ({MAX_TAGS}) was exceeded on {id}"),
                );
            }
        }
        for id in ids {
            let rec = self.eni_for_mutation(id, now, cfg)?;
            rec.view
                .tags
                .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.record_eni(id, now);
        }
        Ok(())
    }

    /// `DetachNetworkInterface`. `stuck`: a normal detach that will hang (fault injection).
    pub(crate) fn detach_eni(
        &mut self,
        req: &DetachEni,
        now: Instant,
        cfg: &SimConfig,
        stuck: bool,
    ) -> Result<(), SimError> {
        IdKind::Attachment.check(&req.attachment_id)?;
        let not_found = || {
            fail(
                "InvalidAttachmentID.NotFound",
                format!("The attachment ID '{}' does not exist", req.attachment_id),
            )
        };
        let holder = self.enis.iter_mut().find(|(_, r)| {
            r.view
                .attachment
                .as_ref()
                .is_some_and(|a| a.attachment_id == req.attachment_id)
        });
        let Some((eni_id, rec)) = holder else {
            return not_found();
        };
        let eni_id = eni_id.clone();
        let Some(att) = rec.view.attachment.as_mut() else {
            return not_found();
        };
        if att.device_index == 0 && att.network_card_index == 0 {
            return fail(
                "OperationNotPermitted",
                "The network interface at device index 0 and networkCard index 0 cannot be detached.",
            );
        }
        if att.status == AttachmentStatus::Detaching && !req.force {
            // Already on its way; a repeated normal detach changes nothing.
            return Ok(());
        }
        att.status = AttachmentStatus::Detaching;
        let slot = (att.network_card_index, att.device_index);
        let instance_id = att.instance_id.clone();
        rec.sync_status();
        rec.stuck = stuck && !req.force;
        let delay = cfg.real(if req.force {
            cfg.force_detach_delay
        } else {
            cfg.detach_delay
        });
        if rec.stuck {
            rec.transition_at = None;
        } else if delay.is_zero() {
            rec.detached();
        } else {
            rec.transition_at = Some(now + delay);
        }
        self.record_eni(&eni_id, now);
        if req.force
            && let Some(inst) = instance_id.and_then(|i| self.instances.get_mut(&i))
        {
            inst.stale_slots.insert(slot);
        }
        Ok(())
    }

    /// `DeleteNetworkInterface`.
    pub(crate) fn delete_eni(
        &mut self,
        id: &str,
        now: Instant,
        cfg: &SimConfig,
    ) -> Result<(), SimError> {
        let rec = self.eni_for_mutation(id, now, cfg)?;
        if rec.view.attachment.is_some() {
            // EC2's answer: the generic code, not `InvalidNetworkInterface.InUse`.
            return fail(
                "InvalidParameterValue",
                format!("Network interface '{id}' is currently in use."),
            );
        }
        self.remove_eni(id, now);
        Ok(())
    }
}
