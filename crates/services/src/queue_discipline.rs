//! How a replica's queue orders and drops the requests waiting for a worker: FIFO (the
//! default, a plain server's), LIFO, CoDel (RFC 8289) and Facebook's adaptive LIFO, with a
//! full queue refusing the newcomer (drop-tail) or dropping its oldest (drop-head). Pure state
//! machines with time passed in; `flow.rs` asks them when a worker frees and `service.rs`
//! when a request arrives. docs/retry-defences.md#queue-disciplines

use crate::contract::ReqId;
use cascade_engine::Time;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The order in which a replica's workers take queued requests.
/// docs/retry-defences.md#queue-disciplines
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum QueueDiscipline {
    /// Oldest first (a Go HTTP server's accept queue, a thread pool's): the default.
    #[default]
    Fifo,
    /// Newest first: a request still worth answering is served before those whose callers
    /// have likely given up.
    Lifo,
    /// Oldest first, with CoDel's drops at the head (RFC 8289, its control law): once every
    /// request taken for an `interval` has waited more than `target`, the oldest are dropped
    /// at a rate that grows with the square root of the drops.
    Codel,
    /// Facebook's adaptive LIFO with its CoDel variant ("Fail at Scale", ACM Queue 2015):
    /// FIFO while the queue empties now and then; once it has not been empty for an
    /// `interval`, newest first, and a request that has waited more than `target` is dropped
    /// (more than `interval` while the queue is not standing).
    AdaptiveLifo,
}

/// What a full queue (`queueCapacity` requests waiting) does with one more.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum QueueOverflow {
    /// Refuses the newcomer (503 at once): the default, what a bounded queue does.
    #[default]
    DropTail,
    /// Drops the oldest request waiting (answered with an error) and queues the newcomer.
    DropHead,
}

impl QueueOverflow {
    fn is_drop_tail(&self) -> bool {
        *self == QueueOverflow::DropTail
    }
}

/// CoDel's two constants (RFC 8289 section 4.2-4.3: TARGET 5 ms, INTERVAL 100 ms; Facebook's
/// "Fail at Scale" uses the same 5 ms and 100 ms for its M and N), for the `codel` and
/// `adaptiveLifo` disciplines. docs/retry-defences.md#queue-disciplines
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CoDelParams {
    /// The acceptable standing queue delay (RFC 8289 TARGET, 5 ms), above 0.
    pub target_seconds: f64,
    /// How long the delay must stay above the target before drops begin (RFC 8289
    /// INTERVAL, 100 ms), above 0.
    pub interval_seconds: f64,
}

impl Default for CoDelParams {
    fn default() -> Self {
        CoDelParams {
            target_seconds: 0.005,
            interval_seconds: 0.1,
        }
    }
}

/// Load shedding by concurrency: the thresholds an Envoy sidecar in front of each replica
/// applies to its local cluster (envoy `config/cluster/v3/circuit_breaker.proto`,
/// `CircuitBreakers.Thresholds`; both default to 1024). A request beyond either is refused at
/// once with a 503 of its own (Envoy's `upstream_rq_pending_overflow`, response flag UO),
/// counted in `{service}_overflowed`. docs/retry-defences.md#concurrency-limit
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ConcurrencyLimit {
    /// Envoy's `max_requests` (1024): requests a replica holds at once, served (a worker
    /// held, waiting on a downstream call included) or queued. At least 1.
    pub max_requests: u32,
    /// Envoy's `max_pending_requests` (1024): requests a replica queues for a worker. At
    /// least 1.
    pub max_pending_requests: u32,
}

impl Default for ConcurrencyLimit {
    fn default() -> Self {
        ConcurrencyLimit {
            max_requests: 1024,
            max_pending_requests: 1024,
        }
    }
}

/// A replica's queue settings, read from its service's spec.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuePolicy {
    pub discipline: QueueDiscipline,
    pub overflow: QueueOverflow,
    pub target: Time,
    pub interval: Time,
}

impl QueuePolicy {
    pub fn of(spec: &crate::config::ServiceSpec) -> QueuePolicy {
        QueuePolicy {
            discipline: spec.queue_discipline,
            overflow: spec.queue_overflow,
            target: Time::from_secs_f64(spec.codel.target_seconds),
            interval: Time::from_secs_f64(spec.codel.interval_seconds),
        }
    }

    /// Whether a queue under it can drop requests on its own (for the totals a run shows).
    pub fn drops(&self) -> bool {
        !self.overflow.is_drop_tail()
            || matches!(
                self.discipline,
                QueueDiscipline::Codel | QueueDiscipline::AdaptiveLifo
            )
    }

    pub fn overflow_drops_tail(&self) -> bool {
        self.overflow.is_drop_tail()
    }
}

/// What a freed worker got from the queue: the request it serves (if any), and the requests
/// the discipline dropped on the way (answered with an error, never served).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Taken {
    pub serve: Option<ReqId>,
    pub dropped: Vec<ReqId>,
}

/// A replica's queue state beyond the requests themselves: CoDel's, and since when the queue
/// has been non-empty (Facebook's "last empty time").
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    pub codel: CoDel,
    /// Since when the queue has held at least one request (None: empty).
    pub nonempty_since: Option<Time>,
}

impl QueueState {
    /// A request joins the queue (at its back: the queue is kept in arrival order).
    pub fn push(&mut self, now: Time, queue: &mut VecDeque<ReqId>, id: ReqId) {
        if queue.is_empty() {
            self.nonempty_since = Some(now);
        }
        queue.push_back(id);
    }

    /// Drop-head: the oldest request makes room for the newcomer.
    pub fn push_dropping_oldest(
        &mut self,
        now: Time,
        queue: &mut VecDeque<ReqId>,
        id: ReqId,
    ) -> Option<ReqId> {
        self.push(now, queue, id);
        queue.pop_front()
    }

    /// The queue was emptied at once (its process died).
    pub fn cleared(&mut self) {
        self.nonempty_since = None;
        self.codel.dropping = false;
        self.codel.first_above_time = None;
    }

    /// A worker frees: what the discipline gives it. `arrived` reads a queued request's
    /// arrival (a request no longer known reads `now`: it has not waited).
    pub fn take(
        &mut self,
        now: Time,
        queue: &mut VecDeque<ReqId>,
        policy: &QueuePolicy,
        arrived: impl Fn(ReqId) -> Time,
    ) -> Taken {
        let mut taken = Taken::default();
        match policy.discipline {
            QueueDiscipline::Fifo => taken.serve = queue.pop_front(),
            QueueDiscipline::Lifo => taken.serve = queue.pop_back(),
            QueueDiscipline::Codel => {
                let (serve, dropped) =
                    self.codel.dequeue(now, policy.target, policy.interval, || {
                        let id = queue.pop_front()?;
                        Some((id, now - arrived(id), queue.is_empty()))
                    });
                taken = Taken { serve, dropped };
            }
            QueueDiscipline::AdaptiveLifo => {
                // Facebook: a queue not empty for the last `interval` is standing; its
                // requests may wait `target`, otherwise `interval` (evaluated when a worker
                // frees, oldest first, so that the stale bottom of a LIFO queue goes too).
                let standing = self
                    .nonempty_since
                    .is_some_and(|t| now - t >= policy.interval);
                let limit = if standing {
                    policy.target
                } else {
                    policy.interval
                };
                while let Some(&id) = queue.front() {
                    if now - arrived(id) <= limit {
                        break;
                    }
                    queue.pop_front();
                    taken.dropped.push(id);
                }
                taken.serve = if standing {
                    queue.pop_back()
                } else {
                    queue.pop_front()
                };
            }
        }
        if queue.is_empty() {
            self.nonempty_since = None;
        }
        taken
    }
}

/// CoDel's state machine as RFC 8289 section 5 gives it (its `dodequeue` and `dequeue`),
/// over requests instead of packets: a request's sojourn is its wait in the queue, and "the
/// queue holds at most one MTU" is "no request is left behind it". [checked against RFC 8289
/// and the Linux `codel_impl.h`]
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CoDel {
    /// When the sojourn will have been above the target for an interval (None: it is below).
    pub first_above_time: Option<Time>,
    /// In the dropping state.
    pub dropping: bool,
    /// When the next drop is due while dropping.
    pub drop_next: Time,
    /// Drops since entering the dropping state (the control law's count).
    pub count: u32,
    /// The count when the dropping state was last entered.
    pub lastcount: u32,
}

impl CoDel {
    /// RFC 8289's control law: the next drop `interval / sqrt(count)` after `t`.
    pub fn control_law(t: Time, interval: Time, count: u32) -> Time {
        t + Time::from_secs_f64(interval.as_secs_f64() / f64::from(count.max(1)).sqrt())
    }

    /// `dodequeue`: whether the request taken (waited `sojourn`, `alone` if none is left
    /// behind it) may be dropped.
    fn ok_to_drop(
        &mut self,
        now: Time,
        sojourn: Time,
        alone: bool,
        target: Time,
        interval: Time,
    ) -> bool {
        if sojourn < target || alone {
            self.first_above_time = None;
            return false;
        }
        match self.first_above_time {
            None => {
                self.first_above_time = Some(now + interval);
                false
            }
            Some(t) => now >= t,
        }
    }

    /// `dequeue`: takes requests through `pop` (each with its sojourn and whether it was the
    /// last), dropping as the state machine says; returns the one to serve and those dropped.
    pub fn dequeue<T>(
        &mut self,
        now: Time,
        target: Time,
        interval: Time,
        mut pop: impl FnMut() -> Option<(T, Time, bool)>,
    ) -> (Option<T>, Vec<T>) {
        let mut dropped = Vec::new();
        let mut next = |s: &mut CoDel| -> Option<(T, bool)> {
            match pop() {
                None => {
                    s.first_above_time = None;
                    None
                }
                Some((r, sojourn, alone)) => {
                    let ok = s.ok_to_drop(now, sojourn, alone, target, interval);
                    Some((r, ok))
                }
            }
        };
        let Some((mut r, mut ok)) = next(self) else {
            self.dropping = false;
            return (None, dropped);
        };
        if self.dropping {
            if !ok {
                self.dropping = false;
            }
            while now >= self.drop_next && self.dropping {
                dropped.push(r);
                self.count += 1;
                match next(self) {
                    None => {
                        self.dropping = false;
                        return (None, dropped);
                    }
                    Some((r2, ok2)) => {
                        r = r2;
                        ok = ok2;
                    }
                }
                if ok {
                    self.drop_next = CoDel::control_law(self.drop_next, interval, self.count);
                } else {
                    self.dropping = false;
                }
            }
        } else if ok {
            dropped.push(r);
            let after = next(self);
            self.dropping = true;
            let delta = self.count.wrapping_sub(self.lastcount);
            self.count = 1;
            if delta > 1 && now - self.drop_next < Time(16 * interval.0) {
                self.count = delta;
            }
            self.drop_next = CoDel::control_law(now, interval, self.count);
            self.lastcount = self.count;
            match after {
                None => return (None, dropped),
                Some((r2, _)) => r = r2,
            }
        }
        (Some(r), dropped)
    }
}

#[cfg(test)]
mod tests;
