//! SDK errors → [`Ec2Error`]: the EC2 error code decides the class (never the message);
//! responses without a code fall back to the HTTP status; no response at all (timeouts,
//! connection failures) is transient.

use std::fmt::Debug;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use multi_eni_ec2::{Ec2Error, ErrorKind, Op};

/// Classifies a failed SDK call of `op`.
pub(crate) fn classify<E>(op: Op, err: SdkError<E>) -> Ec2Error
where
    E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + Debug + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let status = ctx.raw().status().as_u16();
            let message = e.message().unwrap_or_default().to_string();
            let request_id = e.request_id().map(str::to_string);
            match e.code() {
                Some(code) => Ec2Error::from_code(op, code, message).with_request_id(request_id),
                None => Ec2Error::codeless(
                    op,
                    ErrorKind::from_http_status(status),
                    format!("HTTP {status} without an EC2 error code: {message}"),
                )
                .with_request_id(request_id),
            }
        }
        SdkError::ConstructionFailure(_) => Ec2Error::codeless(
            op,
            ErrorKind::InvalidInput,
            DisplayErrorContext(&err).to_string(),
        ),
        // Timeouts, dispatch failures (connection refused/reset) and unreadable responses:
        // the request may or may not have been applied.
        _ => Ec2Error::transport(op, DisplayErrorContext(&err).to_string()),
    }
}

/// The `<Code>` of an EC2 error response body, if any (for counting throttled attempts in
/// the interceptor, where only the raw response is at hand).
pub(crate) fn code_from_body(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim())
}

/// A response that lacks a field EC2 always sends.
pub(crate) fn malformed(op: Op, what: &str) -> Ec2Error {
    Ec2Error::codeless(
        op,
        ErrorKind::Other,
        format!("malformed EC2 response: no {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_read_from_an_ec2_error_document() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>"#;
        assert_eq!(code_from_body(body), Some("RequestLimitExceeded"));
        assert_eq!(code_from_body(b"<html>500</html>"), None);
        assert_eq!(code_from_body(&[0xff, 0xfe]), None);
    }
}
