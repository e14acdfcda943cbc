//! The default Score plugins that depend on what cascade models, with kube-scheduler v1.33's
//! formulas and default weights (pkg/scheduler/apis/config/v1 default profile):
//! NodeResourcesFit LeastAllocated (weight 1), NodeResourcesBalancedAllocation (1),
//! TaintToleration (3), NodeAffinity (2). PodTopologySpread, InterPodAffinity and ImageLocality
//! are not modelled (no Services, pod affinity or images): they would add the same to every node
//! for the pods cascade simulates.

use crate::cluster::NodeInfo;
use cascade_model::objects::tolerated;
use cascade_model::{Pod, TaintEffect};
use serde::{Deserialize, Serialize};

/// framework.MaxNodeScore.
pub const MAX_NODE_SCORE: i64 = 100;

/// Plugin weights of the default profile; a scenario can override them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoreWeights {
    /// NodeResourcesFit (1).
    pub node_resources_fit: i64,
    /// NodeResourcesBalancedAllocation (1).
    pub node_resources_balanced_allocation: i64,
    /// TaintToleration (3).
    pub taint_toleration: i64,
    /// NodeAffinity (2).
    pub node_affinity: i64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights {
            node_resources_fit: 1,
            node_resources_balanced_allocation: 1,
            taint_toleration: 3,
            node_affinity: 2,
        }
    }
}

/// LeastAllocated for one resource: ((allocatable - requested) * MaxNodeScore) / allocatable,
/// in integers (noderesources/least_allocated.go leastRequestedScore).
fn least_requested(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    let free = allocatable - requested;
    // In 64 bits when the product fits (every real node: the 128-bit division is a call into
    // compiler-builtins, a sixth of a large run's instructions); in 128 bits otherwise, so an
    // allocatable beyond i64::MAX / 100 (a hand-written 7Ei node) does not overflow. Both
    // truncate the same non-negative quotient, at most MAX_NODE_SCORE.
    if let Some(product) = free.checked_mul(MAX_NODE_SCORE) {
        return product / allocatable;
    }
    let score = i128::from(free) * i128::from(MAX_NODE_SCORE) / i128::from(allocatable);
    i64::try_from(score).unwrap_or(MAX_NODE_SCORE)
}

/// NodeResourcesFit with the LeastAllocated strategy, cpu and memory weighted 1 each. The
/// requests are the non-zero ones (100m / 200Mi for containers without a request), the pod's
/// own included.
/// A resource with no allocatable is left out of the weighted average.
pub fn least_allocated(pod: &Pod, info: &NodeInfo) -> i64 {
    let req = info.nonzero_requested + pod.nonzero_requests;
    let a = &info.node.allocatable;
    let (mut sum, mut weights) = (0, 0);
    for (r, c) in [(req.milli_cpu, a.milli_cpu), (req.memory, a.memory)] {
        if c > 0 {
            sum += least_requested(r, c);
            weights += 1;
        }
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

/// NodeResourcesBalancedAllocation: 1 minus the standard deviation of the cpu and memory
/// fractions (each capped at 1), times MaxNodeScore (noderesources/balanced_allocation.go).
/// With two resources the standard deviation is |f_cpu - f_mem| / 2.
// The final `as i64` truncates toward zero, as Go's int64(float64) does upstream.
#[allow(clippy::cast_possible_truncation)]
pub fn balanced_allocation(pod: &Pod, info: &NodeInfo) -> i64 {
    let req = info.nonzero_requested + pod.nonzero_requests;
    let a = &info.node.allocatable;
    let frac = |r: i64, c: i64| {
        if c == 0 {
            1.0
        } else {
            (r as f64 / c as f64).min(1.0)
        }
    };
    let std = (frac(req.milli_cpu, a.milli_cpu) - frac(req.memory, a.memory)).abs() / 2.0;
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// TaintToleration raw score: how many PreferNoSchedule taints the pod does not tolerate.
pub fn intolerable_prefer_no_schedule(pod: &Pod, info: &NodeInfo) -> i64 {
    info.node
        .taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| {
            // Only tolerations with an empty effect or PreferNoSchedule count.
            !tolerated(
                &pod.tolerations
                    .iter()
                    .filter(|tol| {
                        tol.effect.is_none() || tol.effect == Some(TaintEffect::PreferNoSchedule)
                    })
                    .cloned()
                    .collect::<Vec<_>>(),
                t,
            )
        })
        .count() as i64
}

/// NodeAffinity raw score: the summed weights of the preferred terms the node matches.
pub fn preferred_affinity(pod: &Pod, info: &NodeInfo) -> i64 {
    pod.preferred_node_affinity
        .iter()
        .filter(|p| p.term.matches(&info.node.name, &info.node.labels))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// helper.DefaultNormalizeScore: scale to 0..MaxNodeScore by the maximum; `reverse` flips.
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

/// The weighted total of every plugin for each feasible node. Plugins whose raw score is the
/// same on every node (no PreferNoSchedule taints, no preferred affinity) add the same constant
/// to every node after normalization, so they are left out: the ranking is unchanged.
pub fn score_nodes(pod: &Pod, nodes: &[&NodeInfo], w: &ScoreWeights, out: &mut Vec<i64>) {
    out.clear();
    for n in nodes {
        out.push(
            w.node_resources_fit * least_allocated(pod, n)
                + w.node_resources_balanced_allocation * balanced_allocation(pod, n),
        );
    }
    let needs_taints = nodes.iter().any(|n| {
        n.node
            .taints
            .iter()
            .any(|t| t.effect == TaintEffect::PreferNoSchedule)
    });
    if needs_taints {
        let mut taint: Vec<i64> = nodes
            .iter()
            .map(|n| intolerable_prefer_no_schedule(pod, n))
            .collect();
        normalize(&mut taint, true);
        for (o, t) in out.iter_mut().zip(taint) {
            *o += w.taint_toleration * t;
        }
    }
    if !pod.preferred_node_affinity.is_empty() {
        let mut affinity: Vec<i64> = nodes.iter().map(|n| preferred_affinity(pod, n)).collect();
        normalize(&mut affinity, false);
        for (o, a) in out.iter_mut().zip(affinity) {
            *o += w.node_affinity * a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64-bit path gives the 128-bit formula's score, and a 7Ei node still scores.
    #[test]
    fn least_requested_matches_the_128_bit_formula() {
        let wide = |r: i64, a: i64| {
            i64::try_from(i128::from(a - r) * 100 / i128::from(a)).unwrap_or(MAX_NODE_SCORE)
        };
        for (r, a) in [
            (0, 1),
            (1, 3),
            (32_000, 32_000),
            (12_345, 32_000),
            (137_438_953_472, 137_438_953_472 + 999),
            (5, i64::MAX / 100),
            (0, i64::MAX),
            (i64::MAX / 2, i64::MAX),
        ] {
            assert_eq!(least_requested(r, a), wide(r, a), "{r} of {a}");
        }
        assert_eq!(least_requested(0, i64::MAX), MAX_NODE_SCORE);
    }
}
