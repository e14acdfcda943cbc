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

use crate::apf::{
    self, ConcurrencyLimits, LimitResponse, PriorityLevelType, BOOTSTRAP_PRIORITY_LEVELS,
};
use crate::queueset::{Dispatched, QueueSet, RequestId};
use crate::work::{self, Verb};
use cascade_engine::Time;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// A priority level, by its index in [`BOOTSTRAP_PRIORITY_LEVELS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelId(pub u8);

impl LevelId {
    pub const EXEMPT: LevelId = LevelId(0);
    pub const CATCH_ALL: LevelId = LevelId(1);
    pub const SYSTEM: LevelId = LevelId(2);
    pub const NODE_HIGH: LevelId = LevelId(3);
    pub const LEADER_ELECTION: LevelId = LevelId(4);
    pub const WORKLOAD_HIGH: LevelId = LevelId(5);
    pub const WORKLOAD_LOW: LevelId = LevelId(6);
    pub const GLOBAL_DEFAULT: LevelId = LevelId(7);

    pub fn name(self) -> &'static str {
        BOOTSTRAP_PRIORITY_LEVELS
            .get(usize::from(self.0))
            .map_or("?", |l| l.name)
    }
}

/// How a FlowSchema splits its requests into flows (`distinguisherMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distinguisher {
    /// One flow for the whole schema.
    None,
    ByUser,
    ByNamespace,
}

/// A bootstrap FlowSchema: its name, `matchingPrecedence`, level and distinguisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSchema {
    pub name: &'static str,
    pub matching_precedence: u32,
    pub level: LevelId,
    pub distinguisher: Distinguisher,
}

const fn fs(
    name: &'static str,
    matching_precedence: u32,
    level: LevelId,
    distinguisher: Distinguisher,
) -> FlowSchema {
    FlowSchema {
        name,
        matching_precedence,
        level,
        distinguisher,
    }
}

/// The bootstrap FlowSchemas of Kubernetes v1.33 (apiserver v0.33,
/// `pkg/apis/flowcontrol/bootstrap/default.go`), by matching precedence. `endpoint-controller`
/// and `workload-leader-election` are gone in v1.34.
pub const BOOTSTRAP_FLOW_SCHEMAS: [FlowSchema; 13] = [
    fs("exempt", 1, LevelId::EXEMPT, Distinguisher::None),
    fs("probes", 2, LevelId::EXEMPT, Distinguisher::None),
    fs(
        "system-leader-election",
        100,
        LevelId::LEADER_ELECTION,
        Distinguisher::ByUser,
    ),
    fs(
        "endpoint-controller",
        150,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByUser,
    ),
    fs(
        "workload-leader-election",
        200,
        LevelId::LEADER_ELECTION,
        Distinguisher::ByUser,
    ),
    fs(
        "system-node-high",
        400,
        LevelId::NODE_HIGH,
        Distinguisher::ByUser,
    ),
    fs("system-nodes", 500, LevelId::SYSTEM, Distinguisher::ByUser),
    fs(
        "kube-controller-manager",
        800,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "kube-scheduler",
        800,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "kube-system-service-accounts",
        900,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "service-accounts",
        9000,
        LevelId::WORKLOAD_LOW,
        Distinguisher::ByUser,
    ),
    fs(
        "global-default",
        9900,
        LevelId::GLOBAL_DEFAULT,
        Distinguisher::ByUser,
    ),
    fs(
        "catch-all",
        10000,
        LevelId::CATCH_ALL,
        Distinguisher::ByUser,
    ),
];

/// The bootstrap FlowSchema named `name`.
pub fn flow_schema(name: &str) -> Option<&'static FlowSchema> {
    BOOTSTRAP_FLOW_SCHEMAS.iter().find(|f| f.name == name)
}

/// The server's sizing and costs. Kubernetes' own flags keep their defaults; the costs are
/// cascade's choices (docs/control-plane-and-nodes.md, "The API server in the run").
#[derive(Clone, Debug, PartialEq)]
pub struct ApiServerConfig {
    /// `--enable-priority-and-fairness` (true since v1.20's beta).
    pub priority_and_fairness: bool,
    /// `--max-requests-inflight` (400).
    pub max_requests_inflight: u32,
    /// `--max-mutating-requests-inflight` (200).
    pub max_mutating_requests_inflight: u32,
    /// Service time of any request, before its objects.
    pub request_seconds: f64,
    /// Service time added per object a LIST returns (encoding it).
    pub list_seconds_per_object: f64,
    /// CPUs the server runs on: with more requests executing than this, each runs that much
    /// slower (its service time is stretched by the share of the CPUs it gets when it starts).
    pub cpus: f64,
    /// Memory per object: in the watch cache, and again in a LIST's response while it runs.
    pub bytes_per_object: f64,
    /// Memory the process holds besides (its own heap, caches of other resources).
    pub baseline_bytes: f64,
    /// The container's memory limit; 0: none.
    pub memory_limit_bytes: f64,
    /// From a (re)start to serving: process start, etcd, the watch cache filled.
    pub startup_seconds: f64,
    /// The longest a request waits in a queue before it is rejected: a quarter of the default
    /// 60 s `--request-timeout`, 15 s (apiserver v0.33 `priority-and-fairness.go`).
    pub queue_wait_limit_seconds: f64,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            priority_and_fairness: true,
            max_requests_inflight: apf::MAX_REQUESTS_INFLIGHT,
            max_mutating_requests_inflight: apf::MAX_MUTATING_REQUESTS_INFLIGHT,
            request_seconds: 0.005,
            list_seconds_per_object: 0.000_02,
            cpus: 8.0,
            bytes_per_object: 8192.0,
            baseline_bytes: 512.0 * 1024.0 * 1024.0,
            memory_limit_bytes: 0.0,
            startup_seconds: 60.0,
            queue_wait_limit_seconds: 15.0,
        }
    }
}

/// A request as the server receives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiRequest {
    /// The caller's handle, given back with the answer.
    pub token: u64,
    pub verb: Verb,
    /// Its FlowSchema's level.
    pub level: LevelId,
    /// Its flow ([`crate::queueset::flow_hash`] of its FlowSchema and distinguisher).
    pub flow: u64,
    /// Objects stored of its resource (the work estimate of a LIST).
    pub stored: u64,
    /// Objects it returns (a LIST's time and memory).
    pub returned: u64,
    /// The caller waits on the answer (it is given at the instant the request completes);
    /// otherwise the answer may come at any later call, stamped with its instant.
    pub notify: bool,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    /// HTTP 429 with `Retry-After`.
    TooManyRequests {
        retry_after_seconds: f64,
    },
    /// No server listening (stopped or starting): the connection is refused.
    Refused,
    /// The server died while the request was in it: the connection is reset.
    Reset,
}

/// A request's answer, at the instant it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub token: u64,
    pub outcome: Outcome,
    pub at: Time,
}

/// What became of the server itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServerEvent {
    /// OOM-killed at `at` with this much memory in use: every watch on it is broken.
    OomKilled { at: Time, bytes: f64 },
    /// Stopped from outside (a fault): every watch on it is broken.
    Stopped { at: Time },
    /// Serving again.
    Started { at: Time },
}

/// Whether the server serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum State {
    Serving,
    /// Started, serving from `until`.
    Starting {
        until: Time,
    },
    Stopped,
}

/// The dynamic `Retry-After` of one level (apiserver v0.28+
/// `dropped_requests_tracker.go`): 1 s, doubled (up to 32 s) when the drops of the last
/// Retry-After seconds reach three per second of it, lowered by 1 when they fall below one per
/// second of it; at most one change per Retry-After seconds. Evaluated at each drop.
#[derive(Clone, Debug)]
struct RetryAfter {
    seconds: u32,
    changed: Time,
    drops: VecDeque<Time>,
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter {
            seconds: 1,
            changed: Time::ZERO,
            drops: VecDeque::new(),
        }
    }
}

/// `Retry-After`'s cap (`maxRetryAfter`, 32 s).
const MAX_RETRY_AFTER_SECONDS: u32 = 32;

impl RetryAfter {
    fn drop_at(&mut self, now: Time) -> f64 {
        let window = Time::from_secs_f64(f64::from(self.seconds));
        self.drops.push_back(now);
        while self.drops.front().is_some_and(|&t| now - t > window) {
            self.drops.pop_front();
        }
        let n = self.drops.len() as u64;
        if now - self.changed >= window {
            if n >= 3 * u64::from(self.seconds) {
                self.seconds = (self.seconds * 2).min(MAX_RETRY_AFTER_SECONDS);
                self.changed = now;
            } else if n < u64::from(self.seconds) && self.seconds > 1 {
                self.seconds -= 1;
                self.changed = now;
            }
        }
        f64::from(self.seconds)
    }
}

/// One priority level: its limits, its queues when it queues, its seats when it does not.
#[derive(Clone, Debug)]
struct Level {
    limits: ConcurrencyLimits,
    queues: Option<QueueSet>,
    /// Seats in use at a level without queues (exempt, catch-all).
    seats: u32,
    retry_after: RetryAfter,
}

/// A request executing.
#[derive(Clone, Copy, Debug)]
struct Running {
    token: u64,
    level: LevelId,
    seats: u32,
    mutating: bool,
    bytes: f64,
    dispatched: Option<Dispatched>,
    /// It got a whole CPU when it started.
    full_speed: bool,
}

/// A request in a queue, with what it will cost once dispatched.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    req: ApiRequest,
    seats: u32,
    seconds: f64,
    bytes: f64,
}

/// Counters since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServerStats {
    pub requests: u64,
    pub rejected: u64,
    pub unavailable: u64,
    pub oom_kills: u64,
}

/// kube-apiserver.
#[derive(Clone, Debug)]
pub struct ApiServer {
    cfg: ApiServerConfig,
    state: State,
    levels: Vec<Level>,
    /// Legacy max-inflight filter's counts (APF off).
    inflight_readonly: u32,
    inflight_mutating: u32,
    running: BTreeMap<u64, (Running, bool)>,
    /// Every running request by completion instant; and those whose caller waits on them.
    completions: BinaryHeap<Reverse<(Time, u64)>>,
    notify: BinaryHeap<Reverse<(Time, u64)>>,
    waiting: BTreeMap<(LevelId, RequestId), Waiting>,
    timeouts: BinaryHeap<Reverse<(Time, LevelId, RequestId)>>,
    stored_objects: u64,
    bytes_in_flight: f64,
    answers: Vec<Answer>,
    events: Vec<ServerEvent>,
    next_id: u64,
    stats: ServerStats,
}

impl ApiServer {
    /// A server that serves from time zero.
    pub fn new(cfg: ApiServerConfig) -> ApiServer {
        let scl = apf::server_concurrency_limit(
            cfg.max_requests_inflight,
            cfg.max_mutating_requests_inflight,
        );
        let limits = apf::concurrency_limits(&BOOTSTRAP_PRIORITY_LEVELS, scl);
        let levels = BOOTSTRAP_PRIORITY_LEVELS
            .iter()
            .zip(limits)
            .map(|(l, limits)| Level {
                limits,
                queues: l
                    .queuing()
                    .and_then(|q| QueueSet::new(q, limits.nominal.max(1))),
                seats: 0,
                retry_after: RetryAfter::default(),
            })
            .collect();
        ApiServer {
            cfg,
            state: State::Serving,
            levels,
            inflight_readonly: 0,
            inflight_mutating: 0,
            running: BTreeMap::new(),
            completions: BinaryHeap::new(),
            notify: BinaryHeap::new(),
            waiting: BTreeMap::new(),
            timeouts: BinaryHeap::new(),
            stored_objects: 0,
            bytes_in_flight: 0.0,
            answers: Vec::new(),
            events: Vec::new(),
            next_id: 0,
            stats: ServerStats::default(),
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
        self.stats
    }

    /// The objects the watch cache holds (all resources modelled), which it keeps in memory.
    pub fn set_stored_objects(&mut self, n: u64) {
        self.stored_objects = n;
    }

    /// Memory in use: baseline, the watch cache, and the responses being built.
    pub fn memory_bytes(&self) -> f64 {
        if self.state == State::Stopped {
            return 0.0;
        }
        self.cfg.baseline_bytes
            + self.stored_objects as f64 * self.cfg.bytes_per_object
            + self.bytes_in_flight
    }

    /// Seats in use over every level (APF), or requests in flight (legacy).
    pub fn seats_in_use(&self) -> u32 {
        if self.cfg.priority_and_fairness {
            self.levels
                .iter()
                .map(|l| l.queues.as_ref().map_or(l.seats, QueueSet::seats_in_use))
                .sum()
        } else {
            self.inflight_readonly + self.inflight_mutating
        }
    }

    /// The requests that completed by `now` but that no call has released yet.
    fn completed_by(&self, now: Time) -> impl Iterator<Item = &Running> {
        self.completions
            .iter()
            .filter(move |Reverse((at, _))| *at <= now)
            .filter_map(|Reverse((_, id))| self.running.get(id).map(|(r, _)| r))
    }

    /// Seats in use at `now`, counting as free those of requests that completed by then but
    /// that no call has released yet: a read that changes nothing.
    pub fn seats_in_use_at(&self, now: Time) -> u32 {
        let apf = self.cfg.priority_and_fairness;
        let done: u32 = self
            .completed_by(now)
            .map(|r| if apf { r.seats } else { 1 })
            .sum();
        self.seats_in_use().saturating_sub(done)
    }

    /// Memory in use at `now` (as [`ApiServer::seats_in_use_at`]: completed responses freed).
    pub fn memory_bytes_at(&self, now: Time) -> f64 {
        let done: f64 = self.completed_by(now).map(|r| r.bytes).sum();
        (self.memory_bytes() - done).max(0.0)
    }

    /// Requests waiting in queues.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the request `token` is executing at full speed: true right after
    /// [`ApiServer::submit`] when the server dispatched it at once (it neither waits in a
    /// queue nor was rejected) and its service time is not stretched by a CPU shortage.
    pub fn executing_at_full_speed(&self, token: u64) -> bool {
        // Requests are numbered in the order they start: one dispatched at once is the last.
        self.running
            .values()
            .next_back()
            .is_some_and(|(r, _)| r.token == token && r.full_speed)
    }

    /// The caller of the request `token`, executing, no longer waits on its answer: it will
    /// be given lazily, like a Lease renewal's, with no wake-up of its own.
    pub fn answer_lazily(&mut self, token: u64) {
        if let Some((_, notify)) = self
            .running
            .values_mut()
            .rev()
            .find(|(r, _)| r.token == token)
        {
            *notify = false;
        }
    }

    /// The answers given since the last call, in the order given.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// What became of the server since the last call.
    pub fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }

    /// When the server must next be called ([`ApiServer::advance`]): a start completing, a
    /// queue wait running out, a request completing that a caller waits on, or any completion
    /// while requests wait for its seats.
    pub fn next_wake(&mut self) -> Option<Time> {
        while let Some(Reverse((_, id))) = self.notify.peek() {
            if self.running.get(id).is_some_and(|(_, notify)| *notify) {
                break;
            }
            self.notify.pop();
        }
        // A request dispatched at once leaves its queue timeout behind: no wake-up for it.
        while let Some(Reverse((_, level, rid))) = self.timeouts.peek() {
            if self.waiting.contains_key(&(*level, *rid)) {
                break;
            }
            self.timeouts.pop();
        }
        let mut t = match self.state {
            State::Starting { until } => Some(until),
            _ => None,
        };
        let mut consider = |x: Option<Time>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Time| t.min(x)));
            }
        };
        consider(self.timeouts.peek().map(|Reverse((at, _, _))| *at));
        consider(self.notify.peek().map(|Reverse((at, _))| *at));
        if !self.waiting.is_empty() {
            consider(self.completions.peek().map(|Reverse((at, _))| *at));
        }
        t
    }

    /// Everything due by `now`, in time order: completions (freeing seats for waiting
    /// requests, dispatched at the instant they free), queue timeouts, a start completing.
    pub fn advance(&mut self, now: Time) {
        loop {
            let done = self.completions.peek().map(|Reverse((at, _))| *at);
            let timeout = self.timeouts.peek().map(|Reverse((at, _, _))| *at);
            let started = match self.state {
                State::Starting { until } => Some(until),
                _ => None,
            };
            let next = [done, timeout, started].into_iter().flatten().min();
            let Some(t) = next.filter(|&t| t <= now) else {
                break;
            };
            if started == Some(t) {
                self.state = State::Serving;
                self.events.push(ServerEvent::Started { at: t });
            } else if done == Some(t) {
                let Some(Reverse((_, id))) = self.completions.pop() else {
                    break;
                };
                self.complete(t, id);
                self.dispatch_waiting(t);
            } else if let Some(Reverse((_, level, rid))) = self.timeouts.pop() {
                self.time_out(t, level, rid);
            }
        }
    }

    /// A request arrives at `now`.
    pub fn submit(&mut self, now: Time, req: ApiRequest) {
        self.advance(now);
        self.stats.requests += 1;
        if self.state != State::Serving {
            self.unavailable(now, req.token, Outcome::Refused);
            return;
        }
        let li = usize::from(req.level.0).min(self.levels.len() - 1);
        let max_seats = self.levels[li].limits.max_seats;
        let estimate = work::estimate(
            &work::Request {
                verb: req.verb,
                named: false,
                stored: req.stored,
                watchers: 0,
            },
            max_seats,
        );
        let listing = req.verb == Verb::List;
        let seconds = self.cfg.request_seconds
            + if listing {
                req.returned as f64 * self.cfg.list_seconds_per_object
            } else {
                0.0
            }
            + estimate.additional_latency_seconds;
        let bytes = if listing {
            req.returned as f64 * self.cfg.bytes_per_object
        } else {
            0.0
        };
        let w = Waiting {
            req,
            seats: estimate.max_seats(),
            seconds,
            bytes,
        };
        if !self.cfg.priority_and_fairness {
            // The legacy max-inflight filter: over its limit, 429 with Retry-After 1 at once.
            let mutating = req.verb.is_mutating();
            let (n, limit) = if mutating {
                (
                    self.inflight_mutating,
                    self.cfg.max_mutating_requests_inflight,
                )
            } else {
                (self.inflight_readonly, self.cfg.max_requests_inflight)
            };
            if limit > 0 && n >= limit {
                self.reject(now, req.token, 1.0);
            } else {
                self.execute(now, w, None);
            }
            return;
        }
        match BOOTSTRAP_PRIORITY_LEVELS[li].kind {
            PriorityLevelType::Exempt => self.execute(now, w, None),
            PriorityLevelType::Limited(LimitResponse::Queue(_))
                if self.levels[li].queues.is_some() =>
            {
                let level = &mut self.levels[li];
                let enqueued = level
                    .queues
                    .as_mut()
                    .map(|qs| qs.enqueue(req.flow, w.seats));
                match enqueued {
                    Some(Ok(rid)) => {
                        self.waiting.insert((req.level, rid), w);
                        let limit = secs(self.cfg.queue_wait_limit_seconds);
                        self.timeouts
                            .push(Reverse((now.saturating_add(limit), req.level, rid)));
                        self.dispatch_waiting(now);
                    }
                    _ => {
                        let ra = level.retry_after.drop_at(now);
                        self.reject(now, req.token, ra);
                    }
                }
            }
            _ => {
                // Reject type (catch-all): runs if its seats are free, else 429.
                let level = &mut self.levels[li];
                if level.seats + w.seats <= level.limits.nominal.max(1) {
                    level.seats += w.seats;
                    self.execute(now, w, None);
                } else {
                    let ra = level.retry_after.drop_at(now);
                    self.reject(now, req.token, ra);
                }
            }
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
        self.events.push(ServerEvent::Stopped { at: now });
    }

    /// The server is started (again): it serves after `startupSeconds`.
    pub fn start(&mut self, now: Time) {
        self.advance(now);
        if self.state == State::Stopped {
            self.state = State::Starting {
                until: now.saturating_add(secs(self.cfg.startup_seconds)),
            };
        }
    }

    fn execute(&mut self, now: Time, w: Waiting, dispatched: Option<Dispatched>) {
        let id = self.next_id;
        self.next_id += 1;
        let mutating = w.req.verb.is_mutating();
        if !self.cfg.priority_and_fairness {
            if mutating {
                self.inflight_mutating += 1;
            } else {
                self.inflight_readonly += 1;
            }
        }
        // Processor sharing, fixed at the start: with n requests executing on c CPUs, each
        // gets c / n of a CPU.
        let executing = (self.running.len() + 1) as f64;
        let stretch = if self.cfg.cpus > 0.0 {
            (executing / self.cfg.cpus).max(1.0)
        } else {
            1.0
        };
        let done = now.saturating_add(secs(w.seconds * stretch));
        self.running.insert(
            id,
            (
                Running {
                    token: w.req.token,
                    level: w.req.level,
                    seats: w.seats,
                    mutating,
                    bytes: w.bytes,
                    dispatched,
                    full_speed: stretch <= 1.0,
                },
                w.req.notify,
            ),
        );
        self.completions.push(Reverse((done, id)));
        if w.req.notify {
            self.notify.push(Reverse((done, id)));
        }
        self.bytes_in_flight += w.bytes;
        if self.cfg.memory_limit_bytes > 0.0 && self.memory_bytes() > self.cfg.memory_limit_bytes {
            let bytes = self.memory_bytes();
            self.fail_everything(now);
            self.stats.oom_kills += 1;
            self.events.push(ServerEvent::OomKilled { at: now, bytes });
            self.state = State::Starting {
                until: now.saturating_add(secs(self.cfg.startup_seconds)),
            };
        }
    }

    /// Frees a completed request's seats and memory and answers it.
    fn complete(&mut self, at: Time, id: u64) {
        let Some((r, _)) = self.running.remove(&id) else {
            return;
        };
        self.release(&r);
        self.answers.push(Answer {
            token: r.token,
            outcome: Outcome::Ok,
            at,
        });
    }

    fn release(&mut self, r: &Running) {
        self.bytes_in_flight = (self.bytes_in_flight - r.bytes).max(0.0);
        if !self.cfg.priority_and_fairness {
            if r.mutating {
                self.inflight_mutating = self.inflight_mutating.saturating_sub(1);
            } else {
                self.inflight_readonly = self.inflight_readonly.saturating_sub(1);
            }
            return;
        }
        let level = &mut self.levels[usize::from(r.level.0)];
        match (level.queues.as_mut(), r.dispatched) {
            (Some(qs), Some(d)) => qs.finish(d),
            _ => level.seats = level.seats.saturating_sub(r.seats),
        }
    }

    /// Dispatches what free seats allow, at `now`, over every queuing level.
    fn dispatch_waiting(&mut self, now: Time) {
        if self.waiting.is_empty() || self.state != State::Serving {
            return;
        }
        for li in 0..self.levels.len() {
            while let Some(d) = self.levels[li].queues.as_mut().and_then(QueueSet::dispatch) {
                let level = LevelId(u8::try_from(li).unwrap_or(u8::MAX));
                if let Some(w) = self.waiting.remove(&(level, d.id)) {
                    self.execute(now, w, Some(d));
                    if self.state != State::Serving {
                        return;
                    }
                } else if let Some(qs) = self.levels[li].queues.as_mut() {
                    qs.finish(d);
                }
            }
        }
    }

    fn time_out(&mut self, now: Time, level: LevelId, rid: RequestId) {
        let Some(w) = self.waiting.remove(&(level, rid)) else {
            return;
        };
        let l = &mut self.levels[usize::from(level.0)];
        if let Some(qs) = l.queues.as_mut() {
            qs.withdraw(rid);
        }
        let ra = l.retry_after.drop_at(now);
        self.reject(now, w.req.token, ra);
    }

    fn reject(&mut self, at: Time, token: u64, retry_after_seconds: f64) {
        self.stats.rejected += 1;
        self.answers.push(Answer {
            token,
            outcome: Outcome::TooManyRequests {
                retry_after_seconds,
            },
            at,
        });
    }

    fn unavailable(&mut self, at: Time, token: u64, outcome: Outcome) {
        self.stats.unavailable += 1;
        self.answers.push(Answer { token, outcome, at });
    }

    /// The process is gone: every running and waiting request fails at `now`.
    fn fail_everything(&mut self, now: Time) {
        let running = std::mem::take(&mut self.running);
        for (r, _) in running.values() {
            self.release(r);
            self.unavailable(now, r.token, Outcome::Reset);
        }
        let waiting = std::mem::take(&mut self.waiting);
        for ((level, rid), w) in waiting {
            if let Some(qs) = self.levels[usize::from(level.0)].queues.as_mut() {
                qs.withdraw(rid);
            }
            self.unavailable(now, w.req.token, Outcome::Reset);
        }
        self.completions.clear();
        self.notify.clear();
        self.timeouts.clear();
        self.bytes_in_flight = 0.0;
    }
}

fn secs(s: f64) -> Time {
    Time::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queueset::flow_hash;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn t(s: f64) -> Time {
        Time::from_secs_f64(s)
    }

    fn list(token: u64, level: LevelId, flow: u64, objects: u64) -> ApiRequest {
        ApiRequest {
            token,
            verb: Verb::List,
            level,
            flow,
            stored: objects,
            returned: objects,
            notify: true,
        }
    }

    fn lease(token: u64, node: u64) -> ApiRequest {
        ApiRequest {
            token,
            verb: Verb::Update,
            level: LevelId::NODE_HIGH,
            flow: flow_hash("system-node-high", &format!("system:node:n-{node}")),
            stored: 0,
            returned: 0,
            notify: false,
        }
    }

    /// Runs the server to `until`, calling it at each instant it asks for.
    fn run_until(s: &mut ApiServer, until: Time) -> Vec<Answer> {
        while let Some(w) = s.next_wake().filter(|&w| w <= until) {
            s.advance(w);
        }
        s.advance(until);
        s.take_answers()
    }

    fn create(token: u64) -> ApiRequest {
        ApiRequest {
            token,
            verb: Verb::Create,
            level: LevelId::WORKLOAD_HIGH,
            flow: flow_hash("kube-controller-manager", "default"),
            stored: 0,
            returned: 0,
            notify: true,
        }
    }

    #[test]
    fn a_request_answered_lazily_asks_for_no_wake_up_and_keeps_its_instant() {
        let mut s = ApiServer::new(ApiServerConfig::default());
        s.submit(Time::ZERO, create(1));
        assert_eq!(s.next_wake(), Some(t(0.005)));
        s.answer_lazily(1);
        assert_eq!(s.next_wake(), None);
        s.advance(t(1.0));
        let a = s.take_answers();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].token, a[0].outcome, a[0].at),
            (1, Outcome::Ok, t(0.005))
        );
    }

    #[test]
    fn a_write_runs_at_full_speed_only_while_the_cpus_are_not_all_busy() {
        let cfg = ApiServerConfig {
            cpus: 2.0,
            ..ApiServerConfig::default()
        };
        let mut s = ApiServer::new(cfg);
        s.set_stored_objects(1000);
        s.submit(Time::ZERO, create(1));
        assert!(s.executing_at_full_speed(1));
        // A second request on the second CPU still runs at full speed; a third shares them.
        s.submit(Time::ZERO, list(2, LevelId::WORKLOAD_LOW, 7, 1000));
        s.submit(Time::ZERO, create(3));
        assert!(!s.executing_at_full_speed(3));
        // Asked of an earlier request, or of one not running, the answer is no.
        assert!(!s.executing_at_full_speed(1));
        assert!(!s.executing_at_full_speed(99));
        run_until(&mut s, t(10.0));
        s.submit(t(10.0), create(4));
        assert!(s.executing_at_full_speed(4));
    }

    #[test]
    fn a_list_takes_time_and_memory_in_proportion_to_what_it_returns() {
        let cfg = ApiServerConfig::default();
        let mut s = ApiServer::new(cfg.clone());
        s.set_stored_objects(30_000);
        let idle = s.memory_bytes();
        assert_eq!(idle, cfg.baseline_bytes + 30_000.0 * cfg.bytes_per_object);
        s.submit(Time::ZERO, list(1, LevelId::WORKLOAD_LOW, 7, 30_000));
        assert_eq!(s.memory_bytes(), idle + 30_000.0 * cfg.bytes_per_object);
        let expected = cfg.request_seconds + 30_000.0 * cfg.list_seconds_per_object;
        assert_eq!(s.next_wake(), Some(t(expected)));
        // Read as of an instant, the figures count what has completed by then as freed.
        assert_eq!(s.seats_in_use_at(Time::ZERO), 10);
        assert_eq!(s.seats_in_use_at(t(expected)), 0);
        assert_eq!(s.memory_bytes_at(t(expected)), idle);
        let a = run_until(&mut s, t(10.0));
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].outcome, a[0].at), (Outcome::Ok, t(expected)));
        assert_eq!(s.memory_bytes(), idle);
    }

    #[test]
    fn apf_keeps_the_kubelets_clear_of_a_list_flood_and_the_legacy_filter_only_their_writes() {
        for apf_on in [true, false] {
            let mut s = ApiServer::new(ApiServerConfig {
                priority_and_fairness: apf_on,
                cpus: 0.0,
                ..ApiServerConfig::default()
            });
            s.set_stored_objects(100_000);
            // 2,000 agents of one ServiceAccount list every pod at once (2 s each).
            let flow = flow_hash("service-accounts", "system:serviceaccount:obs:agent");
            for i in 0..2000 {
                s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, flow, 100_000));
            }
            // Then 1,000 kubelets each read their Node and renew their Lease, 0.1 ms apart.
            for n in 0..1000u64 {
                let at = t(0.5 + n as f64 * 0.0001);
                let mut get = lease(10_000 + n, n);
                get.verb = Verb::Get;
                s.submit(at, get);
                s.submit(at, lease(20_000 + n, n));
            }
            let answers = run_until(&mut s, t(1.0));
            let ok = |from: u64| {
                answers
                    .iter()
                    .filter(|a| (from..from + 1000).contains(&a.token) && a.outcome == Outcome::Ok)
                    .count()
            };
            // Leases are writes: the legacy filter's mutating slots are not the LISTs'.
            assert_eq!(ok(20_000), 1000);
            if apf_on {
                assert_eq!(ok(10_000), 1000, "node-high has seats of its own");
                // One flow gets one hand of 6 queues of 50: the rest of the flood is refused.
                let refused = answers
                    .iter()
                    .filter(|a| a.token < 2000 && a.outcome != Outcome::Ok)
                    .count();
                let lim = s.levels[usize::from(LevelId::WORKLOAD_LOW.0)].limits;
                let running = (lim.nominal / lim.max_seats) as usize;
                assert_eq!(refused, 2000 - 300 - running);
            } else {
                assert_eq!(ok(10_000), 0, "the 400 read-only slots are full of LISTs");
            }
        }
    }

    #[test]
    fn more_requests_than_cpus_run_slower_in_proportion() {
        let cfg = ApiServerConfig::default();
        let mut s = ApiServer::new(cfg.clone());
        s.set_stored_objects(10_000);
        for i in 0..16 {
            s.submit(Time::ZERO, list(i, LevelId::EXEMPT, i, 10_000));
        }
        let one = cfg.request_seconds + 10_000.0 * cfg.list_seconds_per_object;
        let a = run_until(&mut s, t(10.0));
        // The 8th starts with 8 executing on 8 CPUs: full speed; the 16th gets half a CPU.
        assert_eq!(a.iter().find(|a| a.token == 7).unwrap().at, t(one));
        assert_eq!(a.iter().find(|a| a.token == 15).unwrap().at, t(one * 2.0));
    }

    #[test]
    fn lease_renewals_that_run_at_once_ask_for_no_wake_up() {
        let mut s = ApiServer::new(ApiServerConfig::default());
        for n in 0..100 {
            s.submit(t(n as f64 * 0.1), lease(n, n));
        }
        assert_eq!(s.next_wake(), None, "nobody waits on a Lease renewal");
        let a = run_until(&mut s, t(20.0));
        assert_eq!(a.len(), 100);
        assert!(a.iter().all(|a| a.outcome == Outcome::Ok));
    }

    #[test]
    fn a_server_past_its_memory_limit_is_oom_killed_and_serves_again_after_startup() {
        let cfg = ApiServerConfig {
            priority_and_fairness: false,
            memory_limit_bytes: 4.0 * 1024.0 * 1024.0 * 1024.0,
            ..ApiServerConfig::default()
        };
        let mut s = ApiServer::new(cfg.clone());
        s.set_stored_objects(50_000);
        // 50,000 x 8 KiB = 400 MB per LIST over a 0.9 GB base: the 9th kills it.
        for i in 0..9 {
            s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, 1, 50_000));
        }
        let events = s.take_events();
        assert!(
            matches!(events[..], [ServerEvent::OomKilled { .. }]),
            "{events:?}"
        );
        let answers = s.take_answers();
        assert_eq!(answers.len(), 9);
        assert!(answers.iter().all(|a| a.outcome == Outcome::Reset));
        assert!(!s.serving());
        s.submit(t(30.0), list(20, LevelId::WORKLOAD_LOW, 1, 10));
        assert_eq!(s.take_answers()[0].outcome, Outcome::Refused);
        run_until(&mut s, t(cfg.startup_seconds));
        assert!(s.serving());
        assert_eq!(s.take_events(), vec![ServerEvent::Started { at: t(60.0) }]);
        assert_eq!(s.stats().oom_kills, 1);
    }

    #[test]
    fn a_request_that_waits_past_the_queue_wait_limit_is_refused_then() {
        let mut s = ApiServer::new(ApiServerConfig::default());
        s.set_stored_objects(1_000_000);
        // 10-seat LISTs of 20 s each fill workload-low; the next waits, then times out.
        let lim = s.levels[usize::from(LevelId::WORKLOAD_LOW.0)].limits;
        let fit = u64::from(lim.nominal / lim.max_seats);
        for i in 0..=fit {
            s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, i, 1_000_000));
        }
        assert_eq!(s.waiting(), 1);
        let a = run_until(&mut s, t(16.0));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].token, fit);
        assert_eq!(a[0].at, t(15.0));
        assert!(matches!(a[0].outcome, Outcome::TooManyRequests { .. }));
    }

    #[test]
    fn retry_after_doubles_under_a_storm_of_drops_up_to_32_s_and_comes_back_down() {
        let mut r = RetryAfter::default();
        let mut ra = 0.0;
        for i in 0..100_000u32 {
            ra = r.drop_at(t(f64::from(i) * 0.01));
        }
        assert_eq!(ra, 32.0);
        // A drop now and then: it steps down by one per Retry-After.
        for i in 0..2000u32 {
            ra = r.drop_at(t(1000.0 + f64::from(i) * 40.0));
        }
        assert_eq!(ra, 1.0);
    }

    #[derive(Clone, Debug)]
    enum Op {
        List(u64, u8),
        Lease(u64),
        Advance(f64),
        Stop,
        Start,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..200_000, 5u8..8).prop_map(|(n, l)| Op::List(n, l)),
            (0u64..50).prop_map(Op::Lease),
            (0.0f64..20.0).prop_map(Op::Advance),
            Just(Op::Stop),
            Just(Op::Start),
        ]
    }

    proptest! {
        /// Every request is answered exactly once, never before it arrived, and a server
        /// left alone ends with nothing in flight.
        #[test]
        fn every_request_is_answered_exactly_once(
            ops in prop::collection::vec(op(), 1..200),
            apf_on in any::<bool>(),
            limit_gib in 0u32..8,
        ) {
            let mut s = ApiServer::new(ApiServerConfig {
                priority_and_fairness: apf_on,
                memory_limit_bytes: f64::from(limit_gib) * 1024.0 * 1024.0 * 1024.0,
                ..ApiServerConfig::default()
            });
            s.set_stored_objects(10_000);
            let mut now = Time::ZERO;
            let mut sent = BTreeMap::new();
            let mut answered = BTreeSet::new();
            let mut token = 0;
            for o in ops {
                match o {
                    Op::List(n, l) => {
                        token += 1;
                        sent.insert(token, now);
                        s.submit(now, list(token, LevelId(l), n % 7, n));
                    }
                    Op::Lease(n) => {
                        token += 1;
                        sent.insert(token, now);
                        s.submit(now, lease(token, n));
                    }
                    Op::Advance(d) => {
                        let until = now.saturating_add(t(d));
                        for a in run_until(&mut s, until) {
                            prop_assert!(a.at >= sent[&a.token]);
                            prop_assert!(answered.insert(a.token), "answered twice");
                        }
                        now = until;
                    }
                    Op::Stop => s.stop(now),
                    Op::Start => s.start(now),
                }
                for a in s.take_answers() {
                    prop_assert!(a.at >= sent[&a.token]);
                    prop_assert!(answered.insert(a.token), "answered twice");
                }
            }
            s.start(now);
            for a in run_until(&mut s, now.saturating_add(t(3600.0))) {
                prop_assert!(answered.insert(a.token), "answered twice");
            }
            prop_assert_eq!(answered.len(), sent.len());
            prop_assert_eq!(s.seats_in_use(), 0);
            prop_assert_eq!(s.waiting(), 0);
        }
    }
}
