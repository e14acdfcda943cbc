//! ReplicaSet and Deployment (pkg/controller/replicaset, pkg/controller/deployment).

use crate::sim::Simulation;
use cascade_model::UpdateStrategy;
use cascade_scheduler::PodId;

impl Simulation<'_> {
    /// ReplicaSet and Deployment: keep `replicas` active pods; a pod that is terminating no
    /// longer counts, so its replacement is created at once (FilterActivePods). When the
    /// template changes, roll with maxSurge / maxUnavailable.
    pub(in crate::sim) fn sync_replicas(&mut self, w: usize) {
        let replicas = self.controllers.workloads[w].w.replicas.max(0) as usize;
        let rev = self.controllers.workloads[w].revision;
        // Most syncs (a pod's readiness changed) find exactly `replicas` active pods, all at
        // the current revision: nothing to do, found without gathering the pods.
        let (mut current, mut other) = (0usize, 0usize);
        for p in &self.controllers.workloads[w].pods {
            if self.cluster.pod(*p).pod.terminating {
                continue;
            }
            if self.pods.get(*p).map(|r| r.revision) == Some(rev) {
                current += 1;
            } else {
                other += 1;
            }
        }
        if other == 0 && current == replicas {
            return;
        }
        let active: Vec<PodId> = self.controllers.workloads[w]
            .pods
            .iter()
            .copied()
            .filter(|p| !self.cluster.pod(*p).pod.terminating)
            .collect();
        let revision = |p: &PodId| self.pods.get(*p).map(|r| r.revision);
        let is_ready = |p: &PodId| self.pods.get(*p).is_some_and(|r| r.ready);
        let (new, old): (Vec<PodId>, Vec<PodId>) =
            active.iter().partition(|p| revision(p) == Some(rev));
        let burst = self.p().controllers.burst_replicas;
        let mut create = 0usize;
        let mut delete: Vec<PodId> = Vec::new();
        // Recreate waits until the old pods are gone, not just terminating.
        let old_terminating = self.controllers.workloads[w].w.update_strategy
            == UpdateStrategy::Recreate
            && self.controllers.workloads[w]
                .pods
                .iter()
                .any(|p| revision(p) != Some(rev));
        if old.is_empty() {
            if new.len() < replicas && !old_terminating {
                create = (replicas - new.len()).min(burst);
            } else if new.len() > replicas {
                let mut surplus = new.clone();
                // Delete unscheduled, then not ready, then the newest first (ActivePods order).
                surplus.sort_by_key(|p| {
                    let e = self.cluster.pod(*p);
                    (
                        e.node.is_some(),
                        is_ready(p),
                        std::cmp::Reverse(e.pod.creation_timestamp),
                    )
                });
                delete = surplus
                    .into_iter()
                    .take((new.len() - replicas).min(burst))
                    .collect();
            }
        } else if self.controllers.workloads[w].w.update_strategy == UpdateStrategy::Recreate {
            // Recreate: every old pod goes first; the new ones are created only when no old
            // pod is left, terminating ones included (deployment/recreate.go).
            delete = old.clone();
        } else {
            let wl = &self.controllers.workloads[w].w;
            let replicas_i32 = i32::try_from(replicas).unwrap_or(i32::MAX);
            let surge = usize::try_from(wl.max_surge.scaled(replicas_i32)).unwrap_or(0);
            let mut unavailable =
                usize::try_from(wl.max_unavailable.scaled_down(replicas_i32)).unwrap_or(0);
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total = new.len() + old.len();
            if new.len() < replicas && total < replicas + surge {
                create = (replicas - new.len()).min(replicas + surge - total);
            }
            let ready = active.iter().filter(|p| is_ready(p)).count();
            let min_available = replicas.saturating_sub(unavailable);
            let new_unavailable = new.iter().filter(|p| !is_ready(p)).count();
            let may_delete = total
                .saturating_sub(min_available)
                .saturating_sub(new_unavailable)
                .min(
                    ready.saturating_sub(min_available)
                        + old.iter().filter(|p| !is_ready(p)).count(),
                );
            let mut olds = old.clone();
            olds.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(self.cluster.pod(*p).pod.creation_timestamp),
                )
            });
            delete = olds.into_iter().take(may_delete).collect();
        }
        let delete_len = delete.len();
        for p in delete {
            self.controller_delete(w, p);
        }
        for _ in 0..create {
            let name = self.controllers.generate_name(w);
            self.new_pod(w, name);
        }
        // The creations are observed at once (expectations met), so a controller held back by
        // burstReplicas syncs again for the rest.
        if burst > 0 && (create == burst || delete_len == burst) {
            self.request_sync(w);
        }
    }
}
