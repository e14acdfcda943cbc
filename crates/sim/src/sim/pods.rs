//! What the simulation tracks for each live pod beside the scheduler's view of it (the
//! kubelet's and the controllers' state), in one table keyed by PodId.

use super::sidecars::SidecarState;
use crate::scenario::Behaviour;
use crate::sim::{Simulation, Stage};
use cascade_engine::Time;
use cascade_model::Pod;
use cascade_scheduler::{NodeId, PodId};

/// The kubelet's view of a pod's containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Pending,
    Starting,
    Running,
}

/// A running pod's sidecars: the container start they belong to, and each one's state.
pub(super) type Sidecars = (u32, Vec<SidecarState>);

/// What the simulation tracks for a live pod beside the scheduler's view.
#[derive(Clone, Debug)]
pub(super) struct PodRt {
    pub workload: Option<usize>,
    pub revision: u32,
    /// For DaemonSet pods: the node they are for.
    pub daemon_node: Option<NodeId>,
    pub phase: Phase,
    pub ready: bool,
    pub behaviour: Option<usize>,
    /// Container starts so far (stale timers from an earlier start are ignored).
    pub starts: u32,
    /// Restarts counted for CrashLoopBackOff, and when the container last started.
    pub restarts: u32,
    pub last_start: Time,
    /// How long the current container had already run at `last_start`: for a pod that
    /// existed before the run, its age in its memory cycle (docs/kubernetes.md#pods-at-time-0).
    pub ran_before: Time,
    /// The pod existed when the run began (created during the setup at time 0).
    pub initial: bool,
    /// Its containers' steady load is counted on its node's runtime.
    pub runtime_load: bool,
    /// Its sidecars' connections, while its containers run.
    pub sidecars: Option<Sidecars>,
    /// A grace period shorter than its own, given by a node-pressure eviction.
    pub grace_override: Option<f64>,
}

/// Every live pod's runtime state, by PodId (the cluster never reuses an id).
#[derive(Clone, Debug, Default)]
pub(super) struct PodTable {
    pods: Vec<Option<PodRt>>,
}

impl PodTable {
    pub fn get(&self, id: PodId) -> Option<&PodRt> {
        self.pods.get(id.idx()).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: PodId) -> Option<&mut PodRt> {
        self.pods.get_mut(id.idx()).and_then(Option::as_mut)
    }

    pub fn insert(&mut self, id: PodId, rt: PodRt) {
        if self.pods.len() <= id.idx() {
            self.pods.resize(id.idx() + 1, None);
        }
        self.pods[id.idx()] = Some(rt);
    }

    /// The pod is gone: its state with it.
    pub fn remove(&mut self, id: PodId) -> Option<PodRt> {
        self.pods.get_mut(id.idx()).and_then(Option::take)
    }

    /// Live pods in id order.
    pub fn iter(&self) -> impl Iterator<Item = (PodId, &PodRt)> {
        self.pods
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (PodId::at(i), r)))
    }
}

impl Simulation<'_> {
    pub(super) fn behaviour_of(&self, pod: &Pod) -> Option<usize> {
        self.sc
            .spec
            .behaviours
            .iter()
            .position(|b| b.selector.matches(pod))
    }

    pub(super) fn behaviour(&self, id: PodId) -> Option<&Behaviour> {
        self.pods
            .get(id)
            .and_then(|r| r.behaviour)
            .map(|i| &self.sc.spec.behaviours[i])
    }

    /// Adds a pod. `running` pods (a snapshot's bound pods at time 0) start running and ready.
    pub(super) fn create_pod(
        &mut self,
        mut pod: Pod,
        workload: Option<usize>,
        revision: u32,
        running: bool,
    ) -> Option<PodId> {
        self.default_tolerations(&mut pod.tolerations);
        let key = pod.key();
        let behaviour = self.behaviour_of(&pod);
        let meta = (pod.namespace.clone(), pod.labels.clone());
        let result = if running {
            self.cluster.add_pod(pod)
        } else {
            self.cluster.add_pending_pod(pod)
        };
        let id = match result {
            Ok(id) if running => {
                if self.cluster.pod(id).pod.start_time.is_none() {
                    let at = self.wall_ms();
                    self.cluster.set_start_time(id, at);
                }
                id
            }
            Ok(id) => id,
            Err(e) => {
                self.record("FailedCreate", format!("pod/{key}"), e.to_string(), None);
                return None;
            }
        };
        self.rec.pod_created(id, meta.0, meta.1);
        self.pods.insert(
            id,
            PodRt {
                workload,
                revision,
                daemon_node: None,
                phase: if running {
                    Phase::Running
                } else {
                    Phase::Pending
                },
                ready: running,
                behaviour,
                starts: 0,
                restarts: 0,
                last_start: Time::ZERO,
                ran_before: Time::ZERO,
                initial: self.info.stage == Stage::Bootstrap,
                runtime_load: false,
                sidecars: None,
                grace_override: None,
            },
        );
        let prio = self.cluster.pod(id).pod.priority;
        let created = self.cluster.pod(id).pod.creation_timestamp;
        self.scheduler.queue.add(id, prio, created);
        self.rec.metrics.count("pods_created", 1);
        self.record(
            "Created",
            format!("pod/{key}"),
            format!("priority {prio}"),
            Some(id),
        );
        if !running {
            self.enqueue_active(id);
        }
        Some(id)
    }
}
