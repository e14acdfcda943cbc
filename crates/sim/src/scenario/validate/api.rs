//! A pod's API client and the API server's sizing, each an error at its field.

use super::{names::unknown_name, ParamSources, Report};
use crate::params::Params;
use cascade_manifest::{Path, Seg};

/// A pod's API client: what it lists, where, how often and under which FlowSchema, each an
/// error at its field.
pub(super) fn api_client(r: &mut Report<'_>, p: &Path, c: &crate::scenario::ApiClient) {
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
pub(super) fn api_server(r: &mut Report<'_>, params: &Params, sites: &ParamSources<'_>) {
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
    if a.replicas == 0 {
        bad(
            "replicas",
            "replicas = 0: expected 1 or more kube-apiserver replicas (1 is kubeadm's default)"
                .into(),
        );
    }
    if a.max_requests_inflight + a.max_mutating_requests_inflight == 0 {
        bad(
            "maxRequestsInflight",
            "maxRequestsInflight and maxMutatingRequestsInflight are both 0: expected a server that can run a request".into(),
        );
    }
}

/// An `apiServerDown` fault's `replica`: one of `apiServer.replicas`.
pub(super) fn fault_replica(r: &mut Report<'_>, p: &Path, replica: Option<u32>, params: &Params) {
    let n = params.api_server.replicas;
    match replica {
        Some(i) if n > 0 && i >= n => r.error(
            p,
            format!(
                "replica {i}: expected 0 to {} (apiServer.replicas is {n})",
                n - 1
            ),
        ),
        _ => {}
    }
}
