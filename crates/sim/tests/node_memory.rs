//! Node memory against the kubelet's and the kernel's documented behaviour
//! (docs/kubernetes.md#node-memory-pressure), on one small node: a leak the eviction manager
//! catches, and one too fast for it that the kernel's OOM killer ends.

use cascade_sim::output;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod common;

fn scenario(name: &str, files: &[(&str, &str)]) -> PathBuf {
    common::scenario("mem", name, files)
}

fn run(path: &std::path::Path, sets: &[(&str, &str)]) -> (output::Summary, Vec<String>, String) {
    let r = common::run(path, None, sets, None);
    (r.summary, r.events, r.metrics_csv)
}

/// A Guaranteed 1Gi database and a BestEffort leaking worker on one 4Gi node (capacity 4Gi +
/// the 100Mi hard threshold).
const WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: leak}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: leak}}\n  template:\n    metadata: {labels: {app: leak}}\n    spec:\n      containers: [{name: c, image: x}]\n";

fn leak_scenario(growth: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 30m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: 1, allocatable: {{cpu: \"4\", memory: 4Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {{matchLabels: {{app: leak}}}}\n    memory: {{start: 256Mi, growthPerMinute: {growth}}}\n"
    )
}

fn time_of(line: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["t"].as_f64().unwrap()
}

#[test]
fn the_eviction_manager_evicts_the_pod_above_its_request_and_taints_the_node() {
    // 256Mi a minute is 43Mi per 10 s pass: the kubelet sees memory.available < 100Mi before
    // the node is full. 1Gi + 256Mi + 256Mi/min * t > 4Gi from t = 11 min.
    let path = scenario(
        "evict",
        &[
            ("scenario.yaml", &leak_scenario("256Mi")),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let (s, log, csv) = run(&path, &[]);
    assert_eq!(s.totals.get("node_oom_kills"), None, "{log:#?}");
    assert!(s.totals["pods_evicted_node_pressure"] >= 1);
    let evicted: Vec<&String> = log.iter().filter(|l| l.contains("\"Evicted\"")).collect();
    // Only the leaking worker (usage above its request of 0) goes, never the database.
    assert!(
        evicted.iter().all(|l| l.contains("pod/default/leak-")),
        "{evicted:#?}"
    );
    let first = time_of(evicted[0]);
    assert!((660.0..=680.0).contains(&first), "evicted at {first}");
    let pressure = log
        .iter()
        .find(|l| l.contains("\"NodeHasInsufficientMemory\""))
        .unwrap();
    assert_eq!(time_of(pressure), first);
    // The replacement waits for the taint to go: MemoryPressure holds for the 5 min
    // transition period after the last pass that saw the threshold met.
    let relieved = log
        .iter()
        .find(|l| l.contains("\"NodeHasSufficientMemory\""))
        .map(|l| time_of(l))
        .unwrap();
    assert!(relieved >= first + 300.0, "{relieved}");
    // The scheduler sees the condition once the kubelet's next status update (within 10 s)
    // is taken by the API server and the node lifecycle controller taints the node: the
    // replacement made at once may land before that (the kubelet's admission, which would
    // refuse it upstream, is not modelled), but from then on nothing lands until relieved.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "nodes_memory_pressure")
        .unwrap();
    let held_from: f64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[col] == "1")
        .map(|r| r[0].parse().unwrap())
        .unwrap();
    assert!((first..=first + 20.0).contains(&held_from), "{held_from}");
    let scheduled: Vec<f64> = log
        .iter()
        .filter(|l| l.contains("\"Scheduled\"") && l.contains("pod/default/leak-"))
        .map(|l| time_of(l))
        .collect();
    assert!(
        scheduled.iter().all(|t| *t < held_from || *t >= relieved),
        "{scheduled:?} held from {held_from}, relieved at {relieved}"
    );
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .contains("nodes_memory_pressure"));
    assert_eq!(s.peaks["nodes_memory_pressure"], 1.0);
    // A shorter transition period lets the replacement in sooner.
    let (_, log, _) = run(
        &path,
        &[("kubelet.evictionPressureTransitionPeriodSeconds", "60")],
    );
    let relieved_sooner = log
        .iter()
        .find(|l| l.contains("\"NodeHasSufficientMemory\""))
        .map(|l| time_of(l))
        .unwrap();
    assert!(relieved_sooner < relieved);
}

#[test]
fn a_leak_faster_than_the_kubelet_meets_the_kernels_oom_killer() {
    // 3Gi a minute is 512Mi per 10 s pass: the node fills between two passes.
    let path = scenario(
        "oom",
        &[
            ("scenario.yaml", &leak_scenario("3Gi")),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    assert!(
        s.totals.get("node_oom_kills").is_some_and(|n| *n >= 1),
        "{log:#?}"
    );
    let system_oom: Vec<&String> = log.iter().filter(|l| l.contains("\"SystemOOM\"")).collect();
    // The BestEffort worker (oom_score_adj 1000) has the highest badness, never the
    // Guaranteed database (-997).
    assert!(system_oom
        .iter()
        .all(|l| l.contains("victim pod default/leak-")));
    let killed = log.iter().find(|l| l.contains("\"OOMKilled\"")).unwrap();
    assert!(killed.contains("the node ran out of memory"));
    // The OOM killer acts when the node is full: 3Gi - 256Mi + 100Mi after the worker's
    // container started, at 3Gi a minute.
    let started = log
        .iter()
        .find(|l| l.contains("\"Started\"") && l.contains("pod/default/leak-"))
        .map(|l| time_of(l))
        .unwrap();
    let t = time_of(system_oom[0]);
    let full = started + (3.0 * 1024.0 - 256.0 + 100.0) / (3.0 * 1024.0) * 60.0;
    assert!((t - full).abs() < 0.01, "OOM at {t}, full at {full}");
    assert!(!log
        .iter()
        .any(|l| l.contains("pod/default/db-") && l.contains("Killed")));
}

#[test]
fn scenarios_without_memory_behaviours_do_not_model_node_memory() {
    let sc = leak_scenario("3Gi").replace(
        "  behaviours:\n  - selector: {matchLabels: {app: leak}}\n    memory: {start: 256Mi, growthPerMinute: 3Gi}\n",
        "",
    );
    let path = scenario(
        "off",
        &[("scenario.yaml", &sc), ("workloads.yaml", WORKLOADS)],
    );
    let (s, log, csv) = run(&path, &[]);
    assert!(!csv
        .lines()
        .next()
        .unwrap()
        .contains("nodes_memory_pressure"));
    assert!(!s.peaks.contains_key("nodes_memory_pressure"));
    assert!(!log.iter().any(|l| l.contains("Memory")));
}

#[test]
fn daemonset_pods_tolerate_the_memory_pressure_taint() {
    // The node is under MemoryPressure from about 11 min to at least 16 min; a DaemonSet
    // created at 13 min still gets its pod there, a Deployment's new pod does not.
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 64Mi}}}]}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: late}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: late}}\n  template:\n    metadata: {labels: {app: late}}\n    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 64Mi}}}]}\n";
    let sc = format!(
        "{}  changes:\n  - at: 13m\n    apply: [late.yaml]\n",
        leak_scenario("256Mi")
    );
    let path = scenario(
        "daemon",
        &[
            ("scenario.yaml", &sc),
            ("workloads.yaml", WORKLOADS),
            ("late.yaml", ds),
        ],
    );
    let (_, log, _) = run(&path, &[]);
    let scheduled = |prefix: &str| {
        log.iter()
            .find(|l| l.contains("\"Scheduled\"") && l.contains(prefix))
            .map(|l| time_of(l))
            .unwrap()
    };
    let relieved = log
        .iter()
        .find(|l| l.contains("\"NodeHasSufficientMemory\""))
        .map(|l| time_of(l))
        .unwrap();
    assert!(scheduled("pod/default/agent-") < 13.0 * 60.0 + 1.0);
    assert!(scheduled("pod/default/late-") >= relieved);
}

#[test]
fn a_soft_threshold_evicts_earlier_after_its_grace_period() {
    let path = scenario(
        "soft",
        &[
            ("scenario.yaml", &leak_scenario("256Mi")),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let first_eviction = |sets: &[(&str, &str)]| {
        let (_, log, _) = run(&path, sets);
        log.iter()
            .find(|l| l.contains("\"Evicted\""))
            .map(|l| time_of(l))
            .unwrap()
    };
    let hard = first_eviction(&[]);
    // memory.available < 1Gi for 2 min: met about (1Gi - 100Mi) / 256Mi a minute = 3.6 min
    // before the hard threshold, so the eviction comes about 1.6 min earlier.
    let soft = first_eviction(&[
        ("kubelet.evictionSoft", "{memory.available: 1Gi}"),
        (
            "kubelet.evictionSoftGracePeriodSeconds",
            "{memory.available: 120}",
        ),
    ]);
    let earlier = hard - soft;
    assert!(
        (80.0..=110.0).contains(&earlier),
        "hard {hard}, soft {soft}"
    );
}

#[test]
fn a_node_whose_kubelet_is_down_is_no_longer_under_memory_pressure() {
    // Pressure from about 11 min; the node is down from 12 to 14 min: its conditions go
    // Unknown, so it is not counted under MemoryPressure while down.
    let sc = format!(
        "{}  faults:\n  - {{at: 12m, duration: 2m, nodeDown: n-0}}\n",
        leak_scenario("256Mi")
    );
    let path = scenario(
        "down",
        &[("scenario.yaml", &sc), ("workloads.yaml", WORKLOADS)],
    );
    let (_, _, csv) = run(&path, &[]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "nodes_memory_pressure")
        .unwrap();
    let at = |t: f64| {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|r| r[0].parse::<f64>().unwrap() >= t)
            .map(|r| r[col].parse::<f64>().unwrap())
            .unwrap()
    };
    assert_eq!(at(11.5 * 60.0), 1.0, "{csv}");
    assert_eq!(at(13.0 * 60.0), 0.0);
}

/// Ten replicas of a worker with a 1Gi limit and a leak (256Mi, +64Mi a minute: 12 minutes
/// to its limit), running when the run begins. A long-running cluster's replicas started at
/// different times, so each is at its own point of its OOM cycle
/// (docs/kubernetes.md#pods-at-time-0): their first OOM kills spread over the cycle. With
/// `initialPodAgeMaxSeconds: 0` every replica starts the run freshly started, and all ten are
/// killed in the same instant: the artificial lockstep this default removes.
#[test]
fn replicas_running_at_time_0_are_not_in_lockstep() {
    let workers = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: 10\n  selector: {matchLabels: {app: w}}\n  template:\n    metadata: {labels: {app: w}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {memory: 1Gi}}}]\n";
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 20m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 2, allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n    manifests: [workers.yaml]\n  behaviours:\n  - selector: {matchLabels: {app: w}}\n    memory: {start: 256Mi, growthPerMinute: 64Mi}\n";
    let path = scenario("ages", &[("scenario.yaml", sc), ("workers.yaml", workers)]);
    let first_kills = |sets: &[(&str, &str)]| -> Vec<f64> {
        let (_, log, _) = run(&path, sets);
        let mut seen = std::collections::BTreeMap::new();
        for l in log.iter().filter(|l| l.contains("\"OOMKilled\"")) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let pod = v["object"].as_str().unwrap().to_string();
            seen.entry(pod).or_insert(v["t"].as_f64().unwrap());
        }
        seen.into_values().collect()
    };
    let fresh = first_kills(&[("kubelet.initialPodAgeMaxSeconds", "0")]);
    assert_eq!(fresh.len(), 10);
    let (lo, hi) = (
        fresh.iter().cloned().fold(f64::MAX, f64::min),
        fresh.iter().cloned().fold(0.0, f64::max),
    );
    assert!(hi - lo < 1.0, "fresh replicas die together: {fresh:?}");
    let aged = first_kills(&[]);
    assert_eq!(aged.len(), 10);
    // Each dies within one cycle (12 min plus its start) and at its own time: the ten first
    // kills fall in at least 6 distinct minutes of the cycle.
    assert!(aged.iter().all(|t| *t <= 12.0 * 60.0 + 30.0), "{aged:?}");
    let minutes: std::collections::BTreeSet<u64> =
        aged.iter().map(|t| (*t / 60.0).floor().to_bits()).collect();
    assert!(minutes.len() >= 6, "{aged:?}");
}

/// A leaking DaemonSet without a memory limit on four identical nodes: the leak counts against
/// each node (a `memory` behaviour is never inert, docs/kubernetes.md#node-memory-pressure),
/// and each kubelet's eviction manager passes at its own phase, drawn from the seed: one node's
/// events all fall on its phase, the nodes' phases differ, and another seed moves them.
#[test]
fn each_kubelet_passes_at_its_own_phase_and_a_leak_without_a_limit_fills_its_node() {
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: leak}\nspec:\n  selector: {matchLabels: {app: leak}}\n  template:\n    metadata: {labels: {app: leak}}\n    spec:\n      containers: [{name: c, image: x}]\n";
    let sc = "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  duration: 20m\n  cluster:\n    nodeGroups:\n    - {namePrefix: n, count: 4, allocatable: {cpu: \"4\", memory: 4Gi, pods: \"110\"}}\n    manifests: [leak.yaml]\n  behaviours:\n  - selector: {matchLabels: {app: leak}}\n    memory: {start: 256Mi, growthPerMinute: 256Mi}\n";
    let path = scenario("phase", &[("scenario.yaml", sc), ("leak.yaml", ds)]);
    let loaded = cascade_sim::load(&path, None, &[], None).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Each node's kubelet events (pressure on and off) by node, as phases in the period.
    let phases = |seed: u64| {
        let r = common::run(&path, None, &[], Some(seed));
        assert_eq!(r.summary.totals.get("node_oom_kills"), None);
        assert!(r.summary.totals["pods_evicted_node_pressure"] >= 4);
        let mut by_node: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for l in &r.events {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let node = match v["kind"].as_str().unwrap() {
                "NodeHasInsufficientMemory" | "NodeHasSufficientMemory" => {
                    v["object"].as_str().unwrap().to_string()
                }
                _ => continue,
            };
            let t = v["t"].as_f64().unwrap();
            by_node.entry(node).or_default().push(t.rem_euclid(10.0));
        }
        assert_eq!(by_node.len(), 4, "{by_node:?}");
        by_node
            .into_values()
            .map(|ts| {
                assert!(
                    ts.iter().all(|t| (t - ts[0]).abs() < 1e-3),
                    "one kubelet, one phase: {ts:?}"
                );
                format!("{:.3}", ts[0])
            })
            .collect::<Vec<String>>()
    };
    let a = phases(1);
    let distinct: std::collections::BTreeSet<&String> = a.iter().collect();
    assert_eq!(distinct.len(), 4, "phases in step: {a:?}");
    assert_eq!(phases(1), a);
    assert_ne!(phases(2), a);
}

/// Two 4Gi nodes in one zone, a leaking BestEffort worker (256Mi, growing by `growth` a
/// minute) and two web replicas of 256Mi each.
fn thrash_scenario(duration: &str, growth: &str, parameters: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: {duration}\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: 2, zones: [a], allocatable: {{cpu: \"4\", memory: 4Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {{matchLabels: {{app: leak}}}}\n    memory: {{start: 256Mi, growthPerMinute: {growth}}}\n  parameters: {parameters}\n"
    )
}

const THRASH_WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 256Mi}}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: leak}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: leak}}\n  template:\n    metadata: {labels: {app: leak}}\n    spec:\n      containers: [{name: c, image: x}]\n";

fn event(line: &str) -> (f64, String, String) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["t"].as_f64().unwrap(),
        v["object"].as_str().unwrap_or_default().to_string(),
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn events_of(log: &[String], kind: &str) -> Vec<(f64, String, String)> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| event(l))
        .collect()
}

/// docs/kubernetes.md#a-thrashing-node: a limitless leak holds the node below the thrashing
/// threshold (here 2Gi, with the kubelet's hard threshold at its default 100Mi, so reclaim
/// thrashes long before the kubelet would evict): the node's daemons stall after the onset,
/// its Lease goes stale, the node lifecycle controller marks it NotReady and taints it, its
/// pods are evicted and replaced on the other node; the kernel's OOM killer, which still
/// runs, frees the memory, and the node answers again after the recovery delay.
#[test]
fn a_thrashing_node_stops_heartbeating_goes_not_ready_and_its_pods_move() {
    // 8Mi a second; pods tolerate the unreachable taint 10 s (instead of 300) so that they
    // are evicted while the node still thrashes.
    let sc = thrash_scenario(
        "12m",
        "480Mi",
        "{memoryThrashing: {memoryAvailable: 2Gi}, nodeLifecycle: {defaultUnreachableTolerationSeconds: 10}}",
    );
    let path = scenario(
        "thrash",
        &[("scenario.yaml", &sc), ("workloads.yaml", THRASH_WORKLOADS)],
    );
    let (s, log, csv) = run(&path, &[]);
    let thrash = events_of(&log, "NodeThrashing");
    assert!(!thrash.is_empty(), "{log:#?}");
    let (t_thrash, node, _) = thrash[0].clone();
    // The leak's node: the one the first leaking pod was scheduled on.
    // (time, pod, node) of each binding ("Successfully assigned NS/NAME to NODE").
    let scheduled: Vec<(f64, String, String)> = events_of(&log, "Scheduled")
        .into_iter()
        .map(|(t, o, m)| (t, o, m.rsplit(' ').next().unwrap().to_string()))
        .collect();
    let (t_started, leak_pod, _) = events_of(&log, "Started")
        .into_iter()
        .find(|(_, o, _)| o.starts_with("pod/default/leak-"))
        .unwrap();
    let leak_node = scheduled
        .iter()
        .find(|(_, o, _)| *o == leak_pod)
        .map(|(_, _, m)| m.clone())
        .unwrap();
    assert_eq!(format!("node/{leak_node}"), node);
    // The web replicas on the leak's node count their requests: the node's memory.available
    // is capacity (4Gi + 100Mi) minus them and the leak. It goes below 2Gi, and the node
    // thrashes 10 s (the onset) after that.
    let web_here = scheduled
        .iter()
        .filter(|(t, o, m)| *t < t_started && o.starts_with("pod/default/web-") && *m == leak_node)
        .count() as f64;
    let mi = 1024.0 * 1024.0;
    let available_at_start = (4096.0 + 100.0 - 256.0 * web_here - 256.0) * mi;
    let below = t_started + (available_at_start - 2048.0 * mi) / (8.0 * mi);
    assert!(
        (t_thrash - (below + 10.0)).abs() < 0.01,
        "thrashing at {t_thrash}, expected {} ({web_here} web replicas there)",
        below + 10.0
    );
    // No kubelet eviction on that node: its eviction manager stalls with it.
    assert!(events_of(&log, "Evicted")
        .iter()
        .all(|(t, _, _)| *t < t_thrash));
    // NotReady once the Lease is older than the grace period (50 s), read at a monitor pass
    // (5 s): within a renewal period (10 s) and a pass of the grace period's end.
    let (t_not_ready, _, why) = events_of(&log, "NodeNotReady")
        .into_iter()
        .find(|(_, o, _)| *o == node)
        .unwrap();
    assert_eq!(why, "Kubelet stopped posting node status.");
    assert!(
        t_not_ready >= t_thrash + 40.0 && t_not_ready <= t_thrash + 50.0 + 5.0,
        "thrashing at {t_thrash}, NotReady at {t_not_ready}"
    );
    // The taint-based eviction, 10 s after the NoExecute taint, and the replacements go to
    // the other node.
    let evicted = events_of(&log, "TaintManagerEviction");
    assert!(!evicted.is_empty());
    let t_evicted = evicted[0].0;
    assert!(t_evicted >= t_not_ready + 10.0 && t_evicted <= t_not_ready + 20.0);
    // The kernel's OOM killer frees the node, which answers again 30 s later and is Ready.
    let (t_oom, _, _) = events_of(&log, "SystemOOM")
        .into_iter()
        .find(|(_, o, _)| *o == node)
        .unwrap();
    assert!(t_oom > t_evicted);
    let (t_back, _, _) = events_of(&log, "NodeThrashingEnded")
        .into_iter()
        .find(|(_, o, _)| *o == node)
        .unwrap();
    let moved: Vec<_> = scheduled
        .iter()
        .filter(|(t, _, _)| *t >= t_evicted && *t < t_back)
        .collect();
    assert!(moved.len() as f64 >= 1.0 + web_here, "{moved:?}");
    assert!(moved.iter().all(|(_, _, n)| *n != leak_node), "{moved:?}");
    assert!(
        (t_back - (t_oom + 30.0)).abs() < 0.01,
        "OOM {t_oom}, back {t_back}"
    );
    let (t_ready, _, _) = events_of(&log, "NodeReady")
        .into_iter()
        .find(|(t, o, _)| *o == node && *t > t_not_ready)
        .unwrap();
    assert!(t_ready >= t_back && t_ready <= t_back + 5.0 + 0.01);
    assert!(s.totals["node_thrashing_episodes"] >= 1);
    assert!(s.peaks["nodes_thrashing"] >= 1.0);
    assert!(csv.lines().next().unwrap().contains("nodes_thrashing"));
}

/// The same cluster with the default threshold (50Mi, below the kubelet's 100Mi): a leak the
/// eviction manager catches (20Mi per 10 s pass) never takes memory.available down to it, and
/// a leak held by its container's limit never comes near: the nodes stay Ready.
#[test]
fn a_node_that_never_reaches_the_threshold_stays_ready() {
    let path = scenario(
        "no-thrash",
        &[
            ("scenario.yaml", &thrash_scenario("40m", "120Mi", "{}")),
            ("workloads.yaml", THRASH_WORKLOADS),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    assert!(s.totals["pods_evicted_node_pressure"] >= 1, "{log:#?}");
    assert!(events_of(&log, "NodeThrashing").is_empty(), "{log:#?}");
    assert!(events_of(&log, "NodeNotReady").is_empty());
    assert_eq!(s.totals.get("node_thrashing_episodes"), None);
    assert_eq!(s.peaks["nodes_thrashing"], 0.0);
    assert_eq!(s.peaks["nodes_not_ready"], 0.0);
    // The same leak as in the thrashing test, held at a 1Gi limit.
    let limited = THRASH_WORKLOADS.replace(
        "containers: [{name: c, image: x}]",
        "containers: [{name: c, image: x, resources: {limits: {memory: 1Gi}}}]",
    );
    let path = scenario(
        "limited",
        &[
            (
                "scenario.yaml",
                &thrash_scenario("12m", "480Mi", "{memoryThrashing: {memoryAvailable: 2Gi}}"),
            ),
            ("workloads.yaml", &limited),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    assert!(s.totals["pods_oom_killed"] >= 1, "{log:#?}");
    assert!(events_of(&log, "NodeThrashing").is_empty(), "{log:#?}");
    assert_eq!(s.peaks["nodes_not_ready"], 0.0);
}

/// Six BestEffort leaking replicas (256Mi, 24Mi a minute each) spread over a 3Gi node and two
/// 4Gi nodes whose reclaim thrashes below 512Mi of `memory.available` (the machines' own
/// figure, above the kubelet's default 100Mi hard threshold, which is left as it is).
const CASCADE_WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: leak}\nspec:\n  replicas: 6\n  selector: {matchLabels: {app: leak}}\n  template:\n    metadata: {labels: {app: leak}}\n    spec:\n      containers: [{name: c, image: x}]\n";

fn cascade_scenario(parameters: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 80m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: small, count: 1, zones: [a], allocatable: {{cpu: \"4\", memory: 3Gi, pods: \"110\"}}}}\n    - {{namePrefix: big, count: 2, zones: [a], allocatable: {{cpu: \"4\", memory: 4Gi, pods: \"110\"}}}}\n    manifests: [workloads.yaml]\n  behaviours:\n  - selector: {{matchLabels: {{app: leak}}}}\n    memory: {{start: 256Mi, growthPerMinute: 24Mi}}\n  parameters: {parameters}\n"
    )
}

/// The node each pod was bound to ("Successfully assigned NS/NAME to NODE").
fn bindings(log: &[String]) -> BTreeMap<String, String> {
    events_of(log, "Scheduled")
        .into_iter()
        .map(|(_, o, m)| (o, format!("node/{}", m.rsplit(' ').next().unwrap())))
        .collect()
}

/// When `node`'s `memory.available` first falls below `threshold` MiB, from the pods that
/// started on it (each `start` 256Mi, growing 24Mi a minute) and its capacity in MiB: the
/// instant, worked out from the Started events alone.
fn crossing(log: &[String], node: &str, capacity: f64, threshold: f64, before: f64) -> f64 {
    let bound = bindings(log);
    let starts: Vec<f64> = events_of(log, "Started")
        .into_iter()
        .filter(|(t, o, _)| *t < before && bound.get(o).map(String::as_str) == Some(node))
        .map(|(t, _, _)| t)
        .collect();
    // capacity - sum(256 + 24 (t - s) / 60) = threshold, for t after every start.
    let n = starts.len() as f64;
    let sum: f64 = starts.iter().sum();
    (capacity - threshold - 256.0 * n + 0.4 * sum) / (0.4 * n)
}

/// docs/kubernetes.md#a-thrashing-node, the cascade the issue describes: the smallest node
/// fills first and thrashes, goes NotReady, and after the default 300 s toleration its pods
/// are evicted by the taint manager; their replacements go to the two other nodes, where they
/// add their leak to the pods already there, and both go the same way sooner than their own
/// pods would take them. Nothing is scripted: the leak rate, the node sizes and the default
/// thresholds and tolerations decide. Against the same run with the unreachable toleration
/// long enough that no pod moves, the big nodes thrash 8 minutes later, at the instant their
/// own pods alone give.
#[test]
fn a_thrashing_nodes_pods_move_on_and_take_the_next_nodes_down() {
    let thrash = "{memoryThrashing: {memoryAvailable: 512Mi}}";
    let path = scenario(
        "cascade",
        &[
            ("scenario.yaml", &cascade_scenario(thrash)),
            ("workloads.yaml", CASCADE_WORKLOADS),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    let thrashes = events_of(&log, "NodeThrashing");
    // The small node first (capacity 3Gi + 100Mi, two leaking pods).
    let (t_small, first, _) = thrashes[0].clone();
    assert_eq!(first, "node/small-0", "{thrashes:?}");
    let expected = crossing(&log, "node/small-0", 3072.0 + 100.0, 512.0, t_small) + 10.0;
    assert!((t_small - expected).abs() < 0.05, "{t_small} vs {expected}");
    let (t_not_ready, _, why) = events_of(&log, "NodeNotReady")[0].clone();
    assert_eq!(why, "Kubelet stopped posting node status.");
    assert!(t_not_ready > t_small && t_not_ready <= t_small + 55.0);
    // The taint manager evicts its two pods once the default 300 s toleration has run out,
    // and the replicas' replacements are bound to the big nodes.
    let bound = bindings(&log);
    let evicted: Vec<_> = events_of(&log, "TaintManagerEviction")
        .into_iter()
        .filter(|(t, _, _)| *t < t_not_ready + 400.0)
        .collect();
    assert_eq!(evicted.len(), 2, "{evicted:?}");
    for (t, pod, _) in &evicted {
        assert_eq!(bound[pod], "node/small-0");
        assert!(
            *t >= t_not_ready + 300.0 && *t <= t_not_ready + 310.0,
            "{t}"
        );
    }
    let t_evicted = evicted[0].0;
    let moved: Vec<_> = events_of(&log, "Scheduled")
        .into_iter()
        .filter(|(t, _, _)| *t >= t_evicted && *t < t_evicted + 5.0)
        .map(|(_, o, _)| bound[&o].clone())
        .collect();
    assert_eq!(moved.len(), 2);
    assert!(
        moved.iter().all(|n| n.starts_with("node/big-")),
        "{moved:?}"
    );
    // Both big nodes then thrash and go NotReady, each at the instant its pods (its own two
    // and the one moved to it) give, before the small node is back.
    for big in ["node/big-0", "node/big-1"] {
        let (t, _, _) = thrashes
            .iter()
            .find(|(_, o, _)| o == big)
            .unwrap_or_else(|| panic!("{big} never thrashed: {thrashes:?}"))
            .clone();
        let with_moved = crossing(&log, big, 4096.0 + 100.0, 512.0, t) + 10.0;
        assert!((t - with_moved).abs() < 0.05, "{big}: {t} vs {with_moved}");
        let own_only = crossing(&log, big, 4096.0 + 100.0, 512.0, t_evicted) + 10.0;
        assert!(own_only - t > 400.0, "{big}: {t}, alone {own_only}");
        assert!(events_of(&log, "NodeNotReady")
            .iter()
            .any(|(tn, o, _)| o == big && *tn > t && *tn <= t + 55.0));
    }
    assert!(s.totals["node_thrashing_episodes"] >= 3);
    assert!(s.peaks["nodes_not_ready"] >= 2.0);
    // The kubelet's own 100Mi threshold is never met: each node stalls before it.
    assert_eq!(s.totals.get("pods_evicted_node_pressure"), None);

    // Counterfactual: pods tolerate an unreachable node for an hour, so none moves; the big
    // nodes thrash only when their own pods take them there.
    let path = scenario(
        "cascade-still",
        &[
            (
                "scenario.yaml",
                &cascade_scenario(
                    "{memoryThrashing: {memoryAvailable: 512Mi}, nodeLifecycle: {defaultUnreachableTolerationSeconds: 3600}}",
                ),
            ),
            ("workloads.yaml", CASCADE_WORKLOADS),
        ],
    );
    let (_, still, _) = run(&path, &[]);
    assert!(events_of(&still, "TaintManagerEviction").is_empty());
    for big in ["node/big-0", "node/big-1"] {
        let (t, _, _) = events_of(&still, "NodeThrashing")
            .into_iter()
            .find(|(_, o, _)| o == big)
            .unwrap();
        let own = crossing(&still, big, 4096.0 + 100.0, 512.0, t) + 10.0;
        assert!((t - own).abs() < 0.05, "{big}: {t} vs {own}");
        let (cascaded, _, _) = thrashes.iter().find(|(_, o, _)| o == big).unwrap();
        assert!(t - cascaded > 400.0, "{big}: {t} against {cascaded}");
    }
}

/// With every default (the kubelet's 100Mi hard threshold polled every 10 s, thrashing below
/// 50Mi after 10 s), no leak that grows at a steady rate thrashes, however fast: below 5 MiB/s
/// a pass finds the node under 100Mi and evicts before memory has been under 50Mi for 10 s;
/// above it, memory falls from 50Mi to nothing in under 10 s and the kernel's OOM killer ends
/// the leak first (docs/kubernetes.md#a-thrashing-node). Between the two the kubelet or the
/// kernel acts, at every rate.
#[test]
fn with_the_default_thresholds_a_steady_leak_never_thrashes() {
    for growth in ["48Mi", "240Mi", "300Mi", "360Mi", "1Gi", "4Gi"] {
        let sc = cascade_scenario("{}")
            .replace("24Mi", growth)
            .replace("80m", "40m");
        let path = scenario(
            &format!("defaults-{growth}"),
            &[
                ("scenario.yaml", &sc),
                ("workloads.yaml", CASCADE_WORKLOADS),
            ],
        );
        let (s, log, _) = run(&path, &[]);
        assert!(events_of(&log, "NodeThrashing").is_empty(), "{growth}");
        assert_eq!(s.peaks["nodes_not_ready"], 0.0, "{growth}");
        let acted = s
            .totals
            .get("pods_evicted_node_pressure")
            .copied()
            .unwrap_or(0)
            + s.totals.get("node_oom_kills").copied().unwrap_or(0);
        assert!(acted >= 3, "{growth}: {:?}", s.totals);
    }
}

/// docs/kubernetes.md#node-memory-pressure: passes on a quiet node are put off to the first
/// instant of its own grid at which memory could reach a threshold. With the passes every
/// period, each eviction comes at the first pass strictly after memory.available falls below
/// 100Mi, and every pass is on the node's grid (its phase plus whole periods); the put-off
/// passes must give the same. Over eight seeds (eight phases): each leaking worker is evicted
/// within one period after the instant its growth crosses the threshold (worked out from its
/// Started event), and every eviction and MemoryPressure change of the run falls on one grid.
#[test]
fn put_off_passes_evict_at_the_pass_a_pass_every_period_would() {
    let path = scenario(
        "put-off",
        &[
            ("scenario.yaml", &leak_scenario("256Mi")),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let mut phases = Vec::new();
    for seed in 1..=8 {
        let r = common::run(&path, None, &[], Some(seed));
        let log = r.events;
        let started: Vec<(f64, String, String)> = events_of(&log, "Started")
            .into_iter()
            .filter(|(_, o, _)| o.starts_with("pod/default/leak-"))
            .collect();
        let evicted = events_of(&log, "Evicted");
        assert!(evicted.len() >= 2, "seed {seed}: {evicted:?}");
        for (t, pod, _) in &evicted {
            // 4Gi + 100Mi of capacity, the database's 1Gi and the worker's 256Mi at its start:
            // 2816Mi to go at 256Mi a minute, 660 s.
            let (t_start, _, _) = started.iter().find(|(_, o, _)| o == pod).unwrap();
            let crossing = t_start + 660.0;
            assert!(
                *t > crossing && *t <= crossing + 10.0 + 1e-6,
                "seed {seed}: {pod} evicted at {t}, threshold crossed at {crossing}"
            );
        }
        // One grid per node: every pass's outcome at the phase plus whole periods.
        let t0 = evicted[0].0;
        let on_grid = |t: f64| {
            let k = ((t - t0) / 10.0).round();
            ((t - t0) - 10.0 * k).abs() < 1e-3
        };
        for kind in [
            "Evicted",
            "NodeHasInsufficientMemory",
            "NodeHasSufficientMemory",
        ] {
            for (t, _, _) in events_of(&log, kind) {
                assert!(
                    on_grid(t),
                    "seed {seed}: {kind} at {t}, off the grid of {t0}"
                );
            }
        }
        phases.push(format!("{:.3}", t0 % 10.0));
    }
    // The seeds did give different phases.
    phases.sort_unstable();
    phases.dedup();
    assert!(phases.len() >= 6, "{phases:?}");
}

/// One BestEffort API replica behind a service on a 2Gi node, and the retry storm of
/// scenarios/retry-storm.yaml: a minute at a third of its speed from 5m piles thousands of
/// requests into the replica (docs/kubernetes.md#memory-per-request).
const API: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: c, image: x}]\n";

fn pile_up_scenario(memory: &str) -> String {
    format!(
        "apiVersion: cascade.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: t}}\nspec:\n  duration: 15m\n  cluster:\n    nodeGroups:\n    - {{namePrefix: n, count: 1, allocatable: {{cpu: \"8\", memory: 2Gi, pods: \"110\"}}}}\n    manifests: [api.yaml]\n  services:\n    api:\n      selector: {{matchLabels: {{app: api}}}}\n      workersPerReplica: 10\n      serviceSeconds: 0.1\n      queueCapacity: 10000\n      memoryPerRequest: 1Mi\n  clients:\n    users:\n      target: api\n      ratePerSecond: 80\n      timeoutSeconds: 1\n      maxRetries: 3\n      backoff: {{initialSeconds: 0.025, maxSeconds: 0.25, multiplier: 2}}\n      startSeconds: 60\n  faults:\n  - at: 5m\n    duration: 1m\n    serviceDegraded: api\n    degradation: {{serviceTimeFactor: 3}}\n  behaviours:\n  - selector: {{matchLabels: {{app: api}}}}\n    memory: {memory}\n"
    )
}

/// The number after `key` in an event line.
fn number_after(line: &str, key: &str) -> i64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn requests_piling_up_in_a_replica_take_its_node_out_of_memory() {
    const MI: i64 = 1 << 20;
    let path = scenario(
        "pile-up",
        &[
            (
                "scenario.yaml",
                &pile_up_scenario("{start: 256Mi, perRequest: 1Mi}"),
            ),
            ("api.yaml", API),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    let oom = s.totals.get("node_oom_kills").copied().unwrap_or(0);
    let evicted = s
        .totals
        .get("pods_evicted_node_pressure")
        .copied()
        .unwrap_or(0);
    assert!(oom + evicted >= 1, "{:#?}", s.totals);
    // Nothing before the storm: at 80 requests a second against 100 the replica holds a few.
    let first = log
        .iter()
        .find(|l| l.contains("\"SystemOOM\"") || l.contains("\"Evicted\""))
        .unwrap();
    assert!(time_of(first) > 300.0, "{first}");
    // What the pod was using is its start plus 1Mi for each request in it, exactly.
    for l in log.iter().filter(|l| l.contains("\"SystemOOM\"")) {
        let usage = number_after(l, "(using ");
        let capacity = number_after(l, " of ");
        assert_eq!((usage - 256 * MI) % MI, 0, "{l}");
        // The kernel acts at the request that fills the node, not at a later pass: the
        // services say when the count that fills it is reached.
        assert!(
            usage >= capacity && usage < capacity + MI,
            "usage {usage} against capacity {capacity}: {l}"
        );
    }
    for l in log.iter().filter(|l| l.contains("\"Evicted\"")) {
        let usage = number_after(l, "the pod was using ");
        assert_eq!((usage - 256 * MI) % MI, 0, "{l}");
        assert!(usage > 256 * MI, "{l}");
    }
    // The same storm with memory that does not follow the requests: the node never notices.
    let path = scenario(
        "no-pile-up",
        &[
            ("scenario.yaml", &pile_up_scenario("{start: 256Mi}")),
            ("api.yaml", API),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    assert_eq!(s.totals.get("node_oom_kills"), None, "{log:#?}");
    assert_eq!(s.totals.get("pods_evicted_node_pressure"), None);
}

#[test]
fn a_memory_spike_past_the_nodes_memory_meets_the_kernels_oom_killer_when_it_starts() {
    // The worker uses 256Mi and spikes by 4Gi for a minute, first 10 minutes after it
    // starts and every 20 minutes: on a 4Gi node beside the 1Gi database, the kernel ends
    // it at the spike's start (a pass 10 s later would be too late).
    let scenario_text = leak_scenario("0").replace(
        "memory: {start: 256Mi, growthPerMinute: 0}",
        "memory: {start: 256Mi, spike: {size: 4Gi, atSeconds: 600, periodSeconds: 1200, durationSeconds: 60}}",
    );
    assert!(scenario_text.contains("spike"));
    let path = scenario(
        "spike",
        &[
            ("scenario.yaml", &scenario_text),
            ("workloads.yaml", WORKLOADS),
        ],
    );
    let (s, log, _) = run(&path, &[]);
    assert!(
        s.totals.get("node_oom_kills").is_some_and(|n| *n >= 1),
        "{log:#?}"
    );
    let started = log
        .iter()
        .find(|l| l.contains("\"Started\"") && l.contains("pod/default/leak-"))
        .map(|l| time_of(l))
        .unwrap();
    let oom = log.iter().find(|l| l.contains("\"SystemOOM\"")).unwrap();
    assert!(oom.contains("victim pod default/leak-"), "{oom}");
    let killed = time_of(oom);
    assert!(
        (killed - (started + 600.0)).abs() < 0.01,
        "started {started}, killed {killed}"
    );
    // A smaller spike that fits: nothing.
    let fits = leak_scenario("0").replace(
        "memory: {start: 256Mi, growthPerMinute: 0}",
        "memory: {start: 256Mi, spike: {size: 1Gi, atSeconds: 600, periodSeconds: 1200, durationSeconds: 60}}",
    );
    let path = scenario(
        "spike-fits",
        &[("scenario.yaml", &fits), ("workloads.yaml", WORKLOADS)],
    );
    let (s, _, _) = run(&path, &[]);
    assert_eq!(s.totals.get("node_oom_kills"), None);
    assert_eq!(s.totals.get("pods_evicted_node_pressure"), None);
}
