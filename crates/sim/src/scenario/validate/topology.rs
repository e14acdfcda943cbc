//! The zones and nodes a scenario's cluster can have, against which its faults' targets
//! resolve.

use super::{
    names::{listing, unknown_name},
    Report,
};
use crate::params::Params;
use crate::scenario::{ManifestFile, Spec};
use cascade_manifest::Path;
use std::collections::{BTreeMap, BTreeSet};

/// Every zone and node the scenario's cluster can have: its node groups (up to their
/// autoscaling maximum), the nodes its changes add, and the Nodes of every manifest it loads.
pub(super) struct Topology {
    zones: BTreeSet<String>,
    nodes: BTreeSet<String>,
    /// Generated nodes: `{prefix}-{i}` for i below the count.
    generated: BTreeMap<String, usize>,
    /// The generated groups and how many nodes each can have, and the manifests' Nodes'
    /// labels, for node selectors.
    groups: Vec<(crate::scenario::NodeGroup, usize)>,
    node_labels: Vec<cascade_model::Labels>,
}

impl Topology {
    pub(super) fn of(
        spec: &Spec,
        params: &Params,
        files: &BTreeMap<String, ManifestFile>,
    ) -> Topology {
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

    pub(super) fn has_node(&self, name: &str) -> bool {
        self.nodes.contains(name)
            || name.rsplit_once('-').is_some_and(|(prefix, index)| {
                let count = self.generated.get(prefix).copied().unwrap_or(0);
                index
                    .parse::<usize>()
                    .is_ok_and(|i| i < count && i.to_string() == index)
            })
    }

    pub(super) fn node_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .generated
            .iter()
            .flat_map(|(p, n)| (0..*n).map(move |i| format!("{p}-{i}")))
            .collect();
        v.extend(self.nodes.iter().cloned());
        v
    }

    /// Whether the selector picks some node the cluster can have.
    pub(super) fn selects_any(&self, sel: &crate::scenario::NodeSelector) -> bool {
        self.node_labels.iter().any(|l| sel.matches(l))
            || self
                .groups
                .iter()
                .any(|(g, n)| (0..*n).any(|i| sel.matches(&crate::generate::node_labels(g, i))))
    }

    /// A fault's node selector and fraction: a fraction is a share, and a selector that picks
    /// no node is a typo (the fault would do nothing).
    pub(super) fn check_selection(
        &self,
        r: &mut Report<'_>,
        p: &Path,
        sel: Option<&crate::scenario::NodeSelector>,
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

    pub(super) fn check_zone(&self, r: &mut Report<'_>, path: Path, zone: &str) {
        if !self.zones.contains(zone) {
            let known: Vec<&str> = self.zones.iter().map(String::as_str).collect();
            r.error(&path, unknown_name("zone", zone, &known));
        }
    }

    pub(super) fn check_node(&self, r: &mut Report<'_>, path: Path, node: &str) {
        if !self.has_node(node) {
            let names = self.node_names();
            let known: Vec<&str> = names.iter().map(String::as_str).collect();
            r.error(&path, unknown_name("node", node, &known));
        }
    }
}
