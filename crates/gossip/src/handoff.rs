//! The handoff queue (memberlist `net.go handleCommand`, `getNextMessage`): alive, suspect and
//! dead messages are queued for one handler, bounded by `handoff_queue_depth` with
//! drop-on-full, and applied one at a time at the member's service time, so a CPU-starved
//! member falls behind and drops.

use std::collections::VecDeque;

use crate::event::Ev;
use crate::mesh::Mesh;
use crate::queue::{Rumor, RumorKind};
use crate::{HandoffPolicy, MemberId};

/// A member's handoff queue and the message its handler is applying.
#[derive(Clone, Debug, Default)]
pub(crate) struct Handoff {
    /// `Fifo`: the one channel; `AlivePriorityLifo`: the low-priority list.
    low: VecDeque<Rumor>,
    /// `AlivePriorityLifo` only: alive messages.
    high: VecDeque<Rumor>,
    /// The message being applied, finished at its `HandoffDone` event.
    in_service: Option<Rumor>,
    /// A `HandoffDone` is scheduled to resume the handler at the end of a stall.
    resume_armed: bool,
}

impl Handoff {
    /// Queues `r`; false when its queue is full and it is dropped.
    fn offer(&mut self, policy: HandoffPolicy, depth: usize, r: Rumor) -> bool {
        let q = match (policy, r.kind) {
            (HandoffPolicy::AlivePriorityLifo, RumorKind::Alive) => &mut self.high,
            _ => &mut self.low,
        };
        if q.len() >= depth {
            return false;
        }
        q.push_back(r);
        true
    }

    /// `getNextMessage`: FIFO from the one channel, or the newest alive message, then the
    /// newest other.
    fn next(&mut self, policy: HandoffPolicy) -> Option<Rumor> {
        match policy {
            HandoffPolicy::Fifo => self.low.pop_front(),
            HandoffPolicy::AlivePriorityLifo => {
                self.high.pop_back().or_else(|| self.low.pop_back())
            }
        }
    }
}

impl Mesh {
    /// `net.go handleCommand`: queue an alive/suspect/dead message for the handler, dropping it
    /// if its queue is full.
    pub(crate) fn handoff(&mut self, m: MemberId, r: Rumor) {
        let (policy, depth) = (self.cfg.handoff.policy, self.cfg.handoff.queue_depth);
        let h = &mut self.members[m.idx()].handoff;
        if !h.offer(policy, depth, r) {
            self.counters.handoff.drops += 1;
            return;
        }
        if h.in_service.is_none() {
            self.next_handoff(m);
        }
    }

    /// The handler finished its message (or a stall ended): apply it, take the next.
    pub(crate) fn handoff_done(&mut self, m: MemberId) {
        let h = &mut self.members[m.idx()].handoff;
        let r = h.in_service.take();
        if r.is_none() {
            h.resume_armed = false;
        }
        if let Some(r) = r {
            self.counters.handoff.messages_processed += 1;
            self.apply(m, r);
        }
        self.next_handoff(m);
    }

    /// The handler takes the next message (`getNextMessage`) and applies it after its service
    /// time; with no service time it applies everything queued at once. A member stalled
    /// behind its snapshot takes nothing until the stall ends.
    fn next_handoff(&mut self, m: MemberId) {
        loop {
            let policy = self.cfg.handoff.policy;
            if self.stalled(m) {
                let member = &mut self.members[m.idx()];
                let h = &mut member.handoff;
                if h.in_service.is_none() && !h.resume_armed {
                    h.resume_armed = true;
                    let at = member.serf.snapshot.stalled_until();
                    self.schedule(at, Ev::HandoffDone(m));
                }
                return;
            }
            let member = &mut self.members[m.idx()];
            if member.handoff.in_service.is_some() {
                return;
            }
            let Some(r) = member.handoff.next(policy) else {
                return;
            };
            let cost = member.service(self.cfg.handoff.service_time);
            if cost.is_zero() {
                self.counters.handoff.messages_processed += 1;
                self.apply(m, r);
                continue;
            }
            member.handoff.in_service = Some(r);
            let at = self.now().after(cost);
            self.schedule(at, Ev::HandoffDone(m));
            return;
        }
    }

    /// The handler applies one message (`handleAlive`, `handleSuspect`, `handleDead`).
    fn apply(&mut self, m: MemberId, r: Rumor) {
        if !self.members[m.idx()].running {
            return;
        }
        match r.kind {
            RumorKind::Alive => self.alive_node(m, r.subject, r.incarnation),
            RumorKind::Suspect => self.suspect_node(m, r),
            RumorKind::Dead => self.dead_node(m, r),
        }
    }
}
