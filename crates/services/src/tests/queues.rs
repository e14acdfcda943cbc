//! Queue disciplines, load shedding by concurrency and deadline propagation, in a running
//! [`World`]: exactly-once answers under every discipline, M/M/1 under LIFO, the retry-storm
//! boundary moved by LIFO and adaptive LIFO (docs/retry-defences.md#queue-disciplines), and a
//! deadline that travels down a chain.

use super::*;

/// The retry-storm experiment of `tests.rs` ([`degraded_storm_of`]) with `queue` applied to
/// the service and no client defence.
fn storm_with(
    trigger: f64,
    queue: impl Fn(&mut ServiceSpec),
    seed: u64,
) -> (f64, f64, BTreeMap<String, u64>) {
    degraded_storm_of(trigger, queue, |_| {}, seed)
}

fn fifo(_: &mut ServiceSpec) {}

fn lifo(s: &mut ServiceSpec) {
    s.queue_discipline = QueueDiscipline::Lifo;
}

fn adaptive_lifo(s: &mut ServiceSpec) {
    s.queue_discipline = QueueDiscipline::AdaptiveLifo;
}

/// The triggers swept (seconds of a tripled service time).
const TRIGGERS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Whether the service recovered after each trigger, and the index of the first that tipped
/// it over (None: none did); asserts that the boundary is monotone (every longer trigger
/// tips it over too).
fn boundary(queue: fn(&mut ServiceSpec), name: &str) -> Option<usize> {
    let outcome: Vec<(f64, bool)> = TRIGGERS
        .iter()
        .map(|&t| {
            let (before, after, _) = storm_with(t, queue, 1);
            assert!(
                before > 36.0,
                "{name}: healthy before the trigger: {before}"
            );
            (after, after > 0.9 * before)
        })
        .collect();
    let first_down = outcome.iter().position(|(_, ok)| !ok);
    if let Some(i) = first_down {
        assert!(
            outcome[i..].iter().all(|(_, ok)| !ok),
            "{name}: monotone in the trigger's duration: {TRIGGERS:?} -> {outcome:?}"
        );
    }
    eprintln!("{name}: goodput after each trigger {TRIGGERS:?}: {outcome:?}");
    first_down
}

#[test]
fn lifo_and_adaptive_lifo_move_the_metastable_boundary_to_longer_triggers() {
    // Bronson et al. (HotOS '21), Huang et al. (OSDI '22) and Facebook's "Fail at Scale":
    // under FIFO a standing queue makes every request wait past its caller's timeout, so the
    // work done is for nobody and the retries sustain the overload; newest first, the
    // requests served are those whose callers still wait, so goodput holds while the stale
    // bottom of the queue is served (LIFO) or dropped (adaptive LIFO) with the spare capacity.
    let fifo_down = boundary(fifo, "fifo").expect("FIFO tips over within the sweep");
    assert!(fifo_down > 0, "a 1 s trigger passes under FIFO");
    for (name, queue) in [
        ("lifo", lifo as fn(&mut ServiceSpec)),
        ("adaptiveLifo", adaptive_lifo),
    ] {
        let down = boundary(queue, name);
        assert!(
            down.is_none_or(|i| i > fifo_down),
            "{name} moves the boundary past FIFO's {} s: first down {:?}",
            TRIGGERS[fifo_down],
            down.map(|i| TRIGGERS[i])
        );
    }
}

#[test]
fn every_request_is_answered_once_under_every_discipline() {
    // A storm at a small queue, with drop-head or drop-tail, a concurrency limit and a
    // slowdown: the invariants (each request answered once and left once, held by one
    // replica) after every event, and every arrival accounted for by one outcome.
    for discipline in [
        QueueDiscipline::Fifo,
        QueueDiscipline::Lifo,
        QueueDiscipline::Codel,
        QueueDiscipline::AdaptiveLifo,
    ] {
        for overflow in [QueueOverflow::DropTail, QueueOverflow::DropHead] {
            for limit in [
                None,
                Some(ConcurrencyLimit {
                    max_requests: 25,
                    max_pending_requests: 12,
                }),
            ] {
                let mut cfg = ServicesConfig::default();
                cfg.services.insert(
                    "api".into(),
                    ServiceSpec {
                        selector: selector("api"),
                        workers_per_replica: 4,
                        service_seconds: 0.1,
                        queue_capacity: 20,
                        queue_discipline: discipline,
                        queue_overflow: overflow,
                        concurrency_limit: limit.clone(),
                        ..ServiceSpec::default()
                    },
                );
                cfg.clients.insert(
                    "users".into(),
                    ClientSpec {
                        target: "api".into(),
                        rate_per_second: 30.0,
                        timeout_seconds: 0.5,
                        max_retries: 3,
                        ..ClientSpec::default()
                    },
                );
                let mut d = Driver::new(cfg, 3);
                d.ready_pod(1, "api-0", "api");
                d.run_checked(20.0);
                let slow = Degradation {
                    service_time_factor: 4.0,
                    ..Degradation::default()
                };
                d.call(|w, now, out| w.set_service_degraded(now, "api", Some(slow), out));
                d.run_checked(40.0);
                d.call(|w, now, out| w.set_service_degraded(now, "api", None, out));
                d.run_checked(60.0);
                let t: BTreeMap<String, u64> = d.world.totals().into_iter().collect();
                let held = in_flight(&d, "api");
                let ended = ["succeeded", "failed", "rejected", "shed"]
                    .iter()
                    .map(|k| t[&format!("api_{k}")])
                    .sum::<u64>()
                    + t.get("api_queue_dropped").copied().unwrap_or(0)
                    + t.get("api_overflowed").copied().unwrap_or(0);
                let what = format!("{discipline:?}/{overflow:?}/{limit:?}: {t:?}");
                assert_eq!(t["api_requests"], ended + held, "{what}");
                let drops = t.get("api_queue_dropped").copied().unwrap_or(0);
                match (discipline, overflow) {
                    (QueueDiscipline::Fifo | QueueDiscipline::Lifo, QueueOverflow::DropTail) => {
                        assert!(!t.contains_key("api_queue_dropped"), "{what}")
                    }
                    // The limit's 12 pending come before the queue's 20: it never fills.
                    (QueueDiscipline::Fifo | QueueDiscipline::Lifo, _) if limit.is_some() => {
                        assert_eq!(drops, 0, "{what}")
                    }
                    _ => assert!(drops > 0, "the discipline dropped: {what}"),
                }
                if limit.is_some() {
                    assert!(t["api_overflowed"] > 0, "{what}");
                    assert_eq!(t["api_rejected"], 0, "the limit comes first: {what}");
                } else {
                    assert!(!t.contains_key("api_overflowed"), "{what}");
                }
            }
        }
    }
}

#[test]
fn lifo_keeps_the_m_m_1_mean_response_time_and_widens_its_spread() {
    // Any order that does not look at service times keeps an M/M/1 queue's mean response
    // time, 1 / (μ - λ) (Kleinrock, Queueing Systems vol. 1, conservation law); LIFO moves
    // waiting from the many to the few, so its p99 is above FIFO's.
    let (mu, lambda) = (10.0, 7.0);
    let run = |discipline: QueueDiscipline| {
        let mut d = mm1(mu, lambda, discipline, 21);
        let rows = d.run(20_000.0, 20_000.0);
        let p99 = rows.last().expect("a sample").1["api_latency_p99_seconds"];
        (d.ratio("api_mean_latency_seconds"), p99)
    };
    let expected = 1.0 / (mu - lambda);
    let (fifo_mean, fifo_p99) = run(QueueDiscipline::Fifo);
    let (lifo_mean, lifo_p99) = run(QueueDiscipline::Lifo);
    for (name, m) in [("fifo", fifo_mean), ("lifo", lifo_mean)] {
        assert!(
            (m - expected).abs() / expected < 0.05,
            "{name}: mean {m:.4} s, M/M/1 says {expected:.4} s"
        );
    }
    assert!(
        lifo_p99 > fifo_p99 * 1.3,
        "p99 fifo {fifo_p99}, lifo {lifo_p99}"
    );
}

/// A burst of `n` requests at once (internal work: no timeout, no retry) at one replica of
/// one worker at 1 s, whose concurrency limit is `limit`.
fn burst(n: usize, limit: ConcurrencyLimit) -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 1,
            service_seconds: 1.0,
            service_time: ServiceTime::Deterministic,
            concurrency_limit: Some(limit),
            ..ServiceSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 1);
    d.ready_pod(1, "api-0", "api");
    let api = d.world.endpoints.find("api").expect("api");
    for _ in 0..n {
        d.call(|w, now, out| {
            w.send(
                now,
                api,
                crate::requests::Origin::Internal,
                f64::INFINITY,
                out,
            )
        });
    }
    d
}

#[test]
fn a_concurrency_limit_refuses_at_once_past_its_threshold() {
    // max_requests 3: of a burst of 10, 3 are held (1 served, 2 queued) and 7 refused at
    // once, counted apart from a full queue's rejections.
    let limit = ConcurrencyLimit {
        max_requests: 3,
        max_pending_requests: 1024,
    };
    let mut d = burst(10, limit);
    assert_eq!(in_flight(&d, "api"), 3);
    assert_eq!((d.total("api_overflowed"), d.total("api_rejected")), (7, 0));
    assert_eq!(d.total("api_failed"), 0, "refused, not failed");
    d.run_checked(10.0);
    assert_eq!(d.total("api_succeeded"), 3);
    // max_pending_requests 2 alone: 1 served, 2 queued, 7 refused.
    let limit = ConcurrencyLimit {
        max_requests: 1024,
        max_pending_requests: 2,
    };
    let d = burst(10, limit);
    assert_eq!(in_flight(&d, "api"), 3);
    assert_eq!(d.total("api_overflowed"), 7);
}

/// users (5/s, 1 s timeout, no retry) -> front (10 workers, 0.05 s) -> back (10 workers,
/// 0.1 s), front's call with a 30 s timeout, propagating the deadline or not. From 10 s,
/// back runs a thousand times slower (100 s a request).
fn deadline_chain(propagate: bool) -> Driver {
    deadline_chain_with(propagate, false)
}

/// [`deadline_chain`], with back honouring cancellation or not.
fn deadline_chain_with(propagate: bool, cancel: bool) -> Driver {
    let mut cfg = ServicesConfig::default();
    let svc = |app: &str, seconds: f64, calls: Option<DownstreamCall>| ServiceSpec {
        selector: selector(app),
        workers_per_replica: 10,
        service_seconds: seconds,
        service_time: ServiceTime::Deterministic,
        queue_capacity: 100_000,
        honor_cancellation: cancel && app == "back",
        calls: calls.map(Into::into).unwrap_or_default(),
        ..ServiceSpec::default()
    };
    let call = DownstreamCall {
        service: "back".into(),
        timeout_seconds: 30.0,
        propagate_deadline: propagate,
        ..DownstreamCall::default()
    };
    cfg.services
        .insert("front".into(), svc("front", 0.05, Some(call)));
    cfg.services.insert("back".into(), svc("back", 0.1, None));
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "front".into(),
            rate_per_second: 5.0,
            timeout_seconds: 1.0,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 8);
    d.ready_pod(1, "front-0", "front");
    d.ready_pod(2, "back-0", "back");
    d.run_checked(10.0);
    let slow = Degradation {
        service_time_factor: 1000.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "back", Some(slow), out));
    d
}

#[test]
fn a_propagated_deadline_bounds_each_hop_and_the_callee_skips_expired_work() {
    // Without propagation front's workers wait 30 s on back: 5/s x 30 s = 150 requests held
    // in front. With it, a call waits at most what is left of the users' 1 s, so front holds
    // about 5 at a time, and back skips the queued calls whose deadline has passed instead of
    // spending 100 s on each.
    let mut plain = deadline_chain(false);
    plain.run_checked(160.0);
    let mut propagated = deadline_chain(true);
    propagated.run_checked(160.0);
    let (held_plain, held_prop) = (in_flight(&plain, "front"), in_flight(&propagated, "front"));
    assert!(
        held_plain > 100,
        "front holds {held_plain} without propagation"
    );
    assert!(held_prop <= 12, "front holds {held_prop} with propagation");
    assert!(
        !plain
            .world
            .totals()
            .iter()
            .any(|(k, _)| k.contains("deadline")),
        "no deadline totals without propagation"
    );
    // The first ten calls took back's workers at once (100 s each); every call queued behind
    // them had passed its deadline by the time a worker freed.
    let skipped = propagated.total("back_deadline_exceeded");
    assert!(skipped > 100, "back skipped {skipped}");
    assert_eq!(propagated.total("front_call_deadline_exceeded"), 0);
    // The users see the same failures either way (they time out at 1 s); front's calls fail
    // at the users' deadline, so front fails each request once.
    assert!(propagated.total("front_failed") > 500);
}

#[test]
fn a_deadline_already_passed_fails_the_call_without_sending_it() {
    // front's own work (0.05 s) degraded to 2 s, past the users' 1 s deadline: with
    // propagation front never calls back; without, it calls back with 30 s to go.
    let run = |propagate: bool| {
        let mut d = deadline_chain(propagate);
        d.call(|w, now, out| w.set_service_degraded(now, "back", None, out));
        let slow = Degradation {
            service_time_factor: 40.0,
            ..Degradation::default()
        };
        d.call(|w, now, out| w.set_service_degraded(now, "front", Some(slow), out));
        d.run_checked(40.0);
        d
    };
    let propagated = run(true);
    assert!(propagated.total("front_call_deadline_exceeded") > 50);
    let plain = run(false);
    assert!(plain.total("back_requests") > propagated.total("back_requests") + 50);
}

#[test]
fn cancelling_work_its_caller_gave_up_on_frees_a_slow_hops_workers_and_goodput_recovers() {
    // back a thousand times slower (100 s a request) from 10 s to 20 s, then healthy again.
    // Without cancellation, the ten requests back's workers took at 10 s hold them for 100 s
    // (each started request is finished for nobody) and no request succeeds until 110 s.
    // With it, a request leaves its worker when its caller gives up: with the deadline
    // propagated, at the users' 1 s, so every worker is free by 21 s; without, at front's own
    // 30 s call timeout, so by 40 s (then the queue's stale requests are cancelled in turn,
    // also by 50 s, while the fresh ones are served in 0.15 s).
    for (propagate, recovered) in [(true, 21.0), (false, 41.0)] {
        let run = |cancel: bool| {
            let mut d = deadline_chain_with(propagate, cancel);
            d.run_checked(20.0);
            d.call(|w, now, out| w.set_service_degraded(now, "back", None, out));
            d.run_checked(recovered);
            let before = d.total("users_succeeded");
            d.run_checked(recovered + 20.0);
            (d.total("users_succeeded") - before, d)
        };
        let (plain, plain_d) = run(false);
        let (cancelled, d) = run(true);
        assert_eq!(
            plain, 0,
            "propagate {propagate}: back's workers are held until 110 s"
        );
        // 20 s at 5/s: 100 expected; Poisson's spread is 10.
        assert!(
            (70..=130).contains(&cancelled),
            "propagate {propagate}: {cancelled} succeeded in 20 s at 5/s"
        );
        assert!(d.total("back_cancelled") > 0, "propagate {propagate}");
        assert!(!plain_d
            .world
            .totals()
            .iter()
            .any(|(k, _)| k == "back_cancelled"));
    }
}
