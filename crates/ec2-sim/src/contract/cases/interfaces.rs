//! Network interfaces themselves: CreateNetworkInterface (placement, tags, groups, the VPC
//! default group, ClientToken), DescribeNetworkInterfaces (IDs, filters on tags, VPC, subnet,
//! status and attachment fields, pagination, the requests EC2 refuses),
//! ModifyNetworkInterfaceAttribute and DeleteNetworkInterface.

use std::collections::BTreeSet;

use multi_eni_ec2::{
    CreateEni, DescribeQuery, EniAttributeChange, EniStatus, ErrorKind, Filter, Op, Resource,
    collect_pages,
};

use super::CLUSTER;
use crate::contract::fixture::{
    Fixture, describe_filtered, describe_one, describing_an_unknown_id_is_not_found, fails_with,
    group_ids_named, subnet_free, try_delete, try_modify, visible, wait_filtered, wait_gone,
};
use crate::contract::fixture::{propagation, tags_of};
use crate::contract::wait::{eventually, wait_for};
use crate::contract::{Behaviour, World, modelled};

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
    assert_eq!(
        group_ids_named(&ec2, Some(&fx.vpc), "default").await,
        eni.security_group_ids
    );
}

/// An unknown subnet is `InvalidSubnetID.NotFound`.
pub async fn create_in_unknown_subnet_is_subnet_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let mut req = fx.create_req(&[]);
    req.subnet_id = "subnet-0123456789abcdef0".into();
    let err = fails_with(
        w.ec2().create_network_interface(&req).await,
        ErrorKind::NotFound(Resource::Subnet),
        "unknown subnet",
    );
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
        Ok(eni) if !modelled(w, Behaviour::GroupValidation) => {
            assert_eq!(eni.security_group_ids, req.security_group_ids);
        }
        Ok(eni) => panic!("created {} with an unknown group", eni.id),
    }
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
    if !modelled(w, Behaviour::ClientToken) {
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
    fails_with(
        ec2.create_network_interface(&changed).await,
        ErrorKind::IdempotencyMismatch,
        "other parameters",
    );
    wait_filtered(
        &ec2,
        "exactly one interface",
        vec![Filter::tag(CLUSTER, "tok")],
        &BTreeSet::from([first.id]),
    )
    .await;
}

/// DeleteOnTermination set with ModifyNetworkInterfaceAttribute shows in describes.
pub async fn delete_on_termination_is_set_after_attach(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
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
    let (ec2_ref, id) = (&ec2, eni.id.as_str());
    if !modelled(w, Behaviour::DeleteOnTerminationModify) {
        let e = describe_one(ec2_ref, id).await.expect("visible");
        let att = e.attachment.expect("attached");
        assert!(
            !att.delete_on_termination,
            "moto accepts and ignores Attachment.DeleteOnTermination"
        );
        return;
    }
    wait_for("DeleteOnTermination to show", || async move {
        let e = describe_one(ec2_ref, id).await?;
        e.attachment.filter(|a| a.delete_on_termination).map(|_| ())
    })
    .await;
    fails_with(
        ec2.modify_network_interface_attribute(
            &eni.id,
            &EniAttributeChange::DeleteOnTermination {
                attachment_id: "eni-attach-0123456789abcdef0".into(),
                delete_on_termination: false,
            },
        )
        .await,
        ErrorKind::NotFound(Resource::Attachment),
        "wrong attachment",
    );
}

/// Groups and description are replaced in place.
pub async fn modify_security_groups_and_description(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let second = w.create_security_group(&fx.vpc, "contract-sg-2").await;
    try_modify(
        &ec2,
        &eni.id,
        &EniAttributeChange::SecurityGroups(vec![second.clone(), fx.group.clone()]),
    )
    .await
    .expect("modify groups");
    try_modify(
        &ec2,
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
    fails_with(
        ec2.modify_network_interface_attribute(
            "eni-0123456789abcdef0",
            &EniAttributeChange::Description("x".into()),
        )
        .await,
        ErrorKind::NotFound(Resource::NetworkInterface),
        "unknown interface",
    );
}

/// CreateTags adds tags to an existing interface: new keys are added, a present key takes the
/// new value, other tags stay. An unknown interface is NotFound (moto tags anything).
pub async fn create_tags_adds_and_overwrites_and_keeps_the_rest(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let req = fx.create_req(&[("NodeENI", "legacy"), (CLUSTER, "old")]);
    let eni = fx.create(&ec2, &req).await;
    let added = tags_of(&[(CLUSTER, "c1"), ("multi-eni.k8s.aws/attachment", "uid-1")]);
    let (ec2_ref, id) = (&ec2, eni.id.as_str());
    let ids = [eni.id.clone()];
    eventually(
        "create tags",
        || ec2_ref.create_tags(&ids, &added),
        propagation,
    )
    .await
    .expect("CreateTags");
    let want = tags_of(&[
        ("NodeENI", "legacy"),
        (CLUSTER, "c1"),
        ("multi-eni.k8s.aws/attachment", "uid-1"),
    ]);
    let want = &want;
    wait_for("the tags to show", || async move {
        let e = describe_one(ec2_ref, id).await?;
        (e.tags == *want).then_some(())
    })
    .await;
    wait_filtered(
        &ec2,
        "a tag filter to find the tagged interface",
        vec![Filter::new("tag:multi-eni.k8s.aws/attachment", ["uid-1"])],
        &BTreeSet::from([eni.id.clone()]),
    )
    .await;
    let unknown = ["eni-0123456789abcdef0".to_string()];
    let result = ec2.create_tags(&unknown, &added).await;
    if modelled(w, Behaviour::TagUnknownResourceChecks) {
        fails_with(
            result,
            ErrorKind::NotFound(Resource::NetworkInterface),
            "tagging an unknown interface",
        );
    } else {
        assert!(result.is_ok(), "moto tags unknown IDs: {result:?}");
    }
}

/// A group from another VPC (or an unknown one) is refused.
pub async fn modify_with_group_from_another_vpc_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let other_vpc = w.create_vpc("10.1.0.0/16").await;
    let foreign = w.create_security_group(&other_vpc, "elsewhere").await;
    let result = try_modify(
        &ec2,
        &eni.id,
        &EniAttributeChange::SecurityGroups(vec![foreign.clone()]),
    )
    .await;
    if !modelled(w, Behaviour::GroupValidation) {
        result.expect("moto accepts a group of another VPC");
        let (ec2_ref, id, foreign) = (&ec2, eni.id.as_str(), &foreign);
        wait_for("the foreign group to show", || async move {
            let e = describe_one(ec2_ref, id).await?;
            (e.security_group_ids == vec![foreign.clone()]).then_some(())
        })
        .await;
        return;
    }
    fails_with(result, ErrorKind::InvalidInput, "group of another VPC");
    fails_with(
        ec2.modify_network_interface_attribute(
            &eni.id,
            &EniAttributeChange::SecurityGroups(vec!["sg-0123456789abcdef0".into()]),
        )
        .await,
        ErrorKind::NotFound(Resource::SecurityGroup),
        "unknown group",
    );
}

/// Delete removes the interface; deleting again is NotFound ("already done").
pub async fn delete_then_not_found_and_second_delete_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let free_before = subnet_free(&ec2, &fx.subnet_a).await;
    try_delete(&ec2, &eni.id).await.expect("delete");
    wait_gone(&ec2, &eni.id).await;
    fails_with(
        ec2.delete_network_interface(&eni.id).await,
        ErrorKind::NotFound(Resource::NetworkInterface),
        "second delete",
    );
    if w.models(Behaviour::FreeAddressAccounting) {
        assert_eq!(
            subnet_free(&ec2, &fx.subnet_a).await,
            free_before + 1,
            "address released"
        );
    }
}

/// An attached interface cannot be deleted. EC2 answers with the generic
/// `InvalidParameterValue` (not `InvalidNetworkInterface.InUse`); the implementation checks
/// the interface with one describe and reports `IncorrectState` — retry after the detach,
/// not bad input.
pub async fn delete_attached_interface_is_refused(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    fx.attach(&ec2, &eni.id, &fx.instance, 1).await;
    let result = try_delete(&ec2, &eni.id).await;
    if !modelled(w, Behaviour::InUseChecks) {
        result.expect("moto deletes an attached interface");
        wait_gone(&ec2, &eni.id).await;
        return;
    }
    let err = fails_with(result, ErrorKind::IncorrectState, "in use");
    assert_eq!(
        err.code.as_deref(),
        Some("InvalidParameterValue"),
        "EC2's code for deleting an attached interface"
    );
    assert!(describe_one(&ec2, &eni.id).await.is_some(), "still there");
}

/// Describe by ID finds the interface; an unknown ID fails the request as NotFound.
pub async fn describe_by_id_and_unknown_id_is_not_found(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx.new_eni(&ec2).await;
    let page = ec2
        .describe_network_interfaces(&DescribeQuery::ids([eni.id.clone()]))
        .await
        .expect("describe by id");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, eni.id);
    describing_an_unknown_id_is_not_found(&ec2, Resource::NetworkInterface).await;
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
    if modelled(w, Behaviour::Pagination) {
        assert_eq!(pages.len(), 3, "12 items at 5 per page is 3 requests");
    } else {
        assert_eq!(
            pages.len(),
            1,
            "moto ignores MaxResults and answers in one page"
        );
    }
}

/// `attachment.status` filter.
pub async fn attachment_status_filter(w: &dyn World) {
    finds_the_attached_interface(w, Behaviour::AttachmentStatusFilter, 1, |_| {
        vec![
            Filter::tag(CLUSTER, "attached"),
            Filter::eq("attachment.status", "attached"),
        ]
    })
    .await;
}

/// `attachment.device-index` filter.
pub async fn attachment_device_index_filter(w: &dyn World) {
    finds_the_attached_interface(w, Behaviour::AttachmentDeviceIndexFilter, 2, |fx| {
        vec![
            Filter::eq("attachment.instance-id", &fx.instance),
            Filter::eq("attachment.device-index", "2"),
        ]
    })
    .await;
}

/// Attaches a new interface tagged `CLUSTER=attached` at `device_index` and checks that
/// `filters` find exactly it. Where the world does not model `filter`, pins what moto does
/// instead: HTTP 500, classified `Transient`.
async fn finds_the_attached_interface(
    w: &dyn World,
    filter: Behaviour,
    device_index: i32,
    filters: impl FnOnce(&Fixture) -> Vec<Filter>,
) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let eni = fx
        .create(&ec2, &fx.create_req(&[(CLUSTER, "attached")]))
        .await;
    fx.attach(&ec2, &eni.id, &fx.instance, device_index).await;
    let filters = filters(&fx);
    if !modelled(w, filter) {
        fails_with(
            ec2.describe_network_interfaces(&DescribeQuery::filters(filters))
                .await,
            ErrorKind::Transient,
            "moto answers HTTP 500",
        );
        return;
    }
    wait_filtered(
        &ec2,
        "the attached interface",
        filters,
        &BTreeSet::from([eni.id]),
    )
    .await;
}

/// IDs together with MaxResults is refused.
pub async fn ids_with_max_results_is_invalid_input(w: &dyn World) {
    if !modelled(w, Behaviour::IdsWithMaxResults) {
        return;
    }
    let fx = Fixture::new(w).await;
    fails_with(
        w.ec2()
            .describe_instances(&DescribeQuery::ids([fx.instance.clone()]).page_size(5))
            .await,
        ErrorKind::InvalidInput,
        "ids and MaxResults",
    );
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
    if !modelled(w, Behaviour::UnknownFilterNames) {
        assert_eq!(
            err.kind,
            ErrorKind::Transient,
            "moto answers HTTP 500: {err}"
        );
        return;
    }
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}
