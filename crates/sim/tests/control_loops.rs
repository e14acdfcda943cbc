//! The control loops against Kubernetes' documented behaviour, on small scenarios.

use cascade_sim::{output, Simulation};
use std::path::PathBuf;

mod common;

fn scenario(name: &str, files: &[(&str, &str)]) -> PathBuf {
    common::scenario("test", name, files)
}

fn run(path: &std::path::Path, sets: &[(&str, &str)]) -> (output::Summary, Vec<String>) {
    let r = common::run(path, None, sets, None);
    (r.summary, r.events)
}

const NODES: &str = r#"
  cluster:
    nodeGroups:
    - {namePrefix: n, count: 3, zones: [a, b], allocatable: {cpu: "4", memory: 16Gi, pods: "110"}}
    manifests: [workloads.yaml]
"#;

fn deployment(name: &str, replicas: u32, cpu: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 30\n      containers: [{{name: c, image: x, resources: {{requests: {{cpu: \"{cpu}\"}}}}}}]\n"
    )
}

#[test]
fn replicaset_keeps_its_replicas_when_pods_are_deleted() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 10m\n{NODES}  changes:\n  - at: 2m\n    delete: [{{kind: Node, name: n-0}}]\n  - at: 5m\n    scale: {{kind: Deployment, namespace: default, name: web, replicas: 2}}\n"
    );
    let path = scenario(
        "rs",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 4, "500m")),
        ],
    );
    let (s, log) = run(&path, &[]);
    // 4 at start; the pods on the deleted node are replaced; scaling to 2 deletes 2.
    let on_n0 = log
        .iter()
        .filter(|l| l.contains("\"Scheduled\"") && l.contains("to n-0\""))
        .count();
    assert!(on_n0 >= 1, "some pod ran on n-0");
    assert_eq!(s.totals["pods_created"], 4 + on_n0 as u64);
    assert_eq!(s.totals["pods_deleted"], on_n0 as u64 + 2);
}

#[test]
fn graceful_termination_lasts_min_of_shutdown_and_grace_period() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 10m\n{NODES}  behaviours:\n  - selector: {{matchLabels: {{app: web}}}}\n    shutdownSeconds: 120\n  changes:\n  - at: 1m\n    scale: {{kind: Deployment, namespace: default, name: web, replicas: 0}}\n"
    );
    let path = scenario(
        "grace",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 1, "1")),
        ],
    );
    let (_, log) = run(&path, &[]);
    let deleted: Vec<&String> = log.iter().filter(|l| l.contains("\"Deleted\"")).collect();
    assert_eq!(deleted.len(), 1);
    // Scale-down at 60 s (+0.1 s controller sync); the grace period (30 s) caps the 120 s shutdown.
    assert!(deleted[0].starts_with("{\"t\":90.100,"), "{}", deleted[0]);
}

#[test]
fn statefulset_ordered_ready_creates_one_at_a_time_with_stable_names() {
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]}\n";
    let sc = format!("apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 5m\n{NODES}");
    let path = scenario("sts", &[("scenario.yaml", &sc), ("workloads.yaml", sts)]);
    let (_, log) = run(&path, &[]);
    let created: Vec<(f64, String)> = log
        .iter()
        .filter(|l| l.contains("\"Created\""))
        .map(|l| {
            let t: f64 = l[5..l.find(',').unwrap()].parse().unwrap();
            let name = l
                .split("pod/default/")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            (t, name)
        })
        .collect();
    let names: Vec<&str> = created.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    // Each waits for the previous to be running and ready (7 s start + 5 s readiness).
    assert!(
        created[1].0 >= created[0].0 + 12.0 && created[2].0 >= created[1].0 + 12.0,
        "{created:?}"
    );
}

#[test]
fn daemonset_runs_one_pod_per_node_including_added_nodes() {
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]}\n";
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 5m\n{NODES}  changes:\n  - at: 1m\n    addNodes: {{namePrefix: n, count: 2, allocatable: {{cpu: \"4\", memory: 16Gi, pods: \"110\"}}}}\n"
    );
    let path = scenario("ds", &[("scenario.yaml", &sc), ("workloads.yaml", ds)]);
    let (s, log) = run(&path, &[]);
    assert_eq!(s.totals["pods_created"], 5);
    for n in ["n-0", "n-1", "n-2", "n-3", "n-4"] {
        let on = log
            .iter()
            .filter(|l| l.contains("\"Scheduled\"") && l.contains(&format!("to {n}\"")))
            .count();
        assert_eq!(on, 1, "{n}");
    }
}

#[test]
fn unschedulable_pods_back_off_and_run_when_room_appears() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 10m\n{NODES}  changes:\n  - at: 3m\n    addNodes: {{namePrefix: big, count: 1, allocatable: {{cpu: \"16\", memory: 64Gi, pods: \"110\"}}}}\n"
    );
    let path = scenario(
        "backoff",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("huge", 1, "8")),
        ],
    );
    let (s, log) = run(&path, &[]);
    assert_eq!(s.totals["pods_scheduled"], 1);
    let scheduled = log.iter().find(|l| l.contains("\"Scheduled\"")).unwrap();
    // The node-added event moves the pod out of the unschedulable pool at once.
    assert!(scheduled.starts_with("{\"t\":180.0"), "{scheduled}");
    assert!(log
        .iter()
        .any(|l| l.contains("\"FailedScheduling\"") && l.contains("3 Insufficient cpu")));
}

#[test]
fn unknown_parameter_is_an_error() {
    let sc = format!("apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 1m\n{NODES}");
    let path = scenario(
        "param",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 1, "1")),
        ],
    );
    let err = cascade_sim::load(
        &path,
        None,
        &[("kubelet.imagePul".into(), "3".into())],
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("unknown field `imagePul`"), "{err}");
}

fn times(log: &[String], kind: &str) -> Vec<f64> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .collect()
}

fn lifecycle_scenario(nodes: usize, zones: &str, faults: &str, replicas: u32) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 30m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: {nodes}, zones: [{zones}], allocatable: {{cpu: \"8\", memory: 32Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  faults:\n{faults}",
    )
    .replace("REPLICAS", &replicas.to_string())
}

#[test]
fn lost_node_goes_not_ready_after_grace_and_its_pods_are_evicted_after_toleration() {
    let sc = lifecycle_scenario(3, "a", "  - {at: 60s, nodeDown: n-0}\n", 6);
    let path = scenario(
        "nodedown",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s, log) = run(&path, &[]);
    let not_ready = times(&log, "NodeNotReady");
    assert_eq!(not_ready.len(), 1);
    // Last heartbeat at 60 s (10 s status period), grace 50 s, checked every 5 s.
    assert!((110.0..=115.0).contains(&not_ready[0]), "{not_ready:?}");
    let evicted = times(&log, "TaintManagerEviction");
    assert_eq!(evicted.len() as u64, s.totals["pods_evicted"]);
    assert!(!evicted.is_empty());
    // DefaultTolerationSeconds: 300 s after the NoExecute taint.
    for t in &evicted {
        assert!(
            (not_ready[0] + 300.0..=not_ready[0] + 306.0).contains(t),
            "{t} vs {not_ready:?}"
        );
    }
    // Their replacements run elsewhere: 6 pods scheduled at start plus one per eviction.
    assert_eq!(s.totals["pods_scheduled"], 6 + evicted.len() as u64);
    assert_eq!(s.totals["node_not_ready_transitions"], 1);
    assert_eq!(s.peaks["nodes_not_ready"], 1.0);
}

#[test]
fn node_that_returns_before_the_toleration_keeps_its_pods() {
    let sc = lifecycle_scenario(3, "a", "  - {at: 60s, duration: 3m, nodeDown: n-0}\n", 6);
    let path = scenario(
        "noderestart",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s, log) = run(&path, &[]);
    assert_eq!(times(&log, "NodeNotReady").len(), 1);
    assert_eq!(times(&log, "NodeReady").len(), 1);
    assert_eq!(s.totals["pods_evicted"], 0);
}

#[test]
fn eviction_is_rate_limited_per_zone() {
    // 10 of 30 nodes in one zone fail: Normal state, 0.1 nodes/s: NoExecute taints 10 s apart.
    let faults: String = (0..10)
        .map(|i| format!("  - {{at: 60s, nodeDown: n-{}}}\n", i * 3))
        .collect();
    let sc = lifecycle_scenario(30, "a, b, c", &faults, 30);
    let path = scenario(
        "ratelimit",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 30, "1")),
        ],
    );
    let (_, log) = run(&path, &[]);
    let evicted = times(&log, "TaintManagerEviction");
    let mut distinct = evicted.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{evicted:?}");
    // The zone's limiter releases one NoExecute taint per 10 s pass; each takes effect when
    // the API server answers it. The first waits a few milliseconds more: it is sent in the
    // pass that saw the ten nodes NotReady, behind their ten NoSchedule taints and the
    // MarkPodsNotReady status updates of their pods (more requests than the server's 8 CPUs,
    // so its service is stretched), e.g. [410.013, 420.0, 430.0, ...].
    for w in distinct.windows(2) {
        assert!(w[1] - w[0] >= 9.95, "{distinct:?}");
    }
    assert!(distinct[9] - distinct[0] >= 89.95, "{distinct:?}");
}

#[test]
fn all_zones_down_means_no_evictions_and_small_partial_zone_stops_too() {
    let sc = lifecycle_scenario(
        4,
        "a, b",
        "  - {at: 60s, zoneDown: a}\n  - {at: 60s, zoneDown: b}\n",
        4,
    );
    let path = scenario(
        "alldown",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 4, "1")),
        ],
    );
    let (s, _) = run(&path, &[]);
    assert_eq!(s.totals["node_not_ready_transitions"], 4);
    assert_eq!(s.totals["pods_evicted"], 0);

    // 3 of 4 nodes of one zone (75% >= 55%, more than 2): PartialDisruption, and the zone is
    // below largeClusterSizeThreshold: no evictions there.
    let faults = "  - {at: 60s, nodeDown: n-0}\n  - {at: 60s, nodeDown: n-2}\n  - {at: 60s, nodeDown: n-4}\n";
    let sc = lifecycle_scenario(8, "a, b", faults, 8);
    let path = scenario(
        "partial",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 8, "1")),
        ],
    );
    let (s, _) = run(&path, &[]);
    assert_eq!(s.totals["node_not_ready_transitions"], 3);
    assert_eq!(s.totals["pods_evicted"], 0);
    // With a threshold below the zone's size, the secondary rate applies: evictions resume.
    let (s, _) = run(
        &path,
        &[
            ("nodeLifecycle.largeClusterSizeThreshold", "2"),
            ("nodeLifecycle.secondaryNodeEvictionRate", "1"),
        ],
    );
    assert!(s.totals["pods_evicted"] > 0);
}

#[test]
fn autoscaler_adds_nodes_for_pending_pods_up_to_max_and_removes_empty_ones() {
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 60m\n  cluster:\n    nodeGroups:\n    - {namePrefix: pool, count: 1, minSize: 1, maxSize: 5, allocatable: {cpu: \"4\", memory: 16Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  changes:\n  - at: 20m\n    scale: {kind: Deployment, namespace: default, name: web, replicas: 0}\n";
    let path = scenario(
        "ca",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &deployment("web", 6, "3")),
        ],
    );
    let (s, log) = run(&path, &[]);
    let ups = times(&log, "TriggeredScaleUp");
    assert_eq!(ups.len(), 1, "{ups:?}");
    // First scan at 10 s; four nodes (maxSize 5) for six 3-CPU pods on 4-CPU nodes.
    assert!(
        log.iter()
            .any(|l| l.contains("4 node(s) for 4 pending pod(s)")),
        "{log:?}"
    );
    let added = times(&log, "NodeAdded");
    assert_eq!(added.len(), 5);
    assert!(
        added[1..]
            .iter()
            .all(|t| (*t - (ups[0] + 120.0)).abs() < 0.01),
        "{added:?}"
    );
    assert_eq!(s.totals["pods_scheduled"], 5);
    // After the scale-down to 0 replicas, empty nodes go after 10 minutes, down to minSize.
    let removed = times(&log, "ScaleDown");
    assert_eq!(removed.len(), 4, "{removed:?}");
    assert!(
        removed.iter().all(|t| *t >= 1800.0 && *t <= 1800.0 + 15.0),
        "{removed:?}"
    );
}

#[test]
fn memory_growth_past_the_limit_is_oom_killed_and_restarted_with_crash_loop_backoff() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 20m\n{NODES}  behaviours:\n  - selector: {{matchLabels: {{app: leaky}}}}\n    startupSeconds: 0\n    memory: {{start: 256Mi, growthPerMinute: 256Mi}}\n"
    );
    let w = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: leaky}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: leaky}}\n  template:\n    metadata: {labels: {app: leaky}}\n    spec: {containers: [{name: c, image: x, resources: {requests: {memory: 256Mi}, limits: {memory: 1Gi}}}]}\n";
    let path = scenario("oom", &[("scenario.yaml", &sc), ("workloads.yaml", w)]);
    // A freshly started pod and v1.32's pod worker (restart at the back-off's end exactly).
    let exact = [
        ("kubelet.initialPodAgeMaxSeconds", "0"),
        ("kubelet.podWorkerRetrySeconds", "0"),
    ];
    let (s, log) = run(&path, &exact);
    let starts = times(&log, "Started");
    let ooms = times(&log, "OOMKilled");
    assert!(ooms.len() >= 4, "{ooms:?}");
    assert_eq!(s.totals["pods_oom_killed"], ooms.len() as u64);
    // Each run lasts 3 minutes (256Mi -> 1Gi at 256Mi/min).
    for (i, w) in ooms.iter().zip(&starts).enumerate() {
        assert!(
            (w.0 - w.1 - 180.0).abs() < 0.01,
            "run {i}: started {} killed {}",
            w.1,
            w.0
        );
    }
    // The first exit has no back-off entry and restarts at once; then 10 s, 20 s, ...
    // (docs/kubernetes.md#crashloopbackoff).
    let expected = |i: usize| match i {
        0 => 0.0,
        _ => 10.0 * 2f64.powi(i32::try_from(i - 1).unwrap()),
    };
    for i in 0..3 {
        let backoff = starts[i + 1] - ooms[i];
        assert!((backoff - expected(i)).abs() < 0.01, "{i}: {backoff}");
    }
    // The pre-1.32 pod worker (the default) restarts at its first retry after the back-off:
    // never early, at most one longest retry (15 s) late.
    let (_, log) = run(&path, &[("kubelet.initialPodAgeMaxSeconds", "0")]);
    let starts = times(&log, "Started");
    let ooms = times(&log, "OOMKilled");
    for i in 0..3 {
        let late = starts[i + 1] - ooms[i] - expected(i);
        let bound = if i == 0 { 0.01 } else { 15.0 };
        assert!((-0.01..bound).contains(&late), "{i}: {late}");
    }
}

#[test]
fn workload_groups_generate_deployments_of_one_shape() {
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 5m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 4, allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    workloadGroups:\n    - namePrefix: app\n      count: 20\n      replicas: 3\n      namespace: dev\n      labels: {tier: web}\n      containers:\n      - {name: app, requests: {cpu: 100m, memory: 128Mi}}\n      - {name: log-shipper, requests: {cpu: 50m}, limits: {memory: 64Mi}}\n";
    let path = scenario("wg", &[("scenario.yaml", sc)]);
    let (s, log) = run(&path, &[]);
    assert_eq!(s.totals["pods_created"], 60);
    assert_eq!(s.totals["pods_scheduled"], 60);
    assert!(log.iter().any(|l| l.contains("pod/dev/app-0019-")));
}

#[test]
fn a_toleration_without_seconds_does_not_outweigh_one_with_seconds() {
    // getMinTolerationTime: nil tolerationSeconds are skipped unless all are nil. A pod that
    // tolerates everything forever but also has the default 300 s unreachable toleration is
    // evicted after 300 s; one whose only matching toleration is forever stays.
    let forever_and_default = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      nodeName: n-0\n      tolerations:\n      - {operator: Exists, effect: NoExecute}\n      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}\n      containers: [{name: c, image: x, resources: {requests: {cpu: \"1\"}}}]\n";
    let sc = lifecycle_scenario(2, "a", "  - {at: 60s, nodeDown: n-0}\n", 1);
    let path = scenario(
        "mintoleration",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", forever_and_default),
        ],
    );
    let (s, _) = run(&path, &[]);
    assert_eq!(s.totals["pods_evicted"], 1);
    let forever_only = forever_and_default.replace(
        "      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}\n",
        "",
    );
    let path = scenario(
        "forever",
        &[("scenario.yaml", &sc), ("workloads.yaml", &forever_only)],
    );
    let (s, _) = run(&path, &[]);
    assert_eq!(s.totals["pods_evicted"], 0);
}

#[test]
fn an_eviction_timer_from_an_earlier_taint_is_ignored() {
    // Down at 60 s (tainted ~115 s, eviction due ~415 s), back at 200 s (taint removed), down
    // again at 250 s (tainted ~305 s, eviction due ~605 s): nothing may go at 415 s.
    let faults = "  - {at: 60s, duration: 140s, nodeDown: n-0}\n  - {at: 250s, nodeDown: n-0}\n";
    let sc = lifecycle_scenario(3, "a", faults, 6);
    let path = scenario(
        "staleevict",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (_, log) = run(&path, &[]);
    let not_ready = times(&log, "NodeNotReady");
    assert_eq!(not_ready.len(), 2, "{not_ready:?}");
    let evicted = times(&log, "TaintManagerEviction");
    assert!(!evicted.is_empty());
    for t in &evicted {
        assert!(*t >= not_ready[1] + 300.0, "{t} vs {not_ready:?}");
    }
}

#[test]
fn pods_on_a_not_ready_node_are_marked_not_ready() {
    // MarkPodsNotReady: once the node is NotReady its pods' Ready condition is false (so
    // controllers count them unavailable and Services drop them), long before eviction.
    let sc = lifecycle_scenario(3, "a", "  - {at: 60s, nodeDown: n-0}\n", 6);
    let path = scenario(
        "markunready",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let sc = cascade_sim::load(&path, None, &[], None).unwrap();
    let mut sim = Simulation::new(&sc).unwrap();
    sim.run(|_| {});
    let ready = csv_column(&output::metrics_csv(&sim.metrics), "pods_ready");
    let ready_at = |t: f64| -> f64 { ready.iter().find(|(at, _)| *at == t).unwrap().1 };
    let on_n0 = sim
        .log
        .iter()
        .filter(|l| l.kind == "Scheduled" && l.message.ends_with("to n-0"))
        .count() as f64;
    assert!(on_n0 > 0.0);
    assert_eq!(ready_at(100.0), 6.0);
    // NotReady at about 115 s; evictions only from about 415 s.
    assert_eq!(ready_at(200.0), 6.0 - on_n0);
}

#[test]
fn a_pdb_added_before_its_pods_exist_expects_the_owners_scale() {
    // The PDB (minAvailable 100%) is applied at time 0 with its Deployment, before the
    // controller creates the pod: desiredHealthy must come from the Deployment's 1 replica,
    // not from the 0 pods there were when it was added. Then preempting the covered pod
    // violates the budget, and kube-scheduler picks the node whose victim violates none, even
    // though the later tie-breaker (latest start time) prefers the other node.
    let pdb = "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 100%\n  selector: {matchLabels: {app: web}}\n";
    let workloads = format!(
        "{}{}{pdb}",
        deployment("other", 1, "1"),
        deployment("web", 1, "1")
    );
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 5m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a], allocatable: {cpu: \"1\", memory: 16Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  changes:\n  - at: 2m\n    apply: [urgent.yaml]\n";
    let urgent = "---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: urgent}\nvalue: 1000\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  priorityClassName: urgent\n  containers: [{name: c, image: x, resources: {requests: {cpu: \"1\"}}}]\n";
    let path = scenario(
        "pdbexpected",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &workloads),
            ("urgent.yaml", urgent),
        ],
    );
    let (_, log) = run(&path, &[]);
    let preempted: Vec<&String> = log.iter().filter(|l| l.contains("\"Preempted\"")).collect();
    assert_eq!(preempted.len(), 1, "{preempted:?}");
    assert!(preempted[0].contains("pod/default/other-"), "{preempted:?}");
}

#[test]
fn a_flapping_dependency_alternates_and_its_clients_see_it() {
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 20m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a], allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  services:\n    kafka: {selector: {matchLabels: {app: kafka}}, workersPerReplica: 16, serviceSeconds: 0.005}\n  clients:\n    shipper: {target: kafka, ratePerSecond: 20, maxRetries: 0}\n  faults:\n  - {at: 5m, duration: 10m, serviceDown: kafka, flapping: {up: 30s, down: 90s}}\n";
    let path = scenario(
        "flapping",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &deployment("kafka", 2, "1")),
        ],
    );
    let (s, _) = run(&path, &[]);
    // Down at 5m, up at 6m30s, down at 7m, ... : 600 s / 120 s = 5 down phases, then up at
    // the end of the fault.
    assert_eq!(s.totals["dependency_down"], 5);
    assert_eq!(s.totals["dependency_up"], 5);
    // About three quarters of the fault's 600 s refused, at 20 calls/s.
    let refused = s.totals["kafka_unavailable"] as f64;
    assert!((8000.0..10000.0).contains(&refused), "{refused}");
    // The success ratio counts the refusals as failures (20 calls/s over 1,200 s); every
    // call that reaches a replica is served.
    let ok = s.ratios["kafka_success_ratio"];
    let reached = 1.0 - refused / (20.0 * 1200.0);
    assert!(
        (ok - reached).abs() < 0.01,
        "what reaches kafka is served: {ok} against {reached}"
    );
}

#[test]
fn a_partitioned_node_goes_not_ready_but_its_processes_keep_running() {
    let faults = "  - {at: 60s, duration: 20m, partition: {nodes: [n-0]}}\n";
    let sc = lifecycle_scenario(3, "a", faults, 6);
    let path = scenario(
        "partition",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s, log) = run(&path, &[]);
    assert_eq!(times(&log, "NodeNotReady").len(), 1);
    assert_eq!(times(&log, "NodeReady").len(), 1);
    // Evicted after the toleration, but only deleted once the partition heals (the kubelet
    // confirms), at 21 minutes.
    let evicted = times(&log, "TaintManagerEviction");
    assert!(!evicted.is_empty());
    let deleted_on_n0: Vec<f64> = times(&log, "Deleted");
    assert!(
        deleted_on_n0.iter().all(|t| *t >= 1260.0),
        "{deleted_on_n0:?}"
    );
    assert_eq!(
        s.totals["pods_evicted"],
        u64::try_from(evicted.len()).unwrap()
    );
}

/// 2 nodes, 40 pods (20 a node) each with a log shipper bound to kafka (retrying every second, 4 runtime
/// ops an attempt); Kafka, on its own small node in a third zone outside the storm, refuses
/// from 5 to 15 minutes.
fn sidecar_storm(name: &str, duration: &str) -> PathBuf {
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: DURATION\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a, b], allocatable: {cpu: \"32\", memory: 64Gi, pods: \"110\"}}\n    - {namePrefix: k, count: 1, zones: [c], allocatable: {cpu: \"200m\", memory: 1Gi, pods: \"110\"}, labels: {role: kafka}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {matchLabels: {app: web}}\n    sidecars:\n    - {target: kafka, backoff: {initialSeconds: 1, maxSeconds: 1, multiplier: 1}, opsPerAttempt: 4}\n  services:\n    kafka: {selector: {matchLabels: {app: kafka}}}\n  faults:\n  - {at: 5m, duration: 10m, serviceDown: kafka}\n"
        .replace("DURATION", duration);
    let kafka = deployment("kafka", 1, "100m").replace(
        "      terminationGracePeriodSeconds: 30\n",
        "      terminationGracePeriodSeconds: 30\n      nodeSelector: {role: kafka}\n",
    );
    assert!(kafka.contains("nodeSelector"));
    let workloads = format!("{}{kafka}", deployment("web", 40, "500m"));
    scenario(
        name,
        &[("scenario.yaml", &sc), ("workloads.yaml", &workloads)],
    )
}

#[test]
fn synchronised_sidecar_retries_overload_the_runtime_until_pleg_marks_nodes_not_ready() {
    // 2 nodes, 20 pods each with a log shipper bound to kafka. Kafka refuses for 10 minutes;
    // the shippers retry every second, unjittered, each attempt costing 4 runtime ops: 80
    // ops/s per node against a daemon that completes 50. The backlog grows 30 ops/s, so a
    // relist waits past the 3-minute PLEG threshold after ~6 minutes: the kubelets report
    // NotReady. Once Kafka is back the queue drains and the nodes are Ready again.
    let path = sidecar_storm("sidecars", "40m");
    let (s, log) = run(&path, &[]);
    let not_ready: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("\"NodeNotReady\""))
        .collect();
    assert!(!not_ready.is_empty());
    assert!(not_ready.iter().all(|l| l.contains("PLEG is not healthy")));
    let first = times(&log, "NodeNotReady")[0];
    assert!((600.0..=800.0).contains(&first), "NotReady at {first}");
    let ready = times(&log, "NodeReady");
    assert!(
        ready.iter().any(|t| *t > 900.0),
        "Ready again after Kafka: {ready:?}"
    );
    assert!(s.totals["sidecar_retries"] > 20_000);
    // Long enough NotReady for the taint manager: pods evicted and recreated (one zone of
    // three stays healthy, so the controller does not suspect itself).
    assert!(s.totals["pods_evicted"] > 0);
}

#[test]
fn jittered_capped_sidecar_backoff_keeps_the_runtime_healthy() {
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 40m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a, b], allocatable: {cpu: \"32\", memory: 64Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {matchLabels: {app: web}}\n    sidecars:\n    - {target: kafka, backoff: {initialSeconds: 1, maxSeconds: 30, multiplier: 2, jitter: full}, opsPerAttempt: 4}\n  services:\n    kafka: {selector: {matchLabels: {app: kafka}}}\n  faults:\n  - {at: 5m, duration: 10m, serviceDown: kafka}\n";
    let workloads = format!(
        "{}{}",
        deployment("web", 40, "500m"),
        deployment("kafka", 1, "100m")
    );
    let path = scenario(
        "sidecarsjitter",
        &[("scenario.yaml", sc), ("workloads.yaml", &workloads)],
    );
    let (s, _) = run(&path, &[]);
    assert_eq!(s.totals["node_not_ready_transitions"], 0);
    assert!(s.totals["sidecar_retries"] > 0);
}

#[test]
fn a_windowed_peak_is_the_largest_sample_of_its_column_in_the_window() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 20m\n{NODES}  faults:\n  - {{at: 2m, duration: 5m, nodeDown: n-0}}\n  parameters: {{sampleIntervalSeconds: 30}}\n  expectations:\n  - {{name: during, metric: peaks.nodes_not_ready, after: 1m, before: 10m, max: 0}}\n  - {{name: after, metric: peaks.nodes_not_ready, after: 12m, max: 0}}\n"
    );
    let path = scenario(
        "window",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 2, "100m")),
        ],
    );
    let (s, _) = run(&path, &[]);
    let during = &s.expectations[0];
    assert_eq!(during.value, 1.0, "{during:?}");
    assert!(!during.passed);
    let after = &s.expectations[1];
    assert_eq!(after.value, 0.0, "{after:?}");
    assert!(after.passed);
}

/// (time, pod name) of each log line of `kind`, in log order.
fn named(log: &[String], kind: &str) -> Vec<(f64, String)> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| {
            let t: f64 = l[5..l.find(',').unwrap()].parse().unwrap();
            let name = l.split("pod/default/").nth(1).unwrap_or("");
            (t, name.split('"').next().unwrap().to_string())
        })
        .collect()
}

fn rollout_scenario(name: &str, v1: &str, v2: &str) -> (output::Summary, Vec<String>) {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 15m\n{NODES}  changes:\n  - at: 2m\n    apply: [v2.yaml]\n"
    );
    let path = scenario(
        name,
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", v1),
            ("v2.yaml", v2),
        ],
    );
    run(&path, &[])
}

fn statefulset(strategy: &str, image: &str) -> String {
    format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  replicas: 4\n  updateStrategy: {strategy}\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec: {{terminationGracePeriodSeconds: 30, containers: [{{name: c, image: {image}, resources: {{requests: {{cpu: 100m}}}}}}]}}\n")
}

#[test]
fn statefulset_rolling_update_replaces_from_the_highest_ordinal_down_to_the_partition() {
    let strategy = "{type: RollingUpdate, rollingUpdate: {partition: 1}}";
    let (_, log) = rollout_scenario(
        "sts-roll",
        &statefulset(strategy, "x"),
        &statefulset(strategy, "y"),
    );
    let deleted = named(&log, "Deleted");
    let names: Vec<&str> = deleted.iter().map(|(_, n)| n.as_str()).collect();
    // db-0 is below the partition: it keeps the old template.
    assert_eq!(names, ["db-3", "db-2", "db-1"], "{deleted:?}");
    // One at a time: the next goes only once the replacement is running and Ready
    // (7 s start + 5 s readiness after its creation).
    let created: Vec<(f64, String)> = named(&log, "Created")
        .into_iter()
        .filter(|(t, _)| *t >= 120.0)
        .collect();
    assert_eq!(created.len(), 3, "{created:?}");
    for i in 0..2 {
        assert_eq!(created[i].1, deleted[i].1);
        assert!(
            deleted[i + 1].0 >= created[i].0 + 12.0,
            "{deleted:?} {created:?}"
        );
    }
}

#[test]
fn statefulset_on_delete_leaves_running_pods_alone() {
    let (s, log) = rollout_scenario(
        "sts-ondelete",
        &statefulset("{type: OnDelete}", "x"),
        &statefulset("{type: OnDelete}", "y"),
    );
    assert!(named(&log, "Deleted").is_empty());
    assert_eq!(s.totals["pods_created"], 4);
    assert!(log
        .iter()
        .any(|l| l.contains("WorkloadUpdated") && l.contains("OnDelete")));
}

fn daemonset(rolling: &str, image: &str) -> String {
    format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n  updateStrategy: {{type: RollingUpdate, rollingUpdate: {rolling}}}\n  selector: {{matchLabels: {{app: agent}}}}\n  template:\n    metadata: {{labels: {{app: agent}}}}\n    spec: {{terminationGracePeriodSeconds: 30, containers: [{{name: c, image: {image}, resources: {{requests: {{cpu: 100m}}}}}}]}}\n")
}

#[test]
fn daemonset_rolling_update_takes_down_max_unavailable_nodes_at_a_time() {
    let rolling = "{maxUnavailable: 1}";
    let (s, log) = rollout_scenario(
        "ds-roll",
        &daemonset(rolling, "x"),
        &daemonset(rolling, "y"),
    );
    assert_eq!(s.totals["pods_created"], 6);
    // SIGTERM at deletion; the next node's old pod is deleted only once the previous node's
    // new pod is Ready, so the deletions (pod gone, 30 s grace at most) are at least a start
    // and a readiness apart.
    let deleted = named(&log, "Deleted");
    assert_eq!(deleted.len(), 3, "{deleted:?}");
    let created: Vec<f64> = named(&log, "Created")
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| *t >= 120.0)
        .collect();
    // The replacement is created at the old pod's SIGTERM (the controller skips terminating
    // daemon pods), and the next old pod is not gone before the previous new one could be
    // Ready: one node at a time.
    for i in 0..2 {
        assert!(
            deleted[i + 1].0 >= created[i] + 12.0,
            "{deleted:?} {created:?}"
        );
    }
}

#[test]
fn daemonset_rolling_update_with_surge_starts_the_new_pod_before_the_old_goes() {
    let rolling = "{maxSurge: 1, maxUnavailable: 0}";
    let (s, log) = rollout_scenario(
        "ds-surge",
        &daemonset(rolling, "x"),
        &daemonset(rolling, "y"),
    );
    assert_eq!(s.totals["pods_created"], 6);
    let deleted = named(&log, "Deleted");
    let created: Vec<f64> = named(&log, "Created")
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| *t >= 120.0)
        .collect();
    assert_eq!((deleted.len(), created.len()), (3, 3));
    for (c, d) in created.iter().zip(&deleted) {
        // The old pod gets SIGTERM once the new one is Ready (12 s after creation).
        assert!(d.0 >= c + 12.0, "{deleted:?} {created:?}");
    }
    // One node at a time: the next new pod comes after the previous old pod's SIGTERM.
    assert!(created[1] >= created[0] + 12.0 && created[2] >= created[1] + 12.0);
}

#[test]
fn deployment_recreate_removes_every_old_pod_before_creating_new_ones() {
    let d1 = deployment("web", 3, "100m").replace(
        "spec:\n  replicas: 3",
        "spec:\n  replicas: 3\n  strategy: {type: Recreate}",
    );
    let d2 = d1.replace("image: x", "image: y");
    let (s, log) = rollout_scenario("recreate", &d1, &d2);
    assert_eq!(s.totals["pods_created"], 6);
    let last_gone = named(&log, "Deleted")
        .iter()
        .map(|(t, _)| *t)
        .fold(0.0, f64::max);
    let first_new = named(&log, "Created")
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= 120.0)
        .fold(f64::MAX, f64::min);
    assert!(last_gone > 120.0 && first_new >= last_gone, "{log:?}");
}

#[test]
fn an_unknown_update_strategy_is_an_error_with_its_place() {
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 1m\n{NODES}"
    );
    let path = scenario(
        "bad-strategy",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &statefulset("{type: Sometimes}", "x")),
        ],
    );
    let e = cascade_sim::load(&path, None, &[], None)
        .err()
        .expect("an error")
        .to_string();
    assert!(
        e.contains("workloads.yaml:6:") && e.contains("RollingUpdate or OnDelete"),
        "{e}"
    );
}

#[test]
fn the_queue_orders_equal_priority_pods_by_their_last_attempt_not_their_creation() {
    // One 1-CPU node held by `blocker`. `early` (created at 1m) and `late` (created at 2m)
    // cannot fit; `early` is retried by the 5-minute unschedulable flush first, which
    // refreshes its queue timestamp (QueuedPodInfo.Timestamp) past `late`'s. When the
    // blocker goes, both are moved to the active queue and `late` is at its head.
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 12m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 1, zones: [a], allocatable: {cpu: \"1\", memory: 16Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  changes:\n  - at: 1m\n    apply: [early.yaml]\n  - at: 2m\n    apply: [late.yaml]\n  - at: 6m40s\n    scale: {kind: Deployment, namespace: default, name: blocker, replicas: 0}\n";
    let path = scenario(
        "queue-ts",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &deployment("blocker", 1, "1")),
            ("early.yaml", &deployment("early", 1, "1")),
            ("late.yaml", &deployment("late", 1, "1")),
        ],
    );
    let (_, log) = run(&path, &[]);
    let scheduled: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("\"Scheduled\"") && !l.contains("blocker"))
        .collect();
    assert_eq!(scheduled.len(), 1, "{log:#?}");
    assert!(scheduled[0].contains("pod/default/late-"), "{scheduled:?}");
}

#[test]
fn a_partition_cuts_service_traffic_until_the_endpoints_drop_the_far_side() {
    // kafka has a replica on each node; n-0 is cut off at 5m. Requests routed to it vanish
    // (the client's 1 s timeout) until the node is NotReady and its pods are marked not
    // Ready (40 s grace + the 5 s monitor), then everything goes to n-1.
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 20m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a], allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  services:\n    kafka: {selector: {matchLabels: {app: kafka}}, workersPerReplica: 16, serviceSeconds: 0.005}\n  clients:\n    shipper: {target: kafka, ratePerSecond: 20, timeoutSeconds: 1, maxRetries: 0, startSeconds: 60}\n  faults:\n  - {at: 5m, duration: 10m, partition: {nodes: [n-0]}}\n";
    let path = scenario(
        "partition-traffic",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &deployment("kafka", 2, "5")),
        ],
    );
    let (s, _) = run(&path, &[]);
    // About half of 20 calls/s for ~45 s.
    let lost = s.totals["kafka_failed"] as f64;
    assert!((300.0..700.0).contains(&lost), "{lost}");
    assert_eq!(s.totals["kafka_unavailable"], 0, "n-1 kept serving");
}

fn node_yaml(name: &str, zone_label: &str, zone: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/hostname: {name}, {zone_label}: {zone}}}\nstatus:\n  allocatable: {{cpu: \"4\", memory: 16Gi, pods: \"110\"}}\n"
    )
}

#[test]
fn a_node_labelled_only_with_the_beta_zone_label_goes_down_with_its_zone() {
    // An old kubelet's node (OpenShift 4.3 / Kubernetes 1.16 dumps) carries only
    // failure-domain.beta.kubernetes.io/zone; GetZoneKey reads it first.
    let nodes = [
        node_yaml(
            "old",
            "failure-domain.beta.kubernetes.io/zone",
            "us-east-2a",
        ),
        node_yaml("new", "topology.kubernetes.io/zone", "us-east-2a"),
        node_yaml("other", "topology.kubernetes.io/zone", "us-east-2b"),
    ]
    .concat();
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 5m\n  cluster:\n    manifests: [nodes.yaml]\n  faults:\n  - {at: 60s, zoneDown: us-east-2a}\n";
    let path = scenario(
        "beta-zone",
        &[("scenario.yaml", sc), ("nodes.yaml", &nodes)],
    );
    let (s, log) = run(&path, &[]);
    let not_ready: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("\"NodeNotReady\""))
        .collect();
    assert_eq!(s.totals["node_not_ready_transitions"], 2, "{not_ready:?}");
    assert!(
        not_ready.iter().any(|l| l.contains("node/old")),
        "{not_ready:?}"
    );
    assert!(
        not_ready.iter().any(|l| l.contains("node/new")),
        "{not_ready:?}"
    );
}

#[test]
fn a_daemonset_selecting_linux_nodes_gets_one_pod_per_generated_node() {
    // What every kube-prometheus DaemonSet says: nodeSelector kubernetes.io/os: linux.
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: node-exporter}\nspec:\n  selector: {matchLabels: {app: ne}}\n  template:\n    metadata: {labels: {app: ne}}\n    spec:\n      nodeSelector: {kubernetes.io/os: linux}\n      containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]\n";
    let sc = format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 2m\n{NODES}"
    );
    let path = scenario(
        "ds-linux",
        &[("scenario.yaml", &sc), ("workloads.yaml", ds)],
    );
    let (s, log) = run(&path, &[]);
    let scheduled = log.iter().filter(|l| l.contains("\"Scheduled\"")).count();
    assert_eq!(s.totals["pods_created"], 3);
    assert_eq!(scheduled, 3, "{log:#?}");
}

#[test]
fn a_degraded_dependency_answers_errors_while_the_fault_lasts() {
    // Half of what kafka serves fails from 5 to 10 minutes; it never refuses, and once the
    // fault ends every request succeeds again.
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 15m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a], allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    manifests: [workloads.yaml]\n  services:\n    kafka: {selector: {matchLabels: {app: kafka}}, workersPerReplica: 16, serviceSeconds: 0.005}\n  clients:\n    shipper: {target: kafka, ratePerSecond: 20, maxRetries: 0}\n  faults:\n  - {at: 5m, duration: 5m, serviceDegraded: kafka, degradation: {errorRate: 0.5, addedLatencySeconds: 0.1}}\n";
    let path = scenario(
        "degraded",
        &[
            ("scenario.yaml", sc),
            ("workloads.yaml", &deployment("kafka", 2, "100m")),
        ],
    );
    let (s, log) = run(&path, &[]);
    assert_eq!(times(&log, "FaultStarted"), vec![300.0]);
    assert_eq!(times(&log, "FaultEnded"), vec![600.0]);
    // Refused only in the first seconds, before kafka's pods are Ready (20/s): degraded is
    // not down.
    let refused = s.totals["kafka_unavailable"];
    assert!(refused < 400, "{refused}");
    let failed = s.totals["kafka_failed"] as f64;
    // 20/s for 300 s, half failing: 3,000 (sd ~ 55).
    assert!((failed - 3000.0).abs() < 300.0, "{failed}");
    assert_eq!(
        s.totals["shipper_gave_up"],
        s.totals["kafka_failed"] + refused
    );
    let p99 = s.peaks["kafka_latency_p99_seconds"];
    assert!(p99 >= 0.1, "the added latency shows: {p99}");
}

#[test]
fn without_an_api_server_no_node_goes_not_ready_and_no_pod_is_created_until_it_serves() {
    // kube-apiserver is down from 60 s for 20 minutes; a node dies during the outage and
    // the Deployment is scaled up. The node lifecycle controller and the ReplicaSet
    // controller act through the API server: nothing until it serves again (at 60 + 1200 +
    // 60 s of startup = 1320 s), then a fresh grace period for every node's heartbeat.
    let faults = "  - {at: 60s, duration: 20m, apiServerDown: true}\n  - {at: 120s, nodeDown: n-0}\n  changes:\n  - at: 3m\n    scale: {kind: Deployment, namespace: default, name: web, replicas: 9}\n";
    let sc = lifecycle_scenario(3, "a", faults, 6);
    let path = scenario(
        "apiserverdown",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s, log) = run(&path, &[]);
    let serving = times(&log, "APIServerServing");
    assert_eq!(serving, vec![1320.0]);
    let not_ready = times(&log, "NodeNotReady");
    assert_eq!(not_ready.len(), 1, "{not_ready:?}");
    assert!(
        (1370.0..=1375.0).contains(&not_ready[0]),
        "grace counted from the server's return: {not_ready:?}"
    );
    let created = times(&log, "Created");
    // The scale-up's three pods once the server serves, then the dead node's three
    // replacements once their tolerations of its NoExecute taint run out.
    let late: Vec<f64> = created.iter().copied().filter(|t| *t > 1.0).collect();
    assert_eq!(late.len(), 6, "{created:?}");
    assert!(
        late[..3].iter().all(|t| (1320.0..1321.0).contains(t)),
        "{late:?}"
    );
    assert!(
        late[3..].iter().all(|t| *t >= not_ready[0] + 300.0),
        "{late:?}"
    );
    assert_eq!(s.totals["apiserver_unavailable_seconds"], 1260);
}

#[test]
fn a_run_in_slices_is_the_run_in_one_go() {
    // A node lost and back, pods evicted and rescheduled: the bench times a run in slices
    // (run_until, then finish), which must make exactly the run `run` makes.
    let faults = "  - {at: 2m, duration: 10m, nodeDown: n-0}\n";
    let path = scenario(
        "slices",
        &[
            ("scenario.yaml", &lifecycle_scenario(4, "a, b", faults, 6)),
            ("workloads.yaml", &deployment("web", 6, "500m")),
        ],
    );
    let sc = cascade_sim::load(&path, None, &[], None).unwrap_or_else(|e| panic!("{e}"));
    let outputs = |sim: &Simulation| {
        (
            output::events_jsonl(&sim.log),
            output::metrics_csv(&sim.metrics),
            sim.events_processed(),
        )
    };
    let mut whole = Simulation::new(&sc).unwrap();
    whole.run(|_| {});
    let mut sliced = Simulation::new(&sc).unwrap();
    for s in [0.0, 7.0, 60.0, 125.0, 600.0, 601.5, 1700.0] {
        sliced.run_until(cascade_sim::Time::from_secs_f64(s), &mut |_| {});
    }
    assert!(sliced.pods_not_running() == 0);
    sliced.run_until(cascade_sim::Time::from_secs_f64(1e9), &mut |_| {});
    sliced.finish();
    let (a, b) = (outputs(&whole), outputs(&sliced));
    assert!(a.0.contains("NodeNotReady"));
    assert_eq!(a, b);
}

#[test]
fn the_taint_managers_evictions_wait_for_the_api_server() {
    // n-0 is lost at 60 s: NotReady and tainted NoExecute at about 115 s, its pods evicted
    // 300 s later (about 415 s). With the API server down from 5 to 10 minutes the taint
    // eviction controller's deletions are refused: they happen once it serves again.
    let faults = "  - {at: 60s, nodeDown: n-0}\n  - {at: 5m, duration: 5m, apiServerDown: true}\n";
    let sc = lifecycle_scenario(3, "a", faults, 6);
    let path = scenario(
        "evict-wait",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s, log) = run(&path, &[]);
    let serving = *times(&log, "APIServerServing")
        .iter()
        .find(|t| **t > 300.0)
        .unwrap();
    let evicted = times(&log, "TaintManagerEviction");
    assert!(!evicted.is_empty());
    assert_eq!(evicted.len() as u64, s.totals["pods_evicted"]);
    for t in &evicted {
        assert!(
            (serving..=serving + 1.0).contains(t),
            "evicted at {t}, the server serving at {serving}"
        );
    }
    // The same without the outage: at the toleration's end, while the server would be down.
    let sc = lifecycle_scenario(3, "a", "  - {at: 60s, nodeDown: n-0}\n", 6);
    let path = scenario(
        "evict-healthy",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let (s2, log) = run(&path, &[]);
    let healthy = times(&log, "TaintManagerEviction");
    assert_eq!(healthy.len(), evicted.len());
    assert_eq!(s2.totals["pods_evicted"], s.totals["pods_evicted"]);
    assert!(
        healthy.iter().all(|t| (300.0..serving).contains(t)),
        "{healthy:?}"
    );
}

/// The value of metrics.csv column `name` in each sample row, with its time.
fn csv_column(csv: &str, name: &str) -> Vec<(f64, f64)> {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == name).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|r| (r[0].parse().unwrap(), r[col].parse().unwrap()))
        .collect()
}

#[test]
fn a_node_back_while_its_pods_are_being_marked_ends_ready_with_nothing_in_flight() {
    // n-0 (two of six pods) dies at 60 s and comes back at 150 s. The node lifecycle
    // controller's client is slowed to one request every 20 s (burst 1): NotReady at ~115 s,
    // its NoSchedule taint takes the one token, the first pod's status update goes ~20 s later
    // and the second's ~20 s after that, so the node returns in the middle of MarkPodsNotReady.
    // The marking stops (its last update, taken after the return, changes nothing), the
    // kubelet's report makes the marked pod Ready again, and the controller's queues drain:
    // every update answered once, no node left with a worker (docs/control-plane-and-nodes.md).
    let sc = lifecycle_scenario(3, "a", "  - {at: 60s, duration: 90s, nodeDown: n-0}\n", 6)
        + "  parameters:\n    controllers: {kubeApiQps: 0.05, kubeApiBurst: 1}\n";
    let path = scenario(
        "markreturn",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", &deployment("web", 6, "1")),
        ],
    );
    let sc = cascade_sim::load(&path, None, &[], None).unwrap();
    let mut sim = Simulation::new(&sc).unwrap();
    sim.run_until(cascade_sim::Time::from_secs(140), &mut |_| {});
    let during = sim.pods_marking_in_flight();
    sim.run(|_| {});
    // At 140 s the second pod's update was still to come.
    assert!(during >= 1, "{during} in flight at 140 s");
    let log = output::events_jsonl(&sim.log);
    let lines: Vec<String> = log.lines().map(str::to_string).collect();
    assert_eq!(times(&lines, "NodeNotReady").len(), 1);
    let ready = times(&lines, "NodeReady");
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!((150.0..=160.0).contains(&ready[0]), "{ready:?}");
    let csv = output::metrics_csv(&sim.metrics);
    let pods_ready = csv_column(&csv, "pods_ready");
    // One of n-0's pods was marked before the return (5 Ready), none after it.
    assert!(
        pods_ready
            .iter()
            .any(|(t, v)| (130.0..=150.0).contains(t) && *v < 6.0),
        "{pods_ready:?}"
    );
    assert!(
        pods_ready.iter().all(|(t, v)| *t < 170.0 || *v == 6.0),
        "{pods_ready:?}"
    );
    assert_eq!(sim.pods_marking_in_flight(), 0);
    sim.finish();
    let s = output::summarize(&sim, 0.0).unwrap();
    assert_eq!(s.totals["pods_evicted"], 0);
}

#[test]
fn a_kubelet_that_reports_not_ready_itself_gets_no_pods_marked() {
    // Upstream (monitorNodeHealth, v1.33) marks a node's pods not Ready only when the
    // controller itself turns the Ready condition from True to Unknown (a silent kubelet).
    // A kubelet reporting Ready=False (PLEG is not healthy) leaves its pods' Ready conditions
    // alone: no status update is sent and the pods stay Ready until they are evicted. The
    // sidecar storm of `synchronised_sidecar_retries_overload_the_runtime...` makes nodes
    // NotReady through PLEG; a silent node (`pods_on_a_not_ready_node_are_marked_not_ready`)
    // is marked.
    let path = sidecar_storm("plegmark", "20m");
    let sc = cascade_sim::load(&path, None, &[], None).unwrap();
    let mut sim = Simulation::new(&sc).unwrap();
    let mut most = 0;
    let mut t = 0;
    while t < 1200 {
        t += 5;
        sim.run_until(cascade_sim::Time::from_secs(t), &mut |_| {});
        most = most.max(sim.pods_marking_in_flight());
    }
    sim.finish();
    assert_eq!(
        most, 0,
        "no pod status update from the node lifecycle controller"
    );
    let lines: Vec<String> = output::events_jsonl(&sim.log)
        .lines()
        .map(str::to_string)
        .collect();
    let not_ready = times(&lines, "NodeNotReady");
    assert!(!not_ready.is_empty());
    let first = not_ready[0];
    let csv = output::metrics_csv(&sim.metrics);
    let ready = csv_column(&csv, "pods_ready");
    let running = csv_column(&csv, "pods_running");
    // From the first NotReady until the earliest eviction (its NoExecute taint + 300 s): all
    // 41 pods Ready as the API server holds them.
    let window: Vec<(f64, f64)> = ready
        .iter()
        .zip(&running)
        .filter(|((t, _), _)| (first + 10.0..first + 290.0).contains(t))
        .map(|((t, r), (_, n))| (*t, r - n))
        .collect();
    assert!(!window.is_empty());
    assert!(window.iter().all(|(_, d)| *d == 0.0), "{window:?}");
    assert!(ready
        .iter()
        .any(|(t, r)| (first + 10.0..first + 290.0).contains(t) && *r == 41.0));
}
