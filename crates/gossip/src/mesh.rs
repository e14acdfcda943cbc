//! The mesh: members as memberlist/Serf state machines, a lossy network with latency, and the
//! event queue that drives them.

use std::collections::VecDeque;

use cascade_engine::{queue_key, RadixQueue, Time};
use cascade_model::Rng;

use crate::queue::{BroadcastQueue, Rumor, RumorKind};
use crate::{
    push_pull_scale, remaining_suspicion_time, retransmit_limit, suspicion_timeout, Config,
    HandoffPolicy, KeyId, MemberId, ProbeSelection,
};

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
struct Entry {
    inc: u32,
    state: MemberState,
    serf: SerfStatus,
    change: Time,
}

const UNKNOWN: Entry = Entry {
    inc: 0,
    state: MemberState::Unknown,
    serf: SerfStatus::None,
    change: Time::ZERO,
};

/// Counters over the whole mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events the mesh processed.
    pub events: u64,
    /// UDP packets sent (each compound packet counts once), lost ones included.
    pub packets_sent: u64,
    /// Packets lost by the network (`Config::loss`).
    pub packets_lost: u64,
    /// Packets dropped because sender and receiver keyrings do not match.
    pub packets_undecryptable: u64,
    /// Direct probes started (`probeNode`).
    pub pings: u64,
    /// Acks that completed a probe (direct or forwarded by a relay).
    pub acks: u64,
    /// Indirect ping requests sent.
    pub indirect_pings: u64,
    /// Nacks received in time by probers.
    pub nacks: u64,
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
    /// Alive/suspect/dead messages dropped because a handoff queue was full.
    pub handoff_drops: u64,
    /// Alive/suspect/dead messages applied by handlers.
    pub messages_processed: u64,
    /// Broadcasts piggybacked or gossiped (each copy counts).
    pub broadcasts_sent: u64,
    /// Push/pull exchanges completed (each direction's merge counts once).
    pub push_pull_merges: u64,
    /// Push/pull exchanges that failed (peer gone or keyring mismatch).
    pub push_pull_failures: u64,
    /// A member adopted as Alive a member that was not running (a phantom revived).
    pub resurrections: u64,
    /// Members forgotten by memberlist at a probe-list wrap.
    pub forgotten: u64,
    /// Failed/left members reaped by Serf.
    pub reaped: u64,
    /// Serf snapshot compactions (whole-file rewrites).
    pub snapshot_compactions: u64,
    /// Member events the snapshot dropped because it was behind (serf#524's tee).
    pub snapshot_events_dropped: u64,
    /// Times a member's full snapshot buffer stalled it (before serf#524).
    pub snapshot_stalls: u64,
    /// Simulated time (µs) members spent stalled behind their snapshot, summed.
    pub snapshot_stalled_us: u64,
}

/// What `bench` measured.
#[derive(Clone, Debug)]
pub struct BenchFigures {
    pub members: u32,
    pub simulated_seconds: f64,
    pub events: u64,
    pub packets: u64,
    pub messages_processed: u64,
    pub wall_seconds: f64,
    pub events_per_second: f64,
}

/// Builds a converged mesh of `members`, runs it for `seconds` of simulated time with one crash
/// and one spawn per simulated minute, and measures the wall time (the only place the crate
/// reads a clock).
pub fn bench(members: u32, seconds: f64, seed: u64) -> BenchFigures {
    let start = std::time::Instant::now();
    let mut mesh = Mesh::with_members(Config::default_lan(), seed, members, None);
    let mut rng = Rng::stream(seed, "gossip-bench");
    let end = Time::from_secs_f64(seconds);
    let mut t = Time::ZERO;
    while t < end {
        let next = (t + Time::from_secs(60)).min(end);
        let n = mesh.member_count();
        if n > 0 {
            let victim = rng.below(u64::from(n)) as MemberId;
            mesh.crash(t, victim);
            mesh.spawn(t, None);
        }
        mesh.advance_to(next);
        t = next;
    }
    let wall = start.elapsed().as_secs_f64();
    let c = mesh.counters();
    BenchFigures {
        members,
        simulated_seconds: seconds,
        events: c.events,
        packets: c.packets_sent,
        messages_processed: c.messages_processed,
        wall_seconds: wall,
        events_per_second: c.events as f64 / wall.max(1e-9),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Ping { seq: u32 },
    Ack { seq: u32 },
    IndirectPing { seq: u32, target: MemberId },
    Nack { seq: u32 },
    Gossip,
}

#[derive(Clone, Debug)]
struct Packet {
    from: MemberId,
    to: MemberId,
    key: Option<KeyId>,
    msg: Msg,
    piggy: Vec<Rumor>,
}

#[derive(Clone, Debug)]
struct PushPull {
    from: MemberId,
    to: MemberId,
    key: Option<KeyId>,
    reply: bool,
    entries: Vec<(MemberId, u32, MemberState)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ev {
    Deliver(u32),
    Stream(u32),
    ProbeTick(MemberId),
    ProbeTimeout(MemberId, u32),
    ProbeDeadline(MemberId, u32),
    NackTimer(MemberId, u32),
    GossipTick(MemberId),
    PushPullTick(MemberId),
    Suspicion(MemberId, MemberId),
    HandoffDone(MemberId),
    ReapTick(MemberId),
    ReconnectTick(MemberId),
    Start(MemberId),
    Leave(MemberId),
    Shutdown(MemberId),
    Crash(MemberId),
    Slowdown(MemberId, u64),
    Keyring(MemberId, Option<KeyId>),
    NetGroup(MemberId, u32),
    UpdateNode(MemberId),
}

impl Ev {
    fn code(&self) -> (u64, u64) {
        match *self {
            Ev::Deliver(s) => (0, u64::from(s)),
            Ev::Stream(s) => (1, u64::from(s)),
            Ev::ProbeTick(m) => (2, u64::from(m)),
            Ev::ProbeTimeout(m, s) => (3, u64::from(m) << 32 | u64::from(s)),
            Ev::ProbeDeadline(m, s) => (4, u64::from(m) << 32 | u64::from(s)),
            Ev::NackTimer(m, s) => (5, u64::from(m) << 32 | u64::from(s)),
            Ev::GossipTick(m) => (6, u64::from(m)),
            Ev::PushPullTick(m) => (7, u64::from(m)),
            Ev::Suspicion(m, s) => (8, u64::from(m) << 32 | u64::from(s)),
            Ev::HandoffDone(m) => (9, u64::from(m)),
            Ev::ReapTick(m) => (10, u64::from(m)),
            Ev::Start(m) => (11, u64::from(m)),
            Ev::Leave(m) => (12, u64::from(m)),
            Ev::Shutdown(m) => (13, u64::from(m)),
            Ev::Crash(m) => (14, u64::from(m)),
            Ev::Slowdown(m, f) => (15, u64::from(m) ^ f),
            Ev::Keyring(m, k) => (16, u64::from(m) << 32 | u64::from(k.unwrap_or(u32::MAX))),
            Ev::UpdateNode(m) => (17, u64::from(m)),
            Ev::NetGroup(m, g) => (18, u64::from(m) << 32 | u64::from(g)),
            Ev::ReconnectTick(m) => (19, u64::from(m)),
        }
    }
}

/// A probe in flight (`probeNode`'s locals).
#[derive(Clone, Copy, Debug)]
struct Probe {
    seq: u32,
    target: MemberId,
    /// The ack/nack handler's expiry: `start + probe_interval * (awareness + 1)`.
    deadline: Time,
    expected_nacks: u32,
    nacks: u32,
}

/// An indirect ping this member relays (`handleIndirectPing`).
#[derive(Clone, Copy, Debug)]
struct Relay {
    seq: u32,
    origin: MemberId,
    origin_seq: u32,
}

/// A running suspicion timer (`suspicion.go`).
#[derive(Clone, Debug)]
struct Suspicion {
    start: Time,
    k: u32,
    min: Time,
    max: Time,
    /// The first accuser is pre-registered and never counted.
    confirmers: Vec<MemberId>,
    confirmations: u32,
    fire_at: Time,
}

#[derive(Clone, Debug, Default)]
struct Handoff {
    /// `Fifo`: the one channel; `AlivePriorityLifo`: the low-priority list.
    low: VecDeque<Rumor>,
    /// `AlivePriorityLifo` only: alive messages.
    high: VecDeque<Rumor>,
    /// The message being applied, finished at its `HandoffDone` event.
    in_service: Option<Rumor>,
}

struct Member {
    started: bool,
    running: bool,
    leaving: bool,
    incarnation: u32,
    awareness: u32,
    keyring: Option<KeyId>,
    slowdown: f64,
    /// The side of a network partition the member is on: packets and streams between
    /// different groups are lost (0 = no partition).
    net_group: u32,
    view: Vec<Entry>,
    /// memberlist's `m.nodes`: every member the table knows, in probe order.
    nodes: Vec<MemberId>,
    probe_index: usize,
    probe: Option<Probe>,
    tick_pending: bool,
    seq: u32,
    relays: Vec<Relay>,
    broadcasts: BroadcastQueue,
    handoff: Handoff,
    suspicions: crate::IdMap<MemberId, Suspicion>,
    gossip_armed: bool,
    gossip_phase: Time,
    rng: Rng,
    /// When the packet listener is next free (it handles packets one at a time).
    listener_busy: Time,
    /// Serf's failed and left members in the order they failed/left, for `handleReap`.
    failed_log: VecDeque<(Time, MemberId)>,
    left_log: VecDeque<(Time, MemberId)>,
    resurrections: u64,
    /// Serf member events this member has seen (a status of another member changed: join,
    /// failed, left, reaped). On a Consul server these are the catalog updates the leader
    /// reconciles (`leader.go reconcileMember`).
    serf_events: u64,
    /// Entries in its table with a Serf status (`consul members`).
    serf_listed: u32,
    /// Entries Serf lists as alive (the snapshot's `aliveNodes`), and as failed.
    serf_alive: u32,
    serf_failed: u32,
    /// Bytes in the snapshot file since its last compaction (`offset`).
    snap_offset: f64,
    /// When each member event queued for the snapshotter is written, oldest first.
    snap_queue: VecDeque<Time>,
    /// Blocked behind a full snapshot buffer until then: no message applied, no probe,
    /// gossip or push/pull, no packet answered.
    stalled_until: Time,
    /// A `HandoffDone` is scheduled to resume the handler at the end of a stall.
    resume_armed: bool,
}

/// Bytes of the snapshot's alive lines per simulated member (0 without a snapshot).
fn cfg_line_bytes(cfg: &Config) -> f64 {
    cfg.snapshot
        .map_or(0.0, |s| s.line_bytes * s.entries_per_member.max(1.0))
}

/// The simulated gossip pool.
pub struct Mesh {
    cfg: Config,
    now: Time,
    seed: u64,
    members: Vec<Member>,
    queue: RadixQueue<Ev>,
    seq: u64,
    packets: Vec<Option<Packet>>,
    free_packets: Vec<u32>,
    streams: Vec<Option<PushPull>>,
    free_streams: Vec<u32>,
    net: Rng,
    counters: Counters,
    /// For each subject, how many running members list it Alive or Suspect.
    listed_alive: Vec<u32>,
    crashed_at: Vec<Option<Time>>,
    first_probe_after_crash: Vec<Option<Time>>,
    first_dead_after_crash: Vec<Option<Time>>,
    /// The running members, and each member's index in it (u32::MAX when not running), so a
    /// join picks its peer in O(1) however many members have ever existed.
    running_ids: Vec<MemberId>,
    running_pos: Vec<u32>,
    /// Consul's `retry_join` addresses (the servers): a new member joins through one of these
    /// that is running; through any running member when empty.
    join_targets: Vec<MemberId>,
    digest: u64,
}

fn fnv(h: u64, x: u64) -> u64 {
    let mut h = h;
    for b in x.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

impl Mesh {
    /// An empty mesh.
    pub fn new(cfg: Config, seed: u64) -> Mesh {
        Mesh {
            cfg,
            now: Time::ZERO,
            seed,
            members: Vec::new(),
            queue: RadixQueue::new(),
            seq: 0,
            packets: Vec::new(),
            free_packets: Vec::new(),
            streams: Vec::new(),
            free_streams: Vec::new(),
            net: Rng::stream(seed, "gossip"),
            counters: Counters::default(),
            listed_alive: Vec::new(),
            crashed_at: Vec::new(),
            first_probe_after_crash: Vec::new(),
            first_dead_after_crash: Vec::new(),
            running_ids: Vec::new(),
            running_pos: Vec::new(),
            join_targets: Vec::new(),
            digest: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// A converged mesh of `n` members running from time 0, each listing every other Alive at
    /// incarnation 1 (as if they had joined long ago), with staggered timers.
    pub fn with_members(cfg: Config, seed: u64, n: u32, keyring: Option<KeyId>) -> Mesh {
        let mut mesh = Mesh::new(cfg, seed);
        for _ in 0..n {
            mesh.alloc_member(keyring);
        }
        let size = n as usize;
        for id in 0..n {
            let m = &mut mesh.members[id as usize];
            m.view = vec![
                Entry {
                    inc: 1,
                    state: MemberState::Alive,
                    serf: SerfStatus::Alive,
                    change: Time::ZERO,
                };
                size
            ];
            m.nodes = (0..n).collect();
            m.serf_listed = n;
            m.serf_alive = n;
            // The snapshot as compacted at start: every member alive.
            m.snap_offset = cfg_line_bytes(&mesh.cfg) * f64::from(n);
            shuffle(&mut m.nodes, &mut m.rng);
        }
        for c in mesh.listed_alive.iter_mut() {
            *c = n;
        }
        for id in 0..n {
            mesh.start_member(id, false);
        }
        mesh
    }

    fn alloc_member(&mut self, keyring: Option<KeyId>) -> MemberId {
        let id = self.members.len() as MemberId;
        let rng = Rng::stream(
            self.seed ^ u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            "gossip-member",
        );
        self.members.push(Member {
            started: false,
            running: false,
            leaving: false,
            incarnation: 1,
            awareness: 0,
            keyring,
            slowdown: 1.0,
            net_group: 0,
            view: Vec::new(),
            nodes: Vec::new(),
            probe_index: 0,
            probe: None,
            tick_pending: false,
            seq: 0,
            relays: Vec::new(),
            broadcasts: BroadcastQueue::default(),
            handoff: Handoff::default(),
            suspicions: crate::IdMap::default(),
            gossip_armed: false,
            gossip_phase: Time::ZERO,
            rng,
            listener_busy: Time::ZERO,
            failed_log: VecDeque::new(),
            left_log: VecDeque::new(),
            resurrections: 0,
            serf_events: 0,
            serf_alive: 0,
            serf_failed: 0,
            snap_offset: 0.0,
            snap_queue: VecDeque::new(),
            stalled_until: Time::ZERO,
            resume_armed: false,
            serf_listed: 0,
        });
        self.running_pos.push(u32::MAX);
        self.listed_alive.push(0);
        self.crashed_at.push(None);
        self.first_probe_after_crash.push(None);
        self.first_dead_after_crash.push(None);
        id
    }

    // ---------------------------------------------------------------- inputs

    /// A new member starts at `at` (or now, if `at` is past) and joins by a push/pull with a
    /// random running member (Consul's `retry_join` address), if there is one.
    pub fn spawn(&mut self, at: Time, keyring: Option<KeyId>) -> MemberId {
        let id = self.alloc_member(keyring);
        self.schedule(at, Ev::Start(id));
        id
    }

    /// Consul's `retry_join`: new members join through one of `ids` (the servers).
    pub fn set_join_targets(&mut self, ids: Vec<MemberId>) {
        self.join_targets = ids;
    }

    /// Graceful leave (Consul's `leave_on_terminate`): the member broadcasts its own death
    /// (memberlist `Leave`: dead about itself, which others record as Left), keeps running for
    /// `leave_propagate_delay`, then stops.
    pub fn leave(&mut self, at: Time, id: MemberId) {
        if self.valid(id) {
            self.schedule(at, Ev::Leave(id));
        }
    }

    /// The process is gone: it stops answering and sending, at once.
    pub fn crash(&mut self, at: Time, id: MemberId) {
        if self.valid(id) {
            self.schedule(at, Ev::Crash(id));
        }
    }

    /// Multiplies the member's message-processing times (packet listener and handler) by
    /// `factor` (at least 1; non-finite values are ignored).
    pub fn set_cpu_slowdown(&mut self, at: Time, id: MemberId, factor: f64) {
        if self.valid(id) && factor.is_finite() {
            self.schedule(at, Ev::Slowdown(id, factor.max(1.0).to_bits()));
        }
    }

    /// Installs (or removes) the member's gossip encryption key.
    pub fn set_keyring(&mut self, at: Time, id: MemberId, keyring: Option<KeyId>) {
        if self.valid(id) {
            self.schedule(at, Ev::Keyring(id, keyring));
        }
    }

    /// Puts the member on side `group` of a network partition (0: no partition). Packets and
    /// push/pull streams between members on different sides are lost.
    pub fn set_network_group(&mut self, at: Time, id: MemberId, group: u32) {
        if self.valid(id) {
            self.schedule(at, Ev::NetGroup(id, group));
        }
    }

    /// memberlist `UpdateNode`: the member raises its incarnation and broadcasts alive (a meta
    /// change), a single rumour that every member must learn.
    pub fn update_node(&mut self, at: Time, id: MemberId) {
        if self.valid(id) {
            self.schedule(at, Ev::UpdateNode(id));
        }
    }

    /// Processes every event up to and including `t`.
    pub fn advance_to(&mut self, t: Time) {
        while let Some(key) = self.queue.peek_key() {
            let at = Time((key >> 64) as u64);
            if at > t {
                break;
            }
            let Some((_, ev)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.counters.events += 1;
            let (code, arg) = ev.code();
            self.digest = fnv(fnv(fnv(self.digest, at.0), code), arg);
            self.handle(ev);
        }
        self.now = self.now.max(t);
    }

    // ---------------------------------------------------------------- observations

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Members ever created (ids are `0..member_count()`).
    pub fn member_count(&self) -> u32 {
        self.members.len() as u32
    }

    pub fn is_running(&self, id: MemberId) -> bool {
        self.members.get(id as usize).is_some_and(|m| m.running)
    }

    /// Members whose process runs.
    /// Serf member events `id` has seen so far (see `Member::serf_events`).
    pub fn serf_events(&self, id: MemberId) -> u64 {
        self.members.get(id as usize).map_or(0, |m| m.serf_events)
    }

    /// `consul members` as `id` lists them: alive, failed and left members not yet reaped.
    pub fn serf_members(&self, id: MemberId) -> usize {
        self.members
            .get(id as usize)
            .map_or(0, |m| m.serf_listed as usize)
    }

    /// Members `id` lists Alive or Suspect (memberlist's live view).
    pub fn alive_members_seen_by(&self, id: MemberId) -> usize {
        self.members.get(id as usize).map_or(0, |m| {
            m.view
                .iter()
                .filter(|e| matches!(e.state, MemberState::Alive | MemberState::Suspect))
                .count()
        })
    }

    pub fn live_members(&self) -> usize {
        self.running_ids.len()
    }

    /// How many members `id` lists as alive, suspect, or dead/failed/left not yet reaped
    /// (itself included): what `consul members` would print.
    pub fn view_size(&self, id: MemberId) -> usize {
        self.members.get(id as usize).map_or(0, |m| {
            m.view
                .iter()
                .filter(|e| e.state != MemberState::Unknown || e.serf != SerfStatus::None)
                .count()
        })
    }

    /// memberlist's table size (`estNumNodes`), the `n` of every formula.
    pub fn known_members(&self, id: MemberId) -> usize {
        self.members.get(id as usize).map_or(0, |m| m.nodes.len())
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
            if !m.running || !observer(oid as MemberId) {
                continue;
            }
            for (sid, e) in m.view.iter().enumerate() {
                let s = &self.members[sid];
                if s.started
                    && !s.running
                    && matches!(e.state, MemberState::Alive | MemberState::Suspect)
                {
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
        self.members.get(id as usize).map_or(0, |m| m.incarnation)
    }

    /// The local health score (`awareness.go`).
    pub fn awareness(&self, id: MemberId) -> u32 {
        self.members.get(id as usize).map_or(0, |m| m.awareness)
    }

    pub fn keyring(&self, id: MemberId) -> Option<KeyId> {
        self.members.get(id as usize).and_then(|m| m.keyring)
    }

    /// Phantom revivals adopted by `id` (see [`Counters::resurrections`]).
    pub fn resurrections_at(&self, id: MemberId) -> u64 {
        self.members.get(id as usize).map_or(0, |m| m.resurrections)
    }

    /// Crash time, first probe of the crashed member by anyone after it, first Dead
    /// declaration of it after it.
    pub fn crash_detection(&self, id: MemberId) -> (Option<Time>, Option<Time>, Option<Time>) {
        let i = id as usize;
        (
            self.crashed_at.get(i).copied().flatten(),
            self.first_probe_after_crash.get(i).copied().flatten(),
            self.first_dead_after_crash.get(i).copied().flatten(),
        )
    }

    /// A digest of every event processed (time, kind, arguments): equal digests mean equal
    /// traces.
    pub fn trace_digest(&self) -> u64 {
        self.digest
    }

    /// Items in `id`'s broadcast queue.
    pub fn queued_broadcasts(&self, id: MemberId) -> usize {
        self.members
            .get(id as usize)
            .map_or(0, |m| m.broadcasts.len())
    }

    /// Recounts the bookkeeping and checks the protocol invariants.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut listed = vec![0u32; self.members.len()];
        for (id, m) in self.members.iter().enumerate() {
            // A stopped member's table is freed (`stop_member`): nothing to check.
            if !m.started || !m.running {
                if self.running_pos[id] != u32::MAX {
                    return Err(format!("member {id} stopped but in the running list"));
                }
                continue;
            }
            if self.running_ids.get(self.running_pos[id] as usize) != Some(&(id as MemberId)) {
                return Err(format!("member {id} running but not in the running list"));
            }
            let me = m.view.get(id).copied().unwrap_or(UNKNOWN);
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
            if m.awareness >= self.cfg.awareness_max_multiplier.max(1) {
                return Err(format!("member {id}: awareness {}", m.awareness));
            }
            let serf = m.view.iter().filter(|e| e.serf != SerfStatus::None).count();
            if serf != m.serf_listed as usize {
                return Err(format!(
                    "member {id}: {serf} Serf members, counted {}",
                    m.serf_listed
                ));
            }
            let alive = m
                .view
                .iter()
                .filter(|e| e.serf == SerfStatus::Alive)
                .count();
            if alive != m.serf_alive as usize {
                return Err(format!(
                    "member {id}: {alive} alive for Serf, counted {}",
                    m.serf_alive
                ));
            }
            if m.stalled_until > self.now && self.cfg.snapshot.is_none_or(|s| !s.blocking) {
                return Err(format!("member {id} stalled without a blocking snapshot"));
            }
            let known = m
                .view
                .iter()
                .filter(|e| e.state != MemberState::Unknown)
                .count();
            if known != m.nodes.len() {
                return Err(format!(
                    "member {id}: {known} known, {} in nodes",
                    m.nodes.len()
                ));
            }
            for &n in &m.nodes {
                if m.view
                    .get(n as usize)
                    .is_none_or(|e| e.state == MemberState::Unknown)
                {
                    return Err(format!("member {id}: node {n} listed but unknown"));
                }
            }
            // A queued item has been sent fewer times than the limit of its last send, and
            // every limit is at most the one for the largest table possible.
            let bound = retransmit_limit(self.cfg.retransmit_mult, self.members.len());
            for (tr, subject) in m.broadcasts.transmits() {
                if tr > 0 && tr >= bound {
                    return Err(format!(
                        "member {id}: broadcast about {subject} sent {tr} times"
                    ));
                }
            }
            if m.running {
                for (sid, e) in m.view.iter().enumerate() {
                    if matches!(e.state, MemberState::Alive | MemberState::Suspect) {
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

    // ---------------------------------------------------------------- plumbing

    fn valid(&self, id: MemberId) -> bool {
        (id as usize) < self.members.len()
    }

    fn entry(&self, observer: MemberId, subject: MemberId) -> Entry {
        self.members
            .get(observer as usize)
            .and_then(|m| m.view.get(subject as usize))
            .copied()
            .unwrap_or(UNKNOWN)
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(queue_key(at.max(self.now), self.seq), ev);
    }

    /// Sets `m`'s record about `s`, keeping `listed_alive` and the probe list in step.
    fn set_entry(&mut self, m: MemberId, s: MemberId, e: Entry) {
        let mi = m as usize;
        let si = s as usize;
        let member = &mut self.members[mi];
        if member.view.len() <= si {
            member.view.resize(si + 1, UNKNOWN);
        }
        let old = member.view[si];
        member.view[si] = e;
        let serf_event = old.serf != e.serf && mi != si;
        if serf_event {
            member.serf_events += 1;
        }
        match (old.serf == SerfStatus::Alive, e.serf == SerfStatus::Alive) {
            (false, true) => member.serf_alive += 1,
            (true, false) => member.serf_alive = member.serf_alive.saturating_sub(1),
            _ => {}
        }
        match (old.serf == SerfStatus::Failed, e.serf == SerfStatus::Failed) {
            (false, true) => member.serf_failed += 1,
            (true, false) => member.serf_failed = member.serf_failed.saturating_sub(1),
            _ => {}
        }
        match (old.serf == SerfStatus::None, e.serf == SerfStatus::None) {
            (true, false) => member.serf_listed += 1,
            (false, true) => member.serf_listed = member.serf_listed.saturating_sub(1),
            _ => {}
        }
        let was = matches!(old.state, MemberState::Alive | MemberState::Suspect);
        let is = matches!(e.state, MemberState::Alive | MemberState::Suspect);
        if member.running && was != is {
            if is {
                self.listed_alive[si] += 1;
            } else {
                self.listed_alive[si] = self.listed_alive[si].saturating_sub(1);
            }
        }
        let member = &mut self.members[mi];
        if old.state == MemberState::Unknown && e.state != MemberState::Unknown {
            // `aliveNode`: append, then swap with a random position so that a new node is not
            // always probed last ("important to ensure the failure detection bound is low").
            member.nodes.push(s);
            let len = member.nodes.len();
            let j = member.rng.below(len as u64) as usize;
            member.nodes.swap(len - 1, j);
        } else if old.state != MemberState::Unknown && e.state == MemberState::Unknown {
            if let Some(pos) = member.nodes.iter().position(|&x| x == s) {
                member.nodes.remove(pos);
                if pos < member.probe_index {
                    member.probe_index -= 1;
                }
            }
        }
        // Join, failed and left reach Serf's snapshot (`processMemberEvent`).
        if serf_event && e.serf != SerfStatus::None && self.members[mi].running {
            self.snapshot_event(m);
        }
    }

    /// Serf's snapshotter gets a member event: it appends a line, compacting the file when
    /// it is past its limit. Before serf#524 a full buffer stalls the member until the
    /// snapshotter has room again; after, the event is dropped from the snapshot.
    fn snapshot_event(&mut self, m: MemberId) {
        let Some(sc) = self.cfg.snapshot else {
            return;
        };
        let now = self.now;
        let member = &mut self.members[m as usize];
        while member.snap_queue.front().is_some_and(|&t| t <= now) {
            member.snap_queue.pop_front();
        }
        if !sc.blocking && member.snap_queue.len() >= sc.buffer_events {
            self.counters.snapshot_events_dropped += 1;
            return;
        }
        let reps = sc.entries_per_member.max(1.0);
        let alive = f64::from(member.serf_alive) * reps;
        let alive_bytes = alive * sc.line_bytes;
        let max_bytes = sc.compaction.max_bytes(alive);
        member.snap_offset += sc.line_bytes * reps;
        let mut cost = sc.append_time.as_secs_f64() * reps;
        if member.snap_offset > max_bytes {
            // Compacted, the file is the alive lines; if that alone is past the limit, every
            // one of the events this one stands for compacts again.
            let compactions = if alive_bytes > max_bytes { reps } else { 1.0 };
            cost += compactions
                * (alive_bytes / sc.write_bytes_per_second + sc.fsync_time.as_secs_f64());
            member.snap_offset = alive_bytes;
            self.counters.snapshot_compactions += compactions.round() as u64;
        }
        let member = &mut self.members[m as usize];
        // The node's contention (its runtime daemon's load) slows the disk work too.
        let cost = Time::from_secs_f64(cost * member.slowdown);
        let start = member.snap_queue.back().copied().unwrap_or(now).max(now);
        member.snap_queue.push_back(start.saturating_add(cost));
        let len = member.snap_queue.len();
        if sc.blocking && len > sc.buffer_events {
            // Blocked until the queue is back to the buffer's size.
            let free_at = member.snap_queue[len - sc.buffer_events - 1];
            if free_at > member.stalled_until {
                let from = member.stalled_until.max(now);
                if member.stalled_until <= now {
                    self.counters.snapshot_stalls += 1;
                }
                self.counters.snapshot_stalled_us += (free_at - from).0;
                self.members[m as usize].stalled_until = free_at;
            }
        }
    }

    /// Whether the member is stalled behind its snapshot now.
    fn stalled(&self, m: MemberId) -> bool {
        self.members[m as usize].stalled_until > self.now
    }

    fn stop_member(&mut self, id: MemberId) {
        let m = &mut self.members[id as usize];
        if !m.running {
            return;
        }
        m.running = false;
        for (sid, e) in m.view.iter().enumerate() {
            if matches!(e.state, MemberState::Alive | MemberState::Suspect) {
                self.listed_alive[sid] = self.listed_alive[sid].saturating_sub(1);
            }
        }
        // A member id is never reused (a restarted pod is a new member) and a stopped member
        // handles nothing, so its table can go: memory follows the running members, not
        // every member that ever existed.
        let m = &mut self.members[id as usize];
        m.view = Vec::new();
        m.nodes = Vec::new();
        m.suspicions = crate::IdMap::default();
        m.failed_log = VecDeque::new();
        m.left_log = VecDeque::new();
        m.snap_queue = VecDeque::new();
        m.broadcasts = BroadcastQueue::default();
        m.handoff = Handoff::default();
        let pos = std::mem::replace(&mut self.running_pos[id as usize], u32::MAX);
        if pos != u32::MAX {
            self.running_ids.swap_remove(pos as usize);
            if let Some(&moved) = self.running_ids.get(pos as usize) {
                self.running_pos[moved as usize] = pos;
            }
        }
    }

    fn service(&self, id: MemberId, base: Time) -> Time {
        let f = self.members[id as usize].slowdown;
        Time::from_secs_f64(base.as_secs_f64() * f)
    }

    fn latency(&mut self) -> Time {
        let u = self.net.unit();
        let jitter = -self.cfg.latency_jitter.as_secs_f64() * (1.0 - u).ln();
        self.cfg.latency.saturating_add(Time::from_secs_f64(jitter))
    }

    /// Bytes a compound packet from `m` has for messages: the UDP buffer less the compound
    /// header and, with a keyring, the encryption overhead (`net.go`, `security.go`).
    fn packet_budget(&self, m: MemberId) -> u32 {
        let enc = if self.members[m as usize].keyring.is_some() {
            self.cfg.encrypt_overhead
        } else {
            0
        };
        self.cfg
            .udp_buffer_size
            .saturating_sub(self.cfg.compound_header_overhead)
            .saturating_sub(enc)
    }

    /// Sends a packet from `from` to `to`, piggybacking `from`'s queued broadcasts
    /// (`net.go sendMsg`) unless it is a gossip packet whose rumours are already in `piggy`.
    fn send(&mut self, from: MemberId, to: MemberId, msg: Msg, mut piggy: Vec<Rumor>) {
        if !self.valid(to) {
            return;
        }
        let key = self.members[from as usize].keyring;
        if msg != Msg::Gossip {
            let budget = self
                .packet_budget(from)
                .saturating_sub(self.cfg.probe_msg_size);
            self.take_broadcasts(from, budget, &mut piggy);
        }
        self.counters.packets_sent += 1;
        if self.members[from as usize].net_group != self.members[to as usize].net_group {
            self.counters.packets_lost += 1;
            return;
        }
        if self.cfg.loss > 0.0 && self.net.unit() < self.cfg.loss {
            self.counters.packets_lost += 1;
            return;
        }
        let arrive = self.now.saturating_add(self.latency());
        // The receiver's listener handles packets one at a time (in send order, an
        // approximation of arrival order that differs only by latency jitter).
        let cost = self.service(to, self.cfg.packet_service_time);
        let rx = &mut self.members[to as usize];
        // A stalled member's listener blocks too: answering a ping asks Serf for its
        // broadcasts, whose queue asks for the member count under the lock the stalled
        // event path holds.
        let done = arrive
            .max(rx.listener_busy)
            .max(rx.stalled_until)
            .saturating_add(cost);
        rx.listener_busy = done;
        let packet = Packet {
            from,
            to,
            key,
            msg,
            piggy,
        };
        let slot = put_in_slot(&mut self.packets, &mut self.free_packets, packet);
        self.schedule(done, Ev::Deliver(slot));
    }

    fn take_broadcasts(&mut self, from: MemberId, budget: u32, out: &mut Vec<Rumor>) {
        let m = &mut self.members[from as usize];
        if m.broadcasts.is_empty() {
            return;
        }
        let limit = retransmit_limit(self.cfg.retransmit_mult, m.nodes.len());
        let before = out.len();
        m.broadcasts
            .get(self.cfg.compound_overhead, budget, limit, out);
        self.counters.broadcasts_sent += (out.len() - before) as u64;
    }

    /// Keyring delivery rule (design §3): same key, or both plaintext, or plaintext to a
    /// keyed receiver that does not verify incoming.
    fn can_read(&self, sender_key: Option<KeyId>, rx: MemberId) -> bool {
        match (sender_key, self.members[rx as usize].keyring) {
            (Some(a), Some(b)) => a == b,
            (None, None) => true,
            (None, Some(_)) => !self.cfg.gossip_verify_incoming,
            (Some(_), None) => false,
        }
    }

    fn queue_broadcast(&mut self, m: MemberId, rumor: Rumor) {
        let size = match rumor.kind {
            RumorKind::Alive => self.cfg.alive_msg_size,
            RumorKind::Suspect | RumorKind::Dead => self.cfg.suspect_msg_size,
        };
        let member = &mut self.members[m as usize];
        member.broadcasts.push(rumor, size);
        if !member.gossip_armed && member.running && self.cfg.gossip_interval.0 > 0 {
            member.gossip_armed = true;
            // Next tick of the member's gossip ticker strictly after now.
            let iv = self.cfg.gossip_interval.0;
            let phase = member.gossip_phase.0 % iv;
            let k = (self.now.0.saturating_sub(phase)) / iv + 1;
            let at = Time(phase.saturating_add(k.saturating_mul(iv)));
            self.schedule(at, Ev::GossipTick(m));
        }
    }

    // ---------------------------------------------------------------- events

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver(slot) => {
                let Some(p) = self.packets.get_mut(slot as usize).and_then(Option::take) else {
                    return;
                };
                self.free_packets.push(slot);
                self.on_packet(p);
            }
            Ev::Stream(slot) => {
                // A stalled receiver's merge waits for the node lock.
                let to = self
                    .streams
                    .get(slot as usize)
                    .and_then(|p| p.as_ref())
                    .map(|p| p.to);
                if let Some(to) = to.filter(|&to| self.valid(to) && self.stalled(to)) {
                    let at = self.members[to as usize].stalled_until;
                    self.schedule(at, Ev::Stream(slot));
                    return;
                }
                let Some(pp) = self.streams.get_mut(slot as usize).and_then(Option::take) else {
                    return;
                };
                self.free_streams.push(slot);
                self.on_stream(pp);
            }
            Ev::Start(id) => {
                let m = &mut self.members[id as usize];
                if m.started {
                    return;
                }
                let me = Entry {
                    inc: m.incarnation,
                    state: MemberState::Alive,
                    serf: SerfStatus::Alive,
                    change: self.now,
                };
                self.set_entry(id, id, me);
                self.start_member(id, true);
                // `setAlive` queues an alive broadcast about ourselves.
                let inc = self.members[id as usize].incarnation;
                self.queue_broadcast(id, alive(id, inc));
                self.join(id);
            }
            Ev::Crash(id) => {
                if self.members[id as usize].running {
                    self.stop_member(id);
                    self.crashed_at[id as usize] = Some(self.now);
                }
            }
            Ev::Shutdown(id) => self.stop_member(id),
            Ev::Slowdown(id, bits) => self.members[id as usize].slowdown = f64::from_bits(bits),
            Ev::Keyring(id, k) => self.members[id as usize].keyring = k,
            Ev::NetGroup(id, g) => self.members[id as usize].net_group = g,
            _ => self.member_event(ev),
        }
    }

    fn start_member(&mut self, id: MemberId, count_listings: bool) {
        let now = self.now;
        let cfg = &self.cfg;
        if self.running_pos[id as usize] == u32::MAX {
            self.running_pos[id as usize] = self.running_ids.len() as u32;
            self.running_ids.push(id);
        }
        let m = &mut self.members[id as usize];
        m.started = true;
        m.running = true;
        let stagger = |rng: &mut Rng, iv: Time| {
            if iv.0 == 0 {
                Time::ZERO
            } else {
                Time(rng.below(iv.0))
            }
        };
        let probe_at = if cfg.probe_stagger {
            now + stagger(&mut m.rng, cfg.probe_interval)
        } else {
            // Next multiple of the interval: every member on one grid.
            let iv = cfg.probe_interval.0.max(1);
            Time(now.0.div_ceil(iv).saturating_mul(iv))
        };
        m.gossip_phase = now + stagger(&mut m.rng, cfg.gossip_interval);
        let pp_at = now + stagger(&mut m.rng, cfg.push_pull_interval);
        let reap_at = now + stagger(&mut m.rng, cfg.reap_interval);
        let has_pp = cfg.push_pull_interval.0 > 0;
        let has_probe = cfg.probe_interval.0 > 0;
        let has_reap = cfg.reap_interval.0 > 0;
        let listed: Vec<usize> = m
            .view
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.state, MemberState::Alive | MemberState::Suspect))
            .map(|(i, _)| i)
            .collect();
        if count_listings {
            // `set_entry` counts listings of running members only; this one just started.
            for sid in listed {
                self.listed_alive[sid] += 1;
            }
        }
        if has_probe {
            self.schedule(probe_at, Ev::ProbeTick(id));
        }
        if has_pp {
            self.schedule(pp_at, Ev::PushPullTick(id));
        }
        if has_reap {
            self.schedule(reap_at, Ev::ReapTick(id));
        }
        if self.cfg.reconnect_interval.0 > 0 {
            let iv = self.cfg.reconnect_interval;
            let at = now + stagger(&mut self.members[id as usize].rng, iv);
            self.schedule(at, Ev::ReconnectTick(id));
        }
    }

    /// Join: a push/pull with a random running member (memberlist `Join` -> `pushPullNode(join)`).
    fn join(&mut self, id: MemberId) {
        let targets: Vec<MemberId> = self
            .join_targets
            .iter()
            .copied()
            .filter(|&t| t != id && self.members[t as usize].running)
            .collect();
        if !targets.is_empty() {
            let peer = targets[self.net.below(targets.len() as u64) as usize];
            self.start_push_pull(id, peer);
            return;
        }
        // Every running member but `id` itself (which is running, so in the list).
        let n = self.running_ids.len() as u64;
        if n < 2 {
            return;
        }
        let mut k = self.net.below(n - 1) as usize;
        if self.running_ids[k] == id {
            k = (n - 1) as usize;
        }
        let peer = self.running_ids[k];
        self.start_push_pull(id, peer);
    }

    fn member_event(&mut self, ev: Ev) {
        let id = match ev {
            Ev::ProbeTick(m)
            | Ev::ProbeTimeout(m, _)
            | Ev::ProbeDeadline(m, _)
            | Ev::NackTimer(m, _)
            | Ev::GossipTick(m)
            | Ev::PushPullTick(m)
            | Ev::Suspicion(m, _)
            | Ev::HandoffDone(m)
            | Ev::ReapTick(m)
            | Ev::ReconnectTick(m)
            | Ev::Leave(m)
            | Ev::UpdateNode(m) => m,
            _ => return,
        };
        if !self.members[id as usize].running {
            return;
        }
        match ev {
            Ev::ProbeTick(m) => {
                let iv = self.cfg.probe_interval;
                self.schedule(self.now.saturating_add(iv), Ev::ProbeTick(m));
                if self.stalled(m) {
                    // The probe loop waits on the node lock the stalled handler holds.
                    return;
                }
                if self.members[m as usize].probe.is_some() {
                    self.members[m as usize].tick_pending = true;
                } else {
                    self.probe(m);
                }
            }
            Ev::ProbeTimeout(m, seq) => self.probe_timeout(m, seq),
            Ev::ProbeDeadline(m, seq) => self.probe_deadline(m, seq),
            Ev::NackTimer(m, seq) => {
                let member = &mut self.members[m as usize];
                if let Some(pos) = member.relays.iter().position(|r| r.seq == seq) {
                    let r = member.relays.swap_remove(pos);
                    self.send(m, r.origin, Msg::Nack { seq: r.origin_seq }, Vec::new());
                }
            }
            Ev::GossipTick(m) => self.gossip(m),
            Ev::PushPullTick(m) => {
                let n = self.members[m as usize].nodes.len();
                let next = self
                    .now
                    .saturating_add(push_pull_scale(self.cfg.push_pull_interval, n));
                self.schedule(next, Ev::PushPullTick(m));
                if self.stalled(m) {
                    return;
                }
                let peers = self.k_random_nodes(m, 1, None, |e, _| e.state == MemberState::Alive);
                if let Some(&peer) = peers.first() {
                    self.start_push_pull(m, peer);
                }
            }
            Ev::Suspicion(m, s) => self.suspicion_expired(m, s),
            Ev::HandoffDone(m) => {
                let r = self.members[m as usize].handoff.in_service.take();
                if r.is_none() {
                    self.members[m as usize].resume_armed = false;
                }
                if let Some(r) = r {
                    self.counters.messages_processed += 1;
                    self.apply(m, r);
                }
                self.next_handoff(m);
            }
            Ev::ReapTick(m) => self.reap(m),
            Ev::ReconnectTick(m) => self.reconnect(m),
            Ev::Leave(m) => {
                if self.members[m as usize].leaving {
                    return;
                }
                self.members[m as usize].leaving = true;
                let inc = self.members[m as usize].incarnation;
                self.dead_node(
                    m,
                    Rumor {
                        kind: RumorKind::Dead,
                        subject: m,
                        incarnation: inc,
                        from: m,
                    },
                );
                let at = self.now.saturating_add(self.cfg.leave_propagate_delay);
                self.schedule(at, Ev::Shutdown(m));
            }
            Ev::UpdateNode(m) => {
                let member = &mut self.members[m as usize];
                if member.leaving {
                    return;
                }
                member.incarnation = member.incarnation.saturating_add(1);
                let inc = member.incarnation;
                self.announce_alive(m, inc);
            }
            _ => {}
        }
    }

    /// memberlist `kRandomNodes`: up to `k` distinct members from `m`'s list, trying at most
    /// `3 * len` random positions, keeping those `keep` accepts (never `m` itself nor
    /// `exclude`).
    fn k_random_nodes(
        &mut self,
        m: MemberId,
        k: u32,
        exclude: Option<MemberId>,
        keep: impl Fn(&Entry, Time) -> bool,
    ) -> Vec<MemberId> {
        let now = self.now;
        let member = &mut self.members[m as usize];
        let n = member.nodes.len();
        let mut out = Vec::with_capacity(k as usize);
        if n == 0 {
            return out;
        }
        let mut i = 0;
        while i < 3 * n && out.len() < k as usize {
            i += 1;
            let idx = member.rng.below(n as u64) as usize;
            let s = member.nodes[idx];
            if s == m || Some(s) == exclude || out.contains(&s) {
                continue;
            }
            let e = member.view.get(s as usize).copied().unwrap_or(UNKNOWN);
            if keep(&e, now) {
                out.push(s);
            }
        }
        out
    }

    // ---------------------------------------------------------------- probing

    /// `state.go probe`: pick the next target and probe it.
    fn probe(&mut self, m: MemberId) {
        let target = match self.cfg.probe_selection {
            ProbeSelection::UniformRandom => self
                .k_random_nodes(m, 1, None, |e, _| {
                    matches!(e.state, MemberState::Alive | MemberState::Suspect)
                })
                .first()
                .copied(),
            ProbeSelection::RoundRobin => self.next_round_robin(m),
        };
        if let Some(t) = target {
            self.probe_node(m, t);
        }
    }

    fn next_round_robin(&mut self, m: MemberId) -> Option<MemberId> {
        let mut checks = 0usize;
        loop {
            let len = self.members[m as usize].nodes.len();
            if checks >= len {
                return None;
            }
            if self.members[m as usize].probe_index >= len {
                self.reset_nodes(m);
                self.members[m as usize].probe_index = 0;
                checks += 1;
                continue;
            }
            let member = &mut self.members[m as usize];
            let s = member.nodes[member.probe_index];
            member.probe_index += 1;
            let e = member.view.get(s as usize).copied().unwrap_or(UNKNOWN);
            if s == m || matches!(e.state, MemberState::Dead | MemberState::Left) {
                checks += 1;
                continue;
            }
            return Some(s);
        }
    }

    /// `state.go resetNodes`: forget Dead/Left members older than `gossip_to_the_dead_time`
    /// (memberlist's only forgetting; Serf keeps them as failed/left), then shuffle.
    fn reset_nodes(&mut self, m: MemberId) {
        let now = self.now;
        let gttd = self.cfg.gossip_to_the_dead_time;
        let member = &mut self.members[m as usize];
        let mut forget = Vec::new();
        member.nodes.retain(|&s| {
            let e = member.view[s as usize];
            let old =
                matches!(e.state, MemberState::Dead | MemberState::Left) && now - e.change > gttd;
            if old {
                forget.push(s);
            }
            !old
        });
        for &s in &forget {
            member.view[s as usize].state = MemberState::Unknown;
        }
        self.counters.forgotten += forget.len() as u64;
        let member = &mut self.members[m as usize];
        shuffle(&mut member.nodes, &mut member.rng);
    }

    /// `state.go probeNode`, up to the wait for the direct ack.
    fn probe_node(&mut self, m: MemberId, target: MemberId) {
        let now = self.now;
        let member = &mut self.members[m as usize];
        member.seq = member.seq.wrapping_add(1);
        let seq = member.seq;
        let scale = u64::from(member.awareness) + 1;
        let deadline = now.saturating_add(Time(self.cfg.probe_interval.0.saturating_mul(scale)));
        member.probe = Some(Probe {
            seq,
            target,
            deadline,
            expected_nacks: 0,
            nacks: 0,
        });
        self.counters.pings += 1;
        if !self.members[target as usize].running
            && self.crashed_at[target as usize].is_some()
            && self.first_probe_after_crash[target as usize].is_none()
        {
            self.first_probe_after_crash[target as usize] = Some(now);
        }
        let e = self.entry(m, target);
        let mut piggy = Vec::new();
        if e.state != MemberState::Alive && self.cfg.buddy_suspect {
            // Lifeguard's buddy system: tell the suspect directly so it can refute at once.
            piggy.push(Rumor {
                kind: RumorKind::Suspect,
                subject: target,
                incarnation: e.inc,
                from: m,
            });
        }
        self.send(m, target, Msg::Ping { seq }, piggy);
        let at = now.saturating_add(self.cfg.probe_timeout);
        self.schedule(at, Ev::ProbeTimeout(m, seq));
    }

    fn probe_timeout(&mut self, m: MemberId, seq: u32) {
        let Some(p) = self.members[m as usize].probe else {
            return;
        };
        if p.seq != seq {
            return;
        }
        let relays = self.k_random_nodes(m, self.cfg.indirect_checks, Some(p.target), |e, _| {
            e.state == MemberState::Alive
        });
        if let Some(probe) = self.members[m as usize].probe.as_mut() {
            probe.expected_nacks = relays.len() as u32;
        }
        for r in relays {
            self.counters.indirect_pings += 1;
            self.send(
                m,
                r,
                Msg::IndirectPing {
                    seq,
                    target: p.target,
                },
                Vec::new(),
            );
        }
        self.schedule(p.deadline, Ev::ProbeDeadline(m, seq));
    }

    fn probe_deadline(&mut self, m: MemberId, seq: u32) {
        let Some(p) = self.members[m as usize].probe else {
            return;
        };
        if p.seq != seq {
            return;
        }
        // Awareness: +missed nacks, or +1 with no nack-capable relay.
        let delta = if p.expected_nacks > 0 {
            p.expected_nacks.saturating_sub(p.nacks)
        } else {
            1
        };
        self.apply_awareness(m, delta as i64);
        self.counters.suspicions_raised += 1;
        if self.members[p.target as usize].running {
            self.counters.false_suspicions += 1;
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
        let member = &mut self.members[m as usize];
        member.probe = None;
        if member.tick_pending {
            member.tick_pending = false;
            self.probe(m);
        }
    }

    fn apply_awareness(&mut self, m: MemberId, delta: i64) {
        let max = i64::from(self.cfg.awareness_max_multiplier.max(1)) - 1;
        let member = &mut self.members[m as usize];
        member.awareness = (i64::from(member.awareness) + delta).clamp(0, max) as u32;
    }

    // ---------------------------------------------------------------- packets

    fn on_packet(&mut self, p: Packet) {
        let to = p.to;
        if !self.members[to as usize].running {
            return;
        }
        if !self.can_read(p.key, to) {
            self.counters.packets_undecryptable += 1;
            return;
        }
        match p.msg {
            Msg::Ping { seq } => {
                self.send(to, p.from, Msg::Ack { seq }, Vec::new());
            }
            Msg::IndirectPing { seq, target } => {
                let member = &mut self.members[to as usize];
                member.seq = member.seq.wrapping_add(1);
                let local = member.seq;
                member.relays.push(Relay {
                    seq: local,
                    origin: p.from,
                    origin_seq: seq,
                });
                self.send(to, target, Msg::Ping { seq: local }, Vec::new());
                let at = self.now.saturating_add(self.cfg.probe_timeout);
                self.schedule(at, Ev::NackTimer(to, local));
            }
            Msg::Ack { seq } => {
                let member = &mut self.members[to as usize];
                if let Some(pos) = member.relays.iter().position(|r| r.seq == seq) {
                    let r = member.relays.swap_remove(pos);
                    self.send(to, r.origin, Msg::Ack { seq: r.origin_seq }, Vec::new());
                } else if let Some(probe) = member.probe {
                    if probe.seq == seq && self.now <= probe.deadline {
                        self.counters.acks += 1;
                        self.apply_awareness(to, -1);
                        self.probe_done(to);
                    }
                }
            }
            Msg::Nack { seq } => {
                if let Some(probe) = self.members[to as usize].probe.as_mut() {
                    if probe.seq == seq && self.now <= probe.deadline {
                        probe.nacks += 1;
                        self.counters.nacks += 1;
                    }
                }
            }
            Msg::Gossip => {}
        }
        for r in p.piggy {
            self.handoff(to, r);
        }
    }

    /// `net.go handleCommand`: queue an alive/suspect/dead message for the handler, dropping it
    /// if its queue is full.
    fn handoff(&mut self, m: MemberId, r: Rumor) {
        let depth = self.cfg.handoff_queue_depth;
        let h = &mut self.members[m as usize].handoff;
        let q = match (self.cfg.handoff_policy, r.kind) {
            (HandoffPolicy::AlivePriorityLifo, RumorKind::Alive) => &mut h.high,
            _ => &mut h.low,
        };
        if q.len() >= depth {
            self.counters.handoff_drops += 1;
            return;
        }
        q.push_back(r);
        if h.in_service.is_none() {
            self.next_handoff(m);
        }
    }

    /// The handler takes the next message (`getNextMessage`) and applies it after its service
    /// time; with no service time it applies everything queued at once.
    fn next_handoff(&mut self, m: MemberId) {
        loop {
            let policy = self.cfg.handoff_policy;
            if self.stalled(m) {
                let member = &mut self.members[m as usize];
                if member.handoff.in_service.is_none() && !member.resume_armed {
                    member.resume_armed = true;
                    let at = member.stalled_until;
                    self.schedule(at, Ev::HandoffDone(m));
                }
                return;
            }
            let h = &mut self.members[m as usize].handoff;
            if h.in_service.is_some() {
                return;
            }
            let next = match policy {
                HandoffPolicy::Fifo => h.low.pop_front(),
                HandoffPolicy::AlivePriorityLifo => h.high.pop_back().or_else(|| h.low.pop_back()),
            };
            let Some(r) = next else {
                return;
            };
            let cost = self.service(m, self.cfg.handoff_service_time);
            if cost.0 == 0 {
                self.counters.messages_processed += 1;
                self.apply(m, r);
                continue;
            }
            self.members[m as usize].handoff.in_service = Some(r);
            let at = self.now.saturating_add(cost);
            self.schedule(at, Ev::HandoffDone(m));
            return;
        }
    }

    fn apply(&mut self, m: MemberId, r: Rumor) {
        if !self.members[m as usize].running {
            return;
        }
        match r.kind {
            RumorKind::Alive => self.alive_node(m, r.subject, r.incarnation),
            RumorKind::Suspect => self.suspect_node(m, r),
            RumorKind::Dead => self.dead_node(m, r),
        }
    }

    fn gossip(&mut self, m: MemberId) {
        if self.members[m as usize].broadcasts.is_empty() {
            self.members[m as usize].gossip_armed = false;
            return;
        }
        let iv = self.cfg.gossip_interval;
        self.schedule(self.now.saturating_add(iv), Ev::GossipTick(m));
        if self.stalled(m) {
            return;
        }
        let gttd = self.cfg.gossip_to_the_dead_time;
        let targets = self.k_random_nodes(m, self.cfg.gossip_nodes, None, |e, now| match e.state {
            MemberState::Alive | MemberState::Suspect => true,
            MemberState::Dead => now - e.change <= gttd,
            _ => false,
        });
        let budget = self.packet_budget(m);
        for t in targets {
            let mut msgs = Vec::new();
            self.take_broadcasts(m, budget, &mut msgs);
            if msgs.is_empty() {
                return;
            }
            self.send(m, t, Msg::Gossip, msgs);
        }
    }

    // ---------------------------------------------------------------- state rules

    /// `state.go aliveNode`.
    fn alive_node(&mut self, m: MemberId, s: MemberId, inc: u32) {
        let now = self.now;
        let e = self.entry(m, s);
        if s == m {
            // About ourselves: older or equal is ignored; a newer one is refuted.
            let own = self.members[m as usize].incarnation;
            if inc > own && !self.members[m as usize].leaving {
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
        let suspicions = &mut self.members[m as usize].suspicions;
        if !suspicions.is_empty() {
            suspicions.remove(&s);
        }
        if matches!(
            e.state,
            MemberState::Unknown | MemberState::Dead | MemberState::Left
        ) && self.members[s as usize].started
            && !self.members[s as usize].running
        {
            self.counters.resurrections += 1;
            self.members[m as usize].resurrections += 1;
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
    fn suspect_node(&mut self, m: MemberId, r: Rumor) {
        let now = self.now;
        let s = r.subject;
        let e = self.entry(m, s);
        if e.state == MemberState::Unknown || r.incarnation < e.inc {
            return;
        }
        if let Some(susp) = self.members[m as usize].suspicions.get_mut(&s) {
            // `Confirm`: counts distinct accusers up to k and shortens the timer.
            if susp.confirmations >= susp.k || susp.confirmers.contains(&r.from) {
                return;
            }
            susp.confirmers.push(r.from);
            susp.confirmations += 1;
            let left = remaining_suspicion_time(
                susp.confirmations,
                susp.k,
                now - susp.start,
                susp.min,
                susp.max,
            );
            susp.fire_at = now.saturating_add(left);
            let at = susp.fire_at;
            self.schedule(at, Ev::Suspicion(m, s));
            self.queue_broadcast(m, r);
            return;
        }
        if e.state != MemberState::Alive {
            return;
        }
        if s == m {
            if !self.members[m as usize].leaving {
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
        let n = self.members[m as usize].nodes.len();
        let mut k = self.cfg.suspicion_mult.saturating_sub(2);
        if (n as i64 - 2) < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(self.cfg.suspicion_mult, n, self.cfg.probe_interval);
        let max = Time(
            min.0
                .saturating_mul(u64::from(self.cfg.suspicion_max_timeout_mult)),
        );
        let timeout = if k < 1 { min } else { max };
        let fire_at = now.saturating_add(timeout);
        self.members[m as usize].suspicions.insert(
            s,
            Suspicion {
                start: now,
                k,
                min,
                max,
                confirmers: vec![r.from],
                confirmations: 0,
                fire_at,
            },
        );
        self.schedule(fire_at, Ev::Suspicion(m, s));
    }

    fn suspicion_expired(&mut self, m: MemberId, s: MemberId) {
        let Some(susp) = self.members[m as usize].suspicions.get(&s) else {
            return;
        };
        if susp.fire_at != self.now {
            return; // a stale timer: the suspicion was shortened
        }
        self.members[m as usize].suspicions.remove(&s);
        let e = self.entry(m, s);
        if e.state != MemberState::Suspect {
            return;
        }
        self.counters.dead_declarations += 1;
        let subject = &self.members[s as usize];
        if subject.running {
            self.counters.false_dead_declarations += 1;
            if subject.slowdown <= 1.0 {
                self.counters.false_dead_of_healthy += 1;
            }
        }
        if self.crashed_at[s as usize].is_some()
            && self.first_dead_after_crash[s as usize].is_none()
        {
            self.first_dead_after_crash[s as usize] = Some(self.now);
        }
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
    fn dead_node(&mut self, m: MemberId, r: Rumor) {
        let now = self.now;
        let s = r.subject;
        let e = self.entry(m, s);
        if e.state == MemberState::Unknown || r.incarnation < e.inc {
            return;
        }
        let suspicions = &mut self.members[m as usize].suspicions;
        if !suspicions.is_empty() {
            suspicions.remove(&s);
        }
        if matches!(e.state, MemberState::Dead | MemberState::Left) {
            return;
        }
        if s == m && !self.members[m as usize].leaving {
            self.refute(m, r.incarnation);
            return;
        }
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
        let member = &mut self.members[m as usize];
        if left {
            member.left_log.push_back((now, s));
        } else {
            member.failed_log.push_back((now, s));
        }
        self.queue_broadcast(m, r);
    }

    /// `state.go refute`: `inc = max(own + 1, accused + 1)`, awareness +1, broadcast alive.
    fn refute(&mut self, m: MemberId, accused: u32) {
        let member = &mut self.members[m as usize];
        let inc = member
            .incarnation
            .saturating_add(1)
            .max(accused.saturating_add(1));
        member.incarnation = inc;
        self.counters.refutations += 1;
        self.apply_awareness(m, 1);
        self.announce_alive(m, inc);
    }

    /// The member records itself alive at incarnation `inc` and broadcasts it (a refutation,
    /// or `UpdateNode`).
    fn announce_alive(&mut self, m: MemberId, inc: u32) {
        let e = Entry {
            inc,
            state: MemberState::Alive,
            serf: SerfStatus::Alive,
            change: self.now,
        };
        self.set_entry(m, m, e);
        self.queue_broadcast(m, alive(m, inc));
    }

    /// Serf `handleReap`: erase failed members older than `reconnect_timeout` and left ones
    /// older than `tombstone_timeout`.
    fn reap(&mut self, m: MemberId) {
        let iv = self.cfg.reap_interval;
        self.schedule(self.now.saturating_add(iv), Ev::ReapTick(m));
        for (failed, timeout) in [
            (true, self.cfg.reconnect_timeout),
            (false, self.cfg.tombstone_timeout),
        ] {
            loop {
                let member = &mut self.members[m as usize];
                let log = if failed {
                    &mut member.failed_log
                } else {
                    &mut member.left_log
                };
                let Some(&(t, s)) = log.front() else { break };
                if self.now - t <= timeout {
                    break;
                }
                log.pop_front();
                let e = member.view[s as usize];
                let want = if failed {
                    SerfStatus::Failed
                } else {
                    SerfStatus::Left
                };
                if e.serf != want || e.change != t {
                    continue; // revived or re-failed since
                }
                self.counters.reaped += 1;
                let mut ne = e;
                ne.serf = SerfStatus::None;
                if matches!(e.state, MemberState::Dead | MemberState::Left) {
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
    fn reconnect(&mut self, m: MemberId) {
        let iv = self.cfg.reconnect_interval;
        self.schedule(self.now.saturating_add(iv), Ev::ReconnectTick(m));
        if self.stalled(m) {
            return;
        }
        let member = &mut self.members[m as usize];
        if member.serf_failed == 0 || member.failed_log.is_empty() {
            return;
        }
        let alive = f64::from(member.serf_alive.max(1));
        if member.rng.unit() > f64::from(member.serf_failed) / alive {
            return;
        }
        let n = member.failed_log.len() as u64;
        let (t, s) = member.failed_log[member.rng.below(n) as usize];
        let e = member.view[s as usize];
        if e.serf != SerfStatus::Failed || e.change != t {
            return;
        }
        self.start_push_pull(m, s);
    }

    // ---------------------------------------------------------------- push/pull

    fn start_push_pull(&mut self, from: MemberId, to: MemberId) {
        let entries = self.snapshot(from);
        let key = self.members[from as usize].keyring;
        self.send_stream(PushPull {
            from,
            to,
            key,
            reply: false,
            entries,
        });
    }

    fn snapshot(&self, m: MemberId) -> Vec<(MemberId, u32, MemberState)> {
        let member = &self.members[m as usize];
        member
            .nodes
            .iter()
            .map(|&s| {
                let e = member.view[s as usize];
                (s, e.inc, e.state)
            })
            .collect()
    }

    fn send_stream(&mut self, pp: PushPull) {
        let at = self.now.saturating_add(self.latency());
        let slot = put_in_slot(&mut self.streams, &mut self.free_streams, pp);
        self.schedule(at, Ev::Stream(slot));
    }

    /// `net.go handleConn` (request) and `sendAndReceiveState` (reply): the receiver of a
    /// request sends its own state back, then merges; the initiator merges the reply.
    fn on_stream(&mut self, pp: PushPull) {
        let to = pp.to;
        if !self.members[to as usize].running
            || !self.can_read(pp.key, to)
            || self.members[to as usize].net_group != self.members[pp.from as usize].net_group
        {
            self.counters.push_pull_failures += 1;
            return;
        }
        if !pp.reply {
            let entries = self.snapshot(to);
            let key = self.members[to as usize].keyring;
            self.send_stream(PushPull {
                from: to,
                to: pp.from,
                key,
                reply: true,
                entries,
            });
        }
        self.counters.push_pull_merges += 1;
        // `mergeState`: alive -> aliveNode; left -> deadNode(from = the node); dead or suspect
        // -> suspectNode(from = us), never an instant death.
        for (s, inc, state) in pp.entries {
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
                MemberState::Dead | MemberState::Left => {
                    matches!(local.state, MemberState::Dead | MemberState::Left) && inc <= local.inc
                }
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

/// Stores `v` in a free slot of `slots` (reusing one from `free` if any) and returns its index.
fn put_in_slot<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, v: T) -> u32 {
    match free.pop() {
        Some(s) => {
            slots[s as usize] = Some(v);
            s
        }
        None => {
            slots.push(Some(v));
            (slots.len() - 1) as u32
        }
    }
}

fn alive(s: MemberId, inc: u32) -> Rumor {
    Rumor {
        kind: RumorKind::Alive,
        subject: s,
        incarnation: inc,
        from: s,
    }
}

/// Fisher-Yates (`util.go shuffleNodes`).
fn shuffle(v: &mut [MemberId], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}
