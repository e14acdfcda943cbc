//! The kernel's OOM killer and the kubelet's `oom_score_adj`, as a pure model: memory use and
//! QoS classes in, the victim out (docs/kubernetes.md#node-memory-pressure). `node_memory.rs`
//! feeds it from the simulation; the kubelet's eviction manager is `eviction.rs`.
//!
//! Upstream: pkg/kubelet/qos/policy.go (v1.33) and the kernel's `oom_badness`
//! (mm/oom_kill.c).

use cascade_model::QosClass;

/// `oom_score_adj` of a Guaranteed pod's containers (and of node-critical pods):
/// `guaranteedOOMScoreAdj`, pkg/kubelet/qos/policy.go, v1.33.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// `oom_score_adj` of a BestEffort pod's containers: `besteffortOOMScoreAdj`, policy.go, v1.33.
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;
/// The kernel's `OOM_SCORE_ADJ_MIN`: a process with it is never chosen.
pub const OOM_SCORE_ADJ_MIN: i64 = -1000;

/// A container's `oom_score_adj` from its pod's QoS class (pkg/kubelet/qos/policy.go
/// `GetContainerOOMScoreAdjust`, v1.33): Guaranteed -997, BestEffort 1000, Burstable
/// `1000 - 1000*memoryRequest/memoryCapacity` (integer division) raised to at least
/// `1000 + guaranteedOOMScoreAdj` = 3 and, when it comes to 1000, lowered to 999 (so a
/// Burstable container outlives a BestEffort one). The documentation's clamp reads 2; the
/// code's floor is 3, and cascade follows the code.
pub fn oom_score_adj(qos: QosClass, memory_request: i64, memory_capacity: i64) -> i64 {
    match qos {
        QosClass::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => BEST_EFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {
            let request = i128::from(memory_request.max(0));
            let capacity = i128::from(memory_capacity.max(1));
            let adj = 1000 - (1000 * request) / capacity;
            let floor = i128::from(1000 + GUARANTEED_OOM_SCORE_ADJ);
            if adj < floor {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj == i128::from(BEST_EFFORT_OOM_SCORE_ADJ) {
                BEST_EFFORT_OOM_SCORE_ADJ - 1
            } else {
                // Between 3 and 999 here.
                i64::try_from(adj).unwrap_or(BEST_EFFORT_OOM_SCORE_ADJ - 1)
            }
        }
    }
}

/// A process the OOM killer may choose: its memory use and its `oom_score_adj`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OomCandidate {
    pub usage: i64,
    pub oom_score_adj: i64,
}

/// The kernel's `oom_badness` (mm/oom_kill.c, Linux 6.x, as quoted in secondary sources: see
/// docs/kubernetes.md#node-memory-pressure): the memory a process uses plus `oom_score_adj`
/// thousandths of the memory the OOM killer is accounting for (`total`); None for a process
/// with `OOM_SCORE_ADJ_MIN`, which is never chosen. Since the return type became a signed
/// `long` (`LONG_MIN` for the unkillable) there is no floor of 1: a negative score can still
/// be chosen when it is the highest. In bytes rather than pages: the order is the same.
pub fn badness(c: OomCandidate, total: i64) -> Option<i128> {
    if c.oom_score_adj <= OOM_SCORE_ADJ_MIN {
        return None;
    }
    let points =
        i128::from(c.usage.max(0)) + i128::from(c.oom_score_adj) * i128::from(total.max(0)) / 1000;
    Some(points)
}

/// The process the OOM killer chooses: the highest badness; among equals, the last
/// (`oom_evaluate_task` skips a task only when its points are below the chosen one's, so an
/// equal one found later replaces it). None if none may be chosen.
pub fn oom_victim(candidates: &[OomCandidate], total: i64) -> Option<usize> {
    let mut best: Option<(usize, i128)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(b) = badness(*c, total) {
            if best.is_none_or(|(_, bb)| b >= bb) {
                best = Some((i, b));
            }
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MI: i64 = 1 << 20;
    const GI: i64 = 1 << 30;

    #[test]
    fn oom_score_adj_by_qos_class() {
        assert_eq!(oom_score_adj(QosClass::Guaranteed, GI, 16 * GI), -997);
        assert_eq!(oom_score_adj(QosClass::BestEffort, 0, 16 * GI), 1000);
        // A tenth of the node: 900.
        assert_eq!(
            oom_score_adj(QosClass::Burstable, 1600 * MI, 16000 * MI),
            900
        );
        // Integer division: 1000*1/16Gi is 0, so 1000, lowered to 999.
        assert_eq!(oom_score_adj(QosClass::Burstable, 1, 16 * GI), 999);
        assert_eq!(oom_score_adj(QosClass::Burstable, 0, 16 * GI), 999);
        // Requesting the whole node: 0, raised to the floor of 3 (not the docs' 2).
        assert_eq!(oom_score_adj(QosClass::Burstable, 16 * GI, 16 * GI), 3);
        assert_eq!(oom_score_adj(QosClass::Burstable, 32 * GI, 16 * GI), 3);
        // Just under the floor: 1000 - 998 = 2 is raised to 3; 997 gives 3 itself.
        assert_eq!(oom_score_adj(QosClass::Burstable, 998, 1000), 3);
        assert_eq!(oom_score_adj(QosClass::Burstable, 996, 1000), 4);
    }

    #[test]
    fn the_oom_killer_takes_the_highest_badness() {
        let total = 16 * GI;
        let c = [
            // Guaranteed, large.
            OomCandidate {
                usage: 8 * GI,
                oom_score_adj: -997,
            },
            // BestEffort, small: 1000 thousandths of the node outweigh 8Gi.
            OomCandidate {
                usage: 100 * MI,
                oom_score_adj: 1000,
            },
            OomCandidate {
                usage: 50 * MI,
                oom_score_adj: 1000,
            },
        ];
        assert_eq!(oom_victim(&c, total), Some(1));
        // Never an OOM_SCORE_ADJ_MIN process.
        let c = [OomCandidate {
            usage: GI,
            oom_score_adj: -1000,
        }];
        assert_eq!(oom_victim(&c, total), None);
        // Ties: the last found.
        let c = [OomCandidate {
            usage: GI,
            oom_score_adj: 0,
        }; 2];
        assert_eq!(oom_victim(&c, total), Some(1));
        // A negative score is still chosen when it is the only one.
        let c = [OomCandidate {
            usage: MI,
            oom_score_adj: -997,
        }];
        assert_eq!(oom_victim(&c, total), Some(0));
        assert!(badness(c[0], total).unwrap() < 0);
    }

    proptest! {
        /// The OOM killer's victim has a badness no other candidate exceeds.
        #[test]
        fn the_victim_maximises_badness(
            c in proptest::collection::vec((0i64..1 << 34, -1000i64..=1000), 1..10),
        ) {
            let total = 16 * GI;
            let c: Vec<OomCandidate> = c
                .into_iter()
                .map(|(usage, oom_score_adj)| OomCandidate { usage, oom_score_adj })
                .collect();
            match oom_victim(&c, total) {
                Some(v) => {
                    let b = badness(c[v], total).unwrap();
                    for x in &c {
                        prop_assert!(badness(*x, total).is_none_or(|o| o <= b));
                    }
                }
                None => prop_assert!(c.iter().all(|x| x.oom_score_adj == -1000)),
            }
        }
    }
}
