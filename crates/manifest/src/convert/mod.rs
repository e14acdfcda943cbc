//! From the Kubernetes API types (k8s-openapi, v1.33) to cascade's model. Every check that the
//! API server's validation would make and that matters to scheduling is made here, and every
//! problem is reported with the path of the offending field.

use crate::error::{Path, PathError};
use crate::quantity::Quantity;
use cascade_model::objects::{
    nonzero_container, IntOrPercent, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, MAX_NDOTS,
};
use cascade_model::resources::{is_extended_resource_name, is_scalar_resource_name};
use cascade_model::{
    DnsPolicy, LabelSelector, Labels, Node, NodeSelector, NodeSelectorTerm, OwnerRef, Pod,
    PodDisruptionBudget, PodDns, PodManagementPolicy, PodTemplate, PreemptionPolicy, PreferredTerm,
    PriorityClass, QosClass, QosTally, Requirement, Resources, ScalarResources, Taint, TaintEffect,
    Toleration, TolerationOperator, Workload, WorkloadKind,
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

/// Which object a resource list belongs to: the API server accepts different names in each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ListOf {
    /// A container's requests or limits: standard container resources (cpu, memory,
    /// ephemeral-storage, hugepages-<size>) and extended resources only.
    Container,
    /// A node's allocatable or capacity, a pod's overhead: any name; names the scheduler does
    /// not account are ignored, as its `NewResource` ignores them.
    Other,
}

/// A resource list (requests, limits, allocatable, overhead) as cascade's [`Resources`] and
/// the scalar resources (extended resources such as nvidia.com/gpu, hugepages-*) beside them
/// (docs/kubernetes.md#extended-resources).
pub(super) fn resource_list(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    path: &Path,
    of: ListOf,
) -> Result<(Resources, ScalarResources)> {
    let mut r = Resources::ZERO;
    let mut scalar = ScalarResources::new();
    let Some(list) = list else {
        return Ok((r, scalar));
    };
    for (name, q) in list {
        let p = path.key(name);
        let parsed = quantity(&q.0, &p)?;
        if parsed.is_negative() {
            return Err(PathError::new(
                p,
                format!("invalid quantity {:?}: expected a non-negative amount", q.0),
            ));
        }
        let bad = |e: crate::quantity::QuantityError| {
            PathError::new(
                p.clone(),
                format!("invalid quantity {:?}: expected {e}", q.0),
            )
        };
        match name.as_str() {
            "cpu" => r.milli_cpu = parsed.milli_value().map_err(bad)?,
            "memory" => r.memory = parsed.value().map_err(bad)?,
            "ephemeral-storage" => r.ephemeral_storage = parsed.value().map_err(bad)?,
            "pods" if of == ListOf::Other => r.pods = parsed.value().map_err(bad)?,
            n if is_scalar_resource_name(n) => {
                if of == ListOf::Container
                    && !is_extended_resource_name(n)
                    && !n.starts_with("hugepages-")
                {
                    return Err(PathError::new(
                        p,
                        format!("invalid resource name {n:?}: expected a standard container resource (cpu, memory, ephemeral-storage, hugepages-<size>) or an extended resource outside kubernetes.io (such as nvidia.com/gpu)"),
                    ));
                }
                let v = parsed.value().map_err(bad)?;
                if is_extended_resource_name(n) && parsed.milli_value().map_err(bad)? != v * 1000 {
                    return Err(PathError::new(
                        p,
                        format!("invalid quantity {:?}: expected a whole number (extended resources are counted in whole units)", q.0),
                    ));
                }
                scalar.set(n, v);
            }
            n if of == ListOf::Container => {
                return Err(PathError::new(
                    p,
                    format!("invalid resource name {n:?}: expected cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource with a domain (such as nvidia.com/gpu)"),
                ));
            }
            _ => {}
        }
    }
    Ok((r, scalar))
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
pub use pod::{pod, pod_template, priority_class, unmodelled_constraints};
pub use selectors::label_selector;
use selectors::{node_selector_term, toleration};
pub use workloads::{
    daemon_set, deployment, job, pod_disruption_budget, replica_set, stateful_set, workload,
    WorkloadParts,
};
