//! List and watch fan-out benchmark of the API double (debug profile, like every build here).
//!
//! `cargo bench -p multi-eni-kube-double --bench fanout` — knobs: FANOUT_NODES (5000),
//! FANOUT_OBJECTS (20000), FANOUT_WATCHERS (200), FANOUT_WRITERS (8).
//! Reports ratios, not absolute speeds: watch events delivered per second ÷ objects written per
//! second (ideal: the number of watchers), and list time per object ÷ the time serde_json
//! needs just to serialise that object (the floor any JSON API server pays).

#[path = "../tests/scale_support/mod.rs"]
mod scale_support;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use bytes::Bytes;
use scale_support::{
    Kind, connect, current_rv, request, start_with_widgets, timed_list, watch_until_all, write_all,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

/// serde_json serialise-only time per object for the objects a list returned.
fn serialise_floor(list_body: &[u8]) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(list_body).expect("list");
    let items = v["items"].as_array().expect("items").clone();
    let started = Instant::now();
    let mut total = 0;
    for it in &items {
        total += serde_json::to_vec(it).expect("serialise").len();
    }
    std::hint::black_box(total);
    started.elapsed().as_secs_f64() / items.len().max(1) as f64
}

async fn list_ratio(addr: std::net::SocketAddr, kind: Kind, limit: usize) -> (f64, f64, usize) {
    let (t, items, _) = timed_list(addr, kind, limit).await;
    let mut c = connect(addr).await;
    let (_, body) = request(&mut c, "GET", kind.collection(), Bytes::new()).await;
    let floor = serialise_floor(&body);
    let per_obj = t.as_secs_f64() / items.max(1) as f64;
    (per_obj, per_obj / floor, items)
}

async fn run() {
    let (nodes, objects, watchers, writers) = (
        env("FANOUT_NODES", 5000),
        env("FANOUT_OBJECTS", 20000),
        env("FANOUT_WATCHERS", 200),
        env("FANOUT_WRITERS", 8),
    );
    let server = start_with_widgets(objects + nodes + 1000).await;
    let addr = server.addr();

    // Write-only baseline: objects/s with nobody watching.
    let started = Instant::now();
    write_all(addr, Kind::Node, nodes, writers).await;
    let node_rate = nodes as f64 / started.elapsed().as_secs_f64();

    // Fan-out: every watcher sees every custom object, written while they watch.
    let rv = current_rv(addr, Kind::Widget).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..watchers)
        .map(|_| {
            tokio::spawn(watch_until_all(
                addr,
                Kind::Widget,
                rv,
                objects,
                delivered.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    write_all(addr, Kind::Widget, objects, writers).await;
    let write_secs = started.elapsed().as_secs_f64();
    let mut events = 0;
    for t in tasks {
        let tally = t.await.expect("watcher");
        assert_eq!(tally.distinct, objects);
        events += tally.events;
    }
    let all_secs = started.elapsed().as_secs_f64();
    let write_rate = objects as f64 / write_secs;
    let deliver_rate = events as f64 / all_secs;

    let (node_list, node_ratio, n_items) = list_ratio(addr, Kind::Node, 0).await;
    let (cr_list, cr_ratio, c_items) = list_ratio(addr, Kind::Widget, 0).await;
    let (cr_paged, cr_paged_ratio, _) = list_ratio(addr, Kind::Widget, 500).await;

    println!("## kube-double fan-out benchmark (debug profile)");
    println!();
    println!("nodes={nodes} custom objects={objects} watchers={watchers} writers={writers}");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| Node creates/s, no watchers (absolute, debug build) | {node_rate:.0} |");
    println!(
        "| custom-object creates/s with {watchers} watchers (absolute, debug build) | {write_rate:.0} |"
    );
    println!(
        "| watch events delivered/s ÷ objects written/s (ideal {watchers}) | {:.1} |",
        deliver_rate / write_rate
    );
    println!(
        "| same, per watcher (ideal 1.0) | {:.3} |",
        deliver_rate / write_rate / watchers as f64
    );
    println!(
        "| write rate with {watchers} watchers ÷ write rate without | {:.2} |",
        write_rate / node_rate
    );
    println!(
        "| full list of {n_items} Nodes: time per object ÷ serde_json serialise floor | {node_ratio:.2} ({:.1} µs/object) |",
        node_list * 1e6
    );
    println!(
        "| full list of {c_items} custom objects: time per object ÷ floor | {cr_ratio:.2} ({:.1} µs/object) |",
        cr_list * 1e6
    );
    println!(
        "| paginated list (limit=500) of custom objects: time per object ÷ floor | {cr_paged_ratio:.2} ({:.1} µs/object) |",
        cr_paged * 1e6
    );
    server.shutdown().await;
}
