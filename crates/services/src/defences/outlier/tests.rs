//! The detector against Envoy's documented and implemented behaviour
//! (docs/retry-defences.md#outlier-detection).

use super::*;
use proptest::prelude::*;

fn secs(s: f64) -> Time {
    Time::from_secs_f64(s)
}

fn detector(f: impl FnOnce(&mut OutlierDetection)) -> OutlierDetector {
    let mut cfg = OutlierDetection {
        // Three replicas: Envoy's 10 % would eject none of them.
        max_ejection_percent: 50,
        ..OutlierDetection::default()
    };
    f(&mut cfg);
    OutlierDetector::new(&cfg)
}

const MEMBERS: [u32; 3] = [0, 1, 2];

/// `n` 5xx answers from `host` at `now`, each detection handed to `eject` as Envoy's main
/// thread does: the ejections that happened (not the overflows).
fn errors(d: &mut OutlierDetector, now: Time, host: u32, n: u32) -> Vec<Ejection> {
    let mut out = Vec::new();
    for _ in 0..n {
        d.advance(now);
        for det in d.record(host, Outcome::ServerError) {
            out.extend(
                d.eject(now, host, det, &MEMBERS, |p| p >= 100)
                    .filter(|e| matches!(e, Ejection::Ejected { .. })),
            );
        }
    }
    out
}

#[test]
fn five_consecutive_5xx_eject_and_a_success_starts_the_count_again() {
    let mut d = detector(|_| {});
    assert!(errors(&mut d, secs(1.0), 0, 4).is_empty());
    d.record(0, Outcome::Success);
    // Four more after the success: still four in a row, not eight.
    assert!(errors(&mut d, secs(1.0), 0, 4).is_empty());
    assert!(!d.is_ejected(0));
    assert_eq!(
        errors(&mut d, secs(1.0), 0, 1),
        vec![Ejection::Ejected { multiplier: 1 }]
    );
    assert!(d.is_ejected(0));
    assert_eq!(d.ejected(), vec![0]);
}

#[test]
fn a_timeout_or_refusal_is_a_5xx_and_a_gateway_failure_which_is_not_enforced_by_default() {
    let mut d = detector(|_| {});
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.extend(d.record(1, Outcome::GatewayFailure));
    }
    // Both counts reach 5 on the fifth: the gateway detection first, as Envoy posts it first.
    assert_eq!(
        seen,
        vec![
            Detection::ConsecutiveGatewayFailure,
            Detection::Consecutive5xx
        ]
    );
    let asked = std::cell::RefCell::new(Vec::new());
    let enforce = |p: u32| {
        asked.borrow_mut().push(p);
        p >= 100
    };
    assert_eq!(
        d.eject(secs(1.0), 1, seen[0], &MEMBERS, enforce),
        Some(Ejection::NotEnforced)
    );
    let enforce = |p: u32| {
        asked.borrow_mut().push(p);
        p >= 100
    };
    assert_eq!(
        d.eject(secs(1.0), 1, seen[1], &MEMBERS, enforce),
        Some(Ejection::Ejected { multiplier: 1 })
    );
    assert_eq!(*asked.borrow(), vec![0, 100]);
    // A 500 between gateway failures breaks the gateway run but not the 5xx run.
    let mut d = detector(|c| c.enforcing_consecutive_gateway_failure = 100);
    for o in [
        Outcome::GatewayFailure,
        Outcome::GatewayFailure,
        Outcome::ServerError,
        Outcome::GatewayFailure,
    ] {
        assert!(d.record(2, o).is_empty());
    }
    assert_eq!(
        d.record(2, Outcome::GatewayFailure),
        vec![Detection::Consecutive5xx]
    );
}

#[test]
fn an_ejection_ends_at_the_first_sweep_after_its_time_and_clears_the_counts() {
    let mut d = detector(|_| {});
    // Ejected at 12 s: 30 s later is 42 s; sweeps run at 10, 20, 30, 40, 50 s.
    errors(&mut d, secs(12.0), 0, 5);
    assert!(d.advance(secs(49.9)).is_empty());
    assert!(d.is_ejected(0));
    assert_eq!(d.advance(secs(50.0)), vec![0]);
    assert!(!d.is_ejected(0));
    // Errors it answered while ejected (requests already sent) do not count afterwards.
    assert!(errors(&mut d, secs(50.0), 0, 4).is_empty());
}

#[test]
fn each_ejection_in_a_row_lasts_longer_and_healthy_intervals_shorten_the_next() {
    let mut d = detector(|_| {});
    // First ejection at 1 s: 30 s, back at the 40 s sweep.
    errors(&mut d, secs(1.0), 0, 5);
    assert_eq!(d.advance(secs(40.0)), vec![0]);
    // At once again: multiplier 2, 60 s: from 41 s, back at the 110 s sweep (101 s is due).
    assert_eq!(
        errors(&mut d, secs(41.0), 0, 5),
        vec![Ejection::Ejected { multiplier: 2 }]
    );
    assert!(d.advance(secs(100.0)).is_empty());
    assert_eq!(d.advance(secs(110.0)), vec![0]);
    // Healthy for the sweeps at 120 and 130 s (a whole interval after coming back each):
    // the multiplier falls from 2 to 0, so the next ejection is the first again.
    d.advance(secs(130.0));
    assert_eq!(
        errors(&mut d, secs(131.0), 0, 5),
        vec![Ejection::Ejected { multiplier: 1 }]
    );
    assert_eq!(d.ejections(0), 3);
}

#[test]
fn the_ejection_time_stops_growing_at_max_ejection_time() {
    let mut d = detector(|c| c.max_ejection_time_seconds = Some(90.0));
    let mut now = 1.0;
    let mut multipliers = Vec::new();
    for _ in 0..6 {
        for e in errors(&mut d, secs(now), 0, 5) {
            if let Ejection::Ejected { multiplier } = e {
                multipliers.push(multiplier);
            }
        }
        // Back at the first sweep once its time is up; then failing again at once.
        while d.is_ejected(0) {
            now += 10.0;
            d.advance(secs(now));
        }
    }
    // Envoy raises the multiplier while base x multiplier < max + base: up to 4 here, and
    // the time is capped at 90 s from 3 on.
    assert_eq!(multipliers, vec![1, 2, 3, 4, 4, 4]);
    assert_eq!(d.ejection_time(4), Duration::from_secs(90));
    // Envoy's default cap is 300 s, or the base ejection time when longer.
    let cfg = OutlierDetection {
        base_ejection_time_seconds: 400.0,
        ..OutlierDetection::default()
    };
    assert_eq!(cfg.max_ejection_seconds(), 400.0);
    assert_eq!(OutlierDetection::default().max_ejection_seconds(), 300.0);
}

#[test]
fn max_ejection_percent_caps_ejections_and_envoys_default_ejects_none_of_three() {
    // 10 % of three hosts: one ejected would be 33 %, so none is (Envoy since 1.31).
    let mut d = detector(|c| c.max_ejection_percent = 10);
    assert_eq!(errors(&mut d, secs(1.0), 0, 5), vec![]);
    assert!(!d.is_ejected(0));
    // With always_eject_one_host, one is, and not a second.
    let mut d = detector(|c| {
        c.max_ejection_percent = 10;
        c.always_eject_one_host = true;
    });
    assert_eq!(errors(&mut d, secs(1.0), 0, 5).len(), 1);
    let mut refused = Vec::new();
    for _ in 0..5 {
        for det in d.record(1, Outcome::ServerError) {
            refused.extend(d.eject(secs(1.0), 1, det, &MEMBERS, |_| true));
        }
    }
    assert_eq!(refused, vec![Ejection::Overflow]);
    // 50 %: one of three (33 %) but not two (67 %).
    let mut d = detector(|_| {});
    assert_eq!(errors(&mut d, secs(1.0), 0, 5).len(), 1);
    assert_eq!(
        errors(&mut d, secs(1.0), 1, 5),
        Vec::<Ejection>::new(),
        "the overflow is not an ejection"
    );
    assert_eq!(d.ejected(), vec![0]);
}

#[test]
fn too_few_healthy_hosts_make_the_balancer_panic_and_use_them_all() {
    let mut d = detector(|c| c.max_ejection_percent = 100);
    assert_eq!(d.healthy(&MEMBERS), None);
    errors(&mut d, secs(1.0), 0, 5);
    // Two of three healthy: 1.4 x 67 % is above 50 %.
    assert_eq!(d.healthy(&MEMBERS), Some(vec![1, 2]));
    errors(&mut d, secs(1.0), 1, 5);
    // One of three: 1.4 x 33 % = 47 %, below 50 %: panic, every host.
    assert_eq!(d.healthy(&MEMBERS), None);
}

proptest! {
    /// Under any sequence of answers from any of five hosts, at any times, at most the cap
    /// allows is ever ejected at once (one more only with always_eject_one_host, and then one
    /// in all), and every ejected host is back by the first sweep after its longest possible
    /// ejection once its answers stop.
    #[test]
    fn never_more_ejected_than_the_cap_and_every_ejected_host_returns(
        percent in 0u32..=100,
        one in any::<bool>(),
        answers in proptest::collection::vec((0u32..5, 0u8..3, 0u64..4_000_000), 0..400),
    ) {
        let cfg = OutlierDetection {
            max_ejection_percent: percent,
            always_eject_one_host: one,
            consecutive_5xx: 3,
            enforcing_consecutive_gateway_failure: 100,
            ..OutlierDetection::default()
        };
        let mut d = OutlierDetector::new(&cfg);
        let members = [0, 1, 2, 3, 4];
        let allowed = (percent as usize * members.len()) / 100;
        let cap = if one { allowed.max(1) } else { allowed };
        let mut now = Time::ZERO;
        for (host, kind, gap) in answers {
            now = now.after(Duration::from_micros(gap));
            d.advance(now);
            let outcome = [Outcome::Success, Outcome::ServerError, Outcome::GatewayFailure][kind as usize];
            for det in d.record(host, outcome) {
                d.eject(now, host, det, &members, |p| p >= 100);
            }
            prop_assert!(d.ejected().len() <= cap, "{:?} ejected, cap {}", d.ejected(), cap);
        }
        let longest = d.ejection_time(u32::MAX);
        let back = now.after(longest).after(d.interval);
        d.advance(back);
        prop_assert!(d.ejected().is_empty());
    }
}
