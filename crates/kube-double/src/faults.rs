//! Fault hooks for tests: make chosen requests fail (409/500/any Status), answer late, hang
//! until a timeout, and cut every open watch connection.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::status::ApiError;

/// The Kubernetes verb of a request, as RBAC and audit logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Reply with this Status (e.g. 500 InternalError, 429 TooManyRequests).
    Fail {
        code: u16,
        reason: &'static str,
        message: String,
    },
    /// A 409 Conflict as a stale resourceVersion would cause.
    Conflict,
    /// Wait, then handle the request normally (slow server).
    Delay(Duration),
    /// Hold the request, then answer 504 Timeout without doing it (server-side timeout).
    Timeout(Duration),
}

/// Which requests a fault applies to; `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct FaultRule {
    pub verb: Option<Verb>,
    /// Resource plural (`leases`).
    pub resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `Some("status")` for status writes only.
    pub subresource: Option<String>,
    /// How many matching requests to hit; `None` is every one.
    pub times: Option<usize>,
}

impl FaultRule {
    pub fn any() -> Self {
        FaultRule::default()
    }
    pub fn verb(mut self, v: Verb) -> Self {
        self.verb = Some(v);
        self
    }
    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.into());
        self
    }
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.into());
        self
    }
    pub fn namespace(mut self, n: &str) -> Self {
        self.namespace = Some(n.into());
        self
    }
    pub fn subresource(mut self, s: &str) -> Self {
        self.subresource = Some(s.into());
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

/// The request a fault rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub verb: Verb,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

impl FaultRule {
    fn matches(&self, r: &RequestFacts<'_>) -> bool {
        self.verb.is_none_or(|v| v == r.verb)
            && self.resource.as_deref().is_none_or(|x| x == r.resource)
            && self.name.as_deref().is_none_or(|x| Some(x) == r.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|x| Some(x) == r.namespace)
            && self
                .subresource
                .as_deref()
                .is_none_or(|x| Some(x) == r.subresource)
    }
}

#[derive(Debug)]
struct Armed {
    id: usize,
    rule: FaultRule,
    action: FaultAction,
    hits: Arc<AtomicUsize>,
}

/// Shared fault state; cloned handles see the same rules.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Armed>>>,
    next_id: Arc<AtomicUsize>,
    watch_cut: Arc<Mutex<CancellationToken>>,
}

/// An injected fault; `hits()` counts the requests it took.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    id: usize,
    hits: Arc<AtomicUsize>,
    faults: Faults,
}

impl FaultHandle {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    /// Disarms this fault.
    pub fn remove(&self) {
        self.faults.rules.lock().retain(|a| a.id != self.id);
    }
}

impl Faults {
    /// Arms `action` for requests matching `rule`.
    pub fn inject(&self, rule: FaultRule, action: FaultAction) -> FaultHandle {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let hits = Arc::new(AtomicUsize::new(0));
        self.rules.lock().push(Armed {
            id,
            rule,
            action,
            hits: hits.clone(),
        });
        FaultHandle {
            id,
            hits,
            faults: self.clone(),
        }
    }

    /// Status `code` for matching requests, with the reason kube-apiserver gives that code
    /// (`InternalError` for codes it has no other name for).
    pub fn fail(&self, rule: FaultRule, code: u16) -> FaultHandle {
        let reason = match code {
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        self.inject(
            rule,
            FaultAction::Fail {
                code,
                reason,
                message: format!("injected fault ({code})"),
            },
        )
    }

    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// The action for a request, consuming one use of the first matching rule.
    pub fn take(&self, req: &RequestFacts<'_>) -> Option<FaultAction> {
        let mut rules = self.rules.lock();
        let idx = rules.iter().position(|a| a.rule.matches(req))?;
        let a = &mut rules[idx];
        a.hits.fetch_add(1, Ordering::SeqCst);
        let action = a.action.clone();
        if let Some(t) = a.rule.times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                rules.remove(idx);
            }
        }
        Some(action)
    }

    /// Cuts every open watch connection (the TCP stream is reset mid-body, as a network
    /// failure would), while new watches keep working.
    pub fn drop_watches(&self) {
        let mut t = self.watch_cut.lock();
        t.cancel();
        *t = CancellationToken::new();
    }

    /// What a new watch listens on to know it must drop.
    pub fn watch_token(&self) -> CancellationToken {
        self.watch_cut.lock().clone()
    }
}

/// The Status a fired fault answers with, when it answers with one.
pub fn fault_error(action: &FaultAction, facts: &RequestFacts<'_>) -> Option<ApiError> {
    match action {
        FaultAction::Fail {
            code,
            reason,
            message,
        } => Some(ApiError::new(*code, reason, message.clone())),
        FaultAction::Conflict => Some(ApiError::conflict(crate::status::Subject {
            group: "",
            plural: facts.resource,
            name: facts.name.unwrap_or(""),
        })),
        FaultAction::Timeout(_) => Some(ApiError::new(
            504,
            "Timeout",
            "Timeout: request did not complete within the allotted timeout",
        )),
        FaultAction::Delay(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_verb_resource_name_and_run_out() {
        let f = Faults::default();
        let h = f.fail(
            FaultRule::any()
                .verb(Verb::Update)
                .resource("leases")
                .name("l")
                .times(2),
            500,
        );
        let req = RequestFacts {
            verb: Verb::Update,
            resource: "leases",
            name: Some("l"),
            namespace: Some("default"),
            subresource: None,
        };
        let other = RequestFacts {
            name: Some("m"),
            ..req
        };
        assert!(f.take(&other).is_none());
        assert!(f.take(&req).is_some());
        assert!(f.take(&req).is_some());
        assert!(f.take(&req).is_none(), "used up");
        assert_eq!(h.hits(), 2);
    }

    #[test]
    fn drop_watches_cancels_old_tokens_only() {
        let f = Faults::default();
        let old = f.watch_token();
        f.drop_watches();
        assert!(old.is_cancelled());
        assert!(!f.watch_token().is_cancelled());
    }
}
