// Tests index small fixtures: truncating casts cannot occur there.
#![allow(clippy::cast_possible_truncation)]
use super::*;
use cascade_model::{LabelSelector, Requirement};
use cascade_model::{Node, PodDisruptionBudget, PreemptionPolicy, Resources, Taint, TaintEffect};

const GI: i64 = 1 << 30;

fn node(name: &str, cpu: i64, mem: i64) -> Node {
    Node {
        name: name.into(),
        labels: Default::default(),
        allocatable: Resources {
            milli_cpu: cpu,
            memory: mem,
            ephemeral_storage: 0,
            pods: 110,
        },
        scalar_allocatable: Default::default(),
        taints: vec![],
        unschedulable: false,
    }
}

fn pod(name: &str, cpu: i64, mem: i64, prio: i32) -> Pod {
    let mut p = Pod::new("default", name, cpu, mem);
    p.priority = prio;
    p
}

fn bound(mut p: Pod, node: &str, start: i64) -> Pod {
    p.node_name = Some(node.into());
    p.start_time = Some(start);
    p
}

fn sched() -> Scheduler {
    Scheduler::new(SchedulerConfig::default(), Rng::new(1))
}

fn run(c: &mut Cluster, p: Pod) -> Decision {
    let id = c.add_pod(p).unwrap();
    let d = sched().schedule_one(c, id);
    apply_now(c, &d);
    c.check_invariants().unwrap();
    d
}

#[test]
fn least_allocated_prefers_the_emptier_node() {
    let mut c = Cluster::new();
    c.add_node(node("busy", 4000, 16 * GI)).unwrap();
    c.add_node(node("idle", 4000, 16 * GI)).unwrap();
    c.add_pod(bound(pod("x", 3000, 8 * GI, 0), "busy", 0))
        .unwrap();
    let d = run(&mut c, pod("p", 500, GI, 0));
    assert_eq!(d.outcome, Outcome::Scheduled(c.node_id("idle").unwrap()));
}

#[test]
fn unschedulable_message_uses_kube_scheduler_wording() {
    let mut c = Cluster::new();
    c.add_node(node("a", 1000, 4 * GI)).unwrap();
    c.add_node(node("b", 1000, 4 * GI)).unwrap();
    let mut tainted = node("t", 8000, 32 * GI);
    tainted.taints.push(Taint {
        key: "dedicated".into(),
        value: "db".into(),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    });
    c.add_node(tainted).unwrap();
    let mut cordoned = node("u", 8000, 32 * GI);
    cordoned.unschedulable = true;
    c.add_node(cordoned).unwrap();
    let d = run(&mut c, pod("p", 2000, GI, 0));
    assert_eq!(d.outcome, Outcome::Unschedulable);
    assert_eq!(
        d.message,
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, \
         1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/4 nodes are available: \
         2 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );
}

#[test]
fn preemption_takes_the_lowest_priority_victims_and_reprieves_the_rest() {
    let mut c = Cluster::new();
    c.add_node(node("n1", 4000, 16 * GI)).unwrap();
    c.add_pod(bound(pod("low", 1000, GI, 0), "n1", 0)).unwrap();
    c.add_pod(bound(pod("mid", 2000, GI, 10), "n1", 0)).unwrap();
    c.add_pod(bound(pod("other", 1000, GI, 0), "n1", 0))
        .unwrap();
    let d = run(&mut c, pod("p", 2000, GI, 100));
    let Outcome::Preempting { node, victims } = &d.outcome else {
        panic!("{d:?}")
    };
    assert_eq!(*node, NodeId::new(0));
    // Removing both priority-0 pods frees 2 CPU; "mid" (more important) is reprieved first.
    assert_eq!(victims.len(), 2);
    assert!(c.pod_id("default/low").is_none() && c.pod_id("default/other").is_none());
    assert!(c.pod_id("default/mid").is_some());
    let p = c.pod_id("default/p").unwrap();
    assert_eq!(c.pod(p).nominated, Some(NodeId::new(0)));
    // Scheduling the preemptor again now binds it to its nominated node.
    let d = sched().schedule_one(&mut c, p);
    assert_eq!(d.outcome, Outcome::Scheduled(NodeId::new(0)));
}

#[test]
fn never_policy_does_not_preempt() {
    let mut c = Cluster::new();
    c.add_node(node("n1", 1000, GI)).unwrap();
    c.add_pod(bound(pod("low", 1000, GI / 2, 0), "n1", 0))
        .unwrap();
    let mut p = pod("p", 1000, GI / 2, 1000);
    p.preemption_policy = PreemptionPolicy::Never;
    let d = run(&mut c, p);
    assert_eq!(d.outcome, Outcome::Unschedulable);
    assert!(
        d.message
            .ends_with("preemption: not eligible due to preemptionPolicy=Never."),
        "{}",
        d.message
    );
}

#[test]
fn pdb_protected_pods_are_reprieved_first_and_nodes_without_violations_win() {
    let mut c = Cluster::new();
    c.add_node(node("n1", 2000, 8 * GI)).unwrap();
    c.add_node(node("n2", 2000, 8 * GI)).unwrap();
    let mut guarded = pod("guarded", 2000, GI, 0);
    guarded.labels.insert("app".into(), "db".into());
    c.add_pod(bound(guarded, "n1", 0)).unwrap();
    c.add_pod(bound(pod("free", 2000, GI, 0), "n2", 0)).unwrap();
    c.add_pdb(PodDisruptionBudget {
        namespace: "default".into(),
        name: "db".into(),
        selector: LabelSelector {
            requirements: vec![Requirement::In("app".into(), vec!["db".into()])],
        },
        min_available: Some(cascade_model::IntOrPercent::Int(1)),
        max_unavailable: None,
        status_disruptions_allowed: None,
        disrupted_pods: vec![],
    });
    assert_eq!(c.pdbs()[0].disruptions_allowed(), 0);
    let d = run(&mut c, pod("p", 2000, GI, 5));
    let Outcome::Preempting { node, .. } = d.outcome else {
        panic!()
    };
    assert_eq!(node, c.node_id("n2").unwrap());
    assert!(c.pod_id("default/guarded").is_some());
}

#[test]
fn nominated_pods_reserve_room_for_higher_priority_only() {
    let mut c = Cluster::new();
    c.add_node(node("n1", 2000, 8 * GI)).unwrap();
    let mut big = pod("big", 2000, GI, 100);
    big.nominated_node_name = Some("n1".into());
    c.add_pod(big).unwrap();
    // A lower-priority pod cannot take the room the nominated pod waits for ...
    let d = run(&mut c, pod("small", 1000, GI, 10));
    assert_eq!(d.outcome, Outcome::Unschedulable);
    // ... but a higher-priority one can.
    let d = run(&mut c, pod("urgent", 1000, GI, 1000));
    assert_eq!(d.outcome, Outcome::Scheduled(NodeId::new(0)));
}

#[test]
fn node_sampling_follows_kube_scheduler() {
    let cfg = SchedulerConfig::default();
    assert_eq!(cfg.num_feasible_nodes_to_find(50), 50);
    assert_eq!(cfg.num_feasible_nodes_to_find(100), 100);
    // 5,000 nodes: 50 - 5000/125 = 10% = 500.
    assert_eq!(cfg.num_feasible_nodes_to_find(5000), 500);
    // 6,000 nodes: 50 - 48 = 2% -> at least 5% = 300.
    assert_eq!(cfg.num_feasible_nodes_to_find(6000), 300);
    assert_eq!(cfg.num_candidates(50), 50);
    assert_eq!(cfg.num_candidates(5000), 500);
    assert_eq!(cfg.num_candidates(500), 100);
}

#[test]
fn node_tree_interleaves_zones() {
    let mut c = Cluster::new();
    for (name, zone) in [
        ("a1", "a"),
        ("a2", "a"),
        ("a3", "a"),
        ("b1", "b"),
        ("c1", "c"),
        ("c2", "c"),
    ] {
        let mut n = node(name, 1000, GI);
        n.labels
            .insert("topology.kubernetes.io/zone".into(), zone.into());
        c.add_node(n).unwrap();
    }
    let names: Vec<&str> = c
        .node_order()
        .to_vec()
        .iter()
        .map(|id| c.node(*id).node.name.as_str())
        .collect::<Vec<_>>();
    assert_eq!(names, ["a1", "b1", "c1", "a2", "c2", "a3"]);
}

fn gpu_node(name: &str, gpus: i64) -> Node {
    let mut n = node(name, 8000, 32 * GI);
    n.scalar_allocatable.set("nvidia.com/gpu", gpus);
    n
}

fn gpu_pod(name: &str, gpus: i64, prio: i32) -> Pod {
    let mut p = pod(name, 100, GI, prio);
    p.scalar_requests.set("nvidia.com/gpu", gpus);
    p
}

#[test]
fn a_pod_asking_for_a_gpu_goes_only_where_one_is_left() {
    let mut c = Cluster::new();
    c.add_node(node("cpu-only", 16000, 64 * GI)).unwrap();
    c.add_node(gpu_node("gpu", 2)).unwrap();
    for i in 0..2 {
        let d = run(&mut c, gpu_pod(&format!("g{i}"), 1, 0));
        assert_eq!(d.outcome, Outcome::Scheduled(c.node_id("gpu").unwrap()));
    }
    let d = run(&mut c, gpu_pod("g2", 1, 0));
    assert_eq!(d.outcome, Outcome::Unschedulable);
    assert_eq!(
        d.message,
        "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are \
         available: 2 No preemption victims found for incoming pod."
    );
    // A pod with no extended request still uses both nodes.
    assert!(matches!(
        run(&mut c, pod("plain", 100, GI, 0)).outcome,
        Outcome::Scheduled(_)
    ));
}

#[test]
fn preemption_frees_extended_resources() {
    let mut c = Cluster::new();
    c.add_node(gpu_node("gpu", 1)).unwrap();
    c.add_node(node("big", 64000, 256 * GI)).unwrap();
    c.add_pod(bound(gpu_pod("low", 1, 0), "gpu", 0)).unwrap();
    // A CPU-only low-priority pod is no victim: removing it frees no GPU.
    c.add_pod(bound(pod("bystander", 100, GI, 0), "gpu", 0))
        .unwrap();
    let d = run(&mut c, gpu_pod("high", 1, 100));
    let low = c.pod_id("default/low");
    assert_eq!(low, None, "the GPU holder was deleted");
    match d.outcome {
        Outcome::Preempting { node, victims } => {
            assert_eq!(node, c.node_id("gpu").unwrap());
            assert_eq!(victims.len(), 1);
        }
        other => panic!("expected preemption, got {other:?}"),
    }
    assert!(c.pod_id("default/bystander").is_some());
    assert_eq!(
        c.node(c.node_id("gpu").unwrap())
            .scalar_requested
            .get("nvidia.com/gpu"),
        0
    );
}
