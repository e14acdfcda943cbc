//! report.html's timeline and events view: the first event of each kind beside the
//! scenario's changes and faults, and the fair share of events listed per kind and time slice
//! ([`REPORT_EVENT_ROWS`], [`REPORT_EVENT_SLICES`]).

use super::charts::slice_index;
use super::*;
use std::fmt::Write as _;

/// Event kinds too routine to be a step of a story (one per pod or node as the cluster
/// starts).
pub(super) const ROUTINE: &[&str] = &[
    "Created",
    "Started",
    "Scheduled",
    "WorkloadCreated",
    "NodeAdded",
];

/// The changes and faults, with the first event of each other kind, in time order: what
/// happened first, then what followed. Each first event links to its row in the events view
/// (the first of each kind is always listed).
pub(super) fn timeline(h: &mut String, log: &[LogEvent], ctx: &ReportContext, ev: &EventRows) {
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

/// The rows the events view lists: for each event kind in each of [`REPORT_EVENT_SLICES`]
/// time slices, its first `quota` events, where `quota` is the largest number that keeps the
/// list within [`REPORT_EVENT_ROWS`] (at least one per kind and slice). The rest of a kind in
/// a slice is one [`Listed::Cut`] row in place, with its count and time span.
pub(super) struct EventRows<'a> {
    pub(super) rows: Vec<Listed<'a>>,
    /// Each kind with its count in the whole log and how many of them are listed, by name.
    pub(super) kinds: Vec<(&'static str, usize, usize)>,
    /// Events listed (cut rows not counted).
    pub(super) listed: usize,
    /// Events per kind and slice at most.
    pub(super) quota: usize,
    /// The length of a slice, in simulated seconds.
    pub(super) slice: f64,
}

pub(super) enum Listed<'a> {
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
    pub(super) fn select(log: &'a [LogEvent], tmax: f64) -> EventRows<'a> {
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
    pub(super) fn first_of(&self, kind: &str) -> Option<usize> {
        self.rows.iter().find_map(|r| match r {
            Listed::Event(i, l) if l.kind == kind => Some(*i),
            _ => None,
        })
    }

    /// The row of the first listed event at or after `t`, if any.
    pub(super) fn first_from(&self, t: f64) -> Option<usize> {
        self.rows.iter().find_map(|r| match r {
            Listed::Event(i, l) if l.t.as_secs_f64() >= t => Some(*i),
            _ => None,
        })
    }
}

/// A simulated instant as the events view's fragment reads it (`90s`, `10m`, `1h05m30s`):
/// whole seconds, rounded down for a window's start and up for its end.
pub(super) fn fragment_time(secs: f64, up: bool) -> String {
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
pub(super) fn events_link(from: f64, to: f64) -> String {
    format!(
        "#events?from={}&amp;to={}",
        fragment_time(from, false),
        fragment_time(to, true)
    )
}

/// The events view: a filter form (kind with counts, object, time; shown by the page's
/// script, `hidden` without it) over a table of the listed events, every cut a row in place.
pub(super) fn events(h: &mut String, log: &[LogEvent], ev: &EventRows) {
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
