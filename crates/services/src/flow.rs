//! The request loop between the parts: a client's call or a remote_write batch becomes a
//! request to a service, a replica serves, queues or rejects it, a distributor's write asks
//! the ring for quorum, and the answer goes back to the origin, whose retry policy decides
//! what happens next. That loop is where retry storms and metastable overload come from:
//! nothing here scripts them. Each step is the parts' own; this file only wires them, in an
//! order that keeps every random draw and timer where it was.

use crate::clients::{ClientAttempt, Reply};
use crate::contract::{secs, ClientIdx, Effect, FleetIdx, Out, ReqId, ServiceIdx, SvcEv};
use crate::defences::Outcome;
use crate::remote_write::{Batch, Next};
use crate::requests::Origin;
use crate::service::Admission;
use crate::world::World;
use cascade_engine::{Generation, Time};

impl World {
    /// Sends a request to a service: a replica picked at random among the routable ones
    /// (kube-proxy's random endpoint choice), served at once, queued or rejected. Nobody times
    /// out internal work (an infinite `timeout`).
    pub(crate) fn send(
        &mut self,
        now: Time,
        svc: ServiceIdx,
        origin: Origin,
        timeout: f64,
        out: &mut Out,
    ) {
        let id = self.requests.open(now, svc, origin);
        #[cfg(test)]
        if let Some(l) = self.ledger.as_mut() {
            l.entry(format!("{origin:?}")).or_default().0 += 1;
        }
        if timeout.is_finite() {
            let propagated = match origin {
                Origin::Downstream(d) => self.propagates_deadline(d.caller, d.call),
                _ => false,
            };
            if let Some(req) = self.requests.get_mut(id) {
                req.deadline = Some(now + secs(timeout));
                req.deadline_propagated = propagated;
            }
        }
        let pick = self.rng.next_u64();
        // A call with outlier detection picks among the replicas it has not ejected
        // (docs/retry-defences.md#outlier-detection); any other request as kube-proxy does.
        let detected = self.outlier_healthy(now, svc, origin);
        let s = self.endpoints.get_mut(svc);
        let replica = s.pick(pick, detected.as_ref().and_then(Option::as_deref));
        let admission = match replica {
            None => Admission::NoEndpoints,
            Some(r) => s.admit(now, id, r),
        };
        if detected.is_some() {
            if let Some(req) = self.requests.get_mut(id) {
                req.host = replica;
            }
        }
        if let Admission::NoEndpoints = admission {
            s.stats.unavailable += 1;
        } else {
            s.stats.arrivals += 1;
            s.stats.interval.arrivals += 1;
            let w = window_index(now, self.rate_window);
            if s.stats.interval.window_arrivals.len() <= w {
                s.stats.interval.window_arrivals.resize(w + 1, 0);
            }
            s.stats.interval.window_arrivals[w] += 1;
        }
        match admission {
            Admission::NoEndpoints => {
                if let Some(req) = self.requests.get_mut(id) {
                    req.no_endpoints = true;
                }
                return self.server_finished(now, id, false, out);
            }
            Admission::Rejected => {
                let s = self.endpoints.get_mut(svc);
                s.stats.rejected += 1;
                let throttled = s.spec.reject_status == 429;
                if let Some(req) = self.requests.get_mut(id) {
                    req.throttled = throttled;
                }
                return self.server_finished(now, id, false, out);
            }
            Admission::Overflow => {
                self.endpoints.get_mut(svc).stats.overflowed += 1;
                return self.server_finished(now, id, false, out);
            }
            Admission::CutOff => {
                // Nobody will answer: the caller waits out its timeout (internal work, which
                // has none, fails at once).
                self.endpoints.get_mut(svc).stats.failed += 1;
                if !timeout.is_finite() {
                    return self.server_finished(now, id, false, out);
                }
                self.requests.leave(id);
            }
            Admission::Gone => {
                // kube-proxy still sends it to a pod whose process is gone: the connection
                // is refused at once (docs/control-plane-and-nodes.md#endpointslices).
                let stats = &mut self.endpoints.get_mut(svc).stats;
                stats.failed += 1;
                stats.stale_endpoint += 1;
                if let Some(req) = self.requests.get_mut(id) {
                    req.refused = true;
                }
                return self.server_finished(now, id, false, out);
            }
            Admission::Serve(replica) => {
                self.bind(id, svc, replica);
                let d = self.endpoints.get(svc).service_time(replica, &mut self.rng);
                out.at(now + secs(d), SvcEv::Complete(id));
                self.check_memory(now, svc, replica, out);
                self.check_in_flight_watch(svc, replica, out);
            }
            Admission::Queued(replica) => {
                self.bind(id, svc, replica);
                self.check_memory(now, svc, replica, out);
                self.check_in_flight_watch(svc, replica, out);
            }
            Admission::QueuedDropping(replica, oldest) => {
                self.bind(id, svc, replica);
                self.endpoints.get_mut(svc).stats.dropped.queue += 1;
                self.server_finished(now, oldest, false, out);
            }
        }
        if timeout.is_finite() && self.requests.get(id).is_some_and(|req| !req.answered) {
            out.at(now + secs(timeout), SvcEv::Timeout(id));
        }
    }

    fn bind(&mut self, id: ReqId, svc: ServiceIdx, replica: u32) {
        let gen = self.endpoints.get(svc).replicas[replica as usize].gen;
        self.requests.bind(id, replica, gen);
    }

    /// Past its memory limit, a replica's container is OOM-killed with every request in it.
    fn check_memory(&mut self, now: Time, svc: ServiceIdx, replica: u32, out: &mut Out) {
        let s = self.endpoints.get_mut(svc);
        if !s.over_memory(replica) {
            return;
        }
        let pod = s.replicas[replica as usize].pod;
        let held = s.replicas[replica as usize].requests();
        let name = s.name.clone();
        s.stats.oom_kills += 1;
        self.kill_replica(now, svc, replica, out);
        out.log(
            "ServiceOOMKilled",
            format!("service/{name}"),
            format!("a replica holding {held} requests exceeded its memory limit"),
        );
        out.effects.push(Effect::OomKill(pod));
    }

    /// One more request at the replica: tells the caller if its pod's watched count is
    /// reached (`World::watch_in_flight`).
    fn check_in_flight_watch(&mut self, svc: ServiceIdx, replica: u32, out: &mut Out) {
        if self.in_flight_watches.is_empty() {
            return;
        }
        let pod = self.endpoints.get(svc).replicas[replica as usize].pod;
        if self
            .in_flight_watches
            .get(&pod)
            .is_some_and(|&n| self.in_flight(pod) >= n)
        {
            self.in_flight_watches.remove(&pod);
            out.effects.push(Effect::InFlightReached(pod));
        }
    }

    pub(crate) fn kill_replica(&mut self, now: Time, svc: ServiceIdx, replica: u32, out: &mut Out) {
        self.endpoints.set_ready(now, svc, replica, false, out);
        self.end_process(now, svc, replica, out);
    }

    /// The replica's process died with its node: its readiness (the server's copy) and its
    /// slice entry stay until the pod is marked not Ready.
    pub(crate) fn lose_replica(&mut self, now: Time, svc: ServiceIdx, replica: u32, out: &mut Out) {
        let rep = &mut self.endpoints.get_mut(svc).replicas[replica as usize];
        rep.lost = rep.ready;
        self.end_process(now, svc, replica, out);
    }

    fn end_process(&mut self, now: Time, svc: ServiceIdx, replica: u32, out: &mut Out) {
        let s = self.endpoints.get_mut(svc);
        let lost = s.kill(replica);
        s.note_refusals(now);
        for id in lost {
            self.endpoints.get_mut(svc).stats.failed += 1;
            self.server_finished(now, id, false, out);
        }
    }

    /// The server is done with a request: its origin, unless it gave up, gets the answer.
    fn server_finished(&mut self, now: Time, id: ReqId, ok: bool, out: &mut Out) {
        if self.requests.leave(id) {
            self.respond(now, id, Reply::answered(ok), out);
        }
    }

    /// A worker finishes its own work on a request (unless its process died since): it
    /// answers, or first makes its service's downstream calls, still holding the worker.
    pub(crate) fn complete(&mut self, now: Time, id: ReqId, out: &mut Out) {
        let Some(req) = self.requests.get(id).filter(|req| !req.left) else {
            return;
        };
        let (svc, calling) = (req.svc, req.calling);
        let Some((replica, gen)) = req.replica else {
            return;
        };
        if !self.endpoints.get(svc).replicas[replica as usize]
            .gen
            .is_current(gen)
        {
            return;
        }
        if !calling && !self.endpoints.get(svc).spec.calls.is_empty() {
            return self.start_calls(now, id, svc, out);
        }
        self.served(now, id, true, out);
    }

    /// A request's work is over (its own, and its downstream call's, `downstream_ok`): the
    /// worker is freed and the origin answered.
    pub(crate) fn served(&mut self, now: Time, id: ReqId, downstream_ok: bool, out: &mut Out) {
        let Some(req) = self.requests.get(id).filter(|req| !req.left) else {
            return;
        };
        let (svc, arrived, origin) = (req.svc, req.arrived, req.origin);
        let Some((replica, gen)) = req.replica else {
            return;
        };
        let s = self.endpoints.get_mut(svc);
        let rep = &mut s.replicas[replica as usize];
        if !rep.gen.is_current(gen) {
            return;
        }
        if let Some(i) = rep.in_service.iter().position(|x| *x == id) {
            rep.in_service.swap_remove(i);
        }
        if rep.cut_off {
            // Served, but the answer cannot cross the partition: the caller times out.
            s.stats.failed += 1;
            self.requests.leave(id);
            return self.next_from_queue(now, svc, replica, out);
        }
        // A distributor's write: every series in it must reach quorum (asked only when the
        // downstream call, if any, succeeded).
        let ok = downstream_ok
            && match s.ring {
                None => true,
                Some(ring) => {
                    let p = self.rings.write_success_probability(now, ring);
                    let ok = self.rng.unit() < p;
                    if let (true, Origin::RemoteWrite(b)) = (ok, origin) {
                        self.rings.deposit(ring, f64::from(b.samples));
                    }
                    ok
                }
            };
        // A degraded service answers a share of what it served with an error, and its
        // answers arrive later (docs/retry-defences.md#degradation). The draw is made only
        // while an error rate is set, so an undegraded run draws what it always did.
        let (error_rate, added_latency) = self
            .endpoints
            .get(svc)
            .degradation(replica)
            .map_or((0.0, 0.0), |g| (g.error_rate, g.added_latency_seconds));
        let ok = ok && !(error_rate > 0.0 && self.rng.unit() < error_rate);
        if !ok {
            if let Some(req) = self.requests.get_mut(id) {
                req.server_error = true;
            }
        }
        let stats = &mut self.endpoints.get_mut(svc).stats;
        if ok {
            stats.succeeded += 1;
            let latency = (now - arrived).as_secs_f64() + added_latency;
            stats.latency_sum += latency;
            stats.interval.latency.record(latency);
        } else {
            stats.failed += 1;
        }
        if added_latency > 0.0 {
            // The worker is free now; the answer is still on its way.
            if self.requests.leave(id) {
                out.at(now + secs(added_latency), SvcEv::Deliver { id, ok });
            }
        } else {
            self.server_finished(now, id, ok, out);
        }
        self.next_from_queue(now, svc, replica, out);
    }

    /// A freed worker takes the request its queue discipline gives it (FIFO: the oldest),
    /// shedding those past the queue timeout or their propagated deadline, and failing those
    /// the discipline drops (docs/retry-defences.md#queue-disciplines).
    fn next_from_queue(&mut self, now: Time, svc: ServiceIdx, replica: u32, out: &mut Out) {
        let s = self.endpoints.get(svc);
        let workers = s.workers(replica);
        let queue_timeout = s.spec.queue_timeout_seconds;
        let policy = s.queue_policy;
        loop {
            let requests = &self.requests;
            let rep = &mut self.endpoints.get_mut(svc).replicas[replica as usize];
            if !rep.alive || rep.in_service.len() >= workers {
                return;
            }
            let taken = rep.queue_state.take(now, &mut rep.queue, &policy, |id| {
                requests.get(id).map_or(now, |q| q.arrived)
            });
            for id in taken.dropped {
                self.endpoints.get_mut(svc).stats.dropped.queue += 1;
                self.server_finished(now, id, false, out);
            }
            let Some(next) = taken.serve else {
                return;
            };
            let (arrived, expired) = self.requests.get(next).map_or((now, false), |q| {
                let expired = q.deadline_propagated && q.deadline.is_some_and(|d| now >= d);
                (q.arrived, expired)
            });
            if queue_timeout.is_some_and(|t| (now - arrived).as_secs_f64() > t) {
                self.endpoints.get_mut(svc).stats.shed += 1;
                self.server_finished(now, next, false, out);
                continue;
            }
            if expired {
                // gRPC: the caller has given up on it; starting it would be work for nobody.
                self.endpoints.get_mut(svc).stats.dropped.deadline_exceeded += 1;
                self.server_finished(now, next, false, out);
                continue;
            }
            let s = self.endpoints.get_mut(svc);
            s.replicas[replica as usize].in_service.push(next);
            let d = s.service_time(replica, &mut self.rng);
            out.at(now + secs(d), SvcEv::Complete(next));
        }
    }

    /// The origin's timeout: it gives up; the server still holds the request and will serve
    /// it for nobody (the work a metastable overload wastes), unless it honours cancellation:
    /// then the request leaves its worker, which takes the next one, or its queue slot
    /// (docs/retry-defences.md#cancellation).
    pub(crate) fn timeout(&mut self, now: Time, id: ReqId, out: &mut Out) {
        let Some(req) = self.requests.get(id).filter(|req| !req.answered) else {
            return;
        };
        let (svc, left, bound) = (req.svc, req.left, req.replica);
        let freed = match bound {
            Some((replica, gen)) if !left && self.endpoints.get(svc).spec.honor_cancellation => {
                self.cancel(id, svc, replica, gen)
            }
            _ => None,
        };
        self.respond(now, id, Reply::Timeout, out);
        if let Some(replica) = freed {
            self.next_from_queue(now, svc, replica, out);
        }
    }

    /// Takes a request its caller gave up on out of the replica holding it (in service or
    /// queued): the replica it freed a worker of, if it did. Nothing if the process holding
    /// it has died since, or a partition keeps the cancellation from reaching it.
    fn cancel(&mut self, id: ReqId, svc: ServiceIdx, replica: u32, gen: Generation) -> Option<u32> {
        let s = self.endpoints.get_mut(svc);
        let rep = &mut s.replicas[replica as usize];
        if rep.gen != gen || rep.cut_off {
            return None;
        }
        let worker = if let Some(i) = rep.in_service.iter().position(|x| *x == id) {
            rep.in_service.swap_remove(i);
            true
        } else if let Some(i) = rep.queue.iter().position(|x| *x == id) {
            rep.queue.remove(i);
            if rep.queue.is_empty() {
                // The queue's "last empty time" (adaptive LIFO) starts again from here.
                rep.queue_state.nonempty_since = None;
            }
            false
        } else {
            return None;
        };
        s.stats.dropped.cancelled += 1;
        self.requests.leave(id);
        worker.then_some(replica)
    }

    /// A delayed answer arrives: the origin learns it unless it has timed out meanwhile.
    pub(crate) fn deliver(&mut self, now: Time, id: ReqId, ok: bool, out: &mut Out) {
        self.respond(now, id, Reply::answered(ok), out);
    }

    /// Every replica of the service takes queued requests up to its workers (after a
    /// degradation that took workers away ends).
    pub(crate) fn refill_workers(&mut self, now: Time, svc: ServiceIdx, out: &mut Out) {
        for replica in 0..cascade_engine::index_u32(self.endpoints.get(svc).replicas.len()) {
            self.next_from_queue(now, svc, replica, out);
        }
    }

    /// The origin learns the outcome of an attempt (once: later answers find it answered).
    /// A failure is refused when nothing was listening (no endpoints, a process gone).
    fn respond(&mut self, now: Time, id: ReqId, reply: Reply, out: &mut Out) {
        let Some(answer) = self.requests.answer(id) else {
            return;
        };
        let reply = match reply {
            Reply::Error if answer.no_endpoints || answer.refused => Reply::Refused,
            r => r,
        };
        let ok = reply.ok();
        // What the caller's outlier detection hears, for a call that has it: Envoy's router
        // reports a timeout as a 504 and a refused connection as a 503, and a 429 is no 5xx.
        let seen = answer.host.map(|h| {
            let outcome = match reply {
                Reply::Ok => Outcome::Success,
                Reply::Error if answer.throttled => Outcome::Success,
                Reply::Error if answer.server_error => Outcome::ServerError,
                _ => Outcome::GatewayFailure,
            };
            (h, outcome)
        });
        #[cfg(test)]
        if let Some(l) = self.ledger.as_mut() {
            let key = format!("{:?}", answer.origin);
            let e = l.entry(key.clone()).or_default();
            e.1 += 1;
            assert!(e.1 <= e.0, "{key}: {} answers to {} requests", e.1, e.0);
        }
        match answer.origin {
            Origin::Client(a) => {
                // A DNS lookup's next try goes out as soon as the last answer of this one is in.
                for next in self.clients.answered(now, a, reply, &mut self.rng, out) {
                    self.client_send(now, next, out);
                }
            }
            Origin::Downstream(d) => self.downstream_answered(now, d, ok, seen, out),
            Origin::Internal => {}
            Origin::RemoteWrite(batch) => {
                let refused = answer.no_endpoints && self.endpoints.get(answer.svc).refuses();
                let next = self.fleets.answered(
                    now,
                    batch,
                    ok,
                    answer.throttled,
                    refused,
                    &mut self.rng,
                    out,
                );
                match next {
                    Next::TrySend => self.try_send(now, batch.rw, batch.server, false, out),
                    Next::Park => self.endpoints.park(answer.svc, batch, now),
                    Next::Retry | Next::Abandoned => {}
                }
            }
        }
    }

    /// The service has endpoints again: every shard parked on it is fast-forwarded through
    /// the retries refused meanwhile, and its next retry scheduled.
    pub(crate) fn unpark(&mut self, now: Time, svc: ServiceIdx, out: &mut Out) {
        for p in self.endpoints.take_parked(svc) {
            let rw = p.batch.rw;
            let u = p.unpark(now, self.fleets.backoff(rw), &mut self.rng);
            out.at(u.next.0, SvcEv::ShardRetry(u.next.1));
            self.fleets.count_refused(rw, u.refused);
            self.endpoints.get_mut(svc).stats.unavailable += u.refused;
        }
    }

    // ----- origins -----

    pub(crate) fn client_arrival(&mut self, now: Time, client: ClientIdx, out: &mut Out) {
        if let Some((sends, n)) = self.clients.arrival(now, client, &mut self.rng, out) {
            for a in sends {
                for _ in 0..n {
                    self.client_send(now, a, out);
                }
            }
        }
    }

    pub(crate) fn client_send(&mut self, now: Time, a: ClientAttempt, out: &mut Out) {
        if let Some((target, timeout)) = self.clients.send(now, &a) {
            self.send(now, target, Origin::Client(a), timeout, out);
        }
    }

    /// A server's idle shards take full batches; a partial batch goes once the batch deadline
    /// passes. `woken`: called by the idle shards' own wake-up, which comes at the batch
    /// deadline at the latest, so a partial batch may go.
    pub(crate) fn try_send(
        &mut self,
        now: Time,
        rw: FleetIdx,
        server: u32,
        woken: bool,
        out: &mut Out,
    ) {
        self.fleets.fill(now, rw, server);
        while let Some(batch) = self.fleets.take_batch(now, rw, server, woken) {
            self.send_batch(now, batch, out);
        }
        self.fleets.schedule_wake(now, rw, server, out);
    }

    /// A batch goes out, first or again.
    pub(crate) fn send_batch(&mut self, now: Time, batch: Batch, out: &mut Out) {
        let (target, timeout) = self.fleets.count_send(batch.rw);
        self.send(now, target, Origin::RemoteWrite(batch), timeout, out);
    }
}

/// The rate window an instant falls in (windows of `window` seconds from the start).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn window_index(now: Time, window: f64) -> usize {
    (now.as_secs_f64() / window).floor() as usize
}
