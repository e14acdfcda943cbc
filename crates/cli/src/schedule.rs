//! `cascade schedule --cluster FILE... --pod FILE...`: kube-scheduler's decisions for each pod.

use crate::Output;
use cascade_manifest::{Errors, Manifests, Path};
use cascade_model::Rng;
use cascade_scheduler::{
    apply_now, queue_order, Cluster, NodeId, Outcome, Scheduler, SchedulerConfig,
};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;

#[derive(Serialize)]
pub struct DecisionOut {
    pub pod: String,
    /// The pod's priority after admission (its PriorityClass's value, or the globalDefault):
    /// what the queue orders by and preemption compares.
    pub priority: i32,
    pub result: &'static str,
    pub node: Option<String>,
    pub victims: Vec<String>,
    pub message: String,
}

#[derive(Serialize)]
struct Report {
    decisions: Vec<DecisionOut>,
}

/// Pods bound to a node that none of the files defines: an error when the files define nodes
/// at all or `require_nodes` (a file of pods alone can be validated on its own).
pub fn check_bindings(m: &mut Manifests, require_nodes: bool) {
    if m.nodes.is_empty() && !require_nodes {
        return;
    }
    let names: HashSet<&str> = m.nodes.iter().map(|n| n.object.name.as_str()).collect();
    let bad: Vec<_> = m
        .pods
        .iter()
        .filter_map(|p| {
            let n = p.object.pod.node_name.as_deref()?;
            (!names.contains(n)).then(|| (p.origin.clone(), p.object.pod.key(), n.to_string()))
        })
        .collect();
    for (origin, key, node) in bad {
        m.report(
            &origin,
            Path::root().key("spec").key("nodeName"),
            format!("pod {key} is bound to node {node:?}, which no file defines: expected one of the Nodes given"),
        );
    }
}

pub fn run(
    cluster_files: &[std::path::PathBuf],
    pod_files: &[std::path::PathBuf],
    output: Output,
    seed: u64,
) -> Result<u8, Errors> {
    let cluster_files = crate::inputs::files(cluster_files)?;
    let pod_files = crate::inputs::files(pod_files)?;
    let mut m = Manifests::new();
    for f in &cluster_files {
        m.load_file(f);
    }
    let first_pod_source = m.pods.len();
    let first_pod_workload = (m.workloads.len(), m.jobs.len());
    for f in &pod_files {
        m.load_file(f);
    }
    let pods = m.admit_pods();
    check_bindings(&mut m, true);
    let workload_pods = expand_workloads(&mut m, first_pod_workload, seed);
    for w in &m.warnings {
        eprintln!("{w}");
    }
    m.finish()?;

    let (state_pods, pod_docs) = pods.split_at(first_pod_source);
    let new_pods: Vec<cascade_model::Pod> = pod_docs.iter().cloned().chain(workload_pods).collect();
    let new_pods = new_pods.as_slice();
    for (p, loaded) in state_pods.iter().zip(&m.pods) {
        if p.node_name.is_none() {
            let w = m.diagnostic(
                cascade_manifest::Severity::Warning,
                &loaded.origin,
                &Path::root(),
                format!(
                    "pod {} in a cluster file is not bound: it is kept pending and not scheduled \
                     (give it with --pod to schedule it)",
                    p.key()
                ),
            );
            eprintln!("{w}");
        }
    }
    let nodes: Vec<_> = m.nodes.iter().map(|n| n.object.clone()).collect();
    let pdbs: Vec<_> = m.pdbs.iter().map(|b| b.object.clone()).collect();
    let decisions = decide(&nodes, state_pods, &pdbs, new_pods, seed).map_err(|e| {
        Errors(vec![cascade_manifest::Diagnostic {
            severity: cascade_manifest::Severity::Error,
            file: "<cluster>".into(),
            line: 0,
            column: 0,
            message: e.to_string(),
            skipped_kind: None,
        }])
    })?;

    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let written = match output {
        Output::Json => serde_json::to_writer_pretty(&mut w, &Report { decisions })
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(w)),
        Output::Table => write_table(&mut w, &decisions),
    };
    // A closed pipe (`| head`) is not an error worth reporting.
    match written.and_then(|_| w.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Errors(vec![cascade_manifest::Diagnostic {
            severity: cascade_manifest::Severity::Error,
            file: "<stdout>".into(),
            line: 0,
            column: 0,
            message: format!("cannot write output: {e}"),
            skipped_kind: None,
        }])),
    }
}

/// Where an object was read, as an order: file, document, then its place in a `kind: List`.
fn document_order(o: &cascade_manifest::Origin) -> (usize, usize, Vec<usize>) {
    let items = o
        .path
        .0
        .iter()
        .filter_map(|s| match s {
            cascade_manifest::Seg::Index(i) => Some(*i),
            cascade_manifest::Seg::Key(_) => None,
        })
        .collect();
    (o.source, o.doc, items)
}

/// A controller read from the files: a workload or a Job, by its index in its list.
#[derive(Clone, Copy)]
enum Controller {
    Workload(usize),
    Job(usize),
}

/// The pods of the workloads and Jobs in the `--pod` files (from indexes `first`), in the
/// order the files give them; a controller in a `--cluster` file is cluster state only
/// through the bound Pods given with it, which a warning says.
fn expand_workloads(
    m: &mut Manifests,
    first: (usize, usize),
    seed: u64,
) -> Vec<cascade_model::Pod> {
    let classes = m.priority_class_set();
    let nodes: Vec<_> = m.nodes.iter().map(|n| n.object.clone()).collect();
    let mut names = cascade_model::GeneratedNames::new(Rng::stream(seed, "pod-names"));
    let mut pods = Vec::new();
    let mut problems = Vec::new();
    let mut all: Vec<(cascade_manifest::Origin, Controller)> = m
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| (w.origin.clone(), Controller::Workload(i)))
        .chain(
            m.jobs
                .iter()
                .enumerate()
                .map(|(i, j)| (j.origin.clone(), Controller::Job(i))),
        )
        .collect();
    all.sort_by_key(|(o, _)| document_order(o));
    let max_pods = crate::run::memory_available()
        .map_or(u64::MAX, |b| b / cascade_sim::scenario::size::BYTES_PER_POD);
    let mut expanded_total: u64 = 0;
    for (origin, c) in all {
        let (kind, namespace, name, in_cluster) = match c {
            Controller::Workload(i) => {
                let w = &m.workloads[i].object;
                (format!("{:?}", w.kind), &w.namespace, &w.name, i < first.0)
            }
            Controller::Job(i) => {
                let j = &m.jobs[i].object;
                ("Job".to_string(), &j.namespace, &j.name, i < first.1)
            }
        };
        if in_cluster {
            problems.push((
                cascade_manifest::Severity::Warning,
                origin,
                Path::root(),
                format!(
                    "{kind} {namespace}/{name} in a cluster file is not expanded: give its running pods as bound Pods (kubectl get pods -o yaml), or the workload with --pod to schedule its pods",
                ),
            ));
            continue;
        }
        // Pods the controller would create, counted before any is built: a replica count
        // beyond what the machine holds is an error, not an allocation that aborts.
        let (count, field) = match c {
            Controller::Workload(i) => {
                let w = &m.workloads[i].object;
                if w.kind == cascade_model::WorkloadKind::DaemonSet {
                    (nodes.len() as u64, "template")
                } else {
                    (u64::try_from(w.replicas.max(0)).unwrap_or(0), "replicas")
                }
            }
            Controller::Job(i) => (
                u64::try_from(m.jobs[i].object.active_pods()).unwrap_or(0),
                "parallelism",
            ),
        };
        expanded_total = expanded_total.saturating_add(count);
        if expanded_total > max_pods {
            problems.push((
                cascade_manifest::Severity::Error,
                origin,
                Path::root().key("spec").key(field),
                format!(
                    "{kind} {namespace}/{name}: expanding it would bring the pods to schedule to {expanded_total}, more than this machine's memory holds (about {max_pods}): lower its {field}",
                ),
            ));
            break;
        }
        let expanded = match c {
            Controller::Workload(i) => {
                crate::expand::workload_pods(&m.workloads[i].object, &classes, &nodes, &mut names)
            }
            Controller::Job(i) => crate::expand::job_pods(&m.jobs[i].object, &classes, &mut names),
        };
        match expanded {
            Ok(p) => pods.extend(p),
            Err(e) => problems.push((
                cascade_manifest::Severity::Error,
                origin,
                Path::root()
                    .key("spec")
                    .key("template")
                    .key("spec")
                    .key("priorityClassName"),
                format!("{kind} {namespace}/{name}: {e}"),
            )),
        }
    }
    for (severity, origin, path, message) in problems {
        if severity == cascade_manifest::Severity::Error {
            m.report(&origin, path, message);
        } else {
            let d = m.diagnostic(severity, &origin, &path, message);
            m.warnings.push(d);
        }
    }
    pods
}

/// Builds the cluster from its nodes, its pods (bound ones take their node's resources) and
/// its PDBs, then schedules `new_pods` in queue order, applying each decision at once.
pub fn decide(
    nodes: &[cascade_model::Node],
    state_pods: &[cascade_model::Pod],
    pdbs: &[cascade_model::PodDisruptionBudget],
    new_pods: &[cascade_model::Pod],
    seed: u64,
) -> Result<Vec<DecisionOut>, cascade_scheduler::ClusterError> {
    let mut cluster = Cluster::new();
    for n in nodes {
        cluster.add_node(n.clone())?;
    }
    for p in state_pods {
        cluster.add_pod(p.clone())?;
    }
    for b in pdbs {
        cluster.add_pdb(b.clone());
    }
    let mut queue = Vec::with_capacity(new_pods.len());
    for p in new_pods {
        queue.push(cluster.add_pending_pod(p.clone())?);
    }
    // Stable: pods equal in priority and creation time keep their order in the files.
    queue.sort_by(|a, b| queue_order(&cluster.pod(*a).pod, &cluster.pod(*b).pod));

    let mut scheduler = Scheduler::new(SchedulerConfig::default(), Rng::stream(seed, "scheduler"));
    let mut decisions = Vec::with_capacity(queue.len());
    for id in queue {
        let d = scheduler.schedule_one(&mut cluster, id);
        let key = cluster.pod(id).pod.key();
        let priority = cluster.pod(id).pod.priority;
        let node_name = |n: NodeId| cluster.node(n).node.name.clone();
        let out = match &d.outcome {
            Outcome::Scheduled(n) => DecisionOut {
                message: format!("Successfully assigned {key} to {}", node_name(*n)),
                pod: key,
                priority,
                result: "scheduled",
                node: Some(node_name(*n)),
                victims: vec![],
            },
            Outcome::Preempting { node, victims } => {
                let mut v: Vec<String> =
                    victims.iter().map(|p| cluster.pod(*p).pod.key()).collect();
                v.sort();
                DecisionOut {
                    pod: key,
                    priority,
                    result: "preempting",
                    node: Some(node_name(*node)),
                    victims: v,
                    message: d.message.clone(),
                }
            }
            Outcome::Unschedulable => DecisionOut {
                pod: key,
                priority,
                result: "unschedulable",
                node: None,
                victims: vec![],
                message: d.message.clone(),
            },
        };
        apply_now(&mut cluster, &d);
        decisions.push(out);
    }
    Ok(decisions)
}

/// Aligned columns for people: POD, RESULT, NODE, VICTIMS, then the message.
pub fn write_table(w: &mut impl Write, decisions: &[DecisionOut]) -> std::io::Result<()> {
    // The message in every row, as `kubectl get events` shows Scheduled events too.
    let rows: Vec<[String; 6]> = decisions
        .iter()
        .map(|d| {
            [
                d.pod.clone(),
                d.priority.to_string(),
                d.result.to_string(),
                d.node.clone().unwrap_or_else(|| "<none>".into()),
                if d.victims.is_empty() {
                    "<none>".into()
                } else {
                    d.victims.join(",")
                },
                d.message.clone(),
            ]
        })
        .collect();
    let header = ["POD", "PRIORITY", "RESULT", "NODE", "VICTIMS", "MESSAGE"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |w: &mut dyn Write, cells: [&str; 6]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate().take(5) {
            s.push_str(&format!("{:<width$}   ", c, width = widths[i]));
        }
        s.push_str(cells[5]);
        writeln!(w, "{}", s.trim_end())
    };
    line(w, header)?;
    for r in &rows {
        line(w, [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]])?;
    }
    Ok(())
}
