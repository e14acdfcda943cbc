//! The cluster objects cascade simulates, in a compact form the scheduler and the simulator can
//! work on quickly: [`Node`], [`Pod`], [`PriorityClass`], [`PodDisruptionBudget`], with requests
//! already resolved to integers and priorities already resolved by [`admission`].
//!
//! This crate knows nothing of YAML or of the Kubernetes API types: `cascade-manifest` converts
//! real manifests into these objects. Field names follow Kubernetes' own (`priority`,
//! `nominated_node_name`, `termination_grace_period_seconds`) so that they read as the API does.

pub mod admission;
pub mod names;
pub mod objects;
pub mod qos;
pub mod resources;
/// The generator lives with the clock in `cascade-engine`; re-exported for the model crates.
pub use cascade_engine::rng;
pub mod selector;

pub use admission::{AdmissionError, PriorityClasses};
pub use cascade_engine::table_id;
pub use cascade_engine::Rng;
pub use names::GeneratedNames;
pub use objects::{
    DnsPolicy, IntOrPercent, Job, Node, OwnerRef, Pod, PodDisruptionBudget, PodDns,
    PodManagementPolicy, PodTemplate, PreemptionPolicy, PreferredTerm, PriorityClass, Taint,
    TaintEffect, Toleration, TolerationOperator, UpdateStrategy, Workload, WorkloadKind,
};
pub use qos::{QosClass, QosTally};
pub use resources::{ResourceName, Resources, ScalarResources};
pub use selector::{
    LabelSelector, Labels, NodeSelector, NodeSelectorTerm, PodSelector, Requirement,
};

/// Wall-clock time in milliseconds since the Unix epoch, as manifests carry it
/// (`creationTimestamp`, `status.startTime`). The simulator's clock is a different thing:
/// `cascade_engine::Time`, microseconds since the run's start; the scenario's `startTime`
/// maps one onto the other.
pub type Millis = i64;
