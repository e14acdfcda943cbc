//! The Grafana Labs 2019 preemption avalanche, end to end on the bundled scenario.

mod common;

fn run(args: &[&str], out: &str) -> (i32, String, String, String) {
    let o = common::cascade_run(args, out);
    (o.code, o.summary, o.events, o.stderr)
}

#[test]
fn the_causal_chain_starts_at_the_customer_cluster_not_the_rollout() {
    let o = common::cascade_run(&["run", SCENARIO], "chain");
    let chain = common::causal_chain(&o.report);
    // The rollout at 5m leaves pods pending for a while and is over long before the customer's
    // cluster arrives: it is not the trigger.
    assert!(chain.starts_with("Trigger T+1h15m: change: "), "{chain}");
    assert!(
        chain.contains("T+1h15m") && chain.contains(": pods_ready left its steady"),
        "{chain}"
    );
}

const SCENARIO: &str = "scenarios/grafana-2019-preemption.yaml";

fn preempted(events: &str) -> Vec<(f64, String, String)> {
    events
        .lines()
        .filter(|l| l.contains("\"kind\":\"Preempted\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let by = v["message"]
                .as_str()
                .unwrap()
                .split("by pod ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string();
            (
                v["t"].as_f64().unwrap(),
                v["object"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("pod/")
                    .to_string(),
                by,
            )
        })
        .collect()
}

#[test]
fn avalanche_preempts_every_production_ingester_in_turn() {
    let (code, summary, events, err) = run(&["run", SCENARIO], "base");
    assert_eq!(code, 1, "the plain run breaks its expectation: {err}");
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["expectations"][0]["passed"], false);
    let p = preempted(&events);
    let prod_ingesters: Vec<_> = p
        .iter()
        .filter(|(_, v, _)| v.starts_with("cortex-prod/ingester-"))
        .collect();
    // All eight production ingesters fall, none twice ...
    let mut names: Vec<&String> = prod_ingesters.iter().map(|(_, v, _)| v).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8, "{p:?}");
    // ... the first ones to the customer's ingesters, the later ones to production replacements
    // admitted at the medium default: the avalanche.
    assert!(prod_ingesters
        .iter()
        .any(|(_, _, by)| by.starts_with("cortex-customer/ingester-")));
    let by_replacements = prod_ingesters
        .iter()
        .filter(|(_, _, by)| by.starts_with("cortex-prod/ingester-"))
        .count();
    assert!(by_replacements >= 4, "{p:?}");
    // Nothing is preempted before the customer's cluster arrives at 75 minutes.
    assert!(p.iter().all(|(t, _, _)| *t >= 4500.0));
    // Replacements were admitted at medium (2000), the globalDefault.
    assert!(events.lines().any(|l| l.contains("\"Created\"")
        && l.contains("cortex-prod/ingester-")
        && l.contains("priority 2000")));
}

#[test]
fn ingesters_at_high_priority_are_not_preempted() {
    let (code, summary, events, err) =
        run(&["run", SCENARIO, "--variant", "ingesters-high"], "high");
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["variant"], "ingesters-high");
    assert!(preempted(&events)
        .iter()
        .all(|(_, v, _)| !v.starts_with("cortex-prod/ingester-")));
}

#[test]
fn the_wall_time_is_in_timing_json() {
    let o = common::cascade_run(&["run", SCENARIO], "timing");
    let t: serde_json::Value = serde_json::from_str(&o.timing).unwrap();
    assert!(t["wall_seconds"].as_f64().unwrap() > 0.0, "{t}");
    assert!(!o.summary.contains("wall_seconds"), "{}", o.summary);
}

#[test]
fn same_seed_gives_identical_outputs() {
    let (_, s1, e1, _) = run(&["run", SCENARIO, "--seed", "3"], "det1");
    let (_, s2, e2, _) = run(&["run", SCENARIO, "--seed", "3"], "det2");
    assert_eq!(e1, e2);
    // summary.json byte for byte: the wall time is in timing.json (new-user.md L5).
    assert_eq!(s1, s2);
    assert!(!s1.contains("wall"), "{s1}");
    assert!(!e1.is_empty());
}

#[test]
fn summary_has_the_documented_shape() {
    let (_, summary, _, _) = run(&["run", SCENARIO], "shape");
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    insta::assert_json_snapshot!(s);
}

#[test]
fn bad_set_and_unknown_variant_exit_2() {
    let (code, _, _, err) = run(&["run", SCENARIO, "--set", "kubelet.nope=1"], "bad1");
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `nope`"), "{err}");
    let (code, _, _, err) = run(&["run", SCENARIO, "--variant", "nope"], "bad2");
    assert_eq!(code, 2);
    assert!(err.contains("unknown variant \"nope\""), "{err}");
    let (code, _, _, err) = run(&["run", SCENARIO, "--set", "oops"], "bad3");
    assert_eq!(code, 2);
    assert!(err.contains("expected PATH=VALUE"), "{err}");
}

/// An expectation counted over a selector's pods within a window says both, in the same words,
/// wherever its verdict is shown: summary.json, the terminal, the JUnit case and the report.
#[test]
fn an_expectation_shows_its_window_and_selector_everywhere() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-e2e-window-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let junit = dir.join("junit.xml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(["run", SCENARIO, "--out"])
        .arg(&dir)
        .arg("--junit")
        .arg(&junit)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let pods = "{name=ingester} in namespace cortex-prod";
    // The scenario's `after: 75m` and its 2 h duration.
    let s: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    let e = &s["expectations"][0];
    assert_eq!(e["after_seconds"], 4500.0);
    assert_eq!(e["before_seconds"], 7200.0);
    assert_eq!(e["selector"], pods);
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "totals.pods_preempted = 8, want <= 0, window 4500s..7200s, pods {pods}"
        )),
        "{stdout}"
    );
    let xml = read("junit.xml");
    assert!(
        xml.contains("<property name=\"window\" value=\"4500s..7200s\"/>")
            && xml.contains(&format!("<property name=\"selector\" value=\"{pods}\"/>")),
        "{xml}"
    );
    let report = read("report.html");
    assert!(
        report.contains(&format!("<td>T+1h15m to T+2h00m, pods {pods}</td>")),
        "the report's window cell"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
