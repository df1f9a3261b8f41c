//! What the controller looks up: instances (DescribeInstances), instance-type limits, subnets
//! and security groups by ID and by name within a VPC, free-address accounting, and
//! [`multi_eni_ec2::Lookups`] over the port.

use std::collections::BTreeSet;

use multi_eni_ec2::{
    DescribeQuery, ErrorKind, Filter, InstanceState, LookupError, LookupTtls, Lookups, NAME_TAG,
    Resource,
};

use crate::contract::fixture::{
    Fixture, describing_an_unknown_id_is_not_found, group_ids_named, subnet_free,
};
use crate::contract::wait::wait_for;
use crate::contract::{Behaviour, World, modelled};

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
    describing_an_unknown_id_is_not_found(&w.ec2(), Resource::Instance).await;
}

/// Stopped and terminated instances report their state.
pub async fn stopped_and_terminated_states_are_reported(w: &dyn World) {
    let fx = Fixture::new(w).await;
    let ec2 = w.ec2();
    let other = fx.launch(w, &fx.subnet_a, "t3.medium").await;
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
    describing_an_unknown_id_is_not_found(&ec2, Resource::Subnet).await;
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
    if !modelled(w, Behaviour::FreeAddressAccounting) {
        return;
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
    assert_eq!(
        group_ids_named(&ec2, Some(&fx.vpc), "contract-sg").await,
        vec![fx.group.clone()]
    );
    let ids: BTreeSet<_> = group_ids_named(&ec2, None, "contract-sg")
        .await
        .into_iter()
        .collect();
    assert_eq!(ids, BTreeSet::from([fx.group.clone(), twin]), "any VPC");
    describing_an_unknown_id_is_not_found(&ec2, Resource::SecurityGroup).await;
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
