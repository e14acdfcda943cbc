//! When a node short of memory thrashes (docs/kubernetes.md#a-thrashing-node): the kernel
//! reclaims the pages its system daemons run from, and the kubelet and the container runtime
//! stop answering. Each number here is cascade's choice, not an upstream default; the
//! documentation says why each was chosen.

use cascade_manifest::quantity::Bytes;
use serde::{Deserialize, Serialize};

/// A node thrashes once its `memory.available` (the kubelet's signal: capacity minus working
/// set) has stayed below `memoryAvailable` for `onsetSeconds`; its kubelet then stops renewing
/// its Lease and posting status, its eviction manager stops, and its runtime stops answering.
/// It recovers `recoverySeconds` after `memory.available` is back at or above `memoryAvailable`
/// (the kernel's OOM killer or an eviction freed memory). Only modelled with node memory (some
/// behaviour has `memory`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ThrashingParams {
    /// Below this much `memory.available` reclaim takes the daemons' own pages (50Mi, cascade's
    /// choice: the kernel's free-page watermarks plus the code the kubelet, the runtime and
    /// systemd keep touching; half the kubelet's default hard eviction threshold, so a kubelet
    /// with its defaults evicts first unless memory grows faster than 50Mi in one eviction
    /// monitoring period). 0 turns thrashing off.
    pub memory_available: Bytes,
    /// How long `memory.available` stays below the threshold before the node's daemons stall
    /// (10 s, cascade's choice: PSI's shortest averaging window, `avg10`).
    pub onset_seconds: f64,
    /// From memory freed to the kubelet and the runtime answering again (30 s, cascade's
    /// choice: paging the daemons back in and the kubelet's sync loops catching up).
    pub recovery_seconds: f64,
}

impl Default for ThrashingParams {
    fn default() -> Self {
        ThrashingParams {
            memory_available: Bytes(50 * 1024 * 1024),
            onset_seconds: 10.0,
            recovery_seconds: 30.0,
        }
    }
}
