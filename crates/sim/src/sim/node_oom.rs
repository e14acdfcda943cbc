//! The kernel's side of node memory (docs/kubernetes.md#node-memory-pressure): when a node's
//! pods and daemons use all its memory, the OOM killer (`oom_killer.rs` chooses) ends
//! containers until they fit; a timer for when the node's growth would next fill it.

use super::node_memory::PodMem;
use super::oom_killer::{oom_score_adj, oom_victim, OomCandidate};
use crate::sim::{secs, Ev, Generation, KubeletEv, Phase, Simulation};
use cascade_engine::Time;
use cascade_scheduler::NodeId;

impl Simulation<'_> {
    /// The kernel's side: if the node's pods and daemons use all its memory, the OOM killer
    /// ends the container with the highest badness (again, until they fit); then a timer for
    /// when the node's growth would next fill it.
    pub(super) fn oom_check(&mut self, node: NodeId) {
        if self.nodes.memory.is_none() || !self.cluster.has_node(node) {
            return;
        }
        let capacity = self.memory_capacity(node);
        // The node's totals, summed again only after a kill changed them.
        let mut totals = self.node_memory_totals(node);
        for _ in 0..self.cluster.node(node).pods.len() {
            if totals.0 < capacity {
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
            totals = self.node_memory_totals(node);
        }
        // The next time the node's growth fills it.
        let (working_set, rate, _) = totals;
        let now = self.now();
        let fill = (rate > 0.0 && working_set < capacity).then(|| {
            // At least a millisecond ahead, so rounding can never spin the clock.
            let wait = ((capacity - working_set) as f64 / rate).max(0.001);
            now + secs(wait) + Time(1)
        });
        // A spike that starts may fill it at once, one that ends may end a thrash
        // (docs/kubernetes.md#memory-spikes).
        let at = match (fill, self.next_spike_edge(node)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mem = self.nodes.memory.as_mut().expect("node memory");
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
        // Whether the node thrashes, with the memory as the OOM killer left it (the totals
        // above: nothing has changed since).
        if self.thrash_watched(node) {
            self.thrash_observe_figures(node, capacity.saturating_sub(working_set), rate);
        }
        // Requests piling up in its pods may fill it before any timer
        // (docs/kubernetes.md#memory-per-request).
        self.watch_node_in_flight(node);
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
