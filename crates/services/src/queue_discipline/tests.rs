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
