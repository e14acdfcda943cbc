//! The kubelet's CPU settings, read when some behaviour has `cpu` (docs/kubernetes.md#node-cpu).

use serde::{Deserialize, Serialize};

/// Node CPU: how the kubelet sets CFS bandwidth control, and how much a saturated node slows
/// the kubelet's and the runtime's own work. The pods share the node's allocatable CPU (what
/// the scenario writes: capacity - kubeReserved - systemReserved, the reservations taken as
/// the daemons' own use).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NodeCpuParams {
    /// `--cpu-cfs-quota` (true, kubelet v1.33): a container with a CPU limit gets a CFS quota;
    /// false leaves limits unenforced.
    pub cfs_quota: bool,
    /// `--cpu-cfs-quota-period` (100 ms, kubelet v1.33; the kernel's `cpu.cfs_period_us`
    /// default): the container may run `limit x period` of CPU time each period.
    pub cfs_quota_period_seconds: f64,
    /// How a saturated node stretches its kubelet's and runtime's operations (a pod's start,
    /// its readiness probe): by 1 + this x (pressure - 1), pressure being the pods' CPU demand
    /// over allocatable when above 1. 1: the daemons' threads wait in the run queue as
    /// everything else does (cascade's choice; 0: the daemons are never slowed).
    pub saturation_slowdown: f64,
}

impl Default for NodeCpuParams {
    fn default() -> Self {
        NodeCpuParams {
            cfs_quota: true,
            cfs_quota_period_seconds: 0.1,
            saturation_slowdown: 1.0,
        }
    }
}
