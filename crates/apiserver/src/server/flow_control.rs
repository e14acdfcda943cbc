//! API Priority and Fairness' dispatch: one [`Level`] per bootstrap
//! PriorityLevelConfiguration with its concurrency limits (NominalCL, max seats), its fair
//! queues when it queues (`queueset.rs`: shuffle sharding's hand of queues, dispatch by
//! virtual finish), its seats when it does not (exempt, and catch-all's `Reject`), and its
//! dynamic `Retry-After`. [`FlowControl`] owns the levels, the requests waiting in their
//! queues and the queue-wait deadlines; it decides whether a request executes now, waits, or
//! gets a 429. The server executes what it lets through. docs/control-plane-and-nodes.md,
//! "API Priority and Fairness".

use super::config::FlowControlConfig;
use super::cost::Costed;
use super::execution::Running;
use super::flow_schema::LevelId;
use crate::apf::{
    self, ConcurrencyLimits, LimitResponse, PriorityLevelType, BOOTSTRAP_PRIORITY_LEVELS,
};
use crate::queueset::{Dispatched, QueueSet, RequestId};
use cascade_engine::{Duration, Time};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// The dynamic `Retry-After` of one level (apiserver v0.28+
/// `dropped_requests_tracker.go`): 1 s, doubled (up to 32 s) when the drops of the last
/// Retry-After seconds reach three per second of it, lowered by 1 when they fall below one per
/// second of it; at most one change per Retry-After seconds. Evaluated at each drop.
#[derive(Clone, Debug)]
pub(super) struct RetryAfter {
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
    /// A request dropped at `now`: the `Retry-After` it is answered with.
    pub(super) fn drop_at(&mut self, now: Time) -> Duration {
        let window = Duration::from_secs(u64::from(self.seconds));
        self.drops.push_back(now);
        while self.drops.front().is_some_and(|&t| now.since(t) > window) {
            self.drops.pop_front();
        }
        let n = self.drops.len() as u64;
        if now.since(self.changed) >= window {
            if n >= 3 * u64::from(self.seconds) {
                self.seconds = (self.seconds * 2).min(MAX_RETRY_AFTER_SECONDS);
                self.changed = now;
            } else if n < u64::from(self.seconds) && self.seconds > 1 {
                self.seconds -= 1;
                self.changed = now;
            }
        }
        Duration::from_secs(u64::from(self.seconds))
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

/// What becomes of a request that arrives.
pub(super) enum Admission {
    /// It executes now.
    Execute(Costed),
    /// It waits in its level's queues ([`FlowControl::dispatch_next`] lets it through).
    Queued,
    /// HTTP 429 with this `Retry-After`.
    Rejected(Duration),
}

/// The priority levels, the requests waiting in their queues, and when each stops waiting.
#[derive(Clone, Debug)]
pub(super) struct FlowControl {
    levels: Vec<Level>,
    waiting: BTreeMap<(LevelId, RequestId), Costed>,
    /// Each waiting request's queue-wait deadline (left behind when it is dispatched).
    timeouts: BinaryHeap<Reverse<(Time, LevelId, RequestId)>>,
}

impl FlowControl {
    /// The bootstrap levels with the limits the inflight flags give them.
    pub(super) fn new(cfg: &FlowControlConfig) -> FlowControl {
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
        FlowControl {
            levels,
            waiting: BTreeMap::new(),
            timeouts: BinaryHeap::new(),
        }
    }

    /// The level a request of `level` is counted at (an unknown one at the last).
    pub(super) fn index(&self, level: LevelId) -> usize {
        usize::from(level.0).min(self.levels.len() - 1)
    }

    /// The widest request the level at `li` admits, in seats.
    pub(super) fn max_seats(&self, li: usize) -> u32 {
        self.levels[li].limits.max_seats
    }

    /// A level's concurrency limits.
    pub(super) fn limits(&self, level: LevelId) -> ConcurrencyLimits {
        self.levels[usize::from(level.0)].limits
    }

    /// Seats in use over every level.
    pub(super) fn seats_in_use(&self) -> u32 {
        self.levels
            .iter()
            .map(|l| l.queues.as_ref().map_or(l.seats, QueueSet::seats_in_use))
            .sum()
    }

    /// Requests waiting in queues.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// `w`, arriving at `now` at the level at `li`: an exempt level runs it, a queuing level
    /// queues it (until `now + queue_wait_limit`) or refuses it when its queue is full, a
    /// `Reject` level runs it if its seats are free and refuses it otherwise.
    pub(super) fn admit(
        &mut self,
        now: Time,
        li: usize,
        w: Costed,
        queue_wait_limit: Duration,
    ) -> Admission {
        let level = &mut self.levels[li];
        match BOOTSTRAP_PRIORITY_LEVELS[li].kind {
            PriorityLevelType::Exempt => Admission::Execute(w),
            PriorityLevelType::Limited(LimitResponse::Queue(_)) if level.queues.is_some() => {
                let enqueued = level
                    .queues
                    .as_mut()
                    .map(|qs| qs.enqueue(w.req.flow, w.seats));
                match enqueued {
                    Some(Ok(rid)) => {
                        self.waiting.insert((w.req.level, rid), w);
                        self.timeouts.push(Reverse((
                            now.after(queue_wait_limit),
                            w.req.level,
                            rid,
                        )));
                        Admission::Queued
                    }
                    _ => Admission::Rejected(level.retry_after.drop_at(now)),
                }
            }
            _ => {
                // Reject type (catch-all): runs if its seats are free, else 429.
                if level.seats + w.seats <= level.limits.nominal.max(1) {
                    level.seats += w.seats;
                    Admission::Execute(w)
                } else {
                    Admission::Rejected(level.retry_after.drop_at(now))
                }
            }
        }
    }

    /// The levels, for [`FlowControl::dispatch_next`] over each in turn.
    pub(super) fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Whether any request waits in a queue.
    pub(super) fn any_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The next request the level at `li` dispatches with the seats it has free, and the
    /// handle its queue set must be given back when it finishes.
    pub(super) fn dispatch_next(&mut self, li: usize) -> Option<(Costed, Dispatched)> {
        let level = LevelId(u8::try_from(li).unwrap_or(u8::MAX));
        while let Some(d) = self.levels[li].queues.as_mut().and_then(QueueSet::dispatch) {
            if let Some(w) = self.waiting.remove(&(level, d.id)) {
                return Some((w, d));
            } else if let Some(qs) = self.levels[li].queues.as_mut() {
                qs.finish(d);
            }
        }
        None
    }

    /// The earliest queue-wait deadline pending (possibly of a request dispatched since).
    pub(super) fn next_timeout(&self) -> Option<Time> {
        self.timeouts.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Drops the deadlines of requests dispatched since: a request dispatched at once leaves
    /// its queue timeout behind, and asks for no wake-up for it.
    pub(super) fn drop_stale_timeouts(&mut self) {
        while let Some(Reverse((_, level, rid))) = self.timeouts.peek() {
            if self.waiting.contains_key(&(*level, *rid)) {
                break;
            }
            self.timeouts.pop();
        }
    }

    /// The earliest deadline, due at `at`: the request still waiting is withdrawn and
    /// refused, with its token and `Retry-After`.
    pub(super) fn time_out_next(&mut self, at: Time) -> Option<(u64, Duration)> {
        let Reverse((_, level, rid)) = self.timeouts.pop()?;
        let w = self.waiting.remove(&(level, rid))?;
        let l = &mut self.levels[usize::from(level.0)];
        if let Some(qs) = l.queues.as_mut() {
            qs.withdraw(rid);
        }
        Some((w.req.token, l.retry_after.drop_at(at)))
    }

    /// A request that ran at its level is done: its seats are free.
    pub(super) fn release(&mut self, r: &Running) {
        let level = &mut self.levels[usize::from(r.level.0)];
        match (level.queues.as_mut(), r.dispatched) {
            (Some(qs), Some(d)) => qs.finish(d),
            _ => level.seats = level.seats.saturating_sub(r.seats),
        }
    }

    /// The process is gone: every waiting request leaves its queue; their tokens, in order.
    pub(super) fn withdraw_all(&mut self) -> Vec<u64> {
        let waiting = std::mem::take(&mut self.waiting);
        self.timeouts.clear();
        waiting
            .into_iter()
            .map(|((level, rid), w)| {
                if let Some(qs) = self.levels[usize::from(level.0)].queues.as_mut() {
                    qs.withdraw(rid);
                }
                w.req.token
            })
            .collect()
    }
}
