//! From the Kubernetes API types (k8s-openapi, v1.33) to cascade's model. Every check that the
//! API server's validation would make and that matters to scheduling is made here, and every
//! problem is reported with the path of the offending field.

use crate::error::{Path, PathError};
use crate::quantity::Quantity;
use cascade_model::objects::{
    nonzero_container, IntOrPercent, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
};
use cascade_model::{
    LabelSelector, Labels, Node, NodeSelector, NodeSelectorTerm, OwnerRef, Pod,
    PodDisruptionBudget, PodManagementPolicy, PodTemplate, PreemptionPolicy, PreferredTerm,
    PriorityClass, Requirement, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
    Workload, WorkloadKind,
};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

type Result<T> = std::result::Result<T, PathError>;

const DEFAULT_NAMESPACE: &str = "default";
pub(super) fn millis(t: &meta::Time) -> i64 {
    t.0.as_millisecond()
}

pub(super) fn name_of(meta: &meta::ObjectMeta, path: &Path) -> Result<String> {
    match meta.name.as_deref() {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(PathError::new(
            path.key("metadata"),
            "expected metadata.name (every object needs a name)",
        )),
    }
}

pub(super) fn namespace_of(meta: &meta::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

/// Parses one resource quantity map entry.
pub(super) fn quantity(q: &str, path: &Path) -> Result<Quantity> {
    Quantity::parse(q).map_err(|e| {
        PathError::new(
            path.clone(),
            format!("invalid quantity {q:?}: expected {e}"),
        )
    })
}

/// A resource list (requests, limits, allocatable, overhead) as cascade's [`Resources`].
/// Extended resources (nvidia.com/gpu, hugepages-*) are not modelled and are ignored.
pub(super) fn resource_list(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    path: &Path,
) -> Result<Resources> {
    let mut r = Resources::ZERO;
    let Some(list) = list else { return Ok(r) };
    for (name, q) in list {
        let p = path.key(name);
        let parsed = quantity(&q.0, &p)?;
        if parsed.is_negative() {
            return Err(PathError::new(
                p,
                format!("invalid quantity {:?}: expected a non-negative amount", q.0),
            ));
        }
        let v = match name.as_str() {
            "cpu" => parsed.milli_value(),
            "memory" | "ephemeral-storage" | "pods" => parsed.value(),
            _ => continue,
        }
        .map_err(|e| {
            PathError::new(
                p.clone(),
                format!("invalid quantity {:?}: expected {e}", q.0),
            )
        })?;
        match name.as_str() {
            "cpu" => r.milli_cpu = v,
            "memory" => r.memory = v,
            "ephemeral-storage" => r.ephemeral_storage = v,
            _ => r.pods = v,
        }
    }
    Ok(r)
}

pub(super) fn taint_effect(s: &str, path: &Path) -> Result<TaintEffect> {
    match s {
        "NoSchedule" => Ok(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Ok(TaintEffect::PreferNoSchedule),
        "NoExecute" => Ok(TaintEffect::NoExecute),
        other => Err(PathError::new(
            path.clone(),
            format!("unsupported taint effect {other:?}: expected one of NoSchedule, PreferNoSchedule, NoExecute"),
        )),
    }
}

pub(super) fn int_or_percent(v: &IntOrString, path: &Path) -> Result<IntOrPercent> {
    match v {
        IntOrString::Int(i) if *i >= 0 => Ok(IntOrPercent::Int(*i)),
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|p| (0..=100).contains(p))
            .map(IntOrPercent::Percent)
            .ok_or_else(|| PathError::new(path.clone(), format!("invalid value {s:?}: expected a non-negative integer or a percentage such as \"25%\""))),
        IntOrString::Int(i) => Err(PathError::new(path.clone(), format!("invalid value {i}: expected a non-negative integer"))),
    }
}

mod node;
mod pod;
mod selectors;
mod workloads;

pub use node::node;
pub use pod::{pod, pod_template, priority_class};
pub use selectors::label_selector;
use selectors::{node_selector_term, toleration};
pub use workloads::{
    daemon_set, deployment, pod_disruption_budget, replica_set, stateful_set, workload,
    WorkloadParts,
};
