//! A service's downstream calls (`calls`): whether a request makes each, the calls run one
//! after another or all at once (`fanOut`), each attempt going out past its call's defences
//! (deadline, circuit breaker, budget), and each answer retried or counted towards the
//! request that waits on them. Part of the request loop of `flow.rs`, kept synchronous with
//! it. docs/retry-defences.md#services-that-call-services, #fan-out

use crate::config::FanOut;
use crate::contract::{secs, Out, ReqId, ServiceIdx, SvcEv};
use crate::defences::{Detection, Ejection, Outcome};
use crate::requests::{Downstream, Origin};
use crate::world::World;
use cascade_engine::Time;

impl World {
    /// A request the service `svc` has done its own work on makes its calls, still holding
    /// its worker; with none to make (none declared, or every draw said no) it is answered.
    pub(crate) fn start_calls(&mut self, now: Time, id: ReqId, svc: ServiceIdx, out: &mut Out) {
        if let Some(req) = self.requests.get_mut(id) {
            req.calling = true;
        }
        match self.endpoints.get(svc).spec.fan_out {
            FanOut::Serial => self.next_serial_call(now, id, svc, 0, out),
            FanOut::Parallel => {
                // Every call's draw first, in the order listed, then every call goes out: an
                // attempt that fails at once must find the count of those still out complete.
                let n = self.endpoints.get(svc).spec.calls.len();
                let made: Vec<u16> = (0..n)
                    .filter(|&i| self.makes_call(svc, i))
                    .map(call_index)
                    .collect();
                if made.is_empty() {
                    return self.served(now, id, true, out);
                }
                if let Some(req) = self.requests.get_mut(id) {
                    req.calls_pending = call_index(made.len());
                }
                for call in made {
                    self.call_downstream(now, first_attempt(id, svc, call), out);
                }
            }
        }
    }

    /// The serial calls from `from` on: the first one a request makes goes out; past the last,
    /// the request is answered (every call before it has ended well or was optional). The
    /// first call goes out at once; a later one as a step of its own at the same instant
    /// (`SvcEv::DownstreamRetry` of its attempt 0), because the call before it may have ended
    /// inside the service it called, while that service was handing a freed worker to its
    /// queue: sending to it there would give the worker twice.
    fn next_serial_call(
        &mut self,
        now: Time,
        id: ReqId,
        svc: ServiceIdx,
        from: usize,
        out: &mut Out,
    ) {
        let n = self.endpoints.get(svc).spec.calls.len();
        for i in from..n {
            if self.makes_call(svc, i) {
                let first = first_attempt(id, svc, call_index(i));
                if from == 0 {
                    return self.call_downstream(now, first, out);
                }
                return out.at(now, SvcEv::DownstreamRetry(first));
            }
        }
        self.served(now, id, true, out);
    }

    /// Whether a request makes its service's call `i`: always at a `probability` of 1 (no
    /// draw, so a run without a lower one draws what it always did), otherwise as a draw
    /// decides.
    fn makes_call(&mut self, svc: ServiceIdx, i: usize) -> bool {
        let Some(p) = self
            .endpoints
            .get(svc)
            .spec
            .calls
            .get(i)
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
    /// is no longer held (its process died meanwhile). An open circuit breaker on the call
    /// fails it at once, without sending, as a passed propagated deadline does.
    pub(crate) fn call_downstream(&mut self, now: Time, d: Downstream, out: &mut Out) {
        let Some(parent) = self.requests.get(d.parent).filter(|req| !req.left) else {
            return;
        };
        let Some(call) = self
            .endpoints
            .get(parent.svc)
            .spec
            .calls
            .get(usize::from(d.call))
        else {
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
                s.stats.calls.deadline_exceeded += 1;
                if d.attempt > 0 {
                    if let Some(b) = s.call_defences[usize::from(d.call)].budget.as_mut() {
                        b.retry_ended();
                    }
                }
                return self.call_ended(now, d, false, out);
            }
            timeout = timeout.min((deadline - now).as_secs_f64());
        }
        let s = self.endpoints.get_mut(d.caller);
        let defences = &mut s.call_defences[usize::from(d.call)];
        if defences.breaker.as_mut().is_some_and(|b| !b.allows(now)) {
            s.stats.calls.short_circuited += 1;
            if d.attempt > 0 {
                if let Some(b) = defences.budget.as_mut() {
                    b.retry_ended();
                }
            }
            return self.call_ended(now, d, false, out);
        }
        if let Some(b) = defences.budget.as_mut() {
            b.attempt_sent();
        }
        self.send(now, target, Origin::Downstream(d), timeout, out);
    }

    /// The outcome of a downstream call attempt: retried after the backoff, or the call has
    /// ended (ok only if this attempt succeeded).
    pub(crate) fn downstream_answered(
        &mut self,
        now: Time,
        d: Downstream,
        ok: bool,
        seen: Option<(u32, Outcome)>,
        out: &mut Out,
    ) {
        let left = self.requests.get(d.parent).is_none_or(|req| req.left);
        if let Some((host, outcome)) = seen {
            self.outlier_record(now, d, host, outcome, out);
        }
        // The call's defences hear every attempt's outcome, even one whose request has died
        // meanwhile (docs/retry-defences.md), as a client's do.
        let s = self.endpoints.get_mut(d.caller);
        let defences = &mut s.call_defences[usize::from(d.call)];
        if let Some(b) = defences.budget.as_mut() {
            b.attempt_answered();
            if d.attempt > 0 {
                b.retry_ended();
            }
        }
        if let Some(t) = defences.throttle.as_mut() {
            if ok {
                t.record_success();
            } else {
                t.record_failure();
            }
        }
        if let Some(b) = defences.breaker.as_mut() {
            b.record(now, ok);
        }
        if left {
            return;
        }
        let Some((max_retries, backoff)) = s
            .spec
            .calls
            .get(usize::from(d.call))
            .map(|c| (c.max_retries, c.backoff.clone()))
        else {
            return;
        };
        if !ok && d.attempt < max_retries && !s.call_retry_refused(usize::from(d.call)) {
            if let Some(b) = s.call_defences[usize::from(d.call)].budget.as_mut() {
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
        self.call_ended(now, d, ok, out);
    }

    /// A call of a request still held has ended (its last attempt answered, or refused before
    /// going out). Serial: a failure that is not `optional` fails the request, otherwise the
    /// next call goes out. Parallel: the request is answered when its last call ends, failed
    /// if any that is not `optional` failed. docs/retry-defences.md#fan-out
    fn call_ended(&mut self, now: Time, d: Downstream, ok: bool, out: &mut Out) {
        let spec = &self.endpoints.get(d.caller).spec;
        let optional = spec
            .calls
            .get(usize::from(d.call))
            .is_some_and(|c| c.optional);
        let failed = !ok && !optional;
        match spec.fan_out {
            FanOut::Serial if failed => self.served(now, d.parent, false, out),
            FanOut::Serial => {
                self.next_serial_call(now, d.parent, d.caller, usize::from(d.call) + 1, out);
            }
            FanOut::Parallel => {
                let Some(req) = self.requests.get_mut(d.parent) else {
                    return;
                };
                req.calls_pending = req.calls_pending.saturating_sub(1);
                req.calls_failed |= failed;
                if req.calls_pending == 0 {
                    let ok = !req.calls_failed;
                    self.served(now, d.parent, ok, out);
                }
            }
        }
    }

    /// A downstream retry's backoff has passed (or a serial call's turn has come, attempt 0):
    /// it goes out, unless the request it is for has died meanwhile (then a retry leaves the
    /// budget).
    pub(crate) fn downstream_retry(&mut self, now: Time, d: Downstream, out: &mut Out) {
        if self.requests.get(d.parent).is_some_and(|req| !req.left) {
            self.call_downstream(now, d, out);
        } else if d.attempt > 0 {
            if let Some(b) = self.endpoints.get_mut(d.caller).call_defences[usize::from(d.call)]
                .budget
                .as_mut()
            {
                b.retry_ended();
            }
        }
    }

    /// The service called by the caller's call `d.call`.
    fn call_target(&self, caller: ServiceIdx, call: u16) -> Option<ServiceIdx> {
        let c = self
            .endpoints
            .get(caller)
            .spec
            .calls
            .get(usize::from(call))?;
        self.endpoints.find(&c.service)
    }

    /// For a call attempt whose call has outlier detection: the replicas of `target` it may
    /// pick from now (None inside: every routable one, as nothing is ejected or Envoy's
    /// balancer panics). None for any other request. docs/retry-defences.md#outlier-detection
    pub(crate) fn outlier_healthy(
        &mut self,
        now: Time,
        target: ServiceIdx,
        origin: Origin,
    ) -> Option<Option<Vec<u32>>> {
        let Origin::Downstream(d) = origin else {
            return None;
        };
        self.endpoints.get_mut(d.caller).call_defences[usize::from(d.call)]
            .outlier
            .as_mut()?
            .advance(now);
        let od = self.endpoints.get(d.caller).call_defences[usize::from(d.call)]
            .outlier
            .as_ref()?;
        Some(od.healthy(&self.endpoints.get(target).routable))
    }

    /// An answer from `host` reaches the call's outlier detector: a count that reaches its
    /// threshold ejects the replica if the cap and the enforcement draw allow (the draw is
    /// made only for an `enforcing` strictly between 0 and 100).
    fn outlier_record(
        &mut self,
        now: Time,
        d: Downstream,
        host: u32,
        outcome: Outcome,
        out: &mut Out,
    ) {
        let Some(target) = self.call_target(d.caller, d.call) else {
            return;
        };
        let call = usize::from(d.call);
        let Some(od) = self.endpoints.get_mut(d.caller).call_defences[call]
            .outlier
            .as_mut()
        else {
            return;
        };
        od.advance(now);
        let found = od.record(host, outcome);
        if found.is_empty() {
            return;
        }
        let members = self.endpoints.get(target).routable.clone();
        let target_name = self.endpoints.get(target).name.clone();
        let pod = self.endpoints.get(target).replicas[host as usize].pod;
        for detection in found {
            let rng = &mut self.rng;
            let s = self.endpoints.get_mut(d.caller);
            let Some(od) = s.call_defences[call].outlier.as_mut() else {
                return;
            };
            let enforce = |p: u32| p >= 100 || (p > 0 && rng.below(100) < u64::from(p));
            if let Some(Ejection::Ejected { multiplier }) =
                od.eject(now, host, detection, &members, enforce)
            {
                s.stats.calls.outlier_ejections += 1;
                let why = match detection {
                    Detection::Consecutive5xx => "consecutive 5xx",
                    Detection::ConsecutiveGatewayFailure => "consecutive gateway failures",
                };
                let message = format!(
                    "{target_name} replica {host} (pod {pod}) ejected from its calls for {} s after {why} (its ejection {})",
                    od.ejection_time(multiplier).as_secs_f64(),
                    od.ejections(host)
                );
                let object = format!("service/{}", s.name);
                out.log("OutlierEjected", object, message);
            }
        }
    }

    /// Whether the service's call `call` propagates its deadline.
    pub(crate) fn propagates_deadline(&self, svc: ServiceIdx, call: u16) -> bool {
        self.endpoints
            .get(svc)
            .spec
            .calls
            .get(usize::from(call))
            .is_some_and(|c| c.propagate_deadline)
    }
}

/// The first attempt of call `call` of the service `caller`, for the request `parent`.
fn first_attempt(parent: ReqId, caller: ServiceIdx, call: u16) -> Downstream {
    Downstream {
        parent,
        caller,
        call,
        attempt: 0,
        prev_delay: 0.0,
    }
}

/// A call's position as `Downstream` carries it: validation refuses more than `u16::MAX`
/// calls per service.
fn call_index(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}
