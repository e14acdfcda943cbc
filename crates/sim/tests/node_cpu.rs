//! Node CPU against the kubelet's and the kernel's documented behaviour
//! (docs/kubernetes.md#node-cpu), on one 4-core node: CPU-hungry BestEffort pods saturate it
//! and its kubelet starts a new pod measurably later; CPU limits (CFS quota) hold the same
//! pods to their limit, so the node is not saturated and the kubelet is not slowed.

use std::path::PathBuf;

mod common;

fn scenario(name: &str, files: &[(&str, &str)]) -> PathBuf {
    common::scenario("cpu", name, files)
}

/// Two `hog` replicas, each with `hog_resources`, and a `web` Deployment at 0 replicas that
/// a change scales to 1 at 5 minutes (500m requested: Burstable).
fn workloads(hog_resources: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: hog}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: hog}}}}\n  template:\n    metadata: {{labels: {{app: hog}}}}\n    spec:\n      containers: [{{name: c, image: x, resources: {hog_resources}}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: c, image: x, resources: {{requests: {{cpu: 500m, memory: 256Mi}}}}}}]\n"
    )
}

/// The hogs ask for `usage` cores each.
fn scenario_text(cpu: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 10m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: 1, allocatable: {{cpu: \"4\", memory: 16Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {{matchLabels: {{app: hog}}}}\n    cpu: {cpu}\n  changes:\n  - at: 5m\n    scale: {{kind: Deployment, name: web, replicas: 1}}\n"
    )
}

fn time_of(line: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["t"].as_f64().unwrap()
}

/// When the web pod was scheduled, started and became Ready (its first ReplicaSet sync
/// after the change), from the event log.
fn web_start(log: &[String]) -> (f64, f64) {
    let at = |kind: &str| {
        log.iter()
            .find(|l| l.contains(&format!("\"{kind}\"")) && l.contains("pod/default/web-"))
            .map(|l| time_of(l))
            .unwrap_or_else(|| panic!("no {kind} for web in {log:#?}"))
    };
    (at("Scheduled"), at("Started"))
}

/// The last value of a metrics.csv column.
fn last(csv: &str, column: &str) -> f64 {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|c| *c == column).unwrap();
    let row = lines.last().unwrap();
    row.split(',').nth(i).unwrap().parse().unwrap()
}

#[test]
fn besteffort_hogs_saturate_the_node_and_slow_its_kubelet() {
    let path = scenario(
        "saturated",
        &[
            ("scenario.yaml", &scenario_text("{usage: \"3\"}")),
            ("workloads.yaml", &workloads("{}")),
        ],
    );
    let r = common::run(&path, None, &[], None);
    // Demand 2 x 3 = 6 cores on 4: pressure 1.5 before web starts.
    assert!((r.summary.peaks["node_cpu_pressure_max"] - 1.625).abs() < 1e-9);
    assert_eq!(r.summary.peaks["nodes_cpu_saturated"], 1.0);
    // The image pull and container start (5 s + 2 s) stretched by 1 + (1.5 - 1) = 1.5.
    let (scheduled, started) = web_start(&r.events);
    assert!(
        ((started - scheduled) - 10.5).abs() < 1e-3,
        "{scheduled} -> {started}"
    );
    assert!(r.summary.totals["kubelet_operations_cpu_delayed"] >= 2);
    // cpu.shares: web (Burstable, 500m requested: 512 shares) gets its 0.5 core; the
    // besteffort group (2 shares) the 3.5 left, below the hogs' 6: both starved, web not.
    assert_eq!(last(&r.metrics_csv, "containers_cpu_starved"), 2.0);
    assert_eq!(last(&r.metrics_csv, "nodes_cpu_saturated"), 1.0);
    // No limits, no quota: nothing is throttled.
    assert_eq!(
        r.summary.totals.get("container_cpu_cfs_throttled_periods"),
        None
    );
    // A smaller slowdown factor stretches less: 1 + 0.2 x 0.5 = 1.1.
    let r = common::run(
        &path,
        None,
        &[("kubelet.cpu.saturationSlowdown", "0.2")],
        None,
    );
    let (scheduled, started) = web_start(&r.events);
    assert!(((started - scheduled) - 7.7).abs() < 1e-3);
}

#[test]
fn cpu_limits_throttle_the_hogs_and_keep_the_kubelet_on_time() {
    let path = scenario(
        "limited",
        &[
            ("scenario.yaml", &scenario_text("{usage: \"3\"}")),
            ("workloads.yaml", &workloads("{limits: {cpu: \"1\"}}")),
        ],
    );
    let r = common::run(&path, None, &[], None);
    // Each hog held at its 1-core quota: 2 + 0.5 on 4 cores.
    assert!((r.summary.peaks["node_cpu_pressure_max"] - 2.5 / 4.0).abs() < 1e-9);
    assert_eq!(r.summary.peaks["nodes_cpu_saturated"], 0.0);
    let (scheduled, started) = web_start(&r.events);
    assert!(((started - scheduled) - 7.0).abs() < 1e-3);
    assert_eq!(r.summary.totals.get("kubelet_operations_cpu_delayed"), None);
    // Both hogs throttled in every 100 ms period they run: the ratio is 1, and the periods
    // are 10 a second per hog for the time they ran (started a few seconds into the run).
    assert_eq!(last(&r.metrics_csv, "containers_cpu_throttled"), 2.0);
    assert_eq!(last(&r.metrics_csv, "cpu_cfs_throttled_ratio"), 1.0);
    let periods = r.summary.totals["container_cpu_cfs_periods"] as f64;
    let throttled = r.summary.totals["container_cpu_cfs_throttled_periods"] as f64;
    assert!((throttled - periods).abs() <= 1.0);
    assert!((11_000.0..=12_000.0).contains(&periods), "{periods}");
}

#[test]
fn spikes_above_the_limit_are_throttled_for_their_share_of_time() {
    // 200m steadily, 3 cores for the first 6 s of each minute, under a 1-core limit: a tenth
    // of the periods are throttled.
    let path = scenario(
        "spikes",
        &[
            (
                "scenario.yaml",
                &scenario_text(
                    "{usage: 200m, spike: {usage: \"3\", periodSeconds: 60, durationSeconds: 6}}",
                ),
            ),
            ("workloads.yaml", &workloads("{limits: {cpu: \"1\"}}")),
        ],
    );
    let r = common::run(&path, None, &[], None);
    let periods = r.summary.totals["container_cpu_cfs_periods"] as f64;
    let throttled = r.summary.totals["container_cpu_cfs_throttled_periods"] as f64;
    let ratio = throttled / periods;
    assert!((0.09..=0.11).contains(&ratio), "{throttled} / {periods}");
    assert_eq!(r.summary.peaks["nodes_cpu_saturated"], 0.0);
}

#[test]
fn bad_cpu_input_is_an_error_where_it_was_written() {
    let cases = [
        ("{usage: \"-2\"}", "expected cores not below 0"),
        ("{usage: 1, burst: 2}", "unknown field `burst`"),
        (
            "{usage: 1, spike: {usage: 2, periodSeconds: 10, durationSeconds: 20}}",
            "durationSeconds = 20: expected at most periodSeconds (10)",
        ),
        (
            "{usage: 1, spike: {usage: 2, periodSeconds: 0, durationSeconds: 0}}",
            "periodSeconds = 0: expected a number greater than 0",
        ),
    ];
    for (i, (cpu, want)) in cases.iter().enumerate() {
        let path = scenario(
            &format!("bad{i}"),
            &[
                ("scenario.yaml", &scenario_text(cpu)),
                ("workloads.yaml", &workloads("{}")),
            ],
        );
        let Err(e) = cascade_sim::load(&path, None, &[], None) else {
            panic!("{cpu}: loaded");
        };
        let e = e.to_string();
        assert!(e.contains(want), "{cpu}: {e}");
        // Located: the behaviour is on line 12 of the scenario.
        assert!(e.contains("scenario.yaml:12:"), "{cpu}: {e}");
    }
    // A CFS period the kubelet would refuse, in a --set.
    let path = scenario(
        "badset",
        &[
            ("scenario.yaml", &scenario_text("{usage: 1}")),
            ("workloads.yaml", &workloads("{}")),
        ],
    );
    let sets = [(
        "kubelet.cpu.cfsQuotaPeriodSeconds".to_string(),
        "2".to_string(),
    )];
    let Err(e) = cascade_sim::load(&path, None, &sets, None) else {
        panic!("loaded");
    };
    let e = e.to_string();
    assert!(e.contains("--set:1:"), "{e}");
    assert!(e.contains("expected from 0.001 (1ms) to 1 (1s)"), "{e}");
}

#[test]
fn without_cpu_behaviours_there_are_no_cpu_columns() {
    let path = scenario(
        "none",
        &[
            (
                "scenario.yaml",
                &scenario_text("{usage: 1}").replace(
                    "  behaviours:\n  - selector: {matchLabels: {app: hog}}\n    cpu: {usage: 1}\n",
                    "",
                ),
            ),
            ("workloads.yaml", &workloads("{}")),
        ],
    );
    let r = common::run(&path, None, &[], None);
    assert!(!r.metrics_csv.lines().next().unwrap().contains("cpu"));
    assert!(!r.summary.peaks.contains_key("node_cpu_pressure_max"));
    // And the kubelet is not slowed: 5 s + 2 s.
    let (scheduled, started) = web_start(&r.events);
    assert!(((started - scheduled) - 7.0).abs() < 1e-3);
}

#[test]
fn the_cpu_names_are_known_before_the_run() {
    let path = scenario(
        "names",
        &[
            ("scenario.yaml", &scenario_text("{usage: \"3\"}")),
            ("workloads.yaml", &workloads("{limits: {cpu: \"1\"}}")),
        ],
    );
    let sc = cascade_sim::load(&path, None, &[], None).unwrap_or_else(|e| panic!("{e}"));
    let names = cascade_sim::MetricNames::of(&sc.params, false, false)
        .unwrap()
        .with_cpu(true);
    let r = common::run(&path, None, &[], None);
    for k in r.summary.totals.keys() {
        assert!(names.totals.contains(k), "totals.{k}");
    }
    for k in r.summary.peaks.keys() {
        assert!(names.peaks.contains(k), "peaks.{k}");
    }
    for c in r.metrics_csv.lines().next().unwrap().split(',').skip(1) {
        assert!(names.columns.contains(c), "column {c}");
    }
    assert!(r
        .summary
        .totals
        .contains_key("container_cpu_cfs_throttled_periods"));
}
