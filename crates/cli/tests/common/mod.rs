//! What the end-to-end tests share: running the built `cascade` from the repository's root,
//! with its outputs in a fresh directory that is removed afterwards.
// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::process::Command;

/// A run's exit code, stderr and output files (empty when absent).
pub struct Outputs {
    pub code: i32,
    pub stderr: String,
    pub summary: String,
    pub events: String,
    pub metrics: String,
    pub report: String,
    /// timing.json: the wall time, the one output that differs between runs.
    pub timing: String,
}

/// Runs `cascade ARGS --out DIR`, DIR unique to `tag` and this test process.
pub fn cascade_run(args: &[&str], tag: &str) -> Outputs {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(args)
        .arg("--out")
        .arg(&dir)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let out = Outputs {
        code: o.status.code().unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
        summary: read("summary.json"),
        events: read("events.jsonl"),
        metrics: read("metrics.csv"),
        report: read("report.html"),
        timing: read("timing.json"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// `totals.K` of a summary.json (panics, showing the summary, when it is absent).
pub fn total(summary: &serde_json::Value, k: &str) -> f64 {
    summary["totals"][k]
        .as_f64()
        .unwrap_or_else(|| panic!("totals.{k} in {summary}"))
}

/// `peaks.K` of a summary.json (panics, showing the summary, when it is absent).
pub fn peak(summary: &serde_json::Value, k: &str) -> f64 {
    summary["peaks"][k]
        .as_f64()
        .unwrap_or_else(|| panic!("peaks.{k} in {summary}"))
}

/// report.html's causal chain as text, a step per line (tags dropped, entities kept).
pub fn causal_chain(report: &str) -> String {
    let Some(start) = report.find("<ol class=\"chain\">") else {
        return String::new();
    };
    let end = report[start..]
        .find("</ol>")
        .map_or(report.len(), |e| start + e);
    report[start..end]
        .split("<li")
        .skip(1)
        .map(|li| {
            let mut text = String::new();
            let mut in_tag = true;
            for ch in li.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.trim().to_string() + "\n"
        })
        .collect()
}
