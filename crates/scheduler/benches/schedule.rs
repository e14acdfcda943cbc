//! Scheduling throughput on synthetic clusters (no YAML): `cargo bench -p cascade-scheduler`.
//! The end-to-end figure from YAML is `cascade bench schedule`.

use cascade_model::{Node, Pod, Resources, Rng};
use cascade_scheduler::{apply_now, Cluster, PodId, Scheduler, SchedulerConfig};

fn main() {
    divan::main();
}

fn cluster(nodes: usize) -> Cluster {
    let mut c = Cluster::new();
    for i in 0..nodes {
        let mut labels = cascade_model::Labels::new();
        labels.insert(
            "topology.kubernetes.io/zone".into(),
            format!("zone-{}", i % 3),
        );
        c.add_node(Node {
            name: format!("node-{i:05}"),
            labels,
            allocatable: Resources {
                milli_cpu: 32_000,
                memory: 128 << 30,
                ephemeral_storage: 0,
                pods: 110,
            },
            scalar_allocatable: Default::default(),
            taints: vec![],
            unschedulable: false,
        })
        .unwrap();
    }
    c
}

/// 30 pods per node on average, as in the 150k/5k scalability limit.
#[divan::bench(args = [100, 1000, 5000])]
fn schedule_pods(bencher: divan::Bencher, nodes: usize) {
    let pods = nodes * 30;
    bencher
        .with_inputs(|| {
            let mut c = cluster(nodes);
            let ids: Vec<PodId> = (0..pods)
                .map(|i| {
                    c.add_pod(Pod::new(
                        "bench",
                        &format!("p{i}"),
                        100 + (i as i64 * 37) % 900,
                        (128 + (i as i64 * 53) % 1920) << 20,
                    ))
                    .unwrap()
                })
                .collect();
            (c, ids)
        })
        .counter(divan::counter::ItemsCount::new(pods))
        .bench_local_values(|(mut c, ids)| {
            let mut s = Scheduler::new(SchedulerConfig::default(), Rng::new(1));
            for id in ids {
                let d = s.schedule_one(&mut c, id);
                apply_now(&mut c, &d);
            }
            c
        });
}

/// Full nodes of priority-0 pods; each high-priority pod must preempt.
#[divan::bench(args = [100, 1000])]
fn preempt(bencher: divan::Bencher, nodes: usize) {
    let preemptors = nodes * 2;
    bencher
        .with_inputs(|| {
            let mut c = cluster(nodes);
            for i in 0..nodes {
                for j in 0..4 {
                    let mut p = Pod::new("bench", &format!("low-{i}-{j}"), 8000, 30 << 30);
                    p.node_name = Some(format!("node-{i:05}"));
                    c.add_pod(p).unwrap();
                }
            }
            let ids: Vec<PodId> = (0..preemptors)
                .map(|i| {
                    let mut p = Pod::new("bench", &format!("high-{i}"), 4000, 8 << 30);
                    p.priority = 1000;
                    c.add_pod(p).unwrap()
                })
                .collect();
            (c, ids)
        })
        .counter(divan::counter::ItemsCount::new(preemptors))
        .bench_local_values(|(mut c, ids)| {
            let mut s = Scheduler::new(SchedulerConfig::default(), Rng::new(1));
            for id in ids {
                let d = s.schedule_one(&mut c, id);
                apply_now(&mut c, &d);
            }
            c
        });
}
