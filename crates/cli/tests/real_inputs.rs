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
