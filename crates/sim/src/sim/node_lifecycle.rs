//! Node health and the node lifecycle controller (pkg/controller/nodelifecycle, v1.33):
//! a node whose kubelet stops posting status is marked NotReady after the grace period and
//! tainted `node.kubernetes.io/unreachable:NoSchedule` at once; the NoExecute taint, which
//! starts evicting its pods once their tolerationSeconds run out, is added at a rate limited
//! per zone, slower when a zone is mostly down, and not at all when every zone is down
//! (the controller then assumes its own connectivity is broken). Its taints and the taint
//! eviction controller's pod deletions are writes through the API server (`api_writes.rs`),
//! taking effect when the server takes them
//! (docs/control-plane-and-nodes.md#the-node-lifecycle-controllers-writes). The zones, taints
//! and evictions are in `node_taints.rs`.

use super::api_writes::TaintChange;
use super::node_taints::Zones;
use super::{secs, Ev, Generation, NodeLifecycleEv, Phase, Simulation};
use cascade_engine::Time;
use cascade_model::objects::tolerated;
use cascade_model::{Taint, TaintEffect, Toleration, TolerationOperator};
use cascade_scheduler::{NodeId, PodId};
use cascade_services::PodRef;

pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// The controller's and the kubelet's state of one node.
#[derive(Clone, Debug)]
pub struct NodeRt {
    /// The kubelet is alive and posting status.
    pub up: bool,
    pub down_since: Time,
    /// Ready as the node lifecycle controller last saw it.
    pub ready: bool,
    pub no_execute: bool,
    pub queued: bool,
    /// Bumped each time the NoExecute taint is added: an eviction timer from an earlier
    /// taint is stale.
    pub taint_epoch: Generation,
    /// The taint key its NotReady condition maps to: unreachable when the kubelet went
    /// silent, not-ready when it reports NotReady itself.
    pub taint_key: &'static str,
    /// The side of a network partition the node is on (0: with the control plane and the
    /// callers of services).
    pub partition: u32,
    /// When the controller last marked it NotReady.
    pub not_ready_since: Time,
    /// A node auto-repair is under way.
    pub repairing: bool,
    /// Marking its pods not Ready failed for one of them: the next monitor pass marks them
    /// again (upstream's `nodesToRetry`).
    pub mark_pods_retry: bool,
    /// The node joined with its kubelet cut off and has never posted status: the controller
    /// gives it `nodeStartupGracePeriodSeconds` from its creation (`down_since`).
    pub never_reported: bool,
}

/// Why the controller sees a node NotReady.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReadyReason {
    /// No status from the kubelet within the grace period (condition Unknown).
    Unreachable,
    /// The kubelet reports Ready=False: "PLEG is not healthy".
    PlegUnhealthy,
    /// The node has never posted status and its startup grace period has run out (condition
    /// Unknown, reason NodeStatusNeverUpdated).
    NeverUpdated,
}

impl NotReadyReason {
    /// Whether the monitor pass that sees this transition marks the node's pods not Ready.
    /// Upstream (`monitorNodeHealth`, v1.33) calls `MarkPodsNotReady` when the Ready condition
    /// it read from the node was True and is no longer True after `tryUpdateNodeHealth`: only
    /// the controller's own change to Unknown once the grace period has run out. A kubelet
    /// that posts Ready=False itself changes the condition it reads, so the pass sees False
    /// then False; a node that never posted status reads as Unknown from the start
    /// (kubernetes/kubernetes#112733 describes the first case as it stands).
    pub fn marks_pods(self) -> bool {
        match self {
            NotReadyReason::Unreachable => true,
            NotReadyReason::PlegUnhealthy | NotReadyReason::NeverUpdated => false,
        }
    }
}

impl Default for NodeRt {
    fn default() -> Self {
        NodeRt {
            up: true,
            down_since: Time::ZERO,
            ready: true,
            no_execute: false,
            queued: false,
            taint_epoch: Generation::FIRST,
            taint_key: TAINT_UNREACHABLE,
            partition: 0,
            not_ready_since: Time::ZERO,
            repairing: false,
            mark_pods_retry: false,
            never_reported: false,
        }
    }
}

/// The node lifecycle controller's state: its view of each node, by NodeId, and the zones'
/// tainting queues.
#[derive(Clone, Debug, Default)]
pub struct NodeLifecycle {
    nodes: Vec<NodeRt>,
    pub zones: Zones,
    /// Node auto-repairs under way (reboots, and replacements not yet joined).
    pub repairs: usize,
    /// MarkPodsNotReady under way, at most `NODE_UPDATE_WORKERS` nodes at once.
    pub(super) marking: super::mark_pods::Marking,
}

impl NodeLifecycle {
    /// A node's state (a new node's is the default).
    pub fn node(&mut self, id: NodeId) -> &mut NodeRt {
        if self.nodes.len() <= id.idx() {
            self.nodes.resize(id.idx() + 1, NodeRt::default());
        }
        &mut self.nodes[id.idx()]
    }

    pub fn get(&self, id: NodeId) -> Option<&NodeRt> {
        self.nodes.get(id.idx())
    }

    /// The node's kubelet is alive (a node never seen is).
    pub fn is_up(&self, id: NodeId) -> bool {
        self.get(id).is_none_or(|n| n.up)
    }
}

impl Simulation<'_> {
    /// DefaultTolerationSeconds: every pod tolerates not-ready and unreachable NoExecute
    /// taints for 300 s unless it says otherwise.
    pub(super) fn default_tolerations(&self, tolerations: &mut Vec<Toleration>) {
        let p = &self.p().node_lifecycle;
        for (key, secs) in [
            (TAINT_NOT_READY, p.default_not_ready_toleration_seconds),
            (TAINT_UNREACHABLE, p.default_unreachable_toleration_seconds),
        ] {
            let taint = Taint {
                key: key.into(),
                value: String::new(),
                effect: TaintEffect::NoExecute,
                time_added: None,
            };
            if !tolerated(tolerations, &taint) {
                tolerations.push(Toleration {
                    key: key.into(),
                    operator: TolerationOperator::Exists,
                    value: String::new(),
                    effect: Some(TaintEffect::NoExecute),
                    toleration_seconds: Some(secs),
                });
            }
        }
    }

    pub(super) fn on_node_lifecycle(&mut self, e: NodeLifecycleEv) {
        match e {
            NodeLifecycleEv::Monitor => self.monitor_nodes(),
            NodeLifecycleEv::Evict { pod, node, taint } => self.evict(pod, node, taint),
            NodeLifecycleEv::Rebooted { node } => self.rebooted(node),
        }
    }

    /// A fault stops a node's kubelet.
    pub(super) fn node_down(&mut self, id: NodeId) {
        let now = self.now();
        let rt = self.node_lifecycle.node(id);
        if rt.up {
            rt.up = false;
            rt.down_since = now;
            // The machine is gone: so are the processes on it. Nobody reports it: the API
            // server keeps their pods Ready, and their Services' slices list them, until the
            // node lifecycle controller marks them not Ready (`mark_pods.rs`).
            for p in self.cluster.node(id).pods.clone() {
                self.svc_call(|w, now, out| w.process_lost(now, PodRef::new(p.get()), out));
            }
            self.gossip_node_down(id);
            self.eviction_pass_due(id);
        }
    }

    /// A partition cuts the kubelet off from the control plane: it stops posting status (the
    /// controller sees what it sees for a node that is down) but its processes keep running.
    pub(super) fn node_partitioned(&mut self, id: NodeId) {
        let now = self.now();
        let rt = self.node_lifecycle.node(id);
        if rt.up {
            rt.up = false;
            rt.down_since = now;
            self.eviction_pass_due(id);
        }
    }

    /// A node joined with its kubelet cut off (down or partitioned): it has never posted
    /// status. The `TaintNodesByCondition` admission plugin created it with the not-ready
    /// NoSchedule taint, which stays until it reports Ready, and the controller marks it
    /// NotReady once `nodeStartupGracePeriodSeconds` have passed since it joined
    /// (docs/kubernetes.md#node-lifecycle-controller).
    pub(super) fn node_joined_silent(&mut self, id: NodeId) {
        let now_ms = self.wall_ms();
        self.node_lifecycle.node(id).never_reported = true;
        self.add_no_schedule_taint(id, TAINT_NOT_READY, now_ms);
    }

    /// TaintNodesByCondition's NoSchedule taint for the node's condition (key), so nothing new
    /// lands there.
    pub(super) fn add_no_schedule_taint(&mut self, id: NodeId, key: &'static str, now_ms: i64) {
        self.cluster.add_taint(
            id,
            Taint {
                key: key.into(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
                time_added: Some(now_ms),
            },
        );
    }

    /// Puts the node on `side` of a network partition (0: heals it). Its pods' services
    /// are cut off from their callers, and its gossip agents from the rest of the pool.
    pub(super) fn set_node_partition(&mut self, id: NodeId, side: u32) {
        self.node_lifecycle.node(id).partition = side;
        for p in self.cluster.node(id).pods.clone() {
            self.pod_partition(p, side);
        }
    }

    /// Applies the node's partition side to one of its pods' processes.
    pub(super) fn pod_partition(&mut self, p: PodId, side: u32) {
        self.svc_call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(p.get()), side != 0, out));
        self.gossip_network_group(p, side);
    }

    /// The kubelet is back: its terminating pods can now finish.
    pub(super) fn node_up(&mut self, id: NodeId) {
        if self.node_lifecycle.node(id).up {
            return;
        }
        let rt = self.node_lifecycle.node(id);
        rt.up = true;
        if std::mem::take(&mut rt.never_reported) && rt.ready {
            // Its first status, Ready: the taint it was created with comes off.
            self.mark_ready(id);
        }
        self.eviction_pass_due(id);
        self.kubelet_heartbeat(id);
        let pods: Vec<PodId> = self.cluster.node(id).pods.clone();
        for p in pods {
            // Its containers that died with the machine are reported not Ready.
            self.svc_call(|w, now, out| w.kubelet_reports_lost(now, PodRef::new(p.get()), out));
            if self.cluster.pod(p).pod.terminating {
                self.schedule_pod_gone(p);
            }
        }
    }

    /// One pass of monitorNodeHealth, then the rate-limited NoExecute tainting.
    fn monitor_nodes(&mut self) {
        let now = self.now();
        let p = self.p().node_lifecycle.clone();
        self.api_poll();
        let ids: Vec<NodeId> = if self.api_serving() {
            self.cluster.nodes().map(|(id, _)| id).collect()
        } else {
            // The controller reads and writes through the API server: it does nothing until
            // the server serves again, and then counts heartbeats afresh from that instant.
            Vec::new()
        };
        let grace = secs(p.node_monitor_grace_period_seconds);
        for id in ids {
            let rt = self.node_lifecycle.node(id).clone();
            // The kubelet runs, but the API server has taken none of its Lease renewals for
            // the grace period (it refused them, or it was overloaded).
            let lease_stale = rt.up && now - self.control_plane.heartbeat(id) >= grace;
            // A kubelet that posts status reports NotReady itself while PLEG is unhealthy.
            let pleg = !rt.up || self.nodes.runtimes.pleg_healthy(id, now);
            if rt.up && lease_stale {
                if rt.ready {
                    self.mark_not_ready(id, NotReadyReason::Unreachable);
                }
            } else if rt.up && !pleg && rt.ready {
                self.mark_not_ready(id, NotReadyReason::PlegUnhealthy);
            } else if rt.up && pleg && !rt.ready {
                self.mark_ready(id);
            } else if !rt.up && rt.ready && rt.never_reported {
                // tryUpdateNodeHealth: no Ready condition, so the probe timestamp is the
                // node's creation and the grace period `--node-startup-grace-period`.
                if now - rt.down_since >= secs(p.node_startup_grace_period_seconds) {
                    self.mark_not_ready(id, NotReadyReason::NeverUpdated);
                }
            } else if !rt.up && rt.ready {
                // The last status the kubelet posted before it stopped.
                let period = secs(p.node_status_update_frequency_seconds).0.max(1);
                // Counted from the API server's return at the latest: the controller's probe
                // timestamps start afresh then.
                let last =
                    Time(rt.down_since.0 / period * period).max(self.control_plane.serving_since());
                if now - last >= secs(p.node_monitor_grace_period_seconds) {
                    self.mark_not_ready(id, NotReadyReason::Unreachable);
                }
            }
            let rt = self.node_lifecycle.node(id);
            if !rt.ready && rt.mark_pods_retry && !self.node_lifecycle.marking.busy(id) {
                let rt = self.node_lifecycle.node(id);
                rt.mark_pods_retry = false;
                self.mark_pods_not_ready(id);
            }
        }
        self.taint_zones(p.node_monitor_period_seconds);
        if self.p().node_repair.enabled {
            self.repair_nodes();
        }
        let not_ready = self.not_ready_nodes();
        self.rec.metrics.peak("nodes_not_ready", not_ready as f64);
        self.engine.schedule_in(
            secs(p.node_monitor_period_seconds),
            Ev::NodeLifecycle(NodeLifecycleEv::Monitor),
        );
    }

    /// The node auto-repair policy, after a monitor pass: each node NotReady for
    /// `notReadySeconds` is rebooted or replaced, up to `maxConcurrentRepairs` at once
    /// (docs/control-plane-and-nodes.md#node-auto-repair).
    fn repair_nodes(&mut self) {
        let now = self.now();
        let r = self.p().node_repair.clone();
        let due: Vec<NodeId> = self
            .cluster
            .nodes()
            .map(|(id, _)| id)
            .filter(|id| {
                self.node_lifecycle.get(*id).is_some_and(|rt| {
                    !rt.ready
                        && !rt.repairing
                        && now - rt.not_ready_since >= secs(r.not_ready_seconds)
                })
            })
            .collect();
        for id in due {
            if r.max_concurrent_repairs > 0
                && self.node_lifecycle.repairs >= r.max_concurrent_repairs
            {
                break;
            }
            self.node_lifecycle.repairs += 1;
            self.rec.metrics.count("nodes_repaired", 1);
            let name = self.cluster.node(id).node.name.clone();
            match r.action {
                crate::params::RepairAction::Reboot => {
                    self.record(
                        "NodeRepair",
                        format!("node/{name}"),
                        format!("NotReady for {} s: rebooting", r.not_ready_seconds),
                        None,
                    );
                    self.node_lifecycle.node(id).repairing = true;
                    self.node_down(id);
                    self.engine.schedule_in(
                        secs(r.reboot_seconds),
                        Ev::NodeLifecycle(NodeLifecycleEv::Rebooted { node: id }),
                    );
                }
                crate::params::RepairAction::Replace => {
                    self.record(
                        "NodeRepair",
                        format!("node/{name}"),
                        format!(
                            "NotReady for {} s: deleting and creating it again",
                            r.not_ready_seconds
                        ),
                        None,
                    );
                    // The new instance registers as the Node was declared: the taints the
                    // node's conditions put on it are not part of that.
                    let mut node = self.cluster.node(id).node.clone();
                    node.taints
                        .retain(|t| !t.key.starts_with("node.kubernetes.io/"));
                    let zone = node.zone().to_string();
                    let group = self
                        .autoscaler
                        .groups
                        .iter()
                        .position(|g| g.nodes.contains(&id));
                    if let Some(g) = group {
                        self.autoscaler.groups[g].nodes.retain(|n| *n != id);
                    }
                    self.remove_node(id);
                    self.cloud_request(
                        &zone,
                        super::autoscaler::Purpose::Replace {
                            node: Box::new(node),
                            group,
                        },
                    );
                    self.cloud_dispatch();
                }
            }
        }
    }

    /// A repair's reboot is over: the kubelet starts and posts status again, unless the node
    /// is still cut off by a partition (a reboot does not mend the network).
    fn rebooted(&mut self, id: NodeId) {
        self.node_lifecycle.repairs = self.node_lifecycle.repairs.saturating_sub(1);
        if !self.cluster.has_node(id) {
            return;
        }
        let now = self.now();
        let rt = self.node_lifecycle.node(id);
        rt.repairing = false;
        // A node still NotReady after its reboot waits the policy's time again.
        rt.not_ready_since = now;
        if self.node_lifecycle.node(id).partition == 0 {
            self.node_up(id);
        }
    }

    /// Nodes the controller currently sees as NotReady.
    pub(super) fn not_ready_nodes(&self) -> usize {
        self.cluster
            .nodes()
            .filter(|(id, _)| self.node_lifecycle.get(*id).is_some_and(|r| !r.ready))
            .count()
    }

    pub(super) fn mark_not_ready(&mut self, id: NodeId, reason: NotReadyReason) {
        let name = self.cluster.node(id).node.name.clone();
        let zone = self.cluster.node(id).zone_key.clone();
        let (key, message) = match reason {
            NotReadyReason::Unreachable => {
                (TAINT_UNREACHABLE, "Kubelet stopped posting node status.")
            }
            NotReadyReason::PlegUnhealthy => (
                TAINT_NOT_READY,
                "container runtime is slow: PLEG is not healthy",
            ),
            NotReadyReason::NeverUpdated => {
                (TAINT_UNREACHABLE, "Kubelet never posted node status.")
            }
        };
        let now = self.now();
        let rt = self.node_lifecycle.node(id);
        rt.ready = false;
        rt.taint_key = key;
        rt.not_ready_since = now;
        self.rec.metrics.count("node_not_ready_transitions", 1);
        self.record("NodeNotReady", format!("node/{name}"), message.into(), None);
        // TaintNodesByCondition: NoSchedule, so nothing new lands here.
        self.taint_write(id, TaintChange::NoSchedule { key });
        // MarkPodsNotReady: each pod's Ready condition set false, one status update each, but
        // only when the controller itself turned the condition from True to Unknown (a kubelet
        // that reports Ready=False itself, PLEG, leaves its pods as they are; a node that never
        // posted status was never True): `marks_pods`, docs/control-plane-and-nodes.md.
        if reason.marks_pods() {
            self.mark_pods_not_ready(id);
        }
        self.queue_for_no_execute(id, zone);
    }

    fn mark_ready(&mut self, id: NodeId) {
        let name = self.cluster.node(id).node.name.clone();
        let rt = self.node_lifecycle.node(id);
        rt.ready = true;
        rt.no_execute = false;
        rt.queued = false;
        rt.mark_pods_retry = false;
        self.node_lifecycle.marking.forget(id);
        for q in self.node_lifecycle.zones.queues.values_mut() {
            q.retain(|n| *n != id);
        }
        // The kubelet posts its pods' status again: running containers are Ready again.
        for p in self.cluster.node(id).pods.clone() {
            if self.cluster.pod(p).pod.terminating {
                continue;
            }
            let Some(rt) = self.pods.get_mut(p) else {
                continue;
            };
            if rt.phase == Phase::Running && !rt.ready {
                rt.ready = true;
                if let Some(w) = rt.workload {
                    self.request_sync(w);
                }
                self.svc_call(|w, now, out| w.pod_ready(now, PodRef::new(p.get()), out));
            }
        }
        self.record("NodeReady", format!("node/{name}"), String::new(), None);
        self.taint_write(id, TaintChange::Ready);
    }
}
