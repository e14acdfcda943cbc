//! The kubelets' node status as API requests (docs/control-plane-and-nodes.md#node-status-in-the-run):
//! every node computes its status every 10 s and PATCHes `nodes/status` when it changed or
//! 5 minutes after its last report, and a changed condition reaches the scheduler only when
//! the API server takes that PATCH.

use std::path::PathBuf;

mod common;

fn scenario(name: &str, files: &[(&str, &str)]) -> PathBuf {
    common::scenario("node-status", name, files)
}

/// The value of metrics.csv column `name` in every row, as (t, value).
fn column(csv: &str, name: &str) -> Vec<(f64, f64)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|c| *c == name).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|r| (r[0].parse().unwrap(), r[col].parse().unwrap()))
        .collect()
}

fn times(log: &[String], kind: &str) -> Vec<f64> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .collect()
}

#[test]
fn an_idle_cluster_reports_each_nodes_status_every_five_minutes() {
    // 200 idle nodes for an hour: nothing changes, so each kubelet PATCHes its status only at
    // the report period, 3600 / 300 = 12 times (its first report falls in the first period,
    // spread over it; one whose first report lands in [300 s, 310 s) makes 11). Its Lease goes
    // every 10 s: 360 renewals. Every request is one of the two.
    let n = 200u64;
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 1h\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: {n}, allocatable: {{cpu: \"4\", memory: 16Gi, pods: \"110\"}}}}\n"
    );
    let path = scenario("idle", &[("scenario.yaml", &sc)]);
    let r = common::run(&path, None, &[], None);
    let patches = r.summary.totals["node_status_patches"];
    assert!(
        (12 * n - n / 20..=12 * n).contains(&patches),
        "{patches} PATCHes for {n} nodes"
    );
    let requests = column(&r.metrics_csv, "apiserver_requests_total");
    let (t, total) = *requests.last().unwrap();
    assert_eq!(t, 3600.0);
    assert_eq!(total, (360 * n + patches) as f64);
    // With a report period of 10 minutes, half as many.
    let r = common::run(
        &path,
        None,
        &[("nodeLifecycle.nodeStatusReportFrequencySeconds", "600")],
        None,
    );
    let half = r.summary.totals["node_status_patches"];
    assert!((6 * n - n / 20..=6 * n).contains(&half), "{half}");
}

/// A Guaranteed 1Gi database and a BestEffort leaking worker on one 4Gi node: the kubelet's
/// eviction manager sets MemoryPressure at about 11 minutes.
const WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: leak}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: leak}}\n  template:\n    metadata: {labels: {app: leak}}\n    spec:\n      containers: [{name: c, image: x}]\n";

fn leak_scenario(faults: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 20m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: 1, allocatable: {{cpu: \"4\", memory: 4Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {{matchLabels: {{app: leak}}}}\n    memory: {{start: 256Mi, growthPerMinute: 256Mi}}\n{faults}"
    )
}

#[test]
fn memory_pressure_reaches_the_scheduler_only_when_the_api_server_takes_the_status() {
    // Healthy: the condition the server holds follows the kubelet's within one status period.
    let path = scenario(
        "healthy",
        &[
            ("scenario.yaml", &leak_scenario("")),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let r = common::run(&path, None, &[], None);
    let kubelet = times(&r.events, "NodeHasInsufficientMemory")[0];
    let held = column(&r.metrics_csv, "nodes_memory_pressure");
    let first_held = held.iter().find(|(_, v)| *v == 1.0).unwrap().0;
    assert!(first_held >= kubelet, "{first_held} vs {kubelet}");
    // Within one status period of 10 s, plus the 10 s between samples.
    assert!(first_held <= kubelet + 20.0, "{first_held} vs {kubelet}");

    // The server down from 10 to 14 minutes: the kubelet's PATCH is refused until it serves,
    // so the condition is not held (and the node not tainted for it) until it serves again.
    let faults = "  faults:\n  - {at: 10m, duration: 4m, apiServerDown: true}\n";
    let path = scenario(
        "down",
        &[
            ("scenario.yaml", &leak_scenario(faults)),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let r = common::run(&path, None, &[], None);
    let kubelet = times(&r.events, "NodeHasInsufficientMemory")[0];
    let serving = times(&r.events, "APIServerServing");
    let serving = *serving.iter().find(|t| **t > 600.0).unwrap();
    assert!(
        (600.0..serving).contains(&kubelet),
        "the kubelet sees pressure during the outage: {kubelet} vs {serving}"
    );
    let held = column(&r.metrics_csv, "nodes_memory_pressure");
    for (t, v) in &held {
        if *t < serving {
            assert_eq!(
                *v, 0.0,
                "held at {t}, before the server serves at {serving}"
            );
        }
    }
    let first_held = held.iter().find(|(_, v)| *v == 1.0).unwrap().0;
    assert!(
        first_held <= serving + 20.0,
        "{first_held} vs {serving}: the next status update after the server serves"
    );
    assert!(r.summary.totals["node_status_patches"] >= 2);
}
