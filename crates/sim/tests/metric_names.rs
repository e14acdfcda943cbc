//! The metric names a scenario may expect, known at load time, are exactly those runs report:
//! every name in summary.json and every metrics.csv column is in `MetricNames`.

use cascade_sim::{output, MetricNames, Simulation};
use std::path::Path;

fn reported_names_are_known(path: &Path, sets: &[(String, String)]) {
    let sc = cascade_sim::load(path, None, sets, None).unwrap_or_else(|e| panic!("{e}"));
    let gossip = sc.spec.behaviours.iter().any(|b| b.gossip_agent.is_some());
    let memory = sc.spec.behaviours.iter().any(|b| b.memory.is_some());
    let cpu = sc.spec.behaviours.iter().any(|b| b.cpu.is_some());
    let names = MetricNames::of(&sc.params, gossip, memory)
        .unwrap()
        .with_cpu(cpu);
    let mut sim = Simulation::new(&sc).unwrap();
    sim.run(|_| {});
    let s = output::summarize(&sim, 0.0).unwrap();
    for k in s.totals.keys() {
        assert!(
            names.totals.contains(k),
            "totals.{k} not in {:?}",
            names.totals
        );
    }
    for k in s.peaks.keys() {
        assert!(
            names.peaks.contains(k),
            "peaks.{k} not in {:?}",
            names.peaks
        );
    }
    for k in s.ratios.keys() {
        assert!(
            names.ratios.contains(k),
            "ratios.{k} not in {:?}",
            names.ratios
        );
    }
    let csv = output::metrics_csv(&sim.metrics);
    let header = csv.lines().next().unwrap();
    for c in header.split(',').skip(1) {
        assert!(
            names.columns.contains(c),
            "column {c} not in {:?}",
            names.columns
        );
    }
}

#[test]
fn the_services_names_are_known_before_the_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/grafana-2019.yaml");
    reported_names_are_known(&path, &[]);
}

#[test]
fn the_gossip_pools_names_are_known_before_the_run() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-test-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 2m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, zones: [a], allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    workloadGroups:\n    - {namePrefix: app, count: 2, replicas: 3, labels: {tier: web}, containers: [{name: c, requests: {cpu: 100m}}]}\n  behaviours:\n  - selector: {matchLabels: {tier: web}}\n    gossipAgent: {}\n  faults:\n  - {at: 60s, nodeDown: n-0}\n";
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, sc).unwrap();
    reported_names_are_known(&path, &[]);
}

#[test]
fn the_node_memory_names_are_known_before_the_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/memory-leak.yaml");
    reported_names_are_known(&path, &[]);
}
