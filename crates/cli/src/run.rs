//! `cascade run SCENARIO [--variant NAME] [--seed N] [--set PATH=VALUE]... [--out DIR]
//! [--junit FILE] [--format text|github]`

use cascade_manifest::{Diagnostic, Errors, Severity};
use cascade_sim::output;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn err(file: &str, message: String) -> Errors {
    Errors(vec![Diagnostic {
        severity: Severity::Error,
        file: file.into(),
        line: 0,
        column: 0,
        message,
    }])
}

/// Parses `PATH=VALUE`.
pub fn parse_set(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| {
            format!("invalid --set {s:?}: expected PATH=VALUE, e.g. kubelet.imagePullSeconds=30")
        })
}

/// Runs a scenario and writes its outputs. Returns the exit code: 0 when every expectation
/// holds, 1 when one fails. `junit` also writes a JUnit XML file there, and `format` adds
/// GitHub Actions annotations for failed expectations after the summary (see `ci`).
pub fn run(
    scenario: &Path,
    variant: Option<&str>,
    seed: Option<u64>,
    sets: &[(String, String)],
    out: &Path,
    junit: Option<&Path>,
    format: crate::ci::Format,
) -> Result<u8, Errors> {
    let sc = cascade_sim::load(scenario, variant, sets, seed)?;
    for w in &sc.warnings {
        eprintln!("{w}");
    }
    let file = scenario.display().to_string();
    let wall = Instant::now();
    let mut sim = cascade_sim::Simulation::new(&sc).map_err(|e| err(&file, e))?;
    let tty = std::io::stderr().is_terminal();
    let mut last = -1i64;
    sim.run(|f| {
        if tty {
            let pct = (f * 100.0) as i64;
            if pct != last {
                last = pct;
                let bar = "#".repeat((pct / 4) as usize);
                eprint!("\r[{bar:<25}] {pct:>3}% of {}", sc.name);
            }
        }
    });
    if tty {
        eprintln!();
    }
    let summary =
        output::summarize(&sim, wall.elapsed().as_secs_f64()).map_err(|e| err(&file, e))?;
    let start_unix = sim.start_unix_seconds();
    let files: Vec<(&str, String)> = vec![
        (
            "summary.json",
            serde_json::to_string_pretty(&summary).expect("summary") + "\n",
        ),
        ("events.jsonl", output::events_jsonl(&sim.log)),
        ("metrics.csv", output::metrics_csv(&sim.metrics)),
        (
            "metrics.om",
            output::metrics_openmetrics(&sim.metrics, start_unix),
        ),
        (
            "report.html",
            output::report_html(&summary, &sim.metrics, &sim.log),
        ),
    ];
    write_atomically(out, &files).map_err(|e| {
        err(
            &out.display().to_string(),
            format!("cannot write outputs: {e}"),
        )
    })?;
    if let Some(path) = junit {
        crate::ci::write_file_atomically(path, &crate::ci::junit(&sc, &summary)).map_err(|e| {
            err(
                &path.display().to_string(),
                format!("cannot write the JUnit file: {e}"),
            )
        })?;
    }
    print_summary(&summary, out);
    if format == crate::ci::Format::Github {
        print!("{}", crate::ci::github(scenario, &sc, &summary));
    }
    Ok(if summary.passed() {
        0
    } else {
        crate::EXIT_EXPECTATION_FAILED
    })
}

/// Writes every file into a fresh directory beside the outputs, then renames each into place:
/// a run that fails or is interrupted leaves no half-written file under its final name.
pub fn write_atomically(dir: &Path, files: &[(&str, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp: PathBuf = dir.join(format!(".cascade-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp)?;
    for (name, text) in files {
        std::fs::write(tmp.join(name), text)?;
    }
    for (name, _) in files {
        std::fs::rename(tmp.join(name), dir.join(name))?;
    }
    std::fs::remove_dir(&tmp)
}

fn print_summary(s: &cascade_sim::Summary, out: &Path) {
    println!(
        "{}{}: {:.0} simulated seconds, {} events, {:.3} s wall",
        s.scenario,
        s.variant
            .as_ref()
            .map(|v| format!(" (variant {v})"))
            .unwrap_or_default(),
        s.simulated_seconds,
        s.events_processed,
        s.wall_seconds
    );
    let interesting: Vec<String> = s
        .totals
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("  totals: {}", interesting.join(" "));
    for e in &s.expectations {
        println!(
            "  {} {}: {} = {} (want {})",
            if e.passed { "ok  " } else { "FAIL" },
            e.name,
            e.metric,
            e.value,
            e.bound
        );
    }
    println!("  outputs in {}", out.display());
}
