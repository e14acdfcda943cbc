//! The node lifecycle controller's taints and the taint eviction controller
//! (pkg/controller/nodelifecycle, pkg/controller/tainteviction, v1.33): zone states, the
//! per-zone rate-limited NoExecute tainting, master disruption mode, and the evictions that
//! follow a NoExecute taint once a pod's toleration runs out. Every taint and deletion is a
//! write through the API server (`api_writes.rs`), taking effect when taken
//! (docs/control-plane-and-nodes.md#the-node-lifecycle-controllers-writes).

use super::api_writes::{TaintChange, Write, Writer};
use super::node_lifecycle::{TAINT_NOT_READY, TAINT_UNREACHABLE};
use super::node_memory::TAINT_MEMORY_PRESSURE;
use super::{secs, Ev, Generation, NodeLifecycleEv, Simulation};
use cascade_model::{Taint, TaintEffect, Toleration};
use cascade_scheduler::{NodeId, PodId};
use std::collections::{BTreeMap, VecDeque};

/// Per-zone NoExecute tainting queues and their token buckets (burst 1).
#[derive(Clone, Debug, Default)]
pub struct Zones {
    pub(super) queues: BTreeMap<String, VecDeque<NodeId>>,
    pub(super) tokens: BTreeMap<String, f64>,
    pub(super) rates: BTreeMap<String, f64>,
    /// Every zone is fully disrupted: the controller suspects its own connectivity.
    pub(super) master_disruption: bool,
}

/// A zone's state as ComputeZoneState sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

impl Simulation<'_> {
    /// Every zone's state and size (ComputeZoneState), in one pass over the nodes.
    fn zone_states(&self) -> Vec<(String, ZoneState, usize)> {
        let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (id, info) in self.cluster.nodes() {
            let c = counts.entry(info.zone_key.as_str()).or_default();
            c.0 += 1;
            if self.node_lifecycle.get(id).is_some_and(|r| !r.ready) {
                c.1 += 1;
            }
        }
        let t = self.p().node_lifecycle.unhealthy_zone_threshold;
        counts
            .into_iter()
            .map(|(zone, (total, not_ready))| {
                let state = if total > 0 && not_ready == total {
                    ZoneState::FullDisruption
                } else if not_ready > 2 && not_ready as f64 / total.max(1) as f64 >= t {
                    ZoneState::PartialDisruption
                } else {
                    ZoneState::Normal
                };
                (zone.to_string(), state, total)
            })
            .collect()
    }

    pub(super) fn taint_zones(&mut self, period: f64) {
        let p = self.p().node_lifecycle.clone();
        let states = self.zone_states();
        // Every zone fully disrupted: the controller suspects itself ("Entering master
        // disruption mode"), stops evicting and takes the NoExecute taints back
        // (markNodeAsReachable), so pending evictions are cancelled; the nodes stay queued
        // and are tainted again at the zones' rates once it leaves the mode.
        let all_down = !states.is_empty()
            && states
                .iter()
                .all(|(_, s, _)| *s == ZoneState::FullDisruption);
        if all_down {
            if !self.node_lifecycle.zones.master_disruption {
                self.node_lifecycle.zones.master_disruption = true;
                self.record(
                    "MasterDisruption",
                    "node-lifecycle-controller".into(),
                    "all nodes are NotReady: evictions stopped".into(),
                    None,
                );
                let tainted: Vec<NodeId> = self
                    .cluster
                    .nodes()
                    .map(|(id, _)| id)
                    .filter(|id| self.node_lifecycle.get(*id).is_some_and(|r| r.no_execute))
                    .collect();
                for id in tainted {
                    self.untaint_no_execute(id);
                }
            }
            return;
        }
        self.node_lifecycle.zones.master_disruption = false;
        for (zone, state, size) in states {
            let rate = match state {
                ZoneState::Normal | ZoneState::FullDisruption => p.node_eviction_rate,
                ZoneState::PartialDisruption if size > p.large_cluster_size_threshold => {
                    p.secondary_node_eviction_rate
                }
                ZoneState::PartialDisruption => 0.0,
            };
            // A zone whose state changes gets a new limiter (setLimiterInZone): full when it
            // evicts, never firing when its rate is 0.
            if self.node_lifecycle.zones.rates.insert(zone.clone(), rate) != Some(rate) {
                self.node_lifecycle
                    .zones
                    .tokens
                    .insert(zone.clone(), if rate > 0.0 { 1.0 } else { 0.0 });
            } else {
                let tokens = self
                    .node_lifecycle
                    .zones
                    .tokens
                    .entry(zone.clone())
                    .or_insert(1.0);
                *tokens = (*tokens + rate * period).min(1.0);
            }
            loop {
                let tokens = self
                    .node_lifecycle
                    .zones
                    .tokens
                    .get(&zone)
                    .copied()
                    .unwrap_or(0.0);
                if tokens < 1.0 {
                    break;
                }
                let Some(id) = self
                    .node_lifecycle
                    .zones
                    .queues
                    .get_mut(&zone)
                    .and_then(VecDeque::pop_front)
                else {
                    break;
                };
                if self.node_lifecycle.get(id).is_some_and(|r| r.ready)
                    || !self.cluster.has_node(id)
                {
                    continue;
                }
                *self
                    .node_lifecycle
                    .zones
                    .tokens
                    .get_mut(&zone)
                    .expect("zone") -= 1.0;
                self.taint_no_execute(id);
            }
        }
    }

    /// Takes a node's NoExecute taint back (keeping NoSchedule) and queues it to be tainted
    /// again.
    fn untaint_no_execute(&mut self, id: NodeId) {
        let zone = self.cluster.node(id).zone_key.clone();
        let key = self.node_lifecycle.node(id).taint_key;
        self.taint_write(id, TaintChange::BackToNoSchedule { key });
        self.node_lifecycle.node(id).no_execute = false;
        self.queue_for_no_execute(id, zone);
    }

    /// Queues the node in its zone's rate-limited NoExecute queue, unless it is queued.
    pub(super) fn queue_for_no_execute(&mut self, id: NodeId, zone: String) {
        let rt = self.node_lifecycle.node(id);
        if !rt.queued {
            rt.queued = true;
            self.node_lifecycle
                .zones
                .queues
                .entry(zone)
                .or_default()
                .push_back(id);
        }
    }

    /// The NoExecute taint, sent to the API server.
    fn taint_no_execute(&mut self, id: NodeId) {
        let rt = self.node_lifecycle.node(id);
        rt.no_execute = true;
        rt.queued = false;
        let (key, epoch) = (rt.taint_key, rt.taint_epoch.bump());
        self.taint_write(id, TaintChange::NoExecute { key, epoch });
    }

    /// A taint change of the node lifecycle controller, as a request (the node is cluster-
    /// scoped: one flow).
    pub(super) fn taint_write(&mut self, node: NodeId, change: TaintChange) {
        self.api_write(Writer::NodeLifecycle, "", Write::NodeTaint { node, change });
    }

    /// The node's MemoryPressure condition, as the API server now holds it, reaches the node
    /// lifecycle controller, which adds or removes its NoSchedule taint (TaintNodesByCondition).
    pub(super) fn memory_pressure_condition(&mut self, node: NodeId, on: bool) {
        self.taint_write(node, TaintChange::MemoryPressure { on });
    }

    /// The server took a taint change: it is the node's, if the controller's view still calls
    /// for it (a later decision may have overtaken a change that waited).
    pub(super) fn taint_taken(&mut self, id: NodeId, change: TaintChange) {
        if !self.cluster.has_node(id) {
            return;
        }
        let now_ms = self.wall_ms();
        let rt = self.node_lifecycle.node(id).clone();
        match change {
            TaintChange::NoSchedule { key } => {
                if !rt.ready {
                    self.add_no_schedule_taint(id, key, now_ms);
                }
            }
            TaintChange::NoExecute { key, epoch } => {
                if rt.no_execute && rt.taint_epoch.is_current(epoch) {
                    self.no_execute_taken(id, key, epoch, now_ms);
                }
            }
            TaintChange::BackToNoSchedule { key } => {
                if !rt.no_execute {
                    self.cluster.remove_taints(id, key);
                    if !rt.ready {
                        self.add_no_schedule_taint(id, key, now_ms);
                    }
                }
            }
            TaintChange::Ready => {
                if rt.ready {
                    self.cluster.remove_taints(id, TAINT_UNREACHABLE);
                    self.cluster.remove_taints(id, TAINT_NOT_READY);
                    self.move_all_to_active_or_backoff();
                }
            }
            TaintChange::MemoryPressure { on } => {
                let held = self.control_plane.memory_pressure_reported(id);
                if on && held {
                    self.add_no_schedule_taint(id, TAINT_MEMORY_PRESSURE, now_ms);
                } else if !on && !held {
                    self.cluster.remove_taints(id, TAINT_MEMORY_PRESSURE);
                    self.move_all_to_active_or_backoff();
                }
            }
        }
    }

    /// The NoExecute taint is on the node: each pod is evicted once its toleration runs out
    /// (the taint eviction controller watches the node).
    fn no_execute_taken(&mut self, id: NodeId, key: &'static str, epoch: Generation, now_ms: i64) {
        let taint = Taint {
            key: key.into(),
            value: String::new(),
            effect: TaintEffect::NoExecute,
            time_added: Some(now_ms),
        };
        self.cluster.add_taint(id, taint.clone());
        let pods: Vec<PodId> = self.cluster.node(id).pods.clone();
        for p in pods {
            let pod = &self.cluster.pod(p).pod;
            if pod.terminating {
                continue;
            }
            let matching: Vec<&Toleration> = pod
                .tolerations
                .iter()
                .filter(|t| t.tolerates(&taint))
                .collect();
            // getMinTolerationTime (taint_eviction.go): no matching toleration evicts at once;
            // tolerations without tolerationSeconds are ignored unless all are such (then
            // never); otherwise the smallest, with anything <= 0 meaning at once.
            let delay = if matching.is_empty() {
                Some(0)
            } else {
                matching
                    .iter()
                    .filter_map(|t| t.toleration_seconds)
                    .min()
                    .map(|d| d.max(0))
            };
            if let Some(d) = delay {
                self.engine.schedule_in(
                    secs(d as f64),
                    Ev::NodeLifecycle(NodeLifecycleEv::Evict {
                        pod: p,
                        node: id,
                        taint: epoch,
                    }),
                );
            }
        }
    }

    /// The pod is still on the node under the NoExecute taint added as `epoch`.
    fn still_evictable(&self, pod: PodId, node: NodeId, epoch: Generation) -> bool {
        self.cluster.try_pod(pod).is_some_and(|e| {
            e.node == Some(node)
                && !e.pod.terminating
                && self
                    .node_lifecycle
                    .get(node)
                    .is_some_and(|r| r.no_execute && r.taint_epoch.is_current(epoch))
        })
    }

    /// The taint manager deletes a pod whose toleration ran out, if the taint is still there:
    /// a DELETE through the API server, taking effect when taken.
    pub(super) fn evict(&mut self, pod: PodId, node: NodeId, epoch: Generation) {
        if !self.still_evictable(pod, node, epoch) {
            return;
        }
        let ns = self.cluster.pod(pod).pod.namespace.clone();
        self.api_write(
            Writer::TaintEviction,
            &ns,
            Write::Evict { pod, node, epoch },
        );
    }

    /// The server took the taint manager's deletion of the pod.
    pub(super) fn eviction_taken(&mut self, pod: PodId, node: NodeId, epoch: Generation) {
        if !self.still_evictable(pod, node, epoch) {
            return;
        }
        let key = self.cluster.pod(pod).pod.key();
        self.rec.metrics.count("pods_evicted", 1);
        self.record(
            "TaintManagerEviction",
            format!("pod/{key}"),
            format!("Marking for deletion Pod {key}"),
            Some(pod),
        );
        self.terminate(pod);
    }
}
