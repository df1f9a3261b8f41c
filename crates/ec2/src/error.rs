//! EC2 failures, classified by error *code* (never by message text) into the few kinds the
//! controller acts on: retry soon, back off, treat as done, report and wait for a spec change.
//!
//! Codes: <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>.

use std::fmt;

use crate::op::Op;

/// What the controller should do about a failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// EC2 throttled the request (`RequestLimitExceeded`…): back off, then retry.
    Throttled,
    /// A server-side or transport problem (5xx, timeout, connection reset, lost response): retry.
    Transient,
    /// The named resource does not exist (or no longer does). For deletes and detaches this
    /// means "already done".
    NotFound(Resource),
    /// The device index asked for is taken on that instance. EC2 reports this as a plain
    /// `InvalidParameterValue`; see [`crate::attach_conflict`] for how it is told apart.
    DeviceIndexInUse,
    /// The instance cannot take another interface (`AttachmentLimitExceeded`).
    AttachmentLimitExceeded,
    /// An account or subnet quota is exhausted (ENIs per region, free addresses in the subnet).
    QuotaExceeded,
    /// The caller lacks an IAM permission or its credentials are rejected.
    Permission,
    /// The request itself is wrong; retrying the same request cannot help.
    InvalidInput,
    /// The same ClientToken was used with different parameters.
    IdempotencyMismatch,
    /// The resource is not in a state that allows this (in use, attaching, instance stopped…):
    /// usually resolves by waiting.
    IncorrectState,
    /// Anything else.
    Other,
}

/// The resource a `*.NotFound` code refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A network interface (`eni-…`).
    NetworkInterface,
    /// An attachment (`eni-attach-…`).
    Attachment,
    /// An instance (`i-…`).
    Instance,
    /// A subnet.
    Subnet,
    /// A security group.
    SecurityGroup,
    /// A VPC.
    Vpc,
    /// An instance type name.
    InstanceType,
}

/// Codes EC2 (and the AWS SDKs' retry classifiers) treat as throttling.
const THROTTLING_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
];

/// Server-side codes worth retrying.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    "RequestExpired",
];

const PERMISSION_CODES: &[&str] = &[
    "UnauthorizedOperation",
    "AuthFailure",
    "AccessDenied",
    "AccessDeniedException",
    "Blocked",
    "OptInRequired",
    "PendingVerification",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "UnrecognizedClientException",
];

const QUOTA_CODES: &[&str] = &[
    "NetworkInterfaceLimitExceeded",
    "InsufficientFreeAddressesInSubnet",
    "PrivateIpAddressLimitExceeded",
    "ResourceLimitExceeded",
];

const INCORRECT_STATE_CODES: &[&str] = &[
    "IncorrectState",
    "IncorrectInstanceState",
    "InvalidNetworkInterface.InUse",
    "DependencyViolation",
];

const INVALID_INPUT_CODES: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameter",
    "InvalidParameterCombination",
    "MissingParameter",
    "UnknownParameter",
    "InvalidFilter",
    "InvalidInstanceType",
    "InvalidNextToken",
    "InvalidPaginationToken",
    "OperationNotPermitted",
    "UnsupportedOperation",
    "Unsupported",
    "InvalidRequest",
    "InvalidAction",
    "ValidationError",
    "DryRunOperation",
    "TagLimitExceeded",
    "InvalidID",
];

/// The listed codes of each kind (the `*.NotFound` and `*.Malformed` families are matched
/// by suffix in [`ErrorKind::from_code`]).
const CODE_CLASSES: [(&[&str], ErrorKind); 8] = [
    (THROTTLING_CODES, ErrorKind::Throttled),
    (TRANSIENT_CODES, ErrorKind::Transient),
    (PERMISSION_CODES, ErrorKind::Permission),
    (QUOTA_CODES, ErrorKind::QuotaExceeded),
    (INCORRECT_STATE_CODES, ErrorKind::IncorrectState),
    (INVALID_INPUT_CODES, ErrorKind::InvalidInput),
    (
        &["AttachmentLimitExceeded"],
        ErrorKind::AttachmentLimitExceeded,
    ),
    (
        &["IdempotentParameterMismatch"],
        ErrorKind::IdempotencyMismatch,
    ),
];

impl ErrorKind {
    /// Classifies an EC2 error code. Unknown codes are [`ErrorKind::Other`].
    pub fn from_code(code: &str) -> ErrorKind {
        if let Some((_, kind)) = CODE_CLASSES.iter().find(|(codes, _)| codes.contains(&code)) {
            return kind.clone();
        }
        if let Some(prefix) = code.strip_suffix(".NotFound") {
            return Resource::from_code_prefix(prefix)
                .map_or(ErrorKind::Other, ErrorKind::NotFound);
        }
        // `InvalidSubnetID.Malformed`, `InvalidGroupId.Malformed`, …: the ID cannot exist.
        if code.ends_with(".Malformed") {
            return ErrorKind::InvalidInput;
        }
        ErrorKind::Other
    }

    /// Classifies a response that carried no parseable error code, by HTTP status.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::Throttled,
            500..=599 => ErrorKind::Transient,
            401 | 403 => ErrorKind::Permission,
            400..=499 => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }

    /// Worth retrying the same request (after a backoff).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::IncorrectState
        )
    }

    /// A stable snake_case label (metrics, logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::NotFound(_) => "not_found",
            ErrorKind::DeviceIndexInUse => "device_index_in_use",
            ErrorKind::AttachmentLimitExceeded => "attachment_limit_exceeded",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::Permission => "permission",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::IdempotencyMismatch => "idempotency_mismatch",
            ErrorKind::IncorrectState => "incorrect_state",
            ErrorKind::Other => "other",
        }
    }

    /// Every label [`ErrorKind::as_str`] can return (to pre-register metrics).
    pub const LABELS: [&'static str; 11] = [
        "throttled",
        "transient",
        "not_found",
        "device_index_in_use",
        "attachment_limit_exceeded",
        "quota_exceeded",
        "permission",
        "invalid_input",
        "idempotency_mismatch",
        "incorrect_state",
        "other",
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound(r) => write!(f, "{} not found", r.as_str()),
            other => f.write_str(other.as_str()),
        }
    }
}

impl Resource {
    /// The resource named by the part of a `*.NotFound` code before the dot. EC2 is not
    /// consistent about `ID` vs `Id`, so both spellings are accepted.
    fn from_code_prefix(prefix: &str) -> Option<Resource> {
        Some(match prefix {
            "InvalidNetworkInterfaceID" | "InvalidNetworkInterfaceId" => Resource::NetworkInterface,
            "InvalidAttachmentID"
            | "InvalidAttachmentId"
            | "InvalidNetworkInterfaceAttachmentId" => Resource::Attachment,
            "InvalidInstanceID" | "InvalidInstanceId" => Resource::Instance,
            "InvalidSubnetID" | "InvalidSubnetId" => Resource::Subnet,
            "InvalidGroup"
            | "InvalidGroupId"
            | "InvalidSecurityGroupID"
            | "InvalidSecurityGroupId" => Resource::SecurityGroup,
            "InvalidVpcID" | "InvalidVpcId" => Resource::Vpc,
            "InvalidInstanceType" => Resource::InstanceType,
            _ => return None,
        })
    }

    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::NetworkInterface => "network interface",
            Resource::Attachment => "attachment",
            Resource::Instance => "instance",
            Resource::Subnet => "subnet",
            Resource::SecurityGroup => "security group",
            Resource::Vpc => "vpc",
            Resource::InstanceType => "instance type",
        }
    }
}

/// One failed EC2 request: which action, what EC2 said, and what kind of failure it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("EC2 {op} failed ({kind}): {}{message}", code_prefix(.code))]
pub struct Ec2Error {
    /// The action that failed.
    pub op: Op,
    /// What the controller should do about it.
    pub kind: ErrorKind,
    /// The EC2 error code; `None` when no response carried one (timeouts, connection errors).
    pub code: Option<String>,
    /// EC2's message (for people; never parsed).
    pub message: String,
    /// EC2's request ID, when there was a response.
    pub request_id: Option<String>,
}

fn code_prefix(code: &Option<String>) -> String {
    match code {
        Some(c) => format!("{c}: "),
        None => String::new(),
    }
}

impl Ec2Error {
    /// An error EC2 answered with `code`, classified by [`ErrorKind::from_code`].
    pub fn from_code(op: Op, code: impl Into<String>, message: impl Into<String>) -> Ec2Error {
        let code = code.into();
        Ec2Error {
            op,
            kind: ErrorKind::from_code(&code),
            code: Some(code),
            message: message.into(),
            request_id: None,
        }
    }

    /// A failure that carries no EC2 error code: decided on our side (a malformed response,
    /// a request the SDK could not build, pagination that never ends) or by HTTP status.
    pub fn codeless(op: Op, kind: ErrorKind, message: impl Into<String>) -> Ec2Error {
        Ec2Error {
            op,
            kind,
            code: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// A failure without an EC2 answer (timeout, connection error, lost response): transient.
    pub fn transport(op: Op, message: impl Into<String>) -> Ec2Error {
        Ec2Error::codeless(op, ErrorKind::Transient, message)
    }

    /// The same error with a request ID attached.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Ec2Error {
        self.request_id = request_id;
        self
    }

    /// True when the resource is gone, which for detach and delete means "already done".
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::NotFound(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per code the controller depends on, plus a few neighbours.
    #[test]
    fn every_code_maps_to_its_class() {
        use ErrorKind as K;
        use Resource as R;
        let table: &[(&str, ErrorKind)] = &[
            ("RequestLimitExceeded", K::Throttled),
            ("Throttling", K::Throttled),
            ("ThrottlingException", K::Throttled),
            ("RequestThrottled", K::Throttled),
            ("SlowDown", K::Throttled),
            ("PriorRequestNotComplete", K::Throttled),
            ("InternalError", K::Transient),
            ("InternalFailure", K::Transient),
            ("ServiceUnavailable", K::Transient),
            ("Unavailable", K::Transient),
            ("RequestTimeout", K::Transient),
            ("RequestExpired", K::Transient),
            (
                "InvalidNetworkInterfaceID.NotFound",
                K::NotFound(R::NetworkInterface),
            ),
            (
                "InvalidNetworkInterfaceId.NotFound",
                K::NotFound(R::NetworkInterface),
            ),
            ("InvalidAttachmentID.NotFound", K::NotFound(R::Attachment)),
            ("InvalidInstanceID.NotFound", K::NotFound(R::Instance)),
            ("InvalidSubnetID.NotFound", K::NotFound(R::Subnet)),
            ("InvalidGroup.NotFound", K::NotFound(R::SecurityGroup)),
            (
                "InvalidSecurityGroupID.NotFound",
                K::NotFound(R::SecurityGroup),
            ),
            ("InvalidVpcID.NotFound", K::NotFound(R::Vpc)),
            ("InvalidInstanceType.NotFound", K::NotFound(R::InstanceType)),
            ("InvalidAMIID.NotFound", K::Other),
            ("AttachmentLimitExceeded", K::AttachmentLimitExceeded),
            ("NetworkInterfaceLimitExceeded", K::QuotaExceeded),
            ("InsufficientFreeAddressesInSubnet", K::QuotaExceeded),
            ("UnauthorizedOperation", K::Permission),
            ("AuthFailure", K::Permission),
            ("OptInRequired", K::Permission),
            ("InvalidClientTokenId", K::Permission),
            ("InvalidParameterValue", K::InvalidInput),
            ("InvalidParameterCombination", K::InvalidInput),
            ("InvalidParameter", K::InvalidInput),
            ("MissingParameter", K::InvalidInput),
            ("InvalidFilter", K::InvalidInput),
            ("InvalidInstanceType", K::InvalidInput),
            ("OperationNotPermitted", K::InvalidInput),
            ("InvalidSubnetID.Malformed", K::InvalidInput),
            ("InvalidNetworkInterfaceID.Malformed", K::InvalidInput),
            ("InvalidID", K::InvalidInput),
            ("TagLimitExceeded", K::InvalidInput),
            ("IdempotentParameterMismatch", K::IdempotencyMismatch),
            ("IncorrectState", K::IncorrectState),
            ("IncorrectInstanceState", K::IncorrectState),
            ("InvalidNetworkInterface.InUse", K::IncorrectState),
            ("DependencyViolation", K::IncorrectState),
            ("SomethingNew", K::Other),
            ("", K::Other),
        ];
        for (code, want) in table {
            assert_eq!(&ErrorKind::from_code(code), want, "code {code:?}");
        }
    }

    #[test]
    fn classification_ignores_message_text() {
        let a = Ec2Error::from_code(
            Op::AttachNetworkInterface,
            "InvalidParameterValue",
            "Instance 'i-1' already has an interface attached at device index '1'.",
        );
        let b = Ec2Error::from_code(Op::AttachNetworkInterface, "InvalidParameterValue", "x");
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.kind, ErrorKind::InvalidInput);
    }

    #[test]
    fn http_status_fallback_for_codeless_responses() {
        assert_eq!(ErrorKind::from_http_status(503), ErrorKind::Transient);
        assert_eq!(ErrorKind::from_http_status(500), ErrorKind::Transient);
        assert_eq!(ErrorKind::from_http_status(429), ErrorKind::Throttled);
        assert_eq!(ErrorKind::from_http_status(403), ErrorKind::Permission);
        assert_eq!(ErrorKind::from_http_status(400), ErrorKind::InvalidInput);
        assert_eq!(ErrorKind::from_http_status(302), ErrorKind::Other);
    }

    #[test]
    fn only_throttled_transient_and_state_errors_are_retryable() {
        assert!(ErrorKind::Throttled.is_retryable());
        assert!(ErrorKind::Transient.is_retryable());
        assert!(ErrorKind::IncorrectState.is_retryable());
        assert!(!ErrorKind::InvalidInput.is_retryable());
        assert!(!ErrorKind::NotFound(Resource::Instance).is_retryable());
        assert!(!ErrorKind::Permission.is_retryable());
        assert!(!ErrorKind::IdempotencyMismatch.is_retryable());
    }

    #[test]
    fn labels_cover_every_kind() {
        let kinds = [
            ErrorKind::Throttled,
            ErrorKind::Transient,
            ErrorKind::NotFound(Resource::Subnet),
            ErrorKind::DeviceIndexInUse,
            ErrorKind::AttachmentLimitExceeded,
            ErrorKind::QuotaExceeded,
            ErrorKind::Permission,
            ErrorKind::InvalidInput,
            ErrorKind::IdempotencyMismatch,
            ErrorKind::IncorrectState,
            ErrorKind::Other,
        ];
        for k in kinds {
            assert!(ErrorKind::LABELS.contains(&k.as_str()), "{k:?}");
        }
    }

    #[test]
    fn display_names_op_kind_code_and_message() {
        let e = Ec2Error::from_code(
            Op::DeleteNetworkInterface,
            "InvalidNetworkInterface.InUse",
            "in use",
        );
        assert_eq!(
            e.to_string(),
            "EC2 DeleteNetworkInterface failed (incorrect_state): InvalidNetworkInterface.InUse: in use"
        );
        let t = Ec2Error::transport(Op::DescribeSubnets, "timed out");
        assert_eq!(
            t.to_string(),
            "EC2 DescribeSubnets failed (transient): timed out"
        );
    }
}
