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

const REAL: &str = "crates/cli/tests/fixtures/real";
const REAL_CLUSTER: &str = "crates/cli/tests/fixtures/real-cluster.yaml";

#[test]
fn the_public_manifests_validate() {
    let (code, out, err) = cascade(&["validate", REAL]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim_end(),
        "ok: 14 file(s): 0 scenario(s) and variant(s), 0 node(s), 0 pod(s), 10 workload(s), \
         0 PriorityClass(es), 4 PodDisruptionBudget(s)"
    );
    // The operator's custom resources are named as skipped, not dropped in silence.
    assert!(
        err.contains(
            "skipping monitoring.coreos.com/v1 Prometheus: cascade does not model this kind"
        ),
        "{err}"
    );
}

#[test]
fn the_public_manifests_schedule_onto_a_generated_cluster() {
    let (d, err) = decisions(REAL_CLUSTER, REAL);
    let count = |prefix: &str| {
        d.iter()
            .filter(|d| d["pod"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    // coredns 1, node-exporter one per node (6), kube-state-metrics 1, prometheus-operator 1,
    // prometheus-adapter 2, blackbox-exporter 1, grafana 1, Mimir ingesters 3 (one per zone).
    assert_eq!(d.len(), 16, "{d:#?}");
    assert_eq!(count("monitoring/node-exporter-"), 6);
    assert_eq!(count("monitoring/prometheus-adapter-"), 2);
    assert_eq!(count("citestns/small-values-mimir-ingester-zone-"), 3);
    assert!(d.iter().all(|d| d["result"] == "scheduled"), "{d:#?}");
    // system-cluster-critical comes first in the scheduling queue.
    assert!(d[0]["pod"]
        .as_str()
        .unwrap()
        .starts_with("kube-system/coredns-"));
    let mut daemon_nodes: Vec<&str> = d
        .iter()
        .filter(|d| {
            d["pod"]
                .as_str()
                .unwrap()
                .starts_with("monitoring/node-exporter-")
        })
        .map(|d| d["node"].as_str().unwrap())
        .collect();
    daemon_nodes.sort_unstable();
    daemon_nodes.dedup();
    assert_eq!(daemon_nodes.len(), 6);
    // What cascade does not model is said: coredns' and the ingesters' required anti-affinity.
    assert_eq!(
        err.matches(
            "cascade does not model podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        )
        .count(),
        4,
        "{err}"
    );
}

// Scenario mistakes that used to run in silence.

#[test]
fn selectors_that_pick_no_pod_are_warned() {
    // A memory behaviour on pods without a limit is no longer inert: it fills their node
    // (docs/kubernetes.md#node-memory-pressure), so it is not warned about.
    let (code, _, err) = cascade(&["validate", &format!("{INPUTS}/unmatched-selectors.yaml")]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn changes_that_scale_or_delete_nothing_are_errors_at_their_position() {
    let (code, out, err) = cascade(&["validate", &format!("{INPUTS}/bad-change-targets.yaml")]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    insta::assert_snapshot!(err);
}

// Bounded runs.

#[test]
fn a_run_too_large_for_the_machine_is_refused_at_load() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-huge-{}", std::process::id()));
    let (code, out, err) = cascade(&[
        "run",
        &format!("{INPUTS}/huge.yaml"),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "");
    assert!(!dir.exists());
    // The refusal is about the run as a whole: the file, no made-up position.
    assert!(
        err.starts_with(&format!(
            "{INPUTS}/huge.yaml: error: this run would need about"
        )),
        "{err}"
    );
    assert!(
        err.contains("this run would need about")
            && err.contains("(1000000000 nodes, 10000000000 pods, 0 gossip members)")
            && err.contains("--force"),
        "{err}"
    );
}

#[test]
fn the_event_budget_stops_a_run_with_a_summary_marked_truncated() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-budget-{}", std::process::id()));
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_dir_all(&dir);
        let mut args = vec![
            "run",
            "scenarios/grafana-2019-preemption.yaml",
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = cascade(&args);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        (code, out, err, summary)
    };
    let (_, _, err, full) = run(&[]);
    assert!(full.get("truncated").is_none(), "{err}");
    let junit = dir.with_extension("junit.xml");
    let (code, out, err, cut) = run(&[
        "--set",
        "maxEvents=100",
        "--junit",
        junit.to_str().unwrap(),
        "--format",
        "github",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(cut["truncated"], true);
    assert_eq!(cut["events_processed"], 100);
    assert!(
        cut["simulated_seconds"].as_f64().unwrap() < full["simulated_seconds"].as_f64().unwrap()
    );
    assert!(
        out.starts_with("TRUNCATED: the run reached parameters.maxEvents"),
        "{out}"
    );
    // CI sees it too: a JUnit error and an annotation, and the report says so.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("errors=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"run complete\"") && xml.contains("type=\"truncated\""),
        "{xml}"
    );
    assert!(
        out.contains(
            "::error file=scenarios/grafana-2019-preemption.yaml,line=1,col=1,title=truncated::"
        ),
        "{out}"
    );
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("Truncated: the run reached parameters.maxEvents"));
    let _ = std::fs::remove_file(&junit);
    let _ = std::fs::remove_dir_all(&dir);
}
