//! What a run produces: the event log, the metrics (samples, totals, peaks), the summary with
//! the expectations' verdicts, and their renderings (JSON, JSONL, CSV, OpenMetrics, HTML).
//! Rendering is pure (strings); the CLI writes the files.

pub mod catalog;
pub mod chain;
pub mod grafana;
mod html;
pub mod names;
mod openmetrics;

use crate::scenario::{Expectation, Scenario};
use cascade_engine::Time;
pub use html::{
    compare_html, readable, report_html, ComparedRun, Mark, ReportContext, COMPARE_CSP,
    EVENTS_SCRIPT, REPORT_CSP, REPORT_EVENT_ROWS, REPORT_EVENT_SLICES,
};
use names::event_kind;
pub use names::{MetricNames, GOSSIP_COLUMNS, SIM_COLUMNS, SIM_COUNTERS, SIM_PEAKS};
pub use openmetrics::{metrics_openmetrics, RunLabels};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of events.jsonl.
#[derive(Clone, Debug)]
pub struct LogEvent {
    pub t: Time,
    pub kind: &'static str,
    pub object: String,
    pub message: String,
    /// The pod the event is about, for counting by selector.
    pub pod: Option<cascade_scheduler::PodId>,
}

/// Counters, peaks and sampled series.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    totals: BTreeMap<&'static str, u64>,
    peaks: BTreeMap<&'static str, f64>,
    columns: Vec<Cow<'static, str>>,
    rows: Vec<(Time, Vec<f64>)>,
}

impl Metrics {
    pub fn count(&mut self, name: &'static str, n: u64) {
        *self.totals.entry(name).or_default() += n;
    }
    /// The metrics.csv columns, in order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.as_ref())
    }
    /// The simulated time of the last sample.
    pub fn last_sample(&self) -> Option<Time> {
        self.rows.last().map(|(t, _)| *t)
    }
    pub fn total(&self, name: &str) -> u64 {
        self.totals.get(name).copied().unwrap_or(0)
    }
    pub fn peak(&mut self, name: &'static str, v: f64) {
        let p = self.peaks.entry(name).or_insert(v);
        if v > *p {
            *p = v;
        }
    }
    /// One row; every row has the columns of the first.
    pub fn sample(&mut self, t: Time, values: Vec<(Cow<'static, str>, f64)>) {
        let row = values.iter().map(|(_, v)| *v).collect();
        if self.columns.is_empty() {
            self.columns = values.into_iter().map(|(k, _)| k).collect();
        }
        self.rows.push((t, row));
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ExpectationResult {
    pub name: String,
    pub metric: String,
    pub value: f64,
    pub bound: String,
    pub passed: bool,
    /// The window the expectation judged, simulated seconds from the start (the whole run:
    /// 0 to the end).
    pub after_seconds: f64,
    pub before_seconds: f64,
    /// The pods it counted, when it has a selector: `{app=web} in namespace shop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Why the run could not give the figure the expectation reads (a `peaks.*_qps_ratio`
    /// without a steady baseline, summary.json's note): the expectation then fails, whatever
    /// its bound, rather than pass on a 0 that means "not given".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_given: Option<String>,
}

/// summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub variant: Option<String>,
    pub seed: u64,
    pub simulated_seconds: f64,
    pub events_processed: u64,
    /// The wall time of building the cluster and running it, for the terminal and
    /// timing.json; never in summary.json, which two runs of the same scenario, variant and
    /// seed write byte for byte the same (new-user.md L5).
    #[serde(skip)]
    pub wall_seconds: f64,
    pub totals: BTreeMap<String, u64>,
    pub peaks: BTreeMap<String, f64>,
    /// Fractions, each in [0, 1] (write availability, success ratios); only runs with
    /// services have any.
    pub ratios: BTreeMap<String, f64>,
    /// Averages per thing counted, in the unit their name says, never bounded by 1 (a
    /// service's `_mean_latency_seconds` per request served, a client's `_amplification` in
    /// requests per call); only runs with services or clients have any, and only they write it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub averages: BTreeMap<String, f64>,
    pub expectations: Vec<ExpectationResult>,
    /// The run stopped at `parameters.maxEvents` before its horizon: its figures cover
    /// `simulated_seconds` only. Written only when true, so complete runs read as before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// What a reader of the figures must know: e.g. a `peaks.*_qps_ratio` not given because
    /// its baseline was not steady. Written only when there is one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Summary {
    /// Every expectation holds, over a complete run (a truncated run has no verdict).
    pub fn passed(&self) -> bool {
        !self.truncated && self.expectations.iter().all(|e| e.passed)
    }
}

/// Every counter the simulation knows, so that a summary always has the same keys.
pub const TOTALS: &[&str] = &[
    "pods_created",
    "pods_scheduled",
    "pods_preempted",
    "pods_evicted",
    "pods_oom_killed",
    "pods_deleted",
    "pods_rejected",
    "scheduling_failures",
    "node_not_ready_transitions",
    "nodes_added",
    "changes_applied",
];

pub fn summarize(sim: &crate::Simulation<'_>, wall_seconds: f64) -> Result<Summary, String> {
    let sc: &Scenario = sim.scenario();
    let mut totals: BTreeMap<String, u64> = TOTALS.iter().map(|k| (k.to_string(), 0)).collect();
    for (k, v) in &sim.recorder().metrics.totals {
        totals.insert(k.to_string(), *v);
    }
    let mut peaks: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in &sim.recorder().metrics.peaks {
        peaks.insert(k.to_string(), *v);
    }
    let mut ratios: BTreeMap<String, f64> = BTreeMap::new();
    let mut averages: BTreeMap<String, f64> = BTreeMap::new();
    // Each note with the figure it is about: an expectation on that figure cannot be judged.
    let mut noted: Vec<(String, String)> = Vec::new();
    if !sim.services().is_empty() {
        totals.extend(sim.services().totals());
        peaks.extend(sim.services().peaks());
        ratios.extend(sim.services().ratios());
        averages.extend(sim.services().averages());
        noted.extend(sim.services().notes());
    }
    totals.extend(sim.gossip_totals());
    let mut expectations = Vec::new();
    for e in &sc.spec.expectations {
        let mut r = evaluate(sim, e, &totals, &peaks, &ratios, &averages)?;
        let whole_run = e.selector.is_none() && e.after.is_none() && e.before.is_none();
        if let Some((_, note)) = noted
            .iter()
            .find(|(figure, _)| whole_run && *figure == e.metric)
        {
            r.passed = false;
            r.not_given = Some(note.clone());
        }
        expectations.push(r);
    }
    let notes = noted.into_iter().map(|(_, note)| note).collect();
    Ok(Summary {
        scenario: sc.name.clone(),
        variant: sc.variant.clone(),
        seed: sim.seed(),
        simulated_seconds: sim.simulated_seconds(),
        events_processed: sim.events_processed(),
        wall_seconds,
        totals,
        peaks,
        ratios,
        averages,
        expectations,
        truncated: sim.truncated(),
        notes,
    })
}

fn evaluate(
    sim: &crate::Simulation<'_>,
    e: &Expectation,
    totals: &BTreeMap<String, u64>,
    peaks: &BTreeMap<String, f64>,
    ratios: &BTreeMap<String, f64>,
    averages: &BTreeMap<String, f64>,
) -> Result<ExpectationResult, String> {
    let windowed = e.selector.is_some() || e.after.is_some() || e.before.is_some();
    let value = match e.metric.split_once('.') {
        Some(("totals", name)) if windowed => {
            let kind = event_kind(name).ok_or_else(|| format!("expectation {:?}: totals.{name} cannot be counted by selector or time window", e.name))?;
            let after = e.after.map_or(Time::ZERO, |d| Time::from_secs_f64(d.0));
            let before = e.before.map_or(Time::MAX, |d| Time::from_secs_f64(d.0));
            sim.recorder().log
                .iter()
                .filter(|l| l.kind == kind && l.t >= after && l.t < before)
                .filter(|l| match &e.selector {
                    None => true,
                    Some(sel) => l.pod.is_some_and(|p| {
                        let Some((ns, labels)) = sim.recorder().pod_meta(p) else {
                            return false;
                        };
                        sel.namespace.as_ref().is_none_or(|n| n == ns) && sel.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                    }),
                })
                .count() as f64
        }
        Some(("totals", name)) => *totals.get(name).or(SIM_COUNTERS.contains(&name).then_some(&0)).ok_or_else(|| format!("expectation {:?}: unknown metric {}: expected one of totals.{{{}}}", e.name, e.metric, TOTALS.join(",")))? as f64,
        // A peak is named by its metrics.csv column: within a window, the largest sample of
        // the column there; over the whole run, summary.json's peak (the largest value the
        // model saw, at least every sample's), or the largest sample of a column the summary
        // keeps no peak of.
        Some(("peaks", name)) if !windowed && peaks.contains_key(name) => peaks[name],
        Some(("peaks", name)) if e.selector.is_none() && (windowed || sim.recorder().metrics.columns.iter().any(|c| c == name)) => {
            let i = sim.recorder().metrics.columns.iter().position(|c| c == name).ok_or_else(|| format!("expectation {:?}: peaks.{name} with a window needs a metrics.csv column named {name}: expected one of {}", e.name, sim.recorder().metrics.columns.join(",")))?;
            let after = e.after.map_or(Time::ZERO, |d| Time::from_secs_f64(d.0));
            let before = e.before.map_or(Time::MAX, |d| Time::from_secs_f64(d.0));
            sim.recorder().metrics
                .rows
                .iter()
                .filter(|(t, _)| *t >= after && *t < before)
                .filter_map(|(_, row)| row.get(i).copied())
                .fold(0.0, f64::max)
        }
        // The lowest sample of a column, over the run or within a window ("at least one
        // replica Ready at all times": lows.NAME with a min), and its time-weighted mean
        // (the share of a window a 0/1 column was 1, a ratio's mean over the window).
        Some((family @ ("lows" | "means"), name)) if e.selector.is_none() => {
            let m = &sim.recorder().metrics;
            let i = m.columns.iter().position(|c| c == name).ok_or_else(|| format!("expectation {:?}: {family}.{name} needs a metrics.csv column named {name}: expected one of {}", e.name, m.columns.join(",")))?;
            let after = e.after.map_or(Time::ZERO, |d| Time::from_secs_f64(d.0));
            let before = e.before.map_or(Time::MAX, |d| Time::from_secs_f64(d.0));
            let samples = m.rows.iter().filter(|(t, _)| *t >= after && *t < before).filter_map(|(t, row)| row.get(i).map(|v| (*t, *v)));
            if family == "lows" {
                samples.map(|(_, v)| v).reduce(f64::min).unwrap_or(0.0)
            } else {
                window_mean(samples, before.min(Time::from_secs_f64(sim.simulated_seconds())))
            }
        }
        Some(("peaks", name)) if !windowed => *SIM_PEAKS.contains(&name).then_some(&0.0).ok_or_else(|| format!("expectation {:?}: unknown metric {}: expected one of peaks.{{{}}}", e.name, e.metric, peaks.keys().cloned().collect::<Vec<_>>().join(",")))?,
        // Over a window: the ratio of what its two running counts gained between the window's
        // edges, each edge read at the last sample at or before it (the run's start reads
        // nothing counted; an edge at or past the end reads the run's final counts), so the
        // window falls on the sampling grid and over the whole run it is summary.json's figure.
        // An average over a window is taken the same way (its sum and its count).
        Some((family @ ("ratios" | "averages"), name)) if e.selector.is_none() && windowed && (if family == "ratios" { ratios } else { averages }).contains_key(name) => {
            let figures = if family == "ratios" { ratios } else { averages };
            let after = e.after.map_or(Time::ZERO, |d| Time::from_secs_f64(d.0));
            let before = e.before.map_or(Time::MAX, |d| Time::from_secs_f64(d.0));
            let samples = &sim.recorder().ratio_samples;
            let at = |edge: Time| {
                samples
                    .iter()
                    .take_while(|(t, _)| *t <= edge)
                    .last()
                    .and_then(|(_, parts)| parts.iter().find(|(k, _)| k == name).map(|(_, p)| *p))
            };
            let end = Time::from_secs_f64(sim.simulated_seconds());
            let last = if before >= end {
                sim.services().ratio_parts().into_iter().find(|(k, _)| k == name).map(|(_, p)| p)
            } else {
                at(before)
            };
            match last {
                None => figures[name],
                Some(last) => {
                    let first = at(after).unwrap_or(cascade_services::RatioParts { numerator: 0.0, denominator: 0.0, ..last });
                    last.since(&first).value()
                }
            }
        }
        Some(("ratios", _)) if e.selector.is_some() => return Err(format!("expectation {:?}: a ratio is a service's, a ring's or a client's own, not counted by pod: expected no selector with ratios.NAME (after and before take it over a window)", e.name)),
        Some(("ratios", name)) => *ratios.get(name).ok_or_else(|| format!("expectation {:?}: unknown metric {}: expected one of ratios.{{{}}}", e.name, e.metric, ratios.keys().cloned().collect::<Vec<_>>().join(",")))?,
        Some(("averages", _)) if e.selector.is_some() => return Err(format!("expectation {:?}: an average is a service's or a client's own, not counted by pod: expected no selector with averages.NAME (after and before take it over a window)", e.name)),
        Some(("averages", name)) => *averages.get(name).ok_or_else(|| format!("expectation {:?}: unknown metric {}: expected one of averages.{{{}}}", e.name, e.metric, averages.keys().cloned().collect::<Vec<_>>().join(",")))?,
        _ => return Err(format!("expectation {:?}: unsupported metric {:?}: expected totals.NAME (with an optional selector and window), peaks.NAME, lows.NAME, means.NAME, ratios.NAME or averages.NAME", e.name, e.metric)),
    };
    let mut bound = Vec::new();
    let mut passed = true;
    if let Some(max) = e.max {
        bound.push(format!("<= {max}"));
        passed &= value <= max;
    }
    if let Some(min) = e.min {
        bound.push(format!(">= {min}"));
        passed &= value >= min;
    }
    let end = sim.simulated_seconds();
    Ok(ExpectationResult {
        name: e.name.clone(),
        metric: e.metric.clone(),
        value,
        bound: bound.join(" and "),
        passed,
        after_seconds: e.after.map_or(0.0, |d| d.0.min(end)),
        before_seconds: e.before.map_or(end, |d| d.0.min(end)),
        selector: e.selector.as_ref().map(crate::scenario::describe_selector),
        not_given: None,
    })
}

/// The time-weighted mean of a series of samples: each sample holds until the next, the last
/// until `end`. One sample is its own mean; none reads 0.
pub fn window_mean(samples: impl Iterator<Item = (Time, f64)>, end: Time) -> f64 {
    let mut sum = 0.0;
    let mut span = 0.0;
    let mut last: Option<(Time, f64)> = None;
    for (t, v) in samples {
        if let Some((t0, v0)) = last {
            let dt = (t - t0).as_secs_f64();
            sum += v0 * dt;
            span += dt;
        }
        last = Some((t, v));
    }
    match last {
        None => 0.0,
        Some((t0, v0)) => {
            let dt = if end > t0 {
                (end - t0).as_secs_f64()
            } else {
                0.0
            };
            sum += v0 * dt;
            span += dt;
            if span > 0.0 {
                sum / span
            } else {
                v0
            }
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// events.jsonl: one event per line, simulated seconds first.
pub fn events_jsonl(log: &[LogEvent]) -> String {
    let mut out = String::with_capacity(log.len() * 120);
    for l in log {
        let _ = writeln!(
            out,
            "{{\"t\":{:.3},\"kind\":{},\"object\":{},\"message\":{}}}",
            l.t.as_secs_f64(),
            json_str(l.kind),
            json_str(&l.object),
            json_str(&l.message)
        );
    }
    out
}

/// metrics.csv: a row per sample, a column per series.
pub fn metrics_csv(m: &Metrics) -> String {
    let mut out = String::from("time_seconds");
    for c in &m.columns {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for (t, row) in &m.rows {
        let _ = write!(out, "{:.3}", t.as_secs_f64());
        for v in row {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}
