//! [`Lookups`] over the simulator: per-entry TTLs, one request for a batch of misses, names
//! scoped to a VPC, errors that name what matched. Request counts come from the simulator's
//! counters; TTLs run on paused tokio time.

use std::sync::Arc;
use std::time::Duration;

use multi_eni_ec2::{Ec2, LookupError, LookupTtls, Lookups, Op};
use multi_eni_ec2_sim::{Ec2Sim, SimConfig};
use tokio::time::advance;

struct Scene {
    sim: Arc<Ec2Sim>,
    lookups: Lookups,
    vpc: String,
    other_vpc: String,
    a: String,
    b: String,
}

fn ttls() -> LookupTtls {
    LookupTtls {
        subnet: Duration::from_secs(60),
        security_group: Duration::from_secs(60),
        instance_type: Duration::from_secs(3600),
    }
}

fn scene() -> Scene {
    let sim = Arc::new(Ec2Sim::new(SimConfig::instant()));
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let other_vpc = sim.add_vpc("10.1.0.0/16").expect("vpc");
    let a = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", Some("app"))
        .expect("a");
    let b = sim
        .add_subnet(&vpc, "us-east-1b", "10.0.2.0/24", Some("data"))
        .expect("b");
    sim.add_subnet(&other_vpc, "us-east-1a", "10.1.1.0/24", Some("app"))
        .expect("twin in another VPC");
    let ec2: Arc<dyn Ec2> = sim.clone();
    Scene {
        lookups: Lookups::new(ec2, ttls()),
        sim,
        vpc,
        other_vpc,
        a,
        b,
    }
}

#[tokio::test(start_paused = true)]
async fn a_subnet_is_fetched_once_per_ttl() {
    let s = scene();
    assert_eq!(
        s.lookups.subnet(&s.a).await.expect("a").availability_zone,
        "us-east-1a"
    );
    s.lookups.subnet(&s.a).await.expect("cached");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 1);
    advance(Duration::from_secs(59)).await;
    s.lookups.subnet(&s.a).await.expect("still cached");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 1);
    advance(Duration::from_secs(1)).await;
    s.lookups
        .subnet(&s.a)
        .await
        .expect("expired: fetched again");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2);
}

#[tokio::test(start_paused = true)]
async fn a_batch_fetches_only_its_misses_in_one_request() {
    let s = scene();
    s.lookups.subnet(&s.a).await.expect("a");
    let both = s
        .lookups
        .subnets(&[s.b.clone(), s.a.clone()])
        .await
        .expect("both");
    assert_eq!(
        both.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        vec![s.b.clone(), s.a.clone()],
        "in the order asked"
    );
    assert_eq!(
        s.sim.calls(Op::DescribeSubnets),
        2,
        "one for a, one for the miss b"
    );
    s.lookups
        .subnets(&[s.a.clone(), s.b.clone()])
        .await
        .expect("all cached");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2);
}

#[tokio::test(start_paused = true)]
async fn unknown_ids_are_named() {
    let s = scene();
    match s
        .lookups
        .subnets(&[s.a.clone(), "subnet-00000000000000001".into()])
        .await
    {
        Err(LookupError::NotFound { what, key }) => {
            assert_eq!(what, "subnet");
            assert_eq!(key, "subnet-00000000000000001");
        }
        other => panic!("{other:?}"),
    }
    s.lookups
        .subnet(&s.a)
        .await
        .expect("the known one was cached meanwhile");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 1);
}

#[tokio::test(start_paused = true)]
async fn names_resolve_within_the_vpc_only() {
    let s = scene();
    let app = s.lookups.subnet_by_name(&s.vpc, "app").await.expect("app");
    assert_eq!(app.id, s.a);
    let twin = s
        .lookups
        .subnet_by_name(&s.other_vpc, "app")
        .await
        .expect("other VPC's app");
    assert_ne!(twin.id, s.a);
    s.lookups
        .subnet_by_name(&s.vpc, "app")
        .await
        .expect("cached by name");
    s.lookups.subnet(&s.a).await.expect("and by id");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2);
}

#[tokio::test(start_paused = true)]
async fn zero_or_several_matches_are_errors_naming_the_candidates() {
    let s = scene();
    let c = s
        .sim
        .add_subnet(&s.vpc, "us-east-1c", "10.0.3.0/24", Some("data"))
        .expect("second data");
    match s.lookups.subnet_by_name(&s.vpc, "data").await {
        Err(LookupError::Ambiguous {
            candidates,
            vpc_id,
            name,
            ..
        }) => {
            let mut want = vec![s.b.clone(), c];
            want.sort();
            assert_eq!(candidates, want);
            assert_eq!((vpc_id.as_str(), name.as_str()), (s.vpc.as_str(), "data"));
        }
        other => panic!("{other:?}"),
    }
    let err = s
        .lookups
        .subnet_by_name(&s.vpc, "nothing")
        .await
        .expect_err("no match");
    assert!(err.to_string().contains("nothing"), "{err}");
    assert!(matches!(err, LookupError::NotFound { what: "subnet", .. }));
}

#[tokio::test(start_paused = true)]
async fn wildcard_characters_in_names_match_literally() {
    let s = scene();
    s.sim
        .add_subnet(&s.vpc, "us-east-1a", "10.0.4.0/24", Some("db*"))
        .expect("literal star");
    assert!(matches!(
        s.lookups.subnet_by_name(&s.vpc, "d*").await,
        Err(LookupError::NotFound { .. })
    ));
    assert_eq!(
        s.lookups
            .subnet_by_name(&s.vpc, "db*")
            .await
            .expect("exact")
            .cidr_block,
        "10.0.4.0/24"
    );
}

#[tokio::test(start_paused = true)]
async fn security_groups_by_name_are_scoped_and_cached() {
    let s = scene();
    let g = s.sim.add_security_group(&s.vpc, "eni-sg").expect("sg");
    s.sim
        .add_security_group(&s.other_vpc, "eni-sg")
        .expect("same name elsewhere");
    assert_eq!(
        s.lookups
            .security_group_by_name(&s.vpc, "eni-sg")
            .await
            .expect("sg")
            .id,
        g
    );
    assert_eq!(
        s.lookups
            .security_group(&g)
            .await
            .expect("by id from the same fetch")
            .name,
        "eni-sg"
    );
    assert_eq!(s.sim.calls(Op::DescribeSecurityGroups), 1);
    assert!(matches!(
        s.lookups.security_group_by_name(&s.vpc, "missing").await,
        Err(LookupError::NotFound {
            what: "security group",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn instance_type_limits_are_cached_for_their_long_ttl() {
    let s = scene();
    let l = s
        .lookups
        .instance_type_limits("c6in.32xlarge")
        .await
        .expect("limits");
    assert_eq!((l.max_network_interfaces, l.max_network_cards), (16, 2));
    advance(Duration::from_secs(3599)).await;
    s.lookups
        .instance_type_limits("c6in.32xlarge")
        .await
        .expect("cached");
    assert_eq!(s.sim.calls(Op::DescribeInstanceTypes), 1);
    assert!(matches!(
        s.lookups.instance_type_limits("q1.nothing").await,
        Err(LookupError::NotFound {
            what: "instance type",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn forgetting_a_subnet_forces_a_fresh_free_address_count() {
    let s = scene();
    assert_eq!(
        s.lookups
            .subnet(&s.a)
            .await
            .expect("a")
            .available_ip_address_count,
        251
    );
    s.sim
        .launch_instance(&s.a, "t3.medium")
        .expect("takes an address");
    assert_eq!(
        s.lookups
            .subnet(&s.a)
            .await
            .expect("cached")
            .available_ip_address_count,
        251
    );
    s.lookups.forget_subnet(&s.a);
    assert_eq!(
        s.lookups
            .subnet(&s.a)
            .await
            .expect("fresh")
            .available_ip_address_count,
        250
    );
}

#[tokio::test(start_paused = true)]
async fn forgetting_a_subnet_also_forgets_the_names_that_resolved_to_it() {
    let s = scene();
    let free = |subnet: multi_eni_ec2::Subnet| subnet.available_ip_address_count;
    let by_name = s.lookups.subnet_by_name(&s.vpc, "app").await.expect("app");
    assert_eq!(free(by_name), 251);
    s.sim
        .launch_instance(&s.a, "t3.medium")
        .expect("takes an address");
    s.lookups.forget_subnet(&s.a);
    let by_name = s.lookups.subnet_by_name(&s.vpc, "app").await.expect("app");
    assert_eq!(
        free(by_name),
        250,
        "the name no longer serves the stale count"
    );
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2);
}

#[tokio::test(start_paused = true)]
async fn a_zero_ttl_caches_nothing_but_still_answers() {
    let s = scene();
    let g = s.sim.add_security_group(&s.vpc, "eni-sg").expect("sg");
    let ec2: Arc<dyn Ec2> = s.sim.clone();
    let uncached = Lookups::new(
        ec2,
        LookupTtls {
            subnet: Duration::ZERO,
            security_group: Duration::ZERO,
            instance_type: Duration::ZERO,
        },
    );
    for _ in 0..2 {
        let both = uncached
            .subnets(&[s.a.clone(), s.b.clone()])
            .await
            .expect("fetched subnets are returned even though they expire at once");
        assert_eq!(
            both.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
            vec![s.a.clone(), s.b.clone()]
        );
        assert_eq!(uncached.security_group(&g).await.expect("group").id, g);
    }
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2, "nothing was cached");
    assert_eq!(s.sim.calls(Op::DescribeSecurityGroups), 2);
}

#[tokio::test(start_paused = true)]
async fn ec2_failures_pass_through_and_are_not_cached() {
    let s = scene();
    s.sim
        .fail_next(Op::DescribeSubnets, 1, "RequestLimitExceeded");
    match s.lookups.subnet(&s.a).await {
        Err(LookupError::Ec2(e)) => assert_eq!(e.kind, multi_eni_ec2::ErrorKind::Throttled),
        other => panic!("{other:?}"),
    }
    s.lookups
        .subnet(&s.a)
        .await
        .expect("next call goes to EC2 again");
    assert_eq!(s.sim.calls(Op::DescribeSubnets), 2);
}
