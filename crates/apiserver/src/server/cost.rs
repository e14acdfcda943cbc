//! The request cost model: what a request will cost the server once it runs. Its seats come
//! from the work estimator (`work.rs`: a LIST's ceil(stored/100) up to its level's max seats),
//! its service time from the request's own time plus the objects a LIST returns, and its
//! memory from the response it builds; executing, its service time is stretched by the share
//! of the CPUs it gets (processor sharing). docs/control-plane-and-nodes.md, "The cost of
//! LIST, GET and WATCH" and "The API server in the run".

use super::config::{ExecutionConfig, MemoryConfig};
use super::request::ApiRequest;
use crate::work::{self, Verb};
use cascade_engine::Duration;

/// A request with what it will cost once dispatched.
#[derive(Clone, Copy, Debug)]
pub(super) struct Costed {
    pub(super) req: ApiRequest,
    /// The seats its level must have free (the estimate's widest).
    pub(super) seats: u32,
    /// Its service time at full speed, in seconds: stretched by the CPU share it gets before
    /// it becomes a [`Duration`], so that it is rounded once.
    pub(super) seconds: f64,
    /// The response it builds (a LIST's objects).
    pub(super) bytes: f64,
}

impl Costed {
    /// `req`'s cost at a level whose widest request is `max_seats` seats.
    pub(super) fn new(
        req: ApiRequest,
        max_seats: u32,
        execution: &ExecutionConfig,
        memory: &MemoryConfig,
    ) -> Costed {
        let estimate = work::estimate(
            &work::Request {
                verb: req.verb,
                named: false,
                stored: req.stored,
                watchers: 0,
            },
            max_seats,
        );
        let listing = req.verb == Verb::List;
        let seconds = execution.request.as_secs_f64()
            + if listing {
                req.returned as f64 * execution.list_seconds_per_object
            } else {
                0.0
            }
            + estimate.additional_latency.as_secs_f64();
        let bytes = if listing {
            req.returned as f64 * memory.bytes_per_object
        } else {
            0.0
        };
        Costed {
            req,
            seats: estimate.max_seats(),
            seconds,
            bytes,
        }
    }

    /// Its service time when it starts with `executing` requests (itself included) on `cpus`
    /// CPUs, and whether it got a whole CPU.
    pub(super) fn service_time(&self, executing: usize, cpus: f64) -> (Duration, bool) {
        let stretch = cpu_stretch(executing, cpus);
        (
            Duration::from_secs_f64((self.seconds * stretch).max(0.0)),
            stretch <= 1.0,
        )
    }
}

/// Processor sharing, fixed at the start: with n requests executing on c CPUs, each gets c / n
/// of a CPU, so its service time is n / c times longer (never shorter). No CPU limit at 0.
fn cpu_stretch(executing: usize, cpus: f64) -> f64 {
    if cpus > 0.0 {
        (executing as f64 / cpus).max(1.0)
    } else {
        1.0
    }
}
