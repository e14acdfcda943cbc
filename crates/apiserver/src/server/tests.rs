//! The server's unit tests and its property test: every request answered exactly once.

use super::flow_control::RetryAfter;
use super::*;
use crate::queueset::flow_hash;
use crate::work::Verb;
use cascade_engine::Duration;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

fn t(s: f64) -> Time {
    Time::from_secs_f64(s)
}

fn list(token: u64, level: LevelId, flow: u64, objects: u64) -> ApiRequest {
    ApiRequest {
        token,
        verb: Verb::List,
        level,
        flow,
        stored: objects,
        returned: objects,
        notify: true,
    }
}

fn lease(token: u64, node: u64) -> ApiRequest {
    ApiRequest {
        token,
        verb: Verb::Update,
        level: LevelId::NODE_HIGH,
        flow: flow_hash("system-node-high", &format!("system:node:n-{node}")),
        stored: 0,
        returned: 0,
        notify: false,
    }
}

/// Runs the server to `until`, calling it at each instant it asks for.
fn run_until(s: &mut ApiServer, until: Time) -> Vec<Answer> {
    while let Some(w) = s.next_wake().filter(|&w| w <= until) {
        s.advance(w);
    }
    s.advance(until);
    s.take_answers()
}

fn create(token: u64) -> ApiRequest {
    ApiRequest {
        token,
        verb: Verb::Create,
        level: LevelId::WORKLOAD_HIGH,
        flow: flow_hash("kube-controller-manager", "default"),
        stored: 0,
        returned: 0,
        notify: true,
    }
}

#[test]
fn a_request_answered_lazily_asks_for_no_wake_up_and_keeps_its_instant() {
    let mut s = ApiServer::new(ApiServerConfig::default());
    s.submit(Time::ZERO, create(1));
    assert_eq!(s.next_wake(), Some(t(0.005)));
    s.answer_lazily(1);
    assert_eq!(s.next_wake(), None);
    s.advance(t(1.0));
    let a = s.take_answers();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].token, a[0].outcome, a[0].at),
        (1, Outcome::Ok, t(0.005))
    );
}

#[test]
fn a_write_runs_at_full_speed_only_while_the_cpus_are_not_all_busy() {
    let cfg = ApiServerConfig {
        execution: ExecutionConfig {
            cpus: 2.0,
            ..ExecutionConfig::default()
        },
        ..ApiServerConfig::default()
    };
    let mut s = ApiServer::new(cfg);
    s.set_stored_objects(1000);
    s.submit(Time::ZERO, create(1));
    assert!(s.executing_at_full_speed(1));
    // A second request on the second CPU still runs at full speed; a third shares them.
    s.submit(Time::ZERO, list(2, LevelId::WORKLOAD_LOW, 7, 1000));
    s.submit(Time::ZERO, create(3));
    assert!(!s.executing_at_full_speed(3));
    // Asked of an earlier request, or of one not running, the answer is no.
    assert!(!s.executing_at_full_speed(1));
    assert!(!s.executing_at_full_speed(99));
    run_until(&mut s, t(10.0));
    s.submit(t(10.0), create(4));
    assert!(s.executing_at_full_speed(4));
}

#[test]
fn a_list_takes_time_and_memory_in_proportion_to_what_it_returns() {
    let cfg = ApiServerConfig::default();
    let mut s = ApiServer::new(cfg.clone());
    s.set_stored_objects(30_000);
    let idle = s.memory_bytes();
    assert_eq!(
        idle,
        cfg.memory.baseline_bytes + 30_000.0 * cfg.memory.bytes_per_object
    );
    s.submit(Time::ZERO, list(1, LevelId::WORKLOAD_LOW, 7, 30_000));
    assert_eq!(
        s.memory_bytes(),
        idle + 30_000.0 * cfg.memory.bytes_per_object
    );
    let expected =
        cfg.execution.request.as_secs_f64() + 30_000.0 * cfg.execution.list_seconds_per_object;
    assert_eq!(s.next_wake(), Some(t(expected)));
    // Read as of an instant, the figures count what has completed by then as freed.
    assert_eq!(s.seats_in_use_at(Time::ZERO), 10);
    assert_eq!(s.seats_in_use_at(t(expected)), 0);
    assert_eq!(s.memory_bytes_at(t(expected)), idle);
    let a = run_until(&mut s, t(10.0));
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].outcome, a[0].at), (Outcome::Ok, t(expected)));
    assert_eq!(s.memory_bytes(), idle);
}

#[test]
fn apf_keeps_the_kubelets_clear_of_a_list_flood_and_the_legacy_filter_only_their_writes() {
    for apf_on in [true, false] {
        let mut s = ApiServer::new(ApiServerConfig {
            flow_control: FlowControlConfig {
                priority_and_fairness: apf_on,
                ..FlowControlConfig::default()
            },
            execution: ExecutionConfig {
                cpus: 0.0,
                ..ExecutionConfig::default()
            },
            ..ApiServerConfig::default()
        });
        s.set_stored_objects(100_000);
        // 2,000 agents of one ServiceAccount list every pod at once (2 s each).
        let flow = flow_hash("service-accounts", "system:serviceaccount:obs:agent");
        for i in 0..2000 {
            s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, flow, 100_000));
        }
        // Then 1,000 kubelets each read their Node and renew their Lease, 0.1 ms apart.
        for n in 0..1000u64 {
            let at = t(0.5 + n as f64 * 0.0001);
            let mut get = lease(10_000 + n, n);
            get.verb = Verb::Get;
            s.submit(at, get);
            s.submit(at, lease(20_000 + n, n));
        }
        let answers = run_until(&mut s, t(1.0));
        let ok = |from: u64| {
            answers
                .iter()
                .filter(|a| (from..from + 1000).contains(&a.token) && a.outcome == Outcome::Ok)
                .count()
        };
        // Leases are writes: the legacy filter's mutating slots are not the LISTs'.
        assert_eq!(ok(20_000), 1000);
        if apf_on {
            assert_eq!(ok(10_000), 1000, "node-high has seats of its own");
            // One flow gets one hand of 6 queues of 50: the rest of the flood is refused.
            let refused = answers
                .iter()
                .filter(|a| a.token < 2000 && a.outcome != Outcome::Ok)
                .count();
            let lim = s.limits(LevelId::WORKLOAD_LOW);
            let running = (lim.nominal / lim.max_seats) as usize;
            assert_eq!(refused, 2000 - 300 - running);
        } else {
            assert_eq!(ok(10_000), 0, "the 400 read-only slots are full of LISTs");
        }
    }
}

#[test]
fn more_requests_than_cpus_run_slower_in_proportion() {
    let cfg = ApiServerConfig::default();
    let mut s = ApiServer::new(cfg.clone());
    s.set_stored_objects(10_000);
    for i in 0..16 {
        s.submit(Time::ZERO, list(i, LevelId::EXEMPT, i, 10_000));
    }
    let one =
        cfg.execution.request.as_secs_f64() + 10_000.0 * cfg.execution.list_seconds_per_object;
    let a = run_until(&mut s, t(10.0));
    // The 8th starts with 8 executing on 8 CPUs: full speed; the 16th gets half a CPU.
    assert_eq!(a.iter().find(|a| a.token == 7).unwrap().at, t(one));
    assert_eq!(a.iter().find(|a| a.token == 15).unwrap().at, t(one * 2.0));
}

#[test]
fn lease_renewals_that_run_at_once_ask_for_no_wake_up() {
    let mut s = ApiServer::new(ApiServerConfig::default());
    for n in 0..100 {
        s.submit(t(n as f64 * 0.1), lease(n, n));
    }
    assert_eq!(s.next_wake(), None, "nobody waits on a Lease renewal");
    let a = run_until(&mut s, t(20.0));
    assert_eq!(a.len(), 100);
    assert!(a.iter().all(|a| a.outcome == Outcome::Ok));
}

#[test]
fn a_server_past_its_memory_limit_is_oom_killed_and_serves_again_after_startup() {
    let cfg = ApiServerConfig {
        flow_control: FlowControlConfig {
            priority_and_fairness: false,
            ..FlowControlConfig::default()
        },
        memory: MemoryConfig {
            memory_limit_bytes: 4.0 * 1024.0 * 1024.0 * 1024.0,
            ..MemoryConfig::default()
        },
        ..ApiServerConfig::default()
    };
    let mut s = ApiServer::new(cfg.clone());
    s.set_stored_objects(50_000);
    // 50,000 x 8 KiB = 400 MB per LIST over a 0.9 GB base: the 9th kills it.
    for i in 0..9 {
        s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, 1, 50_000));
    }
    let events = s.take_events();
    assert!(
        matches!(events[..], [ServerEvent::OomKilled { .. }]),
        "{events:?}"
    );
    let answers = s.take_answers();
    assert_eq!(answers.len(), 9);
    assert!(answers.iter().all(|a| a.outcome == Outcome::Reset));
    assert!(!s.serving());
    s.submit(t(30.0), list(20, LevelId::WORKLOAD_LOW, 1, 10));
    assert_eq!(s.take_answers()[0].outcome, Outcome::Refused);
    run_until(&mut s, Time::ZERO + cfg.startup);
    assert!(s.serving());
    assert_eq!(s.take_events(), vec![ServerEvent::Started { at: t(60.0) }]);
    assert_eq!(s.stats().oom_kills, 1);
}

#[test]
fn a_request_that_waits_past_the_queue_wait_limit_is_refused_then() {
    let mut s = ApiServer::new(ApiServerConfig::default());
    s.set_stored_objects(1_000_000);
    // 10-seat LISTs of 20 s each fill workload-low; the next waits, then times out.
    let lim = s.limits(LevelId::WORKLOAD_LOW);
    let fit = u64::from(lim.nominal / lim.max_seats);
    for i in 0..=fit {
        s.submit(Time::ZERO, list(i, LevelId::WORKLOAD_LOW, i, 1_000_000));
    }
    assert_eq!(s.waiting(), 1);
    let a = run_until(&mut s, t(16.0));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].token, fit);
    assert_eq!(a[0].at, t(15.0));
    assert!(matches!(a[0].outcome, Outcome::TooManyRequests { .. }));
}

#[test]
fn retry_after_doubles_under_a_storm_of_drops_up_to_32_s_and_comes_back_down() {
    let mut r = RetryAfter::default();
    let mut ra = Duration::ZERO;
    for i in 0..100_000u32 {
        ra = r.drop_at(t(f64::from(i) * 0.01));
    }
    assert_eq!(ra, Duration::from_secs(32));
    // A drop now and then: it steps down by one per Retry-After.
    for i in 0..2000u32 {
        ra = r.drop_at(t(1000.0 + f64::from(i) * 40.0));
    }
    assert_eq!(ra, Duration::from_secs(1));
}

#[derive(Clone, Debug)]
enum Op {
    List(u64, u8),
    Lease(u64),
    Advance(f64),
    Stop,
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..200_000, 5u8..8).prop_map(|(n, l)| Op::List(n, l)),
        (0u64..50).prop_map(Op::Lease),
        (0.0f64..20.0).prop_map(Op::Advance),
        Just(Op::Stop),
        Just(Op::Start),
    ]
}

proptest! {
    /// Every request is answered exactly once, never before it arrived, and a server
    /// left alone ends with nothing in flight.
    #[test]
    fn every_request_is_answered_exactly_once(
        ops in prop::collection::vec(op(), 1..200),
        apf_on in any::<bool>(),
        limit_gib in 0u32..8,
    ) {
        let mut s = ApiServer::new(ApiServerConfig {
            flow_control: FlowControlConfig {
                priority_and_fairness: apf_on,
                ..FlowControlConfig::default()
            },
            memory: MemoryConfig {
                memory_limit_bytes: f64::from(limit_gib) * 1024.0 * 1024.0 * 1024.0,
                ..MemoryConfig::default()
            },
            ..ApiServerConfig::default()
        });
        s.set_stored_objects(10_000);
        let mut now = Time::ZERO;
        let mut sent = BTreeMap::new();
        let mut answered = BTreeSet::new();
        let mut token = 0;
        for o in ops {
            match o {
                Op::List(n, l) => {
                    token += 1;
                    sent.insert(token, now);
                    s.submit(now, list(token, LevelId(l), n % 7, n));
                }
                Op::Lease(n) => {
                    token += 1;
                    sent.insert(token, now);
                    s.submit(now, lease(token, n));
                }
                Op::Advance(d) => {
                    let until = now.after(Duration::from_secs_f64(d));
                    for a in run_until(&mut s, until) {
                        prop_assert!(a.at >= sent[&a.token]);
                        prop_assert!(answered.insert(a.token), "answered twice");
                    }
                    now = until;
                }
                Op::Stop => s.stop(now),
                Op::Start => s.start(now),
            }
            for a in s.take_answers() {
                prop_assert!(a.at >= sent[&a.token]);
                prop_assert!(answered.insert(a.token), "answered twice");
            }
        }
        s.start(now);
        for a in run_until(&mut s, now.after(Duration::from_secs(3600))) {
            prop_assert!(answered.insert(a.token), "answered twice");
        }
        prop_assert_eq!(answered.len(), sent.len());
        prop_assert_eq!(s.seats_in_use(), 0);
        prop_assert_eq!(s.waiting(), 0);
    }
}
