//! A service's downstream calls (`calls`): whether a request makes one, each attempt going
//! out past the caller's defences (deadline, circuit breaker, budget), and each answer retried
//! or handed back to the request that waits on it. Part of the request loop of `flow.rs`,
//! kept synchronous with it. docs/retry-defences.md#services-that-call-services

use crate::contract::{secs, Out, ServiceIdx, SvcEv};
use crate::requests::{Downstream, Origin};
use crate::world::World;
use cascade_engine::Time;

impl World {
    /// Whether a request the service has done its own work on makes its downstream call: always
    /// at a `probability` of 1 (no draw, so a run without a lower one draws what it always
    /// did), never without `calls`, otherwise as a draw decides.
    pub(crate) fn makes_call(&mut self, svc: ServiceIdx) -> bool {
        let Some(p) = self
            .endpoints
            .get(svc)
            .spec
            .calls
            .as_ref()
            .map(|c| c.probability)
        else {
            return false;
        };
        if p >= 1.0 {
            return true;
        }
        p > 0.0 && self.rng.unit() < p
    }

    /// A downstream call attempt goes out for the request `d.parent`, unless that request
    /// is no longer held (its process died meanwhile). An open circuit breaker on the calls
    /// fails it at once, without sending: the request fails and its worker is freed.
    pub(crate) fn call_downstream(&mut self, now: Time, d: Downstream, out: &mut Out) {
        let Some(parent) = self.requests.get(d.parent).filter(|req| !req.left) else {
            return;
        };
        let Some(call) = self.endpoints.get(parent.svc).spec.calls.as_ref() else {
            return;
        };
        let mut timeout = call.timeout_seconds;
        let Some(target) = self.endpoints.find(&call.service) else {
            return;
        };
        // gRPC deadline propagation (docs/retry-defences.md#deadline-propagation): the
        // attempt gets what is left of the request's own deadline, and none if nothing is.
        if let (true, Some(deadline)) = (call.propagate_deadline, parent.deadline) {
            if now >= deadline {
                let s = self.endpoints.get_mut(d.caller);
                s.stats.call_deadline_exceeded += 1;
                if d.attempt > 0 {
                    if let Some(b) = s.call_budget.as_mut() {
                        b.retry_ended();
                    }
                }
                return self.served(now, d.parent, false, out);
            }
            timeout = timeout.min((deadline - now).as_secs_f64());
        }
        let s = self.endpoints.get_mut(d.caller);
        if s.call_breaker.as_mut().is_some_and(|b| !b.allows(now)) {
            s.stats.call_short_circuited += 1;
            if d.attempt > 0 {
                if let Some(b) = s.call_budget.as_mut() {
                    b.retry_ended();
                }
            }
            return self.served(now, d.parent, false, out);
        }
        if let Some(b) = self.endpoints.get_mut(d.caller).call_budget.as_mut() {
            b.attempt_sent();
        }
        self.send(now, target, Origin::Downstream(d), timeout, out);
    }

    /// The outcome of a downstream call attempt: retried after the backoff, or the request
    /// that made it is done (ok only if the call succeeded).
    pub(crate) fn downstream_answered(
        &mut self,
        now: Time,
        d: Downstream,
        ok: bool,
        out: &mut Out,
    ) {
        let left = self.requests.get(d.parent).is_none_or(|req| req.left);
        // The caller's defences hear every attempt's outcome, even one whose request has died
        // meanwhile (docs/retry-defences.md), as a client's do.
        let s = self.endpoints.get_mut(d.caller);
        if let Some(b) = s.call_budget.as_mut() {
            b.attempt_answered();
            if d.attempt > 0 {
                b.retry_ended();
            }
        }
        if let Some(t) = s.call_throttle.as_mut() {
            if ok {
                t.record_success();
            } else {
                t.record_failure();
            }
        }
        if let Some(b) = s.call_breaker.as_mut() {
            b.record(now, ok);
        }
        if left {
            return;
        }
        let Some((max_retries, backoff)) = s
            .spec
            .calls
            .as_ref()
            .map(|c| (c.max_retries, c.backoff.clone()))
        else {
            return;
        };
        if !ok && d.attempt < max_retries && !s.call_retry_refused() {
            if let Some(b) = s.call_budget.as_mut() {
                b.retry_started();
            }
            let delay = crate::backoff::delay(&backoff, d.attempt + 1, d.prev_delay, &mut self.rng);
            let next = Downstream {
                attempt: d.attempt + 1,
                prev_delay: delay,
                ..d
            };
            out.at(now + secs(delay), SvcEv::DownstreamRetry(next));
            return;
        }
        self.served(now, d.parent, ok, out);
    }

    /// A downstream retry's backoff has passed: it goes out, unless the request it is for has
    /// died meanwhile (then it leaves the budget).
    pub(crate) fn downstream_retry(&mut self, now: Time, d: Downstream, out: &mut Out) {
        if self.requests.get(d.parent).is_some_and(|req| !req.left) {
            self.call_downstream(now, d, out);
        } else if let Some(b) = self.endpoints.get_mut(d.caller).call_budget.as_mut() {
            b.retry_ended();
        }
    }

    /// Whether the service's downstream calls propagate their deadline.
    pub(crate) fn propagates_deadline(&self, svc: ServiceIdx) -> bool {
        self.endpoints
            .get(svc)
            .spec
            .calls
            .as_ref()
            .is_some_and(|c| c.propagate_deadline)
    }
}
