//! Drift: ENIs changed behind our back in EC2 wake exactly their ENIAttachments — from a pass,
//! and from the running resync loop through its callback.

#[path = "support/resync.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use multi_eni_api::EniAttachment;
use multi_eni_controller::plan::DriftReason;
use multi_eni_controller::run::resync::{self, GcState, pass};
use multi_eni_ec2::{DetachEni, Ec2, EniAttributeChange};
use multi_eni_testkit::wait_until;
use support::{TIMEOUT, World};

/// Four settled attachments on the instance (indexes 1–4), ENIs exactly as their specs say.
/// Returns `(name, eni id, attachment id)` for each.
async fn four_settled(world: &World, prefix: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for index in 1..=4 {
        let name = format!("{prefix}-{index}");
        let att = world.create_attachment(&name, index).await;
        let uid = att.metadata.uid.expect("the server assigns a UID");
        let eni = world.create_eni(world.tags(&uid)).await;
        let attachment_id = world.attach(&eni.id, index).await;
        // EC2 attaches with DeleteOnTermination off; the spec wants it on, as the controller
        // would have set it.
        world
            .sim
            .modify_network_interface_attribute(
                &eni.id,
                &EniAttributeChange::DeleteOnTermination {
                    attachment_id: attachment_id.clone(),
                    delete_on_termination: true,
                },
            )
            .await
            .expect("set DeleteOnTermination");
        world.settle(&name, &eni.id, &attachment_id, index).await;
        out.push((name, eni.id, attachment_id));
    }
    out
}

/// Behind our back: the first ENI deleted, the second detached, the third's groups changed;
/// the fourth left alone. Returns what each drifted attachment should be reported for.
async fn meddle(world: &World, atts: &[(String, String, String)]) -> BTreeMap<String, DriftReason> {
    let ec2 = &world.sim;
    let detach = |id: &str| DetachEni {
        attachment_id: id.into(),
        force: false,
    };
    ec2.detach_network_interface(&detach(&atts[0].2))
        .await
        .expect("detach the first");
    ec2.delete_network_interface(&atts[0].1)
        .await
        .expect("delete the first");
    ec2.detach_network_interface(&detach(&atts[1].2))
        .await
        .expect("detach the second");
    ec2.modify_network_interface_attribute(
        &atts[2].1,
        &EniAttributeChange::SecurityGroups(vec![world.sg2.clone()]),
    )
    .await
    .expect("change the third's groups");
    BTreeMap::from([
        (atts[0].0.clone(), DriftReason::EniGone),
        (atts[1].0.clone(), DriftReason::Detached),
        (atts[2].0.clone(), DriftReason::SecurityGroups),
    ])
}

#[tokio::test]
async fn enis_changed_behind_our_back_are_reported_for_exactly_their_attachments() {
    let world = World::start().await;
    let atts = four_settled(&world, "drift").await;
    let ctx = world.watching(world.config(Duration::from_secs(600))).await;
    let names: Vec<&str> = atts.iter().map(|a| a.0.as_str()).collect();
    support::store_has_settled(&ctx, &names).await;
    let mut gc = GcState::default();

    let before = pass(&ctx, &mut gc).await.expect("pass before");
    assert!(before.drifted.is_empty(), "{:?}", before.drifted);
    assert_eq!(before.listed, 4);

    let want = meddle(&world, &atts).await;
    let after = pass(&ctx, &mut gc).await.expect("pass after");
    let got: BTreeMap<String, DriftReason> = after
        .drifted
        .iter()
        .map(|(r, reason)| (r.name.clone(), *reason))
        .collect();
    assert_eq!(got, want);
    assert_eq!(after.listed, 3);
    assert!(
        ctx.enis.get(&atts[0].1).is_none(),
        "the index shows the delete"
    );
    assert!(
        ctx.enis
            .get(&atts[1].1)
            .is_some_and(|e| e.attachment.is_none()),
        "the index shows the detach"
    );
    assert!(after.deleted.is_empty() && after.detached.is_empty());
    for (name, _, _) in &atts {
        world.delete_attachment(name).await;
    }
}

#[tokio::test]
async fn the_running_resync_hands_drifted_attachments_to_its_callback() {
    let world = World::start().await;
    let atts = four_settled(&world, "loop").await;
    let mut cfg = world.config(Duration::from_secs(600));
    cfg.resync_period = Duration::from_millis(50);
    let ctx = Arc::new(world.watching(cfg).await);
    let names: Vec<&str> = atts.iter().map(|a| a.0.as_str()).collect();
    support::store_has_settled(&ctx, &names).await;

    let woken: Arc<Mutex<Vec<ObjectRef<EniAttachment>>>> = Arc::default();
    let sink = woken.clone();
    let task = tokio::spawn(resync::run(ctx.clone(), move |r| {
        sink.lock().expect("not poisoned").push(r);
    }));
    wait_until(TIMEOUT, "a few quiet passes", || async {
        match ctx.enis.listed_at() {
            Some(_) if ctx.enis.all().len() == 4 => Ok(()),
            other => Err(format!("listed at {other:?}")),
        }
    })
    .await;
    assert!(woken.lock().expect("not poisoned").is_empty());

    let want = meddle(&world, &atts).await;
    wait_until(
        TIMEOUT,
        "the callback to get every drifted attachment",
        || async {
            let got: std::collections::BTreeSet<String> = woken
                .lock()
                .expect("not poisoned")
                .iter()
                .map(|r| r.name.clone())
                .collect();
            let want: std::collections::BTreeSet<String> = want.keys().cloned().collect();
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await;
    task.abort();
    for (name, _, _) in &atts {
        world.delete_attachment(name).await;
    }
}
