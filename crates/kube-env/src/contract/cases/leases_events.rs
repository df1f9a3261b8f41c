//! Leases (leader election by get/create/replace with resourceVersions, as the controller
//! does it) and Events (kube-rs's `Recorder`, seen as core Events with field selectors).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::contract::{Case, Cluster, code};

const DURATION_S: i32 = 1;

/// One election round for `me`; true when `me` holds the lease afterwards.
async fn try_acquire(api: &Api<Lease>, k: &Case, me: &str) -> bool {
    let name = k.name("leader");
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(&name).await.expect("get") else {
        let l = Lease {
            metadata: k.meta("leader", &[]),
            spec: Some(LeaseSpec {
                holder_identity: Some(me.into()),
                lease_duration_seconds: Some(DURATION_S),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &l).await {
            Ok(_) => true,
            Err(e) if code(&e) == 409 => false,
            Err(e) => panic!("create lease: {e}"),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone();
    let expires = spec.renew_time.as_ref().map(|t| {
        t.0 + SignedDuration::from_secs(i64::from(
            spec.lease_duration_seconds.unwrap_or(DURATION_S),
        ))
    });
    if holder.as_deref().is_some_and(|h| h != me) && expires.is_some_and(|e| e > now.0) {
        return false;
    }
    if holder.as_deref() != Some(me) {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(me.into());
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(DURATION_S);
    match api.replace(&name, &PostParams::default(), &lease).await {
        Ok(_) => true,
        Err(e) if code(&e) == 409 => false,
        Err(e) => panic!("replace lease: {e}"),
    }
}

/// Hold and renew, hand-over after expiry, exactly one winner when two candidates write the
/// same version, graceful release.
pub async fn leases_elect_one_leader_hand_over_and_release(c: &impl Cluster) {
    let k = Case::new(c, "le-elect").await;
    let api: Api<Lease> = Api::namespaced(k.client.clone(), "default");
    let name = k.name("leader");
    assert!(
        try_acquire(&api, &k, "a").await,
        "first candidate creates the lease"
    );
    assert!(!try_acquire(&api, &k, "b").await, "held and fresh: b waits");
    assert!(try_acquire(&api, &k, "a").await, "the holder renews");
    k.wait("b acquires the expired lease", || async {
        if try_acquire(&api, &k, "b").await {
            Ok(())
        } else {
            Err("held".into())
        }
    })
    .await;
    let l = api.get(&name).await.expect("get").spec.expect("spec");
    assert_eq!(l.holder_identity.as_deref(), Some("b"));
    assert_eq!(l.lease_transitions, Some(1));

    let seen = api.get(&name).await.expect("get");
    let (mut x, mut y) = (seen.clone(), seen);
    x.spec.as_mut().expect("spec").holder_identity = Some("x".into());
    y.spec.as_mut().expect("spec").holder_identity = Some("y".into());
    let pp = PostParams::default();
    let (rx, ry) = tokio::join!(api.replace(&name, &pp, &x), api.replace(&name, &pp, &y));
    assert_eq!(
        rx.is_ok() as u8 + ry.is_ok() as u8,
        1,
        "exactly one candidate wins"
    );
    assert_eq!(code(&rx.err().or(ry.err()).expect("one error")), 409);

    let mut l = api.get(&name).await.expect("get");
    let spec = l.spec.as_mut().expect("spec");
    spec.holder_identity = None;
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(3600);
    api.replace(&name, &pp, &l).await.expect("release");
    assert!(
        try_acquire(&api, &k, "z").await,
        "released: z takes it at once"
    );
    k.clean(&api).await;
}

/// kube-rs's `Recorder` (events.k8s.io/v1) turns a repeat into a series, and the Event is
/// visible as a core Event through the `involvedObject.*` field selectors `kubectl describe`
/// uses.
pub async fn recorder_events_series_and_core_field_selectors(c: &impl Cluster) {
    let k = Case::new(c, "ev-recorder").await;
    let nodes = k.nodes();
    let node: Node = k.create(&nodes, "n").await;
    let recorder = Recorder::new(
        k.client.clone(),
        Reporter {
            controller: "multi-eni-contract".into(),
            instance: Some("pod-1".into()),
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "ENIAttached".into(),
        note: Some("eni-123 attached at index 1".into()),
        action: "Attach".into(),
        secondary: None,
    };
    let reference = node.object_ref(&());
    recorder.publish(&ev, &reference).await.expect("publish");
    recorder
        .publish(&ev, &reference)
        .await
        .expect("publish again");

    let core: Api<CoreEvent> = Api::namespaced(k.client.clone(), "default");
    let fields = format!(
        "involvedObject.name={},involvedObject.kind=Node,involvedObject.uid={}",
        k.name("n"),
        node.metadata.uid.clone().unwrap_or_default()
    );
    let seen = core
        .list(&ListParams::default().fields(&fields))
        .await
        .expect("list core Events");
    assert_eq!(
        seen.items.len(),
        1,
        "a repeat is a series, not a second Event"
    );
    let e = &seen.items[0];
    assert_eq!(e.message.as_deref(), Some("eni-123 attached at index 1"));
    assert_eq!(e.reason.as_deref(), Some("ENIAttached"));
    let event_name = e.metadata.name.clone().expect("a name");
    let v1: Api<EventV1> = Api::namespaced(k.client.clone(), "default");
    let e = v1
        .get(&event_name)
        .await
        .expect("the same Event as events.k8s.io/v1");
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        e.reporting_controller.as_deref(),
        Some("multi-eni-contract")
    );
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.clone()),
        Some(k.name("n"))
    );
    let none = core
        .list(&ListParams::default().fields(&format!("involvedObject.name={}", k.name("other"))))
        .await
        .expect("list");
    assert!(none.items.is_empty());
    v1.delete(&event_name, &DeleteParams::default())
        .await
        .expect("delete the Event");
    k.clean(&nodes).await;
}
