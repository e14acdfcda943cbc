//! Lifeguard's dynamic suspicion timeout (memberlist `suspicion.go`, `util.go
//! suspicionTimeout`): a Suspect entry dies after a timeout that starts at
//! `suspicion_max_timeout_mult * min` and shrinks towards `min` as independent confirmations
//! arrive.

use cascade_engine::{Duration, Time};

use crate::{Config, MemberId};

/// A running suspicion timer (`suspicion.go suspicion`).
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    start: Time,
    /// Confirmations wanted before the timeout reaches `min`.
    k: u32,
    min: Duration,
    max: Duration,
    /// The first accuser is pre-registered and never counted.
    confirmers: Vec<MemberId>,
    confirmations: u32,
    fire_at: Time,
}

impl Suspicion {
    /// `suspectNode`'s `newSuspicion(from, k, min, max)` for a table of `n` members: `k =
    /// suspicion_mult - 2` confirmations (none if the table has too few other members to give
    /// them), `min = suspicion_timeout(...)`, `max = suspicion_max_timeout_mult * min`.
    pub(crate) fn new(cfg: &Config, n: usize, from: MemberId, now: Time) -> Suspicion {
        let mut k = cfg.suspicion.mult.saturating_sub(2);
        if (n as i64 - 2) < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(cfg.suspicion.mult, n, cfg.probe.interval);
        let max = min.saturating_mul(u64::from(cfg.suspicion.max_timeout_mult));
        let timeout = if k < 1 { min } else { max };
        Suspicion {
            start: now,
            k,
            min,
            max,
            confirmers: vec![from],
            confirmations: 0,
            fire_at: now.after(timeout),
        }
    }

    /// When the timer fires (a timer event at another time is stale).
    pub(crate) fn fire_at(&self) -> Time {
        self.fire_at
    }

    /// `Confirm`: counts a distinct accuser up to `k` and shortens the timer. Returns the new
    /// firing time, or `None` if the confirmation did not count.
    pub(crate) fn confirm(&mut self, from: MemberId, now: Time) -> Option<Time> {
        if self.confirmations >= self.k || self.confirmers.contains(&from) {
            return None;
        }
        self.confirmers.push(from);
        self.confirmations += 1;
        let left = remaining_suspicion_time(
            self.confirmations,
            self.k,
            now.since(self.start),
            self.min,
            self.max,
        );
        self.fire_at = now.after(left);
        Some(self.fire_at)
    }
}

/// `util.go suspicionTimeout`: the minimum suspicion timeout,
/// `suspicion_mult * max(1, log10(max(1, n))) * interval`, with the node scale taken to 1/1000
/// as memberlist does (`time.Duration(nodeScale*1000) * interval / 1000`).
// memberlist's own conversion, `time.Duration(nodeScale*1000)`: a float to an integer,
// truncating toward zero, of a value between 1000 and 10^4.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn suspicion_timeout(suspicion_mult: u32, n: usize, interval: Duration) -> Duration {
    let node_scale = (n.max(1) as f64).log10().max(1.0);
    let milli = (node_scale * 1000.0) as u64;
    let us =
        u128::from(suspicion_mult) * u128::from(milli) * u128::from(interval.as_micros()) / 1000;
    Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

/// `suspicion.go remainingSuspicionTime`: after `confirmations` independent confirmations out of
/// the `k` wanted, the timeout shrinks logarithmically from `max` towards `min`:
/// `max - ln(c+1)/ln(k+1) * (max - min)`, floored to the millisecond and never below `min`;
/// minus the time already `elapsed` (zero if that is past). With `k = 0` there is nothing to
/// confirm and the timeout is `min` (`newSuspicion`).
// `time.Duration(math.Floor(1000.0*timeout))`: floored milliseconds, never negative here.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn remaining_suspicion_time(
    confirmations: u32,
    k: u32,
    elapsed: Duration,
    min: Duration,
    max: Duration,
) -> Duration {
    if k == 0 {
        return min - elapsed;
    }
    let frac = f64::from(confirmations + 1).ln() / f64::from(k + 1).ln();
    let raw = max.as_secs_f64() - frac * (max.as_secs_f64() - min.as_secs_f64());
    let ms = (1000.0 * raw).floor().max(0.0);
    let timeout = Duration::from_millis(ms as u64).max(min);
    timeout - elapsed
}
