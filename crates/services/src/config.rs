//! What a scenario's `spec.services` declares, with every default named and sourced. A
//! scenario's `spec.parameters.services`, a variant's `parameters.services` and
//! `--set services.NAME.FIELD=VALUE` override any field.

pub use crate::queue_discipline::{CoDelParams, ConcurrencyLimit, QueueDiscipline, QueueOverflow};
use cascade_manifest::quantity::Bytes;
use cascade_model::PodSelector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod calls;
pub use calls::{
    Backoff, Calls, CircuitBreaker, DownstreamCall, FanOut, Jitter, OutlierDetection, RetryBudget,
    RetryThrottling,
};

/// The services on a cluster, each keyed by the name its metrics carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// Capacity-limited request servers backed by pods (an auth proxy, DNS, an API server).
    pub services: BTreeMap<String, ServiceSpec>,
    /// Cortex-style hash rings whose ingesters are pods.
    pub rings: BTreeMap<String, RingSpec>,
    /// Fleets of Prometheus servers shipping samples with remote_write.
    pub remote_write: BTreeMap<String, RemoteWriteSpec>,
    /// Open-loop clients (users, sidecars) with a retry policy.
    pub clients: BTreeMap<String, ClientSpec>,
    /// The warm-up: service levels are measured from this long after the start, and the steady
    /// state that `peaks.{service}_qps_ratio` compares with is the mean request rate from then
    /// until the first change or fault.
    pub baseline_warmup_seconds: f64,
    /// A sample interval counts towards `totals.write_outage_seconds` when more than this
    /// fraction of remote_write requests in it failed (1%: an SRE's "writes are failing").
    pub outage_error_ratio: f64,
    /// The window of the request rates `peaks.{service}_qps_1m` and `_qps_ratio` are made of
    /// (60 s: an operator's `rate(...[1m])` at a 1-minute step), counted in windows aligned on
    /// the start of the run, whatever the sample interval.
    pub rate_window_seconds: f64,
    /// The surge's peak is taken from the first change or fault until this instant (None: the
    /// end of the run); a scenario whose operators fix the outage sets it to the fix, so
    /// that the replay of the backlog afterwards is not counted as the storm.
    pub surge_until_seconds: Option<f64>,
    /// The baseline is steady when every rate window in it is within this fraction of its
    /// mean (0.5) and it holds at least two windows; otherwise no ratio is given.
    pub steady_tolerance: f64,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            services: BTreeMap::new(),
            rings: BTreeMap::new(),
            remote_write: BTreeMap::new(),
            clients: BTreeMap::new(),
            baseline_warmup_seconds: 60.0,
            outage_error_ratio: 0.01,
            rate_window_seconds: 60.0,
            surge_until_seconds: None,
            steady_tolerance: 0.5,
        }
    }
}

impl ServicesConfig {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.rings.is_empty()
            && self.remote_write.is_empty()
            && self.clients.is_empty()
    }
}

/// How long a request holds a worker.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ServiceTime {
    /// Exponentially distributed (an M/M/c server): the default, and what queueing theory's
    /// closed forms assume.
    #[default]
    Exponential,
    /// Always exactly the mean.
    Deterministic,
}

/// A service whose replicas are the Ready pods its selector picks: each replica serves
/// `workersPerReplica` requests at a time and queues the rest up to `queueCapacity`. Every
/// request in a replica (served or queued) holds `memoryPerRequest`; past the pod's memory
/// limit the container is OOM-killed, and its requests fail with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceSpec {
    /// The pods that serve it. A pod receives requests once Ready, as an Endpoint does.
    pub selector: PodSelector,
    /// Requests one replica serves at once (Go servers: goroutines bounded by CPU; c in M/M/c).
    pub workers_per_replica: u32,
    /// Mean time one request holds a worker.
    pub service_seconds: f64,
    /// How service times are drawn around `serviceSeconds`.
    pub service_time: ServiceTime,
    /// Requests a replica queues beyond its workers; more are rejected at once (503).
    pub queue_capacity: u32,
    /// A queued request older than this when a worker frees is dropped unserved (load
    /// shedding); none by default, as in a plain Go HTTP server.
    pub queue_timeout_seconds: Option<f64>,
    /// Memory a replica uses with no request in it.
    pub memory_base: Bytes,
    /// Memory each request in the replica holds (its body, buffers, goroutine).
    pub memory_per_request: Bytes,
    /// The container's memory limit when the pod sets none (0: unlimited).
    pub memory_limit: Bytes,
    /// A ring the service writes to (a Cortex distributor): a request succeeds only if the
    /// ring accepts the write of every series in it.
    pub ring: Option<String>,
    /// The status a full queue answers with: 503 (overloaded; clients retry) or 429 (rate
    /// limited, which Prometheus before 2.26 does not retry).
    pub reject_status: u16,
    /// The services this one calls while serving each request (none by default): one call,
    /// or a list of them run as `fanOut` says. docs/retry-defences.md#services-that-call-services
    #[serde(skip_serializing_if = "Calls::is_empty")]
    pub calls: Calls,
    /// How a list of `calls` runs: serial (one after another, the default) or parallel (all
    /// at once, answered when the last has ended). docs/retry-defences.md#fan-out
    #[serde(skip_serializing_if = "is_default")]
    pub fan_out: FanOut,
    /// The order workers take queued requests in: fifo (the default), lifo, codel or
    /// adaptiveLifo. docs/retry-defences.md#queue-disciplines
    #[serde(skip_serializing_if = "is_default")]
    pub queue_discipline: QueueDiscipline,
    /// What a full queue does with one more request: dropTail (refuse it, the default) or
    /// dropHead (drop the oldest). docs/retry-defences.md#queue-disciplines
    #[serde(skip_serializing_if = "is_default")]
    pub queue_overflow: QueueOverflow,
    /// CoDel's target and interval (5 ms, 100 ms), for the codel and adaptiveLifo disciplines.
    #[serde(skip_serializing_if = "is_default")]
    pub codel: CoDelParams,
    /// Load shedding by concurrency, per replica (none: only the workers and the queue
    /// bound it). docs/retry-defences.md#concurrency-limit
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<ConcurrencyLimit>,
    /// The service stops work on a request once its caller has given up on it (false, the
    /// default: it finishes the work for nobody). A gRPC server whose handlers return when
    /// their context is cancelled, behind callers whose timeouts reach it (gRPC's deadline,
    /// Envoy resetting the upstream stream at its route timeout): the worker, or the queue
    /// slot, is freed at once and the request counts in `totals.{service}_cancelled`.
    /// docs/retry-defences.md#cancellation
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub honor_cancellation: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            selector: PodSelector::default(),
            workers_per_replica: 8,
            service_seconds: 0.01,
            service_time: ServiceTime::Exponential,
            queue_capacity: 1000,
            queue_timeout_seconds: None,
            memory_base: Bytes(64 << 20),
            memory_per_request: Bytes(1 << 20),
            memory_limit: Bytes(0),
            ring: None,
            reject_status: 503,
            calls: Calls::default(),
            fan_out: FanOut::Serial,
            queue_discipline: QueueDiscipline::Fifo,
            queue_overflow: QueueOverflow::DropTail,
            codel: CoDelParams::default(),
            concurrency_limit: None,
            honor_cancellation: false,
        }
    }
}

/// A service running degraded for a while (a scenario's `serviceDegraded` fault): it keeps
/// its endpoints and answers, but worse. Each field left out leaves that aspect as it was;
/// docs/retry-defences.md#degradation says what each one models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Degradation {
    /// Workers per replica while degraded (CPU throttled, a noisy neighbour, a lock held):
    /// at most the service's own `workersPerReplica`. Requests already in service finish;
    /// new ones wait in the queue until fewer than this many are served.
    pub workers_per_replica: Option<u32>,
    /// Each service time drawn while degraded is multiplied by this (a slow disk, GC).
    pub service_time_factor: f64,
    /// Every answer of a request a replica served (success or error) reaches its caller this
    /// much later, without holding a worker (a slow network path, Envoy's fault-injection
    /// `delay`). Rejections and refusals are not delayed.
    pub added_latency_seconds: f64,
    /// The share of served requests answered with an error (a 500 after the work is done,
    /// like a failing downstream call): a probability in [0, 1].
    pub error_rate: f64,
}

impl Default for Degradation {
    fn default() -> Self {
        Degradation {
            workers_per_replica: None,
            service_time_factor: 1.0,
            added_latency_seconds: 0.0,
            error_rate: 0.0,
        }
    }
}

/// A Cortex ring (cortexproject/cortex pkg/ring and pkg/ingester, 2019; see
/// docs/cortex-and-prometheus.md) whose ingesters are the pods the selector picks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RingSpec {
    /// The pods that are the ring's ingesters.
    pub selector: PodSelector,
    /// -ingester.num-tokens (128).
    pub num_tokens: u32,
    /// -distributor.replication-factor (3).
    pub replication_factor: u32,
    /// -ring.heartbeat-timeout (1 min): an ingester silent longer is unhealthy.
    pub heartbeat_timeout_seconds: f64,
    /// -ingester.join-after (Cortex's default 0 s; Grafana ran 30 s): how long a new (PENDING)
    /// ingester waits for a leaving one to hand it series before it claims tokens of its own.
    pub join_after_seconds: f64,
    /// -ingester.max-transfer-retries (60 in Grafana's jsonnet): hand-over attempts of a
    /// leaving ingester while no PENDING ingester exists.
    pub max_transfer_retries: u32,
    /// Backoff between hand-over attempts (5 s: 60 retries is about 5 minutes).
    pub transfer_retry_seconds: f64,
    /// How long streaming the in-memory series to the joining ingester takes.
    pub transfer_seconds: f64,
    /// How long flushing the in-memory chunks to the store takes when no hand-over happens.
    pub flush_seconds: f64,
    /// Distinct series one write request carries (a batch's samples are mostly of distinct
    /// series); a write fails if any of them lacks a quorum.
    pub series_per_write: u32,
}

impl Default for RingSpec {
    fn default() -> Self {
        RingSpec {
            selector: PodSelector::default(),
            num_tokens: 128,
            replication_factor: 3,
            heartbeat_timeout_seconds: 60.0,
            join_after_seconds: 0.0,
            max_transfer_retries: 60,
            transfer_retry_seconds: 5.0,
            transfer_seconds: 60.0,
            flush_seconds: 120.0,
            series_per_write: 100,
        }
    }
}

/// A fleet of Prometheus servers, each with its own remote_write queue manager
/// (prometheus/storage/remote/queue_manager.go, 2.8+ reading from the WAL). Defaults are the
/// 2019 queue_config (docs/cortex-and-prometheus.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RemoteWriteSpec {
    /// The service the samples are written to (an auth proxy in front of the distributors).
    pub target: String,
    /// How many Prometheus servers.
    pub servers: u32,
    /// Samples each server appends to its WAL per second.
    pub samples_per_second: f64,
    /// queue_config.capacity (10000): samples a shard buffers in memory. With the WAL the rest
    /// wait on disk; without it they are dropped.
    pub capacity: u32,
    /// Whether remote_write reads from the WAL (Prometheus 2.8+, March 2019: true). Before,
    /// samples that did not fit the shards' queues were dropped, and an outage lost data.
    pub wal: bool,
    /// queue_config.retry_on_http_429 (Prometheus 2.26+; false before, and in 2019): whether a
    /// 429 answer is retried like a 5xx or the batch dropped.
    pub retry_on_http_429: bool,
    /// queue_config.min_shards (1).
    pub min_shards: u32,
    /// queue_config.max_shards (1000).
    pub max_shards: u32,
    /// queue_config.max_samples_per_send (100).
    pub max_samples_per_send: u32,
    /// queue_config.batch_send_deadline (5 s): a partial batch is sent after this long.
    pub batch_send_deadline_seconds: f64,
    /// remote_timeout (30 s).
    pub remote_timeout_seconds: f64,
    /// min_backoff 30 ms, max_backoff 100 ms (2019), doubling, no jitter.
    pub backoff: Backoff,
    /// shardUpdateDuration (10 s): how often the desired shard count is recomputed.
    pub shard_update_seconds: f64,
    /// ewmaWeight (0.2) of the rates the shard count is computed from.
    pub ewma_weight: f64,
    /// shardToleranceFraction (0.3): changes within this fraction are ignored.
    pub shard_tolerance_fraction: f64,
    /// The integral gain on pending samples per shard update (0.1: a tenth of the backlog per
    /// update interval), v2.16's catch-up term (unused by v2.11's form).
    pub pending_gain: f64,
    /// The Prometheus release whose `calculateDesiredShards` the fleet runs: "2.11" (the form
    /// of v2.8-v2.11) or "2.16" (v2.16 on; the default). docs/cortex-and-prometheus.md#desired-shards
    pub prometheus_version: PrometheusVersion,
    /// When the servers start sending, in seconds from the start of the run (0): a fleet that
    /// was running long before the run starts once what it writes to exists, not with an
    /// empty WAL against a cluster still booting.
    pub start_seconds: f64,
    /// `--storage.remote.flush-deadline` (1 min): how long a reshard waits for the old shards
    /// to flush before abandoning the batches they still hold.
    pub flush_deadline_seconds: f64,
    /// How long unsent samples survive in the WAL (head compaction truncates it about every
    /// 2 h): older ones are lost.
    pub wal_retention_seconds: f64,
}

impl Default for RemoteWriteSpec {
    fn default() -> Self {
        RemoteWriteSpec {
            target: String::new(),
            servers: 1,
            samples_per_second: 1000.0,
            capacity: 10_000,
            wal: true,
            retry_on_http_429: false,
            min_shards: 1,
            max_shards: 1000,
            max_samples_per_send: 100,
            batch_send_deadline_seconds: 5.0,
            remote_timeout_seconds: 30.0,
            backoff: Backoff {
                initial_seconds: 0.03,
                max_seconds: 0.1,
                multiplier: 2.0,
                jitter: Jitter::None,
            },
            shard_update_seconds: 10.0,
            ewma_weight: 0.2,
            shard_tolerance_fraction: 0.3,
            pending_gain: 0.1,
            prometheus_version: PrometheusVersion::default(),
            flush_deadline_seconds: 60.0,
            start_seconds: 0.0,
            wal_retention_seconds: 7200.0,
        }
    }
}

/// The form of `calculateDesiredShards` a remote_write fleet runs
/// (prometheus/storage/remote/queue_manager.go; docs/cortex-and-prometheus.md#desired-shards).
/// Written as a string or a number: "2.8" to "2.11" read as the v2.11 form, "2.16" as v2.16's;
/// any other release is refused (its form is not modelled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrometheusVersion {
    /// v2.8-v2.11 (July 2019): desired = timePerSample x pending.
    V2_11,
    /// v2.16 (February 2020) on: desired = timePerSample x (in + 0.01 x pending).
    #[default]
    V2_16,
}

impl PrometheusVersion {
    /// The releases accepted, for error messages.
    pub const EXPECTED: &'static str =
        "\"2.11\" (also \"2.8\", \"2.9\", \"2.10\": the same form) or \"2.16\"";

    pub fn parse(v: &str) -> Option<PrometheusVersion> {
        match v.trim().trim_start_matches('v') {
            "2.8" | "2.9" | "2.10" | "2.11" => Some(PrometheusVersion::V2_11),
            "2.16" => Some(PrometheusVersion::V2_16),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PrometheusVersion::V2_11 => "2.11",
            PrometheusVersion::V2_16 => "2.16",
        }
    }
}

impl Serialize for PrometheusVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl schemars::JsonSchema for PrometheusVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PrometheusVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The Prometheus release whose remote_write resharding the fleet runs: 2.8 to 2.11 (the v2.11 form) or 2.16, as a string or a number.",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*v?2\\.(8|9|10|11|16)\\s*$" },
                { "type": "number", "enum": [2.8, 2.9, 2.11, 2.16] }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for PrometheusVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            // YAML reads an unquoted 2.11 as a number; 2.10 would read as 2.1: quote it.
            Raw::Number(n) => format!("{n}"),
        };
        PrometheusVersion::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "prometheusVersion {text:?} is not modelled: expected {}",
                PrometheusVersion::EXPECTED
            ))
        })
    }
}

/// Open-loop clients: requests arrive as a Poisson process whatever happens to earlier ones
/// (users, sidecars, cron jobs), each retried on failure per the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ClientSpec {
    /// The service it calls (from `spec.services`).
    pub target: String,
    /// Logical requests per second (cache misses included).
    pub rate_per_second: f64,
    /// Requests per logical request (a lookup that fans out to k calls): the amplification.
    pub requests_per_call: u32,
    /// Client-side timeout of one attempt.
    pub timeout_seconds: f64,
    /// Attempts after the first.
    pub max_retries: u32,
    /// The delay before each retry.
    pub backoff: Backoff,
    /// A client-side cache: a logical request whose answer is younger than this is served from
    /// it (0: no cache). Keys are drawn uniformly from `cacheKeys`.
    pub cache_ttl_seconds: f64,
    /// How many distinct keys its requests draw from (with `cacheTtlSeconds`).
    pub cache_keys: u32,
    /// The cache is warm when the run begins (true, the default): a client that has run for
    /// long holds every key it uses, each fetched at a different time, so each entry's
    /// remaining freshness is uniform in [0, `cacheTtlSeconds`) and they expire spread out.
    /// False: empty at the start, as after a restart; its first misses then expire together
    /// one TTL later. docs/retry-defences.md#client-caches
    pub warm_cache_at_start: bool,
    /// When it starts and stops sending (seconds of simulated time; stop absent: never).
    pub start_seconds: f64,
    /// When it stops sending; absent: never.
    pub stop_seconds: Option<f64>,
    /// A client that protects itself by sealing (Vault with the Consul storage backend): once
    /// its calls have failed without a single success for this long, it seals and serves
    /// nothing until an operator unseals it (not modelled: it stays sealed). None: never.
    pub seal_after_failing_seconds: Option<f64>,
    /// gRPC retry throttling (none: retries are not throttled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_throttling: Option<RetryThrottling>,
    /// Envoy's retry budget (none: retries are not budgeted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
    /// Hystrix's circuit breaker (none: always closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Attach the client to a workload's pods: it calls `ratePerPod` times per second for
    /// every Running pod this selector picks, so its load follows their count (a scale-up
    /// multiplies it, pods lost to a fault stop calling); `ratePerSecond` is then unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_pod_of: Option<PodSelector>,
    /// Logical calls per second per pod of `perPodOf` (required with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_pod: Option<f64>,
    /// Each call is a DNS lookup by the pod's resolver: `requestsPerCall` is then computed,
    /// the queries the resolver sends (docs/dns.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::dns::DnsLookup>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            target: String::new(),
            rate_per_second: 10.0,
            requests_per_call: 1,
            timeout_seconds: 1.0,
            max_retries: 3,
            backoff: Backoff::default(),
            cache_ttl_seconds: 0.0,
            cache_keys: 1000,
            warm_cache_at_start: true,
            start_seconds: 0.0,
            stop_seconds: None,
            seal_after_failing_seconds: None,
            retry_throttling: None,
            retry_budget: None,
            circuit_breaker: None,
            per_pod_of: None,
            rate_per_pod: None,
            dns: None,
        }
    }
}
