//! The resync's garbage collection on the API double and the EC2 simulator: only our cluster's
//! orphans, only after two passes a cooldown apart, attached ones detached first.

#[path = "support/resync.rs"]
mod support;

use std::time::Duration;

use kube::runtime::watcher;
use multi_eni_api::keys::{TAG_ATTACHMENT, TAG_CLUSTER};
use multi_eni_controller::run::resync::{GcState, pass};
use multi_eni_ec2::{EniStatus, Op, Tags};
use multi_eni_testkit::wait_until;
use support::{CLUSTER, TIMEOUT, World, object};

const HOUR: Duration = Duration::from_secs(3600);

fn exists(world: &World, id: &str) -> bool {
    world.sim.network_interface(id).is_some()
}

#[tokio::test]
async fn gc_spares_an_eni_whose_attachment_the_store_has_not_seen_and_deletes_an_orphan_only_after_two_passes_a_cooldown_apart()
 {
    let world = World::start().await;
    let (mut ctx, mut store) = world.fed_by_hand(world.config(HOUR));
    let fresh = world.create_eni(world.tags("uid-fresh")).await;
    let orphan = world.create_eni(world.tags("uid-deleted-long-ago")).await;
    let live = world.create_eni(world.tags("uid-live")).await;
    store.apply_watcher_event(&watcher::Event::Apply(object(
        &world, "live", "uid-live", 1,
    )));
    let mut gc = GcState::default();

    // Pass 1: both ENIs without an attachment in the store are remembered, nothing is deleted.
    let r1 = pass(&ctx, &mut gc).await.expect("pass 1");
    assert_eq!(r1.listed, 3);
    assert!(r1.deleted.is_empty() && r1.detached.is_empty(), "{r1:?}");
    let orphans: Vec<&String> = gc.orphans().keys().collect();
    let mut want = vec![&fresh.id, &orphan.id];
    want.sort();
    assert_eq!(orphans, want);

    // The watch delivers the fresh ENI's attachment; a pass within the cooldown deletes nothing.
    store.apply_watcher_event(&watcher::Event::Apply(object(
        &world,
        "fresh",
        "uid-fresh",
        2,
    )));
    let r2 = pass(&ctx, &mut gc).await.expect("pass 2");
    assert!(r2.deleted.is_empty(), "{r2:?}");
    assert_eq!(gc.orphans().keys().collect::<Vec<_>>(), vec![&orphan.id]);

    // The cooldown has passed (shortened rather than waited for): the orphan goes, only it.
    ctx.config.gc_cooldown = Duration::ZERO;
    world.sim.reset_stats();
    let r3 = pass(&ctx, &mut gc).await.expect("pass 3");
    assert_eq!(r3.deleted, vec![orphan.id.clone()]);
    assert_eq!(world.sim.calls(Op::DeleteNetworkInterface), 1);
    assert_eq!(ctx.metrics.gc_deleted.get(), 1);
    assert!(!exists(&world, &orphan.id));
    assert!(exists(&world, &fresh.id) && exists(&world, &live.id));
    assert!(ctx.enis.get(&orphan.id).is_none(), "the index forgets it");
    assert!(gc.orphans().is_empty());
}

#[tokio::test]
async fn gc_never_touches_another_clusters_untagged_or_unowned_enis() {
    let world = World::start().await;
    let (ctx, _store) = world.fed_by_hand(world.config(Duration::ZERO));
    let mut other_cluster = world.tags("uid-gone");
    other_cluster.insert(TAG_CLUSTER.into(), "staging".into());
    let mut no_attachment_tag = world.tags("uid-gone");
    no_attachment_tag.remove(TAG_ATTACHMENT);
    let keep = [
        world.create_eni(other_cluster).await,
        world.create_eni(Tags::new()).await,
        world.create_eni(no_attachment_tag).await,
    ];
    let attached_foreign = world.create_eni(Tags::new()).await;
    world.attach(&attached_foreign.id, 1).await;
    let mut gc = GcState::default();
    world.sim.reset_stats();
    for n in 1..=3 {
        let r = pass(&ctx, &mut gc).await.expect("pass");
        assert_eq!(r.listed, 1, "pass {n}: only our cluster's ENIs are listed");
        assert!(r.deleted.is_empty() && r.detached.is_empty(), "{r:?}");
    }
    assert!(gc.orphans().is_empty());
    for eni in keep.iter().chain([&attached_foreign]) {
        assert!(exists(&world, &eni.id), "{} was touched", eni.id);
    }
    assert_eq!(world.sim.calls(Op::DeleteNetworkInterface), 0);
    assert_eq!(world.sim.calls(Op::DetachNetworkInterface), 0);
}

#[tokio::test]
async fn gc_detaches_an_attached_orphan_and_deletes_it_on_a_later_pass() {
    let world = World::start().await;
    let (ctx, _store) = world.fed_by_hand(world.config(Duration::ZERO));
    let orphan = world.create_eni(world.tags("uid-gone")).await;
    world.attach(&orphan.id, 3).await;
    let mut gc = GcState::default();

    let r1 = pass(&ctx, &mut gc).await.expect("pass 1");
    assert!(
        r1.deleted.is_empty() && r1.detached.is_empty(),
        "first sight"
    );
    let r2 = pass(&ctx, &mut gc).await.expect("pass 2");
    assert_eq!(r2.detached, vec![orphan.id.clone()]);
    assert!(r2.deleted.is_empty(), "EC2 deletes only available ENIs");
    wait_until(TIMEOUT, "the orphan to become available", || async {
        match world.sim.network_interface(&orphan.id) {
            Some(e) if e.status == EniStatus::Available => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let r3 = pass(&ctx, &mut gc).await.expect("pass 3");
    assert_eq!(r3.deleted, vec![orphan.id.clone()]);
    assert!(!exists(&world, &orphan.id));
    assert_eq!(world.sim.calls(Op::DetachNetworkInterface), 1);
}

#[tokio::test]
async fn gc_waits_the_real_cooldown_and_spares_enis_of_attachments_in_the_double() {
    const COOLDOWN: Duration = Duration::from_millis(300);
    let world = World::start().await;
    let owned = world.create_attachment("gc-owned", 1).await;
    let uid = owned
        .metadata
        .uid
        .clone()
        .expect("the server assigns a UID");
    let ctx = world.watching(world.config(COOLDOWN)).await;
    support::store_has_object(&ctx, "gc-owned").await;
    let kept = world.create_eni(world.tags(&uid)).await;
    let orphan = world.create_eni(world.tags("uid-gone")).await;
    let gc = tokio::sync::Mutex::new(GcState::default());

    let first = tokio::time::Instant::now();
    pass(&ctx, &mut *gc.lock().await).await.expect("first pass");
    wait_until(TIMEOUT, "the orphan to be collected", || {
        let (ctx, gc) = (&ctx, &gc);
        async move {
            let r = pass(ctx, &mut *gc.lock().await)
                .await
                .map_err(|e| e.to_string())?;
            if r.deleted.is_empty() {
                Err(format!("{r:?}"))
            } else {
                Ok(())
            }
        }
    })
    .await;
    // The GC keeps first sight as a wall-clock time truncated to the millisecond: it may be up
    // to 1 ms earlier than this Instant, never more.
    assert!(
        first.elapsed() + Duration::from_millis(1) >= COOLDOWN,
        "deleted {:?} after first sight",
        first.elapsed()
    );
    assert!(!exists(&world, &orphan.id));
    assert!(exists(&world, &kept.id));
    assert_eq!(ctx.metrics.gc_deleted.get(), 1);
    assert!(
        world
            .sim
            .network_interfaces_tagged(TAG_CLUSTER, CLUSTER)
            .iter()
            .all(|e| e.id == kept.id)
    );
    world.delete_attachment("gc-owned").await;
}

#[tokio::test]
async fn gc_counts_not_found_as_done_and_stops_at_a_throttle_until_the_next_pass() {
    let world = World::start().await;
    let (ctx, _store) = world.fed_by_hand(world.config(Duration::ZERO));
    let mut orphans = Vec::new();
    for i in 0..3 {
        orphans.push(
            world
                .create_eni(world.tags(&format!("uid-gone-{i}")))
                .await
                .id,
        );
    }
    orphans.sort();
    let mut gc = GcState::default();
    pass(&ctx, &mut gc).await.expect("first sight");

    // The first delete finds the ENI gone already, the second is throttled: the third waits.
    world.sim.fail_next(
        Op::DeleteNetworkInterface,
        1,
        "InvalidNetworkInterfaceID.NotFound",
    );
    world
        .sim
        .fail_next(Op::DeleteNetworkInterface, 1, "RequestLimitExceeded");
    world.sim.reset_stats();
    let r = pass(&ctx, &mut gc).await.expect("pass");
    assert_eq!(r.already_gone, vec![orphans[0].clone()]);
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].0, orphans[1]);
    assert!(r.deleted.is_empty());
    assert_eq!(
        world.sim.calls(Op::DeleteNetworkInterface),
        2,
        "stopped at the throttle"
    );
    assert_eq!(ctx.metrics.gc_deleted.get(), 0);
    assert!(ctx.enis.get(&orphans[0]).is_none(), "gone is gone");

    // Next pass: the other two go. The first (still in EC2: the NotFound was injected) was
    // forgotten as done, so it is a first sight again, and goes one pass later.
    let r = pass(&ctx, &mut gc).await.expect("next pass");
    assert_eq!(r.deleted, orphans[1..].to_vec());
    assert_eq!(gc.orphans().keys().collect::<Vec<_>>(), vec![&orphans[0]]);
    let r = pass(&ctx, &mut gc).await.expect("last pass");
    assert_eq!(r.deleted, vec![orphans[0].clone()]);
    assert_eq!(ctx.metrics.gc_deleted.get(), 3);
    assert!(gc.orphans().is_empty());
}
