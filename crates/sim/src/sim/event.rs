//! What happens in the cluster, in simulated time: one engine carries every subsystem's
//! timers, each subsystem's in its own enum. A timer that may outlive what set it carries the
//! `Generation` it belongs to, and is ignored once that has moved on.

use cascade_gossip::MemberId;
use cascade_scheduler::{NodeId, PodId};
use cascade_services::SvcEv;

/// Which incarnation of something a timer belongs to: a pod's scheduling attempt, its
/// container start, a node's NoExecute taint, its eviction pass. The engine's one stale-timer
/// guard type.
pub use cascade_engine::Generation;

/// Every event, by the subsystem that handles it.
#[derive(Clone, Debug)]
pub enum Ev {
    Queue(QueueEv),
    Kubelet(KubeletEv),
    Controller(ControllerEv),
    Scenario(ScenarioEv),
    NodeLifecycle(NodeLifecycleEv),
    Autoscaler(AutoscalerEv),
    /// A timer of the services on the cluster (cascade-services).
    Svc(SvcEv),
    /// A sidecar's retry (its index in the pod's behaviour), for the container start it
    /// belongs to.
    Sidecar {
        pod: PodId,
        sidecar: u16,
        start: Generation,
    },
    Gossip(GossipEv),
    /// kube-apiserver and its clients.
    ControlPlane(super::control_plane::ControlPlaneEv),
    /// Metrics sample.
    Sample,
}

/// kube-scheduler's scheduling queue and loop.
#[derive(Clone, Debug)]
pub enum QueueEv {
    /// One scheduling cycle: the scheduler takes the head of its active queue.
    SchedulingCycle,
    /// A pod's backoff after that attempt has expired.
    BackoffDone { pod: PodId, attempt: Generation },
    /// The queue moves pods that stayed unschedulable too long.
    FlushUnschedulable,
}

/// The kubelet's work on a pod.
#[derive(Clone, Debug)]
pub enum KubeletEv {
    /// The kubelet has pulled the image and started the containers.
    ContainersStarted { pod: PodId },
    /// The readiness probe first succeeds after that container start.
    PodReady { pod: PodId, start: Generation },
    /// The kernel's OOM killer ends the container of that start.
    OomKill { pod: PodId, start: Generation },
    /// A terminating pod's containers have exited: the pod object is removed.
    PodGone { pod: PodId },
    /// A kubelet's eviction manager passes over its node (node memory modelled only); a pass
    /// whose generation a later one replaced is stale (node_memory.rs).
    EvictionPass { node: NodeId, pass: Generation },
    /// The node's memory may be full by now: the kernel's OOM killer looks (that check only).
    NodeOomCheck { node: NodeId, check: Generation },
    /// The node's thrashing may start or end by now (that node only; thrashing.rs).
    ThrashCheck { node: NodeId, check: Generation },
}

/// The pod controllers.
#[derive(Clone, Debug)]
pub enum ControllerEv {
    /// A controller syncs a workload.
    Sync { workload: usize },
}

cascade_engine::table_id!(
    /// A change: its position in the scenario's `spec.changes` (its object, `change/N`).
    ChangeIdx
);
cascade_engine::table_id!(
    /// A fault: its position in the scenario's `spec.faults` (its object, `fault/N`).
    FaultIdx
);

/// The scenario's changes and faults.
#[derive(Clone, Debug)]
pub enum ScenarioEv {
    Change {
        change: ChangeIdx,
    },
    FaultStart {
        fault: FaultIdx,
    },
    FaultEnd {
        fault: FaultIdx,
    },
    /// A flapping fault's service goes down (true) or up (false).
    Flap {
        fault: FaultIdx,
        down: bool,
    },
}

/// The node lifecycle controller and its taint manager.
#[derive(Clone, Debug)]
pub enum NodeLifecycleEv {
    /// The controller checks node health.
    Monitor,
    /// A node auto-repair's reboot is over: the kubelet starts again.
    Rebooted { node: NodeId },
    /// The eviction of a pod from a node with that NoExecute taint.
    Evict {
        pod: PodId,
        node: NodeId,
        taint: Generation,
    },
}

/// The cluster autoscaler.
#[derive(Clone, Debug)]
pub enum AutoscalerEv {
    Scan,
    /// The cloud answers an admitted create request (an instance, or an error).
    CreateDone {
        request: u64,
        result: Result<(), super::cloud::CreateError>,
    },
    /// The cloud's rate limit has a token again for the next queued create.
    Dispatch,
    /// A node auto-repair's create failed; its backoff has passed, it asks again.
    RepairRetry {
        node: Box<cascade_model::Node>,
        group: Option<usize>,
    },
}

/// The gossip pool.
#[derive(Clone, Debug)]
pub enum GossipEv {
    /// The cluster and the pool meet (agents' CPU, catalog writes).
    Step,
    /// A redeploy restarts a pod's agent (the member it replaces).
    Restart { pod: PodId, member: MemberId },
}
