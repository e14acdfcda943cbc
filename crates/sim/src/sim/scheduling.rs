//! The scheduler's loop (ScheduleOne): take the head of the queue, run the scheduler, and
//! carry out its decision: bind, or nominate and preempt the victims, or park the pod as
//! unschedulable (handleSchedulingFailure).

use crate::sim::api_writes::{Write, Writer};
use crate::sim::{secs, Ev, KubeletEv, Phase, QueueEv, Simulation};
use cascade_scheduler::{clear_lower_nominations, NodeId, Outcome, PodId};

impl Simulation<'_> {
    pub(super) fn enqueue_active(&mut self, id: PodId) {
        self.scheduler
            .queue
            .activate(&self.cluster, id, &mut self.engine);
    }

    /// MoveAllToActiveOrBackoffQueue, on a cluster event that may have made room.
    pub(super) fn move_all_to_active_or_backoff(&mut self) {
        self.scheduler
            .queue
            .move_all_to_active_or_backoff(&self.cluster, &mut self.engine);
    }

    pub(super) fn park_unschedulable(&mut self, id: PodId) {
        let (now, now_ms) = (self.now(), self.wall_ms());
        self.scheduler.queue.park_unschedulable(id, now, now_ms);
    }

    pub(super) fn on_queue(&mut self, e: QueueEv) {
        match e {
            QueueEv::SchedulingCycle => self.scheduling_cycle(),
            QueueEv::BackoffDone { pod, attempt } => {
                self.scheduler
                    .queue
                    .backoff_done(&self.cluster, pod, attempt, &mut self.engine)
            }
            QueueEv::FlushUnschedulable => self
                .scheduler
                .queue
                .flush_unschedulable(&self.cluster, &mut self.engine),
        }
    }

    pub(super) fn scheduling_cycle(&mut self) {
        if !self.api_serving() {
            // A binding is a write to the API server: the scheduler waits for it.
            self.scheduler.queue.pause();
            return;
        }
        let Some(id) = self.scheduler.queue.pop() else {
            return;
        };
        if self.cluster.try_pod(id).is_none() {
            return self.next_cycle();
        }
        self.scheduler.queue.attempt(id, self.engine.now());
        let d = self.scheduler.algorithm.schedule_one(&mut self.cluster, id);
        match d.outcome {
            Outcome::Scheduled(node) => {
                // The scheduler assumes the pod on its node at once (its cache) and binds it
                // through the API server; the pod is bound when the server takes the binding.
                // The cluster as it was before the run was placed long ago, not through the
                // run's API server.
                self.cluster.bind(id, node);
                let e = self.cluster.pod(id);
                if e.pod.creation_timestamp <= self.info.start_ms && e.pod.owner.is_none() {
                    // A bare pod of the manifests the cluster starts with.
                    self.bound(id, node);
                } else {
                    let ns = e.pod.namespace.clone();
                    self.api_write(Writer::Scheduler, &ns, Write::Bind { pod: id, node });
                }
            }
            Outcome::Preempting { node, victims } => {
                let key = self.cluster.pod(id).pod.key();
                let node_name = self.cluster.node(node).node.name.clone();
                for v in victims {
                    if self.cluster.pod(v).pod.terminating {
                        continue; // already being deleted: nothing to do (PreemptPod skips it)
                    }
                    let vkey = self.cluster.pod(v).pod.key();
                    self.rec.metrics.count("pods_preempted", 1);
                    self.record(
                        "Preempted",
                        format!("pod/{vkey}"),
                        format!("Preempted by pod {key} on node {node_name}"),
                        Some(v),
                    );
                    self.cluster.set_preempted(v);
                    self.terminate(v);
                }
                clear_lower_nominations(&mut self.cluster, id, node);
                self.cluster.nominate(id, Some(node));
                self.record(
                    "Nominated",
                    format!("pod/{key}"),
                    format!("nominatedNodeName {node_name}: {}", d.message),
                    Some(id),
                );
                self.park_unschedulable(id);
            }
            Outcome::Unschedulable => {
                let key = self.cluster.pod(id).pod.key();
                self.rec.metrics.count("scheduling_failures", 1);
                // A failed attempt with no new nomination overrides the old one with "" (the
                // PostFilter result's ModeOverride in handleSchedulingFailure).
                if self.cluster.pod(id).nominated.is_some() {
                    self.cluster.nominate(id, None);
                }
                if self.scheduler.queue.attempts(id) == 1 {
                    self.record(
                        "FailedScheduling",
                        format!("pod/{key}"),
                        d.message,
                        Some(id),
                    );
                }
                self.park_unschedulable(id);
            }
        }
        self.next_cycle();
    }

    /// The pod's binding took effect: the kubelet starts its containers.
    pub(super) fn bound(&mut self, id: PodId, node: NodeId) {
        if self
            .cluster
            .try_pod(id)
            .is_none_or(|e| e.node != Some(node) || e.pod.terminating)
        {
            return;
        }
        let key = self.cluster.pod(id).pod.key();
        let at = self.wall_ms();
        self.cluster.set_start_time(id, at);
        let node_name = self.cluster.node(node).node.name.clone();
        self.rec.metrics.count("pods_scheduled", 1);
        self.record(
            "Scheduled",
            format!("pod/{key}"),
            format!("Successfully assigned {key} to {node_name}"),
            Some(id),
        );
        if let Some(rt) = self.pods.get_mut(id) {
            rt.phase = Phase::Starting;
        }
        // Creating the containers queues on the node's runtime daemon: a busy one
        // delays the start by the wait behind its backlog.
        let ops = super::runtime::containers(&self.cluster, id) as f64
            * self.p().kubelet.runtime.container_start_ops;
        let done = self.nodes.runtimes.submit(node, self.engine.now(), ops);
        let wait = (done - ops / self.p().kubelet.runtime.ops_per_second.max(1e-9)).max(0.0);
        let mut startup = self
            .behaviour(id)
            .and_then(|b| b.startup_seconds)
            .unwrap_or(
                self.p().kubelet.image_pull_seconds + self.p().kubelet.container_start_seconds,
            )
            + wait;
        // A saturated node's kubelet and runtime are slower at it (docs/kubernetes.md#node-cpu).
        if self.nodes.cpu.is_some() {
            startup *= self.kubelet_cpu_slowdown(node);
        }
        self.engine.schedule_in(
            secs(startup),
            Ev::Kubelet(KubeletEv::ContainersStarted { pod: id }),
        );
    }

    pub(super) fn next_cycle(&mut self) {
        self.scheduler.queue.next_cycle(&mut self.engine);
    }
}
