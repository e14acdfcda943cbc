//! The pod controllers (pkg/controller): a workload's sync is requested on any change to its
//! pods and runs after the sync delay; each kind has its own reconcile loop.

use crate::sim::api_writes::{Write, Writer};
use crate::sim::{secs, ControllerEv, Ev, Simulation};
use cascade_model::names::generated_name;
use cascade_model::objects::OwnerRef;
use cascade_model::{PodTemplate, Rng, Workload, WorkloadKind};
use cascade_scheduler::{NodeId, PodId};

mod daemonset;
mod replicaset;
mod statefulset;

/// The controllers' state: every workload ever created (a deleted one keeps its index, so
/// events and pods that name it stay valid), and the stream generated pod names come from.
#[derive(Clone, Debug)]
pub(in crate::sim) struct Controllers {
    pub(in crate::sim) workloads: Vec<WorkloadRt>,
    names: Rng,
    /// The endpointslice controller's per-Service syncs.
    pub(in crate::sim) endpoint_slices: super::endpoint_slices::EndpointSlices,
}

impl Controllers {
    pub fn new(names: Rng) -> Self {
        Controllers {
            workloads: Vec::new(),
            names,
            endpoint_slices: Default::default(),
        }
    }

    /// A new pod name for workload `w`: its name, a dash and a random suffix. One draw, as
    /// before v1.32's RetryGenerateName: a name that is taken is refused by the API server
    /// (FailedCreate, AlreadyExists) and the controller's next sync tries another
    /// (docs/kubernetes.md#generated-names).
    pub fn generate_name(&mut self, w: usize) -> String {
        generated_name(&mut self.names, &self.workloads[w].w.name)
    }
}

#[derive(Clone, Debug)]
pub(in crate::sim) struct WorkloadRt {
    pub(in crate::sim) w: Workload,
    /// The update revision: bumped when the template changes (except a ReplicaSet's).
    pub(in crate::sim) revision: u32,
    /// A StatefulSet's current revision and its template while an update is under way:
    /// the ordinals the rolling update has not reached are recreated from it
    /// (stateful_set_control.go newVersionedStatefulSetPod).
    pub(in crate::sim) current: Option<(u32, PodTemplate)>,
    pub(in crate::sim) pods: Vec<PodId>,
    pub(in crate::sim) deleted: bool,
    pub(in crate::sim) sync_pending: bool,
}

impl Simulation<'_> {
    pub(in crate::sim) fn request_sync(&mut self, w: usize) {
        if !self.controllers.workloads[w].sync_pending {
            self.controllers.workloads[w].sync_pending = true;
            self.engine.schedule_in(
                secs(self.p().controllers.sync_delay_seconds),
                Ev::Controller(ControllerEv::Sync { workload: w }),
            );
        }
    }

    pub(in crate::sim) fn sync(&mut self, w: usize) {
        self.controllers.workloads[w].sync_pending = false;
        if self.controllers.workloads[w].deleted {
            return;
        }
        if !self.api_serving() {
            // Creating and deleting pods are writes to the API server: the controller waits.
            self.defer_sync(w);
            return;
        }
        if !self.control_plane.writes.settled(w) {
            // Its writes are not all answered: the controller's expectations are not met, so
            // the sync does nothing and comes back when they are (ControllerExpectations).
            return;
        }
        match self.controllers.workloads[w].w.kind {
            WorkloadKind::Deployment | WorkloadKind::ReplicaSet => self.sync_replicas(w),
            WorkloadKind::StatefulSet => self.sync_stateful(w),
            WorkloadKind::DaemonSet => self.sync_daemon(w),
        }
        // A workload's pods from before the run are all created once its sync stops asking
        // for another.
        if !self.controllers.workloads[w].sync_pending {
            self.control_plane.writes.bootstrap.remove(&w);
        }
    }

    pub(in crate::sim) fn new_pod(&mut self, w: usize, name: String) {
        let revision = self.controllers.workloads[w].revision;
        self.new_pod_from(w, name, None, revision, None);
    }

    /// The writer of workload `w`'s pods: its controller's client.
    fn writer(&self, w: usize) -> Writer {
        match self.controllers.workloads[w].w.kind {
            WorkloadKind::StatefulSet => Writer::StatefulSet,
            WorkloadKind::DaemonSet => Writer::DaemonSet,
            WorkloadKind::Deployment | WorkloadKind::ReplicaSet => Writer::ReplicaSet,
        }
    }

    /// The controller deletes pod `p` of workload `w` through the API server.
    pub(in crate::sim) fn controller_delete(&mut self, w: usize, p: PodId) {
        let ns = self.controllers.workloads[w].w.namespace.clone();
        self.api_write(self.writer(w), &ns, Write::Delete { w, pod: p });
    }

    /// A pod of workload `w` from `template` (the workload's own when None) at `revision`
    /// (a DaemonSet's for `daemon_node`), created through the API server.
    pub(in crate::sim) fn new_pod_from(
        &mut self,
        w: usize,
        name: String,
        template: Option<&PodTemplate>,
        revision: u32,
        daemon_node: Option<NodeId>,
    ) {
        let wl = &self.controllers.workloads[w];
        let mut pod = match template
            .unwrap_or(&wl.w.template)
            .admit(&self.control_plane.classes)
        {
            Ok(p) => p,
            Err(e) => {
                let key = format!("{}/{}", wl.w.namespace, wl.w.name);
                self.rec.metrics.count("pods_rejected", 1);
                self.record(
                    "FailedCreate",
                    format!("{:?}/{key}", wl.w.kind).to_lowercase(),
                    e.to_string(),
                    None,
                );
                return;
            }
        };
        pod.name = name;
        pod.creation_timestamp = self.wall_ms();
        pod.owner = Some(OwnerRef {
            kind: format!("{:?}", wl.w.kind),
            name: wl.w.name.clone(),
        });
        let ns = pod.namespace.clone();
        let write = Write::Create {
            w,
            pod: Box::new(pod),
            revision,
            daemon_node,
        };
        self.api_write(self.writer(w), &ns, write);
    }
}
