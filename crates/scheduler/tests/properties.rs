// Tests index small fixtures: truncating casts cannot occur there.
#![allow(clippy::cast_possible_truncation)]
//! Properties of the scheduler over random clusters and random pod sequences.

use cascade_model::{Node, Pod, PreemptionPolicy, Resources, Rng};
use cascade_scheduler::{
    apply_now, queue_order, Cluster, NodeId, Outcome, PodId, Scheduler, SchedulerConfig,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    nodes: Vec<(i64, i64, i64)>,
    /// (cpu, mem, priority, bound to node index or not, never-preempt)
    pods: Vec<(i64, i64, i32, Option<usize>, bool)>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..8).prop_flat_map(|n| {
        (
            prop::collection::vec((1i64..16, 1i64..64, 3i64..20), n),
            prop::collection::vec(
                (
                    1i64..8,
                    1i64..24,
                    0i32..5,
                    prop::option::of(0..n),
                    any::<bool>(),
                ),
                1..40,
            ),
            any::<u64>(),
        )
            .prop_map(|(nodes, pods, seed)| Case { nodes, pods, seed })
    })
}

/// Builds the cluster (bound pods only where they fit, as a real cluster would have them) and
/// returns it with the pending pods in queue order.
fn build(c: &Case) -> (Cluster, Vec<PodId>) {
    let mut cluster = Cluster::new();
    for (i, (cpu, mem, pods)) in c.nodes.iter().enumerate() {
        cluster
            .add_node(Node {
                name: format!("n{i}"),
                labels: Default::default(),
                allocatable: Resources {
                    milli_cpu: cpu * 1000,
                    memory: mem << 30,
                    ephemeral_storage: 0,
                    pods: *pods,
                },
                scalar_allocatable: Default::default(),
                taints: vec![],
                unschedulable: false,
            })
            .unwrap();
    }
    let mut pending = Vec::new();
    for (i, (cpu, mem, prio, node, never)) in c.pods.iter().enumerate() {
        let mut p = Pod::new("default", &format!("p{i:02}"), cpu * 500, mem << 29);
        p.priority = *prio * 100;
        p.creation_timestamp = i as i64;
        p.start_time = Some(i as i64);
        if *never {
            p.preemption_policy = PreemptionPolicy::Never;
        }
        if let Some(n) = node {
            let info = cluster.node(NodeId::new(*n as u32));
            let fits = (info.requested + p.requests).fits_in(&info.node.allocatable);
            if fits {
                p.node_name = Some(format!("n{n}"));
                cluster.add_pod(p).unwrap();
                continue;
            }
        }
        pending.push(cluster.add_pending_pod(p).unwrap());
    }
    pending.sort_by(|a, b| queue_order(&cluster.pod(*a).pod, &cluster.pod(*b).pod));
    (cluster, pending)
}

/// Runs every pending pod through the scheduler; returns a transcript.
fn run(c: &Case) -> (Cluster, Vec<String>) {
    let (mut cluster, pending) = build(c);
    let mut s = Scheduler::new(SchedulerConfig::default(), Rng::new(c.seed));
    let mut log = Vec::new();
    for id in pending {
        let d = s.schedule_one(&mut cluster, id);
        let prio = cluster.pod(id).pod.priority;
        let policy = cluster.pod(id).pod.preemption_policy;
        if let Outcome::Preempting { victims, .. } = &d.outcome {
            assert_ne!(policy, PreemptionPolicy::Never, "a Never pod preempted");
            for v in victims {
                assert!(
                    cluster.pod(*v).pod.priority < prio,
                    "victim not of lower priority"
                );
            }
            assert!(!victims.is_empty());
        }
        log.push(format!("{:?} {}", d.outcome, d.message));
        apply_now(&mut cluster, &d);
        cluster.check_invariants().unwrap();
    }
    (cluster, log)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// No node is over-committed after any sequence of decisions; Never pods never preempt;
    /// victims always have lower priority than their preemptor (asserted inside `run`).
    #[test]
    fn decisions_keep_the_invariants(c in case()) {
        let (mut cluster, _) = run(&c);
        // A second pass binds the nominated preemptors: they must fit where they were nominated.
        let mut s = Scheduler::new(SchedulerConfig::default(), Rng::new(c.seed));
        let nominated: Vec<(PodId, NodeId)> = cluster
            .pods()
            .filter_map(|(id, e)| e.nominated.map(|n| (id, n)))
            .collect();
        for (id, node) in nominated {
            if cluster.try_pod(id).and_then(|e| e.nominated) != Some(node) {
                continue;
            }
            let d = s.schedule_one(&mut cluster, id);
            prop_assert_eq!(&d.outcome, &Outcome::Scheduled(node));
            apply_now(&mut cluster, &d);
            cluster.check_invariants().unwrap();
        }
    }

    /// Same input and seed, same decisions.
    #[test]
    fn deterministic(c in case()) {
        prop_assert_eq!(run(&c).1, run(&c).1);
    }

    /// A pod that is reported unschedulable really fits on no node, even with every
    /// lower-priority pod removed when it may preempt.
    #[test]
    fn unschedulable_means_no_room(c in case()) {
        let (mut cluster, pending) = build(&c);
        let mut s = Scheduler::new(SchedulerConfig::default(), Rng::new(c.seed));
        for id in pending {
            let d = s.schedule_one(&mut cluster, id);
            if d.outcome == Outcome::Unschedulable {
                let p = cluster.pod(id).pod.clone();
                for (_, info) in cluster.nodes() {
                    let mut req = info.requested;
                    for &n in &info.nominated {
                        let np = &cluster.pod(n).pod;
                        if n != id && np.priority >= p.priority { req += np.requests; }
                    }
                    if p.preemption_policy != PreemptionPolicy::Never {
                        for v in &info.pods {
                            let vp = &cluster.pod(*v).pod;
                            if vp.priority < p.priority { req -= vp.requests; }
                        }
                    }
                    let mut need = req + p.requests;
                    need.pods = req.pods + 1;
                    prop_assert!(!need.fits_in(&info.node.allocatable), "{} fits on {}", p.key(), info.node.name);
                }
            }
            apply_now(&mut cluster, &d);
        }
    }
}
