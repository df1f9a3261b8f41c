//! The contract cases. Each starts from a fresh [`Fixture`] and asserts what EC2 does;
//! where a world does not model something, the case says so and asserts it only where it is
//! modelled (pinning moto's actual behaviour for the important gaps).

use std::collections::BTreeSet;
use std::sync::Arc;

use multi_eni_ec2::{
    AttachEni, AttachmentStatus, CreateEni, DescribeQuery, DetachEni, Ec2, EniAttributeChange,
    EniStatus, ErrorKind, Filter, InstanceState, LookupError, LookupTtls, Lookups, NAME_TAG, Op,
    Resource, collect_pages,
};

use super::fixture::{Fixture, describe_one, propagation, visible};
use super::wait::{eventually, wait_for};
use super::{Behaviour, World, not_modelled};

const CLUSTER: &str = "multi-eni.k8s.aws/cluster";

fn attach_req(eni: &str, instance: &str, device_index: i32) -> AttachEni {
    AttachEni {
        network_interface_id: eni.to_string(),
        instance_id: instance.to_string(),
        device_index,
        network_card_index: None,
    }
}

async fn describe_filtered(ec2: &Arc<dyn Ec2>, filters: Vec<Filter>) -> BTreeSet<String> {
    let ec2 = &**ec2;
    collect_pages(
        Op::DescribeNetworkInterfaces,
        DescribeQuery::filters(filters),
        |q| async move { ec2.describe_network_interfaces(&q).await },
    )
    .await
    .expect("DescribeNetworkInterfaces")
    .into_iter()
    .map(|e| e.id)
    .collect()
}

/// Waits until a filtered describe returns exactly `want`.
async fn wait_filtered(
    ec2: &Arc<dyn Ec2>,
    what: &str,
    filters: Vec<Filter>,
    want: &BTreeSet<String>,
) {
    wait_for(what, || {
        let filters = filters.clone();
        async move { (describe_filtered(ec2, filters).await == *want).then_some(()) }
    })
    .await;
}

async fn wait_available(ec2: &Arc<dyn Ec2>, eni: &str) {
    wait_for("the interface to become available", || async move {
        let e = describe_one(ec2, eni).await?;
        (e.status == EniStatus::Available && e.attachment.is_none()).then_some(())
    })
    .await;
}

async fn wait_gone(ec2: &Arc<dyn Ec2>, eni: &str) {
    wait_for("the interface to disappear", || async move {
        describe_one(ec2, eni).await.is_none().then_some(())
    })
    .await;
}

/// CreateNetworkInterface puts the interface in the subnet (VPC, zone) with its tags,
/// description and groups, and an address from the subnet; describes agree.
pub async fn create_tags_description_and_groups_at_creation(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let req = fx.create_req(&[(CLUSTER, "c1"), ("multi-eni.k8s.aws/node", "node-1")]);
    let created = ec2.create_network_interface(&req).await.expect("create");
    assert!(created.id.starts_with("eni-"), "{}", created.id);
    assert_eq!(created.subnet_id, fx.subnet_a);
    assert_eq!(created.vpc_id, fx.vpc);
    assert_eq!(created.availability_zone, fx.zones[0]);
    assert_eq!(created.status, EniStatus::Available);
    assert_eq!(created.tags, req.tags, "tags applied at creation");
    assert_eq!(created.description, "multi-eni contract");
    assert_eq!(created.security_group_ids, vec![fx.group.clone()]);
    assert!(created.attachment.is_none());
    let mac = &created.mac_address;
    assert_eq!(mac.len(), 17, "MAC {mac}");
    assert!(
        mac.split(':')
            .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok()),
        "MAC {mac}"
    );
    let ip = created
        .private_ip_address
        .clone()
        .expect("a private address");
    assert!(ip.starts_with("10.0.1."), "{ip} in 10.0.1.0/24");
    let seen = visible(&ec2, &created.id).await;
    assert_eq!(
        seen, created,
        "DescribeNetworkInterfaces shows what Create returned"
    );
}

/// Without groups, EC2 uses the VPC's default group.
pub async fn create_without_groups_uses_the_vpc_default(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let mut req = fx.create_req(&[]);
    req.security_group_ids.clear();
    let eni = ec2.create_network_interface(&req).await.expect("create");
    assert_eq!(
        eni.security_group_ids.len(),
        1,
        "{:?}",
        eni.security_group_ids
    );
    let groups = ec2
        .describe_security_groups(&DescribeQuery::filters(vec![
            Filter::eq("vpc-id", &fx.vpc),
            Filter::eq("group-name", "default"),
        ]))
        .await
        .expect("describe default group");
    assert_eq!(
        groups
            .items
            .iter()
            .map(|g| g.id.clone())
            .collect::<Vec<_>>(),
        eni.security_group_ids
    );
}

/// An unknown subnet is `InvalidSubnetID.NotFound`.
pub async fn create_in_unknown_subnet_is_subnet_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let mut req = fx.create_req(&[]);
    req.subnet_id = "subnet-0123456789abcdef0".into();
    let err = w
        .ec2()
        .create_network_interface(&req)
        .await
        .expect_err("unknown subnet");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Subnet), "{err}");
    assert_eq!(err.op, Op::CreateNetworkInterface);
}

/// An unknown security group is `InvalidGroup.NotFound`.
pub async fn create_with_unknown_group_is_group_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let mut req = fx.create_req(&[]);
    req.security_group_ids = vec!["sg-0123456789abcdef0".into()];
    match w.ec2().create_network_interface(&req).await {
        Err(err) => assert_eq!(
            err.kind,
            ErrorKind::NotFound(Resource::SecurityGroup),
            "{err}"
        ),
        Ok(eni) if !w.models(Behaviour::GroupValidation) => {
            not_modelled(
                w,
                "create_with_unknown_group",
                "checking security groups on create",
            );
            assert_eq!(eni.security_group_ids, req.security_group_ids);
        }
        Ok(eni) => panic!("created {} with an unknown group", eni.id),
    }
}

/// Describe by ID finds the interface; an unknown ID fails the request as NotFound.
pub async fn describe_by_id_and_unknown_id_is_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let page = ec2
        .describe_network_interfaces(&DescribeQuery::ids([eni.id.clone()]))
        .await
        .expect("describe by id");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, eni.id);
    let err = ec2
        .describe_network_interfaces(&DescribeQuery::ids(["eni-0123456789abcdef0"]))
        .await
        .expect_err("unknown id");
    assert_eq!(
        err.kind,
        ErrorKind::NotFound(Resource::NetworkInterface),
        "{err}"
    );
}

/// Tag filters: filters AND, values OR, `tag-key` matches any value.
pub async fn describe_by_tag_filters_ands_filters_and_ors_values(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let a = fx
        .create(&ec2, &fx.create_req(&[(CLUSTER, "c1"), ("role", "x")]))
        .await;
    let b = fx
        .create(&ec2, &fx.create_req(&[(CLUSTER, "c1"), ("role", "y")]))
        .await;
    let c = fx
        .create(&ec2, &fx.create_req(&[(CLUSTER, "c2"), ("role", "x")]))
        .await;
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        describe_filtered(&ec2, vec![Filter::tag(CLUSTER, "c1")]).await,
        set(&[&a.id, &b.id])
    );
    assert_eq!(
        describe_filtered(
            &ec2,
            vec![Filter::tag(CLUSTER, "c1"), Filter::tag("role", "x")]
        )
        .await,
        set(&[&a.id])
    );
    assert_eq!(
        describe_filtered(
            &ec2,
            vec![Filter::new(format!("tag:{CLUSTER}"), ["c1", "c2"])]
        )
        .await,
        set(&[&a.id, &b.id, &c.id])
    );
    let tagged = describe_filtered(&ec2, vec![Filter::tag_key(CLUSTER)]).await;
    assert_eq!(
        tagged,
        set(&[&a.id, &b.id, &c.id]),
        "the primary interface has no tag"
    );
}

/// VPC, subnet and status filters.
pub async fn describe_by_vpc_subnet_and_status(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let mut in_b = fx.create_req(&[(CLUSTER, "c")]);
    in_b.subnet_id = fx.subnet_b.clone();
    let b = fx.create(&ec2, &in_b).await;
    let a = fx.create(&ec2, &fx.create_req(&[(CLUSTER, "c")])).await;
    let only = |id: &str| BTreeSet::from([id.to_string()]);
    assert_eq!(
        describe_filtered(
            &ec2,
            vec![
                Filter::tag_key(CLUSTER),
                Filter::eq("subnet-id", &fx.subnet_b)
            ]
        )
        .await,
        only(&b.id)
    );
    assert_eq!(
        describe_filtered(
            &ec2,
            vec![
                Filter::tag_key(CLUSTER),
                Filter::eq("availability-zone", &fx.zones[0])
            ]
        )
        .await,
        only(&a.id)
    );
    let in_vpc = describe_filtered(&ec2, vec![Filter::eq("vpc-id", &fx.vpc)]).await;
    assert!(in_vpc.contains(&a.id) && in_vpc.contains(&b.id));
    assert_eq!(
        in_vpc.len(),
        3,
        "ours plus the instance's primary interface: {in_vpc:?}"
    );
    let available = describe_filtered(
        &ec2,
        vec![
            Filter::eq("vpc-id", &fx.vpc),
            Filter::eq("status", "available"),
        ],
    )
    .await;
    assert_eq!(
        available.len(),
        2,
        "the primary interface is in-use: {available:?}"
    );
    assert!(
        describe_filtered(&ec2, vec![Filter::eq("vpc-id", "vpc-0123456789abcdef0")])
            .await
            .is_empty()
    );
}

/// Paginated describes: every item exactly once, one request per page.
pub async fn describe_pages_one_call_per_page(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let mut want = BTreeSet::new();
    for _ in 0..12 {
        want.insert(
            fx.create(&ec2, &fx.create_req(&[(CLUSTER, "paged")]))
                .await
                .id,
        );
    }
    let query = DescribeQuery::filters(vec![Filter::tag(CLUSTER, "paged")]).page_size(5);
    let mut pages = Vec::new();
    let items = collect_pages(Op::DescribeNetworkInterfaces, query, |q| {
        let ec2 = ec2.clone();
        let n = pages.len();
        pages.push(n);
        async move { ec2.describe_network_interfaces(&q).await }
    })
    .await
    .expect("paginated describe");
    let ids: Vec<String> = items.into_iter().map(|e| e.id).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique, want, "every interface");
    assert_eq!(ids.len(), want.len(), "no interface twice");
    if w.models(Behaviour::Pagination) {
        assert_eq!(pages.len(), 3, "12 items at 5 per page is 3 requests");
    } else {
        not_modelled(
            w,
            "describe_pages_one_call_per_page",
            "MaxResults/NextToken",
        );
        assert_eq!(
            pages.len(),
            1,
            "moto ignores MaxResults and answers in one page"
        );
    }
}

/// Attach returns an attachment ID and ends `attached`; the interface is `in-use` and the
/// instance lists it at its device index.
pub async fn attach_reaches_attached_on_interface_and_instance(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    assert!(
        r.attachment_id.starts_with("eni-attach-"),
        "{}",
        r.attachment_id
    );
    assert_eq!(r.network_card_index, 0);
    let seen = describe_one(&ec2, &eni.id).await.expect("visible");
    let att = seen.attachment.expect("attached");
    assert_eq!(att.attachment_id, r.attachment_id);
    assert_eq!(att.instance_id.as_deref(), Some(fx.instance.as_str()));
    assert_eq!(att.device_index, 1);
    assert!(
        !att.delete_on_termination,
        "EC2's default for attached interfaces"
    );
    assert_eq!(seen.status, EniStatus::InUse);
    let inst = wait_for("the instance to list the interface", || {
        let ec2 = ec2.clone();
        let (fx, id) = (fx.clone(), eni.id.clone());
        async move {
            let i = fx.instance(&ec2, &fx.instance).await;
            i.network_interfaces
                .iter()
                .any(|n| n.network_interface_id == id)
                .then_some(i)
        }
    })
    .await;
    let listed = inst
        .network_interfaces
        .iter()
        .find(|n| n.network_interface_id == eni.id)
        .expect("listed");
    assert_eq!(listed.device_index, 1);
    assert_eq!(listed.attachment_id, r.attachment_id);
}

/// An attachment is `attaching` before it is `attached`, and the interface `attaching`.
pub async fn attach_passes_through_attaching(w: &dyn World) {
    if !w.models(Behaviour::AttachTransitions) {
        return not_modelled(w, "attach_passes_through_attaching", "the attaching state");
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let req = attach_req(&eni.id, &fx.instance, 1);
    eventually("attach", || ec2.attach_network_interface(&req), propagation)
        .await
        .expect("attach");
    let seen = std::sync::Mutex::new(Vec::new());
    let (ec2_ref, id, seen_ref) = (&ec2, eni.id.as_str(), &seen);
    wait_for("attached", || async move {
        let e = describe_one(ec2_ref, id).await?;
        let status = e.attachment.map(|a| a.status);
        if let Some(s) = &status {
            let mut seen = seen_ref.lock().expect("seen lock");
            if seen.last() != Some(s) {
                seen.push(s.clone());
            }
        }
        (status == Some(AttachmentStatus::Attached)).then_some(())
    })
    .await;
    let seen = seen.into_inner().expect("seen lock");
    assert_eq!(
        seen,
        vec![AttachmentStatus::Attaching, AttachmentStatus::Attached]
    );
}

/// On a multi-card type, `NetworkCardIndex` 1 puts the interface on card 1 (device index
/// 0 of card 1 is free: the primary is on card 0).
pub async fn attach_to_a_second_network_card(w: &dyn World) {
    if !w.models(Behaviour::NetworkCards) {
        return not_modelled(w, "attach_to_a_second_network_card", "NetworkCardIndex");
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let big = w.launch_instance(&fx.subnet_a, "c6in.32xlarge").await;
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let req = AttachEni {
        network_card_index: Some(1),
        ..attach_req(&eni.id, &big, 0)
    };
    let r = eventually("attach", || ec2.attach_network_interface(&req), propagation)
        .await
        .expect("attach on card 1");
    assert_eq!(r.network_card_index, 1);
    let other = fx.create(&ec2, &fx.create_req(&[])).await;
    let bad = AttachEni {
        network_card_index: Some(2),
        ..attach_req(&other.id, &big, 1)
    };
    let err = ec2
        .attach_network_interface(&bad)
        .await
        .expect_err("card 2 of 2");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

/// DeleteOnTermination set with ModifyNetworkInterfaceAttribute shows in describes.
pub async fn delete_on_termination_is_set_after_attach(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    ec2.modify_network_interface_attribute(
        &eni.id,
        &EniAttributeChange::DeleteOnTermination {
            attachment_id: r.attachment_id.clone(),
            delete_on_termination: true,
        },
    )
    .await
    .expect("set DeleteOnTermination");
    if !w.models(Behaviour::DeleteOnTerminationModify) {
        return not_modelled(
            w,
            "delete_on_termination_is_set_after_attach",
            "Attachment.DeleteOnTermination",
        );
    }
    let (ec2_ref, id) = (&ec2, eni.id.as_str());
    wait_for("DeleteOnTermination to show", || async move {
        let e = describe_one(ec2_ref, id).await?;
        e.attachment.filter(|a| a.delete_on_termination).map(|_| ())
    })
    .await;
    let err = ec2
        .modify_network_interface_attribute(
            &eni.id,
            &EniAttributeChange::DeleteOnTermination {
                attachment_id: "eni-attach-0123456789abcdef0".into(),
                delete_on_termination: false,
            },
        )
        .await
        .expect_err("wrong attachment");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Attachment), "{err}");
}

/// Groups and description are replaced in place.
pub async fn modify_security_groups_and_description(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let second = w.create_security_group(&fx.vpc, "contract-sg-2").await;
    ec2.modify_network_interface_attribute(
        &eni.id,
        &EniAttributeChange::SecurityGroups(vec![second.clone(), fx.group.clone()]),
    )
    .await
    .expect("modify groups");
    ec2.modify_network_interface_attribute(
        &eni.id,
        &EniAttributeChange::Description("changed".into()),
    )
    .await
    .expect("modify description");
    let want = BTreeSet::from([second.clone(), fx.group.clone()]);
    let (ec2_ref, id, want) = (&ec2, eni.id.as_str(), &want);
    wait_for("the changes to show", || async move {
        let e = describe_one(ec2_ref, id).await?;
        let groups: BTreeSet<_> = e.security_group_ids.iter().cloned().collect();
        (groups == *want && e.description == "changed").then_some(())
    })
    .await;
    let err = ec2
        .modify_network_interface_attribute(
            "eni-0123456789abcdef0",
            &EniAttributeChange::Description("x".into()),
        )
        .await
        .expect_err("unknown interface");
    assert_eq!(
        err.kind,
        ErrorKind::NotFound(Resource::NetworkInterface),
        "{err}"
    );
}

/// A group from another VPC (or an unknown one) is refused.
pub async fn modify_with_group_from_another_vpc_is_refused(w: &dyn World) {
    if !w.models(Behaviour::GroupValidation) {
        return not_modelled(
            w,
            "modify_with_group_from_another_vpc",
            "group checks on modify",
        );
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let other_vpc = w.create_vpc("10.1.0.0/16").await;
    let foreign = w.create_security_group(&other_vpc, "elsewhere").await;
    let err = ec2
        .modify_network_interface_attribute(
            &eni.id,
            &EniAttributeChange::SecurityGroups(vec![foreign]),
        )
        .await
        .expect_err("group of another VPC");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    let err = ec2
        .modify_network_interface_attribute(
            &eni.id,
            &EniAttributeChange::SecurityGroups(vec!["sg-0123456789abcdef0".into()]),
        )
        .await
        .expect_err("unknown group");
    assert_eq!(
        err.kind,
        ErrorKind::NotFound(Resource::SecurityGroup),
        "{err}"
    );
}

/// A normal detach ends with the interface `available` and unattached.
pub async fn detach_makes_the_interface_available(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    ec2.detach_network_interface(&DetachEni {
        attachment_id: r.attachment_id,
        force: false,
    })
    .await
    .expect("detach");
    wait_available(&ec2, &eni.id).await;
    wait_for("the instance to drop the interface", || {
        let ec2 = ec2.clone();
        let (fx, id) = (fx.clone(), eni.id.clone());
        async move {
            let i = fx.instance(&ec2, &fx.instance).await;
            (!i.network_interfaces
                .iter()
                .any(|n| n.network_interface_id == id))
            .then_some(())
        }
    })
    .await;
}

/// A forced detach also ends `available`.
pub async fn forced_detach_makes_the_interface_available(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let r = fx.attach(&ec2, &eni.id, &fx.instance, 2).await;
    ec2.detach_network_interface(&DetachEni {
        attachment_id: r.attachment_id,
        force: true,
    })
    .await
    .expect("forced detach");
    wait_available(&ec2, &eni.id).await;
}

/// Detaching an unknown attachment is `InvalidAttachmentID.NotFound` — "already detached".
pub async fn detach_unknown_attachment_is_not_found(w: &dyn World) {
    let _fx = Fixture::new(w).await;
    let err = w
        .ec2()
        .detach_network_interface(&DetachEni {
            attachment_id: "eni-attach-0123456789abcdef0".into(),
            force: false,
        })
        .await
        .expect_err("unknown attachment");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Attachment), "{err}");
    assert!(err.is_not_found());
}

/// The primary interface (device index 0) cannot be detached.
pub async fn detach_primary_interface_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let inst = fx.instance(&ec2, &fx.instance).await;
    let primary = inst
        .network_interfaces
        .iter()
        .find(|n| n.device_index == 0)
        .expect("a primary interface");
    let err = ec2
        .detach_network_interface(&DetachEni {
            attachment_id: primary.attachment_id.clone(),
            force: false,
        })
        .await
        .expect_err("primary");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.code.as_deref(), Some("OperationNotPermitted"));
}

/// Delete removes the interface; deleting again is NotFound ("already done").
pub async fn delete_then_not_found_and_second_delete_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    let free_before = subnet_free(&ec2, &fx.subnet_a).await;
    ec2.delete_network_interface(&eni.id).await.expect("delete");
    wait_gone(&ec2, &eni.id).await;
    let err = ec2
        .delete_network_interface(&eni.id)
        .await
        .expect_err("second delete");
    assert_eq!(
        err.kind,
        ErrorKind::NotFound(Resource::NetworkInterface),
        "{err}"
    );
    if w.models(Behaviour::FreeAddressAccounting) {
        assert_eq!(
            subnet_free(&ec2, &fx.subnet_a).await,
            free_before + 1,
            "address released"
        );
    }
}

/// An attached interface cannot be deleted.
pub async fn delete_attached_interface_is_refused(w: &dyn World) {
    if !w.models(Behaviour::InUseChecks) {
        return not_modelled(
            w,
            "delete_attached_interface_is_refused",
            "in-use checks on delete",
        );
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    let err = ec2
        .delete_network_interface(&eni.id)
        .await
        .expect_err("in use");
    assert_eq!(err.kind, ErrorKind::IncorrectState, "{err}");
    assert_eq!(err.code.as_deref(), Some("InvalidNetworkInterface.InUse"));
    assert!(describe_one(&ec2, &eni.id).await.is_some(), "still there");
}

/// An occupied device index is reported as DeviceIndexInUse (EC2 says
/// `InvalidParameterValue`; the implementation checks the instance to tell).
pub async fn attach_to_occupied_device_index_is_device_index_in_use(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let first = fx.create(&ec2, &fx.create_req(&[])).await;
    let second = fx.create(&ec2, &fx.create_req(&[])).await;
    fx.attach(&ec2, &first.id, &fx.instance, 1).await;
    let req = attach_req(&second.id, &fx.instance, 1);
    let result = eventually("attach", || ec2.attach_network_interface(&req), propagation).await;
    if !w.models(Behaviour::DeviceIndexConflicts) {
        not_modelled(
            w,
            "attach_to_occupied_device_index",
            "device-index conflicts",
        );
        result.expect("moto accepts a second interface at an occupied device index");
        return;
    }
    let err = result.expect_err("index 1 is taken");
    assert_eq!(err.kind, ErrorKind::DeviceIndexInUse, "{err}");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    // A bad request that is not a conflict stays InvalidInput.
    let negative = attach_req(&second.id, &fx.instance, -1);
    let err = ec2
        .attach_network_interface(&negative)
        .await
        .expect_err("negative index");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

/// The instance type's interface limit (m5.large: 3) is `AttachmentLimitExceeded`.
pub async fn attach_beyond_the_type_limit_is_attachment_limit_exceeded(w: &dyn World) {
    if !w.models(Behaviour::AttachmentLimits) {
        return not_modelled(w, "attach_beyond_the_type_limit", "interface limits");
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    for index in [1, 2] {
        let eni = fx.create(&ec2, &fx.create_req(&[])).await;
        fx.attach(&ec2, &eni.id, &fx.instance, index).await;
    }
    let fourth = fx.create(&ec2, &fx.create_req(&[])).await;
    let req = attach_req(&fourth.id, &fx.instance, 3);
    let err = eventually("attach", || ec2.attach_network_interface(&req), propagation)
        .await
        .expect_err("m5.large takes 3 interfaces");
    assert_eq!(err.kind, ErrorKind::AttachmentLimitExceeded, "{err}");
}

/// An interface in zone B cannot attach to an instance in zone A.
pub async fn attach_across_zones_is_refused(w: &dyn World) {
    if !w.models(Behaviour::AzMismatch) {
        return not_modelled(
            w,
            "attach_across_zones_is_refused",
            "availability-zone checks",
        );
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let mut req = fx.create_req(&[]);
    req.subnet_id = fx.subnet_b.clone();
    let eni = fx.create(&ec2, &req).await;
    let attach = attach_req(&eni.id, &fx.instance, 1);
    let err = eventually(
        "attach",
        || ec2.attach_network_interface(&attach),
        propagation,
    )
    .await
    .expect_err("zone mismatch");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

/// An interface attached elsewhere cannot be attached again.
pub async fn attach_interface_in_use_is_refused(w: &dyn World) {
    if !w.models(Behaviour::InUseChecks) {
        return not_modelled(
            w,
            "attach_interface_in_use_is_refused",
            "in-use checks on attach",
        );
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other = w.launch_instance(&fx.subnet_a, "m5.large").await;
    let eni = fx.create(&ec2, &fx.create_req(&[])).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    let err = ec2
        .attach_network_interface(&attach_req(&eni.id, &other, 1))
        .await
        .expect_err("in use");
    assert_eq!(err.kind, ErrorKind::IncorrectState, "{err}");
}

/// Terminating an instance deletes its DeleteOnTermination interfaces (the primary one and
/// ours with the flag) and leaves the others `available`.
pub async fn terminate_deletes_delete_on_termination_interfaces_and_frees_others(w: &dyn World) {
    if !w.models(Behaviour::DeleteOnTermination) {
        return not_modelled(
            w,
            "terminate_deletes_delete_on_termination",
            "DeleteOnTermination on terminate",
        );
    }
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let keep = fx.create(&ec2, &fx.create_req(&[])).await;
    let drop = fx.create(&ec2, &fx.create_req(&[])).await;
    fx.attach(&ec2, &keep.id, &fx.instance, 1).await;
    let r = fx.attach(&ec2, &drop.id, &fx.instance, 2).await;
    ec2.modify_network_interface_attribute(
        &drop.id,
        &EniAttributeChange::DeleteOnTermination {
            attachment_id: r.attachment_id,
            delete_on_termination: true,
        },
    )
    .await
    .expect("set DeleteOnTermination");
    let primary = fx
        .instance(&ec2, &fx.instance)
        .await
        .network_interfaces
        .into_iter()
        .find(|n| n.device_index == 0)
        .expect("primary")
        .network_interface_id;
    w.terminate_instance(&fx.instance).await;
    wait_gone(&ec2, &drop.id).await;
    wait_gone(&ec2, &primary).await;
    wait_available(&ec2, &keep.id).await;
    let i = fx.instance(&ec2, &fx.instance).await;
    assert_eq!(i.state, InstanceState::Terminated);
    assert!(
        i.network_interfaces.is_empty(),
        "{:?}",
        i.network_interfaces
    );
}

/// Same ClientToken and parameters: the same interface, not a second one. Same token,
/// other parameters: IdempotencyMismatch.
pub async fn client_token_returns_the_same_interface_and_refuses_other_parameters(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let req = CreateEni {
        client_token: Some("attachment-uid-1234".into()),
        ..fx.create_req(&[(CLUSTER, "tok")])
    };
    let first = ec2
        .create_network_interface(&req)
        .await
        .expect("first create");
    let again = ec2
        .create_network_interface(&req)
        .await
        .expect("retried create");
    if !w.models(Behaviour::ClientToken) {
        not_modelled(w, "client_token", "ClientToken idempotency");
        assert_ne!(
            first.id, again.id,
            "moto ignores ClientToken: a retry creates a second interface"
        );
        return;
    }
    assert_eq!(
        again.id, first.id,
        "a retry after a lost response returns the same interface"
    );
    let mut changed = req.clone();
    changed.description = Some("different".into());
    let err = ec2
        .create_network_interface(&changed)
        .await
        .expect_err("other parameters");
    assert_eq!(err.kind, ErrorKind::IdempotencyMismatch, "{err}");
    wait_filtered(
        &ec2,
        "exactly one interface",
        vec![Filter::tag(CLUSTER, "tok")],
        &BTreeSet::from([first.id]),
    )
    .await;
}

/// DescribeInstances: state, zone, type, subnet, VPC and the primary interface.
pub async fn describe_instances_state_zone_type_and_interfaces(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let i = fx.instance(&w.ec2(), &fx.instance).await;
    assert_eq!(i.state, InstanceState::Running);
    assert_eq!(i.availability_zone, fx.zones[0]);
    assert_eq!(i.instance_type, "m5.large");
    assert_eq!(i.subnet_id.as_deref(), Some(fx.subnet_a.as_str()));
    assert_eq!(i.vpc_id.as_deref(), Some(fx.vpc.as_str()));
    let primary: Vec<_> = i
        .network_interfaces
        .iter()
        .filter(|n| n.device_index == 0)
        .collect();
    assert_eq!(primary.len(), 1, "{:?}", i.network_interfaces);
    assert!(primary[0].network_interface_id.starts_with("eni-"));
    let by_filter = w
        .ec2()
        .describe_instances(&DescribeQuery::filters(vec![
            Filter::eq("instance-id", &fx.instance),
            Filter::eq("instance-state-name", "running"),
        ]))
        .await
        .expect("filtered");
    assert_eq!(by_filter.items.len(), 1);
}

/// An unknown instance is `InvalidInstanceID.NotFound`.
pub async fn describe_unknown_instance_is_not_found(w: &dyn World) {
    let _fx = Fixture::new(w).await;
    let err = w
        .ec2()
        .describe_instances(&DescribeQuery::ids(["i-0123456789abcdef0"]))
        .await
        .expect_err("unknown instance");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Instance), "{err}");
}

/// Stopped and terminated instances report their state.
pub async fn stopped_and_terminated_states_are_reported(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other = w.launch_instance(&fx.subnet_a, "t3.medium").await;
    w.stop_instance(&other).await;
    wait_for("stopped", || {
        let (ec2, fx, id) = (ec2.clone(), fx.clone(), other.clone());
        async move { (fx.instance(&ec2, &id).await.state == InstanceState::Stopped).then_some(()) }
    })
    .await;
    w.terminate_instance(&fx.instance).await;
    wait_for("terminated", || {
        let (ec2, fx) = (ec2.clone(), fx.clone());
        async move {
            (fx.instance(&ec2, &fx.instance).await.state == InstanceState::Terminated).then_some(())
        }
    })
    .await;
}

async fn subnet_free(ec2: &Arc<dyn Ec2>, id: &str) -> u32 {
    ec2.describe_subnets(&DescribeQuery::ids([id]))
        .await
        .expect("describe subnet")
        .items
        .first()
        .expect("subnet")
        .available_ip_address_count
}

/// Subnets by ID and by `Name` tag within the VPC, with zone and CIDR.
pub async fn describe_subnets_by_id_and_by_name_within_the_vpc(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let page = ec2
        .describe_subnets(&DescribeQuery::ids([fx.subnet_a.clone()]))
        .await
        .expect("by id");
    let s = &page.items[0];
    assert_eq!(s.vpc_id, fx.vpc);
    assert_eq!(s.availability_zone, fx.zones[0]);
    assert_eq!(s.cidr_block, "10.0.1.0/24");
    assert_eq!(s.name(), Some("contract-a"));
    let by_name = ec2
        .describe_subnets(&DescribeQuery::filters(vec![
            Filter::eq("vpc-id", &fx.vpc),
            Filter::tag(NAME_TAG, "contract-b"),
        ]))
        .await
        .expect("by name");
    assert_eq!(
        by_name
            .items
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![fx.subnet_b.clone()]
    );
    let err = ec2
        .describe_subnets(&DescribeQuery::ids(["subnet-0123456789abcdef0"]))
        .await
        .expect_err("unknown subnet");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Subnet), "{err}");
}

/// A new interface takes one address from its subnet.
pub async fn free_address_count_drops_when_an_interface_is_created(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let before = subnet_free(&ec2, &fx.subnet_b).await;
    assert_eq!(before, 251, "a /24 has 256 - 5 reserved addresses");
    let mut req = fx.create_req(&[]);
    req.subnet_id = fx.subnet_b.clone();
    fx.create(&ec2, &req).await;
    if !w.models(Behaviour::FreeAddressAccounting) {
        return not_modelled(w, "free_address_count", "free-address accounting");
    }
    assert_eq!(subnet_free(&ec2, &fx.subnet_b).await, before - 1);
}

/// Groups by ID and by name within the VPC.
pub async fn describe_security_groups_by_id_and_name_within_the_vpc(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other_vpc = w.create_vpc("10.1.0.0/16").await;
    let twin = w.create_security_group(&other_vpc, "contract-sg").await;
    let by_id = ec2
        .describe_security_groups(&DescribeQuery::ids([fx.group.clone()]))
        .await
        .expect("by id");
    assert_eq!(by_id.items.len(), 1);
    assert_eq!(by_id.items[0].name, "contract-sg");
    assert_eq!(by_id.items[0].vpc_id.as_deref(), Some(fx.vpc.as_str()));
    let by_name = ec2
        .describe_security_groups(&DescribeQuery::filters(vec![
            Filter::eq("vpc-id", &fx.vpc),
            Filter::eq("group-name", "contract-sg"),
        ]))
        .await
        .expect("by name");
    assert_eq!(
        by_name
            .items
            .iter()
            .map(|g| g.id.clone())
            .collect::<Vec<_>>(),
        vec![fx.group.clone()]
    );
    let both = ec2
        .describe_security_groups(&DescribeQuery::filters(vec![Filter::eq(
            "group-name",
            "contract-sg",
        )]))
        .await
        .expect("by name, any VPC");
    let ids: BTreeSet<_> = both.items.iter().map(|g| g.id.clone()).collect();
    assert_eq!(ids, BTreeSet::from([fx.group.clone(), twin]));
    let err = ec2
        .describe_security_groups(&DescribeQuery::ids(["sg-0123456789abcdef0"]))
        .await
        .expect_err("unknown group");
    assert_eq!(
        err.kind,
        ErrorKind::NotFound(Resource::SecurityGroup),
        "{err}"
    );
}

/// Interface limits of common types: the figures `DescribeInstanceTypes` publishes.
pub async fn instance_type_limits_match_published_figures(w: &dyn World) {
    let ec2 = w.ec2();
    // (type, max interfaces, cards, per-card max)
    let table: &[(&str, u32, u32, u32)] = &[
        ("t3.medium", 3, 1, 3),
        ("m5.large", 3, 1, 3),
        ("m5.xlarge", 4, 1, 4),
        ("c5n.18xlarge", 15, 1, 15),
        ("c6in.32xlarge", 16, 2, 8),
        ("p4d.24xlarge", 60, 4, 15),
    ];
    let names: Vec<String> = table.iter().map(|t| t.0.to_string()).collect();
    let page = ec2
        .describe_instance_types(&DescribeQuery::ids(names))
        .await
        .expect("DescribeInstanceTypes");
    for (name, max, cards, per_card) in table {
        let t = page
            .items
            .iter()
            .find(|t| t.instance_type == *name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(t.max_network_interfaces, *max, "{name}");
        assert_eq!(t.max_network_cards, *cards, "{name}");
        assert_eq!(t.network_cards.len() as u32, *cards, "{name}");
        assert!(
            t.network_cards
                .iter()
                .all(|c| c.max_network_interfaces == *per_card),
            "{name}: {t:?}"
        );
    }
}

/// An unknown type fails the request (EC2: `InvalidInstanceType`).
pub async fn unknown_instance_type_is_reported(w: &dyn World) {
    let err = w
        .ec2()
        .describe_instance_types(&DescribeQuery::ids(["x9.nosuch"]))
        .await
        .expect_err("unknown type");
    assert!(
        matches!(
            err.kind,
            ErrorKind::InvalidInput | ErrorKind::NotFound(Resource::InstanceType)
        ),
        "{err}"
    );
    let lookups = Lookups::new(w.ec2(), LookupTtls::default());
    assert!(matches!(
        lookups.instance_type_limits("x9.nosuch").await,
        Err(LookupError::NotFound {
            what: "instance type",
            ..
        })
    ));
}

/// `attachment.status` filter.
pub async fn attachment_status_filter(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[(CLUSTER, "f")])).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    let query = DescribeQuery::filters(vec![
        Filter::tag(CLUSTER, "f"),
        Filter::eq("attachment.status", "attached"),
    ]);
    if !w.models(Behaviour::AttachmentStatusFilter) {
        not_modelled(
            w,
            "attachment_status_filter",
            "the attachment.status filter",
        );
        let err = ec2
            .describe_network_interfaces(&query)
            .await
            .expect_err("moto answers HTTP 500");
        assert_eq!(err.kind, ErrorKind::Transient, "{err}");
        return;
    }
    wait_filtered(
        &ec2,
        "the attached interface",
        query.filters.clone(),
        &BTreeSet::from([eni.id.clone()]),
    )
    .await;
}

/// `attachment.device-index` filter.
pub async fn attachment_device_index_filter(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.create(&ec2, &fx.create_req(&[(CLUSTER, "d")])).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 2).await;
    let filters = vec![
        Filter::eq("attachment.instance-id", &fx.instance),
        Filter::eq("attachment.device-index", "2"),
    ];
    if !w.models(Behaviour::AttachmentDeviceIndexFilter) {
        not_modelled(
            w,
            "attachment_device_index_filter",
            "the attachment.device-index filter",
        );
        let err = ec2
            .describe_network_interfaces(&DescribeQuery::filters(filters))
            .await
            .expect_err("moto answers HTTP 500");
        assert_eq!(err.kind, ErrorKind::Transient, "{err}");
        return;
    }
    wait_filtered(
        &ec2,
        "the interface at index 2",
        filters,
        &BTreeSet::from([eni.id.clone()]),
    )
    .await;
}

/// [`Lookups`] over the port: names resolve within the VPC, ambiguity names every candidate,
/// and repeated lookups are served from the cache.
pub async fn lookups_resolve_names_within_the_vpc_and_name_candidates(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other_vpc = w.create_vpc("10.1.0.0/16").await;
    // Same name in another VPC: must not count.
    w.create_subnet(&other_vpc, &fx.zones[0], "10.1.1.0/24", Some("contract-a"))
        .await;
    let dup1 = w
        .create_subnet(&fx.vpc, &fx.zones[0], "10.0.3.0/24", Some("twin"))
        .await;
    let dup2 = w
        .create_subnet(&fx.vpc, &fx.zones[1], "10.0.4.0/24", Some("twin"))
        .await;
    let lookups = Lookups::new(ec2.clone(), LookupTtls::default());
    let a = lookups
        .subnet_by_name(&fx.vpc, "contract-a")
        .await
        .expect("contract-a");
    assert_eq!(a.id, fx.subnet_a);
    match lookups.subnet_by_name(&fx.vpc, "twin").await {
        Err(LookupError::Ambiguous { candidates, .. }) => {
            let mut want = vec![dup1, dup2];
            want.sort();
            assert_eq!(candidates, want);
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    assert!(matches!(
        lookups.subnet_by_name(&fx.vpc, "nothing").await,
        Err(LookupError::NotFound { what: "subnet", .. })
    ));
    let g = lookups
        .security_group_by_name(&fx.vpc, "contract-sg")
        .await
        .expect("group");
    assert_eq!(g.id, fx.group);
    let both = lookups
        .subnets(&[fx.subnet_a.clone(), fx.subnet_b.clone()])
        .await
        .expect("by ids");
    assert_eq!(
        both.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![fx.subnet_a.clone(), fx.subnet_b.clone()]
    );
    match lookups
        .subnets(&[fx.subnet_a.clone(), "subnet-0123456789abcdef0".into()])
        .await
    {
        Err(LookupError::NotFound { key, .. }) => assert_eq!(key, "subnet-0123456789abcdef0"),
        other => panic!("expected the unknown ID named, got {other:?}"),
    }
    let limits = lookups
        .instance_type_limits("m5.large")
        .await
        .expect("limits");
    assert_eq!(limits.max_network_interfaces, 3);
}

/// IDs together with MaxResults is refused.
pub async fn ids_with_max_results_is_invalid_input(w: &dyn World) {
    if !w.models(Behaviour::IdsWithMaxResults) {
        return not_modelled(w, "ids_with_max_results", "MaxResults with IDs");
    }
    let fx = Fixture::new(w).await;
    let err = w
        .ec2()
        .describe_instances(&DescribeQuery::ids([fx.instance.clone()]).page_size(5))
        .await
        .expect_err("ids and MaxResults");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

/// A filter name EC2 does not know is refused rather than ignored.
pub async fn unknown_filter_name_is_invalid_input(w: &dyn World) {
    let _fx = Fixture::new(w).await;
    let err = w
        .ec2()
        .describe_network_interfaces(&DescribeQuery::filters(vec![Filter::eq(
            "no-such-filter",
            "x",
        )]))
        .await
        .expect_err("unknown filter");
    if !w.models(Behaviour::UnknownFilterNames) {
        not_modelled(w, "unknown_filter_name", "unknown filter names");
        assert_eq!(
            err.kind,
            ErrorKind::Transient,
            "moto answers HTTP 500: {err}"
        );
        return;
    }
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}
