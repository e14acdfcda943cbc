//! The checks a services configuration must pass before a run: every name it refers to (a
//! service's ring, a fleet's or client's target) is declared, and the values the model
//! cannot take are refused. [`validate`] runs them alone (scenario loading); [`resolve`] also
//! hands back the references resolved to indices (building a [`crate::World`]).

use crate::config::ServicesConfig;
use crate::contract::{RingIdx, ServiceIdx};
use std::collections::{BTreeMap, BTreeSet};

/// Every reference of a configuration, resolved.
pub(crate) struct Resolved {
    /// Per service (in name order), the ring it writes to.
    pub rings: Vec<Option<RingIdx>>,
    /// Per remote_write fleet, the service it writes to.
    pub fleet_targets: Vec<ServiceIdx>,
    /// Per client, the service it calls.
    pub client_targets: Vec<ServiceIdx>,
}

/// Checks a configuration without building anything. Errors name the field at fault: a
/// reference that does not resolve, or a value that is not modelled.
pub fn validate(cfg: &ServicesConfig) -> Result<(), String> {
    resolve(cfg).map(|_| ())
}

impl ServicesConfig {
    /// See [`validate`].
    pub fn validate(&self) -> Result<(), String> {
        validate(self)
    }
}

pub(crate) fn resolve(cfg: &ServicesConfig) -> Result<Resolved, String> {
    if !(cfg.rate_window_seconds > 0.0 && cfg.rate_window_seconds.is_finite()) {
        return Err(format!(
            "serviceMetrics.rateWindowSeconds: {} is not a window: expected a finite number of seconds above 0",
            cfg.rate_window_seconds
        ));
    }
    if !(cfg.steady_tolerance >= 0.0 && cfg.steady_tolerance.is_finite()) {
        return Err(format!(
            "serviceMetrics.steadyTolerance: {} is not a fraction: expected a finite number, 0 or more",
            cfg.steady_tolerance
        ));
    }
    if let Some(t) = cfg.surge_until_seconds {
        if !(t >= 0.0 && t.is_finite()) {
            return Err(format!(
                "serviceMetrics.surgeUntilSeconds: {t} is not an instant: expected a finite number of seconds, 0 or more"
            ));
        }
    }
    for (what, n) in [
        ("services", cfg.services.len()),
        ("rings", cfg.rings.len()),
        ("remoteWrite", cfg.remote_write.len()),
        ("clients", cfg.clients.len()),
    ] {
        if n > usize::from(u16::MAX) + 1 {
            return Err(format!("{what}: {n} declared, at most 65536 are modelled"));
        }
    }
    let svc_index: BTreeMap<&str, ServiceIdx> = cfg
        .services
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), ServiceIdx::at(i)))
        .collect();
    let ring_index: BTreeMap<&str, RingIdx> = cfg
        .rings
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), RingIdx::at(i)))
        .collect();
    let mut rings = Vec::new();
    for (name, spec) in &cfg.services {
        rings.push(match &spec.ring {
            None => None,
            Some(r) => Some(*ring_index.get(r.as_str()).ok_or_else(|| {
                format!(
                    "services.{name}.ring: no ring named {r:?} (declared: {})",
                    names(cfg.rings.keys())
                )
            })?),
        });
        queue(&format!("services.{name}"), spec)?;
        if spec.reject_status != 503 && spec.reject_status != 429 {
            return Err(format!(
                "services.{name}.rejectStatus: {} is not modelled: expected 503 or 429",
                spec.reject_status
            ));
        }
    }
    calls(cfg, &svc_index)?;
    let target = |what: &str, name: &str, t: &str| {
        svc_index.get(t).copied().ok_or_else(|| {
            format!(
                "{what}.{name}.target: no service named {t:?} (declared: {})",
                names(cfg.services.keys())
            )
        })
    };
    let mut fleet_targets = Vec::new();
    for (name, spec) in &cfg.remote_write {
        if spec.max_samples_per_send == 0 || spec.min_shards == 0 {
            return Err(format!(
                "remoteWrite.{name}: maxSamplesPerSend and minShards must be at least 1"
            ));
        }
        if !(spec.start_seconds >= 0.0 && spec.start_seconds.is_finite()) {
            return Err(format!(
                "remoteWrite.{name}.startSeconds: {} is not an instant: expected a finite number of seconds, 0 or more",
                spec.start_seconds
            ));
        }
        if !(spec.flush_deadline_seconds >= 0.0 && spec.flush_deadline_seconds.is_finite()) {
            return Err(format!(
                "remoteWrite.{name}.flushDeadlineSeconds: {} is not a duration: expected a finite number of seconds, 0 or more",
                spec.flush_deadline_seconds
            ));
        }
        fleet_targets.push(target("remoteWrite", name, &spec.target)?);
    }
    for (name, spec) in &cfg.clients {
        defences(
            &format!("clients.{name}"),
            spec.retry_throttling.as_ref(),
            spec.retry_budget.as_ref(),
        )?;
        breaker(&format!("clients.{name}"), spec.circuit_breaker.as_ref())?;
        crate::dns::check_client(&format!("clients.{name}"), spec)?;
    }
    for (name, spec) in &cfg.services {
        for (i, c) in spec.calls.iter().enumerate() {
            let at = format!("services.{name}.{}", spec.calls.path(i));
            defences(&at, c.retry_throttling.as_ref(), c.retry_budget.as_ref())?;
            breaker(&at, c.circuit_breaker.as_ref())?;
            outlier(&at, c.outlier_detection.as_ref())?;
        }
    }
    let client_targets = cfg
        .clients
        .iter()
        .map(|(name, spec)| target("clients", name, &spec.target))
        .collect::<Result<_, _>>()?;
    Ok(Resolved {
        rings,
        fleet_targets,
        client_targets,
    })
}

/// Every call's probability is in [0, 1], every service a service calls is declared, and no
/// path of calls comes back to where it started (each request would wait on itself). The
/// services are walked in name order, each one's calls in the order listed, so the cycle
/// reported is the first such a walk meets, at the call of the service it started from.
fn calls(cfg: &ServicesConfig, svc_index: &BTreeMap<&str, ServiceIdx>) -> Result<(), String> {
    // Services from which no cycle can be reached (walked already).
    let mut acyclic: BTreeSet<&str> = BTreeSet::new();
    for (name, spec) in &cfg.services {
        if spec.calls.len() > usize::from(u16::MAX) {
            return Err(format!(
                "services.{name}.calls: {} calls, at most 65535 are modelled",
                spec.calls.len()
            ));
        }
        for (i, call) in spec.calls.iter().enumerate() {
            let at = format!("services.{name}.{}", spec.calls.path(i));
            if !(0.0..=1.0).contains(&call.probability) {
                return Err(out_of_range(
                    &at,
                    "probability",
                    call.probability,
                    "a probability in [0, 1]",
                ));
            }
            if !svc_index.contains_key(call.service.as_str()) {
                return Err(format!(
                    "{at}.service: no service named {:?} (declared: {})",
                    call.service,
                    names(cfg.services.keys())
                ));
            }
        }
        let mut path = vec![name.as_str()];
        if let Some((first, chain)) = cycle_from(cfg, &mut path, &mut acyclic) {
            return Err(format!(
                "services.{name}.{}.service: a cycle of calls ({}): a request would wait on itself",
                spec.calls.path(first),
                chain.join(" -> ")
            ));
        }
    }
    Ok(())
}

/// A depth-first walk of the calls from the last service of `path`: the first cycle met (the
/// position, among the first service's calls, of the call it goes through, and the path
/// that closes it), or None after marking every service reached as `acyclic`.
fn cycle_from<'a>(
    cfg: &'a ServicesConfig,
    path: &mut Vec<&'a str>,
    acyclic: &mut BTreeSet<&'a str>,
) -> Option<(usize, Vec<&'a str>)> {
    let at = *path.last()?;
    let spec = cfg.services.get(at)?;
    for (i, call) in spec.calls.iter().enumerate() {
        let next = call.service.as_str();
        if path.contains(&next) {
            let mut chain = path.clone();
            chain.push(next);
            return Some((i, chain));
        }
        if acyclic.contains(next) || !cfg.services.contains_key(next) {
            continue;
        }
        path.push(next);
        let found = cycle_from(cfg, path, acyclic);
        path.pop();
        if let Some((_, chain)) = found {
            return Some((i, chain));
        }
    }
    acyclic.insert(at);
    None
}

fn out_of_range(at: &str, field: &str, v: f64, expected: &str) -> String {
    format!("{at}.{field}: {v} is out of range: expected {expected}")
}

/// The retry defences' values the upstream mechanisms accept, for the client or the service's
/// calls at `at` (docs/retry-defences.md).
fn defences(
    at: &str,
    throttling: Option<&crate::config::RetryThrottling>,
    budget: Option<&crate::config::RetryBudget>,
) -> Result<(), String> {
    let at = |field: &str, v: f64, expected: &str| out_of_range(at, field, v, expected);
    if let Some(t) = throttling {
        if !(t.max_tokens > 0.0 && t.max_tokens <= 1000.0) {
            return Err(at(
                "retryThrottling.maxTokens",
                t.max_tokens,
                "a number in (0, 1000], as gRFC A6 requires",
            ));
        }
        if !(t.token_ratio > 0.0 && t.token_ratio <= 1000.0) {
            return Err(at(
                "retryThrottling.tokenRatio",
                t.token_ratio,
                "a number greater than 0 (at most 1000)",
            ));
        }
    }
    if let Some(b) = budget {
        if !(0.0..=100.0).contains(&b.budget_percent) {
            return Err(at(
                "retryBudget.budgetPercent",
                b.budget_percent,
                "a percentage in [0, 100]",
            ));
        }
    }
    Ok(())
}

/// The circuit breaker's values Hystrix accepts (docs/retry-defences.md#circuit-breaker), for
/// the client or the service's calls at `prefix`.
fn breaker(prefix: &str, cb: Option<&crate::config::CircuitBreaker>) -> Result<(), String> {
    let at = |field: &str, v: f64, expected: &str| out_of_range(prefix, field, v, expected);
    if let Some(c) = cb {
        if !(0.0..=100.0).contains(&c.error_threshold_percentage) {
            return Err(at(
                "circuitBreaker.errorThresholdPercentage",
                c.error_threshold_percentage,
                "a percentage in [0, 100]",
            ));
        }
        if !(c.rolling_window_seconds > 0.0 && c.rolling_window_seconds.is_finite()) {
            return Err(at(
                "circuitBreaker.rollingWindowSeconds",
                c.rolling_window_seconds,
                "a number greater than 0",
            ));
        }
        if c.rolling_window_buckets == 0 {
            return Err(at("circuitBreaker.rollingWindowBuckets", 0.0, "at least 1"));
        }
    }
    Ok(())
}

/// Outlier detection's values Envoy accepts (docs/retry-defences.md#outlier-detection), for
/// the service's call at `prefix`: its durations above 0 (the proto's `gt: {}`), its
/// percentages at most 100 (`lte: 100`), and a maximum ejection time no shorter than the base
/// (Envoy refuses the cluster otherwise).
fn outlier(prefix: &str, od: Option<&crate::config::OutlierDetection>) -> Result<(), String> {
    let at = |field: &str, v: f64, expected: &str| out_of_range(prefix, field, v, expected);
    let Some(o) = od else {
        return Ok(());
    };
    for (field, v) in [
        ("outlierDetection.intervalSeconds", Some(o.interval_seconds)),
        (
            "outlierDetection.baseEjectionTimeSeconds",
            Some(o.base_ejection_time_seconds),
        ),
        (
            "outlierDetection.maxEjectionTimeSeconds",
            o.max_ejection_time_seconds,
        ),
    ] {
        if let Some(v) = v {
            if !(v > 0.0 && v.is_finite()) {
                return Err(at(field, v, "a finite number of seconds above 0"));
            }
        }
    }
    for (field, v) in [
        (
            "outlierDetection.maxEjectionPercent",
            o.max_ejection_percent,
        ),
        (
            "outlierDetection.enforcingConsecutive5xx",
            o.enforcing_consecutive_5xx,
        ),
        (
            "outlierDetection.enforcingConsecutiveGatewayFailure",
            o.enforcing_consecutive_gateway_failure,
        ),
    ] {
        if v > 100 {
            return Err(at(field, f64::from(v), "a percentage in [0, 100]"));
        }
    }
    if !(0.0..=100.0).contains(&o.healthy_panic_threshold) {
        return Err(at(
            "outlierDetection.healthyPanicThreshold",
            o.healthy_panic_threshold,
            "a percentage in [0, 100]",
        ));
    }
    if o.max_ejection_seconds() < o.base_ejection_time_seconds {
        return Err(at(
            "outlierDetection.maxEjectionTimeSeconds",
            o.max_ejection_seconds(),
            "at least baseEjectionTimeSeconds, as Envoy requires",
        ));
    }
    Ok(())
}

/// A queue discipline's constants and the concurrency limit's thresholds
/// (docs/retry-defences.md#queue-disciplines, #concurrency-limit): CoDel's target and interval
/// are durations above 0, and a limit of 0 would refuse every request.
fn queue(prefix: &str, spec: &crate::config::ServiceSpec) -> Result<(), String> {
    let at = |field: &str, v: f64, expected: &str| out_of_range(prefix, field, v, expected);
    for (field, v) in [
        ("codel.targetSeconds", spec.codel.target_seconds),
        ("codel.intervalSeconds", spec.codel.interval_seconds),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(at(field, v, "a finite number of seconds above 0"));
        }
    }
    if let Some(l) = &spec.concurrency_limit {
        for (field, v) in [
            ("concurrencyLimit.maxRequests", l.max_requests),
            (
                "concurrencyLimit.maxPendingRequests",
                l.max_pending_requests,
            ),
        ] {
            if v == 0 {
                return Err(at(field, 0.0, "at least 1 (0 would refuse every request)"));
            }
        }
    }
    Ok(())
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
