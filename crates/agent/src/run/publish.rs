//! The end of a wake-up: make the SR-IOV config publish the round's entries, then write each
//! attachment's `status.interface` where it changed, with Events, metrics and logs for the
//! transitions.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use multi_eni_api::EniAttachment;
use multi_eni_api::keys::reason;
use tokio::time::Instant;

use super::Loop;
use super::reconcile::{KICK, joined};
use crate::plan::{Outcome, Report, SriovEntry};
use crate::sriov::Synced;
use crate::status;

/// How the SR-IOV config sync went this round.
#[derive(Debug)]
enum SriovSync {
    /// The agent runs with `--sriov-config ""`.
    Disabled,
    Synced(Synced),
    /// Reading or writing the config failed.
    Failed(String),
}

/// Marks the reports the SR-IOV sync let down as failed, and returns the UIDs to put on hold
/// with the message. A failed write is retried after a back-off; a disabled config or a
/// resource someone else owns is only reported, until the spec or the file changes. A
/// `Released` report waits for its entries to be dropped too.
fn apply_sriov(reports: &mut [Report], sync: &SriovSync) -> Vec<(String, String)> {
    let fail = |r: &mut Report, message: &str| {
        r.observed.sriov_resource = None;
        r.outcome = Outcome::Failed {
            reason: reason::INTERFACE_CONFIG_FAILED,
            message: message.to_owned(),
        };
    };
    let mut hold = Vec::new();
    match sync {
        SriovSync::Disabled => {
            for r in reports
                .iter_mut()
                .filter(|r| r.observed.sriov_resource.is_some())
            {
                fail(
                    r,
                    "SR-IOV asked for, but the agent runs with --sriov-config disabled",
                );
            }
        }
        SriovSync::Synced(synced) => {
            for (resource, message) in &synced.conflicts {
                for r in reports
                    .iter_mut()
                    .filter(|r| r.observed.sriov_resource.as_deref() == Some(resource))
                {
                    fail(r, message);
                }
            }
        }
        SriovSync::Failed(message) => {
            for r in reports
                .iter_mut()
                .filter(|r| r.observed.sriov_resource.is_some() || r.outcome == Outcome::Released)
            {
                fail(r, message);
                hold.push((r.uid.clone(), message.clone()));
            }
        }
    }
    hold
}

fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

impl Loop {
    pub(super) async fn publish(&mut self, mut reports: Vec<Report>, entries: Vec<SriovEntry>) {
        let sync = match &self.sriov {
            None => SriovSync::Disabled,
            Some(cfg) => {
                let cfg = cfg.clone();
                match joined(tokio::task::spawn_blocking(move || cfg.sync(&entries)).await) {
                    Ok(synced) => SriovSync::Synced(synced),
                    Err(message) => SriovSync::Failed(message),
                }
            }
        };
        let sriov_changed = matches!(&sync, SriovSync::Synced(s) if s.changed);
        if sriov_changed {
            self.metrics.sriov_config_writes.inc();
            tracing::warn!(
                "SR-IOV device plugin config changed; the plugin reads it only at start: restart its pod on this node"
            );
        }
        for (uid, message) in apply_sriov(&mut reports, &sync) {
            self.hold(&uid, reason::INTERFACE_CONFIG_FAILED, message);
        }

        for report in reports {
            let Some(obj) = self.attachments.by_uid(&report.uid) else {
                continue;
            };
            if matches!(
                report.outcome,
                Outcome::Configured | Outcome::DpdkBound | Outcome::Released
            ) {
                self.backoff.succeeded(&report.uid);
            }
            // Link appeared → configured, measured before the status write (which is reporting,
            // not configuring).
            let latency = match (&report.outcome, report.observed.if_index) {
                (Outcome::Configured, Some(i)) => self.table.take_appeared(i).map(|t| t.elapsed()),
                _ => None,
            };
            if let Some(l) = latency {
                self.metrics.link_configure_seconds.observe(l.as_secs_f64());
            }
            let rv = obj.metadata.resource_version.clone();
            let base = match self.written.get(&report.uid) {
                Some((at, st)) if *at == rv => Some(st.clone()),
                _ => obj.interface().cloned(),
            };
            let Some(next) =
                status::next_interface(base.as_ref(), &report, obj.metadata.generation, now_time())
            else {
                continue;
            };
            let patch = status::merge_patch(base.as_ref(), &next);
            match self.reporter.write(&obj, &patch).await {
                Ok(()) => {
                    let before = status::ready_reason(base.as_ref()).map(str::to_owned);
                    self.written.insert(report.uid.clone(), (rv, next));
                    self.announce(&obj, &report, before.as_deref(), sriov_changed, latency)
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attachment = ?obj.metadata.name, "writing status.interface failed; retrying");
                    self.kick = Some(Instant::now() + KICK);
                }
            }
        }
    }

    /// Events, metrics and logs for a status transition.
    async fn announce(
        &mut self,
        obj: &EniAttachment,
        report: &Report,
        before: Option<&str>,
        sriov_changed: bool,
        latency: Option<Duration>,
    ) {
        let (_, reason, mut message) = status::condition_for(report);
        if before == Some(reason) {
            return;
        }
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        match &report.outcome {
            Outcome::Configured => {
                self.metrics.links_configured.inc();
                if let Some(l) = latency {
                    message.push_str(&format!(
                        " ({:.1} ms after the link appeared)",
                        l.as_secs_f64() * 1e3
                    ));
                }
                tracing::info!(attachment = name, %message, "interface configured");
            }
            Outcome::DpdkBound | Outcome::Released => {
                tracing::info!(attachment = name, %message, "{reason}")
            }
            Outcome::Failed { .. } => tracing::warn!(attachment = name, %message, "{reason}"),
            _ => return,
        }
        if sriov_changed && report.observed.sriov_resource.is_some() {
            message.push_str(
                "; SR-IOV device plugin config changed: restart the plugin pod to pick it up",
            );
        }
        let warning = matches!(report.outcome, Outcome::Failed { .. });
        self.reporter.event(obj, warning, reason, message).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::Observed;

    fn report(uid: &str, outcome: Outcome, resource: Option<&str>) -> Report {
        Report {
            uid: uid.into(),
            outcome,
            observed: Observed {
                sriov_resource: resource.map(str::to_owned),
                ..Observed::default()
            },
        }
    }

    /// a: publishes aws.com/ena; b: publishes aws.com/dpdk; c: no SR-IOV; d: released.
    fn round() -> Vec<Report> {
        vec![
            report("a", Outcome::Configured, Some("aws.com/ena")),
            report("b", Outcome::DpdkBound, Some("aws.com/dpdk")),
            report("c", Outcome::Configured, None),
            report("d", Outcome::Released, None),
        ]
    }

    fn failed(reports: &[Report]) -> Vec<&str> {
        reports
            .iter()
            .filter(|r| {
                matches!(&r.outcome, Outcome::Failed { reason: why, .. } if *why == reason::INTERFACE_CONFIG_FAILED)
                    && r.observed.sriov_resource.is_none()
            })
            .map(|r| r.uid.as_str())
            .collect()
    }

    #[test]
    fn with_sr_iov_disabled_only_attachments_asking_for_it_fail_and_none_is_held() {
        let mut reports = round();
        assert!(apply_sriov(&mut reports, &SriovSync::Disabled).is_empty());
        assert_eq!(failed(&reports), ["a", "b"]);
        assert!(
            matches!(&reports[0].outcome, Outcome::Failed { message, .. } if message.contains("--sriov-config"))
        );
    }

    #[test]
    fn a_resource_someone_else_owns_fails_only_its_attachments() {
        let mut reports = round();
        let synced = Synced {
            changed: true,
            conflicts: BTreeMap::from([("aws.com/dpdk".to_owned(), "taken".to_owned())]),
        };
        assert!(apply_sriov(&mut reports, &SriovSync::Synced(synced)).is_empty());
        assert_eq!(failed(&reports), ["b"]);
        assert_eq!(reports[0].outcome, Outcome::Configured);
        assert_eq!(
            reports[0].observed.sriov_resource.as_deref(),
            Some("aws.com/ena")
        );
    }

    #[test]
    fn a_failed_config_write_fails_and_holds_publishers_and_released_attachments() {
        let mut reports = round();
        let hold = apply_sriov(&mut reports, &SriovSync::Failed("EACCES".into()));
        assert_eq!(failed(&reports), ["a", "b", "d"]);
        assert_eq!(
            hold,
            [("a", "EACCES"), ("b", "EACCES"), ("d", "EACCES")]
                .map(|(u, m)| (u.to_owned(), m.to_owned()))
        );
        assert_eq!(
            reports[2].outcome,
            Outcome::Configured,
            "no SR-IOV, not released"
        );
    }
}
