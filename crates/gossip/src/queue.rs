//! memberlist's `TransmitLimitedQueue` (`queue.go`): broadcasts named by their subject, sent
//! fewest-transmits first, then largest, then newest, each at most `retransmit_limit` times.

use std::collections::BinaryHeap;

use crate::MemberId;

/// What a rumour says about its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RumorKind {
    Alive,
    Suspect,
    Dead,
}

/// One memberlist broadcast (`alive`, `suspect`, `dead` in `net.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Rumor {
    pub kind: RumorKind,
    pub subject: MemberId,
    pub incarnation: u32,
    /// Who raised it (suspect, dead); for an alive message, the subject.
    pub from: MemberId,
}

/// One queued broadcast: ordered by id, so a bucket's max-heap gives the newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    id: u64,
    rumor: Rumor,
}

impl Ord for Item {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.id.cmp(&o.id)
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Where a subject's live broadcast is.
#[derive(Clone, Copy, Debug)]
struct Live {
    id: u64,
    tier: u32,
    class: u32,
}

/// memberlist keeps the queue in a btree ordered by (transmits ascending, length descending,
/// id descending). Messages come in a handful of lengths, so here each (transmits, length)
/// pair is a bucket, a max-heap by id, and the buckets are walked in that order: the same
/// order, without a tree walk per message. A replaced broadcast stays in its heap as garbage
/// (its id no longer the subject's live one) until it surfaces or the heap is rebuilt.
#[derive(Clone, Debug, Default)]
pub(crate) struct BroadcastQueue {
    /// Distinct message lengths, largest first: a bucket's class is its index here.
    sizes: Vec<u32>,
    /// Bucket `tier * sizes.len() + class`, flat (one allocation for all).
    buckets: Vec<BinaryHeap<Item>>,
    /// Live broadcasts per bucket, and replaced ones still in it.
    live_in: Vec<u32>,
    garbage_in: Vec<u32>,
    /// Live broadcasts per tier (the sum of `live_in[tier]`).
    tier_live: Vec<u32>,
    /// Bit t set: tier t (< 64) has live broadcasts, so `get` visits only those.
    tier_mask: u64,
    /// `memberlistBroadcast.Name() = node`: a newer broadcast about a subject invalidates the
    /// queued one (`queue.go queueBroadcast`, `Invalidates`).
    by_subject: crate::IdMap<MemberId, Live>,
    next_id: u64,
    /// Taken items waiting to be put back one tier up (kept to reuse its allocation).
    scratch: Vec<(u32, u32, Item)>,
}

impl BroadcastQueue {
    pub fn len(&self) -> usize {
        self.by_subject.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }

    fn class_of(&mut self, size: u32) -> u32 {
        if let Some(c) = self.sizes.iter().position(|&s| s == size) {
            return cascade_engine::index_u32(c);
        }
        // A new length: a new class in its place among the others, in every tier.
        let c = self
            .sizes
            .iter()
            .position(|&s| s < size)
            .unwrap_or(self.sizes.len());
        let old_n = self.sizes.len();
        self.sizes.insert(c, size);
        let n = self.sizes.len();
        // Re-lay the flat buckets with the new class in every tier.
        for t in (0..self.tier_live.len()).rev() {
            let at = t * old_n + c;
            self.buckets.insert(at, BinaryHeap::new());
            self.live_in.insert(at, 0);
            self.garbage_in.insert(at, 0);
        }
        debug_assert_eq!(self.buckets.len(), self.tier_live.len() * n);
        let c = cascade_engine::index_u32(c);
        for l in self.by_subject.values_mut() {
            if l.class >= c {
                l.class += 1;
            }
        }
        c
    }

    fn ensure_tier(&mut self, tier: u32) {
        let n = self.sizes.len();
        while self.tier_live.len() <= tier as usize {
            self.buckets.extend((0..n).map(|_| BinaryHeap::new()));
            self.live_in.extend(std::iter::repeat_n(0, n));
            self.garbage_in.extend(std::iter::repeat_n(0, n));
            self.tier_live.push(0);
        }
    }

    /// Puts an item in its bucket (its `by_subject` entry already says where).
    fn place(&mut self, tier: u32, class: u32, item: Item) {
        self.ensure_tier(tier);
        let b = tier as usize * self.sizes.len() + class as usize;
        self.buckets[b].push(item);
        self.live_in[b] += 1;
        self.tier_live[tier as usize] += 1;
        if tier < 64 {
            self.tier_mask |= 1 << tier;
        }
    }

    /// One live broadcast fewer in tier `t`.
    fn tier_dec(&mut self, t: usize) {
        self.tier_live[t] -= 1;
        if self.tier_live[t] == 0 && t < 64 {
            self.tier_mask &= !(1 << t);
        }
    }

    fn put(&mut self, tier: u32, class: u32, item: Item) {
        self.place(tier, class, item);
        self.by_subject.insert(
            item.rumor.subject,
            Live {
                id: item.id,
                tier,
                class,
            },
        );
    }

    /// A broadcast left its bucket by being replaced: it stays in the heap as garbage, and
    /// the heap is rebuilt when garbage outweighs what is live in it.
    fn retire(&mut self, l: Live) {
        let b = l.tier as usize * self.sizes.len() + l.class as usize;
        self.live_in[b] -= 1;
        self.tier_dec(l.tier as usize);
        self.garbage_in[b] += 1;
        if self.garbage_in[b] > 64 && self.garbage_in[b] > self.live_in[b] {
            let live = &self.by_subject;
            self.buckets[b].retain(|i| live.get(&i.rumor.subject).is_some_and(|l| l.id == i.id));
            self.garbage_in[b] = 0;
        }
    }

    /// `QueueBroadcast`: replaces any queued broadcast about the same subject.
    pub fn push(&mut self, rumor: Rumor, size: u32) {
        let class = self.class_of(size);
        if let Some(old) = self.by_subject.remove(&rumor.subject) {
            self.retire(old);
        }
        self.next_id += 1;
        let item = Item {
            id: self.next_id,
            rumor,
        };
        self.put(0, class, item);
    }

    /// The newest live item of a bucket, garbage above it dropped. The subject's entry in
    /// `by_subject` stays: the caller moves or removes it.
    fn pop_live(&mut self, t: usize, c: usize) -> Option<Item> {
        let b = t * self.sizes.len() + c;
        while let Some(top) = self.buckets[b].pop() {
            match self.by_subject.get(&top.rumor.subject) {
                Some(l) if l.id == top.id => {
                    self.live_in[b] -= 1;
                    self.tier_dec(t);
                    return Some(top);
                }
                _ => self.garbage_in[b] = self.garbage_in[b].saturating_sub(1),
            }
        }
        None
    }

    /// `GetBroadcasts(overhead, limit)`: walks the transmit tiers from the lowest, taking in each
    /// the first item (largest, then newest) that fits the remaining bytes; taken items move up
    /// a tier, or are finished when `transmits + 1 >= transmit_limit`. Appends to `out` and
    /// returns the bytes used. An item whose count already reached a limit that shrank (the
    /// table lost entries) is finished without being sent, so no item is ever sent more than
    /// the limit in force at the send (memberlist would send it once more).
    pub fn get(
        &mut self,
        overhead: u32,
        budget: u32,
        transmit_limit: u32,
        out: &mut Vec<Rumor>,
    ) -> u32 {
        let mut used = 0u32;
        if self.by_subject.is_empty() {
            return 0;
        }
        let mut moved = std::mem::take(&mut self.scratch);
        let n = self.sizes.len();
        // The tiers with live broadcasts, lowest first (items taken now go back only after
        // the walk, so the set only shrinks during it).
        let mut mask = self.tier_mask;
        let high = self.tier_live.len() > 64;
        let mut next_tier = move || -> Option<usize> {
            if mask != 0 {
                let t = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                Some(t)
            } else {
                None
            }
        };
        let mut beyond = 64..if high { self.tier_live.len() } else { 64 };
        'tiers: while let Some(t) = next_tier().or_else(|| beyond.next()) {
            while self.tier_live[t] > 0 {
                let free = i64::from(budget) - i64::from(used) - i64::from(overhead);
                if free <= 0 {
                    break 'tiers;
                }
                // The largest length that fits, with a live item.
                let mut taken = None;
                for c in 0..n {
                    if i64::from(self.sizes[c]) > free || self.live_in[t * n + c] == 0 {
                        continue;
                    }
                    if let Some(item) = self.pop_live(t, c) {
                        taken = Some((c, item));
                        break;
                    }
                }
                let Some((c, item)) = taken else {
                    break;
                };
                let tier = cascade_engine::index_u32(t);
                let subject = item.rumor.subject;
                if tier < transmit_limit {
                    used += overhead + self.sizes[c];
                    out.push(item.rumor);
                }
                if tier + 1 < transmit_limit {
                    if let Some(l) = self.by_subject.get_mut(&subject) {
                        l.tier = tier + 1;
                    }
                    moved.push((tier + 1, cascade_engine::index_u32(c), item));
                } else {
                    self.by_subject.remove(&subject);
                }
            }
        }
        for (tier, class, item) in moved.drain(..) {
            self.place(tier, class, item);
        }
        self.scratch = moved;
        used
    }

    /// Every queued (transmits, subject), for invariant checks.
    pub fn transmits(&self) -> impl Iterator<Item = (u32, MemberId)> + '_ {
        self.by_subject.iter().map(|(s, l)| (l.tier, *s))
    }
}
