//! The controllers' and the scheduler's writes as API requests: a pod created or deleted by
//! the ReplicaSet, StatefulSet or DaemonSet controller, a pod bound by the scheduler, a node's
//! taints changed and pods marked not Ready by the node lifecycle controller
//! (`node_taints.rs`, `mark_pods.rs`), a pod deleted by the taint eviction controller. Each
//! writer is a client-go client with its own token bucket (kube-controller-manager gives each
//! controller its own client; the scheduler has one), its requests go to the `workload-high`
//! priority level (FlowSchemas `kube-controller-manager` and `kube-scheduler`, flows
//! distinguished by namespace), a 429 is sent again after its Retry-After (client-go), and a
//! write that fails for good sends the workload back through the controllers' rate-limited
//! work queue. A write the server dispatches at once takes effect at once (its few
//! milliseconds of service are below what the run resolves), so nothing moves while the
//! server is not the bottleneck; one that waits for a token or a seat takes effect when the
//! server answers it, and the workload's sync waits for it (the controllers' expectations).
//! docs/control-plane-and-nodes.md#controllers-and-the-scheduler-as-api-clients.

use super::control_plane::{Caller, ControlPlaneEv, CLIENT_GO_MAX_RETRIES};
use super::{secs, ControllerEv, Ev, Generation, Simulation, Stage};
use cascade_apiserver::client::{workqueue_item_delay, TokenBucket};
use cascade_apiserver::queueset::flow_hash_parts;
use cascade_apiserver::server::{ApiRequest, LevelId, Outcome};
use cascade_apiserver::work::Verb;
use cascade_engine::Duration;
use cascade_model::objects::Pod;
use cascade_scheduler::{NodeId, PodId};
use cascade_services::ServiceIdx;
use std::collections::{BTreeMap, BTreeSet};

/// Who writes: each has its own client and token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Writer {
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Scheduler,
    /// The node lifecycle controller (its taints, and its pod status updates).
    NodeLifecycle,
    /// The taint eviction controller (the taint manager, its own controller since v1.29).
    TaintEviction,
    /// The endpointslice controller (`endpoint_slices.rs`).
    EndpointSlice,
}

impl Writer {
    fn flow_schema(self) -> &'static str {
        match self {
            Writer::Scheduler => "kube-scheduler",
            _ => "kube-controller-manager",
        }
    }
}

/// What a write does once the server has taken it.
#[derive(Clone, Debug)]
pub enum Write {
    /// A controller creates a pod of workload `w` (a DaemonSet's for `daemon_node`).
    Create {
        w: usize,
        pod: Box<Pod>,
        revision: u32,
        daemon_node: Option<NodeId>,
    },
    /// A controller deletes a pod of workload `w`.
    Delete { w: usize, pod: PodId },
    /// The scheduler binds a pod it has assumed on `node`.
    Bind { pod: PodId, node: NodeId },
    /// The node lifecycle controller changes a node's taints.
    NodeTaint { node: NodeId, change: TaintChange },
    /// The taint eviction controller deletes a pod whose toleration of the node's NoExecute
    /// taint (added as `epoch`) ran out.
    Evict {
        pod: PodId,
        node: NodeId,
        epoch: Generation,
    },
    /// The endpointslice controller writes a Service's EndpointSlice.
    Slice { svc: ServiceIdx },
    /// The node lifecycle controller sets the Ready condition of a pod on a NotReady node
    /// to False (MarkPodsNotReady's `UpdateStatus`, `mark_pods.rs`).
    PodNotReady { pod: PodId, node: NodeId },
}

/// A change of a node's taints by the node lifecycle controller; applied when taken, if the
/// controller's view still calls for it (a later decision may have overtaken it).
#[derive(Clone, Copy, Debug)]
pub enum TaintChange {
    /// NotReady: `key:NoSchedule` (TaintNodesByCondition).
    NoSchedule { key: &'static str },
    /// `key:NoExecute`, the zone's rate limiter allowing (added as `epoch`).
    NoExecute {
        key: &'static str,
        epoch: Generation,
    },
    /// The NoExecute taint taken back, NoSchedule kept (master disruption mode).
    BackToNoSchedule { key: &'static str },
    /// Ready again: the not-ready and unreachable taints go.
    Ready,
    /// The MemoryPressure condition's NoSchedule taint, added or removed.
    MemoryPressure { on: bool },
}

impl Write {
    fn workload(&self) -> Option<usize> {
        match self {
            Write::Create { w, .. } | Write::Delete { w, .. } => Some(*w),
            Write::Bind { .. }
            | Write::NodeTaint { .. }
            | Write::Evict { .. }
            | Write::Slice { .. }
            | Write::PodNotReady { .. } => None,
        }
    }
}

#[derive(Clone, Debug)]
struct PendingWrite {
    writer: Writer,
    write: Write,
    flow: u64,
    /// 429s answered to it so far.
    retries: u32,
    /// Its next attempt already has its token.
    paid: bool,
}

/// The writes under way and the writers' clients.
#[derive(Clone, Debug, Default)]
pub struct Writes {
    pending: BTreeMap<u64, PendingWrite>,
    next_id: u64,
    buckets: BTreeMap<Writer, TokenBucket>,
    /// Each controller's work queue's overall bucket.
    workqueue_buckets: BTreeMap<Writer, TokenBucket>,
    /// Per workload: writes not yet answered, whether a sync was skipped for them, and the
    /// failed syncs in a row (the work queue's per-item backoff).
    in_flight: BTreeMap<usize, (u32, bool, u32)>,
    /// Binds, taint changes and evictions that failed while the server did not serve: sent
    /// again when it does.
    parked: Vec<u64>,
    /// Workloads whose pods from before the run are still being created (their first sync
    /// stopped at `burstReplicas` and goes on): those creations, too, take no request.
    pub bootstrap: BTreeSet<usize>,
    /// Pods from before the run not bound yet: their bindings take no request either.
    initial_pods: BTreeSet<PodId>,
}

impl Writes {
    /// MarkPodsNotReady's pod status updates sent and not yet answered.
    pub fn pod_marks_unanswered(&self) -> usize {
        self.pending
            .values()
            .filter(|pw| matches!(pw.write, Write::PodNotReady { .. }))
            .count()
    }

    /// The workload's writes are all answered (its expectations are met); if not, its sync
    /// is skipped and comes back when they are.
    pub fn settled(&mut self, w: usize) -> bool {
        match self.in_flight.get_mut(&w) {
            Some((n, skipped, _)) if *n > 0 => {
                *skipped = true;
                false
            }
            _ => true,
        }
    }
}

impl Simulation<'_> {
    /// A controller's or the scheduler's write, in namespace `ns`: taken at once when the
    /// writer has a token and the server dispatches it at once, else when answered.
    pub(super) fn api_write(&mut self, writer: Writer, ns: &str, write: Write) {
        let flow = flow_hash_parts(writer.flow_schema(), &[ns]);
        let wr = &mut self.control_plane.writes;
        wr.next_id += 1;
        let id = wr.next_id;
        if let Some(w) = write.workload() {
            wr.in_flight.entry(w).or_default().0 += 1;
        }
        wr.pending.insert(
            id,
            PendingWrite {
                writer,
                write,
                flow,
                retries: 0,
                paid: false,
            },
        );
        let wr = &self.control_plane.writes;
        let initial = self.info.stage == Stage::Bootstrap
            || match &wr.pending[&id].write {
                Write::Create { w, .. } | Write::Delete { w, .. } => wr.bootstrap.contains(w),
                Write::Bind { pod, .. } => wr.initial_pods.contains(pod),
                Write::NodeTaint { .. }
                | Write::Evict { .. }
                | Write::Slice { .. }
                | Write::PodNotReady { .. } => false,
            };
        if initial {
            if let Write::Bind { pod, .. } = &wr.pending[&id].write {
                let pod = *pod;
                self.control_plane.writes.initial_pods.remove(&pod);
            }
            let created = self.write_done(id);
            self.control_plane.writes.initial_pods.extend(created);
        } else {
            self.write_attempt(id);
        }
    }

    /// Who sent the write `id`, while it is under way.
    pub(super) fn writer_of(&self, id: u64) -> Option<Writer> {
        self.control_plane
            .writes
            .pending
            .get(&id)
            .map(|pw| pw.writer)
    }

    pub(super) fn writer_bucket(&mut self, writer: Writer) -> &mut TokenBucket {
        let c = &self.p().controllers;
        let (qps, burst) = match writer {
            Writer::Scheduler => (c.scheduler_qps, c.scheduler_burst),
            _ => (c.kube_api_qps, c.kube_api_burst),
        };
        self.control_plane
            .writes
            .buckets
            .entry(writer)
            .or_insert_with(|| TokenBucket::new(qps, burst))
    }

    /// The write's next attempt: now if its client has a token, else when it will.
    pub(super) fn write_attempt(&mut self, id: u64) {
        let now = self.now();
        let Some(pw) = self.control_plane.writes.pending.get(&id) else {
            return;
        };
        let (writer, paid) = (pw.writer, pw.paid);
        if !paid {
            let at = self.writer_bucket(writer).when(now);
            if at > now {
                if let Some(pw) = self.control_plane.writes.pending.get_mut(&id) {
                    pw.paid = true;
                }
                self.engine
                    .schedule(at, Ev::ControlPlane(ControlPlaneEv::SendWrite { id }));
                return;
            }
        }
        let Some(pw) = self.control_plane.writes.pending.get_mut(&id) else {
            return;
        };
        pw.paid = false;
        let verb = match pw.write {
            Write::Create { .. } | Write::Bind { .. } => Verb::Create,
            Write::Delete { .. } | Write::Evict { .. } => Verb::Delete,
            // Taints are changed with a strategic-merge PATCH of the Node.
            Write::NodeTaint { .. } => Verb::Patch,
            Write::Slice { .. } | Write::PodNotReady { .. } => Verb::Update,
        };
        let req = ApiRequest {
            token: 0,
            verb,
            level: LevelId::WORKLOAD_HIGH,
            flow: pw.flow,
            stored: 0,
            returned: 0,
            notify: true,
        };
        if self.api_submit(Caller::Write(id), req) {
            self.write_done(id);
        }
    }

    /// The server answered a write that waited.
    pub(super) fn write_answer(&mut self, id: u64, outcome: Outcome) {
        let Some(pw) = self.control_plane.writes.pending.get_mut(&id) else {
            return;
        };
        match outcome {
            Outcome::Ok => {
                self.write_done(id);
            }
            Outcome::TooManyRequests { retry_after } if pw.retries < CLIENT_GO_MAX_RETRIES => {
                // client-go sleeps Retry-After and sends it again, within the same call.
                pw.retries += 1;
                self.engine.schedule_after(
                    retry_after,
                    Ev::ControlPlane(ControlPlaneEv::SendWrite { id }),
                );
            }
            // A POST or DELETE refused or reset is not retried by client-go: the call fails.
            _ => self.write_failed(id),
        }
    }

    /// The write took effect; the pod it created, if any.
    fn write_done(&mut self, id: u64) -> Option<PodId> {
        let pw = self.control_plane.writes.pending.remove(&id)?;
        let mut made = None;
        let settled = pw.write.workload();
        match pw.write {
            Write::Create {
                w,
                pod,
                revision,
                daemon_node,
            } => {
                // A workload deleted meanwhile gets no pod (its sync would not have made one).
                let created = if self.controllers.workloads[w].deleted {
                    None
                } else {
                    self.create_pod(*pod, Some(w), revision, false)
                };
                if let Some(pid) = created {
                    made = Some(pid);
                    self.controllers.workloads[w].pods.push(pid);
                    if let Some(rt) = self.pods.get_mut(pid) {
                        rt.daemon_node = daemon_node;
                    }
                }
            }
            Write::Delete { pod, .. } => {
                if self
                    .cluster
                    .try_pod(pod)
                    .is_some_and(|e| !e.pod.terminating)
                {
                    self.terminate(pod);
                }
            }
            Write::Bind { pod, node } => self.bound(pod, node),
            Write::NodeTaint { node, change } => self.taint_taken(node, change),
            Write::Evict { pod, node, epoch } => self.eviction_taken(pod, node, epoch),
            Write::Slice { svc } => self.slice_taken(svc),
            Write::PodNotReady { pod, node } => self.pod_marked_not_ready(pod, node),
        }
        if let Some(w) = settled {
            self.write_settled(w, false);
        }
        made
    }

    /// The write failed for good.
    fn write_failed(&mut self, id: u64) {
        let Some(pw) = self.control_plane.writes.pending.get(&id) else {
            return;
        };
        self.rec.metrics.count("api_writes_failed", 1);
        match pw.write {
            Write::Bind { pod, node } => {
                // The binding is sent again: at once when the server serves again, else after
                // the scheduler's initial pod backoff (upstream forgets the assumed pod and
                // schedules it again after that backoff, to the same node on an unchanged
                // cluster; here it keeps its node).
                let still = self
                    .cluster
                    .try_pod(pod)
                    .is_some_and(|e| e.node == Some(node) && !e.pod.terminating);
                if !still {
                    self.control_plane.writes.pending.remove(&id);
                } else if let Some(pw) = self.control_plane.writes.pending.get_mut(&id) {
                    pw.retries = 0;
                    if self.api_serving() {
                        let d = self.p().scheduling_queue.pod_initial_backoff_seconds;
                        self.engine.schedule_in(
                            secs(d),
                            Ev::ControlPlane(ControlPlaneEv::SendWrite { id }),
                        );
                    } else {
                        self.control_plane.writes.parked.push(id);
                    }
                }
            }
            Write::Create { w, ref pod, .. } => {
                let key = format!("{}/{}", pod.namespace, pod.name);
                let kind = format!("{:?}", self.controllers.workloads[w].w.kind).to_lowercase();
                self.record(
                    "FailedCreate",
                    format!("{kind}/{key}"),
                    "the API server did not take the pod's creation".into(),
                    None,
                );
                self.control_plane.writes.pending.remove(&id);
                self.write_settled(w, true);
            }
            Write::Delete { w, .. } => {
                self.control_plane.writes.pending.remove(&id);
                self.write_settled(w, true);
            }
            Write::Slice { svc } => {
                // Sent again: when the server serves again (the controller's informers relist
                // and queue the Service), else after the work queue's backoff.
                if let Some(pw) = self.control_plane.writes.pending.get_mut(&id) {
                    pw.retries = 0;
                }
                if self.api_serving() {
                    let d = self.slice_retry_delay(svc);
                    self.engine
                        .schedule_after(d, Ev::ControlPlane(ControlPlaneEv::SendWrite { id }));
                } else {
                    self.control_plane.writes.parked.push(id);
                }
            }
            Write::PodNotReady { pod, node } => {
                // MarkPodsNotReady goes on with the node's other pods; the next monitor pass
                // marks this one again (`nodesToRetry`).
                self.control_plane.writes.pending.remove(&id);
                self.pod_mark_failed(pod, node);
            }
            Write::NodeTaint { .. } | Write::Evict { .. } => {
                // Sent again: when the server serves again, else after a monitor period
                // (the controller's next pass decides again upstream; docs/control-plane-and-nodes.md).
                if let Some(pw) = self.control_plane.writes.pending.get_mut(&id) {
                    pw.retries = 0;
                }
                if self.api_serving() {
                    let d = self.p().node_lifecycle.node_monitor_period_seconds;
                    self.engine
                        .schedule_in(secs(d), Ev::ControlPlane(ControlPlaneEv::SendWrite { id }));
                } else {
                    self.control_plane.writes.parked.push(id);
                }
            }
        }
    }

    /// One of the workload's writes is answered: a failure sends the workload back through
    /// the work queue's rate limiter; the last answer brings back a sync skipped meanwhile.
    fn write_settled(&mut self, w: usize, failed: bool) {
        let now = self.now();
        let entry = self.control_plane.writes.in_flight.entry(w).or_default();
        entry.0 = entry.0.saturating_sub(1);
        if failed {
            entry.2 += 1;
            let failures = entry.2;
            let c = &self.p().controllers;
            let item = workqueue_item_delay(
                failures,
                Duration::from_secs_f64(c.workqueue_base_delay_seconds),
                Duration::from_secs_f64(c.workqueue_max_delay_seconds),
            );
            let (qps, burst) = (c.workqueue_qps, c.workqueue_burst);
            let writer = match self.controllers.workloads[w].w.kind {
                cascade_model::WorkloadKind::StatefulSet => Writer::StatefulSet,
                cascade_model::WorkloadKind::DaemonSet => Writer::DaemonSet,
                _ => Writer::ReplicaSet,
            };
            let overall = self
                .control_plane
                .writes
                .workqueue_buckets
                .entry(writer)
                .or_insert_with(|| TokenBucket::new(qps, burst))
                .when(now);
            let at = overall.max(now.after(item));
            if let Some(e) = self.control_plane.writes.in_flight.get_mut(&w) {
                e.1 = false;
            }
            self.engine
                .schedule(at, Ev::Controller(ControllerEv::Sync { workload: w }));
            return;
        }
        entry.2 = 0;
        if entry.0 == 0 && entry.1 {
            entry.1 = false;
            self.request_sync(w);
        }
    }

    /// The server serves again: the binds that failed meanwhile are sent again.
    pub(super) fn writes_resume(&mut self) {
        for id in std::mem::take(&mut self.control_plane.writes.parked) {
            self.write_attempt(id);
        }
    }
}
