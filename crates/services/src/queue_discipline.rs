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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use slotmap::SlotMap;

    fn ms(v: u64) -> Time {
        Time::from_millis(v)
    }

    /// A CoDel queue of plain arrivals, for the state machine alone: `dequeue` at `now`
    /// returns (served arrival, dropped arrivals).
    struct Fake {
        q: VecDeque<Time>,
        codel: CoDel,
    }

    impl Fake {
        fn new(arrivals: impl IntoIterator<Item = Time>) -> Fake {
            Fake {
                q: arrivals.into_iter().collect(),
                codel: CoDel::default(),
            }
        }

        fn dequeue(&mut self, now: Time) -> (Option<Time>, Vec<Time>) {
            let q = &mut self.q;
            self.codel.dequeue(now, ms(5), ms(100), || {
                let a = q.pop_front()?;
                Some((a, now - a, q.is_empty()))
            })
        }
    }

    #[test]
    fn codel_enters_dropping_after_an_interval_above_target_and_leaves_below_it() {
        // RFC 8289 with TARGET 5 ms and INTERVAL 100 ms: 1,000 requests arrive at 0 and a
        // worker takes one every 10 ms. The first above the target (at 10 ms) arms the
        // timer for 110 ms; nothing is dropped before.
        let mut f = Fake::new((0..1000).map(|_| Time::ZERO));
        for t in (10..110).step_by(10) {
            let (served, dropped) = f.dequeue(ms(t));
            assert!(served.is_some() && dropped.is_empty(), "at {t} ms");
            assert!(!f.codel.dropping);
            assert_eq!(f.codel.first_above_time, Some(ms(110)));
        }
        // At 110 ms the sojourn has been above the target for an interval: one drop, the
        // dropping state, count 1, the next drop an interval later.
        let (served, dropped) = f.dequeue(ms(110));
        assert!(served.is_some());
        assert_eq!(dropped.len(), 1);
        assert!(f.codel.dropping);
        assert_eq!((f.codel.count, f.codel.drop_next), (1, ms(210)));
        // In between, nothing is dropped.
        for t in (120..210).step_by(10) {
            assert!(f.dequeue(ms(t)).1.is_empty(), "at {t} ms");
        }
        // The control law: interval / sqrt(count) after the previous drop.
        assert_eq!(f.dequeue(ms(210)).1.len(), 1);
        assert_eq!(f.codel.count, 2);
        let next = CoDel::control_law(ms(210), ms(100), 2);
        assert_eq!(f.codel.drop_next, next);
        assert_eq!(next, Time(280_711)); // 210 ms + 70.711 ms
        assert!(f.dequeue(ms(280)).1.is_empty());
        assert_eq!(f.dequeue(ms(281)).1.len(), 1);
        assert_eq!(f.codel.count, 3);
        // A worker late by several drop intervals drops several at once (RFC 8289's loop).
        let before = f.codel.count;
        let (_, dropped) = f.dequeue(ms(600));
        assert!(dropped.len() > 1, "{dropped:?}");
        assert_eq!(
            f.codel.count,
            before + cascade_engine::index_u32(dropped.len())
        );
        assert!(f.codel.drop_next > ms(600));
        // A request that waited less than the target ends the dropping state.
        let lastcount = f.codel.count;
        f.q.clear();
        f.q.extend([ms(698), ms(699)]);
        let (served, dropped) = f.dequeue(ms(700));
        assert_eq!((served, dropped.len()), (Some(ms(698)), 0));
        assert!(!f.codel.dropping);
        assert_eq!(f.codel.first_above_time, None);
        // Back above the target within 16 intervals of the last drop: the count resumes
        // from the drops of the last cycle (delta = count - lastcount) rather than 1.
        f.q.clear();
        f.q.extend((0..100).map(|_| ms(700)));
        assert!(f.dequeue(ms(710)).1.is_empty());
        assert_eq!(f.codel.first_above_time, Some(ms(810)));
        assert_eq!(f.dequeue(ms(810)).1.len(), 1);
        assert!(f.codel.dropping);
        let delta = lastcount - 1;
        assert_eq!(f.codel.count, delta, "count resumes at delta");
        assert_eq!(f.codel.lastcount, delta);
    }

    #[test]
    fn codel_never_drops_a_request_alone_in_the_queue_nor_below_target() {
        // RFC 8289: a queue holding at most one packet (here: no request behind it) is not
        // a standing queue, however long that one waited.
        let mut f = Fake::new([Time::ZERO]);
        f.codel.first_above_time = Some(ms(1));
        let (served, dropped) = f.dequeue(ms(500));
        assert_eq!((served, dropped.len()), (Some(Time::ZERO), 0));
        assert_eq!(f.codel.first_above_time, None);
        let mut f = Fake::new((0..10).map(ms));
        for t in 1..10 {
            // Each waited 1 ms: below the target.
            assert!(f.dequeue(ms(t + 1)).1.is_empty());
        }
        assert_eq!(f.codel.first_above_time, None);
        assert_eq!(f.dequeue(ms(20)), (Some(ms(9)), vec![]));
        assert_eq!(f.dequeue(ms(30)), (None, vec![]));
    }

    type Ids = SlotMap<ReqId, Time>;

    fn policy(discipline: QueueDiscipline, overflow: QueueOverflow) -> QueuePolicy {
        QueuePolicy {
            discipline,
            overflow,
            target: ms(5),
            interval: ms(100),
        }
    }

    fn take(
        s: &mut QueueState,
        q: &mut VecDeque<ReqId>,
        ids: &Ids,
        p: &QueuePolicy,
        now: Time,
    ) -> Taken {
        s.take(now, q, p, |id| ids[id])
    }

    #[test]
    fn fifo_serves_the_oldest_lifo_the_newest_and_drop_head_drops_the_oldest() {
        let mut ids = Ids::with_key();
        let mut q = VecDeque::new();
        let mut s = QueueState::default();
        let reqs: Vec<ReqId> = (0..4).map(|i| ids.insert(ms(i))).collect();
        for (i, &id) in reqs.iter().enumerate() {
            s.push(ms(i as u64), &mut q, id);
        }
        assert_eq!(s.nonempty_since, Some(ms(0)));
        let fifo = policy(QueueDiscipline::Fifo, QueueOverflow::DropTail);
        let lifo = policy(QueueDiscipline::Lifo, QueueOverflow::DropTail);
        assert_eq!(
            take(&mut s, &mut q, &ids, &fifo, ms(5)).serve,
            Some(reqs[0])
        );
        assert_eq!(
            take(&mut s, &mut q, &ids, &lifo, ms(5)).serve,
            Some(reqs[3])
        );
        // Drop-head: the oldest left (reqs[1]) makes room.
        let newcomer = ids.insert(ms(6));
        assert_eq!(
            s.push_dropping_oldest(ms(6), &mut q, newcomer),
            Some(reqs[1])
        );
        assert_eq!(q, VecDeque::from(vec![reqs[2], newcomer]));
        assert_eq!(
            take(&mut s, &mut q, &ids, &lifo, ms(7)).serve,
            Some(newcomer)
        );
        assert_eq!(
            take(&mut s, &mut q, &ids, &lifo, ms(7)).serve,
            Some(reqs[2])
        );
        assert_eq!(s.nonempty_since, None, "empty again");
        assert_eq!(take(&mut s, &mut q, &ids, &lifo, ms(8)), Taken::default());
    }

    #[test]
    fn adaptive_lifo_is_fifo_until_the_queue_stands_then_lifo_dropping_past_the_target() {
        let p = policy(QueueDiscipline::AdaptiveLifo, QueueOverflow::DropTail);
        let mut ids = Ids::with_key();
        let mut q = VecDeque::new();
        let mut s = QueueState::default();
        // Requests arrive every millisecond from 0; the queue is never empty from then on.
        fn arrive(ids: &mut Ids, s: &mut QueueState, q: &mut VecDeque<ReqId>, t: u64) -> ReqId {
            let id = ids.insert(ms(t));
            s.push(ms(t), q, id);
            id
        }
        let first: Vec<ReqId> = (0..50)
            .map(|t| arrive(&mut ids, &mut s, &mut q, t))
            .collect();
        // At 60 ms the queue has stood for 60 ms (< 100): FIFO, and a request may wait 100 ms.
        let t = take(&mut s, &mut q, &ids, &p, ms(60));
        assert_eq!((t.serve, t.dropped.len()), (Some(first[0]), 0));
        for t in 50..100 {
            arrive(&mut ids, &mut s, &mut q, t);
        }
        // At 100 ms it has stood for an interval: newest first, and every request that
        // waited more than 5 ms is dropped (oldest first), the newest served.
        let newest = arrive(&mut ids, &mut s, &mut q, 100);
        let t = take(&mut s, &mut q, &ids, &p, ms(100));
        assert_eq!(t.serve, Some(newest));
        // Arrivals 1..=94 waited more than 5 ms; 95..=99 did not.
        assert_eq!(t.dropped.len(), 94);
        assert_eq!(q.len(), 5);
        // Drained, the queue stops standing: FIFO again.
        while !q.is_empty() {
            take(&mut s, &mut q, &ids, &p, ms(101));
        }
        assert_eq!(s.nonempty_since, None);
        let a = arrive(&mut ids, &mut s, &mut q, 200);
        let b = arrive(&mut ids, &mut s, &mut q, 201);
        assert_eq!(take(&mut s, &mut q, &ids, &p, ms(202)).serve, Some(a));
        assert_eq!(take(&mut s, &mut q, &ids, &p, ms(202)).serve, Some(b));
    }

    fn disciplines() -> impl Strategy<Value = (QueueDiscipline, QueueOverflow)> {
        (
            prop_oneof![
                Just(QueueDiscipline::Fifo),
                Just(QueueDiscipline::Lifo),
                Just(QueueDiscipline::Codel),
                Just(QueueDiscipline::AdaptiveLifo),
            ],
            prop_oneof![Just(QueueOverflow::DropTail), Just(QueueOverflow::DropHead)],
        )
    }

    proptest! {
        /// Every request that arrives leaves the queue exactly once: served, dropped by the
        /// discipline, pushed out by drop-head, refused when full, or still queued at the end.
        #[test]
        fn every_request_leaves_exactly_once(
            (discipline, overflow) in disciplines(),
            cap in 1usize..20,
            steps in proptest::collection::vec((any::<bool>(), 0u64..30), 1..400),
        ) {
            let p = policy(discipline, overflow);
            let mut ids = Ids::with_key();
            let mut q = VecDeque::new();
            let mut s = QueueState::default();
            let mut now = Time::ZERO;
            let mut ends: Vec<ReqId> = Vec::new();
            let mut arrived = 0usize;
            for (is_arrival, gap) in steps {
                now = now + ms(gap);
                if is_arrival {
                    let id = ids.insert(now);
                    arrived += 1;
                    if q.len() < cap {
                        s.push(now, &mut q, id);
                    } else if overflow == QueueOverflow::DropHead {
                        ends.extend(s.push_dropping_oldest(now, &mut q, id));
                    } else {
                        ends.push(id);
                    }
                } else {
                    let t = take(&mut s, &mut q, &ids, &p, now);
                    ends.extend(t.dropped);
                    ends.extend(t.serve);
                }
                prop_assert!(q.len() <= cap);
                prop_assert_eq!(s.nonempty_since.is_some(), !q.is_empty());
            }
            ends.extend(q.iter().copied());
            let unique: std::collections::BTreeSet<ReqId> = ends.iter().copied().collect();
            prop_assert_eq!(unique.len(), ends.len(), "a request ended twice");
            prop_assert_eq!(ends.len(), arrived, "a request vanished");
        }

        /// LIFO serves, of the requests queued, the newest; FIFO the oldest.
        #[test]
        fn lifo_serves_the_newest_queued(arrivals in 1usize..50, takes in 1usize..50) {
            let mut ids = Ids::with_key();
            let (mut q, mut s) = (VecDeque::new(), QueueState::default());
            for i in 0..arrivals {
                let id = ids.insert(ms(i as u64));
                s.push(ms(i as u64), &mut q, id);
            }
            let lifo = policy(QueueDiscipline::Lifo, QueueOverflow::DropTail);
            for _ in 0..takes {
                let newest = q.iter().copied().max_by_key(|id| ids[*id]);
                prop_assert_eq!(take(&mut s, &mut q, &ids, &lifo, ms(100)).serve, newest);
            }
        }
    }
}
