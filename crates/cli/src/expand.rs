//! `schedule --pod` with workloads (what `helm template` prints): each controller's pods as
//! its controller would create them, so "does my chart fit, and whom would it preempt?" can be
//! asked of real manifests.
//!
//! - Deployment, ReplicaSet: `replicas` pods named `NAME-XXXXX` (a Deployment's ReplicaSet
//!   adds its template hash in Kubernetes; the suffix here is seeded, so a run is repeatable).
//! - StatefulSet: `NAME-0` .. `NAME-(replicas-1)`, in ordinal order (OrderedReady creates
//!   them one at a time; they are scheduled in that order here).
//! - Job: `min(parallelism, completions)` pods (none while suspended), named `NAME-XXXXX`, or
//!   `NAME-INDEX-XXXXX` in Indexed mode (indexes from 0), as the Job controller's first sync
//!   creates them.
//! - DaemonSet: one pod per node the DaemonSet controller would run it on
//!   (`nodeShouldRunDaemonPod`: the node matches the pod's node selector and required affinity
//!   and its NoSchedule/NoExecute taints are tolerated, with the tolerations the controller
//!   adds), pinned to that node with required affinity on `metadata.name`, as
//!   `ReplaceDaemonSetPodNodeNameNodeAffinity` does. docs/kubernetes.md#controllers.

use cascade_model::{
    GeneratedNames, Node, NodeSelector, NodeSelectorTerm, OwnerRef, Pod, PriorityClasses,
    Requirement, TaintEffect, Toleration, TolerationOperator, Workload, WorkloadKind,
};

/// The tolerations the DaemonSet controller adds to every daemon pod
/// (AddOrUpdateDaemonPodTolerations, v1.33).
fn daemon_tolerations() -> Vec<Toleration> {
    [
        ("node.kubernetes.io/not-ready", TaintEffect::NoExecute),
        ("node.kubernetes.io/unreachable", TaintEffect::NoExecute),
        ("node.kubernetes.io/disk-pressure", TaintEffect::NoSchedule),
        (
            "node.kubernetes.io/memory-pressure",
            TaintEffect::NoSchedule,
        ),
        ("node.kubernetes.io/pid-pressure", TaintEffect::NoSchedule),
        ("node.kubernetes.io/unschedulable", TaintEffect::NoSchedule),
    ]
    .into_iter()
    .map(|(key, effect)| Toleration {
        key: key.into(),
        operator: TolerationOperator::Exists,
        value: String::new(),
        effect: Some(effect),
        toleration_seconds: None,
    })
    .collect()
}

fn should_run_daemon_pod(pod: &Pod, node: &Node) -> bool {
    let selector_ok = pod
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    let affinity_ok = pod
        .required_node_affinity
        .as_ref()
        .is_none_or(|a| a.terms.iter().any(|t| t.matches(&node.name, &node.labels)));
    // The scheduler's own TaintToleration rule (NoSchedule and NoExecute count).
    let taints_ok = cascade_scheduler::filter::untolerated_taint(pod, &node.taints).is_none();
    selector_ok && affinity_ok && taints_ok
}

/// Pins a daemon pod to `node`: every required term gets `metadata.name In [node]` as its only
/// field requirement (a pod without required affinity gets one term with just that).
fn pin_to_node(pod: &mut Pod, node: &str) {
    let pin = vec![Requirement::In(
        "metadata.name".into(),
        vec![node.to_string()],
    )];
    match &mut pod.required_node_affinity {
        Some(a) if !a.terms.is_empty() => {
            for t in &mut a.terms {
                t.match_fields = pin.clone();
            }
        }
        _ => {
            pod.required_node_affinity = Some(NodeSelector {
                terms: vec![NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: pin,
                }],
            })
        }
    }
}

/// The pods `w` would have, admitted against `classes`, in creation order.
pub fn workload_pods(
    w: &Workload,
    classes: &PriorityClasses,
    nodes: &[Node],
    names: &mut GeneratedNames,
) -> Result<Vec<Pod>, cascade_model::AdmissionError> {
    let template = w.template.admit(classes)?;
    let owner = OwnerRef {
        kind: match w.kind {
            // A Deployment's pods are owned by its ReplicaSet; the Deployment is what the user
            // wrote, so it names the owner here.
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
        .into(),
        name: w.name.clone(),
    };
    let make = |name: String| {
        let mut p = template.clone();
        p.name = name;
        p.namespace = w.namespace.clone();
        p.owner = Some(owner.clone());
        p
    };
    let replicas = usize::try_from(w.replicas).unwrap_or(0);
    Ok(match w.kind {
        WorkloadKind::Deployment | WorkloadKind::ReplicaSet => (0..replicas)
            .map(|_| make(names.generate(&w.namespace, &w.name)))
            .collect(),
        WorkloadKind::StatefulSet => (0..replicas)
            .map(|i| make(format!("{}-{i}", w.name)))
            .collect(),
        WorkloadKind::DaemonSet => {
            let mut t = template.clone();
            t.tolerations.extend(daemon_tolerations());
            nodes
                .iter()
                .filter(|n| should_run_daemon_pod(&t, n))
                .map(|n| {
                    let mut p = make(names.generate(&w.namespace, &w.name));
                    p.tolerations.clone_from(&t.tolerations);
                    pin_to_node(&mut p, &n.name);
                    p
                })
                .collect()
        }
    })
}

/// The pods a Job's controller creates at first, admitted against `classes`, in index order.
pub fn job_pods(
    j: &cascade_model::Job,
    classes: &PriorityClasses,
    names: &mut GeneratedNames,
) -> Result<Vec<Pod>, cascade_model::AdmissionError> {
    let template = j.template.admit(classes)?;
    let n = usize::try_from(j.active_pods()).unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            let mut p = template.clone();
            p.name = if j.indexed {
                names.generate(&j.namespace, &format!("{}-{i}", j.name))
            } else {
                names.generate(&j.namespace, &j.name)
            };
            p.namespace = j.namespace.clone();
            p.owner = Some(OwnerRef {
                kind: "Job".into(),
                name: j.name.clone(),
            });
            p
        })
        .collect())
}
