//! The state rules (memberlist `state.go aliveNode`, `suspectNode`, `deadNode`, `refute`),
//! with Serf's status riding along: a Dead entry makes the member Failed, a Left one Left
//! (`serf.go handleNodeLeave`).

use crate::event::Ev;
use crate::member::{Entry, MemberState, SerfStatus};
use crate::mesh::Mesh;
use crate::queue::{Rumor, RumorKind};
use crate::suspicion::Suspicion;
use crate::MemberId;

/// An alive message about `s` at incarnation `inc`.
pub(crate) fn alive(s: MemberId, inc: u32) -> Rumor {
    Rumor {
        kind: RumorKind::Alive,
        subject: s,
        incarnation: inc,
        from: s,
    }
}

impl Mesh {
    /// `state.go aliveNode`.
    pub(crate) fn alive_node(&mut self, m: MemberId, s: MemberId, inc: u32) {
        let now = self.now();
        let e = self.entry(m, s);
        if s == m {
            // About ourselves: older or equal is ignored; a newer one is refuted.
            let me = &self.members[m.idx()];
            if inc > me.incarnation && !me.leaving {
                self.refute(m, inc);
            }
            return;
        }
        let adopt = match e.state {
            MemberState::Unknown => true,
            _ => inc > e.inc,
        };
        if !adopt {
            return;
        }
        let suspicions = &mut self.members[m.idx()].suspicions;
        if !suspicions.is_empty() {
            suspicions.remove(&s);
        }
        let subject = &self.members[s.idx()];
        if (e.state == MemberState::Unknown || e.is_gone()) && subject.started && !subject.running {
            self.counters.push_pull.resurrections += 1;
            self.members[m.idx()].resurrections += 1;
        }
        let change = if e.state == MemberState::Alive {
            e.change
        } else {
            now
        };
        self.set_entry(
            m,
            s,
            Entry {
                inc,
                state: MemberState::Alive,
                serf: SerfStatus::Alive,
                change,
            },
        );
        self.queue_broadcast(m, alive(s, inc));
    }

    /// `state.go suspectNode`.
    pub(crate) fn suspect_node(&mut self, m: MemberId, r: Rumor) {
        let now = self.now();
        let s = r.subject;
        let e = self.entry(m, s);
        if e.state == MemberState::Unknown || r.incarnation < e.inc {
            return;
        }
        if let Some(susp) = self.members[m.idx()].suspicions.get_mut(&s) {
            if let Some(at) = susp.confirm(r.from, now) {
                self.schedule(at, Ev::Suspicion(m, s));
                self.queue_broadcast(m, r);
            }
            return;
        }
        if e.state != MemberState::Alive {
            return;
        }
        if s == m {
            if !self.members[m.idx()].leaving {
                self.refute(m, r.incarnation);
            }
            return;
        }
        self.set_entry(
            m,
            s,
            Entry {
                inc: r.incarnation,
                state: MemberState::Suspect,
                serf: e.serf,
                change: now,
            },
        );
        self.queue_broadcast(m, r);
        let member = &mut self.members[m.idx()];
        let susp = Suspicion::new(&self.cfg, member.table.nodes.len(), r.from, now);
        let at = susp.fire_at();
        member.suspicions.insert(s, susp);
        self.schedule(at, Ev::Suspicion(m, s));
    }

    /// A suspicion timer fired (`suspicion.go`'s timeout function): the subject is declared
    /// dead, unless the timer is stale or the suspicion was lifted.
    pub(crate) fn suspicion_expired(&mut self, m: MemberId, s: MemberId) {
        let now = self.now();
        let suspicions = &mut self.members[m.idx()].suspicions;
        match suspicions.get(&s) {
            Some(susp) if susp.fire_at() == now => {}
            // None, or a stale timer: the suspicion was shortened.
            _ => return,
        }
        suspicions.remove(&s);
        let e = self.entry(m, s);
        if e.state != MemberState::Suspect {
            return;
        }
        self.counters.detection.dead_declarations += 1;
        let subject = &self.members[s.idx()];
        if subject.running {
            self.counters.detection.false_dead_declarations += 1;
            if subject.slowdown <= 1.0 {
                self.counters.detection.false_dead_of_healthy += 1;
            }
        }
        self.crashes.declared_dead(s, now);
        self.dead_node(
            m,
            Rumor {
                kind: RumorKind::Dead,
                subject: s,
                incarnation: e.inc,
                from: m,
            },
        );
    }

    /// `state.go deadNode`; Serf's `handleNodeLeave` marks the member Failed or Left.
    pub(crate) fn dead_node(&mut self, m: MemberId, r: Rumor) {
        let now = self.now();
        let s = r.subject;
        let e = self.entry(m, s);
        if e.state == MemberState::Unknown || r.incarnation < e.inc {
            return;
        }
        let suspicions = &mut self.members[m.idx()].suspicions;
        if !suspicions.is_empty() {
            suspicions.remove(&s);
        }
        if e.is_gone() {
            return;
        }
        if s == m && !self.members[m.idx()].leaving {
            self.refute(m, r.incarnation);
            return;
        }
        // A node's own death message is its leave (`deadNode`: `dead.Node == dead.From`).
        let left = r.from == s;
        let (state, serf) = if left {
            (MemberState::Left, SerfStatus::Left)
        } else {
            (MemberState::Dead, SerfStatus::Failed)
        };
        self.set_entry(
            m,
            s,
            Entry {
                inc: r.incarnation,
                state,
                serf,
                change: now,
            },
        );
        self.members[m.idx()].serf.reaper.record(left, now, s);
        self.queue_broadcast(m, r);
    }

    /// `state.go refute`: `inc = max(own + 1, accused + 1)`, awareness +1, broadcast alive.
    fn refute(&mut self, m: MemberId, accused: u32) {
        let member = &mut self.members[m.idx()];
        let inc = member
            .incarnation
            .saturating_add(1)
            .max(accused.saturating_add(1));
        member.incarnation = inc;
        self.counters.detection.refutations += 1;
        self.apply_awareness(m, 1);
        self.announce_alive(m, inc);
    }

    /// The member records itself alive at incarnation `inc` and broadcasts it (a refutation,
    /// `setAlive` at start, or `UpdateNode`).
    pub(crate) fn announce_alive(&mut self, m: MemberId, inc: u32) {
        let e = Entry {
            inc,
            state: MemberState::Alive,
            serf: SerfStatus::Alive,
            change: self.now(),
        };
        self.set_entry(m, m, e);
        self.queue_broadcast(m, alive(m, inc));
    }

    /// memberlist `Leave`: the member broadcasts its own death (which others record as Left)
    /// and stops after Consul's `leave_propagate_delay`.
    pub(crate) fn leave_pool(&mut self, m: MemberId) {
        if self.members[m.idx()].leaving {
            return;
        }
        self.members[m.idx()].leaving = true;
        let inc = self.members[m.idx()].incarnation;
        self.dead_node(
            m,
            Rumor {
                kind: RumorKind::Dead,
                subject: m,
                incarnation: inc,
                from: m,
            },
        );
        let at = self.now().after(self.cfg.serf.leave_propagate_delay);
        self.schedule(at, Ev::Shutdown(m));
    }

    /// memberlist `UpdateNode`: a new incarnation, broadcast alive.
    pub(crate) fn update_node_now(&mut self, m: MemberId) {
        let member = &mut self.members[m.idx()];
        if member.leaving {
            return;
        }
        member.incarnation = member.incarnation.saturating_add(1);
        let inc = member.incarnation;
        self.announce_alive(m, inc);
    }
}
