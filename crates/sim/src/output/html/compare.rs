//! compare.html: the runs of one scenario side by side.

use super::charts::{buckets, chart_frame, polyline_points, tick_step, BOTTOM, H, LEFT, PIXELS, W};
use super::*;
use std::fmt::Write as _;

/// One run on a comparison page.
pub struct ComparedRun<'a> {
    /// `base` or the variant's name.
    pub label: &'a str,
    pub summary: &'a Summary,
    pub metrics: &'a Metrics,
}

/// Line colours of the runs on a comparison page (a colour-blind-safe palette: Okabe and Ito).
pub(super) const RUN_COLOURS: &[&str] = &[
    "#000000", "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442",
];

/// compare.html: the runs of one scenario side by side (`cascade run --all-variants`): each
/// run's verdict, the expectations' values in a table, the totals that differ between runs,
/// and each series the runs share overlaid on one time axis, a colour per run.
pub fn compare_html(scenario: &str, runs: &[ComparedRun]) -> String {
    let mut h = String::new();
    let title = esc(scenario);
    let _ = write!(h, "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><title>cascade: {title}, its variants side by side</title><style>{STYLE}</style></head><body><h1>{title}: {} runs side by side</h1>", esc(COMPARE_CSP), runs.len());
    let colour = |k: usize| RUN_COLOURS[k % RUN_COLOURS.len()];
    h.push_str("<table><tr><th>run</th><th>verdict</th><th>simulated</th><th>events</th></tr>");
    for (k, r) in runs.iter().enumerate() {
        let failed = r.summary.expectations.iter().filter(|e| !e.passed).count();
        let verdict = if r.summary.truncated {
            "<span class=\"fail\">NO VERDICT (truncated)</span>".to_string()
        } else if failed == 0 {
            format!(
                "<span class=\"pass\">PASS</span> ({} expectations)",
                r.summary.expectations.len()
            )
        } else {
            format!(
                "<span class=\"fail\">FAIL</span> ({failed} of {} expectations)",
                r.summary.expectations.len()
            )
        };
        let _ = write!(
            h,
            "<tr><td><span style=\"color:{}\">■</span> <a href=\"{}/report.html\">{}</a></td><td>{verdict}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            colour(k),
            esc(r.label),
            esc(r.label),
            t_plus(r.summary.simulated_seconds).trim_start_matches("T+"),
            readable(r.summary.events_processed as f64, "")
        );
    }
    h.push_str("</table>");
    // Expectations: by name, a column per run.
    let mut names: Vec<(&str, &str)> = Vec::new();
    for r in runs {
        for e in &r.summary.expectations {
            if !names.iter().any(|(n, _)| *n == e.name) {
                names.push((&e.name, &e.metric));
            }
        }
    }
    let header: String = runs
        .iter()
        .map(|r| format!("<th>{}</th>", esc(r.label)))
        .collect();
    if !names.is_empty() {
        let _ = write!(
            h,
            "<h2>Expectations</h2><table><tr><th>expectation</th><th>metric</th>{header}</tr>"
        );
        for (name, metric) in &names {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(name), esc(metric));
            for r in runs {
                match r.summary.expectations.iter().find(|e| e.name == *name) {
                    Some(e) => {
                        let unit = if e.metric.starts_with("ratios.") {
                            "ratio"
                        } else {
                            ""
                        };
                        let _ = write!(
                            h,
                            "<td class=\"{}\">{} {}</td>",
                            if e.passed { "pass" } else { "fail" },
                            readable(e.value, unit),
                            if e.passed { "✓" } else { "✗" }
                        );
                    }
                    None => h.push_str("<td></td>"),
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    // Totals that differ between the runs.
    let mut keys: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.summary.totals.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let value = |r: &ComparedRun, k: &str| r.summary.totals.get(k).copied().unwrap_or(0);
    let differing: Vec<&str> = keys
        .into_iter()
        .filter(|k| runs.iter().any(|r| value(r, k) != value(&runs[0], k)))
        .collect();
    let _ = write!(
        h,
        "<h2>Totals that differ</h2><table><tr><th>total</th>{header}</tr>"
    );
    for k in &differing {
        let _ = write!(h, "<tr><td>{}</td>", esc(k));
        for r in runs {
            let _ = write!(
                h,
                "<td class=\"num\">{}</td>",
                readable(value(r, k) as f64, "")
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    // Series: those every run has, overlaid.
    let tmax = runs
        .iter()
        .map(|r| {
            r.summary
                .simulated_seconds
                .max(r.metrics.rows.last().map_or(0.0, |(t, _)| t.as_secs_f64()))
        })
        .fold(1.0, f64::max);
    let x = |t: f64| LEFT + W * t / tmax;
    let step = tick_step(tmax);
    h.push_str("<h2>Series</h2>");
    let Some(first) = runs.first() else {
        h.push_str("</body></html>\n");
        return h;
    };
    for c in &first.metrics.columns {
        let idx: Vec<Option<usize>> = runs
            .iter()
            .map(|r| r.metrics.columns.iter().position(|d| d == c))
            .collect();
        if idx.iter().any(Option::is_none) {
            continue;
        }
        let fam = crate::output::catalog::family(c);
        let max = runs
            .iter()
            .zip(&idx)
            .flat_map(|(r, i)| {
                r.metrics
                    .rows
                    .iter()
                    .map(move |(_, row)| row[i.unwrap_or(0)])
            })
            .fold(0.0f64, f64::max);
        let top = if max > 0.0 { max } else { 1.0 };
        let y = |v: f64| H - H * v / top;
        let _ = write!(
            h,
            "<div class=\"panel\"><p class=\"cap\"><strong>{}</strong> · max {} · {}</p><svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
            esc(c),
            readable(max, fam.unit),
            esc(&fam.help),
            LEFT + W + 40.0,
            H + BOTTOM,
            esc(c)
        );
        for (k, (r, i)) in runs.iter().zip(&idx).enumerate() {
            let i = i.unwrap_or(0);
            let pts = polyline_points(&buckets(r.metrics, i, tmax, PIXELS), tmax, x, y);
            let _ = write!(
                h,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-opacity=\"0.8\" points=\"{}\"><title>{}</title></polyline>",
                colour(k),
                pts,
                esc(r.label)
            );
        }
        chart_frame(&mut h, max, fam.unit);
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
            t += step;
        }
        h.push_str("</svg></div>");
    }
    h.push_str("</body></html>\n");
    h
}
