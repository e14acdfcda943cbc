//! A node that thrashes (docs/kubernetes.md#a-thrashing-node): once its `memory.available`
//! has stayed below `memoryThrashing.memoryAvailable` for `onsetSeconds`, the kernel is
//! reclaiming the pages its system daemons run from (they are at `oom_score_adj` -999, out of
//! the OOM killer's reach, but not out of reclaim's), so its kubelet stops renewing its Lease
//! and posting status, its eviction manager stops, and its runtime stops answering: the node
//! lifecycle controller marks it NotReady after the grace period and the taint-based eviction
//! follows, as for any node gone silent. It recovers `recoverySeconds` after memory is freed
//! (the kernel's OOM killer, which still runs, or pods gone).
//!
//! The decision is [`ThrashState::observe`], pure; the rest gathers the figures from
//! `node_memory.rs` and applies the transitions. Modelled only with node memory.

use crate::sim::{secs, Ev, Generation, KubeletEv, Simulation};
use cascade_engine::Time;
use cascade_scheduler::NodeId;
use std::collections::BTreeMap;

/// The thresholds, resolved from `parameters.memoryThrashing`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrashConfig {
    /// Bytes of `memory.available` below which the node's reclaim thrashes (0: never).
    pub memory_available: i64,
    /// How long below it before the daemons stall.
    pub onset: Time,
    /// From memory back above it to the daemons answering again.
    pub recovery: Time,
}

/// What one observation changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    /// The node's daemons stall from now.
    Started,
    /// They answer again from now.
    Ended,
}

/// One node's thrashing state between observations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrashState {
    /// Since when `memory.available` has been below the threshold.
    below_since: Option<Time>,
    pub thrashing: bool,
    /// While thrashing with memory back above the threshold: when the daemons answer again.
    recover_at: Option<Time>,
}

impl ThrashState {
    /// Neither thrashing nor below the threshold, nor recovering.
    pub fn quiet(&self) -> bool {
        !self.thrashing && self.below_since.is_none() && self.recover_at.is_none()
    }

    /// The node at `now`, with `available` bytes of `memory.available` falling by `falling`
    /// bytes a second (0 or more): what changes, and when to look again (the onset's or the
    /// recovery's end, or the instant the fall crosses the threshold), if ever.
    pub fn observe(
        &mut self,
        now: Time,
        cfg: &ThrashConfig,
        available: i64,
        falling: f64,
    ) -> (Transition, Option<Time>) {
        let below = cfg.memory_available > 0 && available < cfg.memory_available;
        if below {
            // Memory running short again cancels a recovery under way.
            self.recover_at = None;
            let since = *self.below_since.get_or_insert(now);
            if self.thrashing {
                return (Transition::None, None);
            }
            if now - since >= cfg.onset {
                self.thrashing = true;
                return (Transition::Started, None);
            }
            return (Transition::None, Some(since + cfg.onset));
        }
        self.below_since = None;
        // When the fall reaches the threshold (strictly below it), at least a millisecond on
        // so rounding never spins the clock.
        let crossing = (cfg.memory_available > 0 && falling > 0.0).then(|| {
            let wait = ((available - cfg.memory_available) as f64 / falling).max(0.001);
            now + secs(wait) + Time(1)
        });
        if !self.thrashing {
            return (Transition::None, crossing);
        }
        let at = *self.recover_at.get_or_insert(now + cfg.recovery);
        if now >= at {
            self.thrashing = false;
            self.recover_at = None;
            return (Transition::Ended, crossing);
        }
        let next = crossing.map_or(at, |c| c.min(at));
        (Transition::None, Some(next))
    }
}

/// One node's state and its pending timer.
#[derive(Clone, Debug, Default)]
struct NodeThrash {
    state: ThrashState,
    /// The current timer; older ones are stale.
    check: Generation,
    check_at: Option<Time>,
}

/// Every node's thrashing state, when node memory is modelled.
#[derive(Clone, Debug)]
pub(super) struct Thrashing {
    cfg: ThrashConfig,
    nodes: BTreeMap<NodeId, NodeThrash>,
}

impl Thrashing {
    pub fn new(p: &crate::params::ThrashingParams) -> Thrashing {
        Thrashing {
            cfg: ThrashConfig {
                memory_available: p.memory_available.0,
                onset: secs(p.onset_seconds),
                recovery: secs(p.recovery_seconds),
            },
            nodes: BTreeMap::new(),
        }
    }

    /// The bytes of `memory.available` below which nodes thrash (0: never).
    pub fn memory_available(&self) -> i64 {
        self.cfg.memory_available
    }

    /// Whether the node is neither thrashing nor on its way to it nor recovering.
    pub fn node_quiet(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_none_or(|n| n.state.quiet())
    }

    /// Nodes thrashing now.
    pub fn thrashing_nodes(&self) -> usize {
        self.nodes.values().filter(|n| n.state.thrashing).count()
    }
}

impl Simulation<'_> {
    /// Whether the node is thrashing: its kubelet and runtime do not answer.
    pub(super) fn node_thrashing(&self, node: NodeId) -> bool {
        self.nodes
            .thrashing
            .as_ref()
            .and_then(|t| t.nodes.get(&node))
            .is_some_and(|n| n.state.thrashing)
    }

    /// The node's kubelet answers: it is up and not thrashing.
    pub(super) fn kubelet_answers(&self, node: NodeId) -> bool {
        self.node_lifecycle.is_up(node) && !self.node_thrashing(node)
    }

    /// The node went down or was removed: a machine that restarts starts with its memory
    /// free, and a removed node's state goes with it (ids are never reused).
    pub(super) fn thrash_forget(&mut self, node: NodeId) {
        if let Some(t) = self.nodes.thrashing.as_mut() {
            t.nodes.remove(&node);
        }
    }

    /// Looks at the node's memory now: starts or ends its thrashing, and sets the timer for
    /// the next instant that may change it.
    pub(super) fn thrash_observe(&mut self, node: NodeId) {
        if !self.thrash_watched(node) {
            return;
        }
        let (available, falling) = self.node_memory_available(node);
        self.thrash_observe_figures(node, available, falling);
    }

    /// Whether [`Self::thrash_observe`] looks at the node: thrashing is modelled, the node
    /// exists and is up.
    pub(super) fn thrash_watched(&self, node: NodeId) -> bool {
        self.nodes.thrashing.is_some()
            && self.cluster.has_node(node)
            && self.node_lifecycle.is_up(node)
    }

    /// [`Self::thrash_observe`] with the node's `memory.available` and how fast it falls
    /// already summed (`node_memory_available`'s figures), for a node it watches.
    pub(super) fn thrash_observe_figures(&mut self, node: NodeId, available: i64, falling: f64) {
        let now = self.now();
        let t = self.nodes.thrashing.as_mut().expect("thrashing");
        let cfg = t.cfg;
        let n = t.nodes.entry(node).or_default();
        let (change, next) = n.state.observe(now, &cfg, available, falling);
        // The timer already set stands if it is the one wanted (up to a millisecond early
        // from rounding: firing early only looks again).
        let keep = match (n.check_at, next) {
            (Some(old), Some(new)) => old >= now && old <= new && new - old <= secs(0.001),
            (None, None) => true,
            _ => false,
        };
        if !keep {
            let check = n.check.bump();
            n.check_at = next;
            if let Some(at) = next {
                self.engine
                    .schedule(at, Ev::Kubelet(KubeletEv::ThrashCheck { node, check }));
            }
        }
        match change {
            Transition::None => {}
            Transition::Started => self.thrash_started(node, available, &cfg),
            Transition::Ended => self.thrash_ended(node),
        }
    }

    /// A timer set by [`Self::thrash_observe`]: ignored if a later one replaced it.
    pub(super) fn thrash_check(&mut self, node: NodeId, check: Generation) {
        let Some(n) = self
            .nodes
            .thrashing
            .as_mut()
            .and_then(|t| t.nodes.get_mut(&node))
        else {
            return;
        };
        if !n.check.is_current(check) {
            return;
        }
        n.check_at = None;
        self.thrash_observe(node);
    }

    fn thrash_started(&mut self, node: NodeId, available: i64, cfg: &ThrashConfig) {
        let name = self.cluster.node(node).node.name.clone();
        self.rec.metrics.count("node_thrashing_episodes", 1);
        self.record(
            "NodeThrashing",
            format!("node/{name}"),
            format!(
                "memory.available {available} below {} for {} s: reclaim takes the system daemons' pages; the kubelet and the container runtime stop answering",
                cfg.memory_available,
                cfg.onset.as_secs_f64()
            ),
            None,
        );
    }

    /// The kubelet answers again: it posts status at once, and the pods it was asked to
    /// stop meanwhile can now stop.
    fn thrash_ended(&mut self, node: NodeId) {
        let name = self.cluster.node(node).node.name.clone();
        self.record(
            "NodeThrashingEnded",
            format!("node/{name}"),
            "memory freed: the kubelet and the container runtime answer again".into(),
            None,
        );
        self.kubelet_heartbeat(node);
        for p in self.cluster.node(node).pods.clone() {
            if self.cluster.pod(p).pod.terminating {
                self.schedule_pod_gone(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: i64 = 1024 * 1024;

    fn cfg() -> ThrashConfig {
        ThrashConfig {
            memory_available: 50 * MI,
            onset: secs(10.0),
            recovery: secs(30.0),
        }
    }

    #[test]
    fn thrashing_starts_after_the_onset_below_the_threshold_and_ends_after_the_recovery() {
        let c = cfg();
        let mut s = ThrashState::default();
        // 60Mi available falling 1Mi/s: looks again when it crosses 50Mi, 10 s on.
        let (t, next) = s.observe(secs(0.0), &c, 60 * MI, MI as f64);
        assert_eq!(t, Transition::None);
        let next = next.unwrap();
        assert!((next.as_secs_f64() - 10.0).abs() < 1e-3, "{next}");
        // Below it: the onset runs from the first instant seen below.
        let (t, next) = s.observe(secs(10.0), &c, 50 * MI - 1, MI as f64);
        assert_eq!((t, next), (Transition::None, Some(secs(20.0))));
        // Back above before the onset's end: nothing, and the onset starts afresh.
        let (t, _) = s.observe(secs(15.0), &c, 80 * MI, 0.0);
        assert_eq!(t, Transition::None);
        let (t, next) = s.observe(secs(16.0), &c, 40 * MI, 0.0);
        assert_eq!((t, next), (Transition::None, Some(secs(26.0))));
        assert_eq!(
            s.observe(secs(26.0), &c, 30 * MI, 0.0).0,
            Transition::Started
        );
        assert!(s.thrashing);
        // Still below: it thrashes, nothing to wait for.
        assert_eq!(
            s.observe(secs(40.0), &c, 10 * MI, 0.0),
            (Transition::None, None)
        );
        // Memory freed at 50 s: answers again 30 s later, not before.
        assert_eq!(
            s.observe(secs(50.0), &c, 2000 * MI, 0.0),
            (Transition::None, Some(secs(80.0)))
        );
        assert_eq!(
            s.observe(secs(79.0), &c, 2000 * MI, 0.0).0,
            Transition::None
        );
        assert_eq!(
            s.observe(secs(80.0), &c, 2000 * MI, 0.0).0,
            Transition::Ended
        );
        assert!(!s.thrashing);
    }

    #[test]
    fn memory_short_again_during_the_recovery_keeps_the_node_thrashing() {
        let c = cfg();
        let mut s = ThrashState::default();
        s.observe(secs(0.0), &c, 0, 0.0);
        assert_eq!(s.observe(secs(10.0), &c, 0, 0.0).0, Transition::Started);
        s.observe(secs(20.0), &c, 1000 * MI, 0.0);
        assert_eq!(s.observe(secs(30.0), &c, 10 * MI, 0.0).0, Transition::None);
        // The recovery of 20 s was cancelled: at 50 s it still thrashes; freed again at 60 s,
        // it answers at 90 s.
        assert_eq!(s.observe(secs(50.0), &c, 10 * MI, 0.0).0, Transition::None);
        assert!(s.thrashing);
        s.observe(secs(60.0), &c, 1000 * MI, 0.0);
        assert_eq!(
            s.observe(secs(89.0), &c, 1000 * MI, 0.0).0,
            Transition::None
        );
        assert_eq!(
            s.observe(secs(90.0), &c, 1000 * MI, 0.0).0,
            Transition::Ended
        );
    }

    #[test]
    fn a_threshold_of_zero_never_thrashes() {
        let c = ThrashConfig {
            memory_available: 0,
            ..cfg()
        };
        let mut s = ThrashState::default();
        for i in 0..100 {
            assert_eq!(
                s.observe(secs(f64::from(i)), &c, -MI, 1e9),
                (Transition::None, None)
            );
        }
    }
}
