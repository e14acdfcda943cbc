//! DefaultPreemption (PostFilter), following kube-scheduler v1.33:
//! pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go and
//! pkg/scheduler/framework/preemption/preemption.go.
//!
//! 1. Eligibility (PodEligibleToPreemptOthers): not with preemptionPolicy Never; not while the
//!    pod's nominated node still has a lower-priority pod terminating (it is waiting for room).
//! 2. Candidate nodes: those rejected only for reasons removing pods could fix (status
//!    Unschedulable, not UnschedulableAndUnresolvable).
//! 3. Dry run over the candidates from a random offset, stopping once enough candidates were
//!    found (max(10% of nodes, 100), at least one without PDB violations).
//! 4. On each node (SelectVictimsOnNode): remove every lower-priority pod; if the pod still does
//!    not fit, the node is no candidate; otherwise add the removed pods back, most important
//!    first, PDB-violating ones before the others, keeping each that still leaves room: those
//!    not added back are the victims.
//! 5. Pick one node (pickOneNodeForPreemption), each rule breaking the previous one's ties:
//!    fewest PDB violations; lowest highest-victim priority; smallest sum of victim priorities
//!    (each offset by MaxInt32+1 so that more victims weigh more); fewest victims; latest start
//!    time of its earliest-started highest-priority victim; the first one left.

use crate::cluster::{Cluster, NodeId, PodId};
use crate::filter::{fits_pod, requested_with_nominated, NodeStatus, Reason};
use cascade_model::{Millis, Pod, PreemptionPolicy};
use std::cmp::Ordering;

/// A node where preemption would make room, and what it would cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub node: NodeId,
    /// Victims, most important first (MoreImportantPod order).
    pub victims: Vec<PodId>,
    pub num_pdb_violations: usize,
}

/// Why the pod may not preempt, in kube-scheduler's words; None when it may
/// (PodEligibleToPreemptOthers). A pod waiting on its nominated node for a lower-priority
/// victim of preemption (condition DisruptionTarget, reason PreemptionByScheduler) to finish
/// terminating may not preempt again, unless that node is now rejected for a
/// reason preemption cannot fix.
pub fn ineligibility(
    cluster: &Cluster,
    pod: &Pod,
    statuses: &[(NodeId, NodeStatus)],
) -> Option<&'static str> {
    if pod.preemption_policy == PreemptionPolicy::Never {
        return Some("not eligible due to preemptionPolicy=Never.");
    }
    if let Some(node) = pod
        .nominated_node_name
        .as_deref()
        .and_then(|n| cluster.node_id(n))
    {
        if statuses.iter().any(|(id, s)| *id == node && !s.resolvable) {
            return None;
        }
        let info = cluster.node(node);
        let waiting = info.pods.iter().any(|p| {
            let victim = &cluster.pod(*p).pod;
            victim.terminating && victim.preempted_by_scheduler && victim.priority < pod.priority
        });
        if waiting {
            return Some("not eligible due to a terminating pod on the nominated node.");
        }
    }
    None
}

/// A pod's start time for ordering; a pod that has not started counts as starting now, which
/// is later than any recorded start (util.GetPodStartTime).
fn start_time(p: &Pod) -> Millis {
    p.start_time.unwrap_or(Millis::MAX)
}

/// MoreImportantPod: higher priority first, then the one that started earlier.
pub fn more_important(a: &Pod, b: &Pod) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_time(a).cmp(&start_time(b)))
}

/// SelectVictimsOnNode. `pdb_allowed` is each PDB's disruptionsAllowed before this node.
pub fn select_victims_on_node(
    cluster: &Cluster,
    pod_id: PodId,
    pod: &Pod,
    node: NodeId,
    pdb_allowed: &[i32],
) -> Result<Candidate, NodeStatus> {
    let info = cluster.node(node);
    let mut requested = requested_with_nominated(cluster, pod_id, pod, info);
    let mut potential: Vec<PodId> = info
        .pods
        .iter()
        .copied()
        .filter(|p| cluster.pod(*p).pod.priority < pod.priority)
        .collect();
    if potential.is_empty() {
        return Err(NodeStatus::unresolvable(Reason::NoPreemptionVictims));
    }
    for p in &potential {
        requested.remove_pod(&cluster.pod(*p).pod);
    }
    fits_pod(pod_id, pod, &requested, &info.node)?;
    potential.sort_by(|a, b| more_important(&cluster.pod(*a).pod, &cluster.pod(*b).pod));

    // filterPodsWithPDBViolation: walk the pods in importance order, spending each covering
    // PDB's allowance; a pod that overdraws any is violating.
    let mut allowed = pdb_allowed.to_vec();
    let (mut violating, mut non_violating) = (Vec::new(), Vec::new());
    for &p in &potential {
        let entry = cluster.pod(p);
        let mut violates = false;
        for &b in &entry.pdbs {
            let pdb = &cluster.pdbs()[b as usize].pdb;
            if pdb.disrupted_pods.contains(&entry.pod.name) {
                continue;
            }
            allowed[b as usize] -= 1;
            if allowed[b as usize] < 0 {
                violates = true;
            }
        }
        if violates {
            violating.push(p);
        } else {
            non_violating.push(p);
        }
    }

    let mut victims = Vec::new();
    let mut num_pdb_violations = 0;
    for (group, is_violating) in [(violating, true), (non_violating, false)] {
        for p in group {
            let victim = &cluster.pod(p).pod;
            requested.add_pod(victim);
            if fits_pod(pod_id, pod, &requested, &info.node).is_err() {
                requested.remove_pod(victim);
                victims.push(p);
                if is_violating {
                    num_pdb_violations += 1;
                }
            }
        }
    }
    victims.sort_by(|a, b| more_important(&cluster.pod(*a).pod, &cluster.pod(*b).pod));
    Ok(Candidate {
        node,
        victims,
        num_pdb_violations,
    })
}

/// pickOneNodeForPreemption: the index of the chosen candidate.
pub fn pick_one_node(cluster: &Cluster, candidates: &[Candidate]) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let prio = |p: &PodId| cluster.pod(*p).pod.priority;
    let mut left: Vec<usize> = (0..candidates.len()).collect();
    let keep_min = |left: &mut Vec<usize>, key: &dyn Fn(&Candidate) -> i64| {
        let best = left
            .iter()
            .map(|i| key(&candidates[*i]))
            .min()
            .expect("non-empty");
        left.retain(|i| key(&candidates[*i]) == best);
    };
    // 1. Fewest PDB violations.
    keep_min(&mut left, &|c| c.num_pdb_violations as i64);
    // 2. Lowest priority of the highest-priority victim (victims are sorted, most important
    //    first).
    keep_min(&mut left, &|c| {
        c.victims.first().map_or(i64::MIN, |v| i64::from(prio(v)))
    });
    // 3. Smallest sum of priorities, each offset by MaxInt32+1 so that every victim counts
    //    positively.
    keep_min(&mut left, &|c| {
        c.victims
            .iter()
            .map(|v| i64::from(prio(v)) + i64::from(i32::MAX) + 1)
            .sum()
    });
    // 4. Fewest victims.
    keep_min(&mut left, &|c| c.victims.len() as i64);
    // 5. Latest start time among the earliest-started of the highest-priority victims.
    keep_min(&mut left, &|c| {
        let Some(top) = c.victims.first().map(prio) else {
            return i64::MIN;
        };
        let earliest = c
            .victims
            .iter()
            .filter(|v| prio(v) == top)
            .map(|v| start_time(&cluster.pod(*v).pod))
            .min()
            .unwrap_or(Millis::MAX);
        -earliest
    });
    // 6. The first one left.
    left.first().copied()
}
