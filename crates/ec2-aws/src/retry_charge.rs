//! An SDK interceptor that keeps the client-side limiter honest about what the SDK really
//! sends: every retry attempt is *charged* to the request's bucket (a token taken, into debt
//! if need be, never waited for — the SDK's backoff and retry quota already pace retries),
//! and every attempt EC2 throttles empties our bucket, since EC2's is evidently empty.
//! It also counts retries and throttled attempts.

use std::sync::Arc;

use aws_sdk_ec2::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use multi_eni_ec2::{BucketId, ErrorKind, RateLimiter};

use crate::errors::code_from_body;
use crate::metrics::Ec2Metrics;

/// Attached to each request (it knows the request's bucket, which depends on its filters).
#[derive(Debug, Clone)]
pub(crate) struct RetryCharge {
    pub(crate) bucket: BucketId,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) metrics: Ec2Metrics,
}

impl Intercept for RetryCharge {
    fn name(&self) -> &'static str {
        "multi-eni RetryCharge"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(1);
        if attempt > 1 {
            self.limiter.charge(self.bucket);
            self.metrics.retried(self.bucket.op());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        if response.status().is_success() {
            return Ok(());
        }
        let throttled = response
            .body()
            .bytes()
            .and_then(code_from_body)
            .is_some_and(|code| ErrorKind::from_code(code) == ErrorKind::Throttled)
            || response.status().as_u16() == 429;
        if throttled {
            self.metrics.throttled(self.bucket.op());
            self.limiter.drain(self.bucket);
        }
        Ok(())
    }
}
