//! SDK response types → the port's model, and port queries → SDK filters. An item missing
//! its ID is a malformed response (an error), never a silently empty record.

use aws_sdk_ec2::types as sdk;
use multi_eni_ec2::{
    AttachmentStatus, Ec2Error, EniAttachment, EniStatus, Filter, Instance, InstanceInterface,
    InstanceState, InstanceTypeLimits, NetworkCardLimit, NetworkInterface, Op, SecurityGroup,
    Subnet, Tags,
};

use crate::errors::malformed;

fn tags(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn owned(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// Both attachment shapes (`NetworkInterfaceAttachment`, `InstanceNetworkInterfaceAttachment`)
/// carry the same status enum.
fn attachment_status(status: Option<&sdk::AttachmentStatus>) -> AttachmentStatus {
    AttachmentStatus::parse(status.map(|s| s.as_str()).unwrap_or_default())
}

pub(crate) fn filters(filters: &[Filter]) -> Option<Vec<sdk::Filter>> {
    if filters.is_empty() {
        return None;
    }
    Some(
        filters
            .iter()
            .map(|f| {
                sdk::Filter::builder()
                    .name(&f.name)
                    .set_values(Some(f.values.clone()))
                    .build()
            })
            .collect(),
    )
}

pub(crate) fn ids(ids: &[String]) -> Option<Vec<String>> {
    (!ids.is_empty()).then(|| ids.to_vec())
}

pub(crate) fn network_interface(
    op: Op,
    e: &sdk::NetworkInterface,
) -> Result<NetworkInterface, Ec2Error> {
    let id = e
        .network_interface_id()
        .ok_or_else(|| malformed(op, "networkInterfaceId"))?;
    let attachment = e.attachment().and_then(|a| {
        Some(EniAttachment {
            attachment_id: a.attachment_id()?.to_string(),
            instance_id: a.instance_id().map(str::to_string),
            device_index: a.device_index().unwrap_or_default(),
            network_card_index: a.network_card_index().unwrap_or_default(),
            status: attachment_status(a.status()),
            delete_on_termination: a.delete_on_termination().unwrap_or_default(),
        })
    });
    Ok(NetworkInterface {
        id: id.to_string(),
        subnet_id: owned(e.subnet_id()),
        vpc_id: owned(e.vpc_id()),
        availability_zone: owned(e.availability_zone()),
        mac_address: owned(e.mac_address()).to_ascii_lowercase(),
        private_ip_address: e.private_ip_address().map(str::to_string),
        status: EniStatus::parse(e.status().map(|s| s.as_str()).unwrap_or_default()),
        attachment,
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        description: owned(e.description()),
        tags: tags(e.tag_set()),
    })
}

pub(crate) fn instance(op: Op, i: &sdk::Instance) -> Result<Instance, Ec2Error> {
    let id = i.instance_id().ok_or_else(|| malformed(op, "instanceId"))?;
    let mut network_interfaces: Vec<InstanceInterface> = i
        .network_interfaces()
        .iter()
        .filter_map(|n| {
            let a = n.attachment()?;
            Some(InstanceInterface {
                network_interface_id: n.network_interface_id()?.to_string(),
                attachment_id: a.attachment_id()?.to_string(),
                device_index: a.device_index().unwrap_or_default(),
                network_card_index: a.network_card_index().unwrap_or_default(),
                status: attachment_status(a.status()),
                delete_on_termination: a.delete_on_termination().unwrap_or_default(),
            })
        })
        .collect();
    network_interfaces.sort_by_key(|n| (n.network_card_index, n.device_index));
    Ok(Instance {
        id: id.to_string(),
        state: InstanceState::parse(
            i.state()
                .and_then(|s| s.name())
                .map(|n| n.as_str())
                .unwrap_or_default(),
        ),
        availability_zone: owned(i.placement().and_then(|p| p.availability_zone())),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        subnet_id: i.subnet_id().filter(|s| !s.is_empty()).map(str::to_string),
        vpc_id: i.vpc_id().filter(|s| !s.is_empty()).map(str::to_string),
        network_interfaces,
    })
}

pub(crate) fn subnet(op: Op, s: &sdk::Subnet) -> Result<Subnet, Ec2Error> {
    let id = s.subnet_id().ok_or_else(|| malformed(op, "subnetId"))?;
    Ok(Subnet {
        id: id.to_string(),
        vpc_id: owned(s.vpc_id()),
        availability_zone: owned(s.availability_zone()),
        cidr_block: owned(s.cidr_block()),
        available_ip_address_count: non_negative(s.available_ip_address_count()),
        tags: tags(s.tags()),
    })
}

pub(crate) fn security_group(op: Op, g: &sdk::SecurityGroup) -> Result<SecurityGroup, Ec2Error> {
    let id = g.group_id().ok_or_else(|| malformed(op, "groupId"))?;
    Ok(SecurityGroup {
        id: id.to_string(),
        name: owned(g.group_name()),
        vpc_id: g.vpc_id().map(str::to_string),
        description: owned(g.description()),
        tags: tags(g.tags()),
    })
}

fn non_negative(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or_default()
}

pub(crate) fn instance_type(
    op: Op,
    t: &sdk::InstanceTypeInfo,
) -> Result<InstanceTypeLimits, Ec2Error> {
    let name = t
        .instance_type()
        .ok_or_else(|| malformed(op, "instanceType"))?;
    let net = t.network_info();
    let mut network_cards: Vec<NetworkCardLimit> = net
        .map(|n| n.network_cards())
        .unwrap_or_default()
        .iter()
        .map(|c| NetworkCardLimit {
            index: non_negative(c.network_card_index()),
            max_network_interfaces: non_negative(c.maximum_network_interfaces()),
        })
        .collect();
    network_cards.sort_by_key(|c| c.index);
    Ok(InstanceTypeLimits {
        instance_type: name.as_str().to_string(),
        max_network_interfaces: non_negative(net.and_then(|n| n.maximum_network_interfaces())),
        // Every type has at least one card; a missing figure means one.
        max_network_cards: net
            .and_then(|n| n.maximum_network_cards())
            .map_or(1, |n| non_negative(Some(n))),
        default_network_card_index: non_negative(net.and_then(|n| n.default_network_card_index())),
        network_cards,
    })
}
