//! Reads real Kubernetes YAML (what `kubectl get -o yaml` and `helm template` print) into
//! cascade's model: multi-document files and `kind: List`, with the ecosystem's own API types
//! (k8s-openapi, Kubernetes v1.33) and every problem reported as `file:line:column`.
//!
//! The fast path parses each file once. Positions are only looked up, by a second parse of that
//! one file, when there is something to report (see [`locate`]).

pub mod convert;
mod decode;
pub mod error;
pub mod locate;
pub mod quantity;
mod removed_api;

pub use decode::{from_value, mapping_wording};
use decode::{quantities_as_strings, strip_location};
pub use error::{Diagnostic, Errors, Path, PathError, Seg, Severity, SkippedKind, UNMODELLED_KIND};
pub use serde_yaml_ng::Value;

use cascade_model::{
    Node, Pod, PodDisruptionBudget, PodTemplate, PriorityClass, PriorityClasses, Workload,
};
use serde::Deserialize;
use std::collections::HashMap;

/// Where an object came from: a source file, the document in it, and the path of the object in
/// that document (non-empty for the items of a `kind: List`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub source: usize,
    pub doc: usize,
    pub path: Path,
}

/// An object and where it was read.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    pub object: T,
    pub origin: Origin,
}

/// Everything read from a set of files.
#[derive(Default)]
pub struct Manifests {
    /// (file name as given, text), kept to locate problems found after loading.
    sources: Vec<(String, String)>,
    pub nodes: Vec<Loaded<Node>>,
    /// Pods as written, not yet admitted (see [`Manifests::admit_pods`]).
    pub pods: Vec<Loaded<PodTemplate>>,
    pub priority_classes: Vec<Loaded<PriorityClass>>,
    pub pdbs: Vec<Loaded<PodDisruptionBudget>>,
    pub workloads: Vec<Loaded<Workload>>,
    /// batch/v1 Jobs: `cascade schedule` expands them; the simulator does not run them.
    pub jobs: Vec<Loaded<cascade_model::Job>>,
    /// Documents of kinds cascade does not model, and other things worth telling.
    pub warnings: Vec<Diagnostic>,
    /// Documents with another apiVersion group that a caller claimed (see
    /// [`Manifests::claim_group`]), as raw values, for scenario and test files.
    pub claimed: Vec<Loaded<Value>>,
    claimed_groups: Vec<String>,
    errors: Vec<Diagnostic>,
    /// Problems found while a file's text is being read, located once it has been.
    deferred: Vec<Deferred>,
    seen: HashMap<(&'static str, String), Origin>,
}

enum Deferred {
    Error(Origin, PathError),
    Warning(Origin, String),
    /// A document of a kind cascade does not model.
    Skipped(Origin, SkippedKind),
    Duplicate {
        origin: Origin,
        kind: &'static str,
        key: String,
        first: Origin,
    },
}

impl Manifests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Documents whose apiVersion is in `group` (e.g. `cascade.dev`) are kept as raw values in
    /// [`Manifests::claimed`] instead of being skipped as unknown kinds.
    pub fn claim_group(&mut self, group: &str) {
        self.claimed_groups.push(group.to_string());
    }

    /// Reads a file; problems are collected, see [`Manifests::finish`].
    pub fn load_file(&mut self, path: &std::path::Path) {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.load_str(&name, text),
            Err(e) => self.errors.push(Diagnostic {
                severity: Severity::Error,
                file: name,
                line: 0,
                column: 0,
                message: format!("cannot read file: {e}"),
                skipped_kind: None,
            }),
        }
    }

    /// Reads YAML text named `name` (the name is only used in messages).
    pub fn load_str(&mut self, name: &str, text: String) {
        let source = self.sources.len();
        self.sources.push((name.to_string(), String::new()));
        // Each document is converted as soon as it is parsed, so that a large file never holds
        // more than one document's tree; positions are resolved once the text is back in place.
        for (doc, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            match Value::deserialize(de) {
                Ok(Value::Null) => {}
                Ok(v) => self.add_object(
                    v,
                    Origin {
                        source,
                        doc,
                        path: Path::root(),
                    },
                ),
                Err(e) => {
                    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                    self.errors.push(Diagnostic {
                        severity: Severity::Error,
                        file: name.to_string(),
                        line,
                        column,
                        message: format!("invalid YAML: {}", strip_location(&e.to_string())),
                        skipped_kind: None,
                    });
                    break;
                }
            }
        }
        self.sources[source].1 = text;
        for d in std::mem::take(&mut self.deferred) {
            match d {
                Deferred::Error(origin, e) => self.error(&origin, e),
                Deferred::Warning(origin, message) => {
                    let w = self.diagnostic(Severity::Warning, &origin, &Path::root(), message);
                    self.warnings.push(w);
                }
                Deferred::Skipped(origin, kind) => {
                    let message = format!("skipping {kind}: {}", error::UNMODELLED_KIND);
                    let mut w = self.diagnostic(Severity::Warning, &origin, &Path::root(), message);
                    w.skipped_kind = Some(kind);
                    self.warnings.push(w);
                }
                Deferred::Duplicate {
                    origin,
                    kind,
                    key,
                    first,
                } => {
                    let f = self.diagnostic(Severity::Error, &first, &Path::root(), String::new());
                    self.error(
                        &origin,
                        PathError::new(
                            Path::root().key("metadata").key("name"),
                            format!(
                                "duplicate {kind} {key}: already defined at {}:{}:{}",
                                f.file, f.line, f.column
                            ),
                        ),
                    );
                }
            }
        }
    }

    /// The position of `path` inside the object at `origin`, as a diagnostic.
    pub fn diagnostic(
        &self,
        severity: Severity,
        origin: &Origin,
        path: &Path,
        message: String,
    ) -> Diagnostic {
        let (file, text) = &self.sources[origin.source];
        let mut full = origin.path.0.clone();
        full.extend(path.0.iter().cloned());
        let (line, column) = locate::locate(text, origin.doc, &full).unwrap_or((1, 1));
        Diagnostic {
            severity,
            file: file.clone(),
            line,
            column,
            message,
            skipped_kind: None,
        }
    }

    fn error(&mut self, origin: &Origin, e: PathError) {
        let d = self.diagnostic(Severity::Error, origin, &e.path, e.message);
        self.errors.push(d);
    }

    fn add_object(&mut self, mut value: Value, origin: Origin) {
        let Value::Mapping(map) = &mut value else {
            self.defer(
                &origin,
                PathError::new(
                    Path::root(),
                    "expected a Kubernetes object (a mapping with apiVersion, kind and metadata)",
                ),
            );
            return;
        };
        let field = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            let missing = if field("apiVersion").is_none() {
                "apiVersion"
            } else {
                "kind"
            };
            self.defer(
                &origin,
                PathError::new(
                    Path::root(),
                    format!("expected a Kubernetes object: {missing} is missing or not a string"),
                ),
            );
            return;
        };
        let group = api_version.split('/').next().unwrap_or("");
        if api_version.contains('/') && self.claimed_groups.iter().any(|g| g == group) {
            self.claimed.push(Loaded {
                object: value,
                origin,
            });
            return;
        }
        if kind == "List" || kind.ends_with("List") {
            let items = match map.remove("items") {
                Some(Value::Sequence(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => {
                    self.defer(
                        &origin,
                        PathError::new(Path::root().key("items"), "expected a list of objects"),
                    );
                    return;
                }
            };
            for (i, item) in items.into_iter().enumerate() {
                let mut p = origin.path.clone();
                p.0.push(Seg::Key("items".into()));
                p.0.push(Seg::Index(i));
                self.add_object(
                    item,
                    Origin {
                        source: origin.source,
                        doc: origin.doc,
                        path: p,
                    },
                );
            }
            return;
        }
        if removed_api::pdb_selects_nothing(&api_version, map) {
            self.deferred.push(Deferred::Warning(
                origin,
                format!("skipping {api_version} {kind}: under {api_version} an empty selector selects no pod (policy/v1 would read it as every pod in the namespace)"),
            ));
            return;
        }
        if let Some(up) = removed_api::upgrade(&kind, &api_version, map) {
            let defaults = if up.defaults.is_empty() {
                String::new()
            } else {
                format!(", with its defaults ({})", up.defaults.join(", "))
            };
            self.deferred.push(Deferred::Warning(
                origin.clone(),
                format!(
                    "reading {} {kind} as {}{defaults}: {} was removed in Kubernetes {}",
                    up.from, up.to, up.from, up.removed_in
                ),
            ));
        }
        quantities_as_strings(&mut value, false);
        let root = Path::root();
        use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, policy::v1 as policy};
        let result: Result<(), PathError> = (|| {
            match kind.as_str() {
                "Node" => {
                    let n: core::Node = from_value(value)?;
                    // The API server accepts a Node with no status (a node that has not
                    // reported yet); with no allocatable nothing can be placed on it.
                    let reported = n
                        .status
                        .as_ref()
                        .is_some_and(|s| s.allocatable.is_some() || s.capacity.is_some());
                    let named = n.metadata.name.as_deref().is_some_and(|s| !s.is_empty());
                    if !reported && named {
                        self.deferred.push(Deferred::Warning(
                            origin.clone(),
                            format!(
                                "skipping Node {}: it has no status.allocatable (or status.capacity), so no pod can be placed on it",
                                n.metadata.name.as_deref().unwrap_or("")
                            ),
                        ));
                        return Ok(());
                    }
                    let node = convert::node(&n, &root)?;
                    self.unique("Node", node.name.clone(), &origin)?;
                    self.nodes.push(Loaded {
                        object: node,
                        origin: origin.clone(),
                    });
                }
                "Pod" => {
                    let p: core::Pod = from_value(value)?;
                    // kube-scheduler's informer leaves out finished pods (field selector
                    // status.phase!=Succeeded,Failed): they hold no resources.
                    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                    if let Some(done @ ("Succeeded" | "Failed")) = phase {
                        self.deferred.push(Deferred::Warning(
                            origin.clone(),
                            format!(
                                "skipping Pod {}: its phase is {done}, and a finished pod holds no resources",
                                p.metadata.name.as_deref().unwrap_or("")
                            ),
                        ));
                        return Ok(());
                    }
                    let pod = convert::pod(&p, &root)?;
                    self.warn_unmodelled(&origin, "Pod", &pod.pod.key(), p.spec.as_ref());
                    self.unique("Pod", pod.pod.key(), &origin)?;
                    self.pods.push(Loaded {
                        object: pod,
                        origin: origin.clone(),
                    });
                }
                "PriorityClass" => {
                    let c: k8s_openapi::api::scheduling::v1::PriorityClass = from_value(value)?;
                    let class = convert::priority_class(&c, &root)?;
                    self.unique("PriorityClass", class.name.clone(), &origin)?;
                    if class.global_default {
                        if let Some(other) = self
                            .priority_classes
                            .iter()
                            .find(|c| c.object.global_default)
                        {
                            return Err(PathError::new(
                                root.key("globalDefault"),
                                format!(
                                    "PriorityClass {} is already marked as default; only one default can exist",
                                    other.object.name
                                ),
                            ));
                        }
                    }
                    self.priority_classes.push(Loaded {
                        object: class,
                        origin: origin.clone(),
                    });
                }
                "PodDisruptionBudget" => {
                    let b: policy::PodDisruptionBudget = from_value(value)?;
                    let pdb = convert::pod_disruption_budget(&b, &root)?;
                    self.unique("PodDisruptionBudget", pdb.key(), &origin)?;
                    self.pdbs.push(Loaded {
                        object: pdb,
                        origin: origin.clone(),
                    });
                }
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
                    let (w, spec) = match kind.as_str() {
                        "Deployment" => {
                            let d = from_value::<apps::Deployment>(value)?;
                            let spec = d.spec.as_ref().and_then(|s| s.template.spec.clone());
                            (convert::deployment(&d, &root)?, spec)
                        }
                        "ReplicaSet" => {
                            let d = from_value::<apps::ReplicaSet>(value)?;
                            let spec = d
                                .spec
                                .as_ref()
                                .and_then(|s| s.template.as_ref())
                                .and_then(|t| t.spec.clone());
                            (convert::replica_set(&d, &root)?, spec)
                        }
                        "StatefulSet" => {
                            let d = from_value::<apps::StatefulSet>(value)?;
                            let spec = d.spec.as_ref().and_then(|s| s.template.spec.clone());
                            (convert::stateful_set(&d, &root)?, spec)
                        }
                        _ => {
                            let d = from_value::<apps::DaemonSet>(value)?;
                            let spec = d.spec.as_ref().and_then(|s| s.template.spec.clone());
                            (convert::daemon_set(&d, &root)?, spec)
                        }
                    };
                    let key = format!("{}/{}", w.namespace, w.name);
                    self.warn_unmodelled(&origin, &kind, &key, spec.as_ref());
                    let kind_static = match w.kind {
                        cascade_model::WorkloadKind::Deployment => "Deployment",
                        cascade_model::WorkloadKind::ReplicaSet => "ReplicaSet",
                        cascade_model::WorkloadKind::StatefulSet => "StatefulSet",
                        cascade_model::WorkloadKind::DaemonSet => "DaemonSet",
                    };
                    self.unique(kind_static, key, &origin)?;
                    self.workloads.push(Loaded {
                        object: w,
                        origin: origin.clone(),
                    });
                }
                "Job" => {
                    let j: k8s_openapi::api::batch::v1::Job = from_value(value)?;
                    let job = convert::job(&j, &root)?;
                    let key = format!("{}/{}", job.namespace, job.name);
                    let spec = j.spec.as_ref().and_then(|s| s.template.spec.as_ref());
                    self.warn_unmodelled(&origin, "Job", &key, spec);
                    self.unique("Job", format!("{}/{}", job.namespace, job.name), &origin)?;
                    self.jobs.push(Loaded {
                        object: job,
                        origin: origin.clone(),
                    });
                }
                other => {
                    self.deferred.push(Deferred::Skipped(
                        origin.clone(),
                        SkippedKind {
                            api_version: api_version.clone(),
                            kind: other.to_string(),
                        },
                    ));
                }
            }
            Ok(())
        })();
        match result {
            // A duplicate was recorded by `unique` with its own message.
            Err(e) if e.message.is_empty() => {}
            Err(e) => self.defer(&origin, e),
            Ok(()) => {}
        }
    }

    /// A warning naming the scheduling constraints of a pod (or a controller's template) that
    /// kube-scheduler enforces and cascade ignores (docs/kubernetes.md#filters).
    fn warn_unmodelled(
        &mut self,
        origin: &Origin,
        kind: &str,
        key: &str,
        spec: Option<&k8s_openapi::api::core::v1::PodSpec>,
    ) {
        let found = spec
            .map(convert::unmodelled_constraints)
            .unwrap_or_default();
        if !found.is_empty() {
            self.deferred.push(Deferred::Warning(
                origin.clone(),
                format!(
                    "{kind} {key}: cascade does not model {}; kube-scheduler may refuse a node cascade picks",
                    found.join(", ")
                ),
            ));
        }
    }

    fn defer(&mut self, origin: &Origin, e: PathError) {
        self.deferred.push(Deferred::Error(origin.clone(), e));
    }

    /// Records an object's name; a second object of the same kind and name is an error.
    fn unique(
        &mut self,
        kind: &'static str,
        key: String,
        origin: &Origin,
    ) -> Result<(), PathError> {
        use std::collections::hash_map::Entry;
        match self.seen.entry((kind, key)) {
            Entry::Occupied(e) => {
                let first = e.get().clone();
                let key = e.key().1.clone();
                self.deferred.push(Deferred::Duplicate {
                    origin: origin.clone(),
                    kind,
                    key,
                    first,
                });
                Err(PathError::new(Path::root(), String::new()))
            }
            Entry::Vacant(e) => {
                e.insert(origin.clone());
                Ok(())
            }
        }
    }

    /// The PriorityClasses read (with the built-in system classes).
    pub fn priority_class_set(&self) -> PriorityClasses {
        let mut classes = PriorityClasses::new();
        for c in &self.priority_classes {
            classes.apply(c.object.clone());
        }
        classes
    }

    /// Runs the Priority admission plugin on every pod read, against the classes read: pods
    /// that carry spec.priority keep it; others get their class's value or the globalDefault.
    pub fn admit_pods(&mut self) -> Vec<Pod> {
        let classes = self.priority_class_set();
        let mut out = Vec::with_capacity(self.pods.len());
        let mut errors = Vec::new();
        for p in &self.pods {
            match p.object.admit(&classes) {
                Ok(pod) => out.push(pod),
                Err(e) => errors.push(self.diagnostic(
                    Severity::Error,
                    &p.origin,
                    &Path::root().key("spec").key("priorityClassName"),
                    format!("pod {}: {e}", p.object.pod.key()),
                )),
            }
        }
        self.errors.extend(errors);
        out
    }

    /// Adds an error found by a caller at `path` inside the object at `origin`.
    pub fn report(&mut self, origin: &Origin, path: Path, message: String) {
        self.error(origin, PathError::new(path, message));
    }

    /// The errors found so far, if any; warnings stay in [`Manifests::warnings`].
    pub fn finish(&mut self) -> Result<(), Errors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Errors(std::mem::take(&mut self.errors)))
        }
    }

    pub fn source_name(&self, origin: &Origin) -> &str {
        &self.sources[origin.source].0
    }
}

#[cfg(test)]
mod tests;
