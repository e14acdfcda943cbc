//! `ratios.NAME` and `averages.NAME` over a window (docs/scenario-reference.md, "Metrics for
//! expectations"): the ratio of what its two running counts gained between the window's edges,
//! read from the samples, on the bundled retry storm; and what each section holds: ratios in
//! [0, 1], averages in their own unit.

use cascade_sim::output;
use std::path::{Path, PathBuf};

mod common;

/// scenarios/retry-storm.yaml with `expectations` in place of its own, beside a copy of its
/// manifest.
fn retry_storm(name: &str, expectations: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let sc = std::fs::read_to_string(root.join("retry-storm.yaml")).unwrap();
    let head = &sc[..sc.find("  expectations:").unwrap()];
    let tail = &sc[sc.find("  variants:").unwrap()..];
    let text = format!("{head}  expectations:\n{expectations}{tail}");
    let api = std::fs::read_to_string(root.join("retry-storm/api.yaml")).unwrap();
    let path = common::scenario("ratios", name, &[("scenario.yaml", &text)]);
    let dir = path.parent().unwrap().join("retry-storm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("api.yaml"), api).unwrap();
    path
}

fn value(s: &output::Summary, name: &str) -> f64 {
    s.expectations
        .iter()
        .find(|e| e.name == name)
        .unwrap()
        .value
}

#[test]
fn a_ratio_over_a_window_is_taken_from_its_counts_between_the_edges() {
    // The API runs three times slower from 5m to 6m; the storm of retries outlasts it.
    let path = retry_storm(
        "windows",
        "  - {name: whole, metric: ratios.api_success_ratio, after: 0s}\n  - {name: quiet, metric: ratios.api_success_ratio, before: 5m}\n  - {name: storm, metric: ratios.api_success_ratio, after: 5m, before: 16m}\n  - {name: late, metric: ratios.api_success_ratio, after: 16m}\n  - {name: calls, metric: averages.users_amplification, after: 5m, before: 16m}\n  - {name: mean latency, metric: averages.api_mean_latency_seconds, before: 5m}\n",
    );
    let r = common::run(&path, None, &[], None);
    let s = &r.summary;
    // The window of the whole run (an edge at the start reads nothing counted, one at the
    // end the final counts) is summary.json's figure, to the bit.
    assert_eq!(value(s, "whole"), s.ratios["api_success_ratio"]);
    // Before the fault every request is served (80/s against 300/s of capacity), in the
    // unloaded service time of 0.1 s.
    assert_eq!(value(s, "quiet"), 1.0);
    assert!(
        (value(s, "mean latency") - 0.1).abs() < 0.01,
        "{}",
        value(s, "mean latency")
    );
    // From the fault on fewer are (the storm outlasts the run: about 64% served from 5m to
    // 16m, 62% after), so both windows read below the whole run, which the quiet minutes
    // raise; and retries multiply the calls.
    let storm = value(s, "storm");
    assert!(storm < 0.7 && value(s, "late") < 0.7, "{storm}");
    assert!(storm < value(s, "whole") && value(s, "late") < value(s, "whole"));
    assert!(value(s, "calls") > s.averages["users_amplification"]);
    // The whole run's ratio is a mediant of its parts': between the lowest and the highest.
    let parts = [value(s, "quiet"), storm, value(s, "late")];
    let lo = parts.iter().copied().fold(f64::MAX, f64::min);
    let hi = parts.iter().copied().fold(f64::MIN, f64::max);
    let whole = value(s, "whole");
    assert!(lo <= whole && whole <= hi, "{parts:?} {whole}");
    // The edges fall on the sampling grid (10 s): a window edge within a sampling interval
    // reads the same counts as the sample before it.
    let path = retry_storm(
        "grid",
        "  - {name: storm, metric: ratios.api_success_ratio, after: 5m5s, before: 16m9s}\n",
    );
    let r = common::run(&path, None, &[], None);
    assert_eq!(value(&r.summary, "storm"), storm);
}

#[test]
fn a_ratio_by_selector_is_refused_with_the_reason() {
    let path = retry_storm(
        "selector",
        "  - {name: by pod, metric: ratios.api_success_ratio, selector: {matchLabels: {app: api}}, max: 1}\n",
    );
    let Err(err) = cascade_sim::load(&path, None, &[], None) else {
        panic!("a ratio by selector was taken");
    };
    let err = err.to_string();
    assert!(err.contains("scenario.yaml:66:28:"), "{err}");
    assert!(err.contains("not counted by pod"), "{err}");
}

#[test]
fn ratios_are_fractions_and_averages_have_a_section_of_their_own() {
    // During the storm each call is tried several times (amplification above 1) and requests
    // wait in the API's queue: neither is a fraction, so neither is among the ratios.
    let path = retry_storm(
        "sections",
        "  - {name: anything, metric: totals.pods_created, min: 0}\n",
    );
    let r = common::run(&path, None, &[], None);
    let s = &r.summary;
    assert!(!s.ratios.is_empty());
    for (name, v) in &s.ratios {
        assert!((0.0..=1.0).contains(v), "ratios.{name} = {v}");
    }
    assert!(s.averages["users_amplification"] > 1.0, "{:?}", s.averages);
    assert!(s.averages["api_mean_latency_seconds"] > 0.0);
    for name in s.averages.keys() {
        assert!(!s.ratios.contains_key(name), "{name} is in both");
    }
    let json = serde_json::to_value(s).unwrap();
    assert!(json["averages"]["users_amplification"].is_number());
    assert!(json["ratios"].get("users_amplification").is_none());
}

#[test]
fn an_average_by_its_old_ratios_name_is_an_error_naming_the_new_one() {
    let path = retry_storm(
        "old-name",
        "  - {name: calls, metric: ratios.users_amplification, max: 3}\n",
    );
    let Err(err) = cascade_sim::load(&path, None, &[], None) else {
        panic!("ratios.users_amplification was read");
    };
    let err = err.to_string();
    assert!(err.contains("scenario.yaml:66:"), "{err}");
    assert!(
        err.contains("ratios.users_amplification is not a ratio")
            && err.contains("expected averages.users_amplification"),
        "{err}"
    );
}
