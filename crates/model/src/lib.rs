//! The cluster objects cascade simulates, in a compact form the scheduler and the simulator can
//! work on quickly: [`Node`], [`Pod`], [`PriorityClass`], [`PodDisruptionBudget`], with requests
//! already resolved to integers and priorities already resolved by [`admission`].
//!
//! This crate knows nothing of YAML or of the Kubernetes API types: `cascade-manifest` converts
//! real manifests into these objects. Field names follow Kubernetes' own (`priority`,
//! `nominated_node_name`, `termination_grace_period_seconds`) so that they read as the API does.

pub mod admission;
pub mod objects;
pub mod resources;
pub mod rng;
pub mod selector;

pub use admission::{AdmissionError, PriorityClasses};
pub use objects::{
    IntOrPercent, Node, OwnerRef, Pod, PodDisruptionBudget, PodManagementPolicy, PodTemplate,
    PreemptionPolicy, PreferredTerm, PriorityClass, Taint, TaintEffect, Toleration,
    TolerationOperator, UpdateStrategy, Workload, WorkloadKind,
};
pub use resources::{ResourceName, Resources};
pub use rng::Rng;
pub use selector::{
    LabelSelector, Labels, NodeSelector, NodeSelectorTerm, PodSelector, Requirement,
};

/// Time in milliseconds since the Unix epoch. Manifests carry wall-clock timestamps
/// (`creationTimestamp`, `status.startTime`); the simulator's clock uses the same unit.
pub type Millis = i64;
