//! kube-controller-manager's workload controllers and their API clients
//! (`parameters.controllers`): sync delay, burst, each client's QPS and burst, the work
//! queue's rate limiter, the endpointslice controller's batching and backoff. Defaults from
//! `cascade_apiserver::client`.

use serde::{Deserialize, Serialize};

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
