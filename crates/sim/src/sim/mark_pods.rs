//! MarkPodsNotReady (pkg/controller/util/node/controller_utils.go, v1.33): when the node
//! lifecycle controller sees a node's Ready condition leave True (Unknown after the grace
//! period, or False), it sets the Ready condition of each pod on the node to False, one
//! `UpdateStatus` of the pod at a time, through the API server. Only then do the
//! controllers count those pods unavailable and the endpointslice controller take them out
//! of their Services' slices: until then a dead node's pods stay listed, and requests routed
//! to them are refused (`SERVICE_stale_endpoint_failures`).
//!
//! Upstream's monitor pass marks nodes with `nodeUpdateWorkerSize` (8) workers, each node's
//! pods one after another; every update takes a token from the controller's client (the one
//! its taints use, `controllers.kubeApiQps`/`kubeApiBurst`). A pod whose update fails is
//! marked again at the next monitor pass (`nodesToRetry`); a pod already gone is skipped.
//! docs/control-plane-and-nodes.md#the-node-lifecycle-controllers-writes.

use super::api_writes::{Write, Writer};
use super::Simulation;
use cascade_scheduler::{NodeId, PodId};
use cascade_services::PodRef;
use std::collections::{BTreeMap, VecDeque};

/// `nodeUpdateWorkerSize` (pkg/controller/nodelifecycle/node_lifecycle_controller.go, v1.33):
/// the monitor pass's workers, each marking one node's pods at a time. A constant upstream.
pub const NODE_UPDATE_WORKERS: usize = 8;

/// One node's pods being marked: those left, and the one whose update is under way.
#[derive(Clone, Debug, Default)]
struct NodeMarking {
    left: VecDeque<PodId>,
    sent: Option<PodId>,
}

/// The nodes whose pods are being marked not Ready (at most `NODE_UPDATE_WORKERS`) and
/// those waiting for a worker.
#[derive(Clone, Debug, Default)]
pub struct Marking {
    active: BTreeMap<NodeId, NodeMarking>,
    waiting: VecDeque<NodeId>,
}

impl Marking {
    /// The node is Ready again: its marking stops (an update under way is still taken).
    pub fn forget(&mut self, node: NodeId) {
        self.active.remove(&node);
        self.waiting.retain(|n| *n != node);
    }

    /// Nodes being marked or waiting for a worker.
    pub fn nodes(&self) -> usize {
        self.active.len() + self.waiting.len()
    }

    pub fn busy(&self, node: NodeId) -> bool {
        self.active.contains_key(&node) || self.waiting.contains(&node)
    }
}

impl Simulation<'_> {
    /// MarkPodsNotReady's work not done yet: nodes being marked or waiting for a worker, and
    /// pod status updates not answered. 0 once the controller's queues have drained (every
    /// update answered once, every node's marking finished or dropped when it was Ready).
    pub fn pods_marking_in_flight(&self) -> usize {
        self.node_lifecycle.marking.nodes() + self.control_plane.writes.pod_marks_unanswered()
    }

    /// The pods on the node whose Ready condition the server holds True.
    fn pods_to_mark(&self, node: NodeId) -> VecDeque<PodId> {
        self.cluster
            .node(node)
            .pods
            .iter()
            .copied()
            .filter(|p| self.pods.get(*p).is_some_and(|r| r.ready))
            .collect()
    }

    /// MarkPodsNotReady for the node: its pods' updates start when a worker is free.
    pub(super) fn mark_pods_not_ready(&mut self, node: NodeId) {
        if self.node_lifecycle.marking.busy(node) {
            return;
        }
        let left = self.pods_to_mark(node);
        if left.is_empty() {
            return;
        }
        let m = &mut self.node_lifecycle.marking;
        if m.active.len() >= NODE_UPDATE_WORKERS {
            m.waiting.push_back(node);
            return;
        }
        m.active.insert(node, NodeMarking { left, sent: None });
        self.mark_next_pod(node);
    }

    /// Sends the node's next pod's update, or, its pods done, hands its worker on.
    fn mark_next_pod(&mut self, node: NodeId) {
        loop {
            let Some(m) = self.node_lifecycle.marking.active.get_mut(&node) else {
                return;
            };
            let Some(pod) = m.left.pop_front() else {
                break;
            };
            let still = self
                .cluster
                .try_pod(pod)
                .is_some_and(|e| e.node == Some(node))
                && self.pods.get(pod).is_some_and(|r| r.ready);
            if !still {
                continue;
            }
            m.sent = Some(pod);
            let ns = self.cluster.pod(pod).pod.namespace.clone();
            self.api_write(Writer::NodeLifecycle, &ns, Write::PodNotReady { pod, node });
            return;
        }
        self.node_lifecycle.marking.active.remove(&node);
        while let Some(next) = self.node_lifecycle.marking.waiting.pop_front() {
            let ready = self.node_lifecycle.get(next).is_none_or(|r| r.ready);
            if ready || !self.cluster.has_node(next) {
                continue;
            }
            let left = self.pods_to_mark(next);
            if left.is_empty() {
                continue;
            }
            self.node_lifecycle
                .marking
                .active
                .insert(next, NodeMarking { left, sent: None });
            self.mark_next_pod(next);
            return;
        }
    }

    /// The node's update of `pod` is answered: the next one goes, if it was the one under way.
    fn mark_answered(&mut self, pod: PodId, node: NodeId) {
        let current = self
            .node_lifecycle
            .marking
            .active
            .get_mut(&node)
            .filter(|m| m.sent == Some(pod));
        if let Some(m) = current {
            m.sent = None;
            self.mark_next_pod(node);
        }
    }

    /// The server took the pod's status update: the pod is not Ready for everyone (the
    /// controllers count it unavailable; its Services' slices drop it when written).
    pub(super) fn pod_marked_not_ready(&mut self, pod: PodId, node: NodeId) {
        // Taken after the node came back, it is overtaken by the kubelet's own report.
        let on_node = self
            .cluster
            .try_pod(pod)
            .is_some_and(|e| e.node == Some(node))
            && self.node_lifecycle.get(node).is_some_and(|r| !r.ready);
        if on_node {
            if let Some(rt) = self.pods.get_mut(pod) {
                if rt.ready {
                    rt.ready = false;
                    if let Some(w) = rt.workload {
                        self.request_sync(w);
                    }
                }
            }
            self.svc_call(|w, now, out| w.pod_not_ready(now, PodRef::new(pod.get()), out));
        }
        self.mark_answered(pod, node);
    }

    /// The pod's status update failed: the others go on, and the next monitor pass marks
    /// the node's pods again.
    pub(super) fn pod_mark_failed(&mut self, pod: PodId, node: NodeId) {
        if self.cluster.has_node(node) {
            self.node_lifecycle.node(node).mark_pods_retry = true;
        }
        self.mark_answered(pod, node);
    }
}
