//! Exactly-once answers along a graph of services (issue 17, "How it is checked"): random
//! graphs of 2 to 5 hops, each hop calling one to three of the hops after it (fan-out),
//! serially or in parallel, each call with its own timeout, retries, backoff, defences and
//! optionality, under random degradations and process deaths. After every event the
//! invariants hold, no request waits on two attempts of one call at once, and a request whose
//! calls run serially waits on one call at a time; once the clients stop and the last timer
//! has fired, every request at every hop has been answered exactly once and left its server
//! exactly once, and every hop's arrivals are accounted for by exactly one outcome.
//! docs/retry-defences.md#services-that-call-services, #fan-out

use super::*;
use crate::requests::Origin;
use proptest::prelude::*;

/// One hop of a random graph: its own service, and its calls to hops after it.
#[derive(Clone, Debug)]
struct Hop {
    replicas: u32,
    workers: u32,
    service_ms: u32,
    deterministic: bool,
    queue_capacity: u32,
    discipline: QueueDiscipline,
    overflow: QueueOverflow,
    queue_timeout_ms: Option<u32>,
    limit: Option<(u32, u32)>,
    /// The service stops work on a request whose caller has given up
    /// (`honorCancellation`, docs/retry-defences.md#cancellation).
    cancel: bool,
    /// Its calls run all at once (`fanOut: parallel`) rather than one after another.
    parallel: bool,
    /// Its calls (unused on the last hop), written as a list when there are several.
    edges: Vec<Edge>,
}

/// One call of a hop: to the hop `to` places after the next one (modulo those left).
#[derive(Clone, Debug)]
struct Edge {
    to: usize,
    probability: f64,
    timeout_ms: u32,
    retries: u32,
    backoff_ms: u32,
    jitter: Jitter,
    propagate: bool,
    /// Throttling, budget, breaker, outlier detection on the call.
    defences: (bool, bool, bool, bool),
    optional: bool,
}

/// Something that happens to a hop during the run, at `at_ms`.
#[derive(Clone, Debug)]
enum Trouble {
    /// Degraded for `for_ms`.
    Degraded {
        hop: usize,
        at_ms: u32,
        for_ms: u32,
        g: Degradation,
    },
    /// Its first replica's process dies, and the pod is replaced `for_ms` later.
    Died { hop: usize, at_ms: u32, for_ms: u32 },
}

fn edge() -> impl Strategy<Value = Edge> {
    (
        0usize..4,
        prop_oneof![Just(1.0), Just(0.5)],
        20u32..1500,
        0u32..4,
        1u32..200,
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated)
        ],
        any::<bool>(),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(
                to,
                probability,
                timeout_ms,
                retries,
                backoff_ms,
                jitter,
                propagate,
                defences,
                optional,
            )| {
                Edge {
                    to,
                    probability,
                    timeout_ms,
                    retries,
                    backoff_ms,
                    jitter,
                    propagate,
                    defences,
                    optional,
                }
            },
        )
}

fn hop() -> impl Strategy<Value = Hop> {
    (
        (1u32..3, 1u32..6, 2u32..60, any::<bool>(), 2u32..60),
        (
            prop_oneof![
                Just(QueueDiscipline::Fifo),
                Just(QueueDiscipline::Lifo),
                Just(QueueDiscipline::Codel),
                Just(QueueDiscipline::AdaptiveLifo),
            ],
            prop_oneof![Just(QueueOverflow::DropTail), Just(QueueOverflow::DropHead)],
            proptest::option::of(20u32..500),
            proptest::option::of((2u32..20, 1u32..20)),
        ),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(edge(), 1..=3),
    )
        .prop_map(
            |(
                (replicas, workers, service_ms, deterministic, queue_capacity),
                (discipline, overflow, queue_timeout_ms, limit),
                cancel,
                parallel,
                edges,
            )| Hop {
                replicas,
                workers,
                service_ms,
                deterministic,
                queue_capacity,
                discipline,
                overflow,
                queue_timeout_ms,
                limit,
                cancel,
                parallel,
                edges,
            },
        )
}

fn trouble(hops: usize) -> impl Strategy<Value = Trouble> {
    prop_oneof![
        (
            0..hops,
            0u32..20_000,
            100u32..8_000,
            (
                proptest::option::of(1u32..3),
                1.0f64..8.0,
                prop_oneof![Just(0.0), 0.0f64..0.3],
                prop_oneof![Just(0.0), 0.0f64..0.6],
            )
        )
            .prop_map(|(hop, at_ms, for_ms, (w, factor, latency, errors))| {
                Trouble::Degraded {
                    hop,
                    at_ms,
                    for_ms,
                    g: Degradation {
                        workers_per_replica: w,
                        service_time_factor: factor,
                        added_latency_seconds: latency,
                        error_rate: errors,
                    },
                }
            }),
        (0..hops, 0u32..20_000, 0u32..3_000).prop_map(|(hop, at_ms, for_ms)| Trouble::Died {
            hop,
            at_ms,
            for_ms
        }),
    ]
}

/// The users' client: rate, timeout, retries, requests per call; and whether a second
/// client calls the chain's second hop directly (two callers share it).
#[derive(Clone, Debug)]
struct Users {
    rate: f64,
    timeout_ms: u32,
    retries: u32,
    per_call: u32,
    side_door: bool,
}

fn users() -> impl Strategy<Value = Users> {
    (5.0f64..80.0, 50u32..3000, 0u32..4, 1u32..3, any::<bool>()).prop_map(
        |(rate, timeout_ms, retries, per_call, side_door)| Users {
            rate,
            timeout_ms,
            retries,
            per_call,
            side_door,
        },
    )
}

fn ms(v: u32) -> f64 {
    f64::from(v) / 1000.0
}

/// Hop `i`'s name: `s0` (the users' target) to `s3`.
fn name(i: usize) -> String {
    format!("s{i}")
}

/// The clients stop at 25 s; the troubles all start before 20 s.
const STOP: f64 = 25.0;

fn graph_config(hops: &[Hop], u: &Users) -> ServicesConfig {
    let mut cfg = ServicesConfig::default();
    for (i, h) in hops.iter().enumerate() {
        let after = hops.len() - i - 1;
        let list: Vec<DownstreamCall> = if after == 0 {
            Vec::new()
        } else {
            h.edges
                .iter()
                .map(|e| DownstreamCall {
                    service: name(i + 1 + e.to % after),
                    probability: e.probability,
                    timeout_seconds: ms(e.timeout_ms),
                    max_retries: e.retries,
                    backoff: Backoff {
                        initial_seconds: ms(e.backoff_ms),
                        max_seconds: ms(e.backoff_ms) * 8.0,
                        multiplier: 2.0,
                        jitter: e.jitter,
                    },
                    retry_throttling: e.defences.0.then(RetryThrottling::default),
                    retry_budget: e.defences.1.then(RetryBudget::default),
                    circuit_breaker: e.defences.2.then(CircuitBreaker::default),
                    // Quick to eject and to bring back, up to every replica (then Envoy's
                    // panic routing): every path of the detector is taken in a short run.
                    outlier_detection: e.defences.3.then(|| crate::config::OutlierDetection {
                        consecutive_5xx: 2,
                        consecutive_gateway_failure: 2,
                        enforcing_consecutive_gateway_failure: 50,
                        interval_seconds: 0.2,
                        base_ejection_time_seconds: 0.3,
                        max_ejection_percent: 100,
                        ..Default::default()
                    }),
                    propagate_deadline: e.propagate,
                    optional: e.optional,
                })
                .collect()
        };
        let calls = if list.len() == 1 {
            Calls::one(list[0].clone())
        } else {
            Calls::list(list)
        };
        cfg.services.insert(
            name(i),
            ServiceSpec {
                selector: selector(&name(i)),
                workers_per_replica: h.workers,
                service_seconds: ms(h.service_ms),
                service_time: if h.deterministic {
                    ServiceTime::Deterministic
                } else {
                    ServiceTime::Exponential
                },
                queue_capacity: h.queue_capacity,
                queue_timeout_seconds: h.queue_timeout_ms.map(ms),
                queue_discipline: h.discipline,
                queue_overflow: h.overflow,
                honor_cancellation: h.cancel,
                concurrency_limit: h.limit.map(|(max_requests, max_pending_requests)| {
                    ConcurrencyLimit {
                        max_requests,
                        max_pending_requests,
                    }
                }),
                calls,
                fan_out: if h.parallel {
                    FanOut::Parallel
                } else {
                    FanOut::Serial
                },
                ..ServiceSpec::default()
            },
        );
    }
    let client = |target: String, rate: f64| ClientSpec {
        target,
        rate_per_second: rate,
        requests_per_call: u.per_call,
        timeout_seconds: ms(u.timeout_ms),
        max_retries: u.retries,
        backoff: Backoff {
            initial_seconds: 0.05,
            max_seconds: 1.0,
            multiplier: 2.0,
            jitter: Jitter::Full,
        },
        stop_seconds: Some(STOP),
        ..ClientSpec::default()
    };
    cfg.clients.insert("users".into(), client(name(0), u.rate));
    if u.side_door {
        cfg.clients
            .insert("side".into(), client(name(1), u.rate / 2.0));
    }
    cfg
}

/// Every request that waits on a downstream call has at most one attempt of it out, and one
/// whose calls run serially has at most one attempt out at all.
fn one_attempt_at_a_time(w: &World) -> Result<(), String> {
    let mut out: BTreeMap<(ReqId, u16), u32> = BTreeMap::new();
    let mut serial: BTreeMap<ReqId, u32> = BTreeMap::new();
    for (_, req) in w.requests.iter() {
        if let (Origin::Downstream(d), false) = (req.origin, req.answered) {
            *out.entry((d.parent, d.call)).or_default() += 1;
            if w.endpoints.get(d.caller).spec.fan_out == FanOut::Serial {
                *serial.entry(d.parent).or_default() += 1;
            }
        }
    }
    if let Some(((parent, call), n)) = out.into_iter().find(|(_, n)| *n > 1) {
        return Err(format!(
            "{parent:?} waits on {n} attempts of call {call} at once"
        ));
    }
    match serial.into_iter().find(|(_, n)| *n > 1) {
        Some((parent, n)) => Err(format!("{parent:?} calls serially but waits on {n} calls")),
        None => Ok(()),
    }
}

/// Runs a random graph to its end; returns the totals.
fn run_graph(hops: &[Hop], u: &Users, troubles: &[Trouble], seed: u64) -> BTreeMap<String, u64> {
    let mut d = Driver::new(graph_config(hops, u), seed);
    d.world.ledger = Some(BTreeMap::new());
    let mut pod = 0u32;
    let mut pods: Vec<Vec<u32>> = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        let mut mine = Vec::new();
        for _ in 0..h.replicas {
            pod += 1;
            d.ready_pod(pod, &format!("{}-{pod}", name(i)), &name(i));
            mine.push(pod);
        }
        pods.push(mine);
    }
    // The troubles' starts and ends, in time order (ties: as listed).
    let mut steps: Vec<(u32, usize, bool)> = Vec::new();
    for (k, t) in troubles.iter().enumerate() {
        let (at, len) = match t {
            Trouble::Degraded { at_ms, for_ms, .. } | Trouble::Died { at_ms, for_ms, .. } => {
                (*at_ms, *for_ms)
            }
        };
        steps.push((at, k, true));
        steps.push((at + len, k, false));
    }
    steps.sort_by_key(|&(at, k, start)| (at, !start, k));
    let mut degraded = vec![0u32; hops.len()];
    for (at, k, start) in steps {
        let t = ms(at);
        while let Some(Reverse((next, _, i))) = d.queue.peek().copied() {
            if next > Time::from_secs_f64(t) {
                break;
            }
            d.queue.pop();
            d.now = next;
            let ev = d.events[i].take().expect("event once");
            d.call(|w, now, out| w.handle(now, ev, out));
            d.check();
            one_attempt_at_a_time(&d.world).unwrap_or_else(|e| panic!("at {:?}: {e}", d.now));
        }
        d.now = d.now.max(Time::from_secs_f64(t));
        match (&troubles[k], start) {
            (Trouble::Degraded { hop, g, .. }, true) => {
                degraded[*hop] += 1;
                let (s, g) = (name(*hop), g.clone());
                d.call(|w, now, out| w.set_service_degraded(now, &s, Some(g), out));
            }
            (Trouble::Degraded { hop, .. }, false) => {
                // Overlapping degradations of one hop: it recovers when the last ends.
                degraded[*hop] -= 1;
                if degraded[*hop] == 0 {
                    let s = name(*hop);
                    d.call(|w, now, out| w.set_service_degraded(now, &s, None, out));
                }
            }
            (Trouble::Died { hop, .. }, true) => {
                let p = PodRef::new(pods[*hop][0]);
                d.call(|w, now, out| w.process_died(now, p, out));
            }
            (Trouble::Died { hop, .. }, false) => {
                let p = pods[*hop][0];
                d.call(|w, now, out| w.pod_gone(now, PodRef::new(p), out));
                d.ready_pod(p, &format!("{}-{p}", name(*hop)), &name(*hop));
            }
        }
        d.check();
    }
    // The clients stop at 25 s; everything in flight then ends by its timeouts and retries.
    let mut events = 0u64;
    while let Some(Reverse((t, _, i))) = d.queue.pop() {
        d.now = t;
        let ev = d.events[i].take().expect("event once");
        d.call(|w, now, out| w.handle(now, ev, out));
        d.check();
        one_attempt_at_a_time(&d.world).unwrap_or_else(|e| panic!("at {t:?}: {e}"));
        events += 1;
        assert!(events < 5_000_000, "the run ends");
    }
    // Quiet: nothing in flight, nothing held, every call of every client closed.
    let left: Vec<_> = d.world.requests.iter().collect();
    assert!(left.is_empty(), "requests still open: {left:?}");
    for s in d.world.endpoints.iter() {
        for rep in &s.replicas {
            assert_eq!(rep.requests(), 0, "{} holds requests", s.name);
        }
    }
    for c in d.world.clients.iter() {
        assert!(c.open_calls.is_empty(), "{}: {:?}", c.name, c.open_calls);
        assert_eq!(
            c.counts.calls,
            c.counts.cache_hits + c.counts.calls_ok + c.counts.calls_failed,
            "{}: every call ends once",
            c.name
        );
    }
    // Exactly once: every request sent for an origin (a client's attempt, a hop's call
    // attempt) gave that origin one answer.
    let ledger = d.world.ledger.take().expect("ledger");
    for (origin, (sent, answered)) in &ledger {
        assert_eq!(sent, answered, "{origin}");
    }
    let totals: BTreeMap<String, u64> = d.world.totals().into_iter().collect();
    // Every hop's arrivals end in exactly one outcome; its calls are the next hop's requests.
    let get = |k: String| totals.get(&k).copied().unwrap_or(0);
    for i in 0..hops.len() {
        let s = name(i);
        let ended: u64 = [
            "succeeded",
            "failed",
            "rejected",
            "shed",
            "queue_dropped",
            "overflowed",
            "deadline_exceeded",
            "cancelled",
        ]
        .iter()
        .map(|k| get(format!("{s}_{k}")))
        .sum();
        assert_eq!(get(format!("{s}_requests")), ended, "{s}: {totals:?}");
    }
    // The ledger's origins per kind: the users' attempts, and each hop's call attempts,
    // add up to the requests the hops received (counted when they arrive or are refused
    // for want of endpoints).
    let requests: u64 = (0..hops.len())
        .map(|i| get(format!("{}_requests", name(i))) + get(format!("{}_unavailable", name(i))))
        .sum();
    let sent: u64 = ledger.values().map(|(s, _)| u64::from(*s)).sum();
    assert_eq!(requests, sent, "{totals:?}");
    totals
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_request_at_every_hop_of_a_call_graph_is_answered_exactly_once(
        hops in proptest::collection::vec(hop(), 2..=5),
        u in users(),
        troubles in proptest::collection::vec(trouble(5), 0..6),
        seed in 0u64..1000,
    ) {
        let n = hops.len();
        let troubles: Vec<Trouble> = troubles
            .into_iter()
            .map(|t| match t {
                Trouble::Degraded { hop, at_ms, for_ms, g } => {
                    Trouble::Degraded { hop: hop % n, at_ms, for_ms, g }
                }
                Trouble::Died { hop, at_ms, for_ms } => {
                    Trouble::Died { hop: hop % n, at_ms, for_ms }
                }
            })
            .collect();
        let totals = run_graph(&hops, &u, &troubles, seed);
        prop_assert!(totals["s0_requests"] + totals["s0_unavailable"] > 0);
    }
}

#[test]
fn a_chain_under_every_trouble_at_once_answers_everything_once() {
    // A fixed hard case: four hops, retries everywhere, deadlines propagated, the deepest
    // hop slowed and its process killed while calls wait on it.
    let deep = Hop {
        replicas: 1,
        workers: 8,
        service_ms: 20,
        deterministic: false,
        queue_capacity: 30,
        discipline: QueueDiscipline::Fifo,
        overflow: QueueOverflow::DropTail,
        queue_timeout_ms: None,
        limit: None,
        cancel: false,
        parallel: false,
        edges: vec![Edge {
            to: 0,
            probability: 1.0,
            timeout_ms: 300,
            retries: 2,
            backoff_ms: 20,
            jitter: Jitter::Full,
            propagate: true,
            defences: (false, false, false, false),
            optional: false,
        }],
    };
    let hops = vec![deep.clone(), deep.clone(), deep.clone(), deep];
    let u = Users {
        rate: 20.0,
        timeout_ms: 1000,
        retries: 2,
        per_call: 2,
        side_door: true,
    };
    let troubles = vec![
        Trouble::Degraded {
            hop: 3,
            at_ms: 5_000,
            for_ms: 6_000,
            g: Degradation {
                service_time_factor: 6.0,
                error_rate: 0.2,
                added_latency_seconds: 0.05,
                ..Degradation::default()
            },
        },
        Trouble::Died {
            hop: 3,
            at_ms: 8_000,
            for_ms: 1_000,
        },
        Trouble::Died {
            hop: 1,
            at_ms: 12_000,
            for_ms: 0,
        },
    ];
    let totals = run_graph(&hops, &u, &troubles, 7);
    assert!(
        totals["s3_failed"] > 0 && totals["s0_call_deadline_exceeded"] > 0,
        "{totals:?}"
    );
    assert!(totals["s0_succeeded"] > 500, "{totals:?}");
}

#[test]
fn a_diamond_of_parallel_and_serial_calls_under_trouble_answers_everything_once() {
    // s0 calls s1 and s2 at once; s1 calls s2, then s3 (optional), one after the other; s2
    // calls s3. s3 slowed and failing, s2's process killed while calls wait on it.
    let base = Hop {
        replicas: 1,
        workers: 8,
        service_ms: 20,
        deterministic: false,
        queue_capacity: 40,
        discipline: QueueDiscipline::Fifo,
        overflow: QueueOverflow::DropTail,
        queue_timeout_ms: None,
        limit: None,
        cancel: false,
        parallel: false,
        edges: Vec::new(),
    };
    let edge = |to: usize, optional: bool| Edge {
        to,
        probability: 1.0,
        timeout_ms: 400,
        retries: 1,
        backoff_ms: 30,
        jitter: Jitter::Full,
        propagate: true,
        defences: (false, true, false, false),
        optional,
    };
    let hops = vec![
        Hop {
            parallel: true,
            edges: vec![edge(0, false), edge(1, false)],
            ..base.clone()
        },
        Hop {
            edges: vec![edge(0, false), edge(1, true)],
            ..base.clone()
        },
        Hop {
            edges: vec![edge(0, false)],
            ..base.clone()
        },
        base,
    ];
    let u = Users {
        rate: 20.0,
        timeout_ms: 1500,
        retries: 1,
        per_call: 1,
        side_door: true,
    };
    let troubles = vec![
        Trouble::Degraded {
            hop: 3,
            at_ms: 4_000,
            for_ms: 6_000,
            g: Degradation {
                service_time_factor: 8.0,
                error_rate: 0.3,
                ..Degradation::default()
            },
        },
        Trouble::Died {
            hop: 2,
            at_ms: 7_000,
            for_ms: 1_500,
        },
    ];
    let totals = run_graph(&hops, &u, &troubles, 3);
    // s0's calls reach s2 both directly and through s1.
    assert!(totals["s2_requests"] > totals["s0_requests"], "{totals:?}");
    assert!(
        totals["s0_failed"] > 0 && totals["s0_succeeded"] > 300,
        "{totals:?}"
    );
}
