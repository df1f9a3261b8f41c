//! The one small HTTP server of multi-eni's long-running processes (the agent and the
//! controller): `/metrics` for Prometheus, `/healthz` for the liveness probe and `/readyz` for
//! the readiness probe. Each process says what the answers are with closures, evaluated at
//! request time, so a probe always sees the current state.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use multi_eni_probe_server::{Probes, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let probes = Probes::new(|| "# EOF\n".to_string()).ready(|| true);
//! tokio::spawn(serve(listener, probes));
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Instant;
use tokio::net::TcpListener;

type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// The content type of the OpenMetrics text exposition `prometheus-client` renders.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the endpoints answer.
#[derive(Clone)]
pub struct Probes {
    metrics: Arc<dyn Fn() -> String + Send + Sync>,
    healthy: Check,
    ready: Check,
}

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probes")
            .field("healthy", &(self.healthy)())
            .field("ready", &(self.ready)())
            .finish_non_exhaustive()
    }
}

impl Probes {
    /// `/metrics` answers `render()`; `/healthz` and `/readyz` answer 200 until told otherwise
    /// by [`Probes::healthy`] and [`Probes::ready`].
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Probes {
        Probes {
            metrics: Arc::new(render),
            healthy: Arc::new(|| true),
            ready: Arc::new(|| true),
        }
    }

    /// `/healthz` is 200 while `check()` is true, else 503: the liveness probe restarts a
    /// process that stays unhealthy.
    pub fn healthy(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Probes {
        self.healthy = Arc::new(check);
        self
    }

    /// `/readyz` is 200 while `check()` is true, else 503.
    pub fn ready(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Probes {
        self.ready = Arc::new(check);
        self
    }

    fn answer(&self, path: &str) -> (StatusCode, &'static str, String) {
        let probe = |ok: bool, not_ok: &str| {
            if ok {
                (StatusCode::OK, "text/plain", "ok\n".to_owned())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("{not_ok}\n"),
                )
            }
        };
        match path {
            "/metrics" => (StatusCode::OK, OPENMETRICS, (self.metrics)()),
            "/healthz" => probe((self.healthy)(), "unhealthy"),
            "/readyz" => probe((self.ready)(), "not ready"),
            _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
        }
    }
}

/// Serves `probes` on `listener` until the task is dropped (abort it on shutdown).
pub async fn serve(listener: TcpListener, probes: Probes) {
    loop {
        // A failed accept (the peer reset before we took it, fd pressure) concerns that one
        // connection only.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let probes = probes.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (status, ctype, body) = probes.answer(req.uri().path());
                let resp = Response::builder()
                    .status(status)
                    .header("content-type", ctype)
                    .body(Full::new(Bytes::from(body)));
                async move { resp }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A liveness signal for a loop: the loop calls [`Heartbeat::beat`] each time round, the
/// health check asks [`Heartbeat::fresh`]. A loop that hangs stops beating and the process is
/// restarted.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    start: Instant,
    /// Milliseconds after `start` of the last beat.
    last: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Heartbeat {
        Heartbeat::new()
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Heartbeat {
        Heartbeat {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The loop is alive now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// Whether the last beat was at most `max_age` ago.
    pub fn fresh(&self, max_age: Duration) -> bool {
        self.fresh_at(Instant::now(), max_age)
    }

    /// Whether, at `now`, the last beat was at most `max_age` before.
    pub fn fresh_at(&self, now: Instant, max_age: Duration) -> bool {
        let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
        now.saturating_duration_since(last) <= max_age
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicBool;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.expect("read");
        let (head, body) = buf.split_once("\r\n\r\n").expect("a complete response");
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        let ctype = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or_default()
            .to_owned();
        (code, ctype, body.to_owned())
    }

    #[tokio::test]
    async fn endpoints_answer_from_the_closures_at_request_time() {
        let healthy = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let (h, r) = (healthy.clone(), ready.clone());
        let probes = Probes::new(|| "up 1\n# EOF\n".into())
            .healthy(move || h.load(Ordering::Relaxed))
            .ready(move || r.load(Ordering::Relaxed));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(serve(listener, probes));

        let (code, ctype, body) = get(addr, "/metrics").await;
        assert_eq!((code, body.as_str()), (200, "up 1\n# EOF\n"));
        assert_eq!(ctype, OPENMETRICS);
        assert_eq!(get(addr, "/healthz").await.0, 503);
        assert_eq!(get(addr, "/readyz").await.0, 503);

        healthy.store(true, Ordering::Relaxed);
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503, "readiness is separate");
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get(addr, "/readyz").await.0, 200);
        assert_eq!(get(addr, "/nope").await.0, 404);
        server.abort();
    }

    #[test]
    fn heartbeat_goes_stale_when_the_loop_stops_beating() {
        let hb = Heartbeat::new();
        let max = Duration::from_secs(30);
        let later = |s| Instant::now() + Duration::from_secs(s);
        assert!(hb.fresh(max));
        assert!(hb.fresh_at(later(25), max), "beaten 25 s before");
        assert!(!hb.fresh_at(later(35), max), "beaten 35 s before");
        // A heart that last beat a minute ago: stale, until a clone of it beats.
        let old = Heartbeat {
            start: Instant::now()
                .checked_sub(Duration::from_secs(60))
                .expect("the clock has run for a minute"),
            last: Arc::new(AtomicU64::new(0)),
        };
        assert!(!old.fresh(max));
        old.clone().beat();
        assert!(old.fresh(max), "a clone beats the same heart");
    }
}
