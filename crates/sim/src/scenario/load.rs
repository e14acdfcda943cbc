//! Reading a scenario: the document, the variant, the `--set`s, the manifests it names, and
//! every check that needs all of them, each problem reported at its position.

use super::validate::{self, declared, set_diagnostic, ParamSources, Report, Site, Sources};
use super::{Change, FaultRef, ManifestFile, Scenario, ScenarioDoc, API_GROUP};
use crate::params::{merge, Params};
use cascade_manifest::{
    from_value, Diagnostic, Errors, Manifests, Path, PathError, Seg, Severity, Value,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

/// The services part of a scenario document, typed, for located errors.
#[derive(Deserialize)]
#[allow(dead_code)] // only deserialised, for the errors
struct ServicesDoc {
    spec: ServicesSpecDoc,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // only deserialised, for the errors
struct ServicesSpecDoc {
    #[serde(default)]
    services: BTreeMap<String, cascade_services::ServiceSpec>,
    #[serde(default)]
    rings: BTreeMap<String, cascade_services::RingSpec>,
    #[serde(default)]
    remote_write: BTreeMap<String, cascade_services::RemoteWriteSpec>,
    #[serde(default)]
    clients: BTreeMap<String, cascade_services::ClientSpec>,
}

fn located(m: &Manifests, origin: &cascade_manifest::Origin, e: PathError) -> Errors {
    Errors(vec![m.diagnostic(
        Severity::Error,
        origin,
        &e.path,
        e.message,
    )])
}

/// Reads a scenario file, applies `variant` and `--set` overrides, and loads every manifest it
/// names. All problems are reported together with their positions; a scenario that loads
/// refers only to things that exist.
pub fn load(
    path: &FsPath,
    variant: Option<&str>,
    sets: &[(String, String)],
    seed: Option<u64>,
) -> Result<Scenario, Errors> {
    let mut m = Manifests::new();
    m.claim_group(API_GROUP);
    m.load_file(path);
    load_read(m, path, variant, sets, seed)
}

/// [`load`] on a scenario's text already in memory, as though it were the file at `path`:
/// positions name `path`, and the manifests the scenario names are read beside it. For tests
/// and the fuzzers (fuzz/), which hand the reader text that is on no disk.
pub fn load_str(
    path: &FsPath,
    text: String,
    variant: Option<&str>,
    sets: &[(String, String)],
    seed: Option<u64>,
) -> Result<Scenario, Errors> {
    let mut m = Manifests::new();
    m.claim_group(API_GROUP);
    m.load_str(&path.display().to_string(), text);
    load_read(m, path, variant, sets, seed)
}

/// The rest of [`load`], once the scenario file is read into `m`.
fn load_read(
    mut m: Manifests,
    path: &FsPath,
    variant: Option<&str>,
    sets: &[(String, String)],
    seed: Option<u64>,
) -> Result<Scenario, Errors> {
    let file = path.display().to_string();
    m.finish()?;
    let docs: Vec<_> = m
        .claimed
        .iter()
        .filter(|d| d.object.get("kind").and_then(Value::as_str) == Some("Scenario"))
        .collect();
    let [doc] = docs.as_slice() else {
        let message = format!("expected exactly one document of apiVersion {API_GROUP}/v1alpha1, kind Scenario; found {}", docs.len());
        return Err(Errors(vec![match docs.get(1) {
            Some(second) => m.diagnostic(Severity::Error, &second.origin, &Path::root(), message),
            None => Diagnostic {
                severity: Severity::Error,
                file,
                line: 1,
                column: 1,
                message,
                skipped_kind: None,
            },
        }]));
    };
    let origin = doc.origin.clone();
    let parsed: ScenarioDoc =
        from_value(doc.object.clone()).map_err(|e| located(&m, &origin, e))?;
    if parsed.api_version != format!("{API_GROUP}/v1alpha1") {
        let message = format!(
            "unsupported apiVersion {:?}: expected {API_GROUP}/v1alpha1",
            parsed.api_version
        );
        let e = PathError::new(Path::root().key("apiVersion"), message);
        return Err(located(&m, &origin, e));
    }
    // The services' declarations, checked here so that an error carries its line.
    from_value::<ServicesDoc>(doc.object.clone()).map_err(|e| located(&m, &origin, e))?;
    let mut r = Report {
        m: &m,
        origin: &origin,
        sets,
        errors: Vec::new(),
    };
    let mut spec = parsed.spec;
    let mut param_tree = serde_json::to_value(Params::default()).expect("params serialize");
    for (key, _, value) in declared(&spec) {
        merge(&mut param_tree[key], value);
    }
    undeclared_names(
        &mut r,
        &spec,
        &spec.parameters,
        &Path::root().key("spec").key("parameters"),
    );
    merge(&mut param_tree, &spec.parameters);
    let spec_path = Path::root().key("spec");
    let base = spec.clone();
    let mut sources = Sources {
        faults: (0..spec.faults.len())
            .map(|i| spec_path.key("faults").idx(i))
            .collect(),
        changes: (0..spec.changes.len())
            .map(|i| spec_path.key("changes").idx(i))
            .collect(),
        behaviours: (0..spec.behaviours.len())
            .map(|i| spec_path.key("behaviours").idx(i))
            .collect(),
        node_groups: (0..spec.cluster.node_groups.len())
            .map(|i| spec_path.key("cluster").key("nodeGroups").idx(i))
            .collect(),
    };
    if let Some(v) = variant {
        let Some(var) = base.variants.get(v) else {
            let known: Vec<&str> = base.variants.keys().map(String::as_str).collect();
            let at = if known.is_empty() {
                spec_path.clone()
            } else {
                spec_path.key("variants")
            };
            r.error(
                &at,
                // Worded "unknown variant" as before, with the suggestion and the list.
                format!(
                    "--variant {v}: {}",
                    super::unknown_name("variant", v, &known).replacen(
                        &format!("no variant named {v:?}"),
                        &format!("unknown variant {v:?}"),
                        1
                    )
                ),
            );
            return Err(Errors(r.errors));
        };
        let vpath = spec_path.key("variants").key(v);
        undeclared_names(&mut r, &base, &var.parameters, &vpath.key("parameters"));
        merge(&mut param_tree, &var.parameters);
        if let Some(d) = var.duration {
            spec.duration = d;
        }
        let mut kept: Vec<Change> = Vec::new();
        let mut kept_paths = Vec::new();
        for (i, c) in spec.changes.iter().enumerate() {
            if !var.skip_changes.contains(&i) {
                kept.push(c.clone());
                kept_paths.push(sources.changes[i].clone());
            }
        }
        kept.extend(var.changes.iter().cloned());
        kept_paths.extend((0..var.changes.len()).map(|i| vpath.key("changes").idx(i)));
        spec.changes = kept;
        sources.changes = kept_paths;
        for (k, &i) in var.skip_changes.iter().enumerate() {
            if i >= base.changes.len() {
                r.error(
                    &vpath.key("skipChanges").idx(k),
                    match base.changes.len() {
                        0 => format!("skipChanges: no change {i}: the scenario has no changes"),
                        n => format!(
                            "skipChanges: no change {i}: the scenario has {n} change(s), expected an index below {n}"
                        ),
                    },
                );
            }
        }
        let mut skipped = std::collections::BTreeSet::new();
        for (k, f) in var.skip_faults.iter().enumerate() {
            let at = vpath.key("skipFaults").idx(k);
            match f {
                FaultRef::Index(i) if *i < base.faults.len() => {
                    skipped.insert(*i);
                }
                FaultRef::Index(i) => r.error(
                    &at,
                    match base.faults.len() {
                        0 => format!("skipFaults: no fault {i}: the scenario has no faults"),
                        n => format!(
                            "skipFaults: no fault {i}: the scenario has {n} fault(s), expected an index below {n} or a fault's name"
                        ),
                    },
                ),
                FaultRef::Name(n) => {
                    match base.faults.iter().position(|f| f.name.as_deref() == Some(n)) {
                        Some(i) => {
                            skipped.insert(i);
                        }
                        None => {
                            let names: std::collections::BTreeSet<&str> =
                                base.faults.iter().filter_map(|f| f.name.as_deref()).collect();
                            let names: Vec<&str> = names.into_iter().collect();
                            r.error(
                                &at,
                                format!(
                                    "skipFaults: {}",
                                    super::unknown_name("fault", n, &names)
                                ),
                            );
                        }
                    }
                }
            }
        }
        if !skipped.is_empty() {
            let (faults, paths): (Vec<_>, Vec<_>) = spec
                .faults
                .iter()
                .cloned()
                .zip(sources.faults.iter().cloned())
                .enumerate()
                .filter(|(i, _)| !skipped.contains(i))
                .map(|(_, x)| x)
                .unzip();
            spec.faults = faults;
            sources.faults = paths;
        }
        spec.faults.extend(var.faults.iter().cloned());
        sources
            .faults
            .extend((0..var.faults.len()).map(|i| vpath.key("faults").idx(i)));
        if let Some(b) = &var.behaviours {
            spec.behaviours = b.clone();
            sources.behaviours = (0..b.len())
                .map(|i| vpath.key("behaviours").idx(i))
                .collect();
        }
        if let Some(g) = &var.node_groups {
            spec.cluster.node_groups = g.clone();
            sources.node_groups = (0..g.len())
                .map(|i| vpath.key("nodeGroups").idx(i))
                .collect();
        }
        if let Some(m) = &var.manifests {
            spec.cluster.manifests = m.clone();
        }
    }
    for (i, (k, v)) in sets.iter().enumerate() {
        if let Some(d) = undeclared_set(i, k, &param_tree, &base) {
            r.errors.push(d);
        } else if let Err((column, e)) = super::set_index::set_in_tree(&mut param_tree, k, v) {
            r.errors.push(set_diagnostic(i, column, e));
        }
    }
    // The scale model, on the effective values (after the variant and the --sets). Its laws
    // must name numeric parameters whether or not this run scales: a typo is an error now,
    // not when someone first runs the scenario smaller.
    let similarity_scale = param_tree
        .get("similarityScale")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(1.0);
    let laws: Vec<(&str, f64)> = base
        .similarity
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let scaling = similarity_scale != 1.0 && similarity_scale.is_finite() && similarity_scale > 0.0;
    let mut scratch = param_tree.clone();
    let target = if scaling {
        &mut param_tree
    } else {
        &mut scratch
    };
    for (i, why) in
        crate::params::apply_similarity(target, if scaling { similarity_scale } else { 0.5 }, &laws)
    {
        r.error(&spec_path.key("similarity").key(laws[i].0), why);
    }
    for (k, e) in &base.similarity {
        if !e.is_finite() {
            r.error(
                &spec_path.key("similarity").key(k),
                format!("similarity {k}: {e} is not an exponent: expected a finite number (1 for sizes, -1 for per-event times)"),
            );
        }
    }
    validate::values(&mut r, &doc.object);
    validate::labels(&mut r, &base);
    let sites = ParamSources {
        spec: &base,
        variant: variant.and_then(|v| base.variants.get(v).map(|x| (v, &x.parameters))),
        sets,
    };
    // Read through a YAML tree, as the rest of the scenario is: serde_json's reader takes a
    // sequence for a struct (its fields in order: `kubelet: [1, 2]` would set the kubelet's
    // first two parameters), serde_yaml_ng's refuses it, so the mistake is an error here.
    let tree = serde_yaml_ng::to_value(&param_tree).expect("a JSON tree is a YAML tree");
    let params: Params = match serde_path_to_error::deserialize(tree) {
        Ok(p) => p,
        Err(e) => {
            let path = json_path(e.path());
            let what = cascade_manifest::mapping_wording(&e.inner().to_string());
            let said = r.errors.len();
            r.at(
                sites.site(&path),
                format!("invalid parameter {}: {what}", e.path()),
            );
            // The value checks above may have said what is wrong there already, in the
            // scenario's words (`workersPerReplica = -1: expected at least 1`): one mistake,
            // one error, not the type's wording of it too.
            let new = &r.errors[said];
            if r.errors[..said]
                .iter()
                .any(|d| (&d.file, d.line, d.column) == (&new.file, new.line, new.column))
            {
                r.errors.truncate(said);
            }
            return Err(Errors(r.errors));
        }
    };
    let start_ms = match start_ms(&params.start_time) {
        Ok(ms) => ms,
        Err(e) => {
            r.at(sites.site(&[Seg::Key("startTime".into())]), e);
            0
        }
    };
    if !r.errors.is_empty() {
        return Err(Errors(r.errors));
    }
    // Stable order of changes by time; equal times keep file order.
    let mut order: Vec<usize> = (0..spec.changes.len()).collect();
    order.sort_by(|a, b| spec.changes[*a].at.0.total_cmp(&spec.changes[*b].at.0));
    spec.changes = order.iter().map(|i| spec.changes[*i].clone()).collect();
    sources.changes = order.iter().map(|i| sources.changes[*i].clone()).collect();

    let dir = path
        .parent()
        .map(FsPath::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut files = BTreeMap::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let names = spec
        .cluster
        .manifests
        .iter()
        .chain(spec.changes.iter().flat_map(|c| c.apply.iter()));
    for name in names {
        if files.contains_key(name) {
            continue;
        }
        let mut fm = Manifests::new();
        fm.load_file(&dir.join(name));
        warnings.extend(fm.warnings.iter().cloned());
        for j in &fm.jobs {
            warnings.push(fm.diagnostic(
                cascade_manifest::Severity::Warning,
                &j.origin,
                &cascade_manifest::Path::root(),
                format!(
                    "skipping Job {}/{}: the simulator does not run Jobs (`cascade schedule` places their pods)",
                    j.object.namespace, j.object.name
                ),
            ));
        }
        if let Err(e) = fm.finish() {
            errors.extend(e.0);
        }
        files.insert(
            name.clone(),
            ManifestFile {
                path: name.clone(),
                manifests: fm,
            },
        );
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    // A fault's name is how a variant leaves it out: two faults of one name are ambiguous.
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in spec.faults.iter().enumerate() {
        if let Some(n) = f.name.as_deref() {
            if let Some(first) = named.insert(n, i) {
                r.error(
                    &sources.faults[i].key("name"),
                    format!(
                        "fault name {n:?} is taken (by the fault at {}): expected a name unique in the scenario",
                        sources.faults[first]
                    ),
                );
            }
        }
    }
    // A scenario with a scale model resized by its counts alone, from the command line: a
    // smaller cluster with the larger one's timings, whose verdict can flip
    // (docs/kubernetes.md#similarity-scaling). In the file (a variant's `generatorScale`) it is
    // the author's own smaller cluster, as target-2019's `smaller-clusters`, and is not warned of.
    if !scaling && !base.similarity.is_empty() && params.generator_scale != 1.0 {
        if let Site::Set(i, column) = sites.site(&[Seg::Key("generatorScale".into())]) {
            let g = params.generator_scale;
            let (k, v) = &sets[i];
            let mut d = set_diagnostic(
                i,
                column,
                format!(
                    "--set {k}={v}: generatorScale = {g} resizes only the generated groups' counts, and this scenario declares a scale model (spec.similarity) that keeps its dynamics at another size: expected similarityScale = {g} instead"
                ),
            );
            d.severity = Severity::Warning;
            warnings.push(d);
        }
    }
    // A peak is named by its metrics.csv column; the names the simulation's peaks had before
    // (`peaks.max_pending_pods`) still read, with a warning naming the new one.
    for (i, e) in spec.expectations.iter_mut().enumerate() {
        let Some(new) = e
            .metric
            .strip_prefix("peaks.")
            .and_then(crate::output::names::legacy_peak)
        else {
            continue;
        };
        let at = spec_path.key("expectations").idx(i).key("metric");
        warnings.push(m.diagnostic(
            Severity::Warning,
            &origin,
            &at,
            format!(
                "expectation {:?}: {} is the old name of peaks.{new} (a peak is named by its metrics.csv column, with or without a window): read as peaks.{new}",
                e.name, e.metric
            ),
        ));
        e.metric = format!("peaks.{new}");
    }
    validate::references(&mut r, &spec, &params, &files, &sources, &sites);
    warnings.extend(super::selectors::check(
        &mut r, &spec, &params, &files, &sources, &sites,
    ));
    validate::generated(&mut r, &spec, &sources);
    if !r.errors.is_empty() {
        return Err(Errors(r.errors));
    }
    let expectation_positions = (0..spec.expectations.len())
        .map(|i| {
            let at = spec_path.key("expectations").idx(i);
            let d = m.diagnostic(Severity::Error, &origin, &at, String::new());
            (d.line, d.column)
        })
        .collect();
    Ok(Scenario {
        name: parsed.metadata.name,
        variant: variant.map(str::to_string),
        seed: seed.unwrap_or(spec.seed),
        spec,
        params,
        files,
        start_ms,
        warnings,
        expectation_positions,
    })
}

/// `parameters.startTime` (RFC 3339) as Unix milliseconds.
pub fn start_ms(t: &str) -> Result<i64, String> {
    jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%:z", t.replace('Z', "+00:00"))
        .or_else(|_| t.parse::<jiff::Timestamp>())
        .map(|ts| ts.as_millisecond())
        .map_err(|e| {
            format!("startTime {t:?}: expected an RFC 3339 time such as 2024-01-01T00:00:00Z ({e})")
        })
}

/// The path of a parameter as serde_path_to_error reports it.
fn json_path(p: &serde_path_to_error::Path) -> Vec<Seg> {
    p.iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
}

/// `parameters.services.NAME` (and rings, remoteWrite, clients) may only override what
/// `spec.services` declares: an undeclared name is a typo, and would otherwise become a
/// service with an empty selector, which selects every pod.
fn undeclared_names(r: &mut Report<'_>, spec: &super::Spec, over: &serde_json::Value, at: &Path) {
    for (key, what, declared) in declared(spec) {
        let Some(names) = over.get(key).and_then(serde_json::Value::as_object) else {
            continue;
        };
        for name in names.keys() {
            if declared.get(name).is_none() {
                let known: Vec<&str> = declared
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                r.error(
                    &at.key(key).key(name),
                    super::unknown_name(what, name, &known),
                );
            }
        }
    }
}

/// The same for `--set services.NAME.FIELD=V`: the error, at the name's column.
fn undeclared_set(
    i: usize,
    key: &str,
    tree: &serde_json::Value,
    spec: &super::Spec,
) -> Option<Diagnostic> {
    let mut parts = key.split('.');
    let first = parts.next()?;
    let name = parts.next()?;
    let (_, what, _) = declared(spec).into_iter().find(|(k, _, _)| *k == first)?;
    let names = tree.get(first)?.as_object()?;
    if names.contains_key(name) {
        return None;
    }
    let known: Vec<&str> = names.keys().map(String::as_str).collect();
    Some(set_diagnostic(
        i,
        first.len() + 2,
        format!("--set {key}: {}", super::unknown_name(what, name, &known)),
    ))
}
