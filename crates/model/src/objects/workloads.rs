//! What creates, ranks and protects pods: workloads (Deployment, ReplicaSet, StatefulSet,
//! DaemonSet) and Jobs, PriorityClasses, and PodDisruptionBudgets.

use super::*;
use serde::Serialize;

/// The controllers that create pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum WorkloadKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
}

/// StatefulSet spec.podManagementPolicy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PodManagementPolicy {
    #[default]
    OrderedReady,
    Parallel,
}

/// How a controller moves its pods onto a changed template: a Deployment's `spec.strategy.type`
/// (RollingUpdate or Recreate), a StatefulSet's or DaemonSet's `spec.updateStrategy.type`
/// (RollingUpdate or OnDelete). A ReplicaSet never replaces pods for a template change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UpdateStrategy {
    #[default]
    RollingUpdate,
    /// Deployment: delete every old pod, then create the new ones.
    Recreate,
    /// StatefulSet, DaemonSet: the new template applies only to pods created after an old one
    /// is deleted by someone else.
    OnDelete,
}

/// A Deployment, ReplicaSet, StatefulSet or DaemonSet: a pod template and how many to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// spec.replicas (default 1); ignored for DaemonSets (one pod per eligible node).
    pub replicas: i32,
    pub selector: LabelSelector,
    pub template: PodTemplate,
    /// Rolling update: maxSurge and maxUnavailable (Deployment defaults 25% / 25%;
    /// DaemonSet defaults 0 / 1; unused by StatefulSets, which replace one pod at a time).
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    pub min_ready_seconds: i32,
    pub pod_management_policy: PodManagementPolicy,
    pub update_strategy: UpdateStrategy,
    /// StatefulSet `spec.updateStrategy.rollingUpdate.partition` (default 0): ordinals below
    /// it keep (and are recreated from) the current revision.
    pub partition: i32,
}

/// A batch/v1 Job, as far as the pods it creates at once: the Job controller starts
/// `min(parallelism, completions)` pods (all `parallelism` when completions is unset: a work
/// queue), none while suspended. docs/kubernetes.md#jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub namespace: String,
    pub name: String,
    pub template: PodTemplate,
    /// spec.parallelism (default 1).
    pub parallelism: i32,
    /// spec.completions; None is a work queue.
    pub completions: Option<i32>,
    /// spec.completionMode Indexed: pod names carry the completion index.
    pub indexed: bool,
    pub suspend: bool,
}

impl Job {
    /// How many pods the controller creates at first.
    pub fn active_pods(&self) -> i32 {
        if self.suspend {
            return 0;
        }
        let p = self.parallelism.max(0);
        self.completions.map_or(p, |c| p.min(c.max(0)))
    }
}

impl Workload {
    /// The rolling-update defaults of each kind (apps/v1 SetDefaults_Deployment,
    /// SetDefaults_DaemonSet: maxUnavailable 1, maxSurge 0).
    pub fn default_rollout(kind: WorkloadKind) -> (IntOrPercent, IntOrPercent) {
        match kind {
            WorkloadKind::DaemonSet => (
                DEFAULT_DAEMONSET_MAX_SURGE,
                DEFAULT_DAEMONSET_MAX_UNAVAILABLE,
            ),
            _ => (DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE),
        }
    }
}

/// Deployment strategy defaults (apps/v1 SetDefaults_Deployment): 25% surge, 25% unavailable.
pub const DEFAULT_MAX_SURGE: IntOrPercent = IntOrPercent::Percent(25);
pub const DEFAULT_MAX_UNAVAILABLE: IntOrPercent = IntOrPercent::Percent(25);
/// DaemonSet rolling update defaults (apps/v1 SetDefaults_DaemonSet): one node at a time, no surge.
pub const DEFAULT_DAEMONSET_MAX_SURGE: IntOrPercent = IntOrPercent::Int(0);
pub const DEFAULT_DAEMONSET_MAX_UNAVAILABLE: IntOrPercent = IntOrPercent::Int(1);

/// A scheduling.k8s.io/v1 PriorityClass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityClass {
    pub name: String,
    pub value: i32,
    pub global_default: bool,
    pub preemption_policy: PreemptionPolicy,
}

/// minAvailable / maxUnavailable: an absolute count or a percentage of the expected pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(i32),
}

impl IntOrPercent {
    /// The absolute value against `total`, rounding down (a Deployment's maxUnavailable).
    pub fn scaled_down(self, total: i32) -> i32 {
        match self {
            IntOrPercent::Int(v) => v,
            IntOrPercent::Percent(p) => {
                i32::try_from(i64::from(p) * i64::from(total) / 100).unwrap_or(i32::MAX)
            }
        }
    }

    /// The absolute value against `total`, rounding up as the disruption controller does
    /// (intstr.GetScaledValueFromIntOrPercent with roundUp = true).
    pub fn scaled(self, total: i32) -> i32 {
        match self {
            IntOrPercent::Int(v) => v,
            IntOrPercent::Percent(p) => {
                i32::try_from((i64::from(p) * i64::from(total) + 99) / 100).unwrap_or(i32::MAX)
            }
        }
    }
}

/// A policy/v1 PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDisruptionBudget {
    pub namespace: String,
    pub name: String,
    pub selector: LabelSelector,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
    /// status.disruptionsAllowed as read from a snapshot, if present.
    pub status_disruptions_allowed: Option<i32>,
    /// status.disruptedPods: pods already being disrupted, which preemption does not count again.
    pub disrupted_pods: Vec<String>,
}

impl PodDisruptionBudget {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the budget covers `pod`. kube-scheduler ignores PDBs with an empty selector
    /// (filterPodsWithPDBViolation: "A PDB with a nil or empty selector matches nothing").
    pub fn covers(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace
            && !self.selector.is_empty()
            && self.selector.matches(&pod.labels)
    }

    /// desiredHealthy as the disruption controller computes it from the spec, given how many
    /// pods the budget expects (the owners' scale; here the matching pods).
    pub fn desired_healthy(&self, expected: i32) -> i32 {
        if let Some(m) = self.min_available {
            m.scaled(expected)
        } else if let Some(u) = self.max_unavailable {
            (expected - u.scaled(expected)).max(0)
        } else {
            // policy/v1 requires one of the two; treat neither as "no budget".
            0
        }
    }
}
