//! Checks of a resolved scenario that its types cannot make: every name it refers to exists (a
//! fault's zone, node or service, a behaviour's service, an expectation's metric), and every
//! number is one the simulation can run with. Each problem is reported where it was written:
//! in the scenario file, or in the `--set` that made it.

mod api;
mod names;
mod numbers;
mod topology;

use super::{FaultKind, ManifestFile, NodeTarget, Spec};
use crate::output::MetricNames;
use crate::params::Params;
use cascade_manifest::{Diagnostic, Manifests, Origin, Path, Seg, Severity};
use std::collections::BTreeMap;

use api::{api_client, api_server};
pub(super) use names::labels;
pub use names::unknown_name;
use numbers::degradation;
pub(super) use numbers::values;
use topology::Topology;

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
        skipped_kind: None,
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
                .take_while(|(a, b)| match b {
                    Seg::Key(b) => b == *a,
                    // `--set services.page.calls.2.timeoutSeconds`: a position in a list.
                    Seg::Index(n) => a.parse() == Ok(*n),
                })
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
        // A number is a position in a list (`services.front.calls.1.service`).
        let path: Vec<Seg> = head
            .split('.')
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(s.to_string()),
            })
            .collect();
        self.site(&path)
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
                on_nodes,
            } => {
                service(r, p.key("serviceDegraded"), s);
                degradation(r, &p.key("degradation"), g, params.services.get(s));
                match on_nodes {
                    Some(NodeTarget::Name(n)) => topology.check_node(r, p.key("onNodes"), n),
                    Some(NodeTarget::Selected(sel)) => topology.check_selection(
                        r,
                        &p.key("onNodes"),
                        Some(&sel.selector),
                        sel.fraction,
                    ),
                    None => {}
                }
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
            FaultKind::ApiServerDown { replica } => {
                api::fault_replica(r, &p.key("replica"), *replica, params);
            }
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
        // A memory spike's timing and the memory a request holds
        // (docs/kubernetes.md#memory-spikes, docs/kubernetes.md#memory-per-request).
        let Some(m) = b.memory.as_ref() else { continue };
        let mem = spec_path().key("behaviours").idx(i).key("memory");
        if let Some((key, msg)) = m.spike.as_ref().and_then(|s| s.problem()) {
            r.error(&mem.key("spike").key(key), msg);
        }
        if m.per_request.0 < 0 {
            r.error(
                &mem.key("perRequest"),
                format!(
                    "perRequest = {}: expected a quantity not below 0",
                    m.per_request.0
                ),
            );
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
