//! `cascade bench`: the speed figures the project tracks, measured on this machine.
//!
//! `schedule`: Kubernetes' published scalability limits, 150,000 pods onto 5,000 nodes, from
//! YAML text (parse, admission and scheduling timed separately), and a preemption-heavy case: a
//! full cluster and 10,000 high-priority pods that each must preempt.

mod run;
mod sweep;

pub use run::{
    median_phases, median_previous, phases, previous, print_phases, Phases, Previous,
    SETTLE_STEP_SECONDS,
};
pub use sweep::{print_sweep, sweep, Sweep};

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
