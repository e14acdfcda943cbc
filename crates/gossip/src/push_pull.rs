//! Push/pull (memberlist `state.go pushPull`, `net.go sendAndReceiveState`, `mergeState`):
//! every `push_pull_scale(push_pull_interval, n)` a member exchanges its full table with a
//! random Alive member. The merge is asymmetric: alive about an unknown node is adopted,
//! suspect/dead about an unknown node is ignored. That asymmetry is how phantoms come back
//! (see `docs/gossip.md`): a member that missed a death re-seeds the dead node, alive, into
//! members that had already forgotten it.

use crate::event::Ev;
use crate::member::MemberState;
use crate::mesh::Mesh;
use crate::network::PushPull;
use crate::queue::{Rumor, RumorKind};
use crate::{push_pull_scale, MemberId};

impl Mesh {
    /// The push/pull loop's tick.
    pub(crate) fn push_pull_tick(&mut self, m: MemberId) {
        let n = self.members[m.idx()].table.nodes.len();
        let next = self
            .now()
            .after(push_pull_scale(self.cfg.push_pull.interval, n));
        self.schedule(next, Ev::PushPullTick(m));
        if self.stalled(m) {
            return;
        }
        let member = &mut self.members[m.idx()];
        let peers = member
            .table
            .k_random_nodes(&mut member.rng, m, 1, None, |e| {
                e.state == MemberState::Alive
            });
        if let Some(&peer) = peers.first() {
            self.start_push_pull(m, peer);
        }
    }

    /// `pushPullNode`: sends `from`'s table to `to`.
    pub(crate) fn start_push_pull(&mut self, from: MemberId, to: MemberId) {
        let entries = self.local_state(from);
        let key = self.members[from.idx()].keyring;
        self.send_stream(PushPull {
            from,
            to,
            key,
            reply: false,
            entries,
        });
    }

    /// `sendLocalState`'s `localNodes`: every member the table knows, with its incarnation and
    /// state.
    fn local_state(&self, m: MemberId) -> Vec<(MemberId, u32, MemberState)> {
        let table = &self.members[m.idx()].table;
        table
            .nodes
            .iter()
            .map(|&s| {
                let e = table.view[s.idx()];
                (s, e.inc, e.state)
            })
            .collect()
    }

    fn send_stream(&mut self, pp: PushPull) {
        let at = self.now().after(self.net.latency());
        let slot = self.net.streams.put(pp);
        self.schedule(at, Ev::Stream(slot));
    }

    /// A stream reaches its receiver. A stalled receiver's merge waits for the node lock.
    pub(crate) fn stream_arrives(&mut self, slot: u32) {
        let to = self.net.streams.get(slot).map(|p| p.to);
        if let Some(to) = to.filter(|&to| self.valid(to) && self.stalled(to)) {
            let at = self.members[to.idx()].serf.snapshot.stalled_until();
            self.schedule(at, Ev::Stream(slot));
            return;
        }
        if let Some(pp) = self.net.streams.take(slot) {
            self.on_stream(pp);
        }
    }

    /// `net.go handleConn` (request) and `sendAndReceiveState` (reply): the receiver of a
    /// request sends its own state back, then merges; the initiator merges the reply.
    fn on_stream(&mut self, pp: PushPull) {
        let to = pp.to;
        let rx = &self.members[to.idx()];
        if !rx.running
            || !crate::security::can_read(
                pp.key,
                rx.keyring,
                self.cfg.network.gossip_verify_incoming,
            )
            || !self.net.same_side(to, pp.from)
        {
            self.counters.push_pull.failures += 1;
            return;
        }
        if !pp.reply {
            let entries = self.local_state(to);
            let key = rx.keyring;
            self.send_stream(PushPull {
                from: to,
                to: pp.from,
                key,
                reply: true,
                entries,
            });
        }
        self.counters.push_pull.merges += 1;
        self.merge_state(to, pp.entries);
    }

    /// `mergeState`: alive -> aliveNode; left -> deadNode(from = the node); dead or suspect ->
    /// suspectNode(from = us), never an instant death.
    fn merge_state(&mut self, to: MemberId, entries: Vec<(MemberId, u32, MemberState)>) {
        for (s, inc, state) in entries {
            if !self.valid(s) {
                continue;
            }
            // Fast path for the common no-op (the tables agree): alive about a known member at
            // no newer incarnation, or dead/left about a member already dead/left at the same
            // incarnation, changes nothing under the rules below.
            let local = self.entry(to, s);
            let noop = match state {
                MemberState::Alive => {
                    s != to && local.state != MemberState::Unknown && inc <= local.inc
                }
                MemberState::Dead | MemberState::Left => local.is_gone() && inc <= local.inc,
                _ => false,
            };
            if noop {
                continue;
            }
            match state {
                MemberState::Alive => self.alive_node(to, s, inc),
                MemberState::Left => self.dead_node(
                    to,
                    Rumor {
                        kind: RumorKind::Dead,
                        subject: s,
                        incarnation: inc,
                        from: s,
                    },
                ),
                MemberState::Dead | MemberState::Suspect => self.suspect_node(
                    to,
                    Rumor {
                        kind: RumorKind::Suspect,
                        subject: s,
                        incarnation: inc,
                        from: to,
                    },
                ),
                MemberState::Unknown => {}
            }
        }
    }
}
