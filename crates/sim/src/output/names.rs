//! The metric names a scenario's expectations may use, known at load time, before anything
//! runs: the simulation's own counters, peaks and metrics.csv columns, and those the services
//! declare (each service, ring, remote_write fleet and client adds its own).

use super::TOTALS;
use crate::params::Params;
use crate::scenario::Expectation;
use cascade_engine::Time;
use std::collections::BTreeSet;

/// Counters the simulation counts besides [`TOTALS`]; they appear in summary.json's totals
/// once they have counted something, and read 0 before.
pub const SIM_COUNTERS: &[&str] = &[
    "api_client_list_failures",
    "api_client_lists",
    "api_writes_failed",
    "apiserver_oom_kills",
    "apiserver_unavailable_seconds",
    "apiserver_watch_breaks",
    "autoscaler_failed_scale_ups",
    "autoscaler_scale_downs",
    "autoscaler_scale_ups",
    "cloud_creates_failed",
    "catalog_member_writes",
    "dependency_down",
    "dependency_up",
    "endpoint_slice_writes",
    "lease_renewals_failed",
    "node_oom_kills",
    "node_status_patches",
    "node_thrashing_episodes",
    "nodes_repaired",
    "pods_evicted_node_pressure",
    "sidecar_retries",
];

/// The simulation's own peaks, each named by the metrics.csv column it is the largest value of
/// (`sim.rs` `sample`; `nodes_not_ready` also at each `node_lifecycle.rs` `monitor` pass).
/// A peak has one name with or without a window: over the whole run it is summary.json's
/// figure, within one the largest sample of the column in the window.
pub const SIM_PEAKS: &[&str] = &["nodes_not_ready", "pods_pending", "pods_terminating"];

/// The names these peaks had before they were named by their column: still read in scenarios,
/// with a warning naming the new one (`scenario/load.rs`).
pub const LEGACY_PEAKS: &[(&str, &str)] = &[
    ("max_not_ready_nodes", "nodes_not_ready"),
    ("max_pending_pods", "pods_pending"),
    ("max_terminating_pods", "pods_terminating"),
    ("max_memory_pressure_nodes", "nodes_memory_pressure"),
];

/// The column a legacy peak name (`max_pending_pods`) now reads (`pods_pending`).
pub fn legacy_peak(name: &str) -> Option<&'static str> {
    LEGACY_PEAKS
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| *new)
}

/// The simulation's own metrics.csv columns (`sim.rs` `sample`).
pub const SIM_COLUMNS: &[&str] = &[
    "nodes",
    "pods_pending",
    "pods_nominated",
    "pods_running",
    "pods_ready",
    "pods_terminating",
    "nodes_not_ready",
    "pods_created_total",
    "pods_preempted_total",
    "apiserver_up",
    "apiserver_memory_bytes",
    "apiserver_seats_in_use",
    "apiserver_requests_waiting",
    "apiserver_requests_total",
    "apiserver_rejected_total",
    "apiserver_unavailable_total",
    "apiserver_oom_kills_total",
    "api_clients",
    "api_clients_unsynced",
];

/// With a gossip pool: its counters (`gossip.rs` `gossip_totals`).
pub const GOSSIP_TOTALS: &[&str] = &[
    "gossip_agents_spawned",
    "gossip_handoff_drops",
    "gossip_resurrections",
    "gossip_dead_declarations",
    "gossip_false_dead_declarations",
    "gossip_suspicions",
    "gossip_tcp_fallback_acks",
    "gossip_packets",
    "gossip_packets_undecryptable",
    "gossip_events",
    "gossip_snapshot_compactions",
    "gossip_snapshot_stalls",
    "gossip_snapshot_stalled_seconds",
    "gossip_snapshot_events_dropped",
];

/// With a gossip pool: its peaks and columns (`gossip.rs` `gossip_sample`).
pub const GOSSIP_PEAKS: &[&str] = &[
    "gossip_agents",
    "gossip_members",
    "gossip_alive_members",
    "phantom_members",
];
pub const GOSSIP_COLUMNS: &[&str] = &[
    "gossip_agents",
    "gossip_members",
    "gossip_alive_members",
    "phantom_members",
    "gossip_handoff_drops_total",
    "gossip_resurrections_total",
];

/// With node memory modelled (some behaviour has `memory`): the nodes under MemoryPressure
/// (`node_memory.rs`) and the nodes thrashing (`thrashing.rs`).
pub const MEMORY_PEAKS: &[&str] = &["nodes_memory_pressure", "nodes_thrashing"];
pub const MEMORY_COLUMNS: &[&str] = &["nodes_memory_pressure", "nodes_thrashing"];

/// With node CPU modelled (some behaviour has `cpu`, `sim/node_cpu.rs`): CFS periods and
/// throttled periods, kubelet operations a saturated node slowed.
pub const CPU_TOTALS: &[&str] = &[
    "container_cpu_cfs_periods",
    "container_cpu_cfs_throttled_periods",
    "kubelet_operations_cpu_delayed",
];
pub const CPU_PEAKS: &[&str] = &[
    "containers_cpu_starved",
    "containers_cpu_throttled",
    "node_cpu_pressure_max",
    "nodes_cpu_saturated",
];
pub const CPU_COLUMNS: &[&str] = &[
    "containers_cpu_starved",
    "containers_cpu_throttled",
    "cpu_cfs_throttled_ratio",
    "node_cpu_pressure_max",
    "nodes_cpu_saturated",
];

/// Which log event kind a `totals.*` counter counts, for expectations with a selector or a
/// window.
pub(super) fn event_kind(counter: &str) -> Option<&'static str> {
    Some(match counter {
        "pods_created" => "Created",
        "pods_scheduled" => "Scheduled",
        "pods_preempted" => "Preempted",
        "pods_deleted" => "Deleted",
        _ => return None,
    })
}

/// Every metric name a run of a scenario can report.
#[derive(Clone, Debug, Default)]
pub struct MetricNames {
    pub totals: BTreeSet<String>,
    pub peaks: BTreeSet<String>,
    pub ratios: BTreeSet<String>,
    /// summary.json's `averages` (not fractions: mean latencies, amplifications).
    pub averages: BTreeSet<String>,
    /// metrics.csv's columns, which `peaks.NAME` with a window reads.
    pub columns: BTreeSet<String>,
}

impl MetricNames {
    /// The names for these parameters; `gossip` when a behaviour runs a gossip agent, `memory`
    /// when one has a memory behaviour (node memory is then modelled). The
    /// services' names are read from a services world built, started and sampled once at
    /// time 0, so they are exactly the names a run reports.
    pub fn of(params: &Params, gossip: bool, memory: bool) -> Result<MetricNames, String> {
        let owned = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut n = MetricNames::default();
        n.totals.extend(owned(TOTALS));
        n.totals.extend(owned(SIM_COUNTERS));
        n.peaks.extend(owned(SIM_PEAKS));
        n.columns.extend(owned(SIM_COLUMNS));
        if gossip {
            n.totals.extend(owned(GOSSIP_TOTALS));
            n.peaks.extend(owned(GOSSIP_PEAKS));
            n.columns.extend(owned(GOSSIP_COLUMNS));
        }
        if memory {
            n.peaks.extend(owned(MEMORY_PEAKS));
            n.columns.extend(owned(MEMORY_COLUMNS));
        }
        let mut world = cascade_services::World::new(params.services_config(), 0)?;
        if !world.is_empty() {
            let mut out = cascade_services::Out::default();
            world.start(Time::ZERO, &mut out);
            world.roll_interval(Time::ZERO);
            n.columns.extend(world.sample().into_iter().map(|(k, _)| k));
            n.totals.extend(world.totals().into_iter().map(|(k, _)| k));
            n.peaks.extend(world.peaks().into_iter().map(|(k, _)| k));
            n.ratios.extend(world.ratios().into_iter().map(|(k, _)| k));
            n.averages
                .extend(world.averages().into_iter().map(|(k, _)| k));
        }
        Ok(n)
    }

    /// The same with node CPU's names when `cpu` (some behaviour has `cpu`).
    pub fn with_cpu(mut self, cpu: bool) -> MetricNames {
        if cpu {
            let owned = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            self.totals.extend(owned(CPU_TOTALS));
            self.peaks.extend(owned(CPU_PEAKS));
            self.columns.extend(owned(CPU_COLUMNS));
        }
        self
    }

    /// Whether `e` names a metric a run reports, as [`super::summarize`] reads it; the
    /// message says what was expected instead.
    pub fn check(&self, e: &Expectation) -> Result<(), String> {
        let windowed = e.selector.is_some() || e.after.is_some() || e.before.is_some();
        let unknown = |what: &str, family: &str, known: &BTreeSet<String>| {
            let known: Vec<String> = known.iter().map(|k| format!("{family}.{k}")).collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            Err(crate::scenario::unknown_name(what, &e.metric, &known))
        };
        match e.metric.split_once('.') {
            Some(("totals", name)) if windowed => match event_kind(name) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "totals.{name} cannot be counted by selector or time window: expected one of totals.{{pods_created,pods_scheduled,pods_preempted,pods_deleted}}"
                )),
            },
            Some(("totals", name)) if self.totals.contains(name) => Ok(()),
            Some(("totals", _)) => unknown("metric", "totals", &self.totals),
            Some(("peaks", _)) if e.selector.is_some() => Err(
                "a peak cannot be taken over a selector's pods: expected a selector only with totals.NAME".into(),
            ),
            Some(("peaks", name)) if legacy_peak(name).is_some() => Err(format!(
                "peaks.{name} is the old name of peaks.{}: a peak is named by its metrics.csv column, with or without a window",
                legacy_peak(name).unwrap_or_default()
            )),
            Some(("peaks", name)) if windowed && self.columns.contains(name) => Ok(()),
            Some(("peaks", _)) if windowed => unknown(
                "metrics.csv column (a peak within a window reads one)",
                "peaks",
                &self.columns,
            ),
            // Over the whole run: a summary peak, or the largest sample of any column.
            Some(("peaks", name)) if self.peaks.contains(name) || self.columns.contains(name) => {
                Ok(())
            }
            Some(("peaks", _)) => unknown(
                "metric",
                "peaks",
                &self.peaks.union(&self.columns).cloned().collect(),
            ),
            Some(("lows" | "means", _)) if e.selector.is_some() => Err(
                "a low or a mean cannot be taken over a selector's pods: expected a selector only with totals.NAME".into(),
            ),
            Some(("lows", name)) | Some(("means", name)) if self.columns.contains(name) => Ok(()),
            Some((family @ ("lows" | "means"), _)) => unknown(
                "metrics.csv column (a low or a mean reads one)",
                family,
                &self.columns,
            ),
            Some(("ratios", _)) if e.selector.is_some() => Err(
                "a ratio is a service's, a ring's or a client's own, not counted by pod: expected no selector with ratios.NAME (after and before take it over a window)".into(),
            ),
            Some(("ratios", name)) if self.ratios.contains(name) => Ok(()),
            // Its name before averages had a section of their own.
            Some(("ratios", name)) if self.averages.contains(name) => Err(format!(
                "ratios.{name} is not a ratio (a fraction in [0, 1]) but an average: expected averages.{name}"
            )),
            Some(("ratios", _)) => unknown("metric", "ratios", &self.ratios),
            Some(("averages", _)) if e.selector.is_some() => Err(
                "an average is a service's or a client's own, not counted by pod: expected no selector with averages.NAME (after and before take it over a window)".into(),
            ),
            Some(("averages", name)) if self.averages.contains(name) => Ok(()),
            Some(("averages", _)) => unknown("metric", "averages", &self.averages),
            _ => Err(format!(
                "unsupported metric {:?}: expected totals.NAME (with an optional selector and window), peaks.NAME, lows.NAME, means.NAME, ratios.NAME or averages.NAME",
                e.metric
            )),
        }
    }
}
