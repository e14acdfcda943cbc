//! Inputs as real clusters and charts give them: extended resources, Jobs, bound pods,
//! directories, and the public manifests under tests/fixtures/real.

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

const INPUTS: &str = "crates/cli/tests/inputs";

/// `cascade schedule ... -o json`: the decisions.
fn decisions(cluster: &str, pods: &str) -> (Vec<serde_json::Value>, String) {
    let (code, out, err) = cascade(&[
        "schedule",
        "--cluster",
        cluster,
        "--pod",
        pods,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (v["decisions"].as_array().unwrap().clone(), err)
}

#[test]
fn a_pod_asking_for_a_gpu_is_placed_only_where_one_is_left() {
    let (d, _) = decisions(
        &format!("{INPUTS}/gpu-cluster.yaml"),
        &format!("{INPUTS}/gpu-pods.yaml"),
    );
    assert_eq!(d.len(), 3);
    let on_gpu = d.iter().filter(|d| d["node"] == "gpu-node").count();
    assert_eq!(on_gpu, 2, "{d:#?}");
    let last = &d[2];
    assert_eq!(last["result"], "unschedulable", "{d:#?}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .starts_with("0/2 nodes are available: 2 Insufficient nvidia.com/gpu."),
        "{last}"
    );
}

#[test]
fn extended_resources_the_api_server_refuses_are_errors() {
    let (code, _, err) = cascade(&["validate", &format!("{INPUTS}/bad-extended.yaml")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn schedule_expands_jobs_into_the_pods_their_controller_starts() {
    let (d, _) = decisions(
        &format!("{INPUTS}/dir-cluster"),
        &format!("{INPUTS}/jobs.yaml"),
    );
    let pods: Vec<&str> = d.iter().map(|d| d["pod"].as_str().unwrap()).collect();
    // migrate: min(parallelism 3, completions 5); web: 1; shard: min(4, 2), indexed; paused: 0.
    assert_eq!(pods.len(), 6, "{pods:?}");
    assert_eq!(
        pods.iter()
            .filter(|p| p.starts_with("shop/migrate-"))
            .count(),
        3
    );
    assert!(pods[3].starts_with("shop/web-"), "{pods:?}");
    assert!(pods[4].starts_with("shop/shard-0-"), "{pods:?}");
    assert!(pods[5].starts_with("shop/shard-1-"), "{pods:?}");
}

#[test]
fn a_directory_is_read_whole_and_bound_pods_are_cluster_state() {
    let (d, err) = decisions(
        &format!("{INPUTS}/dir-cluster"),
        &format!("{INPUTS}/jobs.yaml"),
    );
    // worker-a has 1 CPU left beside the bound 7-CPU pod; the finished pod on worker-b holds
    // nothing. The three 2-CPU migrate pods all go to worker-b.
    let migrate: Vec<_> = d
        .iter()
        .filter(|d| d["pod"].as_str().unwrap().starts_with("shop/migrate-"))
        .collect();
    assert!(migrate.iter().all(|d| d["node"] == "worker-b"), "{d:#?}");
    assert!(
        err.contains("b-pods.json")
            && err.contains("skipping Pod finished-batch: its phase is Succeeded"),
        "{err}"
    );
    let (code, out, err) = cascade(&["validate", &format!("{INPUTS}/dir-cluster")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ok: 2 file(s): 0 scenario(s) and variant(s), 2 node(s), 1 pod(s)"),
        "{out}"
    );
    let (code, _, err) = cascade(&["validate", "crates/cli/tests/snapshots"]);
    assert_eq!(code, 2);
    assert!(err.contains("no *.yaml, *.yml or *.json file"), "{err}");
}
