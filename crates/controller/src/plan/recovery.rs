//! What an EC2 failure means for the next step: the class (for metrics and the shell's per-key
//! backoff), the base delay before looking again, and any status change it calls for — an index
//! EC2 refused is skipped, a token EC2 refused is replaced, and a failure a person must fix is put
//! in the Ready condition with a reason they can act on.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use multi_eni_api::conditions::set_condition;
use multi_eni_api::keys::{condition, reason};
use multi_eni_api::{EniAttachment, EniAttachmentStatus};
use multi_eni_ec2::{Ec2Error, ErrorKind, Resource};

use super::lifecycle::Ec2Action;

/// The error classes the controller acts on (and counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// Back off, then retry.
    Throttled,
    /// Retry soon.
    Transient,
    /// Already gone: observe again (done for detach and delete).
    NotFound,
    /// Not now: the state changes by itself, or we adjust (index, token) and retry.
    Conflict,
    /// A limit or quota: wait for a person or for capacity.
    Limit,
    /// Missing IAM permission: wait for a person.
    Permission,
    /// A request EC2 will never accept: wait for a spec change.
    InvalidInput,
}

impl ErrorClass {
    /// The class of an error kind.
    pub fn of(kind: &ErrorKind) -> ErrorClass {
        match kind {
            ErrorKind::Throttled => ErrorClass::Throttled,
            ErrorKind::Transient | ErrorKind::Other => ErrorClass::Transient,
            ErrorKind::NotFound(_) => ErrorClass::NotFound,
            ErrorKind::DeviceIndexInUse
            | ErrorKind::IncorrectState
            | ErrorKind::IdempotencyMismatch => ErrorClass::Conflict,
            ErrorKind::AttachmentLimitExceeded | ErrorKind::QuotaExceeded => ErrorClass::Limit,
            ErrorKind::Permission => ErrorClass::Permission,
            ErrorKind::InvalidInput => ErrorClass::InvalidInput,
        }
    }

    /// The base delay before the next attempt (the shell adds per-key exponential backoff).
    pub fn base_delay(self) -> Duration {
        Duration::from_secs(match self {
            ErrorClass::NotFound => 0,
            ErrorClass::Transient => 2,
            ErrorClass::Conflict => 5,
            ErrorClass::Throttled => 10,
            ErrorClass::Limit | ErrorClass::Permission => 300,
            ErrorClass::InvalidInput => 600,
        })
    }

    /// A stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Transient => "transient",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Limit => "limit",
            ErrorClass::Permission => "permission",
            ErrorClass::InvalidInput => "invalid_input",
        }
    }
}

/// Ready-condition reasons that say a person must act. The state machine keeps them while it
/// retries the same call, so a retry does not flap the condition back to Reconciling.
pub(super) const ERROR_REASONS: &[&str] = &[
    reason::MISSING_IAM_PERMISSIONS,
    reason::LIMIT_EXCEEDED,
    reason::INVALID_REQUEST,
    reason::SUBNET_NOT_FOUND,
    reason::SECURITY_GROUP_NOT_FOUND,
];

/// What to do after `action` failed with `err`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// The class.
    pub class: ErrorClass,
    /// Look again after this.
    pub requeue_after: Duration,
    /// A status to store first, when the failure changes it.
    pub status: Option<Box<EniAttachmentStatus>>,
}

/// The recovery from a failed `action` on `att`.
pub fn on_error(
    att: &EniAttachment,
    action: &Ec2Action,
    err: &Ec2Error,
    now: Timestamp,
) -> Recovery {
    let class = ErrorClass::of(&err.kind);
    let current = att.status.clone().unwrap_or_default();
    let mut s = current.clone();
    let mut requeue_after = class.base_delay();
    let op = err.op.action();
    let code = err.code.as_deref().unwrap_or("no code");
    let problem: Option<(&str, String)> = match (&err.kind, action) {
        (ErrorKind::DeviceIndexInUse, Ec2Action::Attach(req)) => {
            s.device_index = Some(req.device_index + 1);
            requeue_after = Duration::ZERO;
            None
        }
        // The code of an occupied index on a slot describe shows free (the port's refinement
        // found no occupant): a forced detach left it busy until the instance restarts (EC2
        // documents it). Our requests are otherwise valid, so skip it; past the card's last
        // index the attach waits as NoFreeDeviceIndex.
        (ErrorKind::InvalidInput, Ec2Action::Attach(req))
            if err.code.as_deref() == Some("InvalidParameterValue") =>
        {
            s.device_index = Some(req.device_index + 1);
            requeue_after = Duration::ZERO;
            None
        }
        (ErrorKind::IdempotencyMismatch, Ec2Action::Create(_)) => {
            s.create_attempt = Some(s.create_attempt.unwrap_or(1) + 1);
            requeue_after = Duration::ZERO;
            None
        }
        (ErrorKind::NotFound(Resource::Subnet), _) => Some((
            reason::SUBNET_NOT_FOUND,
            format!("EC2 {op}: subnet {} not found ({code})", att.spec.subnet_id),
        )),
        (ErrorKind::NotFound(Resource::SecurityGroup), _) => Some((
            reason::SECURITY_GROUP_NOT_FOUND,
            format!(
                "EC2 {op}: a security group of {:?} not found ({code})",
                att.spec.security_group_ids
            ),
        )),
        (ErrorKind::NotFound(Resource::Vpc | Resource::InstanceType), _) => {
            requeue_after = Duration::from_secs(60);
            None
        }
        (ErrorKind::Permission, _) => Some((
            reason::MISSING_IAM_PERMISSIONS,
            format!("the controller's IAM role may not call ec2:{op} ({code}); grant it"),
        )),
        (ErrorKind::AttachmentLimitExceeded | ErrorKind::QuotaExceeded, _) => Some((
            reason::LIMIT_EXCEEDED,
            format!("EC2 {op}: {code}: {}", err.message),
        )),
        (ErrorKind::InvalidInput, _) => Some((
            reason::INVALID_REQUEST,
            format!("EC2 {op} refused the request: {code}: {}", err.message),
        )),
        _ => None,
    };
    if let Some((why, message)) = problem {
        let generation = att.metadata.generation;
        set_condition(
            &mut s.conditions,
            condition::READY,
            false,
            why,
            &message,
            generation,
            Time(now),
        );
        requeue_after = requeue_after.max(class.base_delay());
    }
    Recovery {
        class,
        requeue_after,
        status: (s != current).then(|| Box::new(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::lifecycle::{InstanceSeen, LifecycleConfig, Observed, Step, next_step};
    use super::*;
    use multi_eni_api::Phase;
    use multi_eni_api::conditions::find;
    use multi_eni_ec2::{AttachEni, CreateEni, Op};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid time")
    }

    fn creating() -> EniAttachment {
        let mut a = existing_attachment("a", "n1", SUBNET_A, 1);
        a.status = Some(EniAttachmentStatus {
            phase: Some(Phase::Creating),
            create_attempt: Some(1),
            phase_since: Some(time(1)),
            observed_generation: Some(1),
            ..Default::default()
        });
        a
    }

    fn create() -> Ec2Action {
        Ec2Action::Create(CreateEni::default())
    }

    fn err(op: Op, code: &str) -> Ec2Error {
        Ec2Error::from_code(op, code, "message")
    }

    #[test]
    fn an_index_refused_though_it_looks_free_is_skipped() {
        let mut a = creating();
        if let Some(s) = a.status.as_mut() {
            s.phase = Some(Phase::Attaching);
        }
        let req = AttachEni {
            network_interface_id: "eni-1".into(),
            instance_id: "i-1".into(),
            device_index: 1,
            network_card_index: Some(0),
        };
        let e = err(Op::AttachNetworkInterface, "InvalidParameterValue");
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        let r = on_error(&a, &Ec2Action::Attach(req.clone()), &e, at(5));
        assert_eq!(r.requeue_after, Duration::ZERO);
        let s = r.status.expect("status changes");
        assert_eq!(s.device_index, Some(2));
        assert!(
            find(&s.conditions, condition::READY).is_none(),
            "no spec error"
        );
        // Another invalid attach is still a spec error.
        let other = err(Op::AttachNetworkInterface, "InvalidParameterCombination");
        let r = on_error(&a, &Ec2Action::Attach(req), &other, at(5));
        let s = r.status.expect("status changes");
        let ready = find(&s.conditions, condition::READY).expect("Ready");
        assert_eq!(ready.reason, reason::INVALID_REQUEST);
    }

    #[test]
    fn every_error_kind_has_a_class_and_a_delay() {
        use ErrorClass as C;
        let table = [
            (ErrorKind::Throttled, C::Throttled, 10),
            (ErrorKind::Transient, C::Transient, 2),
            (ErrorKind::Other, C::Transient, 2),
            (
                ErrorKind::NotFound(Resource::NetworkInterface),
                C::NotFound,
                0,
            ),
            (ErrorKind::DeviceIndexInUse, C::Conflict, 5),
            (ErrorKind::IncorrectState, C::Conflict, 5),
            (ErrorKind::IdempotencyMismatch, C::Conflict, 5),
            (ErrorKind::AttachmentLimitExceeded, C::Limit, 300),
            (ErrorKind::QuotaExceeded, C::Limit, 300),
            (ErrorKind::Permission, C::Permission, 300),
            (ErrorKind::InvalidInput, C::InvalidInput, 600),
        ];
        for (kind, class, secs) in table {
            assert_eq!(ErrorClass::of(&kind), class, "{kind:?}");
            assert_eq!(class.base_delay(), Duration::from_secs(secs), "{kind:?}");
        }
    }

    #[test]
    fn throttling_and_transient_failures_write_no_status() {
        for code in ["RequestLimitExceeded", "InternalError"] {
            let r = on_error(
                &creating(),
                &create(),
                &err(Op::CreateNetworkInterface, code),
                at(5),
            );
            assert_eq!(r.status, None, "{code}");
        }
    }

    #[test]
    fn not_found_on_detach_or_delete_looks_again_at_once() {
        let action = Ec2Action::Delete {
            network_interface_id: "eni-1".into(),
        };
        let r = on_error(
            &creating(),
            &action,
            &err(
                Op::DeleteNetworkInterface,
                "InvalidNetworkInterfaceID.NotFound",
            ),
            at(5),
        );
        assert_eq!(
            (r.class, r.requeue_after, r.status),
            (ErrorClass::NotFound, Duration::ZERO, None)
        );
    }

    #[test]
    fn missing_permission_names_the_action_in_the_ready_condition() {
        let r = on_error(
            &creating(),
            &create(),
            &err(Op::CreateNetworkInterface, "UnauthorizedOperation"),
            at(5),
        );
        assert_eq!(r.class, ErrorClass::Permission);
        let s = r.status.expect("condition written");
        let c = find(&s.conditions, condition::READY).expect("ready");
        assert_eq!(c.reason, reason::MISSING_IAM_PERMISSIONS);
        assert!(
            c.message.contains("ec2:CreateNetworkInterface"),
            "{}",
            c.message
        );
    }

    #[test]
    fn error_reason_is_kept_while_retrying_and_cleared_after_progress() {
        let mut a = creating();
        let r = on_error(
            &a,
            &create(),
            &err(Op::CreateNetworkInterface, "UnauthorizedOperation"),
            at(5),
        );
        a.status = r.status.map(|s| *s);
        let mut seen = Observed {
            enis: vec![],
            instance: InstanceSeen::Found(Box::new(view(&[("eni-primary", 0, 0)], 3))),
            subnet_cidr: None,
            adoptable: None,
        };
        let cfg = LifecycleConfig::default();
        assert!(
            matches!(
                next_step(&a, &seen, at(400), &cfg),
                Step::Ec2(Ec2Action::Create(_))
            ),
            "retry without a write"
        );
        // The permission was granted and the create went through: the reason is cleared.
        seen.enis.push(available_eni("eni-1", "uid-a"));
        let Step::Persist { status, .. } = next_step(&a, &seen, at(401), &cfg) else {
            panic!("progress is stored");
        };
        let c = find(&status.conditions, condition::READY).expect("ready");
        assert_eq!(c.reason, reason::RECONCILING);
    }

    #[test]
    fn idempotency_mismatch_on_create_moves_to_a_new_token() {
        let r = on_error(
            &creating(),
            &create(),
            &err(Op::CreateNetworkInterface, "IdempotentParameterMismatch"),
            at(5),
        );
        assert_eq!(r.requeue_after, Duration::ZERO);
        assert_eq!(r.status.expect("attempt stored").create_attempt, Some(2));
    }

    #[test]
    fn attachment_limit_on_attach_is_limit_exceeded() {
        let action = Ec2Action::Attach(AttachEni {
            network_interface_id: "eni-1".into(),
            instance_id: "i-00000001".into(),
            device_index: 1,
            network_card_index: Some(0),
        });
        let r = on_error(
            &creating(),
            &action,
            &err(Op::AttachNetworkInterface, "AttachmentLimitExceeded"),
            at(5),
        );
        let s = r.status.expect("condition written");
        assert_eq!(
            find(&s.conditions, condition::READY).map(|c| c.reason.as_str()),
            Some(reason::LIMIT_EXCEEDED)
        );
        assert_eq!(r.requeue_after, Duration::from_secs(300));
    }

    #[test]
    fn subnet_not_found_on_create_is_reported() {
        let r = on_error(
            &creating(),
            &create(),
            &err(Op::CreateNetworkInterface, "InvalidSubnetID.NotFound"),
            at(5),
        );
        let s = r.status.expect("condition written");
        assert_eq!(
            find(&s.conditions, condition::READY).map(|c| c.reason.as_str()),
            Some(reason::SUBNET_NOT_FOUND)
        );
        assert_eq!(
            r.requeue_after,
            Duration::ZERO.max(ErrorClass::NotFound.base_delay())
        );
    }
}
