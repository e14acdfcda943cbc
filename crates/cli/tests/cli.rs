//! The command line as users run it: exit codes, messages and output, as snapshots.

use std::process::Command;

fn cascade(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const CLUSTER: &str = "examples/grafana-2019/cluster.yaml";
const PODS: &str = "examples/grafana-2019/new-customer-ingesters.yaml";

#[test]
fn schedule_table() {
    let (code, out, err) = cascade(&["schedule", "--cluster", CLUSTER, "--pod", PODS]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn schedule_json() {
    let (code, out, err) = cascade(&[
        "schedule",
        "--cluster",
        CLUSTER,
        "--pod",
        PODS,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn validate_reports_every_problem_with_position() {
    let (code, out, err) = cascade(&["validate", "crates/cli/tests/inputs/bad-quantity.yaml"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    insta::assert_snapshot!(err);
}

#[test]
fn validate_accepts_the_examples() {
    let (code, out, err) = cascade(&["validate", CLUSTER, PODS]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    let (code, _, err) = cascade(&["validate", "no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("no/such/file.yaml:0:0: error: cannot read file:"),
        "{err}"
    );
    let (code, _, err) = cascade(&["schedule", "--cluster", CLUSTER]);
    assert_eq!(code, 2);
    assert!(err.contains("--pod <FILE>"), "{err}");
    let (code, _, _) = cascade(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn same_seed_same_bytes() {
    let a = cascade(&[
        "schedule",
        "--cluster",
        CLUSTER,
        "--pod",
        PODS,
        "-o",
        "json",
        "--seed",
        "7",
    ]);
    let b = cascade(&[
        "schedule",
        "--cluster",
        CLUSTER,
        "--pod",
        PODS,
        "-o",
        "json",
        "--seed",
        "7",
    ]);
    assert_eq!(a, b);
}

#[test]
fn validate_checks_scenarios_and_their_variants() {
    let (code, out, err) = cascade(&["validate", "scenarios/grafana-2019-preemption.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 scenario(s) and variant(s)"), "{out}");
    let (code, _, err) = cascade(&["validate", "crates/cli/tests/inputs/bad-scenario.yaml"]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}
