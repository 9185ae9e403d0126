//! Plots as SVG text: error against set point, with the limit band and verdict-coloured
//! points.
//!
//! The SVG is inserted into the HTML report as-is, so every piece of text embedded here is
//! XML-escaped here. Coordinates are written with two decimals so the output is stable and
//! small.

use super::format::{push_escaped_xml, short, table};
use crate::analysis::Verdict;
use std::fmt::Write;

/// How a point is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PointKind {
    /// A passing outcome: a green circle.
    Pass,
    /// A failing outcome: a red diamond, told apart from PASS in black-and-white print too.
    Fail,
    /// An outcome that could not be decided: a purple square.
    Error,
}

impl From<Verdict> for PointKind {
    fn from(verdict: Verdict) -> PointKind {
        match verdict {
            Verdict::Pass => PointKind::Pass,
            Verdict::Fail => PointKind::Fail,
            Verdict::Error | Verdict::Aborted => PointKind::Error,
        }
    }
}

impl PointKind {
    fn colour(self) -> &'static str {
        match self {
            PointKind::Pass => "#1b7f3b",
            PointKind::Fail => "#c62828",
            PointKind::Error => "#7b1fa2",
        }
    }

    fn word(self) -> &'static str {
        match self {
            PointKind::Pass => "PASS",
            PointKind::Fail => "FAIL",
            PointKind::Error => "ERROR",
        }
    }
}

/// One outcome on an error plot.
#[derive(Clone, Debug)]
pub(crate) struct PlotPoint {
    /// The set point's target, or its index.
    pub x: f64,
    /// value − target.
    pub error: f64,
    /// low − target, when the limit has a lower bound.
    pub band_low: Option<f64>,
    /// high − target, when the limit has an upper bound.
    pub band_high: Option<f64>,
    /// How the point is drawn.
    pub kind: PointKind,
    /// The set point's label, for the point's tooltip.
    pub label: String,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 48.0;

/// Ticks at 1, 2 or 5 times a power of ten covering `[lo, hi]`, about `target` of them.
/// Returns the widened range and the ticks.
fn ticks(lo: f64, hi: f64, target: usize) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        // A single value: centre it in a range of ±10 % (or ±1 around zero).
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    if !raw.is_finite() || raw <= 0.0 {
        // A range too wide for f64 arithmetic: no ticks between the ends.
        return (lo, hi, vec![lo, hi]);
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    // Bounded: (hi - lo) / step is at most about `target`, plus the two ends.
    let count = ((last - first) as usize).min(100);
    let list = (0..=count).map(|i| (first + i as f64) * step).collect();
    (first * step, first * step + count as f64 * step, list)
}

struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, extra: &str, content: &str) {
    let _ = write!(
        out,
        r#"<text x="{x:.2}" y="{y:.2}" text-anchor="{anchor}"{extra}>"#
    );
    push_escaped_xml(out, content);
    out.push_str("</text>");
}

/// Draws error against set point as an SVG document; empty when there is no point.
///
/// `x_label`, `y_label` and `title` are escaped here.
pub(crate) fn error_plot(
    points: &[PlotPoint],
    x_label: &str,
    y_label: &str,
    title: &str,
) -> String {
    let points: Vec<&PlotPoint> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.error.is_finite())
        .collect();
    if points.is_empty() {
        return String::new();
    }
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    let (mut x_lo, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    // Zero is always on the y axis: the error is read against it.
    let (mut y_lo, mut y_hi) = (0.0f64, 0.0f64);
    for p in &points {
        x_lo = x_lo.min(p.x);
        x_hi = x_hi.max(p.x);
        for y in [Some(p.error), finite(p.band_low), finite(p.band_high)]
            .into_iter()
            .flatten()
        {
            y_lo = y_lo.min(y);
            y_hi = y_hi.max(y);
        }
    }
    // Leave room on the x axis so end points are not drawn on the frame.
    let x_pad = if x_hi > x_lo {
        (x_hi - x_lo) * 0.05
    } else {
        0.0
    };
    let (x_lo, x_hi, x_ticks) = ticks(x_lo - x_pad, x_hi + x_pad, 6);
    // And some room above and below, so the extreme point is not drawn on the frame.
    let y_pad = (y_hi - y_lo) * 0.05;
    let (y_lo, y_hi, y_ticks) = ticks(y_lo - y_pad, y_hi + y_pad, 5);
    let xs = Scale {
        lo: x_lo,
        hi: x_hi,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let ys = Scale {
        lo: y_lo,
        hi: y_hi,
        from: HEIGHT - BOTTOM,
        to: TOP,
    };
    let (top, bottom, left, right) = (TOP, HEIGHT - BOTTOM, LEFT, WIDTH - RIGHT);

    let mut out = String::with_capacity(2048 + points.len() * 320);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<title>");
    push_escaped_xml(&mut out, title);
    out.push_str("</title>");
    let _ = write!(
        out,
        r##"<rect x="{left:.2}" y="{top:.2}" width="{:.2}" height="{:.2}" fill="#ffffff" stroke="#444444"/>"##,
        right - left,
        bottom - top
    );
    // Grid lines and tick labels.
    for t in &x_ticks {
        let x = xs.at(*t);
        let _ = write!(
            out,
            r##"<line x1="{x:.2}" y1="{top:.2}" x2="{x:.2}" y2="{bottom:.2}" stroke="#e4e4e4"/>"##
        );
        text(&mut out, x, bottom + 14.0, "middle", "", &short(*t));
    }
    for t in &y_ticks {
        let y = ys.at(*t);
        let _ = write!(
            out,
            r##"<line x1="{left:.2}" y1="{y:.2}" x2="{right:.2}" y2="{y:.2}" stroke="#e4e4e4"/>"##
        );
        text(&mut out, left - 6.0, y + 4.0, "end", "", &short(*t));
    }
    let zero = ys.at(0.0);
    let _ = write!(
        out,
        r##"<line x1="{left:.2}" y1="{zero:.2}" x2="{right:.2}" y2="{zero:.2}" stroke="#444444" stroke-dasharray="4 3"/>"##
    );
    // The limit band at each point: low − target to high − target; an open side runs to the
    // edge of the plot.
    let half = ((right - left) / (points.len() as f64 * 3.0)).clamp(2.0, 10.0);
    for p in &points {
        if p.band_low.is_none() && p.band_high.is_none() {
            continue;
        }
        let x = xs.at(p.x);
        let y_top = finite(p.band_high).map_or(top, |v| ys.at(v));
        let y_bottom = finite(p.band_low).map_or(bottom, |v| ys.at(v));
        let _ = write!(
            out,
            r##"<rect class="band" x="{:.2}" y="{y_top:.2}" width="{:.2}" height="{:.2}" fill="#90caf9" fill-opacity="0.45" stroke="#1e88e5" stroke-width="0.8"/>"##,
            x - half,
            2.0 * half,
            (y_bottom - y_top).max(0.0)
        );
    }
    // The points, on top of the bands.
    for p in &points {
        let (x, y) = (xs.at(p.x), ys.at(p.error));
        open_mark(&mut out, p.kind, x, y);
        out.push_str("<title>");
        push_escaped_xml(&mut out, &p.label);
        let _ = write!(
            out,
            ": error {} ({})</title>",
            table(p.error),
            p.kind.word()
        );
        close_mark(&mut out, p.kind);
    }
    // Axis labels and legend.
    text(
        &mut out,
        (left + right) / 2.0,
        HEIGHT - 8.0,
        "middle",
        "",
        x_label,
    );
    let mid = (top + bottom) / 2.0;
    let rotate = format!(r#" transform="rotate(-90 14 {mid:.2})""#);
    text(&mut out, 14.0, mid, "middle", &rotate, y_label);
    legend(&mut out, right, &points);
    out.push_str("</svg>");
    out
}

/// Draws the mark of `kind` centred on (`x`, `y`), leaving the element open for a title.
fn open_mark(out: &mut String, kind: PointKind, x: f64, y: f64) {
    let colour = kind.colour();
    let _ = match kind {
        PointKind::Pass => write!(
            out,
            r#"<circle cx="{x:.2}" cy="{y:.2}" r="4" fill="{colour}">"#
        ),
        PointKind::Fail => write!(
            out,
            r#"<path d="M{x:.2} {:.2}L{:.2} {y:.2}L{x:.2} {:.2}L{:.2} {y:.2}Z" fill="{colour}">"#,
            y - 5.5,
            x + 5.5,
            y + 5.5,
            x - 5.5
        ),
        PointKind::Error => write!(
            out,
            r#"<rect x="{:.2}" y="{:.2}" width="8" height="8" fill="{colour}">"#,
            x - 4.0,
            y - 4.0
        ),
    };
}

fn close_mark(out: &mut String, kind: PointKind) {
    out.push_str(match kind {
        PointKind::Pass => "</circle>",
        PointKind::Fail => "</path>",
        PointKind::Error => "</rect>",
    });
}

fn legend(out: &mut String, right: f64, points: &[&PlotPoint]) {
    let kinds: Vec<PointKind> = [PointKind::Pass, PointKind::Fail, PointKind::Error]
        .into_iter()
        .filter(|k| points.iter().any(|p| p.kind == *k))
        .collect();
    let mut x = right;
    for kind in kinds.iter().rev() {
        x -= 18.0 + 7.0 * kind.word().len() as f64;
        open_mark(out, *kind, x + 5.0, 15.0);
        close_mark(out, *kind);
        text(out, x + 14.0, 19.0, "start", "", kind.word());
    }
    x -= 18.0 + 7.0 * "limit band".len() as f64;
    let _ = write!(
        out,
        r##"<rect x="{x:.2}" y="10" width="10" height="10" fill="#90caf9" fill-opacity="0.45" stroke="#1e88e5" stroke-width="0.8"/>"##
    );
    text(out, x + 14.0, 19.0, "start", "", "limit band");
}

/// One quantity of a waveform plot.
pub(crate) struct Trace<'a> {
    /// Axis label (`flow [L/min]`).
    pub label: String,
    /// One value per time.
    pub values: &'a [f64],
    /// Line colour.
    pub colour: &'static str,
}

/// The most points drawn per trace; longer waveforms keep each column's extremes, so a peak
/// is never smoothed away.
const MAX_TRACE_POINTS: usize = 1200;

/// Height of one panel of a waveform plot.
const PANEL: f64 = 140.0;

/// Gap between two panels.
const PANEL_GAP: f64 = 18.0;

/// Draws quantities against time as stacked panels sharing the time axis; empty when there
/// is no sample. `title` and the labels are escaped here.
pub(crate) fn waveform_plot(time_s: &[f64], traces: &[Trace<'_>], title: &str) -> String {
    let n = time_s.len();
    let traces: Vec<&Trace<'_>> = traces.iter().filter(|t| t.values.len() == n).collect();
    if n == 0 || traces.is_empty() {
        return String::new();
    }
    let t_hi = time_s
        .iter()
        .copied()
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let (t_lo, t_hi, t_ticks) = ticks(0.0, t_hi, 8);
    let xs = Scale {
        lo: t_lo,
        hi: t_hi,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let (left, right) = (LEFT, WIDTH - RIGHT);
    let height = TOP + traces.len() as f64 * (PANEL + PANEL_GAP) - PANEL_GAP + BOTTOM;
    let keep = kept_indices(traces.iter().map(|t| t.values), n);
    let mut out = String::with_capacity(4096 + traces.len() * keep.len() * 16);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot waveform" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<title>");
    push_escaped_xml(&mut out, title);
    out.push_str("</title>");
    for (i, trace) in traces.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + PANEL_GAP);
        let bottom = top + PANEL;
        let finite = trace.values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
        let pad = (hi - lo) * 0.05;
        let (y_lo, y_hi, y_ticks) = ticks(lo - pad, hi + pad, 4);
        let ys = Scale {
            lo: y_lo,
            hi: y_hi,
            from: bottom,
            to: top,
        };
        let _ = write!(
            out,
            r##"<rect x="{left:.2}" y="{top:.2}" width="{:.2}" height="{PANEL:.2}" fill="#ffffff" stroke="#444444"/>"##,
            right - left
        );
        for t in &t_ticks {
            let x = xs.at(*t);
            let _ = write!(
                out,
                r##"<line x1="{x:.2}" y1="{top:.2}" x2="{x:.2}" y2="{bottom:.2}" stroke="#e4e4e4"/>"##
            );
        }
        for t in &y_ticks {
            let y = ys.at(*t);
            let _ = write!(
                out,
                r##"<line x1="{left:.2}" y1="{y:.2}" x2="{right:.2}" y2="{y:.2}" stroke="#e4e4e4"/>"##
            );
            text(&mut out, left - 6.0, y + 4.0, "end", "", &short(*t));
        }
        if y_lo < 0.0 && y_hi > 0.0 {
            let zero = ys.at(0.0);
            let _ = write!(
                out,
                r##"<line x1="{left:.2}" y1="{zero:.2}" x2="{right:.2}" y2="{zero:.2}" stroke="#444444" stroke-dasharray="4 3"/>"##
            );
        }
        let _ = write!(
            out,
            r#"<polyline class="trace" fill="none" stroke="{}" stroke-width="1.2" points=""#,
            trace.colour
        );
        for (k, &j) in keep.iter().enumerate() {
            let (t, v) = (time_s[j], trace.values[j]);
            if !(t.is_finite() && v.is_finite()) {
                continue;
            }
            if k > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{:.2},{:.2}", xs.at(t), ys.at(v));
        }
        out.push_str(r#""/>"#);
        let mid = (top + bottom) / 2.0;
        let rotate = format!(r#" transform="rotate(-90 14 {mid:.2})""#);
        text(&mut out, 14.0, mid, "middle", &rotate, &trace.label);
    }
    let bottom = height - BOTTOM;
    for t in &t_ticks {
        text(&mut out, xs.at(*t), bottom + 14.0, "middle", "", &short(*t));
    }
    text(
        &mut out,
        (left + right) / 2.0,
        height - 8.0,
        "middle",
        "",
        "time [s]",
    );
    text(&mut out, left, TOP - 10.0, "start", "", title);
    out.push_str("</svg>");
    out
}

/// The sample indices drawn: all of them for a short waveform; otherwise, per column, the
/// first sample and each trace's extremes, in time order.
fn kept_indices<'a>(traces: impl Iterator<Item = &'a [f64]> + Clone, n: usize) -> Vec<usize> {
    if n <= MAX_TRACE_POINTS {
        return (0..n).collect();
    }
    let columns = MAX_TRACE_POINTS / 4;
    let mut keep = Vec::with_capacity(MAX_TRACE_POINTS);
    for c in 0..columns {
        let (start, end) = (c * n / columns, ((c + 1) * n / columns).min(n));
        if start >= end {
            continue;
        }
        let mut picked = vec![start];
        for values in traces.clone() {
            let slice = &values[start..end];
            let arg = |better: fn(f64, f64) -> bool| {
                (0..slice.len()).fold(0, |b, i| if better(slice[i], slice[b]) { i } else { b })
            };
            picked.push(start + arg(|a, b| a < b));
            picked.push(start + arg(|a, b| a > b));
        }
        picked.sort_unstable();
        picked.dedup();
        keep.extend(picked);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, error: f64, kind: PointKind, label: &str) -> PlotPoint {
        PlotPoint {
            x,
            error,
            band_low: Some(-5.0),
            band_high: Some(5.0),
            kind,
            label: label.into(),
        }
    }

    #[test]
    fn ticks_are_round_numbers_covering_the_range() {
        let (lo, hi, t) = ticks(3.2, 47.0, 5);
        assert!(lo <= 3.2 && hi >= 47.0);
        assert_eq!(t.first().copied(), Some(0.0));
        assert!(t.iter().all(|v| (v / 10.0).fract() == 0.0), "{t:?}");
    }

    #[test]
    fn a_single_value_gets_a_range() {
        let (lo, hi, t) = ticks(500.0, 500.0, 5);
        assert!(lo < 500.0 && hi > 500.0 && t.len() >= 2);
    }

    #[test]
    fn no_points_no_plot() {
        assert_eq!(error_plot(&[], "x", "y", "t"), "");
    }

    #[test]
    fn text_in_the_plot_is_escaped() {
        let svg = error_plot(
            &[point(
                1.0,
                2.0,
                PointKind::Fail,
                "<script>alert(1)</script>",
            )],
            "target (<b>)",
            "error & more",
            "t",
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("error &amp; more"));
    }

    #[test]
    fn each_verdict_has_its_own_mark() {
        let svg = error_plot(
            &[
                point(1.0, 0.0, PointKind::Pass, "a"),
                point(2.0, 9.0, PointKind::Fail, "b"),
            ],
            "x",
            "y",
            "t",
        );
        assert!(svg.contains("<circle"));
        assert!(svg.contains("<path"));
        assert!(svg.contains(r#"class="band""#));
    }

    #[test]
    fn open_limits_and_huge_values_stay_bounded() {
        let mut p = point(0.0, 1e300, PointKind::Fail, "x");
        p.band_low = None;
        let svg = error_plot(&[p], "x", "y", "t");
        assert!(svg.len() < 20_000);
    }

    #[test]
    fn waveform_plots_stack_one_panel_per_quantity_and_keep_peaks() {
        let n = 5000;
        let time: Vec<f64> = (0..n).map(|i| i as f64 * 0.005).collect();
        let mut flow: Vec<f64> = (0..n)
            .map(|i| if i % 800 < 200 { 30.0 } else { -5.0 })
            .collect();
        flow[4321] = 99.0;
        let pressure = vec![5.0; n];
        let traces = [
            Trace {
                label: "flow [L/min] <&>".into(),
                values: &flow,
                colour: "#1565c0",
            },
            Trace {
                label: "pressure [mbar]".into(),
                values: &pressure,
                colour: "#c62828",
            },
        ];
        let svg = waveform_plot(&time, &traces, "w1 at row 1");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("flow [L/min] &lt;&amp;&gt;"));
        assert!(svg.contains("time [s]"));
        let first = svg.split("points=\"").nth(1).unwrap_or_default();
        let points = first
            .split('"')
            .next()
            .unwrap_or_default()
            .split(' ')
            .count();
        assert!(points <= MAX_TRACE_POINTS, "{points}");
        // The lone peak survives decimation: its column's highest point is drawn.
        let tops: Vec<f64> = first
            .split('"')
            .next()
            .unwrap_or_default()
            .split(' ')
            .filter_map(|p| p.split(',').nth(1)?.parse().ok())
            .collect();
        let mut levels: Vec<String> = tops.iter().map(|y| format!("{y:.2}")).collect();
        levels.sort();
        levels.dedup();
        assert_eq!(levels.len(), 3, "99, 30 and -5 L/min: {levels:?}");
        assert_eq!(waveform_plot(&[], &traces, "empty"), "");
    }
}
