//! Grafana files written beside metrics.om: the run's changes, faults and causal chain as
//! annotations (the body of Grafana's `POST /api/annotations`, one object each) and a dashboard
//! of the run's series, a panel per metrics.om family, filtered by the `scenario`, `variant` and
//! `seed` labels and showing the annotations tagged `cascade`.

use super::catalog::{family, Kind};
use super::chain::derive;
use super::{Metrics, ReportContext};
use crate::scenario::{FaultKind, Scenario};
use serde_json::{json, Value};

fn run_tags(sc: &Scenario) -> Vec<String> {
    let mut tags = vec!["cascade".into(), format!("scenario:{}", sc.name)];
    if let Some(v) = &sc.variant {
        tags.push(format!("variant:{v}"));
    }
    tags.push(format!("seed:{}", sc.seed));
    tags
}

/// What a fault breaks, in the scenario's words.
pub fn fault_text(kind: &FaultKind) -> String {
    match kind {
        FaultKind::NodeDown(n) => format!("nodeDown {n}"),
        FaultKind::ZoneDown(z) => format!("zoneDown {z}"),
        FaultKind::ServiceDown { service, flapping } => match flapping {
            Some(f) => format!(
                "serviceDown {service}, flapping (down {} s, up {} s)",
                f.down.0, f.up.0
            ),
            None => format!("serviceDown {service}"),
        },
        FaultKind::ServiceDegraded {
            service,
            degradation: d,
            on_nodes,
        } => {
            let service = match on_nodes {
                Some(t) => format!("{service} on {t}"),
                None => service.clone(),
            };
            let mut how = Vec::new();
            if let Some(w) = d.workers_per_replica {
                how.push(format!("{w} workers per replica"));
            }
            if d.service_time_factor != 1.0 {
                how.push(format!("service time x{}", d.service_time_factor));
            }
            if d.added_latency_seconds > 0.0 {
                how.push(format!("+{} s latency", d.added_latency_seconds));
            }
            if d.error_rate > 0.0 {
                how.push(format!("{}% errors", d.error_rate * 100.0));
            }
            if how.is_empty() {
                format!("serviceDegraded {service}")
            } else {
                format!("serviceDegraded {service} ({})", how.join(", "))
            }
        }
        FaultKind::ApiServerDown { replica: None } => "apiServerDown".to_string(),
        FaultKind::ApiServerDown { replica: Some(i) } => format!("apiServerDown replica {i}"),
        FaultKind::Stockout(z) => format!("stockout {z}"),
        FaultKind::Partition(p) => {
            let mut far: Vec<String> = p.zones.iter().map(|z| format!("zone {z}")).collect();
            far.extend(p.nodes.iter().map(|n| format!("node {n}")));
            far.extend(p.selector.iter().map(ToString::to_string));
            format!(
                "{} of {}{}",
                if p.pods_only {
                    "pod network partition"
                } else {
                    "partition"
                },
                crate::scenario::fraction_text(p.fraction),
                far.join(", ")
            )
        }
    }
}

/// The changes, faults and causal chain as Grafana annotations: `time` (and a fault's
/// `timeEnd`) in Unix milliseconds from `start_unix`, tags `cascade`, the run's labels and
/// `change`, `fault` or `cascade-chain`. The chain's steps are those report.html tells
/// ([`super::chain::derive`] over the same marks): the trigger, each first effect, the point
/// where the failure sustains itself, and the recovery or its absence at the run's end.
pub fn annotations(sc: &Scenario, m: &Metrics, start_unix: f64) -> String {
    let ms = |secs: f64| unix_ms(start_unix + secs);
    let end = sc.spec.duration.0;
    let marks = ReportContext::of(sc, start_unix).marks;
    let mut out: Vec<(f64, Value)> = Vec::new();
    for k in &marks {
        let mut tags = run_tags(sc);
        let a = match k.until {
            None => {
                tags.push("change".into());
                json!({"time": ms(k.at), "tags": tags, "text": k.text})
            }
            Some(until) => {
                tags.push("fault".into());
                json!({"time": ms(k.at), "timeEnd": ms(until), "tags": tags, "text": k.text})
            }
        };
        out.push((k.at, a));
    }
    let chain = derive(m, &marks);
    let mut step = |at: f64, text: String| {
        let mut tags = run_tags(sc);
        tags.push("cascade-chain".into());
        out.push((at, json!({"time": ms(at), "tags": tags, "text": text})));
    };
    if !chain.effects.is_empty() {
        if let Some(t) = &chain.trigger {
            step(t.at, format!("chain: trigger: {}", t.what));
        }
        for e in &chain.effects {
            step(e.at, format!("chain: effect: {}", e.what));
        }
        if let Some(s) = &chain.sustained {
            step(s.at, format!("chain: {}", s.what));
        }
        match &chain.recovered {
            Some(r) => step(r.at, format!("chain: recovered: {}", r.what)),
            None => step(end, "chain: not recovered by the end".to_string()),
        }
    }
    // Stable: at one instant, changes and faults before the chain's steps, each in its order.
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    let list: Vec<Value> = out.into_iter().map(|(_, v)| v).collect();
    serde_json::to_string_pretty(&list).expect("annotations") + "\n"
}

/// Unix seconds as the whole milliseconds Grafana's JSON takes.
#[allow(
    clippy::cast_possible_truncation,
    reason = "start times are RFC 3339 instants (years 0001 to 9999, within i64 milliseconds by far) plus a run's simulated seconds; `as` saturates beyond that, it never wraps"
)]
fn unix_ms(unix: f64) -> i64 {
    (unix * 1000.0).round() as i64
}

/// RFC 3339 of a Unix time, for the dashboard's time range.
fn rfc3339(unix: f64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms(unix))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "now-6h".into())
}

fn variable(name: &str, query: &str) -> Value {
    json!({
        "name": name,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": true,
        "multi": true,
        "allValue": ".*",
        "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
    })
}

/// A dashboard of the run's series, over the run's time range; `scenario`, `variant` and
/// `seed` variables pick the runs (every run by default, one line each).
pub fn dashboard(m: &Metrics, start_unix: f64) -> String {
    let end = start_unix + m.last_sample().map_or(0.0, |t| t.as_secs_f64());
    let sel = "scenario=~\"$scenario\",variant=~\"$variant\",seed=~\"$seed\"";
    let mut panels = Vec::new();
    for (i, c) in m.columns().enumerate() {
        let f = family(c);
        let name = format!("cascade_{}", f.name);
        let (expr, title, unit) = match f.kind {
            Kind::Counter => (
                format!("rate({name}_total{{{sel}}}[$__rate_interval])"),
                format!("{} (per second)", f.name),
                "reqps",
            ),
            Kind::Gauge => (
                format!("{name}{{{sel}}}"),
                f.name.clone(),
                match f.unit {
                    "seconds" => "s",
                    "ratio" => "percentunit",
                    _ => "short",
                },
            ),
        };
        panels.push(json!({
            "id": i + 1,
            "type": "timeseries",
            "title": title,
            "description": f.help,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"tooltip": {"mode": "multi"}, "legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{
                "refId": "A",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": "{{scenario}} {{variant}} seed {{seed}}",
            }],
        }));
    }
    let d = json!({
        "uid": "cascade",
        "title": "cascade",
        "description": "cascade's series (metrics.om), one line per run; changes and faults as annotations tagged cascade.",
        "tags": ["cascade"],
        "schemaVersion": 39,
        "editable": true,
        "time": {"from": rfc3339(start_unix), "to": rfc3339(end)},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            variable("scenario", "label_values(cascade_nodes, scenario)"),
            variable("variant", "label_values(cascade_nodes{scenario=~\"$scenario\"}, variant)"),
            variable("seed", "label_values(cascade_nodes{scenario=~\"$scenario\"}, seed)"),
        ]},
        "annotations": {"list": [{
            "name": "cascade changes and faults",
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": true,
            "iconColor": "red",
            "target": {"type": "tags", "tags": ["cascade"], "matchAny": true, "limit": 1000},
        }]},
        "panels": panels,
    });
    serde_json::to_string_pretty(&d).expect("dashboard") + "\n"
}
