//! DaemonSet (pkg/controller/daemon).

use crate::sim::Simulation;
use cascade_model::{NodeSelector, NodeSelectorTerm, Requirement, UpdateStrategy};
use cascade_scheduler::{filter, NodeId, PodId};
use std::collections::BTreeMap;

impl Simulation<'_> {
    /// DaemonSet: one pod per node that the pod's template tolerates, pinned with node
    /// affinity on metadata.name (how the DaemonSet controller lets the scheduler place it).
    pub(in crate::sim) fn sync_daemon(&mut self, w: usize) {
        let mut template = self.controllers.workloads[w].w.template.pod.clone();
        // The DaemonSet controller adds tolerations for node conditions (daemon_controller.go
        // AddOrUpdateDaemonPodTolerations), the pressure taints included, so a node under
        // MemoryPressure still gets its daemon pods (docs/kubernetes.md#node-memory-pressure).
        for (key, effect) in [
            (
                "node.kubernetes.io/not-ready",
                cascade_model::TaintEffect::NoExecute,
            ),
            (
                "node.kubernetes.io/unreachable",
                cascade_model::TaintEffect::NoExecute,
            ),
            (
                "node.kubernetes.io/disk-pressure",
                cascade_model::TaintEffect::NoSchedule,
            ),
            (
                "node.kubernetes.io/memory-pressure",
                cascade_model::TaintEffect::NoSchedule,
            ),
            (
                "node.kubernetes.io/pid-pressure",
                cascade_model::TaintEffect::NoSchedule,
            ),
            (
                "node.kubernetes.io/unschedulable",
                cascade_model::TaintEffect::NoSchedule,
            ),
        ] {
            template.tolerations.push(cascade_model::Toleration {
                key: key.into(),
                operator: cascade_model::TolerationOperator::Exists,
                value: String::new(),
                effect: Some(effect),
                toleration_seconds: None,
            });
        }
        // Each eligible node's daemon pods that are not terminating: (update revision, older).
        let rev = self.controllers.workloads[w].revision;
        let mut on_node: BTreeMap<NodeId, (Option<PodId>, Vec<PodId>)> = BTreeMap::new();
        for &p in &self.controllers.workloads[w].pods {
            if self.cluster.pod(p).pod.terminating {
                continue;
            }
            let Some(r) = self.pods.get(p) else {
                continue;
            };
            let Some(node) = r.daemon_node else {
                continue;
            };
            let e = on_node.entry(node).or_default();
            if r.revision == rev {
                e.0 = Some(p);
            } else {
                e.1.push(p);
            }
        }
        let eligible: Vec<(NodeId, String)> = self
            .cluster
            .nodes()
            .filter(|(id, info)| filter::static_filters(&template, *id, info).is_ok())
            .map(|(id, info)| (id, info.node.name.clone()))
            .collect();
        let ready = |s: &Self, p: PodId| s.pods.get(p).is_some_and(|r| r.ready);
        let mut create: Vec<(NodeId, String)> = Vec::new();
        let mut delete: Vec<PodId> = Vec::new();
        let wl = &self.controllers.workloads[w].w;
        let rolling = wl.update_strategy == UpdateStrategy::RollingUpdate;
        let desired = i32::try_from(eligible.len()).unwrap_or(i32::MAX);
        let max_surge = wl.max_surge.scaled(desired).max(0) as usize;
        let max_unavailable = wl.max_unavailable.scaled(desired).max(0) as usize;
        // The rolling update (daemon/update.go rollingUpdate): without surge, delete old pods
        // on at most maxUnavailable nodes at a time (an old pod that is not Ready goes at
        // once); with surge, start the new pod beside the old one on at most maxSurge nodes
        // and delete the old one when the new one is Ready.
        let mut unavailable = 0usize;
        let mut surging = 0usize;
        let mut candidates: Vec<(NodeId, String, PodId)> = Vec::new();
        for (node, node_name) in &eligible {
            match on_node.get(node) {
                None => {
                    unavailable += 1;
                    create.push((*node, node_name.clone()));
                }
                Some((Some(new), olds)) => {
                    if !ready(self, *new) {
                        unavailable += 1;
                    }
                    if !olds.is_empty() {
                        if ready(self, *new) {
                            delete.extend(olds.iter().copied());
                        } else {
                            surging += 1;
                        }
                    }
                }
                // OnDelete: the old pod stays until someone else deletes it.
                Some((None, _)) if !rolling => {}
                Some((None, olds)) => {
                    let old = olds[0];
                    if !ready(self, old) {
                        if max_surge == 0 {
                            delete.push(old);
                        } else {
                            create.push((*node, node_name.clone()));
                        }
                    } else {
                        candidates.push((*node, node_name.clone(), old));
                    }
                }
            }
        }
        if rolling {
            if max_surge == 0 {
                let room = max_unavailable.saturating_sub(unavailable);
                delete.extend(candidates.iter().take(room).map(|c| c.2));
            } else {
                let room = max_surge.saturating_sub(surging);
                create.extend(candidates.iter().take(room).map(|c| (c.0, c.1.clone())));
            }
        }
        for p in delete {
            self.controller_delete(w, p);
        }
        for (node, node_name) in create {
            let name = self.controllers.generate_name(w);
            let mut t = self.controllers.workloads[w].w.template.clone();
            t.pod.tolerations = template.tolerations.clone();
            t.pod.required_node_affinity = Some(NodeSelector {
                terms: vec![NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: vec![Requirement::In("metadata.name".into(), vec![node_name])],
                }],
            });
            let rev = self.controllers.workloads[w].revision;
            self.new_pod_from(w, name, Some(&t), rev, Some(node));
        }
    }
}
