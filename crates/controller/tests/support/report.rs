//! The scale benchmark's report: the headline figures beside issue 11's targets, the details
//! behind them, and the convergence plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use multi_eni_ec2::Op;

use super::plot::{Chart, Series};
use super::system::DESCRIBES;
use super::{Phase, Report};

/// The mutating actions (create, attach, modify, detach, delete, tag).
pub const MUTATING: [Op; 6] = [
    Op::CreateNetworkInterface,
    Op::AttachNetworkInterface,
    Op::ModifyNetworkInterfaceAttribute,
    Op::DetachNetworkInterface,
    Op::DeleteNetworkInterface,
    Op::CreateTags,
];

/// EC2 seconds in an hour.
const HOUR: f64 = 3600.0;

fn per(n: u64, d: u64) -> f64 {
    // Counts far below 2^52: exact as f64.
    n as f64 / d.max(1) as f64
}

impl Report {
    /// ENIs rolled out.
    pub fn enis(&self) -> u64 {
        self.options.enis()
    }

    /// Time to all Attached ÷ the floor.
    pub fn rollout_ratio(&self) -> Option<f64> {
        let t = self.rollout.done_ec2_secs?;
        Some(t / self.rollout_floor.secs())
    }

    /// Time to every ENI gone ÷ the floor.
    pub fn teardown_ratio(&self) -> Option<f64> {
        let t = self.teardown.done_ec2_secs?;
        Some(t / self.teardown_floor.secs())
    }

    /// Mutating calls per ENI over its life (rollout + teardown).
    pub fn mutating_per_eni(&self) -> f64 {
        per(
            self.rollout.calls(&MUTATING) + self.teardown.calls(&MUTATING),
            self.enis(),
        )
    }

    /// Describe calls per ENI over the rollout.
    pub fn rollout_describes_per_eni(&self) -> f64 {
        per(self.rollout.calls(&DESCRIBES), self.enis())
    }

    /// Describe calls per ENI over the whole life (rollout + teardown).
    pub fn life_describes_per_eni(&self) -> f64 {
        per(
            self.rollout.calls(&DESCRIBES) + self.teardown.calls(&DESCRIBES),
            self.enis(),
        )
    }

    /// EC2 hours the steady window spanned.
    pub fn steady_hours(&self) -> f64 {
        self.options.ec2_secs(self.steady.elapsed) / HOUR
    }

    /// The whole report, Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        self.headline(&mut out);
        self.floors(&mut out);
        self.calls(&mut out);
        self.kube(&mut out);
        self.steady_and_relabel(&mut out);
        out
    }

    fn headline(&self, out: &mut String) {
        let o = &self.options;
        let server = if o.real_apiserver {
            "the real kube-apiserver"
        } else {
            "the API double"
        };
        let _ = writeln!(
            out,
            "## Scale: {} nodes × {} subnets = {} ENIs on {server}; EC2 simulator ×{}, budget share {}\n",
            o.nodes,
            o.subnets,
            self.enis(),
            o.time_scale,
            o.budget
        );
        let ratio = |r: Option<f64>| r.map_or("not reached".to_owned(), |r| format!("{r:.3}"));
        let steady_describes = per(self.steady.calls(&DESCRIBES), o.steady_passes);
        let pages = per(self.steady_pages, o.steady_passes);
        let per_node = self.unlabel.calls(&MUTATING) + self.relabel.calls(&MUTATING);
        let rows = [
            (
                "rollout: time to all Attached ÷ token-bucket floor".to_owned(),
                format!(
                    "{} ({:.1} s / {:.1} s EC2 time)",
                    ratio(self.rollout_ratio()),
                    self.rollout.done_ec2_secs.unwrap_or(f64::NAN),
                    self.rollout_floor.secs()
                ),
                "≤ 1.10".to_owned(),
            ),
            (
                "teardown: time to every ENI deleted ÷ floor".to_owned(),
                format!(
                    "{} ({:.1} s / {:.1} s)",
                    ratio(self.teardown_ratio()),
                    self.teardown.done_ec2_secs.unwrap_or(f64::NAN),
                    self.teardown_floor.secs()
                ),
                "(none)".to_owned(),
            ),
            (
                "throttled responses: EC2 returned / limiter saw / user-visible".to_owned(),
                format!(
                    "{} / {} / {}",
                    self.all_phases()
                        .iter()
                        .map(|p| p.server_throttled())
                        .sum::<u64>(),
                    self.all_phases()
                        .iter()
                        .map(|p| p.client_throttled())
                        .sum::<u64>(),
                    self.visible_throttles
                ),
                "user-visible 0".to_owned(),
            ),
            (
                "mutating EC2 calls per ENI lifecycle".to_owned(),
                format!("{:.3}", self.mutating_per_eni()),
                "≤ 5".to_owned(),
            ),
            (
                "describe calls per ENI (rollout; whole life)".to_owned(),
                format!(
                    "{:.3}; {:.3}",
                    self.rollout_describes_per_eni(),
                    self.life_describes_per_eni()
                ),
                "≤ 0.2".to_owned(),
            ),
            (
                "steady state: describes per resync pass".to_owned(),
                format!("{steady_describes:.2} ({pages:.0} listing pages per pass)"),
                "O(pages)".to_owned(),
            ),
            (
                "steady state: Kubernetes writes".to_owned(),
                self.steady.kube_writes().to_string(),
                "0".to_owned(),
            ),
            (
                "one node relabelled (off, on): mutating calls".to_owned(),
                format!("{per_node} ({} ENIs gone and made again)", o.subnets),
                format!("≤ {} (5 per ENI)", 5 * o.subnets),
            ),
            (
                "controller CPU seconds (rollout → teardown)".to_owned(),
                format!("{:.1}", self.cpu_secs),
                "(none)".to_owned(),
            ),
            (
                "process peak RSS added while the controller ran".to_owned(),
                format!(
                    "{:.1} MiB (before {:.1} MiB, peak {:.1} MiB)",
                    self.rss.added_mib(),
                    self.rss.before_kib as f64 / 1024.0,
                    self.rss.peak_kib as f64 / 1024.0
                ),
                "controller ≤ 64 MiB".to_owned(),
            ),
        ];
        let _ = writeln!(out, "| figure | measured | target |\n| --- | --- | --- |");
        for (what, got, target) in rows {
            let _ = writeln!(out, "| {what} | {got} | {target} |");
        }
        out.push('\n');
    }

    fn all_phases(&self) -> [&Phase; 5] {
        [
            &self.rollout,
            &self.steady,
            &self.unlabel,
            &self.relabel,
            &self.teardown,
        ]
    }

    fn floors(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Rollout floor (EC2 time; k-th token of a bucket at max(0, k − burst) / rate; ENI k \
             Attached at max over the buckets + the attach delay):\n\n```\n{}\n```\n\n\
             Teardown floor (ENI k gone at max(detach token + detach delay, delete token)):\n\n\
             ```\n{}\n```\n",
            self.rollout_floor.explain(),
            self.teardown_floor.explain()
        );
    }

    fn calls(&self, out: &mut String) {
        let enis = self.enis();
        let _ = writeln!(
            out,
            "| EC2 action | rollout | teardown | per ENI | refused by EC2 | limiter waits (rollout+teardown) | mean wait | throttled: limiter saw / EC2 returned |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for op in Op::ALL {
            let (r, t) = (self.rollout.calls(&[op]), self.teardown.calls(&[op]));
            let client = |p: &Phase| p.client.get(&op).copied().unwrap_or_default();
            let (cr, ct) = (client(&self.rollout), client(&self.teardown));
            let waited = cr.waited + ct.waited;
            let mean = (cr.wait + ct.wait).as_secs_f64() / waited.max(1) as f64;
            let server = |p: &Phase| p.ec2.get(&op).map_or(0, |s| s.throttled);
            let failed = |p: &Phase| p.ec2.get(&op).map_or(0, |s| s.failed);
            let _ = writeln!(
                out,
                "| {op} | {r} | {t} | {:.3} | {} | {waited} | {:.1} ms | {} / {} |",
                per(r + t, enis),
                failed(&self.rollout) + failed(&self.teardown),
                mean * 1000.0,
                cr.throttled + ct.throttled,
                server(&self.rollout) + server(&self.teardown)
            );
        }
        if !self.refused.is_empty() {
            let what: Vec<String> = self
                .refused
                .iter()
                .map(|(op, class, n)| format!("{op} {class} ×{n}"))
                .collect();
            let _ = writeln!(out, "\nRefused, by error class: {}.", what.join(", "));
        }
        out.push('\n');
    }

    fn kube(&self, out: &mut String) {
        let verbs = [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ];
        let resources = ["nodeenis", "eniattachments", "events"];
        let _ = writeln!(
            out,
            "Kubernetes API requests (NodeENIs, ENIAttachments, Events, Nodes; the bench's own \
             NodeENI create/delete taken out), and writes by resource:\n\n\
             | phase | {} | writes | per ENI | {} |\n| --- |{}",
            verbs.join(" | "),
            resources.map(|r| format!("{r} writes")).join(" | "),
            " ---: |".repeat(verbs.len() + 2 + resources.len())
        );
        let enis = self.enis();
        let per_node = u64::try_from(self.options.subnets).unwrap_or(1);
        for (name, p, n) in [
            ("rollout", &self.rollout, enis),
            ("steady", &self.steady, 0),
            ("node label off", &self.unlabel, per_node),
            ("node label on", &self.relabel, per_node),
            ("teardown", &self.teardown, enis),
        ] {
            let cells: Vec<String> = verbs.iter().map(|v| p.kube_verb(v).to_string()).collect();
            let by_resource: Vec<String> = resources
                .iter()
                .map(|r| p.kube_writes_of(r).to_string())
                .collect();
            let per_eni = if n == 0 {
                "–".to_owned()
            } else {
                format!("{:.2}", per(p.kube_writes(), n))
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {per_eni} | {} |",
                cells.join(" | "),
                p.kube_writes(),
                by_resource.join(" | ")
            );
        }
        out.push('\n');
    }

    fn steady_and_relabel(&self, out: &mut String) {
        let hours = self.steady_hours();
        let s = &self.steady;
        let ec2: u64 = s.ec2.values().map(|c| c.calls).sum();
        let _ = writeln!(
            out,
            "Steady state: {} resync passes, {:.3} simulated hours, {} attached ENIs.\n\
             EC2 calls per simulated hour: {:.1} (describes {:.1}, mutating {:.1}); \
             Kubernetes requests per simulated hour: {:.1}, writes {:.1}.\n",
            self.options.steady_passes,
            hours,
            self.enis(),
            ec2 as f64 / hours,
            s.calls(&DESCRIBES) as f64 / hours,
            s.calls(&MUTATING) as f64 / hours,
            s.kube_requests() as f64 / hours,
            s.kube_writes() as f64 / hours
        );
        for (name, p) in [("off", &self.unlabel), ("on", &self.relabel)] {
            let by_op: Vec<String> = p
                .ec2
                .iter()
                .map(|(op, c)| format!("{op} {}", c.calls))
                .collect();
            let _ = writeln!(
                out,
                "Node label {name}: {:.1} s EC2 time; EC2 calls: {}; Kubernetes requests {}, writes {}.\n",
                self.options.ec2_secs(p.elapsed),
                by_op.join(", "),
                p.kube_requests(),
                p.kube_writes()
            );
        }
    }

    /// Writes the rollout and teardown curves with their floors as SVG into `dir`; returns
    /// the files.
    pub fn write_plots(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let o = &self.options;
        let server = if o.real_apiserver { "-apiserver" } else { "" };
        let stem = format!("scale-{}x{}{server}", o.nodes, o.subnets);
        let enis = self.enis() as f64;
        let points = |c: &[(f64, u64)]| thin(c.iter().map(|(t, n)| (*t, *n as f64)).collect());
        let floor_points = |c: Vec<(f64, u64)>, left: bool| {
            let mut v: Vec<(f64, f64)> = vec![(0.0, if left { enis } else { 0.0 })];
            v.extend(c.into_iter().map(|(t, k)| {
                let k = k as f64;
                (t, if left { enis - k } else { k })
            }));
            thin(v)
        };
        let title = |what: &str| {
            format!(
                "{what}: {} nodes × {} subnets, budget {}, EC2 ×{}",
                o.nodes, o.subnets, o.budget, o.time_scale
            )
        };
        let charts = [
            (
                "rollout",
                Chart {
                    title: title("Rollout"),
                    x_label: "EC2 seconds since the NodeENI was created".into(),
                    y_label: "ENIAttachments Attached".into(),
                    series: vec![
                        series("measured", "#1f77b4", false, points(&self.rollout.curve)),
                        series(
                            "token-bucket floor",
                            "#555",
                            true,
                            floor_points(self.rollout_floor.curve(), false),
                        ),
                    ],
                },
            ),
            (
                "teardown",
                Chart {
                    title: title("Teardown"),
                    x_label: "EC2 seconds since the NodeENI was deleted".into(),
                    y_label: "ENIs left in EC2".into(),
                    series: vec![
                        series("measured", "#d62728", false, points(&self.teardown.curve)),
                        series(
                            "token-bucket floor",
                            "#555",
                            true,
                            floor_points(self.teardown_floor.curve(), true),
                        ),
                    ],
                },
            ),
        ];
        let mut files = Vec::new();
        for (what, chart) in charts {
            let path = dir.join(format!("{stem}-{what}.svg"));
            std::fs::write(&path, chart.svg())?;
            files.push(path);
        }
        Ok(files)
    }
}

/// At most [`PLOT_POINTS`] points, evenly picked, the first and last kept: the plots stay a
/// few kilobytes.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= PLOT_POINTS {
        return points;
    }
    let mut out: Vec<(f64, f64)> = (0..PLOT_POINTS - 1)
        .map(|i| points[i * (n - 1) / (PLOT_POINTS - 1)])
        .collect();
    out.push(points[n - 1]);
    out
}

/// Points per plotted line.
const PLOT_POINTS: usize = 400;

fn series(label: &str, colour: &'static str, dashed: bool, points: Vec<(f64, f64)>) -> Series {
    Series {
        label: label.into(),
        colour,
        dashed,
        points,
    }
}
