//! The cloud provider's instance API as a pure state machine: a create request waits for a
//! token of the API's rate limit and for a slot under the concurrency limit, then fails at
//! once against the instance quota, fails after a while in a zone that is out of capacity (a
//! stockout), or gives an instance after the provisioning time. No clock: every call takes
//! `now`, and `dispatch` says when to call it again (docs/control-plane-and-nodes.md#cloud-provisioning).

use cascade_engine::Time;
use std::collections::{BTreeMap, VecDeque};

/// The provider's limits; 0 means none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudLimits {
    /// Instance creations in flight at once (a managed instance group's or a node pool's
    /// surge, a provider's concurrent-operations limit).
    pub max_concurrent_creates: usize,
    /// Create calls per second the API admits (a token bucket of `api_burst`).
    pub api_requests_per_second: f64,
    pub api_burst: u32,
    /// The most instances the project may run (nodes in the cluster and creations in flight).
    pub instance_quota: usize,
    /// From an admitted create to the node's kubelet registering.
    pub provisioning: Time,
    /// From an admitted create in a stocked-out zone to its failure.
    pub stockout_failure: Time,
}

/// Why a create failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// QUOTA_EXCEEDED: the call is refused at once.
    QuotaExceeded,
    /// The zone has no capacity for the instance type (ZONE_RESOURCE_POOL_EXHAUSTED).
    Stockout,
}

/// A create the API has admitted: it ends at `done`, with an instance or an error.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub request: u64,
    pub done: Time,
    pub result: Result<(), CreateError>,
}

#[derive(Clone, Debug)]
pub struct Cloud {
    limits: CloudLimits,
    queue: VecDeque<(u64, String)>,
    in_flight: usize,
    tokens: f64,
    refilled: Time,
    /// Zones out of capacity, with how many stockout faults hold each.
    stockouts: BTreeMap<String, u32>,
    next_request: u64,
}

impl Default for Cloud {
    fn default() -> Self {
        Cloud::new(CloudLimits::default())
    }
}

impl Cloud {
    pub fn new(limits: CloudLimits) -> Cloud {
        Cloud {
            tokens: f64::from(limits.api_burst.max(1)),
            limits,
            queue: VecDeque::new(),
            in_flight: 0,
            refilled: Time::ZERO,
            stockouts: BTreeMap::new(),
            next_request: 0,
        }
    }

    /// Asks for an instance in `zone`; the answer comes from `dispatch`.
    pub fn request(&mut self, zone: &str) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.queue.push_back((id, zone.to_string()));
        id
    }

    /// Takes back a request not yet admitted (the caller gave up on it); false if it was.
    pub fn cancel(&mut self, request: u64) -> bool {
        let before = self.queue.len();
        self.queue.retain(|(id, _)| *id != request);
        self.queue.len() != before
    }

    /// An admitted create has ended (its `done` instant).
    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A zone runs out of capacity (`out`) or gets it back.
    pub fn set_stockout(&mut self, zone: &str, out: bool) {
        let n = self.stockouts.entry(zone.to_string()).or_default();
        if out {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn refill(&mut self, now: Time) {
        let rate = self.limits.api_requests_per_second;
        if rate > 0.0 && now > self.refilled {
            let dt = (now - self.refilled).as_secs_f64();
            self.tokens = (self.tokens + dt * rate).min(f64::from(self.limits.api_burst.max(1)));
        }
        self.refilled = now;
    }

    /// Admits what the limits allow now, `instances` being the nodes the project runs; and
    /// the instant a token will let the next queued request go, if one waits for a token.
    pub fn dispatch(&mut self, now: Time, instances: usize) -> (Vec<Admitted>, Option<Time>) {
        self.refill(now);
        let mut out = Vec::new();
        let l = &self.limits;
        while !self.queue.is_empty() {
            if l.max_concurrent_creates > 0 && self.in_flight >= l.max_concurrent_creates {
                return (out, None);
            }
            if l.api_requests_per_second > 0.0 {
                if self.tokens < 1.0 {
                    let wait = (1.0 - self.tokens) / l.api_requests_per_second;
                    return (out, Some(now + Time::from_secs_f64(wait).max(Time(1))));
                }
                self.tokens -= 1.0;
            }
            let (request, zone) = self.queue.pop_front().expect("non-empty");
            let quota = l.instance_quota;
            let admitted = if quota > 0 && instances + self.in_flight >= quota {
                Admitted {
                    request,
                    done: now,
                    result: Err(CreateError::QuotaExceeded),
                }
            } else if self.stockouts.get(&zone).is_some_and(|n| *n > 0) {
                Admitted {
                    request,
                    done: now + l.stockout_failure,
                    result: Err(CreateError::Stockout),
                }
            } else {
                Admitted {
                    request,
                    done: now + l.provisioning,
                    result: Ok(()),
                }
            };
            self.in_flight += 1;
            out.push(admitted);
        }
        (out, None)
    }
}

/// The cluster autoscaler's per-node-group exponential backoff
/// (cluster-autoscaler utils/backoff/exponential_backoff.go): the first failure backs the
/// group off for the initial duration; a failure after that backoff has expired doubles the
/// last duration up to the maximum; a failure while still backed off keeps it; the state is
/// forgotten once the reset timeout has passed since the last failure.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    /// Per key: (duration, backed off until, last failure).
    info: BTreeMap<usize, (Time, Time, Time)>,
}

/// The backoff's three durations.
#[derive(Clone, Copy, Debug)]
pub struct BackoffConfig {
    pub initial: Time,
    pub max: Time,
    pub reset_timeout: Time,
}

impl Backoff {
    /// A failure of `key` at `now`: the instant it is backed off until.
    pub fn fail(&mut self, c: BackoffConfig, key: usize, now: Time) -> Time {
        self.forget_stale(c, now);
        let duration = match self.info.get(&key) {
            // backoffUntil.Before(currentTime): only a failure after the backoff grows it.
            Some(&(d, until, _)) if until < now => Time((d.0 * 2).min(c.max.0)),
            Some(&(d, _, _)) => d,
            None => c.initial,
        };
        let until = now + duration;
        self.info.insert(key, (duration, until, now));
        until
    }

    /// Whether `key` is backed off at `now` (backoffUntil.After(now)).
    pub fn backed_off(&self, key: usize, now: Time) -> bool {
        self.info
            .get(&key)
            .is_some_and(|(_, until, _)| *until > now)
    }

    /// RemoveStaleBackoffData: drops keys whose last failure is older than the reset timeout.
    fn forget_stale(&mut self, c: BackoffConfig, now: Time) {
        self.info
            .retain(|_, (_, _, last)| *last + c.reset_timeout >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Time {
        Time::from_secs_f64(x)
    }

    const CA: BackoffConfig = BackoffConfig {
        initial: Time(300_000_000),
        max: Time(1_800_000_000),
        reset_timeout: Time(10_800_000_000),
    };

    #[test]
    fn backoff_doubles_after_expiry_and_caps_at_the_maximum() {
        let mut b = Backoff::default();
        // 5 min, then 10, 20, 30 (the cap), 30.
        let mut now = s(0.0);
        let mut durations = Vec::new();
        for _ in 0..5 {
            let until = b.fail(CA, 0, now);
            durations.push((until - now).as_secs_f64() / 60.0);
            assert!(b.backed_off(0, now));
            assert!(!b.backed_off(0, until));
            assert!(!b.backed_off(1, now), "another group is not backed off");
            now = until + s(1.0);
        }
        assert_eq!(durations, [5.0, 10.0, 20.0, 30.0, 30.0]);
    }

    #[test]
    fn a_failure_while_backed_off_keeps_the_duration_and_old_failures_are_forgotten() {
        let mut b = Backoff::default();
        b.fail(CA, 0, s(0.0));
        // Two concurrent scale-ups fail a minute apart: still 5 minutes, from the second.
        assert_eq!(b.fail(CA, 0, s(60.0)), s(360.0));
        // After expiry: 10 minutes.
        assert_eq!(b.fail(CA, 0, s(400.0)), s(1000.0));
        // Three hours after the last failure, the state is dropped: 5 minutes again.
        let later = s(400.0 + 3.0 * 3600.0 + 1.0);
        assert_eq!(b.fail(CA, 0, later), later + s(300.0));
    }

    fn limits() -> CloudLimits {
        CloudLimits {
            max_concurrent_creates: 2,
            api_requests_per_second: 0.5,
            api_burst: 3,
            instance_quota: 6,
            provisioning: s(120.0),
            stockout_failure: s(30.0),
        }
    }

    #[test]
    fn creates_wait_for_a_slot_and_a_token() {
        let mut c = Cloud::new(limits());
        for _ in 0..5 {
            c.request("a");
        }
        // Two slots: two admitted, the rest wait for a slot (no wake-up: a finish frees one).
        let (a, wake) = c.dispatch(s(0.0), 0);
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|x| x.done == s(120.0) && x.result.is_ok()));
        assert_eq!(wake, None);
        assert_eq!((c.in_flight(), c.queued()), (2, 3));
        c.finished();
        c.finished();
        // Two slots free again, and tokens enough (refilled over 120 s): two more.
        let (a, _) = c.dispatch(s(120.0), 2);
        assert_eq!(a.len(), 2);
        // Without a concurrency limit, the rate: one token of burst, then one every 2 s.
        let mut c = Cloud::new(CloudLimits {
            max_concurrent_creates: 0,
            api_burst: 1,
            ..limits()
        });
        for _ in 0..3 {
            c.request("a");
        }
        let (a, wake) = c.dispatch(s(0.0), 0);
        assert_eq!((a.len(), wake), (1, Some(s(2.0))));
        let (a, wake) = c.dispatch(s(2.0), 0);
        assert_eq!((a.len(), wake), (1, Some(s(4.0))));
    }

    #[test]
    fn the_quota_refuses_at_once_and_a_stockout_fails_later() {
        let mut c = Cloud::new(CloudLimits {
            max_concurrent_creates: 0,
            api_requests_per_second: 0.0,
            ..limits()
        });
        c.set_stockout("b", true);
        let ids: Vec<u64> = ["a", "b", "a"].iter().map(|z| c.request(z)).collect();
        // Four instances and a quota of six: the first two creates fit (a create in flight
        // counts against the quota until it fails), the third does not.
        let (a, _) = c.dispatch(s(10.0), 4);
        assert_eq!(a[0].result, Ok(()));
        assert_eq!(a[1].result, Err(CreateError::Stockout));
        assert_eq!(a[1].done, s(40.0));
        assert_eq!(a[2].result, Err(CreateError::QuotaExceeded));
        assert_eq!(a[2].done, s(10.0));
        assert_eq!(a.iter().map(|x| x.request).collect::<Vec<_>>(), ids);
        c.set_stockout("b", false);
        c.request("b");
        for _ in 0..3 {
            c.finished();
        }
        let (a, _) = c.dispatch(s(50.0), 5);
        assert_eq!(a[0].result, Ok(()));
    }
}
