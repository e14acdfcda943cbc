//! Pods and pod templates: requests as kube-scheduler sums them, priority, tolerations,
//! affinity; PriorityClass.

use super::*;

/// What [`pod_requests`] computes.
pub(super) struct PodRequests {
    pub requests: Resources,
    /// The same with the non-zero defaults, for scoring.
    pub nonzero: Resources,
    pub scalar: ScalarResources,
    /// The sum of the containers' memory limits; 0 when any container has none.
    pub memory_limit: i64,
    /// The sum of the containers' CPU limits in millicores; 0 when any container has none.
    pub cpu_limit: i64,
    /// status.qosClass (`GetPodQOS` over app and init containers).
    pub qos_class: QosClass,
}

/// A container's scalar requests after API defaulting and validation: a limit without a
/// request is the request; extended resources and hugepages cannot be overcommitted, so a
/// request needs an equal limit ("must be equal to ... limit", "Limit must be set for non
/// overcommitable resources").
fn container_scalars(
    req: ScalarResources,
    lim: &ScalarResources,
    path: &Path,
) -> Result<ScalarResources> {
    let mut out = req;
    for (n, v) in lim.iter() {
        if out.get(n) == 0 {
            out.set(n, v);
        }
    }
    for (n, v) in out.iter() {
        if lim.get(n) != v {
            let what = if lim.get(n) == 0 {
                "a limit equal to the request (extended resources and hugepages cannot be overcommitted)"
            } else {
                "the request to equal the limit (extended resources and hugepages cannot be overcommitted)"
            };
            return Err(PathError::new(
                path.key("requests").key(n),
                format!("{n}: expected {what}"),
            ));
        }
    }
    Ok(out)
}

/// Requests of a pod as kube-scheduler computes them (component-helpers resource.PodRequests,
/// v1.33): app containers and restartable ("sidecar") init containers run together and are
/// summed; each ordinary init container runs alone after the sidecars started before it, and
/// the pod needs the larger of the two phases; the RuntimeClass overhead is added. Scalar
/// resources (extended resources, hugepages) are summed the same way.
pub(super) fn pod_requests(spec: &core::PodSpec, path: &Path) -> Result<PodRequests> {
    let mut sum = Resources::ZERO;
    let mut nz_sum = Resources::ZERO;
    let mut sc_sum = ScalarResources::new();
    let mut limit_sum: i64 = 0;
    let mut unlimited = false;
    let mut cpu_limit_sum: i64 = 0;
    let mut cpu_unlimited = false;
    let mut qos = QosTally::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let p = path.key("containers").idx(i).key("resources");
        let res = c.resources.as_ref();
        let (r, rs) = resource_list(
            res.and_then(|r| r.requests.as_ref()),
            &p.key("requests"),
            ListOf::Container,
        )?;
        let (l, ls) = resource_list(
            res.and_then(|r| r.limits.as_ref()),
            &p.key("limits"),
            ListOf::Container,
        )?;
        sc_sum.add_all(&container_scalars(rs, &ls, &p)?);
        qos.add(r, l);
        // A container with a limit but no request gets the limit as its request (API defaulting).
        let r = Resources {
            milli_cpu: if r.milli_cpu == 0 {
                l.milli_cpu
            } else {
                r.milli_cpu
            },
            memory: if r.memory == 0 { l.memory } else { r.memory },
            ephemeral_storage: if r.ephemeral_storage == 0 {
                l.ephemeral_storage
            } else {
                r.ephemeral_storage
            },
            pods: 0,
        };
        if l.memory == 0 {
            unlimited = true;
        }
        if l.milli_cpu == 0 {
            cpu_unlimited = true;
        }
        limit_sum = limit_sum.saturating_add(l.memory);
        cpu_limit_sum = cpu_limit_sum.saturating_add(l.milli_cpu);
        sum += r;
        nz_sum += nonzero_container(r);
    }
    let mut init_max = Resources::ZERO;
    let mut nz_init_max = Resources::ZERO;
    let mut sidecars = Resources::ZERO;
    let mut nz_sidecars = Resources::ZERO;
    let mut sc_init_max = ScalarResources::new();
    let mut sc_sidecars = ScalarResources::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = path.key("initContainers").idx(i).key("resources");
        let res = c.resources.as_ref();
        let (r, rs) = resource_list(
            res.and_then(|r| r.requests.as_ref()),
            &p.key("requests"),
            ListOf::Container,
        )?;
        let (l, ls) = resource_list(
            res.and_then(|r| r.limits.as_ref()),
            &p.key("limits"),
            ListOf::Container,
        )?;
        qos.add(r, l);
        let rs = container_scalars(rs, &ls, &p)?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars += r;
            nz_sidecars += nonzero_container(r);
            sc_sidecars.add_all(&rs);
            init_max = init_max.max(sidecars);
            nz_init_max = nz_init_max.max(nz_sidecars);
            sc_init_max.max_with(&sc_sidecars);
        } else {
            init_max = init_max.max(sidecars + r);
            nz_init_max = nz_init_max.max(nz_sidecars + nonzero_container(r));
            let mut phase = sc_sidecars.clone();
            phase.add_all(&rs);
            sc_init_max.max_with(&phase);
        }
    }
    let (overhead, sc_overhead) =
        resource_list(spec.overhead.as_ref(), &path.key("overhead"), ListOf::Other)?;
    let mut req = (sum + sidecars).max(init_max) + overhead;
    let mut nz = (nz_sum + nz_sidecars).max(nz_init_max) + overhead;
    req.pods = 1;
    nz.pods = 1;
    sc_sum.add_all(&sc_sidecars);
    sc_sum.max_with(&sc_init_max);
    sc_sum.add_all(&sc_overhead);
    Ok(PodRequests {
        requests: req,
        nonzero: nz,
        scalar: sc_sum,
        memory_limit: if unlimited { 0 } else { limit_sum },
        cpu_limit: if cpu_unlimited { 0 } else { cpu_limit_sum },
        qos_class: qos.class(),
    })
}

pub(super) fn preemption_policy(s: Option<&str>, path: &Path) -> Result<Option<PreemptionPolicy>> {
    match s {
        None => Ok(None),
        Some("PreemptLowerPriority") => Ok(Some(PreemptionPolicy::PreemptLowerPriority)),
        Some("Never") => Ok(Some(PreemptionPolicy::Never)),
        Some(other) => Err(PathError::new(
            path.clone(),
            format!(
                "unsupported preemptionPolicy {other:?}: expected PreemptLowerPriority or Never"
            ),
        )),
    }
}

/// spec.dnsPolicy and spec.dnsConfig as the API server accepts them and kubelet reads them
/// (docs/dns.md#a-pods-dnsconfig): None when neither is set. An `ndots` option must be a
/// number of dots within the resolvers' cap (glibc reads anything else as 0 and musl ignores
/// it; cascade refuses it rather than guess which), and `dnsPolicy: None` needs a nameserver
/// (the API server's validation).
fn pod_dns(spec: &core::PodSpec, sp: &Path) -> Result<Option<Box<PodDns>>> {
    let policy = match spec.dns_policy.as_deref() {
        None | Some("ClusterFirst") => DnsPolicy::ClusterFirst,
        Some("ClusterFirstWithHostNet") => DnsPolicy::ClusterFirstWithHostNet,
        Some("Default") => DnsPolicy::Default,
        Some("None") => DnsPolicy::None,
        Some(other) => {
            return Err(PathError::new(
                sp.key("dnsPolicy"),
                format!(
                    "unsupported dnsPolicy {other:?}: expected ClusterFirst, ClusterFirstWithHostNet, Default or None"
                ),
            ))
        }
    };
    let Some(cfg) = &spec.dns_config else {
        if policy == DnsPolicy::None {
            return Err(PathError::new(
                sp.key("dnsConfig"),
                "dnsPolicy None without dnsConfig: expected dnsConfig with at least one nameserver",
            ));
        }
        return Ok((policy != DnsPolicy::ClusterFirst).then(|| {
            Box::new(PodDns {
                policy,
                ..PodDns::default()
            })
        }));
    };
    let cp = sp.key("dnsConfig");
    let nameservers = cfg.nameservers.clone().unwrap_or_default();
    if policy == DnsPolicy::None && nameservers.is_empty() {
        return Err(PathError::new(
            cp.key("nameservers"),
            "dnsPolicy None without a nameserver: expected at least one",
        ));
    }
    let mut options = Vec::new();
    let mut ndots = None;
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        let op = cp.key("options").idx(i);
        let name = o.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(PathError::new(op.key("name"), "expected an option name"));
        }
        if name == "ndots" {
            let v = o.value.as_deref().unwrap_or_default();
            match v.trim().parse::<u32>() {
                Ok(n) if n <= MAX_NDOTS => ndots = Some(n),
                _ => {
                    return Err(PathError::new(
                        op.key("value"),
                        format!(
                            "ndots value {v:?}: expected a number of dots from 0 to {MAX_NDOTS} (the resolv.conf cap of glibc and musl)"
                        ),
                    ))
                }
            }
        }
        options.push((name, o.value.clone()));
    }
    Ok(Some(Box::new(PodDns {
        policy,
        nameservers,
        searches: cfg.searches.clone().unwrap_or_default(),
        options,
        ndots,
    })))
}

/// A pod (or a controller's pod template) before admission. `meta` is the pod's (or the
/// template's) metadata; `path` points at the object holding `metadata` and `spec`.
pub fn pod_template(
    meta: &meta::ObjectMeta,
    name: String,
    namespace: String,
    spec: Option<&core::PodSpec>,
    status: Option<&core::PodStatus>,
    path: &Path,
) -> Result<PodTemplate> {
    let sp = path.key("spec");
    let Some(spec) = spec else {
        return Err(PathError::new(
            path.clone(),
            "expected spec with at least one container",
        ));
    };
    if spec.containers.is_empty() {
        return Err(PathError::new(
            sp.clone(),
            "expected spec.containers with at least one container",
        ));
    }
    for (i, c) in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .enumerate()
    {
        if c.name.is_empty() {
            let p = if i < spec.containers.len() {
                sp.key("containers").idx(i)
            } else {
                sp.key("initContainers").idx(i - spec.containers.len())
            };
            return Err(PathError::new(p, "expected a container name"));
        }
    }
    let PodRequests {
        requests,
        nonzero: nonzero_requests,
        scalar: scalar_requests,
        memory_limit,
        cpu_limit,
        qos_class,
    } = pod_requests(spec, &sp)?;
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref());
    let ap = sp.key("affinity").key("nodeAffinity");
    let required_node_affinity = match affinity.and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) {
        Some(sel) => {
            let rp = ap
                .key("requiredDuringSchedulingIgnoredDuringExecution")
                .key("nodeSelectorTerms");
            let mut terms = Vec::new();
            for (i, t) in sel.node_selector_terms.iter().enumerate() {
                terms.push(node_selector_term(t, &rp.idx(i))?);
            }
            Some(NodeSelector { terms })
        }
        None => None,
    };
    let mut preferred_node_affinity = Vec::new();
    for (i, t) in affinity
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = ap
            .key("preferredDuringSchedulingIgnoredDuringExecution")
            .idx(i);
        if !(1..=100).contains(&t.weight) {
            return Err(PathError::new(
                p.key("weight"),
                format!("weight {} out of range: expected 1..100", t.weight),
            ));
        }
        preferred_node_affinity.push(PreferredTerm {
            weight: t.weight,
            term: node_selector_term(&t.preference, &p.key("preference"))?,
        });
    }
    let mut tolerations = Vec::new();
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        tolerations.push(toleration(t, &sp.key("tolerations").idx(i))?);
    }
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        });
    let spec_preemption_policy = preemption_policy(
        spec.preemption_policy.as_deref(),
        &sp.key("preemptionPolicy"),
    )?;
    let grace = spec
        .termination_grace_period_seconds
        .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    if grace < 0 {
        return Err(PathError::new(
            sp.key("terminationGracePeriodSeconds"),
            "expected a non-negative number of seconds",
        ));
    }
    let dns = pod_dns(spec, &sp)?;
    let pod = Pod {
        dns,
        namespace,
        name,
        labels: meta.labels.clone().unwrap_or_default(),
        owner,
        priority_class_name: spec.priority_class_name.clone().filter(|n| !n.is_empty()),
        priority: spec.priority.unwrap_or(0),
        preemption_policy: spec_preemption_policy.unwrap_or_default(),
        requests,
        nonzero_requests,
        scalar_requests,
        memory_limit,
        cpu_limit,
        qos_class,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        required_node_affinity,
        preferred_node_affinity,
        tolerations,
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        nominated_node_name: status
            .and_then(|s| s.nominated_node_name.clone())
            .filter(|n| !n.is_empty()),
        creation_timestamp: meta.creation_timestamp.as_ref().map_or(0, millis),
        start_time: status.and_then(|s| s.start_time.as_ref()).map(millis),
        terminating: meta.deletion_timestamp.is_some(),
        termination_grace_period_seconds: grace,
        preempted_by_scheduler: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                })
            }),
        images: spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| c.image.clone().unwrap_or_default())
            .collect(),
    };
    Ok(PodTemplate {
        pod,
        spec_priority: spec.priority,
        spec_preemption_policy,
    })
}

pub fn pod(p: &core::Pod, path: &Path) -> Result<PodTemplate> {
    let name = name_of(&p.metadata, path)?;
    pod_template(
        &p.metadata,
        name,
        namespace_of(&p.metadata),
        p.spec.as_ref(),
        p.status.as_ref(),
        path,
    )
}

pub fn priority_class(
    c: &k8s_openapi::api::scheduling::v1::PriorityClass,
    path: &Path,
) -> Result<PriorityClass> {
    let name = name_of(&c.metadata, path)?;
    if c.value > cascade_model::admission::HIGHEST_USER_DEFINABLE_PRIORITY
        && !name.starts_with("system-")
    {
        return Err(PathError::new(
            path.key("value"),
            format!(
                "value {} too large: expected at most {} for a user-defined PriorityClass",
                c.value,
                cascade_model::admission::HIGHEST_USER_DEFINABLE_PRIORITY
            ),
        ));
    }
    Ok(PriorityClass {
        name,
        value: c.value,
        global_default: c.global_default.unwrap_or(false),
        preemption_policy: preemption_policy(
            c.preemption_policy.as_deref(),
            &path.key("preemptionPolicy"),
        )?
        .unwrap_or_default(),
    })
}

/// Scheduling constraints in `spec` that kube-scheduler enforces and cascade does not model
/// (required inter-pod affinity and anti-affinity, topology spread with DoNotSchedule), as
/// the names of their fields: a placement cascade reports may be one kube-scheduler refuses.
pub fn unmodelled_constraints(spec: &core::PodSpec) -> Vec<&'static str> {
    let mut out = Vec::new();
    let affinity = spec.affinity.as_ref();
    let required =
        |terms: Option<&Vec<core::PodAffinityTerm>>| terms.is_some_and(|t| !t.is_empty());
    if affinity
        .and_then(|a| a.pod_affinity.as_ref())
        .is_some_and(|a| {
            required(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        })
    {
        out.push("podAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    }
    if affinity
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .is_some_and(|a| {
            required(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        })
    {
        out.push("podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    }
    if spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .any(|c| c.when_unsatisfiable == "DoNotSchedule")
    {
        out.push("topologySpreadConstraints (whenUnsatisfiable: DoNotSchedule)");
    }
    out
}
