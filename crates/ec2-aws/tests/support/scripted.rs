//! A scripted EC2 endpoint: answers each request with the next scripted reply and records
//! what the SDK sent (EC2 Query protocol: form-encoded `Action=…&Param.N=…`). For what moto
//! cannot show: that the adapter sends ClientToken, paginates with real NextToken /
//! MaxResults, retries throttling, and classifies error documents. The HTTP shell and the
//! Query decoding are the crate's own (`testing::QueryEndpoint`, shared with `Ec2Server`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use multi_eni_ec2_aws::testing::{Answer, QueryEndpoint, QueryHandler, QueryRequest};

pub use multi_eni_ec2_aws::testing::Reply;

/// One request as received.
pub type Recorded = QueryRequest;

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

#[derive(Debug, Default)]
struct Shared(Mutex<State>);

#[async_trait]
impl QueryHandler for Shared {
    async fn answer(&self, request: QueryRequest) -> Answer {
        let mut s = self.0.lock().expect("scripted lock");
        s.requests.push(request);
        Answer::Reply(s.script.pop_front().unwrap_or_else(|| {
            Reply::error(500, "ScriptExhausted", "no reply scripted for this request")
        }))
    }
}

/// The running endpoint; stops when dropped.
#[derive(Debug)]
pub struct Scripted {
    pub endpoint: String,
    shared: Arc<Shared>,
    _http: QueryEndpoint,
}

impl Scripted {
    pub async fn start(script: Vec<Reply>) -> Scripted {
        let shared = Arc::new(Shared(Mutex::new(State {
            script: script.into(),
            requests: Vec::new(),
        })));
        let http = QueryEndpoint::start(shared.clone())
            .await
            .expect("bind the scripted endpoint");
        Scripted {
            endpoint: http.endpoint.clone(),
            shared,
            _http: http,
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .0
            .lock()
            .expect("scripted lock")
            .requests
            .clone()
    }

    /// The actions received so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.action).collect()
    }
}
