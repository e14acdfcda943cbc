//! The four readers as the fuzzers (fuzz/, docs/testing.md) and the corpus replay
//! (tests/never_panics.rs) drive them: the same code for both, so that an input the fuzzer
//! found replays exactly in the test suite. Each may refuse its input; none may panic.
//! The crate that includes this module defines `REPO_ROOT`, the repository's root directory.
// The fuzz targets each include this module and use one function of it.
#![allow(dead_code)]

use cascade_manifest::quantity::Quantity;
use cascade_manifest::Manifests;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The committed corpora: one directory per reader, also the fuzzers' seeds.
pub fn corpus_dir() -> PathBuf {
    Path::new(crate::REPO_ROOT).join("crates/cli/tests/corpus")
}

/// At most this many `--set` lines are applied from one input: more adds no new path through
/// the reader, only time.
const MAX_SETS: usize = 8;

/// The manifest reader on one file's text, as `validate` and `schedule` read a file: parse
/// every document, admit the pods, and collect the problems (locating each one).
pub fn read_manifest(text: &str) {
    let mut m = Manifests::new();
    m.load_str("fuzz.yaml", text.to_string());
    let _ = m.admit_pods();
    let _ = m.finish();
}

/// The quantity parser, and both integer conversions of what it accepts.
pub fn read_quantity(text: &str) {
    if let Ok(q) = Quantity::parse(text.trim_end_matches('\n')) {
        let _ = q.value();
        let _ = q.milli_value();
        let _ = q.is_negative();
    }
}

/// The scenario reader on a scenario's text, as though it were a file in corpus/scenario/:
/// the manifests it names are that directory's files.
pub fn read_scenario(text: &str) {
    let at = corpus_dir().join("scenario").join("fuzzed-scenario.yaml");
    let _ = cascade_sim::load_str(&at, text.to_string(), None, &[], None);
}

/// Each line of `text` a `--set` as the command line parses it, applied to the bundled
/// grafana-2019 scenario (services, rings, clients and remote writes to address).
pub fn read_set(text: &str) {
    static SCENARIO: OnceLock<(PathBuf, String)> = OnceLock::new();
    let (path, scenario) = SCENARIO.get_or_init(|| {
        let p = Path::new(crate::REPO_ROOT).join("scenarios/grafana-2019.yaml");
        let t = std::fs::read_to_string(&p).expect("the bundled scenario");
        (p, t)
    });
    let sets: Vec<(String, String)> = text
        .lines()
        .take(MAX_SETS)
        .filter_map(|l| cascade::run::parse_set(l).ok())
        .collect();
    if sets.is_empty() {
        return;
    }
    let _ = cascade_sim::load_str(path, scenario.clone(), None, &sets, None);
}
