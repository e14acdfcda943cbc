//! Node CPU in the run (docs/kubernetes.md#node-cpu): each pod's CPU demand from its `cpu`
//! behaviour, held at its CFS quota when it has a CPU limit, summed per node against
//! allocatable; on a saturated node the pods share the CPU by their cgroups' cpu.shares, and
//! the kubelet's and runtime's own operations (a pod's start, its readiness probe) are
//! stretched by the node's CPU pressure.
//!
//! The arithmetic is the kubelet's and the kernel's and lives in the pure functions at the
//! top; the `Simulation` part only gathers the figures. Demand is a function of time (steady,
//! or a square wave of spikes), so nothing here schedules events: figures are read where they
//! are used, at a kubelet operation and at each sample, and CFS periods are integrated
//! exactly between samples.
//!
//! It is switched on only when some behaviour has `cpu`, so every other scenario runs exactly
//! as before (same events, same outputs).

use crate::params::NodeCpuParams;
use crate::sim::{Phase, Simulation};
use cascade_engine::Time;
use cascade_model::QosClass;
use cascade_scheduler::{NodeId, PodId};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The smallest cpu.shares the kubelet writes (the kernel's minimum; a BestEffort pod's and
/// the besteffort QoS cgroup's): `MinShares`, pkg/kubelet/cm v1.33.
pub const MIN_SHARES: i64 = 2;
/// The largest cpu.shares (`MaxShares`, the kernel's maximum).
pub const MAX_SHARES: i64 = 262_144;
/// cpu.shares per core (`SharesPerCPU`).
pub const SHARES_PER_CPU: i64 = 1024;
/// The smallest CFS quota the kubelet writes, in microseconds (`MinQuotaPeriod`, 1 ms).
pub const MIN_QUOTA_US: i64 = 1000;

/// cpu.shares for a CPU request in millicores, as the kubelet converts it
/// (`MilliCPUToShares`): 1024 per core, at least 2 (also for no request), at most 262144.
pub fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    (milli.saturating_mul(SHARES_PER_CPU) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// cgroup v2's cpu.weight for a cpu.shares value, as the runtimes convert it:
/// 1 + (shares - 2) x 9999 / 262142 (2 -> 1, 1024 -> 39, 262144 -> 10000).
pub fn shares_to_weight(shares: i64) -> i64 {
    let s = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((s - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
}

/// The CFS quota for a CPU limit in millicores over a period in microseconds, as the kubelet
/// computes it (`MilliCPUToQuota`): limit x period / 1000, at least 1 ms; 0 for no limit.
pub fn milli_cpu_to_quota_us(milli: i64, period_us: i64) -> i64 {
    if milli <= 0 {
        return 0;
    }
    (milli.saturating_mul(period_us) / 1000).max(MIN_QUOTA_US)
}

/// CFS bandwidth control over `seconds` of a container asking for `demand` cores under a
/// quota of `limit` cores per period of `period` seconds: (periods elapsed, periods
/// throttled). The fluid model: a container whose demand is above its quota exhausts it
/// before every period ends and is throttled in each; one at or below it never is.
pub fn cfs_periods(demand: f64, limit: f64, seconds: f64, period: f64) -> (f64, f64) {
    let periods = seconds / period;
    let throttled = if demand > limit { periods } else { 0.0 };
    (periods, throttled)
}

/// Weighted max-min fair share ("water filling"): `capacity` split among claims of
/// (weight, demand) in proportion to weight, no claim getting more than its demand, what a
/// satisfied claim leaves going to the others. CFS's fluid behaviour between runnable groups.
pub fn water_fill(capacity: f64, claims: &[(f64, f64)]) -> Vec<f64> {
    let mut grant = vec![0.0; claims.len()];
    let mut open: Vec<usize> = (0..claims.len()).filter(|&i| claims[i].1 > 0.0).collect();
    let mut left = capacity.max(0.0);
    while !open.is_empty() && left > 0.0 {
        let weight: f64 = open.iter().map(|&i| claims[i].0).sum();
        if weight <= 0.0 {
            break;
        }
        let (done, rest): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&i| claims[i].1 <= left * claims[i].0 / weight);
        if done.is_empty() {
            for &i in &open {
                grant[i] = left * claims[i].0 / weight;
            }
            break;
        }
        for &i in &done {
            grant[i] = claims[i].1;
            left -= claims[i].1;
        }
        open = rest;
    }
    grant
}

/// A pod's CPU figures for the node's split.
#[derive(Clone, Copy, Debug)]
pub struct PodCpu {
    pub qos: QosClass,
    /// Its CPU request in millicores (its cgroup's cpu.shares come from it).
    pub request_milli: i64,
    /// Cores it asks for, already held at its CFS quota.
    pub demand: f64,
}

/// What each pod gets of `capacity` cores, by the kubelet's cgroup tree: Guaranteed pods sit
/// directly under `kubepods` with shares from their requests; the `burstable` QoS cgroup's
/// shares are its pods' summed requests, split among them by their own; the `besteffort` QoS
/// cgroup has the minimum 2 shares, split evenly (2 each). Below capacity everyone gets its
/// demand.
pub fn share_node(capacity: f64, pods: &[PodCpu]) -> Vec<f64> {
    let shares = |p: &PodCpu| milli_cpu_to_shares(p.request_milli) as f64;
    let group =
        |q: QosClass| -> Vec<usize> { (0..pods.len()).filter(|&i| pods[i].qos == q).collect() };
    let guaranteed = group(QosClass::Guaranteed);
    let burstable = group(QosClass::Burstable);
    let besteffort = group(QosClass::BestEffort);
    let sum = |ix: &[usize]| ix.iter().map(|&i| pods[i].demand).sum::<f64>();
    let burstable_request: i64 = burstable
        .iter()
        .map(|&i| pods[i].request_milli.max(0))
        .fold(0, i64::saturating_add);
    // The top level: each Guaranteed pod, the burstable group, the besteffort group.
    let mut claims: Vec<(f64, f64)> = guaranteed
        .iter()
        .map(|&i| (shares(&pods[i]), pods[i].demand))
        .collect();
    claims.push((
        milli_cpu_to_shares(burstable_request) as f64,
        sum(&burstable),
    ));
    claims.push((MIN_SHARES as f64, sum(&besteffort)));
    let top = water_fill(capacity, &claims);
    let mut out = vec![0.0; pods.len()];
    for (k, &i) in guaranteed.iter().enumerate() {
        out[i] = top[k];
    }
    let inner = |ix: &[usize], cap: f64, out: &mut Vec<f64>, weight: &dyn Fn(&PodCpu) -> f64| {
        let claims: Vec<(f64, f64)> = ix
            .iter()
            .map(|&i| (weight(&pods[i]), pods[i].demand))
            .collect();
        for (k, g) in water_fill(cap, &claims).into_iter().enumerate() {
            out[ix[k]] = g;
        }
    };
    let n = guaranteed.len();
    inner(&burstable, top[n], &mut out, &shares);
    inner(&besteffort, top[n + 1], &mut out, &|_| MIN_SHARES as f64);
    out
}

/// Node CPU, when the scenario models it.
#[derive(Clone, Debug)]
pub(super) struct NodeCpu {
    p: NodeCpuParams,
    /// Each running pod with a CFS quota and a `cpu` behaviour: up to when its periods are
    /// counted.
    counted: BTreeMap<PodId, Time>,
    /// CFS periods and throttled periods so far (fractional: the counters report whole ones).
    periods: f64,
    throttled: f64,
}

impl NodeCpu {
    pub fn new(p: NodeCpuParams) -> NodeCpu {
        NodeCpu {
            p,
            counted: BTreeMap::new(),
            periods: 0.0,
            throttled: 0.0,
        }
    }
}

/// One node's CPU now.
#[derive(Clone, Copy, Debug, Default)]
struct NodeNow {
    /// The pods' demand over allocatable (0 for a node without allocatable CPU).
    pressure: f64,
    /// Running pods getting less than they ask for under cpu.shares.
    starved: usize,
}

impl Simulation<'_> {
    /// The pod's CFS quota as cores (quota / period), if the kubelet enforces one.
    fn cpu_quota_cores(&self, id: PodId) -> Option<f64> {
        let c = &self.nodes.cpu.as_ref()?.p;
        let limit = self.cluster.pod(id).pod.cpu_limit;
        if !c.cfs_quota || limit <= 0 {
            return None;
        }
        // Validated from 1 ms to 1 s at load: a whole number of microseconds fits.
        #[allow(clippy::cast_possible_truncation)]
        let period_us = (c.cfs_quota_period_seconds * 1e6).round() as i64;
        Some(milli_cpu_to_quota_us(limit, period_us) as f64 / period_us as f64)
    }

    /// Seconds the pod's current container has run by `at` (its age at time 0 included).
    fn cpu_ran(&self, id: PodId, at: Time) -> f64 {
        self.pods
            .get(id)
            .map_or(0.0, |rt| (at - rt.last_start + rt.ran_before).as_secs_f64())
    }

    /// What the pod asks for now, in cores, before its quota: its behaviour's demand; a pod
    /// without one uses its CPU request (a cascade assumption, as for memory); a pod whose
    /// containers are not running, none.
    fn pod_cpu_demand(&self, id: PodId) -> f64 {
        if self.pods.get(id).is_none_or(|r| r.phase != Phase::Running) {
            return 0.0;
        }
        match self.behaviour(id).and_then(|b| b.cpu.as_ref()) {
            Some(c) => c.demand_at(self.cpu_ran(id, self.now())),
            None => self.cluster.pod(id).pod.requests.milli_cpu as f64 / 1000.0,
        }
    }

    /// The node's CPU now: its pressure and how many pods cpu.shares holds below demand.
    fn node_cpu_now(&self, node: NodeId) -> NodeNow {
        let allocatable = self.cluster.node(node).node.allocatable.milli_cpu as f64 / 1000.0;
        let pods: Vec<PodCpu> = self
            .cluster
            .node(node)
            .pods
            .iter()
            .map(|&id| {
                let pod = &self.cluster.pod(id).pod;
                let asked = self.pod_cpu_demand(id);
                PodCpu {
                    qos: pod.qos_class,
                    request_milli: pod.requests.milli_cpu,
                    demand: self.cpu_quota_cores(id).map_or(asked, |q| asked.min(q)),
                }
            })
            .collect();
        let demand: f64 = pods.iter().map(|p| p.demand).sum();
        if demand <= 0.0 {
            return NodeNow::default();
        }
        // The daemons are taken to use their reservations: the pods share allocatable.
        let pressure = demand / allocatable.max(0.001);
        let starved = if pressure > 1.0 {
            share_node(allocatable, &pods)
                .iter()
                .zip(&pods)
                .filter(|(g, p)| **g < p.demand * (1.0 - 1e-9))
                .count()
        } else {
            0
        };
        NodeNow { pressure, starved }
    }

    /// How much longer the node's kubelet and runtime take over an operation now: 1 on a
    /// node that is not saturated (or with node CPU not modelled), else
    /// 1 + saturationSlowdown x (pressure - 1) (docs/kubernetes.md#node-cpu).
    pub(super) fn kubelet_cpu_slowdown(&mut self, node: NodeId) -> f64 {
        let Some(slowdown) = self.nodes.cpu.as_ref().map(|c| c.p.saturation_slowdown) else {
            return 1.0;
        };
        let pressure = self.node_cpu_now(node).pressure;
        if pressure <= 1.0 || slowdown <= 0.0 {
            return 1.0;
        }
        self.rec.metrics.count("kubelet_operations_cpu_delayed", 1);
        1.0 + slowdown * (pressure - 1.0)
    }

    /// Node CPU's columns (when modelled): the nodes saturated, the largest pressure, the pods
    /// throttled now and starved by cpu.shares, and the interval's CFS periods.
    pub(super) fn node_cpu_sample(&mut self, row: &mut Vec<(Cow<'static, str>, f64)>) {
        let Some(period) = self
            .nodes
            .cpu
            .as_ref()
            .map(|c| c.p.cfs_quota_period_seconds)
        else {
            return;
        };
        let now = self.now();
        let (mut saturated, mut pressure_max) = (0usize, 0.0f64);
        let mut starved = 0usize;
        for (node, _) in self.cluster.nodes() {
            let n = self.node_cpu_now(node);
            pressure_max = pressure_max.max(n.pressure);
            if n.pressure > 1.0 {
                saturated += 1;
            }
            starved += n.starved;
        }
        // CFS periods since the last sample, exactly, from each container's demand curve.
        let c = self.nodes.cpu.as_ref().expect("node cpu");
        let mut counted = BTreeMap::new();
        let (mut periods, mut throttled, mut throttled_now) = (0.0, 0.0, 0usize);
        for (id, _) in self.cluster.pods() {
            let Some(rt) = self.pods.get(id) else {
                continue;
            };
            let Some(cpu) = self.behaviour(id).and_then(|b| b.cpu.as_ref()) else {
                continue;
            };
            let Some(quota) = self.cpu_quota_cores(id) else {
                continue;
            };
            if rt.phase != Phase::Running {
                continue;
            }
            let from = c
                .counted
                .get(&id)
                .map_or(rt.last_start, |&t| t.max(rt.last_start));
            let (a, b) = (self.cpu_ran(id, from), self.cpu_ran(id, now));
            let spike = cpu.spike_seconds(a, b);
            let steady = (b - a - spike).max(0.0);
            let base = cfs_periods(cpu.usage.cores(), quota, steady, period);
            let burst = cpu.spike.as_ref().map_or((0.0, 0.0), |s| {
                cfs_periods(s.usage.cores(), quota, spike, period)
            });
            periods += base.0 + burst.0;
            throttled += base.1 + burst.1;
            if cpu.demand_at(b) > quota {
                throttled_now += 1;
            }
            counted.insert(id, now);
        }
        let c = self.nodes.cpu.as_mut().expect("node cpu");
        c.counted = counted;
        // Non-negative sums of periods: far below u64's range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = |x: f64| x.floor() as u64;
        let new_periods = whole(c.periods + periods) - whole(c.periods);
        let new_throttled = whole(c.throttled + throttled) - whole(c.throttled);
        c.periods += periods;
        c.throttled += throttled;
        // Counters appear in the totals once they have counted something.
        if new_periods > 0 {
            self.rec
                .metrics
                .count("container_cpu_cfs_periods", new_periods);
        }
        if new_throttled > 0 {
            self.rec
                .metrics
                .count("container_cpu_cfs_throttled_periods", new_throttled);
        }
        let ratio = if periods > 0.0 {
            throttled / periods
        } else {
            0.0
        };
        row.push(("nodes_cpu_saturated".into(), saturated as f64));
        row.push(("node_cpu_pressure_max".into(), pressure_max));
        row.push(("containers_cpu_throttled".into(), throttled_now as f64));
        row.push(("containers_cpu_starved".into(), starved as f64));
        row.push(("cpu_cfs_throttled_ratio".into(), ratio));
        self.rec
            .metrics
            .peak("nodes_cpu_saturated", saturated as f64);
        self.rec.metrics.peak("node_cpu_pressure_max", pressure_max);
        self.rec
            .metrics
            .peak("containers_cpu_throttled", throttled_now as f64);
        self.rec
            .metrics
            .peak("containers_cpu_starved", starved as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_the_kubelets_conversion() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(2500), 2560);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(MAX_SHARES), 10_000);
    }

    #[test]
    fn quota_is_limit_times_period() {
        // 500m over the default 100 ms period: 50 ms of CPU time a period.
        assert_eq!(milli_cpu_to_quota_us(500, 100_000), 50_000);
        assert_eq!(milli_cpu_to_quota_us(2000, 100_000), 200_000);
        // 250m over a 10 ms period (`--cpu-cfs-quota-period=10ms`): 2.5 ms.
        assert_eq!(milli_cpu_to_quota_us(250, 10_000), 2_500);
        // Never below 1 ms; no limit, no quota.
        assert_eq!(milli_cpu_to_quota_us(5, 100_000), MIN_QUOTA_US);
        assert_eq!(milli_cpu_to_quota_us(0, 100_000), 0);
    }

    #[test]
    fn demand_above_the_quota_is_throttled_every_period() {
        // One minute at 100 ms: 600 periods; demand 1.5 cores under a 1-core limit: all
        // throttled; 0.8 cores: none.
        let (p, t) = cfs_periods(1.5, 1.0, 60.0, 0.1);
        assert!((p - 600.0).abs() < 1e-9 && (t - 600.0).abs() < 1e-9);
        let (p, t) = cfs_periods(0.8, 1.0, 60.0, 0.1);
        assert!((p - 600.0).abs() < 1e-9 && t == 0.0);
        // At the limit exactly the quota lasts the period.
        assert_eq!(cfs_periods(1.0, 1.0, 1.0, 0.1).1, 0.0);
    }

    #[test]
    fn spikes_are_counted_by_the_time_they_last() {
        use crate::scenario::{Cores, CpuBehaviour, CpuSpike};
        let c = CpuBehaviour {
            usage: Cores(200),
            spike: Some(CpuSpike {
                usage: Cores(3000),
                period_seconds: 60.0,
                duration_seconds: 6.0,
            }),
        };
        assert_eq!(c.demand_at(0.0), 3.0);
        assert_eq!(c.demand_at(5.9), 3.0);
        assert_eq!(c.demand_at(6.0), 0.2);
        assert_eq!(c.demand_at(61.0), 3.0);
        // Ten minutes hold ten spikes of 6 s; from 3 s to 63 s: 3 s + 3 s.
        assert!((c.spike_seconds(0.0, 600.0) - 60.0).abs() < 1e-9);
        assert!((c.spike_seconds(3.0, 63.0) - 6.0).abs() < 1e-9);
        // A 1-core limit over those ten minutes: 600 of 6,000 periods throttled (10%).
        let spike = c.spike_seconds(0.0, 600.0);
        let (bp, bt) = cfs_periods(0.2, 1.0, 600.0 - spike, 0.1);
        let (sp, st) = cfs_periods(3.0, 1.0, spike, 0.1);
        assert!((bp + sp - 6000.0).abs() < 1e-6);
        assert!((bt + st - 600.0).abs() < 1e-6);
    }

    #[test]
    fn water_fill_gives_unused_share_to_the_rest() {
        // 4 cores, equal weights, demands 1, 3, 3: the first takes 1, the others 1.5 each.
        let g = water_fill(4.0, &[(1.0, 1.0), (1.0, 3.0), (1.0, 3.0)]);
        assert_eq!(g, vec![1.0, 1.5, 1.5]);
        // Weights 3:1 over 4 cores, both wanting all: 3 and 1.
        let g = water_fill(4.0, &[(3.0, 10.0), (1.0, 10.0)]);
        assert!((g[0] - 3.0).abs() < 1e-9 && (g[1] - 1.0).abs() < 1e-9);
        // Enough for everyone: each its demand.
        assert_eq!(water_fill(10.0, &[(1.0, 2.0), (5.0, 3.0)]), vec![2.0, 3.0]);
    }

    #[test]
    fn a_saturated_node_is_split_by_cpu_shares() {
        // 4 cores: a Guaranteed pod (1 core requested, asks 1), a Burstable pod (500m
        // requested, asks 3) and two BestEffort pods asking 4 each. Top level: Guaranteed
        // 1024 shares, burstable 512, besteffort 2. The Guaranteed pod gets its 1 core; the
        // remaining 3 go 512:2 between burstable (asks 3) and besteffort (asks 8):
        // burstable 3 x 512/514, besteffort 3 x 2/514, split evenly between its two.
        let pods = [
            PodCpu {
                qos: QosClass::Guaranteed,
                request_milli: 1000,
                demand: 1.0,
            },
            PodCpu {
                qos: QosClass::Burstable,
                request_milli: 500,
                demand: 3.0,
            },
            PodCpu {
                qos: QosClass::BestEffort,
                request_milli: 0,
                demand: 4.0,
            },
            PodCpu {
                qos: QosClass::BestEffort,
                request_milli: 0,
                demand: 4.0,
            },
        ];
        let g = share_node(4.0, &pods);
        assert!((g[0] - 1.0).abs() < 1e-9, "{g:?}");
        assert!((g[1] - 3.0 * 512.0 / 514.0).abs() < 1e-9, "{g:?}");
        assert!((g[2] - 3.0 / 514.0).abs() < 1e-9, "{g:?}");
        assert!((g[2] - g[3]).abs() < 1e-12);
        assert!((g.iter().sum::<f64>() - 4.0).abs() < 1e-9);
        // BestEffort alone on the node: it gets everything (shares are relative).
        let g = share_node(4.0, &pods[2..]);
        assert_eq!(g, vec![2.0, 2.0]);
    }
}
