//! Raw-HTTP load for the scale test and the fan-out benchmark: concurrent writers POSTing
//! objects and many watchers counting the events they get. Raw hyper instead of kube-rs so the
//! measurement is the server's, not a debug-built client's JSON decoding.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use tokio::net::TcpStream;

pub const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"widgets.example.com"},
 "spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"widgets","kind":"Widget"},
  "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
   "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{
     "size":{"type":"integer","minimum":1},"zone":{"type":"string"}}}}}}}]}}"#;

/// One kind of object the load writes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Node,
    Widget,
}

impl Kind {
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Node => "/api/v1/nodes",
            Kind::Widget => "/apis/example.com/v1/namespaces/default/widgets",
        }
    }

    /// `"kind":"Node"`: appears once per item in a list body (the list's own kind is `NodeList`).
    pub fn kind_needle(self) -> &'static [u8] {
        match self {
            Kind::Node => b"\"kind\":\"Node\"",
            Kind::Widget => b"\"kind\":\"Widget\"",
        }
    }

    pub fn name(self, i: usize) -> String {
        match self {
            Kind::Node => format!("node-{i:06}"),
            Kind::Widget => format!("widget-{i:06}"),
        }
    }

    pub fn body(self, i: usize) -> Bytes {
        let name = self.name(i);
        let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3];
        let s = match self {
            Kind::Node => format!(
                r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}","labels":{{"topology.kubernetes.io/zone":"{zone}","multi-eni":"enabled"}}}},"spec":{{"providerID":"aws:///{zone}/i-{i:017x}"}},"status":{{"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
            ),
            Kind::Widget => format!(
                r#"{{"apiVersion":"example.com/v1","kind":"Widget","metadata":{{"name":"{name}","labels":{{"zone":"{zone}"}}}},"spec":{{"size":{},"zone":"{zone}"}}}}"#,
                i % 7 + 1
            ),
        };
        Bytes::from(s)
    }

    /// Index of the object a watch event line is about (names are `<prefix><index>`).
    pub fn index_in(self, line: &[u8]) -> Option<usize> {
        let prefix: &[u8] = match self {
            Kind::Node => b"\"name\":\"node-",
            Kind::Widget => b"\"name\":\"widget-",
        };
        // The name follows apiVersion, kind, creationTimestamp…: skip what cannot hold it.
        let from = 60.min(line.len());
        let at = from
            + line[from..]
                .windows(prefix.len())
                .position(|w| w == prefix)?
            + prefix.len();
        let digits = &line[at..at + 6.min(line.len() - at)];
        std::str::from_utf8(digits).ok()?.parse().ok()
    }
}

pub async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the double");
    let (sender, conn) = handshake(TokioIo::new(stream))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn);
    sender
}

pub async fn request(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: Bytes,
) -> (u16, Bytes) {
    sender.ready().await.expect("connection ready");
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, bytes)
}

/// A double keeping `history_size` changes per resource, with the Widget [`CRD`] created
/// over HTTP.
pub async fn start_with_widgets(history_size: usize) -> ApiServerHandle {
    let server = ApiServer::start(ServerConfig {
        history_size,
        ..ServerConfig::default()
    })
    .await
    .expect("start");
    let mut c = connect(server.addr()).await;
    let (s, b) = request(
        &mut c,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Bytes::from(CRD),
    )
    .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    server
}

/// Creates objects `0..count` of `kind` over `writers` parallel connections.
pub async fn write_all(addr: SocketAddr, kind: Kind, count: usize, writers: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = vec![];
    for _ in 0..writers {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = connect(addr).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let (status, body) = request(&mut c, "POST", kind.collection(), kind.body(i)).await;
                assert_eq!(
                    status,
                    201,
                    "create {} failed: {}",
                    kind.name(i),
                    String::from_utf8_lossy(&body)
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
}

/// A watcher's tally: which objects it has seen ADDED.
#[derive(Debug)]
pub struct Tally {
    pub seen: Vec<bool>,
    pub distinct: usize,
    pub events: usize,
}

/// Watches `kind` from `rv` until it has seen ADDED for all of `0..count`; returns its tally.
pub async fn watch_until_all(
    addr: SocketAddr,
    kind: Kind,
    rv: u64,
    count: usize,
    delivered: Arc<AtomicUsize>,
) -> Tally {
    let mut c = connect(addr).await;
    c.ready().await.expect("ready");
    let path = format!(
        "{}?watch=true&resourceVersion={rv}&timeoutSeconds=1800",
        kind.collection()
    );
    let req = http::Request::builder()
        .uri(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = c.send_request(req).await.expect("watch response");
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.into_body();
    let mut tally = Tally {
        seen: vec![false; count],
        distinct: 0,
        events: 0,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    while tally.distinct < count {
        let frame = match body.frame().await {
            Some(Ok(f)) => f,
            other => panic!(
                "watch of {kind:?} ended after {} of {count}: {other:?}",
                tally.distinct
            ),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + nl];
            assert!(
                line.starts_with(b"{\"type\":\"ADDED\""),
                "unexpected event: {}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            );
            tally.events += 1;
            if let Some(i) = kind.index_in(line)
                && i < count
                && !tally.seen[i]
            {
                tally.seen[i] = true;
                tally.distinct += 1;
            }
            start += nl + 1;
        }
        buf.drain(..start);
    }
    delivered.fetch_add(tally.events, Ordering::Relaxed);
    tally
}

/// The cluster's current resourceVersion, from a list's metadata.
pub async fn current_rv(addr: SocketAddr, kind: Kind) -> u64 {
    let mut c = connect(addr).await;
    let (status, body) = request(
        &mut c,
        "GET",
        &format!("{}?limit=1", kind.collection()),
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("list json");
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv")
}

/// Time to list everything of `kind` in pages of `limit` (0: one page), and the item count.
pub async fn timed_list(addr: SocketAddr, kind: Kind, limit: usize) -> (Duration, usize, usize) {
    let mut c = connect(addr).await;
    let started = Instant::now();
    let mut bodies = vec![];
    let mut cont = String::new();
    loop {
        let mut path = format!("{}?limit={limit}", kind.collection());
        if !cont.is_empty() {
            path.push_str(&format!("&continue={cont}"));
        }
        let (status, body) = request(&mut c, "GET", &path, Bytes::new()).await;
        assert_eq!(status, 200);
        // The continue token is in the head; the rest is counted after the clock stops.
        let head = &body[..body.len().min(400)];
        let s = String::from_utf8_lossy(head);
        cont = s
            .split("\"continue\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        bodies.push(body);
        if cont.is_empty() {
            break;
        }
    }
    let elapsed = started.elapsed();
    let needle = kind.kind_needle();
    let items = bodies
        .iter()
        .map(|b| b.windows(needle.len()).filter(|w| *w == needle).count())
        .sum();
    let bytes = bodies.iter().map(|b| b.len()).sum();
    (elapsed, items, bytes)
}
