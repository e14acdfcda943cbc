//! Services' routing follows the EndpointSlices the endpointslice controller writes through
//! the API server (docs/control-plane-and-nodes.md#endpointslices): a dead node's pods stay
//! listed until the node lifecycle controller marks them not Ready, while the server is down
//! a pod that died keeps receiving traffic, and a batch period delays every change.

mod common;

/// Three nodes, one `api` pod on each, users calling it at 50 a second (1 s timeout, no
/// retries). `extra` is appended to the spec (faults, parameters).
fn scenario(extra: &str) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 10m
  cluster:
    nodeGroups:
    - {{namePrefix: node, count: 3, zones: [a, b, c], allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}}}
    manifests: [api.yaml]
{extra}"#
    )
}

const SERVICES: &str = r#"  services:
    api:
      selector: {namespace: shop, matchLabels: {app: api}}
      workersPerReplica: 10
      serviceSeconds: 0.01
  clients:
    users: {target: api, ratePerSecond: 50, timeoutSeconds: 1, maxRetries: 0, startSeconds: 60}
"#;

const API: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: x, resources: {requests: {cpu: "3", memory: 1Gi}}}]
"#;

fn run(name: &str, extra: &str) -> common::Run {
    let path = common::scenario(
        "endpoint-slices",
        name,
        &[("scenario.yaml", &scenario(extra)), ("api.yaml", API)],
    );
    common::run(&path, None, &[], None)
}

/// The metrics.csv column `col` as (t, value) rows.
fn column(r: &common::Run, col: &str) -> Vec<(f64, f64)> {
    let mut lines = r.metrics_csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == col)
        .unwrap_or_else(|| panic!("no {col}"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[i].parse().unwrap_or(0.0))
        })
        .collect()
}

fn event_times(r: &common::Run, kind: &str) -> Vec<f64> {
    r.events
        .iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .collect()
}

/// When the node lifecycle controller marked `node`'s pods not Ready: its NodeNotReady event
/// (MarkPodsNotReady's updates go out in the same pass, at once while the server is idle).
fn not_ready_at(r: &common::Run, node: &str) -> f64 {
    r.events
        .iter()
        .find(|l| l.contains("\"kind\":\"NodeNotReady\"") && l.contains(&format!("node/{node}\"")))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .unwrap_or_else(|| panic!("{node} never NotReady"))
}

#[test]
fn a_dead_nodes_pod_keeps_its_traffic_until_the_node_lifecycle_controller_marks_it() {
    // node-0 (one api pod) dies at 3m; nobody reports its pod's death, so the API server
    // keeps it Ready and its slice lists it until MarkPodsNotReady, after the grace period
    // (docs/control-plane-and-nodes.md#endpointslices).
    let r = run(
        "grace",
        &format!("  faults:\n  - {{at: 3m, nodeDown: node-0}}\n{SERVICES}"),
    );
    let marked = not_ready_at(&r, "node-0");
    // The last renewal the server took was at 180 s at the latest (renewals every 10 s, the
    // node died on one at 180 s exactly or after): NotReady at the first 5 s monitor pass
    // with 50 s gone since.
    assert!((230.0..=235.0).contains(&marked), "NotReady at {marked}");
    // Requests spread evenly over the 3 listed replicas: a third of 50 a second go to the
    // dead one for (marked - 180) s, each refused at once: rate x window / replicas.
    let expected = 50.0 * (marked - 180.0) / 3.0;
    let got = r.summary.totals["api_stale_endpoint_failures"] as f64;
    // Binomial over ~50 x 50 arrivals with p = 1/3: sd ~ 24, under 3 % of ~833.
    assert!(
        (got - expected).abs() < 0.1 * expected,
        "{got} refused, ~{expected} expected (marked at {marked})"
    );
    assert_eq!(r.summary.totals["api_failed"] as f64, got);
    // None before the death, none once the slice dropped it.
    for (t, v) in column(&r, "users_calls_failed") {
        if t <= 180.0 || t > marked + 15.0 {
            assert_eq!(v, 0.0, "calls failed at {t}s");
        }
    }
    // Ready as the server holds it: 3 (once the pods' probes passed) until the mark, then 2
    // (the replacement has no node with room).
    let ready = column(&r, "api_ready_replicas");
    assert!(
        ready
            .iter()
            .all(|(t, v)| !(60.0..marked).contains(t) || *v == 3.0),
        "{ready:?}"
    );
    assert!(ready
        .iter()
        .any(|(t, v)| (marked..marked + 15.0).contains(t) && *v == 2.0));
}

#[test]
fn marking_the_pods_waits_for_the_node_lifecycle_controllers_client() {
    // The controller's client at 0.1 requests a second, burst 1: at the NotReady pass the
    // NoSchedule taint takes the one token, so the pod's status update goes 10 s later
    // (MarkPodsNotReady's UpdateStatus shares the client with the taints), and the dead pod
    // is listed 10 s longer than with the default client.
    let r = run(
        "slow-client",
        &format!(
            "  faults:\n  - {{at: 3m, nodeDown: node-0}}\n  parameters:\n    controllers: {{kubeApiQps: 0.1, kubeApiBurst: 1}}\n{SERVICES}"
        ),
    );
    let marked = not_ready_at(&r, "node-0");
    let expected = 50.0 * (marked + 10.0 - 180.0) / 3.0;
    let got = r.summary.totals["api_stale_endpoint_failures"] as f64;
    assert!(
        (got - expected).abs() < 0.1 * expected,
        "{got} refused, ~{expected} expected (marked at {marked})"
    );
    // Against the default client's (marked - 180) s: the 10 s show.
    let fast = 50.0 * (marked - 180.0) / 3.0;
    assert!(
        got > fast + 0.5 * (50.0 * 10.0 / 3.0),
        "{got} against {fast}"
    );
}

#[test]
fn with_the_api_server_down_a_dead_pod_keeps_its_traffic_until_the_slice_is_written() {
    // The API server is down from 2m to 5m; node-0 (one api pod) dies at 3m.
    let faults = |api_down: bool| {
        format!(
            "  faults:\n  - {{at: 3m, nodeDown: node-0}}\n{}{SERVICES}",
            if api_down {
                "  - {at: 2m, duration: 3m, apiServerDown: true}\n"
            } else {
                ""
            }
        )
    };
    let down = run("down", &faults(true));
    let up = run("up", &faults(false));
    let stale = |r: &common::Run| r.summary.totals["api_stale_endpoint_failures"] as f64;
    // With the server serving, the pod is listed for the grace period only.
    let marked_up = not_ready_at(&up, "node-0");
    let expected_up = 50.0 * (marked_up - 180.0) / 3.0;
    assert!(
        (stale(&up) - expected_up).abs() < 0.1 * expected_up,
        "{}",
        stale(&up)
    );
    // With it down, the node lifecycle controller counts heartbeats afresh from the server's
    // return, so the pod is marked a grace period after that, and listed until then.
    let serving = event_times(&down, "APIServerServing");
    let back = *serving.iter().find(|&&t| t >= 300.0).expect("serves again");
    let marked = not_ready_at(&down, "node-0");
    assert!(
        (back + 50.0..=back + 55.0).contains(&marked),
        "{marked}, back at {back}"
    );
    let expected = 50.0 * (marked - 180.0) / 3.0;
    let got = stale(&down);
    assert!(
        (got - expected).abs() < 0.1 * expected,
        "{got} refused, ~{expected} expected (server back at {back}, marked at {marked})"
    );
    assert_eq!(down.summary.totals["api_failed"] as f64, got);
    let failed = column(&down, "users_calls_failed");
    for (t, v) in &failed {
        if *t <= 180.0 || *t > marked + 15.0 {
            assert_eq!(*v, 0.0, "calls failed at {t}s");
        }
    }
    assert!(failed
        .iter()
        .any(|(t, v)| (190.0..=back).contains(t) && *v > 0.0));
    // Ready as the server holds it does not fall before the mark.
    let ready = column(&down, "api_ready_replicas");
    assert!(ready
        .iter()
        .all(|(t, v)| !(60.0..marked).contains(t) || *v == 3.0));
    assert!(down.summary.totals["endpoint_slice_writes"] >= 1);
}

#[test]
fn a_batch_period_delays_the_slice_and_one_write_carries_the_changes_meanwhile() {
    // node-0 (one api pod) dies at 3m, with no batch period and with one of 30 s.
    let run_with = |name: &str, batch: &str| {
        run(
            name,
            &format!(
                "  faults:\n  - {{at: 3m, nodeDown: node-0}}\n  parameters:\n    controllers: {{endpointSliceUpdatesBatchPeriodSeconds: {batch}}}\n{SERVICES}"
            ),
        )
    };
    let at_once = run_with("batch0", "0");
    let batched = run_with("batch30", "30");
    let stale = |r: &common::Run| r.summary.totals["api_stale_endpoint_failures"] as f64;
    // Listed for the grace period, then 30 s more while the sync waits: a third of ~50
    // requests a second go to the dead pod meanwhile.
    let marked = not_ready_at(&at_once, "node-0");
    assert_eq!(marked, not_ready_at(&batched, "node-0"));
    let grace = 50.0 * (marked - 180.0) / 3.0;
    assert!(
        (stale(&at_once) - grace).abs() < 0.1 * grace,
        "{}",
        stale(&at_once)
    );
    let expected = 50.0 * (marked + 30.0 - 180.0) / 3.0;
    assert!(
        (stale(&batched) - expected).abs() < 0.1 * expected,
        "{} refused, ~{expected} expected",
        stale(&batched)
    );
    let failed = column(&batched, "users_calls_failed");
    for (t, v) in &failed {
        if *t <= 180.0 || *t > marked + 45.0 {
            assert_eq!(*v, 0.0, "calls failed at {t}s");
        }
    }
    // Readiness as the server holds it is the same in both runs: only routing waits.
    assert_eq!(
        column(&at_once, "api_ready_replicas"),
        column(&batched, "api_ready_replicas")
    );
    // The pods' first readiness came from before the run (no write); the dead pod's change
    // is one write either way, and the replacement's creation and readiness one or two more.
    let w0 = at_once.summary.totals["endpoint_slice_writes"];
    let w30 = batched.summary.totals["endpoint_slice_writes"];
    assert!(w30 <= w0, "{w30} batched against {w0}");
    assert!(w30 >= 1);
}

#[test]
fn a_bad_batch_period_or_backoff_is_a_located_error() {
    for (i, (controllers, line, want)) in [
        (
            "{endpointSliceUpdatesBatchPeriodSeconds: -1}",
            "scenario.yaml:11:",
            "not below 0",
        ),
        (
            "{endpointSliceSyncBackoffSeconds: 0}",
            "scenario.yaml:11:",
            "expected seconds above 0",
        ),
        (
            "{endpointSliceMaxSyncBackoffSeconds: 0.5}",
            "scenario.yaml:11:",
            "not below endpointSliceSyncBackoffSeconds (1)",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let path = common::scenario(
            "endpoint-slices",
            &format!("bad{i}"),
            &[
                (
                    "scenario.yaml",
                    &scenario(&format!("  parameters:\n    controllers: {controllers}\n")),
                ),
                ("api.yaml", API),
            ],
        );
        let Err(e) = cascade_sim::load(&path, None, &[], None) else {
            panic!("{controllers}: loaded");
        };
        let e = e.to_string();
        assert!(e.contains(want) && e.contains(line), "{controllers}: {e}");
    }
    // In a --set, located there.
    let path = common::scenario(
        "endpoint-slices",
        "badset",
        &[("scenario.yaml", &scenario("")), ("api.yaml", API)],
    );
    let sets = [(
        "controllers.endpointSliceUpdatesBatchPeriodSeconds".to_string(),
        "-5".to_string(),
    )];
    let Err(e) = cascade_sim::load(&path, None, &sets, None) else {
        panic!("loaded");
    };
    let e = e.to_string();
    assert!(e.contains("--set:1:") && e.contains("not below 0"), "{e}");
}

/// Two CoreDNS-like pods whose container leaks to its limit (an OOM kill every ~2 minutes),
/// each with an informer (`apiClient`); the API server is down from 2m to 7m.
fn dns_run(name: &str, ready_when_synced: bool) -> common::Run {
    let text = format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 10m
  cluster:
    nodeGroups:
    - {{namePrefix: node, count: 3, zones: [a, b, c], allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}}}
    manifests: [dns.yaml]
  behaviours:
  - selector: {{namespace: kube-system, matchLabels: {{k8s-app: kube-dns}}}}
    memory: {{start: 100Mi, growthPerMinute: 100Mi}}
    apiClient: {{resource: pods, scope: cluster, watch: true, readyWhenSynced: {ready_when_synced}}}
  faults:
  - {{at: 2m, duration: 5m, apiServerDown: true}}
"#
    );
    let dns = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  replicas: 2
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers: [{name: coredns, image: x, resources: {requests: {cpu: 100m, memory: 70Mi}, limits: {memory: 300Mi}}}]
"#;
    let path = common::scenario(
        "ready-when-synced",
        name,
        &[("scenario.yaml", &text), ("dns.yaml", dns)],
    );
    common::run(&path, None, &[], None)
}

#[test]
fn a_pod_ready_when_its_informer_syncs_stays_unready_after_a_restart_while_the_server_is_down() {
    let waits = dns_run("waits", true);
    let plain = dns_run("plain", false);
    let back = *event_times(&waits, "APIServerServing")
        .iter()
        .find(|&&t| t >= 420.0)
        .expect("serves again");
    assert_eq!(
        event_times(&plain, "APIServerServing"),
        event_times(&waits, "APIServerServing")
    );
    // Both pods were OOM-killed and restarted during the outage (every ~2 minutes).
    let ooms = |r: &common::Run| {
        event_times(r, "OOMKilled")
            .into_iter()
            .filter(|t| (120.0..back).contains(t))
            .count()
    };
    assert!(ooms(&waits) >= 4, "{}", ooms(&waits));
    let ready = |r: &common::Run| column(r, "pods_ready");
    // Before the outage both are Ready in both runs (a restart's few seconds aside).
    let before = |r: &common::Run| {
        ready(r)
            .iter()
            .filter(|(t, _)| (60.0..120.0).contains(t))
            .map(|(_, v)| *v)
            .fold(0.0, f64::max)
    };
    assert_eq!(before(&waits), 2.0);
    // Once each has restarted in the outage, the informer cannot sync: neither is Ready
    // until the server serves again; without the gate they come back after each restart.
    let late = |r: &common::Run| {
        ready(r)
            .into_iter()
            .filter(|(t, _)| (300.0..back).contains(t))
            .map(|(_, v)| v)
            .collect::<Vec<f64>>()
    };
    assert!(late(&waits).iter().all(|&v| v == 0.0), "{:?}", late(&waits));
    assert!(
        late(&plain).iter().filter(|&&v| v > 0.0).count() > late(&plain).len() / 2,
        "{:?}",
        late(&plain)
    );
    // The server serves: they sync and turn Ready within seconds (unless OOM-killed again).
    let after: f64 = ready(&waits)
        .into_iter()
        .filter(|(t, _)| (back..back + 30.0).contains(t))
        .map(|(_, v)| v)
        .fold(0.0, f64::max);
    assert!(after >= 1.0, "{after}");
}

#[test]
fn ready_when_synced_on_a_poller_is_a_located_error() {
    let text = scenario(
        "  behaviours:\n  - selector: {matchLabels: {app: api}}\n    apiClient: {resource: pods, watch: false, periodSeconds: 60, readyWhenSynced: true}\n",
    );
    let path = common::scenario(
        "endpoint-slices",
        "poller",
        &[("scenario.yaml", &text), ("api.yaml", API)],
    );
    let Err(e) = cascade_sim::load(&path, None, &[], None) else {
        panic!("loaded");
    };
    let e = e.to_string();
    assert!(
        e.contains("scenario.yaml:12:83:")
            && e.contains("readyWhenSynced: expected only with watch: true"),
        "{e}"
    );
}

#[test]
fn an_informer_on_endpointslices_relists_after_the_server_restarts() {
    // CoreDNS's informers list Services and EndpointSlices: the api pods stand in for it here.
    // The API server is down from 2m to 3m: each of the 3 pods' watches breaks and relists
    // once the server serves again (one object per Service, the run's and `kubernetes`).
    let r = run(
        "slices-informer",
        &format!(
            "  behaviours:\n  - selector: {{namespace: shop, matchLabels: {{app: api}}}}\n    apiClient: {{resource: endpointslices, watch: true}}\n  faults:\n  - {{at: 2m, duration: 1m, apiServerDown: true}}\n{SERVICES}"
        ),
    );
    let lists = r.summary.totals["api_client_lists"];
    assert!(lists >= 3, "{lists} lists");
    let unsynced = column(&r, "api_clients_unsynced");
    assert!(unsynced
        .iter()
        .any(|(t, v)| (120.0..200.0).contains(t) && *v == 3.0));
    assert_eq!(unsynced.last().unwrap().1, 0.0, "all synced again");
}
