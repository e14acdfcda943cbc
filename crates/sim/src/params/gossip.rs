//! The gossip pool's parameters: memberlist, Serf and the Consul servers.

use serde::{Deserialize, Serialize};

/// The Consul LAN gossip pool (cascade-gossip): memberlist's `DefaultLANConfig()`, Serf's
/// `DefaultConfig()` with Consul's overrides, the Consul servers, and how the cluster feeds it.
/// Sources: docs/gossip.md and hashicorp/memberlist `config.go`, hashicorp/serf
/// `serf/config.go`, hashicorp/consul `agent/consul/config.go` (cited on each field of
/// `cascade_gossip::Config`, which these map onto one to one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GossipParams {
    /// `ProbeInterval` (1 s).
    pub probe_interval_seconds: f64,
    /// `ProbeTimeout` (500 ms).
    pub probe_timeout_seconds: f64,
    /// `IndirectChecks` (3).
    pub indirect_checks: u32,
    /// `DisableTcpPings` (false): true stops a probe that missed its UDP ack from also
    /// dialling the target over TCP (docs/gossip.md#the-fallback-tcp-ping).
    pub disable_tcp_pings: bool,
    /// The fallback TCP ping's first retransmission timeouts, doubling per resend: the
    /// handshake's (1 s, RFC 6298's initial RTO) and the data's (200 ms, Linux's minimum RTO).
    pub tcp_syn_rto_seconds: f64,
    pub tcp_data_rto_seconds: f64,
    /// `GossipInterval` (200 ms).
    pub gossip_interval_seconds: f64,
    /// `GossipNodes` (3).
    pub gossip_nodes: u32,
    /// `GossipToTheDeadTime` (30 s).
    pub gossip_to_the_dead_time_seconds: f64,
    /// `RetransmitMult` (4).
    pub retransmit_mult: u32,
    /// `SuspicionMult` (4).
    pub suspicion_mult: u32,
    /// `SuspicionMaxTimeoutMult` (6; 1 turns Lifeguard's dynamic suspicion off).
    pub suspicion_max_timeout_mult: u32,
    /// `AwarenessMaxMultiplier` (8; 1 turns Lifeguard's local health multiplier off).
    pub awareness_max_multiplier: u32,
    /// `PushPullInterval` (30 s, scaled with the pool size).
    pub push_pull_interval_seconds: f64,
    /// `HandoffQueueDepth` (1024): alive/suspect/dead messages waiting for the handler; more
    /// are dropped.
    pub handoff_queue_depth: usize,
    /// `fifo`: memberlist before #159 (Consul before 1.2.3), one FIFO queue; or
    /// `alivePriorityLifo`: Consul 1.2.3's alive-first, newest-first queues (the default).
    pub handoff_policy: HandoffPolicyParam,
    /// Serf `ReapInterval` (15 s).
    pub reap_interval_seconds: f64,
    /// Serf `ReconnectInterval` (30 s): each member tries one random failed member again,
    /// with probability failed / alive (0 disables).
    pub reconnect_interval_seconds: f64,
    /// Serf `ReconnectTimeout` as Consul sets it (72 h): failed members are kept this long.
    pub reconnect_timeout_seconds: f64,
    /// Serf `TombstoneTimeout` (24 h): left members are kept this long.
    pub tombstone_timeout_seconds: f64,
    /// Consul `LeavePropagateDelay` (3 s).
    pub leave_propagate_delay_seconds: f64,
    /// One-way packet latency floor (LAN: 200 us) and the mean of its exponential jitter
    /// (100 us): the model's own network parameters.
    pub latency_seconds: f64,
    /// The mean of the packets' exponential latency jitter (100 us): the model's own.
    pub latency_jitter_seconds: f64,
    /// CPU time of one ping/ack/nack on an unloaded agent (model parameter: 20 us).
    pub packet_service_seconds: f64,
    /// CPU time to apply one alive/suspect/dead message, Serf's and Consul's event work
    /// included, on an unloaded agent (model parameter: 100 us).
    pub handoff_service_seconds: f64,
    /// How much slower an agent handles messages when its node's container runtime daemon is
    /// saturated: the daemon then burns the node's CPU ("high CPU usage" in the Target
    /// postmortem) and every container on the node competes with it. The slowdown grows
    /// linearly with the daemon's utilisation, from 1 when idle to this when saturated. Our
    /// order-of-magnitude choice (20): a 16-core node with a daemon spinning on most cores
    /// leaves a small agent a few percent of the CPU time it has when the node is quiet.
    pub saturated_runtime_slowdown: f64,
    /// Consul servers: members of the pool that are not pods of the cluster (they run on
    /// their own hosts and never restart). The first is the leader whose Serf events are
    /// written to the catalog.
    pub servers: u32,
    /// The service (from `spec.services`) that takes the catalog writes: the Consul servers'
    /// Raft log. Empty: member events are not written anywhere.
    pub catalog_service: String,
    /// Raft writes per Serf member event the leader sees (join, failed, left, reaped): the
    /// leader reconciles each into the catalog (`leader.go handleAliveMember`,
    /// `handleFailedMember`, `handleReapMember`: one register or deregister each).
    pub catalog_writes_per_member_event: u32,
    /// Blocking queries that watch the catalog's node list (consul-template, the deploy
    /// engine's discovery, load-balancer configuration): each catalog write wakes them and
    /// each re-reads the list, so a write costs the servers `catalogWatchers × members /
    /// catalogEntriesPerRequest` requests' worth of reads besides itself. The servers' load
    /// thus grows with churn times the size of the catalog, in which failed members stay
    /// until reaped (72 h). 0 (default): no watchers.
    pub catalog_watchers: u32,
    /// Catalog entries one request's worth of work reads (1,000).
    pub catalog_entries_per_request: u32,
    /// How often the cluster and the mesh meet: agents' CPU slowdowns are updated and the
    /// leader's member events are written, every this many seconds (1 s; the mesh itself runs
    /// at message level in between).
    pub step_seconds: f64,
    /// A scale model of the pool, for speed: only this fraction of the pods' agents are
    /// simulated (1: every one, exact). The cost of message-level gossip grows with the square
    /// of the pool (every rumour reaches every member about 4·log10(n) times), so a pool of
    /// tens of thousands of members over hours takes minutes at 1. Below 1 the model keeps
    /// each simulated agent's load what it would be in the whole pool: rumours are born
    /// `fraction` times as often, so handling times are divided by it and queue depths
    /// multiplied by it (the same utilisation and the same time to fill a queue), the
    /// leader's catalog writes are divided by it, and the pool's figures in the outputs
    /// (`gossip_*`, `phantom_members`) are scaled back up to the whole pool. What it does not
    /// keep: `retransmitLimit` and the suspicion timeout grow with log10 of the simulated
    /// pool, not the whole one (12 rather than 16 transmits at 1/8 of 2,000 agents).
    pub agent_fraction: f64,
    /// When pods' agents join the pool (`start` or `ready`), unless their behaviour says.
    pub join_on: crate::scenario::JoinOn,
    /// Serf's snapshot file on each agent's node (see `cascade_gossip::Snapshot`).
    pub snapshot: SnapshotParams,
}

/// Serf's snapshot (`serf/snapshot.go`): each member event an agent sees appends a line to a
/// file; past a size limit the file is rewritten with one line per alive member and fsynced.
/// The defaults are Consul 1.2.3's (serf#524, serf#525); Consul before 1.2.3 is
/// `{compaction: fixed, blocking: true}`, which above ~2,000 alive members rewrites the whole
/// file at every event, in the agent's message path (consul#4511).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SnapshotParams {
    /// Whether agents keep a snapshot (Consul: every agent, servers and clients).
    pub enabled: bool,
    /// `fixed`: compact past `maxBytes` (serf before #525: 128 KiB); `perNode`: past
    /// max(`maxBytes`, `bytesPerNode` × alive members × `compactionFactor`) (serf#525).
    pub compaction: CompactionParam,
    /// Before serf#524: a full buffer blocks memberlist, and the agent stalls (false: the
    /// snapshot drops the event instead).
    pub blocking: bool,
    /// Bytes of one `alive: NAME IP:PORT` line (64: 7 + 21 B plus a ~36-character pod name).
    pub line_bytes: f64,
    /// The fixed limit, or perNode's minimum (128 KiB: serf's `snapshotSizeLimit`).
    pub max_bytes: f64,
    /// serf#525's `snapshotBytesPerNode` (128).
    pub bytes_per_node: f64,
    /// serf#525's `snapshotCompactionThreshold` (2).
    pub compaction_factor: f64,
    /// Time to append one line, no fsync (model parameter: 50 us).
    pub append_seconds: f64,
    /// Write bandwidth a rewrite gets on the node's disk (model parameter: 50 MB/s, a shared
    /// network block volume).
    pub write_bytes_per_second: f64,
    /// fsync of a rewrite (model parameter: 10 ms on a network block volume).
    pub fsync_seconds: f64,
    /// Member events buffered on the way to the snapshotter (1,024).
    pub buffer_events: usize,
}

impl Default for SnapshotParams {
    fn default() -> Self {
        let s = cascade_gossip::Snapshot::v1_2_3();
        SnapshotParams {
            enabled: true,
            compaction: CompactionParam::PerNode,
            blocking: s.blocking,
            line_bytes: s.line_bytes,
            max_bytes: cascade_gossip::SNAPSHOT_SIZE_LIMIT,
            bytes_per_node: cascade_gossip::SNAPSHOT_BYTES_PER_NODE,
            compaction_factor: cascade_gossip::SNAPSHOT_COMPACTION_FACTOR,
            append_seconds: s.append_time.as_secs_f64(),
            write_bytes_per_second: s.write_bytes_per_second,
            fsync_seconds: s.fsync_time.as_secs_f64(),
            buffer_events: s.buffer_events,
        }
    }
}

/// When Serf compacts its snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CompactionParam {
    Fixed,
    PerNode,
}

/// How the handoff queue is organised (see `cascade_gossip::HandoffPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum HandoffPolicyParam {
    Fifo,
    AlivePriorityLifo,
}

impl Default for GossipParams {
    fn default() -> Self {
        let c = cascade_gossip::Config::default_lan();
        GossipParams {
            probe_interval_seconds: c.probe.interval.as_secs_f64(),
            probe_timeout_seconds: c.probe.timeout.as_secs_f64(),
            indirect_checks: c.probe.indirect_checks,
            disable_tcp_pings: c.tcp_ping.disabled,
            tcp_syn_rto_seconds: c.tcp_ping.syn_rto.as_secs_f64(),
            tcp_data_rto_seconds: c.tcp_ping.data_rto.as_secs_f64(),
            gossip_interval_seconds: c.gossip.interval.as_secs_f64(),
            gossip_nodes: c.gossip.nodes,
            gossip_to_the_dead_time_seconds: c.gossip.to_the_dead_time.as_secs_f64(),
            retransmit_mult: c.gossip.retransmit_mult,
            suspicion_mult: c.suspicion.mult,
            suspicion_max_timeout_mult: c.suspicion.max_timeout_mult,
            awareness_max_multiplier: c.probe.awareness_max_multiplier,
            push_pull_interval_seconds: c.push_pull.interval.as_secs_f64(),
            handoff_queue_depth: c.handoff.queue_depth,
            handoff_policy: HandoffPolicyParam::AlivePriorityLifo,
            reap_interval_seconds: c.serf.reap_interval.as_secs_f64(),
            reconnect_interval_seconds: c.serf.reconnect_interval.as_secs_f64(),
            reconnect_timeout_seconds: c.serf.reconnect_timeout.as_secs_f64(),
            tombstone_timeout_seconds: c.serf.tombstone_timeout.as_secs_f64(),
            leave_propagate_delay_seconds: c.serf.leave_propagate_delay.as_secs_f64(),
            latency_seconds: c.network.latency.as_secs_f64(),
            latency_jitter_seconds: c.network.latency_jitter.as_secs_f64(),
            packet_service_seconds: c.network.packet_service_time.as_secs_f64(),
            handoff_service_seconds: c.handoff.service_time.as_secs_f64(),
            saturated_runtime_slowdown: 20.0,
            servers: 3,
            catalog_service: String::new(),
            catalog_writes_per_member_event: 1,
            catalog_watchers: 0,
            catalog_entries_per_request: 1000,
            step_seconds: 1.0,
            agent_fraction: 1.0,
            join_on: crate::scenario::JoinOn::Start,
            snapshot: SnapshotParams::default(),
        }
    }
}

impl GossipParams {
    /// `agentFraction`, kept within (0, 1].
    pub fn fraction(&self) -> f64 {
        if self.agent_fraction.is_finite() && self.agent_fraction > 0.0 {
            self.agent_fraction.min(1.0)
        } else {
            1.0
        }
    }

    /// The mesh's configuration: each group of `cascade_gossip::Config` from its fields here
    /// (the YAML stays flat, as memberlist's own `Config` is); what is not set here keeps
    /// memberlist's default (the wire sizes, probe selection and stagger, buddy suspicion,
    /// `GossipVerifyIncoming`, loss).
    pub fn mesh_config(&self) -> cascade_gossip::Config {
        use cascade_gossip as g;
        let d = cascade_engine::Duration::from_secs_f64;
        let f = self.fraction();
        let defaults = g::Config::default_lan();
        g::Config {
            probe: g::ProbeConfig {
                interval: d(self.probe_interval_seconds),
                timeout: d(self.probe_timeout_seconds),
                indirect_checks: self.indirect_checks,
                awareness_max_multiplier: self.awareness_max_multiplier,
                ..defaults.probe
            },
            tcp_ping: g::TcpPingConfig {
                disabled: self.disable_tcp_pings,
                syn_rto: d(self.tcp_syn_rto_seconds),
                data_rto: d(self.tcp_data_rto_seconds),
            },
            suspicion: g::SuspicionConfig {
                mult: self.suspicion_mult,
                max_timeout_mult: self.suspicion_max_timeout_mult,
                ..defaults.suspicion
            },
            gossip: g::GossipConfig {
                interval: d(self.gossip_interval_seconds),
                nodes: self.gossip_nodes,
                to_the_dead_time: d(self.gossip_to_the_dead_time_seconds),
                retransmit_mult: self.retransmit_mult,
            },
            push_pull: g::PushPullConfig {
                interval: d(self.push_pull_interval_seconds),
            },
            handoff: g::HandoffConfig {
                queue_depth: scaled_depth(self.handoff_queue_depth, f),
                policy: match self.handoff_policy {
                    HandoffPolicyParam::Fifo => g::HandoffPolicy::Fifo,
                    HandoffPolicyParam::AlivePriorityLifo => g::HandoffPolicy::AlivePriorityLifo,
                },
                service_time: d(self.handoff_service_seconds / f),
            },
            wire: defaults.wire,
            serf: g::SerfConfig {
                reap_interval: d(self.reap_interval_seconds),
                reconnect_interval: d(self.reconnect_interval_seconds),
                reconnect_timeout: d(self.reconnect_timeout_seconds),
                tombstone_timeout: d(self.tombstone_timeout_seconds),
                leave_propagate_delay: d(self.leave_propagate_delay_seconds),
                snapshot: self
                    .snapshot
                    .enabled
                    .then(|| self.snapshot.mesh_snapshot(f)),
            },
            network: g::NetworkConfig {
                latency: d(self.latency_seconds),
                latency_jitter: d(self.latency_jitter_seconds),
                packet_service_time: d(self.packet_service_seconds / f),
                ..defaults.network
            },
        }
    }
}

impl SnapshotParams {
    /// Serf's snapshot for a pool simulated at fraction `f` (the scale model: the same time to
    /// fill the buffer, `1 / f` lines per simulated member).
    fn mesh_snapshot(&self, f: f64) -> cascade_gossip::Snapshot {
        let d = cascade_engine::Duration::from_secs_f64;
        cascade_gossip::Snapshot {
            line_bytes: self.line_bytes,
            compaction: match self.compaction {
                CompactionParam::Fixed => cascade_gossip::Compaction::Fixed {
                    max_bytes: self.max_bytes,
                },
                CompactionParam::PerNode => cascade_gossip::Compaction::PerNode {
                    bytes_per_node: self.bytes_per_node,
                    factor: self.compaction_factor,
                    min_bytes: self.max_bytes,
                },
            },
            append_time: d(self.append_seconds),
            write_bytes_per_second: self.write_bytes_per_second,
            fsync_time: d(self.fsync_seconds),
            buffer_events: scaled_depth(self.buffer_events, f),
            blocking: self.blocking,
            entries_per_member: 1.0 / f,
        }
    }
}

/// A queue or buffer depth in the scale model: `depth * f`, rounded, at least 1 (the cast
/// saturates; `f` is the finite positive scale factor).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn scaled_depth(depth: usize, f: f64) -> usize {
    ((depth as f64 * f).round() as usize).max(1)
}
