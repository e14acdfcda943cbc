//! A Kubernetes cluster in simulated time. The cluster's control loops (the scheduler and its
//! queue, the pod controllers, the kubelets) are state machines fed events by one engine; a
//! scenario sets faults and changes, and everything else follows from them.
//!
//! Event flow: `Simulation::run` pops an event from the engine, the matching handler changes
//! the cluster and schedules what follows (a bind schedules the container start, a preemption
//! schedules the victims' exit after their grace period, a deletion wakes the owner's
//! controller and the unschedulable pods). The log and the metrics record what happened.

pub mod generate;
pub mod output;
pub mod params;
pub mod scenario;
pub mod sim;

pub use cascade_engine::Time;
pub use output::{ExpectationResult, MetricNames, Summary};
pub use params::Params;
pub use scenario::{load, load_str, Scenario};
pub use sim::Simulation;
