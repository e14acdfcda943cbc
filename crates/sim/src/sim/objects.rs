//! Applying objects the way the API server and the controllers that own them see it: nodes
//! added and deleted, manifests applied (create or update), workloads and their adoption of
//! matching orphans, and the disruption controller's expected pod counts.

use crate::sim::{node_lifecycle, Simulation, Stage, WorkloadRt};
use cascade_manifest::Manifests;
use cascade_model::{Node, UpdateStrategy, Workload, WorkloadKind};
use cascade_scheduler::{NodeId, PodId};

impl Simulation<'_> {
    /// Removes a node and its pods (a deleted Node object; the pod GC removes its pods).
    pub(super) fn remove_node(&mut self, id: NodeId) {
        let pods = self.cluster.node(id).pods.clone();
        for p in pods {
            self.pod_gone(p);
        }
        let name = self.cluster.node(id).node.name.clone();
        self.eviction_pass_due(id);
        self.cluster.remove_node(id);
        self.record("NodeDeleted", format!("node/{name}"), String::new(), None);
    }

    pub(super) fn add_node(&mut self, node: Node) {
        let name = node.name.clone();
        match self.cluster.add_node(node) {
            Ok(id) => {
                *self.node_lifecycle.node(id) = node_lifecycle::NodeRt::default();
                self.start_lease(id);
                if self.info.stage == Stage::Run {
                    // At setup, `start_node_memory` starts them all once the cluster is built.
                    self.start_eviction_manager(id);
                }
                self.rec.metrics.count("nodes_added", 1);
                self.record("NodeAdded", format!("node/{name}"), String::new(), None);
                // A node that joins a zone under a fault is under it too.
                self.join_active_zone_faults(id);
                for i in 0..self.controllers.workloads.len() {
                    if self.controllers.workloads[i].w.kind == WorkloadKind::DaemonSet {
                        self.request_sync(i);
                    }
                }
                self.move_all_to_active_or_backoff();
            }
            Err(e) => self.record("ChangeFailed", format!("node/{name}"), e.to_string(), None),
        }
    }

    /// Applies every object of a manifest set (create or update).
    pub(super) fn apply_manifests(&mut self, m: &Manifests, initial: bool) {
        for c in &m.priority_classes {
            self.control_plane.classes.apply(c.object.clone());
            self.record(
                "PriorityClassApplied",
                format!("priorityclass/{}", c.object.name),
                format!(
                    "value {}{}",
                    c.object.value,
                    if c.object.global_default {
                        ", globalDefault"
                    } else {
                        ""
                    }
                ),
                None,
            );
        }
        for n in &m.nodes {
            self.add_node(n.object.clone());
        }
        // Pods: bound ones (a snapshot's) are running; others are created now.
        for p in &m.pods {
            match p.object.admit(&self.control_plane.classes) {
                Ok(pod) => {
                    let bound = pod.node_name.is_some();
                    if let Some(id) = self.create_pod(pod, None, 0, initial && bound) {
                        let w = self.adopter(id);
                        if let (Some(w), Some(rt)) = (w, self.pods.get_mut(id)) {
                            rt.workload = Some(w);
                            self.controllers.workloads[w].pods.push(id);
                        }
                    }
                }
                Err(e) => {
                    self.rec.metrics.count("pods_rejected", 1);
                    self.record(
                        "FailedCreate",
                        format!("pod/{}", p.object.pod.key()),
                        e.to_string(),
                        None,
                    )
                }
            }
        }
        for b in &m.pdbs {
            self.cluster.add_pdb(b.object.clone());
        }
        for w in &m.workloads {
            self.apply_workload(w.object.clone());
        }
        self.refresh_pdbs();
    }

    /// The disruption controller: each PDB expects as many pods as the workloads whose pods
    /// it covers want (their replicas), recomputed when a workload appears, scales or goes.
    /// A PDB that covers no workload's pods keeps the count of pods it covered when added.
    pub(super) fn refresh_pdbs(&mut self) {
        let updates: Vec<(u32, i32)> = self
            .cluster
            .pdbs()
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let owners = self
                    .controllers
                    .workloads
                    .iter()
                    .filter(|w| !w.deleted && b.pdb.covers(&w.w.template.pod));
                let mut any = false;
                let expected = owners
                    .map(|w| {
                        any = true;
                        w.w.replicas.max(0)
                    })
                    .sum();
                any.then_some((cascade_engine::index_u32(i), expected))
            })
            .collect();
        for (i, expected) in updates {
            self.cluster.set_pdb_expected(i, expected);
        }
    }

    /// The workload whose selector adopts a pod (controllers adopt matching orphans).
    pub(super) fn adopter(&self, id: PodId) -> Option<usize> {
        let pod = &self.cluster.pod(id).pod;
        self.controllers.workloads.iter().position(|w| {
            !w.deleted && w.w.namespace == pod.namespace && w.w.selector.matches(&pod.labels)
        })
    }

    pub(super) fn apply_workload(&mut self, w: Workload) {
        let existing = self.controllers.workloads.iter().position(|x| {
            !x.deleted && x.w.kind == w.kind && x.w.namespace == w.namespace && x.w.name == w.name
        });
        let key = format!("{:?}/{}/{}", w.kind, w.namespace, w.name).to_lowercase();
        match existing {
            Some(i) => {
                let changed = self.controllers.workloads[i].w.template != w.template;
                // A ReplicaSet's new template applies to pods it creates from now on; the
                // other controllers start a new revision and move their pods onto it as their
                // update strategy says.
                let message = if !changed {
                    String::new()
                } else {
                    let rt = &mut self.controllers.workloads[i];
                    if w.kind != WorkloadKind::ReplicaSet {
                        if w.kind == WorkloadKind::StatefulSet && rt.current.is_none() {
                            rt.current = Some((rt.revision, rt.w.template.clone()));
                        }
                        rt.revision += 1;
                    }
                    match (w.kind, w.update_strategy) {
                        (WorkloadKind::ReplicaSet, _) => {
                            "pod template changed: applies to pods created from now on".into()
                        }
                        (_, UpdateStrategy::RollingUpdate) => {
                            "pod template changed: rolling update".into()
                        }
                        (_, UpdateStrategy::Recreate) => {
                            "pod template changed: recreate (old pods go first)".into()
                        }
                        (_, UpdateStrategy::OnDelete) => {
                            "pod template changed: OnDelete (applies to pods recreated from now on)"
                                .into()
                        }
                    }
                };
                self.controllers.workloads[i].w = w;
                self.record("WorkloadUpdated", key, message, None);
                self.request_sync(i);
            }
            None => {
                self.controllers.workloads.push(WorkloadRt {
                    w,
                    revision: 0,
                    current: None,
                    pods: Vec::new(),
                    deleted: false,
                    sync_pending: false,
                });
                let i = self.controllers.workloads.len() - 1;
                // Adopt matching orphans.
                let orphans: Vec<PodId> = self
                    .cluster
                    .pods()
                    .filter(|(id, _)| self.pods.get(*id).is_some_and(|r| r.workload.is_none()))
                    .filter(|(_, e)| {
                        e.pod.namespace == self.controllers.workloads[i].w.namespace
                            && self.controllers.workloads[i]
                                .w
                                .selector
                                .matches(&e.pod.labels)
                    })
                    .map(|(id, _)| id)
                    .collect();
                for id in orphans {
                    if let Some(rt) = self.pods.get_mut(id) {
                        rt.workload = Some(i);
                        self.controllers.workloads[i].pods.push(id);
                    }
                }
                self.record("WorkloadCreated", key, String::new(), None);
                self.request_sync(i);
            }
        }
    }
}
