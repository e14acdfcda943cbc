//! The simulation: cluster state, the scheduler with its queue, pod controllers and kubelets,
//! driven by one engine.

use crate::output::{LogEvent, Metrics};
use crate::params::Params;
use crate::scenario::{Behaviour, Change, FaultKind, NodeGroup, ObjectKind, Scenario};
use cascade_engine::{Engine, Time};
use cascade_manifest::Manifests;
use cascade_model::objects::OwnerRef;
use cascade_model::Requirement;
use cascade_model::{
    Node, NodeSelector, NodeSelectorTerm, Pod, PodManagementPolicy, PodTemplate, PriorityClasses,
    Rng, UpdateStrategy, Workload, WorkloadKind,
};
use cascade_scheduler::{
    clear_lower_nominations, filter, queue_order, Cluster, NodeId, Outcome, PodId, Scheduler,
};
use cascade_services::{Effect, Out, PodInfo, SvcEv, World};
use std::collections::{BTreeMap, BTreeSet};

mod autoscaler;
mod gossip;
mod node_lifecycle;
mod runtime;

/// What happens in the cluster, in simulated time.
#[derive(Clone, Debug)]
pub enum Ev {
    /// One scheduling cycle: the scheduler takes the head of its active queue.
    SchedulingCycle,
    /// A pod's backoff has expired (the attempt number guards against stale timers).
    BackoffDone(PodId, u32),
    /// The kubelet has pulled the image and started the containers.
    ContainersStarted(PodId),
    /// The readiness probe first succeeds (after the n-th container start).
    PodReady(PodId, u32),
    /// The kernel's OOM killer ends the container (of the n-th start).
    OomKill(PodId, u32),
    /// A terminating pod's containers have exited: the pod object is removed.
    PodGone(PodId),
    /// A controller syncs a workload.
    Sync(usize),
    /// A scenario change.
    Change(usize),
    /// Metrics sample.
    Sample,
    /// The scheduling queue moves pods that stayed unschedulable too long.
    FlushUnschedulable,
    /// The node lifecycle controller checks node health.
    NodeMonitor,
    /// The taint manager's eviction of a pod from a NoExecute-tainted node (the taint's epoch
    /// guards against a timer from an earlier taint).
    Evict(PodId, NodeId, u32),
    /// A scenario fault starts.
    FaultStart(usize),
    /// A scenario fault ends.
    FaultEnd(usize),
    /// A flapping fault's service goes down (true) or up (false).
    Flap(usize, bool),
    /// The cluster autoscaler's scan.
    AutoscalerScan,
    /// A node the autoscaler asked for joins (node group index).
    NodeProvisioned(usize),
    /// A timer of the services on the cluster (cascade-services).
    Svc(SvcEv),
    /// A sidecar's retry (pod, sidecar index, container start it belongs to).
    Sidecar(PodId, u16, u32),
    /// The cluster and the gossip pool meet (agents' CPU, catalog writes).
    GossipStep,
    /// A redeploy restarts a pod's gossip agent (the member it replaces).
    GossipRestart(PodId, u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Starting,
    Running,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queued {
    No,
    Active,
    Backoff,
    Unschedulable(Time),
}

/// What the simulation tracks for a live pod beside the scheduler's view.
#[derive(Clone, Debug)]
struct PodRt {
    workload: Option<usize>,
    revision: u32,
    /// For DaemonSet pods: the node they are for.
    daemon_node: Option<NodeId>,
    phase: Phase,
    ready: bool,
    attempts: u32,
    last_attempt: Time,
    /// kube-scheduler's QueuedPodInfo.Timestamp: when the pod was added to the queue,
    /// refreshed when a failed attempt puts it back (AddUnschedulableIfNotPresent). The active
    /// queue orders by priority, then by this.
    queued_at: i64,
    queued: Queued,
    behaviour: Option<usize>,
    /// Container starts so far (stale timers from an earlier start are ignored).
    starts: u32,
    /// Restarts counted for CrashLoopBackOff, and when the container last started.
    restarts: u32,
    last_start: Time,
    /// Its containers' steady load is counted on its node's runtime.
    runtime_load: bool,
}

#[derive(Clone, Debug)]
struct WorkloadRt {
    w: Workload,
    /// The update revision: bumped when the template changes (except a ReplicaSet's).
    revision: u32,
    /// A StatefulSet's current revision and its template while an update is under way:
    /// the ordinals the rolling update has not reached are recreated from it
    /// (stateful_set_control.go newVersionedStatefulSetPod).
    current: Option<(u32, PodTemplate)>,
    pods: Vec<PodId>,
    deleted: bool,
    sync_pending: bool,
}

/// The simulation of one scenario run.
pub struct Simulation<'a> {
    sc: &'a Scenario,
    p: Params,
    engine: Engine<Ev>,
    cluster: Cluster,
    scheduler: Scheduler,
    classes: PriorityClasses,
    workloads: Vec<WorkloadRt>,
    rt: Vec<Option<PodRt>>,
    active: BTreeSet<(i64, i64, PodId)>,
    /// Pods parked as unschedulable (kube-scheduler's unschedulablePods), by id.
    unschedulable: BTreeSet<PodId>,
    cycle_pending: bool,
    /// The node lifecycle controller's view of each node, by NodeId.
    nodes_rt: Vec<node_lifecycle::NodeRt>,
    zones: node_lifecycle::Zones,
    autoscaler: autoscaler::Autoscaler,
    /// Next index for generated node names, per prefix.
    node_names: BTreeMap<String, usize>,
    names: Rng,
    start_ms: i64,
    horizon: Time,
    seed: u64,
    pub metrics: Metrics,
    /// Per fault: whether it is in effect (for flapping ones).
    fault_active: Vec<bool>,
    /// Each node's container runtime daemon, by NodeId.
    runtimes: Vec<runtime::RuntimeRt>,
    /// Running pods' sidecars, by PodId: the container start they belong to, and each one's
    /// state.
    sidecars: Vec<Option<(u32, Vec<runtime::SidecarState>)>>,
    sidecar_rng: Rng,
    /// The services, rings, remote_write fleets and clients living on the cluster.
    pub services: World,
    /// The gossip pool, when some behaviour runs a gossip agent.
    gossip: Option<gossip::GossipRt>,
    gossip_rng: Rng,
    /// Reused buffer for what the services answer.
    svc_out: Out,
    pub log: Vec<LogEvent>,
    /// Namespace and labels of every pod ever created, by PodId (for counting by selector).
    pub pod_meta: Vec<(String, cascade_model::Labels)>,
}

fn secs(s: f64) -> Time {
    Time::from_secs_f64(s)
}

impl<'a> Simulation<'a> {
    pub fn new(sc: &'a Scenario) -> Result<Self, String> {
        Self::with_seed(sc, sc.seed)
    }

    /// The scenario with another seed (a sweep shares one loaded scenario between runs).
    pub fn with_seed(sc: &'a Scenario, seed: u64) -> Result<Self, String> {
        let p = sc.params.clone();
        let start_ms = sc.start_ms;
        let services = World::new(p.services_config(), seed)?;
        let mut sim = Simulation {
            sc,
            services,
            svc_out: Out::default(),
            fault_active: vec![false; sc.spec.faults.len()],
            runtimes: Vec::new(),
            sidecars: Vec::new(),
            sidecar_rng: Rng::stream(seed, "sidecars"),
            gossip: sc
                .spec
                .behaviours
                .iter()
                .any(|b| b.gossip_agent.is_some())
                .then(|| gossip::GossipRt::new(&p.gossip, seed)),
            gossip_rng: Rng::stream(seed, "gossip-redeploy"),
            scheduler: Scheduler::new(p.scheduler.clone(), Rng::stream(seed, "scheduler")),
            names: Rng::stream(seed, "controller-names"),
            seed,
            p,
            engine: Engine::new(),
            cluster: Cluster::new(),
            classes: PriorityClasses::new(),
            workloads: Vec::new(),
            rt: Vec::new(),
            active: BTreeSet::new(),
            unschedulable: BTreeSet::new(),
            cycle_pending: false,
            nodes_rt: Vec::new(),
            zones: Default::default(),
            autoscaler: Default::default(),
            node_names: BTreeMap::new(),
            start_ms,
            horizon: secs(sc.spec.duration.0),
            metrics: Metrics::default(),
            log: Vec::new(),
            pod_meta: Vec::new(),
        };
        sim.setup()?;
        Ok(sim)
    }

    fn now(&self) -> Time {
        self.engine.now()
    }

    fn wall_ms(&self) -> i64 {
        self.start_ms + self.now().as_millis() as i64
    }

    fn record(&mut self, kind: &'static str, object: String, message: String, pod: Option<PodId>) {
        self.log.push(LogEvent {
            t: self.now(),
            kind,
            object,
            message,
            pod,
        });
    }

    /// The cluster as it is at time 0: generated nodes, then the manifests' objects. Pods
    /// bound in the manifests are running; workloads create their missing pods now, before
    /// any change, so they are admitted against the PriorityClasses that exist at time 0.
    fn setup(&mut self) -> Result<(), String> {
        let scale = |count: usize, scaled: bool, k: f64| {
            if scaled && k.is_finite() && k > 0.0 && (k - 1.0).abs() > f64::EPSILON {
                ((count as f64 * k).round() as usize).max(1)
            } else {
                count
            }
        };
        let k = self.p.generator_scale;
        for mut g in self.sc.spec.cluster.node_groups.clone() {
            g.count = scale(g.count, g.scaled, k);
            self.add_node_group(&g)?;
        }
        let files: Vec<String> = self.sc.spec.cluster.manifests.clone();
        for f in &files {
            let m = &self.sc.files[f].manifests;
            self.apply_manifests(m, true);
        }
        for mut g in self.sc.spec.cluster.workload_groups.clone() {
            g.count = scale(g.count, g.scaled, k);
            for w in crate::generate::generate_workloads(&g)? {
                self.apply_workload(w);
            }
        }
        for i in 0..self.workloads.len() {
            self.sync(i);
        }
        for (i, c) in self.sc.spec.changes.iter().enumerate() {
            self.engine.schedule(secs(c.at.0), Ev::Change(i));
        }
        for (i, f) in self.sc.spec.faults.iter().enumerate() {
            self.engine.schedule(secs(f.at.0), Ev::FaultStart(i));
            if let Some(d) = f.duration {
                self.engine.schedule(secs(f.at.0 + d.0), Ev::FaultEnd(i));
            }
        }
        self.engine.schedule(Time::ZERO, Ev::Sample);
        if self.gossip.is_some() {
            self.engine.schedule(Time::ZERO, Ev::GossipStep);
        }
        if !self.services.is_empty() {
            // The services' steady state is what runs before the first change or fault.
            let first = self
                .sc
                .spec
                .changes
                .iter()
                .map(|c| c.at.0)
                .chain(self.sc.spec.faults.iter().map(|f| f.at.0))
                .fold(self.horizon.as_secs_f64(), f64::min);
            self.services.set_baseline_until(secs(first));
            let mut out = std::mem::take(&mut self.svc_out);
            self.services.start(Time::ZERO, &mut out);
            self.apply_svc(out);
        }
        if !self.autoscaler.groups.is_empty() {
            let scan = secs(self.p.cluster_autoscaler.scan_interval_seconds);
            self.engine.schedule(scan, Ev::AutoscalerScan);
        }
        self.engine.schedule(
            secs(self.p.node_lifecycle.node_monitor_period_seconds),
            Ev::NodeMonitor,
        );
        self.engine.schedule(
            secs(self.p.scheduling_queue.unschedulable_flush_interval_seconds),
            Ev::FlushUnschedulable,
        );
        Ok(())
    }

    /// Adds `g.count` nodes of a group; an autoscaled group is registered with the autoscaler.
    fn add_node_group(&mut self, g: &NodeGroup) -> Result<(), String> {
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

    /// Removes a node and its pods (a deleted Node object; the pod GC removes its pods).
    fn remove_node(&mut self, id: NodeId) {
        let pods = self.cluster.node(id).pods.clone();
        for p in pods {
            self.pod_gone(p);
        }
        let name = self.cluster.node(id).node.name.clone();
        self.cluster.remove_node(id);
        self.record("NodeDeleted", format!("node/{name}"), String::new(), None);
    }

    fn add_node(&mut self, node: Node) {
        let name = node.name.clone();
        match self.cluster.add_node(node) {
            Ok(id) => {
                *self.node_rt(id) = node_lifecycle::NodeRt::default();
                self.metrics.count("nodes_added", 1);
                self.record("NodeAdded", format!("node/{name}"), String::new(), None);
                for i in 0..self.workloads.len() {
                    if self.workloads[i].w.kind == WorkloadKind::DaemonSet {
                        self.request_sync(i);
                    }
                }
                self.move_all_to_active_or_backoff();
            }
            Err(e) => self.record("ChangeFailed", format!("node/{name}"), e.to_string(), None),
        }
    }

    /// Applies every object of a manifest set (create or update).
    fn apply_manifests(&mut self, m: &Manifests, initial: bool) {
        for c in &m.priority_classes {
            self.classes.apply(c.object.clone());
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
            match p.object.admit(&self.classes) {
                Ok(pod) => {
                    let bound = pod.node_name.is_some();
                    if let Some(id) = self.create_pod(pod, None, 0, initial && bound) {
                        let w = self.adopter(id);
                        if let (Some(w), Some(rt)) = (w, self.rt[id as usize].as_mut()) {
                            rt.workload = Some(w);
                            self.workloads[w].pods.push(id);
                        }
                    }
                }
                Err(e) => {
                    self.metrics.count("pods_rejected", 1);
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
    fn refresh_pdbs(&mut self) {
        let updates: Vec<(u32, i32)> = self
            .cluster
            .pdbs()
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let owners = self
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
                any.then_some((i as u32, expected))
            })
            .collect();
        for (i, expected) in updates {
            self.cluster.set_pdb_expected(i, expected);
        }
    }

    /// The workload whose selector adopts a pod (controllers adopt matching orphans).
    fn adopter(&self, id: PodId) -> Option<usize> {
        let pod = &self.cluster.pod(id).pod;
        self.workloads.iter().position(|w| {
            !w.deleted && w.w.namespace == pod.namespace && w.w.selector.matches(&pod.labels)
        })
    }

    fn apply_workload(&mut self, w: Workload) {
        let existing = self.workloads.iter().position(|x| {
            !x.deleted && x.w.kind == w.kind && x.w.namespace == w.namespace && x.w.name == w.name
        });
        let key = format!("{:?}/{}/{}", w.kind, w.namespace, w.name).to_lowercase();
        match existing {
            Some(i) => {
                let changed = self.workloads[i].w.template != w.template;
                // A ReplicaSet's new template applies to pods it creates from now on; the
                // other controllers start a new revision and move their pods onto it as their
                // update strategy says.
                let message = if !changed {
                    String::new()
                } else {
                    let rt = &mut self.workloads[i];
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
                self.workloads[i].w = w;
                self.record("WorkloadUpdated", key, message, None);
                self.request_sync(i);
            }
            None => {
                self.workloads.push(WorkloadRt {
                    w,
                    revision: 0,
                    current: None,
                    pods: Vec::new(),
                    deleted: false,
                    sync_pending: false,
                });
                let i = self.workloads.len() - 1;
                // Adopt matching orphans.
                let orphans: Vec<PodId> = self
                    .cluster
                    .pods()
                    .filter(|(id, _)| {
                        self.rt[*id as usize]
                            .as_ref()
                            .is_some_and(|r| r.workload.is_none())
                    })
                    .filter(|(_, e)| {
                        e.pod.namespace == self.workloads[i].w.namespace
                            && self.workloads[i].w.selector.matches(&e.pod.labels)
                    })
                    .map(|(id, _)| id)
                    .collect();
                for id in orphans {
                    if let Some(rt) = self.rt[id as usize].as_mut() {
                        rt.workload = Some(i);
                        self.workloads[i].pods.push(id);
                    }
                }
                self.record("WorkloadCreated", key, String::new(), None);
                self.request_sync(i);
            }
        }
    }

    fn behaviour_of(&self, pod: &Pod) -> Option<usize> {
        self.sc
            .spec
            .behaviours
            .iter()
            .position(|b| b.selector.matches(pod))
    }

    fn behaviour(&self, id: PodId) -> Option<&Behaviour> {
        self.rt[id as usize]
            .as_ref()
            .and_then(|r| r.behaviour)
            .map(|i| &self.sc.spec.behaviours[i])
    }

    /// Adds a pod. `running` pods (a snapshot's bound pods at time 0) start running and ready.
    fn create_pod(
        &mut self,
        mut pod: Pod,
        workload: Option<usize>,
        revision: u32,
        running: bool,
    ) -> Option<PodId> {
        self.default_tolerations(&mut pod.tolerations);
        let key = pod.key();
        let behaviour = self.behaviour_of(&pod);
        let meta = (pod.namespace.clone(), pod.labels.clone());
        let result = if running {
            self.cluster.add_pod(pod)
        } else {
            self.cluster.add_pending_pod(pod)
        };
        let id = match result {
            Ok(id) if running => {
                if self.cluster.pod(id).pod.start_time.is_none() {
                    let at = self.wall_ms();
                    self.cluster.set_start_time(id, at);
                }
                id
            }
            Ok(id) => id,
            Err(e) => {
                self.record("FailedCreate", format!("pod/{key}"), e.to_string(), None);
                return None;
            }
        };
        if self.rt.len() <= id as usize {
            self.rt.resize(id as usize + 1, None);
            self.pod_meta.resize(id as usize + 1, Default::default());
        }
        self.pod_meta[id as usize] = meta;
        self.rt[id as usize] = Some(PodRt {
            workload,
            revision,
            daemon_node: None,
            phase: if running {
                Phase::Running
            } else {
                Phase::Pending
            },
            ready: running,
            attempts: 0,
            last_attempt: Time::ZERO,
            queued_at: 0,
            queued: Queued::No,
            behaviour,
            starts: 0,
            restarts: 0,
            last_start: Time::ZERO,
            runtime_load: false,
        });
        let prio = self.cluster.pod(id).pod.priority;
        let created = self.cluster.pod(id).pod.creation_timestamp;
        self.rt[id as usize].as_mut().expect("rt").queued_at = created;
        self.metrics.count("pods_created", 1);
        self.record(
            "Created",
            format!("pod/{key}"),
            format!("priority {prio}"),
            Some(id),
        );
        if !running {
            self.enqueue_active(id);
        }
        Some(id)
    }

    // ----- the scheduling queue -----

    fn enqueue_active(&mut self, id: PodId) {
        let e = self.cluster.pod(id);
        let rt = self.rt[id as usize].as_mut().expect("rt");
        if e.node.is_some() || e.pod.terminating || rt.queued == Queued::Active {
            return;
        }
        rt.queued = Queued::Active;
        self.active
            .insert((-(e.pod.priority as i64), rt.queued_at, id));
        if !self.cycle_pending {
            self.cycle_pending = true;
            self.engine.schedule(self.now(), Ev::SchedulingCycle);
        }
    }

    fn backoff(&self, attempts: u32) -> Time {
        let q = &self.p.scheduling_queue;
        let d =
            q.pod_initial_backoff_seconds * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
        secs(d.min(q.pod_max_backoff_seconds))
    }

    /// MoveAllToActiveOrBackoffQueue: a cluster event (a pod deleted, a node added) may have
    /// made room; unschedulable pods go back to the active queue, or to backoff if their
    /// backoff has not expired.
    fn move_all_to_active_or_backoff(&mut self) {
        let waiting: Vec<PodId> = self.unschedulable.iter().copied().collect();
        for id in waiting {
            self.move_to_active_or_backoff(id);
        }
    }

    fn park_unschedulable(&mut self, id: PodId) {
        let now = self.now();
        let now_ms = self.wall_ms();
        let rt = self.rt[id as usize].as_mut().expect("rt");
        rt.queued = Queued::Unschedulable(now);
        rt.queued_at = now_ms;
        self.unschedulable.insert(id);
    }

    fn move_to_active_or_backoff(&mut self, id: PodId) {
        self.unschedulable.remove(&id);
        let rt = self.rt[id as usize].as_ref().expect("rt");
        let until = rt.last_attempt + self.backoff(rt.attempts);
        if until <= self.now() {
            self.rt[id as usize].as_mut().expect("rt").queued = Queued::No;
            self.enqueue_active(id);
        } else {
            let rt = self.rt[id as usize].as_mut().expect("rt");
            rt.queued = Queued::Backoff;
            let attempt = rt.attempts;
            self.engine.schedule(until, Ev::BackoffDone(id, attempt));
        }
    }

    fn scheduling_cycle(&mut self) {
        self.cycle_pending = false;
        let Some(&head) = self.active.iter().next() else {
            return;
        };
        self.active.remove(&head);
        let id = head.2;
        if self.cluster.try_pod(id).is_none() {
            return self.next_cycle();
        }
        {
            let rt = self.rt[id as usize].as_mut().expect("rt");
            rt.queued = Queued::No;
            rt.attempts += 1;
            rt.last_attempt = self.engine.now();
        }
        let d = self.scheduler.schedule_one(&mut self.cluster, id);
        let key = self.cluster.pod(id).pod.key();
        match d.outcome {
            Outcome::Scheduled(node) => {
                self.cluster.bind(id, node);
                let at = self.wall_ms();
                self.cluster.set_start_time(id, at);
                let node_name = self.cluster.node(node).node.name.clone();
                self.metrics.count("pods_scheduled", 1);
                self.record(
                    "Scheduled",
                    format!("pod/{key}"),
                    format!("Successfully assigned {key} to {node_name}"),
                    Some(id),
                );
                self.rt[id as usize].as_mut().expect("rt").phase = Phase::Starting;
                // Creating the containers queues on the node's runtime daemon: a busy one
                // delays the start by the wait behind its backlog.
                let ops = self.containers(id) as f64 * self.p.kubelet.runtime.container_start_ops;
                let done = self.runtime_submit(node, ops);
                let wait = (done - ops / self.p.kubelet.runtime.ops_per_second.max(1e-9)).max(0.0);
                let startup = self
                    .behaviour(id)
                    .and_then(|b| b.startup_seconds)
                    .unwrap_or(
                        self.p.kubelet.image_pull_seconds + self.p.kubelet.container_start_seconds,
                    )
                    + wait;
                self.engine
                    .schedule_in(secs(startup), Ev::ContainersStarted(id));
            }
            Outcome::Preempting { node, victims } => {
                let node_name = self.cluster.node(node).node.name.clone();
                for v in victims {
                    if self.cluster.pod(v).pod.terminating {
                        continue; // already being deleted: nothing to do (PreemptPod skips it)
                    }
                    let vkey = self.cluster.pod(v).pod.key();
                    self.metrics.count("pods_preempted", 1);
                    self.record(
                        "Preempted",
                        format!("pod/{vkey}"),
                        format!("Preempted by pod {key} on node {node_name}"),
                        Some(v),
                    );
                    self.cluster.set_preempted(v);
                    self.terminate(v);
                }
                clear_lower_nominations(&mut self.cluster, id, node);
                self.cluster.nominate(id, Some(node));
                self.record(
                    "Nominated",
                    format!("pod/{key}"),
                    format!("nominatedNodeName {node_name}: {}", d.message),
                    Some(id),
                );
                self.park_unschedulable(id);
            }
            Outcome::Unschedulable => {
                self.metrics.count("scheduling_failures", 1);
                // A failed attempt with no new nomination overrides the old one with "" (the
                // PostFilter result's ModeOverride in handleSchedulingFailure).
                if self.cluster.pod(id).nominated.is_some() {
                    self.cluster.nominate(id, None);
                }
                if self.rt[id as usize].as_ref().expect("rt").attempts == 1 {
                    self.record(
                        "FailedScheduling",
                        format!("pod/{key}"),
                        d.message,
                        Some(id),
                    );
                }
                self.park_unschedulable(id);
            }
        }
        self.next_cycle();
    }

    fn next_cycle(&mut self) {
        if !self.active.is_empty() && !self.cycle_pending {
            self.cycle_pending = true;
            self.engine.schedule_in(
                secs(self.p.scheduling_queue.scheduling_cycle_seconds),
                Ev::SchedulingCycle,
            );
        }
    }

    // ----- kubelet -----

    /// Starts a pod's graceful termination: it keeps its resources until its containers exit,
    /// after min(shutdown time, terminationGracePeriodSeconds). A pod never bound goes at once.
    fn terminate(&mut self, id: PodId) {
        let e = self.cluster.pod(id);
        if e.pod.terminating {
            return;
        }
        let bound = e.node.is_some();
        self.cluster.set_terminating(id);
        if let Some(rt) = self.rt[id as usize].as_mut() {
            rt.ready = false;
            if rt.queued == Queued::Active {
                let e = self.cluster.pod(id);
                self.active
                    .remove(&(-(e.pod.priority as i64), rt.queued_at, id));
            }
            rt.queued = Queued::No;
        }
        self.unschedulable.remove(&id);
        // SIGTERM: a process with a shutdown of its own (an ingester handing over) reports
        // its exit; the kubelet only enforces the grace period.
        let claimed = self.svc_call(|w, now, out| w.terminating(now, id, out));
        if !bound {
            self.engine.schedule_in(Time::ZERO, Ev::PodGone(id));
        } else if self.node_is_up(self.cluster.pod(id).node.expect("bound")) {
            if claimed {
                let grace = self.cluster.pod(id).pod.termination_grace_period_seconds as f64;
                self.engine.schedule_in(secs(grace), Ev::PodGone(id));
                self.gossip_leave(id, 0.0);
            } else {
                let sigterm = self.schedule_pod_gone(id);
                self.gossip_leave(id, sigterm);
            }
        }
        // On a node that is down the kubelet cannot confirm the deletion: the pod stays
        // Terminating, holding its place, until the node returns.
        if let Some(w) = self.rt[id as usize].as_ref().and_then(|r| r.workload) {
            self.request_sync(w);
        }
    }

    /// The kubelet stops the pod: gone after min(shutdown time, terminationGracePeriodSeconds).
    /// Returns how long until the runtime delivers the SIGTERM.
    fn schedule_pod_gone(&mut self, id: PodId) -> f64 {
        let grace = self.cluster.pod(id).pod.termination_grace_period_seconds as f64;
        let shutdown = self
            .behaviour(id)
            .and_then(|b| b.shutdown_seconds)
            .unwrap_or(self.p.kubelet.default_shutdown_seconds);
        // Stopping the containers queues on the runtime too: a busy daemon keeps the pod
        // Terminating longer.
        let stop = match self.cluster.pod(id).node {
            Some(node) => {
                let ops = self.containers(id) as f64 * self.p.kubelet.runtime.container_stop_ops;
                self.runtime_submit(node, ops)
            }
            None => 0.0,
        };
        self.engine
            .schedule_in(secs(shutdown.min(grace).max(stop)), Ev::PodGone(id));
        stop
    }

    fn containers_started(&mut self, id: PodId) {
        let Some(rt) = self.rt[id as usize].as_mut() else {
            return;
        };
        if self.cluster.pod(id).pod.terminating {
            return;
        }
        rt.phase = Phase::Running;
        rt.starts += 1;
        rt.last_start = self.engine.now();
        let starts = rt.starts;
        let counted = std::mem::replace(&mut rt.runtime_load, true);
        if let Some(node) = self.cluster.pod(id).node {
            if !counted {
                let n = self.containers(id);
                self.runtime_background(node, n, 1.0);
            }
        }
        self.sidecars_started(id);
        self.gossip_join(id, crate::scenario::JoinOn::Start);
        if let Some(r) = self.behaviour(id).and_then(|b| b.registers.clone()) {
            self.svc_call(|w, now, out| w.submit(now, &r.service, r.on_start, out));
        }
        let key = self.cluster.pod(id).pod.key();
        self.record("Started", format!("pod/{key}"), String::new(), Some(id));
        if !self.services.is_empty() {
            let pod = &self.cluster.pod(id).pod;
            let info = PodInfo {
                name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                labels: pod.labels.clone(),
                memory_limit: pod.memory_limit,
            };
            self.svc_call(|w, now, out| w.container_started(now, id, &info, out));
        }
        // On a partitioned node its replicas start cut off (its gossip agent already joined
        // on its node's side).
        if let Some(node) = self.cluster.pod(id).node {
            if self.node_rt(node).partition != 0 {
                self.svc_call(|w, now, out| w.set_pod_cut_off(now, id, true, out));
            }
        }
        // A container whose memory grows past its limit is OOM-killed when it gets there.
        let limit = self.cluster.pod(id).pod.memory_limit;
        if let Some(m) = self.behaviour(id).and_then(|b| b.memory.clone()) {
            if limit > 0 && m.growth_per_minute.0 > 0 {
                let minutes = (limit - m.start.0).max(0) as f64 / m.growth_per_minute.0 as f64;
                self.engine
                    .schedule_in(secs(minutes * 60.0), Ev::OomKill(id, starts));
            }
        }
        // Ready, and for a controller available: minReadySeconds after the probe succeeds.
        let probe = self
            .behaviour(id)
            .and_then(|b| b.readiness_seconds)
            .unwrap_or(self.p.kubelet.readiness_seconds);
        let min_ready = self.rt[id as usize]
            .as_ref()
            .and_then(|r| r.workload)
            .map_or(0, |w| self.workloads[w].w.min_ready_seconds);
        self.engine
            .schedule_in(secs(probe + f64::from(min_ready)), Ev::PodReady(id, starts));
    }

    /// OOMKilled, then restarted after CrashLoopBackOff's delay.
    fn oom_kill(&mut self, id: PodId, starts: u32) {
        let now = self.now();
        let k = self.p.kubelet.clone();
        let Some(rt) = self.rt[id as usize].as_mut() else {
            return;
        };
        if rt.starts != starts || self.cluster.pod(id).pod.terminating {
            return;
        }
        if now - rt.last_start >= secs(k.crash_loop_reset_seconds) {
            rt.restarts = 0;
        }
        rt.restarts += 1;
        rt.ready = false;
        rt.phase = Phase::Starting;
        self.svc_call(|w, now, out| w.process_died(now, id, out));
        let Some(rt) = self.rt[id as usize].as_mut() else {
            return;
        };
        let delay = (k.crash_loop_initial_backoff_seconds
            * 2f64.powi(rt.restarts.saturating_sub(1).min(30) as i32))
        .min(k.crash_loop_max_backoff_seconds);
        let workload = rt.workload;
        let key = self.cluster.pod(id).pod.key();
        self.metrics.count("pods_oom_killed", 1);
        self.record(
            "OOMKilled",
            format!("pod/{key}"),
            format!("container exceeded its memory limit; back-off {delay}s restarting failed container"),
            Some(id),
        );
        self.engine
            .schedule_in(secs(delay), Ev::ContainersStarted(id));
        if let Some(w) = workload {
            self.request_sync(w);
        }
    }

    fn pod_ready(&mut self, id: PodId, starts: u32) {
        let Some(rt) = self.rt[id as usize].as_mut() else {
            return;
        };
        if self.cluster.pod(id).pod.terminating || rt.starts != starts {
            return;
        }
        rt.ready = true;
        if let Some(w) = rt.workload {
            self.request_sync(w);
        }
        self.gossip_join(id, crate::scenario::JoinOn::Ready);
        self.svc_call(|w, now, out| w.pod_ready(now, id, out));
    }

    fn pod_gone(&mut self, id: PodId) {
        if self.cluster.try_pod(id).is_none() {
            return;
        }
        self.svc_call(|w, now, out| w.pod_gone(now, id, out));
        self.sidecars_stopped(id);
        self.gossip_gone(id);
        let started = self.rt[id as usize].as_ref().is_some_and(|r| r.starts > 0);
        if let Some(r) = self.behaviour(id).and_then(|b| b.registers.clone()) {
            if started {
                self.svc_call(|w, now, out| w.submit(now, &r.service, r.on_stop, out));
            }
        }
        if self.rt[id as usize]
            .as_ref()
            .is_some_and(|r| r.runtime_load)
        {
            if let Some(node) = self.cluster.pod(id).node {
                let n = self.containers(id);
                self.runtime_background(node, n, -1.0);
            }
        }
        let pod = self.cluster.delete_pod(id);
        let rt = self.rt[id as usize].take().expect("rt");
        self.unschedulable.remove(&id);
        self.metrics.count("pods_deleted", 1);
        self.record(
            "Deleted",
            format!("pod/{}", pod.key()),
            String::new(),
            Some(id),
        );
        if let Some(w) = rt.workload {
            self.workloads[w].pods.retain(|p| *p != id);
            self.request_sync(w);
        }
        self.move_all_to_active_or_backoff();
    }

    // ----- controllers -----

    fn request_sync(&mut self, w: usize) {
        if !self.workloads[w].sync_pending {
            self.workloads[w].sync_pending = true;
            self.engine
                .schedule_in(secs(self.p.controllers.sync_delay_seconds), Ev::Sync(w));
        }
    }

    fn sync(&mut self, w: usize) {
        self.workloads[w].sync_pending = false;
        if self.workloads[w].deleted {
            return;
        }
        match self.workloads[w].w.kind {
            WorkloadKind::Deployment | WorkloadKind::ReplicaSet => self.sync_replicas(w),
            WorkloadKind::StatefulSet => self.sync_stateful(w),
            WorkloadKind::DaemonSet => self.sync_daemon(w),
        }
    }

    fn new_pod(&mut self, w: usize, name: String) -> Option<PodId> {
        let revision = self.workloads[w].revision;
        self.new_pod_from(w, name, None, revision)
    }

    /// A pod of workload `w` from `template` (the workload's own when None) at `revision`.
    fn new_pod_from(
        &mut self,
        w: usize,
        name: String,
        template: Option<&PodTemplate>,
        revision: u32,
    ) -> Option<PodId> {
        let wl = &self.workloads[w];
        let mut pod = match template.unwrap_or(&wl.w.template).admit(&self.classes) {
            Ok(p) => p,
            Err(e) => {
                let key = format!("{}/{}", wl.w.namespace, wl.w.name);
                self.metrics.count("pods_rejected", 1);
                self.record(
                    "FailedCreate",
                    format!("{:?}/{key}", wl.w.kind).to_lowercase(),
                    e.to_string(),
                    None,
                );
                return None;
            }
        };
        pod.name = name;
        pod.creation_timestamp = self.wall_ms();
        pod.owner = Some(OwnerRef {
            kind: format!("{:?}", wl.w.kind),
            name: wl.w.name.clone(),
        });
        let id = self.create_pod(pod, Some(w), revision, false)?;
        self.workloads[w].pods.push(id);
        Some(id)
    }

    /// A random 5-character suffix from the alphabet Kubernetes uses for generated names.
    fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[self.names.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// ReplicaSet and Deployment: keep `replicas` active pods; a pod that is terminating no
    /// longer counts, so its replacement is created at once (FilterActivePods). When the
    /// template changes, roll with maxSurge / maxUnavailable.
    fn sync_replicas(&mut self, w: usize) {
        let replicas = self.workloads[w].w.replicas.max(0) as usize;
        let rev = self.workloads[w].revision;
        let active: Vec<PodId> = self.workloads[w]
            .pods
            .iter()
            .copied()
            .filter(|p| !self.cluster.pod(*p).pod.terminating)
            .collect();
        let rt = |p: &PodId| self.rt[*p as usize].as_ref().expect("rt");
        let (new, old): (Vec<PodId>, Vec<PodId>) =
            active.iter().partition(|p| rt(p).revision == rev);
        let burst = self.p.controllers.burst_replicas;
        let mut create = 0usize;
        let mut delete: Vec<PodId> = Vec::new();
        // Recreate waits until the old pods are gone, not just terminating.
        let old_terminating = self.workloads[w].w.update_strategy == UpdateStrategy::Recreate
            && self.workloads[w].pods.iter().any(|p| rt(p).revision != rev);
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
                        rt(p).ready,
                        std::cmp::Reverse(e.pod.creation_timestamp),
                    )
                });
                delete = surplus
                    .into_iter()
                    .take((new.len() - replicas).min(burst))
                    .collect();
            }
        } else if self.workloads[w].w.update_strategy == UpdateStrategy::Recreate {
            // Recreate: every old pod goes first; the new ones are created only when no old
            // pod is left, terminating ones included (deployment/recreate.go).
            delete = old.clone();
        } else {
            let wl = &self.workloads[w].w;
            let surge = wl.max_surge.scaled(replicas as i32).max(0) as usize;
            let mut unavailable = wl.max_unavailable.scaled_down(replicas as i32).max(0) as usize;
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total = new.len() + old.len();
            if new.len() < replicas && total < replicas + surge {
                create = (replicas - new.len()).min(replicas + surge - total);
            }
            let ready = active.iter().filter(|p| rt(p).ready).count();
            let min_available = replicas.saturating_sub(unavailable);
            let new_unavailable = new.iter().filter(|p| !rt(p).ready).count();
            let may_delete = total
                .saturating_sub(min_available)
                .saturating_sub(new_unavailable)
                .min(
                    ready.saturating_sub(min_available)
                        + old.iter().filter(|p| !rt(p).ready).count(),
                );
            let mut olds = old.clone();
            olds.sort_by_key(|p| {
                (
                    rt(p).ready,
                    std::cmp::Reverse(self.cluster.pod(*p).pod.creation_timestamp),
                )
            });
            delete = olds.into_iter().take(may_delete).collect();
        }
        let delete_len = delete.len();
        for p in delete {
            self.terminate(p);
        }
        for _ in 0..create {
            let suffix = self.suffix();
            let name = format!("{}-{suffix}", self.workloads[w].w.name);
            self.new_pod(w, name);
        }
        // The creations are observed at once (expectations met), so a controller held back by
        // burstReplicas syncs again for the rest.
        if burst > 0 && (create == burst || delete_len == burst) {
            self.request_sync(w);
        }
    }

    /// StatefulSet: pods NAME-0..N-1, each recreated with the same name once the old one is
    /// gone; OrderedReady creates ordinal i only when 0..i are running and ready. A rolling
    /// update deletes the highest ordinal not at the update revision, one pod at a time, and
    /// waits for each replacement to be Ready; ordinals below `partition` keep the current
    /// revision (stateful_set_control.go updateStatefulSet).
    fn sync_stateful(&mut self, w: usize) {
        let replicas = self.workloads[w].w.replicas.max(0) as usize;
        let name = self.workloads[w].w.name.clone();
        let ordered =
            self.workloads[w].w.pod_management_policy == PodManagementPolicy::OrderedReady;
        let update = self.workloads[w].revision;
        let mut by_ordinal: BTreeMap<usize, PodId> = BTreeMap::new();
        for &p in &self.workloads[w].pods {
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
        let revision_of = |s: &Self, p: PodId| s.rt[p as usize].as_ref().map(|r| r.revision);
        let healthy = |s: &Self, p: PodId| {
            s.rt[p as usize].as_ref().is_some_and(|r| r.ready) && !s.cluster.pod(p).pod.terminating
        };
        // The update is done once every pod is at the update revision.
        if self.workloads[w].current.is_some()
            && by_ordinal.len() == replicas
            && by_ordinal
                .values()
                .all(|p| revision_of(self, *p) == Some(update))
        {
            self.workloads[w].current = None;
        }
        // Which ordinals a new pod takes the current revision for: those below the partition,
        // or (without one) below status.currentReplicas.
        let current_below = match &self.workloads[w].current {
            None => 0,
            Some((rev, _)) => {
                let partition = self.workloads[w].w.partition.max(0) as usize;
                if self.workloads[w].w.update_strategy != UpdateStrategy::RollingUpdate {
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
                    let current = self.workloads[w].current.clone();
                    match current {
                        Some((rev, t)) if i < current_below => {
                            self.new_pod_from(w, format!("{name}-{i}"), Some(&t), rev)
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
                self.terminate(p);
                if ordered {
                    break;
                }
            }
        }
        if self.workloads[w].w.update_strategy != UpdateStrategy::RollingUpdate
            || self.workloads[w].current.is_none()
            || scaling_down
            || (ordered && !all_healthy)
        {
            return;
        }
        let partition = self.workloads[w].w.partition.max(0) as usize;
        for target in (partition..replicas).rev() {
            let Some(&p) = by_ordinal.get(&target) else {
                return;
            };
            if revision_of(self, p) != Some(update) && !self.cluster.pod(p).pod.terminating {
                self.terminate(p);
                return;
            }
            if !healthy(self, p) {
                return;
            }
        }
    }

    /// DaemonSet: one pod per node that the pod's template tolerates, pinned with node
    /// affinity on metadata.name (how the DaemonSet controller lets the scheduler place it).
    fn sync_daemon(&mut self, w: usize) {
        let mut template = self.workloads[w].w.template.pod.clone();
        // The DaemonSet controller adds tolerations for node conditions (daemon_controller.go
        // AddOrUpdateDaemonPodTolerations).
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
        let rev = self.workloads[w].revision;
        let mut on_node: BTreeMap<NodeId, (Option<PodId>, Vec<PodId>)> = BTreeMap::new();
        for &p in &self.workloads[w].pods {
            if self.cluster.pod(p).pod.terminating {
                continue;
            }
            let Some(r) = self.rt[p as usize].as_ref() else {
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
        let ready = |s: &Self, p: PodId| s.rt[p as usize].as_ref().is_some_and(|r| r.ready);
        let mut create: Vec<(NodeId, String)> = Vec::new();
        let mut delete: Vec<PodId> = Vec::new();
        let wl = &self.workloads[w].w;
        let rolling = wl.update_strategy == UpdateStrategy::RollingUpdate;
        let desired = eligible.len() as i32;
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
            self.terminate(p);
        }
        for (node, node_name) in create {
            let suffix = self.suffix();
            let name = format!("{}-{suffix}", self.workloads[w].w.name);
            let mut t = self.workloads[w].w.template.clone();
            t.pod.tolerations = template.tolerations.clone();
            t.pod.required_node_affinity = Some(NodeSelector {
                terms: vec![NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: vec![Requirement::In("metadata.name".into(), vec![node_name])],
                }],
            });
            let rev = self.workloads[w].revision;
            if let Some(id) = self.new_pod_from(w, name, Some(&t), rev) {
                self.rt[id as usize].as_mut().expect("rt").daemon_node = Some(node);
            }
        }
    }

    // ----- scenario changes -----

    fn change(&mut self, i: usize) {
        let c: Change = self.sc.spec.changes[i].clone();
        let what = c.description.clone().unwrap_or_default();
        self.metrics.count("changes_applied", 1);
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
                    if let Some(w) = self.workloads.iter().position(|x| {
                        !x.deleted
                            && Some(x.w.kind) == kind.workload()
                            && x.w.namespace == ns
                            && x.w.name == d.name
                    }) {
                        self.workloads[w].deleted = true;
                        for p in self.workloads[w].pods.clone() {
                            self.terminate(p);
                        }
                        self.refresh_pdbs();
                    }
                }
            }
        }
        if let Some(s) = &c.scale {
            let ns = s.namespace.clone().unwrap_or_else(|| "default".into());
            if let Some(w) = self.workloads.iter().position(|x| {
                !x.deleted && x.w.kind == s.kind && x.w.namespace == ns && x.w.name == s.name
            }) {
                self.workloads[w].w.replicas = s.replicas;
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
    fn fault(&mut self, i: usize, start: bool) {
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
            let side = if start { i as u32 + 1 } else { 0 };
            for id in cut {
                if start {
                    self.node_partitioned(id);
                } else {
                    self.node_up(id);
                }
                self.set_node_partition(id, side);
            }
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
                    self.engine.schedule_in(secs(fl.down.0), Ev::Flap(i, false));
                }
            }
        }
    }

    /// The next phase of a flapping dependency, while its fault lasts.
    fn flap(&mut self, i: usize, down: bool) {
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
        self.engine.schedule_in(secs(next), Ev::Flap(i, !down));
    }

    fn set_service_reachable(&mut self, name: &str, reachable: bool) {
        if self.svc_call(|w, now, out| w.set_service_reachable(now, name, reachable, out)) {
            let (counter, kind) = if reachable {
                ("dependency_up", "DependencyUp")
            } else {
                ("dependency_down", "DependencyDown")
            };
            self.metrics.count(counter, 1);
            self.record(kind, format!("service/{name}"), String::new(), None);
            if !reachable {
                self.sidecars_dependency_down(name);
            }
        }
    }

    fn flush_unschedulable(&mut self) {
        let limit = secs(
            self.p
                .scheduling_queue
                .pod_max_in_unschedulable_pods_seconds,
        );
        let stale: Vec<PodId> = self
            .unschedulable
            .iter()
            .map(|i| (*i as usize, &self.rt[*i as usize]))
            .filter_map(|(i, r)| match r {
                Some(PodRt {
                    queued: Queued::Unschedulable(since),
                    ..
                }) if *since + limit <= self.now() => Some(i as PodId),
                _ => None,
            })
            .collect();
        for id in stale {
            self.move_to_active_or_backoff(id);
        }
        self.engine.schedule_in(
            secs(self.p.scheduling_queue.unschedulable_flush_interval_seconds),
            Ev::FlushUnschedulable,
        );
    }

    fn sample(&mut self) {
        let mut pending = 0;
        let mut running = 0;
        let mut ready = 0;
        let mut terminating = 0;
        let mut nominated = 0;
        for (id, e) in self.cluster.pods() {
            let rt = self.rt[id as usize].as_ref().expect("rt");
            if e.pod.terminating {
                terminating += 1;
            } else if e.node.is_none() {
                pending += 1;
                if e.nominated.is_some() {
                    nominated += 1;
                }
            } else if rt.phase == Phase::Running {
                running += 1;
                if rt.ready {
                    ready += 1;
                }
            }
        }
        let nodes = self.cluster.node_count();
        let t = self.now();
        let mut row: Vec<(std::borrow::Cow<'static, str>, f64)> = [
            ("nodes", nodes as f64),
            ("pods_pending", pending as f64),
            ("pods_nominated", nominated as f64),
            ("pods_running", running as f64),
            ("pods_ready", ready as f64),
            ("pods_terminating", terminating as f64),
            ("nodes_not_ready", self.not_ready_nodes() as f64),
            (
                "pods_created_total",
                self.metrics.total("pods_created") as f64,
            ),
            (
                "pods_preempted_total",
                self.metrics.total("pods_preempted") as f64,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v))
        .collect();
        self.gossip_sample(&mut row);
        if !self.services.is_empty() {
            row.extend(
                self.services
                    .sample(t)
                    .into_iter()
                    .map(|(k, v)| (k.into(), v)),
            );
        }
        self.metrics.sample(t, row);
        self.metrics.peak("max_pending_pods", pending as f64);
        self.metrics
            .peak("max_terminating_pods", terminating as f64);
        self.engine
            .schedule_in(secs(self.p.sample_interval_seconds), Ev::Sample);
    }

    // ----- the services -----

    /// Calls into the services with the current time and applies what they answer.
    fn svc_call<R>(&mut self, f: impl FnOnce(&mut World, Time, &mut Out) -> R) -> R {
        let mut out = std::mem::take(&mut self.svc_out);
        let now = self.now();
        let r = f(&mut self.services, now, &mut out);
        self.apply_svc(out);
        r
    }

    /// Schedules the services' timers and carries out their effects on the cluster.
    fn apply_svc(&mut self, mut out: Out) {
        for (at, ev) in out.timers.drain(..) {
            self.engine.schedule(at, Ev::Svc(ev));
        }
        let effects = std::mem::take(&mut out.effects);
        self.svc_out = out;
        for e in effects {
            match e {
                Effect::OomKill(pod) => {
                    if let Some(starts) = self
                        .rt
                        .get(pod as usize)
                        .and_then(|r| r.as_ref())
                        .map(|r| r.starts)
                    {
                        self.oom_kill(pod, starts);
                    }
                }
                Effect::Exited(pod) => {
                    if self.cluster.try_pod(pod).is_some_and(|e| e.pod.terminating) {
                        self.pod_gone(pod);
                    }
                }
                Effect::Log {
                    kind,
                    object,
                    message,
                } => self.record(kind, object, message, None),
            }
        }
    }

    /// Runs to the scenario's horizon. `progress` is called now and then with the fraction done.
    pub fn run(&mut self, mut progress: impl FnMut(f64)) {
        let mut n = 0u64;
        while let Some((_, ev)) = self.engine.next_until(self.horizon) {
            match ev {
                Ev::SchedulingCycle => self.scheduling_cycle(),
                Ev::BackoffDone(id, attempt) => {
                    if let Some(rt) = self.rt.get(id as usize).and_then(Option::as_ref) {
                        if rt.queued == Queued::Backoff && rt.attempts == attempt {
                            self.rt[id as usize].as_mut().expect("rt").queued = Queued::No;
                            self.enqueue_active(id);
                        }
                    }
                }
                Ev::ContainersStarted(id) => self.containers_started(id),
                Ev::PodReady(id, n) => self.pod_ready(id, n),
                Ev::OomKill(id, n) => self.oom_kill(id, n),
                Ev::PodGone(id) => self.pod_gone(id),
                Ev::Sync(w) => self.sync(w),
                Ev::Change(i) => self.change(i),
                Ev::Sample => self.sample(),
                Ev::FlushUnschedulable => self.flush_unschedulable(),
                Ev::NodeMonitor => self.monitor_nodes(),
                Ev::Evict(pod, node, epoch) => self.evict(pod, node, epoch),
                Ev::FaultStart(i) => self.fault(i, true),
                Ev::FaultEnd(i) => self.fault(i, false),
                Ev::Flap(i, down) => self.flap(i, down),
                Ev::AutoscalerScan => self.autoscaler_scan(),
                Ev::NodeProvisioned(g) => self.node_provisioned(g),
                Ev::Svc(ev) => self.svc_call(|w, now, out| w.handle(now, ev, out)),
                Ev::Sidecar(id, i, starts) => self.sidecar_event(id, i as usize, starts),
                Ev::GossipStep => self.gossip_step(),
                Ev::GossipRestart(pod, m) => self.gossip_restart(pod, m),
            }
            // Debug builds recount the cluster after every event of the first million, then
            // after every 1024th (a recount is O(cluster); end-to-end tests run millions).
            #[cfg(debug_assertions)]
            if n < 1 << 20 || n % 1024 == 0 {
                if let Err(e) = self.cluster.check_invariants() {
                    panic!("invariant broken at {}: {e}", self.now());
                }
            }
            n += 1;
            if n % 4096 == 0 {
                progress(self.now().as_secs_f64() / self.horizon.as_secs_f64());
            }
        }
        progress(1.0);
    }

    /// The Unix time simulated time 0 stands for (parameters.startTime).
    pub fn start_unix_seconds(&self) -> f64 {
        self.start_ms as f64 / 1000.0
    }

    pub fn events_processed(&self) -> u64 {
        self.engine.processed()
    }

    pub fn simulated_seconds(&self) -> f64 {
        self.horizon.as_secs_f64()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn scenario(&self) -> &Scenario {
        self.sc
    }

    /// Pods in the queue order the scheduler would take them (for tests and reports).
    pub fn pending_pods(&self) -> Vec<String> {
        let mut ids: Vec<PodId> = self
            .cluster
            .pods()
            .filter(|(_, e)| e.node.is_none())
            .map(|(i, _)| i)
            .collect();
        ids.sort_by(|a, b| queue_order(&self.cluster.pod(*a).pod, &self.cluster.pod(*b).pod));
        ids.iter().map(|i| self.cluster.pod(*i).pod.key()).collect()
    }
}
