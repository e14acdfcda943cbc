//! Checks of a resolved scenario that its types cannot make: every name it refers to exists (a
//! fault's zone, node or service, a behaviour's service, an expectation's metric), and every
//! number is one the simulation can run with. Each problem is reported where it was written:
//! in the scenario file, or in the `--set` that made it.

use super::{FaultKind, ManifestFile, NodeTarget, Spec};
use crate::output::MetricNames;
use crate::params::Params;
use cascade_manifest::{Diagnostic, Manifests, Origin, Path, Seg, Severity, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Where a value of the resolved scenario was written.
pub(super) enum Site {
    /// At a path inside the scenario document.
    Doc(Path),
    /// In the `--set` with this index, at this 1-based column of its `PATH=VALUE`.
    Set(usize, usize),
}

/// Collects the problems of one scenario document, located.
pub(super) struct Report<'a> {
    pub m: &'a Manifests,
    pub origin: &'a Origin,
    pub sets: &'a [(String, String)],
    pub errors: Vec<Diagnostic>,
}

impl Report<'_> {
    pub fn error(&mut self, path: &Path, message: impl Into<String>) {
        let d = self
            .m
            .diagnostic(Severity::Error, self.origin, path, message.into());
        self.errors.push(d);
    }

    pub fn at(&mut self, site: Site, message: impl Into<String>) {
        match site {
            Site::Doc(p) => self.error(&p, message),
            Site::Set(i, column) => {
                let (k, v) = &self.sets[i];
                self.errors.push(set_diagnostic(
                    i,
                    column,
                    format!("--set {k}={v}: {}", message.into()),
                ));
            }
        }
    }
}

/// A problem with the `i`th `--set`: "file" `--set`, line `i + 1`, the column inside its
/// `PATH=VALUE`.
pub(super) fn set_diagnostic(i: usize, column: usize, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: "--set".into(),
        line: i + 1,
        column,
        message,
    }
}

/// Where the resolved parameters came from, to locate a problem found in them: the `--set`s,
/// the variant's `parameters`, the scenario's `parameters`, and its `services`, `rings`,
/// `remoteWrite` and `clients`.
pub(super) struct ParamSources<'a> {
    pub spec: &'a Spec,
    pub variant: Option<(&'a str, &'a serde_json::Value)>,
    pub sets: &'a [(String, String)],
}

/// The spec's own maps of named declarations, merged into the parameters at these keys.
pub(super) fn declared(spec: &Spec) -> [(&'static str, &'static str, &serde_json::Value); 4] {
    [
        ("services", "service", &spec.services),
        ("rings", "ring", &spec.rings),
        ("remoteWrite", "remote_write fleet", &spec.remote_write),
        ("clients", "client", &spec.clients),
    ]
}

/// How many leading segments of `path` exist in `tree`.
fn depth(tree: &serde_json::Value, path: &[Seg]) -> usize {
    let mut node = tree;
    for (i, seg) in path.iter().enumerate() {
        let next = match seg {
            Seg::Key(k) => node.get(k.as_str()),
            Seg::Index(n) => node.get(*n),
        };
        match next {
            Some(n) => node = n,
            None => return i,
        }
    }
    path.len()
}

fn spec_path() -> Path {
    Path::root().key("spec")
}

impl ParamSources<'_> {
    /// Where the parameter at `path` (camelCase keys from the top of `Params`) was set: the
    /// source that spells out most of it, a later `--set` first.
    pub fn site(&self, path: &[Seg]) -> Site {
        for (i, (k, v)) in self.sets.iter().enumerate().rev() {
            let set: Vec<&str> = k.split('.').collect();
            let common = set
                .iter()
                .zip(path)
                .take_while(|(a, b)| matches!(b, Seg::Key(b) if b == *a))
                .count();
            if common == set.len() || common == path.len() {
                let _ = v;
                return Site::Set(i, k.len() + 2);
            }
        }
        let mut best: (usize, Path) = (0, spec_path().key("parameters"));
        let mut consider = |d: usize, base: Path, rest: &[Seg]| {
            if d > best.0 {
                let mut p = base;
                p.0.extend(rest[..d.min(rest.len())].iter().cloned());
                best = (d, p);
            }
        };
        if let Some((name, tree)) = self.variant {
            let base = spec_path().key("variants").key(name).key("parameters");
            consider(depth(tree, path), base, path);
        }
        consider(
            depth(&self.spec.parameters, path),
            spec_path().key("parameters"),
            path,
        );
        if let Some(Seg::Key(first)) = path.first() {
            for (key, _, tree) in declared(self.spec) {
                if key == first && !tree.is_null() {
                    let base = spec_path().key(key);
                    let d = depth(tree, &path[1..]);
                    if d + 1 > best.0 {
                        let mut p = base;
                        p.0.extend(path[1..1 + d].iter().cloned());
                        best = (d + 1, p);
                    }
                }
            }
        }
        Site::Doc(best.1)
    }

    /// The site of a message that starts with a parameter path (`services.proxy.ring: ...`,
    /// as cascade-services words its errors).
    pub fn site_of_message(&self, message: &str) -> Site {
        let head = message.split(':').next().unwrap_or("");
        if head.is_empty() || head.contains(' ') {
            return Site::Doc(spec_path());
        }
        let path: Vec<Seg> = head.split('.').map(|s| Seg::Key(s.to_string())).collect();
        self.site(&path)
    }
}

/// "no zone named "z-typo" (did you mean "zone-a"?): expected one of zone-a, zone-b".
pub fn unknown_name(what: &str, name: &str, known: &[&str]) -> String {
    let mut s = format!("no {what} named {name:?}");
    if let Some(best) = nearest(name, known) {
        s.push_str(&format!(" (did you mean {best:?}?)"));
    }
    if known.is_empty() {
        s.push_str(&format!(": the scenario has no {what}"));
    } else {
        s.push_str(": expected one of ");
        s.push_str(&listing(known));
    }
    s
}

/// The first names of a list, and how many there are in all when it is long.
fn listing(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    let mut s = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", ... ({} in all)", names.len()));
    }
    s
}

/// The known name closest to `name`, when it is close enough to be a typo of it: within a
/// third of its length in edits (at least one edit).
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance by characters, a swap of two neighbours counting as one edit (optimal
/// string alignment: "kafak" is one edit from "kafka").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Every zone and node the scenario's cluster can have: its node groups (up to their
/// autoscaling maximum), the nodes its changes add, and the Nodes of every manifest it loads.
struct Topology {
    zones: BTreeSet<String>,
    nodes: BTreeSet<String>,
    /// Generated nodes: `{prefix}-{i}` for i below the count.
    generated: BTreeMap<String, usize>,
    /// The generated groups and how many nodes each can have, and the manifests' Nodes'
    /// labels, for node selectors.
    groups: Vec<(super::NodeGroup, usize)>,
    node_labels: Vec<cascade_model::Labels>,
}

impl Topology {
    fn of(spec: &Spec, params: &Params, files: &BTreeMap<String, ManifestFile>) -> Topology {
        let mut t = Topology {
            zones: BTreeSet::new(),
            nodes: BTreeSet::new(),
            generated: BTreeMap::new(),
            groups: Vec::new(),
            node_labels: Vec::new(),
        };
        for g in &spec.cluster.node_groups {
            t.zones.extend(g.zones.iter().cloned());
            let n = g
                .scaled_count(params.generator_scale)
                .max(g.max_size.unwrap_or(0));
            *t.generated.entry(g.name_prefix.clone()).or_default() += n;
            t.groups.push((g.clone(), n));
        }
        for g in spec.changes.iter().filter_map(|c| c.add_nodes.as_ref()) {
            t.zones.extend(g.zones.iter().cloned());
            let n = g.count.max(g.max_size.unwrap_or(0));
            *t.generated.entry(g.name_prefix.clone()).or_default() += n;
            t.groups.push((g.clone(), n));
        }
        for f in files.values() {
            for n in &f.manifests.nodes {
                t.nodes.insert(n.object.name.clone());
                t.node_labels.push(n.object.labels.clone());
                if !n.object.zone().is_empty() {
                    t.zones.insert(n.object.zone().to_string());
                }
            }
        }
        t
    }

    fn has_node(&self, name: &str) -> bool {
        self.nodes.contains(name)
            || name.rsplit_once('-').is_some_and(|(prefix, index)| {
                let count = self.generated.get(prefix).copied().unwrap_or(0);
                index
                    .parse::<usize>()
                    .is_ok_and(|i| i < count && i.to_string() == index)
            })
    }

    fn node_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .generated
            .iter()
            .flat_map(|(p, n)| (0..*n).map(move |i| format!("{p}-{i}")))
            .collect();
        v.extend(self.nodes.iter().cloned());
        v
    }

    /// Whether the selector picks some node the cluster can have.
    fn selects_any(&self, sel: &super::NodeSelector) -> bool {
        self.node_labels.iter().any(|l| sel.matches(l))
            || self
                .groups
                .iter()
                .any(|(g, n)| (0..*n).any(|i| sel.matches(&crate::generate::node_labels(g, i))))
    }

    /// A fault's node selector and fraction: a fraction is a share, and a selector that picks
    /// no node is a typo (the fault would do nothing).
    fn check_selection(
        &self,
        r: &mut Report<'_>,
        p: &Path,
        sel: Option<&super::NodeSelector>,
        fraction: Option<f64>,
    ) {
        if let Some(f) = fraction {
            if !(0.0..=1.0).contains(&f) {
                r.error(
                    &p.key("fraction"),
                    format!("fraction = {f}: expected a share of the nodes between 0 and 1"),
                );
            }
        }
        if let Some(sel) = sel {
            if !self.selects_any(sel) {
                let mut labels: BTreeSet<String> = BTreeSet::new();
                for l in self.node_labels.iter().cloned().chain(
                    self.groups
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(g, _)| crate::generate::node_labels(g, 0)),
                ) {
                    labels.extend(
                        l.into_iter()
                            .filter(|(k, _)| k != "kubernetes.io/hostname")
                            .map(|(k, v)| format!("{k}={v}")),
                    );
                }
                let known: Vec<&str> = labels.iter().map(String::as_str).collect();
                r.error(
                    &p.key("selector"),
                    format!(
                        "selector {{{}}} picks no node of the cluster (at time 0, added by a change or by the autoscaler): the nodes' labels include {}",
                        sel.match_labels
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if known.is_empty() { "none".to_string() } else { listing(&known) }
                    ),
                );
            }
        }
    }

    fn check_zone(&self, r: &mut Report<'_>, path: Path, zone: &str) {
        if !self.zones.contains(zone) {
            let known: Vec<&str> = self.zones.iter().map(String::as_str).collect();
            r.error(&path, unknown_name("zone", zone, &known));
        }
    }

    fn check_node(&self, r: &mut Report<'_>, path: Path, node: &str) {
        if !self.has_node(node) {
            let names = self.node_names();
            let known: Vec<&str> = names.iter().map(String::as_str).collect();
            r.error(&path, unknown_name("node", node, &known));
        }
    }
}

/// Where each fault, change, behaviour and node group of the resolved spec was written: the
/// base spec or the variant.
pub(super) struct Sources {
    pub faults: Vec<Path>,
    pub changes: Vec<Path>,
    pub behaviours: Vec<Path>,
    pub node_groups: Vec<Path>,
}

/// The generated parts (node groups, the nodes changes add, workload groups) must be
/// buildable: quantities that parse, a kind cascade generates, containers.
pub(super) fn generated(r: &mut Report<'_>, spec: &Spec, src: &Sources) {
    let adds = spec
        .changes
        .iter()
        .zip(&src.changes)
        .filter_map(|(c, p)| c.add_nodes.as_ref().map(|g| (g, p.key("addNodes"))));
    let groups = spec
        .cluster
        .node_groups
        .iter()
        .zip(src.node_groups.iter().cloned());
    for (g, p) in groups.chain(adds) {
        if let Err(e) = crate::generate::resources_at(&g.allocatable) {
            let mut at = p.key("allocatable");
            at.0.extend(e.path.0);
            r.error(
                &at,
                format!("node group {}: allocatable: {}", g.name_prefix, e.message),
            );
        }
    }
    for (i, g) in spec.cluster.workload_groups.iter().enumerate() {
        let p = spec_path().key("cluster").key("workloadGroups").idx(i);
        let mut empty = g.clone();
        empty.count = 0;
        if let Err(e) = crate::generate::generate_workloads(&empty) {
            let mut at = p;
            at.0.extend(e.path.0);
            r.error(&at, e.message);
        }
    }
}

/// Every name the resolved scenario refers to must exist.
pub(super) fn references(
    r: &mut Report<'_>,
    spec: &Spec,
    params: &Params,
    files: &BTreeMap<String, ManifestFile>,
    src: &Sources,
    sites: &ParamSources<'_>,
) {
    let services: Vec<&str> = params.services.keys().map(String::as_str).collect();
    let service = |r: &mut Report<'_>, path: Path, name: &str| {
        if !params.services.contains_key(name) {
            r.error(&path, unknown_name("service", name, &services));
        }
    };
    let topology = Topology::of(spec, params, files);
    for (f, p) in spec.faults.iter().zip(&src.faults) {
        match &f.kind {
            FaultKind::ZoneDown(z) => topology.check_zone(r, p.key("zoneDown"), z),
            FaultKind::NodeDown(NodeTarget::Name(n)) => {
                topology.check_node(r, p.key("nodeDown"), n)
            }
            FaultKind::NodeDown(NodeTarget::Selected(s)) => {
                topology.check_selection(r, &p.key("nodeDown"), Some(&s.selector), s.fraction)
            }
            FaultKind::ServiceDown { service: s, .. } => service(r, p.key("serviceDown"), s),
            FaultKind::ServiceDegraded {
                service: s,
                degradation: g,
            } => {
                service(r, p.key("serviceDegraded"), s);
                degradation(r, &p.key("degradation"), g, params.services.get(s));
            }
            FaultKind::Partition(part) => {
                for (k, z) in part.zones.iter().enumerate() {
                    topology.check_zone(r, p.key("partition").key("zones").idx(k), z);
                }
                for (k, n) in part.nodes.iter().enumerate() {
                    topology.check_node(r, p.key("partition").key("nodes").idx(k), n);
                }
                topology.check_selection(
                    r,
                    &p.key("partition"),
                    part.selector.as_ref(),
                    part.fraction,
                );
                if part.zones.is_empty() && part.nodes.is_empty() && part.selector.is_none() {
                    r.error(
                        &p.key("partition"),
                        "a partition with no nodes: expected zones, nodes or a selector",
                    );
                }
            }
            FaultKind::ApiServerDown => {}
            FaultKind::Stockout(z) => topology.check_zone(r, p.key("stockout"), z),
        }
    }
    for (b, p) in spec.behaviours.iter().zip(&src.behaviours) {
        for (k, c) in b.sidecars.iter().enumerate() {
            service(r, p.key("sidecars").idx(k).key("target"), &c.target);
        }
        if let Some(reg) = &b.registers {
            service(r, p.key("registers").key("service"), &reg.service);
        }
        if let Some(c) = &b.api_client {
            api_client(r, &p.key("apiClient"), c);
        }
    }
    api_server(r, params, sites);
    let catalog = &params.gossip.catalog_service;
    if !catalog.is_empty() && !params.services.contains_key(catalog) {
        let path = [Seg::Key("gossip".into()), Seg::Key("catalogService".into())];
        r.at(
            sites.site(&path),
            unknown_name("service", catalog, &services),
        );
    }
    let clients: Vec<&str> = params.clients.keys().map(String::as_str).collect();
    for (c, p) in spec.changes.iter().zip(&src.changes) {
        if let Some(name) = &c.unseal {
            if !params.clients.contains_key(name) {
                r.error(&p.key("unseal"), unknown_name("client", name, &clients));
            }
        }
    }
    // The kubelet's eviction thresholds (docs/kubernetes.md#node-memory-pressure): an unknown
    // signal or an impossible quantity is an error where it was written.
    if let Err(errors) = params.kubelet.eviction_config() {
        for (path, msg) in errors {
            let path: Vec<Seg> = path.into_iter().map(Seg::Key).collect();
            r.at(sites.site(&path), msg);
        }
    }
    for (key, b) in [
        ("kubeReservedMemory", params.kubelet.kube_reserved_memory),
        (
            "systemReservedMemory",
            params.kubelet.system_reserved_memory,
        ),
    ] {
        if b.0 < 0 {
            let path = [Seg::Key("kubelet".into()), Seg::Key(key.into())];
            r.at(
                sites.site(&path),
                format!("{key} = {}: expected a quantity not below 0", b.0),
            );
        }
    }
    // The endpointslice controller (docs/control-plane-and-nodes.md#endpointslices): its
    // backoff is a positive delay up to its maximum (the batch period, like every `*Seconds`,
    // is checked not below 0 by `out_of_range`).
    let ctl = &params.controllers;
    let ctl_path = |key: &str| [Seg::Key("controllers".into()), Seg::Key(key.into())];
    if !(ctl.endpoint_slice_sync_backoff_seconds.is_finite()
        && ctl.endpoint_slice_sync_backoff_seconds > 0.0)
    {
        r.at(
            sites.site(&ctl_path("endpointSliceSyncBackoffSeconds")),
            format!(
                "endpointSliceSyncBackoffSeconds = {}: expected seconds above 0",
                ctl.endpoint_slice_sync_backoff_seconds
            ),
        );
    } else if !(ctl.endpoint_slice_max_sync_backoff_seconds.is_finite()
        && ctl.endpoint_slice_max_sync_backoff_seconds >= ctl.endpoint_slice_sync_backoff_seconds)
    {
        r.at(
            sites.site(&ctl_path("endpointSliceMaxSyncBackoffSeconds")),
            format!(
                "endpointSliceMaxSyncBackoffSeconds = {}: expected seconds not below \
                 endpointSliceSyncBackoffSeconds ({})",
                ctl.endpoint_slice_max_sync_backoff_seconds,
                ctl.endpoint_slice_sync_backoff_seconds
            ),
        );
    }
    // The kubelet's CPU settings (docs/kubernetes.md#node-cpu): `--cpu-cfs-quota-period`
    // must be from 1 ms to 1 s, as the kubelet validates it; the slowdown is a factor.
    let c = &params.kubelet.cpu;
    let cpu_path = |key: &str| {
        [
            Seg::Key("kubelet".into()),
            Seg::Key("cpu".into()),
            Seg::Key(key.into()),
        ]
    };
    if !(0.001..=1.0).contains(&c.cfs_quota_period_seconds) {
        r.at(
            sites.site(&cpu_path("cfsQuotaPeriodSeconds")),
            format!(
                "cfsQuotaPeriodSeconds = {}: expected from 0.001 (1ms) to 1 (1s)",
                c.cfs_quota_period_seconds
            ),
        );
    }
    if !(c.saturation_slowdown.is_finite() && c.saturation_slowdown >= 0.0) {
        r.at(
            sites.site(&cpu_path("saturationSlowdown")),
            format!(
                "saturationSlowdown = {}: expected a number not below 0",
                c.saturation_slowdown
            ),
        );
    }
    // A CPU burst's timing (docs/kubernetes.md#node-cpu).
    for (i, b) in spec.behaviours.iter().enumerate() {
        if let Some((key, msg)) = b.cpu.as_ref().and_then(|c| c.spike.as_ref()?.problem()) {
            let p = spec_path()
                .key("behaviours")
                .idx(i)
                .key("cpu")
                .key("spike")
                .key(key);
            r.error(&p, msg);
        }
    }
    let thrash = params.memory_thrashing.memory_available;
    if thrash.0 < 0 {
        let path = [
            Seg::Key("memoryThrashing".into()),
            Seg::Key("memoryAvailable".into()),
        ];
        r.at(
            sites.site(&path),
            format!(
                "memoryAvailable = {}: expected a quantity not below 0 (0 turns thrashing off)",
                thrash.0
            ),
        );
    }
    let gossip = spec.behaviours.iter().any(|b| b.gossip_agent.is_some());
    let memory = spec.behaviours.iter().any(|b| b.memory.is_some());
    let cpu = spec.behaviours.iter().any(|b| b.cpu.is_some());
    match MetricNames::of(params, gossip, memory).map(|n| n.with_cpu(cpu)) {
        Ok(names) => {
            for (i, e) in spec.expectations.iter().enumerate() {
                if let Err(msg) = names.check(e) {
                    let p = spec_path().key("expectations").idx(i).key("metric");
                    r.error(&p, format!("expectation {:?}: {msg}", e.name));
                }
            }
        }
        // The services' own references (a target, a ring), worded from the parameters' path.
        Err(msg) => r.at(sites.site_of_message(&msg), msg),
    }
}

/// A degradation's numbers the model cannot run with (negatives are the generic walk's):
/// an error rate is a probability, a service time factor a positive number, and degraded
/// workers are fewer than the service's own (docs/retry-defences.md#degradation).
fn degradation(
    r: &mut Report<'_>,
    p: &Path,
    g: &cascade_services::Degradation,
    spec: Option<&cascade_services::ServiceSpec>,
) {
    if !(0.0..=1.0).contains(&g.error_rate) && g.error_rate >= 0.0 {
        r.error(
            &p.key("errorRate"),
            format!(
                "errorRate = {}: expected a probability between 0 and 1",
                g.error_rate
            ),
        );
    }
    if g.service_time_factor == 0.0 {
        r.error(
            &p.key("serviceTimeFactor"),
            "serviceTimeFactor = 0: expected a number greater than 0",
        );
    }
    if let (Some(w), Some(spec)) = (g.workers_per_replica, spec) {
        if w > spec.workers_per_replica {
            r.error(
                &p.key("workersPerReplica"),
                format!(
                    "workersPerReplica = {w}: expected at most the service's own workersPerReplica ({}), a degradation takes workers away",
                    spec.workers_per_replica
                ),
            );
        }
    }
}

/// Parameters whose timer re-arms itself after this long: 0 would never let simulated time
/// pass (a sample, a monitor pass, a scan, a step, a sidecar's send).
const POSITIVE: &[&str] = &[
    "sampleIntervalSeconds",
    "nodeMonitorPeriodSeconds",
    "nodeStatusUpdateFrequencySeconds",
    "evictionMonitoringPeriodSeconds",
    "unschedulableFlushIntervalSeconds",
    "scanIntervalSeconds",
    "stepSeconds",
    "sendIntervalSeconds",
    "generatorScale",
    "similarityScale",
];

/// What is wrong with the number `v` written at key `key`, if anything: times, rates and
/// sizes are never negative, re-arming intervals never 0, and a service has workers.
fn out_of_range(key: &str, v: f64) -> Option<String> {
    let timed = key.ends_with("Seconds")
        || key.ends_with("Rate")
        || key.ends_with("PerSecond")
        || key.ends_with("PerMinute")
        || key.ends_with("Mult")
        || key.ends_with("Factor")
        || key.ends_with("Jitter");
    if (timed || POSITIVE.contains(&key) || key.starts_with("workers")) && !v.is_finite() {
        return Some(format!("{key} = {v}: expected a finite number"));
    }
    if POSITIVE.contains(&key) && v <= 0.0 {
        return Some(format!("{key} = {v}: expected a number greater than 0"));
    }
    if key.starts_with("workers") && v < 1.0 {
        return Some(format!("{key} = {v}: expected at least 1"));
    }
    if timed && v < 0.0 {
        return Some(format!("{key} = {v}: expected a number not below 0"));
    }
    None
}

/// Every number of `v` (at `path`), checked by the name of its key.
fn walk_numbers(v: &Value, path: &Path, found: &mut Vec<(Path, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                let Some(key) = k.as_str() else { continue };
                let here = path.key(key);
                if let Some(msg) = child.as_f64().and_then(|n| out_of_range(key, n)) {
                    found.push((here.clone(), msg));
                }
                walk_numbers(child, &here, found);
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                walk_numbers(child, &path.idx(i), found);
            }
        }
        Value::Tagged(t) => walk_numbers(&t.value, path, found),
        _ => {}
    }
}

/// Numbers the simulation cannot run with, in the scenario document and in the `--set`s.
pub(super) fn values(r: &mut Report<'_>, doc: &Value) {
    let mut found = Vec::new();
    if let Some(spec) = doc.get("spec") {
        // `similarity` maps parameter paths to exponents, not to values (checked at load).
        let mut spec = spec.clone();
        if let Some(m) = spec.as_mapping_mut() {
            m.remove("similarity");
        }
        walk_numbers(&spec, &spec_path(), &mut found);
    }
    for (path, msg) in found {
        r.error(&path, msg);
    }
    for (i, (k, v)) in r.sets.iter().enumerate() {
        let Ok(value) = serde_yaml_ng::from_str::<Value>(v) else {
            continue;
        };
        let key = k.rsplit('.').next().unwrap_or(k);
        let mut msgs: Vec<String> = value
            .as_f64()
            .and_then(|n| out_of_range(key, n))
            .into_iter()
            .collect();
        let mut found = Vec::new();
        walk_numbers(&value, &Path::root(), &mut found);
        msgs.extend(found.into_iter().map(|(p, m)| format!("{p}: {m}")));
        for m in msgs {
            let d = set_diagnostic(i, k.len() + 2, format!("--set {k}={v}: {m}"));
            r.errors.push(d);
        }
    }
}

/// The names that become metric names and report.html ids (services, rings, remote_write
/// fleets, clients) must be DNS-1123 labels, as Kubernetes requires of a Service's name: at
/// most 63 lowercase letters, digits and '-', starting and ending with a letter or digit.
pub(super) fn labels(r: &mut Report<'_>, spec: &Spec) {
    for (key, what, tree) in declared(spec) {
        let Some(names) = tree.as_object() else {
            continue;
        };
        for name in names.keys().filter(|n| !is_dns1123_label(n)) {
            r.error(
                &spec_path().key(key).key(name),
                format!("{what} name {name:?}: expected a DNS-1123 label (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit), as it names metrics and report.html ids"),
            );
        }
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| inner(c) || *c == b'-')
        && inner(&b[0])
        && inner(&b[b.len() - 1])
}

/// A pod's API client: what it lists, where, how often and under which FlowSchema, each an
/// error at its field.
fn api_client(r: &mut Report<'_>, p: &Path, c: &crate::scenario::ApiClient) {
    const RESOURCES: &[&str] = &["pods", "nodes", "services", "endpointslices"];
    if !RESOURCES.contains(&c.resource.as_str()) {
        r.error(
            &p.key("resource"),
            format!(
                "resource {:?}: expected one of {} (the resources whose object count the run knows)",
                c.resource,
                RESOURCES.join(", ")
            ),
        );
    }
    match c.scope.as_str() {
        "cluster" => {}
        "node" if c.resource == "pods" => {}
        "node" => r.error(
            &p.key("scope"),
            "scope node: expected with resource pods (a field selector on spec.nodeName)",
        ),
        other => r.error(
            &p.key("scope"),
            format!("scope {other:?}: expected cluster or node"),
        ),
    }
    match (c.watch, c.period_seconds) {
        (false, None) => r.error(
            p,
            "a poller (watch: false): expected periodSeconds, how often it lists",
        ),
        (false, Some(s)) if !(s > 0.0 && s.is_finite()) => r.error(
            &p.key("periodSeconds"),
            format!("periodSeconds = {s}: expected a number of seconds above 0"),
        ),
        (true, Some(_)) => r.error(
            &p.key("periodSeconds"),
            "periodSeconds: expected only with watch: false (an informer lists once, then watches)",
        ),
        _ => {}
    }
    if c.ready_when_synced && !c.watch {
        r.error(
            &p.key("readyWhenSynced"),
            "readyWhenSynced: expected only with watch: true (a poller never syncs an informer)",
        );
    }
    if let Some(name) = &c.flow_schema {
        if cascade_apiserver::server::flow_schema(name).is_none() {
            let names: Vec<&str> = cascade_apiserver::server::BOOTSTRAP_FLOW_SCHEMAS
                .iter()
                .map(|f| f.name)
                .collect();
            r.error(
                &p.key("flowSchema"),
                unknown_name("FlowSchema", name, &names),
            );
        }
    }
    if !c.qps.is_finite() {
        r.error(
            &p.key("qps"),
            "qps: expected a number (0 or less: no limit)",
        );
    }
}

/// The API server's sizing: positive durations and sizes, each an error at its field.
fn api_server(r: &mut Report<'_>, params: &Params, sites: &ParamSources<'_>) {
    let a = &params.api_server;
    let mut bad = |key: &str, msg: String| {
        let path = [Seg::Key("apiServer".into()), Seg::Key(key.into())];
        r.at(sites.site(&path), msg);
    };
    for (key, v) in [
        ("requestSeconds", a.request_seconds),
        ("listSecondsPerObject", a.list_seconds_per_object),
        ("startupSeconds", a.startup_seconds),
        ("queueWaitLimitSeconds", a.queue_wait_limit_seconds),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            bad(
                key,
                format!("{key} = {v}: expected a number of seconds, 0 or more"),
            );
        }
    }
    if !(a.cpus >= 0.0 && a.cpus.is_finite()) {
        bad(
            "cpus",
            format!(
                "cpus = {}: expected a number of CPUs, 0 (no limit) or more",
                a.cpus
            ),
        );
    }
    for (key, b) in [
        ("bytesPerObject", a.bytes_per_object),
        ("baselineMemory", a.baseline_memory),
        ("memoryLimit", a.memory_limit),
    ] {
        if b.0 < 0 {
            bad(
                key,
                format!("{key} = {}: expected a quantity not below 0", b.0),
            );
        }
    }
    if a.max_requests_inflight + a.max_mutating_requests_inflight == 0 {
        bad(
            "maxRequestsInflight",
            "maxRequestsInflight and maxMutatingRequestsInflight are both 0: expected a server that can run a request".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "kafka", "remote-write-2", "0", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Kafka",
            "a_b",
            "a.b",
            "<img>",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn near_names_are_suggested() {
        assert_eq!(edit_distance("us-east-2z", "us-east-2a"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kafak", "kafka"), 1);
        assert_eq!(
            nearest("worker-99", &["worker-9", "master-0"]),
            Some("worker-9")
        );
        assert_eq!(nearest("z-typo", &["zone-a", "zone-b"]), None);
        assert_eq!(
            unknown_name("zone", "zone-x", &["zone-a", "zone-b"]),
            "no zone named \"zone-x\" (did you mean \"zone-a\"?): expected one of zone-a, zone-b"
        );
    }

    #[test]
    fn impossible_numbers_are_named() {
        assert!(out_of_range("sampleIntervalSeconds", 0.0).is_some());
        assert!(out_of_range("readinessSeconds", -1.0).is_some());
        assert!(out_of_range("ratePerSecond", -0.5).is_some());
        assert!(out_of_range("workersPerReplica", 0.0).is_some());
        assert!(out_of_range("redeploySeconds", 0.0).is_none());
        assert!(out_of_range("replicas", -1.0).is_none());
    }
}
