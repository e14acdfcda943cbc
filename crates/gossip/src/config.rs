//! The mesh's parameters (memberlist's `config.go`, Serf's `serf/config.go`, Consul's
//! overrides), grouped by the protocol concern that reads them, as the files of this crate are:
//! a group is read by one part of the mesh (`probe.rs` reads [`ProbeConfig`], `serf.rs`
//! [`SerfConfig`]...). Every length of time is a [`Duration`], never an instant.
//!
//! These are data records: plain public fields with their upstream defaults, no behaviour
//! beyond a few derived figures (ARCHITECTURE.md, "config records and state types").

use cascade_engine::Duration;

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
/// `lib/serf.go`), and the model's own network and CPU parameters, one group per concern.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Probing and Lifeguard's local health (`state.go probe*`, `awareness.go`).
    pub probe: ProbeConfig,
    /// The probe's fallback TCP ping (`tcp_ping.rs`).
    pub tcp_ping: TcpPingConfig,
    /// Suspicion and Lifeguard's dynamic timeout (`suspicion.go`).
    pub suspicion: SuspicionConfig,
    /// Dissemination: the gossip loop and the broadcast queue (`broadcast.go`, `queue.go`).
    pub gossip: GossipConfig,
    /// Full state syncs (`state.go pushPull`).
    pub push_pull: PushPullConfig,
    /// The handoff queue of alive/suspect/dead messages (`net.go handleCommand`).
    pub handoff: HandoffConfig,
    /// Wire sizes, for the UDP byte budget only (`net.go`, `security.go`).
    pub wire: WireConfig,
    /// Serf's reap, reconnect and snapshot, and Consul's leave (`serf.go`, `snapshot.go`).
    pub serf: SerfConfig,
    /// The network and the packet listener (the model's own parameters; `net.go`).
    pub network: NetworkConfig,
}

/// memberlist's probe loop (`config.go DefaultLANConfig`, `state.go probeNode`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    /// `ProbeInterval`: one probe per interval (1 s). Scaled by awareness: the ack/nack wait
    /// deadline is `interval * (awareness + 1)` (`state.go probeNode`).
    pub interval: Duration,
    /// `ProbeTimeout`: wait for a direct ack before going indirect (500 ms); never scaled by
    /// awareness ("we don't scale this timeout", `state.go probeNode`).
    pub timeout: Duration,
    /// `IndirectChecks`: members asked to ping a target that missed its direct ack (3).
    pub indirect_checks: u32,
    /// `AwarenessMaxMultiplier`: the local health score runs in `0..this` (8; 7 in
    /// memberlist#83). 1 turns Lifeguard's local health multiplier off.
    pub awareness_max_multiplier: u32,
    /// Probe target selection (memberlist: round robin).
    pub selection: ProbeSelection,
    /// memberlist staggers each loop's first tick randomly within its interval (`state.go
    /// schedule`); `false` puts every member's probe ticks on one grid (test mode for SWIM's
    /// synchronous periods).
    pub stagger: bool,
}

/// The fallback TCP ping (`state.go probeNode`, `sendPingAndWaitForAck`).
#[derive(Clone, Debug, PartialEq)]
pub struct TcpPingConfig {
    /// `DisableTcpPings` (false): when true, a probe that missed its direct ack does not also
    /// dial the target over TCP.
    pub disabled: bool,
    /// The handshake's retransmission timeout, doubling per resend (model parameter: 1 s,
    /// RFC 6298's initial RTO, Linux `TCP_TIMEOUT_INIT`).
    pub syn_rto: Duration,
    /// The data's retransmission timeout, doubling per resend (model parameter: 200 ms, Linux
    /// `TCP_RTO_MIN`, the floor of a LAN connection's RTO).
    pub data_rto: Duration,
}

/// Suspicion (`suspicion.go`, `util.go suspicionTimeout`).
#[derive(Clone, Debug, PartialEq)]
pub struct SuspicionConfig {
    /// `SuspicionMult`: the minimum suspicion timeout is
    /// `mult * max(1, log10(n)) * probe interval` (4; 5 before Lifeguard).
    pub mult: u32,
    /// `SuspicionMaxTimeoutMult`: Lifeguard's suspicion timeout starts at this multiple of the
    /// minimum (6). 1 turns the dynamic timeout off.
    pub max_timeout_mult: u32,
    /// Lifeguard's buddy system (`state.go probeNode`): a probe of a Suspect member carries the
    /// suspicion so it can refute at once (always on in memberlist since Lifeguard).
    pub buddy: bool,
}

/// Dissemination (`state.go gossip`, `queue.go TransmitLimitedQueue`).
#[derive(Clone, Debug, PartialEq)]
pub struct GossipConfig {
    /// `GossipInterval`: period of the gossip loop (200 ms).
    pub interval: Duration,
    /// `GossipNodes`: random members each gossip round sends to (3).
    pub nodes: u32,
    /// `GossipToTheDeadTime`: Dead members still receive gossip this long, and are forgotten at
    /// the next probe-list wrap after it (30 s, "same as push/pull").
    pub to_the_dead_time: Duration,
    /// `RetransmitMult`: a broadcast is sent `retransmit_mult * ceil(log10(n + 1))` times (4).
    pub retransmit_mult: u32,
}

/// Push/pull (`state.go pushPull`).
#[derive(Clone, Debug, PartialEq)]
pub struct PushPullConfig {
    /// `PushPullInterval`: base period of full state syncs (30 s), scaled by
    /// [`push_pull_scale`](crate::push_pull_scale). Zero disables push/pull, as in memberlist.
    pub interval: Duration,
}

/// The handoff queue (`net.go handleCommand`).
#[derive(Clone, Debug, PartialEq)]
pub struct HandoffConfig {
    /// `HandoffQueueDepth`: capacity of each handoff queue (1024).
    pub queue_depth: usize,
    /// Which handoff queue organisation to run.
    pub policy: HandoffPolicy,
    /// CPU time the handler spends applying one alive/suspect/dead message, including Serf's
    /// and Consul's event work, multiplied by the member's CPU slowdown (model parameter:
    /// 100 µs).
    pub service_time: Duration,
}

/// Wire sizes (uncompressed msgpack), used only for the UDP budget.
#[derive(Clone, Debug, PartialEq)]
pub struct WireConfig {
    /// `UDPBufferSize`: the packet byte budget piggybacked broadcasts must fit in (1400 B).
    pub udp_buffer_size: u32,
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
}

impl WireConfig {
    /// Bytes a compound packet has for messages: the UDP buffer less the compound header and,
    /// with a keyring, the encryption overhead (`net.go`, `security.go encryptOverhead`).
    #[inline]
    pub(crate) fn packet_budget(&self, keyed: bool) -> u32 {
        let enc = if keyed { self.encrypt_overhead } else { 0 };
        self.udp_buffer_size
            .saturating_sub(self.compound_header_overhead)
            .saturating_sub(enc)
    }
}

/// Serf (`serf/config.go DefaultConfig`) and Consul.
#[derive(Clone, Debug, PartialEq)]
pub struct SerfConfig {
    /// Serf `ReapInterval`: how often failed and left members are checked for reaping (15 s).
    pub reap_interval: Duration,
    /// Serf `ReconnectInterval`: every this often a member tries to reach one random failed
    /// member again (30 s), with probability failed / alive members (`serf.go reconnect`):
    /// how the halves of a pool find each other after a partition. Zero disables it.
    pub reconnect_interval: Duration,
    /// Serf `ReconnectTimeout`: failed members are kept this long. Serf's default is 24 h;
    /// Consul sets 72 h (`agent/consul/config.go DefaultConfig`, agent `reconnect_timeout`).
    pub reconnect_timeout: Duration,
    /// Serf `TombstoneTimeout`: left members are kept this long (24 h).
    pub tombstone_timeout: Duration,
    /// Consul `LeavePropagateDelay` (`lib/serf.go`, 3 s): a leaving member keeps running this
    /// long after broadcasting its leave (Serf's wait for the broadcast folded in).
    pub leave_propagate_delay: Duration,
    /// Serf's snapshot file, if the agents keep one (Consul gives every agent one).
    pub snapshot: Option<Snapshot>,
}

/// The network and the packet listener (the model's own parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// One-way latency floor of a packet (LAN: 200 µs).
    pub latency: Duration,
    /// Mean of the exponential jitter added to each packet's latency (100 µs).
    pub latency_jitter: Duration,
    /// Probability that a UDP packet is lost, i.i.d. (0). Push/pull streams are not lost; the
    /// fallback TCP ping's segments are lost at this rate and resent (`tcp_ping.rs`).
    pub loss: f64,
    /// CPU time the packet listener spends on one packet (ping, ack, ... handled inline),
    /// multiplied by the member's CPU slowdown (model parameter: 20 µs).
    pub packet_service_time: Duration,
    /// `GossipVerifyIncoming`: a member with a keyring drops plaintext packets (true). When
    /// false it accepts them (`net.go ingestPacket`, `security.rs`).
    pub gossip_verify_incoming: bool,
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
    pub append_time: Duration,
    /// Disk write bandwidth a compaction's rewrite gets (model parameter: 50 MB/s, a shared
    /// network volume of a busy node).
    pub write_bytes_per_second: f64,
    /// fsync of the rewritten file (model parameter: 10 ms).
    pub fsync_time: Duration,
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
            append_time: Duration::from_micros(50),
            write_bytes_per_second: 50e6,
            fsync_time: Duration::from_millis(10),
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
            probe: ProbeConfig {
                interval: Duration::from_secs(1),
                timeout: Duration::from_millis(500),
                indirect_checks: 3,
                awareness_max_multiplier: 8,
                selection: ProbeSelection::RoundRobin,
                stagger: true,
            },
            tcp_ping: TcpPingConfig {
                disabled: false,
                syn_rto: Duration::from_secs(1),
                data_rto: Duration::from_millis(200),
            },
            suspicion: SuspicionConfig {
                mult: 4,
                max_timeout_mult: 6,
                buddy: true,
            },
            gossip: GossipConfig {
                interval: Duration::from_millis(200),
                nodes: 3,
                to_the_dead_time: Duration::from_secs(30),
                retransmit_mult: 4,
            },
            push_pull: PushPullConfig {
                interval: Duration::from_secs(30),
            },
            handoff: HandoffConfig {
                queue_depth: 1024,
                policy: HandoffPolicy::AlivePriorityLifo,
                service_time: Duration::from_micros(100),
            },
            wire: WireConfig {
                udp_buffer_size: 1400,
                compound_header_overhead: 2,
                compound_overhead: 2,
                encrypt_overhead: 29,
                probe_msg_size: 40,
                alive_msg_size: 160,
                suspect_msg_size: 70,
            },
            serf: SerfConfig {
                reap_interval: Duration::from_secs(15),
                reconnect_interval: Duration::from_secs(30),
                reconnect_timeout: Duration::from_secs(72 * 3600),
                tombstone_timeout: Duration::from_secs(24 * 3600),
                leave_propagate_delay: Duration::from_secs(3),
                snapshot: None,
            },
            network: NetworkConfig {
                latency: Duration::from_micros(200),
                latency_jitter: Duration::from_micros(100),
                loss: 0.0,
                packet_service_time: Duration::from_micros(20),
                gossip_verify_incoming: true,
            },
        }
    }

    /// Consul before 1.2.3: the single FIFO handoff queue (memberlist before #159).
    pub fn pre_1_2_3() -> Config {
        let mut c = Config::default_lan();
        c.handoff.policy = HandoffPolicy::Fifo;
        c
    }

    /// Lifeguard off, as the paper's baseline: no local health multiplier
    /// (`awareness_max_multiplier = 1`), no dynamic suspicion timeout
    /// (`suspicion.max_timeout_mult = 1`), no buddy suspicion.
    #[must_use]
    pub fn without_lifeguard(mut self) -> Config {
        self.probe.awareness_max_multiplier = 1;
        self.suspicion.max_timeout_mult = 1;
        self.suspicion.buddy = false;
        self
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::default_lan()
    }
}
