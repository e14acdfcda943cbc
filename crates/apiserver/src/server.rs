//! kube-apiserver as one state machine: requests arrive with the seats the work estimator gives
//! them, wait in their priority level's fair queues (or, with API Priority and Fairness off, in
//! no queue: the legacy max-inflight filter), execute for a time that grows with the objects
//! they return, hold memory for those objects while they do, and are answered. A server whose
//! memory goes past its limit is OOM-killed: every request in it fails, every watch on it breaks,
//! and it serves nothing until it has started again. docs/control-plane-and-nodes.md, "The API
//! server in the run".
//!
//! No clock and no I/O: each call takes `now`, answers go into [`ApiServer::take_answers`], and
//! [`ApiServer::next_wake`] says when the server must be called again. A request whose caller
//! does not wait on it (`notify: false`, a kubelet's Lease renewal) is completed lazily at the
//! next call, so an idle cluster costs one event per request, not two.
//!
//! This file owns the server's lifecycle ([`State`]: serving, starting, stopped, OOM-killed)
//! and the request's path across its parts, one concern per file:
//!
//! | file | owns |
//! |---|---|
//! | `flow_schema.rs` | the bootstrap FlowSchemas and [`LevelId`] |
//! | `config.rs` | [`ApiServerConfig`], one group per part |
//! | `request.rs` | requests, answers, server events, counters ([`ServerStats`]) and the outbox |
//! | `cost.rs` | the request cost model: seats, service time, response memory, CPU stretch |
//! | `flow_control.rs` | APF dispatch: priority levels, their fair queues and seats, queue-wait deadlines, `Retry-After` |
//! | `max_inflight.rs` | the legacy max-inflight filter (APF off) |
//! | `execution.rs` | the requests executing and their completions |
//! | `memory.rs` | baseline, watch cache and responses' memory; the OOM limit |

mod config;
mod cost;
mod execution;
mod flow_control;
mod flow_schema;
mod max_inflight;
mod memory;
mod request;
#[cfg(test)]
mod tests;

pub use config::{ApiServerConfig, ExecutionConfig, FlowControlConfig, MemoryConfig};
pub use flow_schema::{flow_schema, Distinguisher, FlowSchema, LevelId, BOOTSTRAP_FLOW_SCHEMAS};
pub use request::{Answer, ApiRequest, Outcome, ServerEvent, ServerStats, State};

use crate::apf::ConcurrencyLimits;
use crate::queueset::Dispatched;
use cascade_engine::Time;
use cost::Costed;
use execution::{Executing, Running};
use flow_control::{Admission, FlowControl};
use max_inflight::MaxInflight;
use memory::Memory;
use request::Outbox;

/// kube-apiserver.
#[derive(Clone, Debug)]
pub struct ApiServer {
    cfg: ApiServerConfig,
    state: State,
    /// APF's levels and queues (their limits also size a request's seats with APF off).
    flow_control: FlowControl,
    /// The legacy filter's counts (APF off).
    max_inflight: MaxInflight,
    executing: Executing,
    memory: Memory,
    outbox: Outbox,
}

impl ApiServer {
    /// A server that serves from time zero.
    pub fn new(cfg: ApiServerConfig) -> ApiServer {
        ApiServer {
            flow_control: FlowControl::new(&cfg.flow_control),
            cfg,
            state: State::Serving,
            max_inflight: MaxInflight::default(),
            executing: Executing::default(),
            memory: Memory::default(),
            outbox: Outbox::default(),
        }
    }

    pub fn config(&self) -> &ApiServerConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn serving(&self) -> bool {
        self.state == State::Serving
    }

    pub fn stats(&self) -> ServerStats {
        self.outbox.stats()
    }

    fn apf(&self) -> bool {
        self.cfg.flow_control.priority_and_fairness
    }

    /// A priority level's concurrency limits (NominalCL, LendableCL, max seats).
    pub fn limits(&self, level: LevelId) -> ConcurrencyLimits {
        self.flow_control.limits(level)
    }

    /// The objects the watch cache holds (all resources modelled), which it keeps in memory.
    pub fn set_stored_objects(&mut self, n: u64) {
        self.memory.set_stored_objects(n);
    }

    /// Memory in use: baseline, the watch cache, and the responses being built.
    pub fn memory_bytes(&self) -> f64 {
        if self.state == State::Stopped {
            return 0.0;
        }
        self.memory.bytes(&self.cfg.memory)
    }

    /// Seats in use over every level (APF), or requests in flight (legacy).
    pub fn seats_in_use(&self) -> u32 {
        if self.apf() {
            self.flow_control.seats_in_use()
        } else {
            self.max_inflight.in_flight()
        }
    }

    /// Seats in use at `now`, counting as free those of requests that completed by then but
    /// that no call has released yet: a read that changes nothing.
    pub fn seats_in_use_at(&self, now: Time) -> u32 {
        let apf = self.apf();
        let done: u32 = self
            .executing
            .completed_by(now)
            .map(|r| if apf { r.seats } else { 1 })
            .sum();
        self.seats_in_use().saturating_sub(done)
    }

    /// Memory in use at `now` (as [`ApiServer::seats_in_use_at`]: completed responses freed).
    pub fn memory_bytes_at(&self, now: Time) -> f64 {
        let done: f64 = self.executing.completed_by(now).map(|r| r.bytes).sum();
        (self.memory_bytes() - done).max(0.0)
    }

    /// Requests waiting in queues.
    pub fn waiting(&self) -> usize {
        self.flow_control.waiting()
    }

    /// Whether the request `token` is executing at full speed: true right after
    /// [`ApiServer::submit`] when the server dispatched it at once (it neither waits in a
    /// queue nor was rejected) and its service time is not stretched by a CPU shortage.
    pub fn executing_at_full_speed(&self, token: u64) -> bool {
        // Requests are numbered in the order they start: one dispatched at once is the last.
        self.executing.last_at_full_speed(token)
    }

    /// The caller of the request `token`, executing, no longer waits on its answer: it will
    /// be given lazily, like a Lease renewal's, with no wake-up of its own.
    pub fn answer_lazily(&mut self, token: u64) {
        self.executing.answer_lazily(token);
    }

    /// The answers given since the last call, in the order given.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        self.outbox.take_answers()
    }

    /// What became of the server since the last call.
    pub fn take_events(&mut self) -> Vec<ServerEvent> {
        self.outbox.take_events()
    }

    fn starting_until(&self) -> Option<Time> {
        match self.state {
            State::Starting { until } => Some(until),
            _ => None,
        }
    }

    /// When the server must next be called ([`ApiServer::advance`]): a start completing, a
    /// queue wait running out, a request completing that a caller waits on, or any completion
    /// while requests wait for its seats.
    pub fn next_wake(&mut self) -> Option<Time> {
        let notified = self.executing.next_notified();
        self.flow_control.drop_stale_timeouts();
        let completion = if self.flow_control.any_waiting() {
            self.executing.next_completion()
        } else {
            None
        };
        [
            self.starting_until(),
            self.flow_control.next_timeout(),
            notified,
            completion,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Everything due by `now`, in time order: completions (freeing seats for waiting
    /// requests, dispatched at the instant they free), queue timeouts, a start completing.
    pub fn advance(&mut self, now: Time) {
        loop {
            let done = self.executing.next_completion();
            let timeout = self.flow_control.next_timeout();
            let started = self.starting_until();
            let next = [done, timeout, started].into_iter().flatten().min();
            let Some(t) = next.filter(|&t| t <= now) else {
                break;
            };
            if started == Some(t) {
                self.state = State::Serving;
                self.outbox.event(ServerEvent::Started { at: t });
            } else if done == Some(t) {
                if let Some(r) = self.executing.complete_next() {
                    self.release(&r);
                    self.outbox.ok(t, r.token);
                }
                self.dispatch_waiting(t);
            } else if let Some((token, retry_after)) = self.flow_control.time_out_next(t) {
                self.outbox.reject(t, token, retry_after);
            }
        }
    }

    /// A request arrives at `now`.
    pub fn submit(&mut self, now: Time, req: ApiRequest) {
        self.advance(now);
        self.outbox.received();
        if self.state != State::Serving {
            self.outbox.unavailable(now, req.token, Outcome::Refused);
            return;
        }
        let li = self.flow_control.index(req.level);
        let w = Costed::new(
            req,
            self.flow_control.max_seats(li),
            &self.cfg.execution,
            &self.cfg.memory,
        );
        if !self.apf() {
            if self
                .max_inflight
                .admits(req.verb.is_mutating(), &self.cfg.flow_control)
            {
                self.execute(now, w, None);
            } else {
                self.outbox
                    .reject(now, req.token, max_inflight::RETRY_AFTER);
            }
            return;
        }
        let limit = self.cfg.flow_control.queue_wait_limit;
        match self.flow_control.admit(now, li, w, limit) {
            Admission::Execute(w) => self.execute(now, w, None),
            Admission::Queued => self.dispatch_waiting(now),
            Admission::Rejected(retry_after) => self.outbox.reject(now, req.token, retry_after),
        }
    }

    /// A fault stops the server: every request in it fails, every watch breaks.
    pub fn stop(&mut self, now: Time) {
        self.advance(now);
        if self.state == State::Stopped {
            return;
        }
        self.fail_everything(now);
        self.state = State::Stopped;
        self.outbox.event(ServerEvent::Stopped { at: now });
    }

    /// The server is started (again): it serves after `startupSeconds`.
    pub fn start(&mut self, now: Time) {
        self.advance(now);
        if self.state == State::Stopped {
            self.state = State::Starting {
                until: now.after(self.cfg.startup),
            };
        }
    }

    fn execute(&mut self, now: Time, w: Costed, dispatched: Option<Dispatched>) {
        if !self.apf() {
            self.max_inflight.start(w.req.verb.is_mutating());
        }
        self.executing
            .start(now, &w, dispatched, self.cfg.execution.cpus);
        self.memory.hold(w.bytes);
        if let Some(bytes) = self.memory.over_limit(&self.cfg.memory) {
            self.fail_everything(now);
            self.outbox.event(ServerEvent::OomKilled { at: now, bytes });
            self.state = State::Starting {
                until: now.after(self.cfg.startup),
            };
        }
    }

    /// Frees a request's seats (or inflight slot) and memory.
    fn release(&mut self, r: &Running) {
        self.memory.free(r.bytes);
        if self.apf() {
            self.flow_control.release(r);
        } else {
            self.max_inflight.finish(r.mutating);
        }
    }

    /// Dispatches what free seats allow, at `now`, over every queuing level.
    fn dispatch_waiting(&mut self, now: Time) {
        if !self.flow_control.any_waiting() || self.state != State::Serving {
            return;
        }
        for li in 0..self.flow_control.level_count() {
            while let Some((w, d)) = self.flow_control.dispatch_next(li) {
                self.execute(now, w, Some(d));
                if self.state != State::Serving {
                    return;
                }
            }
        }
    }

    /// The process is gone: every running and waiting request fails at `now`.
    fn fail_everything(&mut self, now: Time) {
        for r in self.executing.take_all() {
            self.release(&r);
            self.outbox.unavailable(now, r.token, Outcome::Reset);
        }
        for token in self.flow_control.withdraw_all() {
            self.outbox.unavailable(now, token, Outcome::Reset);
        }
        self.memory.free_responses();
    }
}
