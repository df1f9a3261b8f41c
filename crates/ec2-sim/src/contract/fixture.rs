//! The standard scene every case starts from, and the port calls and waits cases repeat.

use std::collections::BTreeSet;
use std::sync::Arc;

use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, CreateEni, DescribeQuery, Ec2, Ec2Error,
    EniAttributeChange, EniStatus, ErrorKind, Filter, Instance, InstanceState, NetworkInterface,
    Op, Resource, Tags, collect_pages,
};

use super::World;
use super::wait::{eventually, wait_for};

/// One VPC with a subnet in each of two zones (named), a security group, and one
/// `m5.large` in zone A, waited for until `running` (instances start `pending`).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The VPC.
    pub vpc: String,
    /// Zone A, zone B.
    pub zones: [String; 2],
    /// Subnet in zone A, named `contract-a`.
    pub subnet_a: String,
    /// Subnet in zone B, named `contract-b`.
    pub subnet_b: String,
    /// Security group `contract-sg`.
    pub group: String,
    /// An `m5.large` in subnet A.
    pub instance: String,
}

/// Retry while a fresh ID has not propagated or the world throttles.
pub(crate) fn propagation(e: &Ec2Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::NotFound(Resource::NetworkInterface) | ErrorKind::Throttled
    )
}

impl Fixture {
    /// Builds the scene.
    pub async fn new(w: &dyn World) -> Fixture {
        let zones = w.zones();
        let vpc = w.create_vpc("10.0.0.0/16").await;
        let subnet_a = w
            .create_subnet(&vpc, &zones[0], "10.0.1.0/24", Some("contract-a"))
            .await;
        let subnet_b = w
            .create_subnet(&vpc, &zones[1], "10.0.2.0/24", Some("contract-b"))
            .await;
        let group = w.create_security_group(&vpc, "contract-sg").await;
        let instance = w.launch_instance(&subnet_a, "m5.large").await;
        let fx = Fixture {
            vpc,
            zones,
            subnet_a,
            subnet_b,
            group,
            instance,
        };
        fx.wait_state(&w.ec2(), &fx.instance, InstanceState::Running)
            .await;
        fx
    }

    /// Launches another instance of `instance_type` in `subnet` and waits until it runs.
    pub async fn launch(&self, w: &dyn World, subnet: &str, instance_type: &str) -> String {
        let id = w.launch_instance(subnet, instance_type).await;
        self.wait_state(&w.ec2(), &id, InstanceState::Running).await;
        id
    }

    /// Waits until DescribeInstances shows instance `id` in `state`.
    pub async fn wait_state(&self, ec2: &Arc<dyn Ec2>, id: &str, state: InstanceState) {
        let state = &state;
        wait_for(&format!("{id} to be {}", state.as_str()), || async move {
            (self.instance(ec2, id).await.state == *state).then_some(())
        })
        .await;
    }

    /// A create request in subnet A with the group and `tags`.
    pub fn create_req(&self, tags: &[(&str, &str)]) -> CreateEni {
        CreateEni {
            subnet_id: self.subnet_a.clone(),
            security_group_ids: vec![self.group.clone()],
            description: Some("multi-eni contract".into()),
            tags: tags_of(tags),
            client_token: None,
        }
    }

    /// Creates an untagged interface in subnet A and waits until describes show it.
    pub async fn new_eni(&self, ec2: &Arc<dyn Ec2>) -> NetworkInterface {
        self.create(ec2, &self.create_req(&[])).await
    }

    /// Creates an interface and waits until describes show it.
    pub async fn create(&self, ec2: &Arc<dyn Ec2>, req: &CreateEni) -> NetworkInterface {
        let created = ec2
            .create_network_interface(req)
            .await
            .expect("CreateNetworkInterface");
        visible(ec2, &created.id).await
    }

    /// Attaches (retrying while the new ID propagates) and waits for `attached`.
    pub async fn attach(
        &self,
        ec2: &Arc<dyn Ec2>,
        eni: &str,
        instance: &str,
        device_index: i32,
    ) -> AttachResult {
        let r = try_attach(ec2, &attach_req(eni, instance, device_index))
            .await
            .expect("AttachNetworkInterface");
        wait_for("attachment to reach attached", || async move {
            let e = describe_one(ec2, eni).await?;
            e.attachment
                .filter(|a| a.status == AttachmentStatus::Attached)
                .map(|_| ())
        })
        .await;
        r
    }

    /// The instance as DescribeInstances shows it (waiting out a new instance's
    /// propagation delay).
    pub async fn instance(&self, ec2: &Arc<dyn Ec2>, id: &str) -> Instance {
        let query = DescribeQuery::ids([id]);
        let page = eventually(
            "DescribeInstances",
            || ec2.describe_instances(&query),
            |e| {
                matches!(
                    e.kind,
                    ErrorKind::NotFound(Resource::Instance) | ErrorKind::Throttled
                )
            },
        )
        .await
        .expect("DescribeInstances");
        page.items
            .into_iter()
            .find(|i| i.id == id)
            .expect("the instance is listed")
    }

    /// Waits until DescribeInstances of the fixture's instance lists interface `eni` (or, with
    /// `listed` false, no longer lists it); returns the instance as then described.
    pub(crate) async fn wait_listing(
        &self,
        ec2: &Arc<dyn Ec2>,
        eni: &str,
        listed: bool,
    ) -> Instance {
        let what = if listed {
            "the instance to list the interface"
        } else {
            "the instance to drop the interface"
        };
        wait_for(what, || async move {
            let i = self.instance(ec2, &self.instance).await;
            let lists = i
                .network_interfaces
                .iter()
                .any(|n| n.network_interface_id == eni);
            (lists == listed).then_some(i)
        })
        .await
    }
}

/// An attach request on card 0 (`None`: left to EC2).
pub(crate) fn attach_req(eni: &str, instance: &str, device_index: i32) -> AttachEni {
    AttachEni {
        network_interface_id: eni.to_string(),
        instance_id: instance.to_string(),
        device_index,
        network_card_index: None,
    }
}

/// Attaches, retrying while a new interface's ID propagates; returns the final answer.
pub(crate) async fn try_attach(
    ec2: &Arc<dyn Ec2>,
    req: &AttachEni,
) -> Result<AttachResult, Ec2Error> {
    eventually("attach", || ec2.attach_network_interface(req), propagation).await
}

/// ModifyNetworkInterfaceAttribute, retrying while a new interface's ID propagates (a
/// describe may show an interface before other calls know its ID).
pub(crate) async fn try_modify(
    ec2: &Arc<dyn Ec2>,
    id: &str,
    change: &EniAttributeChange,
) -> Result<(), Ec2Error> {
    eventually(
        "modify",
        || ec2.modify_network_interface_attribute(id, change),
        propagation,
    )
    .await
}

/// DeleteNetworkInterface, retrying while a new interface's ID propagates. Only for an
/// interface known to exist: its NotFound is otherwise the answer.
pub(crate) async fn try_delete(ec2: &Arc<dyn Ec2>, id: &str) -> Result<(), Ec2Error> {
    eventually("delete", || ec2.delete_network_interface(id), propagation).await
}

/// Tags from pairs.
pub fn tags_of(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The interface by ID, or `None` while it is not (yet, or any more) visible.
pub async fn describe_one(ec2: &Arc<dyn Ec2>, id: &str) -> Option<NetworkInterface> {
    match ec2
        .describe_network_interfaces(&DescribeQuery::ids([id]))
        .await
    {
        Ok(page) => page.items.into_iter().find(|e| e.id == id),
        Err(e) if propagation(&e) => None,
        Err(e) => panic!("DescribeNetworkInterfaces {id}: {e}"),
    }
}

/// Waits until describes show interface `id`.
pub async fn visible(ec2: &Arc<dyn Ec2>, id: &str) -> NetworkInterface {
    wait_for("the new interface to be visible", || describe_one(ec2, id)).await
}

/// The error `result` must be, of `kind`; `why` names the expectation.
pub(crate) fn fails_with<T: std::fmt::Debug>(
    result: Result<T, Ec2Error>,
    kind: ErrorKind,
    why: &str,
) -> Ec2Error {
    let err = result.expect_err(why);
    assert_eq!(err.kind, kind, "{why}: {err}");
    err
}

/// Describing an ID that does not exist fails the whole request (not an empty page) with
/// NotFound of `resource` — the reason lookups by ID use a filter instead.
pub(crate) async fn describing_an_unknown_id_is_not_found(ec2: &Arc<dyn Ec2>, resource: Resource) {
    let unknown = |prefix: &str| DescribeQuery::ids([format!("{prefix}-0123456789abcdef0")]);
    let result = match resource {
        Resource::NetworkInterface => ec2
            .describe_network_interfaces(&unknown("eni"))
            .await
            .map(|_| ()),
        Resource::Instance => ec2.describe_instances(&unknown("i")).await.map(|_| ()),
        Resource::Subnet => ec2.describe_subnets(&unknown("subnet")).await.map(|_| ()),
        Resource::SecurityGroup => ec2
            .describe_security_groups(&unknown("sg"))
            .await
            .map(|_| ()),
        other => panic!("the contract describes no {other:?} by ID"),
    };
    fails_with(result, ErrorKind::NotFound(resource), "an unknown ID");
}

/// The IDs of every interface matching `filters`, all pages walked.
pub(crate) async fn describe_filtered(
    ec2: &Arc<dyn Ec2>,
    filters: Vec<Filter>,
) -> BTreeSet<String> {
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
pub(crate) async fn wait_filtered(
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

/// Waits until interface `eni` is `available` and unattached.
pub(crate) async fn wait_available(ec2: &Arc<dyn Ec2>, eni: &str) {
    wait_for("the interface to become available", || async move {
        let e = describe_one(ec2, eni).await?;
        (e.status == EniStatus::Available && e.attachment.is_none()).then_some(())
    })
    .await;
}

/// Waits until describes no longer show interface `eni`.
pub(crate) async fn wait_gone(ec2: &Arc<dyn Ec2>, eni: &str) {
    wait_for("the interface to disappear", || async move {
        describe_one(ec2, eni).await.is_none().then_some(())
    })
    .await;
}

/// The IDs of the security groups named `name`, in `vpc_id` or (`None`) in any VPC.
pub(crate) async fn group_ids_named(
    ec2: &Arc<dyn Ec2>,
    vpc_id: Option<&str>,
    name: &str,
) -> Vec<String> {
    let mut filters: Vec<Filter> = vpc_id
        .map(|vpc| Filter::eq("vpc-id", vpc))
        .into_iter()
        .collect();
    filters.push(Filter::eq("group-name", name));
    ec2.describe_security_groups(&DescribeQuery::filters(filters))
        .await
        .expect("DescribeSecurityGroups by name")
        .items
        .into_iter()
        .map(|g| g.id)
        .collect()
}

/// The free-address count of subnet `id`.
pub(crate) async fn subnet_free(ec2: &Arc<dyn Ec2>, id: &str) -> u32 {
    ec2.describe_subnets(&DescribeQuery::ids([id]))
        .await
        .expect("describe subnet")
        .items
        .first()
        .expect("subnet")
        .available_ip_address_count
}
