//! A resync pass costs O(pages) describes, never a call per ENI, however many ENIs, drifted
//! attachments and orphans-in-waiting there are — counted on the simulator.

#[path = "support/resync.rs"]
mod support;

use std::time::Duration;

use kube::runtime::watcher;
use multi_eni_controller::run::resync::{GcState, PAGE_SIZE, pass};
use multi_eni_ec2::Op;
use support::{World, object, settled_status};

#[tokio::test]
async fn a_pass_over_2100_enis_costs_three_describes_and_nothing_per_eni() {
    const ENIS: usize = 2100;
    const OWNED: usize = 300;
    let world = World::start().await;
    let (ctx, mut store) = world.fed_by_hand(world.config(Duration::from_secs(3600)));
    for i in 0..ENIS {
        let uid = format!("uid-{i}");
        let eni = world.create_eni(world.tags(&uid)).await;
        if i < OWNED {
            // Settled on paper, but EC2 shows the ENI unattached: every one of them drifted.
            let mut att = object(&world, &format!("att-{i}"), &uid, 1);
            att.status = Some(settled_status(&eni.id, "eni-attach-0", 1));
            store.apply_watcher_event(&watcher::Event::Apply(att));
        }
    }
    world.sim.reset_stats();
    let mut gc = GcState::default();

    for n in 1..=2 {
        let r = pass(&ctx, &mut gc).await.expect("pass");
        assert_eq!(r.listed, ENIS);
        assert_eq!(r.pages, ENIS.div_ceil(PAGE_SIZE as usize), "pass {n}");
        assert_eq!(r.drifted.len(), OWNED, "pass {n}");
        assert!(
            r.deleted.is_empty() && r.detached.is_empty(),
            "within the cooldown"
        );
    }
    assert_eq!(gc.orphans().len(), ENIS - OWNED);
    assert_eq!(ctx.enis.all().len(), ENIS);
    let calls = world.sim.all_stats();
    let ops: Vec<Op> = calls.keys().copied().collect();
    assert_eq!(ops, vec![Op::DescribeNetworkInterfaces], "{calls:?}");
    assert_eq!(world.sim.calls(Op::DescribeNetworkInterfaces), 2 * 3);
}
