//! A local HTTP/1 endpoint that speaks EC2's Query protocol: it decodes each request (a
//! form-encoded `Action=…&Version=…&Param.N=…` body, as `aws-sdk-ec2` sends it) into a
//! [`QueryRequest`] and asks a [`QueryHandler`] what to answer. The one HTTP shell shared by
//! [`crate::testing::Ec2Server`] and the scripted endpoint of this crate's wire tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::query_encode;

/// One EC2 Query request as received: its `Action` and every parameter (body and URL query
/// string; `Action` and `Version` included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    /// `Action` (empty when the request named none).
    pub action: String,
    /// Every parameter, percent-decoded. A key sent twice keeps its last value.
    pub params: BTreeMap<String, String>,
}

impl QueryRequest {
    /// Decodes a form-encoded body, plus the URL's query string if any (EC2 accepts the
    /// parameters in either).
    pub fn parse(query_string: Option<&str>, body: &[u8]) -> QueryRequest {
        let from_url = form_urlencoded::parse(query_string.unwrap_or_default().as_bytes());
        let params: BTreeMap<String, String> = from_url
            .into_owned()
            .chain(form_urlencoded::parse(body).into_owned())
            .collect();
        QueryRequest {
            action: params.get("Action").cloned().unwrap_or_default(),
            params,
        }
    }

    /// The parameter `key`, if sent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// An HTTP answer: status, XML body, and the request ID sent as `x-amzn-requestid` (where the
/// SDK reads request IDs from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The XML document.
    pub body: String,
    /// `x-amzn-requestid`, if any.
    pub request_id: Option<String>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            request_id: None,
        }
    }

    /// The `<return>true</return>` answer of actions that return nothing else.
    pub fn returns_true(action: &str) -> Reply {
        Reply::ok(query_encode::returns_true(action, "r"))
    }

    /// An EC2 error document with `code`, request ID `req-<code>`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        let request_id = format!("req-{code}");
        Reply {
            status,
            body: query_encode::error_document(Some(code), message, &request_id),
            request_id: Some(request_id),
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send this reply.
    Reply(Reply),
    /// Close the connection without answering: the client sees the response lost (a
    /// transport error; the SDK retries it like a timeout).
    HangUp,
}

/// Decides the answer to each request. Called concurrently, one call per request.
#[async_trait]
pub trait QueryHandler: Send + Sync + 'static {
    /// The answer to `request`.
    async fn answer(&self, request: QueryRequest) -> Answer;
}

/// A running endpoint on `127.0.0.1:<free port>`; stops (with every open connection) when
/// dropped.
#[derive(Debug)]
pub struct QueryEndpoint {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl QueryEndpoint {
    /// Binds a free port and serves `handler` on the current tokio runtime.
    pub async fn start(handler: Arc<dyn QueryHandler>) -> std::io::Result<QueryEndpoint> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(accept_loop(listener, handler));
        Ok(QueryEndpoint { endpoint, task })
    }
}

impl Drop for QueryEndpoint {
    fn drop(&mut self) {
        // The connections live in the loop's JoinSet: aborting the loop drops (aborts) them.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, handler: Arc<dyn QueryHandler>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // A failed accept concerns that one connection (reset before we took it).
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(serve_connection(stream, handler.clone()));
            }
            // Reap finished connections so the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, handler: Arc<dyn QueryHandler>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move { respond(&*handler, req).await }
    });
    // A hang-up ends the connection with an error; nothing to report.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Why a connection was closed without a response (hyper closes it on a service error).
#[derive(Debug)]
struct HungUp;

impl std::fmt::Display for HungUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response deliberately lost")
    }
}

impl std::error::Error for HungUp {}

async fn respond(
    handler: &dyn QueryHandler,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, HungUp> {
    let query_string = req.uri().query().map(str::to_string);
    // A body that cannot be read means a broken connection: nobody is left to answer.
    let body = req.into_body().collect().await.map_err(|_| HungUp)?;
    let request = QueryRequest::parse(query_string.as_deref(), &body.to_bytes());
    match handler.answer(request).await {
        Answer::Reply(reply) => Ok(http_response(reply)),
        Answer::HangUp => Err(HungUp),
    }
}

fn http_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    if let Some(id) = reply
        .request_id
        .and_then(|id| hyper::header::HeaderValue::from_str(&id).ok())
    {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_come_from_body_and_url_percent_decoded() {
        let r = QueryRequest::parse(
            Some("Version=2016-11-15"),
            b"Action=CreateTags&Tag.1.Key=a%26b&Tag.1.Value=x+y",
        );
        assert_eq!(r.action, "CreateTags");
        assert_eq!(r.param("Version"), Some("2016-11-15"));
        assert_eq!(r.param("Tag.1.Key"), Some("a&b"));
        assert_eq!(r.param("Tag.1.Value"), Some("x y"));
        assert_eq!(QueryRequest::parse(None, b"").action, "");
    }
}
