//! What a scenario's selectors and change targets can reach: every pod the run can have (the
//! manifests' pods, the templates of their workloads and of the generated workload groups,
//! the same in every change's manifests). A selector that picks none of them is most likely a
//! typo, and a silent one (a service with no replica, a budget that protects nothing): a
//! warning. A change that scales or deletes a workload no file defines is an error.
//! docs/kubernetes.md#scenario-checks.

use super::validate::{set_diagnostic, ParamSources, Report, Site, Sources};
use super::{ManifestFile, Spec};
use crate::params::Params;
use cascade_manifest::{Diagnostic, Path, Seg, Severity};
use cascade_model::{Labels, PodSelector, WorkloadKind};
use std::collections::BTreeMap;

/// A pod the run can create, as far as selectors see it.
struct Candidate {
    namespace: String,
    labels: Labels,
    memory_limit: i64,
    dns_policy: cascade_model::DnsPolicy,
}

/// Every pod and workload the scenario can have.
struct Reach {
    pods: Vec<Candidate>,
    /// Named pods (namespace, name), for `delete` of a Pod.
    pod_names: Vec<(String, String)>,
    workloads: Vec<(WorkloadKind, String, String)>,
    priority_classes: Vec<String>,
    /// Generated workload groups: kind, namespace, name prefix, count.
    generated: Vec<(WorkloadKind, String, String, usize)>,
}

/// How many of a generated group's workloads are built to stand for its pods' labels.
const GENERATED_TEMPLATES: usize = 1000;

impl Reach {
    fn of(spec: &Spec, files: &BTreeMap<String, ManifestFile>) -> Reach {
        let mut r = Reach {
            pods: Vec::new(),
            pod_names: Vec::new(),
            workloads: Vec::new(),
            priority_classes: Vec::new(),
            generated: Vec::new(),
        };
        let template = |r: &mut Reach, p: &cascade_model::Pod| {
            r.pods.push(Candidate {
                namespace: p.namespace.clone(),
                labels: p.labels.clone(),
                memory_limit: p.memory_limit,
                dns_policy: p.dns.as_ref().map(|d| d.policy).unwrap_or_default(),
            });
        };
        for f in files.values() {
            let m = &f.manifests;
            for p in &m.pods {
                template(&mut r, &p.object.pod);
                r.pod_names
                    .push((p.object.pod.namespace.clone(), p.object.pod.name.clone()));
            }
            for w in &m.workloads {
                template(&mut r, &w.object.template.pod);
                let w = &w.object;
                r.workloads
                    .push((w.kind, w.namespace.clone(), w.name.clone()));
            }
            r.priority_classes
                .extend(m.priority_classes.iter().map(|c| c.object.name.clone()));
        }
        for g in &spec.cluster.workload_groups {
            // The templates of a few workloads stand for the group (they differ only in their
            // `app` label and name), so that a huge group costs nothing here; its names are
            // matched by their pattern.
            let mut few = g.clone();
            few.count = g.count.min(GENERATED_TEMPLATES);
            for w in crate::generate::generate_workloads(&few).unwrap_or_default() {
                template(&mut r, &w.template.pod);
            }
            r.generated.push((
                cascade_model::WorkloadKind::from(g.kind),
                g.namespace.clone(),
                g.name_prefix.clone(),
                g.count,
            ));
        }
        r
    }

    fn matching<'a>(&'a self, s: &'a PodSelector) -> impl Iterator<Item = &'a Candidate> + 'a {
        self.pods
            .iter()
            .filter(move |c| s.matches_meta(&c.namespace, &c.labels))
    }

    fn has_workload(&self, kind: WorkloadKind, namespace: Option<&str>, name: &str) -> bool {
        self.workloads
            .iter()
            .any(|(k, ns, n)| *k == kind && n == name && namespace.is_none_or(|x| x == ns))
            || self.generated.iter().any(|(k, ns, prefix, count)| {
                *k == kind
                    && namespace.is_none_or(|x| x == ns)
                    && name
                        .strip_prefix(prefix.as_str())
                        .and_then(|rest| rest.strip_prefix('-'))
                        .and_then(|i| i.parse::<usize>().ok().filter(|n| format!("{n:04}") == i))
                        .is_some_and(|i| i < *count)
            })
    }
}

/// Bytes as a manifest would write them (`256Mi`, `1Gi`).
fn quantity(bytes: i64) -> String {
    for (suffix, unit) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A selector in words: `{app=web} in namespace shop`.
pub fn describe(s: &PodSelector) -> String {
    let labels: Vec<String> = s
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let ns = s
        .namespace
        .as_deref()
        .map_or(String::new(), |n| format!(" in namespace {n}"));
    format!("{{{}}}{ns}", labels.join(", "))
}

/// Selectors that pick no pod (warnings) and change targets that name nothing (errors, in
/// `r`). A `memory` behaviour on pods without a memory limit is no warning: it fills their
/// node (docs/kubernetes.md#node-memory-pressure).
pub(super) fn check(
    r: &mut Report<'_>,
    spec: &Spec,
    params: &Params,
    files: &BTreeMap<String, ManifestFile>,
    src: &Sources,
    sites: &ParamSources<'_>,
) -> Vec<Diagnostic> {
    let reach = Reach::of(spec, files);
    let mut warnings = Vec::new();
    let mut warn_at = |r: &Report<'_>, site: Site, message: String| {
        warnings.push(match site {
            Site::Doc(p) => r.m.diagnostic(Severity::Warning, r.origin, &p, message),
            Site::Set(i, column) => {
                let (k, v) = &r.sets[i];
                let mut d = set_diagnostic(i, column, format!("--set {k}={v}: {message}"));
                d.severity = Severity::Warning;
                d
            }
        });
    };
    let none = "matches no pod of the scenario (none at the start, none in any change's manifests)";
    for (i, (b, p)) in spec.behaviours.iter().zip(&src.behaviours).enumerate() {
        let matched: Vec<&Candidate> = reach.matching(&b.selector).collect();
        if matched.is_empty() {
            warn_at(
                r,
                Site::Doc(p.key("selector")),
                format!("behaviour {i}: selector {} {none}", describe(&b.selector)),
            );
        }
    }
    let groups: [(&str, Vec<(&String, &PodSelector)>); 3] = [
        (
            "services",
            params
                .services
                .iter()
                .map(|(n, s)| (n, &s.selector))
                .collect(),
        ),
        (
            "rings",
            params.rings.iter().map(|(n, s)| (n, &s.selector)).collect(),
        ),
        // A client attached to pods (`perPodOf`) whose pods never run never calls.
        (
            "clients",
            params
                .clients
                .iter()
                .filter_map(|(n, c)| c.per_pod_of.as_ref().map(|s| (n, s)))
                .collect(),
        ),
    ];
    for (key, selectors) in groups {
        for (name, s) in selectors {
            if reach.matching(s).next().is_none() {
                let field = if key == "clients" {
                    "perPodOf"
                } else {
                    "selector"
                };
                let path = [
                    Seg::Key(key.into()),
                    Seg::Key(name.to_string()),
                    Seg::Key(field.into()),
                ];
                let what = &key[..key.len() - 1];
                warn_at(
                    r,
                    sites.site(&path),
                    format!("{what} {name}: selector {} {none}", describe(s)),
                );
            }
        }
    }
    // A DNS client's pods look up through the cluster's DNS (ClusterFirst): a pod whose
    // resolv.conf is the node's (`Default`) or its own (`None`) sends its queries elsewhere,
    // which cascade does not model: an error rather than a load put on the wrong server
    // (docs/dns.md#a-pods-dnsconfig).
    for (name, c) in &params.clients {
        let (Some(sel), Some(_)) = (&c.per_pod_of, &c.dns) else {
            continue;
        };
        use cascade_model::DnsPolicy;
        if let Some(p) = reach
            .matching(sel)
            .map(|p| p.dns_policy)
            .find(|p| matches!(p, DnsPolicy::Default | DnsPolicy::None))
        {
            let path = [
                Seg::Key("clients".into()),
                Seg::Key(name.to_string()),
                Seg::Key("perPodOf".into()),
            ];
            r.at(
                sites.site(&path),
                format!(
                    "client {name}: selects pods with dnsPolicy {p:?}, whose lookups do not go to the cluster's DNS service: not modelled; expected pods with dnsPolicy ClusterFirst (the default) or ClusterFirstWithHostNet"
                ),
            );
        }
    }
    // A service's memoryLimit stands in for a pod's limits.memory only where the pod sets none
    // (cascade-services ServiceSpec): set over pods that all have one, it changes nothing.
    for (name, svc) in &params.services {
        let matched: Vec<&Candidate> = reach.matching(&svc.selector).collect();
        if svc.memory_limit.0 > 0
            && !matched.is_empty()
            && matched.iter().all(|c| c.memory_limit > 0)
        {
            let path = [
                Seg::Key("services".into()),
                Seg::Key(name.to_string()),
                Seg::Key("memoryLimit".into()),
            ];
            let limits: Vec<String> = {
                let mut l: Vec<String> = matched.iter().map(|c| quantity(c.memory_limit)).collect();
                l.sort();
                l.dedup();
                l
            };
            warn_at(
                r,
                sites.site(&path),
                format!(
                    "service {name}: memoryLimit has no effect: it applies to pods without limits.memory, and every pod the service selects sets one ({}); change the manifest (a variant can replace spec.cluster.manifests)",
                    limits.join(", ")
                ),
            );
        }
    }
    for (i, e) in spec.expectations.iter().enumerate() {
        if let Some(s) = &e.selector {
            if reach.matching(s).next().is_none() {
                let p = Path::root()
                    .key("spec")
                    .key("expectations")
                    .idx(i)
                    .key("selector");
                warn_at(
                    r,
                    Site::Doc(p),
                    format!("expectation {:?}: selector {} {none}", e.name, describe(s)),
                );
            }
        }
    }
    for f in files.values() {
        for b in &f.manifests.pdbs {
            let pdb = &b.object;
            let covers = reach.pods.iter().any(|c| {
                c.namespace == pdb.namespace
                    && !pdb.selector.is_empty()
                    && pdb.selector.matches(&c.labels)
            });
            if !covers {
                warnings.push(f.manifests.diagnostic(
                    Severity::Warning,
                    &b.origin,
                    &Path::root().key("spec").key("selector"),
                    format!("PodDisruptionBudget {}: its selector {none}", pdb.key()),
                ));
            }
        }
    }
    change_targets(r, spec, &reach, src);
    warnings
}

/// `scale` and `delete` must name something the scenario has.
fn change_targets(r: &mut Report<'_>, spec: &Spec, reach: &Reach, src: &Sources) {
    let workloads = |kind: WorkloadKind| -> Vec<String> {
        let mut names: Vec<String> = reach
            .workloads
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, ns, n)| format!("{ns}/{n}"))
            .collect();
        names.extend(
            reach
                .generated
                .iter()
                .filter(|(k, _, _, c)| *k == kind && *c > 0)
                .map(|(_, ns, p, c)| match c {
                    1 => format!("{ns}/{p}-0000"),
                    _ => format!("{ns}/{p}-0000..{ns}/{p}-{:04}", c - 1),
                }),
        );
        names
    };
    let missing = |kind: &str, name: &str, known: &[String]| {
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        super::validate::unknown_name(kind, name, &known)
    };
    for (c, p) in spec.changes.iter().zip(&src.changes) {
        if let Some(s) = &c.scale {
            if !reach.has_workload(s.kind, s.namespace.as_deref(), &s.name) {
                let kind = format!("{:?}", s.kind);
                r.error(
                    &p.key("scale").key("name"),
                    missing(&kind, &s.name, &workloads(s.kind)),
                );
            }
        }
        for (k, d) in c.delete.iter().enumerate() {
            let at = p.key("delete").idx(k).key("name");
            let ns = d.namespace.as_deref();
            if let Some(kind) = d.kind.workload() {
                if !reach.has_workload(kind, ns, &d.name) {
                    r.error(
                        &at,
                        missing(&format!("{kind:?}"), &d.name, &workloads(kind)),
                    );
                }
            } else if d.kind == super::ObjectKind::Pod {
                let found = reach
                    .pod_names
                    .iter()
                    .any(|(pns, n)| *n == d.name && ns.is_none_or(|x| x == pns));
                if !found {
                    let known: Vec<String> = reach
                        .pod_names
                        .iter()
                        .map(|(a, b)| format!("{a}/{b}"))
                        .collect();
                    r.error(&at, missing("Pod", &d.name, &known));
                }
            } else if d.kind == super::ObjectKind::PriorityClass
                && !reach.priority_classes.contains(&d.name)
            {
                r.error(
                    &at,
                    missing("PriorityClass", &d.name, &reach.priority_classes),
                );
            }
        }
    }
}
