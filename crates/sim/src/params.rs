//! Every constant that shapes the simulation, with Kubernetes' defaults, named as Kubernetes
//! names them. A scenario's `spec.parameters` and `--set path=value` override any of them;
//! unknown names are errors, so a typo never silently keeps the default.
//! Sources: docs/kubernetes.md and the kube-scheduler / controller-manager /
//! kubelet flags cited on each field.
//!
//! One file per subsystem under `params/` (the scheduling queue, the kubelet, the controllers,
//! node lifecycle, the API server, the cloud and autoscaler, gossip, node CPU, thrashing, the
//! services' metrics), each type re-exported here; `tree.rs` works on parameters as a JSON
//! tree (`--set`, similarity laws, a variant's merge). This file holds `Params`, the whole.

use cascade_scheduler::SchedulerConfig;
use cascade_services::{ClientSpec, RemoteWriteSpec, RingSpec, ServiceSpec, ServicesConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod api_server;
mod cloud;
mod controllers;
mod gossip;
mod kubelet;
mod node_cpu;
mod node_lifecycle;
mod scheduling_queue;
mod service_metrics;
mod thrashing;
mod tree;
pub use api_server::ApiServerParams;
pub use cloud::{AutoscalerParams, CloudParams, NodeRepairParams, RepairAction};
pub use controllers::ControllerParams;
pub use gossip::{CompactionParam, GossipParams, HandoffPolicyParam, SnapshotParams};
pub use kubelet::{KubeletParams, RuntimeParams};
pub use node_cpu::NodeCpuParams;
pub use node_lifecycle::NodeLifecycleParams;
pub use scheduling_queue::QueueParams;
pub use service_metrics::ServiceMetricsParams;
pub use thrashing::ThrashingParams;
pub use tree::{apply_similarity, merge, set_path};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Params {
    /// kube-scheduler's configuration (KubeSchedulerConfiguration, default profile).
    pub scheduler: SchedulerConfig,
    /// kube-scheduler's scheduling queue.
    pub scheduling_queue: QueueParams,
    /// The kubelets and their container runtime.
    pub kubelet: KubeletParams,
    /// kube-controller-manager's workload controllers.
    pub controllers: ControllerParams,
    /// The node lifecycle controller (NotReady, taints, evictions).
    pub node_lifecycle: NodeLifecycleParams,
    /// The cluster autoscaler of node groups with `maxSize`.
    pub cluster_autoscaler: AutoscalerParams,
    /// The cloud provider's instance API: limits on creating nodes (the autoscaler's and the
    /// repairs'), docs/control-plane-and-nodes.md#cloud-provisioning.
    pub cloud: CloudParams,
    /// A managed node auto-repair policy (GKE's, AKS's): off unless enabled.
    pub node_repair: NodeRepairParams,
    /// When a node short of memory thrashes and stops answering (docs/kubernetes.md#a-thrashing-node).
    pub memory_thrashing: ThrashingParams,
    /// kube-apiserver: its flags, APF and what requests cost it (`--set apiServer.memoryLimit=8Gi`).
    pub api_server: ApiServerParams,
    /// The services on the cluster, by name (a scenario's `spec.services`; see
    /// cascade-services `ServiceSpec`): `--set services.proxy.memoryLimit=1Gi`.
    pub services: BTreeMap<String, ServiceSpec>,
    /// Cortex rings whose ingesters are pods (`spec.rings`).
    pub rings: BTreeMap<String, RingSpec>,
    /// Prometheus remote_write fleets (`spec.remoteWrite`).
    pub remote_write: BTreeMap<String, RemoteWriteSpec>,
    /// Clients with retry policies (`spec.clients`).
    pub clients: BTreeMap<String, ClientSpec>,
    /// How the services' summary figures are measured.
    pub service_metrics: ServiceMetricsParams,
    /// The Consul LAN gossip pool of the pods whose behaviour runs a `gossipAgent`.
    pub gossip: GossipParams,
    /// Seconds between metric samples (rows of metrics.csv).
    pub sample_interval_seconds: f64,
    /// Multiplies the counts of the scenario's generated node and workload groups (those not
    /// marked `scaled: false`), rounded, at least 1: the same cluster at another size (a
    /// quarter of it is one of four smaller clusters; tests run bundled scenarios smaller).
    pub generator_scale: f64,
    /// A scale model of the scenario: multiplies `generatorScale` by this, and each constant
    /// the scenario lists in `spec.similarity` by this to the power given there, so that a
    /// smaller run keeps the larger one's dynamics (docs/kubernetes.md#similarity-scaling).
    /// 1 changes nothing.
    pub similarity_scale: f64,
    /// The wall-clock instant simulated time 0 stands for (RFC 3339): pods created during the
    /// run get creationTimestamps from it, comparable with those in the manifests.
    pub start_time: String,
    /// The event budget: a run that has processed this many events stops where it is, with a
    /// summary marked `truncated: true` (and a failed verdict), instead of running away with
    /// the machine. The default, [`DEFAULT_MAX_EVENTS`], is far above every bundled run.
    pub max_events: u64,
}

/// `parameters.maxEvents`' default: 2,000,000,000 events, about 25 times the largest bundled
/// run (target-2019's 76 million, docs/kubernetes.md#bounded-runs) and, at the 0.6 million
/// events a second that run takes on a 2-core machine, close to an hour of wall time. A cascade
/// choice, not an upstream figure.
pub const DEFAULT_MAX_EVENTS: u64 = 2_000_000_000;

impl Default for Params {
    fn default() -> Self {
        Params {
            scheduler: SchedulerConfig::default(),
            scheduling_queue: QueueParams::default(),
            kubelet: KubeletParams::default(),
            controllers: ControllerParams::default(),
            node_lifecycle: NodeLifecycleParams::default(),
            cluster_autoscaler: AutoscalerParams::default(),
            cloud: CloudParams::default(),
            node_repair: NodeRepairParams::default(),
            memory_thrashing: ThrashingParams::default(),
            api_server: ApiServerParams::default(),
            services: BTreeMap::new(),
            rings: BTreeMap::new(),
            remote_write: BTreeMap::new(),
            clients: BTreeMap::new(),
            service_metrics: ServiceMetricsParams::default(),
            gossip: GossipParams::default(),
            generator_scale: 1.0,
            similarity_scale: 1.0,
            sample_interval_seconds: 10.0,
            start_time: "2024-01-01T00:00:00Z".into(),
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

impl Params {
    /// The services part of the parameters, as cascade-services takes it.
    pub fn services_config(&self) -> ServicesConfig {
        ServicesConfig {
            services: self.services.clone(),
            rings: self.rings.clone(),
            remote_write: self.remote_write.clone(),
            clients: self.clients.clone(),
            baseline_warmup_seconds: self.service_metrics.baseline_warmup_seconds,
            outage_error_ratio: self.service_metrics.outage_error_ratio,
            rate_window_seconds: self.service_metrics.rate_window_seconds,
            surge_until_seconds: self.service_metrics.surge_until_seconds,
            steady_tolerance: self.service_metrics.steady_tolerance,
        }
    }
}
