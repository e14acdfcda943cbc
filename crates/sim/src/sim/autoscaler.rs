//! The cluster autoscaler (kubernetes/autoscaler, cluster-autoscaler): every scan it looks at
//! the pods the scheduler could not place, estimates by first-fit bin packing how many new nodes
//! of each autoscaled group would take them, asks for the group that places the most (ties: the
//! first group), and counts nodes already being provisioned. Nodes join after the provider's
//! provisioning time. Scale-down removes nodes that carry no pods but DaemonSet pods after they
//! have been unneeded for `scaleDownUnneededSeconds` (a simplification of CA's drain
//! simulation: nodes with movable pods are not drained).

use super::{secs, AutoscalerEv, Ev, Simulation};
use crate::scenario::NodeGroup;
use cascade_engine::Time;
use cascade_model::{Node, Resources, WorkloadKind};
use cascade_scheduler::{filter, NodeId, NodeInfo, PodId};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Group {
    pub spec: NodeGroup,
    pub nodes: Vec<NodeId>,
    pub upcoming: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Autoscaler {
    pub groups: Vec<Group>,
    pub last_scale_up: Option<Time>,
    pub unneeded_since: BTreeMap<NodeId, Time>,
    /// Next index for generated node names, per node group prefix (every group's, autoscaled
    /// or not: the names a cloud provider hands out).
    pub node_names: BTreeMap<String, usize>,
}

impl Simulation<'_> {
    /// A node of group `g` as the autoscaler's template for it.
    fn template(&mut self, g: usize) -> Option<NodeInfo> {
        let spec = self.autoscaler.groups[g].spec.clone();
        let node = self.group_node(&spec, usize::MAX).ok()?;
        Some(NodeInfo {
            zone_key: node.zone_key(),
            node,
            requested: Resources::ZERO,
            nonzero_requested: Resources::ZERO,
            scalar_requested: Default::default(),
            pods: vec![],
            nominated: vec![],
        })
    }

    pub(super) fn on_autoscaler(&mut self, e: AutoscalerEv) {
        match e {
            AutoscalerEv::Scan => self.autoscaler_scan(),
            AutoscalerEv::NodeProvisioned { group } => self.node_provisioned(group),
        }
    }

    fn autoscaler_scan(&mut self) {
        let p = self.p.cluster_autoscaler.clone();
        self.scale_up();
        self.scale_down(&p);
        self.engine.schedule_in(
            secs(p.scan_interval_seconds),
            Ev::Autoscaler(AutoscalerEv::Scan),
        );
    }

    fn scale_up(&mut self) {
        let pending: Vec<PodId> = self
            .queue
            .unschedulable()
            .filter(|id| {
                let e = self.cluster.pod(*id);
                e.nominated.is_none() && e.node.is_none() && !e.pod.terminating
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        let mut best: Option<(usize, usize, usize)> = None; // (group, new nodes, pods placed)
        for g in 0..self.autoscaler.groups.len() {
            let Some(template) = self.template(g) else {
                continue;
            };
            let group = &self.autoscaler.groups[g];
            let max = group.spec.max_size.unwrap_or(0);
            let current = group.nodes.len() + group.upcoming;
            // First-fit onto the nodes already coming, then onto new ones up to maxSize.
            let mut bins: Vec<Resources> = vec![Resources::ZERO; group.upcoming];
            let mut placed = 0;
            for &id in &pending {
                let pod = &self.cluster.pod(id).pod;
                // Generated node groups carry no extended resources, so a pod asking for one
                // never counts toward a scale-up (bins track native resources only).
                if filter::static_filters(pod, 0, &template).is_err()
                    || filter::fits(&pod.requests, &Resources::ZERO, &template.node.allocatable)
                        .is_err()
                    || !pod
                        .scalar_requests
                        .fits_in(&template.node.scalar_allocatable)
                {
                    continue;
                }
                let alloc = template.node.allocatable;
                let existing = current - group.upcoming;
                match bins
                    .iter()
                    .position(|b| filter::fits(&pod.requests, b, &alloc).is_ok())
                {
                    Some(i) => bins[i] += pod.requests,
                    None if existing + bins.len() < max => bins.push(pod.requests),
                    None => continue,
                }
                placed += 1;
            }
            let new_nodes = bins.len() - group.upcoming;
            if new_nodes > 0 && best.is_none_or(|(_, _, p)| placed > p) {
                best = Some((g, new_nodes, placed));
            }
        }
        let Some((g, n, placed)) = best else { return };
        self.autoscaler.groups[g].upcoming += n;
        self.autoscaler.last_scale_up = Some(self.now());
        let name = self.autoscaler.groups[g].spec.name_prefix.clone();
        self.rec.metrics.count("autoscaler_scale_ups", 1);
        self.record(
            "TriggeredScaleUp",
            format!("nodegroup/{name}"),
            format!("pod triggered scale-up: {n} node(s) for {placed} pending pod(s)"),
            None,
        );
        let at = secs(self.p.cluster_autoscaler.provisioning_seconds);
        for _ in 0..n {
            self.engine.schedule_in(
                at,
                Ev::Autoscaler(AutoscalerEv::NodeProvisioned { group: g }),
            );
        }
    }

    fn node_provisioned(&mut self, g: usize) {
        let group = &mut self.autoscaler.groups[g];
        group.upcoming = group.upcoming.saturating_sub(1);
        let spec = group.spec.clone();
        let index = self.next_node_index(&spec.name_prefix);
        if let Ok(node) = self.group_node(&spec, index) {
            let name = node.name.clone();
            self.add_node(node);
            if let Some(id) = self.cluster.node_id(&name) {
                self.autoscaler.groups[g].nodes.push(id);
            }
        }
    }

    fn scale_down(&mut self, p: &crate::params::AutoscalerParams) {
        let now = self.now();
        if self
            .autoscaler
            .last_scale_up
            .is_some_and(|t| now - t < secs(p.scale_down_delay_after_add_seconds))
        {
            return;
        }
        for g in 0..self.autoscaler.groups.len() {
            let min = self.autoscaler.groups[g].spec.min_size.unwrap_or(0);
            let nodes = self.autoscaler.groups[g].nodes.clone();
            let mut count = nodes.len();
            for id in nodes {
                if !self.cluster.has_node(id) {
                    continue;
                }
                let empty = self.cluster.node(id).pods.iter().all(|p| {
                    self.pods.get(*p).and_then(|r| r.workload).is_some_and(|w| {
                        self.controllers.workloads[w].w.kind == WorkloadKind::DaemonSet
                    })
                });
                if !empty || count <= min {
                    self.autoscaler.unneeded_since.remove(&id);
                    continue;
                }
                let since = *self.autoscaler.unneeded_since.entry(id).or_insert(now);
                if now - since >= secs(p.scale_down_unneeded_seconds) {
                    let name = self.cluster.node(id).node.name.clone();
                    self.record(
                        "ScaleDown",
                        format!("node/{name}"),
                        "empty node removed".into(),
                        None,
                    );
                    self.rec.metrics.count("autoscaler_scale_downs", 1);
                    self.remove_node(id);
                    self.autoscaler.groups[g].nodes.retain(|n| *n != id);
                    self.autoscaler.unneeded_since.remove(&id);
                    count -= 1;
                }
            }
        }
    }

    pub(super) fn group_node(&mut self, g: &NodeGroup, index: usize) -> Result<Node, String> {
        let allocatable = crate::generate::resources_from_map(&g.allocatable)
            .map_err(|e| format!("node group {}: allocatable: {e}", g.name_prefix))?;
        let name = format!("{}-{index}", g.name_prefix);
        let labels = crate::generate::node_labels(g, &name, index);
        Ok(Node {
            name,
            labels,
            allocatable,
            scalar_allocatable: Default::default(),
            taints: vec![],
            unschedulable: false,
        })
    }

    pub(super) fn next_node_index(&mut self, prefix: &str) -> usize {
        let c = self
            .autoscaler
            .node_names
            .entry(prefix.to_string())
            .or_insert(0);
        let i = *c;
        *c += 1;
        i
    }
}
