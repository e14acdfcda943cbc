//! Scenario files: `apiVersion: cascade.dev/v1alpha1`, `kind: Scenario`. A scenario names the
//! cluster (manifests and/or generated nodes), attaches behaviours to pods by selector,
//! schedules faults and changes at simulated times, overrides model parameters, and states the
//! expectations that decide the exit code. It sets causes, never outcomes.

use crate::params::{merge, set_path, Params};
pub use cascade_manifest::quantity::Bytes;
use cascade_manifest::{
    from_value, Diagnostic, Errors, Manifests, Path, PathError, Severity, Value,
};
pub use cascade_model::PodSelector;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

pub const API_GROUP: &str = "cascade.dev";

/// A duration: seconds as a number, or a string such as "90s", "5m", "1h30m", "250ms".
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Duration(pub f64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n >= 0.0 => Ok(Duration(n)),
            Raw::Num(n) => Err(serde::de::Error::custom(format!("invalid duration {n}: expected a non-negative number of seconds"))),
            Raw::Str(s) => parse_duration(&s).map(Duration).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?}: expected a number of seconds or a duration such as \"90s\", \"5m\", \"1h30m\""
                ))
            }),
        }
    }
}

/// Go-style durations: a sequence of number+unit (h, m, s, ms).
pub fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(v) = s.parse::<f64>() {
        return (v >= 0.0).then_some(v);
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let (mult, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            return None;
        };
        total += n * mult;
        rest = &rest[len..];
    }
    Some(total)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// How much simulated time to run.
    pub duration: Duration,
    /// Default seed (overridden by `--seed`).
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The services on the cluster (cascade-services `ServiceSpec`, by name), merged into the
    /// parameters at `services`, so variants and `--set services.NAME.FIELD=V` override them.
    #[serde(default)]
    pub services: serde_json::Value,
    /// Cortex rings (`RingSpec`), at `rings`.
    #[serde(default)]
    pub rings: serde_json::Value,
    /// Prometheus remote_write fleets (`RemoteWriteSpec`), at `remoteWrite`.
    #[serde(default)]
    pub remote_write: serde_json::Value,
    /// Clients with retry policies (`ClientSpec`), at `clients`.
    #[serde(default)]
    pub clients: serde_json::Value,
    /// Model parameters (see `Params`), merged over the defaults.
    #[serde(default)]
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub expectations: Vec<Expectation>,
    #[serde(default)]
    pub variants: BTreeMap<String, Variant>,
}

#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadGroup {
    pub name_prefix: String,
    pub count: usize,
    /// Whether `parameters.generatorScale` resizes this group (true).
    #[serde(default = "yes")]
    pub scaled: bool,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Deployment (default) or StatefulSet.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default = "one")]
    pub replicas: i32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub priority_class_name: Option<String>,
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
    pub containers: Vec<ContainerShape>,
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

/// A container of a generated workload: a name and its resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerShape {
    pub name: String,
    #[serde(default)]
    pub requests: BTreeMap<String, Value>,
    #[serde(default)]
    pub limits: BTreeMap<String, Value>,
}

/// `count` nodes named `{namePrefix}-{i}`, spread round-robin over `zones`; an autoscaled node
/// group when `maxSize` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    pub name_prefix: String,
    pub count: usize,
    /// Whether `parameters.generatorScale` resizes this group (true; false for a fixed
    /// group such as three dedicated server nodes).
    #[serde(default = "yes")]
    pub scaled: bool,
    #[serde(default)]
    pub zones: Vec<String>,
    /// Allocatable resources, as in a Node's status.allocatable.
    pub allocatable: BTreeMap<String, Value>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// With `maxSize`, the cluster autoscaler manages the group between `minSize` and `maxSize`.
    #[serde(default)]
    pub min_size: Option<usize>,
    #[serde(default)]
    pub max_size: Option<usize>,
}

/// How the containers of the selected pods behave.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behaviour {
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
}

/// A pod's gossip agent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GossipAgent {
    /// When it joins the pool, if not `parameters.gossip.joinOn`.
    #[serde(default)]
    pub join_on: Option<JoinOn>,
}

/// When a pod's gossip agent joins: `start`, as soon as the containers start (the Target
/// case: the agent is a sidecar that runs before the app), or `ready`, once the pod is Ready
/// (the postmortem's lesson: register on readiness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JoinOn {
    #[default]
    Start,
    Ready,
}

/// Gossip encryption turned on (`consul keyring -install/-use`, `encrypt` in the agents'
/// configuration): the servers take the key at once; every agent started from then on has
/// it; the agents already running get it when the redeploy reaches them.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryBehaviour {
    pub start: Bytes,
    pub growth_per_minute: Bytes,
}

/// A change an operator makes at a simulated time.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Change {
    pub at: Duration,
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

/// A fault: something breaks at `at`, for `duration` (forever when absent).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    pub at: Duration,
    #[serde(default)]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub description: Option<String>,
    /// A node's kubelet stops (power loss, kernel panic): heartbeats stop, its pods stop.
    #[serde(default)]
    pub node_down: Option<String>,
    /// Every node of a zone goes down at once.
    #[serde(default)]
    pub zone_down: Option<String>,
    /// A dependency is down: a service (from `spec.services`) refuses every connection, as if
    /// its endpoints were gone, while its pods keep running.
    #[serde(default)]
    pub service_down: Option<String>,
    /// With `serviceDown`: instead of staying down, the service alternates down and up for
    /// the fault's duration, starting down (an intermittently reachable Kafka).
    #[serde(default)]
    pub flapping: Option<Flapping>,
    /// A network partition: these nodes lose the control plane and the rest of the cluster.
    /// Their kubelets cannot post status (the nodes go NotReady and their pods are evicted in
    /// time), but their processes keep running. Service callers are on the control plane's
    /// side: requests routed to the far side's replicas go unanswered until the endpoints
    /// drop them; gossip agents on each side lose the other side.
    #[serde(default)]
    pub partition: Option<PartitionSpec>,
}

/// Down for `down`, up for `up`, repeatedly.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flapping {
    pub up: Duration,
    pub down: Duration,
}

/// The nodes on the far side of a partition: by zone and/or by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartitionSpec {
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub replicas: i32,
}

/// A bound on a metric of the summary (`totals.NAME` or `peaks.NAME`); a `totals` counter can
/// be counted over the pods a selector picks and within a time window, and a `peaks.NAME`
/// within a window is the largest sample of the metrics.csv column NAME in it (e.g.
/// `peaks.phantom_members` after the recovery).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    pub name: String,
    pub metric: String,
    #[serde(default)]
    pub selector: Option<PodSelector>,
    /// Count only what happens from this simulated time on.
    #[serde(default)]
    pub after: Option<Duration>,
    /// Count only what happens before this simulated time.
    #[serde(default)]
    pub before: Option<Duration>,
    pub max: Option<f64>,
    pub min: Option<f64>,
}

/// A named set of extra parameters and changes, e.g. a mitigation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Replaces the scenario's duration.
    #[serde(default)]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Indices of the base scenario's changes this variant leaves out.
    #[serde(default)]
    pub skip_changes: Vec<usize>,
    /// Replaces the scenario's behaviours (e.g. another retry policy for the sidecars).
    #[serde(default)]
    pub behaviours: Option<Vec<Behaviour>>,
    /// Replaces the cluster's generated node groups (e.g. the same workloads on more nodes).
    #[serde(default)]
    pub node_groups: Option<Vec<NodeGroup>>,
}

/// The services part of a scenario document, typed, for located errors.
#[derive(Deserialize)]
#[allow(dead_code)] // only deserialised, for the errors
struct ServicesDoc {
    spec: ServicesSpecDoc,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // only deserialised, for the errors
struct ServicesSpecDoc {
    #[serde(default)]
    services: BTreeMap<String, cascade_services::ServiceSpec>,
    #[serde(default)]
    rings: BTreeMap<String, cascade_services::RingSpec>,
    #[serde(default)]
    remote_write: BTreeMap<String, cascade_services::RemoteWriteSpec>,
    #[serde(default)]
    clients: BTreeMap<String, cascade_services::ClientSpec>,
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
}

fn located(m: &Manifests, origin: &cascade_manifest::Origin, e: PathError) -> Diagnostic {
    m.diagnostic(Severity::Error, origin, &e.path, e.message)
}

fn bad(file: &str, message: String) -> Errors {
    Errors(vec![Diagnostic {
        severity: Severity::Error,
        file: file.to_string(),
        line: 0,
        column: 0,
        message,
    }])
}

/// Reads a scenario file, applies `variant` and `--set` overrides, and loads every manifest it
/// names. All problems are reported together with their positions.
pub fn load(
    path: &FsPath,
    variant: Option<&str>,
    sets: &[(String, String)],
    seed: Option<u64>,
) -> Result<Scenario, Errors> {
    let file = path.display().to_string();
    let mut m = Manifests::new();
    m.claim_group(API_GROUP);
    m.load_file(path);
    m.finish()?;
    let docs: Vec<_> = m
        .claimed
        .iter()
        .filter(|d| d.object.get("kind").and_then(Value::as_str) == Some("Scenario"))
        .collect();
    let [doc] = docs.as_slice() else {
        return Err(bad(&file, format!("expected exactly one document of apiVersion {API_GROUP}/v1alpha1, kind Scenario; found {}", docs.len())));
    };
    let origin = doc.origin.clone();
    let parsed: ScenarioDoc =
        from_value(doc.object.clone()).map_err(|e| Errors(vec![located(&m, &origin, e)]))?;
    if parsed.api_version != format!("{API_GROUP}/v1alpha1") {
        return Err(Errors(vec![located(
            &m,
            &origin,
            PathError::new(
                Path::root().key("apiVersion"),
                format!(
                    "unsupported apiVersion {:?}: expected {API_GROUP}/v1alpha1",
                    parsed.api_version
                ),
            ),
        )]));
    }
    // The services' declarations, checked here so that an error carries its line.
    from_value::<ServicesDoc>(doc.object.clone())
        .map_err(|e| Errors(vec![located(&m, &origin, e)]))?;
    let mut spec = parsed.spec;
    let mut param_tree = serde_json::to_value(Params::default()).expect("params serialize");
    for (key, value) in [
        ("services", &spec.services),
        ("rings", &spec.rings),
        ("remoteWrite", &spec.remote_write),
        ("clients", &spec.clients),
    ] {
        merge(&mut param_tree[key], value);
    }
    merge(&mut param_tree, &spec.parameters);
    if let Some(v) = variant {
        let Some(var) = spec.variants.get(v).cloned() else {
            let known: Vec<&str> = spec.variants.keys().map(String::as_str).collect();
            return Err(bad(
                &file,
                format!("unknown variant {v:?}: expected one of {known:?}"),
            ));
        };
        merge(&mut param_tree, &var.parameters);
        if let Some(d) = var.duration {
            spec.duration = d;
        }
        let mut kept: Vec<Change> = Vec::new();
        for (i, c) in spec.changes.iter().enumerate() {
            if !var.skip_changes.contains(&i) {
                kept.push(c.clone());
            }
        }
        kept.extend(var.changes.iter().cloned());
        spec.changes = kept;
        spec.faults.extend(var.faults.iter().cloned());
        if let Some(b) = &var.behaviours {
            spec.behaviours = b.clone();
        }
        if let Some(g) = &var.node_groups {
            spec.cluster.node_groups = g.clone();
        }
    }
    for (k, v) in sets {
        set_path(&mut param_tree, k, v).map_err(|e| bad("--set", e))?;
    }
    let params: Params = serde_json::from_value(param_tree).map_err(|e| {
        bad(
            &file,
            format!("invalid parameters (spec.parameters, variant or --set): {e}"),
        )
    })?;
    // Names the services refer to (a target, a ring, a fault's service) must exist.
    cascade_services::validate(&params.services_config()).map_err(|e| bad(&file, e))?;
    let known = |name: &str| params.services.contains_key(name);
    for (i, b) in spec.behaviours.iter().enumerate() {
        let names = b
            .sidecars
            .iter()
            .map(|c| ("sidecars", c.target.as_str()))
            .chain(
                b.registers
                    .iter()
                    .map(|r| ("registers", r.service.as_str())),
            );
        for (field, name) in names {
            if !known(name) {
                return Err(bad(
                    &file,
                    format!(
                        "behaviours[{i}].{field}: no service named {name:?} (declared: {:?})",
                        params.services.keys().collect::<Vec<_>>()
                    ),
                ));
            }
        }
    }
    let catalog = &params.gossip.catalog_service;
    if !catalog.is_empty() && !known(catalog) {
        return Err(bad(
            &file,
            format!(
                "parameters.gossip.catalogService: no service named {catalog:?} (declared: {:?})",
                params.services.keys().collect::<Vec<_>>()
            ),
        ));
    }
    for (i, c) in spec.changes.iter().enumerate() {
        if let Some(name) = &c.unseal {
            if !params.clients.contains_key(name) {
                return Err(bad(
                    &file,
                    format!(
                        "changes[{i}].unseal: no client named {name:?} (declared: {:?})",
                        params.clients.keys().collect::<Vec<_>>()
                    ),
                ));
            }
        }
    }
    for (i, f) in spec.faults.iter().enumerate() {
        if let Some(s) = &f.service_down {
            if !params.services.contains_key(s) {
                return Err(bad(
                    &file,
                    format!(
                        "faults[{i}].serviceDown: no service named {s:?} (declared: {:?})",
                        params.services.keys().collect::<Vec<_>>()
                    ),
                ));
            }
        }
        if f.flapping.is_some() && f.service_down.is_none() {
            return Err(bad(
                &file,
                format!("faults[{i}].flapping: expected with serviceDown"),
            ));
        }
        if let Some(fl) = f.flapping {
            if fl.up.0 <= 0.0 || fl.down.0 <= 0.0 {
                return Err(bad(
                    &file,
                    format!("faults[{i}].flapping: expected up and down longer than 0"),
                ));
            }
        }
    }
    // Stable order of changes by time; equal times keep file order.
    spec.changes.sort_by(|a, b| a.at.0.total_cmp(&b.at.0));

    let base = path
        .parent()
        .map(FsPath::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut files = BTreeMap::new();
    let mut errors = Vec::new();
    let names = spec
        .cluster
        .manifests
        .iter()
        .chain(spec.changes.iter().flat_map(|c| c.apply.iter()));
    for name in names {
        if files.contains_key(name) {
            continue;
        }
        let mut fm = Manifests::new();
        fm.load_file(&base.join(name));
        for w in &fm.warnings {
            eprintln!("{w}");
        }
        if let Err(e) = fm.finish() {
            errors.extend(e.0);
        }
        files.insert(
            name.clone(),
            ManifestFile {
                path: name.clone(),
                manifests: fm,
            },
        );
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    Ok(Scenario {
        name: parsed.metadata.name,
        variant: variant.map(str::to_string),
        seed: seed.unwrap_or(spec.seed),
        spec,
        params,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("250ms"), Some(0.25));
        assert_eq!(parse_duration("12"), Some(12.0));
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("-3"), None);
    }
}
