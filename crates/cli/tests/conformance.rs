//! Conformance with kube-scheduler's own preemption test cases
//! (kubernetes/kubernetes pkg/scheduler/framework/plugins/defaultpreemption/
//! default_preemption_test.go), re-encoded as YAML fixtures in `fixtures/preemption/`: each
//! file's first document states the expected decisions, the rest is the cluster and the pods to
//! schedule (those without spec.nodeName). See `fixtures/preemption/README.md`.

use cascade::schedule::decide;
use cascade_manifest::Manifests;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Header {
    metadata: Meta,
    spec: Spec,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
}

#[derive(Deserialize)]
struct Spec {
    #[allow(dead_code)]
    source: String,
    expected: Vec<Expect>,
}

#[derive(Deserialize)]
struct Expect {
    pod: String,
    result: String,
    nodes: Option<Vec<String>>,
    victims: Option<Vec<String>>,
}

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preemption");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs one fixture with a seed; returns the failures.
fn check(path: &PathBuf, seed: u64) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let first = serde_yaml_ng::Deserializer::from_str(&text).next().unwrap();
    let header =
        Header::deserialize(first).unwrap_or_else(|e| panic!("{}: header: {e}", path.display()));
    let mut m = Manifests::new();
    m.claim_group("cascade.dev");
    m.load_str(&path.display().to_string(), text);
    let pods = m.admit_pods();
    if let Err(e) = m.finish() {
        panic!("{e}");
    }
    let (state, new): (Vec<_>, Vec<_>) = pods.into_iter().partition(|p| p.node_name.is_some());
    let nodes: Vec<_> = m.nodes.iter().map(|n| n.object.clone()).collect();
    let pdbs: Vec<_> = m.pdbs.iter().map(|b| b.object.clone()).collect();
    let decisions = decide(&nodes, &state, &pdbs, &new, seed).unwrap();
    let mut failures = Vec::new();
    for e in &header.spec.expected {
        let name = &header.metadata.name;
        let Some(d) = decisions.iter().find(|d| d.pod == e.pod) else {
            failures.push(format!("{name}: no decision for {}", e.pod));
            continue;
        };
        if d.result != e.result {
            failures.push(format!(
                "{name}: {} result {} (expected {}): {}",
                e.pod, d.result, e.result, d.message
            ));
            continue;
        }
        if let Some(nodes) = &e.nodes {
            if !d.node.as_ref().is_some_and(|n| nodes.contains(n)) {
                failures.push(format!(
                    "{name}: {} on {:?} (expected one of {nodes:?})",
                    e.pod, d.node
                ));
            }
        }
        if let Some(victims) = &e.victims {
            let mut want = victims.clone();
            want.sort();
            if d.victims != want {
                failures.push(format!(
                    "{name}: {} victims {:?} (expected {want:?})",
                    e.pod, d.victims
                ));
            }
        }
    }
    failures
}

#[test]
fn kube_scheduler_preemption_cases() {
    let files = fixtures();
    assert!(
        files.len() >= 15,
        "expected at least 15 fixtures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        for seed in 0..4 {
            failures.extend(check(f, seed));
        }
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
