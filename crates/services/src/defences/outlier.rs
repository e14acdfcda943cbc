//! Envoy's outlier detection as a pure state machine (no clock: time is an argument), one
//! detector per caller and service called, as one Envoy cluster's. The rules, their defaults
//! and the Envoy source they were read from are in docs/retry-defences.md#outlier-detection.
//!
//! Hosts are the called service's replicas, by their index. The sweep Envoy runs on a timer
//! every `interval` from the detector's creation is run here lazily: [`OutlierDetector::advance`]
//! runs every sweep due up to `now`, in order, before anything else is asked or recorded at
//! `now`, which is exact because nothing between two sweeps depends on them but what is asked
//! at an instant.

use crate::config::OutlierDetection;
use cascade_engine::{Duration, Time};
use std::collections::BTreeMap;

/// What an answer is to the detector, as Envoy's HTTP router reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a 5xx (a 2xx, and also a 429): both counts start again.
    Success,
    /// A 5xx that is not a gateway failure (a 500 after the work).
    ServerError,
    /// 502, 503 or 504: a refused connection (503), a timeout (504), a full queue's 503.
    GatewayFailure,
}

/// Which count reached its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    Consecutive5xx,
    ConsecutiveGatewayFailure,
}

/// What became of a detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ejection {
    /// The host is ejected; its ejection multiplier is now this.
    Ejected { multiplier: u32 },
    /// `max_ejection_percent` would be passed: Envoy's `ejections_overflow`.
    Overflow,
    /// The enforcement draw said no (`enforcing_*` below 100).
    NotEnforced,
}

/// One host's monitor (Envoy's `DetectorHostMonitorImpl`).
#[derive(Clone, Debug, Default, PartialEq)]
struct Host {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    /// Since when it is ejected, while it is.
    ejected_at: Option<Time>,
    /// When it last came back.
    unejected_at: Option<Time>,
    /// Envoy's `ejectTimeBackoff`: one more at each ejection (while below the cap), one less
    /// per sweep it has stayed healthy for a whole interval.
    multiplier: u32,
    ejections: u32,
}

/// Envoy's outlier detector (`DetectorImpl`) for the consecutive-error detections.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierDetector {
    cfg: OutlierDetection,
    interval: Duration,
    base: Duration,
    max: Duration,
    hosts: BTreeMap<u32, Host>,
    /// The next sweep (every `interval` from time 0, when the detector is made).
    next_sweep: Time,
}

impl OutlierDetector {
    /// A detector made at time 0 (validation keeps the interval and times above 0).
    pub fn new(cfg: &OutlierDetection) -> OutlierDetector {
        let interval = Duration::from_secs_f64(cfg.interval_seconds).max(Duration::from_micros(1));
        OutlierDetector {
            interval,
            base: Duration::from_secs_f64(cfg.base_ejection_time_seconds),
            max: Duration::from_secs_f64(cfg.max_ejection_seconds()),
            cfg: cfg.clone(),
            hosts: BTreeMap::new(),
            next_sweep: Time::ZERO.after(interval),
        }
    }

    /// Runs every sweep due at or before `now`; returns the hosts brought back, in order.
    pub fn advance(&mut self, now: Time) -> Vec<u32> {
        let mut back = Vec::new();
        while self.next_sweep <= now {
            let at = self.next_sweep;
            self.sweep(at, &mut back);
            self.next_sweep = at.after(self.interval);
        }
        back
    }

    /// Envoy's `onIntervalTimer`: an ejected host whose time is up comes back, its counts
    /// cleared (`checkHostForUneject`, `unejectHost`); then every host not ejected that came
    /// back at least an interval ago has its multiplier lowered by one.
    fn sweep(&mut self, at: Time, back: &mut Vec<u32>) {
        for (&id, h) in &mut self.hosts {
            if let Some(since) = h.ejected_at {
                let time = self
                    .base
                    .saturating_mul(u64::from(h.multiplier))
                    .min(self.max);
                if time <= at.since(since) {
                    h.ejected_at = None;
                    h.unejected_at = Some(at);
                    h.consecutive_5xx = 0;
                    h.consecutive_gateway = 0;
                    back.push(id);
                }
            }
        }
        for h in self.hosts.values_mut() {
            if h.ejected_at.is_none()
                && h.unejected_at.is_some_and(|u| at.since(u) >= self.interval)
            {
                h.multiplier = h.multiplier.saturating_sub(1);
            }
        }
    }

    /// An answer from `host` (call [`OutlierDetector::advance`] first): the detection it
    /// triggers, if a count has just reached its threshold and the host is not ejected. Envoy
    /// fires on reaching the threshold exactly (`==`), and a gateway failure is reported before
    /// the 5xx it also is; call [`OutlierDetector::eject`] with each detection, in order.
    pub fn record(&mut self, host: u32, outcome: Outcome) -> Vec<Detection> {
        let h = self.hosts.entry(host).or_default();
        let mut found = Vec::new();
        match outcome {
            Outcome::Success => {
                h.consecutive_5xx = 0;
                h.consecutive_gateway = 0;
                return found;
            }
            Outcome::GatewayFailure => {
                h.consecutive_gateway += 1;
                if h.consecutive_gateway == self.cfg.consecutive_gateway_failure {
                    found.push(Detection::ConsecutiveGatewayFailure);
                }
            }
            Outcome::ServerError => h.consecutive_gateway = 0,
        }
        h.consecutive_5xx += 1;
        if h.consecutive_5xx == self.cfg.consecutive_5xx {
            found.push(Detection::Consecutive5xx);
        }
        found
    }

    /// Envoy's `onConsecutiveErrorWorker` and `ejectHost` for a detection on `host` at `now`:
    /// nothing if the host is ejected already (its count is then not cleared); otherwise it is
    /// ejected if the ejected hosts among `members` (the service's endpoints), it included,
    /// are at most `max_ejection_percent` of them (or none is and `always_eject_one_host`), and
    /// the enforcement draw allows (`enforce(percent)`, asked only then); the count that
    /// fired starts again either way.
    pub fn eject(
        &mut self,
        now: Time,
        host: u32,
        detection: Detection,
        members: &[u32],
        enforce: impl FnOnce(u32) -> bool,
    ) -> Option<Ejection> {
        if self.is_ejected(host) {
            return None;
        }
        let ejected = members.iter().filter(|m| self.is_ejected(**m)).count();
        let max_percent = f64::from(self.cfg.max_ejection_percent.min(100));
        let percent = 100.0 * (ejected + 1) as f64 / members.len().max(1) as f64;
        let allowed = percent <= max_percent || (self.cfg.always_eject_one_host && ejected == 0);
        let enforcing = match detection {
            Detection::Consecutive5xx => self.cfg.enforcing_consecutive_5xx,
            Detection::ConsecutiveGatewayFailure => self.cfg.enforcing_consecutive_gateway_failure,
        };
        let cap = self.max.saturating_add(self.base);
        let h = self.hosts.entry(host).or_default();
        let result = if !allowed {
            Ejection::Overflow
        } else if enforce(enforcing) {
            h.ejected_at = Some(now);
            h.ejections += 1;
            if self.base.saturating_mul(u64::from(h.multiplier)) < cap {
                h.multiplier += 1;
            }
            Ejection::Ejected {
                multiplier: h.multiplier,
            }
        } else {
            Ejection::NotEnforced
        };
        match detection {
            Detection::Consecutive5xx => h.consecutive_5xx = 0,
            Detection::ConsecutiveGatewayFailure => h.consecutive_gateway = 0,
        }
        Some(result)
    }

    pub fn is_ejected(&self, host: u32) -> bool {
        self.hosts
            .get(&host)
            .is_some_and(|h| h.ejected_at.is_some())
    }

    /// The hosts ejected now, in order.
    pub fn ejected(&self) -> Vec<u32> {
        self.hosts
            .iter()
            .filter(|(_, h)| h.ejected_at.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// How many times `host` has been ejected.
    pub fn ejections(&self, host: u32) -> u32 {
        self.hosts.get(&host).map_or(0, |h| h.ejections)
    }

    /// How long an ejection with this multiplier lasts at least (it ends at the first sweep
    /// after): `base_ejection_time` times it, capped by `max_ejection_time`.
    pub fn ejection_time(&self, multiplier: u32) -> Duration {
        self.base
            .saturating_mul(u64::from(multiplier))
            .min(self.max)
    }

    /// The hosts a pick may choose among `members`: those not ejected, unless so few are
    /// healthy that Envoy's load balancer panics and uses them all: healthy hosts times the
    /// overprovisioning factor 1.4, as a percentage of the members capped at 100, below the
    /// panic threshold. None: every member (nothing ejected, or panic).
    pub fn healthy(&self, members: &[u32]) -> Option<Vec<u32>> {
        if !members.iter().any(|m| self.is_ejected(*m)) {
            return None;
        }
        let healthy: Vec<u32> = members
            .iter()
            .copied()
            .filter(|m| !self.is_ejected(*m))
            .collect();
        let health =
            (OVERPROVISIONING_FACTOR * healthy.len() as f64 / members.len() as f64).min(100.0);
        if healthy.is_empty() || health < self.cfg.healthy_panic_threshold {
            return None;
        }
        Some(healthy)
    }
}

/// Envoy's `kDefaultOverProvisioningFactor` (140, as a percentage): a priority level counts
/// as fully healthy while 1/1.4 of its hosts are. docs/retry-defences.md#outlier-detection
const OVERPROVISIONING_FACTOR: f64 = 140.0;

#[cfg(test)]
mod tests;
