//! `cascade validate FILE...`

use cascade_manifest::{Errors, Manifests};
use std::path::PathBuf;

pub fn run(files: &[PathBuf]) -> Result<u8, Errors> {
    let mut m = Manifests::new();
    for f in files {
        m.load_file(f);
    }
    let pods = m.admit_pods();
    crate::schedule::check_bindings(&mut m, false);
    for w in &m.warnings {
        eprintln!("{w}");
    }
    m.finish()?;
    println!(
        "ok: {} file(s): {} node(s), {} pod(s), {} workload(s), {} PriorityClass(es), {} PodDisruptionBudget(s)",
        files.len(),
        m.nodes.len(),
        pods.len(),
        m.workloads.len(),
        m.priority_classes.len(),
        m.pdbs.len()
    );
    Ok(0)
}
