//! Numbers the simulation cannot run with: negative times, rates and sizes, re-arming
//! intervals of 0, services without workers, impossible degradations.

use super::{set_diagnostic, spec_path, Report};
use cascade_manifest::{Path, Value};

/// A degradation's numbers the model cannot run with (negatives are the generic walk's):
/// an error rate is a probability, a service time factor a positive number, and degraded
/// workers are fewer than the service's own (docs/retry-defences.md#degradation).
pub(super) fn degradation(
    r: &mut Report<'_>,
    p: &Path,
    g: &cascade_services::Degradation,
    spec: Option<&cascade_services::ServiceSpec>,
) {
    if !(0.0..=1.0).contains(&g.error_rate) && g.error_rate >= 0.0 {
        r.error(
            &p.key("errorRate"),
            format!(
                "errorRate = {}: expected a probability between 0 and 1",
                g.error_rate
            ),
        );
    }
    if g.service_time_factor == 0.0 {
        r.error(
            &p.key("serviceTimeFactor"),
            "serviceTimeFactor = 0: expected a number greater than 0",
        );
    }
    if let (Some(w), Some(spec)) = (g.workers_per_replica, spec) {
        if w > spec.workers_per_replica {
            r.error(
                &p.key("workersPerReplica"),
                format!(
                    "workersPerReplica = {w}: expected at most the service's own workersPerReplica ({}), a degradation takes workers away",
                    spec.workers_per_replica
                ),
            );
        }
    }
}

/// Parameters whose timer re-arms itself after this long: 0 would never let simulated time
/// pass (a sample, a monitor pass, a scan, a step, a sidecar's send).
const POSITIVE: &[&str] = &[
    "sampleIntervalSeconds",
    "nodeMonitorPeriodSeconds",
    "nodeStatusUpdateFrequencySeconds",
    "evictionMonitoringPeriodSeconds",
    "unschedulableFlushIntervalSeconds",
    "scanIntervalSeconds",
    "stepSeconds",
    "sendIntervalSeconds",
    "generatorScale",
    "similarityScale",
];

/// What is wrong with the number `v` written at key `key`, if anything: times, rates and
/// sizes are never negative, re-arming intervals never 0, and a service has workers.
fn out_of_range(key: &str, v: f64) -> Option<String> {
    let timed = key.ends_with("Seconds")
        || key.ends_with("Rate")
        || key.ends_with("PerSecond")
        || key.ends_with("PerMinute")
        || key.ends_with("Mult")
        || key.ends_with("Factor")
        || key.ends_with("Jitter");
    if (timed || POSITIVE.contains(&key) || key.starts_with("workers")) && !v.is_finite() {
        return Some(format!("{key} = {v}: expected a finite number"));
    }
    if POSITIVE.contains(&key) && v <= 0.0 {
        return Some(format!("{key} = {v}: expected a number greater than 0"));
    }
    if key.starts_with("workers") && v < 1.0 {
        return Some(format!("{key} = {v}: expected at least 1"));
    }
    if timed && v < 0.0 {
        return Some(format!("{key} = {v}: expected a number not below 0"));
    }
    None
}

/// Every number of `v` (at `path`), checked by the name of its key.
fn walk_numbers(v: &Value, path: &Path, found: &mut Vec<(Path, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                let Some(key) = k.as_str() else { continue };
                let here = path.key(key);
                if let Some(msg) = child.as_f64().and_then(|n| out_of_range(key, n)) {
                    found.push((here.clone(), msg));
                }
                walk_numbers(child, &here, found);
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                walk_numbers(child, &path.idx(i), found);
            }
        }
        Value::Tagged(t) => walk_numbers(&t.value, path, found),
        _ => {}
    }
}

/// Numbers the simulation cannot run with, in the scenario document and in the `--set`s.
pub(in crate::scenario) fn values(r: &mut Report<'_>, doc: &Value) {
    let mut found = Vec::new();
    if let Some(spec) = doc.get("spec") {
        // `similarity` maps parameter paths to exponents, not to values (checked at load).
        let mut spec = spec.clone();
        if let Some(m) = spec.as_mapping_mut() {
            m.remove("similarity");
        }
        walk_numbers(&spec, &spec_path(), &mut found);
    }
    for (path, msg) in found {
        r.error(&path, msg);
    }
    for (i, (k, v)) in r.sets.iter().enumerate() {
        let Ok(value) = serde_yaml_ng::from_str::<Value>(v) else {
            continue;
        };
        let key = k.rsplit('.').next().unwrap_or(k);
        let mut msgs: Vec<String> = value
            .as_f64()
            .and_then(|n| out_of_range(key, n))
            .into_iter()
            .collect();
        let mut found = Vec::new();
        walk_numbers(&value, &Path::root(), &mut found);
        msgs.extend(found.into_iter().map(|(p, m)| format!("{p}: {m}")));
        for m in msgs {
            let d = set_diagnostic(i, k.len() + 2, format!("--set {k}={v}: {m}"));
            r.errors.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_numbers_are_named() {
        assert!(out_of_range("sampleIntervalSeconds", 0.0).is_some());
        assert!(out_of_range("readinessSeconds", -1.0).is_some());
        assert!(out_of_range("ratePerSecond", -0.5).is_some());
        assert!(out_of_range("workersPerReplica", 0.0).is_some());
        assert!(out_of_range("redeploySeconds", 0.0).is_none());
        assert!(out_of_range("replicas", -1.0).is_none());
    }
}
