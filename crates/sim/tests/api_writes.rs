//! The controllers' pod creations and the scheduler's bindings as API requests: an overloaded
//! API server delays a scale-up, and API Priority and Fairness keeps the controllers working
//! while a low-priority client floods the server with LISTs
//! (docs/control-plane-and-nodes.md#controllers-and-the-scheduler-as-api-clients).

mod common;

/// 300 nodes running 2,700 application pods and a log agent each whose client (`client`)
/// lists every pod of the cluster (workload-low); the API server (`api`, its parameters)
/// restarts at 2m (down 10 s), the agents relist, and at 5m the `web` Deployment is scaled
/// from 2 to 60.
fn storm(client: &str, api: &str) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 10m
  cluster:
    nodeGroups:
    - {{namePrefix: n, count: 300, zones: [a, b, c], allocatable: {{cpu: "16", memory: 64Gi, pods: "110"}}}}
    manifests: [workloads.yaml]
    workloadGroups:
    - {{namePrefix: app, count: 270, namespace: apps, replicas: 10, containers: [{{name: app, requests: {{cpu: 200m, memory: 512Mi}}}}]}}
  behaviours:
  - selector: {{namespace: observability, matchLabels: {{app: log-agent}}}}
    apiClient: {{resource: pods, scope: cluster, {client}}}
  faults:
  - {{at: 2m, duration: 10s, apiServerDown: true}}
  changes:
  - at: 5m
    scale: {{kind: Deployment, namespace: default, name: web, replicas: 60}}
  parameters:
    apiServer: {{{api}}}
"#
    )
}

const WORKLOADS: &str = r#"---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: observability}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      containers: [{name: agent, image: x, resources: {requests: {cpu: 50m, memory: 128Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]
"#;

/// The instants (seconds) of the events of `kind` about the `web` Deployment's pods.
fn web_times(events: &[String], kind: &str) -> Vec<f64> {
    events
        .iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")) && l.contains("pod/default/web-"))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .collect()
}

fn run(name: &str, client: &str, api: &str) -> common::Run {
    let path = common::scenario(
        "api-writes",
        name,
        &[
            ("scenario.yaml", &storm(client, api)),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    common::run(&path, None, &[], None)
}

const SCALE_AT: f64 = 300.0;

/// The first and last instants of the `web` pods' events of `kind` from the scale-up on, and
/// how many there are.
fn after_scale(r: &common::Run, kind: &str) -> (f64, f64, usize) {
    let t: Vec<f64> = web_times(&r.events, kind)
        .into_iter()
        .filter(|&t| t >= SCALE_AT)
        .collect();
    let first = t.iter().copied().fold(f64::INFINITY, f64::min);
    let last = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (first, last, t.len())
}

/// A relist storm's LISTs: each returns 3,300 pods of 64 KiB (206 MiB) and takes 3.3 s; the
/// server has 6 GiB.
const STORM: &str =
    "listSecondsPerObject: 0.001, bytesPerObject: 64Ki, memoryLimit: 6Gi, priorityAndFairness: ";

#[test]
fn a_relist_storm_without_apf_delays_a_scale_up_and_with_apf_the_controllers_keep_working() {
    let off = run("off", "watch: true", &format!("{STORM}false"));
    let on = run("on", "watch: true", &format!("{STORM}true"));
    // Without APF the relisting agents' LISTs OOM-kill the server again and again; with it
    // workload-low holds them to its seats and the server stays up.
    assert!(
        off.summary.totals["apiserver_oom_kills"] >= 3,
        "{:?}",
        off.summary.totals
    );
    assert!(!on.summary.totals.contains_key("apiserver_oom_kills"));
    // With APF the controllers' creations and the scheduler's bindings (workload-high) go
    // through at once: the 58 new pods are created over 1.4 s, 30 at once on the ReplicaSet
    // controller's burst, then 20 a second, and each is bound as it comes.
    let (first, last, n) = after_scale(&on, "Created");
    assert_eq!(n, 58);
    assert!(first < SCALE_AT + 0.2, "{first}");
    assert!((SCALE_AT + 1.3..SCALE_AT + 1.6).contains(&last), "{last}");
    let (_, last_bound, n) = after_scale(&on, "Scheduled");
    assert_eq!(n, 58);
    assert!(last_bound < SCALE_AT + 1.7, "{last_bound}");
    // Without it the scale-up waits for the server to serve between its OOM kills: nothing
    // is created or bound before it does.
    let serving: Vec<f64> = event_times(&off, "APIServerServing");
    let back = serving.into_iter().find(|&t| t >= SCALE_AT).unwrap();
    let (first, _, n) = after_scale(&off, "Created");
    assert!(
        n > 0 && first >= back,
        "first created {first}, server back at {back}"
    );
    let (first_bound, _, _) = after_scale(&off, "Scheduled");
    assert!(
        first_bound >= back && first_bound > SCALE_AT + 10.0,
        "{first_bound}"
    );
}

#[test]
fn a_server_short_of_cpu_delays_creations_and_bindings_while_it_serves() {
    // The agents poll every second, without APF, on a server with one CPU and no memory
    // limit: it never stops serving, but every request runs stretched by those executing
    // with it, so each creation and binding takes effect only when the server answers it.
    let poll = "watch: false, periodSeconds: 1";
    let slow = run(
        "cpu",
        poll,
        "cpus: 1, listSecondsPerObject: 0.0002, priorityAndFairness: false",
    );
    // The same without the agents' polling: their informers synced and idle.
    let fast = run(
        "cpu-fast",
        "watch: true",
        "cpus: 1, priorityAndFairness: false",
    );
    for r in [&slow, &fast] {
        assert!(!r.summary.totals.contains_key("apiserver_oom_kills"));
        assert_eq!(r.summary.totals["apiserver_unavailable_seconds"], 70);
        assert_eq!(after_scale(r, "Created").2, 58);
        assert_eq!(after_scale(r, "Scheduled").2, 58);
    }
    let (_, fast_last, _) = after_scale(&fast, "Scheduled");
    let (_, slow_last, _) = after_scale(&slow, "Scheduled");
    assert!(fast_last < SCALE_AT + 1.7, "{fast_last}");
    assert!(slow_last > fast_last + 2.0, "{slow_last} vs {fast_last}");
}

/// The instants of the events of `kind` about anything.
fn event_times(r: &common::Run, kind: &str) -> Vec<f64> {
    r.events
        .iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| l[5..l.find(',').unwrap()].parse().unwrap())
        .collect()
}
