//! A run's size, estimated at load from what the scenario declares, so that a scenario asking
//! for more than the machine holds is refused with a message instead of allocating until the
//! process is killed. docs/kubernetes.md#bounded-runs.

use super::{scaled_count, Scenario};
use cascade_model::WorkloadKind;

/// Bytes per node in a run: its NodeInfo, lifecycle state, container runtime and metrics.
/// Estimated from peak RSS of the bundled scenarios (docs/kubernetes.md#bounded-runs), rounded
/// up; a cascade measurement, not an upstream figure.
pub const BYTES_PER_NODE: u64 = 16 << 10;
/// Bytes per pod: the pod, its runtime state, the events and metrics it produces.
pub const BYTES_PER_POD: u64 = 16 << 10;
/// Bytes per pair of gossip members: every member keeps a state for every other
/// (memberlist's member list), so a pool costs the square of its size.
pub const BYTES_PER_MEMBER_PAIR: u64 = 192;

/// What a run will hold at most, as declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub nodes: u64,
    pub pods: u64,
    /// Pods selected by a behaviour with a gossip agent (an upper bound on the pool).
    pub gossip_members: u64,
}

impl Size {
    /// The counts the scenario declares: generated node groups (at their autoscaling maximum)
    /// and the nodes changes add; the manifests' pods and their workloads' replicas; the
    /// generated workloads' replicas; DaemonSets once per node.
    pub fn of(sc: &Scenario) -> Size {
        let k = sc.params.generator_scale;
        let mut nodes: u64 = 0;
        for g in &sc.spec.cluster.node_groups {
            nodes = nodes.saturating_add(g.scaled_count(k).max(g.max_size.unwrap_or(0)) as u64);
        }
        for g in sc.spec.changes.iter().filter_map(|c| c.add_nodes.as_ref()) {
            nodes = nodes.saturating_add(g.count.max(g.max_size.unwrap_or(0)) as u64);
        }
        let mut pods: u64 = 0;
        let mut members: u64 = 0;
        let gossip = |labels: &cascade_model::Labels, ns: &str| {
            sc.spec
                .behaviours
                .iter()
                .any(|b| b.gossip_agent.is_some() && b.selector.matches_meta(ns, labels))
        };
        for f in sc.files.values() {
            let m = &f.manifests;
            nodes = nodes.saturating_add(m.nodes.len() as u64);
            for p in &m.pods {
                pods = pods.saturating_add(1);
                if gossip(&p.object.pod.labels, &p.object.pod.namespace) {
                    members = members.saturating_add(1);
                }
            }
        }
        // Workloads after every node is counted: a DaemonSet has a pod per node.
        for f in sc.files.values() {
            for w in &f.manifests.workloads {
                let w = &w.object;
                let n = if w.kind == WorkloadKind::DaemonSet {
                    nodes
                } else {
                    u64::try_from(w.replicas.max(0)).unwrap_or(0)
                };
                pods = pods.saturating_add(n);
                if gossip(&w.template.pod.labels, &w.namespace) {
                    members = members.saturating_add(n);
                }
            }
        }
        for g in &sc.spec.cluster.workload_groups {
            let count = scaled_count(g.count, g.scaled, k) as u64;
            let per = u64::try_from(g.replicas.max(0)).unwrap_or(0);
            let n = count.saturating_mul(per);
            pods = pods.saturating_add(n);
            // Generated pods carry the group's labels (and an `app` of their own).
            if sc.spec.behaviours.iter().any(|b| {
                b.gossip_agent.is_some()
                    && b.selector
                        .namespace
                        .as_ref()
                        .is_none_or(|ns| *ns == g.namespace)
                    && b.selector
                        .match_labels
                        .iter()
                        .all(|(key, v)| key == "app" || g.labels.get(key) == Some(v))
            }) {
                members = members.saturating_add(n);
            }
        }
        Size {
            nodes,
            pods,
            gossip_members: members,
        }
    }

    /// The estimated peak memory of the run, in bytes (saturating).
    pub fn bytes(&self) -> u64 {
        self.nodes
            .saturating_mul(BYTES_PER_NODE)
            .saturating_add(self.pods.saturating_mul(BYTES_PER_POD))
            .saturating_add(
                self.gossip_members
                    .saturating_mul(self.gossip_members)
                    .saturating_mul(BYTES_PER_MEMBER_PAIR),
            )
    }
}
