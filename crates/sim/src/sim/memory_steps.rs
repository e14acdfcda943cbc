//! Node memory that moves in steps rather than along a leak's line
//! (docs/kubernetes.md#memory-per-request, docs/kubernetes.md#memory-spikes): the requests in
//! flight at a pod's replicas of the services (`memory.perRequest`), and spikes
//! (`memory.spike`). The leak's timing (`eviction_passes.rs`, `node_oom.rs`) works out when
//! growth along a line reaches a level; these steps are caught instead by
//! - the kubelet's passes, never put off on a node whose pods hold memory per request (their
//!   memory follows the traffic), and put off with room left for every spike on the node;
//! - the kernel's OOM check, also timed to the next spike edge on the node, and run when a
//!   pod's requests in flight reach the count that could take the node to its next level (the
//!   thrashing threshold, then its capacity): the services are asked to say when
//!   (`World::watch_in_flight`, through `services_bridge.rs`); they know nothing of memory.

use crate::sim::{Phase, Simulation};
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};

impl Simulation<'_> {
    /// The node's running pods whose memory follows their requests in flight, with the bytes
    /// each request holds.
    fn per_request_pods(&self, node: NodeId) -> Vec<(PodId, i64)> {
        if !self.nodes.memory.as_ref().is_some_and(|m| m.per_request) {
            return Vec::new();
        }
        self.cluster
            .node(node)
            .pods
            .iter()
            .filter(|&&p| self.pods.get(p).is_some_and(|r| r.phase == Phase::Running))
            .filter_map(|&p| {
                let m = self.behaviour(p)?.memory.as_ref()?;
                (m.per_request.0 > 0).then_some((p, m.per_request.0))
            })
            .collect()
    }

    /// What steps the node's memory may take before the kubelet's next pass: whether some
    /// pod's memory follows its requests (then no pass may be put off), and the bytes every
    /// spike on the node could add (room kept for them when one is put off).
    pub(super) fn node_memory_steps(&self, node: NodeId) -> (bool, i64) {
        if !self
            .nodes
            .memory
            .as_ref()
            .is_some_and(|m| m.per_request || m.spikes)
        {
            return (false, 0);
        }
        let mut per_request = false;
        let mut spikes = 0i64;
        for &p in &self.cluster.node(node).pods {
            if let Some(m) = self.behaviour(p).and_then(|b| b.memory.as_ref()) {
                per_request |= m.per_request.0 > 0;
                if let Some(s) = &m.spike {
                    spikes = spikes.saturating_add(s.size.0.max(0));
                }
            }
        }
        (per_request, spikes)
    }

    /// The next instant a spike on the node starts or ends (the kernel's OOM check and the
    /// thrashing watch look again then).
    pub(super) fn next_spike_edge(&self, node: NodeId) -> Option<Time> {
        if !self.nodes.memory.as_ref().is_some_and(|m| m.spikes) {
            return None;
        }
        let now = self.now();
        self.cluster
            .node(node)
            .pods
            .iter()
            .filter_map(|&p| {
                let s = self.behaviour(p)?.memory.as_ref()?.spike.as_ref()?;
                let rt = self.pods.get(p).filter(|r| r.phase == Phase::Running)?;
                let ran_us = (now - rt.last_start).0.saturating_add(rt.ran_before.0);
                #[allow(clippy::cast_precision_loss)]
                let ran = ran_us as f64 / 1e6;
                let edge = s.next_edge_after(ran)?;
                // Rounded up, and a microsecond on: at the timer the edge has been passed.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let wait = ((edge - ran) * 1e6).ceil().max(0.0) as u64;
                Some(Time(now.0.saturating_add(wait).saturating_add(1)))
            })
            .min()
    }

    /// Asks the services to say when a per-request pod's requests in flight could take the
    /// node to its next level: below the thrashing threshold, then out of memory. The room
    /// left is shared among the node's per-request pods, each told at one request past its
    /// share, so no crossing goes unseen (one may be looked at early, and the watches set
    /// again from there).
    pub(super) fn watch_node_in_flight(&mut self, node: NodeId) {
        let pods = self.per_request_pods(node);
        if pods.is_empty() {
            return;
        }
        let capacity = self.memory_capacity(node);
        let (working_set, _, _) = self.node_memory_totals(node);
        let available = capacity.saturating_sub(working_set);
        let thrash = self
            .nodes
            .thrashing
            .as_ref()
            .map_or(0, |t| t.memory_available());
        // Thrashing is available < threshold; out of memory is a working set at capacity,
        // available < 1 byte.
        let level = if thrash > 0 && available >= thrash {
            thrash
        } else {
            1
        };
        let room = available.saturating_sub(level).max(0);
        let share = room / i64::try_from(pods.len()).unwrap_or(i64::MAX);
        for (p, bytes) in pods {
            let extra = usize::try_from(share / bytes).unwrap_or(usize::MAX);
            let at = self
                .pod_in_flight(p)
                .saturating_add(extra)
                .saturating_add(1);
            self.watch_pod_in_flight(p, Some(at));
        }
    }

    /// A pod's requests in flight reached its watch: the kernel looks at its node (and sets
    /// the watches again).
    pub(super) fn in_flight_reached(&mut self, pod: PodId) {
        if self.nodes.memory.is_none() {
            return;
        }
        let Some(node) = self.cluster.try_pod(pod).and_then(|e| e.node) else {
            return;
        };
        if self.cluster.has_node(node) && self.node_lifecycle.is_up(node) {
            self.oom_check(node);
        }
    }
}
