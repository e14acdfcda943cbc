//! One catalog of cascade's series: for each metrics.csv column, its OpenMetrics family name,
//! type, unit and help text. metrics.om, the Grafana dashboard and the scenario reference all
//! read it, so a series is described once.
//!
//! The simulation's and the gossip pool's columns are listed by name; the services' columns
//! are named after the object that declares them (`{service}_qps`, `{ring}_ring_members`,
//! `{fleet}_shards`, `{client}_goodput_qps`) and are described by their suffix.

/// An OpenMetrics type (docs/cortex-and-prometheus.md: cascade's series are gauges sampled at
/// `parameters.sampleIntervalSeconds`, except cumulative counts, which are counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// How a column is exported.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The family name without the `cascade_` prefix; a counter's samples add `_total`.
    pub name: String,
    pub kind: Kind,
    /// The OpenMetrics unit: the name's unit suffix (`seconds`, `ratio`), or empty.
    pub unit: &'static str,
    pub help: String,
}

/// The simulation's and the gossip pool's columns: (column, help).
pub const COLUMNS: &[(&str, &str)] = &[
    ("nodes", "Nodes in the cluster."),
    (
        "pods_pending",
        "Pods not yet bound to a node, nominated ones included.",
    ),
    (
        "pods_nominated",
        "Pending pods nominated to a node by a preemption, waiting for their victims to go.",
    ),
    ("pods_running", "Pods whose containers run."),
    ("pods_ready", "Running pods that are Ready."),
    ("pods_terminating", "Pods in their graceful termination."),
    (
        "nodes_not_ready",
        "Nodes the node lifecycle controller holds NotReady.",
    ),
    (
        "pods_created_total",
        "Pods created since the start (controllers, changes, manifests).",
    ),
    (
        "pods_preempted_total",
        "Pods preempted by kube-scheduler since the start.",
    ),
    (
        "apiserver_up",
        "1 while kube-apiserver serves (any of its replicas), else 0 (`means.apiserver_up` over a window is the time-based share of it the server served). With `apiServer.replicas` above 1, every apiserver_ column sums the replicas, and `apiserver_I_...` columns give replica I's own, with `apiserver_I_connections` (the clients connected to it).",
    ),
    (
        "apiserver_memory_bytes",
        "kube-apiserver's memory: baseline, the watch cache, LIST responses being built.",
    ),
    (
        "apiserver_seats_in_use",
        "APF seats occupied (or requests in flight, with APF off).",
    ),
    (
        "apiserver_requests_waiting",
        "Requests waiting in APF queues.",
    ),
    (
        "apiserver_requests_total",
        "Requests sent to kube-apiserver.",
    ),
    (
        "apiserver_rejected_total",
        "Requests answered 429 (queue full, queue wait limit, inflight limit).",
    ),
    (
        "apiserver_unavailable_total",
        "Requests that found no server (stopped, starting, or killed under them).",
    ),
    (
        "apiserver_oom_kills_total",
        "Times kube-apiserver was OOM-killed.",
    ),
    (
        "api_clients",
        "Pods' API clients running (apiClient behaviours).",
    ),
    (
        "api_clients_unsynced",
        "Pods' API clients not synced: listing, retrying or backing off.",
    ),
    (
        "gossip_agents",
        "Gossip agents running (one per pod with a gossipAgent, plus the servers).",
    ),
    (
        "gossip_members",
        "Members of the gossip pool as the Consul servers list them, dead ones included.",
    ),
    (
        "gossip_alive_members",
        "Members the Consul servers hold alive.",
    ),
    (
        "phantom_members",
        "Members the servers list whose agent no longer runs.",
    ),
    (
        "gossip_handoff_drops_total",
        "Gossip messages dropped because an agent's handoff queue was full.",
    ),
    (
        "gossip_resurrections_total",
        "Dead members brought back to alive by a stale message.",
    ),
    (
        "nodes_memory_pressure",
        "Nodes whose kubelet reports MemoryPressure (node memory modelled).",
    ),
    (
        "nodes_cpu_saturated",
        "Nodes whose pods' CPU demand (each held at its CFS quota) exceeds allocatable (node CPU modelled).",
    ),
    (
        "node_cpu_pressure_max",
        "The largest node CPU pressure: the pods' CPU demand over allocatable (above 1: the node is saturated).",
    ),
    (
        "containers_cpu_throttled",
        "Pods whose CPU demand is above their CPU limit now (CFS-throttled every period).",
    ),
    (
        "containers_cpu_starved",
        "Pods on saturated nodes that cpu.shares holds below their CPU demand (BestEffort first).",
    ),
    (
        "cpu_cfs_throttled_ratio",
        "Share of the CFS periods in the last interval, over the pods with a CPU limit, in which the pod was throttled.",
    ),
    (
        "write_error_ratio",
        "Request-based: the share of the remote_write answers received in the last interval that were failures (both counted when the answer arrives, so it stays in [0, 1]).",
    ),
];

/// The services' columns by suffix: (suffix, what declares it, help).
pub const SUFFIXES: &[(&str, &str, &str)] = &[
    (
        "_lookup_latency_p50_seconds",
        "client",
        "Median time a DNS lookup took as the application saw it (getaddrinfo's call to its answer: every try of the search list one after another, their retries, node-cache answers at once), over the lookups that ended in the last interval, failed ones included.",
    ),
    (
        "_lookup_latency_p99_seconds",
        "client",
        "99th-percentile time a DNS lookup took as the application saw it (every try, one after another, and their retries), over the lookups that ended in the last interval, failed ones included.",
    ),
    (
        "_latency_p50_seconds",
        "service",
        "Median latency of the requests the service answered in the last interval.",
    ),
    (
        "_latency_p99_seconds",
        "service",
        "99th-percentile latency of the requests the service answered in the last interval.",
    ),
    (
        "_ready_replicas",
        "service",
        "Ready pods the service routes to.",
    ),
    (
        "_requests_in_flight",
        "service",
        "Requests the service's replicas are working on or queueing.",
    ),
    (
        "_up_ratio",
        "service",
        "Time-based: the share of the last interval in which the service took connections, i.e. had a Ready replica and no `serviceDown` fault on it (1 up throughout, 0 down throughout; a flapping dependency reads in between). Prometheus's `avg_over_time(up[interval])` of a probe against the Service. Its pods stay Ready through a `serviceDown`, so `_ready_replicas` does not show the fault; this column does.",
    ),
    (
        "_write_availability",
        "ring",
        "At the sample instant (neither time- nor request-based): the share of the ring's token ranges that can take a write (a quorum of ACTIVE ingesters).",
    ),
    (
        "_active_ingesters",
        "ring",
        "Ingesters in the ring in state ACTIVE.",
    ),
    ("_ring_members", "ring", "Ingesters in the ring, any state."),
    (
        "_requests_per_second",
        "remoteWrite",
        "remote_write requests the fleet sent per second in the last interval.",
    ),
    (
        "_shards",
        "remoteWrite",
        "remote_write shards across the fleet's servers.",
    ),
    (
        "_pending_samples",
        "remoteWrite",
        "Samples the fleet holds in its WAL, not yet sent.",
    ),
    (
        "_offered_qps",
        "client",
        "Requests per second the client sent in the last interval, retries included.",
    ),
    (
        "_goodput_qps",
        "client",
        "Requests per second that succeeded for the client in the last interval.",
    ),
    (
        "_calls_failed",
        "client",
        "Calls that failed for the client in the last interval, after its retries.",
    ),
    (
        "_sealed",
        "client",
        "1 while the client is sealed (a Vault that sealed itself), else 0.",
    ),
    (
        "_qps",
        "service",
        "Requests per second the service answered in the last interval.",
    ),
];

/// summary.json's service figures that are no metrics.csv column, by suffix: (suffix, what,
/// meaning). The peaks named like a column (`{service}_qps`, `{fleet}_shards`) are that
/// column's largest value and are described with it.
pub const SUMMARY_SUFFIXES: &[(&str, &str, &str)] = &[
    (
        "_qps_1m",
        "peaks, service",
        "The highest 1-minute request rate the service admitted (`rate(...[1m])` on windows of `serviceMetrics.rateWindowSeconds`, 60 s, aligned on the start, whatever the sample interval), from the first change or fault to `serviceMetrics.surgeUntilSeconds` or the end.",
    ),
    (
        "_baseline_qps",
        "peaks, service",
        "The steady state: the mean 1-minute request rate from the warm-up (`baselineWarmupSeconds`) to the first change or fault.",
    ),
    (
        "_qps_ratio",
        "peaks, service",
        "`_qps_1m` over `_baseline_qps`: the surge as an operator's 1-minute dashboard shows it. 0, with a note in summary.json's `notes`, when the baseline is not steady (fewer than 2 windows, or one off the mean by more than `steadyTolerance`, 50%); an expectation on it then fails, whatever its bound, its `not_given` saying why.",
    ),
    (
        "_max_requests_in_replica",
        "peaks, service",
        "The most requests one replica of the service held at once, served and queued (what its memory per request is charged on).",
    ),
    (
        "_success_ratio",
        "ratios, service",
        "Request-based: requests served over requests asked, refusals for want of a Ready replica included.",
    ),
    (
        "_write_availability",
        "ratios, ring",
        "Time-based: the ring's share of writable token ranges, averaged over the samples after the warm-up.",
    ),
    (
        "_mean_latency_seconds",
        "averages, service",
        "Request-based: the mean response time of the requests served to completion.",
    ),
    (
        "_amplification",
        "averages, client",
        "Requests sent per logical call, retries included.",
    ),
    (
        "write_availability",
        "ratios",
        "Time-based: the share of sample intervals after the warm-up in which at most `outageErrorRatio` (1%) of remote_write answers failed (`totals.write_outage_seconds` counts the others).",
    ),
];

/// What a summary.json figure without a column of its own means.
pub fn summary_figure(name: &str) -> Option<&'static str> {
    SUMMARY_SUFFIXES
        .iter()
        .filter(|(suffix, _, _)| name.ends_with(suffix))
        .max_by_key(|(suffix, _, _)| suffix.len())
        .map(|(_, _, help)| *help)
}

/// A kube-apiserver replica's column, `apiserver_I_NAME`: what `apiserver_NAME` says, of
/// replica I alone.
fn replica_help(column: &str) -> Option<String> {
    let rest = column.strip_prefix("apiserver_")?;
    let (i, name) = rest.split_once('_')?;
    if i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if name == "connections" {
        return Some(format!(
            "Clients (kubelets, controllers, pods' API clients) connected to kube-apiserver replica {i}."
        ));
    }
    let whole = format!("apiserver_{name}");
    let help = COLUMNS.iter().find(|(c, _)| *c == whole)?.1;
    Some(format!("{help} (kube-apiserver replica {i})"))
}

/// The OpenMetrics unit a name carries as its suffix.
fn unit(name: &str) -> &'static str {
    ["seconds", "ratio", "bytes"]
        .into_iter()
        .find(|u| name.ends_with(&format!("_{u}")))
        .unwrap_or("")
}

/// How metrics.om exports a metrics.csv column.
pub fn family(column: &str) -> Family {
    let help = COLUMNS
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, h)| h.to_string())
        .or_else(|| replica_help(column))
        .or_else(|| {
            SUFFIXES.iter().find_map(|(suffix, what, help)| {
                let object = column.strip_suffix(suffix)?;
                Some(format!("{help} ({what} {object})"))
            })
        })
        .unwrap_or_else(|| format!("cascade series {column}."));
    match column.strip_suffix("_total") {
        Some(name) => Family {
            name: name.to_string(),
            kind: Kind::Counter,
            unit: unit(name),
            help,
        },
        None => Family {
            name: column.to_string(),
            kind: Kind::Gauge,
            unit: unit(column),
            help,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_figure_without_a_column_is_described() {
        let mut cfg = cascade_services::ServicesConfig::default();
        cfg.services.insert("proxy".into(), Default::default());
        cfg.remote_write.insert(
            "prom".into(),
            cascade_services::RemoteWriteSpec {
                target: "proxy".into(),
                ..Default::default()
            },
        );
        let w = cascade_services::World::new(cfg, 1).expect("world");
        let columns: Vec<String> = w.sample().into_iter().map(|(k, _)| k).collect();
        for (name, _) in w.peaks().into_iter().chain(w.ratios()).chain(w.averages()) {
            if columns.contains(&name) {
                continue;
            }
            assert!(summary_figure(&name).is_some(), "{name} is not described");
        }
        assert!(summary_figure("proxy_qps_ratio")
            .unwrap()
            .contains("steady"));
        assert!(summary_figure("write_availability")
            .unwrap()
            .starts_with("Time-based"));
        assert!(summary_figure("cortex_write_availability")
            .unwrap()
            .contains("ring"));
    }

    #[test]
    fn every_listed_column_has_its_own_help() {
        for (c, h) in COLUMNS {
            assert_eq!(family(c).help, *h);
        }
        for c in super::super::names::SIM_COLUMNS
            .iter()
            .chain(super::super::names::GOSSIP_COLUMNS)
            .chain(super::super::names::CPU_COLUMNS)
        {
            assert!(
                COLUMNS.iter().any(|(k, _)| k == c),
                "{c} is not in the catalog"
            );
        }
    }

    #[test]
    fn counters_and_units_follow_the_name() {
        let f = family("pods_created_total");
        assert_eq!(
            (f.name.as_str(), f.kind, f.unit),
            ("pods_created", Kind::Counter, "")
        );
        let f = family("proxy_latency_p99_seconds");
        assert_eq!((f.kind, f.unit), (Kind::Gauge, "seconds"));
        assert!(f.help.ends_with("(service proxy)"), "{}", f.help);
        // The longest suffix wins: `_goodput_qps` is a client's, not a service's `_qps`.
        assert!(family("vault_goodput_qps").help.ends_with("(client vault)"));
        assert_eq!(family("write_error_ratio").unit, "ratio");
        let f = family("kafka_up_ratio");
        assert_eq!((f.kind, f.unit), (Kind::Gauge, "ratio"));
        assert!(f.help.starts_with("Time-based"), "{}", f.help);
        assert!(f.help.ends_with("(service kafka)"), "{}", f.help);
    }
}
