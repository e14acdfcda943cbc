//! What a scenario attaches to pods by selector: how their containers use CPU and memory, and
//! the API client, gossip agent and sidecar they run.

use super::{Bytes, CpuBehaviour, PodSelector};
use serde::Deserialize;

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
