//! kube-apiserver (`parameters.apiServer`): flat, as its flags are; `ApiServerParams::config`
//! maps it onto `cascade_apiserver::server::ApiServerConfig`'s groups, every length of time a
//! `Duration`.

use cascade_manifest::quantity::Bytes;
use serde::{Deserialize, Serialize};

/// kube-apiserver, `replicas` instances in front of etcd behind a load balancer, each with
/// the v1.33 bootstrap FlowSchemas and PriorityLevelConfigurations
/// (docs/control-plane-and-nodes.md#the-api-server-in-the-run). Kubernetes' flags keep their
/// defaults; the costs are cascade's choices, stated there. Every limit and cost below is each
/// replica's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApiServerParams {
    /// kube-apiserver replicas behind the load balancer (1: kubeadm's default, `kubeadm init`
    /// makes one control-plane node; an HA control plane joins more, usually 3). Each has its
    /// own inflight limits, APF queues, memory and watch cache; each client keeps its one
    /// connection to a replica until that replica goes away
    /// (docs/control-plane-and-nodes.md#api-server-replicas).
    pub replicas: u32,
    /// `--enable-priority-and-fairness` (true since v1.20): false puts the legacy max-inflight
    /// filter in APF's place (a 429 with `Retry-After: 1` past the inflight limits, no queues).
    pub priority_and_fairness: bool,
    /// `--max-requests-inflight` (400).
    pub max_requests_inflight: u32,
    /// `--max-mutating-requests-inflight` (200).
    pub max_mutating_requests_inflight: u32,
    /// Service time of any request before its objects (5 ms: cascade's choice).
    pub request_seconds: f64,
    /// Service time per object a LIST returns (20 microseconds: encoding a pod of a few KiB;
    /// cascade's choice).
    pub list_seconds_per_object: f64,
    /// The API server's CPUs (8: cascade's choice, a common control-plane VM): with more
    /// requests executing than CPUs, each is slowed in proportion. 0: no CPU limit.
    pub cpus: f64,
    /// Memory per object, held once in the watch cache and again in each LIST response being
    /// built (8 KiB: cascade's choice; a pod object is a few KiB, decoded and encoded).
    pub bytes_per_object: Bytes,
    /// The process's memory besides the objects (512 MiB: cascade's choice).
    pub baseline_memory: Bytes,
    /// The API server's memory limit (its container's, or its VM's); past it the process is
    /// OOM-killed. 0 (the default): no limit.
    pub memory_limit: Bytes,
    /// From a (re)start to serving: process start, etcd connections, the watch cache filled
    /// (60 s: cascade's choice; large clusters take minutes).
    pub startup_seconds: f64,
    /// The longest a request waits in an APF queue: a quarter of `--request-timeout`'s 60 s.
    pub queue_wait_limit_seconds: f64,
}

/// The control-plane nodes `kubeadm init` sets up, each running one kube-apiserver: 1 (kubeadm
/// v1.33, "Creating Highly Available Clusters with kubeadm": more are added with
/// `kubeadm join --control-plane`).
pub const KUBEADM_CONTROL_PLANE_REPLICAS: u32 = 1;

impl Default for ApiServerParams {
    fn default() -> Self {
        let d = cascade_apiserver::server::ApiServerConfig::default();
        ApiServerParams {
            replicas: KUBEADM_CONTROL_PLANE_REPLICAS,
            priority_and_fairness: d.flow_control.priority_and_fairness,
            max_requests_inflight: d.flow_control.max_requests_inflight,
            max_mutating_requests_inflight: d.flow_control.max_mutating_requests_inflight,
            request_seconds: d.execution.request.as_secs_f64(),
            list_seconds_per_object: d.execution.list_seconds_per_object,
            cpus: d.execution.cpus,
            bytes_per_object: Bytes(8 * 1024),
            baseline_memory: Bytes(512 * 1024 * 1024),
            memory_limit: Bytes(0),
            startup_seconds: d.startup.as_secs_f64(),
            queue_wait_limit_seconds: d.flow_control.queue_wait_limit.as_secs_f64(),
        }
    }
}

impl ApiServerParams {
    /// The server's configuration: the flat flags onto the server's groups, every length of
    /// time a `Duration`.
    pub fn config(&self) -> cascade_apiserver::server::ApiServerConfig {
        use cascade_apiserver::server::{
            ApiServerConfig, ExecutionConfig, FlowControlConfig, MemoryConfig,
        };
        use cascade_engine::Duration;
        ApiServerConfig {
            flow_control: FlowControlConfig {
                priority_and_fairness: self.priority_and_fairness,
                max_requests_inflight: self.max_requests_inflight,
                max_mutating_requests_inflight: self.max_mutating_requests_inflight,
                queue_wait_limit: Duration::from_secs_f64(self.queue_wait_limit_seconds),
            },
            execution: ExecutionConfig {
                request: Duration::from_secs_f64(self.request_seconds),
                list_seconds_per_object: self.list_seconds_per_object,
                cpus: self.cpus,
            },
            memory: MemoryConfig {
                bytes_per_object: self.bytes_per_object.0 as f64,
                baseline_bytes: self.baseline_memory.0 as f64,
                memory_limit_bytes: self.memory_limit.0 as f64,
            },
            startup: Duration::from_secs_f64(self.startup_seconds),
        }
    }
}
