//! client-go's reflector between failed LIST/WATCH attempts: `ListAndWatch` runs under
//! `wait.BackoffUntil` with an exponential backoff manager (v1.33 tools/cache/reflector.go):
//! 800 ms doubling to a 30 s cap, each delay jittered up to twice itself, reset after 2 minutes
//! without a backoff. Once capped, a failing reflector retries every 30 to 60 s: about 0.022
//! attempts per second each, which is what a herd of them after an API server restart adds up
//! to. docs/control-plane-and-nodes.md, "The cost of LIST, GET and WATCH".

use cascade_engine::{Duration, Time};

/// The first delay (`initBackoff`, 800 ms).
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(800);
/// The cap on the delay before jitter (`maxBackoff`, 30 s).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A backoff this long after the previous one starts again from the first delay
/// (`resetDuration`, 2 min).
pub const RESET: Duration = Duration::from_secs(120);
/// Each step multiplies the delay (`backoffFactor`, 2.0).
pub const FACTOR: u64 = 2;
/// A delay `d` becomes `d + u x JITTER x d` for `u` uniform in [0, 1) (`jitter`, 1.0).
pub const JITTER: f64 = 1.0;

/// One reflector's backoff manager.
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectorBackoff {
    /// The next delay before jitter.
    duration: Duration,
    /// When the last backoff began.
    last: Option<Time>,
}

impl Default for ReflectorBackoff {
    fn default() -> Self {
        ReflectorBackoff {
            duration: INITIAL_BACKOFF,
            last: None,
        }
    }
}

impl ReflectorBackoff {
    /// The delay before the next attempt after one failed at `now`; `u` is the run's uniform
    /// draw in [0, 1) for the jitter.
    pub fn next_delay(&mut self, now: Time, u: f64) -> Duration {
        if self.last.is_some_and(|l| now.since(l) > RESET) {
            self.duration = INITIAL_BACKOFF;
        }
        self.last = Some(now);
        let d = self.duration.as_secs_f64();
        self.duration = self.duration.saturating_mul(FACTOR).min(MAX_BACKOFF);
        // Jittered in seconds and rounded once, as the delay is drawn.
        Duration::from_secs_f64(d + u.clamp(0.0, 1.0) * JITTER * d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_from_800_ms_to_the_30_s_cap() {
        let mut b = ReflectorBackoff::default();
        let delays: Vec<f64> = (0..9)
            .map(|i| {
                b.next_delay(Time::from_secs_f64(f64::from(i)), 0.0)
                    .as_secs_f64()
            })
            .collect();
        assert_eq!(delays, [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]);
    }

    #[test]
    fn two_quiet_minutes_start_it_again() {
        let mut b = ReflectorBackoff::default();
        for i in 0..6 {
            b.next_delay(Time::from_secs_f64(f64::from(i)), 0.0);
        }
        assert_eq!(
            b.next_delay(Time::from_secs_f64(100.0), 0.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.next_delay(Time::from_secs_f64(221.0), 0.0),
            Duration::from_millis(800)
        );
    }

    proptest! {
        /// Once capped, every delay lies in [30, 60) s: upstream's "stops at [30,60) s".
        #[test]
        fn capped_delays_lie_in_30_to_60_seconds(us in prop::collection::vec(0.0f64..1.0, 8..40)) {
            let mut b = ReflectorBackoff::default();
            for (i, u) in us.iter().enumerate() {
                let d = b.next_delay(Time::from_secs_f64(i as f64), *u).as_secs_f64();
                if i >= 6 {
                    prop_assert!((30.0..60.0).contains(&d), "{d}");
                }
            }
        }
    }
}
