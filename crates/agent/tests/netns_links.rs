//! Netlink in a throwaway network namespace: the link layer acts by ifindex and re-checks the
//! MAC before every change. Needs root (run by .ci/run).

use multi_eni_agent::address::MacAddr;
use multi_eni_agent::links::{LinkError, LinkEvent, Links};
use multi_eni_agent::plan::{LinkChange, LinkFacts};
use multi_eni_agent::testing::netns::Netns;

const MAC: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 1, 0x0a]);
const OTHER: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 1, 0xff]);

/// What a dump shows of the link carrying [`MAC`].
async fn ours(links: &Links) -> LinkFacts {
    links
        .dump()
        .await
        .expect("dump")
        .into_iter()
        .find(|l| l.mac == Some(MAC))
        .expect("the link with our MAC")
}

/// Up with MTU 9001, as the agent configures a new ENI.
fn up_with_jumbo_mtu() -> LinkChange {
    LinkChange {
        mtu: Some(9001),
        up: Some(true),
        name: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_sees_only_the_namespace_links_with_their_macs() {
    let ns = Netns::new();
    ns.add_veth("ens6", MAC, "peer6");
    let (links, _events) = ns.connect_links();
    let all = links.dump().await.expect("dump");
    let names: Vec<&str> = all.iter().map(|l| l.name.as_str()).collect();
    assert!(
        names.contains(&"ens6") && names.contains(&"peer6") && names.contains(&"lo"),
        "{names:?}"
    );
    assert_eq!(all.len(), 3, "only this namespace's links: {names:?}");
    let ens6 = all.iter().find(|l| l.name == "ens6").expect("ens6");
    assert_eq!(ens6.mac, Some(MAC));
    assert!(!ens6.up);
    assert_eq!(
        all.iter().find(|l| l.name == "lo").and_then(|l| l.mac),
        None,
        "loopback has no ENI MAC"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_link_is_announced_by_a_notification() {
    let ns = Netns::new();
    let (_links, mut events) = ns.connect_links();
    ns.add_veth("ens6", MAC, "peer6");
    loop {
        match events.next().await.expect("notification") {
            LinkEvent::Changed(l) if l.mac == Some(MAC) => {
                assert_eq!(l.name, "ens6");
                break;
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_link_is_still_changed_by_its_ifindex() {
    let ns = Netns::new();
    ns.add_veth("ens6", MAC, "peer6");
    let (links, _events) = ns.connect_links();
    let seen = ours(&links).await;
    // udev renames it between our decision and our change.
    ns.ip(&["link", "set", "ens6", "name", "eth9"]);
    links
        .apply(seen.index, MAC, &up_with_jumbo_mtu())
        .await
        .expect("change by ifindex");
    let l = ns.link("eth9").expect("renamed link");
    assert!(l.up() && l.mtu == 9001, "{l:?}");
    let peer = ns.link("peer6").expect("peer");
    assert!(
        !peer.up() && peer.mtu == 1500,
        "the peer is not ours: {peer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ifindex_reused_by_a_foreign_link_is_refused() {
    let ns = Netns::new();
    ns.add_veth_at("ens6", 4242, MAC, "peer6");
    let (links, _events) = ns.connect_links();
    let seen = links.get(4242).await.expect("get").expect("ens6 at 4242");
    assert_eq!(seen.mac, Some(MAC));
    // The link is deleted and a foreign one takes its index before we act.
    ns.ip(&["link", "del", "ens6"]);
    ns.add_veth_at("foreign", 4242, OTHER, "fpeer");
    let err = links
        .apply(4242, MAC, &up_with_jumbo_mtu())
        .await
        .expect_err("must refuse");
    assert!(
        matches!(err, LinkError::MacChanged { index: 4242, .. }),
        "{err}"
    );
    let f = ns.link("foreign").expect("foreign link");
    assert!(!f.up() && f.mtu == 1500, "foreign link untouched: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_takes_an_up_link_down_and_back_up() {
    let ns = Netns::new();
    ns.add_veth("ens6", MAC, "peer6");
    ns.ip(&["link", "set", "ens6", "up"]);
    let (links, _events) = ns.connect_links();
    let seen = ours(&links).await;
    links
        .apply(
            seen.index,
            MAC,
            &LinkChange {
                name: Some("multi1".into()),
                mtu: Some(9001),
                up: None,
            },
        )
        .await
        .expect("rename");
    let l = ns.link("multi1").expect("renamed");
    assert!(l.up() && l.mtu == 9001 && l.ifindex == seen.index, "{l:?}");
    assert!(links.get(999_999).await.expect("get").is_none());
}
