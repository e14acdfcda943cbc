//! Scenario files: `apiVersion: cascade.dev/v1alpha1`, `kind: Scenario`. A scenario names the
//! cluster (manifests and/or generated nodes), attaches behaviours to pods by selector,
//! schedules faults and changes at simulated times, overrides model parameters, and states the
//! expectations that decide the exit code. It sets causes, never outcomes.

mod cpu;
mod duration;
mod load;
mod selectors;
pub mod size;
mod validate;

use crate::params::Params;
pub use cascade_manifest::quantity::Bytes;
use cascade_manifest::{Manifests, Value};
pub use cascade_model::{PodSelector, WorkloadKind};
pub use cpu::{Cores, CpuBehaviour, CpuSpike};
pub use duration::{parse_duration, Duration, DURATION_PATTERN};
pub use load::{load, load_str, start_ms};
pub use selectors::describe as describe_selector;
use serde::Deserialize;
use std::collections::BTreeMap;
pub use validate::unknown_name;

pub const API_GROUP: &str = "cascade.dev";

/// A cascade scenario: the cluster, what happens to it, and what must hold.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "cascade scenario")]
pub struct ScenarioDoc {
    /// Always `cascade.dev/v1alpha1`.
    #[schemars(extend("const" = "cascade.dev/v1alpha1"))]
    pub api_version: String,
    /// Always `Scenario`.
    #[schemars(extend("const" = "Scenario"))]
    pub kind: String,
    /// The scenario's name (a DNS-1123 label: it names the outputs).
    pub metadata: Metadata,
    /// What the scenario simulates.
    pub spec: Spec,
}

/// The JSON Schema (draft-07, which editors' YAML support reads) of a scenario file, derived
/// from the types that read it: the same fields, names, defaults and closed objects
/// (`additionalProperties: false` where the reader denies unknown fields). What a schema cannot
/// say (one fault is one kind, names that resolve, values in range) the reader checks at load.
pub fn json_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ScenarioDoc>()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The scenario's name: a DNS-1123 label, shown in the outputs and metric labels.
    pub name: String,
    /// Free-form notes; cascade reads none.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// What the scenario shows, in a sentence or two (shown at the top of report.html).
    #[serde(default)]
    pub description: Option<String>,
    /// How much simulated time to run.
    pub duration: Duration,
    /// Default seed (overridden by `--seed`).
    #[serde(default)]
    pub seed: u64,
    /// The cluster at time 0: manifest files and generated nodes and workloads.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// How the containers of the pods a selector picks behave (startup, memory, sidecars, agents).
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    /// What operators do, at simulated times (apply, delete, scale, add nodes).
    #[serde(default)]
    pub changes: Vec<Change>,
    /// What breaks, at simulated times.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The services on the cluster (cascade-services `ServiceSpec`, by name), merged into the
    /// parameters at `services`, so variants and `--set services.NAME.FIELD=V` override them.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, cascade_services::ServiceSpec>")]
    pub services: serde_json::Value,
    /// Cortex rings (`RingSpec`), at `rings`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, cascade_services::RingSpec>")]
    pub rings: serde_json::Value,
    /// Prometheus remote_write fleets (`RemoteWriteSpec`), at `remoteWrite`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, cascade_services::RemoteWriteSpec>")]
    pub remote_write: serde_json::Value,
    /// Clients with retry policies (`ClientSpec`), at `clients`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, cascade_services::ClientSpec>")]
    pub clients: serde_json::Value,
    /// Model parameters (see `Params`), merged over the defaults.
    #[serde(default)]
    #[schemars(with = "Option<Params>")]
    pub parameters: serde_json::Value,
    /// Bounds on the run's metrics: the verdict, and the exit code (1 when one fails).
    #[serde(default)]
    pub expectations: Vec<Expectation>,
    /// Named alternatives run with `--variant NAME` (a mitigation, another setting), by name.
    #[serde(default)]
    pub variants: BTreeMap<String, Variant>,
    /// How the scenario's constants scale with `parameters.similarityScale` (a dot path of a
    /// parameter and the exponent of the scale it is multiplied by: sizes 1, per-event times
    /// -1, ...), so that a smaller run keeps the dynamics (docs/kubernetes.md#similarity-scaling).
    #[serde(default)]
    pub similarity: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Manifest files (paths relative to the scenario file) present at time 0.
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Synthetic nodes.
    #[serde(default)]
    pub node_groups: Vec<NodeGroup>,
    /// Synthetic workloads.
    #[serde(default)]
    pub workload_groups: Vec<WorkloadGroup>,
}

/// `count` Deployments (or StatefulSets) named `{namePrefix}-{i}` (i from 0, four digits), each
/// with `replicas` pods of the given containers; every pod is labelled `app: NAME` and with
/// `labels`, so behaviours can select a whole group.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadGroup {
    /// Workloads are named `{namePrefix}-{i}`.
    pub name_prefix: String,
    /// How many workloads.
    pub count: usize,
    /// Whether `parameters.generatorScale` resizes this group (true).
    #[serde(default = "yes")]
    pub scaled: bool,
    /// Their namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Deployment (default) or StatefulSet.
    #[serde(default)]
    pub kind: GeneratedKind,
    /// Each workload's replicas.
    #[serde(default = "one")]
    pub replicas: i32,
    /// Labels on every pod, besides `app: NAME`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The pods' PriorityClass.
    #[serde(default)]
    pub priority_class_name: Option<String>,
    /// The pods' terminationGracePeriodSeconds (Kubernetes' default 30 when absent).
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
    /// The pods' containers.
    pub containers: Vec<ContainerShape>,
}

/// A generated group's size at `parameters.generatorScale` `k`: rounded, at least 1, unless
/// the group is not `scaled`.
// A rounded, positive count times a finite positive factor; the cast saturates.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn scaled_count(count: usize, scaled: bool, k: f64) -> usize {
    if scaled && k.is_finite() && k > 0.0 && (k - 1.0).abs() > f64::EPSILON {
        ((count as f64 * k).round() as usize).max(1)
    } else {
        count
    }
}

impl NodeGroup {
    /// How many nodes the group starts with at `parameters.generatorScale` `k`.
    pub fn scaled_count(&self, k: f64) -> usize {
        scaled_count(self.count, self.scaled, k)
    }
}

/// What a workload group generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum GeneratedKind {
    #[default]
    Deployment,
    StatefulSet,
}

impl From<GeneratedKind> for WorkloadKind {
    fn from(k: GeneratedKind) -> WorkloadKind {
        match k {
            GeneratedKind::Deployment => WorkloadKind::Deployment,
            GeneratedKind::StatefulSet => WorkloadKind::StatefulSet,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_namespace() -> String {
    "default".into()
}

fn one() -> i32 {
    1
}

/// Resources by name, each a quantity: `cpu`, `memory`, `ephemeral-storage`, `pods` (what
/// [`crate::generate::resources_at`] reads; the schema of the maps that hold them).
pub struct ResourceList;

impl schemars::JsonSchema for ResourceList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceList".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let q = g.subschema_for::<cascade_manifest::quantity::Quantity>();
        schemars::json_schema!({
            "description": "Resources by name, each a quantity.",
            "type": "object",
            "properties": {
                "cpu": described(&q, "CPU, in cores (\"500m\" is half a core)."),
                "memory": described(&q, "Memory, in bytes (\"512Mi\")."),
                "ephemeral-storage": described(&q, "Local ephemeral storage, in bytes."),
                "pods": described(&q, "A node's pod capacity (allocatable only).")
            },
            "additionalProperties": false
        })
    }
}

/// `schema` with a description (beside a `$ref`: validators ignore it, editors show it).
fn described(schema: &schemars::Schema, text: &str) -> schemars::Schema {
    let mut s = schema.clone();
    s.insert("description".into(), text.into());
    s
}

/// A container of a generated workload: a name and its resources.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerShape {
    /// The container's name.
    pub name: String,
    /// Resource requests.
    #[serde(default)]
    #[schemars(with = "ResourceList")]
    pub requests: BTreeMap<String, Value>,
    /// Resource limits.
    #[serde(default)]
    #[schemars(with = "ResourceList")]
    pub limits: BTreeMap<String, Value>,
}

/// `count` nodes named `{namePrefix}-{i}`, spread round-robin over `zones`; an autoscaled node
/// group when `maxSize` is set.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    /// Nodes are named `{namePrefix}-{i}`; also their `node.kubernetes.io/instance-type` label.
    pub name_prefix: String,
    /// How many nodes at the start.
    pub count: usize,
    /// Whether `parameters.generatorScale` resizes this group (true; false for a fixed
    /// group such as three dedicated server nodes).
    #[serde(default = "yes")]
    pub scaled: bool,
    /// Zones, given to the nodes round-robin (`topology.kubernetes.io/zone`).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Allocatable resources, as in a Node's status.allocatable.
    #[schemars(with = "ResourceList")]
    pub allocatable: BTreeMap<String, Value>,
    /// Extra node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// With `maxSize`, the cluster autoscaler manages the group between `minSize` and `maxSize`.
    #[serde(default)]
    pub min_size: Option<usize>,
    /// The largest size the cluster autoscaler scales the group to.
    #[serde(default)]
    pub max_size: Option<usize>,
}

/// How the containers of the selected pods behave.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behaviour {
    /// The pods it applies to.
    pub selector: PodSelector,
    /// From bound to containers running (image pull and creation), instead of the kubelet's.
    pub startup_seconds: Option<f64>,
    /// From running to Ready.
    pub readiness_seconds: Option<f64>,
    /// How long the application takes to exit after SIGTERM (capped by the grace period).
    pub shutdown_seconds: Option<f64>,
    /// Memory use over time; past the pod's memory limit the container is OOM-killed.
    #[serde(default)]
    pub memory: Option<MemoryBehaviour>,
    /// CPU demand over time, summed per node against its CPU; above the pod's CPU limit the
    /// container is throttled (docs/kubernetes.md#node-cpu).
    #[serde(default)]
    pub cpu: Option<CpuBehaviour>,
    /// Sidecars bound to a dependency (a log shipper to Kafka): while it refuses them they
    /// retry, and every attempt costs the node's container runtime.
    #[serde(default)]
    pub sidecars: Vec<SidecarSpec>,
    /// Service-discovery registration (a Consul agent sidecar): writes to a service's catalog
    /// when the pod's containers start and when the pod goes.
    #[serde(default)]
    pub registers: Option<Registration>,
    /// A gossip agent in the pod (a Consul agent sidecar): a member of the cluster's gossip
    /// pool (`parameters.gossip`) from when it joins until the pod goes.
    #[serde(default)]
    pub gossip_agent: Option<GossipAgent>,
    /// The pods call the API server (an agent's informer, an operator's poll): from when
    /// their containers start until they stop (docs/control-plane-and-nodes.md#api-clients).
    #[serde(default)]
    pub api_client: Option<ApiClient>,
}

/// A pod's API client: a client-go informer (LIST, then WATCH; a broken watch relists after
/// the reflector's backoff) or a poller (a LIST every `periodSeconds`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiClient {
    /// What it lists: `pods`, `nodes`, `services` or `endpointslices` (CoreDNS's informers).
    pub resource: String,
    /// `cluster` (every object) or `node` (a field selector on its own node: pods only).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// An informer (true) or a poller (false).
    #[serde(default = "default_true")]
    pub watch: bool,
    /// A poller's period.
    #[serde(default)]
    pub period_seconds: Option<f64>,
    /// The bootstrap FlowSchema its requests match; default: `kube-system-service-accounts`
    /// for pods in kube-system, else `service-accounts` (ServiceAccount tokens).
    #[serde(default)]
    pub flow_schema: Option<String>,
    /// client-go's QPS and burst (5 and 10, `rest.Config`'s defaults).
    #[serde(default = "default_client_qps")]
    pub qps: f64,
    /// client-go's burst (10).
    #[serde(default = "default_client_burst")]
    pub burst: u32,
    /// The pod is Ready only once its informer has synced (its first LIST answered), as
    /// CoreDNS's `ready` plugin waits for its kubernetes plugin (`Ready()` is the informers'
    /// `HasSynced`). A watch that breaks later does not take it back: the informer keeps
    /// serving what it has (docs/control-plane-and-nodes.md#readiness-that-waits-for-an-informer).
    #[serde(default)]
    pub ready_when_synced: bool,
}

fn default_scope() -> String {
    "cluster".into()
}

fn default_true() -> bool {
    true
}

fn default_client_qps() -> f64 {
    cascade_apiserver::client::DEFAULT_QPS
}

fn default_client_burst() -> u32 {
    cascade_apiserver::client::DEFAULT_BURST
}

/// A pod's gossip agent.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GossipAgent {
    /// When it joins the pool, if not `parameters.gossip.joinOn`.
    #[serde(default)]
    pub join_on: Option<JoinOn>,
}

/// When a pod's gossip agent joins: `start`, as soon as the containers start (the Target
/// case: the agent is a sidecar that runs before the app), or `ready`, once the pod is Ready
/// (the postmortem's lesson: register on readiness).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema, serde::Serialize,
)]
#[serde(rename_all = "camelCase")]
pub enum JoinOn {
    #[default]
    Start,
    Ready,
}

/// Gossip encryption turned on (`consul keyring -install/-use`, `encrypt` in the agents'
/// configuration): the servers take the key at once; every agent started from then on has
/// it; the agents already running get it when the redeploy reaches them.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GossipEncryption {
    /// The key, by identity: members with different keys (or one with none) cannot talk.
    #[serde(default = "default_key")]
    pub key: u32,
    /// The redeploy that gives every running agent the key: each restarts (a graceful leave,
    /// then a new member with the key) at a uniformly random time within this many seconds.
    /// 0: the running agents keep running without the key.
    #[serde(default)]
    pub redeploy_seconds: f64,
}

fn default_key() -> u32 {
    1
}

/// The catalog writes a pod's agent causes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// The service that takes the writes (the Consul servers).
    pub service: String,
    /// Writes when the containers start (register the node, its services and checks).
    #[serde(default = "default_register_writes")]
    pub on_start: u32,
    /// Writes when the pod goes (deregister, or the leader reconciling the failed member).
    #[serde(default = "default_deregister_writes")]
    pub on_stop: u32,
}

fn default_register_writes() -> u32 {
    3
}

fn default_deregister_writes() -> u32 {
    1
}

/// A sidecar that ships to a service and retries while it cannot.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarSpec {
    /// The service it ships to (from `spec.services`).
    pub target: String,
    /// While connected, how often it sends (so how soon it notices an outage).
    #[serde(default = "default_send_interval")]
    pub send_interval_seconds: f64,
    /// Its retry policy. The Target case: a fixed, unjittered interval.
    #[serde(default)]
    pub backoff: cascade_services::Backoff,
    /// Runtime operations each attempt costs its node (re-attaching to container logs,
    /// an exec): cheap alone, heavy when every sidecar on the node retries at once.
    #[serde(default = "default_ops_per_attempt")]
    pub ops_per_attempt: f64,
    /// Runtime operations when it reconnects and replays what it buffered.
    #[serde(default)]
    pub ops_on_reconnect: f64,
}

fn default_send_interval() -> f64 {
    5.0
}

fn default_ops_per_attempt() -> f64 {
    1.0
}

/// Memory that starts at `start` and grows by `growthPerMinute` (a leak, a cache that fills).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryBehaviour {
    /// Memory in use when the container starts.
    pub start: Bytes,
    /// Growth a minute.
    pub growth_per_minute: Bytes,
}

/// A change an operator makes at a simulated time.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Change {
    /// When, from the start of the run.
    pub at: Duration,
    /// What the change is, for the outputs.
    #[serde(default)]
    pub description: Option<String>,
    /// Manifests to apply (create or update), relative to the scenario file.
    #[serde(default)]
    pub apply: Vec<String>,
    /// Objects to delete.
    #[serde(default)]
    pub delete: Vec<ObjectRef>,
    /// Set a workload's replicas.
    #[serde(default)]
    pub scale: Option<Scale>,
    /// Add nodes (e.g. a node pool scale-up).
    #[serde(default)]
    pub add_nodes: Option<NodeGroup>,
    /// Turn on gossip encryption in the pool.
    #[serde(default)]
    pub gossip_encryption: Option<GossipEncryption>,
    /// An operator unseals a client that sealed itself (a Vault, from `spec.clients`).
    #[serde(default)]
    pub unseal: Option<String>,
}

/// A fault: something breaks at `at`, for `duration` (forever when absent). One fault is one
/// kind of breakage; the YAML names it by its field (`nodeDown: NAME`, `zoneDown: ZONE`,
/// `serviceDown: NAME` with an optional `flapping`, `serviceDegraded: NAME` with its
/// `degradation`, `partition: {...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "FaultDoc")]
pub struct Fault {
    /// A name for the fault, unique in the scenario, by which a variant's `skipFaults` can
    /// leave it out.
    pub name: Option<String>,
    pub at: Duration,
    pub duration: Option<Duration>,
    pub description: Option<String>,
    pub kind: FaultKind,
}

/// A fault is written as [`FaultDoc`] (one of its kind fields set).
impl schemars::JsonSchema for Fault {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        FaultDoc::json_schema(g)
    }
}

/// What breaks.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// A node's kubelet stops (power loss, kernel panic): heartbeats stop, its pods stop.
    /// `nodeDown: NAME` names one node; `nodeDown: {selector: {matchLabels: ...}, fraction: F}`
    /// takes down that share of the nodes the selector picks when the fault starts.
    NodeDown(NodeTarget),
    /// Every node of a zone goes down at once.
    ZoneDown(String),
    /// A dependency is down: a service (from `spec.services`) refuses every connection, as if
    /// its endpoints were gone, while its pods keep running. With `flapping`, instead of
    /// staying down, the service alternates down and up for the fault's duration, starting
    /// down (an intermittently reachable Kafka).
    ServiceDown {
        service: String,
        flapping: Option<Flapping>,
    },
    /// A service (from `spec.services`) runs degraded: fewer workers, a slower service time,
    /// added latency, an error rate (docs/retry-defences.md#degradation). It keeps its
    /// endpoints: callers reach it and get worse answers, not refusals.
    ServiceDegraded {
        service: String,
        degradation: cascade_services::Degradation,
    },
    /// A network partition: these nodes lose the control plane and the rest of the cluster.
    /// Their kubelets cannot post status (the nodes go NotReady and their pods are evicted in
    /// time), but their processes keep running. Service callers are on the control plane's
    /// side: requests routed to the far side's replicas go unanswered until the endpoints
    /// drop them; gossip agents on each side lose the other side.
    Partition(PartitionSpec),
    /// The cloud has no capacity for new instances in a zone (`stockout: ZONE`): every create
    /// there (the autoscaler's, a repair's) fails after `cloud.stockoutFailureSeconds`.
    Stockout(String),
    /// kube-apiserver is stopped (`apiServerDown: true`): every request and watch on it
    /// fails; at the fault's end it starts again and serves after `apiServer.startupSeconds`.
    /// A restart is this fault with a short duration.
    ApiServerDown,
}

/// A fault as written: one of its kind fields is set.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultDoc {
    /// A name for the fault, unique in the scenario, that a variant's `skipFaults` can use.
    #[serde(default)]
    name: Option<String>,
    /// When it breaks, from the start of the run.
    at: Duration,
    /// How long it stays broken; absent: to the end of the run.
    #[serde(default)]
    duration: Option<Duration>,
    /// What breaks, for the outputs.
    #[serde(default)]
    description: Option<String>,
    /// A node's kubelet stops (power loss, kernel panic): heartbeats stop, its pods stop. A
    /// node's name, or `{selector: {matchLabels: ...}, fraction: F}` for a share of the nodes a
    /// selector picks.
    #[serde(default)]
    node_down: Option<NodeTarget>,
    /// Every node of this zone goes down at once.
    #[serde(default)]
    zone_down: Option<String>,
    /// A service (from `spec.services`) refuses every connection while its pods keep running.
    #[serde(default)]
    service_down: Option<String>,
    /// With `serviceDown`: down and up in turn for the fault's duration, starting down.
    #[serde(default)]
    flapping: Option<Flapping>,
    /// These nodes lose the control plane and the rest of the cluster; their processes keep running.
    #[serde(default)]
    partition: Option<PartitionSpec>,
    /// A service (from `spec.services`) runs degraded (with `degradation`): callers get worse answers, not refusals.
    #[serde(default)]
    service_degraded: Option<String>,
    /// With `serviceDegraded`: how it is degraded.
    #[serde(default)]
    degradation: Option<cascade_services::Degradation>,
    /// kube-apiserver is stopped; at the fault's end it starts again.
    #[serde(default)]
    api_server_down: bool,
    /// The cloud has no capacity left in this zone: instance creates there fail.
    #[serde(default)]
    stockout: Option<String>,
}

impl TryFrom<FaultDoc> for Fault {
    type Error = String;

    fn try_from(d: FaultDoc) -> Result<Fault, String> {
        if d.flapping.is_some() && d.service_down.is_none() {
            return Err("flapping: expected with serviceDown".into());
        }
        if d.flapping.is_some_and(|f| f.up.0 <= 0.0 || f.down.0 <= 0.0) {
            return Err("flapping: expected up and down longer than 0".into());
        }
        if d.degradation.is_some() && d.service_degraded.is_none() {
            return Err("degradation: expected with serviceDegraded".into());
        }
        if d.service_degraded.is_some() && d.degradation.is_none() {
            return Err(
                "serviceDegraded: expected a degradation (workersPerReplica, serviceTimeFactor, addedLatencySeconds, errorRate)"
                    .into(),
            );
        }
        let mut kinds = Vec::new();
        if let Some(n) = d.node_down {
            kinds.push(("nodeDown", FaultKind::NodeDown(n)));
        }
        if let Some(z) = d.zone_down {
            kinds.push(("zoneDown", FaultKind::ZoneDown(z)));
        }
        if let Some(service) = d.service_down {
            let flapping = d.flapping;
            kinds.push(("serviceDown", FaultKind::ServiceDown { service, flapping }));
        }
        if let Some(p) = d.partition {
            kinds.push(("partition", FaultKind::Partition(p)));
        }
        if let (Some(service), Some(degradation)) = (d.service_degraded, d.degradation) {
            kinds.push((
                "serviceDegraded",
                FaultKind::ServiceDegraded {
                    service,
                    degradation,
                },
            ));
        }
        if d.api_server_down {
            kinds.push(("apiServerDown", FaultKind::ApiServerDown));
        }
        if let Some(z) = d.stockout {
            kinds.push(("stockout", FaultKind::Stockout(z)));
        }
        const EXPECTED: &str =
            "expected one of nodeDown, zoneDown, serviceDown, serviceDegraded, partition, apiServerDown or stockout";
        match kinds.len() {
            0 => Err(format!("a fault with nothing that breaks: {EXPECTED}")),
            1 => Ok(Fault {
                name: d.name,
                at: d.at,
                duration: d.duration,
                description: d.description,
                kind: kinds.remove(0).1,
            }),
            _ => {
                let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "one fault is one kind, this one has {}: {EXPECTED} (write one fault each)",
                    names.join(" and ")
                ))
            }
        }
    }
}

/// Down for `down`, up for `up`, repeatedly.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flapping {
    /// How long each up phase lasts.
    pub up: Duration,
    /// How long each down phase lasts.
    pub down: Duration,
}

/// The nodes on the far side of a partition: by zone, by name and/or by label selector
/// (the union of the three), of which `fraction` is cut off when set.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartitionSpec {
    /// Every node of these zones.
    #[serde(default)]
    pub zones: Vec<String>,
    /// These nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes by their labels (`matchLabels`), as they are when the fault starts.
    #[serde(default)]
    pub selector: Option<NodeSelector>,
    /// The share of those nodes cut off, between 0 and 1 (all of them when absent), chosen
    /// with the run's seed: `ceil(fraction x nodes)` of them.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Only the nodes' pods lose the network (a CNI or a security-group fault): the kubelets
    /// keep posting status, so the nodes stay Ready and nothing is evicted, while callers
    /// and gossip agents lose the pods on them.
    #[serde(default)]
    pub pods_only: bool,
}

/// Nodes picked by their labels, as a Service picks pods: every `matchLabels` pair must be
/// on the node. An empty selector picks every node.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelector {
    /// Label pairs every picked node carries.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

impl std::fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.match_labels.is_empty() {
            return f.write_str("every node");
        }
        let pairs: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "nodes {}", pairs.join(","))
    }
}

/// "60% of " before a selection's description, nothing without a fraction.
pub fn fraction_text(fraction: Option<f64>) -> String {
    fraction.map_or(String::new(), |x| format!("{}% of ", x * 100.0))
}

impl std::fmt::Display for NodeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeTarget::Name(n) => f.write_str(n),
            NodeTarget::Selected(s) => write!(f, "{}{}", fraction_text(s.fraction), s.selector),
        }
    }
}

impl NodeSelector {
    pub fn matches(&self, labels: &cascade_model::Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// The nodes a `nodeDown` fault takes down: one by name, or a share of those a selector
/// picks.
#[derive(Debug, Clone)]
pub enum NodeTarget {
    Name(String),
    Selected(NodeSelection),
}

/// `{selector: {matchLabels: ...}, fraction: F}`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelection {
    /// The nodes to choose from.
    pub selector: NodeSelector,
    /// The share of the selected nodes, between 0 and 1 (all of them when absent), chosen
    /// with the run's seed: `ceil(fraction x nodes)` of them.
    #[serde(default)]
    pub fraction: Option<f64>,
}

impl schemars::JsonSchema for NodeTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeTarget".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let selection = g.subschema_for::<NodeSelection>();
        schemars::json_schema!({
            "description": "A node's name, or {selector: {matchLabels: ...}, fraction: F}.",
            "anyOf": [{ "type": "string" }, selection]
        })
    }
}

impl<'de> Deserialize<'de> for NodeTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeTarget, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NodeTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a node's name, or {selector: {matchLabels: ...}, fraction: F}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeTarget, E> {
                Ok(NodeTarget::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<NodeTarget, A::Error> {
                NodeSelection::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(NodeTarget::Selected)
            }
        }
        d.deserialize_any(V)
    }
}

/// A fault by its `name` or by its index in `spec.faults`.
#[derive(Debug, Clone)]
pub enum FaultRef {
    Index(usize),
    Name(String),
}

impl schemars::JsonSchema for FaultRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A fault's name, or its index in spec.faults.",
            "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }]
        })
    }
}

impl<'de> Deserialize<'de> for FaultRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FaultRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FaultRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a fault's name or its index in spec.faults")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FaultRef, E> {
                Ok(FaultRef::Name(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FaultRef, E> {
                usize::try_from(v)
                    .map(FaultRef::Index)
                    .map_err(|_| E::custom("index too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FaultRef, E> {
                usize::try_from(v)
                    .map(FaultRef::Index)
                    .map_err(|_| E::custom(format!("index {v}: expected 0 or more")))
            }
        }
        d.deserialize_any(V)
    }
}

/// The kinds of object a change can delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum ObjectKind {
    PriorityClass,
    Pod,
    Node,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
}

impl ObjectKind {
    /// The workload kind, for the kinds of workload.
    pub fn workload(self) -> Option<WorkloadKind> {
        match self {
            ObjectKind::PriorityClass | ObjectKind::Pod | ObjectKind::Node => None,
            ObjectKind::Deployment => Some(WorkloadKind::Deployment),
            ObjectKind::ReplicaSet => Some(WorkloadKind::ReplicaSet),
            ObjectKind::StatefulSet => Some(WorkloadKind::StatefulSet),
            ObjectKind::DaemonSet => Some(WorkloadKind::DaemonSet),
        }
    }
}

/// `WorkloadKind` as a scenario names it (serde's remote derive: the model stays free of
/// the scenario format).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(remote = "WorkloadKind")]
enum WorkloadKindDoc {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: ObjectKind,
    /// Its namespace (`default` when absent, for namespaced kinds).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    /// The workload's kind.
    #[serde(with = "WorkloadKindDoc")]
    pub kind: WorkloadKind,
    /// Its namespace (`default` when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The new replica count.
    pub replicas: i32,
}

/// A bound on a metric of the summary (`totals.NAME`, `peaks.NAME`, `lows.NAME`, `means.NAME`
/// or `ratios.NAME`); a `totals` counter can be counted over the pods a selector picks and
/// within a time window; `lows.NAME` is the lowest sample of the metrics.csv column NAME (over
/// the run or within the window: "at least one replica Ready at all times" is
/// `lows.web_ready_replicas` with `min: 1`), `means.NAME` its time-weighted mean (a ratio
/// over the window: the mean of a 0/1 or a ratio column); a `peaks.NAME` is named by its
/// metrics.csv column with or without a window: within one the largest sample of the column in
/// it (e.g. `peaks.phantom_members` after the recovery), over the whole run summary.json's peak
/// (never below the column's largest sample); a `ratios.NAME` within a window is the ratio of
/// what its counts gained between the window's edges, read at the samples.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    /// What the expectation checks, in words (the outputs' and CI's test name).
    pub name: String,
    /// `totals.NAME`, `peaks.NAME`, `lows.NAME`, `means.NAME` or `ratios.NAME` (see Metrics for
    /// expectations in docs/scenario-reference.md).
    pub metric: String,
    /// With `totals.NAME`: count only the events of the pods it picks.
    #[serde(default)]
    pub selector: Option<PodSelector>,
    /// Count only what happens from this simulated time on.
    #[serde(default)]
    pub after: Option<Duration>,
    /// Count only what happens before this simulated time.
    #[serde(default)]
    pub before: Option<Duration>,
    /// The metric must be at most this.
    pub max: Option<f64>,
    /// The metric must be at least this.
    pub min: Option<f64>,
}

/// A named set of extra parameters and changes, e.g. a mitigation.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    /// What the variant changes and why, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Parameters merged over the scenario's.
    #[serde(default)]
    #[schemars(with = "Option<Params>")]
    pub parameters: serde_json::Value,
    /// Changes added to the scenario's.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Replaces the scenario's duration.
    #[serde(default)]
    pub duration: Option<Duration>,
    /// Faults added to the scenario's.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Indices of the base scenario's changes this variant leaves out.
    #[serde(default)]
    pub skip_changes: Vec<usize>,
    /// The base scenario's faults this variant leaves out, each by its `name` or its index in
    /// `spec.faults` (its own `faults` are added after).
    #[serde(default)]
    pub skip_faults: Vec<FaultRef>,
    /// Replaces the scenario's behaviours (e.g. another retry policy for the sidecars).
    #[serde(default)]
    pub behaviours: Option<Vec<Behaviour>>,
    /// Replaces the cluster's generated node groups (e.g. the same workloads on more nodes).
    #[serde(default)]
    pub node_groups: Option<Vec<NodeGroup>>,
    /// Replaces the cluster's manifest files (`spec.cluster.manifests`), e.g. the same
    /// Deployment with another memory limit, present from time 0 as the base run's are.
    #[serde(default)]
    pub manifests: Option<Vec<String>>,
}

/// A manifest file read for the scenario.
pub struct ManifestFile {
    pub path: String,
    pub manifests: Manifests,
}

/// A scenario ready to run: parsed, variant applied, parameters resolved, manifests loaded.
pub struct Scenario {
    pub name: String,
    pub variant: Option<String>,
    pub seed: u64,
    pub spec: Spec,
    pub params: Params,
    /// Every manifest file named by the cluster or a change, by path as written.
    pub files: BTreeMap<String, ManifestFile>,
    /// `parameters.startTime`, read: the Unix time in milliseconds simulated time 0 stands for.
    pub start_ms: i64,
    /// What loading found worth telling that is not an error (kinds cascade skips), for the
    /// caller to show.
    pub warnings: Vec<cascade_manifest::Diagnostic>,
    /// Where each of `spec.expectations` is written (line, column), for CI annotations.
    pub expectation_positions: Vec<(usize, usize)>,
}
