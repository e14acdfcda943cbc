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

/// How `cascade run` treats a run beyond the scenario itself.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions<'a> {
    /// Run even when the estimated size exceeds the memory available.
    pub force: bool,
    /// Also write a JUnit XML file there.
    pub junit: Option<&'a Path>,
    /// `github` adds GitHub Actions annotations for failed expectations.
    pub format: crate::ci::Format,
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
    opts: &RunOptions,
) -> Result<u8, Errors> {
    let RunOptions {
        force,
        junit,
        format,
    } = *opts;
    let sc = cascade_sim::load(scenario, variant, sets, seed)?;
    for w in &sc.warnings {
        eprintln!("{w}");
    }
    let file = scenario.display().to_string();
    if !force {
        check_size(&sc, &file, memory_available())?;
    }
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

/// Refuses a run whose estimated size exceeds `available` bytes (docs/kubernetes.md#bounded-runs).
pub fn check_size(
    sc: &cascade_sim::Scenario,
    file: &str,
    available: Option<u64>,
) -> Result<(), Errors> {
    let size = cascade_sim::scenario::size::Size::of(sc);
    let need = size.bytes();
    let Some(avail) = available else {
        return Ok(());
    };
    if need <= avail {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Err(err(
        file,
        format!(
            "this run would need about {:.1} GiB ({} nodes, {} pods, {} gossip members), more than the {:.1} GiB this machine has available: lower the counts or parameters.generatorScale, or pass --force to run anyway",
            gib(need),
            size.nodes,
            size.pods,
            size.gossip_members,
            gib(avail)
        ),
    ))
}

/// Memory this process may use: the smaller of the kernel's MemAvailable and the cgroup's
/// memory.max (a container's limit), when either can be read.
pub fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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
    if s.truncated {
        println!(
            "TRUNCATED: the run reached parameters.maxEvents ({} events) after {:.0} simulated seconds; its figures cover that much only",
            s.events_processed, s.simulated_seconds
        );
    }
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
