//! The part of Serf that runs beside memberlist: failed and left members kept until reaped
//! (`serf.go handleReap`), reconnection to failed members (`serf.go reconnect`), and the
//! snapshot file every member event is appended to (`snapshot.go`).

use std::collections::VecDeque;

use cascade_engine::{Duration, Time};

use crate::event::Ev;
use crate::member::{MemberState, SerfStatus};
use crate::mesh::Mesh;
use crate::observe::SnapshotCounters;
use crate::{Config, MemberId, Snapshot};

/// Serf's state of one member beside its table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Serf {
    pub(crate) reaper: Reaper,
    pub(crate) snapshot: Snapshotter,
}

impl Serf {
    /// Frees what only a running member uses.
    pub(crate) fn free(&mut self) {
        self.reaper = Reaper::default();
        self.snapshot.queue = VecDeque::new();
    }
}

/// Serf's `failedMembers` and `leftMembers`: members in the order they failed or left, with
/// the time, for `handleReap` and `reconnect`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reaper {
    failed: VecDeque<(Time, MemberId)>,
    left: VecDeque<(Time, MemberId)>,
}

impl Reaper {
    /// `s` failed (or left) at `at`.
    pub(crate) fn record(&mut self, left: bool, at: Time, s: MemberId) {
        if left {
            self.left.push_back((at, s));
        } else {
            self.failed.push_back((at, s));
        }
    }
}

/// Serf's snapshotter of one member (`snapshot.go`), with the time cost of its writes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshotter {
    /// Bytes in the snapshot file since its last compaction (`offset`).
    offset: f64,
    /// When each member event queued for the snapshotter is written, oldest first.
    queue: VecDeque<Time>,
    /// Blocked behind a full snapshot buffer until then: no message applied, no probe,
    /// gossip or push/pull, no packet answered.
    stalled_until: Time,
}

impl Snapshotter {
    /// The snapshot as compacted at start, with `alive` members alive.
    pub(crate) fn compacted(cfg: &Config, alive: u32) -> Snapshotter {
        let line_bytes = cfg
            .serf
            .snapshot
            .map_or(0.0, |s| s.line_bytes * s.entries_per_member.max(1.0));
        Snapshotter {
            offset: line_bytes * f64::from(alive),
            ..Snapshotter::default()
        }
    }

    pub(crate) fn stalled_until(&self) -> Time {
        self.stalled_until
    }

    /// A member event reaches the snapshotter at `now`, with `alive` members alive for Serf: it
    /// appends a line, compacting the file when it is past its limit. Before serf#524 a full
    /// buffer stalls the member until the snapshotter has room again; after, the event is
    /// dropped from the snapshot. The node's contention (`slowdown`) slows the disk work too.
    fn event(
        &mut self,
        sc: &Snapshot,
        now: Time,
        alive: u32,
        slowdown: f64,
        c: &mut SnapshotCounters,
    ) {
        while self.queue.front().is_some_and(|&t| t <= now) {
            self.queue.pop_front();
        }
        if !sc.blocking && self.queue.len() >= sc.buffer_events {
            c.events_dropped += 1;
            return;
        }
        let reps = sc.entries_per_member.max(1.0);
        let alive = f64::from(alive) * reps;
        let alive_bytes = alive * sc.line_bytes;
        let max_bytes = sc.compaction.max_bytes(alive);
        self.offset += sc.line_bytes * reps;
        let mut cost = sc.append_time.as_secs_f64() * reps;
        if self.offset > max_bytes {
            // Compacted, the file is the alive lines; if that alone is past the limit, every
            // one of the events this one stands for compacts again.
            let compactions = if alive_bytes > max_bytes { reps } else { 1.0 };
            cost += compactions
                * (alive_bytes / sc.write_bytes_per_second + sc.fsync_time.as_secs_f64());
            self.offset = alive_bytes;
            // `compactions` is 1 or the (small, whole) number of events folded into this one.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let compactions = compactions.round() as u64;
            c.compactions += compactions;
        }
        let cost = Duration::from_secs_f64(cost * slowdown);
        let start = self.queue.back().copied().unwrap_or(now).max(now);
        self.queue.push_back(start.after(cost));
        let len = self.queue.len();
        if sc.blocking && len > sc.buffer_events {
            // Blocked until the queue is back to the buffer's size.
            let free_at = self.queue[len - sc.buffer_events - 1];
            if free_at > self.stalled_until {
                let from = self.stalled_until.max(now);
                if self.stalled_until <= now {
                    c.stalls += 1;
                }
                c.stalled_us += free_at.since(from).as_micros();
                self.stalled_until = free_at;
            }
        }
    }
}

impl Mesh {
    /// Serf's snapshotter gets a member event of `m`'s.
    pub(crate) fn snapshot_event(&mut self, m: MemberId) {
        let Some(sc) = self.cfg.serf.snapshot else {
            return;
        };
        let now = self.now();
        let member = &mut self.members[m.idx()];
        let alive = member.table.serf.alive;
        let slowdown = member.slowdown;
        member
            .serf
            .snapshot
            .event(&sc, now, alive, slowdown, &mut self.counters.snapshot);
    }

    /// Whether the member is stalled behind its snapshot now.
    pub(crate) fn stalled(&self, m: MemberId) -> bool {
        self.members[m.idx()].serf.snapshot.stalled_until > self.now()
    }

    /// Serf `handleReap`: erase failed members older than `reconnect_timeout` and left ones
    /// older than `tombstone_timeout`.
    pub(crate) fn reap(&mut self, m: MemberId) {
        let now = self.now();
        let iv = self.cfg.serf.reap_interval;
        self.schedule(now.after(iv), Ev::ReapTick(m));
        for (failed, timeout) in [
            (true, self.cfg.serf.reconnect_timeout),
            (false, self.cfg.serf.tombstone_timeout),
        ] {
            loop {
                let member = &mut self.members[m.idx()];
                let reaper = &mut member.serf.reaper;
                let log = if failed {
                    &mut reaper.failed
                } else {
                    &mut reaper.left
                };
                let Some(&(t, s)) = log.front() else { break };
                if now.since(t) <= timeout {
                    break;
                }
                log.pop_front();
                let e = member.table.view[s.idx()];
                let want = if failed {
                    SerfStatus::Failed
                } else {
                    SerfStatus::Left
                };
                if e.serf != want || e.change != t {
                    continue; // revived or re-failed since
                }
                self.counters.membership.reaped += 1;
                let mut ne = e;
                ne.serf = SerfStatus::None;
                if e.is_gone() {
                    ne.state = MemberState::Unknown;
                }
                self.set_entry(m, s, ne);
            }
        }
    }

    /// Serf's `reconnect`: with probability failed / alive, a push/pull with one random
    /// failed member (memberlist `Join` to its address). A member that is really gone does
    /// not answer; one that was only cut off (a partition, a stall) exchanges state, learns
    /// that it was declared dead and refutes, and the two sides know each other again. The
    /// pick is uniform over Serf's failed list in failure order, skipping (for this round)
    /// an entry that has since revived.
    pub(crate) fn reconnect(&mut self, m: MemberId) {
        let iv = self.cfg.serf.reconnect_interval;
        self.schedule(self.now().after(iv), Ev::ReconnectTick(m));
        if self.stalled(m) {
            return;
        }
        let member = &mut self.members[m.idx()];
        let counts = member.table.serf;
        let failed = &member.serf.reaper.failed;
        if counts.failed == 0 || failed.is_empty() {
            return;
        }
        let alive = f64::from(counts.alive.max(1));
        if member.rng.unit() > f64::from(counts.failed) / alive {
            return;
        }
        let (t, s) = failed[member.rng.below_index(failed.len())];
        let e = member.table.view[s.idx()];
        if e.serf != SerfStatus::Failed || e.change != t {
            return;
        }
        self.start_push_pull(m, s);
    }
}
