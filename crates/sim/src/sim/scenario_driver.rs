//! The scenario's changes (apply, delete, scale, add nodes, gossip encryption, unseal) and
//! faults (nodes or zones down, partitions, dependencies down, flapping or degraded).

use crate::scenario::{Change, FaultKind, NodeSelector, NodeTarget, ObjectKind};
use crate::sim::{secs, ChangeIdx, Ev, FaultIdx, ScenarioEv, Simulation};
use cascade_model::Rng;
use cascade_scheduler::NodeId;

/// How many of `n` nodes a fault's `fraction` takes: `ceil(fraction x n)`, so that any
/// fraction above 0 takes at least one node and 1 takes them all (a hair of tolerance keeps
/// 0.6 x 10 at 6 despite floating point).
pub fn fraction_count(fraction: f64, n: usize) -> usize {
    let want = fraction * n as f64 - 1e-9;
    (0..=n).find(|&k| k as f64 >= want).unwrap_or(n)
}

/// `fraction_count` of `ids`, drawn uniformly without replacement (a partial Fisher-Yates
/// shuffle) from `rng`; all of them without a fraction. The result is in NodeId order.
pub fn choose_fraction(rng: &mut Rng, mut ids: Vec<NodeId>, fraction: Option<f64>) -> Vec<NodeId> {
    let Some(f) = fraction else { return ids };
    let k = fraction_count(f, ids.len());
    for j in 0..k {
        let r = j + rng.below_index(ids.len() - j);
        ids.swap(j, r);
    }
    ids.truncate(k);
    ids.sort_unstable();
    ids
}

/// The scenario's faults as they stand: which are in effect (zone faults and partitions, for
/// nodes that join while they last; dependencies down, for their flapping), and the nodes each
/// selecting fault took at its start, which its end gives back.
pub(super) struct Faults {
    active: Vec<bool>,
    nodes: Vec<Vec<NodeId>>,
}

impl Faults {
    pub fn new(count: usize) -> Self {
        Faults {
            active: vec![false; count],
            nodes: vec![Vec::new(); count],
        }
    }

    pub fn is_active(&self, i: FaultIdx) -> bool {
        self.active[i.idx()]
    }

    pub fn set_active(&mut self, i: FaultIdx, active: bool) {
        self.active[i.idx()] = active;
    }

    /// Fault `i` took `nodes` (replacing what it held).
    pub fn took(&mut self, i: FaultIdx, nodes: Vec<NodeId>) {
        self.nodes[i.idx()] = nodes;
    }

    /// Fault `i` also holds `node` (a node that joined under it).
    pub fn took_also(&mut self, i: FaultIdx, node: NodeId) {
        self.nodes[i.idx()].push(node);
    }

    /// The nodes fault `i` held, handed back at its end.
    pub fn give_back(&mut self, i: FaultIdx) -> Vec<NodeId> {
        std::mem::take(&mut self.nodes[i.idx()])
    }
}

impl Simulation<'_> {
    pub(super) fn on_scenario(&mut self, e: ScenarioEv) {
        match e {
            ScenarioEv::Change { change } => self.change(change),
            ScenarioEv::FaultStart { fault } => self.fault(fault, true),
            ScenarioEv::FaultEnd { fault } => self.fault(fault, false),
            ScenarioEv::Flap { fault, down } => self.flap(fault, down),
        }
    }

    pub(super) fn change(&mut self, i: ChangeIdx) {
        let c: Change = self.sc.spec.changes[i.idx()].clone();
        let what = c.description.clone().unwrap_or_default();
        self.rec.metrics.count("changes_applied", 1);
        self.record("ChangeApplied", format!("change/{i}"), what, None);
        for f in &c.apply {
            let m = &self.sc.files[f].manifests;
            self.apply_manifests(m, false);
        }
        for d in &c.delete {
            let ns = d.namespace.clone().unwrap_or_else(|| "default".into());
            match d.kind {
                ObjectKind::PriorityClass => {
                    self.control_plane.classes.delete(&d.name);
                }
                ObjectKind::Pod => {
                    if let Some(id) = self.cluster.pod_id(&format!("{ns}/{}", d.name)) {
                        self.terminate(id);
                    }
                }
                ObjectKind::Node => {
                    if let Some(id) = self.cluster.node_id(&d.name) {
                        self.remove_node(id);
                    }
                }
                kind => {
                    if let Some(w) = self.controllers.workloads.iter().position(|x| {
                        !x.deleted
                            && Some(x.w.kind) == kind.workload()
                            && x.w.namespace == ns
                            && x.w.name == d.name
                    }) {
                        self.controllers.workloads[w].deleted = true;
                        for p in self.controllers.workloads[w].pods.clone() {
                            self.terminate(p);
                        }
                        self.refresh_pdbs();
                    }
                }
            }
        }
        if let Some(s) = &c.scale {
            let ns = s.namespace.clone().unwrap_or_else(|| "default".into());
            if let Some(w) = self.controllers.workloads.iter().position(|x| {
                !x.deleted && x.w.kind == s.kind && x.w.namespace == ns && x.w.name == s.name
            }) {
                self.controllers.workloads[w].w.replicas = s.replicas;
                self.request_sync(w);
                self.refresh_pdbs();
            } else {
                self.record(
                    "ChangeFailed",
                    format!("{:?}/{ns}/{}", s.kind, s.name),
                    "no such workload".into(),
                    None,
                );
            }
        }
        if let Some(g) = &c.add_nodes {
            if let Err(e) = self.add_node_group(g) {
                self.record("ChangeFailed", format!("change/{i}"), e, None);
            }
        }
        if let Some(enc) = &c.gossip_encryption {
            self.gossip_encrypt(cascade_gossip::KeyId::new(enc.key), enc.redeploy_seconds);
        }
        if let Some(name) = &c.unseal {
            if !self.svc_call(|w, now, out| w.unseal(now, name, out)) {
                self.record(
                    "ChangeFailed",
                    format!("change/{i}"),
                    format!("client {name} is not sealed"),
                    None,
                );
            }
        }
    }

    /// A fault starts (`start`) or ends.
    pub(super) fn fault(&mut self, i: FaultIdx, start: bool) {
        let f = self.sc.spec.faults[i.idx()].clone();
        let nodes: Vec<NodeId> = match &f.kind {
            FaultKind::NodeDown(NodeTarget::Selected(s)) => {
                self.fault_targets(i, start, &[], &[], Some(&s.selector), s.fraction)
            }
            _ => self
                .cluster
                .nodes()
                .filter(|(_, n)| match &f.kind {
                    FaultKind::NodeDown(NodeTarget::Name(name)) => n.node.name == *name,
                    FaultKind::ZoneDown(z) => n.node.zone() == z,
                    _ => false,
                })
                .map(|(id, _)| id)
                .collect(),
        };
        let what = f.description.clone().unwrap_or_else(|| match &f.kind {
            FaultKind::ServiceDown { service, .. } => format!("service {service} unreachable"),
            FaultKind::Partition(p) if p.pods_only => "pod network partition".to_string(),
            FaultKind::Partition(_) => "network partition".to_string(),
            FaultKind::ServiceDegraded {
                service,
                on_nodes: Some(t),
                ..
            } => format!("service {service} degraded on {t}"),
            FaultKind::ServiceDegraded { service, .. } => format!("service {service} degraded"),
            FaultKind::ApiServerDown { replica: None } => "kube-apiserver down".to_string(),
            FaultKind::ApiServerDown { replica: Some(i) } => {
                format!("kube-apiserver replica {i} down")
            }
            FaultKind::Stockout(z) => format!("zone {z} out of capacity"),
            _ => format!("{} node(s) down", nodes.len()),
        });
        let kind = if start { "FaultStarted" } else { "FaultEnded" };
        self.record(kind, format!("fault/{i}"), what, None);
        if matches!(f.kind, FaultKind::ZoneDown(_) | FaultKind::Partition(_)) {
            // Nodes that join while it lasts are put under it (join_active_zone_faults).
            self.faults.set_active(i, start);
        }
        for id in nodes {
            if start {
                self.node_down(id);
            } else {
                self.node_up(id);
            }
        }
        if let FaultKind::Partition(p) = &f.kind {
            let cut: Vec<NodeId> = if p.selector.is_some() || p.fraction.is_some() {
                self.fault_targets(
                    i,
                    start,
                    &p.zones,
                    &p.nodes,
                    p.selector.as_ref(),
                    p.fraction,
                )
            } else {
                self.cluster
                    .nodes()
                    .filter(|(_, n)| {
                        p.nodes.contains(&n.node.name) || p.zones.iter().any(|z| n.node.zone() == z)
                    })
                    .map(|(id, _)| id)
                    .collect()
            };
            // Each partition fault is its own side; the rest of the cluster is side 0.
            let side = if start { i.get() + 1 } else { 0 };
            for id in cut {
                // With podsOnly the kubelet keeps its connection: only the pods are cut off.
                if !p.pods_only {
                    if start {
                        self.node_partitioned(id);
                    } else {
                        self.node_up(id);
                    }
                }
                self.set_node_partition(id, side);
            }
        }
        if let FaultKind::Stockout(z) = &f.kind {
            self.autoscaler.cloud.set_stockout(z, start);
        }
        if let FaultKind::ApiServerDown { replica } = &f.kind {
            self.api_server_fault(start, *replica);
        }
        if let FaultKind::ServiceDegraded {
            service,
            degradation,
            on_nodes,
        } = &f.kind
        {
            // A degradation on some nodes: those named, or drawn by the selector now (its
            // end restores the whole service, so it needs none of them back).
            let nodes = on_nodes.as_ref().filter(|_| start).map(|t| {
                let ids: Vec<NodeId> = match t {
                    NodeTarget::Selected(s) => {
                        self.fault_targets(i, true, &[], &[], Some(&s.selector), s.fraction)
                    }
                    NodeTarget::Name(name) => self
                        .cluster
                        .nodes()
                        .filter(|(_, n)| n.node.name == *name)
                        .map(|(id, _)| id)
                        .collect(),
                };
                ids.into_iter().map(NodeId::get).collect()
            });
            self.degrade(service, start.then(|| degradation.clone()), nodes);
        }
        if let FaultKind::ServiceDown {
            service: name,
            flapping,
        } = &f.kind
        {
            self.faults.set_active(i, start);
            self.set_service_reachable(name, !start);
            if start {
                if let Some(fl) = flapping {
                    self.engine.schedule_in(
                        secs(fl.down.0),
                        Ev::Scenario(ScenarioEv::Flap {
                            fault: i,
                            down: false,
                        }),
                    );
                }
            }
        }
    }

    /// A node that joins (a repair's replacement, an autoscaler's or a change's new node) in a
    /// zone under a `zoneDown` or a partition of zones is under that fault while it lasts, as
    /// any machine in the zone is: a zone down stops its kubelet, a partition cuts it (and its
    /// pods) off. Its kubelet cannot have posted status through the fault, so the controller
    /// marks it NotReady `nodeStartupGracePeriodSeconds` after it joined; until then the
    /// not-ready NoSchedule taint it was created with keeps pods off it. Partitions drawn by
    /// `fraction` keep the nodes drawn at their start (a new node was not in the draw).
    /// (docs/control-plane-and-nodes.md#cloud-provisioning)
    pub(super) fn join_active_zone_faults(&mut self, id: NodeId) {
        let zone = self.cluster.node(id).node.zone().to_string();
        for i in (0..self.sc.spec.faults.len()).map(FaultIdx::at) {
            if !self.faults.is_active(i) {
                continue;
            }
            let kind = self.sc.spec.faults[i.idx()].kind.clone();
            match &kind {
                FaultKind::ZoneDown(z) if *z == zone => {
                    self.node_down(id);
                    self.joined_under_fault(id, i, "its zone is down");
                }
                FaultKind::Partition(p) if p.fraction.is_none() && p.zones.contains(&zone) => {
                    if p.selector.is_some() {
                        // Its end gives back the nodes it kept.
                        self.faults.took_also(i, id);
                    }
                    if !p.pods_only {
                        self.node_partitioned(id);
                        self.joined_under_fault(id, i, "its zone is partitioned");
                    }
                    self.set_node_partition(id, i.get() + 1);
                }
                _ => {}
            }
        }
    }

    fn joined_under_fault(&mut self, id: NodeId, fault: FaultIdx, why: &str) {
        let name = self.cluster.node(id).node.name.clone();
        self.record(
            "NodeJoinedUnderFault",
            format!("node/{name}"),
            format!("fault/{fault}: {why}; the kubelet cannot reach the control plane"),
            None,
        );
        self.node_joined_silent(id);
    }

    /// The nodes a selecting fault acts on. At its start: the nodes in `zones`, named in
    /// `names` or picked by `selector` as the cluster is now, of which `fraction` is drawn
    /// from the fault's own random stream (`fault/INDEX`, so the draw depends only on the seed
    /// and the fault), and kept; at its end, the same nodes, those still in the cluster.
    fn fault_targets(
        &mut self,
        i: FaultIdx,
        start: bool,
        zones: &[String],
        names: &[String],
        selector: Option<&NodeSelector>,
        fraction: Option<f64>,
    ) -> Vec<NodeId> {
        if !start {
            let kept = self.faults.give_back(i);
            return kept
                .into_iter()
                .filter(|id| self.cluster.has_node(*id))
                .collect();
        }
        let candidates: Vec<NodeId> = self
            .cluster
            .nodes()
            .filter(|(_, n)| {
                names.contains(&n.node.name)
                    || zones.iter().any(|z| n.node.zone() == z)
                    || selector.is_some_and(|s| s.matches(&n.node.labels))
            })
            .map(|(id, _)| id)
            .collect();
        let mut rng = Rng::stream(self.info.seed, &format!("fault/{i}"));
        let chosen = choose_fraction(&mut rng, candidates, fraction);
        self.faults.took(i, chosen.clone());
        chosen
    }

    /// A degradation fault starts or ends. Two overlapping degradations of one service do not
    /// stack: the later start wins, and the first end restores the service.
    fn degrade(
        &mut self,
        name: &str,
        degradation: Option<cascade_services::Degradation>,
        nodes: Option<Vec<u32>>,
    ) {
        self.svc_call(|w, now, out| w.set_service_degraded_on(now, name, degradation, nodes, out));
    }

    /// The next phase of a flapping dependency, while its fault lasts.
    pub(super) fn flap(&mut self, i: FaultIdx, down: bool) {
        if !self.faults.is_active(i) {
            return;
        }
        let f = &self.sc.spec.faults[i.idx()];
        let FaultKind::ServiceDown {
            service: name,
            flapping: Some(fl),
        } = f.kind.clone()
        else {
            return;
        };
        self.set_service_reachable(&name, !down);
        let next = if down { fl.down.0 } else { fl.up.0 };
        self.engine.schedule_in(
            secs(next),
            Ev::Scenario(ScenarioEv::Flap {
                fault: i,
                down: !down,
            }),
        );
    }

    pub(super) fn set_service_reachable(&mut self, name: &str, reachable: bool) {
        if self.svc_call(|w, now, out| w.set_service_reachable(now, name, reachable, out)) {
            let (counter, kind) = if reachable {
                ("dependency_up", "DependencyUp")
            } else {
                ("dependency_down", "DependencyDown")
            };
            self.rec.metrics.count(counter, 1);
            self.record(kind, format!("service/{name}"), String::new(), None);
            if !reachable {
                self.sidecars_dependency_down(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_fraction_takes_its_share_rounded_up() {
        assert_eq!(fraction_count(0.6, 10), 6);
        assert_eq!(fraction_count(0.6, 7), 5);
        assert_eq!(fraction_count(0.01, 3), 1);
        assert_eq!(fraction_count(0.0, 3), 0);
        assert_eq!(fraction_count(1.0, 3), 3);
        assert_eq!(fraction_count(0.5, 0), 0);
        assert_eq!(fraction_count(0.1, 30), 3);
    }

    proptest! {
        /// The draw takes exactly its share, of the candidates only, each once, in order;
        /// the same stream draws the same nodes.
        #[test]
        fn the_draw_is_a_subset_of_its_size(n in 0usize..60, f in 0.0f64..=1.0, seed: u64) {
            let ids: Vec<NodeId> = (0..n).map(|i| NodeId::at(i * 3)).collect();
            let a = choose_fraction(&mut cascade_model::Rng::stream(seed, "fault/0"), ids.clone(), Some(f));
            let b = choose_fraction(&mut cascade_model::Rng::stream(seed, "fault/0"), ids.clone(), Some(f));
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), fraction_count(f, n));
            prop_assert!(a.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(a.iter().all(|id| ids.contains(id)));
            prop_assert_eq!(choose_fraction(&mut cascade_model::Rng::stream(seed, "x"), ids.clone(), None), ids);
        }
    }
}
