//! What the NodeENI reconciler does when it cannot do everything: nodes in the wrong zone, names
//! that match nothing or too much, instance types too small, nodes not on EC2 — each reported in
//! the NodeENI's conditions and once as an Event, and none of them deleting what exists.

#[path = "support/fleet.rs"]
mod support;

use std::sync::Arc;

use kube::ResourceExt;
use multi_eni_api::keys::{condition, reason};
use multi_eni_controller::run::{Context, ControllerConfig};
use multi_eni_ec2::Ec2;
use serde_json::json;
use support::*;

const NE: &str = "storage-net";

/// (name, UID, deleting) of each attachment.
async fn identities(w: &World) -> Vec<(String, Option<String>, bool)> {
    w.attachments(NE)
        .await
        .into_iter()
        .map(|a| {
            let deleting = a.metadata.deletion_timestamp.is_some();
            (a.name_any(), a.uid(), deleting)
        })
        .collect()
}

/// One labelled node on `instance_type` in zone A with one attachment (subnet 1, index 2).
async fn one_node_with_one_attachment(instance_type: &str) -> World {
    let w = World::on_double().await;
    w.node("n1", &w.ec2.subnet_1, instance_type, true).await;
    let spec = json!({"subnetNames": [SUBNET_1], "securityGroupNames": [SG], "deviceIndex": 2});
    w.create_node_eni(NE, spec).await;
    w.reconcile(NE).await;
    assert_eq!(
        w.layout(NE).await,
        [("n1".into(), w.ec2.subnet_1.clone(), 2)]
    );
    w
}

#[tokio::test]
async fn node_in_a_zone_without_a_listed_subnet_is_skipped_with_the_az_reason() {
    let w = World::on_double().await;
    w.node("in-a", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    w.node("in-b", &w.ec2.subnet_b, FOUR_ENIS, true).await;
    let spec = json!({"subnetNames": [SUBNET_1], "securityGroupIDs": [w.ec2.sg], "deviceIndex": 2});
    w.create_node_eni(NE, spec).await;
    w.reconcile(NE).await;

    assert_eq!(
        w.layout(NE).await,
        [("in-a".into(), w.ec2.subnet_1.clone(), 2)]
    );
    let ne = w.node_eni(NE).await;
    let (status, why, message) = condition(&ne, condition::DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("True", reason::AZ_MISMATCH)
    );
    assert!(message.contains("in-b (us-east-1b)"), "{message}");
    assert_eq!(condition(&ne, condition::READY).1, reason::AZ_MISMATCH);
    let events = w.events(NE).await;
    assert!(
        events
            .iter()
            .any(|(t, r, n)| t == "Warning" && r == reason::AZ_MISMATCH && n.contains("in-b")),
        "{events:?}"
    );
}

#[tokio::test]
async fn subnets_of_two_zones_give_each_node_its_zones_subnet_from_the_first_index() {
    let w = World::on_double().await;
    w.node("in-a", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    w.node("in-b", &w.ec2.subnet_b, FOUR_ENIS, true).await;
    let spec =
        json!({"subnetNames": [SUBNET_1, "zone-b"], "securityGroupNames": [SG], "deviceIndex": 2});
    w.create_node_eni(NE, spec).await;
    w.reconcile(NE).await;
    w.reconcile(NE).await;

    assert_eq!(
        w.layout(NE).await,
        [
            ("in-a".into(), w.ec2.subnet_1.clone(), 2),
            ("in-b".into(), w.ec2.subnet_b.clone(), 2)
        ]
    );
    let ne = w.node_eni(NE).await;
    assert_eq!(
        condition(&ne, condition::DEGRADED).0,
        "False",
        "skipping is expected"
    );
    let az: Vec<_> = w
        .events(NE)
        .await
        .into_iter()
        .filter(|(_, r, _)| r == reason::AZ_MISMATCH)
        .collect();
    // One Event for both skipped subnets: the recorder would fold a second one of the same
    // reason into the first, note and all.
    assert_eq!(az.len(), 1, "{az:?}");
    let (kind, _, note) = &az[0];
    assert_eq!(kind, "Normal");
    assert!(
        note.contains(&w.ec2.subnet_1) && note.contains(&w.ec2.subnet_b),
        "{note}"
    );
}

#[tokio::test]
async fn subnet_name_matching_nothing_is_reported_and_nothing_is_deleted() {
    let w = one_node_with_one_attachment(FOUR_ENIS).await;
    let before = identities(&w).await;

    w.patch_spec(NE, json!({"subnetNames": ["no-such-subnet"]}))
        .await;
    w.reconcile(NE).await;

    assert_eq!(identities(&w).await, before, "the attachment stays");
    let ne = w.node_eni(NE).await;
    let (status, why, message) = condition(&ne, condition::DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("True", reason::SUBNET_NOT_FOUND)
    );
    assert!(message.contains("\"no-such-subnet\""), "{message}");
    assert!(
        message.contains(&w.ec2.vpc),
        "names the VPC searched: {message}"
    );
}

#[tokio::test]
async fn subnet_name_matching_two_subnets_names_both_and_changes_nothing() {
    let w = one_node_with_one_attachment(FOUR_ENIS).await;
    let twin = |cidr| {
        w.ec2
            .sim
            .add_subnet(&w.ec2.vpc, AZ_A, cidr, Some("twin"))
            .expect("subnet")
    };
    let (t1, t2) = (twin("10.0.4.0/24"), twin("10.0.5.0/24"));
    let before = identities(&w).await;

    w.patch_spec(NE, json!({"subnetNames": [SUBNET_1, "twin"]}))
        .await;
    w.reconcile(NE).await;

    assert_eq!(
        identities(&w).await,
        before,
        "nothing created, nothing deleted"
    );
    let ne = w.node_eni(NE).await;
    let (status, why, message) = condition(&ne, condition::DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("True", reason::SUBNET_AMBIGUOUS)
    );
    assert!(message.contains(&t1) && message.contains(&t2), "{message}");
}

#[tokio::test]
async fn more_enis_than_the_instance_type_takes_is_degraded_without_churn() {
    let w = one_node_with_one_attachment(THREE_ENIS).await;
    let before = identities(&w).await;

    w.patch_spec(NE, json!({"subnetNames": [SUBNET_1, SUBNET_2]}))
        .await;
    w.reconcile(NE).await;

    assert_eq!(
        identities(&w).await,
        before,
        "the node keeps what it has, gets nothing"
    );
    let ne = w.node_eni(NE).await;
    let (status, why, message) = condition(&ne, condition::DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("True", reason::LIMIT_EXCEEDED)
    );
    assert!(
        message.contains(THREE_ENIS) && message.contains("at most 3"),
        "{message}"
    );
    assert_eq!(counts(&ne).0, 1, "the held node counts what it keeps");

    // Held, not retried: the next pass changes nothing and says nothing again.
    let writes = w.count_writes();
    w.reconcile(NE).await;
    assert_eq!(writes.total(), 0);
    assert_eq!(identities(&w).await, before);
}

#[tokio::test]
async fn node_without_provider_id_is_reported_and_skipped() {
    let w = World::on_double().await;
    w.node("on-ec2", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    multi_eni_kube_env::create_node(&w.client, "bare-metal", &[SELECTOR], None)
        .await
        .expect("node");
    let spec = json!({"subnetIDs": [w.ec2.subnet_1], "securityGroupIDs": [w.ec2.sg]});
    w.create_node_eni(NE, spec).await;
    w.reconcile(NE).await;

    let nodes: Vec<String> = w.layout(NE).await.into_iter().map(|l| l.0).collect();
    assert_eq!(nodes, ["on-ec2"]);
    let ne = w.node_eni(NE).await;
    let (status, why, message) = condition(&ne, condition::DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("True", reason::NODE_NOT_ON_EC2)
    );
    assert!(message.contains("bare-metal"), "{message}");
    let events = w.events(NE).await;
    assert!(
        events
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == reason::NODE_NOT_ON_EC2),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_problem_is_published_once_also_across_a_restart() {
    let w = World::on_double().await;
    w.node("in-b", &w.ec2.subnet_b, FOUR_ENIS, true).await;
    let spec = json!({"subnetIDs": [w.ec2.subnet_1], "securityGroupIDs": [w.ec2.sg]});
    w.create_node_eni(NE, spec).await;
    w.reconcile(NE).await;
    w.reconcile(NE).await;
    let warnings = |events: Vec<(String, String, String)>| {
        events
            .into_iter()
            .filter(|(t, r, _)| t == "Warning" && r == reason::AZ_MISMATCH)
            .count()
    };
    assert_eq!(warnings(w.events(NE).await), 1);

    let writes = w.count_writes();
    w.reconcile(NE).await;
    assert_eq!(
        writes.total(),
        0,
        "the same problem again is neither written nor published"
    );

    // A new process (no memory): the stored Degraded condition says it was published.
    let port: Arc<dyn Ec2> = w.ec2.sim.clone();
    let fresh = Context::new(
        w.client.clone(),
        port,
        ControllerConfig::default(),
        w.ctx.stores.clone(),
        Some("replica-2".into()),
    );
    let ne = w.node_eni(NE).await;
    multi_eni_controller::run::fleet::reconcile(Arc::new(ne), Arc::new(fresh))
        .await
        .expect("reconcile");
    // Only the Normal Event of the skipped subnet may come again (nothing in status recalls it).
    assert!(writes.total() <= 1, "{} writes", writes.total());
    assert_eq!(
        warnings(w.events(NE).await),
        1,
        "a restart does not repeat the Degraded problem"
    );

    // A different problem is news.
    w.node("in-a", &w.ec2.subnet_1, FOUR_ENIS, true).await;
    w.patch_spec(
        NE,
        json!({"securityGroupNames": ["no-such-group"], "securityGroupIDs": []}),
    )
    .await;
    w.reconcile(NE).await;
    let events = w.events(NE).await;
    assert!(
        events
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == reason::SECURITY_GROUP_NOT_FOUND),
        "{events:?}"
    );
}
