//! A service's several downstream calls (docs/retry-defences.md#fan-out): serial calls add
//! their latencies and stop at the first failure that is not optional; parallel calls take
//! as long as the slowest and fail the request if any that is not optional fails; the
//! one-call form is the list of one; cycles and unknown targets through any call are refused
//! at the call.

use super::*;

/// `front` (deterministic 0.05 s) calls `a` (0.1 s) then `b` (0.2 s), as `fan_out` says;
/// users call it at 20/s with a 10 s timeout and no retry. `tweak` changes the calls.
fn fan(fan_out: FanOut, tweak: impl Fn(&mut Vec<DownstreamCall>)) -> Driver {
    let mut cfg = ServicesConfig::default();
    let svc = |app: &str, seconds: f64| ServiceSpec {
        selector: selector(app),
        workers_per_replica: 50,
        service_seconds: seconds,
        service_time: ServiceTime::Deterministic,
        queue_capacity: 100_000,
        ..ServiceSpec::default()
    };
    let call = |to: &str| DownstreamCall {
        service: to.into(),
        timeout_seconds: 2.0,
        ..DownstreamCall::default()
    };
    let mut calls = vec![call("a"), call("b")];
    tweak(&mut calls);
    cfg.services.insert(
        "front".into(),
        ServiceSpec {
            calls: Calls::list(calls),
            fan_out,
            ..svc("front", 0.05)
        },
    );
    cfg.services.insert("a".into(), svc("a", 0.1));
    cfg.services.insert("b".into(), svc("b", 0.2));
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
    let mut d = Driver::new(cfg, 11);
    d.ready_pod(1, "front-0", "front");
    d.ready_pod(2, "a-0", "a");
    d.ready_pod(3, "b-0", "b");
    d
}

/// front's mean latency over a run of 100 s.
fn mean_latency(d: &mut Driver) -> f64 {
    let rows = d.run(100.0, 10.0);
    mean_of(&rows, "front_latency_p50_seconds", 10.0, 100.0)
}

#[test]
fn serial_calls_add_their_latencies_and_parallel_ones_take_the_slowest() {
    // 0.05 s of its own work, then 0.1 s + 0.2 s one after another (0.35 s), or max(0.1, 0.2)
    // at once (0.25 s). A percentile reads as its bucket's upper bound: up to 19% above.
    let serial = mean_latency(&mut fan(FanOut::Serial, |_| {}));
    let parallel = mean_latency(&mut fan(FanOut::Parallel, |_| {}));
    assert!((0.35..0.42).contains(&serial), "serial p50 {serial}");
    assert!((0.25..0.30).contains(&parallel), "parallel p50 {parallel}");
}

#[test]
fn a_serial_call_that_fails_stops_the_request_unless_it_is_optional() {
    let failing = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    for optional in [false, true] {
        let mut d = fan(FanOut::Serial, |c| c[0].optional = optional);
        let g = failing.clone();
        d.call(|w, now, out| w.set_service_degraded(now, "a", Some(g), out));
        d.run_checked(50.0);
        let front = d.total("front_succeeded") + d.total("front_failed");
        assert!(front > 900, "{front}");
        if optional {
            // a's failure is passed over: b is called for every request, and front succeeds.
            assert_eq!(d.total("front_failed"), 0);
            assert!(
                d.total("b_requests") + 5 >= front,
                "{}",
                d.total("b_requests")
            );
        } else {
            // The first failure fails the request: b is never called.
            assert_eq!(d.total("front_succeeded"), 0);
            assert_eq!(d.total("b_requests"), 0);
        }
    }
}

#[test]
fn a_parallel_request_waits_for_every_call_and_fails_if_one_that_matters_fails() {
    let failing = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    for optional in [false, true] {
        let mut d = fan(FanOut::Parallel, |c| c[0].optional = optional);
        let g = failing.clone();
        d.call(|w, now, out| w.set_service_degraded(now, "a", Some(g), out));
        let rows = d.run(100.0, 10.0);
        // Both calls go out for every request, whatever the other's outcome.
        let (a, b) = (d.total("a_requests"), d.total("b_requests"));
        assert!(a > 1800 && a.abs_diff(b) <= 10, "a {a}, b {b}");
        if optional {
            assert_eq!(d.total("front_failed"), 0);
            // Its answer still waited for the slower call (b, 0.2 s).
            let p50 = mean_of(&rows, "front_latency_p50_seconds", 10.0, 100.0);
            assert!((0.25..0.30).contains(&p50), "p50 {p50}");
        } else {
            assert_eq!(d.total("front_succeeded"), 0);
            assert!(d.total("front_failed") > 1800);
        }
    }
}

#[test]
fn each_call_keeps_its_own_defences() {
    // A circuit breaker on the call to a only: a failing opens it and short-circuits a's
    // calls, while b's calls (no breaker) keep going out.
    let mut d = fan(FanOut::Parallel, |c| {
        c[0].circuit_breaker = Some(CircuitBreaker::default());
        c[0].optional = true;
    });
    let failing = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded(now, "a", Some(failing), out));
    d.run_checked(100.0);
    assert!(d.total("front_call_short_circuited") > 1000);
    assert!(d.total("a_requests") < 500, "{}", d.total("a_requests"));
    assert!(d.total("b_requests") > 1800, "{}", d.total("b_requests"));
    assert_eq!(d.total("front_failed"), 0);
}

#[test]
fn cycles_and_unknown_targets_through_any_call_are_refused_at_that_call() {
    let mut cfg = ServicesConfig::default();
    let calls = |to: &[&str]| ServiceSpec {
        calls: Calls::list(
            to.iter()
                .map(|t| DownstreamCall {
                    service: (*t).into(),
                    ..DownstreamCall::default()
                })
                .collect(),
        ),
        ..ServiceSpec::default()
    };
    cfg.services.insert("a".into(), calls(&["b", "nope"]));
    cfg.services.insert("b".into(), calls(&[]));
    assert_eq!(
        validate(&cfg),
        Err("services.a.calls.1.service: no service named \"nope\" (declared: a, b)".into())
    );
    // a -> b, a -> c; c -> d, c -> b; b -> d; d -> c: the cycle c -> d -> c, reached from a
    // through its second call.
    cfg.services.insert("a".into(), calls(&["b", "c"]));
    cfg.services.insert("b".into(), calls(&["d"]));
    cfg.services.insert("c".into(), calls(&["b"]));
    cfg.services.insert("d".into(), calls(&[]));
    assert_eq!(validate(&cfg), Ok(()), "a diamond is no cycle");
    cfg.services.insert("d".into(), calls(&["c"]));
    assert_eq!(
        validate(&cfg),
        Err("services.a.calls.0.service: a cycle of calls (a -> b -> d -> c -> b): a request would wait on itself".into())
    );
    cfg.services.insert("b".into(), calls(&[]));
    cfg.services.insert("c".into(), calls(&["d"]));
    assert_eq!(
        validate(&cfg),
        Err("services.a.calls.1.service: a cycle of calls (a -> c -> d -> c): a request would wait on itself".into())
    );
}

#[test]
fn one_call_reads_and_writes_as_a_mapping_and_several_as_a_list() {
    let one: ServiceSpec =
        serde_json::from_str(r#"{"calls": {"service": "b", "timeoutSeconds": 2}}"#).expect("one");
    assert_eq!(one.calls.len(), 1);
    assert_eq!(one.calls.path(0), "calls");
    let back = serde_json::to_value(&one).expect("json");
    assert_eq!(back["calls"]["service"], "b");
    let many: ServiceSpec = serde_json::from_str(
        r#"{"calls": [{"service": "b"}, {"service": "c", "optional": true}], "fanOut": "parallel"}"#,
    )
    .expect("many");
    assert_eq!(many.calls.len(), 2);
    assert_eq!(many.fan_out, FanOut::Parallel);
    assert_eq!(many.calls.path(1), "calls.1");
    assert!(many.calls.get(1).is_some_and(|c| c.optional));
    let back = serde_json::to_value(&many).expect("json");
    assert_eq!(back["calls"][1]["service"], "c");
    assert_eq!(back["fanOut"], "parallel");
    let err = serde_json::from_str::<ServiceSpec>(r#"{"calls": [{"servce": "b"}]}"#)
        .expect_err("unknown field");
    assert!(err.to_string().contains("servce"), "{err}");
    let none: ServiceSpec = serde_json::from_str(r#"{"calls": null}"#).expect("null");
    assert!(none.calls.is_empty());
}
