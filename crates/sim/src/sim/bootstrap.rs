//! The cluster at time 0: the scenario's node groups, its manifests' objects and its
//! workload groups, then every first timer (changes, faults, samples, the controllers' loops).

use crate::scenario::NodeGroup;
use crate::sim::{
    autoscaler, secs, AutoscalerEv, ChangeIdx, Ev, FaultIdx, GossipEv, NodeLifecycleEv, QueueEv,
    ScenarioEv, Simulation, Stage,
};
use cascade_engine::Time;

impl Simulation<'_> {
    /// The cluster as it is at time 0: generated nodes, then the manifests' objects. Pods
    /// bound in the manifests are running; workloads create their missing pods now, before
    /// any change, so they are admitted against the PriorityClasses that exist at time 0.
    pub(super) fn setup(&mut self) -> Result<(), String> {
        let k = self.p().generator_scale;
        for mut g in self.sc.spec.cluster.node_groups.clone() {
            g.count = crate::scenario::scaled_count(g.count, g.scaled, k);
            self.add_node_group(&g)?;
        }
        let files: Vec<String> = self.sc.spec.cluster.manifests.clone();
        for f in &files {
            let m = &self.sc.files[f].manifests;
            self.apply_manifests(m, true);
        }
        for mut g in self.sc.spec.cluster.workload_groups.clone() {
            g.count = crate::scenario::scaled_count(g.count, g.scaled, k);
            for w in crate::generate::generate_workloads(&g)? {
                self.apply_workload(w);
            }
        }
        // The workloads' first sync, still in `Stage::Bootstrap`: the pods it creates and
        // binds are the cluster as it was before the run, not requests to the run's API
        // server. (Nothing above writes: objects are applied directly, and syncs are only
        // requested.)
        for i in 0..self.controllers.workloads.len() {
            self.sync(i);
            if self.controllers.workloads[i].sync_pending {
                self.control_plane.writes.bootstrap.insert(i);
            }
        }
        self.info.stage = Stage::Run;
        for (i, c) in self.sc.spec.changes.iter().enumerate() {
            self.engine.schedule(
                secs(c.at.0),
                Ev::Scenario(ScenarioEv::Change {
                    change: ChangeIdx::at(i),
                }),
            );
        }
        for (i, f) in self.sc.spec.faults.iter().enumerate() {
            self.engine.schedule(
                secs(f.at.0),
                Ev::Scenario(ScenarioEv::FaultStart {
                    fault: FaultIdx::at(i),
                }),
            );
            if let Some(d) = f.duration {
                self.engine.schedule(
                    secs(f.at.0 + d.0),
                    Ev::Scenario(ScenarioEv::FaultEnd {
                        fault: FaultIdx::at(i),
                    }),
                );
            }
        }
        self.engine.schedule(Time::ZERO, Ev::Sample);
        self.start_control_plane();
        self.start_node_memory();
        if self.gossip.is_some() {
            self.engine.schedule(Time::ZERO, Ev::Gossip(GossipEv::Step));
        }
        if !self.services.world.is_empty() {
            // The services' steady state is what runs before the first change or fault.
            let first = self
                .sc
                .spec
                .changes
                .iter()
                .map(|c| c.at.0)
                .chain(self.sc.spec.faults.iter().map(|f| f.at.0))
                .fold(self.info.horizon.as_secs_f64(), f64::min);
            self.services.world.set_baseline_until(secs(first));
            let mut out = self.services.take_out();
            self.services.world.start(Time::ZERO, &mut out);
            self.apply_svc(out);
        }
        if !self.autoscaler.groups.is_empty() {
            let scan = secs(self.p().cluster_autoscaler.scan_interval_seconds);
            self.engine
                .schedule(scan, Ev::Autoscaler(AutoscalerEv::Scan));
        }
        self.engine.schedule(
            secs(self.p().node_lifecycle.node_monitor_period_seconds),
            Ev::NodeLifecycle(NodeLifecycleEv::Monitor),
        );
        self.engine.schedule(
            secs(
                self.p()
                    .scheduling_queue
                    .unschedulable_flush_interval_seconds,
            ),
            Ev::Queue(QueueEv::FlushUnschedulable),
        );
        Ok(())
    }

    /// Adds `g.count` nodes of a group; an autoscaled group is registered with the autoscaler.
    pub(super) fn add_node_group(&mut self, g: &NodeGroup) -> Result<(), String> {
        let mut ids = Vec::new();
        for _ in 0..g.count {
            let index = self.next_node_index(&g.name_prefix);
            let node = self.group_node(g, index)?;
            let name = node.name.clone();
            self.add_node(node);
            ids.extend(self.cluster.node_id(&name));
        }
        if g.max_size.is_some() {
            match self
                .autoscaler
                .groups
                .iter_mut()
                .find(|x| x.spec.name_prefix == g.name_prefix)
            {
                Some(group) => group.nodes.extend(ids),
                None => self.autoscaler.groups.push(autoscaler::Group {
                    spec: g.clone(),
                    nodes: ids,
                    upcoming: 0,
                }),
            }
        }
        Ok(())
    }
}
