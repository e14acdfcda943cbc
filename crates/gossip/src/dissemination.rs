//! Dissemination (memberlist `broadcast.go`, `state.go gossip`): every state change a member
//! applies is queued as a broadcast (see `queue.rs`), piggybacked on every packet it sends up
//! to the UDP byte budget, and every `gossip_interval` a member with something queued sends a
//! compound packet to `gossip_nodes` random members.

use cascade_engine::Time;

use crate::event::Ev;
use crate::member::MemberState;
use crate::mesh::Mesh;
use crate::network::Msg;
use crate::queue::{BroadcastQueue, Rumor, RumorKind};
use crate::{retransmit_limit, MemberId};

/// A member's broadcasts and its gossip ticker.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dissemination {
    pub(crate) queue: BroadcastQueue,
    /// The gossip ticker runs only while something is queued: a `GossipTick` is scheduled.
    armed: bool,
    /// The ticker's phase, drawn at start (`state.go schedule` staggers each loop).
    pub(crate) phase: Time,
}

impl Dissemination {
    /// The ticker's next tick strictly after `now`.
    fn next_tick(&self, now: Time, iv: u64) -> Time {
        let phase = self.phase.0 % iv;
        let k = (now.0.saturating_sub(phase)) / iv + 1;
        Time(phase.saturating_add(k.saturating_mul(iv)))
    }

    /// Frees the queue of a stopped member.
    pub(crate) fn free(&mut self) {
        self.queue = BroadcastQueue::default();
    }
}

impl Mesh {
    /// `QueueBroadcast`: queues `rumor` on `m`, starting its gossip ticker if it was idle.
    pub(crate) fn queue_broadcast(&mut self, m: MemberId, rumor: Rumor) {
        let size = match rumor.kind {
            RumorKind::Alive => self.cfg.wire.alive_msg_size,
            RumorKind::Suspect | RumorKind::Dead => self.cfg.wire.suspect_msg_size,
        };
        let now = self.now();
        let iv = self.cfg.gossip.interval.as_micros();
        let member = &mut self.members[m.idx()];
        member.gossip.queue.push(rumor, size);
        if !member.gossip.armed && member.running && iv > 0 {
            member.gossip.armed = true;
            let at = member.gossip.next_tick(now, iv);
            self.schedule(at, Ev::GossipTick(m));
        }
    }

    /// `GetBroadcasts`: appends to `out` what of `from`'s queue fits in `budget` bytes, each
    /// broadcast at most `retransmit_limit` times for its table size.
    pub(crate) fn take_broadcasts(&mut self, from: MemberId, budget: u32, out: &mut Vec<Rumor>) {
        let m = &mut self.members[from.idx()];
        if m.gossip.queue.is_empty() {
            return;
        }
        let limit = retransmit_limit(self.cfg.gossip.retransmit_mult, m.table.nodes.len());
        let before = out.len();
        m.gossip
            .queue
            .get(self.cfg.wire.compound_overhead, budget, limit, out);
        self.counters.network.broadcasts_sent += (out.len() - before) as u64;
    }

    /// `state.go gossip`: a compound packet of queued broadcasts to each of `gossip_nodes`
    /// random members (Alive, Suspect, or Dead for up to `gossip_to_the_dead_time`).
    pub(crate) fn gossip(&mut self, m: MemberId) {
        let member = &mut self.members[m.idx()];
        if member.gossip.queue.is_empty() {
            member.gossip.armed = false;
            return;
        }
        let iv = self.cfg.gossip.interval;
        self.schedule(self.now().after(iv), Ev::GossipTick(m));
        if self.stalled(m) {
            return;
        }
        let now = self.now();
        let gttd = self.cfg.gossip.to_the_dead_time;
        let k = self.cfg.gossip.nodes;
        let member = &mut self.members[m.idx()];
        let targets = member
            .table
            .k_random_nodes(&mut member.rng, m, k, None, |e| match e.state {
                MemberState::Alive | MemberState::Suspect => true,
                MemberState::Dead => now.since(e.change) <= gttd,
                _ => false,
            });
        let budget = self.cfg.wire.packet_budget(member.keyring.is_some());
        for t in targets {
            let mut msgs = Vec::new();
            self.take_broadcasts(m, budget, &mut msgs);
            if msgs.is_empty() {
                return;
            }
            self.send(m, t, Msg::Gossip, msgs);
        }
    }
}
