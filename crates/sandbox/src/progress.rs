//! What the sandbox shows while it runs, decided from the objects alone (pure, table-tested):
//! one row per NodeENI — desired / attached / ready from its status, and how many of its
//! ENIAttachments are in each phase — and whether everything has converged.

use std::collections::BTreeMap;

use kube::ResourceExt;
use multi_eni_api::keys::LABEL_NODEENI;
use multi_eni_api::{EniAttachment, NodeEni, Phase};

/// How far the sandbox can take an attachment: `Ready` needs an agent on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Agents run: every ENI must reach Ready.
    Ready,
    /// No agents: attachments stop at Attached.
    Attached,
}

/// One NodeENI's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The NodeENI.
    pub name: String,
    /// `status.desiredCount`.
    pub desired: i32,
    /// `status.attachedCount`.
    pub attached: i32,
    /// `status.readyCount`.
    pub ready: i32,
    /// Its ENIAttachments by phase.
    pub phases: BTreeMap<Phase, usize>,
    /// The status describes the current spec.
    pub current: bool,
    /// Being deleted.
    pub deleting: bool,
}

impl Row {
    /// Converged towards `goal`: status current, every desired ENI there, no attachment on its
    /// way in or out.
    pub fn converged(&self, goal: Goal) -> bool {
        let reached = match goal {
            Goal::Ready => self.ready,
            Goal::Attached => self.attached,
        };
        let settled: usize = [Phase::Attached, Phase::Ready]
            .iter()
            .filter_map(|p| self.phases.get(p))
            .sum();
        let total: usize = self.phases.values().sum();
        self.current && !self.deleting && reached == self.desired && settled == total
    }
}

/// The rows, by NodeENI name; attachments are matched by their NodeENI label.
pub fn rows(node_enis: &[NodeEni], attachments: &[EniAttachment]) -> Vec<Row> {
    let mut rows: Vec<Row> = node_enis
        .iter()
        .map(|ne| {
            let status = ne.status.clone().unwrap_or_default();
            Row {
                name: ne.name_any(),
                desired: status.desired_count,
                attached: status.attached_count,
                ready: status.ready_count,
                phases: BTreeMap::new(),
                current: status.observed_generation.is_some()
                    && status.observed_generation == ne.metadata.generation,
                deleting: ne.metadata.deletion_timestamp.is_some(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    for att in attachments {
        let owner = att.labels().get(LABEL_NODEENI);
        if let Some(row) = rows.iter_mut().find(|r| Some(&r.name) == owner) {
            let phase = att
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .unwrap_or_default();
            *row.phases.entry(phase).or_default() += 1;
        }
    }
    rows
}

/// Every NodeENI converged (vacuously true with none).
pub fn converged(rows: &[Row], goal: Goal) -> bool {
    rows.iter().all(|r| r.converged(goal))
}

fn phases(row: &Row) -> String {
    if row.phases.is_empty() {
        return "-".into();
    }
    row.phases
        .iter()
        .map(|(p, n)| format!("{} {n}", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table: a header and one line per NodeENI.
pub fn table(rows: &[Row]) -> Vec<String> {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(7);
    let mut lines = vec![format!(
        "{:<width$}  {:>7}  {:>8}  {:>5}  ENIATTACHMENTS",
        "NODEENI", "DESIRED", "ATTACHED", "READY"
    )];
    lines.extend(rows.iter().map(|r| {
        let name = if r.deleting {
            format!("{} (deleting)", r.name)
        } else {
            r.name.clone()
        };
        format!(
            "{name:<width$}  {:>7}  {:>8}  {:>5}  {}",
            r.desired,
            r.attached,
            r.ready,
            phases(r)
        )
    }));
    if rows.is_empty() {
        lines.push("(no NodeENIs)".into());
    }
    lines
}

/// One line for a log: every NodeENI's counts and phases.
pub fn line(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no NodeENIs".into();
    }
    rows.iter()
        .map(|r| {
            format!(
                "{}{}: desired {} attached {} ready {} [{}]",
                r.name,
                if r.deleting { " (deleting)" } else { "" },
                r.desired,
                r.attached,
                r.ready,
                phases(r)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_eni(
        name: &str,
        generation: i64,
        observed: Option<i64>,
        counts: (i32, i32, i32),
    ) -> NodeEni {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.aws/v1alpha1",
            "kind": "NodeENI",
            "metadata": {"name": name, "generation": generation},
            "spec": {"nodeSelector": {"ng": "x"}, "subnetIDs": ["subnet-0a000000000000001"],
                     "securityGroupIDs": ["sg-0c000000000000003"]},
            "status": {"observedGeneration": observed, "desiredCount": counts.0,
                       "attachedCount": counts.1, "readyCount": counts.2},
        }))
        .expect("a NodeENI")
    }

    fn attachment(name: &str, owner: &str, phase: &str) -> EniAttachment {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.aws/v1alpha1",
            "kind": "ENIAttachment",
            "metadata": {"name": name, "labels": {LABEL_NODEENI: owner}},
            "spec": {"nodeENI": owner, "nodeName": "n", "instanceID": "i-1",
                     "subnetID": "subnet-0a000000000000001",
                     "securityGroupIDs": ["sg-0c000000000000003"], "deviceIndex": 1},
            "status": {"phase": phase},
        }))
        .expect("an ENIAttachment")
    }

    #[test]
    fn rows_count_phases_per_node_eni() {
        let nes = [
            node_eni("b", 1, Some(1), (2, 1, 0)),
            node_eni("a", 2, Some(1), (0, 0, 0)),
        ];
        let atts = [
            attachment("b-1", "b", "Attached"),
            attachment("b-2", "b", "Attaching"),
            attachment("x-1", "gone", "Ready"),
        ];
        let rows = rows(&nes, &atts);
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!rows[0].current, "generation 2, observed 1");
        assert_eq!(
            rows[1].phases,
            BTreeMap::from([(Phase::Attaching, 1), (Phase::Attached, 1)])
        );
        assert_eq!(
            line(&rows),
            "a: desired 0 attached 0 ready 0 [-]; b: desired 2 attached 1 ready 0 [Attaching 1, Attached 1]"
        );
    }

    /// What, counts, attachment phases, observed generation, goal, converged.
    type Case = (
        &'static str,
        (i32, i32, i32),
        &'static [&'static str],
        Option<i64>,
        Goal,
        bool,
    );

    #[test]
    fn convergence_by_goal() {
        let cases: [Case; 7] = [
            (
                "all ready",
                (2, 2, 2),
                &["Ready", "Ready"],
                Some(1),
                Goal::Ready,
                true,
            ),
            (
                "attached, agents wanted",
                (2, 2, 0),
                &["Attached", "Attached"],
                Some(1),
                Goal::Ready,
                false,
            ),
            (
                "attached, no agents",
                (2, 2, 0),
                &["Attached", "Attached"],
                Some(1),
                Goal::Attached,
                true,
            ),
            (
                "one still attaching",
                (2, 2, 2),
                &["Ready", "Attaching"],
                Some(1),
                Goal::Ready,
                false,
            ),
            (
                "one detaching",
                (1, 1, 1),
                &["Ready", "Detaching"],
                Some(1),
                Goal::Ready,
                false,
            ),
            (
                "status stale",
                (2, 2, 2),
                &["Ready", "Ready"],
                None,
                Goal::Ready,
                false,
            ),
            (
                "nothing desired",
                (0, 0, 0),
                &[],
                Some(1),
                Goal::Ready,
                true,
            ),
        ];
        for (what, counts, phases, observed, goal, want) in cases {
            let nes = [node_eni("n", 1, observed, counts)];
            let atts: Vec<_> = phases
                .iter()
                .enumerate()
                .map(|(i, p)| attachment(&format!("n-{i}"), "n", p))
                .collect();
            assert_eq!(converged(&rows(&nes, &atts), goal), want, "{what}");
        }
        assert!(converged(&[], Goal::Ready), "no NodeENIs");
    }

    #[test]
    fn table_aligns_and_marks_deletion() {
        let mut nes = [node_eni("sample-multus", 1, Some(1), (2, 2, 1))];
        nes[0].metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let t = table(&rows(&nes, &[attachment("s-1", "sample-multus", "Ready")]));
        assert_eq!(
            t[0],
            "NODEENI        DESIRED  ATTACHED  READY  ENIATTACHMENTS"
        );
        assert_eq!(
            t[1],
            "sample-multus (deleting)        2         2      1  Ready 1"
        );
        assert_eq!(table(&[])[1], "(no NodeENIs)");
    }
}
