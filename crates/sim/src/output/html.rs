//! report.html: one self-contained page (inline CSS and SVG, one inline script, no network
//! fetch) with the summary, the causal chain, the sampled series and the events. Every string
//! that reaches the page (scenario, variant, expectation, metric, totals key, event kind,
//! object, message) passes through [`esc`], and a Content-Security-Policy meta tag forbids
//! anything the page does not itself contain: its one script runs because the policy names
//! that script's SHA-256, so a name such as `<img src=x onerror=alert(1)>` is shown, never run.

use super::{LogEvent, Metrics, Summary};
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
                miss(e.value, &e.bound, unit)
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
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

/// Event kinds too routine to be a step of a story (one per pod or node as the cluster
/// starts).
const ROUTINE: &[&str] = &[
    "Created",
    "Started",
    "Scheduled",
    "WorkloadCreated",
    "NodeAdded",
];

/// The changes and faults, with the first event of each other kind, in time order: what
/// happened first, then what followed. Each first event links to its row in the events view
/// (the first of each kind is always listed).
fn timeline(h: &mut String, log: &[LogEvent], ctx: &ReportContext, ev: &EventRows) {
    let mut first: Vec<(f64, String, Option<usize>)> = Vec::new();
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for l in log {
        if ROUTINE.contains(&l.kind) {
            continue;
        }
        match seen.iter_mut().find(|(k, _)| *k == l.kind) {
            Some((_, n)) => *n += 1,
            None => {
                let row = ev.first_of(l.kind);
                first.push((
                    l.t.as_secs_f64(),
                    format!("{}: {} ({})", l.kind, l.object, l.message),
                    row,
                ));
                seen.push((l.kind, 1));
            }
        }
    }
    if ctx.marks.is_empty() && first.is_empty() {
        return;
    }
    h.push_str("<h2>Timeline</h2><p class=\"note\">The scenario's changes and faults, and the first event of each kind (with how many followed).</p><table><tr><th>time</th><th>what</th></tr>");
    let mut rows: Vec<(f64, String)> = ctx
        .marks
        .iter()
        .map(|m| {
            let until = m
                .until
                .map(|u| format!(" until {}", t_plus(u)))
                .unwrap_or_default();
            (m.at, format!("<strong>{}</strong>{until}", esc(&m.text)))
        })
        .collect();
    for (i, (t, text, row)) in first.iter().enumerate() {
        let count = seen[i].1;
        let body = esc(text);
        let body = match row {
            Some(r) => format!("<a href=\"#e{r}\">{body}</a>"),
            None => body,
        };
        rows.push((
            *t,
            format!("{body} · {} in all", readable(count as f64, "")),
        ));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, what) in rows {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td>{what}</td></tr>",
            t_plus(t)
        );
    }
    h.push_str("</table>");
}

/// Chart geometry: the plot's width and height, and the margins for labels.
/// A chart's axes: the value axis on the left with its range (`max` in `unit`, down to 0),
/// the time axis below.
fn chart_frame(h: &mut String, max: f64, unit: &str) {
    let _ = write!(
        h,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"0\" y2=\"{H}\" stroke=\"#999\"/><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{H}\" y2=\"{H}\" stroke=\"#999\"/><text x=\"{:.1}\" y=\"10\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{H}\" text-anchor=\"end\">0</text>",
        LEFT + W,
        LEFT - 4.0,
        readable(max, unit),
        LEFT - 4.0
    );
}

const W: f64 = 900.0;
const H: f64 = 90.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 30.0;
/// Pixel columns of a chart, each drawn from the samples that fall in it.
const PIXELS: usize = 900;
/// Hover buckets per chart (an SVG `<title>` each: values on hover, with no script); divides
/// [`PIXELS`].
const HOVER_BUCKETS: usize = 60;

/// The samples of one column that fall in one pixel column.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    lo: f64,
    hi: f64,
    /// Whether the lowest value came before the highest.
    lo_first: bool,
    last: f64,
}

/// Column `i`'s samples in `n` equal slices of `[0, tmax]`, in one pass.
fn buckets(m: &Metrics, i: usize, tmax: f64, n: usize) -> Vec<Option<Bucket>> {
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

/// Which of `n` slices a fraction in [0, 1] falls in (1 itself in the last).
#[allow(
    clippy::cast_possible_truncation,
    reason = "the fraction is clamped to [0, 1], so the product is within 0..=n"
)]
fn slice_index(fraction: f64, n: usize) -> usize {
    ((fraction.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1)
}

/// A tick interval for an axis of `span` seconds: about eight ticks, at round minutes.
fn tick_step(span: f64) -> f64 {
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
fn panel_groups<S: AsRef<str>>(columns: &[S], systems: &Systems) -> Vec<(String, Vec<usize>)> {
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
fn series(h: &mut String, s: &Summary, m: &Metrics, ctx: &ReportContext) {
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
            let fam = super::catalog::family(c);
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
            let _ = write!(
                h,
                "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"{}\"/>",
                pts.join(" ")
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

/// One run on a comparison page.
pub struct ComparedRun<'a> {
    /// `base` or the variant's name.
    pub label: &'a str,
    pub summary: &'a Summary,
    pub metrics: &'a Metrics,
}

/// Line colours of the runs on a comparison page (a colour-blind-safe palette: Okabe and Ito).
const RUN_COLOURS: &[&str] = &[
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
        let fam = super::catalog::family(c);
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
            let mut pts: Vec<String> = Vec::new();
            for (p, b) in buckets(r.metrics, i, tmax, PIXELS).iter().enumerate() {
                let Some(b) = b else { continue };
                let t = (p as f64 + 0.5) * tmax / PIXELS as f64;
                let (one, two) = if b.lo_first {
                    (b.lo, b.hi)
                } else {
                    (b.hi, b.lo)
                };
                pts.push(format!("{:.1},{:.1}", x(t), y(one)));
                if two != one {
                    pts.push(format!("{:.1},{:.1}", x(t), y(two)));
                }
            }
            let _ = write!(
                h,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-opacity=\"0.8\" points=\"{}\"><title>{}</title></polyline>",
                colour(k),
                pts.join(" "),
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

/// The rows the events view lists: for each event kind in each of [`REPORT_EVENT_SLICES`]
/// time slices, its first `quota` events, where `quota` is the largest number that keeps the
/// list within [`REPORT_EVENT_ROWS`] (at least one per kind and slice). The rest of a kind in
/// a slice is one [`Listed::Cut`] row in place, with its count and time span.
struct EventRows<'a> {
    rows: Vec<Listed<'a>>,
    /// Each kind with its count in the whole log and how many of them are listed, by name.
    kinds: Vec<(&'static str, usize, usize)>,
    /// Events listed (cut rows not counted).
    listed: usize,
    /// Events per kind and slice at most.
    quota: usize,
    /// The length of a slice, in simulated seconds.
    slice: f64,
}

enum Listed<'a> {
    /// An event, with its row number (`id="e{n}"`).
    Event(usize, &'a LogEvent),
    /// `n` events of `kind` left out, from `from` to `to`.
    Cut {
        kind: &'static str,
        n: usize,
        from: f64,
        to: f64,
    },
}

impl<'a> EventRows<'a> {
    fn select(log: &'a [LogEvent], tmax: f64) -> EventRows<'a> {
        let slice = tmax.max(1.0) / REPORT_EVENT_SLICES as f64;
        let cell_of =
            |l: &LogEvent| slice_index(l.t.as_secs_f64() / tmax.max(1.0), REPORT_EVENT_SLICES);
        // Per (kind, slice): how many, and when the last one was.
        let mut cells: std::collections::BTreeMap<(&'static str, usize), (usize, f64)> =
            std::collections::BTreeMap::new();
        for l in log {
            let c = cells.entry((l.kind, cell_of(l))).or_insert((0, 0.0));
            c.0 += 1;
            c.1 = l.t.as_secs_f64();
        }
        let rows_at = |q: usize| cells.values().map(|(n, _)| (*n).min(q)).sum::<usize>();
        let most = cells.values().map(|(n, _)| *n).max().unwrap_or(0);
        // The largest quota within the budget (rows_at grows with q): a binary search.
        let (mut lo, mut hi) = (1, most.max(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if rows_at(mid) <= REPORT_EVENT_ROWS {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let quota = lo;
        let mut seen: std::collections::BTreeMap<(&'static str, usize), usize> =
            std::collections::BTreeMap::new();
        let mut rows = Vec::new();
        let mut kinds: Vec<(&'static str, usize, usize)> = Vec::new();
        let mut listed = 0;
        for l in log {
            let key = (l.kind, cell_of(l));
            let k = seen.entry(key).or_insert(0);
            *k += 1;
            let kind = match kinds.iter_mut().find(|(n, ..)| *n == l.kind) {
                Some(kind) => kind,
                None => {
                    kinds.push((l.kind, 0, 0));
                    kinds.last_mut().expect("just pushed")
                }
            };
            kind.1 += 1;
            if *k <= quota {
                kind.2 += 1;
                rows.push(Listed::Event(listed, l));
                listed += 1;
            } else if *k == quota + 1 {
                let (n, last) = cells[&key];
                rows.push(Listed::Cut {
                    kind: l.kind,
                    n: n - quota,
                    from: l.t.as_secs_f64(),
                    to: last,
                });
            }
        }
        kinds.sort_by(|a, b| a.0.cmp(b.0));
        EventRows {
            rows,
            kinds,
            listed,
            quota,
            slice,
        }
    }

    /// The row of the first listed event of `kind`, if any.
    fn first_of(&self, kind: &str) -> Option<usize> {
        self.rows.iter().find_map(|r| match r {
            Listed::Event(i, l) if l.kind == kind => Some(*i),
            _ => None,
        })
    }

    /// The row of the first listed event at or after `t`, if any.
    fn first_from(&self, t: f64) -> Option<usize> {
        self.rows.iter().find_map(|r| match r {
            Listed::Event(i, l) if l.t.as_secs_f64() >= t => Some(*i),
            _ => None,
        })
    }
}

/// A simulated instant as the events view's fragment reads it (`90s`, `10m`, `1h05m30s`):
/// whole seconds, rounded down for a window's start and up for its end.
fn fragment_time(secs: f64, up: bool) -> String {
    let s = secs.max(0.0);
    let s = whole(if up { s.ceil() } else { s.floor() });
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// A link into the events view filtered to `[from, to]` (the fragment the page's script reads).
fn events_link(from: f64, to: f64) -> String {
    format!(
        "#events?from={}&amp;to={}",
        fragment_time(from, false),
        fragment_time(to, true)
    )
}

/// The events view: a filter form (kind with counts, object, time; shown by the page's
/// script, `hidden` without it) over a table of the listed events, every cut a row in place.
fn events(h: &mut String, log: &[LogEvent], ev: &EventRows) {
    h.push_str("<h2 id=\"events\">Events</h2>");
    let total = log.len();
    if ev.listed == total {
        let _ = write!(
            h,
            "<p class=\"note\">All {} events of the run are listed (events.jsonl has them too).</p>",
            readable(total as f64, "")
        );
    } else {
        let _ = write!(
            h,
            "<p class=\"note\">{} of the run's {} events are listed: in each of {REPORT_EVENT_SLICES} time slices of {} the first {} of each kind; a row in place says how many more of that kind in that slice are left out ({} in all). events.jsonl has every event.</p>",
            readable(ev.listed as f64, ""),
            readable(total as f64, ""),
            t_plus(ev.slice).trim_start_matches("T+"),
            readable(ev.quota as f64, ""),
            readable((total - ev.listed) as f64, "")
        );
    }
    let _ = write!(
        h,
        "<form id=\"ef\" class=\"controls\" hidden><label>kind <select name=\"kind\"><option value=\"\">all kinds ({})</option>",
        readable(total as f64, "")
    );
    for (k, n, listed) in &ev.kinds {
        let _ = write!(
            h,
            "<option value=\"{0}\">{0} ({1}{2})</option>",
            esc(k),
            readable(*n as f64, ""),
            if listed == n {
                String::new()
            } else {
                format!(", {} listed", readable(*listed as f64, ""))
            }
        );
    }
    h.push_str("</select></label> <label>object <input name=\"object\" type=\"search\" placeholder=\"part of a name\" size=\"18\"></label> <label>from <input name=\"from\" placeholder=\"T+10m\" size=\"7\"></label> <label>to <input name=\"to\" placeholder=\"T+20m\" size=\"7\"></label> <button type=\"reset\">clear</button></form><p class=\"note\" id=\"en\" aria-live=\"polite\"></p>");
    h.push_str("<table id=\"et\" class=\"events\"><thead><tr><th>t (s)</th><th>kind</th><th>object</th><th>message</th></tr></thead><tbody>");
    for r in &ev.rows {
        match r {
            Listed::Event(i, l) => {
                let t = l.t.as_secs_f64();
                let _ = write!(
                    h,
                    "<tr id=\"e{i}\" data-t=\"{t}\"><td>{t:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(l.kind),
                    esc(&l.object),
                    esc(&l.message)
                );
            }
            Listed::Cut { kind, n, from, to } => {
                let (a, b) = (t_plus(*from), t_plus(*to));
                let _ = write!(
                    h,
                    "<tr class=\"cut\" data-k=\"{0}\" data-t=\"{from}\" data-u=\"{to}\" data-n=\"{n}\"><td colspan=\"4\">{1} more {0} {2} {3} {5} left out of this page; events.jsonl has {4}.</td></tr>",
                    esc(kind),
                    readable(*n as f64, ""),
                    if *n == 1 { "event" } else { "events" },
                    if a == b { format!("at {a}") } else { format!("from {a} to {b}") },
                    if *n == 1 { "it" } else { "them" },
                    if *n == 1 { "is" } else { "are" }
                );
            }
        }
    }
    h.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_engine::Time;
    use proptest::prelude::*;

    #[test]
    fn numbers_read_as_people_read_them() {
        assert_eq!(readable(0.691542288557214, "ratio"), "69.2%");
        assert_eq!(readable(1.0, "ratio"), "100%");
        assert_eq!(readable(7_199_814.0, ""), "7,199,814");
        assert_eq!(readable(-1500.0, ""), "-1,500");
        assert_eq!(readable(0.12345, ""), "0.123");
        assert_eq!(readable(12.345, "seconds"), "12.3 s");
        assert_eq!(readable(1234.6, ""), "1235");
    }

    #[test]
    fn instants_as_t_plus_and_misses_by_their_bound() {
        assert_eq!(t_plus(0.0), "T+0s");
        assert_eq!(t_plus(90.0), "T+1m30s");
        assert_eq!(t_plus(600.0), "T+10m");
        assert_eq!(t_plus(3900.0), "T+1h05m");
        assert_eq!(date_time(1_704_067_200.0), "2024-01-01 00:00");
        assert_eq!(
            miss(0.69, ">= 0.999", "ratio").as_deref(),
            Some("short by 30.9%")
        );
        assert_eq!(miss(14.0, "<= 0", "").as_deref(), Some("over by 14"));
        assert_eq!(miss(0.0, "<= 0", ""), None);
    }

    proptest! {
        /// Drawing two points per pixel column never loses a sample's extreme: the chart's
        /// highest and lowest points are the series' maximum and minimum.
        #[test]
        fn pixel_columns_keep_every_extreme(values in prop::collection::vec(-1e6f64..1e6, 1..400), n in 1usize..50) {
            let mut m = Metrics::default();
            for (k, v) in values.iter().enumerate() {
                m.sample(Time::from_secs_f64(k as f64), vec![(std::borrow::Cow::Borrowed("x"), *v)]);
            }
            let tmax = (values.len() - 1).max(1) as f64;
            let b = buckets(&m, 0, tmax, n);
            let hi = b.iter().flatten().map(|b| b.hi).fold(f64::MIN, f64::max);
            let lo = b.iter().flatten().map(|b| b.lo).fold(f64::MAX, f64::min);
            prop_assert_eq!(hi, values.iter().copied().fold(f64::MIN, f64::max));
            prop_assert_eq!(lo, values.iter().copied().fold(f64::MAX, f64::min));
            prop_assert_eq!(b.iter().flatten().last().map(|b| b.last), values.last().copied());
        }
    }

    /// The CSP allows the page's one script by its SHA-256: recomputed here from the text
    /// between `<script>` and `</script>`, which must match the hash in [`REPORT_CSP`] (else
    /// the browser refuses the script and the filters never appear).
    #[test]
    fn the_csp_names_the_sha256_of_the_inline_script() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(EVENTS_SCRIPT.as_bytes()));
        assert!(
            REPORT_CSP.contains(&format!("script-src 'sha256-{hash}';")),
            "REPORT_CSP must name 'sha256-{hash}'"
        );
        // The script directive names the hash alone: no 'unsafe-inline', no other source.
        let script_src = REPORT_CSP
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        assert_eq!(script_src, format!("script-src 'sha256-{hash}'"));
        assert!(!COMPARE_CSP.contains("script-src"));
        // The HTML parser would end the script at `</`; the page carries it byte for byte.
        assert!(!EVENTS_SCRIPT.contains("</"));
        let s = Summary {
            scenario: "s".into(),
            variant: None,
            seed: 1,
            simulated_seconds: 60.0,
            events_processed: 0,
            wall_seconds: 0.0,
            totals: Default::default(),
            peaks: Default::default(),
            ratios: Default::default(),
            averages: Default::default(),
            expectations: Vec::new(),
            truncated: false,
            notes: Vec::new(),
        };
        let page = report_html(&s, &Metrics::default(), &[], &ReportContext::default());
        assert_eq!(page.matches("<script>").count(), 1);
        assert!(page.contains(&format!("<script>{EVENTS_SCRIPT}</script>")));
    }

    /// Series land in the groups the issue names, in the page's order: a service called `api`
    /// keeps its series, the API server's clients stay with the control plane, and a name the
    /// scenario does not give keeps its first word.
    #[test]
    fn series_are_grouped_by_system() {
        let systems = Systems {
            services: vec!["api".into(), "proxy".into()],
            rings: vec!["cortex".into()],
            fleets: vec!["prometheus".into()],
            clients: vec!["users".into()],
        };
        let columns: Vec<String> = [
            "users_goodput_qps",
            "api_qps",
            "api_clients_unsynced",
            "gossip_members",
            "proxy_qps",
            "nodes_ready",
            "pods_pending",
            "write_error_ratio",
            "prometheus_shards",
            "cortex_ingesters_active",
            "apiserver_up",
            "api_latency_p99_seconds",
        ]
        .map(String::from)
        .into();
        let groups: Vec<(String, Vec<&str>)> = panel_groups(&columns, &systems)
            .into_iter()
            .map(|(g, v)| (g, v.iter().map(|&i| columns[i].as_str()).collect()))
            .collect();
        let want: Vec<(String, Vec<&str>)> = vec![
            ("cluster and scheduling".into(), vec!["pods_pending"]),
            ("nodes".into(), vec!["nodes_ready"]),
            (
                "control plane".into(),
                vec!["api_clients_unsynced", "apiserver_up"],
            ),
            (
                "service api".into(),
                vec!["api_qps", "api_latency_p99_seconds"],
            ),
            ("service proxy".into(), vec!["proxy_qps"]),
            ("ring cortex".into(), vec!["cortex_ingesters_active"]),
            ("remote_write prometheus".into(), vec!["prometheus_shards"]),
            ("gossip".into(), vec!["gossip_members"]),
            ("clients".into(), vec!["users_goodput_qps"]),
            ("write".into(), vec!["write_error_ratio"]),
        ];
        assert_eq!(groups, want);
    }

    /// The timeline's time column never breaks inside a time (`T+6m0` over `2s`): its cells
    /// carry the class the style keeps on one line.
    #[test]
    fn timeline_times_stay_on_one_line() {
        assert!(STYLE.contains("td.t{white-space:nowrap;"));
        let ctx = ReportContext {
            marks: vec![Mark {
                at: 362.0,
                until: Some(400.0),
                text: "fault: x".into(),
            }],
            ..ReportContext::default()
        };
        let mut h = String::new();
        timeline(&mut h, &[], &ctx, &EventRows::select(&[], 600.0));
        assert!(
            h.contains(&format!("<tr><td class=\"t\">{}</td>", t_plus(362.0))),
            "{h}"
        );
    }

    #[test]
    fn fragment_times_read_back_as_the_script_reads_them() {
        assert_eq!(fragment_time(0.0, false), "0s");
        assert_eq!(fragment_time(59.5, false), "59s");
        assert_eq!(fragment_time(59.5, true), "1m");
        assert_eq!(fragment_time(630.0, false), "10m30s");
        assert_eq!(fragment_time(3600.0, false), "1h");
        assert_eq!(fragment_time(3900.0, false), "1h05m");
        assert_eq!(fragment_time(3905.0, false), "1h05m05s");
        assert_eq!(events_link(540.0, 660.2), "#events?from=9m&amp;to=11m01s");
    }

    #[test]
    fn escapes_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<img src=x onerror='a("1")'>&"#),
            "&lt;img src=x onerror=&#39;a(&quot;1&quot;)&#39;&gt;&amp;"
        );
    }
}
