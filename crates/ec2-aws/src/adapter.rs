//! [`AwsEc2`]: the [`Ec2`] port on `aws-sdk-ec2`. Each method is one EC2 request: wait for
//! a client-side token, send (the SDK retries throttling and transient failures, charging
//! each retry to the same bucket), classify the outcome, record metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::types as sdk;
use multi_eni_ec2::{
    AttachEni, AttachResult, BucketId, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, Instance, InstanceTypeLimits, NetworkInterface, Op, Page, RateLimiter,
    SecurityGroup, Subnet, Tags, attach_conflict, delete_conflict,
};
use tokio::time::Instant;

use crate::convert;
use crate::errors::{classify, malformed};
use crate::metrics::Ec2Metrics;
use crate::retry_charge::RetryCharge;

/// How the adapter talks to EC2 (everything except where and as whom).
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterOptions {
    /// SDK standard-mode attempts per request, first included.
    pub max_attempts: u32,
    /// First retry backoff (standard mode: exponential with full jitter, capped at 20 s).
    pub initial_backoff: Duration,
    /// One attempt's timeout.
    pub attempt_timeout: Duration,
    /// One call's timeout, retries included.
    pub operation_timeout: Duration,
    /// Endpoint override; wins over `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

impl Default for AdapterOptions {
    fn default() -> AdapterOptions {
        AdapterOptions {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            endpoint: None,
        }
    }
}

/// The production [`Ec2`].
#[derive(Debug, Clone)]
pub struct AwsEc2 {
    client: aws_sdk_ec2::Client,
    limiter: Arc<RateLimiter>,
    metrics: Ec2Metrics,
}

impl AwsEc2 {
    /// An adapter over `sdk` (region, credentials, HTTP client) with `options` applied:
    /// standard retry mode — deliberately not adaptive, whose client-side rate limiter would
    /// be a second limiter stacked on ours — and the timeouts.
    pub fn new(
        sdk: &SdkConfig,
        options: &AdapterOptions,
        limiter: Arc<RateLimiter>,
        metrics: Ec2Metrics,
    ) -> AwsEc2 {
        let mut conf = aws_sdk_ec2::config::Builder::from(sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(options.max_attempts)
                    .with_initial_backoff(options.initial_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(options.attempt_timeout)
                    .operation_timeout(options.operation_timeout)
                    .build(),
            );
        if let Some(url) = &options.endpoint {
            // Client-level config outranks the service-specific environment variable.
            conf = conf.endpoint_url(url);
        }
        AwsEc2 {
            client: aws_sdk_ec2::Client::from_conf(conf.build()),
            limiter,
            metrics,
        }
    }

    /// The limiter (shared with every clone of this adapter).
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// Token, send, classify, measure.
    async fn run<T, F, Fut>(
        &self,
        op: Op,
        query: Option<&DescribeQuery>,
        send: F,
    ) -> Result<T, Ec2Error>
    where
        F: FnOnce(RetryCharge) -> Fut,
        Fut: Future<Output = Result<T, Ec2Error>>,
    {
        let bucket = BucketId::for_request(op, query);
        let waited = self.limiter.acquire(bucket).await;
        self.metrics.waited(bucket, waited);
        let charge = RetryCharge {
            bucket,
            limiter: self.limiter.clone(),
            metrics: self.metrics.clone(),
        };
        let started = Instant::now();
        let result = send(charge).await;
        self.metrics.observe(
            op,
            started.elapsed(),
            result.as_ref().err().map(|e| &e.kind),
        );
        if let Err(e) = &result {
            tracing::debug!(op = op.action(), kind = e.kind.as_str(), code = ?e.code, "EC2 request failed: {}", e.message);
        }
        result
    }
}

/// Sends a built request with its [`RetryCharge`] interceptor and classifies a failure. A
/// macro because the SDK's per-operation builders share no trait we can name.
macro_rules! send {
    ($call:expr, $charge:expr, $op:expr) => {
        $call
            .customize()
            .interceptor($charge)
            .send()
            .await
            .map_err(|e| classify($op, e))
    };
}

/// Applies a query's filters and pagination to a describe builder (all describes name these
/// setters alike; the ID setter differs per resource).
macro_rules! paginated {
    ($call:expr, $query:expr) => {
        $call
            .set_filters(convert::filters(&$query.filters))
            .set_max_results($query.max_results)
            .set_next_token($query.next_token.clone())
    };
}

/// One page of converted items; an empty token means there is no further page.
fn page<'a, S: 'a, T>(
    op: Op,
    items: impl IntoIterator<Item = &'a S>,
    convert: fn(Op, &S) -> Result<T, Ec2Error>,
    next_token: Option<&str>,
) -> Result<Page<T>, Ec2Error> {
    Ok(Page {
        items: items
            .into_iter()
            .map(|item| convert(op, item))
            .collect::<Result<_, _>>()?,
        next_token: next_token.filter(|t| !t.is_empty()).map(str::to_string),
    })
}

/// Our tags as the SDK's.
fn sdk_tags(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

#[async_trait]
impl Ec2 for AwsEc2 {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        const OP: Op = Op::CreateNetworkInterface;
        self.run(OP, None, |charge| async move {
            let tags = sdk_tags(&req.tags);
            let mut call = self
                .client
                .create_network_interface()
                .subnet_id(&req.subnet_id)
                .set_groups(convert::ids(&req.security_group_ids))
                .set_description(req.description.clone())
                .set_client_token(req.client_token.clone());
            if !tags.is_empty() {
                call = call.tag_specifications(
                    sdk::TagSpecification::builder()
                        .resource_type(sdk::ResourceType::NetworkInterface)
                        .set_tags(Some(tags))
                        .build(),
                );
            }
            let out = send!(call, charge, OP)?;
            let eni = out
                .network_interface()
                .ok_or_else(|| malformed(OP, "networkInterface"))?;
            convert::network_interface(OP, eni)
        })
        .await
    }

    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        const OP: Op = Op::AttachNetworkInterface;
        let result = self
            .run(OP, None, |charge| async move {
                let call = self
                    .client
                    .attach_network_interface()
                    .network_interface_id(&req.network_interface_id)
                    .instance_id(&req.instance_id)
                    .device_index(req.device_index)
                    // Always sent: without it EC2 misreports a free index as taken on
                    // multi-card instances.
                    .network_card_index(req.network_card_index.unwrap_or(0));
                let out = send!(call, charge, OP)?;
                Ok(AttachResult {
                    attachment_id: out
                        .attachment_id()
                        .ok_or_else(|| malformed(OP, "attachmentId"))?
                        .to_string(),
                    network_card_index: out
                        .network_card_index()
                        .unwrap_or(req.network_card_index.unwrap_or(0)),
                })
            })
            .await;
        // One counted DescribeInstances tells an occupied index from other bad input.
        attach_conflict::refine_attach_result(self, req, result).await
    }

    async fn modify_network_interface_attribute(
        &self,
        network_interface_id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        const OP: Op = Op::ModifyNetworkInterfaceAttribute;
        self.run(OP, None, |charge| async move {
            let call = self
                .client
                .modify_network_interface_attribute()
                .network_interface_id(network_interface_id);
            let call = match change {
                EniAttributeChange::SecurityGroups(groups) => call.set_groups(Some(groups.clone())),
                EniAttributeChange::Description(d) => {
                    call.description(sdk::AttributeValue::builder().value(d).build())
                }
                EniAttributeChange::DeleteOnTermination {
                    attachment_id,
                    delete_on_termination,
                } => call.attachment(
                    sdk::NetworkInterfaceAttachmentChanges::builder()
                        .attachment_id(attachment_id)
                        .delete_on_termination(*delete_on_termination)
                        .build(),
                ),
            };
            send!(call, charge, OP)?;
            Ok(())
        })
        .await
    }

    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        const OP: Op = Op::DetachNetworkInterface;
        self.run(OP, None, |charge| async move {
            let call = self
                .client
                .detach_network_interface()
                .attachment_id(&req.attachment_id)
                .set_force(req.force.then_some(true));
            send!(call, charge, OP)?;
            Ok(())
        })
        .await
    }

    async fn delete_network_interface(&self, network_interface_id: &str) -> Result<(), Ec2Error> {
        const OP: Op = Op::DeleteNetworkInterface;
        let result = self
            .run(OP, None, |charge| async move {
                let call = self
                    .client
                    .delete_network_interface()
                    .network_interface_id(network_interface_id);
                send!(call, charge, OP)?;
                Ok(())
            })
            .await;
        // One counted DescribeNetworkInterfaces tells "still attached" from other bad input.
        delete_conflict::refine_delete_result(self, network_interface_id, result).await
    }

    async fn create_tags(&self, resource_ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        const OP: Op = Op::CreateTags;
        self.run(OP, None, |charge| async move {
            let call = self
                .client
                .create_tags()
                .set_resources(Some(resource_ids.to_vec()))
                .set_tags(Some(sdk_tags(tags)));
            send!(call, charge, OP)?;
            Ok(())
        })
        .await
    }

    async fn describe_network_interfaces(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        const OP: Op = Op::DescribeNetworkInterfaces;
        self.run(OP, Some(query), |charge| async move {
            let call = self
                .client
                .describe_network_interfaces()
                .set_network_interface_ids(convert::ids(&query.ids));
            let out = send!(paginated!(call, query), charge, OP)?;
            page(
                OP,
                out.network_interfaces(),
                convert::network_interface,
                out.next_token(),
            )
        })
        .await
    }

    async fn describe_instances(&self, query: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        const OP: Op = Op::DescribeInstances;
        self.run(OP, Some(query), |charge| async move {
            let call = self
                .client
                .describe_instances()
                .set_instance_ids(convert::ids(&query.ids));
            let out = send!(paginated!(call, query), charge, OP)?;
            let instances = out.reservations().iter().flat_map(|r| r.instances());
            page(OP, instances, convert::instance, out.next_token())
        })
        .await
    }

    async fn describe_subnets(&self, query: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        const OP: Op = Op::DescribeSubnets;
        self.run(OP, Some(query), |charge| async move {
            let call = self
                .client
                .describe_subnets()
                .set_subnet_ids(convert::ids(&query.ids));
            let out = send!(paginated!(call, query), charge, OP)?;
            page(OP, out.subnets(), convert::subnet, out.next_token())
        })
        .await
    }

    async fn describe_security_groups(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        const OP: Op = Op::DescribeSecurityGroups;
        self.run(OP, Some(query), |charge| async move {
            let call = self
                .client
                .describe_security_groups()
                .set_group_ids(convert::ids(&query.ids));
            let out = send!(paginated!(call, query), charge, OP)?;
            page(
                OP,
                out.security_groups(),
                convert::security_group,
                out.next_token(),
            )
        })
        .await
    }

    async fn describe_instance_types(
        &self,
        query: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        const OP: Op = Op::DescribeInstanceTypes;
        self.run(OP, Some(query), |charge| async move {
            let types = (!query.ids.is_empty()).then(|| {
                query
                    .ids
                    .iter()
                    .map(|t| sdk::InstanceType::from(t.as_str()))
                    .collect()
            });
            let call = self
                .client
                .describe_instance_types()
                .set_instance_types(types);
            let out = send!(paginated!(call, query), charge, OP)?;
            page(
                OP,
                out.instance_types(),
                convert::instance_type,
                out.next_token(),
            )
        })
        .await
    }
}
