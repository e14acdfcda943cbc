//! The mesh: the members, the network between them, and the event queue that drives them.
//! Inputs (spawn, leave, crash, set_*) arrive here, and each event is dispatched to the part
//! of memberlist or Serf it belongs to.

use cascade_engine::Rng;
use cascade_engine::{Duration, Time};

use crate::event::{Clock, Ev, TraceDigest};
use crate::member::{shuffle, Entry, Member, MemberState, Running, SerfStatus, Table};
use crate::network::Network;
use crate::observe::{Counters, CrashLog};
use crate::serf::Snapshotter;
use crate::state::alive;
use crate::{Config, KeyId, MemberId};

/// The simulated gossip pool.
///
/// The clock contract: the mesh owns its clock and event queue (`event.rs Clock`, ordered by
/// (time, scheduling order) as `cascade_engine::Engine` is). Every input method takes the time
/// `at` it happens at (never before [`Mesh::now`]: inputs come in time order). If `at` is
/// later than now, the input first advances the mesh to `at`, processing every event up to and
/// including `at`; then it queues itself as an event at `at`, applied at the next advance. So
/// callers need not advance the mesh before an input, and inputs at one instant are applied
/// together, in call order.
pub struct Mesh {
    pub(crate) cfg: Config,
    seed: u64,
    clock: Clock,
    pub(crate) digest: TraceDigest,
    pub(crate) members: Vec<Member>,
    pub(crate) net: Network,
    pub(crate) counters: Counters,
    /// For each subject, how many running members list it Alive or Suspect.
    pub(crate) listed_alive: Vec<u32>,
    pub(crate) crashes: CrashLog,
    pub(crate) running: Running,
    /// Consul's `retry_join` addresses (the servers): a new member joins through one of these
    /// that is running; through any running member when empty.
    pub(crate) join_targets: Vec<MemberId>,
}

impl Mesh {
    /// An empty mesh.
    pub fn new(cfg: Config, seed: u64) -> Mesh {
        Mesh {
            net: Network::new(&cfg, seed),
            cfg,
            seed,
            clock: Clock::new(),
            digest: TraceDigest::default(),
            members: Vec::new(),
            counters: Counters::default(),
            listed_alive: Vec::new(),
            crashes: CrashLog::default(),
            running: Running::default(),
            join_targets: Vec::new(),
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
        let alive = Entry {
            inc: 1,
            state: MemberState::Alive,
            serf: SerfStatus::Alive,
            change: Time::ZERO,
        };
        for id in 0..n {
            let m = &mut mesh.members[id as usize];
            m.table = Table {
                view: vec![alive; size],
                nodes: (0..n).map(MemberId::new).collect(),
                ..Table::default()
            };
            m.table.serf.listed = n;
            m.table.serf.alive = n;
            m.serf.snapshot = Snapshotter::compacted(&mesh.cfg, n);
            shuffle(&mut m.table.nodes, &mut m.rng);
        }
        for c in mesh.listed_alive.iter_mut() {
            *c = n;
        }
        for id in 0..n {
            mesh.start_member(MemberId::new(id), false);
        }
        mesh
    }

    fn alloc_member(&mut self, keyring: Option<KeyId>) -> MemberId {
        let id = MemberId::at(self.members.len());
        let rng = Rng::stream(
            self.seed ^ u64::from(id.get()).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            "gossip-member",
        );
        self.members.push(Member::new(keyring, rng));
        self.net.add_member();
        self.running.add_member();
        self.listed_alive.push(0);
        self.crashes.add_member();
        id
    }

    // ---------------------------------------------------------------- inputs

    /// A new member starts at `at` and joins by a push/pull with a random running member
    /// (Consul's `retry_join` address), if there is one.
    pub fn spawn(&mut self, at: Time, keyring: Option<KeyId>) -> MemberId {
        self.catch_up(at);
        let id = self.alloc_member(keyring);
        self.schedule(at, Ev::Start(id));
        id
    }

    /// Consul's `retry_join`: new members join through one of `ids` (the servers).
    pub fn set_join_targets(&mut self, ids: Vec<MemberId>) {
        self.join_targets = ids;
    }

    /// Graceful leave at `at` (Consul's `leave_on_terminate`): the member broadcasts its own
    /// death (memberlist `Leave`: dead about itself, which others record as Left), keeps
    /// running for `leave_propagate_delay`, then stops.
    pub fn leave(&mut self, at: Time, id: MemberId) {
        self.leave_after(at, Duration::ZERO, id);
    }

    /// Graceful leave `delay` after `at` (the SIGTERM reaches the agent then): the mesh
    /// advances to `at` only, so inputs between `at` and `at + delay` still come in order.
    pub fn leave_after(&mut self, at: Time, delay: Duration, id: MemberId) {
        self.catch_up(at);
        if self.valid(id) {
            self.schedule(at.after(delay), Ev::Leave(id));
        }
    }

    /// The process is gone: it stops answering and sending, at once.
    pub fn crash(&mut self, at: Time, id: MemberId) {
        self.input(at, id, Ev::Crash(id));
    }

    /// Multiplies the member's message-processing times (packet listener and handler) by
    /// `factor` (at least 1; non-finite values are ignored).
    pub fn set_cpu_slowdown(&mut self, at: Time, id: MemberId, factor: f64) {
        if factor.is_finite() {
            self.input(at, id, Ev::Slowdown(id, factor.max(1.0).to_bits()));
        }
    }

    /// Installs (or removes) the member's gossip encryption key.
    pub fn set_keyring(&mut self, at: Time, id: MemberId, keyring: Option<KeyId>) {
        self.input(at, id, Ev::Keyring(id, keyring));
    }

    /// Puts the member on side `group` of a network partition (0: no partition). Packets and
    /// push/pull streams between members on different sides are lost.
    pub fn set_network_group(&mut self, at: Time, id: MemberId, group: u32) {
        self.input(at, id, Ev::NetGroup(id, group));
    }

    /// memberlist `UpdateNode`: the member raises its incarnation and broadcasts alive (a meta
    /// change), a single rumour that every member must learn.
    pub fn update_node(&mut self, at: Time, id: MemberId) {
        self.input(at, id, Ev::UpdateNode(id));
    }

    /// An input about member `id` (ignored if there is no such member) at `at`.
    fn input(&mut self, at: Time, id: MemberId, ev: Ev) {
        self.catch_up(at);
        if self.valid(id) {
            self.schedule(at, ev);
        }
    }

    /// Brings the mesh up to an input's time: if `at` is later than now, processes every event
    /// up to and including `at`. Inputs at the instant the mesh already stands at are queued
    /// in call order without processing anything, so a batch of inputs at one instant (with
    /// [`Mesh::set_join_targets`] among them) is applied together at the next advance.
    fn catch_up(&mut self, at: Time) {
        if at > self.now() {
            self.advance_to(at);
        }
    }

    // ---------------------------------------------------------------- the clock

    /// Processes every event up to and including `t`; the clock then reads `t` (or stays
    /// where it is if `t` is past).
    pub fn advance_to(&mut self, t: Time) {
        while let Some((at, ev)) = self.clock.next_until(t) {
            self.counters.events += 1;
            self.digest.record(at, &ev);
            self.handle(ev);
        }
    }

    #[inline]
    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// Queues `ev` at `at`, never in the past.
    #[inline]
    pub(crate) fn schedule(&mut self, at: Time, ev: Ev) {
        debug_assert!(
            at >= self.now(),
            "{ev:?} scheduled at {at}, before now {}",
            self.now()
        );
        self.clock.schedule(at, ev);
    }

    pub(crate) fn valid(&self, id: MemberId) -> bool {
        id.idx() < self.members.len()
    }

    // ---------------------------------------------------------------- dispatch

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver(slot) => self.deliver(slot),
            Ev::Stream(slot) => self.stream_arrives(slot),
            Ev::Start(id) => self.start(id),
            Ev::Crash(id) => {
                if self.members[id.idx()].running {
                    self.stop_member(id);
                    self.crashes.crashed(id, self.now());
                }
            }
            Ev::Shutdown(id) => self.stop_member(id),
            Ev::Slowdown(id, bits) => self.members[id.idx()].slowdown = f64::from_bits(bits),
            Ev::Keyring(id, k) => self.members[id.idx()].keyring = k,
            Ev::NetGroup(id, g) => self.net.set_group(id, g),
            _ => self.member_loop(ev),
        }
    }

    /// A spawned member starts: it lists itself alive, starts its loops, queues its alive
    /// broadcast (`setAlive`) and joins.
    fn start(&mut self, id: MemberId) {
        let m = &self.members[id.idx()];
        if m.started {
            return;
        }
        let me = Entry {
            inc: m.incarnation,
            state: MemberState::Alive,
            serf: SerfStatus::Alive,
            change: self.now(),
        };
        self.set_entry(id, id, me);
        self.start_member(id, true);
        let inc = self.members[id.idx()].incarnation;
        self.queue_broadcast(id, alive(id, inc));
        self.join(id);
    }

    /// An event of a member's own loops: nothing once the member has stopped.
    fn member_loop(&mut self, ev: Ev) {
        let Some(id) = ev.member_loop() else {
            return;
        };
        if !self.members[id.idx()].running {
            return;
        }
        match ev {
            Ev::ProbeTick(m) => self.probe_tick(m),
            Ev::ProbeTimeout(m, seq) => self.probe_timeout(m, seq),
            Ev::ProbeDeadline(m, seq) => self.probe_deadline(m, seq),
            Ev::NackTimer(m, seq) => self.nack_timer(m, seq),
            Ev::TcpAck(m, seq, target) => self.tcp_ack(m, seq, target),
            Ev::GossipTick(m) => self.gossip(m),
            Ev::PushPullTick(m) => self.push_pull_tick(m),
            Ev::Suspicion(m, s) => self.suspicion_expired(m, s),
            Ev::HandoffDone(m) => self.handoff_done(m),
            Ev::ReapTick(m) => self.reap(m),
            Ev::ReconnectTick(m) => self.reconnect(m),
            Ev::Leave(m) => self.leave_pool(m),
            Ev::UpdateNode(m) => self.update_node_now(m),
            _ => {}
        }
    }
}
