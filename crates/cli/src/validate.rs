//! `cascade validate FILE...`: scenarios (with every variant and every manifest they name) and
//! manifests, checked without running; every problem is reported.

use cascade_manifest::{Errors, Manifests};
use std::path::PathBuf;

/// Whether a file holds a cascade scenario (a document of the cascade.dev group).
fn is_scenario(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines().any(|l| {
            l.trim_start().starts_with("apiVersion:")
                && l.contains(cascade_sim::scenario::API_GROUP)
        })
    })
}

pub fn run(files: &[PathBuf]) -> Result<u8, Errors> {
    let files = &crate::inputs::files(files)?;
    let mut m = Manifests::new();
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    for f in files {
        if is_scenario(f) {
            match cascade_sim::load(f, None, &[], None) {
                Ok(sc) => {
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
                    tell(&sc.warnings);
                    let mut names = vec![sc.name.clone()];
                    for v in sc.spec.variants.keys() {
                        match cascade_sim::load(f, Some(v), &[], None) {
                            Ok(variant) => {
                                tell(&variant.warnings);
                                names.push(format!("{}/{v}", sc.name));
                            }
                            Err(e) => errors.extend(e.0),
                        }
                    }
                    scenarios.extend(names);
                }
                Err(e) => errors.extend(e.0),
            }
        } else {
            m.load_file(f);
        }
    }
    let pods = m.admit_pods();
    crate::schedule::check_bindings(&mut m, false);
    for w in &m.warnings {
        eprintln!("{w}");
    }
    if let Err(e) = m.finish() {
        errors.extend(e.0);
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    println!(
        "ok: {} file(s): {} scenario(s) and variant(s), {} node(s), {} pod(s), {} workload(s){}, {} PriorityClass(es), {} PodDisruptionBudget(s)",
        files.len(),
        scenarios.len(),
        m.nodes.len(),
        pods.len(),
        m.workloads.len(),
        // Only said when there are Jobs, so that the line reads as before for other inputs.
        if m.jobs.is_empty() {
            String::new()
        } else {
            format!(", {} Job(s)", m.jobs.len())
        },
        m.priority_classes.len(),
        m.pdbs.len()
    );
    Ok(0)
}
