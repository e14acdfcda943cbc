//! Controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet) and PodDisruptionBudget.

use super::*;

pub fn pod_disruption_budget(
    b: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
    path: &Path,
) -> Result<PodDisruptionBudget> {
    let name = name_of(&b.metadata, path)?;
    let sp = path.key("spec");
    let spec = b.spec.as_ref();
    let selector = match spec.and_then(|s| s.selector.as_ref()) {
        Some(s) => label_selector(s, &sp.key("selector"))?,
        None => LabelSelector::default(),
    };
    let min_available = spec
        .and_then(|s| s.min_available.as_ref())
        .map(|v| int_or_percent(v, &sp.key("minAvailable")))
        .transpose()?;
    let max_unavailable = spec
        .and_then(|s| s.max_unavailable.as_ref())
        .map(|v| int_or_percent(v, &sp.key("maxUnavailable")))
        .transpose()?;
    if min_available.is_some() && max_unavailable.is_some() {
        return Err(PathError::new(
            sp,
            "expected only one of minAvailable and maxUnavailable",
        ));
    }
    Ok(PodDisruptionBudget {
        namespace: namespace_of(&b.metadata),
        name,
        selector,
        min_available,
        max_unavailable,
        status_disruptions_allowed: b.status.as_ref().map(|s| s.disruptions_allowed),
        disrupted_pods: b
            .status
            .as_ref()
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    })
}

/// The pieces every pod controller has: selector, template, replicas.
pub struct WorkloadParts<'a> {
    pub kind: WorkloadKind,
    pub meta: &'a meta::ObjectMeta,
    pub replicas: Option<i32>,
    pub selector: &'a meta::LabelSelector,
    pub template: &'a core::PodTemplateSpec,
    pub min_ready_seconds: Option<i32>,
}

pub fn workload(w: WorkloadParts<'_>, path: &Path) -> Result<Workload> {
    let name = name_of(w.meta, path)?;
    let namespace = namespace_of(w.meta);
    let sp = path.key("spec");
    let selector = label_selector(w.selector, &sp.key("selector"))?;
    let tmeta = w.template.metadata.clone().unwrap_or_default();
    let template_labels: Labels = tmeta.labels.clone().unwrap_or_default();
    if selector.is_empty() || !selector.matches(&template_labels) {
        return Err(PathError::new(
            sp.key("selector"),
            "expected a non-empty selector that matches spec.template.metadata.labels",
        ));
    }
    let replicas = w.replicas.unwrap_or(1);
    if replicas < 0 {
        return Err(PathError::new(
            sp.key("replicas"),
            "expected a non-negative replica count",
        ));
    }
    let template = pod_template(
        &tmeta,
        name.clone(),
        namespace.clone(),
        w.template.spec.as_ref(),
        None,
        &sp.key("template"),
    )?;
    Ok(Workload {
        kind: w.kind,
        namespace,
        name,
        replicas,
        selector,
        template,
        max_surge: Workload::default_rollout(w.kind).0,
        max_unavailable: Workload::default_rollout(w.kind).1,
        min_ready_seconds: w.min_ready_seconds.unwrap_or(0),
        pod_management_policy: PodManagementPolicy::OrderedReady,
        update_strategy: cascade_model::UpdateStrategy::RollingUpdate,
        partition: 0,
    })
}

/// A StatefulSet's or DaemonSet's `spec.updateStrategy.type`.
pub(super) fn rolling_or_on_delete(
    value: Option<&str>,
    path: &Path,
) -> Result<cascade_model::UpdateStrategy> {
    update_strategy(
        value,
        &[
            (
                "RollingUpdate",
                cascade_model::UpdateStrategy::RollingUpdate,
            ),
            ("OnDelete", cascade_model::UpdateStrategy::OnDelete),
        ],
        path,
    )
}

/// `spec.strategy.type` / `spec.updateStrategy.type`: one of `allowed`, or the default
/// (RollingUpdate) when absent.
pub(super) fn update_strategy(
    value: Option<&str>,
    allowed: &[(&str, cascade_model::UpdateStrategy)],
    path: &Path,
) -> Result<cascade_model::UpdateStrategy> {
    let Some(v) = value else {
        return Ok(cascade_model::UpdateStrategy::RollingUpdate);
    };
    allowed
        .iter()
        .find(|(name, _)| *name == v)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            PathError::new(
                path.clone(),
                format!(
                    "unsupported strategy type {v:?}: expected {}",
                    names.join(" or ")
                ),
            )
        })
}

pub fn deployment(d: &k8s_openapi::api::apps::v1::Deployment, path: &Path) -> Result<Workload> {
    let Some(spec) = d.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::Deployment,
            meta: &d.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    w.update_strategy = update_strategy(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        &[
            (
                "RollingUpdate",
                cascade_model::UpdateStrategy::RollingUpdate,
            ),
            ("Recreate", cascade_model::UpdateStrategy::Recreate),
        ],
        &path.key("spec").key("strategy").key("type"),
    )?;
    let rp = path.key("spec").key("strategy").key("rollingUpdate");
    if let Some(ru) = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
    {
        if let Some(v) = &ru.max_surge {
            w.max_surge = int_or_percent(v, &rp.key("maxSurge"))?;
        }
        if let Some(v) = &ru.max_unavailable {
            w.max_unavailable = int_or_percent(v, &rp.key("maxUnavailable"))?;
        }
    }
    Ok(w)
}

pub fn replica_set(r: &k8s_openapi::api::apps::v1::ReplicaSet, path: &Path) -> Result<Workload> {
    let Some(spec) = r.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let Some(template) = spec.template.as_ref() else {
        return Err(PathError::new(path.key("spec"), "expected spec.template"));
    };
    workload(
        WorkloadParts {
            kind: WorkloadKind::ReplicaSet,
            meta: &r.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )
}

pub fn stateful_set(s: &k8s_openapi::api::apps::v1::StatefulSet, path: &Path) -> Result<Workload> {
    let Some(spec) = s.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::StatefulSet,
            meta: &s.metadata,
            replicas: spec.replicas,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    w.pod_management_policy = match spec.pod_management_policy.as_deref() {
        None | Some("OrderedReady") => PodManagementPolicy::OrderedReady,
        Some("Parallel") => PodManagementPolicy::Parallel,
        Some(other) => {
            return Err(PathError::new(
                path.key("spec").key("podManagementPolicy"),
                format!(
                    "unsupported podManagementPolicy {other:?}: expected OrderedReady or Parallel"
                ),
            ))
        }
    };
    let up = path.key("spec").key("updateStrategy");
    let strategy = spec.update_strategy.as_ref();
    w.update_strategy =
        rolling_or_on_delete(strategy.and_then(|s| s.type_.as_deref()), &up.key("type"))?;
    if let Some(p) = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
    {
        if p < 0 {
            return Err(PathError::new(
                up.key("rollingUpdate").key("partition"),
                "expected a non-negative partition",
            ));
        }
        w.partition = p;
    }
    Ok(w)
}

pub fn daemon_set(d: &k8s_openapi::api::apps::v1::DaemonSet, path: &Path) -> Result<Workload> {
    let Some(spec) = d.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with selector and template",
        ));
    };
    let mut w = workload(
        WorkloadParts {
            kind: WorkloadKind::DaemonSet,
            meta: &d.metadata,
            replicas: None,
            selector: &spec.selector,
            template: &spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        },
        path,
    )?;
    let up = path.key("spec").key("updateStrategy");
    let strategy = spec.update_strategy.as_ref();
    w.update_strategy =
        rolling_or_on_delete(strategy.and_then(|s| s.type_.as_deref()), &up.key("type"))?;
    if let Some(ru) = strategy.and_then(|s| s.rolling_update.as_ref()) {
        let rp = up.key("rollingUpdate");
        if let Some(v) = &ru.max_surge {
            w.max_surge = int_or_percent(v, &rp.key("maxSurge"))?;
        }
        if let Some(v) = &ru.max_unavailable {
            w.max_unavailable = int_or_percent(v, &rp.key("maxUnavailable"))?;
        }
        // apps/v1 validation: not both zero.
        if w.max_surge.scaled(100) == 0 && w.max_unavailable.scaled(100) == 0 {
            return Err(PathError::new(
                rp,
                "expected maxSurge or maxUnavailable above zero (a rollout with neither never moves)",
            ));
        }
    }
    Ok(w)
}

/// A batch/v1 Job: its template and how many pods it starts. The API server requires the
/// template's restartPolicy to be Never or OnFailure, and completions with Indexed mode.
pub fn job(j: &k8s_openapi::api::batch::v1::Job, path: &Path) -> Result<cascade_model::Job> {
    let name = name_of(&j.metadata, path)?;
    let namespace = namespace_of(&j.metadata);
    let sp = path.key("spec");
    let Some(spec) = j.spec.as_ref() else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with a template",
        ));
    };
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if !matches!(restart, Some("Never" | "OnFailure")) {
        return Err(PathError::new(
            sp.key("template").key("spec").key("restartPolicy"),
            format!(
                "unsupported restartPolicy {:?}: expected Never or OnFailure (a Job's pods must finish)",
                restart.unwrap_or("Always")
            ),
        ));
    }
    let non_negative = |v: Option<i32>, key: &str| -> Result<Option<i32>> {
        match v {
            Some(n) if n < 0 => Err(PathError::new(
                sp.key(key),
                format!("invalid value {n}: expected a non-negative number"),
            )),
            v => Ok(v),
        }
    };
    let parallelism = non_negative(spec.parallelism, "parallelism")?.unwrap_or(1);
    let completions = non_negative(spec.completions, "completions")?;
    let indexed = match spec.completion_mode.as_deref() {
        None | Some("NonIndexed") => false,
        Some("Indexed") => true,
        Some(other) => {
            return Err(PathError::new(
                sp.key("completionMode"),
                format!("unsupported completionMode {other:?}: expected NonIndexed or Indexed"),
            ))
        }
    };
    if indexed && completions.is_none() {
        return Err(PathError::new(
            sp.key("completions"),
            "expected completions with completionMode Indexed",
        ));
    }
    let template = pod_template(
        &tmeta,
        name.clone(),
        namespace.clone(),
        spec.template.spec.as_ref(),
        None,
        &sp.key("template"),
    )?;
    Ok(cascade_model::Job {
        namespace,
        name,
        template,
        parallelism,
        completions,
        indexed,
        suspend: spec.suspend.unwrap_or(false),
    })
}
