//! A gossip mesh at the message level: SWIM as hashicorp/memberlist implements it (with
//! Lifeguard), plus the part of hashicorp/serf that keeps failed and left members, as Consul's LAN
//! pool runs it. A pure, deterministic state machine: no I/O, no wall clock; the caller passes
//! simulated time in with [`Mesh::advance_to`] and the inputs' times, and every random choice
//! comes from [`cascade_engine::Rng`] streams derived from the mesh's seed. `docs/gossip.md`
//! describes the protocols (SWIM probing, Lifeguard, dissemination, push/pull, Serf).
//!
//! # The model
//! Each member runs memberlist's loops as timers on the mesh's own event queue:
//! - **Probe** (`state.go probe`, `probeNode`): every `probe_interval` it pings the next member of
//!   its shuffled round-robin list (skipping itself and Dead/Left entries without consuming the
//!   tick; at the wrap, Dead/Left entries older than `gossip_to_the_dead_time` are forgotten and
//!   the list is reshuffled). No ack within `probe_timeout`: `indirect_checks` random Alive
//!   members are asked to ping it and to nack if they get no ack, and (unless
//!   `disable_tcp_pings`) the prober dials the target over TCP at the same moment. No UDP ack by
//!   `probe_interval * (awareness + 1)`: if the TCP ping made contact the probe succeeds
//!   (awareness -1); otherwise the prober raises its awareness by the missed nacks and
//!   suspects the target. A probe blocks the loop; ticks that arrive meanwhile collapse into one
//!   (a Go ticker buffers one tick).
//! - **Suspicion** (`suspicion.go`): a Suspect entry dies after Lifeguard's dynamic timeout,
//!   which starts at `suspicion_max_timeout_mult * min` and shrinks towards
//!   `min = suspicion_timeout(...)` as independent confirmations arrive.
//! - **Dissemination** (`queue.go TransmitLimitedQueue`): every state change a member applies is
//!   queued as a broadcast named by its subject (a newer one replaces it), and piggybacked on
//!   every packet it sends (pings, acks, indirect pings, nacks, gossip) up to the UDP byte budget,
//!   each at most `retransmit_limit(retransmit_mult, n)` times. Every `gossip_interval` a member
//!   with something queued sends a compound packet to `gossip_nodes` random members.
//! - **Handoff queue** (`net.go handleCommand`): ping, ack, nack and indirect ping are handled
//!   inline by the packet listener; alive, suspect and dead messages are queued for one handler,
//!   bounded by `handoff_queue_depth` with drop-on-full, served one at a time at the member's
//!   service time (so a CPU-starved member falls behind and drops). [`HandoffPolicy`] selects the
//!   pre-1.2.3 single FIFO or memberlist#159's alive-first LIFO.
//! - **Push/pull** (`state.go pushPull`, `mergeState`): every `push_pull_scale(push_pull_interval,
//!   n)` a member exchanges its full table with a random Alive member. The merge is asymmetric:
//!   alive about an unknown node is adopted, suspect/dead about an unknown node is ignored. That
//!   asymmetry is how phantoms come back: a member that missed a death (its handoff queue was
//!   full) re-seeds the dead node, alive, into members that had already forgotten it.
//! - **Serf** (`serf.go handleNodeLeave`, `handleReap`): a Dead entry makes the member Failed,
//!   a Left one Left; they stay listed until `reconnect_timeout` / `tombstone_timeout`, reaped
//!   every `reap_interval`.
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

use cascade_engine::Time;

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

pub use member::{MemberState, SerfStatus};
pub use mesh::Mesh;
pub use observe::Counters;
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

/// How the handoff queue of alive/suspect/dead messages is organised (`net.go handleCommand`,
/// `getNextMessage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffPolicy {
    /// memberlist before #159 (Consul < 1.2.3): one FIFO channel of `handoff_queue_depth`; an
    /// arriving message is dropped when it is full.
    Fifo,
    /// memberlist#159 (Consul 1.2.3): alive messages in a high-priority list, the others in a
    /// low-priority one, each of `handoff_queue_depth`; the handler takes the high list first and
    /// the newest message first (`Back()`).
    AlivePriorityLifo,
}

/// How a member picks the member it probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeSelection {
    /// memberlist's round-robin over a shuffled list (`state.go probe`, `resetNodes`).
    RoundRobin,
    /// SWIM's uniformly random target each period (test mode, for the e/(e-1) result).
    UniformRandom,
}

/// The mesh's parameters: memberlist's `DefaultLANConfig()` (`memberlist/config.go`), Serf's
/// `DefaultConfig()` (`serf/config.go`) with Consul's overrides (`agent/consul/config.go`,
/// `lib/serf.go`), and the model's own network and CPU parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    // ---- memberlist (config.go DefaultLANConfig) ----
    /// `ProbeInterval`: one probe per interval (1 s). Scaled by awareness: the ack/nack wait
    /// deadline is `probe_interval * (awareness + 1)` (`state.go probeNode`).
    pub probe_interval: Time,
    /// `ProbeTimeout`: wait for a direct ack before going indirect (500 ms); never scaled by
    /// awareness ("we don't scale this timeout", `state.go probeNode`).
    pub probe_timeout: Time,
    /// `IndirectChecks`: members asked to ping a target that missed its direct ack (3).
    pub indirect_checks: u32,
    /// `DisableTcpPings` (false): when true, a probe that missed its direct ack does not also
    /// dial the target over TCP (`state.go probeNode`, `tcp_ping.rs`).
    pub disable_tcp_pings: bool,
    /// The fallback TCP ping's handshake retransmission timeout, doubling per resend (model
    /// parameter: 1 s, RFC 6298's initial RTO, Linux `TCP_TIMEOUT_INIT`).
    pub tcp_syn_rto: Time,
    /// The fallback TCP ping's data retransmission timeout, doubling per resend (model
    /// parameter: 200 ms, Linux `TCP_RTO_MIN`, the floor of a LAN connection's RTO).
    pub tcp_data_rto: Time,
    /// `GossipInterval`: period of the gossip loop (200 ms).
    pub gossip_interval: Time,
    /// `GossipNodes`: random members each gossip round sends to (3).
    pub gossip_nodes: u32,
    /// `GossipToTheDeadTime`: Dead members still receive gossip this long, and are forgotten at
    /// the next probe-list wrap after it (30 s, "same as push/pull").
    pub gossip_to_the_dead_time: Time,
    /// `RetransmitMult`: a broadcast is sent `retransmit_mult * ceil(log10(n + 1))` times (4).
    pub retransmit_mult: u32,
    /// `SuspicionMult`: the minimum suspicion timeout is
    /// `suspicion_mult * max(1, log10(n)) * probe_interval` (4; 5 before Lifeguard).
    pub suspicion_mult: u32,
    /// `SuspicionMaxTimeoutMult`: Lifeguard's suspicion timeout starts at this multiple of the
    /// minimum (6). 1 turns the dynamic timeout off.
    pub suspicion_max_timeout_mult: u32,
    /// `AwarenessMaxMultiplier`: the local health score runs in `0..this` (8; 7 in
    /// memberlist#83). 1 turns Lifeguard's local health multiplier off.
    pub awareness_max_multiplier: u32,
    /// `PushPullInterval`: base period of full state syncs (30 s), scaled by
    /// [`push_pull_scale`]. `Time::ZERO` disables push/pull, as in memberlist.
    pub push_pull_interval: Time,
    /// `HandoffQueueDepth`: capacity of each handoff queue (1024).
    pub handoff_queue_depth: usize,
    /// `UDPBufferSize`: the packet byte budget piggybacked broadcasts must fit in (1400 B).
    pub udp_buffer_size: u32,
    /// `GossipVerifyIncoming`: a member with a keyring drops plaintext packets (true). When
    /// false it accepts them (`net.go ingestPacket`).
    pub gossip_verify_incoming: bool,
    /// Lifeguard's buddy system (`state.go probeNode`): a probe of a Suspect member carries the
    /// suspicion so it can refute at once (always on in memberlist since Lifeguard).
    pub buddy_suspect: bool,
    /// Which handoff queue organisation to run.
    pub handoff_policy: HandoffPolicy,
    /// Probe target selection (memberlist: round robin).
    pub probe_selection: ProbeSelection,
    /// memberlist staggers each loop's first tick randomly within its interval (`state.go
    /// schedule`); `false` puts every member's probe ticks on one grid (test mode for SWIM's
    /// synchronous periods).
    pub probe_stagger: bool,
    // ---- wire sizes (uncompressed msgpack, used only for the UDP budget) ----
    /// `compoundHeaderOverhead` (2 B, `net.go`).
    pub compound_header_overhead: u32,
    /// `compoundOverhead` per part (2 B, `net.go`).
    pub compound_overhead: u32,
    /// `encryptOverhead(1)`: version byte, nonce and tag (29 B, `security.go`).
    pub encrypt_overhead: u32,
    /// Size of a ping, ack, nack or indirect-ping message (model estimate: msgpack of a seq
    /// number and a node name, ~40 B).
    pub probe_msg_size: u32,
    /// Size of an alive message with Consul's tags as meta (model estimate: ~160 B, the node
    /// name, address, port, incarnation and Consul's dozen meta tags).
    pub alive_msg_size: u32,
    /// Size of a suspect or dead message (model estimate: ~70 B, incarnation and two node
    /// names).
    pub suspect_msg_size: u32,
    // ---- Serf (serf/config.go DefaultConfig) and Consul ----
    /// Serf `ReapInterval`: how often failed and left members are checked for reaping (15 s).
    pub reap_interval: Time,
    /// Serf `ReconnectInterval`: every this often a member tries to reach one random failed
    /// member again (30 s), with probability failed / alive members (`serf.go reconnect`):
    /// how the halves of a pool find each other after a partition. Zero disables it.
    pub reconnect_interval: Time,
    /// Serf `ReconnectTimeout`: failed members are kept this long. Serf's default is 24 h;
    /// Consul sets 72 h (`agent/consul/config.go DefaultConfig`, agent `reconnect_timeout`).
    pub reconnect_timeout: Time,
    /// Serf `TombstoneTimeout`: left members are kept this long (24 h).
    pub tombstone_timeout: Time,
    /// Consul `LeavePropagateDelay` (`lib/serf.go`, 3 s): a leaving member keeps running this
    /// long after broadcasting its leave (Serf's wait for the broadcast folded in).
    pub leave_propagate_delay: Time,
    // ---- network and CPU (the model's own parameters) ----
    /// One-way latency floor of a packet (LAN: 200 µs).
    pub latency: Time,
    /// Mean of the exponential jitter added to each packet's latency (100 µs).
    pub latency_jitter: Time,
    /// Probability that a UDP packet is lost, i.i.d. (0). Push/pull streams are not lost; the
    /// fallback TCP ping's segments are lost at this rate and resent (`tcp_ping.rs`).
    pub loss: f64,
    /// CPU time the packet listener spends on one packet (ping, ack, ... handled inline),
    /// multiplied by the member's CPU slowdown (model parameter: 20 µs).
    pub packet_service_time: Time,
    /// CPU time the handler spends applying one alive/suspect/dead message, including Serf's
    /// and Consul's event work, multiplied by the member's CPU slowdown (model parameter:
    /// 100 µs).
    pub handoff_service_time: Time,
    /// Serf's snapshot file, if the agents keep one (Consul gives every agent one).
    pub snapshot: Option<Snapshot>,
}

/// Serf's snapshot (`serf/snapshot.go`): every member event the agent sees (join, failed,
/// left) appends a line to a file on the node's disk; past a size limit the file is
/// compacted, rewritten with one `alive: NAME IP:PORT` line per alive member and fsynced.
///
/// Before serf#525 (Consul 1.2.3) the limit was a fixed 128 KiB, so above ~2,000 alive
/// members the compacted file is itself over it and *every* event rewrites the whole file:
/// "constantly compacted (synchronously with request handling) on clusters larger than
/// about 2000 nodes" (consul#4511). Before serf#524 the snapshotter sat in the event path:
/// memberlist's handler (holding its node lock) waits on Serf, which waits on a full event
/// buffer, so a snapshotter that falls behind stalls the whole agent: no messages applied,
/// no probes, gossip or push/pull, and (Serf's broadcast queue asking Serf for the member
/// count under the same lock) no acks. After serf#524 events reach the snapshotter through a
/// non-blocking tee and are dropped when it is behind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Bytes of one `alive: NAME IP:PORT` line (64 B: serf#525's review counts 7 + 21 B plus
    /// the node name, here a pod name of ~36 characters).
    pub line_bytes: f64,
    /// When the file is compacted.
    pub compaction: Compaction,
    /// Time to append one line, without fsync (model parameter: 50 µs).
    pub append_time: Time,
    /// Disk write bandwidth a compaction's rewrite gets (model parameter: 50 MB/s, a shared
    /// network volume of a busy node).
    pub write_bytes_per_second: f64,
    /// fsync of the rewritten file (model parameter: 10 ms).
    pub fsync_time: Time,
    /// Member events the path to the snapshotter holds before it is full (1,024: Serf's
    /// event channel to the snapshotter).
    pub buffer_events: usize,
    /// Before serf#524: a full buffer blocks memberlist (the agent stalls). After: the event
    /// is dropped from the snapshot and the agent carries on.
    pub blocking: bool,
    /// How many members of the real pool one simulated member stands for (a scale model of
    /// the pool: 1 / the simulated fraction). The file holds that many lines per simulated
    /// alive member, and each simulated event stands for that many events.
    pub entries_per_member: f64,
}

/// serf's `snapshotSizeLimit` (128 KiB): the fixed compaction limit before serf#525, and its
/// minimum after.
pub const SNAPSHOT_SIZE_LIMIT: f64 = 128.0 * 1024.0;
/// serf#525's `snapshotBytesPerNode` (128) and `snapshotCompactionThreshold` (2).
pub const SNAPSHOT_BYTES_PER_NODE: f64 = 128.0;
pub const SNAPSHOT_COMPACTION_FACTOR: f64 = 2.0;

/// The snapshot's compaction threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compaction {
    /// Before serf#525: a fixed size (`snapshotSizeLimit`, 128 KiB).
    Fixed { max_bytes: f64 },
    /// serf#525: `max(min_bytes, bytes_per_node × alive members × factor)` (128 B per node,
    /// factor 2, at least 128 KiB): compaction amortised over many events.
    PerNode {
        bytes_per_node: f64,
        factor: f64,
        min_bytes: f64,
    },
}

impl Compaction {
    pub fn max_bytes(self, alive: f64) -> f64 {
        match self {
            Compaction::Fixed { max_bytes } => max_bytes,
            Compaction::PerNode {
                bytes_per_node,
                factor,
                min_bytes,
            } => (bytes_per_node * alive * factor).max(min_bytes),
        }
    }
}

impl Snapshot {
    /// Serf as Consul before 1.2.3 ran it: fixed 128 KiB limit, blocking event path.
    pub fn pre_1_2_3() -> Snapshot {
        Snapshot {
            line_bytes: 64.0,
            compaction: Compaction::Fixed {
                max_bytes: SNAPSHOT_SIZE_LIMIT,
            },
            append_time: Time(50),
            write_bytes_per_second: 50e6,
            fsync_time: Time::from_millis(10),
            buffer_events: 1024,
            blocking: true,
            entries_per_member: 1.0,
        }
    }

    /// Serf as Consul 1.2.3 runs it (serf#524, serf#525).
    pub fn v1_2_3() -> Snapshot {
        Snapshot {
            compaction: Compaction::PerNode {
                bytes_per_node: SNAPSHOT_BYTES_PER_NODE,
                factor: SNAPSHOT_COMPACTION_FACTOR,
                min_bytes: SNAPSHOT_SIZE_LIMIT,
            },
            blocking: false,
            ..Snapshot::pre_1_2_3()
        }
    }
}

impl Config {
    /// memberlist `DefaultLANConfig()` + Serf `DefaultConfig()` + Consul's LAN overrides.
    pub fn default_lan() -> Config {
        Config {
            probe_interval: Time::from_secs(1),
            probe_timeout: Time::from_millis(500),
            indirect_checks: 3,
            disable_tcp_pings: false,
            tcp_syn_rto: Time::from_secs(1),
            tcp_data_rto: Time::from_millis(200),
            gossip_interval: Time::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Time::from_secs(30),
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            awareness_max_multiplier: 8,
            push_pull_interval: Time::from_secs(30),
            handoff_queue_depth: 1024,
            udp_buffer_size: 1400,
            gossip_verify_incoming: true,
            buddy_suspect: true,
            handoff_policy: HandoffPolicy::AlivePriorityLifo,
            probe_selection: ProbeSelection::RoundRobin,
            probe_stagger: true,
            compound_header_overhead: 2,
            compound_overhead: 2,
            encrypt_overhead: 29,
            probe_msg_size: 40,
            alive_msg_size: 160,
            suspect_msg_size: 70,
            reap_interval: Time::from_secs(15),
            reconnect_interval: Time::from_secs(30),
            reconnect_timeout: Time::from_secs(72 * 3600),
            tombstone_timeout: Time::from_secs(24 * 3600),
            leave_propagate_delay: Time::from_secs(3),
            latency: Time(200),
            latency_jitter: Time(100),
            loss: 0.0,
            packet_service_time: Time(20),
            handoff_service_time: Time(100),
            snapshot: None,
        }
    }

    /// Consul before 1.2.3: the single FIFO handoff queue (memberlist before #159).
    pub fn pre_1_2_3() -> Config {
        Config {
            handoff_policy: HandoffPolicy::Fifo,
            ..Config::default_lan()
        }
    }

    /// Lifeguard off, as the paper's baseline: no local health multiplier
    /// (`awareness_max_multiplier = 1`), no dynamic suspicion timeout
    /// (`suspicion_max_timeout_mult = 1`), no buddy suspicion.
    pub fn without_lifeguard(self) -> Config {
        Config {
            awareness_max_multiplier: 1,
            suspicion_max_timeout_mult: 1,
            buddy_suspect: false,
            ..self
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::default_lan()
    }
}

fn mul_time(t: Time, k: u64) -> Time {
    Time(t.0.saturating_mul(k))
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
pub fn push_pull_scale(interval: Time, n: usize) -> Time {
    if n <= PUSH_PULL_SCALE_THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (PUSH_PULL_SCALE_THRESHOLD as f64).log2()).ceil() + 1.0;
    mul_time(interval, mult as u64)
}
