//! One member: its table about the others (memberlist's `nodeMap` and `nodes`, Serf's
//! `members`), the parts each loop owns, and how a member starts, stops and joins.

use cascade_engine::Rng;
use cascade_engine::{Duration, Time};

use crate::dissemination::Dissemination;
use crate::event::Ev;
use crate::handoff::Handoff;
use crate::mesh::Mesh;
use crate::probe::Prober;
use crate::serf::Serf;
use crate::suspicion::Suspicion;
use crate::{IdMap, KeyId, MemberId};

/// A member's memberlist state about another (`state.go NodeStateType`), plus `Unknown` for a
/// member it does not list (never heard of, or forgotten at a probe-list wrap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    Unknown,
    Alive,
    Suspect,
    Dead,
    Left,
}

/// A member's Serf status about another (`serf.go MemberStatus`; Leaving is folded into Left).
/// Failed and Left outlive memberlist's entry until reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SerfStatus {
    None,
    Alive,
    Failed,
    Left,
}

/// One member's record about another: memberlist's `nodeState` and Serf's member status.
/// `change` is memberlist's `StateChange`, and for Failed/Left Serf's `leaveTime`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) inc: u32,
    pub(crate) state: MemberState,
    pub(crate) serf: SerfStatus,
    pub(crate) change: Time,
}

pub(crate) const UNKNOWN: Entry = Entry {
    inc: 0,
    state: MemberState::Unknown,
    serf: SerfStatus::None,
    change: Time::ZERO,
};

impl Entry {
    /// Listed Alive or Suspect: memberlist's live view, what a phantom is listed as.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.state, MemberState::Alive | MemberState::Suspect)
    }

    pub(crate) fn is_gone(&self) -> bool {
        matches!(self.state, MemberState::Dead | MemberState::Left)
    }
}

/// Serf's counts over a member's table, kept in step by [`Table::set`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SerfCounts {
    /// Serf member events this member has seen (a status of another member changed: join,
    /// failed, left, reaped). On a Consul server these are the catalog updates the leader
    /// reconciles (`leader.go reconcileMember`).
    pub(crate) events: u64,
    /// Entries with a Serf status (`consul members`).
    pub(crate) listed: u32,
    /// Entries Serf lists as alive (the snapshot's `aliveNodes`), and as failed.
    pub(crate) alive: u32,
    pub(crate) failed: u32,
}

/// A member's table: a dense record per member id (memberlist's `nodeMap` and Serf's
/// `members` in one), and memberlist's `nodes`, the members it knows in probe order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub(crate) view: Vec<Entry>,
    /// memberlist's `m.nodes`: every member the table knows, in probe order.
    pub(crate) nodes: Vec<MemberId>,
    /// memberlist's `probeIndex` into `nodes`.
    pub(crate) probe_index: usize,
    pub(crate) serf: SerfCounts,
}

/// What [`Table::set`] changed.
pub(crate) struct Change {
    pub(crate) old: Entry,
    /// The Serf status of another member changed: a Serf member event.
    pub(crate) serf_event: bool,
}

impl Table {
    #[inline]
    pub(crate) fn get(&self, s: MemberId) -> Entry {
        self.view.get(s.idx()).copied().unwrap_or(UNKNOWN)
    }

    /// Sets the record about `s` in the table of `owner`, keeping Serf's counts and the probe
    /// list in step (`rng` places a newly known member in the probe list).
    #[inline]
    pub(crate) fn set(&mut self, owner: MemberId, s: MemberId, e: Entry, rng: &mut Rng) -> Change {
        let si = s.idx();
        if self.view.len() <= si {
            self.view.resize(si + 1, UNKNOWN);
        }
        let old = self.view[si];
        self.view[si] = e;
        let serf_event = old.serf != e.serf && owner != s;
        if serf_event {
            self.serf.events += 1;
        }
        let c = &mut self.serf;
        count(&mut c.alive, old.serf, e.serf, |s| s == SerfStatus::Alive);
        count(&mut c.failed, old.serf, e.serf, |s| s == SerfStatus::Failed);
        count(&mut c.listed, old.serf, e.serf, |s| s != SerfStatus::None);
        if old.state == MemberState::Unknown && e.state != MemberState::Unknown {
            // `aliveNode`: append, then swap with a random position so that a new node is not
            // always probed last ("important to ensure the failure detection bound is low").
            self.nodes.push(s);
            let len = self.nodes.len();
            let j = rng.below_index(len);
            self.nodes.swap(len - 1, j);
        } else if old.state != MemberState::Unknown && e.state == MemberState::Unknown {
            if let Some(pos) = self.nodes.iter().position(|&x| x == s) {
                self.nodes.remove(pos);
                if pos < self.probe_index {
                    self.probe_index -= 1;
                }
            }
        }
        Change { old, serf_event }
    }

    /// memberlist `kRandomNodes`: up to `k` distinct members from the list, trying at most
    /// `3 * len` random positions, keeping those `keep` accepts (never `me` itself nor
    /// `exclude`).
    #[inline]
    pub(crate) fn k_random_nodes(
        &self,
        rng: &mut Rng,
        me: MemberId,
        k: u32,
        exclude: Option<MemberId>,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<MemberId> {
        let n = self.nodes.len();
        let mut out = Vec::with_capacity(k as usize);
        if n == 0 {
            return out;
        }
        let mut i = 0;
        while i < 3 * n && out.len() < k as usize {
            i += 1;
            let idx = rng.below_index(n);
            let s = self.nodes[idx];
            if s == me || Some(s) == exclude || out.contains(&s) {
                continue;
            }
            if keep(&self.get(s)) {
                out.push(s);
            }
        }
        out
    }
}

/// Moves a count by one when `is` turns on or off between `old` and `new`.
#[inline]
fn count(n: &mut u32, old: SerfStatus, new: SerfStatus, is: impl Fn(SerfStatus) -> bool) {
    match (is(old), is(new)) {
        (false, true) => *n += 1,
        (true, false) => *n = n.saturating_sub(1),
        _ => {}
    }
}

/// One member of the pool: its process state and the parts each of its loops owns.
pub(crate) struct Member {
    pub(crate) started: bool,
    pub(crate) running: bool,
    pub(crate) leaving: bool,
    pub(crate) incarnation: u32,
    pub(crate) keyring: Option<KeyId>,
    /// Multiplies its message-processing times (listener, handler, snapshot writes).
    pub(crate) slowdown: f64,
    pub(crate) rng: Rng,
    /// Phantom revivals it adopted (see `Counters::resurrections`).
    pub(crate) resurrections: u64,
    pub(crate) table: Table,
    pub(crate) prober: Prober,
    pub(crate) suspicions: IdMap<MemberId, Suspicion>,
    pub(crate) gossip: Dissemination,
    pub(crate) handoff: Handoff,
    pub(crate) serf: Serf,
}

impl Member {
    pub(crate) fn new(keyring: Option<KeyId>, rng: Rng) -> Member {
        Member {
            started: false,
            running: false,
            leaving: false,
            incarnation: 1,
            keyring,
            slowdown: 1.0,
            rng,
            resurrections: 0,
            table: Table::default(),
            prober: Prober::default(),
            suspicions: IdMap::default(),
            gossip: Dissemination::default(),
            handoff: Handoff::default(),
            serf: Serf::default(),
        }
    }

    /// `base` stretched by the member's CPU slowdown.
    #[inline]
    pub(crate) fn service(&self, base: Duration) -> Duration {
        Duration::from_secs_f64(base.as_secs_f64() * self.slowdown)
    }

    /// Frees what only a running member uses. A member id is never reused (a restarted pod is
    /// a new member) and a stopped member handles nothing, so its table can go: memory follows
    /// the running members, not every member that ever existed. Serf's counts stay readable.
    fn free(&mut self) {
        self.table.view = Vec::new();
        self.table.nodes = Vec::new();
        self.suspicions = IdMap::default();
        self.serf.free();
        self.gossip.free();
        self.handoff = Handoff::default();
    }
}

/// The running members, and each member's index among them (`u32::MAX` when not running), so
/// a join picks its peer in O(1) however many members have ever existed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Running {
    pub(crate) ids: Vec<MemberId>,
    pos: Vec<u32>,
}

impl Running {
    pub(crate) fn add_member(&mut self) {
        self.pos.push(u32::MAX);
    }

    pub(crate) fn contains(&self, id: MemberId) -> bool {
        self.pos[id.idx()] != u32::MAX
    }

    /// Whether `id` is where its recorded position says (for the invariant checks).
    pub(crate) fn consistent(&self, id: MemberId) -> bool {
        self.ids.get(self.pos[id.idx()] as usize) == Some(&id)
    }

    fn insert(&mut self, id: MemberId) {
        if self.pos[id.idx()] == u32::MAX {
            self.pos[id.idx()] = cascade_engine::index_u32(self.ids.len());
            self.ids.push(id);
        }
    }

    fn remove(&mut self, id: MemberId) {
        let pos = std::mem::replace(&mut self.pos[id.idx()], u32::MAX);
        if pos != u32::MAX {
            self.ids.swap_remove(pos as usize);
            if let Some(&moved) = self.ids.get(pos as usize) {
                self.pos[moved.idx()] = pos;
            }
        }
    }
}

impl Mesh {
    /// Sets `m`'s record about `s`, keeping Serf's counts, `listed_alive` and the probe list in
    /// step, and telling Serf's snapshotter about member events.
    pub(crate) fn set_entry(&mut self, m: MemberId, s: MemberId, e: Entry) {
        let member = &mut self.members[m.idx()];
        let Change { old, serf_event } = member.table.set(m, s, e, &mut member.rng);
        let running = member.running;
        if running && old.is_live() != e.is_live() {
            let c = &mut self.listed_alive[s.idx()];
            if e.is_live() {
                *c += 1;
            } else {
                *c = c.saturating_sub(1);
            }
        }
        // Join, failed and left reach Serf's snapshot (`processMemberEvent`).
        if serf_event && e.serf != SerfStatus::None && running {
            self.snapshot_event(m);
        }
    }

    /// The member's process starts: its loops' first ticks, staggered as memberlist's
    /// `state.go schedule` does.
    pub(crate) fn start_member(&mut self, id: MemberId, count_listings: bool) {
        let now = self.now();
        let cfg = &self.cfg;
        self.running.insert(id);
        let m = &mut self.members[id.idx()];
        m.started = true;
        m.running = true;
        let probe_at = if cfg.probe.stagger {
            now + stagger(&mut m.rng, cfg.probe.interval)
        } else {
            // Next multiple of the interval: every member on one grid.
            let iv = cfg.probe.interval.as_micros().max(1);
            Time(now.0.div_ceil(iv).saturating_mul(iv))
        };
        m.gossip.phase = now + stagger(&mut m.rng, cfg.gossip.interval);
        let pp_at = now + stagger(&mut m.rng, cfg.push_pull.interval);
        let reap_at = now + stagger(&mut m.rng, cfg.serf.reap_interval);
        let reconnect_iv = cfg.serf.reconnect_interval;
        let timers = [
            (cfg.probe.interval, probe_at, Ev::ProbeTick(id)),
            (cfg.push_pull.interval, pp_at, Ev::PushPullTick(id)),
            (cfg.serf.reap_interval, reap_at, Ev::ReapTick(id)),
        ];
        if count_listings {
            // `set_entry` counts listings of running members only; this one just started.
            for (sid, e) in m.table.view.iter().enumerate() {
                if e.is_live() {
                    self.listed_alive[sid] += 1;
                }
            }
        }
        for (iv, at, ev) in timers {
            if !iv.is_zero() {
                self.schedule(at, ev);
            }
        }
        if !reconnect_iv.is_zero() {
            let at = now + stagger(&mut self.members[id.idx()].rng, reconnect_iv);
            self.schedule(at, Ev::ReconnectTick(id));
        }
    }

    /// The member's process stops (a crash, or the end of a leave).
    pub(crate) fn stop_member(&mut self, id: MemberId) {
        let m = &mut self.members[id.idx()];
        if !m.running {
            return;
        }
        m.running = false;
        for (sid, e) in m.table.view.iter().enumerate() {
            if e.is_live() {
                self.listed_alive[sid] = self.listed_alive[sid].saturating_sub(1);
            }
        }
        self.members[id.idx()].free();
        self.running.remove(id);
    }

    /// Join: a push/pull with a random running member (memberlist `Join` ->
    /// `pushPullNode(join)`), one of the join targets if any is running.
    pub(crate) fn join(&mut self, id: MemberId) {
        let targets: Vec<MemberId> = self
            .join_targets
            .iter()
            .copied()
            .filter(|&t| t != id && self.members[t.idx()].running)
            .collect();
        if !targets.is_empty() {
            let peer = targets[self.net.rng().below_index(targets.len())];
            self.start_push_pull(id, peer);
            return;
        }
        // Every running member but `id` itself (which is running, so in the list).
        let n = self.running.ids.len();
        if n < 2 {
            return;
        }
        let mut k = self.net.rng().below_index(n - 1);
        if self.running.ids[k] == id {
            k = n - 1;
        }
        let peer = self.running.ids[k];
        self.start_push_pull(id, peer);
    }
}

/// A loop's first tick, uniform in its first interval (none for a disabled loop).
fn stagger(rng: &mut Rng, iv: Duration) -> Duration {
    if iv.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.below(iv.as_micros()))
    }
}

/// Fisher-Yates (`util.go shuffleNodes`).
pub(crate) fn shuffle(v: &mut [MemberId], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below_index(i + 1);
        v.swap(i, j);
    }
}
