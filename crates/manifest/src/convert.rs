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

fn millis(t: &meta::Time) -> i64 {
    t.0.as_millisecond()
}

fn name_of(meta: &meta::ObjectMeta, path: &Path) -> Result<String> {
    match meta.name.as_deref() {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(PathError::new(
            path.key("metadata"),
            "expected metadata.name (every object needs a name)",
        )),
    }
}

fn namespace_of(meta: &meta::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

/// Parses one resource quantity map entry.
fn quantity(q: &str, path: &Path) -> Result<Quantity> {
    Quantity::parse(q).map_err(|e| {
        PathError::new(
            path.clone(),
            format!("invalid quantity {q:?}: expected {e}"),
        )
    })
}

/// A resource list (requests, limits, allocatable, overhead) as cascade's [`Resources`].
/// Extended resources (nvidia.com/gpu, hugepages-*) are not modelled and are ignored.
fn resource_list(
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

fn taint_effect(s: &str, path: &Path) -> Result<TaintEffect> {
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

pub fn node(n: &core::Node, path: &Path) -> Result<Node> {
    let name = name_of(&n.metadata, path)?;
    let status = n.status.as_ref();
    let st = path.key("status");
    // The scheduler reads allocatable; a hand-written node may give only capacity.
    let allocatable = match status.and_then(|s| s.allocatable.as_ref()) {
        Some(a) => resource_list(Some(a), &st.key("allocatable"))?,
        None => match status.and_then(|s| s.capacity.as_ref()) {
            Some(c) => resource_list(Some(c), &st.key("capacity"))?,
            None => {
                return Err(PathError::new(
                    path.clone(),
                    format!("node {name}: expected status.allocatable (or status.capacity) with cpu, memory and pods"),
                ))
            }
        },
    };
    let mut taints = Vec::new();
    let spec = n.spec.as_ref();
    for (i, t) in spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = path.key("spec").key("taints").idx(i);
        if t.key.is_empty() {
            return Err(PathError::new(p, "expected a taint key"));
        }
        taints.push(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: taint_effect(&t.effect, &p.key("effect"))?,
            time_added: t.time_added.as_ref().map(millis),
        });
    }
    Ok(Node {
        name,
        labels: n.metadata.labels.clone().unwrap_or_default(),
        allocatable,
        taints,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
    })
}

fn requirement(
    key: &str,
    op: &str,
    values: &[String],
    node: bool,
    path: &Path,
) -> Result<Requirement> {
    let k = key.to_string();
    let v = values.to_vec();
    let need_values = |r: Requirement| {
        if v.is_empty() {
            Err(PathError::new(
                path.key("values"),
                format!("operator {op} expected a non-empty values list"),
            ))
        } else {
            Ok(r)
        }
    };
    let int_bound = |p: &Path| -> Result<i64> {
        match values {
            [one] => one.parse::<i64>().map_err(|_| {
                PathError::new(
                    p.key("values").idx(0),
                    format!("operator {op} expected an integer value, got {one:?}"),
                )
            }),
            _ => Err(PathError::new(
                p.key("values"),
                format!("operator {op} expected exactly one value"),
            )),
        }
    };
    match op {
        "In" => need_values(Requirement::In(k, v.clone())),
        "NotIn" => need_values(Requirement::NotIn(k, v.clone())),
        "Exists" => Ok(Requirement::Exists(k)),
        "DoesNotExist" => Ok(Requirement::DoesNotExist(k)),
        "Gt" if node => Ok(Requirement::Gt(k, int_bound(path)?)),
        "Lt" if node => Ok(Requirement::Lt(k, int_bound(path)?)),
        other => Err(PathError::new(
            path.key("operator"),
            if node {
                format!("unsupported operator {other:?}: expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt")
            } else {
                format!("unsupported operator {other:?}: expected one of In, NotIn, Exists, DoesNotExist")
            },
        )),
    }
}

pub fn label_selector(s: &meta::LabelSelector, path: &Path) -> Result<LabelSelector> {
    let mut reqs = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let p = path.key("matchExpressions").idx(i);
        reqs.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            false,
            &p,
        )?);
    }
    Ok(LabelSelector { requirements: reqs })
}

fn node_selector_term(t: &core::NodeSelectorTerm, path: &Path) -> Result<NodeSelectorTerm> {
    let mut term = NodeSelectorTerm::default();
    for (i, e) in t.match_expressions.iter().flatten().enumerate() {
        let p = path.key("matchExpressions").idx(i);
        term.match_expressions.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            true,
            &p,
        )?);
    }
    for (i, e) in t.match_fields.iter().flatten().enumerate() {
        let p = path.key("matchFields").idx(i);
        if e.key != "metadata.name" {
            return Err(PathError::new(
                p.key("key"),
                format!("unsupported field {:?}: expected metadata.name", e.key),
            ));
        }
        term.match_fields.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            true,
            &p,
        )?);
    }
    Ok(term)
}

fn toleration(t: &core::Toleration, path: &Path) -> Result<Toleration> {
    let operator = match t.operator.as_deref() {
        None | Some("") | Some("Equal") => TolerationOperator::Equal,
        Some("Exists") => TolerationOperator::Exists,
        Some(other) => {
            return Err(PathError::new(
                path.key("operator"),
                format!("unsupported toleration operator {other:?}: expected Equal or Exists"),
            ))
        }
    };
    let key = t.key.clone().unwrap_or_default();
    if key.is_empty() && operator != TolerationOperator::Exists {
        return Err(PathError::new(
            path.key("operator"),
            "a toleration with an empty key expected operator Exists",
        ));
    }
    let effect = match t.effect.as_deref() {
        None | Some("") => None,
        Some(e) => Some(taint_effect(e, &path.key("effect"))?),
    };
    Ok(Toleration {
        key,
        operator,
        value: t.value.clone().unwrap_or_default(),
        effect,
        toleration_seconds: t.toleration_seconds,
    })
}

/// Requests of a pod as kube-scheduler computes them (component-helpers resource.PodRequests,
/// v1.33): app containers and restartable ("sidecar") init containers run together and are
/// summed; each ordinary init container runs alone after the sidecars started before it, and
/// the pod needs the larger of the two phases; the RuntimeClass overhead is added.
/// Returns (requests, non-zero requests for scoring).
fn pod_requests(spec: &core::PodSpec, path: &Path) -> Result<(Resources, Resources, i64)> {
    let mut sum = Resources::ZERO;
    let mut nz_sum = Resources::ZERO;
    let mut limit_sum: i64 = 0;
    let mut unlimited = false;
    for (i, c) in spec.containers.iter().enumerate() {
        let p = path.key("containers").idx(i).key("resources");
        let res = c.resources.as_ref();
        let r = resource_list(res.and_then(|r| r.requests.as_ref()), &p.key("requests"))?;
        let l = resource_list(res.and_then(|r| r.limits.as_ref()), &p.key("limits"))?;
        // A container with a limit but no request gets the limit as its request (API defaulting).
        let r = Resources {
            milli_cpu: if r.milli_cpu == 0 {
                l.milli_cpu
            } else {
                r.milli_cpu
            },
            memory: if r.memory == 0 { l.memory } else { r.memory },
            ephemeral_storage: if r.ephemeral_storage == 0 {
                l.ephemeral_storage
            } else {
                r.ephemeral_storage
            },
            pods: 0,
        };
        if l.memory == 0 {
            unlimited = true;
        }
        limit_sum += l.memory;
        sum += r;
        nz_sum += nonzero_container(r);
    }
    let mut init_max = Resources::ZERO;
    let mut nz_init_max = Resources::ZERO;
    let mut sidecars = Resources::ZERO;
    let mut nz_sidecars = Resources::ZERO;
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = path.key("initContainers").idx(i).key("resources");
        let res = c.resources.as_ref();
        let r = resource_list(res.and_then(|r| r.requests.as_ref()), &p.key("requests"))?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars += r;
            nz_sidecars += nonzero_container(r);
            init_max = init_max.max(sidecars);
            nz_init_max = nz_init_max.max(nz_sidecars);
        } else {
            init_max = init_max.max(sidecars + r);
            nz_init_max = nz_init_max.max(nz_sidecars + nonzero_container(r));
        }
    }
    let overhead = resource_list(spec.overhead.as_ref(), &path.key("overhead"))?;
    let mut req = (sum + sidecars).max(init_max) + overhead;
    let mut nz = (nz_sum + nz_sidecars).max(nz_init_max) + overhead;
    req.pods = 1;
    nz.pods = 1;
    Ok((req, nz, if unlimited { 0 } else { limit_sum }))
}

fn preemption_policy(s: Option<&str>, path: &Path) -> Result<Option<PreemptionPolicy>> {
    match s {
        None => Ok(None),
        Some("PreemptLowerPriority") => Ok(Some(PreemptionPolicy::PreemptLowerPriority)),
        Some("Never") => Ok(Some(PreemptionPolicy::Never)),
        Some(other) => Err(PathError::new(
            path.clone(),
            format!(
                "unsupported preemptionPolicy {other:?}: expected PreemptLowerPriority or Never"
            ),
        )),
    }
}

/// A pod (or a controller's pod template) before admission. `meta` is the pod's (or the
/// template's) metadata; `path` points at the object holding `metadata` and `spec`.
pub fn pod_template(
    meta: &meta::ObjectMeta,
    name: String,
    namespace: String,
    spec: Option<&core::PodSpec>,
    status: Option<&core::PodStatus>,
    path: &Path,
) -> Result<PodTemplate> {
    let sp = path.key("spec");
    let Some(spec) = spec else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with at least one container",
        ));
    };
    if spec.containers.is_empty() {
        return Err(PathError::new(
            sp.clone(),
            "expected spec.containers with at least one container",
        ));
    }
    for (i, c) in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .enumerate()
    {
        if c.name.is_empty() {
            let p = if i < spec.containers.len() {
                sp.key("containers").idx(i)
            } else {
                sp.key("initContainers").idx(i - spec.containers.len())
            };
            return Err(PathError::new(p, "expected a container name"));
        }
    }
    let (requests, nonzero_requests, memory_limit) = pod_requests(spec, &sp)?;
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref());
    let ap = sp.key("affinity").key("nodeAffinity");
    let required_node_affinity = match affinity.and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) {
        Some(sel) => {
            let rp = ap
                .key("requiredDuringSchedulingIgnoredDuringExecution")
                .key("nodeSelectorTerms");
            let mut terms = Vec::new();
            for (i, t) in sel.node_selector_terms.iter().enumerate() {
                terms.push(node_selector_term(t, &rp.idx(i))?);
            }
            Some(NodeSelector { terms })
        }
        None => None,
    };
    let mut preferred_node_affinity = Vec::new();
    for (i, t) in affinity
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = ap
            .key("preferredDuringSchedulingIgnoredDuringExecution")
            .idx(i);
        if !(1..=100).contains(&t.weight) {
            return Err(PathError::new(
                p.key("weight"),
                format!("weight {} out of range: expected 1..100", t.weight),
            ));
        }
        preferred_node_affinity.push(PreferredTerm {
            weight: t.weight,
            term: node_selector_term(&t.preference, &p.key("preference"))?,
        });
    }
    let mut tolerations = Vec::new();
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        tolerations.push(toleration(t, &sp.key("tolerations").idx(i))?);
    }
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        });
    let spec_preemption_policy = preemption_policy(
        spec.preemption_policy.as_deref(),
        &sp.key("preemptionPolicy"),
    )?;
    let grace = spec
        .termination_grace_period_seconds
        .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    if grace < 0 {
        return Err(PathError::new(
            sp.key("terminationGracePeriodSeconds"),
            "expected a non-negative number of seconds",
        ));
    }
    let pod = Pod {
        namespace,
        name,
        labels: meta.labels.clone().unwrap_or_default(),
        owner,
        priority_class_name: spec.priority_class_name.clone().filter(|n| !n.is_empty()),
        priority: spec.priority.unwrap_or(0),
        preemption_policy: spec_preemption_policy.unwrap_or_default(),
        requests,
        nonzero_requests,
        memory_limit,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        required_node_affinity,
        preferred_node_affinity,
        tolerations,
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        nominated_node_name: status
            .and_then(|s| s.nominated_node_name.clone())
            .filter(|n| !n.is_empty()),
        creation_timestamp: meta.creation_timestamp.as_ref().map_or(0, millis),
        start_time: status.and_then(|s| s.start_time.as_ref()).map(millis),
        terminating: meta.deletion_timestamp.is_some(),
        termination_grace_period_seconds: grace,
        preempted_by_scheduler: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                })
            }),
        images: spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| c.image.clone().unwrap_or_default())
            .collect(),
    };
    Ok(PodTemplate {
        pod,
        spec_priority: spec.priority,
        spec_preemption_policy,
    })
}

pub fn pod(p: &core::Pod, path: &Path) -> Result<PodTemplate> {
    let name = name_of(&p.metadata, path)?;
    pod_template(
        &p.metadata,
        name,
        namespace_of(&p.metadata),
        p.spec.as_ref(),
        p.status.as_ref(),
        path,
    )
}

pub fn priority_class(
    c: &k8s_openapi::api::scheduling::v1::PriorityClass,
    path: &Path,
) -> Result<PriorityClass> {
    let name = name_of(&c.metadata, path)?;
    if c.value > cascade_model::admission::HIGHEST_USER_DEFINABLE_PRIORITY
        && !name.starts_with("system-")
    {
        return Err(PathError::new(
            path.key("value"),
            format!(
                "value {} too large: expected at most {} for a user-defined PriorityClass",
                c.value,
                cascade_model::admission::HIGHEST_USER_DEFINABLE_PRIORITY
            ),
        ));
    }
    Ok(PriorityClass {
        name,
        value: c.value,
        global_default: c.global_default.unwrap_or(false),
        preemption_policy: preemption_policy(
            c.preemption_policy.as_deref(),
            &path.key("preemptionPolicy"),
        )?
        .unwrap_or_default(),
    })
}

fn int_or_percent(v: &IntOrString, path: &Path) -> Result<IntOrPercent> {
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

pub fn pod_disruption_budget(
    b: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
    path: &Path,
) -> Result<PodDisruptionBudget> {
    let name = name_of(&b.metadata, path)?;
    let sp = path.key("spec");
    let spec = b.spec.as_ref();
    let selector = match spec.and_then(|s| s.selector.as_ref()) {
        Some(s) => label_selector(s, &sp.key("selector"))?,
        None => LabelSelector::default(),
    };
    let min_available = spec
        .and_then(|s| s.min_available.as_ref())
        .map(|v| int_or_percent(v, &sp.key("minAvailable")))
        .transpose()?;
    let max_unavailable = spec
        .and_then(|s| s.max_unavailable.as_ref())
        .map(|v| int_or_percent(v, &sp.key("maxUnavailable")))
        .transpose()?;
    if min_available.is_some() && max_unavailable.is_some() {
        return Err(PathError::new(
            sp,
            "expected only one of minAvailable and maxUnavailable",
        ));
    }
    Ok(PodDisruptionBudget {
        namespace: namespace_of(&b.metadata),
        name,
        selector,
        min_available,
        max_unavailable,
        status_disruptions_allowed: b.status.as_ref().map(|s| s.disruptions_allowed),
        disrupted_pods: b
            .status
            .as_ref()
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    })
}

/// The pieces every pod controller has: selector, template, replicas.
pub struct WorkloadParts<'a> {
    pub kind: WorkloadKind,
    pub meta: &'a meta::ObjectMeta,
    pub replicas: Option<i32>,
    pub selector: &'a meta::LabelSelector,
    pub template: &'a core::PodTemplateSpec,
    pub min_ready_seconds: Option<i32>,
}

pub fn workload(w: WorkloadParts<'_>, path: &Path) -> Result<Workload> {
    let name = name_of(w.meta, path)?;
    let namespace = namespace_of(w.meta);
    let sp = path.key("spec");
    let selector = label_selector(w.selector, &sp.key("selector"))?;
    let tmeta = w.template.metadata.clone().unwrap_or_default();
    let template_labels: Labels = tmeta.labels.clone().unwrap_or_default();
    if selector.is_empty() || !selector.matches(&template_labels) {
        return Err(PathError::new(
            sp.key("selector"),
            "expected a non-empty selector that matches spec.template.metadata.labels",
        ));
    }
    let replicas = w.replicas.unwrap_or(1);
    if replicas < 0 {
        return Err(PathError::new(
            sp.key("replicas"),
            "expected a non-negative replica count",
        ));
    }
    let template = pod_template(
        &tmeta,
        name.clone(),
        namespace.clone(),
        w.template.spec.as_ref(),
        None,
        &sp.key("template"),
    )?;
    Ok(Workload {
        kind: w.kind,
        namespace,
        name,
        replicas,
        selector,
        template,
        max_surge: Workload::default_rollout(w.kind).0,
        max_unavailable: Workload::default_rollout(w.kind).1,
        min_ready_seconds: w.min_ready_seconds.unwrap_or(0),
        pod_management_policy: PodManagementPolicy::OrderedReady,
        update_strategy: cascade_model::UpdateStrategy::RollingUpdate,
        partition: 0,
    })
}

/// A StatefulSet's or DaemonSet's `spec.updateStrategy.type`.
fn rolling_or_on_delete(value: Option<&str>, path: &Path) -> Result<cascade_model::UpdateStrategy> {
    update_strategy(
        value,
        &[
            (
                "RollingUpdate",
                cascade_model::UpdateStrategy::RollingUpdate,
            ),
            ("OnDelete", cascade_model::UpdateStrategy::OnDelete),
        ],
        path,
    )
}

/// `spec.strategy.type` / `spec.updateStrategy.type`: one of `allowed`, or the default
/// (RollingUpdate) when absent.
fn update_strategy(
    value: Option<&str>,
    allowed: &[(&str, cascade_model::UpdateStrategy)],
    path: &Path,
) -> Result<cascade_model::UpdateStrategy> {
    let Some(v) = value else {
        return Ok(cascade_model::UpdateStrategy::RollingUpdate);
    };
    allowed
        .iter()
        .find(|(name, _)| *name == v)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            PathError::new(
                path.clone(),
                format!(
                    "unsupported strategy type {v:?}: expected {}",
                    names.join(" or ")
                ),
            )
        })
}

pub fn deployment(d: &k8s_openapi::api::apps::v1::Deployment, path: &Path) -> Result<Workload> {
    let Some(spec) = d.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::Deployment,
            meta: &d.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    w.update_strategy = update_strategy(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        &[
            (
                "RollingUpdate",
                cascade_model::UpdateStrategy::RollingUpdate,
            ),
            ("Recreate", cascade_model::UpdateStrategy::Recreate),
        ],
        &path.key("spec").key("strategy").key("type"),
    )?;
    let rp = path.key("spec").key("strategy").key("rollingUpdate");
    if let Some(ru) = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
    {
        if let Some(v) = &ru.max_surge {
            w.max_surge = int_or_percent(v, &rp.key("maxSurge"))?;
        }
        if let Some(v) = &ru.max_unavailable {
            w.max_unavailable = int_or_percent(v, &rp.key("maxUnavailable"))?;
        }
    }
    Ok(w)
}

pub fn replica_set(r: &k8s_openapi::api::apps::v1::ReplicaSet, path: &Path) -> Result<Workload> {
    let Some(spec) = r.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let Some(template) = spec.template.as_ref() else {
        return Err(PathError::new(path.key("spec"), "expected spec.template"));
    };
    workload(
        WorkloadParts {
            kind: WorkloadKind::ReplicaSet,
            meta: &r.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )
}

pub fn stateful_set(s: &k8s_openapi::api::apps::v1::StatefulSet, path: &Path) -> Result<Workload> {
    let Some(spec) = s.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::StatefulSet,
            meta: &s.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    w.pod_management_policy = match spec.pod_management_policy.as_deref() {
        None | Some("OrderedReady") => PodManagementPolicy::OrderedReady,
        Some("Parallel") => PodManagementPolicy::Parallel,
        Some(other) => {
            return Err(PathError::new(
                path.key("spec").key("podManagementPolicy"),
                format!(
                    "unsupported podManagementPolicy {other:?}: expected OrderedReady or Parallel"
                ),
            ))
        }
    };
    let up = path.key("spec").key("updateStrategy");
    let strategy = spec.update_strategy.as_ref();
    w.update_strategy =
        rolling_or_on_delete(strategy.and_then(|s| s.type_.as_deref()), &up.key("type"))?;
    if let Some(p) = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
    {
        if p < 0 {
            return Err(PathError::new(
                up.key("rollingUpdate").key("partition"),
                "expected a non-negative partition",
            ));
        }
        w.partition = p;
    }
    Ok(w)
}

pub fn daemon_set(d: &k8s_openapi::api::apps::v1::DaemonSet, path: &Path) -> Result<Workload> {
    let Some(spec) = d.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::DaemonSet,
            meta: &d.metadata,
            replicas: None,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    let up = path.key("spec").key("updateStrategy");
    let strategy = spec.update_strategy.as_ref();
    w.update_strategy =
        rolling_or_on_delete(strategy.and_then(|s| s.type_.as_deref()), &up.key("type"))?;
    if let Some(ru) = strategy.and_then(|s| s.rolling_update.as_ref()) {
        let rp = up.key("rollingUpdate");
        if let Some(v) = &ru.max_surge {
            w.max_surge = int_or_percent(v, &rp.key("maxSurge"))?;
        }
        if let Some(v) = &ru.max_unavailable {
            w.max_unavailable = int_or_percent(v, &rp.key("maxUnavailable"))?;
        }
        // apps/v1 validation: not both zero.
        if w.max_surge.scaled(100) == 0 && w.max_unavailable.scaled(100) == 0 {
            return Err(PathError::new(
                rp,
                "expected maxSurge or maxUnavailable above zero (a rollout with neither never moves)",
            ));
        }
    }
    Ok(w)
}
