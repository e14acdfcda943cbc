//! The kubelet (`parameters.kubelet`): pod start and stop, CrashLoopBackOff, the pod worker's
//! retries, the container runtime daemon, and node-pressure eviction's thresholds (mapped onto
//! the eviction manager's `EvictionConfig` by `KubeletParams::eviction_config`).

use super::NodeCpuParams;
use cascade_manifest::quantity::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
