//! Scenario files: `apiVersion: cascade.dev/v1alpha1`, `kind: Scenario`. A scenario names the
//! cluster (manifests and/or generated nodes), attaches behaviours to pods by selector,
//! schedules faults and changes at simulated times, overrides model parameters, and states the
//! expectations that decide the exit code. It sets causes, never outcomes.

mod behaviour;
mod cpu;
mod duration;
mod faults;
mod load;
mod selectors;
mod set_index;
pub mod size;
mod validate;

use crate::params::Params;
pub use behaviour::{
    ApiClient, Behaviour, GossipAgent, GossipEncryption, JoinOn, MemoryBehaviour, MemorySpike,
    Registration, SidecarSpec,
};
pub use cascade_manifest::quantity::Bytes;
use cascade_manifest::{Manifests, Value};
pub use cascade_model::{PodSelector, WorkloadKind};
pub use cpu::{Cores, CpuBehaviour, CpuSpike};
pub use duration::{parse_duration, Duration, DURATION_PATTERN};
pub use faults::{
    fraction_text, Fault, FaultKind, FaultRef, Flapping, NodeSelection, NodeSelector, NodeTarget,
    PartitionSpec,
};
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
