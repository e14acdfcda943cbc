//! The cluster state the scheduler reads: nodes in kube-scheduler's node-tree order, pods with
//! where they are bound or nominated, and PodDisruptionBudgets with their healthy counts.
//! Every change goes through a method here so that the per-node sums stay exact.

use cascade_model::table_id;
use cascade_model::{Node, Pod, PodDisruptionBudget, Resources, ScalarResources};
use std::collections::HashMap;

table_id!(
    /// A node: its position in the [`Cluster`]'s node table, allocated by
    /// [`Cluster::add_node`] and never reused within a run.
    NodeId
);
table_id!(
    /// A pod: its position in the [`Cluster`]'s pod table, allocated by [`Cluster::add_pod`]
    /// and never reused within a run.
    PodId
);

/// A position in one of the cluster's tables (nodes, pods, PDBs) as the `u32` their ids are.
/// The tables stay far below 2^32 entries: a run's size is bounded long before that.
pub(crate) fn index_u32(i: usize) -> u32 {
    u32::try_from(i).expect("a cluster table of fewer than 2^32 entries")
}

/// A node and what is placed on it (kube-scheduler's framework.NodeInfo).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: Node,
    /// Sum of the requests of the pods bound here (terminating ones included: they hold their
    /// resources until they are gone).
    pub requested: Resources,
    /// The same with non-zero defaults, for scoring.
    pub nonzero_requested: Resources,
    /// Sum of the scalar requests (extended resources, hugepages) of the pods bound here.
    pub scalar_requested: ScalarResources,
    pub pods: Vec<PodId>,
    /// Pending pods whose status.nominatedNodeName is this node.
    pub nominated: Vec<PodId>,
    /// The node tree's zone key (region and zone labels), computed once.
    pub zone_key: String,
}

/// A pod and where it is.
#[derive(Clone, Debug)]
pub struct PodEntry {
    pub pod: Pod,
    pub node: Option<NodeId>,
    pub nominated: Option<NodeId>,
    /// The PDBs that cover this pod.
    pub pdbs: Vec<u32>,
}

/// A PDB and the disruption controller's view of it.
#[derive(Clone, Debug)]
pub struct PdbState {
    pub pdb: PodDisruptionBudget,
    /// Covered pods that are bound and not terminating (status.currentHealthy).
    pub healthy: i32,
    /// status.desiredHealthy: from the covered pods when the PDB is added, then from its
    /// owners' scale whenever that changes (`set_pdb_expected`).
    pub desired_healthy: i32,
}

impl PdbState {
    /// status.disruptionsAllowed.
    pub fn disruptions_allowed(&self) -> i32 {
        (self.healthy - self.desired_healthy).max(0)
    }
}

/// Why a change to the cluster was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterError {
    DuplicateNode(String),
    DuplicatePod(String),
    UnknownNode { pod: String, node: String },
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::DuplicateNode(n) => write!(f, "node {n} already exists"),
            ClusterError::DuplicatePod(p) => write!(f, "pod {p} already exists"),
            ClusterError::UnknownNode { pod, node } => {
                write!(f, "pod {pod} is bound to node {node}, which does not exist")
            }
        }
    }
}

impl std::error::Error for ClusterError {}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    nodes: Vec<Option<NodeInfo>>,
    node_by_name: HashMap<String, NodeId>,
    pods: Vec<Option<PodEntry>>,
    pod_by_key: HashMap<String, PodId>,
    pdbs: Vec<PdbState>,
    /// Zones in the order their first node was added, each with its nodes in order: the
    /// scheduler's node tree (pkg/scheduler/backend/cache/node_tree.go).
    zones: Vec<(String, Vec<NodeId>)>,
    order: Vec<NodeId>,
    order_dirty: bool,
    live_pods: usize,
}

impl Cluster {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, node: Node) -> Result<NodeId, ClusterError> {
        if self.node_by_name.contains_key(&node.name) {
            return Err(ClusterError::DuplicateNode(node.name));
        }
        let id = NodeId::at(self.nodes.len());
        let zone = node.zone_key();
        match self.zones.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, ids)) => ids.push(id),
            None => self.zones.push((zone.clone(), vec![id])),
        }
        self.node_by_name.insert(node.name.clone(), id);
        self.nodes.push(Some(NodeInfo {
            node,
            requested: Resources::ZERO,
            nonzero_requested: Resources::ZERO,
            scalar_requested: ScalarResources::new(),
            pods: Vec::new(),
            nominated: Vec::new(),
            zone_key: zone,
        }));
        self.order_dirty = true;
        Ok(id)
    }

    /// Removes a node; its pods are deleted with it (as the pod garbage collector would).
    pub fn remove_node(&mut self, id: NodeId) -> Vec<PodId> {
        let Some(info) = self.nodes[id.idx()].as_ref() else {
            return Vec::new();
        };
        let pods = info.pods.clone();
        let nominated = info.nominated.clone();
        for p in &pods {
            self.delete_pod(*p);
        }
        for p in nominated {
            self.nominate(p, None);
        }
        let info = self.nodes[id.idx()].take().expect("node exists");
        self.node_by_name.remove(&info.node.name);
        for (_, ids) in &mut self.zones {
            ids.retain(|n| *n != id);
        }
        self.zones.retain(|(_, ids)| !ids.is_empty());
        self.order_dirty = true;
        pods
    }

    /// Adds a taint to a node (the node lifecycle controller's NotReady/Unreachable taints).
    pub fn add_taint(&mut self, id: NodeId, taint: cascade_model::Taint) {
        let info = self.nodes[id.idx()].as_mut().expect("live node");
        if !info
            .node
            .taints
            .iter()
            .any(|t| t.key == taint.key && t.effect == taint.effect)
        {
            info.node.taints.push(taint);
        }
    }

    /// Removes every taint with this key from a node.
    pub fn remove_taints(&mut self, id: NodeId, key: &str) {
        let info = self.nodes[id.idx()].as_mut().expect("live node");
        info.node.taints.retain(|t| t.key != key);
    }

    /// Nodes in the node tree's order: one node from each zone in turn, so that consecutive
    /// nodes spread across zones (nodeTree.list()).
    pub fn node_order(&mut self) -> &[NodeId] {
        if self.order_dirty {
            self.order.clear();
            let longest = self.zones.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
            for i in 0..longest {
                for (_, ids) in &self.zones {
                    if let Some(id) = ids.get(i) {
                        self.order.push(*id);
                    }
                }
            }
            self.order_dirty = false;
        }
        &self.order
    }

    /// The node order if it is current (after [`Cluster::node_order`] was called since the
    /// last node change).
    pub fn cached_node_order(&self) -> &[NodeId] {
        debug_assert!(!self.order_dirty, "call node_order() after changing nodes");
        &self.order
    }

    pub fn node(&self, id: NodeId) -> &NodeInfo {
        self.nodes[id.idx()].as_ref().expect("live node")
    }

    pub fn has_node(&self, id: NodeId) -> bool {
        self.nodes.get(id.idx()).is_some_and(Option::is_some)
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &NodeInfo)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (NodeId::at(i), n)))
    }

    pub fn node_count(&self) -> usize {
        self.node_by_name.len()
    }

    pub fn pod(&self, id: PodId) -> &PodEntry {
        self.pods[id.idx()].as_ref().expect("live pod")
    }

    pub fn try_pod(&self, id: PodId) -> Option<&PodEntry> {
        self.pods.get(id.idx()).and_then(Option::as_ref)
    }

    pub fn pod_id(&self, key: &str) -> Option<PodId> {
        self.pod_by_key.get(key).copied()
    }

    pub fn pods(&self) -> impl Iterator<Item = (PodId, &PodEntry)> {
        self.pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (PodId::at(i), p)))
    }

    pub fn pod_count(&self) -> usize {
        self.live_pods
    }

    pub fn pdbs(&self) -> &[PdbState] {
        &self.pdbs
    }

    /// Adds a pod waiting to be scheduled, even if it names a node in spec.nodeName (the
    /// NodeName filter then holds it to that node).
    pub fn add_pending_pod(&mut self, mut pod: Pod) -> Result<PodId, ClusterError> {
        let node_name = pod.node_name.take();
        let id = self.add_pod(pod)?;
        self.pods[id.idx()].as_mut().expect("pod").pod.node_name = node_name;
        Ok(id)
    }

    /// Adds a pod. A pod with spec.nodeName is bound to that node; one with
    /// status.nominatedNodeName is nominated there.
    pub fn add_pod(&mut self, pod: Pod) -> Result<PodId, ClusterError> {
        let key = pod.key();
        if self.pod_by_key.contains_key(&key) {
            return Err(ClusterError::DuplicatePod(key));
        }
        let node = match &pod.node_name {
            Some(n) => Some(self.node_id(n).ok_or_else(|| ClusterError::UnknownNode {
                pod: key.clone(),
                node: n.clone(),
            })?),
            None => None,
        };
        let nominated = if node.is_none() {
            pod.nominated_node_name
                .as_deref()
                .and_then(|n| self.node_id(n))
        } else {
            None
        };
        let pdbs = self
            .pdbs
            .iter()
            .enumerate()
            .filter(|(_, b)| b.pdb.covers(&pod))
            .map(|(i, _)| index_u32(i))
            .collect();
        let id = PodId::at(self.pods.len());
        self.pods.push(Some(PodEntry {
            pod,
            node: None,
            nominated: None,
            pdbs,
        }));
        self.pod_by_key.insert(key, id);
        self.live_pods += 1;
        if let Some(n) = node {
            self.bind(id, n);
        } else if let Some(n) = nominated {
            self.nominate(id, Some(n));
        }
        Ok(id)
    }

    fn healthy(entry: &PodEntry) -> bool {
        entry.node.is_some() && !entry.pod.terminating
    }

    fn adjust_pdbs(&mut self, id: PodId, delta: i32) {
        let pdbs = std::mem::take(&mut self.pods[id.idx()].as_mut().expect("pod").pdbs);
        for b in &pdbs {
            self.pdbs[*b as usize].healthy += delta;
        }
        self.pods[id.idx()].as_mut().expect("pod").pdbs = pdbs;
    }

    /// Binds a pending pod to a node (the scheduler's Bind; spec.nodeName is set).
    pub fn bind(&mut self, id: PodId, node: NodeId) {
        self.nominate(id, None);
        let entry = self.pods[id.idx()].as_mut().expect("live pod");
        debug_assert!(
            entry.node.is_none(),
            "pod {} already bound",
            entry.pod.key()
        );
        entry.node = Some(node);
        let info = self.nodes[node.idx()].as_mut().expect("live node");
        entry.pod.node_name = Some(info.node.name.clone());
        info.requested += entry.pod.requests;
        info.nonzero_requested += entry.pod.nonzero_requests;
        if !entry.pod.scalar_requests.is_empty() {
            info.scalar_requested.add_all(&entry.pod.scalar_requests);
        }
        info.pods.push(id);
        if !entry.pod.terminating {
            self.adjust_pdbs(id, 1);
        }
    }

    /// status.startTime: when the kubelet accepted the pod (preemption's tie-breaks use it).
    pub fn set_start_time(&mut self, id: PodId, at: cascade_model::Millis) {
        self.pods[id.idx()]
            .as_mut()
            .expect("live pod")
            .pod
            .start_time = Some(at);
    }

    /// Sets or clears a pending pod's nominated node.
    pub fn nominate(&mut self, id: PodId, node: Option<NodeId>) {
        let entry = self.pods[id.idx()].as_mut().expect("live pod");
        if let Some(old) = entry.nominated.take() {
            if let Some(info) = self.nodes[old.idx()].as_mut() {
                info.nominated.retain(|p| *p != id);
            }
        }
        let entry = self.pods[id.idx()].as_mut().expect("live pod");
        entry.nominated = node;
        entry.pod.nominated_node_name = None;
        if let Some(n) = node {
            let info = self.nodes[n.idx()].as_mut().expect("live node");
            entry.pod.nominated_node_name = Some(info.node.name.clone());
            info.nominated.push(id);
        }
    }

    /// Marks a pod terminating (metadata.deletionTimestamp set): it keeps its resources until
    /// [`Cluster::delete_pod`], but no longer counts as healthy for its PDBs.
    pub fn set_terminating(&mut self, id: PodId) {
        let entry = self.pods[id.idx()].as_ref().expect("live pod");
        if entry.pod.terminating {
            return;
        }
        let was_healthy = Self::healthy(entry);
        self.pods[id.idx()].as_mut().expect("pod").pod.terminating = true;
        if was_healthy {
            self.adjust_pdbs(id, -1);
        }
    }

    /// Marks a pod as a victim of preemption (condition DisruptionTarget, reason
    /// PreemptionByScheduler); its termination is started separately.
    pub fn set_preempted(&mut self, id: PodId) {
        self.pods[id.idx()]
            .as_mut()
            .expect("live pod")
            .pod
            .preempted_by_scheduler = true;
    }

    /// Removes a pod from the cluster and returns it.
    pub fn delete_pod(&mut self, id: PodId) -> Pod {
        self.nominate(id, None);
        let entry = self.pods[id.idx()].as_ref().expect("live pod");
        if Self::healthy(entry) {
            self.adjust_pdbs(id, -1);
        }
        let entry = self.pods[id.idx()].take().expect("live pod");
        if let Some(n) = entry.node {
            let info = self.nodes[n.idx()].as_mut().expect("live node");
            info.requested -= entry.pod.requests;
            info.nonzero_requested -= entry.pod.nonzero_requests;
            if !entry.pod.scalar_requests.is_empty() {
                info.scalar_requested.sub_all(&entry.pod.scalar_requests);
            }
            info.pods.retain(|p| *p != id);
        }
        self.pod_by_key.remove(&entry.pod.key());
        self.live_pods -= 1;
        entry.pod
    }

    /// Adds a PDB. Its desiredHealthy is fixed now: from status.disruptionsAllowed when the
    /// snapshot has one (desired = healthy now - allowed), else from the spec against the
    /// covered pods (the owners' scale is taken as the number of covered pods).
    pub fn add_pdb(&mut self, pdb: PodDisruptionBudget) -> u32 {
        let idx = index_u32(self.pdbs.len());
        let mut healthy = 0;
        let mut expected = 0;
        for slot in self.pods.iter_mut().flatten() {
            if pdb.covers(&slot.pod) {
                slot.pdbs.push(idx);
                expected += 1;
                if Self::healthy(slot) {
                    healthy += 1;
                }
            }
        }
        let desired_healthy = match pdb.status_disruptions_allowed {
            Some(allowed) => healthy - allowed,
            None => pdb.desired_healthy(expected),
        };
        self.pdbs.push(PdbState {
            pdb,
            healthy,
            desired_healthy,
        });
        idx
    }

    /// The disruption controller's recount: a PDB's desiredHealthy from the number of pods its
    /// owners want (`expectedCount`, their scale). A PDB read with a status keeps the
    /// snapshot's figure.
    pub fn set_pdb_expected(&mut self, idx: u32, expected: i32) {
        if let Some(b) = self.pdbs.get_mut(idx as usize) {
            if b.pdb.status_disruptions_allowed.is_none() {
                b.desired_healthy = b.pdb.desired_healthy(expected);
            }
        }
    }

    /// Checks the bookkeeping against a recount (debug builds run this after every change in
    /// tests): per-node sums, pod placement, PDB health. Returns the first inconsistency.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut placed = 0;
        for (id, info) in self.nodes() {
            let mut req = Resources::ZERO;
            let mut nz = Resources::ZERO;
            let mut scalar = ScalarResources::new();
            for p in &info.pods {
                let e = self.pod(*p);
                if e.node != Some(id) {
                    return Err(format!(
                        "pod {} listed on {} but bound elsewhere",
                        e.pod.key(),
                        info.node.name
                    ));
                }
                req += e.pod.requests;
                nz += e.pod.nonzero_requests;
                scalar.add_all(&e.pod.scalar_requests);
                placed += 1;
            }
            if req != info.requested || nz != info.nonzero_requested {
                return Err(format!(
                    "node {}: requested {:?} but pods sum to {:?}",
                    info.node.name, info.requested, req
                ));
            }
            if scalar != info.scalar_requested {
                return Err(format!(
                    "node {}: scalar requested {:?} but pods sum to {:?}",
                    info.node.name, info.scalar_requested, scalar
                ));
            }
            if !info.requested.fits_in(&info.node.allocatable)
                || !info.scalar_requested.fits_in(&info.node.scalar_allocatable)
            {
                return Err(format!(
                    "node {} over-committed: requested {:?} > allocatable {:?}",
                    info.node.name, info.requested, info.node.allocatable
                ));
            }
        }
        let bound = self.pods().filter(|(_, e)| e.node.is_some()).count();
        if bound != placed {
            return Err(format!("{bound} pods bound but {placed} listed on nodes"));
        }
        for (i, b) in self.pdbs.iter().enumerate() {
            let healthy = self
                .pods()
                .filter(|(_, e)| e.pdbs.contains(&index_u32(i)) && Self::healthy(e))
                .count();
            if i32::try_from(healthy) != Ok(b.healthy) {
                return Err(format!(
                    "pdb {}: healthy {} but recount {}",
                    b.pdb.key(),
                    b.healthy,
                    healthy
                ));
            }
        }
        Ok(())
    }
}
