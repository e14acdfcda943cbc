//! The services against queueing theory and against the behaviours they exist to show:
//! M/M/c latency (Erlang C), metastable retry storms and their cure, request amplification
//! and caches, the ring's hand-over and flush, remote_write's WAL.

use super::*;
use cascade_engine::Time;
use cascade_model::{Labels, PodSelector};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

mod chains;
mod endpoint_slices;
mod fan_out;
mod lookups;
mod outlier;
mod queues;
mod storm_size;

/// A minimal event loop around a [`World`]: the role cascade-sim plays in a real run.
struct Driver {
    world: World,
    queue: BinaryHeap<Reverse<(Time, u64, usize)>>,
    events: Vec<Option<SvcEv>>,
    seq: u64,
    now: Time,
    oom_kills: Vec<(Time, PodRef)>,
    exited: Vec<(Time, PodRef)>,
    /// `Effect::InFlightReached`s given.
    in_flight_reached: Vec<(Time, PodRef)>,
    /// The slice effects given: (written at once, service).
    slices: Vec<(bool, ServiceIdx)>,
}

fn labels(app: &str) -> Labels {
    [("app".to_string(), app.to_string())].into()
}

fn info(name: &str, app: &str) -> PodInfo {
    PodInfo {
        name: name.into(),
        namespace: "default".into(),
        labels: labels(app),
        memory_limit: 0,
        node: 0,
        dns: None,
    }
}

fn selector(app: &str) -> PodSelector {
    PodSelector {
        namespace: None,
        match_labels: [("app".to_string(), app.to_string())].into(),
    }
}

impl Driver {
    fn new(cfg: ServicesConfig, seed: u64) -> Driver {
        let mut d = Driver {
            world: World::new(cfg, seed).expect("valid config"),
            queue: BinaryHeap::new(),
            events: Vec::new(),
            seq: 0,
            now: Time::ZERO,
            oom_kills: Vec::new(),
            exited: Vec::new(),
            in_flight_reached: Vec::new(),
            slices: Vec::new(),
        };
        d.world.set_baseline_until(Time::MAX);
        d.call(|w, now, out| w.start(now, out));
        d
    }

    fn call<R>(&mut self, f: impl FnOnce(&mut World, Time, &mut Out) -> R) -> R {
        let mut out = Out::default();
        let r = f(&mut self.world, self.now, &mut out);
        for (t, ev) in out.timers {
            self.events.push(Some(ev));
            self.queue
                .push(Reverse((t, self.seq, self.events.len() - 1)));
            self.seq += 1;
        }
        for e in out.effects {
            match e {
                Effect::OomKill(p) => self.oom_kills.push((self.now, p)),
                Effect::Exited(p) => self.exited.push((self.now, p)),
                Effect::InFlightReached(p) => self.in_flight_reached.push((self.now, p)),
                Effect::Log { .. } => {}
                Effect::SliceWritten(svc) => self.slices.push((true, svc)),
                Effect::SliceStale(svc) => self.slices.push((false, svc)),
            }
        }
        r
    }

    /// A pod that starts and is Ready at once.
    fn ready_pod(&mut self, pod: u32, name: &str, app: &str) {
        let (pod, i) = (PodRef::new(pod), info(name, app));
        self.call(|w, now, out| w.container_started(now, pod, &i, out));
        self.call(|w, now, out| w.pod_ready(now, pod, out));
    }

    /// Runs events until `until`, sampling every `interval` seconds; returns the rows.
    fn run(&mut self, until: f64, interval: f64) -> Vec<(f64, BTreeMap<String, f64>)> {
        let until = Time::from_secs_f64(until);
        let mut rows = Vec::new();
        let mut next_sample = self.now + Time::from_secs_f64(interval);
        loop {
            let next_event = self.queue.peek().map(|Reverse((t, _, _))| *t);
            if next_sample <= until && next_event.is_none_or(|t| t >= next_sample) {
                self.now = next_sample;
                self.world.roll_interval(self.now);
                let row = self.world.sample();
                assert_eq!(self.world.sample(), row, "sampling only reads");
                self.check();
                rows.push((self.now.as_secs_f64(), row.into_iter().collect()));
                next_sample = next_sample + Time::from_secs_f64(interval);
                continue;
            }
            match next_event {
                Some(t) if t <= until => {
                    let Reverse((t, _, i)) = self.queue.pop().expect("event");
                    self.now = t;
                    let ev = self.events[i].take().expect("event once");
                    self.call(|w, now, out| w.handle(now, ev, out));
                }
                _ => break,
            }
        }
        self.now = until;
        self.check();
        rows
    }

    fn check(&self) {
        if let Err(e) = self.world.check_invariants() {
            panic!("at {:?}: {e}", self.now);
        }
    }

    /// Runs events until `until` (no samples), checking the invariants after every one.
    fn run_checked(&mut self, until: f64) {
        let until = Time::from_secs_f64(until);
        while let Some(Reverse((t, _, i))) = self.queue.peek().copied() {
            if t > until {
                break;
            }
            self.queue.pop();
            self.now = t;
            let ev = self.events[i].take().expect("event once");
            self.call(|w, now, out| w.handle(now, ev, out));
            self.check();
        }
        self.now = until;
    }

    fn total(&self, name: &str) -> u64 {
        self.world
            .totals()
            .into_iter()
            .find(|(k, _)| k == name)
            .map_or_else(|| panic!("no total {name}"), |(_, v)| v)
    }

    /// A ratio or an average (summary.json's `ratios` and `averages`).
    fn ratio(&self, name: &str) -> f64 {
        self.world
            .ratios()
            .into_iter()
            .chain(self.world.averages())
            .find(|(k, _)| k == name)
            .map_or_else(|| panic!("no ratio or average {name}"), |(_, v)| v)
    }
}

fn mean_of(rows: &[(f64, BTreeMap<String, f64>)], col: &str, from: f64, to: f64) -> f64 {
    let xs: Vec<f64> = rows
        .iter()
        .filter(|(t, _)| *t > from && *t <= to)
        .map(|(_, r)| r[col])
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

// ---- queueing theory ----

/// Erlang C: the probability that an arrival waits, for c servers at offered load a = λ/μ.
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let top = term * a / f64::from(c) * f64::from(c) / (f64::from(c) - a);
    top / (sum + top)
}

#[test]
fn mm_c_mean_response_time_matches_erlang_c() {
    // One replica with c = 4 workers, exponential service of mean 0.1 s, Poisson arrivals at
    // 70% utilisation. W = C(c, a) / (cμ - λ) + 1/μ.
    let (c, mu, rho) = (4u32, 10.0, 0.7);
    let lambda = rho * f64::from(c) * mu;
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: c,
            service_seconds: 1.0 / mu,
            queue_capacity: 1_000_000,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: lambda,
            timeout_seconds: 1e6,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 7);
    d.ready_pod(1, "api-0", "api");
    d.run(20_000.0, 1000.0);
    let measured = d.ratio("api_mean_latency_seconds");
    let a = lambda / mu;
    let expected = erlang_c(c, a) / (f64::from(c) * mu - lambda) + 1.0 / mu;
    // ~280k requests: the standard error of the mean response time is well under 1%.
    assert!(
        (measured - expected).abs() / expected < 0.03,
        "mean response {measured:.5} s, Erlang C says {expected:.5} s"
    );
    assert_eq!(d.total("api_failed"), 0);
    assert_eq!(d.total("api_rejected"), 0);
}

/// An M/M/1 queue: one replica of one worker serving at rate `mu` (exponential service
/// times), users arriving at rate `lambda` who neither time out nor retry, and a queue too long
/// to fill, served in `discipline`'s order.
fn mm1(mu: f64, lambda: f64, discipline: QueueDiscipline, seed: u64) -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 1,
            service_seconds: 1.0 / mu,
            queue_capacity: 1_000_000,
            queue_discipline: discipline,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: lambda,
            timeout_seconds: 1e6,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, seed);
    d.ready_pod(1, "api-0", "api");
    d
}

#[test]
fn mm1_response_time_quantiles_match_the_exponential_law() {
    // M/M/1: the response time is exponential with rate μ - λ, so its p-quantile is
    // -ln(1 - p) / (μ - λ). The histogram's quarter-octave buckets are within 19%.
    let (mu, lambda) = (10.0, 6.0);
    let mut d = mm1(mu, lambda, QueueDiscipline::Fifo, 9);
    let rows = d.run(40_000.0, 40_000.0);
    let row = &rows.last().expect("one sample").1;
    for (col, p) in [
        ("api_latency_p50_seconds", 0.5f64),
        ("api_latency_p99_seconds", 0.99),
    ] {
        let expected = -(1.0 - p).ln() / (mu - lambda);
        let measured = row[col];
        assert!(
            measured >= expected * 0.95 && measured <= expected * 1.25,
            "{col}: {measured} vs {expected}"
        );
    }
}

#[test]
fn erlang_c_by_hand() {
    // M/M/1: C = ρ.
    assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
    // M/M/2 at a = 1: C = 1/3.
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
}

// ---- metastability ----

/// A service at 40% load, a 3-second burst of extra load, and clients retrying with `backoff`
/// up to 10 times. Returns the clients' goodput per second long after the burst.
fn goodput_after_burst(backoff: Backoff, seed: u64) -> (f64, f64) {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 10,
            service_seconds: 0.1, // capacity 100/s
            queue_capacity: 100_000,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: 40.0,
            timeout_seconds: 1.0,
            max_retries: 10,
            backoff: backoff.clone(),
            ..ClientSpec::default()
        },
    );
    // The trigger: a batch job that triples the load for 3 s, then stops for good. It leaves
    // about 3 s of queued work: longer than the clients' 1 s timeout.
    cfg.clients.insert(
        "batch".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: 150.0,
            timeout_seconds: 1.0,
            max_retries: 0,
            start_seconds: 60.0,
            stop_seconds: Some(63.0),
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, seed);
    d.ready_pod(1, "api-0", "api");
    let rows = d.run(600.0, 10.0);
    let before = mean_of(&rows, "users_goodput_qps", 10.0, 60.0);
    let after = mean_of(&rows, "users_goodput_qps", 400.0, 600.0);
    (before, after)
}

#[test]
fn an_unjittered_retry_storm_outlives_its_trigger() {
    // Retries 50 ms apart, all ten of them: a timed-out request comes back at once, and the
    // offered load (up to 11 x 50/s) stays above capacity (100/s) long after the burst.
    let storm = Backoff {
        initial_seconds: 0.05,
        max_seconds: 0.05,
        multiplier: 1.0,
        jitter: Jitter::None,
    };
    let (before, after) = goodput_after_burst(storm, 1);
    assert!(before > 36.0, "healthy before the trigger: {before}");
    assert!(
        after < 0.2 * before,
        "still overloaded 5 minutes after the trigger ended: goodput {after} (was {before})"
    );
}

/// The same trigger with clients that back off exponentially from 10 s with full jitter
/// (capped at 60 s): the failed calls' retries are spread out while the queue drains, so the
/// service gets back below its capacity and stays there. (With open-loop clients the retries
/// of a call all come eventually; what backoff buys is time for the queue to drain first.)
#[test]
fn jittered_capped_exponential_backoff_recovers() {
    let kind = Backoff {
        initial_seconds: 10.0,
        max_seconds: 60.0,
        multiplier: 2.0,
        jitter: Jitter::Full,
    };
    let (before, after) = goodput_after_burst(kind, 1);
    assert!(before > 36.0, "healthy before the trigger: {before}");
    assert!(
        after > 0.9 * before,
        "recovered after the trigger: goodput {after} (was {before})"
    );
}

// ---- degradation ----

/// One replica of 10 workers at 0.1 s deterministic (capacity 100/s), clients at `rate`
/// that never retry and wait long; `degradation` from 100 s to 200 s of a 300 s run.
fn degraded_run(rate: f64, degradation: Degradation, timeout: f64) -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 10,
            service_seconds: 0.1,
            service_time: ServiceTime::Deterministic,
            queue_capacity: 1_000_000,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: rate,
            timeout_seconds: timeout,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 11);
    d.ready_pod(1, "api-0", "api");
    d.run_checked(100.0);
    d.call(|w, now, out| w.set_service_degraded(now, "api", Some(degradation), out));
    d
}

#[test]
fn a_degraded_service_answers_a_share_with_errors_and_only_while_degraded() {
    let g = Degradation {
        error_rate: 0.25,
        ..Degradation::default()
    };
    let mut d = degraded_run(50.0, g, 10.0);
    assert_eq!(d.total("api_failed"), 0, "no error before the fault");
    d.run_checked(200.0);
    let during = d.total("api_failed") as f64;
    let served = d.total("api_requests") as f64;
    // ~5,000 requests in the window, a quarter failing: sd ~ 31.
    assert!((during - 1250.0).abs() < 150.0, "{during} of {served}");
    assert!(d.call(|w, now, out| w.set_service_degraded(now, "api", None, out)));
    d.run_checked(300.0);
    assert_eq!(d.total("api_failed") as f64, during, "no error after it");
    assert_eq!(
        d.total("users_gave_up") as f64,
        during,
        "each error reached a client"
    );
    assert!(!d.call(|w, now, out| w.set_service_degraded(now, "nope", None, out)));
}

#[test]
fn fewer_workers_queue_requests_and_the_queue_drains_when_they_come_back() {
    // 30/s against 1 worker of 0.1 s (10/s): the queue grows by ~20/s for 100 s.
    let g = Degradation {
        workers_per_replica: Some(1),
        ..Degradation::default()
    };
    let mut d = degraded_run(30.0, g, 1e6);
    let mut peak_served = 0;
    let until = Time::from_secs_f64(200.0);
    while d.queue.peek().is_some_and(|Reverse((t, _, _))| *t <= until) {
        d.run_checked(
            d.queue
                .peek()
                .map_or(200.0, |Reverse((t, _, _))| t.as_secs_f64()),
        );
        let rep = &d.world.endpoints.iter().next().expect("api").replicas[0];
        // Requests already in service when it started finish within 0.1 s.
        if d.now > Time::from_secs_f64(100.2) {
            peak_served = peak_served.max(rep.in_service.len());
        }
    }
    assert_eq!(peak_served, 1, "one worker while degraded");
    let queued = d.world.endpoints.iter().next().expect("api").replicas[0]
        .queue
        .len();
    assert!(queued > 1500, "the queue grew: {queued}");
    d.call(|w, now, out| w.set_service_degraded(now, "api", None, out));
    let rep = &d.world.endpoints.iter().next().expect("api").replicas[0];
    assert_eq!(rep.in_service.len(), 10, "ten workers at once when it ends");
    // 10 workers drain ~2000 queued at 70/s net in under 40 s.
    d.run_checked(300.0);
    let rep = &d.world.endpoints.iter().next().expect("api").replicas[0];
    assert!(rep.queue.is_empty(), "drained: {}", rep.queue.len());
    assert_eq!(d.total("api_failed"), 0);
}

#[test]
fn added_latency_and_a_slower_service_time_reach_the_callers() {
    // 0.1 s x 3 + 0.5 s = 0.8 s while degraded, against a 0.6 s timeout: every call then
    // fails although the service succeeds; before and after, none does.
    let g = Degradation {
        service_time_factor: 3.0,
        added_latency_seconds: 0.5,
        ..Degradation::default()
    };
    let mut d = degraded_run(20.0, g, 0.6);
    assert_eq!(d.total("users_gave_up"), 0);
    let rows = d.run(200.0, 10.0);
    let p50 = mean_of(&rows, "api_latency_p50_seconds", 110.0, 200.0);
    assert!(
        (0.8..1.0).contains(&p50),
        "p50 {p50} (0.8 s in a 19% bucket)"
    );
    let calls = d.total("users_calls") - d.total("users_ok");
    assert_eq!(d.total("api_failed"), 0, "the service itself succeeds");
    assert!(
        d.total("users_gave_up") > 1800,
        "{}",
        d.total("users_gave_up")
    );
    assert!(calls >= d.total("users_gave_up"));
    d.call(|w, now, out| w.set_service_degraded(now, "api", None, out));
    let before = d.total("users_gave_up");
    d.run_checked(300.0);
    // Answers already on their way (at most 0.8 s of calls) still arrive late.
    assert!(d.total("users_gave_up") - before < 40);
}

// ---- metastable failure: a degradation as the trigger, and the defences ----

/// A service at 40% load (one replica, 10 workers of 0.1 s: 100/s; clients at 40/s), clients
/// retrying every 50 ms, unjittered, up to 10 times, with a 1 s timeout; `defend` adds a
/// defence to them. The trigger: from 60 s, for `trigger` seconds, the service time triples
/// (capacity 33/s, below the offered 40/s), so the queue builds up. Returns the clients'
/// goodput per second before the trigger and long after it (400-600 s).
fn goodput_after_degradation(
    trigger: f64,
    defend: impl Fn(&mut ClientSpec),
    seed: u64,
) -> (f64, f64) {
    let (before, after, _) = degraded_storm(trigger, defend, seed);
    (before, after)
}

/// [`goodput_after_degradation`], and the run's totals.
fn degraded_storm(
    trigger: f64,
    defend: impl Fn(&mut ClientSpec),
    seed: u64,
) -> (f64, f64, BTreeMap<String, u64>) {
    degraded_storm_of(trigger, |_| {}, defend, seed)
}

/// The retry-storm experiment itself: one replica of 10 workers at 0.1 s (100/s), users at
/// 40/s retrying every 50 ms up to 10 times with a 1 s timeout; from 60 s for `trigger`
/// seconds the service time triples. `serve` shapes the service (its queue), `defend` the
/// clients. Returns the users' goodput per second before the trigger and over 400-600 s, and
/// the totals.
fn degraded_storm_of(
    trigger: f64,
    serve: impl Fn(&mut ServiceSpec),
    defend: impl Fn(&mut ClientSpec),
    seed: u64,
) -> (f64, f64, BTreeMap<String, u64>) {
    let tripled = Degradation {
        service_time_factor: 3.0,
        ..Degradation::default()
    };
    storm_after(tripled, trigger, serve, defend, seed)
}

/// [`degraded_storm_of`] with the trigger's size as well as its duration: from 60 s, for
/// `trigger` seconds, the service runs `slow`.
fn storm_after(
    slow: Degradation,
    trigger: f64,
    serve: impl Fn(&mut ServiceSpec),
    defend: impl Fn(&mut ClientSpec),
    seed: u64,
) -> (f64, f64, BTreeMap<String, u64>) {
    let mut cfg = ServicesConfig::default();
    let mut api = ServiceSpec {
        selector: selector("api"),
        workers_per_replica: 10,
        service_seconds: 0.1,
        queue_capacity: 100_000,
        ..ServiceSpec::default()
    };
    serve(&mut api);
    cfg.services.insert("api".into(), api);
    let mut users = ClientSpec {
        target: "api".into(),
        rate_per_second: 40.0,
        timeout_seconds: 1.0,
        max_retries: 10,
        backoff: Backoff {
            initial_seconds: 0.05,
            max_seconds: 0.05,
            multiplier: 1.0,
            jitter: Jitter::None,
        },
        ..ClientSpec::default()
    };
    defend(&mut users);
    cfg.clients.insert("users".into(), users);
    let mut d = Driver::new(cfg, seed);
    d.ready_pod(1, "api-0", "api");
    d.run(60.0, 10.0);
    let before = d.total("users_succeeded") as f64 / 60.0;
    d.call(|w, now, out| w.set_service_degraded(now, "api", Some(slow), out));
    d.run(60.0 + trigger, 10.0);
    d.call(|w, now, out| w.set_service_degraded(now, "api", None, out));
    d.run(400.0, 10.0);
    let at_400 = d.total("users_succeeded");
    d.run(600.0, 10.0);
    let after = (d.total("users_succeeded") - at_400) as f64 / 200.0;
    (before, after, d.world.totals().into_iter().collect())
}

fn no_defence(_: &mut ClientSpec) {}

/// Whether the service came back: goodput long after the trigger at least 90% of before.
fn recovered((before, after): (f64, f64)) -> bool {
    assert!(before > 36.0, "healthy before the trigger: {before}");
    after > 0.9 * before
}

#[test]
fn a_short_degradation_passes_and_a_longer_one_tips_the_retrying_clients_into_a_storm() {
    // Bronson et al. (HotOS '21), Huang et al. (OSDI '22): the trigger is over, the
    // sustaining effect (every retry comes back within 50 ms, up to 11 x the load) is not.
    // The boundary is monotone in the trigger's duration: once a trigger tips the service
    // over, every longer one does too.
    let triggers = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
    let outcome: Vec<bool> = triggers
        .iter()
        .map(|&t| {
            let g = goodput_after_degradation(t, no_defence, 1);
            recovered(g)
        })
        .collect();
    assert!(outcome[0], "a 1 s trigger passes: {outcome:?}");
    assert!(
        !outcome[triggers.len() - 1],
        "a 32 s trigger tips it over: {outcome:?}"
    );
    let first_down = outcome.iter().position(|ok| !ok).expect("one tips it");
    assert!(
        outcome[first_down..].iter().all(|ok| !ok),
        "monotone in the trigger's duration: {triggers:?} -> {outcome:?}"
    );
}

#[test]
fn each_defence_moves_the_boundary_past_every_trigger_swept() {
    // Every trigger that tipped the unprotected clients over (8, 16, 32 s) passes with any
    // one of the defences.
    type Defend = fn(&mut ClientSpec);
    let defences: [(&str, Defend); 3] = [
        ("retryThrottling", |c| {
            c.retry_throttling = Some(RetryThrottling::default())
        }),
        ("retryBudget", |c| {
            c.retry_budget = Some(RetryBudget::default())
        }),
        ("circuitBreaker", |c| {
            c.circuit_breaker = Some(CircuitBreaker::default())
        }),
    ];
    for (name, defend) in defences {
        for trigger in [8.0, 16.0, 32.0] {
            let g = goodput_after_degradation(trigger, defend, 1);
            assert!(recovered(g), "{name}, {trigger} s trigger: {g:?}");
        }
    }
}

#[test]
fn retry_throttling_recovers_where_unthrottled_retries_stay_down() {
    let (before, after) = goodput_after_degradation(32.0, no_defence, 1);
    assert!(
        after < 0.2 * before,
        "without it: still down ({after} of {before})"
    );
    let (b, a, totals) = degraded_storm(
        32.0,
        |c| c.retry_throttling = Some(RetryThrottling::default()),
        1,
    );
    let throttled = (b, a);
    assert!(totals["users_retries_throttled"] > 0, "{totals:?}");
    assert!(!totals.contains_key("users_retries_over_budget"));
    assert!(
        recovered(throttled),
        "with gRPC retry throttling: {throttled:?}"
    );
}

#[test]
fn a_retry_budget_recovers_where_unbudgeted_retries_stay_down() {
    let (before, after) = goodput_after_degradation(32.0, no_defence, 2);
    assert!(
        after < 0.2 * before,
        "without it: still down ({after} of {before})"
    );
    let (b, a, totals) = degraded_storm(32.0, |c| c.retry_budget = Some(RetryBudget::default()), 2);
    let budgeted = (b, a);
    assert!(totals["users_retries_over_budget"] > 0, "{totals:?}");
    assert!(
        recovered(budgeted),
        "with Envoy's retry budget: {budgeted:?}"
    );
}

#[test]
fn a_circuit_breaker_recovers_where_retries_alone_stay_down() {
    let (b, a, totals) = degraded_storm(
        32.0,
        |c| c.circuit_breaker = Some(CircuitBreaker::default()),
        3,
    );
    let breaker = (b, a);
    assert!(totals["users_short_circuited"] > 0, "{totals:?}");
    assert!(
        recovered(breaker),
        "with Hystrix's circuit breaker: {breaker:?}"
    );
}

// ---- services that call services ----

/// `front` (10 workers, 0.05 s) calls `back` (10 workers, 0.1 s; capacity 100/s) for every
/// request, with `retries` retries of 50 ms; users call `front` at 20/s and wait 10 s.
fn chain(retries: u32) -> Driver {
    chain_with(retries, |_| {})
}

/// [`chain`], with `defend` applied to front's calls.
fn chain_with(retries: u32, defend: impl Fn(&mut DownstreamCall)) -> Driver {
    let mut cfg = ServicesConfig::default();
    let svc = |app: &str, seconds: f64, calls: Option<DownstreamCall>| ServiceSpec {
        selector: selector(app),
        workers_per_replica: 10,
        service_seconds: seconds,
        service_time: ServiceTime::Deterministic,
        queue_capacity: 100_000,
        calls: calls.map(Into::into).unwrap_or_default(),
        ..ServiceSpec::default()
    };
    let mut call = DownstreamCall {
        service: "back".into(),
        timeout_seconds: 2.0,
        max_retries: retries,
        backoff: Backoff {
            initial_seconds: 0.05,
            max_seconds: 0.05,
            multiplier: 1.0,
            jitter: Jitter::None,
        },
        ..DownstreamCall::default()
    };
    defend(&mut call);
    cfg.services
        .insert("front".into(), svc("front", 0.05, Some(call)));
    cfg.services.insert("back".into(), svc("back", 0.1, None));
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "front".into(),
            rate_per_second: 20.0,
            timeout_seconds: 10.0,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 5);
    d.ready_pod(1, "front-0", "front");
    d.ready_pod(2, "back-0", "back");
    d
}

#[test]
fn a_request_that_calls_a_service_waits_for_it_and_its_latency_adds_up() {
    let mut d = chain(0);
    let rows = d.run(200.0, 10.0);
    // 0.05 s of its own work, then 0.1 s waiting on back, worker held.
    let p50 = mean_of(&rows, "front_latency_p50_seconds", 20.0, 200.0);
    assert!((0.15..0.19).contains(&p50), "front p50 {p50}");
    assert_eq!(
        d.total("back_requests"),
        d.total("back_succeeded") + in_flight(&d, "back")
    );
    assert!(d.total("front_succeeded") > 3800);
    assert!(d.total("back_succeeded") >= d.total("front_succeeded"));
    assert_eq!(d.total("users_gave_up"), 0);
}

fn in_flight(d: &Driver, svc: &str) -> u64 {
    let s = d
        .world
        .endpoints
        .iter()
        .find(|s| s.name == svc)
        .expect("service");
    s.replicas.iter().map(|r| r.requests() as u64).sum()
}

#[test]
fn a_failing_dependency_fails_its_callers_and_their_retries_multiply_its_load() {
    // back answers every request with an error: front fails every request, after trying back
    // three times (two retries).
    let mut d = chain(2);
    d.run_checked(50.0);
    let all = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(all), out));
    let (front0, back0) = (d.total("front_requests"), d.total("back_requests"));
    let failed0 = d.total("front_failed");
    d.run_checked(150.0);
    let front = d.total("front_requests") - front0;
    let back = d.total("back_requests") - back0;
    let ratio = back as f64 / front as f64;
    assert!(
        (2.9..3.1).contains(&ratio),
        "{back} calls for {front} requests"
    );
    assert!(
        d.total("front_failed") - failed0 + 20 >= front,
        "every front request fails"
    );
    assert_eq!(d.total("front_rejected"), 0);
}

#[test]
fn a_slow_dependency_fills_its_callers_workers_and_the_failure_climbs_the_chain() {
    // back ten times slower (1 s: 10/s, below the 20/s front sends): front's workers wait on
    // it, front's queue grows, and the users' 10 s timeout passes. front itself is fine.
    let mut d = chain(0);
    d.run_checked(50.0);
    assert_eq!(d.total("users_gave_up"), 0);
    let slow = Degradation {
        service_time_factor: 10.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(slow), out));
    d.run_checked(150.0);
    let front = d
        .world
        .endpoints
        .iter()
        .find(|s| s.name == "front")
        .expect("front");
    assert_eq!(
        front.replicas[0].in_service.len(),
        10,
        "every front worker waits on back"
    );
    assert!(
        front.replicas[0].queue.len() > 100,
        "{}",
        front.replicas[0].queue.len()
    );
    assert!(
        d.total("users_gave_up") > 500,
        "{}",
        d.total("users_gave_up")
    );
    d.call(|w, now, out| w.set_service_degraded(now, "back", None, out));
    d.run_checked(400.0);
    let gave_up = d.total("users_gave_up");
    d.run_checked(500.0);
    assert_eq!(d.total("users_gave_up"), gave_up, "recovered once back is");
}

#[test]
fn the_retry_defences_on_a_services_calls_cap_what_a_failing_dependency_costs() {
    // back fails everything; front retries twice: 3 calls per request without a defence
    // (the test above). Throttled, the calls stop being retried after five failures in a
    // row, and no success ever refills the bucket: about one call per request.
    let throttled = |d: &mut DownstreamCall| d.retry_throttling = Some(RetryThrottling::default());
    let budgeted = |d: &mut DownstreamCall| {
        d.retry_budget = Some(RetryBudget {
            budget_percent: 0.0,
            min_retry_concurrency: 1,
        })
    };
    for (name, defend, counter, most) in [
        (
            "throttled",
            throttled as fn(&mut DownstreamCall),
            "front_call_retries_throttled",
            1.01,
        ),
        ("budgeted", budgeted, "front_call_retries_over_budget", 2.5),
    ] {
        let mut d = chain_with(2, defend);
        let all = Degradation {
            error_rate: 1.0,
            ..Degradation::default()
        };
        d.call(|w, now, out| w.set_service_degraded(now, "back", Some(all), out));
        d.run_checked(100.0);
        let ratio = d.total("back_requests") as f64 / d.total("front_requests") as f64;
        assert!(ratio < most, "{name}: {ratio} calls per request");
        assert!(d.total(counter) > 100, "{name}: {}", d.total(counter));
        assert!(!d
            .world
            .totals()
            .iter()
            .any(|(k, _)| k.starts_with("back_call")));
    }
}

#[test]
fn a_call_made_with_a_probability_is_made_by_that_share_of_requests() {
    // back fails everything: the share of front's requests that called it fail, the others
    // are answered without it.
    let mut d = chain_with(0, |c| c.probability = 0.3);
    let all = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(all), out));
    d.run_checked(200.0);
    let front = d.total("front_requests") as f64;
    let back = d.total("back_requests") as f64;
    assert!(
        (0.27..0.33).contains(&(back / front)),
        "{back} calls for {front}"
    );
    let failed = d.total("front_failed") as f64;
    assert!(
        (0.27..0.33).contains(&(failed / front)),
        "{failed} of {front} failed"
    );
    // Never and always: no call, and every request calls (neither draws).
    for (p, share) in [(0.0, 0.0), (1.0, 1.0)] {
        let mut d = chain_with(0, |c| c.probability = p);
        d.run_checked(50.0);
        let ratio = d.total("back_requests") as f64 / d.total("front_succeeded") as f64;
        assert!((ratio - share).abs() < 0.01, "probability {p}: {ratio}");
    }
}

#[test]
fn a_circuit_breaker_on_a_services_calls_fails_fast_and_closes_after_recovery() {
    // back fails everything: Hystrix's defaults open the circuit after 20 failures in the
    // window, and from then on front fails its requests without calling back, bar one trial
    // every 5 s sleep window.
    let mut d = chain_with(0, |c| c.circuit_breaker = Some(CircuitBreaker::default()));
    let all = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(all), out));
    d.run_checked(100.0);
    let (front, back) = (d.total("front_requests"), d.total("back_requests"));
    assert!(back < 50, "{back} calls for {front} requests");
    assert!(d.total("front_call_short_circuited") + back + 20 >= front);
    assert!(front > 1900, "{front}");
    // back recovers: the next trial closes the circuit and every request calls again.
    d.call(|w, now, out| w.set_service_degraded(now, "back", None, out));
    d.run_checked(110.0);
    let (front, back) = (d.total("front_requests"), d.total("back_requests"));
    d.run_checked(200.0);
    let calls = d.total("back_requests") - back;
    let requests = d.total("front_requests") - front;
    assert!(
        calls + 20 >= requests,
        "{calls} calls for {requests} requests"
    );
    assert!(!d
        .world
        .totals()
        .iter()
        .any(|(k, _)| k == "back_call_short_circuited"));
}

#[test]
fn a_circuit_breaker_on_a_services_calls_keeps_a_slow_dependency_from_holding_its_workers() {
    // back ten times slower (the test above it: every front worker waits on it and the users
    // give up). With a 0.5 s call timeout and the breaker, front's calls time out, the
    // circuit opens and front fails fast instead: its workers stay free, its queue empty.
    let mut d = chain_with(0, |c| {
        c.timeout_seconds = 0.5;
        c.circuit_breaker = Some(CircuitBreaker::default());
    });
    d.run_checked(50.0);
    let slow = Degradation {
        service_time_factor: 10.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(slow), out));
    d.run_checked(150.0);
    let front = d
        .world
        .endpoints
        .iter()
        .find(|s| s.name == "front")
        .expect("front");
    assert!(
        front.replicas[0].queue.len() < 10,
        "{}",
        front.replicas[0].queue.len()
    );
    assert!(
        front.replicas[0].in_service.len() < 5,
        "{} workers held",
        front.replicas[0].in_service.len()
    );
    assert!(d.total("front_call_short_circuited") > 1000);
}

#[test]
fn calls_to_unknown_services_and_cycles_of_calls_are_refused() {
    let mut cfg = ServicesConfig::default();
    let calls = |to: &str| ServiceSpec {
        calls: DownstreamCall {
            service: to.into(),
            ..DownstreamCall::default()
        }
        .into(),
        ..ServiceSpec::default()
    };
    cfg.services.insert("a".into(), calls("nope"));
    assert_eq!(
        validate(&cfg),
        Err("services.a.calls.service: no service named \"nope\" (declared: a)".into())
    );
    cfg.services.insert("a".into(), calls("b"));
    cfg.services.insert("b".into(), calls("c"));
    cfg.services.insert("c".into(), calls("b"));
    assert_eq!(
        validate(&cfg),
        Err("services.a.calls.service: a cycle of calls (a -> b -> c -> b): a request would wait on itself".into())
    );
    cfg.services.insert("c".into(), ServiceSpec::default());
    assert_eq!(validate(&cfg), Ok(()));
    let mut bad = cfg.clone();
    if let Some(c) = bad
        .services
        .get_mut("a")
        .and_then(|s| s.calls.iter_mut().next())
    {
        c.probability = 1.5;
    }
    assert_eq!(
        validate(&bad),
        Err(
            "services.a.calls.probability: 1.5 is out of range: expected a probability in [0, 1]"
                .into()
        )
    );
    let mut bad = cfg.clone();
    if let Some(c) = bad
        .services
        .get_mut("b")
        .and_then(|s| s.calls.iter_mut().next())
    {
        c.circuit_breaker = Some(CircuitBreaker {
            error_threshold_percentage: 150.0,
            ..CircuitBreaker::default()
        });
    }
    assert_eq!(
        validate(&bad),
        Err("services.b.calls.circuitBreaker.errorThresholdPercentage: 150 is out of range: expected a percentage in [0, 100]".into())
    );
}

// ---- amplification and caches ----

#[test]
fn fan_out_amplifies_and_a_cache_absorbs() {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "dns".into(),
        ServiceSpec {
            selector: selector("dns"),
            workers_per_replica: 64,
            service_seconds: 0.001,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "lookups".into(),
        ClientSpec {
            target: "dns".into(),
            rate_per_second: 100.0,
            requests_per_call: 3,
            ..ClientSpec::default()
        },
    );
    cfg.clients.insert(
        "cached".into(),
        ClientSpec {
            target: "dns".into(),
            rate_per_second: 100.0,
            requests_per_call: 3,
            cache_ttl_seconds: 30.0,
            cache_keys: 10,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 3);
    d.ready_pod(1, "dns-0", "dns");
    d.run(300.0, 10.0);
    assert!((d.ratio("lookups_amplification") - 3.0).abs() < 1e-9);
    // 10 keys refreshed every 30 s: about 10 misses per 30 s out of 3,000 calls.
    let cached = d.ratio("cached_amplification");
    assert!(
        cached < 0.05,
        "a warm cache absorbs almost every call: {cached}"
    );
    assert!(d.total("cached_cache_hits") > 25_000);
}

/// A client's cache at the start of a run (docs/retry-defences.md#client-caches): a cold one
/// misses on every key in its first second and refetches them all one TTL later, together; a
/// warm one (the default) holds entries of every age, whose expiries are spread over the TTL.
#[test]
fn a_warm_cache_expires_spread_over_its_ttl_and_a_cold_one_in_waves() {
    let misses_in_windows = |warm: bool| -> (u64, u64) {
        let mut cfg = ServicesConfig::default();
        cfg.services.insert(
            "dns".into(),
            ServiceSpec {
                selector: selector("dns"),
                workers_per_replica: 64,
                service_seconds: 0.001,
                ..ServiceSpec::default()
            },
        );
        cfg.clients.insert(
            "cached".into(),
            ClientSpec {
                target: "dns".into(),
                rate_per_second: 2000.0,
                cache_ttl_seconds: 60.0,
                cache_keys: 100,
                warm_cache_at_start: warm,
                ..ClientSpec::default()
            },
        );
        let mut d = Driver::new(cfg, 5);
        d.ready_pod(1, "dns-0", "dns");
        // A miss sends a request; a hit sends none.
        let sent = |d: &Driver| d.total("cached_requests");
        d.run_checked(2.0);
        let first = sent(&d);
        assert!(d.total("cached_cache_hits") > 3000);
        d.run_checked(60.0);
        let before = sent(&d);
        d.run_checked(62.0);
        (first, sent(&d) - before)
    };
    // Cold: all 100 keys miss within the first 2 s, and again within 2 s one TTL later.
    let (first, second) = misses_in_windows(false);
    assert!(first >= 95 && second >= 95, "cold: {first}, {second}");
    // Warm: about 100 x 2/60 expire in any 2 s.
    let (first, second) = misses_in_windows(true);
    assert!(first <= 15 && second <= 15, "warm: {first}, {second}");
}

#[test]
fn a_replica_past_its_memory_limit_is_oom_killed_and_its_requests_fail() {
    // 20 requests/s against a capacity of 1/s: the 11th request in the replica kills it.
    let cfg = flooded_proxy(ServiceSpec {
        memory_base: cascade_manifest::quantity::Bytes(100),
        memory_per_request: cascade_manifest::quantity::Bytes(10),
        memory_limit: cascade_manifest::quantity::Bytes(200),
        ..ServiceSpec::default()
    });
    let mut d = Driver::new(cfg, 5);
    d.ready_pod(1, "proxy-0", "proxy");
    d.run(10.0, 1.0);
    assert_eq!(d.oom_kills.len(), 1, "killed once; nobody restarts it here");
    assert_eq!(d.total("proxy_oom_kills"), 1);
    assert!(d.total("proxy_failed") >= 10, "its requests die with it");
    assert!(d.total("proxy_unavailable") > 0, "then nothing serves");
}

/// A `proxy` service (from `spec`, with one worker taking 1 s a request) flooded at 20
/// requests/s by a client that never retries.
fn flooded_proxy(spec: ServiceSpec) -> ServicesConfig {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "proxy".into(),
        ServiceSpec {
            selector: selector("proxy"),
            workers_per_replica: 1,
            service_seconds: 1.0,
            ..spec
        },
    );
    cfg.clients.insert(
        "flood".into(),
        ClientSpec {
            target: "proxy".into(),
            rate_per_second: 20.0,
            max_retries: 0,
            timeout_seconds: 100.0,
            ..ClientSpec::default()
        },
    );
    cfg
}

#[test]
fn in_flight_counts_the_requests_in_a_pods_replicas_and_a_watch_fires_once() {
    // The requests pile up in the replica.
    let cfg = flooded_proxy(ServiceSpec {
        service_time: ServiceTime::Deterministic,
        ..ServiceSpec::default()
    });
    let mut d = Driver::new(cfg, 5);
    d.ready_pod(1, "proxy-0", "proxy");
    let pod = PodRef::new(1);
    assert_eq!(d.world.in_flight(pod), 0);
    assert_eq!(
        d.world.in_flight(PodRef::new(2)),
        0,
        "a pod that backs nothing"
    );
    d.world.watch_in_flight(pod, Some(30));
    d.run(5.0, 1.0);
    let held = |d: &Driver| {
        let s = d.world.endpoints.get(ServiceIdx::at(0));
        s.replicas.iter().map(|r| r.requests()).sum::<usize>()
    };
    assert_eq!(d.world.in_flight(pod), held(&d));
    assert!(held(&d) > 30, "piled up: {}", held(&d));
    assert_eq!(d.in_flight_reached.len(), 1, "once, then spent");
    let (at, p) = d.in_flight_reached[0];
    assert_eq!(p, pod);
    // About 20 a second arrive and one leaves: the 30th is in flight after about 1.5 s.
    assert!(
        at > Time::from_secs_f64(1.0) && at < Time::from_secs_f64(2.5),
        "{at:?}"
    );
    // Withdrawn, it never fires.
    d.world.watch_in_flight(pod, Some(held(&d) + 1));
    d.world.watch_in_flight(pod, None);
    d.run(6.0, 1.0);
    assert_eq!(d.in_flight_reached.len(), 1);
    // The process dies: nothing left in flight.
    d.call(|w, now, out| w.process_died(now, pod, out));
    assert_eq!(d.world.in_flight(pod), 0);
}

#[test]
fn a_service_without_a_ready_replica_succeeds_at_nothing() {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "proxy".into(),
        ServiceSpec {
            selector: selector("proxy"),
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "steady".into(),
        ClientSpec {
            target: "proxy".into(),
            rate_per_second: 10.0,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    // No pod is ever Ready: every request is refused for want of an endpoint.
    let mut d = Driver::new(cfg, 3);
    d.run(60.0, 10.0);
    assert!(d.total("proxy_unavailable") > 0);
    assert_eq!(d.total("proxy_succeeded"), 0);
    assert_eq!(d.ratio("proxy_success_ratio"), 0.0);
}

// ---- the ring and its ingesters ----

fn ring_config(join_after: f64) -> ServicesConfig {
    let mut cfg = ServicesConfig::default();
    cfg.rings.insert(
        "cortex".into(),
        RingSpec {
            selector: selector("ingester"),
            join_after_seconds: join_after,
            ..RingSpec::default()
        },
    );
    cfg.services.insert(
        "distributor".into(),
        ServiceSpec {
            selector: selector("distributor"),
            ring: Some("cortex".into()),
            ..ServiceSpec::default()
        },
    );
    cfg.remote_write.insert(
        "prom".into(),
        RemoteWriteSpec {
            target: "distributor".into(),
            servers: 2,
            samples_per_second: 1000.0,
            ..RemoteWriteSpec::default()
        },
    );
    cfg
}

#[test]
fn a_leaving_ingester_hands_over_to_a_pending_one_and_nothing_is_lost() {
    let mut d = Driver::new(ring_config(30.0), 11);
    d.ready_pod(100, "distributor-0", "distributor");
    for i in 0..4 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    d.run(120.0, 10.0);
    // (The ring only forms after join_after: writes fail for the first 30 s.)
    let failed_before = d.total("write_requests_failed");
    // A replacement starts (PENDING, waiting join_after), then ingester-0 is told to stop.
    d.ready_pod(4, "ingester-4", "ingester");
    let claimed = d.call(|w, now, out| w.terminating(now, PodRef::new(0), out));
    assert!(claimed, "a leaving ingester reports its own exit");
    let rows = d.run(400.0, 10.0);
    assert_eq!(d.exited.len(), 1);
    assert_eq!(d.exited[0].1, PodRef::new(0));
    // Hand-over takes transferSeconds (60 s).
    assert!((d.exited[0].0.as_secs_f64() - 180.0).abs() < 1.0);
    assert_eq!(d.total("samples_lost"), 0);
    assert!(d.total("cortex_samples_transferred") > 0);
    assert_eq!(d.total("cortex_samples_flushed"), 0);
    // A LEAVING ingester extends the replica set: writes never stop.
    assert!(rows
        .iter()
        .all(|(_, r)| r["cortex_write_availability"] == 1.0));
    assert_eq!(d.total("write_requests_failed"), failed_before);
}

#[test]
fn with_no_pending_ingester_a_leaving_one_retries_then_flushes() {
    let mut d = Driver::new(ring_config(0.0), 12);
    d.ready_pod(100, "distributor-0", "distributor");
    for i in 0..4 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    d.run(60.0, 10.0);
    d.call(|w, now, out| w.terminating(now, PodRef::new(0), out));
    d.run(1000.0, 10.0);
    // 60 attempts 5 s apart (300 s), then a 120 s flush: exit 7 minutes after SIGTERM.
    assert_eq!(d.exited.len(), 1);
    let at = d.exited[0].0.as_secs_f64();
    assert!((at - (60.0 + 300.0 + 120.0)).abs() < 1.0, "exited at {at}");
    assert!(d.total("cortex_samples_flushed") > 0);
    assert_eq!(d.total("samples_lost"), 0);
}

#[test]
fn an_ingester_that_dies_loses_its_samples_and_two_dead_break_quorum() {
    let mut d = Driver::new(ring_config(0.0), 13);
    d.ready_pod(100, "distributor-0", "distributor");
    for i in 0..3 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    d.run(60.0, 10.0);
    d.call(|w, now, out| w.process_died(now, PodRef::new(0), out));
    d.call(|w, now, out| w.process_died(now, PodRef::new(1), out));
    assert!(d.total("samples_lost") > 0);
    // Healthy until the heartbeat timeout (1 min), then no series has 2 of 3 replicas.
    let rows = d.run(200.0, 10.0);
    let at =
        |t: f64| rows.iter().find(|(x, _)| *x == t).expect("row").1["cortex_write_availability"];
    assert_eq!(at(110.0), 1.0);
    assert_eq!(at(130.0), 0.0);
}

#[test]
fn ingesters_cut_off_by_a_partition_go_stale_and_come_back_when_it_heals() {
    let mut d = Driver::new(ring_config(0.0), 14);
    d.ready_pod(100, "distributor-0", "distributor");
    for i in 0..3 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    d.run(60.0, 10.0);
    // Two of three ingesters across a partition: alive, but their heartbeats stop.
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(0), true, out));
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), true, out));
    let rows = d.run(200.0, 10.0);
    let at = |rows: &[(f64, BTreeMap<String, f64>)], t: f64| {
        rows.iter().find(|(x, _)| *x == t).expect("row").1["cortex_write_availability"]
    };
    // Healthy until the heartbeat timeout (1 min), then no series has 2 of 3 replicas.
    assert_eq!(at(&rows, 110.0), 1.0);
    assert_eq!(at(&rows, 130.0), 0.0);
    // Nothing was lost: the processes kept running.
    assert_eq!(d.total("samples_lost"), 0);
    // Healed: they heartbeat again and the ring is whole.
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(0), false, out));
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), false, out));
    let rows = d.run(260.0, 10.0);
    assert_eq!(at(&rows, 210.0), 1.0);
}

#[test]
fn remote_write_buffers_in_the_wal_while_writes_fail_and_replays_after() {
    let mut d = Driver::new(ring_config(0.0), 14);
    for i in 0..3 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    // No distributor for the first 5 minutes: every request is refused.
    let rows = d.run(300.0, 10.0);
    assert!(rows.last().expect("rows").1["prom_pending_samples"] > 500_000.0);
    d.ready_pod(100, "distributor-0", "distributor");
    let rows = d.run(900.0, 10.0);
    let last = &rows.last().expect("rows").1;
    assert!(last["prom_pending_samples"] < 1000.0, "backlog replayed");
    assert_eq!(d.total("samples_lost"), 0);
    let written = d.total("samples_written") as f64;
    assert!((written - 2.0 * 1000.0 * 900.0).abs() < 5000.0, "{written}");
    assert!(d.total("write_requests_failed") > 1000);
}

#[test]
fn a_wal_older_than_its_retention_loses_samples() {
    let mut cfg = ring_config(0.0);
    cfg.remote_write
        .get_mut("prom")
        .expect("prom")
        .wal_retention_seconds = 60.0;
    let mut d = Driver::new(cfg, 15);
    d.run(300.0, 10.0);
    // 2 servers x 1000 samples/s, 240 s beyond the 60 s the WAL keeps.
    let lost = d.total("samples_lost") as f64;
    assert!((lost - 480_000.0).abs() < 2000.0, "{lost}");
}

#[test]
fn same_seed_same_world() {
    let run = |seed| {
        let mut d = Driver::new(ring_config(30.0), seed);
        d.ready_pod(100, "distributor-0", "distributor");
        for i in 0..4 {
            d.ready_pod(i, &format!("ingester-{i}"), "ingester");
        }
        let rows = d.run(300.0, 10.0);
        (format!("{rows:?}"), d.world.totals())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).0, run(2).0);
}

#[test]
fn without_the_wal_an_outage_drops_what_the_queues_cannot_hold() {
    let mut cfg = ring_config(0.0);
    cfg.remote_write.get_mut("prom").expect("prom").wal = false;
    let mut d = Driver::new(cfg, 16);
    for i in 0..3 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    // 100 s with no distributor: each server's one shard holds 10,000 samples in memory, the
    // other 90,000 of its 100,000 are dropped.
    d.run(100.0, 10.0);
    d.ready_pod(100, "distributor-0", "distributor");
    d.run(300.0, 10.0);
    let lost = d.total("samples_lost") as f64;
    assert!((lost - 2.0 * 90_000.0).abs() < 3000.0, "{lost}");
}

#[test]
fn a_429_is_dropped_by_2019_prometheus_and_retried_when_configured() {
    let run = |retry: bool| {
        let mut cfg = ServicesConfig::default();
        cfg.services.insert(
            "gw".into(),
            ServiceSpec {
                selector: selector("gw"),
                workers_per_replica: 1,
                service_seconds: 0.05,
                queue_capacity: 0,
                reject_status: 429,
                ..ServiceSpec::default()
            },
        );
        cfg.remote_write.insert(
            "prom".into(),
            RemoteWriteSpec {
                target: "gw".into(),
                servers: 20,
                samples_per_second: 1000.0,
                retry_on_http_429: retry,
                ..RemoteWriteSpec::default()
            },
        );
        let mut d = Driver::new(cfg, 17);
        d.ready_pod(1, "gw-0", "gw");
        d.run(120.0, 10.0);
        (d.total("samples_lost"), d.total("gw_rejected"))
    };
    // 200 requests/s offered to a gateway that serves 20/s: most are throttled.
    let (dropped, rejected) = run(false);
    assert!(
        rejected > 100 && dropped > 10_000,
        "lost {dropped}, rejected {rejected}"
    );
    let (lost, rejected) = run(true);
    assert!(rejected > 100);
    // Retried 429s wait in the WAL; only the batches still retrying when a reshard's flush
    // deadline passes are abandoned, whole.
    assert!(lost < dropped / 10, "{lost} of {dropped}");
    assert_eq!(lost % 100, 0, "{lost}");
}

#[test]
fn a_call_fails_when_any_of_its_requests_does_and_a_vault_like_client_seals() {
    // A "vault" client whose storage (consul) disappears: its calls fail, and after 60 s of
    // nothing but failures it seals and stops calling; the calls of a fan-out client fail
    // as wholes (one failed request fails the call).
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "consul".into(),
        ServiceSpec {
            selector: selector("consul"),
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "vault".into(),
        ClientSpec {
            target: "consul".into(),
            rate_per_second: 10.0,
            max_retries: 1,
            seal_after_failing_seconds: Some(60.0),
            ..ClientSpec::default()
        },
    );
    cfg.clients.insert(
        "deploys".into(),
        ClientSpec {
            target: "consul".into(),
            rate_per_second: 1.0,
            requests_per_call: 5,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 21);
    d.ready_pod(1, "consul-0", "consul");
    d.run(100.0, 10.0);
    let ok_before = d.total("deploys_ok");
    assert!(ok_before > 80, "{ok_before}");
    assert_eq!(d.total("deploys_failed"), 0);
    assert_eq!(d.total("vault_sealed_seconds"), 0);
    d.call(|w, now, out| w.set_service_reachable(now, "consul", false, out));
    let rows = d.run(400.0, 10.0);
    assert!(d.total("deploys_failed") > 250);
    assert_eq!(d.total("deploys_ok"), ok_before);
    // Sealed about 60 s after the first failure, and for the rest of the run.
    let sealed_seconds = d.total("vault_sealed_seconds") as f64;
    assert!(
        (220.0..=250.0).contains(&sealed_seconds),
        "{sealed_seconds}"
    );
    assert_eq!(rows.last().expect("row").1["vault_sealed"], 1.0);
    // A sealed Vault sends nothing, even when its storage is back.
    d.call(|w, now, out| w.set_service_reachable(now, "consul", true, out));
    let sent = d.total("vault_requests");
    d.run(500.0, 10.0);
    assert_eq!(d.total("vault_requests"), sent);
    assert!(d.total("deploys_ok") > ok_before + 80);
}

/// `{service}_up_ratio` shows a dependency fault, which `_ready_replicas` does not (its pods
/// stay Ready), as the share of each interval the service took connections: a flapping
/// dependency reads between 0 and 1, where a reading at the sample instant alone would have
/// read "down" throughout (down 90 s, up 30 s, sampled every 60 s lands in the down phase).
#[test]
fn the_up_ratio_is_the_share_of_each_interval_the_service_took_connections() {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "kafka".into(),
        ServiceSpec {
            selector: selector("kafka"),
            ..ServiceSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 23);
    let sample = |d: &mut Driver, at: f64| {
        d.run_checked(at);
        d.world.roll_interval(d.now);
        let row: BTreeMap<String, f64> = d.world.sample().into_iter().collect();
        (row["kafka_up_ratio"], row["kafka_ready_replicas"])
    };
    // No replica yet: refusing. The first roll opens the first interval and reads the state.
    assert_eq!(sample(&mut d, 0.0), (0.0, 0.0));
    // Ready from 15 s of the interval [0, 60].
    d.run_checked(15.0);
    d.ready_pod(1, "kafka-0", "kafka");
    assert_eq!(sample(&mut d, 60.0), (0.75, 1.0));
    assert_eq!(sample(&mut d, 120.0), (1.0, 1.0));
    // Flapping from 120 s: down 90 s, up 30 s; the pod stays Ready throughout.
    let reachable = |d: &mut Driver, at: f64, on: bool| {
        d.run_checked(at);
        assert!(d.call(|w, now, out| w.set_service_reachable(now, "kafka", on, out)));
    };
    let mut readings = Vec::new();
    for cycle in 0..3 {
        let t0 = 120.0 + 120.0 * f64::from(cycle);
        reachable(&mut d, t0, false);
        readings.push(sample(&mut d, t0 + 60.0));
        reachable(&mut d, t0 + 90.0, true);
        readings.push(sample(&mut d, t0 + 120.0));
    }
    assert_eq!(
        readings,
        [(0.0, 1.0), (0.5, 1.0)].repeat(3),
        "down 60 of 60 s, then down 30 and up 30 of the next 60 s"
    );
    // Back for good.
    assert_eq!(sample(&mut d, 540.0), (1.0, 1.0));
    // No Ready replica refuses too: the pod goes not Ready for 6 s of the next 60.
    d.run_checked(570.0);
    d.call(|w, now, out| w.pod_not_ready(now, PodRef::new(1), out));
    d.run_checked(576.0);
    d.call(|w, now, out| w.pod_ready(now, PodRef::new(1), out));
    assert_eq!(sample(&mut d, 600.0), (0.9, 1.0));
}

#[test]
fn internal_work_loads_a_service_without_retries() {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "consul".into(),
        ServiceSpec {
            selector: selector("consul"),
            workers_per_replica: 1,
            service_seconds: 0.01,
            ..ServiceSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 22);
    d.ready_pod(1, "consul-0", "consul");
    assert!(d.call(|w, now, out| w.submit(now, "consul", 500, out)));
    assert!(!d.call(|w, now, out| w.submit(now, "nope", 1, out)));
    let rows = d.run(20.0, 1.0);
    assert_eq!(d.total("consul_succeeded"), 500);
    // 500 writes at 100/s: the last waits about 5 s.
    let worst = rows
        .iter()
        .map(|(_, r)| r["consul_latency_p99_seconds"])
        .fold(0.0, f64::max);
    assert!((4.0..=6.5).contains(&worst), "{worst}");
}

// ---- invariants ----

/// A proxy under a flood, OOM-killed, restarted, cut off and healed, with a client retrying,
/// a remote_write fleet through it and internal work: the invariants hold after every event.
fn turbulent() -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "proxy".into(),
        ServiceSpec {
            selector: selector("proxy"),
            workers_per_replica: 2,
            service_seconds: 0.05,
            queue_capacity: 20,
            queue_timeout_seconds: Some(0.5),
            memory_base: cascade_manifest::quantity::Bytes(100),
            memory_per_request: cascade_manifest::quantity::Bytes(10),
            memory_limit: cascade_manifest::quantity::Bytes(300),
            // Each request also calls zdb (named to sort after proxy: ServiceIdx(0) stays
            // the proxy), retrying once.
            calls: DownstreamCall {
                service: "zdb".into(),
                timeout_seconds: 0.2,
                max_retries: 1,
                retry_throttling: Some(RetryThrottling::default()),
                retry_budget: Some(RetryBudget::default()),
                ..DownstreamCall::default()
            }
            .into(),
            ..ServiceSpec::default()
        },
    );
    cfg.services.insert(
        "zdb".into(),
        ServiceSpec {
            selector: selector("zdb"),
            workers_per_replica: 4,
            service_seconds: 0.02,
            queue_capacity: 50,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "proxy".into(),
            rate_per_second: 60.0,
            requests_per_call: 2,
            timeout_seconds: 0.3,
            max_retries: 2,
            ..ClientSpec::default()
        },
    );
    // The same calls behind every defence at once.
    cfg.clients.insert(
        "careful".into(),
        ClientSpec {
            target: "proxy".into(),
            rate_per_second: 20.0,
            timeout_seconds: 0.3,
            max_retries: 2,
            retry_throttling: Some(RetryThrottling::default()),
            retry_budget: Some(RetryBudget::default()),
            circuit_breaker: Some(CircuitBreaker::default()),
            ..ClientSpec::default()
        },
    );
    cfg.remote_write.insert(
        "prom".into(),
        RemoteWriteSpec {
            target: "proxy".into(),
            servers: 2,
            samples_per_second: 500.0,
            ..RemoteWriteSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 31);
    d.ready_pod(1, "proxy-0", "proxy");
    d.ready_pod(2, "proxy-1", "proxy");
    d.ready_pod(3, "zdb-0", "zdb");
    d
}

#[test]
fn the_invariants_hold_after_every_event() {
    let mut d = turbulent();
    d.call(|w, now, out| w.submit(now, "proxy", 50, out));
    d.run_checked(20.0);
    assert!(d.total("proxy_oom_kills") > 0, "the flood kills replicas");
    // Whatever the OOM kills left, restart both pods; then a partition, then it heals.
    for (pod, name) in [(1, "proxy-0"), (2, "proxy-1")] {
        d.call(|w, now, out| w.pod_gone(now, PodRef::new(pod), out));
        d.ready_pod(pod, name, "proxy");
    }
    d.check();
    // The dependency dies (with calls in it, or on their way) and comes back: the callers
    // wait on it, retry, fail.
    d.run_checked(22.0);
    d.call(|w, now, out| w.process_died(now, PodRef::new(3), out));
    d.run_checked(23.0);
    d.call(|w, now, out| w.pod_gone(now, PodRef::new(3), out));
    d.ready_pod(3, "zdb-0", "zdb");
    d.run_checked(25.0);
    assert!(d.total("zdb_requests") > 0, "{:?}", d.world.totals());
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), true, out));
    d.run_checked(30.0);
    d.call(|w, now, out| w.pod_not_ready(now, PodRef::new(1), out));
    d.call(|w, now, out| w.pod_not_ready(now, PodRef::new(2), out));
    d.run_checked(40.0);
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), false, out));
    d.call(|w, now, out| w.pod_ready(now, PodRef::new(1), out));
    d.run_checked(50.0);
    d.call(|w, now, out| w.set_service_reachable(now, "proxy", false, out));
    d.run_checked(55.0);
    d.call(|w, now, out| w.set_service_reachable(now, "proxy", true, out));
    d.run_checked(60.0);
    // Degraded in every way at once: answers still on their way when it ends.
    let g = Degradation {
        workers_per_replica: Some(1),
        service_time_factor: 4.0,
        added_latency_seconds: 0.2,
        error_rate: 0.3,
    };
    d.call(|w, now, out| w.set_service_degraded(now, "proxy", Some(g), out));
    d.run_checked(63.0);
    d.call(|w, now, out| w.set_service_degraded(now, "proxy", None, out));
    d.run_checked(65.0);
    d.call(|w, now, out| w.terminating(now, PodRef::new(2), out));
    d.run_checked(70.0);
    assert!(d.total("proxy_succeeded") > 0);
}

#[test]
fn check_invariants_catches_a_broken_state() {
    let svc = ServiceIdx(0);
    let broken = |f: &dyn Fn(&mut World)| {
        let mut d = turbulent();
        d.call(|w, now, out| w.submit(now, "proxy", 10, out));
        d.check();
        f(&mut d.world);
        d.world.check_invariants().expect_err("a broken state")
    };
    // A request held twice: in service and queued.
    let e = broken(&|w| {
        let rep = &mut w.endpoints.get_mut(svc).replicas[0];
        let id = rep.in_service[0];
        rep.queue.push_back(id);
    });
    assert!(e.contains("held twice"), "{e}");
    // A request the server left but a replica still holds.
    let e = broken(&|w| {
        let id = w.endpoints.get(svc).replicas[0].in_service[0];
        w.requests.get_mut(id).expect("in flight").left = true;
    });
    assert!(e.contains("holds"), "{e}");
    // A request in flight that no replica holds.
    let e = broken(&|w| {
        w.endpoints.get_mut(svc).replicas[0].queue.clear();
    });
    assert!(e.contains("not left by the server"), "{e}");
    // More requests in service than workers.
    let e = broken(&|w| {
        let rep = &mut w.endpoints.get_mut(svc).replicas[0];
        let id = rep.queue.pop_front().expect("queued");
        rep.in_service.push(id);
    });
    assert!(e.contains("workers"), "{e}");
    // The routable list and the replicas disagree.
    let e = broken(&|w| w.endpoints.get_mut(svc).routable.push(0));
    assert!(e.contains("routable list"), "{e}");
    let e = broken(&|w| w.endpoints.get_mut(svc).replicas[1].routable = false);
    assert!(e.contains("routable false but ready true"), "{e}");
    // A replica that is Ready without a process.
    let e = broken(&|w| w.endpoints.get_mut(svc).replicas[1].alive = false);
    assert!(e.contains("dead but"), "{e}");
    // A shard parked on a service that takes connections.
    let e = broken(&|w| {
        let t = Time::from_secs_f64(1.0);
        w.fleets.fill(t, FleetIdx(0), 0);
        let batch = w.fleets.take_batch(t, FleetIdx(0), 0, true);
        w.endpoints.park(svc, batch.expect("a batch"), Time::ZERO);
    });
    assert!(e.contains("parked"), "{e}");
}

#[test]
fn validate_checks_without_building_a_world() {
    let mut cfg = ServicesConfig::default();
    assert_eq!(validate(&cfg), Ok(()));
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "nope".into(),
            ..ClientSpec::default()
        },
    );
    let e = cfg.validate().expect_err("unknown target");
    assert_eq!(
        e,
        "clients.users.target: no service named \"nope\" (declared: none)"
    );
    assert_eq!(World::new(cfg.clone(), 0).err(), Some(e));
    cfg.services.insert("nope".into(), ServiceSpec::default());
    let c = cfg.clients.get_mut("users").expect("users");
    c.retry_budget = Some(RetryBudget {
        budget_percent: 120.0,
        ..RetryBudget::default()
    });
    assert_eq!(
        cfg.validate(),
        Err("clients.users.retryBudget.budgetPercent: 120 is out of range: expected a percentage in [0, 100]".into())
    );
    let c = cfg.clients.get_mut("users").expect("users");
    c.retry_budget = None;
    c.retry_throttling = Some(RetryThrottling {
        max_tokens: 1001.0,
        ..RetryThrottling::default()
    });
    assert!(cfg
        .validate()
        .is_err_and(|e| e.starts_with("clients.users.retryThrottling.maxTokens: 1001")));
}

/// A ring that loses quorum for 10 minutes under a fleet of the given Prometheus version.
fn quorum_lost_under(version: crate::PrometheusVersion) -> Driver {
    let mut cfg = ring_config(0.0);
    cfg.remote_write
        .get_mut("prom")
        .expect("prom")
        .prometheus_version = version;
    let mut d = Driver::new(cfg, 21);
    d.ready_pod(100, "distributor-0", "distributor");
    for i in 0..3 {
        d.ready_pod(i, &format!("ingester-{i}"), "ingester");
    }
    d.run(120.0, 10.0);
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(0), true, out));
    d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), true, out));
    d
}

#[test]
fn prometheus_2_11_reshards_a_failing_fleet_and_abandons_the_batches_at_the_flush_deadline() {
    let mut d = quorum_lost_under(crate::PrometheusVersion::V2_11);
    let before = d.run(130.0, 10.0);
    let rows = d.run(900.0, 10.0);
    let shards = |r: &[(f64, BTreeMap<String, f64>)]| r.last().expect("row").1["prom_shards"];
    // The delay behind the WAL grows while every send fails, and with it the shards: each
    // reshard waits out the 1-minute flush deadline, then abandons the batches still
    // retrying, whole batches of 100 samples.
    assert!(
        shards(&rows) > 4.0 * shards(&before),
        "{} then {}",
        shards(&before),
        shards(&rows)
    );
    let lost = d.total("samples_lost");
    assert!(lost > 0 && lost % 100 == 0, "{lost}");
}

#[test]
fn prometheus_2_16_keeps_its_shards_while_no_send_succeeds() {
    let mut d = quorum_lost_under(crate::PrometheusVersion::V2_16);
    let before = d.run(130.0, 10.0);
    let rows = d.run(900.0, 10.0);
    let last = |r: &[(f64, BTreeMap<String, f64>)]| r.last().expect("row").1["prom_shards"];
    // No successful send for more than 2 x batch_send_deadline: resharding is skipped, so
    // nothing is flushed and nothing abandoned (the WAL keeps every sample).
    assert_eq!(last(&rows), last(&before));
    assert_eq!(d.total("samples_lost"), 0);
}
