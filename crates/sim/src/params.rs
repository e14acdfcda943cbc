//! Every constant that shapes the simulation, with Kubernetes' defaults, named as Kubernetes
//! names them. A scenario's `spec.parameters` and `--set path=value` override any of them;
//! unknown names are errors, so a typo never silently keeps the default.
//! Sources: ../shared/reference/kubernetes.md and the kube-scheduler / controller-manager /
//! kubelet flags cited on each field.

use cascade_scheduler::SchedulerConfig;
use cascade_services::{ClientSpec, RemoteWriteSpec, RingSpec, ServiceSpec, ServicesConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Params {
    pub scheduler: SchedulerConfig,
    pub scheduling_queue: QueueParams,
    pub kubelet: KubeletParams,
    pub controllers: ControllerParams,
    pub node_lifecycle: NodeLifecycleParams,
    pub cluster_autoscaler: AutoscalerParams,
    /// The services on the cluster, by name (a scenario's `spec.services`; see
    /// cascade-services `ServiceSpec`): `--set services.proxy.memoryLimit=1Gi`.
    pub services: BTreeMap<String, ServiceSpec>,
    /// Cortex rings whose ingesters are pods (`spec.rings`).
    pub rings: BTreeMap<String, RingSpec>,
    /// Prometheus remote_write fleets (`spec.remoteWrite`).
    pub remote_write: BTreeMap<String, RemoteWriteSpec>,
    /// Clients with retry policies (`spec.clients`).
    pub clients: BTreeMap<String, ClientSpec>,
    /// How the services' summary figures are measured.
    pub service_metrics: ServiceMetricsParams,
    /// The Consul LAN gossip pool of the pods whose behaviour runs a `gossipAgent`.
    pub gossip: GossipParams,
    /// Seconds between metric samples (rows of metrics.csv).
    pub sample_interval_seconds: f64,
    /// Multiplies the counts of the scenario's generated node and workload groups (those not
    /// marked `scaled: false`), rounded, at least 1: the same cluster at another size (a
    /// quarter of it is one of four smaller clusters; tests run bundled scenarios smaller).
    pub generator_scale: f64,
    /// The wall-clock instant simulated time 0 stands for (RFC 3339): pods created during the
    /// run get creationTimestamps from it, comparable with those in the manifests.
    pub start_time: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            scheduler: SchedulerConfig::default(),
            scheduling_queue: QueueParams::default(),
            kubelet: KubeletParams::default(),
            controllers: ControllerParams::default(),
            node_lifecycle: NodeLifecycleParams::default(),
            cluster_autoscaler: AutoscalerParams::default(),
            services: BTreeMap::new(),
            rings: BTreeMap::new(),
            remote_write: BTreeMap::new(),
            clients: BTreeMap::new(),
            service_metrics: ServiceMetricsParams::default(),
            gossip: GossipParams::default(),
            generator_scale: 1.0,
            sample_interval_seconds: 10.0,
            start_time: "2024-01-01T00:00:00Z".into(),
        }
    }
}

impl Params {
    /// The services part of the parameters, as cascade-services takes it.
    pub fn services_config(&self) -> ServicesConfig {
        ServicesConfig {
            services: self.services.clone(),
            rings: self.rings.clone(),
            remote_write: self.remote_write.clone(),
            clients: self.clients.clone(),
            baseline_warmup_seconds: self.service_metrics.baseline_warmup_seconds,
            outage_error_ratio: self.service_metrics.outage_error_ratio,
        }
    }
}

/// How the services' figures in summary.json are measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceMetricsParams {
    /// The warm-up: service levels (`ratios.write_availability`, the ring's availability,
    /// `totals.write_outage_seconds`) are measured from this long after the start, and
    /// `peaks.{service}_qps_ratio` divides by the mean request rate from then until the first
    /// change or fault.
    pub baseline_warmup_seconds: f64,
    /// A sample interval counts towards `totals.write_outage_seconds` when more than this
    /// fraction of its remote_write requests failed (1%).
    pub outage_error_ratio: f64,
}

impl Default for ServiceMetricsParams {
    fn default() -> Self {
        let d = ServicesConfig::default();
        ServiceMetricsParams {
            baseline_warmup_seconds: d.baseline_warmup_seconds,
            outage_error_ratio: d.outage_error_ratio,
        }
    }
}

/// kube-scheduler's scheduling queue (pkg/scheduler/backend/queue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct QueueParams {
    /// podInitialBackoffSeconds (default 1): backoff after the first failed attempt, doubling.
    pub pod_initial_backoff_seconds: f64,
    /// podMaxBackoffSeconds (default 10).
    pub pod_max_backoff_seconds: f64,
    /// podMaxInUnschedulablePodsDuration (5 minutes): an unschedulable pod is retried at least
    /// this often even if no cluster event moves it.
    pub pod_max_in_unschedulable_pods_seconds: f64,
    /// How often the queue flushes pods that stayed unschedulable too long (30 s in
    /// flushUnschedulablePodsLeftover).
    pub unschedulable_flush_interval_seconds: f64,
    /// Time one scheduling cycle takes (filter, score, bind); kube-scheduler sustains a few
    /// hundred pods per second, hence 5 ms.
    pub scheduling_cycle_seconds: f64,
}

impl Default for QueueParams {
    fn default() -> Self {
        QueueParams {
            pod_initial_backoff_seconds: 1.0,
            pod_max_backoff_seconds: 10.0,
            pod_max_in_unschedulable_pods_seconds: 300.0,
            unschedulable_flush_interval_seconds: 30.0,
            scheduling_cycle_seconds: 0.005,
        }
    }
}

/// What a kubelet takes to start and stop pods. Behaviours can override per workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct KubeletParams {
    /// Image pull for a pod whose image is not on the node yet.
    pub image_pull_seconds: f64,
    /// Sandbox and container creation on the runtime daemon.
    pub container_start_seconds: f64,
    /// From containers running to Ready (readiness probe's first success).
    pub readiness_seconds: f64,
    /// How long an application takes to exit after SIGTERM when a behaviour does not say; the
    /// pod is gone after min(this, terminationGracePeriodSeconds).
    pub default_shutdown_seconds: f64,
    /// CrashLoopBackOff: the first restart delay (10 s), doubling up to the maximum (5 min),
    /// reset once a container has run for `crashLoopResetSeconds` (10 min) (kubelet).
    pub crash_loop_initial_backoff_seconds: f64,
    pub crash_loop_max_backoff_seconds: f64,
    pub crash_loop_reset_seconds: f64,
    /// The node's container runtime daemon.
    pub runtime: RuntimeParams,
}

/// The container runtime daemon (dockerd, containerd) as one queue of operations per node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RuntimeParams {
    /// Operations per second the daemon completes (0: unlimited, no queueing). 50 is our
    /// order-of-magnitude choice for a busy dockerd; published figures vary widely with the
    /// storage driver and the node's CPU.
    pub ops_per_second: f64,
    /// Operations to create and start one container (create, start).
    pub container_start_ops: f64,
    /// Operations to stop and remove one container.
    pub container_stop_ops: f64,
    /// Steady operations per running container per second: exec probes and log streaming
    /// through the daemon (0: HTTP probes and file-based logging, which bypass it).
    pub probe_ops_per_container_per_second: f64,
    /// The kubelet reports the node NotReady when a PLEG relist has not completed for this
    /// long (3 min, pkg/kubelet/pleg relistThreshold).
    pub pleg_threshold_seconds: f64,
}

impl Default for RuntimeParams {
    fn default() -> Self {
        RuntimeParams {
            ops_per_second: 50.0,
            container_start_ops: 2.0,
            container_stop_ops: 1.0,
            probe_ops_per_container_per_second: 0.0,
            pleg_threshold_seconds: 180.0,
        }
    }
}

impl Default for KubeletParams {
    fn default() -> Self {
        KubeletParams {
            image_pull_seconds: 5.0,
            container_start_seconds: 2.0,
            readiness_seconds: 5.0,
            default_shutdown_seconds: 2.0,
            crash_loop_initial_backoff_seconds: 10.0,
            crash_loop_max_backoff_seconds: 300.0,
            crash_loop_reset_seconds: 600.0,
            runtime: RuntimeParams::default(),
        }
    }
}

/// kube-controller-manager's pod controllers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ControllerParams {
    /// Delay between an observed change and the controller's sync (informer + work queue).
    pub sync_delay_seconds: f64,
    /// ReplicaSet burstReplicas: at most this many pods created or deleted per sync.
    pub burst_replicas: usize,
}

impl Default for ControllerParams {
    fn default() -> Self {
        ControllerParams {
            sync_delay_seconds: 0.1,
            burst_replicas: 500,
        }
    }
}

/// kube-controller-manager's node lifecycle controller, the kubelet's status updates and the
/// API server's DefaultTolerationSeconds admission plugin (reference/kubernetes.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NodeLifecycleParams {
    /// --node-monitor-period (5 s): how often the controller checks node heartbeats.
    pub node_monitor_period_seconds: f64,
    /// --node-monitor-grace-period (50 s from v1.32, 40 s before): a node whose heartbeat is
    /// older is marked NotReady/Unknown.
    pub node_monitor_grace_period_seconds: f64,
    /// The kubelet's lease renewal / status update period (10 s).
    pub node_status_update_frequency_seconds: f64,
    /// --node-eviction-rate (0.1 nodes/s per zone): how fast unhealthy nodes get the NoExecute
    /// taint that starts evicting their pods.
    pub node_eviction_rate: f64,
    /// --secondary-node-eviction-rate (0.01) for a zone in PartialDisruption.
    pub secondary_node_eviction_rate: f64,
    /// --unhealthy-zone-threshold (0.55): the share of NotReady nodes (at least 3) that puts a
    /// zone in PartialDisruption.
    pub unhealthy_zone_threshold: f64,
    /// --large-cluster-size-threshold (50): a partially disrupted zone this small stops
    /// evicting altogether.
    pub large_cluster_size_threshold: usize,
    /// --default-not-ready-toleration-seconds (300), added to every pod by admission.
    pub default_not_ready_toleration_seconds: i64,
    /// --default-unreachable-toleration-seconds (300), added to every pod by admission.
    pub default_unreachable_toleration_seconds: i64,
}

impl Default for NodeLifecycleParams {
    fn default() -> Self {
        NodeLifecycleParams {
            node_monitor_period_seconds: 5.0,
            node_monitor_grace_period_seconds: 50.0,
            node_status_update_frequency_seconds: 10.0,
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
        }
    }
}

/// The cluster autoscaler (kubernetes/autoscaler cluster-autoscaler FAQ defaults), for node
/// groups with a `maxSize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AutoscalerParams {
    /// --scan-interval (10 s).
    pub scan_interval_seconds: f64,
    /// How long the cloud provider takes to create a node and the kubelet to register it
    /// (provider-specific; 2 minutes is typical of the large clouds).
    pub provisioning_seconds: f64,
    /// --scale-down-unneeded-time (10 minutes): an empty node is removed after this long.
    pub scale_down_unneeded_seconds: f64,
    /// --scale-down-delay-after-add (10 minutes).
    pub scale_down_delay_after_add_seconds: f64,
}

impl Default for AutoscalerParams {
    fn default() -> Self {
        AutoscalerParams {
            scan_interval_seconds: 10.0,
            provisioning_seconds: 120.0,
            scale_down_unneeded_seconds: 600.0,
            scale_down_delay_after_add_seconds: 600.0,
        }
    }
}

/// Sets `path` (dot-separated camelCase names, e.g. `kubelet.imagePullSeconds`) to `value`
/// (read as a YAML scalar) in a JSON tree of parameters.
pub fn set_path(tree: &mut serde_json::Value, path: &str, value: &str) -> Result<(), String> {
    let parsed: serde_json::Value = serde_yaml_ng::from_str(value)
        .map_err(|e| format!("--set {path}={value}: cannot read the value: {e}"))?;
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "--set {path}={value}: expected a dot-separated path such as kubelet.imagePullSeconds"
        ));
    }
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = serde_json::Value::Object(Default::default());
        }
        let map = node.as_object_mut().expect("object");
        if i + 1 == parts.len() {
            map.insert(part.to_string(), parsed);
            return Ok(());
        }
        node = map
            .entry(part.to_string())
            .or_insert(serde_json::Value::Null);
    }
    Ok(())
}

/// Merges `over` into `base` (objects key by key; anything else replaces; null leaves `base`).
pub fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (_, serde_json::Value::Null) => {}
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_overrides_and_unknown_names_are_rejected() {
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        set_path(&mut tree, "kubelet.imagePullSeconds", "30").unwrap();
        set_path(&mut tree, "scheduler.scoreWeights.taintToleration", "5").unwrap();
        let p: Params = serde_json::from_value(tree.clone()).unwrap();
        assert_eq!(p.kubelet.image_pull_seconds, 30.0);
        assert_eq!(p.scheduler.score_weights.taint_toleration, 5);
        set_path(&mut tree, "kubelet.imagePulSeconds", "30").unwrap();
        let err = serde_json::from_value::<Params>(tree)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `imagePulSeconds`"), "{err}");
    }
}

/// The Consul LAN gossip pool (cascade-gossip): memberlist's `DefaultLANConfig()`, Serf's
/// `DefaultConfig()` with Consul's overrides, the Consul servers, and how the cluster feeds it.
/// Sources: ../shared/reference/gossip.md and hashicorp/memberlist `config.go`, hashicorp/serf
/// `serf/config.go`, hashicorp/consul `agent/consul/config.go` (cited on each field of
/// `cascade_gossip::Config`, which these map onto one to one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GossipParams {
    /// `ProbeInterval` (1 s).
    pub probe_interval_seconds: f64,
    /// `ProbeTimeout` (500 ms).
    pub probe_timeout_seconds: f64,
    /// `IndirectChecks` (3).
    pub indirect_checks: u32,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CompactionParam {
    Fixed,
    PerNode,
}

/// How the handoff queue is organised (see `cascade_gossip::HandoffPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HandoffPolicyParam {
    Fifo,
    AlivePriorityLifo,
}

impl Default for GossipParams {
    fn default() -> Self {
        let c = cascade_gossip::Config::default_lan();
        GossipParams {
            probe_interval_seconds: c.probe_interval.as_secs_f64(),
            probe_timeout_seconds: c.probe_timeout.as_secs_f64(),
            indirect_checks: c.indirect_checks,
            gossip_interval_seconds: c.gossip_interval.as_secs_f64(),
            gossip_nodes: c.gossip_nodes,
            gossip_to_the_dead_time_seconds: c.gossip_to_the_dead_time.as_secs_f64(),
            retransmit_mult: c.retransmit_mult,
            suspicion_mult: c.suspicion_mult,
            suspicion_max_timeout_mult: c.suspicion_max_timeout_mult,
            awareness_max_multiplier: c.awareness_max_multiplier,
            push_pull_interval_seconds: c.push_pull_interval.as_secs_f64(),
            handoff_queue_depth: c.handoff_queue_depth,
            handoff_policy: HandoffPolicyParam::AlivePriorityLifo,
            reap_interval_seconds: c.reap_interval.as_secs_f64(),
            reconnect_interval_seconds: c.reconnect_interval.as_secs_f64(),
            reconnect_timeout_seconds: c.reconnect_timeout.as_secs_f64(),
            tombstone_timeout_seconds: c.tombstone_timeout.as_secs_f64(),
            leave_propagate_delay_seconds: c.leave_propagate_delay.as_secs_f64(),
            latency_seconds: c.latency.as_secs_f64(),
            latency_jitter_seconds: c.latency_jitter.as_secs_f64(),
            packet_service_seconds: c.packet_service_time.as_secs_f64(),
            handoff_service_seconds: c.handoff_service_time.as_secs_f64(),
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

    /// The mesh's configuration.
    pub fn mesh_config(&self) -> cascade_gossip::Config {
        let t = cascade_engine::Time::from_secs_f64;
        let f = self.fraction();
        cascade_gossip::Config {
            probe_interval: t(self.probe_interval_seconds),
            probe_timeout: t(self.probe_timeout_seconds),
            indirect_checks: self.indirect_checks,
            gossip_interval: t(self.gossip_interval_seconds),
            gossip_nodes: self.gossip_nodes,
            gossip_to_the_dead_time: t(self.gossip_to_the_dead_time_seconds),
            retransmit_mult: self.retransmit_mult,
            suspicion_mult: self.suspicion_mult,
            suspicion_max_timeout_mult: self.suspicion_max_timeout_mult,
            awareness_max_multiplier: self.awareness_max_multiplier,
            push_pull_interval: t(self.push_pull_interval_seconds),
            handoff_queue_depth: ((self.handoff_queue_depth as f64 * f).round() as usize).max(1),
            handoff_policy: match self.handoff_policy {
                HandoffPolicyParam::Fifo => cascade_gossip::HandoffPolicy::Fifo,
                HandoffPolicyParam::AlivePriorityLifo => {
                    cascade_gossip::HandoffPolicy::AlivePriorityLifo
                }
            },
            reap_interval: t(self.reap_interval_seconds),
            reconnect_interval: t(self.reconnect_interval_seconds),
            reconnect_timeout: t(self.reconnect_timeout_seconds),
            tombstone_timeout: t(self.tombstone_timeout_seconds),
            leave_propagate_delay: t(self.leave_propagate_delay_seconds),
            latency: t(self.latency_seconds),
            latency_jitter: t(self.latency_jitter_seconds),
            packet_service_time: t(self.packet_service_seconds / f),
            handoff_service_time: t(self.handoff_service_seconds / f),
            snapshot: self.snapshot.enabled.then(|| {
                let sp = &self.snapshot;
                cascade_gossip::Snapshot {
                    line_bytes: sp.line_bytes,
                    compaction: match sp.compaction {
                        CompactionParam::Fixed => cascade_gossip::Compaction::Fixed {
                            max_bytes: sp.max_bytes,
                        },
                        CompactionParam::PerNode => cascade_gossip::Compaction::PerNode {
                            bytes_per_node: sp.bytes_per_node,
                            factor: sp.compaction_factor,
                            min_bytes: sp.max_bytes,
                        },
                    },
                    append_time: t(sp.append_seconds),
                    write_bytes_per_second: sp.write_bytes_per_second,
                    fsync_time: t(sp.fsync_seconds),
                    // The scale model: the same time to fill the buffer.
                    buffer_events: ((sp.buffer_events as f64 * f).round() as usize).max(1),
                    blocking: sp.blocking,
                    entries_per_member: 1.0 / f,
                }
            }),
            ..cascade_gossip::Config::default_lan()
        }
    }
}
