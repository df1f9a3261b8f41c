//! A line chart as SVG text, by hand: a few series of (x, y) points on linear axes with
//! ticks, a title and a legend. Enough for the scale benchmark's convergence curves; no
//! plotting crate.

#![allow(dead_code)]

use std::fmt::Write as _;

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// CSS colour.
    pub colour: &'static str,
    /// Dashed (the floor) or solid (measured).
    pub dashed: bool,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const W: f64 = 760.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const TICKS: u32 = 5;

/// A round step for about `TICKS` ticks up to `max`.
fn step(max: f64) -> f64 {
    let raw = (max / f64::from(TICKS)).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

impl Chart {
    /// The SVG document.
    pub fn svg(&self) -> String {
        let all = || self.series.iter().flat_map(|s| s.points.iter());
        let x_max = all().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
        let y_max = all().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
        let (xs, ys) = (step(x_max), step(y_max));
        let (x_top, y_top) = ((x_max / xs).ceil() * xs, (y_max / ys).ceil() * ys);
        let px = |x: f64| LEFT + x / x_top * (W - LEFT - RIGHT);
        let py = |y: f64| H - BOTTOM - y / y_top * (H - TOP - BOTTOM);
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        self.axes(&mut out, (xs, x_top), (ys, y_top), &px, &py);
        for s in &self.series {
            let pts: Vec<String> = s
                .points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let dash = if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                s.colour,
                pts.join(" ")
            );
        }
        self.legend(&mut out);
        out.push_str("</svg>\n");
        out
    }

    fn axes(
        &self,
        out: &mut String,
        (xs, x_top): (f64, f64),
        (ys, y_top): (f64, f64),
        px: &dyn Fn(f64) -> f64,
        py: &dyn Fn(f64) -> f64,
    ) {
        let (x0, y0) = (px(0.0), py(0.0));
        let _ = writeln!(
            out,
            r#"<path d="M{x0},{} V{y0} H{}" stroke="black" fill="none"/>"#,
            py(y_top),
            px(x_top)
        );
        let mut x = 0.0;
        while x <= x_top + xs / 2.0 {
            let _ = writeln!(
                out,
                r##"<line x1="{0:.1}" y1="{y0}" x2="{0:.1}" y2="{1}" stroke="#ddd"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text>"##,
                px(x),
                py(y_top),
                y0 + 16.0,
                x
            );
            x += xs;
        }
        let mut y = 0.0;
        while y <= y_top + ys / 2.0 {
            let _ = writeln!(
                out,
                r##"<line x1="{x0}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
                py(y),
                px(x_top),
                x0 - 6.0,
                py(y) + 4.0,
                y
            );
            y += ys;
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            H - 14.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            out,
            r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
    }

    fn legend(&self, out: &mut String) {
        for (i, s) in self.series.iter().enumerate() {
            let y = TOP + 14.0 + 18.0 * i as f64;
            let dash = if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
                LEFT + 16.0,
                LEFT + 46.0,
                s.colour,
                LEFT + 52.0,
                y + 4.0,
                escape(&s.label)
            );
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
