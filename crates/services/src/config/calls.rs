//! What a service's downstream calls and a client's retries declare: the call itself, its
//! backoff and the defences against retry storms (docs/retry-defences.md). Re-exported by
//! [`crate::config`].

use serde::{Deserialize, Serialize};

/// One downstream call a service makes for every request it serves, synchronously: after its
/// own service time the worker calls `service` and waits, still held, for the answer (a
/// thread-per-request server, or a handler awaiting its call), retrying a failure up to
/// `maxRetries` times after `backoff`; the request succeeds only if the call does (unless it
/// is `optional`). A slow or failing dependency thus fills its callers' workers and queues:
/// how a failure climbs a chain. docs/retry-defences.md#services-that-call-services
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DownstreamCall {
    /// The service called (from `spec.services`; no cycles).
    pub service: String,
    /// The probability, in [0, 1], that a request makes the call (1: every request, the
    /// default). Below 1 the others are answered without it: a cache in front of the
    /// dependency, requests of a kind that does not need it.
    /// docs/retry-defences.md#services-that-call-services
    pub probability: f64,
    /// The timeout of one attempt (1 s: our choice, as the clients' default).
    pub timeout_seconds: f64,
    /// Retries after the first attempt (0: an Envoy route retries nothing without a
    /// `retry_policy`).
    pub max_retries: u32,
    /// The delay before each retry.
    pub backoff: Backoff,
    /// gRPC retry throttling on this call, one bucket for the whole service (none: retries
    /// are not throttled). docs/retry-defences.md#grpc-retry-throttling
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_throttling: Option<RetryThrottling>,
    /// Envoy's retry budget on this call, one for the whole service, as an Envoy sidecar's
    /// cluster has (none: retries are not budgeted). docs/retry-defences.md#envoy-retry-budget
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
    /// Hystrix's circuit breaker on this call, one for the whole service (none: always
    /// closed). An attempt it refuses fails the request at once without reaching `service`,
    /// freeing the worker. docs/retry-defences.md#circuit-breaker
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Envoy's outlier detection on this call, one detector for the whole service (none: no
    /// replica of `service` is ever ejected): a replica of `service` that answers too many
    /// errors in a row is left out of this call's picks for a while.
    /// docs/retry-defences.md#outlier-detection
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// gRPC deadline propagation: each attempt carries what is left of the caller's own
    /// deadline and times out at min(`timeoutSeconds`, that); the service called does not
    /// start one whose deadline has passed (false: each hop has only its own timeout).
    /// docs/retry-defences.md#deadline-propagation
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub propagate_deadline: bool,
    /// A failure of this call does not fail the request (false: it does): the service
    /// answers without that part, as a page rendered without its recommendations. Only
    /// meaningful among several calls, or to let a request succeed whatever its dependency
    /// does. docs/retry-defences.md#fan-out
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl Default for DownstreamCall {
    fn default() -> Self {
        DownstreamCall {
            service: String::new(),
            probability: 1.0,
            timeout_seconds: 1.0,
            max_retries: 0,
            backoff: Backoff::default(),
            retry_throttling: None,
            retry_budget: None,
            circuit_breaker: None,
            outlier_detection: None,
            propagate_deadline: false,
            optional: false,
        }
    }
}

/// The downstream calls a service makes for each request it serves: written as one call (a
/// mapping, the form every scenario before fan-out used) or as a list of them, each with its
/// own target, timeout, retries and defences. `fanOut` on the service says whether a list
/// runs one call after another or all at once. A variant's `calls` merges into a single
/// call field by field but replaces a list whole. docs/retry-defences.md#fan-out
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calls {
    calls: Vec<DownstreamCall>,
    /// Written as a list (even of one call): error paths then name the call's index, and the
    /// configuration serializes back as it was written.
    listed: bool,
}

impl Calls {
    /// One call, written as a mapping.
    pub fn one(call: DownstreamCall) -> Calls {
        Calls {
            calls: vec![call],
            listed: false,
        }
    }

    /// Calls written as a list.
    pub fn list(calls: Vec<DownstreamCall>) -> Calls {
        Calls {
            calls,
            listed: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn get(&self, i: usize) -> Option<&DownstreamCall> {
        self.calls.get(i)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, DownstreamCall> {
        self.calls.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, DownstreamCall> {
        self.calls.iter_mut()
    }

    /// The parameter path of call `i` below the service: `calls` for the one-call form,
    /// `calls.I` in a list.
    pub fn path(&self, i: usize) -> String {
        if self.listed {
            format!("calls.{i}")
        } else {
            "calls".into()
        }
    }
}

impl<'a> IntoIterator for &'a Calls {
    type Item = &'a DownstreamCall;
    type IntoIter = std::slice::Iter<'a, DownstreamCall>;
    fn into_iter(self) -> Self::IntoIter {
        self.calls.iter()
    }
}

impl From<DownstreamCall> for Calls {
    fn from(call: DownstreamCall) -> Calls {
        Calls::one(call)
    }
}

impl Serialize for Calls {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.listed, self.calls.as_slice()) {
            (false, [one]) => one.serialize(s),
            _ => self.calls.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Calls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Calls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a downstream call (a mapping) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Calls, A::Error> {
                DownstreamCall::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(Calls::one)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, s: A) -> Result<Calls, A::Error> {
                Vec::<DownstreamCall>::deserialize(serde::de::value::SeqAccessDeserializer::new(s))
                    .map(Calls::list)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Calls, E> {
                Ok(Calls::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Calls, E> {
                Ok(Calls::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Calls {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Calls".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = g.subschema_for::<DownstreamCall>();
        schemars::json_schema!({
            "description": "One downstream call (a mapping) or a list of them, run as the service's fanOut says.",
            "anyOf": [
                one,
                { "type": "array", "items": one },
                { "type": "null" }
            ]
        })
    }
}

/// How a service runs a list of downstream calls. docs/retry-defences.md#fan-out
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum FanOut {
    /// One after another, in the order listed: the next call goes out when the previous one
    /// has ended (its last attempt answered), and the first failed call that is not
    /// `optional` fails the request without making the calls after it (the default: a
    /// handler awaiting each call in turn).
    #[default]
    Serial,
    /// All at once: the request is answered when every call has ended (Go's errgroup
    /// `Wait`, `Promise.all` without cancellation), failed if any call that is not
    /// `optional` failed.
    Parallel,
}

/// Randomisation of a retry delay (Brooker, "Exponential Backoff And Jitter", AWS 2015).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Jitter {
    /// The delay as computed: clients that failed together retry together.
    #[default]
    None,
    /// Uniform in [0, delay].
    Full,
    /// delay/2 plus uniform in [0, delay/2].
    Equal,
    /// Uniform in [base, 3 x the previous delay], capped.
    Decorrelated,
}

/// Exponential backoff: `initial`, multiplied by `multiplier` per failure up to `max`, jittered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Backoff {
    /// The first retry's delay.
    pub initial_seconds: f64,
    /// The largest delay.
    pub max_seconds: f64,
    /// Each retry's delay is the previous one times this.
    pub multiplier: f64,
    /// How each delay is randomised.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_seconds: 0.1,
            max_seconds: 10.0,
            multiplier: 2.0,
            jitter: Jitter::None,
        }
    }
}

/// gRPC retry throttling (gRFC A6 "gRPC Retry Design", the service config's
/// `retryThrottling`; grpc-core `retry_throttle.cc`): a token bucket per client. Each failed
/// attempt takes one token, each success adds `tokenRatio`; retries go out only while the
/// tokens are more than `maxTokens / 2`. gRPC has no default (the policy is off unless
/// configured); the default here is A6's own example, 10 and 0.1.
/// docs/retry-defences.md#grpc-retry-throttling
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryThrottling {
    /// In (0, 1000], as A6 requires; three decimals are kept.
    pub max_tokens: f64,
    /// Above 0; three decimals are kept.
    pub token_ratio: f64,
}

impl Default for RetryThrottling {
    fn default() -> Self {
        RetryThrottling {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }
    }
}

/// Envoy's retry budget (envoy `config/cluster/v3/circuit_breaker.proto`,
/// `CircuitBreakers.Thresholds.RetryBudget`, v1.12+): retries outstanding at once are at most
/// `budgetPercent` of the requests active, and at least `minRetryConcurrency` are allowed.
/// Defaults are Envoy's: 20% and 3. docs/retry-defences.md#envoy-retry-budget
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryBudget {
    /// A percentage in [0, 100] (Envoy's `budget_percent`, 20.0).
    pub budget_percent: f64,
    /// Envoy's `min_retry_concurrency` (3).
    pub min_retry_concurrency: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            budget_percent: 20.0,
            min_retry_concurrency: 3,
        }
    }
}

/// Hystrix's circuit breaker (Netflix Hystrix 1.5.x, `HystrixCommandProperties` defaults):
/// closed, it counts outcomes in a rolling window; it opens when the window holds at least
/// `requestVolumeThreshold` outcomes of which at least `errorThresholdPercentage` % failed;
/// open, every request fails at once (never reaching the service) for `sleepWindowSeconds`,
/// then one trial goes through and its outcome closes or reopens it.
/// docs/retry-defences.md#circuit-breaker
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CircuitBreaker {
    /// circuitBreaker.requestVolumeThreshold (20).
    pub request_volume_threshold: u32,
    /// circuitBreaker.errorThresholdPercentage (50), in [0, 100].
    pub error_threshold_percentage: f64,
    /// circuitBreaker.sleepWindowInMilliseconds (5000), in seconds.
    pub sleep_window_seconds: f64,
    /// metrics.rollingStats.timeInMilliseconds (10000), in seconds.
    pub rolling_window_seconds: f64,
    /// metrics.rollingStats.numBuckets (10).
    pub rolling_window_buckets: u32,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            request_volume_threshold: 20,
            error_threshold_percentage: 50.0,
            sleep_window_seconds: 5.0,
            rolling_window_seconds: 10.0,
            rolling_window_buckets: 10,
        }
    }
}

/// Envoy's `consecutive_5xx` (5). docs/retry-defences.md#outlier-detection
pub const DEFAULT_CONSECUTIVE_5XX: u32 = 5;
/// Envoy's `consecutive_gateway_failure` (5).
pub const DEFAULT_CONSECUTIVE_GATEWAY_FAILURE: u32 = 5;
/// Envoy's `enforcing_consecutive_5xx` (100 %).
pub const DEFAULT_ENFORCING_CONSECUTIVE_5XX: u32 = 100;
/// Envoy's `enforcing_consecutive_gateway_failure` (0 %: detected, never enforced).
pub const DEFAULT_ENFORCING_CONSECUTIVE_GATEWAY_FAILURE: u32 = 0;
/// Envoy's `interval` (10 s).
pub const DEFAULT_OUTLIER_INTERVAL_SECONDS: f64 = 10.0;
/// Envoy's `base_ejection_time` (30 s).
pub const DEFAULT_BASE_EJECTION_TIME_SECONDS: f64 = 30.0;
/// Envoy's `max_ejection_time` (300 s, or `base_ejection_time` if that is longer).
pub const DEFAULT_MAX_EJECTION_TIME_SECONDS: f64 = 300.0;
/// Envoy's `max_ejection_percent` (10 %).
pub const DEFAULT_MAX_EJECTION_PERCENT: u32 = 10;
/// Envoy's `common_lb_config.healthy_panic_threshold` (50 %).
pub const DEFAULT_HEALTHY_PANIC_THRESHOLD: f64 = 50.0;

/// Envoy's outlier detection (envoy `api/envoy/config/cluster/v3/outlier_detection.proto`,
/// `source/common/upstream/outlier_detection_impl.cc`, read at a commit after v1.31): per
/// replica of the service called, consecutive 5xx answers and consecutive gateway failures
/// (502, 503, 504, a timeout, a refused connection) are counted; a count reaching its
/// threshold ejects the replica, if `maxEjectionPercent` allows, for `baseEjectionTimeSeconds`
/// times its ejection multiplier (capped by `maxEjectionTimeSeconds`); every
/// `intervalSeconds` the ejected replicas whose time is up come back. Defaults are Envoy's.
/// docs/retry-defences.md#outlier-detection
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OutlierDetection {
    /// `consecutive_5xx` (5): 5xx answers in a row (a timeout and a refused connection count
    /// as 504 and 503) that eject a replica; 0 never does.
    pub consecutive_5xx: u32,
    /// `consecutive_gateway_failure` (5): 502, 503 and 504 answers in a row (a timeout, a
    /// refused connection, a full queue's 503) that eject a replica, if enforced; 0 never does.
    pub consecutive_gateway_failure: u32,
    /// `enforcing_consecutive_5xx` (100): the chance, in percent, that a replica detected by
    /// consecutive 5xx is ejected.
    pub enforcing_consecutive_5xx: u32,
    /// `enforcing_consecutive_gateway_failure` (0): the same for consecutive gateway
    /// failures; Envoy's default counts them and ejects nothing.
    pub enforcing_consecutive_gateway_failure: u32,
    /// `interval` (10 s): how often ejected replicas are looked at to be brought back (and
    /// healthy ones' ejection multiplier lowered).
    pub interval_seconds: f64,
    /// `base_ejection_time` (30 s): an ejection lasts this times the replica's ejection
    /// multiplier (1 at its first ejection, one more at each, one less per healthy interval).
    pub base_ejection_time_seconds: f64,
    /// `max_ejection_time` (300 s, or `baseEjectionTimeSeconds` if longer): the longest an
    /// ejection lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_time_seconds: Option<f64>,
    /// `max_ejection_percent` (10): a replica is ejected only if the ejected ones, it
    /// included, are at most this percentage of the replicas; with fewer than ten replicas the
    /// default ejects none (unless `alwaysEjectOneHost`).
    pub max_ejection_percent: u32,
    /// `always_eject_one_host` (false; Envoy 1.31+): one replica may be ejected whatever
    /// `maxEjectionPercent` says.
    pub always_eject_one_host: bool,
    /// The cluster's `common_lb_config.healthy_panic_threshold` (50 %): when fewer replicas are
    /// healthy than this (Envoy's overprovisioning factor of 1.4 applied), ejections are
    /// ignored and every replica is picked from (Envoy's panic routing).
    pub healthy_panic_threshold: f64,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx: DEFAULT_CONSECUTIVE_5XX,
            consecutive_gateway_failure: DEFAULT_CONSECUTIVE_GATEWAY_FAILURE,
            enforcing_consecutive_5xx: DEFAULT_ENFORCING_CONSECUTIVE_5XX,
            enforcing_consecutive_gateway_failure: DEFAULT_ENFORCING_CONSECUTIVE_GATEWAY_FAILURE,
            interval_seconds: DEFAULT_OUTLIER_INTERVAL_SECONDS,
            base_ejection_time_seconds: DEFAULT_BASE_EJECTION_TIME_SECONDS,
            max_ejection_time_seconds: None,
            max_ejection_percent: DEFAULT_MAX_EJECTION_PERCENT,
            always_eject_one_host: false,
            healthy_panic_threshold: DEFAULT_HEALTHY_PANIC_THRESHOLD,
        }
    }
}

impl OutlierDetection {
    /// The longest ejection: `maxEjectionTimeSeconds`, or Envoy's default of 300 s or
    /// `baseEjectionTimeSeconds`, whichever is longer.
    pub fn max_ejection_seconds(&self) -> f64 {
        self.max_ejection_time_seconds
            .unwrap_or(DEFAULT_MAX_EJECTION_TIME_SECONDS.max(self.base_ejection_time_seconds))
    }
}
