//! The kubelet's eviction manager's passes over its node (docs/kubernetes.md#node-memory-pressure):
//! each kubelet at its own phase in the monitoring period, a pass put off while it is sure to
//! change nothing and brought back to its grid when something on the node changes. What a
//! pass does is `node_memory.rs`'s (`synchronize_node`) and `node_oom.rs`'s (`oom_check`).

use crate::sim::{secs, Ev, Generation, KubeletEv, Simulation};
use cascade_engine::Time;
use cascade_scheduler::NodeId;

/// When a kubelet's first eviction pass comes after it joins, in (0, period]: uniform, drawn
/// from the seed and the node alone, so that no other draw moves and a run stays a function
/// of its seed (docs/kubernetes.md#node-memory-pressure).
fn eviction_phase(seed: u64, node: NodeId, period: f64) -> f64 {
    (1.0 - cascade_engine::rng::unit_hash(seed ^ 0xe71c7, u64::from(node.get()))) * period
}

impl Simulation<'_> {
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
        let period = self.p().kubelet.eviction_monitoring_period_seconds;
        let Some(mem) = self.nodes.memory.as_mut() else {
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
        let period = secs(self.p().kubelet.eviction_monitoring_period_seconds)
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

    /// One pass of the node's eviction manager, then its next one a monitoring period later,
    /// or later on its grid when no pass before could change anything (see
    /// [`Self::quiet_passes`]); a node that is gone takes its state and its passes with it
    /// (ids are never reused).
    pub(super) fn eviction_pass(&mut self, node: NodeId, pass: Generation) {
        if self
            .nodes
            .memory
            .as_ref()
            .and_then(|m| m.nodes.get(&node))
            .is_none_or(|s| !s.pass.is_current(pass))
        {
            return;
        }
        if !self.cluster.has_node(node) {
            if let Some(m) = self.nodes.memory.as_mut() {
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
        let period = secs(self.p().kubelet.eviction_monitoring_period_seconds);
        let at = self
            .quiet_passes(node, period)
            .map(|k| Time(now.0 + period.0 * (k + 1)));
        let state = self
            .nodes
            .memory
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
        let mem = self.nodes.memory.as_ref().expect("node memory");
        if mem
            .nodes
            .get(&node)
            .is_some_and(|s| !s.manager.no_threshold_met())
        {
            return Some(0);
        }
        let mut floor = 1i64;
        if let Some(t) = self.nodes.thrashing.as_ref() {
            if !t.node_quiet(node) {
                return Some(0);
            }
            floor = floor.max(t.memory_available());
        }
        if !self.node_has_memory_pods(node) {
            // Nothing on the node is watched: no pass does anything until a pod starts.
            return None;
        }
        // Memory that follows requests in flight is not along a line: every pass may find
        // a change; spikes may add their size at any moment (docs/kubernetes.md#memory-spikes).
        let (per_request, spikes) = self.node_memory_steps(node);
        if per_request {
            return Some(0);
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
            - i128::from(spikes)
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
}
