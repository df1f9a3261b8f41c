//! What only the simulator models (moto does not): eventual consistency, attach/detach
//! timing, EC2's token buckets, fault injection with lost responses, quotas, determinism
//! and call counters. Time-dependent cases run on paused tokio time.

use std::time::Duration;

use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, BucketId, BucketSpec, CreateEni, DescribeQuery,
    DetachEni, Ec2, EniAttributeChange, EniStatus, ErrorKind, Filter, InstanceState, Op, Resource,
    Tags,
};
use multi_eni_ec2_sim::{Ec2Sim, FaultPlan, SetupError, SimConfig};
use tokio::time::{Instant, advance};

struct Scene {
    sim: Ec2Sim,
    vpc: String,
    subnet: String,
    instance: String,
}

fn scene(config: SimConfig) -> Scene {
    let sim = Ec2Sim::new(config);
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let subnet = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", Some("a"))
        .expect("subnet");
    let instance = sim.launch_instance(&subnet, "m5.large").expect("instance");
    Scene {
        sim,
        vpc,
        subnet,
        instance,
    }
}

/// The tag every interface these tests create carries.
const CLUSTER: (&str, &str) = ("multi-eni.k8s.aws/cluster", "c");

impl Scene {
    /// The interfaces these tests created (as they are now).
    fn ours(&self) -> Vec<multi_eni_ec2::NetworkInterface> {
        self.sim.network_interfaces_tagged(CLUSTER.0, CLUSTER.1)
    }

    /// Creates a cluster-tagged interface in the scene's subnet; returns its ID.
    async fn new_eni(&self) -> String {
        self.sim
            .create_network_interface(&create(&self.subnet))
            .await
            .expect("create")
            .id
    }

    /// Attaches `eni` to the scene's instance at `index`.
    async fn attach(&self, eni: &str, index: i32) -> AttachResult {
        self.sim
            .attach_network_interface(&attach(eni, &self.instance, index))
            .await
            .expect("attach")
    }
}

/// AWS-like delays and a fixed 1 s lag, no throttling, instances running at once (tests of
/// timing, not of buckets, random lags or launches).
fn unthrottled() -> SimConfig {
    SimConfig {
        throttling: false,
        instance_launch_delay: Duration::ZERO,
        ..SimConfig::default()
    }
    .with_fixed_lag(Duration::from_secs(1))
}

/// AWS-like delays without the consistency lag: describes show each state as it happens.
fn without_lag() -> SimConfig {
    SimConfig {
        consistency_lag: Duration::ZERO,
        ..unthrottled()
    }
}

fn create(subnet: &str) -> CreateEni {
    CreateEni {
        subnet_id: subnet.to_string(),
        tags: [(CLUSTER.0.to_string(), CLUSTER.1.to_string())].into(),
        ..CreateEni::default()
    }
}

fn attach(eni: &str, instance: &str, index: i32) -> AttachEni {
    AttachEni {
        network_interface_id: eni.to_string(),
        instance_id: instance.to_string(),
        device_index: index,
        network_card_index: None,
    }
}

async fn seen_status(sim: &Ec2Sim, eni: &str) -> Option<Option<AttachmentStatus>> {
    sim.describe_network_interfaces(&DescribeQuery::ids([eni]))
        .await
        .ok()
        .map(|p| p.items[0].attachment.as_ref().map(|a| a.status.clone()))
}

#[tokio::test(start_paused = true)]
async fn a_new_interface_is_unknown_to_other_calls_until_it_propagates() {
    let s = scene(unthrottled());
    let eni = s.new_eni().await;
    let err = s
        .sim
        .describe_network_interfaces(&DescribeQuery::ids([eni.clone()]))
        .await
        .expect_err("not visible yet");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::NetworkInterface));
    let err = s
        .sim
        .attach_network_interface(&attach(&eni, &s.instance, 1))
        .await
        .expect_err("ID not propagated");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::NetworkInterface));
    advance(Duration::from_secs(1)).await;
    assert!(
        seen_status(&s.sim, &eni).await.is_some(),
        "visible after the 1 s lag"
    );
    s.attach(&eni, 1).await;
}

#[tokio::test(start_paused = true)]
async fn describes_show_a_change_only_after_the_lag() {
    let s = scene(unthrottled());
    let eni = s.new_eni().await;
    advance(Duration::from_secs(2)).await;
    s.sim
        .modify_network_interface_attribute(&eni, &EniAttributeChange::Description("new".into()))
        .await
        .expect("modify");
    async fn desc(sim: &Ec2Sim, eni: &str) -> String {
        sim.describe_network_interfaces(&DescribeQuery::ids([eni]))
            .await
            .expect("describe")
            .items[0]
            .description
            .clone()
    }
    assert_eq!(desc(&s.sim, &eni).await, "", "still the old description");
    advance(Duration::from_millis(999)).await;
    assert_eq!(desc(&s.sim, &eni).await, "");
    advance(Duration::from_millis(1)).await;
    assert_eq!(desc(&s.sim, &eni).await, "new");
    assert_eq!(
        s.sim.network_interface(&eni).map(|e| e.description),
        Some("new".to_string()),
        "inspection shows the truth at once"
    );
}

#[tokio::test(start_paused = true)]
async fn attachments_take_their_delays_in_each_state() {
    let s = scene(without_lag());
    let eni = s.new_eni().await;
    let r = s.attach(&eni, 1).await;
    assert_eq!(
        seen_status(&s.sim, &eni).await,
        Some(Some(AttachmentStatus::Attaching))
    );
    assert_eq!(
        s.sim.network_interface(&eni).map(|e| e.status),
        Some(EniStatus::Attaching)
    );
    advance(Duration::from_millis(1999)).await;
    assert_eq!(
        seen_status(&s.sim, &eni).await,
        Some(Some(AttachmentStatus::Attaching))
    );
    advance(Duration::from_millis(1)).await;
    assert_eq!(
        seen_status(&s.sim, &eni).await,
        Some(Some(AttachmentStatus::Attached))
    );
    assert_eq!(
        s.sim.network_interface(&eni).map(|e| e.status),
        Some(EniStatus::InUse)
    );
    s.sim
        .detach_network_interface(&DetachEni {
            attachment_id: r.attachment_id.clone(),
            force: false,
        })
        .await
        .expect("detach");
    assert_eq!(
        seen_status(&s.sim, &eni).await,
        Some(Some(AttachmentStatus::Detaching))
    );
    let err = s
        .sim
        .delete_network_interface(&eni)
        .await
        .expect_err("still detaching");
    assert_eq!(
        err.code.as_deref(),
        Some("InvalidParameterValue"),
        "EC2's code"
    );
    assert_eq!(
        err.kind,
        ErrorKind::IncorrectState,
        "refined: retry, not bad input"
    );
    advance(Duration::from_secs(3)).await;
    assert_eq!(seen_status(&s.sim, &eni).await, Some(None), "detached");
    s.sim
        .delete_network_interface(&eni)
        .await
        .expect("delete once available");
}

#[tokio::test(start_paused = true)]
async fn time_scale_compresses_every_delay() {
    let s = scene(
        SimConfig::default()
            .with_fixed_lag(Duration::from_secs(1))
            .with_time_scale(100.0),
    );
    let state = |s: &Scene| s.sim.instance(&s.instance).map(|i| i.state);
    advance(Duration::from_millis(149)).await;
    assert_eq!(state(&s), Some(InstanceState::Pending));
    advance(Duration::from_millis(1)).await; // the 15 s launch at 100×
    assert_eq!(state(&s), Some(InstanceState::Running));
    let eni = s.new_eni().await;
    advance(Duration::from_millis(10)).await; // the 1 s lag at 100×
    s.attach(&eni, 1).await;
    advance(Duration::from_millis(19)).await;
    assert_eq!(
        s.sim
            .network_interface(&eni)
            .and_then(|e| e.attachment)
            .map(|a| a.status),
        Some(AttachmentStatus::Attaching)
    );
    advance(Duration::from_millis(1)).await; // 2 s attach at 100× = 20 ms
    assert_eq!(
        s.sim
            .network_interface(&eni)
            .and_then(|e| e.attachment)
            .map(|a| a.status),
        Some(AttachmentStatus::Attached)
    );
}

#[tokio::test(start_paused = true)]
async fn buckets_allow_the_burst_then_throttle_until_refilled() {
    let s = scene(SimConfig::default());
    let q = DescribeQuery::filters(vec![Filter::eq("vpc-id", &s.vpc)]);
    for _ in 0..100 {
        s.sim
            .describe_subnets(&q)
            .await
            .expect("within the 100 burst");
    }
    let err = s
        .sim
        .describe_subnets(&q)
        .await
        .expect_err("101st in the same instant");
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
    assert_eq!(s.sim.stats(Op::DescribeSubnets).throttled, 1);
    advance(Duration::from_millis(50)).await; // 20/s: one token
    s.sim
        .describe_subnets(&q)
        .await
        .expect("refilled one token");
    s.sim.describe_subnets(&q).await.expect_err("and only one");
    // Another action's bucket is untouched.
    s.sim
        .describe_security_groups(&DescribeQuery::filters(vec![Filter::eq("vpc-id", &s.vpc)]))
        .await
        .expect("own bucket");
}

#[tokio::test(start_paused = true)]
async fn unfiltered_unpaginated_describes_draw_from_the_smaller_bucket() {
    let s = scene(SimConfig::default());
    let by_id = DescribeQuery::ids([s.instance.clone()]);
    advance(Duration::from_secs(2)).await;
    for _ in 0..50 {
        s.sim.describe_instances(&by_id).await.expect("within 50");
    }
    assert_eq!(
        s.sim
            .describe_instances(&by_id)
            .await
            .expect_err("small bucket empty")
            .kind,
        ErrorKind::Throttled
    );
    let filtered = DescribeQuery::filters(vec![Filter::eq("instance-id", &s.instance)]);
    s.sim
        .describe_instances(&filtered)
        .await
        .expect("the filtered bucket is separate");
}

#[tokio::test(start_paused = true)]
async fn bucket_overrides_replace_aws_sizes() {
    let mut config = SimConfig::instant();
    config.throttling = true;
    config.bucket_overrides.insert(
        BucketId::Api(Op::CreateNetworkInterface),
        BucketSpec::new(2.0, 1.0),
    );
    let s = scene(config);
    for _ in 0..2 {
        s.sim
            .create_network_interface(&create(&s.subnet))
            .await
            .expect("burst of 2");
    }
    assert_eq!(
        s.sim
            .create_network_interface(&create(&s.subnet))
            .await
            .expect_err("third")
            .kind,
        ErrorKind::Throttled
    );
    assert_eq!(s.ours().len(), 2, "throttled requests change nothing");
}

#[tokio::test]
async fn injected_errors_change_nothing_and_are_counted() {
    let s = scene(SimConfig::instant());
    s.sim
        .fail_next(Op::CreateNetworkInterface, 1, "InternalError");
    let err = s
        .sim
        .create_network_interface(&create(&s.subnet))
        .await
        .expect_err("injected");
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(s.ours().is_empty());
    s.sim.set_faults(
        Op::DeleteNetworkInterface,
        FaultPlan::errors(1.0, "UnauthorizedOperation"),
    );
    let err = s
        .sim
        .delete_network_interface("eni-0123")
        .await
        .expect_err("always");
    assert_eq!(err.kind, ErrorKind::Permission);
    let stats = s.sim.stats(Op::CreateNetworkInterface);
    assert_eq!(
        (stats.calls, stats.injected_errors, stats.failed),
        (1, 1, 1)
    );
    s.sim.clear_faults();
    s.sim
        .create_network_interface(&create(&s.subnet))
        .await
        .expect("cleared");
}

#[tokio::test]
async fn a_lost_response_applies_the_change_and_a_token_retry_returns_the_same_interface() {
    let s = scene(SimConfig::instant());
    s.sim.lose_next_responses(Op::CreateNetworkInterface, 1);
    let req = CreateEni {
        client_token: Some("uid-1".into()),
        ..create(&s.subnet)
    };
    let err = s
        .sim
        .create_network_interface(&req)
        .await
        .expect_err("response lost");
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.code, None, "a transport error, not an EC2 answer");
    let created = s.ours();
    assert_eq!(created.len(), 1, "the change was applied");
    let retried = s.sim.create_network_interface(&req).await.expect("retry");
    assert_eq!(retried.id, created[0].id);
    assert_eq!(s.ours().len(), 1, "no duplicate");
    assert_eq!(s.sim.stats(Op::CreateNetworkInterface).lost_responses, 1);
}

#[tokio::test]
async fn lost_responses_at_a_rate_hit_some_calls_not_all() {
    let s = scene(SimConfig::instant().with_seed(3));
    s.sim
        .set_faults(Op::DescribeSubnets, FaultPlan::lost_responses(0.5));
    let mut lost = 0;
    for _ in 0..200 {
        if s.sim
            .describe_subnets(&DescribeQuery::default())
            .await
            .is_err()
        {
            lost += 1;
        }
    }
    assert!((60..140).contains(&lost), "{lost} of 200 at 0.5");
    assert_eq!(s.sim.stats(Op::DescribeSubnets).lost_responses, lost);
}

#[tokio::test(start_paused = true)]
async fn injected_latency_is_in_ec2_time() {
    let s = scene(SimConfig::instant().with_time_scale(10.0));
    s.sim.set_faults(
        Op::DescribeSubnets,
        FaultPlan::latency(Duration::from_secs(2)),
    );
    let t0 = Instant::now();
    s.sim
        .describe_subnets(&DescribeQuery::default())
        .await
        .expect("slow");
    assert_eq!(
        Instant::now() - t0,
        Duration::from_millis(200),
        "2 s of EC2 time at 10×"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stuck_detach_needs_a_forced_detach() {
    let s = scene(without_lag());
    let eni = s.new_eni().await;
    let r = s.attach(&eni, 1).await;
    advance(Duration::from_secs(2)).await;
    s.sim.set_faults(
        Op::DetachNetworkInterface,
        FaultPlan {
            stuck_detach_rate: 1.0,
            ..FaultPlan::default()
        },
    );
    let detach = |force| DetachEni {
        attachment_id: r.attachment_id.clone(),
        force,
    };
    s.sim
        .detach_network_interface(&detach(false))
        .await
        .expect("accepted");
    advance(Duration::from_secs(600)).await;
    assert_eq!(
        seen_status(&s.sim, &eni).await,
        Some(Some(AttachmentStatus::Detaching))
    );
    assert_eq!(s.sim.stuck_detaches(), vec![eni.clone()]);
    s.sim
        .detach_network_interface(&detach(true))
        .await
        .expect("forced");
    advance(Duration::from_secs(1)).await;
    assert_eq!(seen_status(&s.sim, &eni).await, Some(None));
    assert!(s.sim.stuck_detaches().is_empty());
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_and_macs() {
    async fn run(seed: u64) -> Vec<(String, String)> {
        let s = scene(SimConfig::instant().with_seed(seed));
        let mut out = vec![(s.instance.clone(), s.subnet.clone())];
        for _ in 0..3 {
            let e = s
                .sim
                .create_network_interface(&create(&s.subnet))
                .await
                .expect("create");
            out.push((e.id, e.mac_address));
        }
        out
    }
    assert_eq!(run(11).await, run(11).await);
    assert_ne!(run(11).await, run(12).await);
}

#[tokio::test]
async fn a_device_index_conflict_costs_exactly_one_counted_describe() {
    let s = scene(SimConfig::instant());
    let foreign = s
        .sim
        .add_foreign_interface(&s.instance, 1)
        .expect("foreign");
    let eni = s.new_eni().await;
    s.sim.reset_stats();
    let err = s
        .sim
        .attach_network_interface(&attach(&eni, &s.instance, 1))
        .await
        .expect_err("taken");
    assert_eq!(err.kind, ErrorKind::DeviceIndexInUse);
    assert!(err.message.contains(&foreign), "{}", err.message);
    assert_eq!(s.sim.calls(Op::AttachNetworkInterface), 1);
    assert_eq!(s.sim.calls(Op::DescribeInstances), 1);
    s.sim
        .attach_network_interface(&attach(&eni, &s.instance, 2))
        .await
        .expect("next free index");
    assert_eq!(
        s.sim.calls(Op::DescribeInstances),
        1,
        "no describe on success"
    );
}

#[tokio::test(start_paused = true)]
async fn terminated_instances_vanish_after_an_hour_and_stopped_ones_keep_their_interfaces() {
    let s = scene(SimConfig {
        attach_delay: Duration::ZERO,
        ..without_lag()
    });
    let eni = s.new_eni().await;
    s.attach(&eni, 1).await;
    s.sim.stop_instance(&s.instance).expect("stop");
    assert_eq!(
        s.sim.instance(&s.instance).map(|i| i.state),
        Some(InstanceState::Stopping)
    );
    advance(Duration::from_secs(10)).await;
    let stopped = s.sim.instance(&s.instance).expect("instance");
    assert_eq!(stopped.state, InstanceState::Stopped);
    assert_eq!(
        stopped.network_interfaces.len(),
        2,
        "stopping keeps attachments"
    );
    s.sim.terminate_instance(&s.instance).expect("terminate");
    advance(Duration::from_secs(10)).await;
    let q = DescribeQuery::ids([s.instance.clone()]);
    let seen = s
        .sim
        .describe_instances(&q)
        .await
        .expect("still listed")
        .items;
    assert_eq!(seen[0].state, InstanceState::Terminated);
    assert_eq!(
        s.sim.network_interface(&eni).map(|e| e.status),
        Some(EniStatus::Available),
        "no DeleteOnTermination: kept"
    );
    advance(Duration::from_secs(3600)).await;
    let err = s
        .sim
        .describe_instances(&q)
        .await
        .expect_err("gone after an hour");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::Instance));
    assert!(matches!(
        s.sim.stop_instance(&s.instance),
        Err(SetupError::Missing { .. })
    ));
}

#[tokio::test]
async fn a_full_subnet_and_the_regional_quota_are_quota_errors() {
    let sim = Ec2Sim::new(SimConfig {
        max_network_interfaces: 8,
        ..SimConfig::instant()
    });
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let tiny = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.0.16/28", None)
        .expect("/28");
    assert_eq!(
        sim.subnet(&tiny).map(|s| s.available_ip_address_count),
        Some(11)
    );
    for _ in 0..7 {
        sim.create_network_interface(&create(&tiny))
            .await
            .expect("room");
    }
    let big = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", None)
        .expect("/24");
    sim.create_network_interface(&create(&big))
        .await
        .expect("8th");
    let err = sim
        .create_network_interface(&create(&big))
        .await
        .expect_err("quota of 8");
    assert_eq!(err.code.as_deref(), Some("NetworkInterfaceLimitExceeded"));
    assert_eq!(err.kind, ErrorKind::QuotaExceeded);

    let sim = Ec2Sim::new(SimConfig::instant());
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    let tiny = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.0.16/28", None)
        .expect("/28");
    for _ in 0..11 {
        sim.create_network_interface(&create(&tiny))
            .await
            .expect("room");
    }
    let err = sim
        .create_network_interface(&create(&tiny))
        .await
        .expect_err("full");
    assert_eq!(
        err.code.as_deref(),
        Some("InsufficientFreeAddressesInSubnet")
    );
    assert_eq!(err.kind, ErrorKind::QuotaExceeded);
}

#[tokio::test]
async fn requests_ec2_would_refuse_are_refused() {
    let s = scene(SimConfig::instant());
    let mut reserved = create(&s.subnet);
    reserved
        .tags
        .insert("aws:cloudformation:stack".into(), "x".into());
    let too_many = CreateEni {
        tags: (0..51)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect::<Tags>(),
        ..create(&s.subnet)
    };
    let long_token = CreateEni {
        client_token: Some("x".repeat(65)),
        ..create(&s.subnet)
    };
    let malformed = CreateEni {
        subnet_id: "not-a-subnet".into(),
        ..create(&s.subnet)
    };
    for (req, code) in [
        (reserved, "InvalidParameterValue"),
        (too_many, "TagLimitExceeded"),
        (long_token, "InvalidParameterValue"),
        (malformed, "InvalidSubnetID.Malformed"),
    ] {
        let err = s.sim.create_network_interface(&req).await.expect_err(code);
        assert_eq!(err.code.as_deref(), Some(code));
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{code}");
    }
    let err = s
        .sim
        .describe_network_interfaces(&DescribeQuery::default().page_size(3))
        .await
        .expect_err("below 5");
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = s
        .sim
        .describe_network_interfaces(&DescribeQuery {
            next_token: Some("zz".into()),
            ..DescribeQuery::default()
        })
        .await
        .expect_err("garbage token");
    assert_eq!(err.code.as_deref(), Some("InvalidNextToken"));
}

#[tokio::test]
async fn setup_errors_say_what_is_wrong() {
    let sim = Ec2Sim::new(SimConfig::instant());
    let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
    assert!(matches!(
        sim.add_subnet(&vpc, "us-east-1a", "10.9.0.0/24", None),
        Err(SetupError::OutsideVpc { .. })
    ));
    let subnet = sim
        .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", None)
        .expect("subnet");
    match sim.launch_instance(&subnet, "z9.huge") {
        Err(SetupError::UnknownInstanceType(t, known)) => {
            assert_eq!(t, "z9.huge");
            assert!(known.contains("m5.large"), "{known}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        sim.add_vpc("10.0.0.0/8"),
        Err(SetupError::BadCidr(_))
    ));
    assert!(sim.default_security_group(&vpc).is_some());
}

#[tokio::test]
async fn a_vpc_at_the_top_of_the_address_space_takes_subnets() {
    let sim = Ec2Sim::new(SimConfig::instant());
    let vpc = sim.add_vpc("255.255.0.0/16").expect("vpc");
    let subnet = sim
        .add_subnet(&vpc, "us-east-1a", "255.255.255.0/24", None)
        .expect("the last /24 of the VPC is inside it");
    assert_eq!(
        sim.subnet(&subnet).map(|s| s.available_ip_address_count),
        Some(251)
    );
}

#[tokio::test]
async fn inspection_shows_what_a_describe_without_lag_shows() {
    let s = scene(SimConfig::instant());
    let eni = s.new_eni().await;
    s.attach(&eni, 1).await;
    async fn described(sim: &Ec2Sim, id: &str) -> Vec<multi_eni_ec2::Instance> {
        let q = DescribeQuery::ids([id]);
        sim.describe_instances(&q).await.expect("describe").items
    }
    assert_eq!(
        described(&s.sim, &s.instance).await,
        vec![s.sim.instance(&s.instance).expect("running")]
    );
    s.sim.terminate_instance(&s.instance).expect("terminate");
    let terminated = s.sim.instance(&s.instance).expect("still listed");
    assert_eq!(terminated.state, InstanceState::Terminated);
    assert_eq!(
        (
            terminated.subnet_id.as_deref(),
            terminated.vpc_id.as_deref()
        ),
        (None, None),
        "EC2 drops a terminated instance's subnet and VPC"
    );
    assert_eq!(described(&s.sim, &s.instance).await, vec![terminated]);
}

#[tokio::test]
async fn deleting_an_attached_interface_is_refined_to_incorrect_state_with_one_describe() {
    let s = scene(SimConfig::instant());
    let eni = s.new_eni().await;
    s.attach(&eni, 1).await;
    s.sim.reset_stats();
    let err = s
        .sim
        .delete_network_interface(&eni)
        .await
        .expect_err("attached");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    assert_eq!(err.kind, ErrorKind::IncorrectState, "{err}");
    assert_eq!(s.sim.calls(Op::DeleteNetworkInterface), 1);
    assert_eq!(s.sim.calls(Op::DescribeNetworkInterfaces), 1, "one check");
    // The same code for an interface that is free stays bad input.
    let free = s.new_eni().await;
    s.sim
        .fail_next(Op::DeleteNetworkInterface, 1, "InvalidParameterValue");
    let err = s
        .sim
        .delete_network_interface(&free)
        .await
        .expect_err("injected");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    s.sim.reset_stats();
    s.sim.delete_network_interface(&free).await.expect("delete");
    assert_eq!(
        s.sim.calls(Op::DescribeNetworkInterfaces),
        0,
        "no describe on success"
    );
}

#[tokio::test(start_paused = true)]
async fn instances_are_pending_before_running_and_refuse_attaches_meanwhile() {
    let s = scene(SimConfig {
        instance_launch_delay: Duration::from_secs(15),
        attach_delay: Duration::ZERO,
        ..SimConfig::instant()
    });
    async fn described(s: &Scene) -> InstanceState {
        let q = DescribeQuery::ids([s.instance.clone()]);
        s.sim.describe_instances(&q).await.expect("describe").items[0]
            .state
            .clone()
    }
    assert_eq!(described(&s).await, InstanceState::Pending);
    let eni = s.new_eni().await;
    let err = s
        .sim
        .attach_network_interface(&attach(&eni, &s.instance, 1))
        .await
        .expect_err("pending");
    assert_eq!(err.code.as_deref(), Some("IncorrectInstanceState"));
    assert_eq!(err.kind, ErrorKind::IncorrectState);
    advance(Duration::from_secs(15)).await;
    assert_eq!(described(&s).await, InstanceState::Running);
    s.attach(&eni, 1).await;
    s.sim.stop_instance(&s.instance).expect("stop");
    advance(Duration::from_secs(10)).await;
    s.sim.start_instance(&s.instance).expect("start");
    assert_eq!(described(&s).await, InstanceState::Pending, "a start too");
    advance(Duration::from_secs(15)).await;
    assert_eq!(described(&s).await, InstanceState::Running);
}

#[tokio::test]
async fn a_forced_detach_holds_the_index_a_normal_one_does_not() {
    let s = scene(SimConfig::instant());
    for (index, force) in [(1, false), (2, true)] {
        let eni = s.new_eni().await;
        let r = s.attach(&eni, index).await;
        s.sim
            .detach_network_interface(&DetachEni {
                attachment_id: r.attachment_id,
                force,
            })
            .await
            .expect("detach");
    }
    let next = s.new_eni().await;
    s.attach(&next, 1).await;
    let other = s.new_eni().await;
    let err = s
        .sim
        .attach_network_interface(&attach(&other, &s.instance, 2))
        .await
        .expect_err("held by the forced detach");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    assert_eq!(
        err.kind,
        ErrorKind::InvalidInput,
        "DescribeInstances shows no occupant, so the refinement cannot call it a conflict"
    );
    s.sim.stop_instance(&s.instance).expect("stop");
    s.sim.start_instance(&s.instance).expect("start");
    s.attach(&other, 2).await;
}

/// On a sim with the default random lag: how long after its create a new interface's ID
/// first gets an attach past NotFound, then how long after that attach
/// DescribeNetworkInterfaces and DescribeInstances first show it (EC2 time, 50 ms steps).
async fn first_sightings(seed: u64) -> (Duration, Duration, Duration) {
    let s = scene(
        SimConfig {
            attach_delay: Duration::ZERO,
            // The default random part: 1 s + [0, 2 s).
            consistency_jitter: Duration::from_secs(2),
            ..unthrottled()
        }
        .with_seed(seed),
    );
    let (subnet, instance) = (&s.subnet, &s.instance);
    let start = Instant::now();
    let eni = s
        .sim
        .create_network_interface(&create(subnet))
        .await
        .expect("create")
        .id;
    let (mut by_eni, mut by_instance, mut known) = (None, None, None);
    let step = Duration::from_millis(50);
    while by_eni.is_none() || by_instance.is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "never seen");
        if known.is_none()
            && s.sim
                .attach_network_interface(&attach(&eni, instance, 1))
                .await
                .is_ok()
        {
            known = Some(start.elapsed());
        }
        if known.is_some() {
            let e = s
                .sim
                .describe_network_interfaces(&DescribeQuery::ids([eni.clone()]))
                .await;
            if by_eni.is_none() && e.is_ok_and(|p| p.items[0].attachment.is_some()) {
                by_eni = Some(start.elapsed() - known.unwrap_or_default());
            }
            let i = s
                .sim
                .describe_instances(&DescribeQuery::ids([instance.as_str()]))
                .await;
            let listed = i.is_ok_and(|p| p.items[0].network_interfaces.len() == 2);
            if by_instance.is_none() && listed {
                by_instance = Some(start.elapsed() - known.unwrap_or_default());
            }
        }
        advance(step).await;
    }
    (
        known.unwrap_or_default(),
        by_eni.unwrap_or_default(),
        by_instance.unwrap_or_default(),
    )
}

#[tokio::test(start_paused = true)]
async fn each_describe_api_lags_on_its_own_and_ids_propagate_at_random() {
    let (known, by_eni, by_instance) = first_sightings(3).await;
    let range = Duration::from_secs(1)..=Duration::from_millis(3050);
    for (what, t) in [
        ("ID propagation", known),
        ("DescribeNetworkInterfaces", by_eni),
        ("DescribeInstances", by_instance),
    ] {
        assert!(range.contains(&t), "{what}: {t:?} outside 1–3 s");
    }
    assert_ne!(
        by_eni, by_instance,
        "the two describes see the attach at different moments"
    );
    assert_eq!(
        first_sightings(3).await,
        (known, by_eni, by_instance),
        "same seed, same lags"
    );
    assert_ne!(
        first_sightings(4).await,
        (known, by_eni, by_instance),
        "another seed, other lags"
    );
}

#[tokio::test]
async fn a_client_token_reused_after_its_interface_was_deleted_names_the_deleted_interface() {
    let s = scene(SimConfig::instant());
    let req = CreateEni {
        client_token: Some("uid-1-attempt-0".into()),
        ..create(&s.subnet)
    };
    let first = s.sim.create_network_interface(&req).await.expect("create");
    s.sim
        .delete_network_interface(&first.id)
        .await
        .expect("delete");
    let again = s
        .sim
        .create_network_interface(&req)
        .await
        .expect("our unkind choice: success");
    assert_eq!(again.id, first.id, "the deleted interface's ID");
    assert!(s.sim.network_interface(&first.id).is_none(), "still gone");
    assert!(s.ours().is_empty(), "nothing was created");
    let err = s
        .sim
        .describe_network_interfaces(&DescribeQuery::ids([first.id.clone()]))
        .await
        .expect_err("it does not exist");
    assert_eq!(err.kind, ErrorKind::NotFound(Resource::NetworkInterface));
    let mut changed = req.clone();
    changed.description = Some("other".into());
    let err = s
        .sim
        .create_network_interface(&changed)
        .await
        .expect_err("other parameters");
    assert_eq!(err.kind, ErrorKind::IdempotencyMismatch);
}
