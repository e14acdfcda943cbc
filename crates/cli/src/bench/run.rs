//! `cascade bench run`: a scenario's run timed by phase, beside a previous binary's.

use super::*;

/// One round of `bench run` in this process: each phase's wall time and events.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    /// The scenario and its manifests read and checked (`cascade_sim::load`).
    pub load_s: f64,
    /// The cluster generated and set up at time 0 (`Simulation::new`).
    pub build_s: f64,
    /// From time 0 until every pod runs (checked every `SETTLE_STEP_SECONDS` simulated).
    pub settle_s: f64,
    pub settle_events: u64,
    /// The simulated instant the cluster had settled by (the horizon if it never did).
    pub settled_at: f64,
    /// The rest of the run, settled.
    pub idle_s: f64,
    pub idle_events: u64,
    pub simulated_s: f64,
}

impl Phases {
    fn run_s(&self) -> f64 {
        self.settle_s + self.idle_s
    }
    fn events(&self) -> u64 {
        self.settle_events + self.idle_events
    }
}

/// What `cascade run` of another binary reported (its summary.json).
#[derive(Clone, Copy, Debug, Default)]
pub struct Previous {
    /// timing.json's `wall_seconds` (summary.json's before it had one): `Simulation::new` and
    /// the run, as `build_s + run_s` here.
    pub wall_s: f64,
    pub events: u64,
    pub simulated_s: f64,
}

/// How often (simulated seconds) `bench run` asks whether every pod runs: the check walks
/// every pod, so it is kept off the timed phases and done no more often than this.
pub const SETTLE_STEP_SECONDS: f64 = 10.0;

/// One in-process round: load, build, run until settled, run the rest.
pub fn phases(
    path: &std::path::Path,
    variant: Option<&str>,
) -> Result<Phases, cascade_manifest::Errors> {
    let t0 = Instant::now();
    let sc = cascade_sim::load(path, variant, &[], None)?;
    let load_s = t0.elapsed().as_secs_f64();
    let file = path.display().to_string();
    let t1 = Instant::now();
    let mut sim = cascade_sim::Simulation::new(&sc).map_err(|e| {
        cascade_manifest::Errors(vec![cascade_manifest::Diagnostic {
            severity: cascade_manifest::Severity::Error,
            file: file.clone(),
            line: 0,
            column: 0,
            message: e,
            skipped_kind: None,
        }])
    })?;
    let build_s = t1.elapsed().as_secs_f64();
    let horizon = sc.spec.duration.0;
    let mut out = Phases {
        load_s,
        build_s,
        settled_at: horizon,
        ..Phases::default()
    };
    let mut quiet = |_: f64| {};
    let mut at = 0.0;
    while at < horizon {
        at = (at + SETTLE_STEP_SECONDS).min(horizon);
        let t = Instant::now();
        sim.run_until(cascade_sim::Time::from_secs_f64(at), &mut quiet);
        out.settle_s += t.elapsed().as_secs_f64();
        if sim.truncated() || sim.pods_not_running() == 0 {
            out.settled_at = at;
            break;
        }
    }
    out.settle_events = sim.events_processed();
    let t = Instant::now();
    sim.run_until(cascade_sim::Time::from_secs_f64(horizon), &mut quiet);
    sim.finish();
    out.idle_s = t.elapsed().as_secs_f64();
    out.idle_events = sim.events_processed() - out.settle_events;
    out.simulated_s = sim.simulated_seconds();
    Ok(out)
}

/// One round of another cascade binary: `cascade run` into a scratch folder, its summary read.
pub fn previous(
    bin: &std::path::Path,
    path: &std::path::Path,
    variant: Option<&str>,
) -> Result<Previous, String> {
    let dir = std::env::temp_dir().join(format!("cascade-bench-previous-{}", std::process::id()));
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("run")
        .arg(path)
        .arg("--out")
        .arg(&dir)
        .arg("--quiet");
    if let Some(v) = variant {
        cmd.arg("--variant").arg(v);
    }
    let status = cmd
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{}: cannot run: {e}", bin.display()))?;
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(format!("{}: run failed ({status})", bin.display()));
    }
    let text = std::fs::read_to_string(dir.join("summary.json"))
        .map_err(|e| format!("{}: no summary.json: {e}", bin.display()))?;
    // The wall time is in timing.json; binaries before it wrote it in summary.json.
    let timing = std::fs::read_to_string(dir.join("timing.json")).ok();
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("its summary.json: {e}"))?;
    let num = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("its summary.json has no {k}"))
    };
    let wall_s = match timing {
        Some(t) => serde_json::from_str::<serde_json::Value>(&t)
            .ok()
            .and_then(|t| t.get("wall_seconds").and_then(serde_json::Value::as_f64))
            .ok_or("its timing.json has no wall_seconds")?,
        None => num("wall_seconds")?,
    };
    Ok(Previous {
        wall_s,
        events: v
            .get("events_processed")
            .and_then(serde_json::Value::as_u64)
            .ok_or("its summary.json has no events_processed")?,
        simulated_s: num("simulated_seconds")?,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// The medians of `rounds` (each figure's own median).
pub fn median_phases(rounds: &[Phases]) -> Phases {
    let m = |f: fn(&Phases) -> f64| median(rounds.iter().map(f).collect());
    let first = rounds.first().copied().unwrap_or_default();
    Phases {
        load_s: m(|p| p.load_s),
        build_s: m(|p| p.build_s),
        settle_s: m(|p| p.settle_s),
        idle_s: m(|p| p.idle_s),
        ..first
    }
}

pub fn median_previous(rounds: &[Previous]) -> Previous {
    let first = rounds.first().copied().unwrap_or_default();
    Previous {
        wall_s: median(rounds.iter().map(|p| p.wall_s).collect()),
        ..first
    }
}

fn speed(events: u64, simulated_s: f64, wall_s: f64) -> String {
    format!(
        "{events} events, {:.2} M events/s, {:.0}x real time",
        events as f64 / wall_s.max(1e-9) / 1e6,
        simulated_s / wall_s.max(1e-9)
    )
}

pub fn print_phases(scenario: &str, rounds: usize, p: &Phases, prev: Option<(&str, &Previous)>) {
    println!(
        "bench run {scenario}: {:.0} s simulated, median of {rounds} round(s)",
        p.simulated_s
    );
    println!("this binary:");
    println!(
        "  load       {:>7.3} s  scenario and manifests read",
        p.load_s
    );
    println!(
        "  build      {:>7.3} s  cluster generated and set up at time 0",
        p.build_s
    );
    println!(
        "  settle     {:>7.3} s  0 to {:.0} s simulated, until every pod runs: {}",
        p.settle_s,
        p.settled_at,
        speed(p.settle_events, p.settled_at, p.settle_s)
    );
    println!(
        "  settled    {:>7.3} s  {:.0} to {:.0} s simulated: {}",
        p.idle_s,
        p.settled_at,
        p.simulated_s,
        speed(p.idle_events, p.simulated_s - p.settled_at, p.idle_s)
    );
    println!(
        "  run        {:>7.3} s  the whole simulated time (settle + settled): {}",
        p.run_s(),
        speed(p.events(), p.simulated_s, p.run_s())
    );
    println!(
        "  build+run  {:>7.3} s  as timing.json's wall_seconds: {}",
        p.build_s + p.run_s(),
        speed(p.events(), p.simulated_s, p.build_s + p.run_s())
    );
    if let Some((bin, q)) = prev {
        println!("previous binary {bin}:");
        println!(
            "  build+run  {:>7.3} s  its timing.json's wall_seconds: {}",
            q.wall_s,
            speed(q.events, q.simulated_s, q.wall_s)
        );
        println!(
            "this/previous build+run: {:.3}",
            (p.build_s + p.run_s()) / q.wall_s.max(1e-9)
        );
    }
}
