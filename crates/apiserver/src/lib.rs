//! kube-apiserver's overload protection and its clients' self-limiting, as pure state machines
//! with no I/O and no clock (time comes in as [`cascade_engine::Time`] arguments, instants;
//! every length of time, a timeout, a delay, a service time, is a [`cascade_engine::Duration`]).
//!
//! - [`client`]: client-go's token bucket rate limiter and the QPS/burst defaults of the
//!   components that talk to the API server.
//! - [`apf`]: the v1.33 bootstrap PriorityLevelConfigurations and the nominal concurrency
//!   limits they get from the server limit.
//! - [`queueset`]: shuffle sharding's dealer and one level's fair queues (KEP-1040).
//! - [`work`]: the work estimator: the seats a request takes, a LIST's growing with the
//!   objects stored, a mutation's with its watchers.
//! - [`reflector`]: client-go's reflector backoff between failed LIST/WATCH attempts.
//! - [`balancer`]: the load balancer in front of the replicas: each client's one long-lived
//!   connection, spread round-robin, kept until its replica goes away.
//! - [`server`]: kube-apiserver itself: the bootstrap FlowSchemas, requests queued, executed
//!   and answered, memory, OOM kills and restarts; one concern per file under `server/`
//!   (APF dispatch, the legacy max-inflight filter, the request cost model, execution,
//!   memory), listed at the top of `server.rs`.
//!
//! Facts are written up in `docs/control-plane-and-nodes.md` ("API server overload protection",
//! "API Priority and Fairness", "client-go limits and retries"). The simulation's control
//! plane (`cascade-sim`, `sim/control_plane.rs`) drives the server and its clients.

pub mod apf;
pub mod balancer;
pub mod client;
pub mod queueset;
pub mod reflector;
pub mod server;
pub mod work;
