//! `cascade bench`: the speed figures the project tracks, measured on this machine.
//!
//! `schedule`: Kubernetes' published scalability limits, 150,000 pods onto 5,000 nodes, from
//! YAML text (parse, admission and scheduling timed separately), and a preemption-heavy case: a
//! full cluster and 10,000 high-priority pods that each must preempt.

use crate::schedule::decide;
use cascade_manifest::Manifests;
use std::fmt::Write as _;
use std::time::Instant;

pub struct Figures {
    pub name: String,
    pub nodes: usize,
    pub pods: usize,
    pub yaml_bytes: usize,
    pub parse_s: f64,
    pub schedule_s: f64,
    pub scheduled: usize,
    pub preempting: usize,
    pub unschedulable: usize,
}

fn node_yaml(out: &mut String, i: usize) {
    let zone = ["a", "b", "c"][i % 3];
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-{i:05}\n  labels:\n    kubernetes.io/hostname: node-{i:05}\n    topology.kubernetes.io/zone: zone-{zone}\nstatus:\n  allocatable:\n    cpu: \"32\"\n    memory: 128Gi\n    pods: \"110\"\n"
    );
}

fn pod_yaml(out: &mut String, name: &str, cpu_m: usize, mem_mi: usize, extra_spec: &str) {
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: bench\n  labels:\n    app: {name}\nspec:\n{extra_spec}  containers:\n  - name: app\n    image: registry.example/app:1.0\n    resources:\n      requests:\n        cpu: {cpu_m}m\n        memory: {mem_mi}Mi\n"
    );
}

fn measure(name: &str, cluster: String, pods: String) -> Figures {
    let yaml_bytes = cluster.len() + pods.len();
    let t0 = Instant::now();
    let mut m = Manifests::new();
    m.load_str("bench-cluster.yaml", cluster);
    let first_new = m.pods.len();
    m.load_str("bench-pods.yaml", pods);
    let admitted = m.admit_pods();
    m.finish().expect("generated manifests are valid");
    let parse_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let nodes: Vec<_> = m.nodes.iter().map(|n| n.object.clone()).collect();
    let (state, new) = admitted.split_at(first_new);
    let decisions = decide(&nodes, state, &[], new, 1).expect("generated cluster is consistent");
    let schedule_s = t1.elapsed().as_secs_f64();
    let count = |r: &str| decisions.iter().filter(|d| d.result == r).count();
    Figures {
        name: name.to_string(),
        nodes: m.nodes.len(),
        pods: decisions.len(),
        yaml_bytes,
        parse_s,
        schedule_s,
        scheduled: count("scheduled"),
        preempting: count("preempting"),
        unschedulable: count("unschedulable"),
    }
}

/// 150,000 pending pods of mixed sizes onto 5,000 empty 32-core nodes.
pub fn scale(nodes: usize, pods: usize) -> Figures {
    let mut cluster = String::with_capacity(nodes * 220);
    for i in 0..nodes {
        node_yaml(&mut cluster, i);
    }
    let mut pending = String::with_capacity(pods * 300);
    for i in 0..pods {
        pod_yaml(
            &mut pending,
            &format!("pod-{i:06}"),
            100 + (i * 37) % 900,
            128 + (i * 53) % 1920,
            "",
        );
    }
    measure(
        &format!("schedule {pods} pods onto {nodes} nodes"),
        cluster,
        pending,
    )
}

/// Every node full of priority-0 pods; then high-priority pods that each need a victim.
pub fn preemption(nodes: usize, preemptors: usize) -> Figures {
    let mut cluster = String::new();
    for i in 0..nodes {
        node_yaml(&mut cluster, i);
    }
    for i in 0..nodes {
        for j in 0..4 {
            pod_yaml(
                &mut cluster,
                &format!("low-{i:05}-{j}"),
                8000,
                30 * 1024,
                &format!("  nodeName: node-{i:05}\n  priority: 0\n"),
            );
        }
    }
    let mut pending = String::new();
    for i in 0..preemptors {
        pod_yaml(
            &mut pending,
            &format!("high-{i:05}"),
            4000,
            8 * 1024,
            "  priority: 1000\n",
        );
    }
    measure(
        &format!("preempt: {preemptors} high-priority pods into {nodes} full nodes"),
        cluster,
        pending,
    )
}

pub fn print(f: &Figures) {
    println!("{}", f.name);
    println!(
        "  parse + admit: {:>7.3} s  ({:.1} MB of YAML, {:.0} MB/s)",
        f.parse_s,
        f.yaml_bytes as f64 / 1e6,
        f.yaml_bytes as f64 / 1e6 / f.parse_s
    );
    println!(
        "  schedule:      {:>7.3} s  ({:.0} pods/s; {} scheduled, {} preempting, {} unschedulable)",
        f.schedule_s,
        f.pods as f64 / f.schedule_s,
        f.scheduled,
        f.preempting,
        f.unschedulable
    );
    println!(
        "  total:         {:>7.3} s  ({} nodes, {} pods)",
        f.parse_s + f.schedule_s,
        f.nodes,
        f.pods
    );
}

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
