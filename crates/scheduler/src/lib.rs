//! kube-scheduler, as cascade models it: the default filters and scores, node sampling
//! (percentageOfNodesToScore), the scheduling queue's order and DefaultPreemption, over a
//! [`Cluster`]. Semantics follow Kubernetes v1.33 (the version of the API types cascade reads);
//! each rule cites the kube-scheduler source it comes from.
//!
//! The scheduler *decides*; callers apply. [`Scheduler::schedule_one`] reads the cluster and
//! returns a [`Decision`]; [`apply_now`] applies it at once (what `cascade schedule` does), while
//! the simulator applies victims' deletion with their graceful termination in simulated time.

pub mod cluster;
pub mod filter;
pub mod preemption;
pub mod score;

pub use cluster::{Cluster, ClusterError, NodeId, NodeInfo, PodEntry, PodId};
pub use filter::{Describe, NodeStatus, Reason};
pub use score::ScoreWeights;

use cascade_model::{Pod, Rng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The scheduler's tunables, with kube-scheduler's defaults (KubeSchedulerConfiguration v1 and
/// pkg/scheduler constants). Every one can be overridden by a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// percentageOfNodesToScore; 0 means adaptive: 50 - nodes/125 percent, at least 5%.
    pub percentage_of_nodes_to_score: u32,
    /// minFeasibleNodesToFind (schedule_one.go): below this many nodes all are checked.
    pub min_feasible_nodes_to_find: usize,
    /// minFeasibleNodesPercentageToFind (schedule_one.go).
    pub min_feasible_nodes_percentage_to_find: u32,
    /// DefaultPreemption minCandidateNodesPercentage.
    pub min_candidate_nodes_percentage: u32,
    /// DefaultPreemption minCandidateNodesAbsolute.
    pub min_candidate_nodes_absolute: usize,
    /// The score plugins' weights in the default profile (kube-scheduler v1.33).
    pub score_weights: ScoreWeights,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            percentage_of_nodes_to_score: 0,
            min_feasible_nodes_to_find: 100,
            min_feasible_nodes_percentage_to_find: 5,
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
            score_weights: ScoreWeights::default(),
        }
    }
}

impl SchedulerConfig {
    /// numFeasibleNodesToFind (schedule_one.go): how many feasible nodes to find before
    /// scoring, so that large clusters are not scanned whole for every pod.
    pub fn num_feasible_nodes_to_find(&self, num_all_nodes: usize) -> usize {
        if num_all_nodes < self.min_feasible_nodes_to_find {
            return num_all_nodes;
        }
        let mut pct = self.percentage_of_nodes_to_score as i64;
        if pct == 0 {
            pct = 50 - num_all_nodes as i64 / 125;
            if pct < self.min_feasible_nodes_percentage_to_find as i64 {
                pct = self.min_feasible_nodes_percentage_to_find as i64;
            }
        }
        if pct >= 100 {
            return num_all_nodes;
        }
        let n = num_all_nodes * usize::try_from(pct).unwrap_or(0) / 100;
        n.max(self.min_feasible_nodes_to_find)
    }

    /// calculateNumCandidates (default_preemption.go): how many preemption candidates the dry
    /// run looks for.
    pub fn num_candidates(&self, num_nodes: usize) -> usize {
        let n = num_nodes * self.min_candidate_nodes_percentage as usize / 100;
        n.max(self.min_candidate_nodes_absolute).min(num_nodes)
    }
}

/// What the scheduler decided for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Fits on this node: bind it.
    Scheduled(NodeId),
    /// Fits nowhere, but would fit on `node` once `victims` are gone: the pod is nominated
    /// there (status.nominatedNodeName) and the victims are deleted.
    Preempting { node: NodeId, victims: Vec<PodId> },
    /// Fits nowhere, and preemption cannot help.
    Unschedulable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub pod: PodId,
    pub outcome: Outcome,
    /// For pods not scheduled: kube-scheduler's FailedScheduling message,
    /// "0/5 nodes are available: ...".
    pub message: String,
}

/// The scheduler: its configuration, its random stream (node sampling offsets, ties between
/// equally scored nodes, preemption's dry-run offset) and where the next node scan starts.
#[derive(Clone, Debug)]
pub struct Scheduler {
    pub config: SchedulerConfig,
    rng: Rng,
    next_start_node_index: usize,
    /// Buffers reused across cycles.
    scores: Vec<i64>,
    feasible: Vec<NodeId>,
}

impl Scheduler {
    pub fn new(config: SchedulerConfig, rng: Rng) -> Self {
        Scheduler {
            config,
            rng,
            next_start_node_index: 0,
            scores: Vec::new(),
            feasible: Vec::new(),
        }
    }

    /// One scheduling cycle for `pod` (schedule_one.go schedulePod, then PostFilter).
    pub fn schedule_one(&mut self, cluster: &mut Cluster, pod_id: PodId) -> Decision {
        cluster.node_order();
        let cluster = &*cluster;
        let order = cluster.cached_node_order();
        let pod = &cluster.pod(pod_id).pod;
        let n = order.len();
        if n == 0 {
            return Decision {
                pod: pod_id,
                outcome: Outcome::Unschedulable,
                message: "0/0 nodes are available: no nodes available to schedule pods.".into(),
            };
        }

        // A pod nominated by an earlier preemption tries its nominated node first
        // (evaluateNominatedNode).
        if let Some(nom) = cluster.pod(pod_id).nominated {
            if filter::run_filters(cluster, pod_id, pod, nom).is_ok() {
                return Decision {
                    pod: pod_id,
                    outcome: Outcome::Scheduled(nom),
                    message: String::new(),
                };
            }
        }

        // findNodesThatPassFilters: scan from where the last pod stopped, until enough feasible
        // nodes are found.
        let want = self.config.num_feasible_nodes_to_find(n);
        let mut feasible = std::mem::take(&mut self.feasible);
        feasible.clear();
        let mut statuses: Vec<(NodeId, NodeStatus)> = Vec::new();
        let start = self.next_start_node_index % n;
        let mut processed = 0;
        for i in 0..n {
            let id = order[(start + i) % n];
            processed += 1;
            match filter::run_filters(cluster, pod_id, pod, id) {
                Ok(()) => {
                    feasible.push(id);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(s) => statuses.push((id, s)),
            }
        }
        self.next_start_node_index = (start + processed) % n;

        if feasible.is_empty() {
            self.feasible = feasible;
            return self.post_filter(cluster, pod_id, pod, n, statuses);
        }
        if feasible.len() == 1 {
            let node = feasible[0];
            self.feasible = feasible;
            return Decision {
                pod: pod_id,
                outcome: Outcome::Scheduled(node),
                message: String::new(),
            };
        }
        let infos: Vec<&NodeInfo> = feasible.iter().map(|id| cluster.node(*id)).collect();
        let mut scores = std::mem::take(&mut self.scores);
        score::score_nodes(pod, &infos, &self.config.score_weights, &mut scores);
        // selectHost: the highest score; ties broken uniformly at random by reservoir sampling.
        let mut best = 0;
        let mut ties = 1u64;
        for i in 1..scores.len() {
            if scores[i] > scores[best] {
                best = i;
                ties = 1;
            } else if scores[i] == scores[best] {
                ties += 1;
                if self.rng.below(ties) == 0 {
                    best = i;
                }
            }
        }
        self.scores = scores;
        let node = feasible[best];
        self.feasible = feasible;
        Decision {
            pod: pod_id,
            outcome: Outcome::Scheduled(node),
            message: String::new(),
        }
    }

    /// DefaultPreemption's PostFilter for a pod no node could take.
    fn post_filter(
        &mut self,
        cluster: &Cluster,
        pod_id: PodId,
        pod: &Pod,
        num_all_nodes: usize,
        statuses: Vec<(NodeId, NodeStatus)>,
    ) -> Decision {
        let unschedulable = |post: String| Decision {
            pod: pod_id,
            outcome: Outcome::Unschedulable,
            message: fit_error(
                cluster,
                num_all_nodes,
                statuses.iter().map(|(_, s)| s),
                Some(&post),
            ),
        };
        if let Some(why) = preemption::ineligibility(cluster, pod, &statuses) {
            return unschedulable(format!("preemption: {why}"));
        }
        // nodesWherePreemptionMightHelp, in node-tree order.
        let mut potential = Vec::new();
        let mut preemption_statuses: Vec<NodeStatus> = Vec::new();
        for (id, s) in &statuses {
            if s.resolvable {
                potential.push(*id);
            } else {
                preemption_statuses.push(NodeStatus::unresolvable(Reason::PreemptionNotHelpful));
            }
        }
        let mut candidates = Vec::new();
        if !potential.is_empty() {
            let pdb_allowed: Vec<i32> = cluster
                .pdbs()
                .iter()
                .map(|b| b.disruptions_allowed())
                .collect();
            let want = self.config.num_candidates(potential.len());
            let offset = usize::try_from(self.rng.below(potential.len() as u64))
                .expect("below(n) < n, and n is a usize");
            let mut non_violating = 0;
            for i in 0..potential.len() {
                let node = potential[(offset + i) % potential.len()];
                match preemption::select_victims_on_node(cluster, pod_id, pod, node, &pdb_allowed) {
                    Ok(c) => {
                        if c.num_pdb_violations == 0 {
                            non_violating += 1;
                        }
                        candidates.push(c);
                        if non_violating > 0 && candidates.len() >= want {
                            break;
                        }
                    }
                    Err(s) => preemption_statuses.push(s),
                }
            }
            // Non-violating candidates come first (dryRunPreemption's result order).
            candidates.sort_by_key(|c| c.num_pdb_violations > 0);
        }
        match preemption::pick_one_node(cluster, &candidates) {
            Some(i) => {
                let c = candidates.swap_remove(i);
                Decision {
                    pod: pod_id,
                    message: fit_error(
                        cluster,
                        num_all_nodes,
                        statuses.iter().map(|(_, s)| s),
                        None,
                    ),
                    outcome: Outcome::Preempting {
                        node: c.node,
                        victims: c.victims,
                    },
                }
            }
            None => {
                let post = format!(
                    "preemption: {}",
                    fit_error(cluster, num_all_nodes, preemption_statuses.iter(), None)
                );
                unschedulable(post)
            }
        }
    }
}

/// FitError.Error() (framework/types.go): "0/N nodes are available: " then each reason with
/// the number of nodes that gave it, as "COUNT reason", sorted as strings and joined with ", ",
/// then "."; a PostFilter message follows after a space. (Releases before 1.29 printed ".."
/// at the end of preemption's message; v1.33 does not.)
pub fn fit_error<'a>(
    cluster: &Cluster,
    num_all_nodes: usize,
    statuses: impl Iterator<Item = &'a NodeStatus>,
    post_filter: Option<&str>,
) -> String {
    let mut counts: BTreeMap<Reason, usize> = BTreeMap::new();
    for s in statuses {
        for r in s.reasons.iter() {
            *counts.entry(r).or_default() += 1;
        }
    }
    // Different nodes' taints with the same key and value read the same: merge by words.
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for (r, c) in counts {
        *histogram
            .entry(Describe(r, cluster).to_string())
            .or_default() += c;
    }
    let mut reasons: Vec<String> = histogram.iter().map(|(r, c)| format!("{c} {r}")).collect();
    reasons.sort();
    let mut msg = format!(
        "0/{num_all_nodes} nodes are available: {}.",
        reasons.join(", ")
    );
    if let Some(p) = post_filter {
        msg.push(' ');
        msg.push_str(p);
    }
    msg
}

/// Applies a decision at once: binds a scheduled pod; for a preemption, deletes the victims,
/// clears the nominations of lower-priority pods on that node (prepareCandidate) and nominates
/// the preemptor. This is `cascade schedule`'s static view, where termination is instant.
pub fn apply_now(cluster: &mut Cluster, d: &Decision) {
    match &d.outcome {
        Outcome::Scheduled(node) => cluster.bind(d.pod, *node),
        Outcome::Preempting { node, victims } => {
            for v in victims {
                cluster.delete_pod(*v);
            }
            clear_lower_nominations(cluster, d.pod, *node);
            cluster.nominate(d.pod, Some(*node));
        }
        Outcome::Unschedulable => {}
    }
}

/// Lower-priority pods nominated to the node a preemptor now claims lose their nomination
/// (preemption.go prepareCandidate → getLowerPriorityNominatedPods).
pub fn clear_lower_nominations(cluster: &mut Cluster, preemptor: PodId, node: NodeId) {
    let prio = cluster.pod(preemptor).pod.priority;
    let lower: Vec<PodId> = cluster
        .node(node)
        .nominated
        .iter()
        .copied()
        .filter(|p| *p != preemptor && cluster.pod(*p).pod.priority < prio)
        .collect();
    for p in lower {
        cluster.nominate(p, None);
    }
}

/// The scheduling queue's order (activeQ, PrioritySort plugin): higher priority first, then
/// earlier creation; equal pods keep their arrival order.
pub fn queue_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.creation_timestamp.cmp(&b.creation_timestamp))
}

#[cfg(test)]
mod tests;
