//! Node memory in the run (docs/kubernetes.md#node-memory-pressure): each node's working set
//! from its pods' `memory` behaviours, the kubelet's eviction manager passing over the nodes
//! every `evictionMonitoringPeriodSeconds`, the MemoryPressure condition and its
//! `node.kubernetes.io/memory-pressure:NoSchedule` taint, and the kernel's OOM killer when a
//! node runs out before the kubelet acts. The decisions are `eviction.rs`'s and
//! `oom_killer.rs`'s; this file only gathers the figures and applies what comes back.
//!
//! It is switched on only when some behaviour has `memory`, so every other scenario runs
//! exactly as before (same events, same outputs).

use super::eviction::{
    EvictionConfig, EvictionManager, PodStats, ThresholdValue, SYSTEM_CRITICAL_PRIORITY,
};
use super::oom_killer::{oom_score_adj, oom_victim, OomCandidate};
use crate::sim::{secs, Ev, Generation, KubeletEv, Phase, Simulation};
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};
use std::collections::BTreeMap;

/// TaintNodesByCondition's key for MemoryPressure=True (effect NoSchedule).
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";

/// One node's memory state.
#[derive(Clone, Debug, Default)]
pub(super) struct NodeMem {
    manager: EvictionManager,
    /// The MemoryPressure condition as last set.
    pressure: bool,
    /// The current OOM check's timer; older ones are stale.
    oom_check: Generation,
    /// When that timer fires (None: no timer).
    oom_check_at: Option<Time>,
    /// The current eviction pass's timer; older ones are stale.
    pass: Generation,
    /// The instant of the last pass (or when the manager started, less its phase): the
    /// node's passes fall on this instant plus whole monitoring periods.
    pass_grid: Time,
    /// When the next pass comes (None: not before something on the node changes).
    pass_at: Option<Time>,
}

/// Node memory, when the scenario models it.
#[derive(Clone, Debug)]
pub(super) struct NodeMemory {
    cfg: EvictionConfig,
    nodes: BTreeMap<NodeId, NodeMem>,
}

impl NodeMemory {
    pub fn new(cfg: EvictionConfig) -> NodeMemory {
        NodeMemory {
            cfg,
            nodes: BTreeMap::new(),
        }
    }

    /// Whether the node's kubelet computes MemoryPressure=True.
    pub fn pressure(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.pressure)
    }
}

/// When a kubelet's first eviction pass comes after it joins, in (0, period]: uniform, drawn
/// from the seed and the node alone, so that no other draw moves and a run stays a function
/// of its seed (docs/kubernetes.md#node-memory-pressure).
fn eviction_phase(seed: u64, node: NodeId, period: f64) -> f64 {
    (1.0 - cascade_engine::rng::unit_hash(seed ^ 0xe71c7, u64::from(node.get()))) * period
}

/// A pod's memory figures at one instant.
struct PodMem {
    id: PodId,
    usage: i64,
    /// Bytes per second it grows by while running (0 at its limit).
    growth: f64,
}

impl Simulation<'_> {
    /// The MemoryPressure condition the node's kubelet computes (its eviction manager's).
    pub(super) fn kubelet_memory_pressure(&self, node: NodeId) -> bool {
        self.node_memory.as_ref().is_some_and(|m| m.pressure(node))
    }

    /// Starts every node's eviction manager, if node memory is modelled (nodes added later
    /// start theirs as they join, `objects.rs` `add_node`).
    pub(super) fn start_node_memory(&mut self) {
        let nodes: Vec<NodeId> = self.cluster.nodes().map(|(id, _)| id).collect();
        for node in nodes {
            self.start_eviction_manager(node);
        }
    }

    /// The node's kubelet runs its eviction manager's passes from now on, each kubelet at its
    /// own phase within the monitoring period: kubelets start at different times, so their
    /// passes are spread over the period rather than in step
    /// (docs/kubernetes.md#node-memory-pressure).
    pub(super) fn start_eviction_manager(&mut self, node: NodeId) {
        let now = self.now();
        let period = self.p.kubelet.eviction_monitoring_period_seconds;
        let Some(mem) = self.node_memory.as_mut() else {
            return;
        };
        let at = now + secs(eviction_phase(self.info.seed, node, period));
        let state = mem.nodes.entry(node).or_default();
        let pass = state.pass.bump();
        state.pass_at = Some(at);
        // The grid's instant before the first pass (possibly before the run's start: only
        // differences from it are used).
        state.pass_grid = Time(at.0.wrapping_sub(secs(period).0));
        self.engine
            .schedule(at, Ev::Kubelet(KubeletEv::EvictionPass { node, pass }));
    }

    /// Something changed the node's pods, their memory or the node itself: a pass put off
    /// because nothing could change before it comes back to the node's next instant on its
    /// grid, the instant it would have had without being put off
    /// (docs/kubernetes.md#node-memory-pressure).
    pub(super) fn eviction_pass_due(&mut self, node: NodeId) {
        let now = self.now();
        let period = secs(self.p.kubelet.eviction_monitoring_period_seconds)
            .0
            .max(1);
        let Some(state) = self.node_mem_mut(node) else {
            return;
        };
        // The first instant on the grid after the last pass that is not before now.
        let since = now.0.wrapping_sub(state.pass_grid.0);
        let k = since.div_ceil(period).max(1);
        let next = Time(state.pass_grid.0.wrapping_add(k * period));
        if state.pass_at.is_some_and(|at| at <= next) {
            return;
        }
        let pass = state.pass.bump();
        state.pass_at = Some(next);
        self.engine
            .schedule(next, Ev::Kubelet(KubeletEv::EvictionPass { node, pass }));
    }

    /// The node's memory state, if node memory is modelled and the node has one.
    fn node_mem_mut(&mut self, node: NodeId) -> Option<&mut NodeMem> {
        self.node_memory
            .as_mut()
            .and_then(|m| m.nodes.get_mut(&node))
    }

    /// The node's memory capacity: status.allocatable (what the scenario writes) plus what
    /// the kubelet subtracted to get it, kube-reserved, system-reserved and the hard
    /// `memory.available` threshold (Allocatable = Capacity - reserved - hard threshold).
    fn memory_capacity(&self, node: NodeId) -> i64 {
        let k = &self.p.kubelet;
        let allocatable = self.cluster.node(node).node.allocatable.memory;
        let reserved = k
            .kube_reserved_memory
            .0
            .saturating_add(k.system_reserved_memory.0);
        let below = allocatable.saturating_add(reserved);
        let cfg = &self.node_memory.as_ref().expect("node memory").cfg;
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
    /// its container has run, held at its memory limit (where it is OOM-killed); a running
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
        match self.behaviour(id).and_then(|b| b.memory.as_ref()) {
            None => PodMem {
                id,
                usage: pod.requests.memory,
                growth: 0.0,
            },
            Some(m) => {
                let ran = i128::from((now - rt.last_start).0) + i128::from(rt.ran_before.0);
                let grown = i128::from(m.growth_per_minute.0) * ran / 60_000_000;
                let mut usage = i64::try_from(i128::from(m.start.0) + grown).unwrap_or(i64::MAX);
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
    fn node_working_set(&self, node: NodeId) -> (Vec<PodMem>, i64) {
        let k = &self.p.kubelet;
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
    fn node_memory_totals(&self, node: NodeId) -> (i64, f64, u32) {
        let k = &self.p.kubelet;
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
    fn node_has_memory_pods(&self, node: NodeId) -> bool {
        self.cluster
            .node(node)
            .pods
            .iter()
            .any(|&p| self.behaviour(p).is_some_and(|b| b.memory.is_some()))
    }

    /// One pass of the node's eviction manager, then its next one a monitoring period later,
    /// or later on its grid when no pass before could change anything (see
    /// [`Self::quiet_passes`]); a node that is gone takes its state and its passes with it
    /// (ids are never reused).
    pub(super) fn eviction_pass(&mut self, node: NodeId, pass: Generation) {
        if self
            .node_memory
            .as_ref()
            .and_then(|m| m.nodes.get(&node))
            .is_none_or(|s| !s.pass.is_current(pass))
        {
            return;
        }
        if !self.cluster.has_node(node) {
            if let Some(m) = self.node_memory.as_mut() {
                m.nodes.remove(&node);
            }
            self.thrash_forget(node);
            return;
        }
        let watched =
            self.kubelet_memory_pressure(node) || self.control_plane.memory_pressure_reported(node);
        let thrashing = self.node_thrashing(node);
        if !self.node_lifecycle.is_up(node) {
            if watched {
                self.kubelet_gone(node);
            }
            // A machine that restarts starts with its memory free.
            self.thrash_forget(node);
        } else if watched || thrashing || self.node_has_memory_pods(node) {
            // A thrashing kubelet's eviction manager does not run; the kernel's OOM killer
            // still does (docs/kubernetes.md#a-thrashing-node).
            if !thrashing {
                self.synchronize_node(node);
            }
            self.oom_check(node);
        }
        let now = self.now();
        let period = secs(self.p.kubelet.eviction_monitoring_period_seconds);
        let at = self
            .quiet_passes(node, period)
            .map(|k| Time(now.0 + period.0 * (k + 1)));
        let state = self
            .node_memory
            .as_mut()
            .expect("node memory")
            .nodes
            .entry(node)
            .or_default();
        state.pass_grid = now;
        state.pass_at = at;
        if let Some(at) = at {
            let pass = state.pass;
            self.engine
                .schedule(at, Ev::Kubelet(KubeletEv::EvictionPass { node, pass }));
        }
    }

    /// After a pass: how many of the node's next passes are sure to change nothing (Some(0):
    /// the next may; None: none will until something on the node changes). They are the
    /// passes that find no threshold met while none was met before, MemoryPressure off and
    /// not reported, the node up (a node down with nothing reported: none) and not thrashing nor on its way to it, and no OOM kill:
    /// true while `memory.available` stays at or above the highest threshold, the thrashing
    /// threshold and one byte. The pods' memory grows linearly from their `start` (held at
    /// their limits), so the working set `t` seconds on is at most today's plus the growth
    /// rate times `t` plus a byte a growing pod for the rounding; anything that adds a pod or
    /// its memory brings the pass back ([`Self::eviction_pass_due`]). A pass put off is one
    /// whose outcome is already known, so every pass that could change state still comes at
    /// its own instant (docs/kubernetes.md#node-memory-pressure).
    fn quiet_passes(&self, node: NodeId, period: Time) -> Option<u64> {
        if !self.cluster.has_node(node) {
            return Some(0);
        }
        if !self.node_lifecycle.is_up(node) {
            // A node that is down with nothing reported: its passes find nothing to withdraw
            // and nothing to forget until it comes back (or goes).
            let watched = self.kubelet_memory_pressure(node)
                || self.control_plane.memory_pressure_reported(node);
            return if watched { Some(0) } else { None };
        }
        if self.node_thrashing(node)
            || self.kubelet_memory_pressure(node)
            || self.control_plane.memory_pressure_reported(node)
        {
            return Some(0);
        }
        let mem = self.node_memory.as_ref().expect("node memory");
        if mem
            .nodes
            .get(&node)
            .is_some_and(|s| !s.manager.no_threshold_met())
        {
            return Some(0);
        }
        let mut floor = 1i64;
        if let Some(t) = self.thrashing.as_ref() {
            if !t.node_quiet(node) {
                return Some(0);
            }
            floor = floor.max(t.memory_available());
        }
        if !self.node_has_memory_pods(node) {
            // Nothing on the node is watched: no pass does anything until a pod starts.
            return None;
        }
        let capacity = self.memory_capacity(node);
        for t in &mem.cfg.thresholds {
            floor = floor.max(t.bytes(capacity));
        }
        let (working_set, rate, growing) = self.node_memory_totals(node);
        let headroom = i128::from(capacity)
            - i128::from(working_set)
            - i128::from(floor)
            - i128::from(growing)
            - 1;
        if headroom < 0 {
            return Some(0);
        }
        if rate <= 0.0 {
            return None;
        }
        // Seconds until the working set could reach the floor, a little short of it so the
        // float arithmetic can only err early.
        let until = headroom as f64 / rate * (1.0 - 1e-9) - 0.001;
        if until <= 0.0 {
            return Some(0);
        }
        // Saturating: a wait past u64's microseconds is as good as never.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = (until * 1e6) as u64 / period.0.max(1);
        Some(k)
    }

    /// The node's kubelet is down: the node lifecycle controller sets its conditions Unknown,
    /// so the memory-pressure taint (for MemoryPressure=True only) goes (a write of the
    /// controller's), and the kubelet that comes back starts its eviction manager afresh
    /// (docs/kubernetes.md#node-memory-pressure).
    fn kubelet_gone(&mut self, node: NodeId) {
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
    fn synchronize_node(&mut self, node: NodeId) {
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
        let mem = self.node_memory.as_mut().expect("node memory");
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

    /// The kernel's side: if the node's pods and daemons use all its memory, the OOM killer
    /// ends the container with the highest badness (again, until they fit); then a timer for
    /// when the node's growth would next fill it.
    pub(super) fn oom_check(&mut self, node: NodeId) {
        if self.node_memory.is_none() || !self.cluster.has_node(node) {
            return;
        }
        let capacity = self.memory_capacity(node);
        for _ in 0..self.cluster.node(node).pods.len() {
            if self.node_memory_totals(node).0 < capacity {
                break;
            }
            let (pods, working_set) = self.node_working_set(node);
            let running: Vec<&PodMem> = pods.iter().filter(|p| p.usage > 0).collect();
            let candidates: Vec<OomCandidate> = running
                .iter()
                .map(|p| {
                    let pod = &self.cluster.pod(p.id).pod;
                    OomCandidate {
                        usage: p.usage,
                        oom_score_adj: oom_score_adj(pod.qos_class, pod.requests.memory, capacity),
                    }
                })
                .collect();
            let Some(v) = oom_victim(&candidates, capacity) else {
                break;
            };
            let id = running[v].id;
            let starts = Generation::new(self.pods.get(id).map_or(0, |r| r.starts));
            let name = self.cluster.node(node).node.name.clone();
            let key = self.cluster.pod(id).pod.key();
            self.rec.metrics.count("node_oom_kills", 1);
            self.record(
                "SystemOOM",
                format!("node/{name}"),
                format!(
                    "System OOM encountered, victim pod {key} (using {}, oom_score_adj {}); node memory {working_set} of {capacity}",
                    candidates[v].usage, candidates[v].oom_score_adj
                ),
                None,
            );
            if self.cluster.pod(id).pod.terminating {
                // A pod already being stopped (an evicted one, within its grace period): its
                // killed containers end it now.
                if let Some(rt) = self.pods.get_mut(id) {
                    rt.phase = Phase::Starting;
                }
                self.record(
                    "OOMKilled",
                    format!("pod/{key}"),
                    "the node ran out of memory (system OOM); the pod was terminating".into(),
                    Some(id),
                );
                self.rec.metrics.count("pods_oom_killed", 1);
                self.engine
                    .schedule_in(Time::ZERO, Ev::Kubelet(KubeletEv::PodGone { pod: id }));
            } else {
                self.oom_kill_because(id, starts, "the node ran out of memory (system OOM)");
            }
        }
        // The next time the node's growth fills it.
        let (working_set, rate, _) = self.node_memory_totals(node);
        let now = self.now();
        let at = (rate > 0.0 && working_set < capacity).then(|| {
            // At least a millisecond ahead, so rounding can never spin the clock.
            let wait = ((capacity - working_set) as f64 / rate).max(0.001);
            now + secs(wait) + Time(1)
        });
        let mem = self.node_memory.as_mut().expect("node memory");
        let state = mem.nodes.entry(node).or_default();
        // Nothing changed on the node: the timer already set (up to a millisecond early, from
        // rounding; firing early only checks again) stands, and no stale timer piles up.
        let keep = match (state.oom_check_at, at) {
            (Some(old), Some(new)) => old >= now && old <= new && new - old <= secs(0.001),
            _ => false,
        };
        if !keep {
            let check = state.oom_check.bump();
            state.oom_check_at = at;
            if let Some(at) = at {
                self.engine
                    .schedule(at, Ev::Kubelet(KubeletEv::NodeOomCheck { node, check }));
            }
        }
        // Whether the node thrashes, with the memory as the OOM killer left it.
        self.thrash_observe(node);
    }

    /// The node's `memory.available` (capacity minus working set) and how fast it falls, in
    /// bytes a second (thrashing.rs reads it).
    pub(super) fn node_memory_available(&self, node: NodeId) -> (i64, f64) {
        let capacity = self.memory_capacity(node);
        let (working_set, rate, _) = self.node_memory_totals(node);
        (capacity.saturating_sub(working_set), rate)
    }

    /// A timer set by [`Self::oom_check`]: ignored if a later check replaced it.
    pub(super) fn node_oom_check(&mut self, node: NodeId, check: Generation) {
        let Some(state) = self.node_mem_mut(node) else {
            return;
        };
        if !state.oom_check.is_current(check) {
            return;
        }
        // This timer has fired: the check below sets the next one.
        state.oom_check_at = None;
        if self.node_lifecycle.is_up(node) {
            self.oom_check(node);
        }
    }
}
