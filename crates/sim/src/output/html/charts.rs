//! report.html's charts: inline SVG series, one panel group per system, with faults shaded,
//! changes dashed and expectations' windows and bounds drawn.

use super::*;
use std::fmt::Write as _;

/// Chart geometry: the plot's width and height, and the margins for labels.
/// A chart's axes: the value axis on the left with its range (`max` in `unit`, down to 0),
/// the time axis below.
pub(super) fn chart_frame(h: &mut String, max: f64, unit: &str) {
    let _ = write!(
        h,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"0\" y2=\"{H}\" stroke=\"#999\"/><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{H}\" y2=\"{H}\" stroke=\"#999\"/><text x=\"{:.1}\" y=\"10\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{H}\" text-anchor=\"end\">0</text>",
        LEFT + W,
        LEFT - 4.0,
        readable(max, unit),
        LEFT - 4.0
    );
}

pub(super) const W: f64 = 900.0;
pub(super) const H: f64 = 90.0;
pub(super) const LEFT: f64 = 70.0;
pub(super) const BOTTOM: f64 = 30.0;
/// Pixel columns of a chart, each drawn from the samples that fall in it.
pub(super) const PIXELS: usize = 900;
/// Hover buckets per chart (an SVG `<title>` each: values on hover, with no script); divides
/// [`PIXELS`].
pub(super) const HOVER_BUCKETS: usize = 60;

/// The samples of one column that fall in one pixel column.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    pub(super) lo: f64,
    pub(super) hi: f64,
    /// Whether the lowest value came before the highest.
    pub(super) lo_first: bool,
    pub(super) last: f64,
}

/// Column `i`'s samples in `n` equal slices of `[0, tmax]`, in one pass.
pub(super) fn buckets(m: &Metrics, i: usize, tmax: f64, n: usize) -> Vec<Option<Bucket>> {
    let mut out: Vec<Option<Bucket>> = vec![None; n];
    let mut lo_at = vec![0.0f64; n];
    let mut hi_at = vec![0.0f64; n];
    for (t, r) in &m.rows {
        let t = t.as_secs_f64();
        let k = slice_index(t / tmax, n);
        let v = r[i];
        match &mut out[k] {
            None => {
                out[k] = Some(Bucket {
                    lo: v,
                    hi: v,
                    lo_first: true,
                    last: v,
                });
                lo_at[k] = t;
                hi_at[k] = t;
            }
            Some(b) => {
                if v < b.lo {
                    b.lo = v;
                    lo_at[k] = t;
                }
                if v > b.hi {
                    b.hi = v;
                    hi_at[k] = t;
                }
                b.last = v;
                b.lo_first = lo_at[k] <= hi_at[k];
            }
        }
    }
    out
}

/// A polyline's `points` for a series' pixel buckets: each column's lowest and highest value
/// in the order they happened (one point when they are equal), at the column's middle time.
pub(super) fn polyline_points(
    px: &[Option<Bucket>],
    tmax: f64,
    x: impl Fn(f64) -> f64,
    y: impl Fn(f64) -> f64,
) -> String {
    let mut pts: Vec<String> = Vec::with_capacity(2 * px.len());
    for (k, b) in px.iter().enumerate() {
        let Some(b) = b else { continue };
        let t = (k as f64 + 0.5) * tmax / PIXELS as f64;
        let (first, second) = if b.lo_first {
            (b.lo, b.hi)
        } else {
            (b.hi, b.lo)
        };
        pts.push(format!("{:.1},{:.1}", x(t), y(first)));
        if second != first {
            pts.push(format!("{:.1},{:.1}", x(t), y(second)));
        }
    }
    pts.join(" ")
}

/// Which of `n` slices a fraction in [0, 1] falls in (1 itself in the last).
#[allow(
    clippy::cast_possible_truncation,
    reason = "the fraction is clamped to [0, 1], so the product is within 0..=n"
)]
pub(super) fn slice_index(fraction: f64, n: usize) -> usize {
    ((fraction.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1)
}

/// A tick interval for an axis of `span` seconds: about eight ticks, at round minutes.
pub(super) fn tick_step(span: f64) -> f64 {
    [
        10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0,
        43200.0, 86400.0,
    ]
    .into_iter()
    .find(|s| span / s <= 8.0)
    .unwrap_or(86400.0)
}

/// The columns grouped by system ([`Systems::of`]), the groups in the page's order and the
/// columns in each in the metrics' order.
pub(super) fn panel_groups<S: AsRef<str>>(
    columns: &[S],
    systems: &Systems,
) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(u8, String, Vec<usize>)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let (rank, g) = systems.of(c.as_ref());
        match groups.iter_mut().find(|(_, k, _)| *k == g) {
            Some((_, _, v)) => v.push(i),
            None => groups.push((rank, g, vec![i])),
        }
    }
    groups.sort_by_key(|(rank, _, _)| *rank);
    groups.into_iter().map(|(_, g, v)| (g, v)).collect()
}

/// The series on one time axis, a panel group per system ([`panel_groups`]), each chart with its faults shaded, changes drawn as
/// dashed lines, and, for an expectation on `peaks.COLUMN`, its window shaded and its bound
/// drawn.
pub(super) fn series(h: &mut String, s: &Summary, m: &Metrics, ctx: &ReportContext) {
    let tmax = s
        .simulated_seconds
        .max(m.rows.last().map_or(0.0, |(t, _)| t.as_secs_f64()))
        .max(1.0);
    let x = |t: f64| LEFT + W * t / tmax;
    let groups = panel_groups(&m.columns, &ctx.systems);
    let step = tick_step(tmax);
    for (g, cols) in groups {
        let _ = write!(h, "<h3>{}</h3>", esc(&g));
        for i in cols {
            let c = &m.columns[i];
            let fam = crate::output::catalog::family(c);
            let max = m.rows.iter().map(|(_, r)| r[i]).fold(0.0f64, f64::max);
            let top = if max > 0.0 { max } else { 1.0 };
            let y = |v: f64| H - H * v / top;
            let _ = write!(
                h,
                "<div class=\"panel\"><p class=\"cap\"><strong>{}</strong> · max {} · {}</p>",
                esc(c),
                readable(max, fam.unit),
                esc(&fam.help)
            );
            let _ = write!(
                h,
                "<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\"><title>{}: {}</title>",
                LEFT + W + 40.0,
                H + BOTTOM + 10.0,
                esc(c),
                esc(c),
                esc(&fam.help)
            );
            // Faults shaded, changes dashed: the same marks on every chart.
            for mk in &ctx.marks {
                match mk.until {
                    Some(u) => {
                        let _ = write!(
                            h,
                            "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{H}\" fill=\"#f5c6c6\" fill-opacity=\"0.5\"><title>{} ({} to {})</title></rect>",
                            x(mk.at),
                            (x(u) - x(mk.at)).max(1.0),
                            esc(&mk.text),
                            t_plus(mk.at),
                            t_plus(u)
                        );
                    }
                    None => {
                        let _ = write!(
                            h,
                            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{H}\" stroke=\"#888\" stroke-dasharray=\"3,3\"><title>{1} ({2})</title></line>",
                            x(mk.at),
                            esc(&mk.text),
                            t_plus(mk.at)
                        );
                    }
                }
            }
            // An expectation on this column's peak, low or mean: its window and its bound.
            for e in &s.expectations {
                let column = ["peaks.", "lows.", "means."]
                    .iter()
                    .find_map(|f| e.metric.strip_prefix(f));
                if column != Some(c.as_ref()) {
                    continue;
                }
                let (a, b) = (e.after_seconds, e.before_seconds);
                let _ = write!(
                    h,
                    "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{H}\" fill=\"#c6d8f5\" fill-opacity=\"0.35\"><title>window of {}</title></rect>",
                    x(a),
                    (x(b) - x(a)).max(1.0),
                    esc(&e.name)
                );
                if let Some(bv) = e
                    .bound
                    .split_once(' ')
                    .and_then(|(_, v)| v.trim().parse::<f64>().ok())
                    .filter(|bv| *bv <= top)
                {
                    let _ = write!(
                        h,
                        "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{2:.1}\" y2=\"{2:.1}\" stroke=\"{3}\" stroke-width=\"1.5\"><title>{4}: {5}</title></line>",
                        x(a),
                        x(b),
                        y(bv),
                        if e.passed { "#070" } else { "#b00" },
                        esc(&e.name),
                        esc(&e.bound)
                    );
                }
            }
            // At most two points per pixel column (its lowest and highest value, in time
            // order), so a peak is never lost and a week-long run stays a small page.
            let px = buckets(m, i, tmax, PIXELS);
            let _ = write!(
                h,
                "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"{}\"/>",
                polyline_points(&px, tmax, x, y)
            );
            // Axes: the value's range on the left, time below (T+ and the wall clock).
            chart_frame(h, max, fam.unit);
            let mut t = 0.0;
            while t <= tmax + 1e-9 {
                let _ = write!(
                    h,
                    "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{H}\" y2=\"{1}\" stroke=\"#999\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
                    x(t),
                    H + 4.0,
                    H + 15.0,
                    t_plus(t)
                );
                if ctx.start_unix != 0.0 {
                    let _ = write!(
                        h,
                        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">{}</text>",
                        x(t),
                        H + 27.0,
                        wall(ctx.start_unix + t)
                    );
                }
                t += step;
            }
            // Hover: a transparent strip per bucket with the values in it.
            let per = PIXELS / HOVER_BUCKETS;
            for k in 0..HOVER_BUCKETS {
                let inside: Vec<&Bucket> = px[k * per..(k + 1) * per].iter().flatten().collect();
                let Some(last) = inside.last().map(|b| b.last) else {
                    continue;
                };
                let hi = inside.iter().map(|b| b.hi).fold(f64::MIN, f64::max);
                let lo = inside.iter().map(|b| b.lo).fold(f64::MAX, f64::min);
                let range = if hi == lo {
                    readable(last, fam.unit)
                } else {
                    format!(
                        "{} to {}, last {}",
                        readable(lo, fam.unit),
                        readable(hi, fam.unit),
                        readable(last, fam.unit)
                    )
                };
                let (a, b) = (
                    (k * per) as f64 * tmax / PIXELS as f64,
                    ((k + 1) * per) as f64 * tmax / PIXELS as f64,
                );
                let _ = write!(
                    h,
                    "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{H}\" fill=\"transparent\"><title>{}, {} to {}: {range}</title></rect>",
                    x(a),
                    x(b) - x(a),
                    esc(c),
                    t_plus(a),
                    t_plus(b)
                );
            }
            h.push_str("</svg></div>");
        }
    }
}
