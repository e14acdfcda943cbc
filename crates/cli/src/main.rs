//! The `cascade` command line.

use cascade::ci::Format;
use cascade::{
    bench, run, schedule, schema, validate, Output, EXIT_BAD_INPUT, EXIT_EXPECTATION_FAILED,
};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// See how a failure would spread through a Kubernetes cluster before it happens.
#[derive(Parser)]
#[command(name = "cascade", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: simulate the cluster through its faults and changes, write summary.json,
    /// events.jsonl, metrics.csv, metrics.om, the Grafana files and report.html, and exit 1 if an expectation fails.
    Run {
        /// The scenario file (apiVersion cascade.dev/v1alpha1, kind Scenario).
        scenario: PathBuf,
        /// Run one of the scenario's named variants (e.g. a mitigation).
        #[arg(long)]
        variant: Option<String>,
        /// Seed of every random choice (default: the scenario's spec.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a model parameter, e.g. --set kubelet.imagePullSeconds=30 (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE", value_parser = run::parse_set)]
        sets: Vec<(String, String)>,
        /// Directory for the outputs.
        #[arg(long, default_value = "cascade-out")]
        out: PathBuf,
        /// Run even if the run's estimated memory exceeds what the machine has available.
        #[arg(long)]
        force: bool,
        /// Also write a JUnit XML file: one test case per expectation, with its value, bound
        /// and window (for CI test reports).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// `github` adds one GitHub Actions `::error` annotation per failed expectation,
        /// located at the expectation in the scenario file.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print only the verdict line (and, with --format github, the annotations); no
        /// progress bar. Skipped kinds are summarised in one warning; every other warning is
        /// still printed.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// What simulated time 0 stands for in metrics.om and the Grafana files (RFC 3339, or
        /// `now`); default: the scenario's `parameters.startTime`, so the same run writes the
        /// same bytes. The simulation itself does not move.
        #[arg(long, value_name = "RFC3339|now")]
        start_time: Option<String>,
        /// Print the scenario's variants (name and description) and run nothing.
        #[arg(long)]
        list_variants: bool,
        /// Run the scenario and each of its variants, each into its own folder under --out,
        /// and write compare.html with the runs side by side.
        #[arg(long, conflicts_with = "variant")]
        all_variants: bool,
    },
    /// Print a scenario's effective parameters (defaults, the scenario's, a variant's and the
    /// --set overrides) as the YAML `spec.parameters` takes.
    Params {
        /// The scenario file.
        scenario: PathBuf,
        /// With this variant's parameters.
        #[arg(long)]
        variant: Option<String>,
        /// Override a parameter as `cascade run` does (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE", value_parser = run::parse_set)]
        sets: Vec<(String, String)>,
    },
    /// Print the JSON Schema (draft-07) of scenario files, for editors: save it and point
    /// yaml-language-server at it (see the README).
    Schema {
        /// Print the scenario reference (docs/scenario-reference.md) instead: every field,
        /// parameter and default, the metrics expectations may use, generated nodes' labels.
        #[arg(long)]
        markdown: bool,
    },
    /// What kube-scheduler would do with each pod, in scheduling-queue order, against a
    /// cluster's state (Nodes, bound Pods, PriorityClasses, PodDisruptionBudgets).
    Schedule {
        /// Cluster state: YAML files or directories of Nodes, bound Pods (`spec.nodeName` set:
        /// the running pods), PriorityClasses and PDBs (multi-document or `kind: List`, as
        /// `kubectl get -o yaml` prints).
        #[arg(long = "cluster", value_name = "FILE", required = true, num_args = 1..)]
        cluster: Vec<PathBuf>,
        /// The pods to schedule: YAML files or directories of Pods, and of Deployments,
        /// ReplicaSets, StatefulSets, DaemonSets and Jobs, each expanded into the pods its
        /// controller creates (what `helm template` prints).
        #[arg(long = "pod", value_name = "FILE", required = true, num_args = 1..)]
        pod: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Seed of the scheduler's random choices (ties between equally scored nodes).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Measure cascade's speed on this machine (figures for the project's notes).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// Check manifests without running anything; reports every problem found.
    Validate {
        /// Manifests (Kubernetes YAML, multi-document or `kind: List`), scenario files, or
        /// directories of them (read whole, subdirectories too, as `kubectl apply -f DIR -R` reads one).
        #[arg(value_name = "FILE", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Schedule 150,000 pods onto 5,000 nodes from YAML, then a preemption-heavy case.
    Schedule {
        /// Nodes in the generated cluster.
        #[arg(long, default_value_t = 5000)]
        nodes: usize,
        /// Pods to schedule onto them.
        #[arg(long, default_value_t = 150_000)]
        pods: usize,
        /// High-priority pods in the preemption case (0 skips it).
        #[arg(long, default_value_t = 10_000)]
        preemptors: usize,
    },
    /// Time one run of a scenario by phase (load, build, until every pod runs, the rest):
    /// simulated time over wall time and events/s, optionally beside another binary's run.
    Run {
        /// The scenario file to time.
        #[arg(value_name = "SCENARIO", default_value = "benches/idle-5000.yaml")]
        scenario: PathBuf,
        /// Time this one of the scenario's variants instead of the scenario itself.
        #[arg(long)]
        variant: Option<String>,
        /// Rounds; each figure is the median of its rounds.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Another cascade binary (a previous build) to time in the same rounds, alternating
        /// with this one, from its `cascade run` timing.json's wall_seconds.
        #[arg(long, value_name = "BIN")]
        previous: Option<PathBuf>,
    },
    /// Run a scenario for many seeds in one process on all cores (the Monte Carlo use).
    Sweep {
        /// The scenario file to run for each seed.
        #[arg(value_name = "SCENARIO", default_value = "scenarios/grafana-2019.yaml")]
        scenario: PathBuf,
        /// Sweep this one of the scenario's variants instead of the scenario itself.
        #[arg(long)]
        variant: Option<String>,
        /// How many seeds (1, 2, ... N); at least 1.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        seeds: u64,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Schedule {
            cluster,
            pod,
            output,
            seed,
        } => schedule::run(&cluster, &pod, output, seed),
        Command::Run {
            scenario,
            variant,
            sets,
            list_variants: true,
            ..
        } => {
            if variant.is_some() {
                Err(cascade_manifest::Errors(vec![
                    cascade_manifest::Diagnostic {
                        severity: cascade_manifest::Severity::Error,
                        file: "--list-variants".into(),
                        line: 0,
                        column: 0,
                        message: "--list-variants lists every variant; it takes no --variant"
                            .into(),
                        skipped_kind: None,
                    },
                ]))
            } else {
                run::list_variants(&scenario, &sets)
            }
        }
        Command::Params {
            scenario,
            variant,
            sets,
        } => run::params(&scenario, variant.as_deref(), &sets),
        Command::Run {
            scenario,
            variant,
            seed,
            sets,
            out,
            force,
            junit,
            format,
            quiet,
            start_time,
            list_variants: false,
            all_variants,
        } => {
            let opts = run::RunOptions {
                force,
                junit: junit.as_deref(),
                format,
                quiet,
                start_time: start_time.as_deref(),
            };
            if all_variants {
                run::run_all_variants(&scenario, seed, &sets, &out, &opts)
            } else {
                run::run(&scenario, variant.as_deref(), seed, &sets, &out, &opts)
            }
        }
        Command::Validate { files } => validate::run(&files),
        Command::Schema { markdown } => Ok(schema::print(markdown)),
        Command::Bench {
            which:
                BenchCommand::Schedule {
                    nodes,
                    pods,
                    preemptors,
                },
        } => {
            bench::print(&bench::scale(nodes, pods));
            if preemptors > 0 {
                bench::print(&bench::preemption(nodes, preemptors));
            }
            Ok(0)
        }
        Command::Bench {
            which:
                BenchCommand::Run {
                    scenario,
                    variant,
                    rounds,
                    previous,
                },
        } => bench_run(
            &scenario,
            variant.as_deref(),
            rounds.max(1),
            previous.as_deref(),
        ),
        Command::Bench {
            which:
                BenchCommand::Sweep {
                    scenario,
                    variant,
                    seeds,
                    threads,
                },
        } => bench::sweep(&scenario, variant.as_deref(), 1, seeds, threads).map(|s| {
            bench::print_sweep(&s);
            // A seed without a verdict is a failure of the sweep, not a dropped sample.
            if s.failed.is_empty() {
                0
            } else {
                EXIT_EXPECTATION_FAILED
            }
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// `cascade bench run`: rounds alternate the previous binary's run and this one's, so both
/// see the same load on the machine.
fn bench_run(
    scenario: &std::path::Path,
    variant: Option<&str>,
    rounds: usize,
    previous: Option<&std::path::Path>,
) -> Result<u8, cascade_manifest::Errors> {
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..rounds {
        if let Some(bin) = previous {
            match bench::previous(bin, scenario, variant) {
                Ok(p) => theirs.push(p),
                Err(message) => {
                    return Err(cascade_manifest::Errors(vec![
                        cascade_manifest::Diagnostic {
                            severity: cascade_manifest::Severity::Error,
                            file: "--previous".into(),
                            line: 0,
                            column: 0,
                            message,
                            skipped_kind: None,
                        },
                    ]))
                }
            }
        }
        mine.push(bench::phases(scenario, variant)?);
    }
    let prev = previous.map(|b| (b.display().to_string(), bench::median_previous(&theirs)));
    bench::print_phases(
        &scenario.display().to_string(),
        rounds,
        &bench::median_phases(&mine),
        prev.as_ref().map(|(b, p)| (b.as_str(), p)),
    );
    Ok(0)
}
