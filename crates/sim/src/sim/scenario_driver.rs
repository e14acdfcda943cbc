//! The scenario's changes (apply, delete, scale, add nodes, gossip encryption, unseal) and
//! faults (nodes or zones down, partitions, dependencies down, flapping or degraded).

use crate::scenario::{Change, FaultKind, ObjectKind};
use crate::sim::{secs, Ev, ScenarioEv, Simulation};
use cascade_scheduler::NodeId;

impl Simulation<'_> {
    pub(super) fn on_scenario(&mut self, e: ScenarioEv) {
        match e {
            ScenarioEv::Change { change } => self.change(change),
            ScenarioEv::FaultStart { fault } => self.fault(fault, true),
            ScenarioEv::FaultEnd { fault } => self.fault(fault, false),
            ScenarioEv::Flap { fault, down } => self.flap(fault, down),
        }
    }

    pub(super) fn change(&mut self, i: usize) {
        let c: Change = self.sc.spec.changes[i].clone();
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
                    self.classes.delete(&d.name);
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
            self.gossip_encrypt(enc.key, enc.redeploy_seconds);
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
    pub(super) fn fault(&mut self, i: usize, start: bool) {
        let f = self.sc.spec.faults[i].clone();
        let nodes: Vec<NodeId> = self
            .cluster
            .nodes()
            .filter(|(_, n)| match &f.kind {
                FaultKind::NodeDown(name) => n.node.name == *name,
                FaultKind::ZoneDown(z) => n.node.zone() == z,
                _ => false,
            })
            .map(|(id, _)| id)
            .collect();
        let what = f.description.clone().unwrap_or_else(|| match &f.kind {
            FaultKind::ServiceDown { service, .. } => format!("service {service} unreachable"),
            FaultKind::Partition(_) => "network partition".to_string(),
            FaultKind::ServiceDegraded { service, .. } => format!("service {service} degraded"),
            FaultKind::ApiServerDown => "kube-apiserver down".to_string(),
            _ => format!("{} node(s) down", nodes.len()),
        });
        let kind = if start { "FaultStarted" } else { "FaultEnded" };
        self.record(kind, format!("fault/{i}"), what, None);
        for id in nodes {
            if start {
                self.node_down(id);
            } else {
                self.node_up(id);
            }
        }
        if let FaultKind::Partition(p) = &f.kind {
            let cut: Vec<NodeId> = self
                .cluster
                .nodes()
                .filter(|(_, n)| {
                    p.nodes.contains(&n.node.name) || p.zones.iter().any(|z| n.node.zone() == z)
                })
                .map(|(id, _)| id)
                .collect();
            // Each partition fault is its own side; the rest of the cluster is side 0.
            let side = if start {
                cascade_engine::index_u32(i) + 1
            } else {
                0
            };
            for id in cut {
                if start {
                    self.node_partitioned(id);
                } else {
                    self.node_up(id);
                }
                self.set_node_partition(id, side);
            }
        }
        if let FaultKind::ApiServerDown = &f.kind {
            self.api_server_fault(start);
        }
        if let FaultKind::ServiceDegraded {
            service,
            degradation,
        } = &f.kind
        {
            self.degrade(service, start.then(|| degradation.clone()));
        }
        if let FaultKind::ServiceDown {
            service: name,
            flapping,
        } = &f.kind
        {
            self.fault_active[i] = start;
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

    /// A degradation fault starts or ends. Two overlapping degradations of one service do not
    /// stack: the later start wins, and the first end restores the service.
    fn degrade(&mut self, name: &str, degradation: Option<cascade_services::Degradation>) {
        self.svc_call(|w, now, out| w.set_service_degraded(now, name, degradation, out));
    }

    /// The next phase of a flapping dependency, while its fault lasts.
    pub(super) fn flap(&mut self, i: usize, down: bool) {
        if !self.fault_active[i] {
            return;
        }
        let f = &self.sc.spec.faults[i];
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
