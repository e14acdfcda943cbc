//! `cascade validate FILE...`: scenarios (with every variant and every manifest they name) and
//! manifests, checked without running; every problem is reported.
//!
//! Each scenario is checked on its own, with the manifest files it and its variants name; the
//! other manifests together form one cluster (so a Deployment defined twice among them is an
//! error). A directory of scenarios (`cascade validate scenarios/`) therefore checks each
//! scenario apart, and the manifest files a scenario names are read as that scenario's, never
//! merged with another scenario's alternatives (a variant's gateway against the base one).

use cascade_manifest::{Errors, Manifests};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Whether a file holds a cascade scenario (a document of the cascade.dev group).
fn is_scenario(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines().any(|l| {
            l.trim_start().starts_with("apiVersion:")
                && l.contains(cascade_sim::scenario::API_GROUP)
        })
    })
}

/// The objects counted in the summary line.
#[derive(Default)]
struct Counts {
    nodes: usize,
    pods: usize,
    workloads: usize,
    jobs: usize,
    priority_classes: usize,
    pdbs: usize,
}

impl Counts {
    fn add(&mut self, m: &Manifests, pods: usize) {
        self.nodes += m.nodes.len();
        self.pods += pods;
        self.workloads += m.workloads.len();
        self.jobs += m.jobs.len();
        self.priority_classes += m.priority_classes.len();
        self.pdbs += m.pdbs.len();
    }
}

impl Counts {
    /// What a scenario's `nodeGroups` and `workloadGroups` generate at time 0, at its
    /// `generatorScale` (the base scenario's: a variant's own groups are not counted again).
    fn generated(&mut self, sc: &cascade_sim::Scenario) {
        let k = sc.params.generator_scale;
        let cluster = &sc.spec.cluster;
        self.nodes += cluster
            .node_groups
            .iter()
            .map(|g| g.scaled_count(k))
            .sum::<usize>();
        self.workloads += cluster
            .workload_groups
            .iter()
            .map(|g| cascade_sim::scenario::scaled_count(g.count, g.scaled, k))
            .sum::<usize>();
    }
}

/// A file's identity for telling whether a scenario names it (the same file however written).
fn identity(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn run(files: &[PathBuf]) -> Result<u8, Errors> {
    let files = &crate::inputs::files(files)?;
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    let mut counts = Counts::default();
    // What the scenarios' node and workload groups generate.
    let mut generated = Counts::default();
    // The manifest files the scenarios name, each counted once.
    let mut named: BTreeSet<PathBuf> = BTreeSet::new();
    // Each warning once, though the variants load the same manifests again.
    let mut told = Vec::new();
    let mut tell = |warnings: &[cascade_manifest::Diagnostic]| {
        for w in warnings {
            if !told.contains(w) {
                eprintln!("{w}");
                told.push(w.clone());
            }
        }
    };
    let (scenario_files, plain): (Vec<&PathBuf>, Vec<&PathBuf>) =
        files.iter().partition(|f| is_scenario(f));
    for f in scenario_files {
        let dir = f.parent().unwrap_or(Path::new("."));
        let mut take = |sc: &cascade_sim::Scenario| {
            for (name, file) in &sc.files {
                if named.insert(identity(&dir.join(name))) {
                    counts.add(&file.manifests, file.manifests.pods.len());
                }
            }
        };
        match cascade_sim::load(f, None, &[], None) {
            Ok(sc) => {
                tell(&sc.warnings);
                take(&sc);
                generated.generated(&sc);
                let mut names = vec![sc.name.clone()];
                for v in sc.spec.variants.keys() {
                    match cascade_sim::load(f, Some(v), &[], None) {
                        Ok(variant) => {
                            tell(&variant.warnings);
                            take(&variant);
                            names.push(format!("{}/{v}", sc.name));
                        }
                        Err(e) => errors.extend(e.0),
                    }
                }
                scenarios.extend(names);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    // The other manifests: one cluster.
    let mut m = Manifests::new();
    for f in plain {
        if !named.contains(&identity(f)) {
            m.load_file(f);
        }
    }
    let pods = m.admit_pods();
    crate::schedule::check_bindings(&mut m, false);
    tell(&m.warnings);
    if let Err(e) = m.finish() {
        errors.extend(e.0);
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    counts.add(&m, pods.len());
    counts.nodes += generated.nodes;
    counts.workloads += generated.workloads;
    println!(
        "ok: {} file(s): {} scenario(s) and variant(s){}, {} node(s), {} pod(s), {} workload(s){}, {} PriorityClass(es), {} PodDisruptionBudget(s)",
        files.len(),
        scenarios.len(),
        // Only said for scenarios, so that the line reads as before for manifests alone.
        if named.is_empty() {
            String::new()
        } else {
            format!(" naming {} manifest file(s)", named.len())
        },
        counts.nodes,
        counts.pods,
        counts.workloads,
        // Only said when there are Jobs, so that the line reads as before for other inputs.
        if counts.jobs == 0 {
            String::new()
        } else {
            format!(", {} Job(s)", counts.jobs)
        },
        counts.priority_classes,
        counts.pdbs
    );
    Ok(0)
}
