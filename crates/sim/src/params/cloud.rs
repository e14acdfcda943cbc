//! Nodes that come and go through the cloud: the cluster autoscaler
//! (`parameters.clusterAutoscaler`), the cloud provider's limits on creating instances
//! (`parameters.cloud`) and a managed node auto-repair policy (`parameters.nodeRepair`).

use serde::{Deserialize, Serialize};

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
