//! `schedule --pod` with workloads, as `helm template` prints them: each controller's pods.

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

const CLUSTER: &str = "crates/cli/tests/inputs/schedule-cluster.yaml";
const WORKLOADS: &str = "crates/cli/tests/inputs/schedule-workloads.yaml";

#[test]
fn schedule_expands_deployments_statefulsets_and_daemonsets_into_their_pods() {
    let (code, out, err) = cascade(&[
        "schedule",
        "--cluster",
        CLUSTER,
        "--pod",
        WORKLOADS,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let decisions = v["decisions"].as_array().unwrap();
    let pods: Vec<&str> = decisions
        .iter()
        .map(|d| d["pod"].as_str().unwrap())
        .collect();
    // 3 Deployment replicas, 2 StatefulSet ordinals, and one daemon pod: only worker-a is a
    // linux node without an untolerated taint (the control plane's NoSchedule taint keeps the
    // DaemonSet off it, as nodeShouldRunDaemonPod does).
    assert_eq!(decisions.len(), 6, "{pods:?}");
    assert_eq!(
        pods.iter().filter(|p| p.starts_with("shop/web-")).count(),
        3
    );
    assert!(
        pods.contains(&"shop/db-0") && pods.contains(&"shop/db-1"),
        "{pods:?}"
    );
    let daemon: Vec<_> = decisions
        .iter()
        .filter(|d| {
            d["pod"]
                .as_str()
                .unwrap()
                .starts_with("monitoring/node-exporter-")
        })
        .collect();
    assert_eq!(daemon.len(), 1);
    assert_eq!(daemon[0]["node"], "worker-a");
    // Everything fits the two workers: 9.1 CPUs of 16.
    assert!(
        decisions.iter().all(|d| d["result"] == "scheduled"),
        "{decisions:#?}"
    );
    // The Deployment in the cluster file is not silently dropped: a warning says what to do.
    assert!(
        err.contains("schedule-cluster.yaml:29:1: warning: Deployment default/already-running in a cluster file is not expanded"),
        "{err}"
    );
}

#[test]
fn the_same_seed_gives_the_same_pod_names() {
    let args = [
        "schedule",
        "--cluster",
        CLUSTER,
        "--pod",
        WORKLOADS,
        "--seed",
        "7",
    ];
    let (_, a, _) = cascade(&args);
    let (_, b, _) = cascade(&args);
    assert_eq!(a, b);
}
