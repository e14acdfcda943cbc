//! A gossip mesh at the message level: SWIM as hashicorp/memberlist implements it (with
//! Lifeguard), plus the part of hashicorp/serf that keeps failed and left members, as Consul's LAN
//! pool runs it. A pure, deterministic state machine: no I/O, no wall clock; the caller passes
//! simulated time in with [`Mesh::advance_to`] and the inputs' times, and every random choice
//! comes from [`cascade_engine::Rng`] streams derived from the mesh's seed. `docs/gossip.md`
//! describes the protocols (SWIM probing, Lifeguard, dissemination, push/pull, Serf).
//!
//! # The model
//! Each member runs memberlist's loops as timers on the mesh's own event queue:
//! - **Probe** (`state.go probe`, `probeNode`): every `probe.interval` it pings the next member of
//!   its shuffled round-robin list (skipping itself and Dead/Left entries without consuming the
//!   tick; at the wrap, Dead/Left entries older than `gossip.to_the_dead_time` are forgotten and
//!   the list is reshuffled). No ack within `probe.timeout`: `probe.indirect_checks` random Alive
//!   members are asked to ping it and to nack if they get no ack, and (unless
//!   `tcp_ping.disabled`) the prober dials the target over TCP at the same moment. No UDP ack by
//!   `probe.interval * (awareness + 1)`: if the TCP ping made contact the probe succeeds
//!   (awareness -1); otherwise the prober raises its awareness by the missed nacks and
//!   suspects the target. A probe blocks the loop; ticks that arrive meanwhile collapse into one
//!   (a Go ticker buffers one tick).
//! - **Suspicion** (`suspicion.go`): a Suspect entry dies after Lifeguard's dynamic timeout,
//!   which starts at `suspicion.max_timeout_mult * min` and shrinks towards
//!   `min = suspicion_timeout(...)` as independent confirmations arrive.
//! - **Dissemination** (`queue.go TransmitLimitedQueue`): every state change a member applies is
//!   queued as a broadcast named by its subject (a newer one replaces it), and piggybacked on
//!   every packet it sends (pings, acks, indirect pings, nacks, gossip) up to the UDP byte budget,
//!   each at most `retransmit_limit(gossip.retransmit_mult, n)` times. Every `gossip.interval`
//!   a member with something queued sends a compound packet to `gossip.nodes` random members.
//! - **Handoff queue** (`net.go handleCommand`): ping, ack, nack and indirect ping are handled
//!   inline by the packet listener; alive, suspect and dead messages are queued for one handler,
//!   bounded by `handoff.queue_depth` with drop-on-full, served one at a time at the member's
//!   service time (so a CPU-starved member falls behind and drops). [`HandoffPolicy`] selects the
//!   pre-1.2.3 single FIFO or memberlist#159's alive-first LIFO.
//! - **Push/pull** (`state.go pushPull`, `mergeState`): every `push_pull_scale(push_pull.interval,
//!   n)` a member exchanges its full table with a random Alive member. The merge is asymmetric:
//!   alive about an unknown node is adopted, suspect/dead about an unknown node is ignored. That
//!   asymmetry is how phantoms come back: a member that missed a death (its handoff queue was
//!   full) re-seeds the dead node, alive, into members that had already forgotten it.
//! - **Serf** (`serf.go handleNodeLeave`, `handleReap`): a Dead entry makes the member Failed,
//!   a Left one Left; they stay listed until `serf.reconnect_timeout` /
//!   `serf.tombstone_timeout`, reaped every `serf.reap_interval`.
//! - **Keyring** (`net.go ingestPacket`, `security.go`): encrypted and plaintext members cannot
//!   exchange packets or streams; two different keys cannot either.
//!
//! # Invariants (checked by [`Mesh::check_invariants`] and property tests)
//! - A member's incarnation never decreases, and it never lists itself Suspect or Dead.
//! - Each broadcast is sent at most `retransmit_limit` times by each member that queued it.
//! - A member's probe list holds exactly the members its table knows (`estNumNodes`).
//! - Same seed and inputs give the same counters and the same trace digest.
//!
//! # Memory
//! Each running member keeps a dense table (`Vec` indexed by [`MemberId`], 16 bytes an entry)
//! up to the highest member id it has heard of; a stopped member's table is freed
//! (`stop_member`), and ids are never reused. So memory is O(running members × ids ever
//! created): 10 000 running members in a pool that has created 10 000 ids take 1.6 GB. A shared
//! canonical view with per-member exceptions would cut that; it is not implemented.
//!
//! # Layout (after memberlist's and Serf's own files)
//! - `config.rs`: [`Config`], one group per concern below (`config.go`, `serf/config.go`);
//! - `mesh.rs`: [`Mesh`], its inputs, its clock, the dispatch of events;
//! - `event.rs`: the events and the trace digest;
//! - `member.rs`: a member, its table (`nodeMap`, `nodes`, Serf's counts), start, stop, join;
//! - `network.rs`: packets, streams, latency, loss, partitions, listeners (`net.go`);
//! - `security.rs`: the keyring rule (`security.go`, `keyring.go`);
//! - `probe.rs`: probing and awareness (`state.go probe*`, `awareness.go`);
//! - `tcp_ping.rs`: the probe's fallback TCP ping (`probeNode`, `sendPingAndWaitForAck`);
//! - `suspicion.rs`: Lifeguard's suspicion timer (`suspicion.go`);
//! - `state.rs`: `aliveNode`, `suspectNode`, `deadNode`, `refute` (`state.go`);
//! - `handoff.rs`: the handoff queue (`net.go handleCommand`);
//! - `dissemination.rs`, `queue.rs`: broadcasts and gossip (`broadcast.go`, `queue.go`);
//! - `push_pull.rs`: push/pull and `mergeState`;
//! - `serf.rs`: reap, reconnect, the snapshot (`serf.go`, `snapshot.go`);
//! - `observe.rs`: counters, queries, invariant checks.

use cascade_engine::Duration;

mod config;
mod dissemination;
mod event;
mod handoff;
mod member;
mod mesh;
mod network;
mod observe;
mod probe;
mod push_pull;
mod queue;
mod security;
mod serf;
mod state;
mod suspicion;
mod tcp_ping;

/// A hash map keyed by member ids with a fixed multiplicative hash: deterministic iteration
/// (std's `RandomState` is seeded per process) and no SipHash cost on the per-message path.
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fx-style hasher (rustc's): rotate, xor, multiply.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
#[cfg(test)]
mod tests;

pub use config::{
    Compaction, Config, GossipConfig, HandoffConfig, HandoffPolicy, NetworkConfig, ProbeConfig,
    ProbeSelection, PushPullConfig, SerfConfig, Snapshot, SuspicionConfig, TcpPingConfig,
    WireConfig, SNAPSHOT_BYTES_PER_NODE, SNAPSHOT_COMPACTION_FACTOR, SNAPSHOT_SIZE_LIMIT,
};
pub use member::{MemberState, SerfStatus};
pub use mesh::Mesh;
pub use observe::{
    Counters, DetectionCounters, HandoffCounters, MembershipCounters, NetworkCounters,
    ProbeCounters, PushPullCounters, SnapshotCounters,
};
pub use suspicion::{remaining_suspicion_time, suspicion_timeout};

/// A member's identity: dense, allocated by [`Mesh::spawn`], never reused (a restarted pod is a
/// new member, as a Consul node name is a pod name). A newtype, so that no other id (a pod's, a
/// key's) can be passed for one; it orders, hashes and displays as its number, which the
/// tables' iteration orders and the trace digest rely on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MemberId(u32);

impl MemberId {
    pub const fn new(n: u32) -> MemberId {
        MemberId(n)
    }

    /// The member's number (the order [`Mesh::spawn`] allocated it in).
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The member's position in the mesh's dense tables.
    pub(crate) const fn idx(self) -> usize {
        self.0 as usize
    }

    /// The member at position `i` of a dense table.
    pub(crate) fn at(i: usize) -> MemberId {
        MemberId(cascade_engine::index_u32(i))
    }
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A gossip encryption key (`Keyring` in memberlist's `keyring.go`), by identity only: two
/// members can talk iff they hold the same key, or neither holds one. A newtype like
/// [`MemberId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyId(u32);

impl KeyId {
    pub const fn new(n: u32) -> KeyId {
        KeyId(n)
    }

    /// The number the caller chose.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `util.go retransmitLimit`: `retransmit_mult * ceil(log10(n + 1))`, the number of times each
/// member sends a broadcast it queued; `n` is the member's table size (`estNumNodes`, which
/// counts unreaped dead entries).
// ceil(log10(n + 1)) of a table size is at most 20: the cast cannot truncate.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn retransmit_limit(retransmit_mult: u32, n: usize) -> u32 {
    let scale = ((n as f64) + 1.0).log10().ceil().max(0.0) as u32;
    retransmit_mult.saturating_mul(scale)
}

/// `util.go pushPullScaleThreshold`: push/pull is not slowed down below this many members.
pub const PUSH_PULL_SCALE_THRESHOLD: usize = 32;

/// `util.go pushPullScale`: the push/pull period, `interval` up to 32 members, then
/// `interval * (ceil(log2 n - log2 32) + 1)` (300 s at 10 000 members).
// The multiplier is a small positive whole number (ceil of a log2 difference, plus one).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    if n <= PUSH_PULL_SCALE_THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (PUSH_PULL_SCALE_THRESHOLD as f64).log2()).ceil() + 1.0;
    interval.saturating_mul(mult as u64)
}
