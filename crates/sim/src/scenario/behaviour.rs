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

/// A container's memory over time (docs/kubernetes.md#node-memory-pressure): `start` when it
/// starts, `growthPerMinute` more every minute (a leak, a cache that fills; 0: steady),
/// `perRequest` for each request in flight at its replicas of the services (served or
/// queued), and `spike` on top for a while (a batch, a compaction, a cache reload).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryBehaviour {
    /// Memory in use when the container starts.
    pub start: Bytes,
    /// Growth a minute (0, the default: steady).
    #[serde(default)]
    pub growth_per_minute: Bytes,
    /// Memory each request in flight at the pod's replicas holds (served or queued), for a
    /// pod that backs a service (`spec.services`): its node's memory follows the requests
    /// piling up in it (0, the default: none). The service's own `memoryPerRequest` is what
    /// its container-limit check counts: write the same figure.
    /// docs/kubernetes.md#memory-per-request
    #[serde(default)]
    pub per_request: Bytes,
    /// A spike on top of the rest, once or every `periodSeconds`.
    /// docs/kubernetes.md#memory-spikes
    #[serde(default)]
    pub spike: Option<MemorySpike>,
}

/// Memory used for a while on top of a container's own: `size` more for `durationSeconds`,
/// the first `atSeconds` after the container starts, then every `periodSeconds` (once
/// without a period).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemorySpike {
    /// Memory added during the spike.
    pub size: Bytes,
    /// When the first spike starts, in seconds from the container's start (0, the default).
    #[serde(default)]
    pub at_seconds: f64,
    /// A spike starts again every this many seconds after the first (greater than 0); none,
    /// the default: once.
    #[serde(default)]
    pub period_seconds: Option<f64>,
    /// How long each spike lasts (at most `periodSeconds`).
    pub duration_seconds: f64,
}

impl MemorySpike {
    /// Whether the spike is on `ran` seconds after the container started.
    pub fn active(&self, ran: f64) -> bool {
        if ran < self.at_seconds {
            return false;
        }
        let into = ran - self.at_seconds;
        let phase = match self.period_seconds {
            Some(p) => into.rem_euclid(p),
            None => into,
        };
        phase < self.duration_seconds
    }

    /// The first instant after `ran` (seconds since the container started) at which the
    /// spike starts or ends; None once a one-off spike is over.
    pub fn next_edge_after(&self, ran: f64) -> Option<f64> {
        if ran < self.at_seconds {
            return Some(self.at_seconds);
        }
        let into = ran - self.at_seconds;
        match self.period_seconds {
            None => {
                (into < self.duration_seconds).then_some(self.at_seconds + self.duration_seconds)
            }
            Some(p) => {
                let k = (into / p).floor();
                let phase = into - k * p;
                let edge = if phase < self.duration_seconds {
                    k * p + self.duration_seconds
                } else {
                    (k + 1.0) * p
                };
                Some(self.at_seconds + edge)
            }
        }
    }

    /// What is wrong with the spike, if anything, and at which key (negative times are the
    /// scenario's generic check's).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.size.0 < 0 {
            return Some((
                "size",
                format!("size = {}: expected a quantity not below 0", self.size.0),
            ));
        }
        let p = self.period_seconds?;
        if !(p.is_finite() && p > 0.0) {
            return Some((
                "periodSeconds",
                format!("periodSeconds = {p}: expected a number greater than 0"),
            ));
        }
        if self.duration_seconds > p {
            return Some((
                "durationSeconds",
                format!(
                    "durationSeconds = {}: expected at most periodSeconds ({p})",
                    self.duration_seconds
                ),
            ));
        }
        None
    }
}

impl MemoryBehaviour {
    /// Bytes in use `ran_us` microseconds after the container started, with `in_flight`
    /// requests at its replicas, before its memory limit: `start` + growth + the requests'
    /// memory + the spike when it is on.
    pub fn usage(&self, ran_us: i128, in_flight: usize) -> i64 {
        // In 64 bits when the product fits (a 128-bit division is a call into
        // compiler-builtins); both truncate toward zero alike.
        let grown = match i64::try_from(ran_us)
            .ok()
            .and_then(|r| self.growth_per_minute.0.checked_mul(r))
        {
            Some(product) => i128::from(product / 60_000_000),
            None => i128::from(self.growth_per_minute.0) * ran_us / 60_000_000,
        };
        let requests = i128::from(self.per_request.0)
            .saturating_mul(i128::try_from(in_flight).unwrap_or(i128::MAX));
        let spike = match &self.spike {
            Some(s) if s.active(ran_us as f64 / 1e6) => i128::from(s.size.0),
            _ => 0,
        };
        i64::try_from(
            i128::from(self.start.0)
                .saturating_add(grown)
                .saturating_add(requests)
                .saturating_add(spike),
        )
        .unwrap_or(i64::MAX)
    }

    /// Seconds after its start when the container, with no request in flight, first uses
    /// `limit` or more: where its leak reaches the limit, or a spike takes it there (at the
    /// spike's start, or while it is on as the leak grows under it); None if never.
    pub fn limit_reached_after(&self, limit: i64) -> Option<f64> {
        let (start, g) = (self.start.0, self.growth_per_minute.0);
        // The same arithmetic as before spikes, so that a leak's OOM cycle is unchanged.
        let leak = if g > 0 {
            Some((limit - start).max(0) as f64 / g as f64 * 60.0)
        } else {
            (start >= limit).then_some(0.0)
        };
        let spike = self.spike.as_ref().and_then(|s| {
            let need = limit.saturating_sub(start).saturating_sub(s.size.0);
            // From when the leak alone would take a spike to the limit.
            let from = if need <= 0 {
                0.0
            } else if g > 0 {
                need as f64 / g as f64 * 60.0
            } else {
                return None;
            };
            if s.active(from) {
                Some(from)
            } else {
                // Not on then: the next edge is a start (or none: a one-off spike is over).
                s.next_edge_after(from)
            }
        });
        match (leak, spike) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: i64 = 1 << 20;

    fn behaviour(
        start: i64,
        growth: i64,
        per_request: i64,
        spike: Option<MemorySpike>,
    ) -> MemoryBehaviour {
        MemoryBehaviour {
            start: Bytes(start),
            growth_per_minute: Bytes(growth),
            per_request: Bytes(per_request),
            spike,
        }
    }

    fn spike(size: i64, at: f64, period: Option<f64>, duration: f64) -> MemorySpike {
        MemorySpike {
            size: Bytes(size),
            at_seconds: at,
            period_seconds: period,
            duration_seconds: duration,
        }
    }

    #[test]
    fn usage_follows_the_requests_in_flight() {
        // base + in-flight x bytes, exactly, for any count; growth adds on top.
        let m = behaviour(128 * MI, 0, 4 * MI, None);
        for n in [0usize, 1, 7, 1000, 250_000] {
            assert_eq!(m.usage(0, n), 128 * MI + 4 * MI * n as i64);
            assert_eq!(m.usage(3_600_000_000, n), 128 * MI + 4 * MI * n as i64);
        }
        let leaking = behaviour(128 * MI, 60 * MI, 4 * MI, None);
        // 90 s in: 90 MiB grown, and 10 requests' 40 MiB.
        assert_eq!(leaking.usage(90_000_000, 10), 128 * MI + 90 * MI + 40 * MI);
        // Absurd counts saturate rather than wrap.
        assert_eq!(m.usage(0, usize::MAX), i64::MAX);
    }

    #[test]
    fn a_periodic_spike_is_on_for_its_duration_every_period() {
        // 1 GiB for 60 s, first at 300 s, then every 600 s.
        let s = spike(1024 * MI, 300.0, Some(600.0), 60.0);
        let m = behaviour(256 * MI, 0, 0, Some(s.clone()));
        for (ran, on) in [
            (0.0, false),
            (299.9, false),
            (300.0, true),
            (359.9, true),
            (360.0, false),
            (899.0, false),
            (900.0, true),
            (959.0, true),
            (960.0, false),
        ] {
            assert_eq!(s.active(ran), on, "at {ran}");
            #[allow(clippy::cast_possible_truncation)]
            let us = (ran * 1e6) as i128;
            let want = 256 * MI + if on { 1024 * MI } else { 0 };
            assert_eq!(m.usage(us, 0), want, "at {ran}");
        }
        assert_eq!(s.next_edge_after(0.0), Some(300.0));
        assert_eq!(s.next_edge_after(300.0), Some(360.0));
        assert_eq!(s.next_edge_after(360.0), Some(900.0));
        assert_eq!(s.next_edge_after(930.0), Some(960.0));
    }

    #[test]
    fn a_one_off_spike_happens_once() {
        let s = spike(512 * MI, 600.0, None, 30.0);
        assert!(!s.active(599.0));
        assert!(s.active(600.0) && s.active(629.0));
        assert!(!s.active(630.0) && !s.active(1230.0));
        assert_eq!(s.next_edge_after(10.0), Some(600.0));
        assert_eq!(s.next_edge_after(610.0), Some(630.0));
        assert_eq!(s.next_edge_after(630.0), None);
    }

    #[test]
    fn the_limit_is_reached_by_the_leak_or_by_a_spike() {
        let limit = 1024 * MI;
        // A leak alone: (limit - start) / growth minutes, as before spikes.
        let leak = behaviour(256 * MI, 64 * MI, 0, None);
        assert_eq!(leak.limit_reached_after(limit), Some(12.0 * 60.0));
        // Steady below the limit: never; at or above it: at once.
        assert_eq!(
            behaviour(256 * MI, 0, 0, None).limit_reached_after(limit),
            None
        );
        assert_eq!(
            behaviour(limit, 0, 0, None).limit_reached_after(limit),
            Some(0.0)
        );
        // A spike too small to reach the limit from a steady start: never.
        let small = spike(512 * MI, 60.0, Some(600.0), 30.0);
        assert_eq!(
            behaviour(256 * MI, 0, 0, Some(small.clone())).limit_reached_after(limit),
            None
        );
        // Big enough: at its first start.
        let big = spike(800 * MI, 60.0, Some(600.0), 30.0);
        assert_eq!(
            behaviour(256 * MI, 0, 0, Some(big)).limit_reached_after(limit),
            Some(60.0)
        );
        // With a leak of 16 MiB a minute, the small spike reaches the limit once 256 MiB have
        // grown (16 min = 960 s): not on then (960 - 60 = 900, 300 into the period), so at the
        // next start, 1260 s, before the leak alone (48 min).
        let both = behaviour(256 * MI, 16 * MI, 0, Some(small));
        assert_eq!(both.limit_reached_after(limit), Some(1260.0));
        // A spike on when the leak takes it over: at that instant.
        let long = spike(512 * MI, 0.0, Some(600.0), 500.0);
        let during = behaviour(256 * MI, 16 * MI, 0, Some(long));
        assert_eq!(during.limit_reached_after(limit), Some(960.0));
    }

    #[test]
    fn a_spikes_timing_is_checked() {
        assert!(spike(MI, 0.0, Some(10.0), 10.0).problem().is_none());
        assert!(spike(MI, 0.0, None, 1e9).problem().is_none());
        assert_eq!(spike(-1, 0.0, None, 1.0).problem().unwrap().0, "size");
        assert_eq!(
            spike(MI, 0.0, Some(0.0), 0.0).problem().unwrap().0,
            "periodSeconds"
        );
        assert_eq!(
            spike(MI, 0.0, Some(10.0), 11.0).problem().unwrap().0,
            "durationSeconds"
        );
    }
}
