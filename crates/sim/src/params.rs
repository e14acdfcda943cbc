//! Every constant that shapes the simulation, with Kubernetes' defaults, named as Kubernetes
//! names them. A scenario's `spec.parameters` and `--set path=value` override any of them;
//! unknown names are errors, so a typo never silently keeps the default.
//! Sources: docs/kubernetes.md and the kube-scheduler / controller-manager /
//! kubelet flags cited on each field.

use cascade_manifest::quantity::Bytes;
use cascade_scheduler::SchedulerConfig;
use cascade_services::{ClientSpec, RemoteWriteSpec, RingSpec, ServiceSpec, ServicesConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod gossip;
mod node_cpu;
mod thrashing;
pub use gossip::{CompactionParam, GossipParams, HandoffPolicyParam, SnapshotParams};
pub use node_cpu::NodeCpuParams;
pub use thrashing::ThrashingParams;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Params {
    /// kube-scheduler's configuration (KubeSchedulerConfiguration, default profile).
    pub scheduler: SchedulerConfig,
    /// kube-scheduler's scheduling queue.
    pub scheduling_queue: QueueParams,
    /// The kubelets and their container runtime.
    pub kubelet: KubeletParams,
    /// kube-controller-manager's workload controllers.
    pub controllers: ControllerParams,
    /// The node lifecycle controller (NotReady, taints, evictions).
    pub node_lifecycle: NodeLifecycleParams,
    /// The cluster autoscaler of node groups with `maxSize`.
    pub cluster_autoscaler: AutoscalerParams,
    /// The cloud provider's instance API: limits on creating nodes (the autoscaler's and the
    /// repairs'), docs/control-plane-and-nodes.md#cloud-provisioning.
    pub cloud: CloudParams,
    /// A managed node auto-repair policy (GKE's, AKS's): off unless enabled.
    pub node_repair: NodeRepairParams,
    /// When a node short of memory thrashes and stops answering (docs/kubernetes.md#a-thrashing-node).
    pub memory_thrashing: ThrashingParams,
    /// kube-apiserver: its flags, APF and what requests cost it (`--set apiServer.memoryLimit=8Gi`).
    pub api_server: ApiServerParams,
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
    /// A scale model of the scenario: multiplies `generatorScale` by this, and each constant
    /// the scenario lists in `spec.similarity` by this to the power given there, so that a
    /// smaller run keeps the larger one's dynamics (docs/kubernetes.md#similarity-scaling).
    /// 1 changes nothing.
    pub similarity_scale: f64,
    /// The wall-clock instant simulated time 0 stands for (RFC 3339): pods created during the
    /// run get creationTimestamps from it, comparable with those in the manifests.
    pub start_time: String,
    /// The event budget: a run that has processed this many events stops where it is, with a
    /// summary marked `truncated: true` (and a failed verdict), instead of running away with
    /// the machine. The default, [`DEFAULT_MAX_EVENTS`], is far above every bundled run.
    pub max_events: u64,
}

/// `parameters.maxEvents`' default: 2,000,000,000 events, about 25 times the largest bundled
/// run (target-2019's 76 million, docs/kubernetes.md#bounded-runs) and, at the 0.6 million
/// events a second that run takes on a 2-core machine, close to an hour of wall time. A cascade
/// choice, not an upstream figure.
pub const DEFAULT_MAX_EVENTS: u64 = 2_000_000_000;

impl Default for Params {
    fn default() -> Self {
        Params {
            scheduler: SchedulerConfig::default(),
            scheduling_queue: QueueParams::default(),
            kubelet: KubeletParams::default(),
            controllers: ControllerParams::default(),
            node_lifecycle: NodeLifecycleParams::default(),
            cluster_autoscaler: AutoscalerParams::default(),
            cloud: CloudParams::default(),
            node_repair: NodeRepairParams::default(),
            memory_thrashing: ThrashingParams::default(),
            api_server: ApiServerParams::default(),
            services: BTreeMap::new(),
            rings: BTreeMap::new(),
            remote_write: BTreeMap::new(),
            clients: BTreeMap::new(),
            service_metrics: ServiceMetricsParams::default(),
            gossip: GossipParams::default(),
            generator_scale: 1.0,
            similarity_scale: 1.0,
            sample_interval_seconds: 10.0,
            start_time: "2024-01-01T00:00:00Z".into(),
            max_events: DEFAULT_MAX_EVENTS,
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
            rate_window_seconds: self.service_metrics.rate_window_seconds,
            surge_until_seconds: self.service_metrics.surge_until_seconds,
            steady_tolerance: self.service_metrics.steady_tolerance,
        }
    }
}

/// How the services' figures in summary.json are measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The rate window of `peaks.{service}_qps_1m` and `_qps_ratio` (60 s, `rate(...[1m])`),
    /// independent of `sampleIntervalSeconds`.
    pub rate_window_seconds: f64,
    /// The surge's peak is taken from the first change or fault until this instant (absent:
    /// the end of the run): set it to the operators' fix so the replay is not the storm.
    pub surge_until_seconds: Option<f64>,
    /// The baseline is steady when each of its rate windows is within this fraction of their
    /// mean (0.5) and it holds at least two; otherwise no ratio is given.
    pub steady_tolerance: f64,
}

impl Default for ServiceMetricsParams {
    fn default() -> Self {
        let d = ServicesConfig::default();
        ServiceMetricsParams {
            baseline_warmup_seconds: d.baseline_warmup_seconds,
            outage_error_ratio: d.outage_error_ratio,
            rate_window_seconds: d.rate_window_seconds,
            surge_until_seconds: d.surge_until_seconds,
            steady_tolerance: d.steady_tolerance,
        }
    }
}

/// kube-scheduler's scheduling queue (pkg/scheduler/backend/queue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// CrashLoopBackOff: a container that exits with no back-off entry is restarted at once;
    /// each later exit waits this long (10 s), doubling up to the maximum (5 min); the entry is
    /// reset once a container has run for `crashLoopResetSeconds` (10 min) (kubelet's
    /// flowcontrol.Backoff, no jitter; docs/kubernetes.md#crashloopbackoff).
    pub crash_loop_initial_backoff_seconds: f64,
    /// CrashLoopBackOff's maximum restart delay (5 min, kubelet).
    pub crash_loop_max_backoff_seconds: f64,
    /// A container that has run this long has its CrashLoopBackOff delay reset (10 min, kubelet).
    pub crash_loop_reset_seconds: f64,
    /// The pod worker retries a sync that failed (a container in back-off) after this long
    /// (10 s, pod_workers.go backOffPeriod, v1.14 to v1.31), so a container restarts at the
    /// first retry after its back-off ends. 0: at the back-off's end exactly (v1.32+, which
    /// requeues at the back-off's expiry). docs/kubernetes.md#crashloopbackoff
    pub pod_worker_retry_seconds: f64,
    /// Each retry waits `podWorkerRetrySeconds` x (1 + u x this), u uniform in [0, 1)
    /// (workerBackOffPeriodJitterFactor, 0.5): what spreads replicas killed together.
    pub pod_worker_retry_jitter: f64,
    /// Pods that exist when the run begins have been running for a time uniform in
    /// [0, this) (7 days: a weekly release; docs/kubernetes.md#pods-at-time-0): a container
    /// with a memory leak and a limit starts the run at that point of its OOM cycle, not all
    /// at its start. 0: every pod starts the run freshly started.
    pub initial_pod_age_max_seconds: f64,
    /// The node's container runtime daemon.
    pub runtime: RuntimeParams,
    /// evictionHard: signal to threshold ("100Mi" or "10%"); the kubelet evicts as soon as
    /// one is met. Default `memory.available: 100Mi` (k8s.io/kubelet config/v1beta1 v1.33, the
    /// memory part of `DefaultEvictionHard`; cascade models no disk or PID signal and refuses
    /// them by name). Setting the map replaces the default, as the kubelet does when
    /// `mergeDefaultEvictionSettings` is false (its default). docs/kubernetes.md#node-memory-pressure
    pub eviction_hard: BTreeMap<String, String>,
    /// evictionSoft: thresholds acted on only once met for their grace period (none by default).
    pub eviction_soft: BTreeMap<String, String>,
    /// evictionSoftGracePeriod, in seconds per signal: required for each soft threshold.
    pub eviction_soft_grace_period_seconds: BTreeMap<String, f64>,
    /// evictionMaxPodGracePeriod (0): the grace period of a pod evicted for a soft threshold.
    pub eviction_max_pod_grace_period_seconds: f64,
    /// evictionPressureTransitionPeriod (5m): MemoryPressure stays True this long after a
    /// threshold was last met.
    pub eviction_pressure_transition_period_seconds: f64,
    /// The eviction manager's monitoring interval: 10 s (`evictionMonitoringPeriod`,
    /// pkg/kubelet/kubelet.go v1.33; the documentation's "housekeeping interval").
    pub eviction_monitoring_period_seconds: f64,
    /// kubeReserved's and systemReserved's memory ("1Gi"; none by default): memory the node's
    /// daemons use, outside allocatable (docs/kubernetes.md#node-memory-pressure).
    pub kube_reserved_memory: Bytes,
    /// systemReserved's memory (none by default): see `kubeReservedMemory`.
    pub system_reserved_memory: Bytes,
    /// Node CPU: CFS quota, a saturated node's slowdown (docs/kubernetes.md#node-cpu).
    pub cpu: NodeCpuParams,
}

/// The container runtime daemon (dockerd, containerd) as one queue of operations per node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
            pod_worker_retry_seconds: 10.0,
            pod_worker_retry_jitter: 0.5,
            initial_pod_age_max_seconds: 7.0 * 86_400.0,
            runtime: RuntimeParams::default(),
            eviction_hard: [("memory.available".to_string(), "100Mi".to_string())].into(),
            eviction_soft: BTreeMap::new(),
            eviction_soft_grace_period_seconds: BTreeMap::new(),
            eviction_max_pod_grace_period_seconds: 0.0,
            eviction_pressure_transition_period_seconds: 300.0,
            eviction_monitoring_period_seconds: 10.0,
            kube_reserved_memory: Bytes(0),
            system_reserved_memory: Bytes(0),
            cpu: NodeCpuParams::default(),
        }
    }
}

/// kube-controller-manager's pod controllers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ControllerParams {
    /// Delay between an observed change and the controller's sync (informer + work queue).
    pub sync_delay_seconds: f64,
    /// ReplicaSet burstReplicas: at most this many pods created or deleted per sync.
    pub burst_replicas: usize,
    /// kube-controller-manager `--kube-api-qps` (20, v1.33): each controller's client (the
    /// ReplicaSet, StatefulSet and DaemonSet controllers each have their own) sends at most
    /// this many requests a second once its burst is spent.
    pub kube_api_qps: f64,
    /// kube-controller-manager `--kube-api-burst` (30, v1.33).
    pub kube_api_burst: u32,
    /// The scheduler's `clientConnection.qps` (50, v1.33): its bindings' rate once its burst
    /// is spent.
    pub scheduler_qps: f64,
    /// The scheduler's `clientConnection.burst` (100, v1.33).
    pub scheduler_burst: u32,
    /// The controllers' work queue (`DefaultControllerRateLimiter`, client-go v0.33): a sync
    /// whose write failed is retried after this delay, doubled at each further failure...
    pub workqueue_base_delay_seconds: f64,
    /// ...up to this (1000 s)...
    pub workqueue_max_delay_seconds: f64,
    /// ...and no faster than this overall rate (10 a second)...
    pub workqueue_qps: f64,
    /// ...after a burst of this many (100).
    pub workqueue_burst: u32,
    /// kube-controller-manager `--endpointslice-updates-batch-period` (0, v1.33): the
    /// endpointslice controller syncs a Service this long after a change of one of its pods,
    /// so that the changes meanwhile go out in one write
    /// (docs/control-plane-and-nodes.md#endpointslices).
    pub endpoint_slice_updates_batch_period_seconds: f64,
    /// The endpointslice controller's work queue (v1.33 `defaultSyncBackOff`, 1 s): a sync
    /// whose write failed is retried after this delay, doubled at each further failure...
    pub endpoint_slice_sync_backoff_seconds: f64,
    /// ...up to this (`maxSyncBackOff`, 1000 s).
    pub endpoint_slice_max_sync_backoff_seconds: f64,
}

impl Default for ControllerParams {
    fn default() -> Self {
        ControllerParams {
            sync_delay_seconds: 0.1,
            burst_replicas: 500,
            kube_api_qps: cascade_apiserver::client::CONTROLLER_MANAGER_KUBE_API_QPS,
            kube_api_burst: cascade_apiserver::client::CONTROLLER_MANAGER_KUBE_API_BURST,
            scheduler_qps: cascade_apiserver::client::SCHEDULER_QPS,
            scheduler_burst: cascade_apiserver::client::SCHEDULER_BURST,
            workqueue_base_delay_seconds: cascade_apiserver::client::WORKQUEUE_BASE_DELAY
                .as_secs_f64(),
            workqueue_max_delay_seconds: cascade_apiserver::client::WORKQUEUE_MAX_DELAY
                .as_secs_f64(),
            workqueue_qps: cascade_apiserver::client::WORKQUEUE_QPS,
            workqueue_burst: cascade_apiserver::client::WORKQUEUE_BURST,
            endpoint_slice_updates_batch_period_seconds:
                cascade_apiserver::client::ENDPOINTSLICE_UPDATES_BATCH_PERIOD.as_secs_f64(),
            endpoint_slice_sync_backoff_seconds:
                cascade_apiserver::client::ENDPOINTSLICE_SYNC_BACKOFF.as_secs_f64(),
            endpoint_slice_max_sync_backoff_seconds:
                cascade_apiserver::client::ENDPOINTSLICE_MAX_SYNC_BACKOFF.as_secs_f64(),
        }
    }
}

/// kube-controller-manager's node lifecycle controller, the kubelet's status updates and the
/// API server's DefaultTolerationSeconds admission plugin (docs/kubernetes.md#node-lifecycle-controller).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NodeLifecycleParams {
    /// --node-monitor-period (5 s): how often the controller checks node heartbeats.
    pub node_monitor_period_seconds: f64,
    /// --node-monitor-grace-period (50 s from v1.32, 40 s before): a node whose heartbeat is
    /// older is marked NotReady/Unknown.
    pub node_monitor_grace_period_seconds: f64,
    /// --node-startup-grace-period (60 s, v1.33): a node that has never posted status (no
    /// Ready condition) is marked NotReady/Unknown once this long has passed since it was
    /// created, rather than after `nodeMonitorGracePeriodSeconds`
    /// (docs/kubernetes.md#node-lifecycle-controller).
    pub node_startup_grace_period_seconds: f64,
    /// The kubelet's lease renewal / status update period (10 s): `nodeStatusUpdateFrequency`,
    /// how often it computes its node's status (and renews its Lease, every quarter of the
    /// 40 s lease duration).
    pub node_status_update_frequency_seconds: f64,
    /// The kubelet's `nodeStatusReportFrequency` (5 min, v1.33): a status that has not changed
    /// is still PATCHed to `nodes/status` once this long has passed since the last report;
    /// a changed one goes at once.
    pub node_status_report_frequency_seconds: f64,
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
            node_startup_grace_period_seconds: 60.0,
            node_status_update_frequency_seconds: 10.0,
            node_status_report_frequency_seconds: 300.0,
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
        }
    }
}

/// kube-apiserver, one instance in front of etcd, with the v1.33 bootstrap FlowSchemas and
/// PriorityLevelConfigurations (docs/control-plane-and-nodes.md#the-api-server-in-the-run).
/// Kubernetes' flags keep their defaults; the costs are cascade's choices, stated there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApiServerParams {
    /// `--enable-priority-and-fairness` (true since v1.20): false puts the legacy max-inflight
    /// filter in APF's place (a 429 with `Retry-After: 1` past the inflight limits, no queues).
    pub priority_and_fairness: bool,
    /// `--max-requests-inflight` (400).
    pub max_requests_inflight: u32,
    /// `--max-mutating-requests-inflight` (200).
    pub max_mutating_requests_inflight: u32,
    /// Service time of any request before its objects (5 ms: cascade's choice).
    pub request_seconds: f64,
    /// Service time per object a LIST returns (20 microseconds: encoding a pod of a few KiB;
    /// cascade's choice).
    pub list_seconds_per_object: f64,
    /// The API server's CPUs (8: cascade's choice, a common control-plane VM): with more
    /// requests executing than CPUs, each is slowed in proportion. 0: no CPU limit.
    pub cpus: f64,
    /// Memory per object, held once in the watch cache and again in each LIST response being
    /// built (8 KiB: cascade's choice; a pod object is a few KiB, decoded and encoded).
    pub bytes_per_object: Bytes,
    /// The process's memory besides the objects (512 MiB: cascade's choice).
    pub baseline_memory: Bytes,
    /// The API server's memory limit (its container's, or its VM's); past it the process is
    /// OOM-killed. 0 (the default): no limit.
    pub memory_limit: Bytes,
    /// From a (re)start to serving: process start, etcd connections, the watch cache filled
    /// (60 s: cascade's choice; large clusters take minutes).
    pub startup_seconds: f64,
    /// The longest a request waits in an APF queue: a quarter of `--request-timeout`'s 60 s.
    pub queue_wait_limit_seconds: f64,
}

impl Default for ApiServerParams {
    fn default() -> Self {
        let d = cascade_apiserver::server::ApiServerConfig::default();
        ApiServerParams {
            priority_and_fairness: d.flow_control.priority_and_fairness,
            max_requests_inflight: d.flow_control.max_requests_inflight,
            max_mutating_requests_inflight: d.flow_control.max_mutating_requests_inflight,
            request_seconds: d.execution.request.as_secs_f64(),
            list_seconds_per_object: d.execution.list_seconds_per_object,
            cpus: d.execution.cpus,
            bytes_per_object: Bytes(8 * 1024),
            baseline_memory: Bytes(512 * 1024 * 1024),
            memory_limit: Bytes(0),
            startup_seconds: d.startup.as_secs_f64(),
            queue_wait_limit_seconds: d.flow_control.queue_wait_limit.as_secs_f64(),
        }
    }
}

impl ApiServerParams {
    /// The server's configuration: the flat flags onto the server's groups, every length of
    /// time a `Duration`.
    pub fn config(&self) -> cascade_apiserver::server::ApiServerConfig {
        use cascade_apiserver::server::{
            ApiServerConfig, ExecutionConfig, FlowControlConfig, MemoryConfig,
        };
        use cascade_engine::Duration;
        ApiServerConfig {
            flow_control: FlowControlConfig {
                priority_and_fairness: self.priority_and_fairness,
                max_requests_inflight: self.max_requests_inflight,
                max_mutating_requests_inflight: self.max_mutating_requests_inflight,
                queue_wait_limit: Duration::from_secs_f64(self.queue_wait_limit_seconds),
            },
            execution: ExecutionConfig {
                request: Duration::from_secs_f64(self.request_seconds),
                list_seconds_per_object: self.list_seconds_per_object,
                cpus: self.cpus,
            },
            memory: MemoryConfig {
                bytes_per_object: self.bytes_per_object.0 as f64,
                baseline_bytes: self.baseline_memory.0 as f64,
                memory_limit_bytes: self.memory_limit.0 as f64,
            },
            startup: Duration::from_secs_f64(self.startup_seconds),
        }
    }
}

/// The cluster autoscaler (kubernetes/autoscaler cluster-autoscaler FAQ defaults), for node
/// groups with a `maxSize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// --max-node-provision-time (15 minutes): a node asked for and not registered by then
    /// is a failed scale-up (ScaleUpTimedOut), its instance deleted, its group backed off.
    pub max_node_provision_time_seconds: f64,
    /// --max-nodes-total (0: no limit): the autoscaler never asks for nodes past this many
    /// in the cluster.
    pub max_nodes_total: usize,
    /// --initial-node-group-backoff-duration (5 minutes): a group's first failed scale-up
    /// keeps the autoscaler off it this long.
    pub initial_node_group_backoff_seconds: f64,
    /// --max-node-group-backoff-duration (30 minutes): the doubling's cap.
    pub max_node_group_backoff_seconds: f64,
    /// --node-group-backoff-reset-timeout (3 hours): a group's backoff is forgotten this long
    /// after its last failure.
    pub node_group_backoff_reset_timeout_seconds: f64,
}

impl AutoscalerParams {
    pub fn backoff(&self) -> crate::sim::cloud::BackoffConfig {
        let t = cascade_engine::Time::from_secs_f64;
        crate::sim::cloud::BackoffConfig {
            initial: t(self.initial_node_group_backoff_seconds),
            max: t(self.max_node_group_backoff_seconds),
            reset_timeout: t(self.node_group_backoff_reset_timeout_seconds),
        }
    }
}

/// The cloud provider's limits on creating instances; 0 is no limit, the default for each
/// (the limits are the provider's and the project's, docs/control-plane-and-nodes.md#cloud-provisioning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CloudParams {
    /// Instance creations in flight at once.
    pub max_concurrent_creates: usize,
    /// Create calls per second the API admits, with a burst of `apiBurst`.
    pub api_requests_per_second: f64,
    pub api_burst: u32,
    /// The most nodes the project may run (the nodes and the creations in flight): a create
    /// past it fails at once (QUOTA_EXCEEDED).
    pub instance_quota: usize,
    /// How long a create in a stocked-out zone takes to fail (a `stockout` fault).
    pub stockout_failure_seconds: f64,
}

impl CloudParams {
    /// The cloud's limits; a create that succeeds takes the autoscaler's provisioning time.
    pub fn limits(&self, provisioning_seconds: f64) -> crate::sim::cloud::CloudLimits {
        let t = cascade_engine::Time::from_secs_f64;
        crate::sim::cloud::CloudLimits {
            max_concurrent_creates: self.max_concurrent_creates,
            api_requests_per_second: self.api_requests_per_second,
            api_burst: self.api_burst,
            instance_quota: self.instance_quota,
            provisioning: t(provisioning_seconds),
            stockout_failure: t(self.stockout_failure_seconds),
        }
    }
}

impl Default for CloudParams {
    fn default() -> Self {
        CloudParams {
            max_concurrent_creates: 0,
            api_requests_per_second: 0.0,
            api_burst: 1,
            instance_quota: 0,
            stockout_failure_seconds: 60.0,
        }
    }
}

/// What a node auto-repair does to a node NotReady too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RepairAction {
    /// Restart the machine: its processes stop, its kubelet comes back after `rebootSeconds`
    /// and re-registers (a crash or a hang is cured; a partition is not).
    Reboot,
    /// Drain and delete the node and create it again through the cloud (GKE's repair): its
    /// pods go at once, the new instance joins after the cloud's provisioning.
    Replace,
}

/// A node auto-repair policy: every node monitor pass, a node NotReady for `notReadySeconds`
/// is repaired (docs/control-plane-and-nodes.md#node-auto-repair).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NodeRepairParams {
    pub enabled: bool,
    /// GKE: NotReady, or no status, on consecutive checks over about 10 minutes.
    pub not_ready_seconds: f64,
    pub action: RepairAction,
    /// A reboot's length, from the repair to the kubelet posting status again.
    pub reboot_seconds: f64,
    /// Repairs under way at once (0: no limit).
    pub max_concurrent_repairs: usize,
}

impl Default for NodeRepairParams {
    fn default() -> Self {
        NodeRepairParams {
            enabled: false,
            not_ready_seconds: 600.0,
            action: RepairAction::Replace,
            reboot_seconds: 180.0,
            max_concurrent_repairs: 0,
        }
    }
}

impl Default for AutoscalerParams {
    fn default() -> Self {
        AutoscalerParams {
            scan_interval_seconds: 10.0,
            provisioning_seconds: 120.0,
            scale_down_unneeded_seconds: 600.0,
            scale_down_delay_after_add_seconds: 600.0,
            max_node_provision_time_seconds: 900.0,
            max_nodes_total: 0,
            initial_node_group_backoff_seconds: 300.0,
            max_node_group_backoff_seconds: 1800.0,
            node_group_backoff_reset_timeout_seconds: 10800.0,
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

/// Applies a scale model to a tree of parameters: `generatorScale` times `s`, and each of
/// `laws` (a dot path and an exponent) times `s^exponent`; a whole-number parameter stays whole
/// (rounded, at least 1). Returns, for each law that names no numeric parameter, its index and
/// why.
pub fn apply_similarity(
    tree: &mut serde_json::Value,
    s: f64,
    laws: &[(&str, f64)],
) -> Vec<(usize, String)> {
    let mut errors = Vec::new();
    if let Some(g) = tree.get_mut("generatorScale") {
        if let Some(v) = g.as_f64() {
            *g = serde_json::json!(v * s);
        }
    }
    for (i, (path, exponent)) in laws.iter().enumerate() {
        let mut node = Some(&mut *tree);
        for part in path.split('.') {
            node = node.and_then(|n| n.get_mut(part));
        }
        let factor = s.powf(*exponent);
        match node {
            Some(v) if v.is_u64() => {
                let scaled = (v.as_f64().unwrap_or(0.0) * factor).round().max(1.0);
                *v = serde_json::json!(whole(scaled));
            }
            Some(v) if v.is_f64() || v.is_i64() => {
                *v = serde_json::json!(v.as_f64().unwrap_or(0.0) * factor);
            }
            Some(_) => errors.push((i, format!("{path} is not a number: only numeric parameters scale"))),
            None => errors.push((i, format!("no parameter {path}: expected a dot-separated path such as gossip.snapshot.maxBytes (see cascade params)"))),
        }
    }
    errors
}

/// A rounded, non-negative count as an integer.
#[allow(
    clippy::cast_possible_truncation,
    reason = "a scaled count of a parameter that was a u64; `as` saturates, and a count past 2^64 is refused when the parameter is read"
)]
fn whole(v: f64) -> u64 {
    v as u64
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

impl KubeletParams {
    /// The eviction manager's settings, or every problem with the thresholds (with the
    /// parameter path each was found at).
    pub fn eviction_config(
        &self,
    ) -> Result<crate::sim::eviction::EvictionConfig, Vec<crate::sim::eviction::ThresholdError>>
    {
        let thresholds = crate::sim::eviction::parse_thresholds(
            &self.eviction_hard,
            &self.eviction_soft,
            &self.eviction_soft_grace_period_seconds,
        )?;
        Ok(crate::sim::eviction::EvictionConfig {
            thresholds,
            pressure_transition_period: cascade_engine::Time::from_secs_f64(
                self.eviction_pressure_transition_period_seconds,
            ),
            max_pod_grace_period_seconds: self.eviction_max_pod_grace_period_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_scales_sizes_times_and_bandwidths_by_their_exponents() {
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        let laws = [
            ("gossip.snapshot.maxBytes", 1.0),
            ("gossip.snapshot.bufferEvents", 1.0),
            ("gossip.snapshot.fsyncSeconds", -1.0),
            ("gossip.snapshot.writeBytesPerSecond", 2.0),
        ];
        assert!(apply_similarity(&mut tree, 0.1, &laws).is_empty());
        let p: Params = serde_json::from_value(tree).unwrap();
        let d = Params::default();
        assert!((p.generator_scale - 0.1).abs() < 1e-12);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(
            p.gossip.snapshot.max_bytes,
            d.gossip.snapshot.max_bytes * 0.1
        ));
        assert_eq!(p.gossip.snapshot.buffer_events, 102, "1024 x 0.1, rounded");
        assert!(close(
            p.gossip.snapshot.fsync_seconds,
            d.gossip.snapshot.fsync_seconds * 10.0
        ));
        assert!(close(
            p.gossip.snapshot.write_bytes_per_second,
            d.gossip.snapshot.write_bytes_per_second * 0.01
        ));
        // What is not listed does not move.
        assert_eq!(p.gossip.handoff_queue_depth, d.gossip.handoff_queue_depth);
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        let bad = apply_similarity(
            &mut tree,
            0.5,
            &[
                ("gossip.snapshot.maxByte", 1.0),
                ("gossip.handoffPolicy", 1.0),
            ],
        );
        assert_eq!(bad.len(), 2);
        assert!(bad[0].1.starts_with("no parameter gossip.snapshot.maxByte"));
        assert!(bad[1].1.contains("not a number"));
    }

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
