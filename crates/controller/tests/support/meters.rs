//! What the scale benchmark reads besides EC2's counters: Kubernetes API requests by verb
//! (the double's request hooks, or the real kube-apiserver's `apiserver_request_total`), the
//! CPU time of the controller's named threads (`/proc/self/task/*/stat`), the process's
//! resident set (`/proc/self/status`), and Events that reported throttling.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};
use multi_eni_api::keys::reason;
use multi_eni_kube_double::{FaultAction, FaultHandle, FaultRule, Verb};
use parking_lot::Mutex;

use super::system::World;

/// The resources the controller reads and writes (nodes: read only).
const RESOURCES: [&str; 4] = ["nodeenis", "eniattachments", "events", "nodes"];

/// Counts Kubernetes API requests by verb.
pub enum KubeMeter {
    /// A pass-through hook per (verb, resource) on the double.
    Double(Vec<(&'static str, &'static str, FaultHandle)>),
    /// The real server's own counter.
    Real(Client),
}

impl KubeMeter {
    /// Hooks on the double (a hook counts the requests it matches and lets them through).
    pub fn double(w: &World) -> KubeMeter {
        let faults = w.server.as_ref().expect("on the double").faults();
        let verbs = [
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Create,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
            Verb::DeleteCollection,
        ];
        let mut hooks = Vec::new();
        for verb in verbs {
            for resource in RESOURCES {
                let rule = FaultRule::any().verb(verb).resource(resource);
                let hook = faults.inject(rule, FaultAction::Delay(Duration::ZERO));
                hooks.push((verb.as_str(), resource, hook));
            }
        }
        KubeMeter::Double(hooks)
    }

    /// `apiserver_request_total` of the real kube-apiserver.
    pub fn real(client: Client) -> KubeMeter {
        KubeMeter::Real(client)
    }

    /// Requests so far, by `verb/resource` (verbs in Kubernetes' RBAC names: get, list,
    /// watch, create, …).
    pub async fn snapshot(&self) -> BTreeMap<String, u64> {
        match self {
            KubeMeter::Double(hooks) => {
                let mut out = BTreeMap::new();
                for (verb, resource, hook) in hooks {
                    let hits = u64::try_from(hook.hits()).unwrap_or(u64::MAX);
                    *out.entry(format!("{verb}/{resource}")).or_default() += hits;
                }
                out
            }
            KubeMeter::Real(client) => {
                let req = kube::core::Request::new("/metrics")
                    .list(&ListParams::default())
                    .expect("a request");
                let text = client.request_text(req).await.expect("/metrics");
                requests_by_verb(&text)
            }
        }
    }
}

/// Sums `apiserver_request_total` over our resources by `verb/resource`, verbs in RBAC's
/// names.
pub fn requests_by_verb(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                kv.strip_prefix(name)
                    .and_then(|v| v.strip_prefix("=\""))
                    .and_then(|v| v.strip_suffix('"'))
            })
        };
        let Some(resource) = label("resource").filter(|r| RESOURCES.contains(r)) else {
            continue;
        };
        let verb = match label("verb").unwrap_or_default() {
            "GET" => "get",
            "LIST" => "list",
            "WATCH" | "WATCHLIST" => "watch",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" | "APPLY" => "patch",
            "DELETE" => "delete",
            "DELETECOLLECTION" => "deletecollection",
            _ => continue,
        };
        let n = value.trim().parse::<f64>().unwrap_or(0.0);
        // A counter: an integer as a float.
        *out.entry(format!("{verb}/{resource}")).or_default() += n as u64;
    }
    out
}

/// Events that reported throttling (any namespace).
pub async fn throttle_events(client: &Client) -> u64 {
    let events = Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list Events");
    let n = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason::THROTTLED))
        .count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// CPU time of the threads named `name`, sampled from `/proc/self/task/*/stat` until stopped
/// (a thread that ends keeps the time it was last seen with).
pub struct Cpu {
    ticks: Arc<Mutex<BTreeMap<String, u64>>>,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    name: &'static str,
}

impl Cpu {
    /// Starts sampling every 200 ms.
    pub fn start(name: &'static str) -> Cpu {
        let ticks = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = tokio_util::sync::CancellationToken::new();
        let (t, s) = (ticks.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    () = s.cancelled() => return,
                    _ = tick.tick() => t.lock().extend(thread_ticks(name)),
                }
            }
        });
        Cpu {
            ticks,
            stop,
            task,
            name,
        }
    }

    /// Stops sampling; CPU seconds (user + system) of those threads.
    pub async fn stop(self) -> f64 {
        self.stop.cancel();
        let _ = self.task.await;
        let mut ticks = self.ticks.lock();
        ticks.extend(thread_ticks(self.name));
        // USER_HZ is 100 on Linux for every architecture it exports to user space.
        ticks.values().sum::<u64>() as f64 / 100.0
    }
}

/// utime + stime of each live thread named `name`, by thread id.
fn thread_ticks(name: &str) -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (comm, ticks) = parse_stat(&stat)?;
            (comm == name).then(|| (e.file_name().to_string_lossy().into_owned(), ticks))
        })
        .collect()
}

/// (comm, utime + stime) of a `stat` line: `pid (comm) state …`, utime and stime the 14th
/// and 15th fields (the 12th and 13th after the comm).
pub fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// The process's resident set, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// Resident before the controller started (the world already built).
    pub before_kib: u64,
    /// Peak resident (VmHWM) from then on.
    pub peak_kib: u64,
}

impl Rss {
    /// Resets the peak to the current resident set (`/proc/self/clear_refs` ← 5); returns it.
    pub fn reset_peak() -> u64 {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        status_kib("VmRSS")
    }

    /// The peak since [`Rss::reset_peak`].
    pub fn measure(before_kib: u64) -> Rss {
        Rss {
            before_kib,
            peak_kib: status_kib("VmHWM"),
        }
    }

    /// Peak minus before: what the controller — and the growth of everything else in the
    /// process (the API double's store, the simulator, the bench's own watch cache) — added.
    pub fn added_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.before_kib) as f64 / 1024.0
    }
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
