//! The agent's hot-plug latency: link appears → configured, over hundreds of hot-plugs.
//!
//! One in-process agent (the same harness as `tests/netns_agent.rs`: API double, netlink socket
//! inside a throwaway network namespace, fake sysfs, SR-IOV config on) knows `A` Attached
//! ENIAttachments with MTU 9001 whose links do not exist yet. A *hot-plug* creates, through the
//! bench's own netlink request, a veth pair whose first end carries one attachment's MAC; an
//! *unplug* deletes it again and waits until the agent reports InterfaceNotFound, so the next
//! hot-plug of that MAC is a new link (new ifindex) the agent has to find and configure again.
//!
//! * Sequential rounds: each attachment's link is hot-plugged alone, the next one only after the
//!   previous is reported configured; then all are unplugged. Default 25 attachments × 20 rounds
//!   = 500 hot-plugs: the latency of one ENI arriving (the controller attaches ENIs one by one,
//!   seconds apart).
//! * Burst rounds: all `A` links are created back to back, then each is waited for: the latency
//!   when many arrive together (default 4 rounds = 100 hot-plugs).
//!
//! Every sample starts at t0 = the instant just before the bench sends the RTM_NEWLINK request
//! that creates the veth, and records:
//! * `created`: the kernel's acknowledgement of that request (the link exists);
//! * `link configured`: arrival, on the bench's own netlink subscription (a second RTNLGRP_LINK
//!   socket in the namespace), of the notification showing that link UP with MTU 9001 — what
//!   the kernel did, independent of the status write. This is the figure held to the target;
//! * `status configured`: arrival, on the bench's ENIAttachment watch, of the object whose
//!   `status.interface` says InterfaceReady True/InterfaceConfigured, up, MTU 9001, with the new
//!   link's ifindex — what the cluster sees.
//!
//! Both observers are tasks stamping each message as it arrives, so a sample also includes the
//! observer's own scheduling delay: an upper bound. The agent's own histogram
//! `multi_eni_agent_link_configure_seconds` (its notification → configured, before the status
//! write) is printed beside them as bucket bounds.
//!
//! `cargo bench -p multi-eni-agent --bench hotplug` as root (release build; one tokio runtime
//! with 2 workers runs the agent, the API double and the observers).
//! `MULTI_ENI_BENCH_ATTACHMENTS` (default 25, at most 255), `MULTI_ENI_BENCH_ROUNDS` (20) and
//! `MULTI_ENI_BENCH_BURST_ROUNDS` (4) change the sizes. `tests/hotplug.rs` runs the same code
//! small, asserting that every hot-plug is configured and counted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use multi_eni_agent::address::MacAddr;
use multi_eni_agent::links::LinkEvent;
use multi_eni_agent::plan::LinkFacts;
use multi_eni_agent::testing::cluster::TestCluster;
use multi_eni_api::EniAttachment;
use multi_eni_api::keys::reason;
use tokio::sync::mpsc;
use tokio::time::Instant;

use common::{Node, RunningAgent, configured, has_reason, iface, wait_not_found};

/// The MTU every attachment asks for (veths start at 1500, so configuring changes it).
const MTU: i32 = 9001;
/// How long one hot-plug or unplug may take before the bench fails, naming what it waited for.
const DEADLINE: Duration = Duration::from_secs(10);
/// The target of issue 11 for `link configured`, p99.
const TARGET_P99: Duration = Duration::from_millis(100);

/// How many hot-plugs, and in which rhythm.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Attachments, each with its own MAC.
    pub attachments: u8,
    /// Rounds hot-plugging the attachments one at a time.
    pub rounds: usize,
    /// Rounds hot-plugging all attachments at once.
    pub burst_rounds: usize,
}

impl Settings {
    /// The defaults (25 × 20 sequential, 4 bursts of 25), changed by `MULTI_ENI_BENCH_*`.
    pub fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        }
        Settings {
            attachments: var("MULTI_ENI_BENCH_ATTACHMENTS", 25),
            rounds: var("MULTI_ENI_BENCH_ROUNDS", 20),
            burst_rounds: var("MULTI_ENI_BENCH_BURST_ROUNDS", 4),
        }
    }
}

/// One hot-plug, measured from just before the request that created the link.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub created: Duration,
    pub link: Duration,
    pub status: Duration,
}

/// The hot-plugs of one rhythm, and the agent's own histogram over the same hot-plugs.
#[derive(Debug)]
pub struct Phase {
    pub title: String,
    pub samples: Vec<Sample>,
    pub agent: Option<Histogram>,
    /// Link notifications in the namespace during the phase (plugs and unplugs).
    pub notifications: u64,
}

/// What a whole run measured.
#[derive(Debug)]
pub struct Measured {
    pub sequential: Phase,
    pub burst: Phase,
    /// The agent's `/metrics` at the end.
    pub metrics: String,
}

fn mac(k: u8) -> MacAddr {
    MacAddr([0x02, 0x6e, 0x69, 0, 3, k])
}

fn name(k: u8) -> String {
    format!("hotplug-{k}")
}

/// Messages of a stream, each stamped when it arrived, kept until a wait looks past them.
/// Dropping it stops the task reading the stream.
#[derive(Debug)]
struct Observer<T> {
    rx: mpsc::UnboundedReceiver<(Instant, T)>,
    seen: Vec<(Instant, T)>,
    task: tokio::task::AbortHandle,
}

impl<T> Drop for Observer<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Clone> Observer<T> {
    /// Forwards `stream`'s items, stamped on arrival, from a task of its own.
    fn spawn<S>(stream: S) -> Self
    where
        S: futures::Stream<Item = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = pin!(stream);
            while let Some(item) = stream.next().await {
                if tx.send((Instant::now(), item)).is_err() {
                    break;
                }
            }
        });
        Observer {
            rx,
            seen: Vec::new(),
            task: task.abort_handle(),
        }
    }

    /// The first message that arrived at or after `since` and passes `pred`, with its arrival.
    /// Waits are made in order of `since`, so what arrived before it is dropped. Panics naming
    /// `what` when nothing passes within [`DEADLINE`].
    async fn first(
        &mut self,
        since: Instant,
        what: &str,
        pred: impl Fn(&T) -> bool,
    ) -> (Instant, T) {
        self.seen.retain(|(t, _)| *t >= since);
        if let Some((t, v)) = self.seen.iter().find(|(_, v)| pred(v)) {
            return (*t, v.clone());
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => panic!("no {what} within {DEADLINE:?}"),
                Ok(None) => panic!("the stream ended while waiting for {what}"),
                Ok(Some((t, v))) if t >= since => {
                    if pred(&v) {
                        return (t, v);
                    }
                    self.seen.push((t, v));
                }
                Ok(Some(_)) => {}
            }
        }
    }
}

/// Link notifications in `node`'s namespace, on a netlink socket of the bench's own; every
/// notification (the agent gets the same ones) is counted in `count`.
fn observe_links(node: &Node, count: Arc<AtomicU64>) -> Observer<LinkFacts> {
    let (links, events) = node.ns.connect_links();
    let changed = futures::stream::unfold((links, events), move |(links, mut events)| {
        let count = count.clone();
        async move {
            loop {
                let ev = events.next().await?;
                count.fetch_add(1, Ordering::Relaxed);
                match ev {
                    LinkEvent::Changed(l) => return Some((l, (links, events))),
                    LinkEvent::Overrun => eprintln!("the bench's netlink socket overran"),
                    LinkEvent::Removed(_) => {}
                }
            }
        }
    });
    Observer::spawn(changed)
}

/// Every ENIAttachment version the watch delivers.
fn observe_statuses(cluster: &TestCluster) -> Observer<Arc<EniAttachment>> {
    let objects = watcher::watcher(cluster.api(), watcher::Config::default())
        .default_backoff()
        .filter_map(|ev| async move {
            match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => Some(Arc::new(o)),
                Ok(_) => None,
                Err(e) => {
                    eprintln!("the bench's ENIAttachment watch failed: {e}");
                    None
                }
            }
        });
    Observer::spawn(objects)
}

/// A hot-plug whose link exists, not yet seen configured.
#[derive(Debug)]
struct Plugging {
    k: u8,
    t0: Instant,
    created: Duration,
}

/// The agent under measurement and everything around it.
/// Fields drop in order: the observers stop before the server and the namespace go.
struct Bench {
    links: Observer<LinkFacts>,
    statuses: Observer<Arc<EniAttachment>>,
    settings: Settings,
    /// The API double, running as long as the bench.
    _cluster: TestCluster,
    node: Node,
    agent: RunningAgent,
    /// The bench's netlink handle in the namespace, for creating and deleting links.
    creator: rtnetlink::Handle,
    /// Link notifications so far.
    notifications: Arc<AtomicU64>,
    /// The ifindex of each attachment's link while it is plugged.
    plugged: Vec<Option<u32>>,
}

impl Bench {
    /// Creates the attachments, starts the agent and waits until it reports every one
    /// InterfaceNotFound: it knows them, so each link created now is a hot-plug.
    async fn start(settings: Settings) -> Bench {
        let cluster = TestCluster::start().await;
        let node = Node::new("node-a");
        for k in 0..settings.attachments {
            cluster
                .attach(&name(k), "node-a", &mac(k).to_string(), |s| {
                    s.mtu = Some(MTU)
                })
                .await;
        }
        let agent = node.start_agent(&cluster, node.config()).await;
        for k in 0..settings.attachments {
            wait_not_found(&cluster, &name(k)).await;
        }
        let (conn, creator, _) = node
            .ns
            .enter_runtime(rtnetlink::new_connection)
            .expect("a netlink socket for creating links");
        tokio::spawn(conn);
        let notifications = Arc::new(AtomicU64::new(0));
        Bench {
            links: observe_links(&node, notifications.clone()),
            notifications,
            statuses: observe_statuses(&cluster),
            plugged: vec![None; usize::from(settings.attachments)],
            settings,
            _cluster: cluster,
            node,
            agent,
            creator,
        }
    }

    async fn plug(&self, k: u8) -> Plugging {
        let veth = rtnetlink::LinkVeth::new(&format!("hp{k}"), &format!("hq{k}"))
            .address(mac(k).0.to_vec())
            .build();
        let t0 = Instant::now();
        if let Err(e) = self.creator.link().add(veth).execute().await {
            panic!("creating veth hp{k} in {}: {e}", self.node.ns.name());
        }
        Plugging {
            k,
            t0,
            created: t0.elapsed(),
        }
    }

    /// Waits for the kernel to show the link configured, then for the status to say so.
    async fn configured(&mut self, p: Plugging) -> Sample {
        let (mac, name) = (mac(p.k), name(p.k));
        let what = format!("notification of {mac} up with MTU {MTU}");
        let (at_link, link) = self
            .links
            .first(p.t0, &what, |l| {
                l.mac == Some(mac) && l.up && i64::from(l.mtu) == i64::from(MTU)
            })
            .await;
        let done = configured(None, MTU);
        let what = format!("{name} reported configured on ifindex {}", link.index);
        let (at_status, _) = self
            .statuses
            .first(p.t0, &what, |o| {
                o.metadata.name.as_deref() == Some(name.as_str())
                    && done(o).is_ok()
                    && iface(o).is_ok_and(|i| i.if_index == Some(link.index))
            })
            .await;
        self.plugged[usize::from(p.k)] = Some(link.index);
        Sample {
            created: p.created,
            link: at_link - p.t0,
            status: at_status - p.t0,
        }
    }

    /// Deletes every plugged link, then waits until the agent reports each not found.
    async fn unplug_all(&mut self) {
        let mut deleted = Vec::new();
        for k in 0..self.settings.attachments {
            let Some(index) = self.plugged[usize::from(k)].take() else {
                continue;
            };
            let at = Instant::now();
            if let Err(e) = self.creator.link().del(index).execute().await {
                panic!("deleting ifindex {index} (hp{k}): {e}");
            }
            deleted.push((k, at));
        }
        let not_found = has_reason("False", reason::INTERFACE_NOT_FOUND);
        for (k, at) in deleted {
            let name = name(k);
            let what = format!("{name} reported InterfaceNotFound after the unplug");
            self.statuses
                .first(at, &what, |o| {
                    o.metadata.name.as_deref() == Some(name.as_str()) && not_found(o).is_ok()
                })
                .await;
        }
    }

    async fn sequential_round(&mut self) -> Vec<Sample> {
        let mut samples = Vec::new();
        for k in 0..self.settings.attachments {
            let p = self.plug(k).await;
            samples.push(self.configured(p).await);
        }
        self.unplug_all().await;
        samples
    }

    async fn burst_round(&mut self) -> Vec<Sample> {
        let mut plugging = Vec::new();
        for k in 0..self.settings.attachments {
            plugging.push(self.plug(k).await);
        }
        let mut samples = Vec::new();
        for p in plugging {
            samples.push(self.configured(p).await);
        }
        self.unplug_all().await;
        samples
    }

    async fn agent_metrics(&self) -> String {
        let (code, metrics) = self.agent.get("/metrics").await;
        assert_eq!(code, 200, "{metrics}");
        metrics
    }
}

/// The agent's histogram in `later` minus what it held in `earlier`.
fn agent_between(earlier: &str, later: &str) -> Option<Histogram> {
    let (a, b) = (
        Histogram::parse(earlier, AGENT_HISTOGRAM)?,
        Histogram::parse(later, AGENT_HISTOGRAM)?,
    );
    Some(b.since(&a))
}

/// Runs the whole measurement (needs root).
pub async fn measure(settings: Settings) -> Measured {
    let mut bench = Bench::start(settings).await;
    let start = bench.agent_metrics().await;
    let seen = |b: &Bench| b.notifications.load(Ordering::Relaxed);
    let n0 = seen(&bench);
    let mut sequential = Vec::new();
    for _ in 0..settings.rounds {
        sequential.extend(bench.sequential_round().await);
    }
    let middle = bench.agent_metrics().await;
    let n1 = seen(&bench);
    let mut burst = Vec::new();
    for _ in 0..settings.burst_rounds {
        burst.extend(bench.burst_round().await);
    }
    let metrics = bench.agent_metrics().await;
    let n2 = seen(&bench);
    bench.agent.stop().await;
    let s = settings;
    Measured {
        sequential: Phase {
            title: format!(
                "sequential: {} attachments × {} rounds, one link at a time",
                s.attachments, s.rounds
            ),
            samples: sequential,
            agent: agent_between(&start, &middle),
            notifications: n1 - n0,
        },
        burst: Phase {
            title: format!(
                "burst: {} rounds of {} links created back to back",
                s.burst_rounds, s.attachments
            ),
            samples: burst,
            agent: agent_between(&middle, &metrics),
            notifications: n2 - n1,
        },
        metrics,
    }
}

/// The nearest-rank `q` quantile of ascending `sorted` (not empty).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// count, p50, p90, p99, max, mean of `samples`, as a table row (milliseconds).
pub fn row(what: &str, samples: impl Iterator<Item = Duration>) -> String {
    let mut v: Vec<Duration> = samples.collect();
    if v.is_empty() {
        return format!("| {what} | 0 | | | | | |");
    }
    v.sort();
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    format!(
        "| {what} | {} | {} | {} | {} | {} | {} |",
        v.len(),
        ms(quantile(&v, 0.5)),
        ms(quantile(&v, 0.9)),
        ms(quantile(&v, 0.99)),
        ms(v[v.len() - 1]),
        ms(mean)
    )
}

/// A Prometheus histogram read from a text exposition: cumulative (upper bound, count) buckets.
#[derive(Debug, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// `name`'s buckets, count and sum in `text`; `None` when it has no count.
    pub fn parse(text: &str, name: &str) -> Option<Histogram> {
        let mut h = Histogram {
            buckets: Vec::new(),
            count: 0,
            sum: 0.0,
        };
        let mut counted = false;
        for line in text.lines() {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some(rest) = key.strip_prefix(name) else {
                continue;
            };
            if let Some(le) = rest
                .strip_prefix("_bucket{le=\"")
                .and_then(|r| r.strip_suffix("\"}"))
            {
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                h.buckets.push((bound, value.parse().ok()?));
            } else if rest == "_count" {
                h.count = value.parse().ok()?;
                counted = true;
            } else if rest == "_sum" {
                h.sum = value.parse().ok()?;
            }
        }
        counted.then_some(h)
    }

    /// What was counted after `earlier` (the same histogram, read before this one).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |bound: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, n)| *n)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(bound, n)| (bound, n.saturating_sub(before(bound))))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
            sum: self.sum - earlier.sum,
        }
    }

    /// The upper bound of the bucket holding the nearest-rank `q` quantile.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(bound, _)| *bound)
    }
}

/// The agent's latency histogram.
pub const AGENT_HISTOGRAM: &str = "multi_eni_agent_link_configure_seconds";

/// The report: one table per rhythm with the agent's own view below it, and the target.
pub fn report(m: &Measured) -> String {
    let mut out = Vec::new();
    for phase in [&m.sequential, &m.burst] {
        let samples = &phase.samples;
        out.push(format!(
            "\n{} (ms from t0 = just before the create request)\n",
            phase.title
        ));
        out.push("| from t0 to | count | p50 | p90 | p99 | max | mean |".into());
        out.push("| --- | --- | --- | --- | --- | --- | --- |".into());
        out.push(row(
            "link created (kernel ack)",
            samples.iter().map(|x| x.created),
        ));
        out.push(row(
            "link configured (netlink notification: up, MTU)",
            samples.iter().map(|x| x.link),
        ));
        out.push(row(
            "status configured (ENIAttachment watch)",
            samples.iter().map(|x| x.status),
        ));
        out.push(match &phase.agent {
            Some(h) => agent_line(h),
            None => format!("no {AGENT_HISTOGRAM} in the agent's /metrics"),
        });
        out.push(format!(
            "link notifications in the namespace (plugs and unplugs): {}, {:.1} per hot-plug",
            phase.notifications,
            phase.notifications as f64 / samples.len().max(1) as f64
        ));
    }
    let mut v: Vec<Duration> = m.sequential.samples.iter().map(|x| x.link).collect();
    if !v.is_empty() {
        v.sort();
        let p99 = quantile(&v, 0.99);
        out.push(format!(
            "\ntarget: sequential link configured p99 ≤ {} ms: {:.2} ms, {}",
            TARGET_P99.as_millis(),
            p99.as_secs_f64() * 1e3,
            if p99 <= TARGET_P99 { "met" } else { "NOT met" }
        ));
    }
    out.join("\n")
}

/// The agent's own histogram, as a line under a table.
fn agent_line(h: &Histogram) -> String {
    let ms = |b: Option<f64>| b.map_or("?".into(), |b| format!("{:.2}", b * 1e3));
    format!(
        "\nagent's own histogram (its loop taking the notification → link configured, before the status write), {} hot-plugs: mean {:.2} ms, p50 ≤ {} ms, p99 ≤ {} ms, max ≤ {} ms",
        h.count,
        h.sum * 1e3 / h.count.max(1) as f64,
        ms(h.quantile_bound(0.5)),
        ms(h.quantile_bound(0.99)),
        ms(h.quantile_bound(1.0)),
    )
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let measured = runtime.block_on(measure(settings));
    println!("{}", report(&measured));
}
