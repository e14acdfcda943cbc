//! Envoy's outlier detection on a service's calls, against a gray failure: one replica of
//! three, on a bad node, answers every request with an error
//! (docs/retry-defences.md#outlier-detection, #degradation).

use super::*;

/// front (one replica) calls back (three replicas, on nodes 0, 1 and 2) for each of the
/// users' 20 calls/s; from 50 s back's replica on node 1 answers every request with an
/// error. Returns the driver at 650 s.
fn bad_replica(outlier: Option<crate::config::OutlierDetection>) -> Driver {
    let mut d = chain_with(0, |c| c.outlier_detection = outlier.clone());
    for (pod, node) in [(3, 1), (4, 2)] {
        let i = PodInfo {
            node,
            ..info(&format!("back-{node}"), "back")
        };
        let pod = PodRef::new(pod);
        d.call(|w, now, out| w.container_started(now, pod, &i, out));
        d.call(|w, now, out| w.pod_ready(now, pod, out));
    }
    d.run_checked(50.0);
    let all = Degradation {
        error_rate: 1.0,
        ..Degradation::default()
    };
    d.call(|w, now, out| w.set_service_degraded_on(now, "back", Some(all), Some(vec![1]), out));
    d.run_checked(650.0);
    d
}

#[test]
fn a_degradation_on_one_node_fails_only_the_replica_there() {
    let d = bad_replica(None);
    let back = d
        .world
        .endpoints
        .iter()
        .find(|s| s.name == "back")
        .expect("back");
    assert_eq!(back.degradation(0), None);
    assert!(back.degradation(1).is_some());
    assert_eq!(back.degradation(2), None);
    // A third of the 12,000 calls in the 600 s fail: those sent to node 1.
    let failed = d.total("users_gave_up");
    assert!((3_600..4_400).contains(&failed), "{failed}");
}

#[test]
fn outlier_detection_takes_the_bad_replica_out_of_the_callers_picks() {
    let od = crate::config::OutlierDetection {
        max_ejection_percent: 50,
        ..Default::default()
    };
    let d = bad_replica(Some(od));
    // Ejected after 5 errors, back for 5 more after 30, 60, 90, 120, 150 and 180 s (each at
    // the first 10 s sweep after): seven ejections in the 600 s, about 35 failures.
    let ejections = d.total("front_call_outlier_ejections");
    assert!((6..=8).contains(&ejections), "{ejections}");
    let failed = d.total("users_gave_up");
    assert!(failed <= 5 * ejections + 10, "{failed}");
}

#[test]
fn envoys_default_ejects_none_of_three_and_then_changes_nothing() {
    // 10 % of three replicas is less than one: no ejection, and the run is the run without
    // detection, draw for draw.
    let with = bad_replica(Some(crate::config::OutlierDetection::default()));
    let without = bad_replica(None);
    assert_eq!(with.total("front_call_outlier_ejections"), 0);
    let strip = |d: &Driver| {
        d.world
            .totals()
            .into_iter()
            .filter(|(k, _)| k != "front_call_outlier_ejections")
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&with), strip(&without));
}
