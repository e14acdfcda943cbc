//! kube-apiserver's replicas behind a load balancer: each client keeps its connection to one
//! replica until that replica goes away, then reconnects to the survivors and relists there
//! (docs/control-plane-and-nodes.md#api-server-replicas).

mod common;

/// 30 nodes with a log agent each whose informer watches every pod, three API server
/// replicas; `faults` is the scenario's fault list.
fn cluster(faults: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 6m
  cluster:
    nodeGroups:
    - {{namePrefix: n, count: 30, zones: [a, b, c], allocatable: {{cpu: "16", memory: 64Gi, pods: "110"}}}}
    manifests: [agent.yaml]
  behaviours:
  - selector: {{namespace: observability, matchLabels: {{app: log-agent}}}}
    apiClient: {{resource: pods, scope: cluster, watch: true}}
  faults: {faults}
  parameters:
    apiServer: {{replicas: {replicas}}}
"#
    )
}

const AGENT: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: observability}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      containers: [{name: agent, image: x, resources: {requests: {cpu: 50m, memory: 128Mi}}}]
"#;

/// metrics.csv as (time, column -> value) rows.
fn rows(csv: &str) -> Vec<(f64, std::collections::BTreeMap<String, f64>)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let v: Vec<f64> = l
                .split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect();
            let cols = header
                .iter()
                .zip(&v)
                .skip(1)
                .map(|(h, x)| (h.to_string(), *x))
                .collect();
            (v[0], cols)
        })
        .collect()
}

fn run(name: &str, faults: &str, replicas: u32) -> common::Run {
    let path = common::scenario(
        "api-replicas",
        name,
        &[
            ("scenario.yaml", &cluster(faults, replicas)),
            ("agent.yaml", AGENT),
        ],
    );
    common::run(&path, None, &[], None)
}

#[test]
fn killing_one_of_three_replicas_moves_its_clients_to_the_other_two_and_they_stay() {
    // Replica 1 restarts at 2m: down for 10 s, then its 60 s startup.
    let r = run(
        "kill-one",
        "[{at: 2m, duration: 10s, apiServerDown: true, replica: 1}]",
        3,
    );
    let rows = rows(&r.metrics_csv);
    let conns = |c: &std::collections::BTreeMap<String, f64>, i: usize| {
        c[&format!("apiserver_{i}_connections")]
    };
    // Before the fault the 30 kubelets, the 30 agents and the controllers are spread
    // round-robin: every replica has about a third.
    let (_, before) = rows.iter().rfind(|(t, _)| *t < 120.0).unwrap();
    let total: f64 = (0..3).map(|i| conns(before, i)).sum();
    assert!(total >= 60.0, "{before:?}");
    for i in 0..3 {
        assert!(
            (conns(before, i) - total / 3.0).abs() <= 1.0,
            "replica {i}: {before:?}"
        );
    }
    // After it, replica 1 has none: its clients went to replicas 0 and 2 and stayed there
    // even once it served again (from 3m10s).
    let (_, after) = rows.last().unwrap();
    assert_eq!(after["apiserver_1_up"], 1.0);
    assert_eq!(conns(after, 1), 0.0, "{after:?}");
    assert_eq!(conns(after, 0) + conns(after, 2), total, "{after:?}");
    // The API never stopped serving; the agents whose watch broke relisted on the survivors
    // and synced again.
    assert!(rows.iter().all(|(_, c)| c["apiserver_up"] == 1.0));
    assert!(!r
        .summary
        .totals
        .contains_key("apiserver_unavailable_seconds"));
    assert_eq!(after["api_clients_unsynced"], 0.0);
    assert_eq!(r.summary.totals["apiserver_watch_breaks"], 1);
    let stopped: Vec<&String> = r
        .events
        .iter()
        .filter(|l| l.contains("APIServerStopped"))
        .collect();
    assert_eq!(stopped.len(), 1);
    assert!(
        stopped[0].contains("apiserver/kube-apiserver-1"),
        "{stopped:?}"
    );
    assert_eq!(before["api_clients"], 30.0);
}

#[test]
fn stopping_every_replica_makes_the_api_unavailable() {
    let r = run(
        "kill-all",
        "[{at: 2m, duration: 10s, apiServerDown: true}]",
        3,
    );
    // Down 10 s, then the 60 s startup of every replica.
    assert_eq!(r.summary.totals["apiserver_unavailable_seconds"], 70);
    let rows = rows(&r.metrics_csv);
    let (_, after) = rows.last().unwrap();
    assert_eq!(after["api_clients_unsynced"], 0.0);
}

#[test]
fn one_replica_has_no_replica_columns() {
    let r = run("one", "[]", 1);
    let header = r.metrics_csv.lines().next().unwrap();
    assert!(header.contains("apiserver_up"));
    assert!(!header.contains("apiserver_0_"), "{header}");
}

fn load_error(name: &str, faults: &str, replicas: u32) -> String {
    let path = common::scenario(
        "api-replicas",
        name,
        &[
            ("scenario.yaml", &cluster(faults, replicas)),
            ("agent.yaml", AGENT),
        ],
    );
    match cascade_sim::load(&path, None, &[], None) {
        Ok(_) => panic!("{name}: loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_unknown_replica_and_no_replicas_are_errors_at_their_fields() {
    let e = load_error(
        "unknown-replica",
        "[{at: 2m, apiServerDown: true, replica: 3}]",
        3,
    );
    assert!(e.contains("replica 3: expected 0 to 2"), "{e}");
    // At the fault's `replica` (the faults are on line 13 of the scenario file).
    assert!(e.contains("scenario.yaml:13:"), "{e}");
    let e = load_error("no-replicas", "[]", 0);
    assert!(e.contains("replicas = 0: expected 1 or more"), "{e}");
    assert!(e.contains("scenario.yaml:15:"), "{e}");
    let e = load_error("replica-alone", "[{at: 2m, zoneDown: a, replica: 0}]", 3);
    assert!(e.contains("replica: expected with apiServerDown"), "{e}");
}
