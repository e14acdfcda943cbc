//! One priority level's fair queues (KEP-1040): shuffle sharding deals each flow a hand of
//! queues, a request joins the least loaded queue of its hand or is rejected (429) when that
//! queue is full, and free seats go to the queue whose head request has the smallest virtual
//! finish time. See `docs/control-plane-and-nodes.md`, "API Priority and Fairness".
//!
//! Virtual time here is self-clocked (the start tag of the last dispatch), and a request's
//! cost is its seats: all requests of a level share one estimated service time, which scales
//! every finish tag alike and so does not change the order. A request that waits too long is
//! withdrawn by its caller ([`QueueSet::withdraw`], the server's queue wait limit).

use std::collections::{BTreeMap, VecDeque};

use cascade_engine::rng::{FNV_OFFSET, FNV_PRIME};

use crate::apf::Queuing;

/// The hash of a flow: its FlowSchema's name and its distinguisher (user or namespace), as the
/// input of the dealer.
pub fn flow_hash(flow_schema: &str, distinguisher: &str) -> u64 {
    flow_hash_parts(flow_schema, &[distinguisher])
}

/// [`flow_hash`] of a distinguisher given in parts (`["system:node:", name]`), without
/// building the string: the same hash as their concatenation.
pub fn flow_hash_parts(flow_schema: &str, distinguisher: &[&str]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in flow_schema
        .bytes()
        .chain(std::iter::once(0))
        .chain(distinguisher.iter().flat_map(|p| p.bytes()))
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Shuffle sharding's dealer (apiserver `pkg/util/shufflesharding`): a hash is read as the
/// mixed-radix number of a draw without replacement, digit i in base `deck − i`, so one hash
/// gives `hand_size` distinct cards out of `deck_size`, always the same ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dealer {
    deck_size: u32,
    hand_size: u32,
}

impl Dealer {
    /// `None` unless 1 ≤ hand_size ≤ deck_size.
    pub fn new(deck_size: u32, hand_size: u32) -> Option<Dealer> {
        (hand_size >= 1 && hand_size <= deck_size).then_some(Dealer {
            deck_size,
            hand_size,
        })
    }

    /// The hand for `hash`, in draw order.
    pub fn deal(&self, mut hash: u64) -> Vec<u32> {
        let mut hand: Vec<u32> = Vec::with_capacity(self.hand_size as usize);
        // The cards dealt so far, kept in ascending order.
        let mut dealt: Vec<u32> = Vec::with_capacity(self.hand_size as usize);
        for i in 0..self.hand_size {
            let base = u64::from(self.deck_size - i);
            // The remainder is below `base`, itself a u32.
            let mut card = u32::try_from(hash % base).unwrap_or(0);
            hash /= base;
            // The card-th card not dealt yet: step over the dealt ones, in ascending order.
            for &d in &dealt {
                if card >= d {
                    card += 1;
                }
            }
            hand.push(card);
            let at = dealt.partition_point(|&d| d < card);
            dealt.insert(at, card);
        }
        hand
    }
}

/// A request's handle in a [`QueueSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A request let through to execute: call [`QueueSet::finish`] with it when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatched {
    pub id: RequestId,
    pub queue: u32,
    pub seats: u32,
}

/// Why a request was not queued: an HTTP 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The chosen queue already holds `queueLengthLimit` waiting requests.
    QueueFull { queue: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Waiting {
    id: RequestId,
    seats: u32,
}

#[derive(Clone, Debug, Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    waiting_seats: u32,
    executing_seats: u32,
    /// The virtual start of the next request dispatched from this queue.
    next_r: u64,
}

/// The queues of one Limited, queuing priority level.
#[derive(Clone, Debug)]
pub struct QueueSet {
    dealer: Dealer,
    queue_length_limit: u32,
    concurrency_limit: u32,
    seats_in_use: u32,
    queues: Vec<Queue>,
    /// Requests waiting in all queues (a level with none dispatches nothing at once).
    waiting: usize,
    /// Each flow's hand as dealt: a flow always gets the same hand, so it is dealt once.
    hands: BTreeMap<u64, Vec<u32>>,
    current_r: u64,
    next_id: u64,
}

impl QueueSet {
    /// `None` when the queuing parameters are not valid (no queues, or a hand larger than the
    /// deck).
    pub fn new(queuing: Queuing, concurrency_limit: u32) -> Option<QueueSet> {
        let dealer = Dealer::new(queuing.queues, queuing.hand_size)?;
        Some(QueueSet {
            dealer,
            queue_length_limit: queuing.queue_length_limit,
            concurrency_limit,
            seats_in_use: 0,
            queues: vec![Queue::default(); queuing.queues as usize],
            waiting: 0,
            hands: BTreeMap::new(),
            current_r: 0,
            next_id: 0,
        })
    }

    pub fn seats_in_use(&self) -> u32 {
        self.seats_in_use
    }

    /// Requests waiting in queue `q`.
    pub fn queue_len(&self, q: u32) -> usize {
        self.queues[q as usize].waiting.len()
    }

    /// Requests waiting in all queues.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Queues a request of `seats` seats (at least 1) from the flow `flow_hash` in the least
    /// loaded queue of its hand (waiting plus executing seats; the first of the hand on a tie),
    /// or rejects it when that queue is at its length limit.
    pub fn enqueue(&mut self, flow_hash: u64, seats: u32) -> Result<RequestId, Rejected> {
        let seats = seats.max(1);
        let dealer = self.dealer;
        let hand = self
            .hands
            .entry(flow_hash)
            .or_insert_with(|| dealer.deal(flow_hash));
        let q = hand
            .iter()
            .copied()
            .min_by_key(|&q| {
                let qu = &self.queues[q as usize];
                qu.waiting_seats + qu.executing_seats
            })
            .unwrap_or(0);
        let queue = &mut self.queues[q as usize];
        if queue.waiting.len() >= self.queue_length_limit as usize {
            return Err(Rejected::QueueFull { queue: q });
        }
        // A queue that was idle does not keep credit from its idle time.
        if queue.waiting.is_empty() && queue.executing_seats == 0 {
            queue.next_r = queue.next_r.max(self.current_r);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        queue.waiting.push_back(Waiting { id, seats });
        queue.waiting_seats += seats;
        self.waiting += 1;
        Ok(id)
    }

    /// Dispatches the head of the queue with the smallest virtual finish time (lowest queue
    /// index on a tie) if its seats fit; a request wider than the limit runs alone.
    pub fn dispatch(&mut self) -> Option<Dispatched> {
        if self.waiting == 0 {
            return None;
        }
        let (qi, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| {
                q.waiting
                    .front()
                    .map(|w| (i, q.next_r + u64::from(w.seats)))
            })
            .min_by_key(|&(i, finish)| (finish, i))?;
        let head = *self.queues[qi].waiting.front()?;
        let fits = self.seats_in_use + head.seats <= self.concurrency_limit;
        if !fits && self.seats_in_use > 0 {
            return None;
        }
        let queue = &mut self.queues[qi];
        queue.waiting.pop_front();
        self.waiting -= 1;
        queue.waiting_seats -= head.seats;
        queue.executing_seats += head.seats;
        self.current_r = self.current_r.max(queue.next_r);
        queue.next_r += u64::from(head.seats);
        self.seats_in_use += head.seats;
        Some(Dispatched {
            id: head.id,
            queue: u32::try_from(qi).unwrap_or(u32::MAX),
            seats: head.seats,
        })
    }

    /// Dispatches as many requests as the free seats allow.
    pub fn dispatch_all(&mut self) -> Vec<Dispatched> {
        std::iter::from_fn(|| self.dispatch()).collect()
    }

    /// Takes a waiting request out of its queue (it timed out there): false when it is not
    /// waiting any more (dispatched already).
    pub fn withdraw(&mut self, id: RequestId) -> bool {
        for q in &mut self.queues {
            if let Some(i) = q.waiting.iter().position(|w| w.id == id) {
                let w = q.waiting.remove(i).unwrap_or(Waiting { id, seats: 0 });
                q.waiting_seats -= w.seats;
                self.waiting -= 1;
                return true;
            }
        }
        false
    }

    /// Releases a dispatched request's seats.
    pub fn finish(&mut self, d: Dispatched) {
        let q = &mut self.queues[d.queue as usize];
        q.executing_seats = q.executing_seats.saturating_sub(d.seats);
        self.seats_in_use = self.seats_in_use.saturating_sub(d.seats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn cfg(queues: u32, hand_size: u32, queue_length_limit: u32) -> Queuing {
        Queuing {
            queues,
            hand_size,
            queue_length_limit,
        }
    }

    proptest! {
        #[test]
        fn hand_is_distinct_in_range_and_deterministic(
            deck in 1u32..256, hand in 1u32..16, hash in any::<u64>(),
        ) {
            let hand = hand.min(deck);
            let d = Dealer::new(deck, hand).unwrap();
            let cards = d.deal(hash);
            prop_assert_eq!(cards.len(), hand as usize);
            prop_assert!(cards.iter().all(|&c| c < deck));
            prop_assert_eq!(cards.iter().collect::<HashSet<_>>().len(), hand as usize);
            prop_assert_eq!(d.deal(hash), cards);
        }
    }

    #[test]
    fn dealer_enumerates_every_hand() {
        // Hashes 0..4·3 deal every ordered pair out of 4 cards exactly once.
        let d = Dealer::new(4, 2).unwrap();
        let hands: HashSet<Vec<u32>> = (0..12).map(|h| d.deal(h)).collect();
        assert_eq!(hands.len(), 12);
        assert!(Dealer::new(4, 5).is_none() && Dealer::new(4, 0).is_none());
    }

    /// Two hashes whose hands share no queue.
    fn disjoint_flows(d: Dealer) -> (u64, u64) {
        let a = flow_hash("service-accounts", "noisy");
        let ha: HashSet<u32> = d.deal(a).into_iter().collect();
        let b = (0..)
            .map(|i| flow_hash("service-accounts", &format!("quiet-{i}")))
            .find(|&b| d.deal(b).iter().all(|q| !ha.contains(q)))
            .unwrap();
        (a, b)
    }

    #[test]
    fn equal_demand_gets_equal_dispatches() {
        let mut qs = QueueSet::new(cfg(128, 6, 50), 2).unwrap();
        let (a, b) = disjoint_flows(qs.dealer);
        let mut ids_a = HashSet::new();
        for _ in 0..40 {
            ids_a.insert(qs.enqueue(a, 1).unwrap());
            qs.enqueue(b, 1).unwrap();
        }
        let (mut na, mut nb) = (0, 0);
        for _ in 0..30 {
            for d in qs.dispatch_all() {
                if ids_a.contains(&d.id) {
                    na += 1;
                } else {
                    nb += 1;
                }
                qs.finish(d);
            }
        }
        assert_eq!(na + nb, 60);
        assert!(i32::abs(na - nb) <= 1, "a {na} b {nb}");
    }

    #[test]
    fn noisy_flow_cannot_starve_a_quiet_one() {
        let mut qs = QueueSet::new(cfg(64, 6, 50), 1).unwrap();
        let (noisy, quiet) = disjoint_flows(qs.dealer);
        // The noisy flow fills its queues first and keeps them full.
        for _ in 0..200 {
            let _ = qs.enqueue(noisy, 1);
        }
        let running = qs.dispatch().unwrap();
        qs.finish(running);
        let q = qs.enqueue(quiet, 1).unwrap();
        // The quiet request waits at most one round over the noisy hand (its 6 queues tie with
        // it at worst), not behind the noisy backlog of 199 requests.
        let next: Vec<RequestId> = (0..7)
            .map(|_| {
                let d = qs.dispatch().unwrap();
                qs.finish(d);
                d.id
            })
            .collect();
        assert!(next.contains(&q), "{next:?} vs {q:?}");
        // The noisy backlog is still there: fairness, not luck, let the quiet request through.
        assert_eq!(qs.waiting(), 200 - 7);
    }

    #[test]
    fn waiting_counts_what_enqueue_dispatch_and_withdraw_leave_queued() {
        let mut qs = QueueSet::new(cfg(8, 2, 10), 1).unwrap();
        assert_eq!(qs.dispatch(), None);
        let a = qs.enqueue(1, 1).unwrap();
        let b = qs.enqueue(2, 1).unwrap();
        let c = qs.enqueue(3, 1).unwrap();
        assert_eq!(qs.waiting(), 3);
        let d = qs.dispatch().unwrap();
        assert_eq!(qs.waiting(), 2);
        // One seat: nothing more runs until the first finishes.
        assert_eq!(qs.dispatch(), None);
        let rest: Vec<RequestId> = [a, b, c].into_iter().filter(|&r| r != d.id).collect();
        assert!(qs.withdraw(rest[0]));
        assert!(!qs.withdraw(d.id));
        assert_eq!(qs.waiting(), 1);
        qs.finish(d);
        assert_eq!(qs.dispatch().map(|x| x.id), Some(rest[1]));
        assert_eq!((qs.waiting(), qs.dispatch()), (0, None));
        let total: usize = (0..8).map(|q| qs.queue_len(q)).sum();
        assert_eq!(total, 0);
    }

    #[test]
    fn full_queue_is_rejected_until_it_drains() {
        let mut qs = QueueSet::new(cfg(1, 1, 3), 1).unwrap();
        let h = flow_hash("global-default", "alice");
        qs.enqueue(h, 1).unwrap();
        let running = qs.dispatch().unwrap();
        for _ in 0..3 {
            qs.enqueue(h, 1).unwrap();
        }
        assert_eq!(qs.enqueue(h, 1), Err(Rejected::QueueFull { queue: 0 }));
        // No seat is free: nothing more dispatches until the running request finishes.
        assert_eq!(qs.dispatch(), None);
        qs.finish(running);
        assert!(qs.dispatch().is_some());
        assert!(qs.enqueue(h, 1).is_ok());
    }

    #[test]
    fn seats_bound_concurrency_and_wide_requests_run_alone() {
        let mut qs = QueueSet::new(cfg(8, 2, 50), 10).unwrap();
        let h = flow_hash("workload-low", "ci");
        for _ in 0..4 {
            qs.enqueue(h, 4).unwrap();
        }
        let first = qs.dispatch_all();
        assert_eq!(first.len(), 2);
        assert_eq!(qs.seats_in_use(), 8);
        // A 20-seat request waits for the level to empty, then runs by itself.
        let mut qs = QueueSet::new(cfg(1, 1, 50), 10).unwrap();
        let small = {
            qs.enqueue(h, 1).unwrap();
            qs.dispatch().unwrap()
        };
        qs.enqueue(h, 20).unwrap();
        assert_eq!(qs.dispatch(), None);
        qs.finish(small);
        assert_eq!(qs.dispatch().map(|d| d.seats), Some(20));
    }
}
