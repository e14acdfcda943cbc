//! client-go's client-side rate limit: every API client (kubelet, controllers, scheduler, a
//! pod's operator) takes a token from its own bucket before each request, and *waits* for one
//! when the bucket is empty; it is never rejected client-side. See
//! `docs/control-plane-and-nodes.md`, "client-go limits and retries".

use cascade_engine::{Duration, Time};

/// `rest.Config`'s default QPS when a client sets none (client-go v0.33, `rest/config.go`,
/// `DefaultQPS`). cluster-autoscaler keeps this default.
pub const DEFAULT_QPS: f64 = 5.0;

/// `rest.Config`'s default burst when a client sets none (client-go v0.33, `rest/config.go`,
/// `DefaultBurst`).
pub const DEFAULT_BURST: u32 = 10;

/// kubelet `kubeAPIQPS` default (kubelet config v1beta1 `types.go` at v0.33; it was 5 up to
/// v1.26 and became 50 in v1.27).
pub const KUBELET_KUBE_API_QPS: f64 = 50.0;

/// kubelet `kubeAPIBurst` default (kubelet config v1beta1 `types.go` at v0.33; it was 10 up
/// to v1.26 and became 100 in v1.27).
pub const KUBELET_KUBE_API_BURST: u32 = 100;

/// kube-controller-manager `--kube-api-qps` default (kubernetes v1.33,
/// `pkg/controller/apis/config/v1alpha1/defaults.go`).
pub const CONTROLLER_MANAGER_KUBE_API_QPS: f64 = 20.0;

/// kube-controller-manager `--kube-api-burst` default (same file).
pub const CONTROLLER_MANAGER_KUBE_API_BURST: u32 = 30;

/// kube-scheduler `clientConnection.qps` default (kubernetes v1.33,
/// `pkg/scheduler/apis/config/v1/defaults.go`).
pub const SCHEDULER_QPS: f64 = 50.0;

/// kube-scheduler `clientConnection.burst` default (same file).
pub const SCHEDULER_BURST: u32 = 100;

/// The controllers' work queue retries a key whose sync failed after 5 ms, doubling at each
/// further failure (`workqueue.DefaultControllerRateLimiter`'s per-item exponential limiter,
/// client-go v0.33 `util/workqueue/default_rate_limiters.go`)...
pub const WORKQUEUE_BASE_DELAY: Duration = Duration::from_millis(5);

/// ...up to 1000 s (same limiter)...
pub const WORKQUEUE_MAX_DELAY: Duration = Duration::from_secs(1000);

/// ...and, over all keys, no faster than 10 a second (the same rate limiter's overall bucket)...
pub const WORKQUEUE_QPS: f64 = 10.0;

/// ...after a burst of 100.
pub const WORKQUEUE_BURST: u32 = 100;

/// kube-controller-manager `--endpointslice-updates-batch-period` default (kubernetes v1.33,
/// `pkg/controller/endpointslice/config/v1alpha1/defaults.go` leaves it unset): a pod's change
/// queues its Services' syncs this long later; 0 queues them at once.
pub const ENDPOINTSLICE_UPDATES_BATCH_PERIOD: Duration = Duration::ZERO;

/// The endpointslice controller's per-Service retry delay after a failed sync (kubernetes
/// v1.33 `pkg/controller/endpointslice/endpointslice_controller.go` `defaultSyncBackOff`),
/// doubled at each failure in a row...
pub const ENDPOINTSLICE_SYNC_BACKOFF: Duration = Duration::from_secs(1);

/// ...up to `maxSyncBackOff`.
pub const ENDPOINTSLICE_MAX_SYNC_BACKOFF: Duration = Duration::from_secs(1000);

/// The per-item delay after `failures` failed syncs (1 or more): `base * 2^(failures-1)`,
/// at most `max`.
pub fn workqueue_item_delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(63);
    base.saturating_mul(1 << exp).min(max)
}

/// `flowcontrol.NewTokenBucketRateLimiter(qps, burst)`: a `golang.org/x/time/rate` limiter
/// that starts full with `burst` tokens and refills at `qps` tokens per second, up to `burst`.
/// Each request reserves one token; when none is left the reservation goes into debt and the
/// request waits until the debt is refilled. A `qps` of zero or less means no limit (client-go
/// installs no limiter for a negative QPS).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens at `last`; negative while reserved requests are still waiting.
    tokens: f64,
    last: Time,
}

impl TokenBucket {
    /// A full bucket at time zero. A `burst` of 0 is read as 1, so that a limited client can
    /// still make progress.
    pub fn new(qps: f64, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            qps,
            burst,
            tokens: burst,
            last: Time::ZERO,
        }
    }

    /// client-go's default `rest.Config` limiter: 5 QPS, burst 10.
    pub fn client_go_default() -> TokenBucket {
        TokenBucket::new(DEFAULT_QPS, DEFAULT_BURST)
    }

    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Reserves a token for a request made at `now` and returns the instant it may be sent
    /// (`now` when a token was available). Calls are expected in nondecreasing `now`; an
    /// earlier `now` is read as the last one seen, as `rate.Limiter` does.
    pub fn when(&mut self, now: Time) -> Time {
        if self.qps <= 0.0 {
            return now;
        }
        let now = now.max(self.last);
        let elapsed = now.since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return now;
        }
        // Round the wait up to the microsecond: a request never goes before its token exists.
        let wait_us = (-self.tokens / self.qps * 1e6).ceil();
        now.after(Duration::from_secs_f64(wait_us / 1e6))
    }

    /// Tokens available at `now` without reserving any (negative while requests wait).
    pub fn tokens_at(&self, now: Time) -> f64 {
        if self.qps <= 0.0 {
            return self.burst;
        }
        let elapsed = now.since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.qps).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_work_queue_backs_off_from_5_ms_doubling_to_1000_s() {
        let d = |n| workqueue_item_delay(n, WORKQUEUE_BASE_DELAY, WORKQUEUE_MAX_DELAY);
        let ms = Duration::from_millis;
        assert_eq!(d(1), ms(5));
        assert_eq!(d(2), ms(10));
        assert_eq!(d(11), ms(5 * 1024));
        // 5 ms * 2^17 = 655 s; 2^18 passes 1000 s.
        assert_eq!(d(18), ms(655_360));
        assert_eq!(d(19), Duration::from_secs(1000));
        assert_eq!(d(u32::MAX), Duration::from_secs(1000));
    }

    #[test]
    fn starts_full_then_paces_at_qps() {
        let mut b = TokenBucket::client_go_default();
        for _ in 0..10 {
            assert_eq!(b.when(Time::ZERO), Time::ZERO);
        }
        // The 11th request waits one token's refill (1/5 s), the 12th two.
        assert_eq!(b.when(Time::ZERO), Time::from_millis(200));
        assert_eq!(b.when(Time::ZERO), Time::from_millis(400));
    }

    #[test]
    fn refills_up_to_burst_only() {
        let mut b = TokenBucket::new(KUBELET_KUBE_API_QPS, KUBELET_KUBE_API_BURST);
        for _ in 0..100 {
            b.when(Time::ZERO);
        }
        assert!(b.tokens_at(Time::ZERO).abs() < 1e-9);
        // An hour idle refills to the burst, never beyond.
        let later = Time::from_secs(3600);
        assert!((b.tokens_at(later) - 100.0).abs() < 1e-9);
        for _ in 0..100 {
            assert_eq!(b.when(later), later);
        }
        assert_eq!(b.when(later), later + Duration::from_millis(20));
    }

    #[test]
    fn non_positive_qps_is_unlimited() {
        let mut b = TokenBucket::new(-1.0, 1);
        for _ in 0..1000 {
            assert_eq!(b.when(Time::from_secs(1)), Time::from_secs(1));
        }
    }

    #[test]
    fn defaults_are_client_gos() {
        assert_eq!((DEFAULT_QPS, DEFAULT_BURST), (5.0, 10));
        assert_eq!((KUBELET_KUBE_API_QPS, KUBELET_KUBE_API_BURST), (50.0, 100));
    }

    proptest! {
        /// Over any window of length T from a full bucket, at most burst + qps·T requests are
        /// let through, however they arrive; and every request's send time is at or after its
        /// arrival, in arrival order.
        #[test]
        fn window_bound(
            qps in 0.5f64..200.0,
            burst in 1u32..50,
            gaps_ms in proptest::collection::vec(0u64..400, 1..300),
            window_ms in 1u64..20_000,
        ) {
            let mut b = TokenBucket::new(qps, burst);
            let mut now = Time::ZERO;
            let mut prev_sent = Time::ZERO;
            let mut sent = Vec::new();
            for g in gaps_ms {
                now += Duration::from_millis(g);
                let at = b.when(now);
                prop_assert!(at >= now);
                prop_assert!(at >= prev_sent);
                prev_sent = at;
                sent.push(at);
            }
            let end = Time::from_millis(window_ms);
            let passed = sent.iter().filter(|&&t| t <= end).count() as f64;
            let bound = f64::from(burst) + qps * end.as_secs_f64();
            prop_assert!(passed <= bound + 1e-6, "passed {passed} > bound {bound}");
        }
    }
}
