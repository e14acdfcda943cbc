//! `cascade run SCENARIO [--variant NAME] [--seed N] [--set PATH=VALUE]... [--out DIR]
//! [--junit FILE] [--format text|github] [--quiet] [--start-time RFC3339|now] [--force]`

use crate::terminal;
use cascade_manifest::{Diagnostic, Errors, Severity};
use cascade_sim::output;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn err(file: &str, message: String) -> Errors {
    Errors(vec![Diagnostic {
        severity: Severity::Error,
        file: file.into(),
        line: 0,
        column: 0,
        message,
        skipped_kind: None,
    }])
}

/// The warnings to print. With `--quiet`, the skipped documents of kinds cascade does not
/// model (a chart's ConfigMaps and Services, the same on every run) are summarised in one line
/// naming the kinds; every other warning is printed in full, since each may mean the run's
/// answer differs from the cluster's (a selector that matches nothing, a Node skipped for want
/// of allocatable, a removed API version read with its defaults, a field cascade ignores).
pub fn shown_warnings(warnings: &[Diagnostic], quiet: bool, file: &str) -> Vec<Diagnostic> {
    if !quiet {
        return warnings.to_vec();
    }
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    let mut shown = Vec::new();
    for w in warnings {
        match &w.skipped_kind {
            Some(kind) => *kinds.entry(kind.to_string()).or_default() += 1,
            None => shown.push(w.clone()),
        }
    }
    if !kinds.is_empty() {
        let n: usize = kinds.values().sum();
        let listed: Vec<String> = kinds
            .iter()
            .map(|(k, c)| match c {
                1 => k.clone(),
                c => format!("{k} x{c}"),
            })
            .collect();
        shown.push(Diagnostic {
            severity: Severity::Warning,
            file: file.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "skipped {n} document(s) of kinds cascade does not model: {} (they place and run nothing in the model; without --quiet each is listed at its line)",
                listed.join(", ")
            ),
            skipped_kind: None,
        });
    }
    shown
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
    /// Print the verdict line alone (and the annotations), no progress bar.
    pub quiet: bool,
    /// What simulated time 0 stands for in metrics.om and the Grafana files: RFC 3339 or
    /// `now`; `None` is the scenario's `parameters.startTime`.
    pub start_time: Option<&'a str>,
}

/// Runs a scenario and writes its outputs. Returns the exit code: 0 when every expectation
/// holds, 1 when one fails (or the run was truncated). `junit` also writes a JUnit XML file
/// there, and `format` adds GitHub Actions annotations for failed expectations after the
/// summary (see `ci`).
pub fn run(
    scenario: &Path,
    variant: Option<&str>,
    seed: Option<u64>,
    sets: &[(String, String)],
    out: &Path,
    opts: &RunOptions,
) -> Result<u8, Errors> {
    run_one(scenario, variant, seed, sets, out, opts).map(|r| r.code)
}

/// One finished run: its exit code, summary and series (for a comparison page).
pub struct Finished {
    pub code: u8,
    pub summary: cascade_sim::Summary,
    pub metrics: output::Metrics,
    pub start_unix: f64,
}

/// `cascade run SCENARIO --all-variants`: the scenario, then each variant, each into its own
/// folder under `out` (`base/`, `VARIANT/`), then `out/compare.html` with the runs side by
/// side. Exit 1 when any run's expectations fail (an outage and its mitigation: the outage
/// fails), so the page, not the code, is the answer.
pub fn run_all_variants(
    scenario: &Path,
    seed: Option<u64>,
    sets: &[(String, String)],
    out: &Path,
    opts: &RunOptions,
) -> Result<u8, Errors> {
    if opts.junit.is_some() || opts.format != crate::ci::Format::Text {
        return Err(err(
            "--all-variants",
            "--junit and --format github judge one run: run each variant with --variant NAME for CI"
                .into(),
        ));
    }
    let sc = cascade_sim::load(scenario, None, sets, seed)?;
    if sc.spec.variants.contains_key(BASE_RUN) {
        return Err(err(
            &scenario.display().to_string(),
            format!("--all-variants writes the base run to {BASE_RUN}/, and a variant has that name: rename the variant"),
        ));
    }
    let names: Vec<Option<&str>> = std::iter::once(None)
        .chain(sc.spec.variants.keys().map(|k| Some(k.as_str())))
        .collect();
    let mut runs: Vec<(String, Finished)> = Vec::new();
    for v in names {
        let label = v.unwrap_or(BASE_RUN).to_string();
        let f = run_one(scenario, v, seed, sets, &out.join(&label), opts)?;
        runs.push((label, f));
    }
    let compared: Vec<output::ComparedRun> = runs
        .iter()
        .map(|(label, f)| output::ComparedRun {
            label,
            summary: &f.summary,
            metrics: &f.metrics,
        })
        .collect();
    let page = output::compare_html(&sc.name, &compared);
    write_atomically(out, &[("compare.html", page)]).map_err(|e| {
        err(
            &out.display().to_string(),
            format!("cannot write compare.html: {e}"),
        )
    })?;
    println!("side by side: {}", out.join("compare.html").display());
    Ok(runs.iter().map(|(_, f)| f.code).max().unwrap_or(0))
}

/// The folder of the scenario's own run under `--all-variants`.
pub const BASE_RUN: &str = "base";

fn run_one(
    scenario: &Path,
    variant: Option<&str>,
    seed: Option<u64>,
    sets: &[(String, String)],
    out: &Path,
    opts: &RunOptions,
) -> Result<Finished, Errors> {
    let sc = cascade_sim::load(scenario, variant, sets, seed)?;
    let file = scenario.display().to_string();
    for w in shown_warnings(&sc.warnings, opts.quiet, &file) {
        eprintln!("{w}");
    }
    if !opts.force {
        check_size(&sc, &file, memory_available())?;
    }
    // --start-time is checked before the run, so a typo costs no simulation.
    let start_override = match opts.start_time {
        None => None,
        Some("now") => Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64().floor()),
        ),
        Some(t) => Some(
            cascade_sim::scenario::start_ms(t).map_err(|e| err("--start-time", e))? as f64 / 1000.0,
        ),
    };
    let wall = Instant::now();
    let mut sim = cascade_sim::Simulation::new(&sc).map_err(|e| err(&file, e))?;
    let mut progress = terminal::Progress::new(&sc.name, opts.quiet);
    sim.run(|f| progress.update(f));
    progress.finish();
    let summary =
        output::summarize(&sim, wall.elapsed().as_secs_f64()).map_err(|e| err(&file, e))?;
    let start_unix = start_override.unwrap_or_else(|| sim.start_unix_seconds());
    let labels = output::RunLabels {
        scenario: &summary.scenario,
        variant: summary.variant.as_deref().unwrap_or(""),
        seed: summary.seed,
    };
    let files: Vec<(&str, String)> = vec![
        (
            "summary.json",
            serde_json::to_string_pretty(&summary).expect("summary") + "\n",
        ),
        // The one output that differs between two runs of the same seed, so kept out of
        // summary.json (`bench run --previous` reads it).
        (
            "timing.json",
            serde_json::to_string_pretty(
                &serde_json::json!({ "wall_seconds": summary.wall_seconds }),
            )
            .expect("timing")
                + "\n",
        ),
        ("events.jsonl", output::events_jsonl(&sim.log)),
        ("metrics.csv", output::metrics_csv(&sim.metrics)),
        (
            "metrics.om",
            output::metrics_openmetrics(&sim.metrics, start_unix, &labels),
        ),
        (
            "grafana-annotations.json",
            output::grafana::annotations(&sc, &sim.metrics, start_unix),
        ),
        (
            "grafana-dashboard.json",
            output::grafana::dashboard(&sim.metrics, start_unix),
        ),
        (
            "report.html",
            output::report_html(
                &summary,
                &sim.metrics,
                &sim.log,
                &output::ReportContext::of(&sc, start_unix),
            ),
        ),
    ];
    write_atomically(out, &files).map_err(|e| {
        err(
            &out.display().to_string(),
            format!("cannot write outputs: {e}"),
        )
    })?;
    if let Some(path) = opts.junit {
        crate::ci::write_file_atomically(path, &crate::ci::junit(&sc, &summary)).map_err(|e| {
            err(
                &path.display().to_string(),
                format!("cannot write the JUnit file: {e}"),
            )
        })?;
    }
    let colour = terminal::stdout_colour();
    if opts.quiet {
        println!("{}", terminal::verdict_line(&summary, colour));
    } else {
        let cases = crate::ci::cases(&sc, &summary);
        print!("{}", terminal::summary(&summary, &cases, out, colour));
    }
    if opts.format == crate::ci::Format::Github {
        print!("{}", crate::ci::github(scenario, &sc, &summary));
    }
    Ok(Finished {
        code: if summary.passed() {
            0
        } else {
            crate::EXIT_EXPECTATION_FAILED
        },
        summary,
        metrics: sim.metrics.clone(),
        start_unix,
    })
}

/// `cascade run SCENARIO --list-variants`: each variant's name and description, one a line,
/// in the scenario's order of names (sorted), so a user can pick one without reading YAML.
pub fn list_variants(scenario: &Path, sets: &[(String, String)]) -> Result<u8, Errors> {
    let sc = cascade_sim::load(scenario, None, sets, None)?;
    print!("{}", variants_text(&sc));
    Ok(0)
}

/// The text `--list-variants` prints.
pub fn variants_text(sc: &cascade_sim::Scenario) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    if sc.spec.variants.is_empty() {
        let _ = writeln!(o, "{} has no variants", sc.name);
        return o;
    }
    let width = sc.spec.variants.keys().map(String::len).max().unwrap_or(0);
    for (name, v) in &sc.spec.variants {
        let description = v
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(o, "{name:<width$}  {description}");
    }
    o
}

/// `cascade params SCENARIO [--variant NAME] [--set PATH=VALUE]...`: the effective
/// parameters (Kubernetes' defaults, then the scenario's, the variant's and the `--set`s), as
/// the YAML a scenario's `spec.parameters` takes.
pub fn params(
    scenario: &Path,
    variant: Option<&str>,
    sets: &[(String, String)],
) -> Result<u8, Errors> {
    let sc = cascade_sim::load(scenario, variant, sets, None)?;
    // What loading warned of (on stderr, so stdout stays the parameters' YAML).
    for w in &sc.warnings {
        eprintln!("{w}");
    }
    let file = scenario.display().to_string();
    let yaml = serde_yaml_ng::to_string(&sc.params)
        .map_err(|e| err(&file, format!("cannot print the parameters: {e}")))?;
    println!(
        "# the effective parameters of {}{}",
        sc.name,
        variant
            .map(|v| format!(" (variant {v})"))
            .unwrap_or_default()
    );
    println!("parameters:");
    for line in yaml.lines() {
        println!("  {line}");
    }
    Ok(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(message: &str, skipped_kind: Option<cascade_manifest::SkippedKind>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            file: "a.yaml".into(),
            line: 3,
            column: 1,
            message: message.into(),
            skipped_kind,
        }
    }

    /// `--quiet` summarises the warnings the loader marks as skipped kinds, by that mark, never
    /// by their words: a warning made elsewhere that reads the same is shown in full.
    #[test]
    fn quiet_summarises_by_the_skipped_kind_field() {
        let text = format!(
            "skipping v1 ConfigMap: {}",
            cascade_manifest::UNMODELLED_KIND
        );
        let kind = cascade_manifest::SkippedKind {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
        };
        let ws = [
            warning(&text, Some(kind.clone())),
            warning(&text, Some(kind)),
            warning(&text, None),
        ];
        let shown = shown_warnings(&ws, true, "s.yaml");
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert_eq!(shown[0], ws[2]);
        assert!(
            shown[1].message.contains(": v1 ConfigMap x2 ("),
            "{}",
            shown[1].message
        );
        assert_eq!(shown_warnings(&ws, false, "s.yaml").len(), 3);
    }
}
