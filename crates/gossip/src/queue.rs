//! memberlist's `TransmitLimitedQueue` (`queue.go`): broadcasts named by their subject, sent
//! fewest-transmits first, then largest, then newest, each at most `retransmit_limit` times.

use std::cmp::Reverse;
use std::collections::BTreeMap;

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

/// `limitedBroadcast`'s btree order: transmits ascending, message length descending, id
/// descending (newest first).
type Key = (u32, Reverse<u32>, Reverse<u64>);

#[derive(Clone, Debug, Default)]
pub(crate) struct BroadcastQueue {
    items: BTreeMap<Key, Rumor>,
    /// `memberlistBroadcast.Name() = node`: a newer broadcast about a subject invalidates the
    /// queued one (`queue.go queueBroadcast`, `Invalidates`).
    by_subject: crate::IdMap<MemberId, Key>,
    next_id: u64,
}

impl BroadcastQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `QueueBroadcast`: replaces any queued broadcast about the same subject.
    pub fn push(&mut self, rumor: Rumor, size: u32) {
        if let Some(old) = self.by_subject.remove(&rumor.subject) {
            self.items.remove(&old);
        }
        self.next_id += 1;
        let key = (0, Reverse(size), Reverse(self.next_id));
        self.items.insert(key, rumor);
        self.by_subject.insert(rumor.subject, key);
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
        let mut reinsert: Vec<(Key, Rumor)> = Vec::new();
        let mut tier = match self.items.keys().next() {
            Some(k) => k.0,
            None => return 0,
        };
        loop {
            let free = i64::from(budget) - i64::from(used) - i64::from(overhead);
            if free <= 0 {
                break;
            }
            let lo: Key = (tier, Reverse(free as u32), Reverse(u64::MAX));
            let found = self
                .items
                .range(lo..)
                .next()
                .filter(|(k, _)| k.0 == tier)
                .map(|(k, r)| (*k, *r));
            let Some((key, rumor)) = found else {
                // Next tier that exists at all.
                match self
                    .items
                    .range((tier.saturating_add(1), Reverse(u32::MAX), Reverse(u64::MAX))..)
                    .next()
                {
                    Some((k, _)) if tier < u32::MAX => {
                        tier = k.0;
                        continue;
                    }
                    _ => break,
                }
            };
            self.items.remove(&key);
            self.by_subject.remove(&rumor.subject);
            if key.0 >= transmit_limit {
                continue;
            }
            used += overhead + key.1 .0;
            out.push(rumor);
            if key.0 + 1 < transmit_limit {
                reinsert.push(((key.0 + 1, key.1, key.2), rumor));
            }
        }
        for (key, rumor) in reinsert {
            self.items.insert(key, rumor);
            self.by_subject.insert(rumor.subject, key);
        }
        used
    }

    /// Every queued (transmits, subject), for invariant checks.
    pub fn transmits(&self) -> impl Iterator<Item = (u32, MemberId)> + '_ {
        self.items.iter().map(|(k, r)| (k.0, r.subject))
    }
}
