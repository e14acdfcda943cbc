//! report.html shows every string it is given escaped (metric columns, totals keys, event
//! objects and messages, names), carries its Content-Security-Policy, shares the events
//! table's rows fairly among kinds and time slices, and counts every event it leaves out.

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
        averages: BTreeMap::new(),
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
    // The page's own script, once, at the end; any other `<script` came from a name.
    let own = format!("<script>{}</script></body></html>\n", output::EVENTS_SCRIPT);
    assert!(page.ends_with(&own));
    let page = &page[..page.len() - own.len()];
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
    assert!(page.contains("All 7 events of the run are listed (events.jsonl has them too)."));
    assert!(!page.contains("class=\"cut\""));
    assert_eq!(page.matches("<td>Killing</td>").count(), 3);
    assert_eq!(page.matches("<td>Created</td>").count(), 4);
    // The kind filter offers each kind with its count, escaped like everything else.
    assert!(page.contains("<option value=\"\">all kinds (7)</option><option value=\"Created\">Created (4)</option><option value=\"Killing\">Killing (3)</option>"));
    // The timeline names the first Killing, links to its row and counts the rest.
    assert!(
        page.contains("<a href=\"#e1\">Killing: pod/default/&lt;img src=x onerror=alert(1)&gt;-1 ")
    );
    assert!(page.contains(" · 3 in all</td>"));
    // The filter form waits for the script (so without scripts the page is the plain table).
    assert!(page.contains("<form id=\"ef\" class=\"controls\" hidden>"));
}

/// A flood of one kind early in the run (a rollout's pods) and a rare kind at its end (the
/// outage): the rare kind is listed at its time, never crowded out, and every event left out
/// is counted in a row in place, so listed plus cut is the whole log.
#[test]
fn a_long_log_is_cut_fairly_and_every_cut_is_counted() {
    let mut events: Vec<LogEvent> = (0..10_000)
        .map(|i| LogEvent {
            t: Time::from_secs_f64(i as f64 * 0.0001),
            kind: "Killing",
            object: format!("pod/default/{IMG}-{i}"),
            message: format!("{SCRIPT} \"{i}'"),
            pod: None,
        })
        .collect();
    for i in 0..3 {
        events.push(LogEvent {
            t: Time::from_secs_f64(59.0 + 0.25 * i as f64),
            kind: "NodeNotReady",
            object: format!("node/n-{i}"),
            message: "kubelet stopped posting node status".into(),
            pod: None,
        });
    }
    let page = output::report_html(&summary(), &metrics(), &events, &Default::default());
    assert_escaped(&page);
    let listed = page.matches("<tr id=\"e").count();
    assert!(listed <= REPORT_EVENT_ROWS, "{listed} rows");
    // The three late NodeNotReady are all listed, at their time.
    assert_eq!(page.matches("<td>NodeNotReady</td>").count(), 3);
    assert!(page.contains("<td>59.0</td><td>NodeNotReady</td><td>node/n-0</td>"));
    // The early flood: 10,000 Killing in the first second, all in the first of the 60
    // one-second slices, so one cut row says how many are left out.
    let killing = page.matches("<td>Killing</td>").count();
    assert_eq!(
        killing,
        REPORT_EVENT_ROWS - 3,
        "the budget goes to the kind that needs it"
    );
    let cut: Vec<&str> = page.split("<tr class=\"cut\"").skip(1).collect();
    assert_eq!(cut.len(), 1);
    let left_out = 10_000 - killing;
    let row = &cut[0][..cut[0].find("</tr>").unwrap()];
    assert_eq!(
        listed + left_out,
        events.len(),
        "listed plus counted is the whole log"
    );
    assert!(
        row.starts_with(" data-k=\"Killing\" data-t=\"0.199"),
        "{row}"
    );
    assert!(row.contains(&format!(" data-u=\"0.9999\" data-n=\"{left_out}\"><td colspan=\"4\">{} more Killing events from T+0s to T+1s are left out of this page; events.jsonl has them.</td>", output::readable(left_out as f64, ""))), "{row}");
    assert!(page.contains(&format!("{} of the run's 10,003 events are listed: in each of {SLICES} time slices of 1s the first {} of each kind; a row in place says how many more of that kind in that slice are left out ({} in all). events.jsonl has every event.", output::readable((killing + 3) as f64, ""), output::readable(killing as f64, ""), output::readable(left_out as f64, ""))));
    assert!(page.contains(&format!(
        "<option value=\"Killing\">Killing (10,000, {} listed)</option><option value=\"NodeNotReady\">NodeNotReady (3)</option>",
        output::readable(killing as f64, "")
    )));
}

const SLICES: usize = output::REPORT_EVENT_SLICES;
