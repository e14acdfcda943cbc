//! Node memory in the run (docs/kubernetes.md#node-memory-pressure): each node's working set
//! from its pods' `memory` behaviours, the kubelet's eviction manager passing over the nodes
//! every `evictionMonitoringPeriodSeconds`, the MemoryPressure condition and its
//! `node.kubernetes.io/memory-pressure:NoSchedule` taint, and the kernel's OOM killer when a
//! node runs out before the kubelet acts. The decisions are `eviction.rs`'s and
//! `oom_killer.rs`'s; this file gathers the figures and applies the kubelet's answers,
//! `eviction_passes.rs` times the passes and `node_oom.rs` applies the kernel's.
//!
//! It is switched on only when some behaviour has `memory`, so every other scenario runs
//! exactly as before (same events, same outputs).

use super::eviction::{
    EvictionConfig, EvictionManager, PodStats, ThresholdValue, SYSTEM_CRITICAL_PRIORITY,
};
use crate::sim::{Generation, Phase, Simulation};
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};
use std::collections::BTreeMap;

/// TaintNodesByCondition's key for MemoryPressure=True (effect NoSchedule).
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";

/// One node's memory state.
#[derive(Clone, Debug, Default)]
pub(super) struct NodeMem {
    pub(super) manager: EvictionManager,
    /// The MemoryPressure condition as last set.
    pub(super) pressure: bool,
    /// The current OOM check's timer; older ones are stale.
    pub(super) oom_check: Generation,
    /// When that timer fires (None: no timer).
    pub(super) oom_check_at: Option<Time>,
    /// The current eviction pass's timer; older ones are stale.
    pub(super) pass: Generation,
    /// The instant of the last pass (or when the manager started, less its phase): the
    /// node's passes fall on this instant plus whole monitoring periods.
    pub(super) pass_grid: Time,
    /// When the next pass comes (None: not before something on the node changes).
    pub(super) pass_at: Option<Time>,
}

/// Node memory, when the scenario models it.
#[derive(Clone, Debug)]
pub(super) struct NodeMemory {
    pub(super) cfg: EvictionConfig,
    pub(super) nodes: BTreeMap<NodeId, NodeMem>,
    /// Some behaviour's memory follows requests in flight, or spikes (`memory_steps.rs`):
    /// without them, nothing looks for either.
    pub(super) per_request: bool,
    pub(super) spikes: bool,
}

impl NodeMemory {
    pub fn new(cfg: EvictionConfig, memory: &[&crate::scenario::MemoryBehaviour]) -> NodeMemory {
        NodeMemory {
            cfg,
            nodes: BTreeMap::new(),
            per_request: memory.iter().any(|m| m.per_request.0 > 0),
            spikes: memory.iter().any(|m| m.spike.is_some()),
        }
    }

    /// Whether the node's kubelet computes MemoryPressure=True.
    pub fn pressure(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.pressure)
    }
}

/// A pod's memory figures at one instant.
pub(super) struct PodMem {
    pub(super) id: PodId,
    pub(super) usage: i64,
    /// Bytes per second it grows by while running (0 at its limit).
    pub(super) growth: f64,
}

impl Simulation<'_> {
    /// The MemoryPressure condition the node's kubelet computes (its eviction manager's).
    pub(super) fn kubelet_memory_pressure(&self, node: NodeId) -> bool {
        self.nodes.memory.as_ref().is_some_and(|m| m.pressure(node))
    }

    /// The node's memory state, if node memory is modelled and the node has one.
    pub(super) fn node_mem_mut(&mut self, node: NodeId) -> Option<&mut NodeMem> {
        self.nodes
            .memory
            .as_mut()
            .and_then(|m| m.nodes.get_mut(&node))
    }

    /// The node's memory capacity: status.allocatable (what the scenario writes) plus what
    /// the kubelet subtracted to get it, kube-reserved, system-reserved and the hard
    /// `memory.available` threshold (Allocatable = Capacity - reserved - hard threshold).
    pub(super) fn memory_capacity(&self, node: NodeId) -> i64 {
        let k = &self.p().kubelet;
        let allocatable = self.cluster.node(node).node.allocatable.memory;
        let reserved = k
            .kube_reserved_memory
            .0
            .saturating_add(k.system_reserved_memory.0);
        let below = allocatable.saturating_add(reserved);
        let cfg = &self.nodes.memory.as_ref().expect("node memory").cfg;
        match cfg.thresholds.iter().find(|t| t.is_hard()).map(|t| t.value) {
            None => below,
            Some(ThresholdValue::Bytes(b)) => below.saturating_add(b),
            // A percentage of the capacity itself: capacity = below / (1 - p).
            Some(ThresholdValue::Percentage(p)) if p < 100.0 => {
                #[allow(clippy::cast_possible_truncation)]
                let c = (below as f64 / (1.0 - p / 100.0)).round() as i64;
                c
            }
            Some(ThresholdValue::Percentage(_)) => below,
        }
    }

    /// A pod's working set now: its behaviour's `start` plus `growthPerMinute` for the time
    /// its container has run, plus `perRequest` for each request in flight at its replicas
    /// and its `spike` while on, held at its memory limit (where it is OOM-killed); a running
    /// pod without a memory behaviour uses its memory request (a cascade assumption, said in
    /// docs/kubernetes.md#node-memory-pressure); a pod whose containers are not running, none.
    fn pod_memory(&self, id: PodId) -> PodMem {
        let now = self.now();
        let Some(rt) = self.pods.get(id) else {
            return PodMem {
                id,
                usage: 0,
                growth: 0.0,
            };
        };
        if rt.phase != Phase::Running {
            return PodMem {
                id,
                usage: 0,
                growth: 0.0,
            };
        }
        let pod = &self.cluster.pod(id).pod;
        // `self.behaviour(id)`, from the pod's runtime state already at hand.
        let behaviour = rt.behaviour.map(|i| &self.sc.spec.behaviours[i]);
        match behaviour.and_then(|b| b.memory.as_ref()) {
            None => PodMem {
                id,
                usage: pod.requests.memory,
                growth: 0.0,
            },
            Some(m) => {
                let ran = i128::from((now - rt.last_start).0) + i128::from(rt.ran_before.0);
                let in_flight = if m.per_request.0 > 0 {
                    self.pod_in_flight(id)
                } else {
                    0
                };
                let mut usage = m.usage(ran, in_flight);
                let mut growth = m.growth_per_minute.0 as f64 / 60.0;
                if pod.memory_limit > 0 && usage >= pod.memory_limit {
                    usage = pod.memory_limit;
                    growth = 0.0;
                }
                PodMem {
                    id,
                    usage: usage.max(0),
                    growth: growth.max(0.0),
                }
            }
        }
    }

    /// The node's pods' memory and its working set (the pods' plus the reserved memory its
    /// daemons are taken to use).
    pub(super) fn node_working_set(&self, node: NodeId) -> (Vec<PodMem>, i64) {
        let k = &self.p().kubelet;
        let mut total = k
            .kube_reserved_memory
            .0
            .saturating_add(k.system_reserved_memory.0);
        let pods: Vec<PodMem> = self
            .cluster
            .node(node)
            .pods
            .iter()
            .map(|&p| self.pod_memory(p))
            .collect();
        for p in &pods {
            total = total.saturating_add(p.usage);
        }
        (pods, total)
    }

    /// The node's working set, how fast it grows (bytes a second, summed as
    /// [`Self::node_working_set`]'s callers sum it), and how many of its pods grow, without
    /// gathering the pods.
    pub(super) fn node_memory_totals(&self, node: NodeId) -> (i64, f64, u32) {
        let k = &self.p().kubelet;
        let mut total = k
            .kube_reserved_memory
            .0
            .saturating_add(k.system_reserved_memory.0);
        let mut growing = 0;
        let rate: f64 = self
            .cluster
            .node(node)
            .pods
            .iter()
            .map(|&p| {
                let m = self.pod_memory(p);
                total = total.saturating_add(m.usage);
                if m.growth > 0.0 {
                    growing += 1;
                }
                m.growth
            })
            .sum();
        (total, rate, growing)
    }

    /// Whether some pod on the node has a memory behaviour (only those nodes are watched).
    pub(super) fn node_has_memory_pods(&self, node: NodeId) -> bool {
        self.cluster
            .node(node)
            .pods
            .iter()
            .any(|&p| self.behaviour(p).is_some_and(|b| b.memory.is_some()))
    }

    /// The node's kubelet is down: the node lifecycle controller sets its conditions Unknown,
    /// so the memory-pressure taint (for MemoryPressure=True only) goes (a write of the
    /// controller's), and the kubelet that comes back starts its eviction manager afresh
    /// (docs/kubernetes.md#node-memory-pressure).
    pub(super) fn kubelet_gone(&mut self, node: NodeId) {
        if let Some(state) = self.node_mem_mut(node) {
            state.pressure = false;
            state.manager = EvictionManager::default();
        }
        if self.control_plane.memory_pressure_reported(node) {
            self.node_status_unknown(node);
            self.memory_pressure_condition(node, false);
        }
    }

    /// The kubelet's eviction manager on one node: MemoryPressure and at most one eviction.
    pub(super) fn synchronize_node(&mut self, node: NodeId) {
        let now = self.now();
        let capacity = self.memory_capacity(node);
        let (pods, working_set) = self.node_working_set(node);
        // Candidates: the node's active pods (a terminating pod is already going).
        let active: Vec<&PodMem> = pods
            .iter()
            .filter(|p| {
                !self.cluster.pod(p.id).pod.terminating
                    && self
                        .pods
                        .get(p.id)
                        .is_some_and(|r| r.phase == Phase::Running)
            })
            .collect();
        let stats: Vec<PodStats> = active
            .iter()
            .map(|p| {
                let pod = &self.cluster.pod(p.id).pod;
                PodStats {
                    usage: p.usage,
                    request: pod.requests.memory,
                    priority: pod.priority,
                }
            })
            .collect();
        let critical: Vec<bool> = active
            .iter()
            .map(|p| self.cluster.pod(p.id).pod.priority >= SYSTEM_CRITICAL_PRIORITY)
            .collect();
        let mem = self.nodes.memory.as_mut().expect("node memory");
        let state = mem.nodes.entry(node).or_default();
        let d = state
            .manager
            .synchronize(now, &mem.cfg, capacity, working_set, &stats, &critical);
        let was = std::mem::replace(&mut state.pressure, d.memory_pressure);
        // The condition reaches the API server with the kubelet's next status update, and the
        // scheduler through the taint the node lifecycle controller then adds
        // (docs/control-plane-and-nodes.md#node-status-in-the-run).
        if d.memory_pressure && !was {
            let name = self.cluster.node(node).node.name.clone();
            self.record(
                "NodeHasInsufficientMemory",
                format!("node/{name}"),
                format!(
                    "Node {name} status is now: NodeHasInsufficientMemory (memory.available {} of capacity {capacity})",
                    capacity.saturating_sub(working_set)
                ),
                None,
            );
        } else if !d.memory_pressure && was {
            let name = self.cluster.node(node).node.name.clone();
            self.record(
                "NodeHasSufficientMemory",
                format!("node/{name}"),
                format!("Node {name} status is now: NodeHasSufficientMemory"),
                None,
            );
        }
        if let Some((i, grace)) = d.evict {
            let p = active[i];
            let (id, usage) = (p.id, p.usage);
            let pod = &self.cluster.pod(id).pod;
            let key = pod.key();
            let request = pod.requests.memory;
            self.rec.metrics.count("pods_evicted_node_pressure", 1);
            self.record(
                "Evicted",
                format!("pod/{key}"),
                format!(
                    "The node was low on resource: memory. Available: {}, capacity: {capacity}; the pod was using {usage}, request is {request}.",
                    capacity.saturating_sub(working_set)
                ),
                Some(id),
            );
            // The pod ends Failed with reason Evicted; its controller replaces it as it
            // replaces any pod that goes.
            if let Some(rt) = self.pods.get_mut(id) {
                rt.grace_override = Some(grace);
            }
            self.terminate(id);
        }
    }

    /// The node's `memory.available` (capacity minus working set) and how fast it falls, in
    /// bytes a second (thrashing.rs reads it).
    pub(super) fn node_memory_available(&self, node: NodeId) -> (i64, f64) {
        let capacity = self.memory_capacity(node);
        let (working_set, rate, _) = self.node_memory_totals(node);
        (capacity.saturating_sub(working_set), rate)
    }
}
