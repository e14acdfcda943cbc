//! report.html: one self-contained page (inline CSS and SVG, no script, no network fetch)
//! with the summary, the sampled series and the events. Every string that reaches the page
//! (scenario, variant, expectation, metric, totals key, event kind, object, message) passes
//! through [`esc`], and a Content-Security-Policy meta tag forbids anything the page does not
//! itself contain, so a name such as `<img src=x onerror=alert(1)>` is shown, never run.

use super::{LogEvent, Metrics, Summary};
use std::fmt::Write as _;

/// The page's Content-Security-Policy: it loads nothing (`default-src 'none'`), runs no
/// script, and allows only its own `<style>` element (charts are inline SVG, not images).
pub const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// At most this many events are listed in the page's table (a big run logs millions, which a
/// browser cannot show); the page says so when it cuts, and events.jsonl has them all.
pub const REPORT_EVENT_ROWS: usize = 500;

/// Escapes text for an HTML element's content and for a quoted attribute value.
fn esc(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    for c in x.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// report.html: a self-contained page with the summary, the key series as SVG, and the
/// first [`REPORT_EVENT_ROWS`] events other than Created and Started.
pub fn report_html(s: &Summary, m: &Metrics, log: &[LogEvent]) -> String {
    let mut h = String::new();
    let title = esc(&format!(
        "{}{}",
        s.scenario,
        s.variant
            .as_ref()
            .map(|v| format!(" / {v}"))
            .unwrap_or_default()
    ));
    let _ = write!(h, "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><title>cascade: {title}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}.fail{{color:#b00}}.pass{{color:#070}}.note{{font-style:italic}}</style></head><body>", esc(REPORT_CSP));
    let _ = write!(
        h,
        "<h1>{title}</h1><p>seed {} · {:.0} simulated seconds · {} events</p>",
        s.seed, s.simulated_seconds, s.events_processed
    );
    if s.truncated {
        let _ = write!(
            h,
            "<p class=\"fail\">Truncated: the run reached parameters.maxEvents after {:.0} simulated seconds, so it has no verdict; its figures cover that much only.</p>",
            s.simulated_seconds
        );
    }
    h.push_str("<h2>Expectations</h2><table><tr><th>expectation</th><th>metric</th><th>value</th><th>bound</th><th></th></tr>");
    for e in &s.expectations {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&e.name),
            esc(&e.metric),
            e.value,
            esc(&e.bound),
            if e.passed { "pass" } else { "fail" },
            if e.passed { "passed" } else { "FAILED" }
        );
    }
    h.push_str("</table><h2>Totals</h2><table>");
    for (k, v) in &s.totals {
        let _ = write!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
    }
    h.push_str("</table><h2>Series</h2>");
    series(&mut h, m);
    events(&mut h, log);
    h.push_str("</body></html>\n");
    h
}

/// One 620-pixel polyline per metrics.csv column, scaled to its own maximum.
fn series(h: &mut String, m: &Metrics) {
    let tmax = m.rows.last().map_or(1.0, |(t, _)| t.as_secs_f64()).max(1.0);
    for (i, c) in m.columns.iter().enumerate() {
        let max = m
            .rows
            .iter()
            .map(|(_, r)| r[i])
            .fold(0.0f64, f64::max)
            .max(1.0);
        let pts: Vec<String> = m
            .rows
            .iter()
            .map(|(t, r)| {
                format!(
                    "{:.1},{:.1}",
                    600.0 * t.as_secs_f64() / tmax,
                    100.0 - 100.0 * r[i] / max
                )
            })
            .collect();
        let _ = write!(h, "<h3>{} (max {max})</h3><svg width=\"620\" height=\"110\" viewBox=\"-5 -5 615 110\"><polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"{}\"/></svg>", esc(c), pts.join(" "));
    }
}

/// The events table, without Created and Started (one per pod, they would drown the rest),
/// cut at [`REPORT_EVENT_ROWS`] with a notice saying how many are shown.
fn events(h: &mut String, log: &[LogEvent]) {
    let shown = |l: &&LogEvent| l.kind != "Created" && l.kind != "Started";
    let listed = log.iter().filter(shown).count();
    h.push_str("<h2>Events</h2>");
    let n = listed.min(REPORT_EVENT_ROWS);
    let _ = write!(
        h,
        "<p class=\"note\">{} {n} of {listed} events (Created and Started are left out; all {} events are in events.jsonl).</p>",
        if n < listed { "Showing the first" } else { "Showing" },
        log.len()
    );
    h.push_str("<table><tr><th>t (s)</th><th>kind</th><th>object</th><th>message</th></tr>");
    for l in log.iter().filter(shown).take(REPORT_EVENT_ROWS) {
        let _ = write!(
            h,
            "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.t.as_secs_f64(),
            esc(l.kind),
            esc(&l.object),
            esc(&l.message)
        );
    }
    h.push_str("</table>");
    if n < listed {
        let _ = write!(
            h,
            "<p class=\"note\">Table cut at {n} of {listed} events; the other {} are in events.jsonl.</p>",
            listed - n
        );
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<img src=x onerror='a("1")'>&"#),
            "&lt;img src=x onerror=&#39;a(&quot;1&quot;)&#39;&gt;&amp;"
        );
    }
}
