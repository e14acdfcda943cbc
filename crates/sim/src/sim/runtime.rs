//! Each node's container runtime daemon (dockerd, containerd) as a single queue of operations:
//! container create/start and stop, exec probes, and the work sidecars cause (a reconnecting
//! log shipper re-attaching to its containers' logs). The kubelet's PLEG relists through the
//! same queue every second; when a relist waits longer than the PLEG threshold (3 min), the
//! kubelet reports the node NotReady ("PLEG is not healthy"), and Ready again once the queue
//! drains (pkg/kubelet/pleg/generic.go Healthy). This is the choke
//! point of the Target outage: a shared per-node daemon that cheap, synchronised retries
//! overwhelm.
//!
//! The queue is fluid: work (in operations) arrives in lumps and as a steady rate per running
//! container, and drains at the daemon's capacity. A new operation waits behind the backlog.

use crate::params::RuntimeParams;
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};

/// One node's runtime daemon.
#[derive(Clone, Debug, Default)]
pub struct RuntimeRt {
    /// Operations queued, as of `last`.
    backlog: f64,
    last: Time,
    /// Steady operations per second from the running containers (exec probes, log streams).
    background: f64,
}

impl RuntimeRt {
    /// Brings the backlog up to `now`: the steady load arrives, the capacity drains.
    fn advance(&mut self, now: Time, capacity: f64) {
        let dt = (now - self.last).as_secs_f64();
        self.backlog = (self.backlog + (self.background - capacity) * dt).max(0.0);
        self.last = now;
    }
}

/// Every node's runtime daemon, by NodeId.
#[derive(Clone, Debug)]
pub(super) struct RuntimeDaemons {
    p: RuntimeParams,
    daemons: Vec<RuntimeRt>,
}

impl RuntimeDaemons {
    pub fn new(p: RuntimeParams) -> Self {
        RuntimeDaemons {
            p,
            daemons: Vec::new(),
        }
    }

    /// The node's runtime brought up to `now`, with its capacity; None for an unlimited
    /// runtime (capacity 0), which does everything at once.
    fn at(&mut self, node: NodeId, now: Time) -> Option<(&mut RuntimeRt, f64)> {
        let cap = self.p.ops_per_second;
        if cap <= 0.0 {
            return None;
        }
        if self.daemons.len() <= node.idx() {
            self.daemons.resize(node.idx() + 1, RuntimeRt::default());
        }
        let rt = &mut self.daemons[node.idx()];
        rt.advance(now, cap);
        Some((rt, cap))
    }

    /// Queues `ops` operations on the node's runtime; returns how long until they are done.
    /// An unlimited runtime (capacity 0) does everything at once.
    pub fn submit(&mut self, node: NodeId, now: Time, ops: f64) -> f64 {
        let Some((rt, cap)) = self.at(node, now) else {
            return 0.0;
        };
        rt.backlog += ops;
        rt.backlog / cap
    }

    /// A container's steady load starts (`sign` 1) or stops (-1).
    pub fn background(&mut self, node: NodeId, now: Time, containers: usize, sign: f64) {
        let rate = self.p.probe_ops_per_container_per_second;
        if rate <= 0.0 {
            return;
        }
        let Some((rt, _)) = self.at(node, now) else {
            return;
        };
        rt.background = (rt.background + sign * rate * containers as f64).max(0.0);
    }

    /// How busy the node's daemon is, 0 to 1: 1 while it has a backlog, else its steady load
    /// over its capacity (an unlimited daemon is never busy).
    pub fn utilisation(&mut self, node: NodeId, now: Time) -> f64 {
        let Some((rt, cap)) = self.at(node, now) else {
            return 0.0;
        };
        if rt.backlog > 0.0 {
            1.0
        } else {
            (rt.background / cap).min(1.0)
        }
    }

    /// The kubelet's view: is PLEG healthy (a relist submitted now would finish within the
    /// threshold)?
    pub fn pleg_healthy(&mut self, node: NodeId, now: Time) -> bool {
        self.submit(node, now, 0.0) <= self.p.pleg_threshold_seconds
    }
}

/// Containers in a pod (at least one).
pub(super) fn containers(cluster: &cascade_scheduler::Cluster, id: PodId) -> usize {
    cluster.pod(id).pod.images.len().max(1)
}
