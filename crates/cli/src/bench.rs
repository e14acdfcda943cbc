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
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut sim = cascade_sim::Simulation::with_seed(base, seed)?;
        sim.run(|_| {});
        cascade_sim::output::summarize(&sim, 0.0)
    }));
    match attempt {
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
    let mut out = Sweep {
        scenario: base.name.clone(),
        runs: 0,
        threads,
        wall_s,
        events: 0,
        passed: 0,
        broken: Default::default(),
        failed: Vec::new(),
    };
    let mut all: Vec<(u64, SeedRun)> = results.into_iter().flatten().collect();
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
    Ok(out)
}

pub fn print_sweep(s: &Sweep) {
    println!(
        "sweep {}: {} runs on {} thread(s)",
        s.scenario, s.runs, s.threads
    );
    println!(
        "  wall:   {:>7.3} s  ({:.1} ms per run, {:.1} M events/s)",
        s.wall_s,
        1e3 * s.wall_s / s.runs.max(1) as f64,
        s.events as f64 / s.wall_s / 1e6
    );
    println!("  passed: {} of {}", s.passed, s.runs);
    for (name, n) in &s.broken {
        println!("  broken in {n} run(s): {name}");
    }
    if !s.failed.is_empty() {
        println!("  no verdict: {} of {}", s.failed.len(), s.runs);
        for (seed, why) in &s.failed {
            println!("    seed {seed}: {why} (reproduce with --seed {seed})");
        }
    }
}
