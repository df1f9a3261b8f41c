//! [`Ec2Server`]: EC2's Query protocol over HTTP in front of any [`Ec2`] implementation —
//! typically the simulator — so the real `aws-sdk-ec2` adapter (and the controller binary
//! built on it) can run against it. Each request is decoded into one port call
//! ([`query_decode`](super::query_decode)), made, and its result or error encoded as EC2 does
//! ([`query_encode`](super::query_encode)). See `docs/ec2-simulator.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use multi_eni_ec2::{Ec2, Ec2Error};

use super::query_decode::{self, PortCall};
use super::query_encode::{self, PortResult};
use super::query_endpoint::{Answer, QueryEndpoint, QueryHandler, QueryRequest};

/// An HTTP endpoint on `127.0.0.1:<free port>` that answers EC2 Query requests from `port`;
/// serves until dropped.
///
/// It models nothing itself: behaviour, delays, throttling and faults are the port's. A
/// port error with an EC2 code goes back as EC2's error document (503 for throttling, 500
/// for server errors, 400 for the rest), so the SDK retries and the adapter classifies it
/// as it would EC2's. A port error without a code that is transient — the simulator's lost
/// response: applied, but no answer — closes the connection unanswered, so the SDK sees a
/// transport failure and retries, as after a real timeout.
#[derive(Debug)]
pub struct Ec2Server {
    /// `http://127.0.0.1:<port>`, for `--ec2-endpoint` or [`crate::testing::adapter`].
    pub endpoint: String,
    _http: QueryEndpoint,
}

impl Ec2Server {
    /// Starts serving `port` on the current tokio runtime. Panics if no local port can be
    /// bound (a test harness; see [`Ec2Server::try_start`]).
    pub async fn start(port: Arc<dyn Ec2>) -> Ec2Server {
        Ec2Server::try_start(port)
            .await
            .unwrap_or_else(|e| panic!("cannot bind the EC2 endpoint on 127.0.0.1: {e}"))
    }

    /// Starts serving `port`, or says why no local port could be bound.
    pub async fn try_start(port: Arc<dyn Ec2>) -> std::io::Result<Ec2Server> {
        let handler = PortHandler {
            port,
            requests: AtomicU64::new(0),
        };
        let http = QueryEndpoint::start(Arc::new(handler)).await?;
        Ok(Ec2Server {
            endpoint: http.endpoint.clone(),
            _http: http,
        })
    }
}

/// Decode, call the port, encode.
struct PortHandler {
    port: Arc<dyn Ec2>,
    requests: AtomicU64,
}

#[async_trait]
impl QueryHandler for PortHandler {
    async fn answer(&self, request: QueryRequest) -> Answer {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        // EC2's request IDs are UUIDs; a counter in that shape keeps them unique and readable.
        let request_id = format!("00000000-0000-4000-8000-{n:012x}");
        match query_decode::decode(&request) {
            Err(bad) => query_encode::bad_request(&bad, &request_id),
            Ok(call) => {
                let result = perform(&*self.port, &call).await;
                query_encode::answer(&request.action, &request_id, result)
            }
        }
    }
}

/// Makes `call` on `port`: exactly one port method per request.
async fn perform(port: &dyn Ec2, call: &PortCall) -> Result<PortResult, Ec2Error> {
    Ok(match call {
        PortCall::CreateNetworkInterface(req) => {
            PortResult::Created(Box::new(port.create_network_interface(req).await?))
        }
        PortCall::AttachNetworkInterface(req) => {
            PortResult::Attached(port.attach_network_interface(req).await?)
        }
        PortCall::ModifyNetworkInterfaceAttribute {
            network_interface_id,
            change,
        } => {
            port.modify_network_interface_attribute(network_interface_id, change)
                .await?;
            PortResult::Done
        }
        PortCall::DetachNetworkInterface(req) => {
            port.detach_network_interface(req).await?;
            PortResult::Done
        }
        PortCall::DeleteNetworkInterface {
            network_interface_id,
        } => {
            port.delete_network_interface(network_interface_id).await?;
            PortResult::Done
        }
        PortCall::CreateTags { resource_ids, tags } => {
            port.create_tags(resource_ids, tags).await?;
            PortResult::Done
        }
        PortCall::DescribeNetworkInterfaces(q) => {
            PortResult::NetworkInterfaces(port.describe_network_interfaces(q).await?)
        }
        PortCall::DescribeInstances(q) => PortResult::Instances(port.describe_instances(q).await?),
        PortCall::DescribeSubnets(q) => PortResult::Subnets(port.describe_subnets(q).await?),
        PortCall::DescribeSecurityGroups(q) => {
            PortResult::SecurityGroups(port.describe_security_groups(q).await?)
        }
        PortCall::DescribeInstanceTypes(q) => {
            PortResult::InstanceTypes(port.describe_instance_types(q).await?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::{CreateEni, DescribeQuery, ErrorKind, Op, Resource};
    use multi_eni_ec2_sim::{Ec2Sim, SimConfig};

    /// A simulator without delays or throttling, its server, and the adapter pointed at it.
    async fn wired() -> (Arc<Ec2Sim>, Ec2Server, crate::AwsEc2) {
        let sim = Arc::new(Ec2Sim::new(SimConfig::instant()));
        let server = Ec2Server::start(sim.clone()).await;
        let (adapter, _) = crate::testing::adapter(&server.endpoint);
        (sim, server, adapter)
    }

    #[tokio::test]
    async fn an_error_round_trip_keeps_the_code_and_so_the_kind() {
        let (sim, _server, ec2) = wired().await;
        let err = ec2
            .describe_subnets(&DescribeQuery::ids(["subnet-0123456789abcdef0"]))
            .await
            .expect_err("unknown subnet");
        assert_eq!(err.code.as_deref(), Some("InvalidSubnetID.NotFound"));
        assert_eq!(err.kind, ErrorKind::NotFound(Resource::Subnet));
        assert_eq!(err.op, Op::DescribeSubnets);
        assert!(err.request_id.is_some(), "{err:?}");

        sim.fail_next(Op::DescribeInstances, 3, "RequestLimitExceeded");
        let err = ec2
            .describe_instances(&DescribeQuery::default())
            .await
            .expect_err("throttled three times");
        assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
        assert_eq!(err.kind, ErrorKind::Throttled);
        assert_eq!(sim.calls(Op::DescribeInstances), 3, "the SDK retried");
    }

    #[tokio::test]
    async fn a_lost_response_is_applied_once_and_recovered_by_the_sdk_retry() {
        let (sim, _server, ec2) = wired().await;
        let vpc = sim.add_vpc("10.0.0.0/16").expect("vpc");
        let subnet = sim
            .add_subnet(&vpc, "us-east-1a", "10.0.1.0/24", None)
            .expect("subnet");
        sim.lose_next_responses(Op::CreateNetworkInterface, 1);
        let eni = ec2
            .create_network_interface(&CreateEni {
                subnet_id: subnet,
                ..CreateEni::default()
            })
            .await
            .expect("the retry answers");
        let stats = sim.stats(Op::CreateNetworkInterface);
        assert_eq!((stats.calls, stats.lost_responses), (2, 1), "{stats:?}");
        // The SDK's generated ClientToken made the retry return the first interface.
        assert_eq!(sim.network_interfaces().len(), 1);
        assert_eq!(sim.network_interfaces()[0].id, eni.id);
    }

    #[tokio::test]
    async fn an_unknown_action_is_an_invalid_action_document() {
        let handler = PortHandler {
            port: Arc::new(Ec2Sim::new(SimConfig::instant())),
            requests: AtomicU64::new(0),
        };
        let request = QueryRequest::parse(None, b"Action=RunInstances&Version=2016-11-15");
        let Answer::Reply(reply) = handler.answer(request).await else {
            panic!("hung up instead of answering")
        };
        assert_eq!(reply.status, 400);
        assert!(
            reply.body.contains("<Code>InvalidAction</Code>"),
            "{}",
            reply.body
        );
    }
}
