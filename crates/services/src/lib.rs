//! The systems that live on a cluster, as one state machine fed by cascade-sim: capacity-limited
//! services whose replicas are pods (an auth proxy, DNS, an API server), open-loop clients with
//! retry policies and caches, Cortex rings whose ingesters are pods, and fleets of Prometheus
//! servers shipping samples with remote_write.
//!
//! No clock and no I/O: [`World`] is told what happens to pods and handed back its own timers
//! ([`SvcEv`]); it answers with timers to schedule and [`Effect`]s on the cluster (an OOM kill,
//! a process that finished its shutdown). All its randomness comes from streams named
//! "services" and "ring-tokens", so adding it to a run leaves every other component's random
//! choices as they were.

pub mod backoff;
mod clients;
pub mod config;
mod contract;
pub mod defences;
pub mod dns;
mod downstream;
mod endpoints;
mod flow;
mod ingesters;
mod invariants;
mod metrics;
mod queue_discipline;
mod remote_write;
mod requests;
pub mod resolver;
mod service;
mod validate;
mod world;

pub use clients::ClientAttempt;
pub use config::{
    Backoff, Calls, CircuitBreaker, ClientSpec, CoDelParams, ConcurrencyLimit, Degradation,
    DownstreamCall, FanOut, Jitter, PrometheusVersion, QueueDiscipline, QueueOverflow,
    RemoteWriteSpec, RetryBudget, RetryThrottling, RingSpec, ServiceSpec, ServiceTime,
    ServicesConfig,
};
pub use contract::{
    ClientIdx, Effect, FleetIdx, IngesterStep, Out, PodInfo, PodRef, ReqId, RingIdx, ServiceIdx,
    SliceWrites, SvcEv,
};
pub use metrics::{Quotient, RatioParts};
pub use remote_write::Batch;
pub use requests::Downstream;
pub use validate::validate;
pub use world::World;

#[cfg(test)]
mod tests;
