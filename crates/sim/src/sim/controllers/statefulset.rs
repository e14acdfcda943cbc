//! StatefulSet (pkg/controller/statefulset).

use crate::sim::Simulation;
use cascade_model::{PodManagementPolicy, UpdateStrategy};
use cascade_scheduler::PodId;
use std::collections::BTreeMap;

impl Simulation<'_> {
    /// StatefulSet: pods NAME-0..N-1, each recreated with the same name once the old one is
    /// gone; OrderedReady creates ordinal i only when 0..i are running and ready. A rolling
    /// update deletes the highest ordinal not at the update revision, one pod at a time, and
    /// waits for each replacement to be Ready; ordinals below `partition` keep the current
    /// revision (stateful_set_control.go updateStatefulSet).
    pub(in crate::sim) fn sync_stateful(&mut self, w: usize) {
        let replicas = self.controllers.workloads[w].w.replicas.max(0) as usize;
        let name = self.controllers.workloads[w].w.name.clone();
        let ordered = self.controllers.workloads[w].w.pod_management_policy
            == PodManagementPolicy::OrderedReady;
        let update = self.controllers.workloads[w].revision;
        let mut by_ordinal: BTreeMap<usize, PodId> = BTreeMap::new();
        for &p in &self.controllers.workloads[w].pods {
            if let Some(o) = self
                .cluster
                .pod(p)
                .pod
                .name
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
            {
                by_ordinal.insert(o, p);
            }
        }
        let revision_of = |s: &Self, p: PodId| s.pods.get(p).map(|r| r.revision);
        let healthy = |s: &Self, p: PodId| {
            s.pods.get(p).is_some_and(|r| r.ready) && !s.cluster.pod(p).pod.terminating
        };
        // The update is done once every pod is at the update revision.
        if self.controllers.workloads[w].current.is_some()
            && by_ordinal.len() == replicas
            && by_ordinal
                .values()
                .all(|p| revision_of(self, *p) == Some(update))
        {
            self.controllers.workloads[w].current = None;
        }
        // Which ordinals a new pod takes the current revision for: those below the partition,
        // or (without one) below status.currentReplicas.
        let current_below = match &self.controllers.workloads[w].current {
            None => 0,
            Some((rev, _)) => {
                let partition = self.controllers.workloads[w].w.partition.max(0) as usize;
                if self.controllers.workloads[w].w.update_strategy != UpdateStrategy::RollingUpdate
                {
                    0
                } else if partition > 0 {
                    partition
                } else {
                    by_ordinal
                        .values()
                        .filter(|p| revision_of(self, **p) == Some(*rev))
                        .count()
                }
            }
        };
        let mut all_healthy = true;
        for i in 0..replicas {
            match by_ordinal.get(&i) {
                Some(p) => {
                    if !healthy(self, *p) {
                        all_healthy = false;
                        if ordered {
                            break;
                        }
                    }
                }
                None => {
                    all_healthy = false;
                    let current = self.controllers.workloads[w].current.clone();
                    match current {
                        Some((rev, t)) if i < current_below => {
                            self.new_pod_from(w, format!("{name}-{i}"), Some(&t), rev, None)
                        }
                        _ => self.new_pod(w, format!("{name}-{i}")),
                    };
                    if ordered {
                        break;
                    }
                }
            }
        }
        // Scale down from the highest ordinal.
        let surplus: Vec<PodId> = by_ordinal
            .range(replicas..)
            .rev()
            .map(|(_, p)| *p)
            .collect();
        let mut scaling_down = false;
        for p in surplus {
            scaling_down = true;
            if !self.cluster.pod(p).pod.terminating {
                self.controller_delete(w, p);
                if ordered {
                    break;
                }
            }
        }
        if self.controllers.workloads[w].w.update_strategy != UpdateStrategy::RollingUpdate
            || self.controllers.workloads[w].current.is_none()
            || scaling_down
            || (ordered && !all_healthy)
        {
            return;
        }
        let partition = self.controllers.workloads[w].w.partition.max(0) as usize;
        for target in (partition..replicas).rev() {
            let Some(&p) = by_ordinal.get(&target) else {
                return;
            };
            if revision_of(self, p) != Some(update) && !self.cluster.pod(p).pod.terminating {
                self.controller_delete(w, p);
                return;
            }
            if !healthy(self, p) {
                return;
            }
        }
    }
}
