//! Lease-based leader election with plain get/create/replace and resourceVersions, the way the
//! controller does it: hand-over after expiry, exactly one winner of a race, graceful release.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::support::{code, eventually, start};

const NAME: &str = "multi-eni-controller";
const DURATION_S: i32 = 1;

/// One election round for `me`; true when `me` holds the lease afterwards.
async fn try_acquire(api: &Api<Lease>, me: &str) -> bool {
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(NAME).await.expect("get") else {
        let l = Lease {
            metadata: ObjectMeta {
                name: Some(NAME.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(me.into()),
                lease_duration_seconds: Some(DURATION_S),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
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
    let held_by_other =
        holder.as_deref().is_some_and(|h| h != me) && expires.is_some_and(|e| e > now.0);
    if held_by_other {
        return false;
    }
    if holder.as_deref() != Some(me) {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(me.into());
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(DURATION_S);
    match api.replace(NAME, &PostParams::default(), &lease).await {
        Ok(_) => true,
        Err(e) if code(&e) == 409 => false,
        Err(e) => panic!("replace lease: {e}"),
    }
}

#[tokio::test]
async fn lease_hands_over_after_expiry_and_a_race_has_one_winner() {
    let server = start().await;
    let api: Api<Lease> = Api::namespaced(server.client().expect("client"), "kube-system");
    assert!(
        try_acquire(&api, "a").await,
        "first candidate creates the lease"
    );
    assert!(!try_acquire(&api, "b").await, "held and fresh: b must wait");
    assert!(try_acquire(&api, "a").await, "the holder renews");

    // a stops renewing (crashed): b takes over once the lease has expired.
    eventually("b acquires the expired lease", || async {
        try_acquire(&api, "b").await.then_some(())
    })
    .await;
    let l = api.get(NAME).await.expect("get").spec.expect("spec");
    assert_eq!(l.holder_identity.as_deref(), Some("b"));
    assert_eq!(l.lease_transitions, Some(1));

    // Two candidates read the same expired lease and both try to write it: one 409s.
    eventually("lease expired again", || async {
        let l = api.get(NAME).await.ok()?.spec?;
        let exp = l.renew_time?.0 + SignedDuration::from_secs(i64::from(l.lease_duration_seconds?));
        (exp < Timestamp::now()).then_some(())
    })
    .await;
    let seen = api.get(NAME).await.expect("get");
    let mut c = seen.clone();
    let mut d = seen;
    c.spec.as_mut().expect("spec").holder_identity = Some("c".into());
    d.spec.as_mut().expect("spec").holder_identity = Some("d".into());
    let pp = PostParams::default();
    let (rc, rd) = tokio::join!(api.replace(NAME, &pp, &c), api.replace(NAME, &pp, &d));
    assert_eq!(
        rc.is_ok() as u8 + rd.is_ok() as u8,
        1,
        "exactly one candidate wins"
    );
    let loser = rc.err().or(rd.err()).expect("one error");
    assert_eq!(code(&loser), 409);

    // Graceful release: the holder clears holderIdentity; anyone can take it at once.
    let mut l = api.get(NAME).await.expect("get");
    let winner = l
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .expect("holder");
    let spec = l.spec.as_mut().expect("spec");
    spec.holder_identity = None;
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(3600);
    api.replace(NAME, &PostParams::default(), &l)
        .await
        .expect("release");
    assert!(
        try_acquire(&api, "e").await,
        "released by {winner}: e takes it without waiting"
    );
}
