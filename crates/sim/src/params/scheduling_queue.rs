//! kube-scheduler's scheduling queue (`parameters.schedulingQueue`): backoff, the
//! unschedulable pods' flush, the cycle's length.

use serde::{Deserialize, Serialize};

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
