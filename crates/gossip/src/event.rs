//! The mesh's events (memberlist's goroutines and timers, flattened into one queue) and the
//! digest of the trace they form.

use cascade_engine::{queue_key, RadixQueue, Time};

use crate::{KeyId, MemberId};

/// One event on the mesh's queue. Packets and streams in flight are stored in the network's
/// slots and named here by slot, so an event stays small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ev {
    /// A UDP packet reaches its receiver's listener (`net.go packetListen`).
    Deliver(u32),
    /// A push/pull stream reaches its receiver (`net.go handleConn`, `sendAndReceiveState`).
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
    /// A fallback TCP ping's ack reaches the prober: (prober, probe seq, target).
    TcpAck(MemberId, u32, MemberId),
}

impl Ev {
    /// The event's kind and arguments as two numbers, for the trace digest. The codes are part
    /// of the digest: changing one changes every digest.
    fn code(&self) -> (u64, u64) {
        match *self {
            Ev::Deliver(s) => (0, u64::from(s)),
            Ev::Stream(s) => (1, u64::from(s)),
            Ev::ProbeTick(m) => (2, u64::from(m.get())),
            Ev::ProbeTimeout(m, s) => (3, u64::from(m.get()) << 32 | u64::from(s)),
            Ev::ProbeDeadline(m, s) => (4, u64::from(m.get()) << 32 | u64::from(s)),
            Ev::NackTimer(m, s) => (5, u64::from(m.get()) << 32 | u64::from(s)),
            Ev::GossipTick(m) => (6, u64::from(m.get())),
            Ev::PushPullTick(m) => (7, u64::from(m.get())),
            Ev::Suspicion(m, s) => (8, u64::from(m.get()) << 32 | u64::from(s.get())),
            Ev::HandoffDone(m) => (9, u64::from(m.get())),
            Ev::ReapTick(m) => (10, u64::from(m.get())),
            Ev::Start(m) => (11, u64::from(m.get())),
            Ev::Leave(m) => (12, u64::from(m.get())),
            Ev::Shutdown(m) => (13, u64::from(m.get())),
            Ev::Crash(m) => (14, u64::from(m.get())),
            Ev::Slowdown(m, f) => (15, u64::from(m.get()) ^ f),
            Ev::Keyring(m, k) => (
                16,
                u64::from(m.get()) << 32 | u64::from(k.map_or(u32::MAX, KeyId::get)),
            ),
            Ev::UpdateNode(m) => (17, u64::from(m.get())),
            Ev::NetGroup(m, g) => (18, u64::from(m.get()) << 32 | u64::from(g)),
            Ev::ReconnectTick(m) => (19, u64::from(m.get())),
            Ev::TcpAck(m, s, _) => (20, u64::from(m.get()) << 32 | u64::from(s)),
        }
    }

    /// The member whose own loop (a timer, its handler, its leave) runs this event: such an
    /// event does nothing once that member has stopped. `None` for deliveries and inputs.
    #[inline]
    pub(crate) fn member_loop(&self) -> Option<MemberId> {
        match *self {
            Ev::ProbeTick(m)
            | Ev::ProbeTimeout(m, _)
            | Ev::ProbeDeadline(m, _)
            | Ev::NackTimer(m, _)
            | Ev::TcpAck(m, _, _)
            | Ev::GossipTick(m)
            | Ev::PushPullTick(m)
            | Ev::Suspicion(m, _)
            | Ev::HandoffDone(m)
            | Ev::ReapTick(m)
            | Ev::ReconnectTick(m)
            | Ev::Leave(m)
            | Ev::UpdateNode(m) => Some(m),
            _ => None,
        }
    }
}

/// FNV-1a over every processed event's (time, kind, arguments): equal digests mean equal
/// traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceDigest(u64);

impl Default for TraceDigest {
    fn default() -> Self {
        TraceDigest(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceDigest {
    #[inline]
    pub(crate) fn record(&mut self, at: Time, ev: &Ev) {
        let (code, arg) = ev.code();
        self.0 = fnv(fnv(fnv(self.0, at.0), code), arg);
    }

    pub(crate) fn value(&self) -> u64 {
        self.0
    }
}

#[inline]
fn fnv(h: u64, x: u64) -> u64 {
    cascade_engine::rng::fnv1a_u64(h, x)
}

/// The mesh's clock and event queue: events ordered by (time, scheduling order), as
/// `cascade_engine::Engine` orders them, kept here so that the per-event path inlines.
pub(crate) struct Clock {
    now: Time,
    seq: u64,
    queue: RadixQueue<Ev>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            now: Time::ZERO,
            seq: 0,
            queue: RadixQueue::new(),
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Time {
        self.now
    }

    /// Queues `ev` at `at` (never before now: the caller asserts it).
    #[inline]
    pub(crate) fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(queue_key(at.max(self.now), self.seq), ev);
    }

    /// The next event at or before `until`, moving the clock to its time; `None` (the clock
    /// then reads `until`, or stays if that is past) when there is none.
    #[inline]
    pub(crate) fn next_until(&mut self, until: Time) -> Option<(Time, Ev)> {
        match self.queue.peek_key() {
            Some(key) if Time((key >> 64) as u64) <= until => {
                let (key, ev) = self.queue.pop()?;
                self.now = Time((key >> 64) as u64);
                Some((self.now, ev))
            }
            _ => {
                self.now = self.now.max(until);
                None
            }
        }
    }
}
