//! A client's defences against retry storms, as pure state machines (no clock: time is an
//! argument). Each is the upstream mechanism's rule, not an approximation of its effect; the
//! rules, their defaults and sources are in docs/retry-defences.md.
//!
//! - [`RetryThrottle`]: gRPC's retry throttling (gRFC A6), a token bucket that failures drain
//!   and successes refill; retries stop while it is at most half full.
//! - [`RetryBudget`]: Envoy's retry budget (`circuit_breakers.thresholds.retry_budget`), a cap on
//!   retries outstanding at once as a share of the requests active.
//! - [`CircuitBreaker`]: Hystrix's circuit breaker: closed, open after too many errors in a
//!   rolling window, half-open after a sleep window to let one trial through.
//! - [`OutlierDetector`] (`outlier.rs`): Envoy's outlier detection, which leaves a replica
//!   that keeps failing out of a caller's picks for a while.

use crate::config;
use cascade_engine::Time;
use std::collections::VecDeque;

mod outlier;
pub use outlier::{Detection, Ejection, Outcome, OutlierDetector};

/// gRPC retry throttling (gRFC A6; grpc-core `retry_throttle.cc`, which keeps tokens in
/// thousandths so that `tokenRatio`'s three decimals are exact). docs/retry-defences.md#grpc-retry-throttling
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryThrottle {
    max_milli: u64,
    ratio_milli: u64,
    milli: u64,
}

impl RetryThrottle {
    /// A full bucket. `maxTokens` and `tokenRatio` are rounded to thousandths, as grpc-core
    /// parses them; validation keeps them in (0, 1000] and above 0.
    // Both are validated finite, positive and at most 1000 (x1000 fits any u64).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn new(cfg: &config::RetryThrottling) -> RetryThrottle {
        let max_milli = (cfg.max_tokens * 1000.0).round() as u64;
        RetryThrottle {
            max_milli,
            ratio_milli: (cfg.token_ratio * 1000.0).round() as u64,
            milli: max_milli,
        }
    }

    /// A failed attempt costs one token (never below 0).
    pub fn record_failure(&mut self) {
        self.milli = self.milli.saturating_sub(1000);
    }

    /// A successful attempt adds `tokenRatio` tokens (never above `maxTokens`).
    pub fn record_success(&mut self) {
        self.milli = (self.milli + self.ratio_milli).min(self.max_milli);
    }

    /// Retries are allowed only while the tokens are more than half of `maxTokens`.
    pub fn allows_retry(&self) -> bool {
        self.milli > self.max_milli / 2
    }

    /// The tokens now (for metrics and tests).
    pub fn tokens(&self) -> f64 {
        self.milli as f64 / 1000.0
    }
}

/// Envoy's retry budget (envoy `config/cluster/v3/circuit_breaker.proto`,
/// `Thresholds.RetryBudget`; `source/common/upstream/resource_manager_impl.h`, `retries()`):
/// retries outstanding at once may number at most `budget_percent` of the requests active, and
/// never fewer than `min_retry_concurrency`. A retry is outstanding from the decision to retry
/// (its backoff included) until its own answer arrives, as Envoy's `RetryStateImpl` holds the
/// retry resource until the next `shouldRetry`. docs/retry-defences.md#envoy-retry-budget
#[derive(Clone, Debug, PartialEq)]
pub struct RetryBudget {
    budget_percent: f64,
    min_retry_concurrency: u32,
    /// Attempts sent and not yet answered (first tries and retries): Envoy's active requests.
    active: u32,
    /// Retries decided and not yet answered.
    retries: u32,
}

impl RetryBudget {
    pub fn new(cfg: &config::RetryBudget) -> RetryBudget {
        RetryBudget {
            budget_percent: cfg.budget_percent,
            min_retry_concurrency: cfg.min_retry_concurrency,
            active: 0,
            retries: 0,
        }
    }

    /// The most retries that may be outstanding now: Envoy's
    /// `max(budget_percent / 100 * active, min_retry_concurrency)`, the product floored as
    /// its conversion to an integer does.
    // A percentage in [0, 100] of a u32 count: non-negative and within u32.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn max_retries(&self) -> u32 {
        let share = (self.budget_percent / 100.0 * f64::from(self.active)).floor() as u32;
        share.max(self.min_retry_concurrency)
    }

    /// Whether one more retry fits the budget.
    pub fn allows_retry(&self) -> bool {
        self.retries < self.max_retries()
    }

    /// A retry is decided (call only when [`RetryBudget::allows_retry`]).
    pub fn retry_started(&mut self) {
        self.retries += 1;
    }

    /// A retry ended: its answer arrived, or it was never sent.
    pub fn retry_ended(&mut self) {
        self.retries = self.retries.saturating_sub(1);
    }

    pub fn attempt_sent(&mut self) {
        self.active += 1;
    }

    pub fn attempt_answered(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    pub fn retries_outstanding(&self) -> u32 {
        self.retries
    }

    pub fn active(&self) -> u32 {
        self.active
    }
}

/// Where a [`CircuitBreaker`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through; their outcomes are counted in the rolling window.
    Closed,
    /// Every request fails at once until `until`.
    Open { until: Time },
    /// One trial request is out; its outcome closes or reopens the circuit.
    HalfOpen,
}

/// Hystrix's circuit breaker (Netflix Hystrix 1.5, `HystrixCircuitBreaker.HystrixCircuitBreakerImpl`,
/// defaults from `HystrixCommandProperties`): closed, it counts outcomes in a rolling window of
/// buckets; once the window holds at least `requestVolumeThreshold` outcomes and the error
/// percentage is at least `errorThresholdPercentage`, it opens. Open, every request fails at
/// once; after `sleepWindow` one trial request goes through (half-open): its success closes the
/// circuit with an empty window, its failure opens it for another sleep window.
/// docs/retry-defences.md#circuit-breaker
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitBreaker {
    cfg: config::CircuitBreaker,
    state: BreakerState,
    /// (bucket number, outcomes, errors), oldest first; bucket n covers
    /// [n x width, (n + 1) x width).
    buckets: VecDeque<(u64, u32, u32)>,
    bucket_width: Time,
}

impl CircuitBreaker {
    pub fn new(cfg: &config::CircuitBreaker) -> CircuitBreaker {
        let width = cfg.rolling_window_seconds / f64::from(cfg.rolling_window_buckets.max(1));
        CircuitBreaker {
            cfg: cfg.clone(),
            state: BreakerState::Closed,
            buckets: VecDeque::new(),
            bucket_width: Time::from_secs_f64(width).max(Time(1)),
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a request may go out now. Past the sleep window, the first request asked about
    /// is the trial (the circuit turns half-open) and later ones are refused until it is in.
    pub fn allows(&mut self, now: Time) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// The outcome of a request that went out.
    pub fn record(&mut self, now: Time, ok: bool) {
        match self.state {
            BreakerState::HalfOpen => {
                if ok {
                    self.state = BreakerState::Closed;
                    self.buckets.clear();
                } else {
                    self.open(now);
                }
            }
            // An answer to a request sent before the circuit opened changes nothing.
            BreakerState::Open { .. } => {}
            BreakerState::Closed => {
                let n = now.0 / self.bucket_width.0;
                match self.buckets.back_mut() {
                    Some(b) if b.0 == n => {
                        b.1 += 1;
                        b.2 += u32::from(!ok);
                    }
                    _ => self.buckets.push_back((n, 1, u32::from(!ok))),
                }
                let buckets = u64::from(self.cfg.rolling_window_buckets.max(1));
                while self.buckets.front().is_some_and(|b| b.0 + buckets <= n) {
                    self.buckets.pop_front();
                }
                let (total, errors) = self.window();
                // Hystrix's error percentage is an integer: errors x 100 / total, floored.
                if total >= self.cfg.request_volume_threshold
                    && total > 0
                    && f64::from(
                        u32::try_from(u64::from(errors) * 100 / u64::from(total)).unwrap_or(100),
                    ) >= self.cfg.error_threshold_percentage
                {
                    self.open(now);
                }
            }
        }
    }

    /// Outcomes and errors in the rolling window.
    pub fn window(&self) -> (u32, u32) {
        self.buckets
            .iter()
            .fold((0, 0), |(t, e), b| (t + b.1, e + b.2))
    }

    fn open(&mut self, now: Time) {
        self.state = BreakerState::Open {
            until: now.saturating_add(Time::from_secs_f64(self.cfg.sleep_window_seconds)),
        };
        self.buckets.clear();
    }
}

/// The defences of one client or one downstream call, those configured (`None` otherwise):
/// each client keeps its own, and each call of a service its own, as each upstream cluster of
/// an Envoy sidecar or each Hystrix command does. docs/retry-defences.md#fan-out
#[derive(Debug)]
pub(crate) struct Defences {
    pub throttle: Option<RetryThrottle>,
    pub budget: Option<RetryBudget>,
    pub breaker: Option<CircuitBreaker>,
    /// Envoy's outlier detection (`calls[i].outlierDetection`): a downstream call's only; a
    /// client has none (docs/retry-defences.md#outlier-detection).
    pub outlier: Option<OutlierDetector>,
}

/// The defence that refused a retry.
pub(crate) enum RetryRefusal {
    Throttled,
    OverBudget,
}

impl Defences {
    pub fn new(
        throttle: Option<&config::RetryThrottling>,
        budget: Option<&config::RetryBudget>,
        breaker: Option<&config::CircuitBreaker>,
    ) -> Defences {
        Defences {
            throttle: throttle.map(RetryThrottle::new),
            budget: budget.map(RetryBudget::new),
            breaker: breaker.map(CircuitBreaker::new),
            outlier: None,
        }
    }

    /// Which defence refuses a retry, if one does. Throttling is asked first: a retry it
    /// refuses takes no budget.
    pub fn retry_refusal(&self) -> Option<RetryRefusal> {
        if self.throttle.as_ref().is_some_and(|t| !t.allows_retry()) {
            return Some(RetryRefusal::Throttled);
        }
        if self.budget.as_ref().is_some_and(|b| !b.allows_retry()) {
            return Some(RetryRefusal::OverBudget);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn throttle(max: f64, ratio: f64) -> RetryThrottle {
        RetryThrottle::new(&config::RetryThrottling {
            max_tokens: max,
            token_ratio: ratio,
        })
    }

    #[test]
    fn throttling_follows_grpc_cores_own_example() {
        // grpc-core's retry_throttle test: maxTokens 4 (threshold 2), tokenRatio 1.6.
        let mut t = throttle(4.0, 1.6);
        t.record_failure(); // 3
        assert!(t.allows_retry());
        t.record_success(); // 4, not 4.6
        assert_eq!(t.tokens(), 4.0);
        t.record_failure(); // 3
        assert!(t.allows_retry());
        t.record_failure(); // 2: at the threshold, no retries
        assert!(!t.allows_retry());
        t.record_failure(); // 1
        t.record_success(); // 2.6
        assert!(t.allows_retry());
        t.record_failure(); // 1.6
        t.record_failure(); // 0.6
        t.record_failure(); // 0, not below
        assert_eq!(t.tokens(), 0.0);
    }

    #[test]
    fn the_default_throttle_stops_retries_after_five_failures() {
        // maxTokens 10: the fifth consecutive failure leaves 5 = maxTokens / 2, not above it.
        let mut t = throttle(10.0, 0.1);
        for n in 1..=4 {
            t.record_failure();
            assert!(t.allows_retry(), "after {n} failures");
        }
        t.record_failure();
        assert!(!t.allows_retry());
        // One success adds 0.1: 5.1 > 5, retries again.
        t.record_success();
        assert!(t.allows_retry());
    }

    proptest! {
        /// After k consecutive failures from full, retries are allowed exactly while
        /// maxTokens - k > maxTokens / 2, whatever maxTokens is.
        #[test]
        fn throttling_stops_after_the_failures_the_formula_says(max in 1u32..=1000, k in 0u32..1200) {
            let mut t = throttle(f64::from(max), 0.5);
            for _ in 0..k {
                t.record_failure();
            }
            let left = f64::from(max.saturating_sub(k));
            prop_assert_eq!(t.allows_retry(), left > f64::from(max) / 2.0);
        }

        /// Tokens stay within [0, maxTokens] under any sequence of outcomes.
        #[test]
        fn tokens_stay_in_the_bucket(max in 1u32..=1000, ratio in 1u32..3000, outcomes in proptest::collection::vec(any::<bool>(), 0..300)) {
            let mut t = throttle(f64::from(max), f64::from(ratio) / 1000.0);
            for ok in outcomes {
                if ok { t.record_success() } else { t.record_failure() }
                prop_assert!(t.tokens() >= 0.0 && t.tokens() <= f64::from(max));
            }
        }

        /// Driven by any sequence of sends, answers and retry decisions that asks the budget
        /// first, retries outstanding never exceed max(min_retry_concurrency,
        /// floor(budget_percent% of the active requests)) at the moment each is decided.
        #[test]
        fn a_budget_never_permits_more_retries_than_its_bound(
            percent in 0u32..=100,
            min in 0u32..10,
            ops in proptest::collection::vec(0u8..4, 0..500),
        ) {
            let mut b = RetryBudget::new(&config::RetryBudget {
                budget_percent: f64::from(percent),
                min_retry_concurrency: min,
            });
            // Retries decided and not answered, and whether each has been sent.
            let mut pending: Vec<bool> = Vec::new();
            for op in ops {
                match op {
                    0 => b.attempt_sent(),
                    1 => b.attempt_answered(),
                    2 => {
                        if b.allows_retry() {
                            b.retry_started();
                            pending.push(false);
                            let bound = (f64::from(percent) / 100.0 * f64::from(b.active())).floor();
                            prop_assert!(f64::from(b.retries_outstanding()) <= bound.max(f64::from(min)));
                        }
                    }
                    _ => {
                        if let Some(sent) = pending.pop() {
                            if sent { b.attempt_answered() }
                            b.retry_ended();
                        }
                    }
                }
                prop_assert_eq!(b.retries_outstanding() as usize, pending.len());
            }
        }
    }

    #[test]
    fn envoys_budget_is_a_share_of_active_requests_with_a_floor() {
        let mut b = RetryBudget::new(&config::RetryBudget::default());
        // 20% of 10 active is 2, below the floor of 3.
        for _ in 0..10 {
            b.attempt_sent();
        }
        assert_eq!(b.max_retries(), 3);
        for _ in 0..3 {
            assert!(b.allows_retry());
            b.retry_started();
        }
        assert!(!b.allows_retry());
        // 20% of 24 active is 4.8, floored to 4.
        for _ in 0..14 {
            b.attempt_sent();
        }
        assert_eq!(b.max_retries(), 4);
        assert!(b.allows_retry());
        b.retry_started();
        assert!(!b.allows_retry());
        b.retry_ended();
        assert!(b.allows_retry());
    }

    fn secs(s: f64) -> Time {
        Time::from_secs_f64(s)
    }

    #[test]
    fn the_breaker_opens_on_errors_sleeps_then_lets_one_trial_through() {
        let mut c = CircuitBreaker::new(&config::CircuitBreaker::default());
        // 19 failures in the window: below the volume threshold of 20, still closed.
        for i in 0..19 {
            assert!(c.allows(secs(0.1 * f64::from(i))));
            c.record(secs(0.1 * f64::from(i)), false);
        }
        assert_eq!(c.state(), BreakerState::Closed);
        c.record(secs(2.0), false);
        assert_eq!(c.state(), BreakerState::Open { until: secs(7.0) });
        assert!(!c.allows(secs(6.9)));
        // The sleep window has passed: one trial, and only one.
        assert!(c.allows(secs(7.0)));
        assert_eq!(c.state(), BreakerState::HalfOpen);
        assert!(!c.allows(secs(7.1)));
        c.record(secs(7.2), false);
        assert_eq!(c.state(), BreakerState::Open { until: secs(12.2) });
        assert!(c.allows(secs(12.2)));
        c.record(secs(12.3), true);
        assert_eq!(c.state(), BreakerState::Closed);
        assert_eq!(c.window(), (0, 0));
    }

    #[test]
    fn the_breaker_stays_closed_below_the_error_percentage_and_forgets_old_buckets() {
        let mut c = CircuitBreaker::new(&config::CircuitBreaker::default());
        // 49% errors over 100 outcomes: closed.
        for i in 0..100u32 {
            c.record(secs(0.05 * f64::from(i)), i < 51);
        }
        assert_eq!(c.state(), BreakerState::Closed);
        assert_eq!(c.window(), (100, 49));
        // 10 s later the window holds only what came after.
        c.record(secs(20.0), false);
        assert_eq!(c.window(), (1, 1));
        assert_eq!(c.state(), BreakerState::Closed);
    }
}
