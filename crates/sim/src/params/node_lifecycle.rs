//! The node lifecycle controller, the kubelet's status updates and DefaultTolerationSeconds
//! (`parameters.nodeLifecycle`).

use serde::{Deserialize, Serialize};

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
