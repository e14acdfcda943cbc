//! The server's configuration record: one group per concern, named after the part that reads
//! it (`flow_control` by `flow_control.rs` and `max_inflight.rs`, `execution` by `cost.rs`
//! and `execution.rs`, `memory` by `memory.rs`), every length of time a [`Duration`].
//! Kubernetes' own flags keep their defaults; the costs are cascade's choices
//! (docs/control-plane-and-nodes.md, "The API server in the run"). The scenario's
//! `parameters.apiServer` stays flat, as kube-apiserver's flags are (the sim's
//! `ApiServerParams::config` maps it onto the groups).

use crate::apf;
use cascade_engine::Duration;

/// The server's sizing and costs.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiServerConfig {
    /// API Priority and Fairness, or the legacy max-inflight filter in its place.
    pub flow_control: FlowControlConfig,
    /// What a request costs to execute, and the CPUs it shares.
    pub execution: ExecutionConfig,
    /// The process's memory: watch cache, responses, limit.
    pub memory: MemoryConfig,
    /// From a (re)start to serving: process start, etcd, the watch cache filled.
    pub startup: Duration,
}

/// `--enable-priority-and-fairness`, the inflight flags and the queues' wait limit.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowControlConfig {
    /// `--enable-priority-and-fairness` (true since v1.20's beta).
    pub priority_and_fairness: bool,
    /// `--max-requests-inflight` (400).
    pub max_requests_inflight: u32,
    /// `--max-mutating-requests-inflight` (200).
    pub max_mutating_requests_inflight: u32,
    /// The longest a request waits in a queue before it is rejected: a quarter of the default
    /// 60 s `--request-timeout`, 15 s (apiserver v0.33 `priority-and-fairness.go`).
    pub queue_wait_limit: Duration,
}

/// The request cost model's inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionConfig {
    /// Service time of any request, before its objects.
    pub request: Duration,
    /// Service time added per object a LIST returns (encoding it), in seconds. A rate, not a
    /// length of time: it is multiplied by up to hundreds of thousands of objects, so it stays
    /// unrounded and only the product becomes a [`Duration`].
    pub list_seconds_per_object: f64,
    /// CPUs the server runs on: with more requests executing than this, each runs that much
    /// slower (its service time is stretched by the share of the CPUs it gets when it starts).
    pub cpus: f64,
}

/// What the process holds in memory, and its limit.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryConfig {
    /// Memory per object: in the watch cache, and again in a LIST's response while it runs.
    pub bytes_per_object: f64,
    /// Memory the process holds besides (its own heap, caches of other resources).
    pub baseline_bytes: f64,
    /// The container's memory limit; 0: none.
    pub memory_limit_bytes: f64,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            flow_control: FlowControlConfig::default(),
            execution: ExecutionConfig::default(),
            memory: MemoryConfig::default(),
            startup: Duration::from_secs(60),
        }
    }
}

impl Default for FlowControlConfig {
    fn default() -> Self {
        FlowControlConfig {
            priority_and_fairness: true,
            max_requests_inflight: apf::MAX_REQUESTS_INFLIGHT,
            max_mutating_requests_inflight: apf::MAX_MUTATING_REQUESTS_INFLIGHT,
            queue_wait_limit: Duration::from_secs(15),
        }
    }
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            request: Duration::from_millis(5),
            list_seconds_per_object: 0.000_02,
            cpus: 8.0,
        }
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            bytes_per_object: 8192.0,
            baseline_bytes: 512.0 * 1024.0 * 1024.0,
            memory_limit_bytes: 0.0,
        }
    }
}
