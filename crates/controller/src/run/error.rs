//! The one error type of the reconcilers, classified so the shell knows how long to wait.

use std::time::Duration;

use multi_eni_ec2::{Ec2Error, LookupError};

use crate::plan::ErrorClass;

/// Why a reconcile stopped early. The step it was on is retried after [`Error::requeue_after`]
/// (plus the per-key backoff); nothing is lost, because every intent is in status first.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed (a 409 on a stale write included: read again and redo).
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// EC2 failed.
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    /// A cached lookup failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// An object the API server sent cannot be used (no name, no UID).
    #[error("{0}")]
    Malformed(String),
}

impl Error {
    /// The class, for metrics and backoff.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Kube(e) => kube_class(e),
            Error::Ec2(e) => ErrorClass::of(&e.kind),
            Error::Lookup(LookupError::Ec2(e)) => ErrorClass::of(&e.kind),
            Error::Lookup(LookupError::NotFound { .. }) => ErrorClass::NotFound,
            Error::Lookup(LookupError::Ambiguous { .. }) | Error::Malformed(_) => {
                ErrorClass::InvalidInput
            }
        }
    }

    /// How long to wait before the next attempt, before backoff.
    pub fn requeue_after(&self) -> Duration {
        match self {
            // A stale read: the watch brings the new version within moments.
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => Duration::from_millis(200),
            _ => self.class().base_delay().max(Duration::from_secs(1)),
        }
    }
}

fn kube_class(e: &kube::Error) -> ErrorClass {
    match e {
        kube::Error::Api(s) => match s.code {
            404 => ErrorClass::NotFound,
            409 => ErrorClass::Conflict,
            429 => ErrorClass::Throttled,
            403 => ErrorClass::Permission,
            400 | 422 => ErrorClass::InvalidInput,
            _ => ErrorClass::Transient,
        },
        _ => ErrorClass::Transient,
    }
}
