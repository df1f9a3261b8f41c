//! A scripted EC2 endpoint: answers each request with the next scripted reply and records
//! what the SDK sent (EC2 Query protocol: form-encoded `Action=…&Param.N=…`). For what moto
//! cannot show: that the adapter sends ClientToken, paginates with real NextToken /
//! MaxResults, retries throttling, and classifies error documents.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `Action`.
    pub action: String,
    /// Every form parameter.
    pub params: BTreeMap<String, String>,
}

impl Recorded {
    /// The form parameter `key`, if sent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// A reply: HTTP status and XML body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Sent as `x-amzn-requestid`, where the SDK reads request IDs from.
    pub request_id: Option<String>,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            request_id: None,
        }
    }

    /// The `<return>true</return>` answer of actions that return nothing else.
    pub fn returns_true(action: &str) -> Reply {
        Reply::ok(format!(
            r#"<{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></{action}Response>"#
        ))
    }

    /// An EC2 error document.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            request_id: Some(format!("req-{code}")),
            body: format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>req-{code}</RequestID></Response>"#
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

/// The running endpoint; stops when dropped.
#[derive(Debug)]
pub struct Scripted {
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl Scripted {
    pub async fn start(script: Vec<Reply>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            requests: Vec::new(),
        }));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Scripted {
            endpoint: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().expect("scripted lock").requests.clone()
    }

    /// The actions received so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.action).collect()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(state: &Mutex<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let reply = {
        let mut s = state.lock().expect("scripted lock");
        s.requests.push(Recorded {
            action: params.get("Action").cloned().unwrap_or_default(),
            params: params.clone(),
        });
        s.script.pop_front()
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::error(500, "ScriptExhausted", "no reply scripted for this request")
    });
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "text/xml;charset=UTF-8");
    if let Some(id) = &reply.request_id {
        response = response.header("x-amzn-requestid", id);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("response")
}
