//! What can be read off the mesh: counters, per-member queries, crash detection times, and
//! the invariant checks. Nothing here changes the mesh.

use cascade_engine::Time;

use crate::member::{Entry, MemberState, SerfStatus, UNKNOWN};
use crate::mesh::Mesh;
use crate::{retransmit_limit, Config, KeyId, MemberId};

/// Counters over the whole mesh, one group per concern (as [`Config`] is grouped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events the mesh processed.
    pub events: u64,
    /// What went over the wire (`net.go`).
    pub network: NetworkCounters,
    /// Probes (`state.go probeNode`).
    pub probe: ProbeCounters,
    /// Suspicions, deaths and refutations (`state.go suspectNode`, `deadNode`, `refute`).
    pub detection: DetectionCounters,
    /// The handoff queue (`net.go handleCommand`).
    pub handoff: HandoffCounters,
    /// Push/pull (`state.go pushPull`, `mergeState`).
    pub push_pull: PushPullCounters,
    /// Entries leaving the tables: memberlist's forgetting and Serf's reaping.
    pub membership: MembershipCounters,
    /// Serf's snapshot (`snapshot.go`).
    pub snapshot: SnapshotCounters,
}

/// Packets and the broadcasts they carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkCounters {
    /// UDP packets sent (each compound packet counts once), lost ones included.
    pub packets_sent: u64,
    /// Packets lost by the network (`NetworkConfig::loss`).
    pub packets_lost: u64,
    /// Packets dropped because sender and receiver keyrings do not match.
    pub packets_undecryptable: u64,
    /// Broadcasts piggybacked or gossiped (each copy counts).
    pub broadcasts_sent: u64,
}

/// Probes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeCounters {
    /// Direct probes started (`probeNode`).
    pub pings: u64,
    /// Acks that completed a probe (direct or forwarded by a relay).
    pub acks: u64,
    /// Indirect ping requests sent.
    pub indirect_pings: u64,
    /// Nacks received in time by probers.
    pub nacks: u64,
    /// Fallback TCP pings dialled (`DisableTcpPings` false).
    pub tcp_pings: u64,
    /// Failed UDP probes saved by the TCP ping: no ack by the deadline, but the TCP
    /// exchange made contact, so no suspicion (memberlist's "network may be misconfigured").
    pub tcp_fallback_acks: u64,
}

/// Failure detection's verdicts, right and wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetectionCounters {
    /// Failed probes: the prober suspects its target.
    pub suspicions_raised: u64,
    /// Failed probes of a member that was running.
    pub false_suspicions: u64,
    /// Suspicion timers that expired into a Dead declaration.
    pub dead_declarations: u64,
    /// Dead declarations about a member that was running.
    pub false_dead_declarations: u64,
    /// Dead declarations about a running member whose CPU slowdown is 1 (a healthy member).
    pub false_dead_of_healthy: u64,
    /// Refutations (a member raised its incarnation to deny suspicion or death).
    pub refutations: u64,
}

/// The handoff queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandoffCounters {
    /// Alive/suspect/dead messages dropped because a handoff queue was full.
    pub drops: u64,
    /// Alive/suspect/dead messages applied by handlers.
    pub messages_processed: u64,
}

/// Push/pull.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushPullCounters {
    /// Push/pull exchanges completed (each direction's merge counts once).
    pub merges: u64,
    /// Push/pull exchanges that failed (peer gone or keyring mismatch).
    pub failures: u64,
    /// A member adopted as Alive a member that was not running (a phantom revived).
    pub resurrections: u64,
}

/// Entries leaving the tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipCounters {
    /// Members forgotten by memberlist at a probe-list wrap.
    pub forgotten: u64,
    /// Failed/left members reaped by Serf.
    pub reaped: u64,
}

/// Serf's snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotCounters {
    /// Snapshot compactions (whole-file rewrites).
    pub compactions: u64,
    /// Member events the snapshot dropped because it was behind (serf#524's tee).
    pub events_dropped: u64,
    /// Times a member's full snapshot buffer stalled it (before serf#524).
    pub stalls: u64,
    /// Simulated time (µs) members spent stalled behind their snapshot, summed.
    pub stalled_us: u64,
}

/// For each member: when it crashed, when anyone first probed it after that, and when anyone
/// first declared it dead after that.
#[derive(Clone, Debug, Default)]
pub(crate) struct CrashLog {
    crashed_at: Vec<Option<Time>>,
    first_probe: Vec<Option<Time>>,
    first_dead: Vec<Option<Time>>,
}

impl CrashLog {
    pub(crate) fn add_member(&mut self) {
        self.crashed_at.push(None);
        self.first_probe.push(None);
        self.first_dead.push(None);
    }

    pub(crate) fn crashed(&mut self, id: MemberId, at: Time) {
        self.crashed_at[id.idx()] = Some(at);
    }

    /// Someone probed `id` at `at` (recorded if it is the first probe after its crash).
    pub(crate) fn probed(&mut self, id: MemberId, at: Time) {
        let i = id.idx();
        if self.crashed_at[i].is_some() && self.first_probe[i].is_none() {
            self.first_probe[i] = Some(at);
        }
    }

    /// Someone declared `id` dead at `at`.
    pub(crate) fn declared_dead(&mut self, id: MemberId, at: Time) {
        let i = id.idx();
        if self.crashed_at[i].is_some() && self.first_dead[i].is_none() {
            self.first_dead[i] = Some(at);
        }
    }
}

impl Mesh {
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Members ever created (ids are `0..member_count()`).
    pub fn member_count(&self) -> u32 {
        cascade_engine::index_u32(self.members.len())
    }

    pub fn is_running(&self, id: MemberId) -> bool {
        self.members.get(id.idx()).is_some_and(|m| m.running)
    }

    /// Serf member events `id` has seen so far: joins, failures, leaves and reaps of other
    /// members (on a Consul server, the catalog updates the leader reconciles).
    pub fn serf_events(&self, id: MemberId) -> u64 {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.table.serf.events)
    }

    /// `consul members` as `id` lists them: alive, failed and left members not yet reaped.
    pub fn serf_members(&self, id: MemberId) -> usize {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.table.serf.listed as usize)
    }

    /// Members `id` lists Alive or Suspect (memberlist's live view).
    pub fn alive_members_seen_by(&self, id: MemberId) -> usize {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.table.view.iter().filter(|e| e.is_live()).count())
    }

    /// Members whose process runs.
    pub fn live_members(&self) -> usize {
        self.running.ids.len()
    }

    /// How many members `id` lists as alive, suspect, or dead/failed/left not yet reaped
    /// (itself included): what `consul members` would print.
    pub fn view_size(&self, id: MemberId) -> usize {
        self.members.get(id.idx()).map_or(0, |m| {
            m.table
                .view
                .iter()
                .filter(|e| e.state != MemberState::Unknown || e.serf != SerfStatus::None)
                .count()
        })
    }

    /// memberlist's table size (`estNumNodes`), the `n` of every formula.
    pub fn known_members(&self, id: MemberId) -> usize {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.table.nodes.len())
    }

    /// Distinct members that some running member lists Alive or Suspect although they have
    /// crashed or left.
    pub fn phantom_members(&self) -> usize {
        self.members
            .iter()
            .zip(&self.listed_alive)
            .filter(|(m, &c)| m.started && !m.running && c > 0)
            .count()
    }

    /// Like [`Mesh::phantom_members`], counting only the listings of running members for which
    /// `observer` holds.
    pub fn phantom_members_seen_by(&self, observer: impl Fn(MemberId) -> bool) -> usize {
        let mut seen = vec![false; self.members.len()];
        for (oid, m) in self.members.iter().enumerate() {
            if !m.running || !observer(MemberId::at(oid)) {
                continue;
            }
            for (sid, e) in m.table.view.iter().enumerate() {
                let s = &self.members[sid];
                if s.started && !s.running && e.is_live() {
                    seen[sid] = true;
                }
            }
        }
        seen.iter().filter(|&&b| b).count()
    }

    /// `observer`'s memberlist state and incarnation for `subject`.
    pub fn state_of(&self, observer: MemberId, subject: MemberId) -> (MemberState, u32) {
        let e = self.entry(observer, subject);
        (e.state, e.inc)
    }

    /// `observer`'s Serf status for `subject`.
    pub fn serf_status_of(&self, observer: MemberId, subject: MemberId) -> SerfStatus {
        self.entry(observer, subject).serf
    }

    pub fn incarnation(&self, id: MemberId) -> u32 {
        self.members.get(id.idx()).map_or(0, |m| m.incarnation)
    }

    /// The local health score (`awareness.go`).
    pub fn awareness(&self, id: MemberId) -> u32 {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.prober.awareness.score())
    }

    pub fn keyring(&self, id: MemberId) -> Option<KeyId> {
        self.members.get(id.idx()).and_then(|m| m.keyring)
    }

    /// Phantom revivals adopted by `id` (see [`Counters::resurrections`]).
    pub fn resurrections_at(&self, id: MemberId) -> u64 {
        self.members.get(id.idx()).map_or(0, |m| m.resurrections)
    }

    /// Crash time, first probe of the crashed member by anyone after it, first Dead
    /// declaration of it after it.
    pub fn crash_detection(&self, id: MemberId) -> (Option<Time>, Option<Time>, Option<Time>) {
        let i = id.idx();
        let c = &self.crashes;
        (
            c.crashed_at.get(i).copied().flatten(),
            c.first_probe.get(i).copied().flatten(),
            c.first_dead.get(i).copied().flatten(),
        )
    }

    /// A digest of every event processed (time, kind, arguments): equal digests mean equal
    /// traces.
    pub fn trace_digest(&self) -> u64 {
        self.digest.value()
    }

    /// Items in `id`'s broadcast queue.
    pub fn queued_broadcasts(&self, id: MemberId) -> usize {
        self.members
            .get(id.idx())
            .map_or(0, |m| m.gossip.queue.len())
    }

    pub(crate) fn entry(&self, observer: MemberId, subject: MemberId) -> Entry {
        self.members
            .get(observer.idx())
            .map_or(UNKNOWN, |m| m.table.get(subject))
    }

    /// Recounts the bookkeeping and checks the protocol invariants (see the crate docs).
    ///
    /// Cost: two passes over every running member's table, O(n²) for a pool of n running
    /// members (release: ~10 ms at 1,000 members, ~0.1 s at 4,000, ~1 s at 10,000). For a
    /// check every few events, use [`Mesh::check_member_invariants`] on one member at a time
    /// (O(n): ~10 µs at 1,000 members) and this one rarely.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut listed = vec![0u32; self.members.len()];
        for (id, m) in self.members.iter().enumerate() {
            self.check_member_invariants(MemberId::at(id))?;
            if m.running {
                for (sid, e) in m.table.view.iter().enumerate() {
                    if e.is_live() {
                        listed[sid] += 1;
                    }
                }
            }
        }
        if listed != self.listed_alive {
            return Err("listed_alive bookkeeping is off".into());
        }
        Ok(())
    }

    /// The invariants of one member's own state: its place in the running list, its own
    /// entry and incarnation, its awareness, its Serf counts, its probe list against its
    /// table, its broadcasts' transmit counts. Cost: linear in its table (O(n)).
    pub fn check_member_invariants(&self, id: MemberId) -> Result<(), String> {
        let Some(m) = self.members.get(id.idx()) else {
            return Err(format!("member {id} does not exist"));
        };
        // A stopped member's table is freed (`stop_member`): nothing to check.
        if !m.started || !m.running {
            if self.running.contains(id) {
                return Err(format!("member {id} stopped but in the running list"));
            }
            return Ok(());
        }
        if !self.running.consistent(id) {
            return Err(format!("member {id} running but not in the running list"));
        }
        let table = &m.table;
        let me = table.get(id);
        match me.state {
            MemberState::Alive => {}
            MemberState::Left if m.leaving => {}
            s => return Err(format!("member {id} lists itself {s:?}")),
        }
        if me.inc != m.incarnation {
            return Err(format!(
                "member {id}: own entry inc {} != {}",
                me.inc, m.incarnation
            ));
        }
        let awareness = m.prober.awareness.score();
        if awareness >= self.cfg.probe.awareness_max_multiplier.max(1) {
            return Err(format!("member {id}: awareness {awareness}"));
        }
        // One pass over the table: Serf's listed and alive entries, memberlist's known ones.
        let (mut serf, mut alive, mut known) = (0usize, 0usize, 0usize);
        for e in &table.view {
            serf += usize::from(e.serf != SerfStatus::None);
            alive += usize::from(e.serf == SerfStatus::Alive);
            known += usize::from(e.state != MemberState::Unknown);
        }
        if serf != table.serf.listed as usize {
            return Err(format!(
                "member {id}: {serf} Serf members, counted {}",
                table.serf.listed
            ));
        }
        if alive != table.serf.alive as usize {
            return Err(format!(
                "member {id}: {alive} alive for Serf, counted {}",
                table.serf.alive
            ));
        }
        if self.stalled(id) && self.cfg.serf.snapshot.is_none_or(|s| !s.blocking) {
            return Err(format!("member {id} stalled without a blocking snapshot"));
        }
        if known != table.nodes.len() {
            return Err(format!(
                "member {id}: {known} known, {} in nodes",
                table.nodes.len()
            ));
        }
        for &n in &table.nodes {
            if table.get(n).state == MemberState::Unknown {
                return Err(format!("member {id}: node {n} listed but unknown"));
            }
        }
        // A queued item has been sent fewer times than the limit of its last send, and
        // every limit is at most the one for the largest table possible.
        let bound = retransmit_limit(self.cfg.gossip.retransmit_mult, self.members.len());
        for (tr, subject) in m.gossip.queue.transmits() {
            if tr > 0 && tr >= bound {
                return Err(format!(
                    "member {id}: broadcast about {subject} sent {tr} times"
                ));
            }
        }
        Ok(())
    }
}
