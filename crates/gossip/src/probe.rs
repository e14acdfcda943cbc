//! Failure detection (memberlist `state.go` probe*, `awareness.go`, and the packet listener's
//! inline handlers in `net.go`): every probe interval a member pings the next member of its
//! shuffled list; no ack within the probe timeout, it asks `indirect_checks` others to ping
//! it and dials it over TCP (`tcp_ping.rs`); no ack by the awareness-scaled deadline and no TCP
//! contact, it suspects it.

use cascade_engine::{Duration, Time};

use crate::event::Ev;
use crate::member::{shuffle, Entry, MemberState};
use crate::mesh::Mesh;
use crate::network::{Msg, Packet};
use crate::queue::{Rumor, RumorKind};
use crate::{MemberId, ProbeSelection};

/// A probe in flight (`probeNode`'s locals).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    seq: u32,
    target: MemberId,
    /// The ack/nack handler's expiry: `start + probe_interval * (awareness + 1)`.
    deadline: Time,
    expected_nacks: u32,
    nacks: u32,
    /// The fallback TCP ping made contact (read only at the deadline, as memberlist polls
    /// `fallbackCh` only after the UDP acks have timed out).
    tcp_contact: bool,
}

/// An indirect ping this member relays (`handleIndirectPing`).
#[derive(Clone, Copy, Debug)]
struct Relay {
    seq: u32,
    origin: MemberId,
    origin_seq: u32,
}

/// Lifeguard's local health score (`awareness.go`): in `0..awareness_max_multiplier`, raised by
/// failed probes and refutations, lowered by acks; it stretches the probe deadline.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Awareness(u32);

impl Awareness {
    /// `ApplyDelta`.
    pub(crate) fn apply(&mut self, delta: i64, max_multiplier: u32) {
        let max = i64::from(max_multiplier.max(1)) - 1;
        let score = (i64::from(self.0) + delta).clamp(0, max);
        self.0 = u32::try_from(score).expect("clamped to 0..max_multiplier");
    }

    /// `GetHealthScore`.
    pub(crate) fn score(&self) -> u32 {
        self.0
    }

    /// `ScaleTimeout`: `t * (score + 1)`.
    fn scale(&self, t: Duration) -> Duration {
        t.saturating_mul(u64::from(self.0) + 1)
    }
}

/// What a member's probe loop owns.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prober {
    probe: Option<Probe>,
    /// A tick arrived during a probe: it runs when the probe ends (a Go ticker buffers one).
    tick_pending: bool,
    /// memberlist's `sequenceNum`, shared by probes and relayed pings.
    seq: u32,
    relays: Vec<Relay>,
    pub(crate) awareness: Awareness,
}

impl Prober {
    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The fallback TCP ping of probe `seq` made contact (ignored if that probe has ended).
    pub(crate) fn tcp_contact(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut() {
            if p.seq == seq {
                p.tcp_contact = true;
            }
        }
    }

    /// The relay waiting for the ack of `seq`, removed.
    fn take_relay(&mut self, seq: u32) -> Option<Relay> {
        let pos = self.relays.iter().position(|r| r.seq == seq)?;
        Some(self.relays.swap_remove(pos))
    }
}

impl Mesh {
    /// The probe loop's tick (`state.go schedule` -> `probe`).
    pub(crate) fn probe_tick(&mut self, m: MemberId) {
        let iv = self.cfg.probe.interval;
        self.schedule(self.now().after(iv), Ev::ProbeTick(m));
        if self.stalled(m) {
            // The probe loop waits on the node lock the stalled handler holds.
            return;
        }
        let prober = &mut self.members[m.idx()].prober;
        if prober.probe.is_some() {
            prober.tick_pending = true;
        } else {
            self.probe(m);
        }
    }

    /// `state.go probe`: pick the next target and probe it.
    fn probe(&mut self, m: MemberId) {
        let target = match self.cfg.probe.selection {
            ProbeSelection::UniformRandom => {
                let member = &mut self.members[m.idx()];
                member
                    .table
                    .k_random_nodes(&mut member.rng, m, 1, None, Entry::is_live)
                    .first()
                    .copied()
            }
            ProbeSelection::RoundRobin => self.next_round_robin(m),
        };
        if let Some(t) = target {
            self.probe_node(m, t);
        }
    }

    /// The next member of the round-robin list, skipping itself and Dead/Left entries without
    /// consuming the tick; at the end of the list, `resetNodes`.
    fn next_round_robin(&mut self, m: MemberId) -> Option<MemberId> {
        let mut checks = 0usize;
        loop {
            let table = &self.members[m.idx()].table;
            let len = table.nodes.len();
            if checks >= len {
                return None;
            }
            if table.probe_index >= len {
                self.reset_nodes(m);
                self.members[m.idx()].table.probe_index = 0;
                checks += 1;
                continue;
            }
            let table = &mut self.members[m.idx()].table;
            let s = table.nodes[table.probe_index];
            table.probe_index += 1;
            if s == m || table.get(s).is_gone() {
                checks += 1;
                continue;
            }
            return Some(s);
        }
    }

    /// `state.go resetNodes`: forget Dead/Left members older than `gossip_to_the_dead_time`
    /// (memberlist's only forgetting; Serf keeps them as failed/left), then shuffle.
    fn reset_nodes(&mut self, m: MemberId) {
        let now = self.now();
        let gttd = self.cfg.gossip.to_the_dead_time;
        let member = &mut self.members[m.idx()];
        let table = &mut member.table;
        let mut forget = Vec::new();
        table.nodes.retain(|&s| {
            let e = table.view[s.idx()];
            let old = e.is_gone() && now.since(e.change) > gttd;
            if old {
                forget.push(s);
            }
            !old
        });
        for &s in &forget {
            table.view[s.idx()].state = MemberState::Unknown;
        }
        self.counters.membership.forgotten += forget.len() as u64;
        shuffle(&mut table.nodes, &mut member.rng);
    }

    /// `state.go probeNode`, up to the wait for the direct ack.
    fn probe_node(&mut self, m: MemberId, target: MemberId) {
        let now = self.now();
        let prober = &mut self.members[m.idx()].prober;
        let seq = prober.next_seq();
        let deadline = now.after(prober.awareness.scale(self.cfg.probe.interval));
        prober.probe = Some(Probe {
            seq,
            target,
            deadline,
            expected_nacks: 0,
            nacks: 0,
            tcp_contact: false,
        });
        self.counters.probe.pings += 1;
        if !self.members[target.idx()].running {
            self.crashes.probed(target, now);
        }
        let e = self.entry(m, target);
        let mut piggy = Vec::new();
        if e.state != MemberState::Alive && self.cfg.suspicion.buddy {
            // Lifeguard's buddy system: tell the suspect directly so it can refute at once.
            piggy.push(Rumor {
                kind: RumorKind::Suspect,
                subject: target,
                incarnation: e.inc,
                from: m,
            });
        }
        self.send(m, target, Msg::Ping { seq }, piggy);
        let at = now.after(self.cfg.probe.timeout);
        self.schedule(at, Ev::ProbeTimeout(m, seq));
    }

    /// No direct ack within `probe_timeout`: indirect pings through `indirect_checks` random
    /// Alive members and, unless `disable_tcp_pings`, a TCP ping to the target with the probe's
    /// deadline; then wait for the deadline.
    pub(crate) fn probe_timeout(&mut self, m: MemberId, seq: u32) {
        let Some(p) = self.members[m.idx()].prober.probe else {
            return;
        };
        if p.seq != seq {
            return;
        }
        let k = self.cfg.probe.indirect_checks;
        let member = &mut self.members[m.idx()];
        let relays = member
            .table
            .k_random_nodes(&mut member.rng, m, k, Some(p.target), |e| {
                e.state == MemberState::Alive
            });
        if let Some(probe) = member.prober.probe.as_mut() {
            probe.expected_nacks = cascade_engine::index_u32(relays.len());
        }
        for r in relays {
            self.counters.probe.indirect_pings += 1;
            let msg = Msg::IndirectPing {
                seq,
                target: p.target,
            };
            self.send(m, r, msg, Vec::new());
        }
        if self.tcp_pings_enabled() {
            self.tcp_ping(m, seq, p.target, p.deadline);
        }
        self.schedule(p.deadline, Ev::ProbeDeadline(m, seq));
    }

    /// No UDP ack by the deadline: if the TCP ping made contact the probe succeeded (awareness
    /// -1, as for an ack); otherwise awareness rises by the missed nacks and the target is
    /// suspected.
    pub(crate) fn probe_deadline(&mut self, m: MemberId, seq: u32) {
        let Some(p) = self.members[m.idx()].prober.probe else {
            return;
        };
        if p.seq != seq {
            return;
        }
        if p.tcp_contact {
            self.counters.probe.tcp_fallback_acks += 1;
            self.apply_awareness(m, -1);
            self.probe_done(m);
            return;
        }
        // Awareness: +missed nacks, or +1 with no nack-capable relay.
        let delta = if p.expected_nacks > 0 {
            p.expected_nacks.saturating_sub(p.nacks)
        } else {
            1
        };
        self.apply_awareness(m, i64::from(delta));
        self.counters.detection.suspicions_raised += 1;
        if self.members[p.target.idx()].running {
            self.counters.detection.false_suspicions += 1;
        }
        let inc = self.entry(m, p.target).inc;
        self.suspect_node(
            m,
            Rumor {
                kind: RumorKind::Suspect,
                subject: p.target,
                incarnation: inc,
                from: m,
            },
        );
        self.probe_done(m);
    }

    fn probe_done(&mut self, m: MemberId) {
        let prober = &mut self.members[m.idx()].prober;
        prober.probe = None;
        if prober.tick_pending {
            prober.tick_pending = false;
            self.probe(m);
        }
    }

    pub(crate) fn apply_awareness(&mut self, m: MemberId, delta: i64) {
        let max = self.cfg.probe.awareness_max_multiplier;
        self.members[m.idx()].prober.awareness.apply(delta, max);
    }

    /// A relay got no ack for the ping it forwarded in time: it nacks the origin
    /// (`handleIndirectPing`'s nack timer).
    pub(crate) fn nack_timer(&mut self, m: MemberId, seq: u32) {
        if let Some(r) = self.members[m.idx()].prober.take_relay(seq) {
            self.send(m, r.origin, Msg::Nack { seq: r.origin_seq }, Vec::new());
        }
    }

    /// The packet listener (`net.go handleCommand`): ping, ack, nack and indirect ping handled
    /// inline; the piggybacked alive/suspect/dead messages go to the handoff queue.
    pub(crate) fn on_packet(&mut self, p: Packet) {
        let to = p.to;
        let rx = &self.members[to.idx()];
        if !rx.running {
            return;
        }
        if !crate::security::can_read(p.key, rx.keyring, self.cfg.network.gossip_verify_incoming) {
            self.counters.network.packets_undecryptable += 1;
            return;
        }
        match p.msg {
            Msg::Ping { seq } => {
                self.send(to, p.from, Msg::Ack { seq }, Vec::new());
            }
            Msg::IndirectPing { seq, target } => {
                let prober = &mut self.members[to.idx()].prober;
                let local = prober.next_seq();
                prober.relays.push(Relay {
                    seq: local,
                    origin: p.from,
                    origin_seq: seq,
                });
                self.send(to, target, Msg::Ping { seq: local }, Vec::new());
                let at = self.now().after(self.cfg.probe.timeout);
                self.schedule(at, Ev::NackTimer(to, local));
            }
            Msg::Ack { seq } => {
                let now = self.now();
                let prober = &mut self.members[to.idx()].prober;
                if let Some(r) = prober.take_relay(seq) {
                    self.send(to, r.origin, Msg::Ack { seq: r.origin_seq }, Vec::new());
                } else if let Some(probe) = prober.probe {
                    if probe.seq == seq && now <= probe.deadline {
                        self.counters.probe.acks += 1;
                        self.apply_awareness(to, -1);
                        self.probe_done(to);
                    }
                }
            }
            Msg::Nack { seq } => {
                let now = self.now();
                if let Some(probe) = self.members[to.idx()].prober.probe.as_mut() {
                    if probe.seq == seq && now <= probe.deadline {
                        probe.nacks += 1;
                        self.counters.probe.nacks += 1;
                    }
                }
            }
            Msg::Gossip => {}
        }
        for r in p.piggy {
            self.handoff(to, r);
        }
    }
}
