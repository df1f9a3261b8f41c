//! Netlink in a throwaway network namespace: the link layer acts by ifindex and re-checks the
//! MAC before every change. Needs root (run by .ci/run).

use multi_eni_agent::address::MacAddr;
use multi_eni_agent::links::{LinkError, LinkEvent, Links};
use multi_eni_agent::plan::LinkChange;
use multi_eni_agent::testing::netns::Netns;

const MAC: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 1, 0x0a]);
const OTHER: MacAddr = MacAddr([0x02, 0x6e, 0x69, 0, 1, 0xff]);

fn connect(ns: &Netns) -> (Links, multi_eni_agent::links::LinkEvents) {
    let rt = tokio::runtime::Handle::current();
    ns.enter(|| {
        let _g = rt.enter();
        Links::connect()
    })
    .expect("netlink inside the netns")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_sees_only_the_namespace_links_with_their_macs() {
    let ns = Netns::new();
    ns.add_veth("ens6", MAC, "peer6");
    let (links, _events) = connect(&ns);
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
    let (_links, mut events) = connect(&ns);
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
    let (links, _events) = connect(&ns);
    let seen = links
        .dump()
        .await
        .expect("dump")
        .into_iter()
        .find(|l| l.mac == Some(MAC))
        .expect("ens6");
    // udev renames it between our decision and our change.
    ns.ip(&["link", "set", "ens6", "name", "eth9"]);
    links
        .apply(
            seen.index,
            MAC,
            &LinkChange {
                mtu: Some(9001),
                up: Some(true),
                name: None,
            },
        )
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
    ns.ip(&[
        "link",
        "add",
        "ens6",
        "index",
        "4242",
        "address",
        &MAC.to_string(),
        "type",
        "veth",
        "peer",
        "name",
        "peer6",
    ]);
    let (links, _events) = connect(&ns);
    let seen = links.get(4242).await.expect("get").expect("ens6 at 4242");
    assert_eq!(seen.mac, Some(MAC));
    // The link is deleted and a foreign one takes its index before we act.
    ns.ip(&["link", "del", "ens6"]);
    ns.ip(&[
        "link",
        "add",
        "foreign",
        "index",
        "4242",
        "address",
        &OTHER.to_string(),
        "type",
        "veth",
        "peer",
        "name",
        "fpeer",
    ]);
    let err = links
        .apply(
            4242,
            MAC,
            &LinkChange {
                mtu: Some(9001),
                up: Some(true),
                name: None,
            },
        )
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
    let (links, _events) = connect(&ns);
    let seen = links
        .dump()
        .await
        .expect("dump")
        .into_iter()
        .find(|l| l.mac == Some(MAC))
        .expect("ens6");
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
