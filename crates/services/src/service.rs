//! A capacity-limited service: replicas backed by pods, each with `c` workers and a bounded
//! FIFO queue, requests spread over Ready replicas at random (kube-proxy's iptables mode picks
//! an endpoint at random), memory per request in the replica against the container's limit.
//! At moderate load with exponential service times a replica is an M/M/c queue.

use crate::config::{Degradation, ServiceSpec, ServiceTime};
use crate::contract::{PodRef, ReqId, RingIdx};
use crate::defences::{Defences, OutlierDetector, RetryRefusal};
use crate::queue_discipline::{QueuePolicy, QueueState};
use cascade_engine::{Generation, Time};
use std::collections::VecDeque;

/// One replica: a pod's serving process.
#[derive(Debug)]
pub(crate) struct Replica {
    pub pod: PodRef,
    /// Listed as ready in the service's EndpointSlice as kube-proxy has it: receives new
    /// requests. It follows `ready` when the endpointslice controller's write is taken, so
    /// it may still name a replica that is gone or not Ready (docs/control-plane-and-nodes.md#endpointslices).
    pub routable: bool,
    /// Ready and not terminating, as the API server holds the pod's condition (the kubelet's
    /// report): what the slice is written from.
    pub ready: bool,
    /// The process is running (requests in it are served); false after a crash.
    pub alive: bool,
    /// The process died with its node: no kubelet reports it, so the server keeps the pod
    /// Ready (and the slice lists it) until the node lifecycle controller marks it not Ready
    /// (docs/control-plane-and-nodes.md#endpointslices). Only such a replica is Ready and dead.
    pub lost: bool,
    /// Incremented when the process dies: completions of an earlier life are stale.
    pub gen: Generation,
    pub in_service: Vec<ReqId>,
    /// Queued requests in arrival order (the discipline picks which a worker takes).
    pub queue: VecDeque<ReqId>,
    /// The queue discipline's own state (CoDel's, the last time the queue was empty).
    pub queue_state: QueueState,
    pub memory_limit: i64,
    /// The node its pod runs on (`PodInfo::node`): a degradation may be on some nodes only.
    pub node: u32,
    /// On the far side of a network partition from the callers: requests routed here are
    /// never answered (the caller times out), and answers of requests already here are lost.
    pub cut_off: bool,
}

impl Replica {
    pub fn requests(&self) -> usize {
        self.in_service.len() + self.queue.len()
    }
}

/// What one service has counted.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServiceStats {
    pub arrivals: u64,
    pub rejected: u64,
    pub failed: u64,
    pub succeeded: u64,
    pub oom_kills: u64,
    pub shed: u64,
    /// Requests refused at once by the concurrency limit (`concurrencyLimit`).
    pub overflowed: u64,
    /// Requests refused because no replica was Ready (not counted in `arrivals`).
    pub unavailable: u64,
    /// Requests routed by a stale EndpointSlice to a replica whose process is gone: the
    /// connection is refused (also counted in `failed`).
    pub stale_endpoint: u64,
    pub peak_requests_in_replica: usize,
    /// Sum of response times of requests served to completion, for the mean latency.
    pub latency_sum: f64,
    /// Requests taken out unserved.
    pub dropped: Dropped,
    /// Its downstream calls (`downstream.rs`).
    pub calls: CallStats,
    /// What the next sample and the rate windows read.
    pub interval: StatsInterval,
}

/// A service's requests taken out unserved, by why.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dropped {
    /// Queued requests the discipline dropped (drop-head, CoDel, adaptive LIFO).
    pub queue: u64,
    /// Requests not started because their propagated deadline had passed.
    pub deadline_exceeded: u64,
    /// Requests stopped, in service or queued, when their caller gave up on them
    /// (`honorCancellation`).
    pub cancelled: u64,
}

/// A service's downstream calls, as their client.
#[derive(Debug, Default, Clone)]
pub(crate) struct CallStats {
    /// Calls not sent because the request's deadline had passed.
    pub deadline_exceeded: u64,
    /// Retries its defences refused.
    pub retries_throttled: u64,
    pub retries_over_budget: u64,
    /// Attempts the open circuit breaker failed at once, without sending.
    pub short_circuited: u64,
    /// Replicas of a called service its calls' outlier detection ejected.
    pub outlier_ejections: u64,
}

/// A service's counts since the last sample, and per rate window.
#[derive(Debug, Default, Clone)]
pub(crate) struct StatsInterval {
    /// Arrivals since the last sample.
    pub arrivals: u64,
    /// Arrivals per rate window (`rateWindowSeconds`, aligned on the start of the run), the
    /// 1-minute rates `peaks.{service}_qps_1m` and `_qps_ratio` are made of, whatever the
    /// sample interval.
    pub window_arrivals: Vec<u64>,
    /// Response times of the requests served since the last sample.
    pub latency: LatencyHistogram,
}

/// Response times in logarithmic buckets, a quarter octave each: 100 buckets from 100 µs, so the
/// last one ends at 1e-4 s x 2^25 ≈ 3,355 s (56 min) and also takes anything slower. A
/// percentile reads as the upper bound of its bucket: never below the true value within that
/// range, and at most 2^(1/4) ≈ 19% above it (the tests allow +25%), without keeping every
/// sample. Below 100 µs it reads 119 µs; past 56 min it reads 3,355 s.
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; Self::BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    const BUCKETS: usize = 100;
    const FLOOR: f64 = 1e-4;
    const PER_OCTAVE: f64 = 4.0;

    // A bucket index: a small non-negative float (at most a few hundred), floored.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn record(&mut self, seconds: f64) {
        let b = ((seconds.max(Self::FLOOR) / Self::FLOOR).log2() * Self::PER_OCTAVE) as usize;
        self.counts[b.min(Self::BUCKETS - 1)] += 1;
        self.total += 1;
    }

    /// The upper bound of the bucket holding the q-quantile (0 when empty).
    // The rank is ceil(q * total) for q in [0, 1]: at most `total`, a u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = (q * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::FLOOR * 2f64.powf((b as f64 + 1.0) / Self::PER_OCTAVE);
            }
        }
        Self::FLOOR * 2f64.powf(Self::BUCKETS as f64 / Self::PER_OCTAVE)
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
    }
}

#[derive(Debug)]
pub(crate) struct Service {
    pub name: String,
    pub spec: ServiceSpec,
    pub replicas: Vec<Replica>,
    /// Indices of routable replicas.
    pub routable: Vec<u32>,
    /// A readiness change is not in its EndpointSlice yet: `routable` awaits the
    /// endpointslice controller's write (`World::write_slice`).
    pub slice_stale: bool,
    pub ring: Option<RingIdx>,
    pub stats: ServiceStats,
    /// A fault cut it off: every connection is refused.
    pub unreachable: bool,
    /// Since when it refuses every connection, while it does (see [`Service::refuses`]); a
    /// service starts without a replica, so refusing from time 0.
    pub refusing_since: Option<Time>,
    /// How long it refused connections in the current sample interval, before
    /// `refusing_since`: with it, what `{service}_up_ratio` is made of.
    pub interval_refusing: Time,
    /// A `serviceDegraded` fault is on: fewer workers, slower, later, failing.
    pub degraded: Option<Degradation>,
    /// The nodes whose replicas the degradation is on (`onNodes`); None: every replica.
    pub degraded_nodes: Option<Vec<u32>>,
    /// The defences on each of its downstream calls, in the order of `calls`.
    pub call_defences: Vec<Defences>,
    /// How its replicas' queues order and drop requests.
    pub queue_policy: QueuePolicy,
}

/// Where a new request goes.
pub(crate) enum Admission {
    /// A worker takes it now.
    Serve(u32),
    /// It waits in the replica's queue.
    Queued(u32),
    /// It waits in the replica's queue, whose oldest request it pushed out (drop-head).
    QueuedDropping(u32, ReqId),
    /// A full queue: 503 at once.
    Rejected,
    /// Past the concurrency limit: 503 at once, counted apart (Envoy's overflow).
    Overflow,
    /// No routable replica (no endpoints): the connection is refused before any replica
    /// sees the request.
    NoEndpoints,
    /// The replica picked is across a partition: the request vanishes.
    CutOff,
    /// The replica picked is still in the slice but its process is gone: the connection is
    /// refused at once.
    Gone,
}

impl Service {
    pub fn new(name: String, spec: ServiceSpec, ring: Option<RingIdx>) -> Service {
        let call_defences = spec
            .calls
            .iter()
            .map(|c| {
                let mut d = Defences::new(
                    c.retry_throttling.as_ref(),
                    c.retry_budget.as_ref(),
                    c.circuit_breaker.as_ref(),
                );
                d.outlier = c.outlier_detection.as_ref().map(OutlierDetector::new);
                d
            })
            .collect();
        let queue_policy = QueuePolicy::of(&spec);
        Service {
            name,
            queue_policy,
            spec,
            replicas: Vec::new(),
            routable: Vec::new(),
            slice_stale: false,
            ring,
            stats: ServiceStats::default(),
            unreachable: false,
            refusing_since: Some(Time::ZERO),
            interval_refusing: Time::ZERO,
            degraded: None,
            degraded_nodes: None,
            call_defences,
        }
    }

    /// The degradation the replica runs under now, if any: the service's, unless it is on
    /// other nodes than the replica's (docs/retry-defences.md#degradation).
    pub fn degradation(&self, replica: u32) -> Option<&Degradation> {
        let g = self.degraded.as_ref()?;
        match &self.degraded_nodes {
            Some(nodes) if !nodes.contains(&self.replicas[replica as usize].node) => None,
            _ => Some(g),
        }
    }

    /// One request's service time at the replica; a degradation's factor scales the same
    /// draw, so that a degraded run draws exactly what an undegraded one does.
    pub fn service_time(&self, replica: u32, rng: &mut cascade_model::Rng) -> f64 {
        let d = match self.spec.service_time {
            ServiceTime::Exponential => crate::backoff::exponential(self.spec.service_seconds, rng),
            ServiceTime::Deterministic => self.spec.service_seconds,
        };
        match self.degradation(replica) {
            Some(g) => d * g.service_time_factor,
            None => d,
        }
    }

    /// Workers the replica serves with now: its own, or fewer while degraded.
    pub fn workers(&self, replica: u32) -> usize {
        let own = self.spec.workers_per_replica;
        let w = match self
            .degradation(replica)
            .and_then(|g| g.workers_per_replica)
        {
            Some(w) => w.min(own),
            None => own,
        };
        w as usize
    }

    /// Whether a defence refuses the retry of a failed downstream call `call` (counted; the
    /// call then fails). Throttling is asked first: a retry it refuses takes no budget.
    pub fn call_retry_refused(&mut self, call: usize) -> bool {
        let Some(d) = self.call_defences.get(call) else {
            return false;
        };
        match d.retry_refusal() {
            Some(RetryRefusal::Throttled) => self.stats.calls.retries_throttled += 1,
            Some(RetryRefusal::OverBudget) => self.stats.calls.retries_over_budget += 1,
            None => return false,
        }
        true
    }

    /// Whether any of its calls has gRPC retry throttling (its totals then count refusals).
    pub fn has_call_throttle(&self) -> bool {
        self.call_defences.iter().any(|d| d.throttle.is_some())
    }

    /// Whether any of its calls has a retry budget.
    pub fn has_call_budget(&self) -> bool {
        self.call_defences.iter().any(|d| d.budget.is_some())
    }

    /// Whether any of its calls has a circuit breaker.
    pub fn has_call_breaker(&self) -> bool {
        self.call_defences.iter().any(|d| d.breaker.is_some())
    }

    /// Whether any of its calls has outlier detection.
    pub fn has_call_outlier_detection(&self) -> bool {
        self.call_defences.iter().any(|d| d.outlier.is_some())
    }

    /// Whether every connection is refused (no Ready replica, or cut off by a fault).
    pub fn refuses(&self) -> bool {
        self.routable.is_empty() || self.unreachable
    }

    /// After a change of its replicas' readiness or of its reachability: starts or stops the
    /// clock of refused connections.
    pub fn note_refusals(&mut self, now: Time) {
        match (self.refuses(), self.refusing_since) {
            (true, None) => self.refusing_since = Some(now),
            (false, Some(since)) => {
                self.interval_refusing = self.interval_refusing + (now - since);
                self.refusing_since = None;
            }
            _ => {}
        }
    }

    /// Closes the sample interval `[now - interval, now]`: the share of it in which the
    /// service took connections (time-based; with an empty interval, 1 or 0 as it is now).
    /// The count restarts.
    pub fn roll_up_ratio(&mut self, now: Time, interval: Time) -> f64 {
        if let Some(since) = self.refusing_since {
            self.interval_refusing = self.interval_refusing + (now - since);
            self.refusing_since = Some(now);
        }
        let refusing = std::mem::replace(&mut self.interval_refusing, Time::ZERO);
        if interval == Time::ZERO {
            return if self.refuses() { 0.0 } else { 1.0 };
        }
        (1.0 - refusing.as_secs_f64() / interval.as_secs_f64()).clamp(0.0, 1.0)
    }

    /// The replica a new request goes to: one of the routable replicas at random
    /// (kube-proxy's choice), or of `among` when given (a caller's outlier detection left some
    /// out, `OutlierDetector::healthy`). None when the service refuses connections.
    pub fn pick(&self, pick: u64, among: Option<&[u32]>) -> Option<u32> {
        if self.refuses() {
            return None;
        }
        let from = among.unwrap_or(&self.routable);
        let at = pick % from.len() as u64;
        Some(from[usize::try_from(at).expect("below a usize length")])
    }

    /// Places a new request at the replica picked for it (`Service::pick`).
    pub fn admit(&mut self, now: Time, id: ReqId, replica: u32) -> Admission {
        let workers = self.workers(replica);
        let cap = self.spec.queue_capacity as usize;
        let rep = &mut self.replicas[replica as usize];
        // kube-proxy still routes to the endpoint until the pod is marked not Ready.
        if rep.cut_off {
            return Admission::CutOff;
        }
        if !rep.alive {
            return Admission::Gone;
        }
        let serve = rep.in_service.len() < workers;
        if let Some(l) = &self.spec.concurrency_limit {
            // Envoy's thresholds, asked before the request reaches the replica's process.
            if rep.requests() >= l.max_requests as usize
                || (!serve && rep.queue.len() >= l.max_pending_requests as usize)
            {
                return Admission::Overflow;
            }
        }
        let a = if serve {
            rep.in_service.push(id);
            Admission::Serve(replica)
        } else if rep.queue.len() < cap {
            rep.queue_state.push(now, &mut rep.queue, id);
            Admission::Queued(replica)
        } else if cap > 0 && !self.queue_policy.overflow_drops_tail() {
            match rep
                .queue_state
                .push_dropping_oldest(now, &mut rep.queue, id)
            {
                Some(old) => Admission::QueuedDropping(replica, old),
                None => Admission::Queued(replica),
            }
        } else {
            return Admission::Rejected;
        };
        let n = rep.requests();
        if n > self.stats.peak_requests_in_replica {
            self.stats.peak_requests_in_replica = n;
        }
        a
    }

    /// Whether the replica's memory is past its limit.
    pub fn over_memory(&self, replica: u32) -> bool {
        let rep = &self.replicas[replica as usize];
        let limit = if rep.memory_limit > 0 {
            rep.memory_limit
        } else {
            self.spec.memory_limit.0
        };
        limit > 0
            && self.spec.memory_base.0 + self.spec.memory_per_request.0 * rep.requests() as i64
                > limit
    }

    pub fn set_routable(&mut self, replica: u32, on: bool) {
        let rep = &mut self.replicas[replica as usize];
        if rep.routable == on {
            return;
        }
        rep.routable = on;
        if on {
            self.routable.push(replica);
        } else {
            self.routable.retain(|x| *x != replica);
        }
    }

    /// The process dies: it takes every request in it along (returned so they can fail).
    /// Its readiness is taken away first (`Endpoints::set_ready`), its slice entry with it
    /// when the slice is written.
    pub fn kill(&mut self, replica: u32) -> Vec<ReqId> {
        let rep = &mut self.replicas[replica as usize];
        rep.alive = false;
        rep.gen.bump();
        let mut lost: Vec<ReqId> = rep.in_service.drain(..).collect();
        lost.extend(rep.queue.drain(..));
        rep.queue_state.cleared();
        lost
    }
}
