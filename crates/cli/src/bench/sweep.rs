//! `cascade bench sweep`: one scenario over many seeds, each seed's verdict tallied; a seed
//! that panics or errs is counted and listed with how to reproduce it.

use super::*;

/// What a seed sweep measured.
pub struct Sweep {
    pub scenario: String,
    /// Seeds attempted: every one is counted, whether it ran, failed or panicked.
    pub runs: u64,
    pub threads: usize,
    pub wall_s: f64,
    pub events: u64,
    /// Runs whose expectations all held.
    pub passed: u64,
    /// Per expectation: how many runs broke it.
    pub broken: std::collections::BTreeMap<String, u64>,
    /// Seeds that produced no verdict, with why: a run that could not be built or summarised,
    /// or one that panicked. A Monte-Carlo figure that dropped them would be biased, so they
    /// stay in `runs` and are listed.
    pub failed: Vec<(u64, String)>,
}

/// What one seed gave.
enum SeedRun {
    Verdict {
        events: u64,
        passed: bool,
        broken: Vec<String>,
    },
    NoVerdict(String),
}

fn run_seed(base: &cascade_sim::Scenario, seed: u64) -> SeedRun {
    guarded(|| {
        let mut sim = cascade_sim::Simulation::with_seed(base, seed)?;
        sim.run(|_| {});
        cascade_sim::output::summarize(&sim, 0.0)
    })
}

/// One seed's run, with its error or panic turned into a seed without a verdict.
fn guarded(run: impl FnOnce() -> Result<cascade_sim::output::Summary, String>) -> SeedRun {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(summary)) => SeedRun::Verdict {
            events: summary.events_processed,
            passed: summary.passed(),
            broken: summary
                .expectations
                .iter()
                .filter(|e| !e.passed)
                .map(|e| e.name.clone())
                .collect(),
        },
        Ok(Err(e)) => SeedRun::NoVerdict(format!("error: {e}")),
        Err(panic) => SeedRun::NoVerdict(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

/// Runs a scenario for seeds `first..first + runs` on `threads` threads (all cores when 0), in
/// one process: the scenario and its manifests are loaded once and shared.
pub fn sweep(
    path: &std::path::Path,
    variant: Option<&str>,
    first: u64,
    runs: u64,
    threads: usize,
) -> Result<Sweep, cascade_manifest::Errors> {
    let base = cascade_sim::load(path, variant, &[], None)?;
    for w in &base.warnings {
        eprintln!("{w}");
    }
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let next = std::sync::atomic::AtomicU64::new(first);
    let t0 = Instant::now();
    let results: Vec<Vec<(u64, SeedRun)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= first + runs {
                            break;
                        }
                        mine.push((seed, run_seed(&base, seed)));
                    }
                    mine
                })
            })
            .collect();
        // A worker cannot panic: each seed's panic is caught in `run_seed`.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall_s = t0.elapsed().as_secs_f64();
    // The variant swept is named, as `cascade run` names its folder.
    let scenario = match variant {
        Some(v) => format!("{}@{v}", base.name),
        None => base.name.clone(),
    };
    Ok(tally(
        scenario,
        threads,
        wall_s,
        results.into_iter().flatten().collect(),
    ))
}

/// The sweep's figures from each seed's run, in seed order: every seed attempted counts in
/// `runs`, those without a verdict included.
fn tally(scenario: String, threads: usize, wall_s: f64, mut all: Vec<(u64, SeedRun)>) -> Sweep {
    let mut out = Sweep {
        scenario,
        runs: 0,
        threads,
        wall_s,
        events: 0,
        passed: 0,
        broken: Default::default(),
        failed: Vec::new(),
    };
    all.sort_by_key(|(seed, _)| *seed);
    for (seed, run) in all {
        out.runs += 1;
        match run {
            SeedRun::Verdict {
                events,
                passed,
                broken,
            } => {
                out.events += events;
                out.passed += u64::from(passed);
                for b in broken {
                    *out.broken.entry(b).or_default() += 1;
                }
            }
            SeedRun::NoVerdict(why) => out.failed.push((seed, why)),
        }
    }
    out
}

pub fn print_sweep(s: &Sweep) {
    print!("{}", sweep_report(s));
}

/// What `bench sweep` prints.
fn sweep_report(s: &Sweep) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "sweep {}: {} runs on {} thread(s)",
        s.scenario, s.runs, s.threads
    );
    let _ = writeln!(
        o,
        "  wall:   {:>7.3} s  ({:.1} ms per run, {:.1} M events/s)",
        s.wall_s,
        1e3 * s.wall_s / s.runs.max(1) as f64,
        s.events as f64 / s.wall_s / 1e6
    );
    let _ = writeln!(o, "  passed: {} of {}", s.passed, s.runs);
    for (name, n) in &s.broken {
        let _ = writeln!(o, "  broken in {n} run(s): {name}");
    }
    if !s.failed.is_empty() {
        let _ = writeln!(o, "  no verdict: {} of {}", s.failed.len(), s.runs);
        for (seed, why) in &s.failed {
            let _ = writeln!(o, "    seed {seed}: {why} (reproduce with --seed {seed})");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed that panics or fails to build has no verdict: it stays in the sweep's
    /// denominators and is listed with how to reproduce it, never dropped (a Monte-Carlo
    /// pass rate over the seeds that happened to finish would be biased).
    #[test]
    fn a_seed_without_a_verdict_is_counted_and_listed() {
        let verdict = |passed: bool, broken: &[&str]| SeedRun::Verdict {
            events: 10,
            passed,
            broken: broken.iter().map(|b| b.to_string()).collect(),
        };
        let panicked = guarded(|| panic!("index out of bounds"));
        let error = guarded(|| Err("no node fits".into()));
        let runs = vec![
            (7, verdict(false, &["stays up"])),
            (5, panicked),
            (4, verdict(true, &[])),
            (6, error),
        ];
        let s = tally("storm".into(), 2, 1.0, runs);
        assert_eq!((s.runs, s.passed, s.events), (4, 1, 20));
        assert_eq!(
            s.failed,
            [
                (5, "panicked: index out of bounds".to_string()),
                (6, "error: no node fits".to_string())
            ]
        );
        let report = sweep_report(&s);
        assert!(report.contains("  passed: 1 of 4\n"), "{report}");
        assert!(
            report.contains("  broken in 1 run(s): stays up\n"),
            "{report}"
        );
        assert!(report.contains("  no verdict: 2 of 4\n"), "{report}");
        assert!(
            report
                .contains("    seed 5: panicked: index out of bounds (reproduce with --seed 5)\n"),
            "{report}"
        );
        assert!(
            report.contains("    seed 6: error: no node fits (reproduce with --seed 6)\n"),
            "{report}"
        );
    }
}
