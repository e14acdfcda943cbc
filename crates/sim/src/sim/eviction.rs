//! The kubelet's eviction manager for node memory, as a pure model: no clock and no cluster,
//! instants and amounts in, decisions out (docs/kubernetes.md#node-memory-pressure).
//! `node_memory.rs` feeds it from the simulation; the kernel's OOM killer is `oom_killer.rs`.
//!
//! Upstream: pkg/kubelet/eviction (eviction_manager.go, helpers.go) and the kubelet's
//! configuration defaults (k8s.io/kubelet config/v1beta1), v1.33.

use cascade_engine::Time;
use cascade_manifest::quantity::Quantity;
use std::collections::BTreeMap;

/// The signal cascade models: `memory.available`, the node's memory capacity minus its
/// working set. Every other kubelet signal is known and refused by name (see [`Signal::parse`]).
pub const MEMORY_AVAILABLE: &str = "memory.available";

/// Signals the kubelet knows but cascade does not model (disk, inodes, PIDs, and the
/// allocatable variant the kubelet derives itself): refused rather than ignored, so a scenario
/// never believes a threshold is in force when it is not.
const UNMODELLED_SIGNALS: &[&str] = &[
    "allocatableMemory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "containerfs.available",
    "containerfs.inodesFree",
    "pid.available",
];

/// The grace period a pod evicted for a hard threshold gets: `immediateEvictionGracePeriodSeconds`
/// = 1 (pkg/kubelet/eviction/eviction_manager.go, v1.33; the documentation says 0).
pub const IMMEDIATE_EVICTION_GRACE_PERIOD_SECONDS: f64 = 1.0;

/// Pods at or above this priority are critical (`system-cluster-critical`,
/// `SystemCriticalPriority` = 2000000000, pkg/apis/scheduling): the eviction manager never
/// evicts them (eviction_manager.go evictPod, v1.33).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// How much of a signal must remain: an amount, or a percentage of capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdValue {
    Bytes(i64),
    Percentage(f64),
}

/// One eviction threshold (`memory.available<100Mi`): hard, or soft with a grace period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    pub value: ThresholdValue,
    /// None for a hard threshold; for a soft one, how long it must be met before the kubelet
    /// evicts (`evictionSoftGracePeriod`).
    pub grace_period: Option<Time>,
}

impl Threshold {
    /// The amount below which the signal meets the threshold on a node with this capacity.
    pub fn bytes(&self, capacity: i64) -> i64 {
        match self.value {
            ThresholdValue::Bytes(b) => b,
            ThresholdValue::Percentage(p) => {
                // Rounded as resource.NewQuantity(int64(float64(capacity) * percentage)).
                #[allow(clippy::cast_possible_truncation)]
                let b = (capacity as f64 * p / 100.0) as i64;
                b
            }
        }
    }

    /// Whether `available` meets the threshold: strictly less than it (helpers.go
    /// thresholdsMet compares with `Cmp(...) > 0` for the LessThan operator).
    pub fn met(&self, available: i64, capacity: i64) -> bool {
        available < self.bytes(capacity)
    }

    pub fn is_hard(&self) -> bool {
        self.grace_period.is_none()
    }
}

/// A problem with the kubelet's eviction parameters: the parameter path (camelCase keys from
/// the top of `Params`) and what was expected.
pub type ThresholdError = (Vec<String>, String);

/// Reads one threshold's value as the kubelet parses it (helpers.go parseThresholdStatement):
/// "10%" or a quantity ("100Mi"); 0 or "0%" disables the threshold (None).
pub fn parse_value(s: &str) -> Result<Option<ThresholdValue>, String> {
    if let Some(p) = s.strip_suffix('%') {
        let v: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: expected a percentage such as \"10%\""))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("{s:?}: expected a percentage not below 0%"));
        }
        if v > 100.0 {
            return Err(format!("{s:?}: expected a percentage not above 100%"));
        }
        return Ok((v > 0.0).then_some(ThresholdValue::Percentage(v)));
    }
    let q = Quantity::parse(s.trim()).map_err(|e| format!("{s:?}: expected {e}"))?;
    if q.is_negative() {
        return Err(format!(
            "{s:?}: expected a quantity not below 0 (the kubelet refuses a negative threshold)"
        ));
    }
    let b = q.value().map_err(|e| format!("{s:?}: expected {e}"))?;
    Ok((b > 0).then_some(ThresholdValue::Bytes(b)))
}

/// Checks a signal's name: `memory.available`, or an error naming what cascade models.
pub fn check_signal(name: &str) -> Result<(), String> {
    if name == MEMORY_AVAILABLE {
        Ok(())
    } else if UNMODELLED_SIGNALS.contains(&name) {
        Err(format!(
            "eviction signal {name:?} is not modelled: cascade models only \"{MEMORY_AVAILABLE}\""
        ))
    } else {
        Err(crate::scenario::unknown_name(
            "eviction signal",
            name,
            &[MEMORY_AVAILABLE],
        ))
    }
}

/// The thresholds of `evictionHard`, `evictionSoft` and `evictionSoftGracePeriodSeconds`, or
/// every problem with them (kubelet: helpers.go ParseThresholdConfig: a soft threshold needs a
/// grace period).
pub fn parse_thresholds(
    hard: &BTreeMap<String, String>,
    soft: &BTreeMap<String, String>,
    soft_grace_seconds: &BTreeMap<String, f64>,
) -> Result<Vec<Threshold>, Vec<ThresholdError>> {
    let at =
        |field: &str, key: &str| vec!["kubelet".to_string(), field.to_string(), key.to_string()];
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (field, map, soft_one) in [("evictionHard", hard, false), ("evictionSoft", soft, true)] {
        for (signal, value) in map {
            if let Err(e) = check_signal(signal) {
                errors.push((at(field, signal), e));
                continue;
            }
            let value = match parse_value(value) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(e) => {
                    errors.push((at(field, signal), format!("{field}[{signal}] = {e}")));
                    continue;
                }
            };
            let grace_period = if soft_one {
                match soft_grace_seconds.get(signal) {
                    Some(g) if g.is_finite() && *g >= 0.0 => Some(Time::from_secs_f64(*g)),
                    Some(g) => {
                        errors.push((
                            at("evictionSoftGracePeriodSeconds", signal),
                            format!("evictionSoftGracePeriodSeconds[{signal}] = {g}: expected a number of seconds not below 0"),
                        ));
                        continue;
                    }
                    None => {
                        errors.push((
                            at(field, signal),
                            format!("evictionSoft[{signal}] has no grace period: expected evictionSoftGracePeriodSeconds[{signal}] as well (the kubelet refuses to start without it)"),
                        ));
                        continue;
                    }
                }
            } else {
                None
            };
            out.push(Threshold {
                value,
                grace_period,
            });
        }
    }
    for signal in soft_grace_seconds.keys() {
        if let Err(e) = check_signal(signal) {
            errors.push((at("evictionSoftGracePeriodSeconds", signal), e));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A pod as the eviction manager ranks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodStats {
    /// Its working set.
    pub usage: i64,
    /// Its memory request (the sum the scheduler uses).
    pub request: i64,
    pub priority: i32,
}

impl PodStats {
    fn exceeds_request(&self) -> bool {
        self.usage > self.request
    }
}

/// The order in which the kubelet evicts for memory (helpers.go rankMemoryPressure, v1.33):
/// pods using more than their request first, then lower priority first, then the larger use
/// above request first. QoS class is not a key. Go's `sort.Sort` is not stable; cascade breaks
/// the remaining ties by position, so the order is total and the run deterministic.
pub fn rank_memory_pressure(pods: &[PodStats]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (pods[a], pods[b]);
        pb.exceeds_request()
            .cmp(&pa.exceeds_request())
            .then(pa.priority.cmp(&pb.priority))
            .then(
                (i128::from(pb.usage) - i128::from(pb.request))
                    .cmp(&(i128::from(pa.usage) - i128::from(pa.request))),
            )
            .then(a.cmp(&b))
    });
    order
}

/// The eviction manager's settings, resolved from `parameters.kubelet`.
#[derive(Clone, Debug, PartialEq)]
pub struct EvictionConfig {
    pub thresholds: Vec<Threshold>,
    /// `evictionPressureTransitionPeriod`: how long MemoryPressure stays True after the last
    /// time a threshold was met.
    pub pressure_transition_period: Time,
    /// `evictionMaxPodGracePeriod`: the grace period of a pod evicted for a soft threshold.
    pub max_pod_grace_period_seconds: f64,
}

/// One node's eviction manager between passes: when each threshold was first seen met, and
/// when any was last seen met.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvictionManager {
    first_observed: Vec<Option<Time>>,
    pressure_last_observed: Option<Time>,
}

/// What one pass of `synchronize` decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncDecision {
    /// The node's MemoryPressure condition after this pass.
    pub memory_pressure: bool,
    /// Whether a threshold is met right now (before grace periods).
    pub threshold_met: bool,
    /// The pod to evict (its index in the pods passed in) and its grace period in seconds.
    pub evict: Option<(usize, f64)>,
}

impl EvictionManager {
    /// Whether no threshold was met at the last pass (so no soft threshold's grace period is
    /// running).
    pub fn no_threshold_met(&self) -> bool {
        self.first_observed.iter().all(Option::is_none)
    }

    /// One pass (eviction_manager.go synchronize, v1.33) at `now`, for a node with this
    /// memory capacity and working set and these pods (`critical[i]`: never evicted). At most
    /// one pod is evicted per pass.
    pub fn synchronize(
        &mut self,
        now: Time,
        cfg: &EvictionConfig,
        capacity: i64,
        working_set: i64,
        pods: &[PodStats],
        critical: &[bool],
    ) -> SyncDecision {
        let available = capacity.saturating_sub(working_set);
        self.first_observed.resize(cfg.thresholds.len(), None);
        let mut any_met = false;
        for (t, first) in cfg.thresholds.iter().zip(self.first_observed.iter_mut()) {
            if t.met(available, capacity) {
                any_met = true;
                first.get_or_insert(now);
            } else {
                *first = None;
            }
        }
        if any_met {
            self.pressure_last_observed = Some(now);
        }
        // nodeConditionsObservedSince: the condition holds while it was last observed less
        // than the transition period ago.
        let memory_pressure = self
            .pressure_last_observed
            .is_some_and(|t| now - t < cfg.pressure_transition_period);
        // thresholdsMetGracePeriod: met for at least the grace period (0 for a hard one). A
        // hard threshold is reclaimed first, with the immediate grace period.
        let actionable = cfg
            .thresholds
            .iter()
            .zip(&self.first_observed)
            .filter(|(t, first)| {
                first.is_some_and(|f| now - f >= t.grace_period.unwrap_or(Time::ZERO))
            });
        let mut grace: Option<f64> = None;
        for (t, _) in actionable {
            if t.is_hard() {
                grace = Some(IMMEDIATE_EVICTION_GRACE_PERIOD_SECONDS);
                break;
            }
            grace.get_or_insert(cfg.max_pod_grace_period_seconds);
        }
        let evict = grace.and_then(|g| {
            rank_memory_pressure(pods)
                .into_iter()
                .find(|&i| !critical.get(i).copied().unwrap_or(false))
                .map(|i| (i, g))
        });
        SyncDecision {
            memory_pressure,
            threshold_met: any_met,
            evict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MI: i64 = 1 << 20;
    const GI: i64 = 1 << 30;

    fn secs(s: f64) -> Time {
        Time::from_secs_f64(s)
    }

    fn hard(b: i64) -> Threshold {
        Threshold {
            value: ThresholdValue::Bytes(b),
            grace_period: None,
        }
    }

    fn cfg(thresholds: Vec<Threshold>) -> EvictionConfig {
        EvictionConfig {
            thresholds,
            pressure_transition_period: secs(300.0),
            max_pod_grace_period_seconds: 0.0,
        }
    }

    #[test]
    fn threshold_arithmetic() {
        let t = hard(100 * MI);
        // Strictly below: exactly 100Mi available is not met.
        assert!(!t.met(100 * MI, 16 * GI));
        assert!(t.met(100 * MI - 1, 16 * GI));
        let p = Threshold {
            value: ThresholdValue::Percentage(10.0),
            grace_period: None,
        };
        assert_eq!(p.bytes(10 * GI), GI);
        assert!(p.met(GI - 1, 10 * GI));
        assert!(!p.met(GI, 10 * GI));
    }

    #[test]
    fn values_parse_as_the_kubelet_reads_them() {
        assert_eq!(
            parse_value("100Mi"),
            Ok(Some(ThresholdValue::Bytes(100 * MI)))
        );
        assert_eq!(
            parse_value("10%"),
            Ok(Some(ThresholdValue::Percentage(10.0)))
        );
        assert_eq!(parse_value("0"), Ok(None));
        assert_eq!(parse_value("0%"), Ok(None));
        assert!(parse_value("-100Mi").unwrap_err().contains("not below 0"));
        assert!(parse_value("-5%").unwrap_err().contains("not below 0%"));
        assert!(parse_value("150%").unwrap_err().contains("not above 100%"));
        assert!(parse_value("lots").is_err());
    }

    #[test]
    fn signals_and_grace_periods_are_checked() {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let none = BTreeMap::new();
        let errs =
            parse_thresholds(&m(&[("memory.avail", "1Gi")]), &none, &BTreeMap::new()).unwrap_err();
        assert_eq!(errs[0].0, ["kubelet", "evictionHard", "memory.avail"]);
        assert!(errs[0].1.contains("did you mean \"memory.available\""));
        let errs = parse_thresholds(&m(&[("nodefs.available", "10%")]), &none, &BTreeMap::new())
            .unwrap_err();
        assert!(errs[0].1.contains("not modelled"));
        // A soft threshold without its grace period.
        let errs = parse_thresholds(&none, &m(&[("memory.available", "1Gi")]), &BTreeMap::new())
            .unwrap_err();
        assert!(errs[0].1.contains("no grace period"));
        let grace: BTreeMap<String, f64> = [("memory.available".to_string(), 90.0)].into();
        let ok = parse_thresholds(
            &m(&[("memory.available", "100Mi")]),
            &m(&[("memory.available", "1Gi")]),
            &grace,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].grace_period, Some(secs(90.0)));
    }

    #[test]
    fn ranking_puts_use_above_request_first_then_priority_then_excess() {
        let pods = [
            // 0: under its request, lowest priority.
            PodStats {
                usage: GI,
                request: 2 * GI,
                priority: -10,
            },
            // 1: over by 1Gi, priority 100.
            PodStats {
                usage: 2 * GI,
                request: GI,
                priority: 100,
            },
            // 2: over by 512Mi, priority 0.
            PodStats {
                usage: GI + 512 * MI,
                request: GI,
                priority: 0,
            },
            // 3: over by 3Gi, priority 0 (BestEffort: no request).
            PodStats {
                usage: 3 * GI,
                request: 0,
                priority: 0,
            },
            // 4: the same as 3: ties keep their order.
            PodStats {
                usage: 3 * GI,
                request: 0,
                priority: 0,
            },
        ];
        assert_eq!(rank_memory_pressure(&pods), vec![3, 4, 2, 1, 0]);
    }

    #[test]
    fn one_eviction_per_pass_and_critical_pods_are_spared() {
        let c = cfg(vec![hard(100 * MI)]);
        let mut m = EvictionManager::default();
        let pods = [
            PodStats {
                usage: 5 * GI,
                request: 0,
                priority: SYSTEM_CRITICAL_PRIORITY,
            },
            PodStats {
                usage: 4 * GI,
                request: 0,
                priority: 0,
            },
        ];
        let d = m.synchronize(
            secs(0.0),
            &c,
            9 * GI + 50 * MI,
            9 * GI,
            &pods,
            &[true, false],
        );
        assert!(d.memory_pressure && d.threshold_met);
        assert_eq!(d.evict, Some((1, IMMEDIATE_EVICTION_GRACE_PERIOD_SECONDS)));
        // Enough memory: no eviction.
        let d = m.synchronize(secs(10.0), &c, 16 * GI, 9 * GI, &pods, &[true, false]);
        assert_eq!(d.evict, None);
    }

    #[test]
    fn memory_pressure_lasts_the_transition_period() {
        let c = cfg(vec![hard(100 * MI)]);
        let mut m = EvictionManager::default();
        let none: [PodStats; 0] = [];
        assert!(
            m.synchronize(secs(10.0), &c, GI, GI, &none, &[])
                .memory_pressure
        );
        // Resolved at 20 s: still True until 10 s + 300 s.
        let d = m.synchronize(secs(20.0), &c, GI, 0, &none, &[]);
        assert!(d.memory_pressure && !d.threshold_met);
        assert!(
            m.synchronize(secs(309.0), &c, GI, 0, &none, &[])
                .memory_pressure
        );
        assert!(
            !m.synchronize(secs(310.0), &c, GI, 0, &none, &[])
                .memory_pressure
        );
    }

    #[test]
    fn a_soft_threshold_waits_its_grace_period() {
        let soft = Threshold {
            value: ThresholdValue::Bytes(GI),
            grace_period: Some(secs(60.0)),
        };
        let mut c = cfg(vec![soft]);
        c.max_pod_grace_period_seconds = 30.0;
        let mut m = EvictionManager::default();
        let pods = [PodStats {
            usage: GI,
            request: 0,
            priority: 0,
        }];
        // Met from 0 s: MemoryPressure at once, eviction only once met for 60 s.
        let d = m.synchronize(secs(0.0), &c, 4 * GI, 3 * GI + MI, &pods, &[false]);
        assert!(d.memory_pressure);
        assert_eq!(d.evict, None);
        assert_eq!(
            m.synchronize(secs(50.0), &c, 4 * GI, 3 * GI + MI, &pods, &[false])
                .evict,
            None
        );
        assert_eq!(
            m.synchronize(secs(60.0), &c, 4 * GI, 3 * GI + MI, &pods, &[false])
                .evict,
            Some((0, 30.0))
        );
        // Unmet once: the grace period starts again.
        m.synchronize(secs(70.0), &c, 4 * GI, 0, &pods, &[false]);
        assert_eq!(
            m.synchronize(secs(80.0), &c, 4 * GI, 3 * GI + MI, &pods, &[false])
                .evict,
            None
        );
    }

    fn pod_stats() -> impl Strategy<Value = PodStats> {
        (0i64..64, 0i64..64, -3i32..3).prop_map(|(u, r, p)| PodStats {
            usage: u * 64 * MI,
            request: r * 64 * MI,
            priority: p * 1000,
        })
    }

    proptest! {
        /// The ranking is a permutation, sorted by its keys: no later pod should go before an
        /// earlier one.
        #[test]
        fn ranking_is_a_total_order_on_its_keys(pods in proptest::collection::vec(pod_stats(), 0..12)) {
            let order = rank_memory_pressure(&pods);
            let mut seen = order.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..pods.len()).collect::<Vec<_>>());
            let key = |i: usize| {
                let p = pods[i];
                (!p.exceeds_request(), p.priority, p.request - p.usage, i)
            };
            for w in order.windows(2) {
                prop_assert!(key(w[0]) < key(w[1]));
            }
        }
    }
}
