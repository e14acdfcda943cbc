//! Synthetic cluster parts a scenario can ask for instead of manifests: resources written as
//! quantities, and groups of workloads of one shape.

use cascade_manifest::{Path, PathError, Value};
use cascade_model::Resources;
use std::collections::BTreeMap;

/// Parses a Node-style resource map (`cpu: "16"`, `memory: 64Gi`, `pods: "110"`).
pub fn resources_from_map(m: &BTreeMap<String, Value>) -> Result<Resources, String> {
    resources_at(m).map_err(|e| format!("{}: {}", e.path, e.message))
}

/// [`resources_from_map`], with the problem at its resource's key.
pub fn resources_at(m: &BTreeMap<String, Value>) -> Result<Resources, PathError> {
    let mut r = Resources::ZERO;
    for (k, v) in m {
        let at = |message: String| PathError::new(Path::root().key(k), message);
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(at("expected a quantity".into())),
        };
        let q = cascade_manifest::quantity::Quantity::parse(&s)
            .map_err(|e| at(format!("invalid quantity {s:?}: expected {e}")))?;
        let v = if k == "cpu" {
            q.milli_value()
        } else {
            q.value()
        }
        .map_err(|e| at(e.to_string()))?;
        match k.as_str() {
            "cpu" => r.milli_cpu = v,
            "memory" => r.memory = v,
            "ephemeral-storage" => r.ephemeral_storage = v,
            "pods" => r.pods = v,
            other => {
                return Err(at(format!(
                "unsupported resource {other:?}: expected cpu, memory, ephemeral-storage or pods"
            )))
            }
        }
    }
    Ok(r)
}

/// The labels of node `index` of a generated group: those a kubelet puts on every node it
/// registers (docs/kubernetes.md#generated-nodes), so that manifests selecting
/// `kubernetes.io/os: linux` (most real ones) place pods on generated nodes; the group's own
/// labels win; then the hostname and the zone (the group's zones in turn).
pub fn node_labels(g: &crate::scenario::NodeGroup, index: usize) -> cascade_model::Labels {
    let name = format!("{}-{index}", g.name_prefix);
    let mut labels: cascade_model::Labels = [
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", g.name_prefix.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.extend(g.labels.clone());
    labels.insert("kubernetes.io/hostname".into(), name);
    if !g.zones.is_empty() {
        labels.insert(
            cascade_model::objects::LABEL_ZONE.into(),
            g.zones[index % g.zones.len()].clone(),
        );
    }
    labels
}

/// The Deployments or StatefulSets of a scenario's workload group.
pub fn generate_workloads(
    g: &crate::scenario::WorkloadGroup,
) -> Result<Vec<cascade_model::Workload>, PathError> {
    use cascade_model::objects::{nonzero_container, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS};
    use cascade_model::{
        LabelSelector, Pod, PodManagementPolicy, PodTemplate, Requirement, UpdateStrategy,
        Workload, WorkloadKind,
    };
    let kind = WorkloadKind::from(g.kind);
    if g.containers.is_empty() {
        return Err(PathError::new(
            Path::root().key("containers"),
            format!(
                "workload group {}: expected at least one container",
                g.name_prefix
            ),
        ));
    }
    let mut requests = Resources::ZERO;
    let mut nonzero = Resources::ZERO;
    let mut limit = 0i64;
    let mut unlimited = false;
    let mut cpu_limit = 0i64;
    let mut cpu_unlimited = false;
    let mut qos = cascade_model::QosTally::new();
    for (i, c) in g.containers.iter().enumerate() {
        let resources = |field: &str, m| {
            resources_at(m).map_err(|e| {
                let mut path = Path::root().key("containers").idx(i).key(field);
                path.0.extend(e.path.0);
                PathError::new(
                    path,
                    format!(
                        "workload group {} container {}: {field}: {}",
                        g.name_prefix, c.name, e.message
                    ),
                )
            })
        };
        let r = resources("requests", &c.requests)?;
        let l = resources("limits", &c.limits)?;
        qos.add(r, l);
        requests += r;
        nonzero += nonzero_container(r);
        if l.memory == 0 {
            unlimited = true;
        }
        if l.milli_cpu == 0 {
            cpu_unlimited = true;
        }
        limit += l.memory;
        cpu_limit = cpu_limit.saturating_add(l.milli_cpu);
    }
    requests.pods = 1;
    nonzero.pods = 1;
    let mut out = Vec::with_capacity(g.count);
    for i in 0..g.count {
        let name = format!("{}-{i:04}", g.name_prefix);
        let mut pod = Pod::new(&g.namespace, &name, 0, 0);
        pod.labels = g.labels.clone().into_iter().collect();
        pod.labels.insert("app".into(), name.clone());
        pod.requests = requests;
        pod.nonzero_requests = nonzero;
        pod.memory_limit = if unlimited { 0 } else { limit };
        pod.cpu_limit = if cpu_unlimited { 0 } else { cpu_limit };
        pod.qos_class = qos.class();
        pod.priority_class_name = g.priority_class_name.clone();
        pod.termination_grace_period_seconds = g
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
        pod.images = g.containers.iter().map(|c| c.name.clone()).collect();
        out.push(Workload {
            kind,
            namespace: g.namespace.clone(),
            name: name.clone(),
            replicas: g.replicas,
            selector: LabelSelector {
                requirements: vec![Requirement::In("app".into(), vec![name])],
            },
            template: PodTemplate {
                pod,
                spec_priority: None,
                spec_preemption_policy: None,
            },
            max_surge: Workload::default_rollout(kind).0,
            max_unavailable: Workload::default_rollout(kind).1,
            min_ready_seconds: 0,
            pod_management_policy: PodManagementPolicy::OrderedReady,
            update_strategy: UpdateStrategy::RollingUpdate,
            partition: 0,
        });
    }
    Ok(out)
}
