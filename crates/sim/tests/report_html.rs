//! report.html shows every string it is given escaped (metric columns, totals keys, event
//! objects and messages, names), carries its Content-Security-Policy, and says when it cuts
//! the events table.

use cascade_engine::Time;
use cascade_sim::output::{self, LogEvent, Metrics, REPORT_CSP, REPORT_EVENT_ROWS};
use cascade_sim::Summary;
use std::borrow::Cow;
use std::collections::BTreeMap;

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "<img src=x onerror=alert(1)>";

fn summary() -> Summary {
    Summary {
        scenario: SCRIPT.into(),
        variant: Some(IMG.into()),
        seed: 1,
        simulated_seconds: 60.0,
        events_processed: 0,
        wall_seconds: 0.0,
        totals: BTreeMap::from([(format!("{IMG}_total"), 3)]),
        peaks: BTreeMap::new(),
        ratios: BTreeMap::new(),
        expectations: Vec::new(),
        truncated: false,
        notes: Vec::new(),
    }
}

fn metrics() -> Metrics {
    let mut m = Metrics::default();
    for s in 0..3 {
        m.sample(
            Time::from_secs_f64(s as f64),
            vec![
                (Cow::Owned(format!("{SCRIPT}_qps")), s as f64),
                (Cow::Owned(format!("{IMG}\"'")), 1.0),
            ],
        );
    }
    m
}

fn log(n: usize) -> Vec<LogEvent> {
    (0..n)
        .map(|i| LogEvent {
            t: Time::from_secs_f64(i as f64),
            kind: if i % 2 == 0 { "Created" } else { "Killing" },
            object: format!("pod/default/{IMG}-{i}"),
            message: format!("{SCRIPT} \"{i}'"),
            pod: None,
        })
        .collect()
}

fn assert_escaped(page: &str) {
    for raw in ["<script", "<img", "\"'", "'\""] {
        assert!(!page.contains(raw), "{raw} written raw");
    }
    for escaped in [
        "<h1>&lt;script&gt;alert(1)&lt;/script&gt; / &lt;img src=x onerror=alert(1)&gt;</h1>",
        "<td>&lt;img src=x onerror=alert(1)&gt;_total</td><td class=\"num\">3</td>",
        "<p class=\"cap\"><strong>&lt;script&gt;alert(1)&lt;/script&gt;_qps</strong> · max 2 · ",
        "<p class=\"cap\"><strong>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;</strong> · max 1 · ",
        "<title>&lt;script&gt;alert(1)&lt;/script&gt;_qps, T+2s to T+3s: 2</title>",
        "<td>Killing</td><td>pod/default/&lt;img src=x onerror=alert(1)&gt;-1</td><td>&lt;script&gt;alert(1)&lt;/script&gt; &quot;1&#39;</td>",
    ] {
        assert!(page.contains(escaped), "{escaped} missing in {page}");
    }
    let csp = REPORT_CSP.replace('\'', "&#39;");
    assert!(page.contains(&format!(
        "<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
    )));
    assert!(REPORT_CSP.starts_with("default-src 'none';"));
}

#[test]
fn a_short_log_is_listed_whole_and_escaped() {
    let page = output::report_html(&summary(), &metrics(), &log(7), &Default::default());
    assert_escaped(&page);
    assert!(page.contains("Showing 3 of 3 events (Created and Started are left out; all 7 events are in events.jsonl)."));
    assert!(!page.contains("Table cut"));
    assert_eq!(page.matches("<td>Killing</td>").count(), 3);
    // The timeline names the first Killing, links to its row and counts the rest.
    assert!(
        page.contains("<a href=\"#e0\">Killing: pod/default/&lt;img src=x onerror=alert(1)&gt;-1 ")
    );
    assert!(page.contains(" · 3 in all</td>"));
}

#[test]
fn a_long_log_is_cut_with_a_notice() {
    let n = 2 * REPORT_EVENT_ROWS + 2 * 40;
    let page = output::report_html(&summary(), &metrics(), &log(n), &Default::default());
    assert_escaped(&page);
    let listed = REPORT_EVENT_ROWS + 40;
    assert!(page.contains(&format!("Showing the first {REPORT_EVENT_ROWS} of {listed} events (Created and Started are left out; all {n} events are in events.jsonl).")));
    assert!(page.contains(&format!(
        "Table cut at {REPORT_EVENT_ROWS} of {listed} events; the other 40 are in events.jsonl."
    )));
    assert_eq!(page.matches("<td>Killing</td>").count(), REPORT_EVENT_ROWS);
}
