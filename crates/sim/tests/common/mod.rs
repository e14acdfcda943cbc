//! What the simulator's end-to-end tests share: a scenario written into a fresh directory, and
//! one run of it as its outputs.
// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use cascade_sim::{output, Simulation};
use std::path::{Path, PathBuf};

/// Writes `files` (name, text) into a fresh directory named for `suite` and `name`, and returns
/// the path of its `scenario.yaml`.
pub fn scenario(suite: &str, name: &str, files: &[(&str, &str)]) -> PathBuf {
    // Under Cargo's own scratch directory for integration tests (target/tmp), never the
    // system's /tmp, so nothing a test writes outlives `cargo clean`.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (n, t) in files {
        std::fs::write(dir.join(n), t).unwrap();
    }
    dir.join("scenario.yaml")
}

/// A run's summary, its events.jsonl lines and its metrics.csv.
pub struct Run {
    pub summary: output::Summary,
    pub events: Vec<String>,
    pub metrics_csv: String,
}

/// Loads `path` (with a variant, `--set`s and a seed) and runs it to the end.
pub fn run(path: &Path, variant: Option<&str>, sets: &[(&str, &str)], seed: Option<u64>) -> Run {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sc = cascade_sim::load(path, variant, &sets, seed).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Simulation::new(&sc).unwrap();
    sim.run(|_| {});
    Run {
        summary: output::summarize(&sim, 0.0).unwrap(),
        events: output::events_jsonl(&sim.log)
            .lines()
            .map(str::to_string)
            .collect(),
        metrics_csv: output::metrics_csv(&sim.metrics),
    }
}
