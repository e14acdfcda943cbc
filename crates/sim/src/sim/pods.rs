//! What the simulation tracks for each live pod beside the scheduler's view of it (the
//! kubelet's and the controllers' state), in one table keyed by PodId.

use super::runtime::SidecarState;
use cascade_engine::Time;
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
    /// Its containers' steady load is counted on its node's runtime.
    pub runtime_load: bool,
    /// Its sidecars' connections, while its containers run.
    pub sidecars: Option<Sidecars>,
}

/// Every live pod's runtime state, by PodId (the cluster never reuses an id).
#[derive(Clone, Debug, Default)]
pub(super) struct PodTable {
    pods: Vec<Option<PodRt>>,
}

impl PodTable {
    pub fn get(&self, id: PodId) -> Option<&PodRt> {
        self.pods.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: PodId) -> Option<&mut PodRt> {
        self.pods.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn insert(&mut self, id: PodId, rt: PodRt) {
        if self.pods.len() <= id as usize {
            self.pods.resize(id as usize + 1, None);
        }
        self.pods[id as usize] = Some(rt);
    }

    /// The pod is gone: its state with it.
    pub fn remove(&mut self, id: PodId) -> Option<PodRt> {
        self.pods.get_mut(id as usize).and_then(Option::take)
    }

    /// Live pods in id order.
    pub fn iter(&self) -> impl Iterator<Item = (PodId, &PodRt)> {
        self.pods
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as PodId, r)))
    }
}
