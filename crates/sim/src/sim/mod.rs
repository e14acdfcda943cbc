//! The simulation: cluster state, the scheduler with its queue, pod controllers and kubelets,
//! driven by one engine. `Simulation` owns the parts and dispatches each event to the part
//! it belongs to; the model lives in the parts' files:
//!
//! - `event`: the events, one enum per subsystem;
//! - `bootstrap`, `objects`: the cluster at time 0 and applying objects;
//! - `pods`, `queue`, `scheduling`, `kubelet`: a pod's runtime state, the scheduling queue, the
//!   scheduler's loop, the kubelet;
//! - `controllers`: ReplicaSet/Deployment, StatefulSet, DaemonSet;
//! - `node_lifecycle`, `autoscaler`: node health and tainting, the cluster autoscaler;
//! - `control_plane`: kube-apiserver and its clients (Leases, pods' informers);
//! - `api_writes`: the controllers' pod creates and deletes and the scheduler's binds as requests;
//! - `runtime`: the nodes' container runtime daemons and the sidecars' retries;
//! - `services_bridge`, `gossip`: the doors to cascade-services and cascade-gossip;
//! - `scenario_driver`: the scenario's changes and faults;
//! - `recorder`: the event log and the metrics.

use crate::params::Params;
use crate::scenario::Scenario;
use cascade_engine::{Engine, Time};
use cascade_model::Rng;
use cascade_scheduler::{queue_order, Cluster, PodId, Scheduler};
use cascade_services::World;

mod api_clients;
mod api_writes;
mod autoscaler;
mod bootstrap;
pub mod cloud;
mod control_plane;
mod controllers;
mod endpoint_slices;
mod event;
pub mod eviction;
mod eviction_passes;
mod gossip;
mod kubelet;
mod mark_pods;
mod memory_steps;
pub mod node_cpu;
mod node_lifecycle;
mod node_memory;
mod node_oom;
mod node_taints;
mod objects;
pub mod oom_killer;
mod pods;
mod queue;
mod recorder;
mod runtime;
mod scenario_driver;
mod scheduling;
mod services_bridge;
mod sidecars;
mod thrashing;

use controllers::{Controllers, WorkloadRt};
pub use event::{
    AutoscalerEv, ChangeIdx, ControllerEv, Ev, FaultIdx, Generation, GossipEv, KubeletEv,
    NodeLifecycleEv, QueueEv, ScenarioEv,
};
use pods::{Phase, PodTable};
use queue::SchedulingQueue;
pub use recorder::Recorder;

/// What identifies the run: its seed, the wall time simulated time 0 stands for, and how
/// long it lasts.
#[derive(Clone, Copy, Debug)]
struct RunInfo {
    seed: u64,
    start_ms: i64,
    horizon: Time,
    /// Set when the run stopped at `parameters.maxEvents` before its horizon.
    truncated: bool,
    /// Events run so far (the debug checks' and the progress bar's cadence).
    events_run: u64,
    /// Building the cluster that exists before the run, or running it.
    stage: Stage,
}

/// The simulation of one scenario run: an orchestrator of owned parts, each holding one
/// concern's state (ARCHITECTURE.md, sim).
pub struct Simulation<'a> {
    /// The scenario, its parameters (`Simulation::p`) included.
    sc: &'a Scenario,
    engine: Engine<Ev>,
    cluster: Cluster,
    /// kube-scheduler: its algorithm and its scheduling queue.
    scheduler: KubeScheduler,
    /// The pod controllers and the endpointslice controller.
    controllers: Controllers,
    /// Each live pod's runtime state.
    pods: PodTable,
    /// The node lifecycle controller.
    node_lifecycle: node_lifecycle::NodeLifecycle,
    autoscaler: autoscaler::Autoscaler,
    /// The run's seed, start time, horizon and stage.
    info: RunInfo,
    /// The scenario's faults in effect, and the nodes each took.
    faults: scenario_driver::Faults,
    /// What runs on each node below the API server's view: container runtimes, memory, CPU.
    nodes: NodeAgents,
    /// The services, rings, remote_write fleets and clients living on the cluster.
    services: services_bridge::ServicesBridge,
    /// The gossip pool, when some behaviour runs a gossip agent.
    gossip: Option<gossip::GossipRt>,
    /// The event log and the metrics.
    rec: Recorder,
    /// kube-apiserver (with the PriorityClasses its admission resolves) and its clients.
    control_plane: control_plane::ControlPlane,
}

/// kube-scheduler: the scheduling algorithm (filters, scores, preemption) and the queue it
/// takes pods from.
struct KubeScheduler {
    algorithm: Scheduler,
    queue: SchedulingQueue,
}

/// What runs on each node below the API server's view, by NodeId: the container runtime
/// daemons, node memory (the kubelets' eviction managers, the kernel's OOM killer) and
/// thrashing, node CPU, and the jitter streams of the pod workers and sidecars.
struct NodeAgents {
    /// Each node's container runtime daemon.
    runtimes: runtime::RuntimeDaemons,
    /// Node memory and the kubelets' eviction managers, when some behaviour has `memory`.
    memory: Option<node_memory::NodeMemory>,
    /// Node CPU, when some behaviour has `cpu`.
    cpu: Option<node_cpu::NodeCpu>,
    /// Nodes thrashing for want of memory, when node memory is modelled.
    thrashing: Option<thrashing::Thrashing>,
    /// The sidecars' retry jitter.
    sidecar_rng: Rng,
    /// The pod workers' retry jitter (CrashLoopBackOff restarts).
    kubelet_rng: Rng,
}

/// `sim.log` and `sim.metrics` read the recorder (the CLI and the tests read them so).
impl std::ops::Deref for Simulation<'_> {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

/// The one bootstrap flag. During `Bootstrap` (the scenario's nodes, manifests, workloads
/// and the workloads' first sync, all at time 0) the cluster is the one that existed before
/// the run: its pods were created long ago (they get spread ages) and its writes take effect
/// without a request to the API server. `Run` is everything after.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Bootstrap,
    Run,
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
        let p = &sc.params;
        let start_ms = sc.start_ms;
        let services = World::new(p.services_config(), seed)?;
        let node_memory = if sc.spec.behaviours.iter().any(|b| b.memory.is_some()) {
            let cfg = p
                .kubelet
                .eviction_config()
                .map_err(|e| e.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))?;
            let memory: Vec<_> = sc
                .spec
                .behaviours
                .iter()
                .filter_map(|b| b.memory.as_ref())
                .collect();
            Some(node_memory::NodeMemory::new(cfg, &memory))
        } else {
            None
        };
        let node_cpu = sc
            .spec
            .behaviours
            .iter()
            .any(|b| b.cpu.is_some())
            .then(|| node_cpu::NodeCpu::new(p.kubelet.cpu.clone()));
        let thrashing = node_memory
            .is_some()
            .then(|| thrashing::Thrashing::new(&p.memory_thrashing));
        let p_api = p.api_server.config();
        let api_replicas = p.api_server.replicas as usize;
        let mut sim = Simulation {
            sc,
            services: services_bridge::ServicesBridge::new(services),
            faults: scenario_driver::Faults::new(sc.spec.faults.len()),
            gossip: sc
                .spec
                .behaviours
                .iter()
                .any(|b| b.gossip_agent.is_some())
                .then(|| gossip::GossipRt::new(&p.gossip, seed)),
            scheduler: KubeScheduler {
                algorithm: Scheduler::new(p.scheduler.clone(), Rng::stream(seed, "scheduler")),
                queue: SchedulingQueue::new(p.scheduling_queue.clone()),
            },
            controllers: Controllers::new(Rng::stream(seed, "controller-names")),
            nodes: NodeAgents {
                runtimes: runtime::RuntimeDaemons::new(p.kubelet.runtime.clone()),
                memory: node_memory,
                cpu: node_cpu,
                thrashing,
                sidecar_rng: Rng::stream(seed, "sidecars"),
                kubelet_rng: Rng::stream(seed, "kubelet"),
            },
            engine: Engine::new(),
            cluster: Cluster::new(),
            pods: PodTable::default(),
            node_lifecycle: Default::default(),
            autoscaler: Default::default(),
            info: RunInfo {
                seed,
                start_ms,
                horizon: secs(sc.spec.duration.0),
                truncated: false,
                events_run: 0,
                stage: Stage::Bootstrap,
            },
            rec: Recorder::default(),
            control_plane: control_plane::ControlPlane::new(p_api, api_replicas, seed),
        };
        sim.autoscaler.cloud =
            cloud::Cloud::new(p.cloud.limits(p.cluster_autoscaler.provisioning_seconds));
        sim.setup()?;
        Ok(sim)
    }

    /// The run's parameters (the scenario's, variant and `--set` applied). The reference
    /// outlives the borrow of `self`, so a part may read them while another is borrowed.
    fn p(&self) -> &'a Params {
        &self.sc.params
    }

    /// The services' world, read-only (the summary reads its totals).
    pub fn services(&self) -> &World {
        &self.services.world
    }

    fn now(&self) -> Time {
        self.engine.now()
    }

    fn wall_ms(&self) -> i64 {
        self.info.start_ms + self.now().as_millis() as i64
    }

    fn record(&mut self, kind: &'static str, object: String, message: String, pod: Option<PodId>) {
        let t = self.now();
        self.rec.record(t, kind, object, message, pod);
    }

    fn sample(&mut self) {
        let mut pending = 0;
        let mut running = 0;
        let mut ready = 0;
        let mut terminating = 0;
        let mut nominated = 0;
        for (id, e) in self.cluster.pods() {
            let Some(rt) = self.pods.get(id) else {
                continue;
            };
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
        let not_ready = self.not_ready_nodes();
        let t = self.now();
        let mut row: Vec<(std::borrow::Cow<'static, str>, f64)> = [
            ("nodes", nodes as f64),
            ("pods_pending", pending as f64),
            ("pods_nominated", nominated as f64),
            ("pods_running", running as f64),
            ("pods_ready", ready as f64),
            ("pods_terminating", terminating as f64),
            ("nodes_not_ready", not_ready as f64),
            (
                "pods_created_total",
                self.rec.metrics.total("pods_created") as f64,
            ),
            (
                "pods_preempted_total",
                self.rec.metrics.total("pods_preempted") as f64,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v))
        .collect();
        self.gossip_sample(&mut row);
        self.control_plane_sample(&mut row);
        if self.nodes.memory.is_some() {
            // The nodes whose MemoryPressure condition the API server holds (what `kubectl
            // get nodes` shows), not the kubelets' own view.
            let n = self
                .cluster
                .nodes()
                .filter(|(id, _)| self.control_plane.memory_pressure_reported(*id))
                .count() as f64;
            row.push(("nodes_memory_pressure".into(), n));
            self.rec.metrics.peak("nodes_memory_pressure", n);
            let t = self
                .nodes
                .thrashing
                .as_ref()
                .map_or(0, |t| t.thrashing_nodes()) as f64;
            row.push(("nodes_thrashing".into(), t));
            self.rec.metrics.peak("nodes_thrashing", t);
        }
        self.node_cpu_sample(&mut row);
        if !self.services.world.is_empty() {
            // Close the services' interval first: sampling itself only reads.
            self.services.world.roll_interval(t);
            row.extend(
                self.services
                    .world
                    .sample()
                    .into_iter()
                    .map(|(k, v)| (k.into(), v)),
            );
            let parts = self.services.world.ratio_parts();
            self.rec.ratio_samples.push((t, parts));
        }
        self.rec.metrics.sample(t, row);
        // Each peak is named by its column and is at least its largest sample (the NotReady
        // count is also taken at every monitor pass, `node_lifecycle.rs`).
        self.rec.metrics.peak("pods_pending", pending as f64);
        self.rec
            .metrics
            .peak("pods_terminating", terminating as f64);
        self.rec.metrics.peak("nodes_not_ready", not_ready as f64);
        self.engine
            .schedule_in(secs(self.p().sample_interval_seconds), Ev::Sample);
    }

    /// Runs to the scenario's horizon. `progress` is called now and then with the fraction done.
    /// A run stops early, marked truncated, once it has processed `parameters.maxEvents`.
    pub fn run(&mut self, mut progress: impl FnMut(f64)) {
        self.run_until(self.info.horizon, &mut progress);
        self.finish();
        progress(1.0);
    }

    /// Runs the events due by `until` (at most the horizon) and stops there, the run left
    /// open: calls in increasing `until` followed by [`Simulation::finish`] make exactly the
    /// run [`Simulation::run`] makes (the bench times a run's phases so).
    pub fn run_until(&mut self, until: Time, progress: &mut impl FnMut(f64)) {
        let until = until.min(self.info.horizon);
        let mut n = self.info.events_run;
        let budget = self.p().max_events;
        while !self.info.truncated {
            if self.engine.processed() >= budget {
                // Stopped with events left before the horizon: a runaway run.
                if self
                    .engine
                    .peek_time()
                    .is_some_and(|t| t <= self.info.horizon)
                {
                    self.info.truncated = true;
                    break;
                }
            }
            let Some((_, ev)) = self.engine.next_until(until) else {
                break;
            };
            match ev {
                Ev::Queue(e) => self.on_queue(e),
                Ev::Kubelet(e) => self.on_kubelet(e),
                Ev::Controller(ControllerEv::Sync { workload }) => self.sync(workload),
                Ev::Scenario(e) => self.on_scenario(e),
                Ev::NodeLifecycle(e) => self.on_node_lifecycle(e),
                Ev::Autoscaler(e) => self.on_autoscaler(e),
                Ev::Svc(ev) => self.svc_call(|w, now, out| w.handle(now, ev, out)),
                Ev::Sidecar {
                    pod,
                    sidecar,
                    start,
                } => self.sidecar_event(pod, sidecar as usize, start),
                Ev::Gossip(e) => self.on_gossip(e),
                Ev::ControlPlane(e) => self.on_control_plane(e),
                Ev::Sample => self.sample(),
            }
            // Debug builds recount the cluster after every event of the first million, then
            // after every 1024th (a recount is O(cluster); end-to-end tests run millions). A
            // cluster past 5,000 pods is recounted every 1024th event from the start: every
            // event would make the check quadratic in the cluster's size.
            #[cfg(debug_assertions)]
            if (n < 1 << 20 && self.cluster.pod_count() < 5000) || n % 1024 == 0 {
                if let Err(e) = self.cluster.check_invariants() {
                    panic!("invariant broken at {}: {e}", self.now());
                }
                if let Err(e) = self.scheduler.queue.check_invariants() {
                    panic!("scheduling queue invariant broken at {}: {e}", self.now());
                }
            }
            // The services' and the mesh's own checks, on the thinned cadence only: each is
            // O(requests in flight + replicas) or O(members), and the services run inside
            // most events of a large scenario.
            #[cfg(debug_assertions)]
            if n % 1024 == 0 {
                if let Err(e) = self.services.world.check_invariants() {
                    panic!("services invariant broken at {}: {e}", self.now());
                }
                // The full mesh check is O(members^2): one member's, in rotation.
                if let Some(g) = &self.gossip {
                    let members = u64::from(g.mesh.member_count());
                    if members > 0 {
                        let id = u32::try_from((n / 1024) % members).unwrap_or(0);
                        let id = cascade_gossip::MemberId::new(id);
                        if let Err(e) = g.mesh.check_member_invariants(id) {
                            panic!("gossip invariant broken at {}: {e}", self.now());
                        }
                    }
                }
            }
            n += 1;
            if n % 4096 == 0 {
                progress(self.now().as_secs_f64() / self.info.horizon.as_secs_f64());
            }
        }
        self.info.events_run = n;
    }

    /// Closes a run made with [`Simulation::run_until`]: the totals counted at its end.
    pub fn finish(&mut self) {
        self.finish_control_plane();
    }

    /// Pods that exist and are not Running yet (pending, starting or terminating): 0 once the
    /// cluster has settled.
    pub fn pods_not_running(&self) -> usize {
        self.cluster
            .pods()
            .filter(|(id, e)| {
                e.pod.terminating
                    || self
                        .pods
                        .get(*id)
                        .is_none_or(|rt| rt.phase != Phase::Running)
            })
            .count()
    }

    /// The Unix time simulated time 0 stands for (parameters.startTime).
    pub fn start_unix_seconds(&self) -> f64 {
        self.info.start_ms as f64 / 1000.0
    }

    pub fn events_processed(&self) -> u64 {
        self.engine.processed()
    }

    /// Simulated time covered: the horizon, or where a truncated run stopped.
    pub fn simulated_seconds(&self) -> f64 {
        if self.info.truncated {
            self.now().as_secs_f64()
        } else {
            self.info.horizon.as_secs_f64()
        }
    }

    /// Whether the run stopped at `parameters.maxEvents` before its horizon.
    pub fn truncated(&self) -> bool {
        self.info.truncated
    }

    /// The event log, the metrics and the pods' metadata recorded so far.
    pub fn recorder(&self) -> &Recorder {
        &self.rec
    }

    pub fn seed(&self) -> u64 {
        self.info.seed
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
