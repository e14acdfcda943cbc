//! The cluster autoscaler (kubernetes/autoscaler, cluster-autoscaler): every scan it looks at
//! the pods the scheduler could not place, estimates by first-fit bin packing how many new nodes
//! of each autoscaled group would take them, asks for the group that places the most (ties: the
//! first group), and counts nodes already being provisioned. Nodes join after the provider's
//! provisioning time. Scale-down removes nodes that carry no pods but DaemonSet pods after they
//! have been unneeded for `scaleDownUnneededSeconds` (a simplification of CA's drain
//! simulation: nodes with movable pods are not drained).
//!
//! Nodes come from the cloud (`cloud.rs`): each asked-for node is a create request that waits
//! for the provider's rate limit and concurrency limit and may fail (quota, stockout). A
//! failed create, or a node not registered within `--max-node-provision-time`, fails the
//! scale-up and backs its group off exponentially; `--max-nodes-total` caps the cluster. The
//! node auto-repair's replacements go through the same cloud.

use super::cloud::{Backoff, Cloud, CreateError};
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
    /// The cloud provider's instance API.
    pub cloud: Cloud,
    /// The node groups' scale-up backoff (and, at `REPAIR_KEY`, the repairs' creates).
    pub backoff: Backoff,
    /// Create requests not yet answered, by request id.
    pub requests: BTreeMap<u64, Request>,
    /// A `Dispatch` wake-up is scheduled for this instant.
    dispatch_at: Option<Time>,
}

/// The backoff key of the node auto-repair's creates (a node group's key is its index).
pub const REPAIR_KEY: usize = usize::MAX;

/// What a create request is for.
#[derive(Clone, Debug)]
pub enum Purpose {
    /// A node of autoscaled group `group`, named with `index`.
    Group { group: usize, index: usize },
    /// A repaired node created again, in its autoscaled group if it had one.
    Replace {
        node: Box<Node>,
        group: Option<usize>,
    },
}

#[derive(Clone, Debug)]
pub struct Request {
    pub purpose: Purpose,
    pub asked: Time,
    /// The autoscaler gave up on it (max-node-provision-time): the instance is deleted when
    /// the cloud answers.
    pub timed_out: bool,
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
            AutoscalerEv::CreateDone { request, result } => self.create_done(request, result),
            AutoscalerEv::RepairRetry { node, group } => self.repair_retry(node, group),
            AutoscalerEv::Dispatch => {
                self.autoscaler.dispatch_at = None;
                self.cloud_dispatch();
            }
        }
    }

    /// Asks the cloud for a node.
    pub(super) fn cloud_request(&mut self, zone: &str, purpose: Purpose) {
        let id = self.autoscaler.cloud.request(zone);
        let asked = self.now();
        self.autoscaler.requests.insert(
            id,
            Request {
                purpose,
                asked,
                timed_out: false,
            },
        );
    }

    /// Lets the cloud admit what its limits allow, scheduling each admitted create's end and
    /// the next token's wake-up.
    pub(super) fn cloud_dispatch(&mut self) {
        let now = self.now();
        let instances = self.cluster.node_count();
        let (admitted, wake) = self.autoscaler.cloud.dispatch(now, instances);
        for a in admitted {
            self.engine.schedule(
                a.done,
                Ev::Autoscaler(AutoscalerEv::CreateDone {
                    request: a.request,
                    result: a.result,
                }),
            );
        }
        if let Some(w) = wake {
            if self.autoscaler.dispatch_at.is_none_or(|t| w < t) {
                self.autoscaler.dispatch_at = Some(w);
                self.engine
                    .schedule(w, Ev::Autoscaler(AutoscalerEv::Dispatch));
            }
        }
    }

    /// The cloud answers a create: a node joins (its kubelet registers), or the create failed.
    fn create_done(&mut self, request: u64, result: Result<(), CreateError>) {
        self.autoscaler.cloud.finished();
        let Some(r) = self.autoscaler.requests.remove(&request) else {
            return;
        };
        if r.timed_out {
            // The autoscaler gave up on it and deletes the instance (removeOldUnregisteredNodes).
            self.cloud_dispatch();
            return;
        }
        match (r.purpose, result) {
            (Purpose::Group { group, index }, Ok(())) => self.node_provisioned(group, index),
            (Purpose::Replace { node, group }, Ok(())) => {
                let name = node.name.clone();
                self.node_lifecycle.repairs = self.node_lifecycle.repairs.saturating_sub(1);
                self.add_node(*node);
                if let (Some(g), Some(id)) = (group, self.cluster.node_id(&name)) {
                    self.autoscaler.groups[g].nodes.push(id);
                }
            }
            (Purpose::Group { group, .. }, Err(e)) => {
                let g = &mut self.autoscaler.groups[group];
                g.upcoming = g.upcoming.saturating_sub(1);
                self.scale_up_failed(group, &format!("instance create failed: {}", error_text(e)));
            }
            (Purpose::Replace { node, group }, Err(e)) => {
                // The repair tries again once its backoff has passed.
                let c = self.p().cluster_autoscaler.backoff();
                let until = self.autoscaler.backoff.fail(c, REPAIR_KEY, self.now());
                self.rec.metrics.count("cloud_creates_failed", 1);
                self.record(
                    "RepairCreateFailed",
                    format!("node/{}", node.name),
                    format!(
                        "instance create failed: {}; retrying in {:.0} s",
                        error_text(e),
                        (until - self.now()).as_secs_f64()
                    ),
                    None,
                );
                self.engine.schedule(
                    until,
                    Ev::Autoscaler(AutoscalerEv::RepairRetry {
                        node: node.clone(),
                        group,
                    }),
                );
            }
        }
        self.cloud_dispatch();
    }

    /// A failed scale-up: the group is backed off (exponential_backoff.go).
    fn scale_up_failed(&mut self, group: usize, why: &str) {
        let c = self.p().cluster_autoscaler.backoff();
        let now = self.now();
        let until = self.autoscaler.backoff.fail(c, group, now);
        let name = self.autoscaler.groups[group].spec.name_prefix.clone();
        self.rec.metrics.count("autoscaler_failed_scale_ups", 1);
        self.record(
            "FailedScaleUp",
            format!("nodegroup/{name}"),
            format!(
                "{why}; node group backed off for {:.0} s",
                (until - now).as_secs_f64()
            ),
            None,
        );
    }

    /// Scale-ups whose nodes have not registered within --max-node-provision-time fail
    /// (ScaleUpTimedOut): a create still queued is withdrawn, one in flight is deleted when
    /// it ends.
    fn provision_timeouts(&mut self) {
        let now = self.now();
        let max = secs(self.p().cluster_autoscaler.max_node_provision_time_seconds);
        let late: Vec<(u64, usize)> = self
            .autoscaler
            .requests
            .iter()
            .filter(|(_, r)| !r.timed_out && now - r.asked >= max)
            .filter_map(|(id, r)| match r.purpose {
                Purpose::Group { group, .. } => Some((*id, group)),
                Purpose::Replace { .. } => None,
            })
            .collect();
        for (id, group) in late {
            if self.autoscaler.cloud.cancel(id) {
                self.autoscaler.requests.remove(&id);
            } else if let Some(r) = self.autoscaler.requests.get_mut(&id) {
                r.timed_out = true;
            }
            let g = &mut self.autoscaler.groups[group];
            g.upcoming = g.upcoming.saturating_sub(1);
            self.scale_up_failed(
                group,
                "ScaleUpTimedOut: the node did not register within max-node-provision-time",
            );
        }
    }

    fn autoscaler_scan(&mut self) {
        let p = self.p().cluster_autoscaler.clone();
        if !self.autoscaler.requests.is_empty() {
            self.provision_timeouts();
        }
        self.scale_up();
        self.scale_down(&p);
        self.engine.schedule_in(
            secs(p.scan_interval_seconds),
            Ev::Autoscaler(AutoscalerEv::Scan),
        );
    }

    fn scale_up(&mut self) {
        let pending: Vec<PodId> = self
            .scheduler
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
        let now = self.now();
        // --max-nodes-total: room left for new nodes, counting those already coming.
        let max_total = self.p().cluster_autoscaler.max_nodes_total;
        let coming: usize = self.autoscaler.groups.iter().map(|g| g.upcoming).sum();
        let room = if max_total > 0 {
            max_total.saturating_sub(self.cluster.node_count() + coming)
        } else {
            usize::MAX
        };
        for g in 0..self.autoscaler.groups.len() {
            // A backed-off group is skipped; the expander picks among the others.
            if self.autoscaler.backoff.backed_off(g, now) {
                continue;
            }
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
                if filter::static_filters(pod, NodeId::new(0), &template).is_err()
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
                    None if existing + bins.len() < max && bins.len() - group.upcoming < room => {
                        bins.push(pod.requests)
                    }
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
        let spec = self.autoscaler.groups[g].spec.clone();
        for _ in 0..n {
            let index = self.next_node_index(&spec.name_prefix);
            let zone = if spec.zones.is_empty() {
                String::new()
            } else {
                spec.zones[index % spec.zones.len()].clone()
            };
            self.cloud_request(&zone, Purpose::Group { group: g, index });
        }
        self.cloud_dispatch();
    }

    fn node_provisioned(&mut self, g: usize, index: usize) {
        let group = &mut self.autoscaler.groups[g];
        group.upcoming = group.upcoming.saturating_sub(1);
        let spec = group.spec.clone();
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
        let labels = crate::generate::node_labels(g, index);
        Ok(Node {
            name,
            labels,
            allocatable,
            scalar_allocatable: Default::default(),
            taints: vec![],
            unschedulable: false,
        })
    }

    /// A repair's create failed and its backoff has passed: it asks again.
    pub(super) fn repair_retry(&mut self, node: Box<Node>, group: Option<usize>) {
        let zone = node.zone().to_string();
        self.cloud_request(&zone, Purpose::Replace { node, group });
        self.cloud_dispatch();
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

/// A create's error as the provider words it.
fn error_text(e: CreateError) -> &'static str {
    match e {
        CreateError::QuotaExceeded => "QUOTA_EXCEEDED (the project's instance quota is used up)",
        CreateError::Stockout => {
            "ZONE_RESOURCE_POOL_EXHAUSTED (the zone has no capacity for the instance type)"
        }
    }
}
