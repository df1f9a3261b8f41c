//! The standard scene every case starts from, and the port calls cases repeat.

use std::sync::Arc;

use multi_eni_ec2::{
    AttachEni, AttachResult, AttachmentStatus, CreateEni, DescribeQuery, Ec2, Ec2Error, ErrorKind,
    Instance, NetworkInterface, Resource, Tags,
};

use super::World;
use super::wait::{eventually, wait_for};

/// One VPC with a subnet in each of two zones (named), a security group, and one running
/// `m5.large` in zone A.
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
        Fixture {
            vpc,
            zones,
            subnet_a,
            subnet_b,
            group,
            instance,
        }
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
        let req = AttachEni {
            network_interface_id: eni.to_string(),
            instance_id: instance.to_string(),
            device_index,
            network_card_index: None,
        };
        let r = eventually("attach", || ec2.attach_network_interface(&req), propagation)
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
