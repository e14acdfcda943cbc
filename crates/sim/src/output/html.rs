//! report.html: one self-contained page (inline CSS and SVG, one inline script, no network
//! fetch) with the summary, the causal chain, the sampled series and the events. Every string
//! that reaches the page (scenario, variant, expectation, metric, totals key, event kind,
//! object, message) passes through [`esc`], and a Content-Security-Policy meta tag forbids
//! anything the page does not itself contain: its one script runs because the policy names
//! that script's SHA-256, so a name such as `<img src=x onerror=alert(1)>` is shown, never run.

mod charts;
mod compare;
mod events;

use super::{LogEvent, Metrics, Summary};
use charts::series;
pub use compare::{compare_html, ComparedRun};
use events::{events, events_link, timeline, EventRows};
use std::fmt::Write as _;

/// report.html's Content-Security-Policy: it loads nothing (`default-src 'none'`), runs only
/// [`EVENTS_SCRIPT`] (allowed by its SHA-256, never `'unsafe-inline'`; a unit test recomputes
/// the hash), and allows only its own `<style>` element (charts are inline SVG, not images).
pub const REPORT_CSP: &str = "default-src 'none'; script-src 'sha256-1kdNYuAaoBSqyEsNA5pQN5Ia0fNM9JwBv8DgziTHFQM='; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// compare.html's Content-Security-Policy: no script at all.
pub const COMPARE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// At most about this many events are listed in the page's events table (a big run logs
/// millions, which a browser cannot show). The budget is shared fairly among the kinds in each
/// of [`REPORT_EVENT_SLICES`] time slices, so a late or rare kind is never crowded out by an
/// early flood; every cut is a row in place saying how many events of that kind in that slice
/// are left out, and events.jsonl has them all.
pub const REPORT_EVENT_ROWS: usize = 2000;

/// The run's length is cut into this many equal time slices for [`REPORT_EVENT_ROWS`]'s fair
/// share, so any time window the events view is filtered to lists events of each kind it has.
pub const REPORT_EVENT_SLICES: usize = 60;

/// The events view's filters (kind, object, time) and their URL fragment
/// (`#events?kind=NodeNotReady&object=node-3&from=10m&to=20m`). It only hides and shows rows
/// the page already holds, so with scripts off the page shows every listed row and its
/// notices; the filter form stays `hidden` until the script runs. Times are T+ forms
/// (`90s`, `10m`, `1h05m`, `T+10m30s`, or plain seconds). No `</` may appear in it (the HTML
/// parser would end the element there); the CSP names its SHA-256, which a unit test checks.
pub const EVENTS_SCRIPT: &str = r#"(function(){
var f=document.getElementById('ef'),tb=document.getElementById('et'),n=document.getElementById('en');
if(!f||!tb)return;
f.hidden=false;
function secs(s){s=(s||'').trim().replace(/^T[+ ]?/i,'');if(!s)return null;
var m=/^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(s);
if(!m||!(m[1]||m[2]||m[3]))return NaN;return (+m[1]||0)*3600+(+m[2]||0)*60+(+m[3]||0);}
function apply(){
var k=f.kind.value,o=f.object.value.trim().toLowerCase(),a=secs(f.from.value),b=secs(f.to.value),bad=[];
if(a!==null&&isNaN(a)){bad.push('from');a=null;}if(b!==null&&isNaN(b)){bad.push('to');b=null;}
var rows=tb.tBodies[0].rows,shown=0,listed=0,cut=0,i;
for(i=0;i<rows.length;i++){var r=rows[i],c=r.classList.contains('cut'),rk=c?r.getAttribute('data-k'):r.cells[1].textContent,
t0=+r.getAttribute('data-t'),t1=c?+r.getAttribute('data-u'):t0,
ok=(!k||rk===k)&&(a===null||t1>=a)&&(b===null||t0<=b)&&(c||!o||r.cells[2].textContent.toLowerCase().indexOf(o)>=0);
r.hidden=!ok;if(!c)listed++;if(ok){if(c)cut+=+r.getAttribute('data-n');else shown++;}}
var filtered=k||o||a!==null||b!==null;
n.textContent=(bad.length?'Not a time (T+ form such as 90s, 10m, 1h05m): '+bad.join(', ')+'; ignored. ':'')+
(filtered?shown+' of the '+listed+' listed events match the filter'+(cut?'; '+(o?'up to ':'')+cut+' more left out of this page in the matching kinds and slices (events.jsonl has them)':'')+'.':'No filter: all '+listed+' listed events shown.');
}
function fromHash(){var h=location.hash;if(h.indexOf('#events?')!==0)return false;
var p=new URLSearchParams(h.slice(8));f.kind.value=p.get('kind')||'';
if(f.kind.value!==(p.get('kind')||''))f.kind.value='';
f.object.value=p.get('object')||'';f.from.value=p.get('from')||'';f.to.value=p.get('to')||'';return true;}
function toHash(){var p=new URLSearchParams();
[['kind',f.kind.value],['object',f.object.value],['from',f.from.value],['to',f.to.value]].forEach(function(x){if(x[1])p.set(x[0],x[1]);});
try{history.replaceState(null,'','#events?'+p.toString());}catch(e){}}
f.addEventListener('input',function(){apply();toHash();});
f.addEventListener('submit',function(e){e.preventDefault();});
f.addEventListener('reset',function(){setTimeout(function(){apply();toHash();},0);});
window.addEventListener('hashchange',function(){if(fromHash()){apply();document.getElementById('events').scrollIntoView();}});
var go=fromHash();apply();if(go)document.getElementById('events').scrollIntoView();
})();"#;

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

/// What report.html shows beside the run's figures: the scenario's own words and its timeline.
/// Plain data, so a page can be rendered without a scenario (tests use the default).
#[derive(Clone, Debug, Default)]
pub struct ReportContext {
    /// `spec.description`.
    pub description: Option<String>,
    /// The variant's `description`.
    pub variant_description: Option<String>,
    /// The changes and faults, in time order.
    pub marks: Vec<Mark>,
    /// The Unix time simulated time 0 stands for (`parameters.startTime`), for wall-clock
    /// labels under the time axis.
    pub start_unix: f64,
    /// The scenario's named systems, which the series panels are grouped by.
    pub systems: Systems,
}

/// The names a scenario gives its services, rings, remote_write fleets and clients: a series
/// whose first word is one of them belongs to that system's panel group (names are DNS-1123
/// labels, so they hold no `_`).
#[derive(Clone, Debug, Default)]
pub struct Systems {
    pub services: Vec<String>,
    pub rings: Vec<String>,
    pub fleets: Vec<String>,
    pub clients: Vec<String>,
}

impl Systems {
    /// The panel group of a series, and its rank in the page's order: cluster and scheduling,
    /// nodes, control plane, each service, each ring, each remote_write fleet, gossip,
    /// clients, then anything else under its first word.
    fn of(&self, column: &str) -> (u8, String) {
        let first = column.split('_').next().unwrap_or(column);
        let named = |names: &[String]| names.iter().any(|n| n == first);
        if column.starts_with("apiserver_") || column.starts_with("api_clients") {
            (2, "control plane".into())
        } else if first == "pods" || first == "scheduler" {
            (0, "cluster and scheduling".into())
        } else if first == "nodes" {
            (1, "nodes".into())
        } else if named(&self.services) {
            (3, format!("service {first}"))
        } else if named(&self.rings) {
            (4, format!("ring {first}"))
        } else if named(&self.fleets) {
            (5, format!("remote_write {first}"))
        } else if first == "gossip" || first == "phantom" {
            (6, "gossip".into())
        } else if named(&self.clients) {
            (7, "clients".into())
        } else {
            (8, first.to_string())
        }
    }
}

/// A change (an instant) or a fault (an interval) on the time axis.
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: f64,
    /// A fault's end (the run's end when it has no duration); `None` for a change.
    pub until: Option<f64>,
    pub text: String,
}

impl ReportContext {
    /// The context of a loaded scenario (its variant's changes and faults included).
    pub fn of(sc: &crate::scenario::Scenario, start_unix: f64) -> ReportContext {
        let end = sc.spec.duration.0;
        let mut marks: Vec<Mark> = sc
            .spec
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| Mark {
                at: c.at.0,
                until: None,
                text: format!(
                    "change: {}",
                    c.description
                        .clone()
                        .unwrap_or_else(|| format!("change {i}"))
                ),
            })
            .chain(sc.spec.faults.iter().map(|f| {
                let what = super::grafana::fault_text(&f.kind);
                Mark {
                    at: f.at.0,
                    until: Some(f.duration.map_or(end, |d| (f.at.0 + d.0).min(end))),
                    text: match &f.description {
                        Some(d) => format!("fault: {d} ({what})"),
                        None => format!("fault: {what}"),
                    },
                }
            }))
            .collect();
        marks.sort_by(|a, b| a.at.total_cmp(&b.at));
        let names = |v: &serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let systems = Systems {
            services: names(&sc.spec.services),
            rings: names(&sc.spec.rings),
            fleets: names(&sc.spec.remote_write),
            clients: names(&sc.spec.clients),
        };
        ReportContext {
            systems,
            description: sc.spec.description.clone(),
            variant_description: sc
                .variant
                .as_ref()
                .and_then(|v| sc.spec.variants.get(v))
                .map(|v| v.description.clone())
                .filter(|d| !d.is_empty()),
            marks,
            start_unix,
        }
    }
}

/// A number as people read it: thousands separated, fractions to three significant digits,
/// a ratio as a percentage (`69.2%`, not `0.691542288557214`).
pub fn readable(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if unit == "ratio" {
        return format!("{}%", trim(&format!("{:.1}", v * 100.0)));
    }
    let suffix = match unit {
        "seconds" => " s",
        "bytes" => " B",
        _ => "",
    };
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let d = format!("{}", whole(v));
        let mut o = String::new();
        for (i, c) in d.chars().enumerate() {
            if i > 0 && (d.len() - i) % 3 == 0 {
                o.push(',');
            }
            o.push(c);
        }
        return format!("{}{o}{suffix}", if v < 0.0 { "-" } else { "" });
    }
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        3
    };
    format!("{}{suffix}", trim(&format!("{v:.digits$}")))
}

/// A non-negative whole number of an f64 (rounded; `as` saturates, it never wraps).
#[allow(
    clippy::cast_possible_truncation,
    reason = "display only: figures and seconds far below 2^64, and `as` saturates"
)]
fn whole(v: f64) -> u64 {
    v.abs().round() as u64
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `T+1h05m` for a simulated instant.
fn t_plus(secs: f64) -> String {
    let s = whole(secs.max(0.0));
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("T+{sec}s"),
        (0, m, 0) => format!("T+{m}m"),
        (0, m, sec) => format!("T+{m}m{sec:02}s"),
        (h, m, _) => format!("T+{h}h{m:02}m"),
    }
}

/// `14:05` UTC for a Unix time.
fn wall(unix: f64) -> String {
    let s = whole(unix.rem_euclid(86_400.0).floor());
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// `2024-01-01 00:00` for a Unix time.
fn date_time(unix: f64) -> String {
    jiff::Timestamp::from_second(i64::try_from(whole(unix.floor())).unwrap_or(0))
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| wall(unix))
}

/// How far a value is from its bound (`>= 0.999`, `<= 0`), when the bound reads as one.
fn miss(value: f64, bound: &str, unit: &str) -> Option<String> {
    let (op, b) = bound.split_once(' ')?;
    let b: f64 = b.trim().parse().ok()?;
    match op {
        ">=" if value < b => Some(format!("short by {}", readable(b - value, unit))),
        "<=" if value > b => Some(format!("over by {}", readable(value - b, unit))),
        _ => None,
    }
}

/// report.html: one page with the verdict, the scenario's words, the causal chain (each step
/// linked to its events), a timeline of the changes, faults and the first event of each kind,
/// the series on one time axis grouped by system (changes, faults and expectation windows
/// marked), the totals and the events view (about [`REPORT_EVENT_ROWS`] rows shared fairly
/// among kinds and time slices, every cut stated in place, filters by [`EVENTS_SCRIPT`]).
pub fn report_html(s: &Summary, m: &Metrics, log: &[LogEvent], ctx: &ReportContext) -> String {
    let mut h = String::new();
    let tmax = s
        .simulated_seconds
        .max(log.last().map_or(0.0, |l| l.t.as_secs_f64()))
        .max(1.0);
    let ev = EventRows::select(log, tmax);
    let title = esc(&format!(
        "{}{}",
        s.scenario,
        s.variant
            .as_ref()
            .map(|v| format!(" / {v}"))
            .unwrap_or_default()
    ));
    let _ = write!(h, "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><title>cascade: {title}</title><style>{STYLE}</style></head><body>", esc(REPORT_CSP));
    let _ = write!(
        h,
        "<h1>{title}</h1><p>seed {} · {} simulated ({}) · {} events</p>",
        s.seed,
        t_plus(s.simulated_seconds).trim_start_matches("T+"),
        if ctx.start_unix != 0.0 {
            format!("from {} UTC", date_time(ctx.start_unix))
        } else {
            "from T+0".into()
        },
        readable(s.events_processed as f64, "")
    );
    banner(&mut h, s);
    for d in [&ctx.description, &ctx.variant_description]
        .into_iter()
        .flatten()
    {
        let _ = write!(h, "<p class=\"desc\">{}</p>", esc(d));
    }
    h.push_str("<h2>Expectations</h2><table><tr><th>expectation</th><th>metric</th><th>value</th><th>bound</th><th>window</th><th></th></tr>");
    for e in &s.expectations {
        // The window the expectation judged (summary.json's), and the pods it counted when
        // it has a selector: what the terminal's verdict and the JUnit case say too.
        let window = format!(
            "{} to {}",
            t_plus(e.after_seconds),
            t_plus(e.before_seconds)
        );
        let window = match &e.selector {
            Some(sel) => format!("{window}, pods {}", esc(sel)),
            None => window,
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{window}</td><td class=\"{}\">{}</td></tr>",
            esc(&e.name),
            esc(&e.metric),
            e.value,
            readable(e.value, if e.metric.starts_with("ratios.") { "ratio" } else { "" }),
            esc(&e.bound),
            if e.passed { "pass" } else { "fail" },
            if e.passed { "passed" } else { "FAILED" }
        );
    }
    h.push_str("</table>");
    causal_chain(&mut h, m, ctx, s.simulated_seconds, log, &ev);
    timeline(&mut h, log, ctx, &ev);
    h.push_str("<h2>Series</h2>");
    series(&mut h, s, m, ctx);
    h.push_str("<h2>Totals</h2><table>");
    for (k, v) in &s.totals {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(k),
            readable(*v as f64, "")
        );
    }
    h.push_str("</table>");
    events(&mut h, log, &ev);
    let _ = writeln!(h, "<script>{EVENTS_SCRIPT}</script></body></html>");
    h
}

/// The page's style. At a laptop's width (about 1366 px) the page is one 1100-px column and
/// long names wrap instead of widening it; in print the filter form goes, links read as text,
/// a table's header repeats on each page and no panel, chain step or row is split by a page
/// break.
const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}table{border-collapse:collapse;max-width:100%}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;overflow-wrap:anywhere}td.num{text-align:right}td.t{white-space:nowrap;overflow-wrap:normal}[hidden]{display:none!important}.fail{color:#b00}.pass{color:#070}.note{font-style:italic}.banner{padding:.6em 1em;border-radius:4px;font-weight:bold}.banner.fail{background:#fde8e8;border:1px solid #b00}.banner.pass{background:#e8f6e8;border:1px solid #070;color:#070}.banner ul{font-weight:normal;margin:.3em 0 0}.desc{max-width:80ch}svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#444}.panel{break-inside:avoid}.cap{margin:.8em 0 0;font-size:90%}.chain a.ev{font-size:90%;margin-left:.4em}.controls{position:sticky;top:0;background:#f4f4f4;padding:.4em .6em;margin:.5em 0;border:1px solid #ccc}.controls label{margin-right:.6em;white-space:nowrap}table.events{width:100%}tr.cut td{background:#fff6e0;font-style:italic}@media print{body{margin:0;max-width:none;font-size:10pt}.controls{display:none}a{color:inherit;text-decoration:none}*{print-color-adjust:exact;-webkit-print-color-adjust:exact}.banner{border-width:2px}.panel,.banner,li,tr{break-inside:avoid}h2,h3,.cap{break-after:avoid}thead{display:table-header-group}svg{width:100%}}";

/// The verdict first: which expectations failed, and by how much.
fn banner(h: &mut String, s: &Summary) {
    let failed: Vec<_> = s.expectations.iter().filter(|e| !e.passed).collect();
    let n = s.expectations.len();
    if s.truncated {
        let _ = write!(
            h,
            "<div class=\"banner fail\">NO VERDICT. Truncated: the run reached parameters.maxEvents after {:.0} simulated seconds; its figures cover that much only.</div>",
            s.simulated_seconds
        );
    } else if failed.is_empty() {
        let _ = write!(
            h,
            "<div class=\"banner pass\">PASS: {}</div>",
            if n == 0 {
                "the scenario sets no expectations".to_string()
            } else {
                format!("{n} of {n} expectations hold")
            }
        );
    } else {
        let _ = write!(
            h,
            "<div class=\"banner fail\">FAIL: {} of {n} expectations failed<ul>",
            failed.len()
        );
        for e in failed {
            let unit = if e.metric.starts_with("ratios.") {
                "ratio"
            } else {
                ""
            };
            let _ = write!(
                h,
                "<li>{}: {} = {}, want {}{}</li>",
                esc(&e.name),
                esc(&e.metric),
                readable(e.value, unit),
                esc(&e.bound),
                match &e.not_given {
                    Some(n) => format!(" (not judged: {})", esc(n)),
                    None => miss(e.value, &e.bound, unit)
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default(),
                }
            );
        }
        h.push_str("</ul></div>");
    }
}

/// The chain `chain::derive` reads from the series: trigger, effects in order, the point where
/// the failure outlived its trigger, recovery or not. Each step's time links to the first
/// listed event of its window (which works with scripts off) and an "events" link opens the
/// events view filtered to that window: a trigger's runs from its start to the first effect,
/// another step's from the sample before it to the sample after it.
fn causal_chain(
    h: &mut String,
    m: &Metrics,
    ctx: &ReportContext,
    end: f64,
    log: &[LogEvent],
    ev: &EventRows,
) {
    let c = super::chain::derive(m, &ctx.marks);
    h.push_str("<h2>Causal chain</h2>");
    if c.effects.is_empty() {
        h.push_str("<p class=\"note\">No health signal left its steady state.</p>");
        return;
    }
    let times: Vec<f64> = m.rows.iter().map(|(t, _)| t.as_secs_f64()).collect();
    let around = |at: f64| {
        (
            times.iter().rev().find(|t| **t < at).copied().unwrap_or(at),
            times.iter().find(|t| **t > at).copied().unwrap_or(at),
        )
    };
    // The step's time (linked to its window's first listed event) and a link to its window.
    let when = |at: f64, (from, to): (f64, f64)| {
        let (a, b) = (from.max(0.0).floor(), to.ceil());
        let n = log
            .iter()
            .filter(|l| (a..=b).contains(&l.t.as_secs_f64()))
            .count();
        let time = match ev.first_from(a).filter(|_| n > 0) {
            Some(r) => format!("<a href=\"#e{r}\">{}</a>", t_plus(at)),
            None => t_plus(at),
        };
        let link = format!(
            " <a class=\"ev\" href=\"{}\">{} events, {} to {}</a>",
            events_link(from, to),
            readable(n as f64, ""),
            t_plus(a),
            t_plus(b)
        );
        (time, link)
    };
    h.push_str("<p class=\"note\">Read from the series: the change or fault in force when the first health signal left its steady state (the last sample before the first change or fault), each signal as it left it for two samples or more, whether the failure outlived a fault that ended, and when every signal was back. Each step links to the events of its window: a trigger's from its start to the first effect, another step's between the samples either side of it.</p><ol class=\"chain\">");
    let first_effect = c.effects.first().map_or(end, |e| e.at);
    match &c.trigger {
        Some(t) => {
            let (time, link) = when(t.at, (t.at, first_effect.max(t.at)));
            let _ = write!(
                h,
                "<li><strong>Trigger</strong> {time}: {}{link}</li>",
                esc(&t.what)
            );
        }
        None => h.push_str("<li><strong>Trigger</strong>: none before the first effect (the run starts degraded)</li>"),
    }
    for e in &c.effects {
        let (time, link) = when(e.at, around(e.at));
        let _ = write!(h, "<li>{time}: {}{link}</li>", esc(&e.what));
    }
    if let Some(s) = &c.sustained {
        let (time, link) = when(s.at, around(s.at));
        let _ = write!(
            h,
            "<li class=\"fail\"><strong>Sustains itself</strong> {time}: {}{link}</li>",
            esc(&s.what)
        );
    }
    match &c.recovered {
        Some(r) => {
            let (time, link) = when(r.at, around(r.at));
            let _ = write!(
                h,
                "<li class=\"pass\"><strong>Recovered</strong> {time}: {}{link}</li>",
                esc(&r.what)
            );
        }
        None => {
            let last = c
                .sustained
                .as_ref()
                .map_or(0.0, |s| s.at)
                .max(c.effects.last().map_or(0.0, |e| e.at));
            let (time, link) = when(end, (last, end));
            let _ = write!(
                h,
                "<li class=\"fail\"><strong>Not recovered</strong> by the end ({time}){link}</li>"
            );
        }
    }
    h.push_str("</ol>");
}

#[cfg(test)]
mod tests;
