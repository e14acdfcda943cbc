//! Removed beta API versions whose schema maps onto today's: real dumps and old charts still
//! carry them. Each is read as the GA version with the defaults its own version applied
//! (the API server defaulted a field at admission, so an object written for the old version
//! means what those defaults said), and with a warning. docs/kubernetes.md#reading-manifests
//! lists the versions and their defaults.

use serde_yaml_ng::{Mapping, Value};

/// What reading an old version did, for the warning.
pub struct Upgraded {
    pub from: String,
    pub to: &'static str,
    pub removed_in: &'static str,
    /// The old version's defaults that were written into the object.
    pub defaults: Vec<&'static str>,
}

/// The GA version `kind` at `api_version` maps onto, and the release that removed the old one.
fn target(kind: &str, api_version: &str) -> Option<(&'static str, &'static str)> {
    match (kind, api_version) {
        ("PriorityClass", "scheduling.k8s.io/v1beta1" | "scheduling.k8s.io/v1alpha1") => {
            Some(("scheduling.k8s.io/v1", "1.22"))
        }
        ("Deployment" | "StatefulSet", "apps/v1beta1")
        | ("Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet", "apps/v1beta2")
        | ("Deployment" | "DaemonSet" | "ReplicaSet", "extensions/v1beta1") => {
            Some(("apps/v1", "1.16"))
        }
        ("PodDisruptionBudget", "policy/v1beta1") => Some(("policy/v1", "1.25")),
        _ => None,
    }
}

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

/// `map[k]` as a mapping, created when absent or null.
fn child<'a>(map: &'a mut Mapping, k: &str) -> Option<&'a mut Mapping> {
    let slot = map
        .entry(key(k))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if slot.is_null() {
        *slot = Value::Mapping(Mapping::new());
    }
    slot.as_mapping_mut()
}

fn set_if_absent(map: &mut Mapping, k: &str, v: Value) -> bool {
    match map.get(k) {
        Some(existing) if !existing.is_null() => false,
        _ => {
            map.insert(key(k), v);
            true
        }
    }
}

/// Rewrites `object` (kind `kind`, version `api_version`) to its GA version with the old
/// version's defaults; `None` when the version is not a removed one that maps.
pub fn upgrade(kind: &str, api_version: &str, object: &mut Mapping) -> Option<Upgraded> {
    let (to, removed_in) = target(kind, api_version)?;
    let mut defaults = Vec::new();
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_mapping_mut) {
        let workload = matches!(
            kind,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        );
        // extensions/v1beta1 and apps/v1beta1 defaulted a missing selector to the template's
        // labels (SetDefaults_Deployment and friends); apps/v1beta2 required it, as v1 does.
        if workload && matches!(api_version, "extensions/v1beta1" | "apps/v1beta1") {
            let labels = spec
                .get("template")
                .and_then(|t| t.get("metadata"))
                .and_then(|m| m.get("labels"))
                .filter(|l| l.as_mapping().is_some_and(|m| !m.is_empty()))
                .cloned();
            if let Some(labels) = labels {
                let mut selector = Mapping::new();
                selector.insert(key("matchLabels"), labels);
                if set_if_absent(spec, "selector", Value::Mapping(selector)) {
                    defaults.push("selector: the template's labels");
                }
            }
        }
        match (kind, api_version) {
            // extensions/v1beta1 SetDefaults_Deployment: RollingUpdate with maxUnavailable 1
            // and maxSurge 1 (apps/v1 says 25% and 25%).
            ("Deployment", "extensions/v1beta1") => {
                if let Some(strategy) = child(spec, "strategy") {
                    set_if_absent(strategy, "type", key("RollingUpdate"));
                    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                        if let Some(ru) = child(strategy, "rollingUpdate") {
                            if set_if_absent(ru, "maxUnavailable", Value::from(1)) {
                                defaults.push("maxUnavailable: 1");
                            }
                            if set_if_absent(ru, "maxSurge", Value::from(1)) {
                                defaults.push("maxSurge: 1");
                            }
                        }
                    }
                }
            }
            // extensions/v1beta1 DaemonSets and apps/v1beta1 StatefulSets were updated only
            // when their pods were deleted (updateStrategy OnDelete).
            ("DaemonSet", "extensions/v1beta1") | ("StatefulSet", "apps/v1beta1") => {
                if let Some(strategy) = child(spec, "updateStrategy") {
                    if set_if_absent(strategy, "type", key("OnDelete")) {
                        defaults.push("updateStrategy: OnDelete");
                    }
                }
            }
            _ => {}
        }
    }
    object.insert(key("apiVersion"), key(to));
    Some(Upgraded {
        from: api_version.to_string(),
        to,
        removed_in,
        defaults,
    })
}

/// Under policy/v1beta1 an empty (or absent) selector selected no pod; under policy/v1 it
/// selects every pod in the namespace. A v1beta1 budget with an empty selector protects
/// nothing, so it is skipped rather than read as protecting everything.
pub fn pdb_selects_nothing(api_version: &str, object: &Mapping) -> bool {
    api_version == "policy/v1beta1"
        && object
            .get("spec")
            .and_then(|s| s.get("selector"))
            .is_none_or(|sel| {
                sel.is_null()
                    || sel.as_mapping().is_some_and(|m| {
                        m.iter().all(|(_, v)| {
                            v.is_null()
                                || v.as_mapping().is_some_and(Mapping::is_empty)
                                || v.as_sequence().is_some_and(Vec::is_empty)
                        })
                    })
            })
}
