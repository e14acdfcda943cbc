//! Faults that say what users mean: nodes by selector and fraction, partitions of the pods'
//! network only, variants that leave faults out, and expectations on a window's low and mean.

use cascade_sim::output;
use std::collections::BTreeSet;
use std::path::PathBuf;

mod common;

fn scenario(name: &str, files: &[(&str, &str)]) -> PathBuf {
    common::scenario("faults", name, files)
}

fn run(
    path: &std::path::Path,
    variant: Option<&str>,
    seed: Option<u64>,
) -> (output::Summary, Vec<String>) {
    let r = common::run(path, variant, &[], seed);
    (r.summary, r.events)
}

/// The objects of the events of `kind`.
fn objects(log: &[String], kind: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["object"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Ten blue nodes and four green ones, a web Deployment on them.
fn cluster(faults: &str, rest: &str) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 20m
  cluster:
    nodeGroups:
    - {{namePrefix: blue, count: 10, zones: [a, b], labels: {{pool: blue}}, allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}}}
    - {{namePrefix: green, count: 4, zones: [a], labels: {{pool: green}}, allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}}}
    manifests: [web.yaml]
  faults:
{faults}
{rest}"#
    )
}

const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 6\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: 100m}}}]\n";

#[test]
fn a_fraction_of_the_selected_nodes_goes_down_chosen_by_the_seed() {
    let sc = cluster(
        "  - {name: blue-loss, at: 1m, duration: 10m, nodeDown: {selector: {matchLabels: {pool: blue}}, fraction: 0.6}}",
        "",
    );
    let path = scenario("fraction", &[("scenario.yaml", &sc), ("web.yaml", WEB)]);
    let mut picks = BTreeSet::new();
    for seed in 0..6 {
        let (_, log) = run(&path, None, Some(seed));
        let down: BTreeSet<String> = objects(&log, "NodeNotReady").into_iter().collect();
        // ceil(0.6 x 10) = 6 of the blue nodes, none of the green ones.
        assert_eq!(down.len(), 6, "seed {seed}: {down:?}");
        assert!(down.iter().all(|n| n.starts_with("node/blue-")), "{down:?}");
        // The fault's end gives back exactly the nodes it took.
        let ready: BTreeSet<String> = objects(&log, "NodeReady").into_iter().collect();
        assert_eq!(ready, down, "seed {seed}");
        // The same seed, the same nodes.
        let (_, again) = run(&path, None, Some(seed));
        assert_eq!(again, log);
        picks.insert(down);
    }
    assert!(
        picks.len() > 1,
        "every seed picked the same nodes: {picks:?}"
    );
}

#[test]
fn a_partition_by_selector_and_a_pods_only_partition() {
    let sc = cluster(
        "  - {at: 1m, duration: 10m, partition: {selector: {matchLabels: {pool: green}}, fraction: 0.5}}\n  - {at: 1m, duration: 10m, partition: {selector: {matchLabels: {pool: blue}}, podsOnly: true}}",
        "",
    );
    let path = scenario("partition", &[("scenario.yaml", &sc), ("web.yaml", WEB)]);
    let (_, log) = run(&path, None, None);
    let down: BTreeSet<String> = objects(&log, "NodeNotReady").into_iter().collect();
    // Half of the green nodes lose the control plane; the blue nodes' kubelets keep posting
    // status through their pods' partition, so none of them goes NotReady.
    assert_eq!(down.len(), 2, "{down:?}");
    assert!(
        down.iter().all(|n| n.starts_with("node/green-")),
        "{down:?}"
    );
}

#[test]
fn a_variant_leaves_faults_out_by_name_or_index() {
    let sc = cluster(
        "  - {name: first, at: 1m, duration: 5m, nodeDown: blue-0}\n  - {at: 2m, duration: 5m, nodeDown: blue-1}",
        "  variants:\n    by-name: {skipFaults: [first]}\n    by-index: {skipFaults: [1], faults: [{at: 3m, duration: 5m, nodeDown: green-0}]}\n",
    );
    let path = scenario("skip", &[("scenario.yaml", &sc), ("web.yaml", WEB)]);
    let down = |v| objects(&run(&path, v, None).1, "NodeNotReady");
    assert_eq!(down(None), ["node/blue-0", "node/blue-1"]);
    assert_eq!(down(Some("by-name")), ["node/blue-1"]);
    assert_eq!(down(Some("by-index")), ["node/blue-0", "node/green-0"]);
}

#[test]
fn lows_and_means_read_a_window_of_a_column() {
    // Every node down from 5m to 10m: no pod Ready then.
    let sc = cluster(
        "  - {at: 5m, duration: 5m, nodeDown: {selector: {}}}",
        r#"  parameters: {nodeLifecycle: {defaultUnreachableTolerationSeconds: 3600}}
  expectations:
  - {name: ready all along, metric: lows.pods_ready, after: 2m, min: 1}
  - {name: ready before, metric: lows.pods_ready, after: 2m, before: 5m, min: 6}
  - {name: mean of nodes not ready, metric: means.nodes_not_ready, after: 0s, before: 20m, max: 14}
"#,
    );
    let path = scenario("lows", &[("scenario.yaml", &sc), ("web.yaml", WEB)]);
    let (s, _) = run(&path, None, None);
    let e = &s.expectations;
    assert_eq!(e[0].value, 0.0);
    assert!(!e[0].passed);
    assert_eq!(e[1].value, 6.0);
    assert!(e[1].passed);
    // 14 nodes NotReady from about 5m40s (the grace period and a monitor pass) to 10m: a
    // little under a quarter of 20 minutes at 14.
    let mean = e[2].value;
    assert!(
        mean > 14.0 * 4.0 / 20.0 && mean < 14.0 * 5.0 / 20.0,
        "{mean}"
    );
}

/// One 4-CPU node in an autoscaled group of up to 10, and 6 replicas of 3 CPU: 5 pending.
fn autoscaled(faults: &str, parameters: &str) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 45m
  cluster:
    nodeGroups:
    - {{namePrefix: pool, count: 1, zones: [a], minSize: 1, maxSize: 10, allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}}}
    manifests: [big.yaml]
  faults: {faults}
  parameters: {parameters}
"#
    )
}

const BIG: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big}\nspec:\n  replicas: 6\n  selector: {matchLabels: {app: big}}\n  template:\n    metadata: {labels: {app: big}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: \"3\"}}}]\n";

fn messages(log: &[String], kind: &str) -> Vec<(f64, String)> {
    log.iter()
        .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["t"].as_f64().unwrap(),
                v["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_stockout_fails_scale_ups_and_backs_the_group_off_exponentially() {
    let sc = autoscaled("[{at: 0s, duration: 40m, stockout: a}]", "{}");
    let path = scenario("stockout", &[("scenario.yaml", &sc), ("big.yaml", BIG)]);
    let (s, log) = run(&path, None, None);
    let failed = messages(&log, "FailedScaleUp");
    assert!(failed
        .iter()
        .all(|(_, m)| m.contains("ZONE_RESOURCE_POOL_EXHAUSTED")));
    // The five creates of a scale-up fail together: the first backs the group off for 5
    // minutes, the others (while it is backed off) keep 5; each later scale-up, asked once
    // the backoff has passed, doubles it: 10, 20 minutes (capped at 30).
    let mut durations: Vec<String> = failed
        .iter()
        .map(|(_, m)| m.rsplit("backed off for ").next().unwrap().to_string())
        .collect();
    durations.dedup();
    assert_eq!(durations[..3], ["300 s", "600 s", "1200 s"], "{failed:?}");
    // No scale-up while backed off: the second starts after the first backoff has passed.
    let ups = messages(&log, "TriggeredScaleUp");
    assert!(ups[1].0 - failed[0].0 >= 300.0, "{ups:?} {failed:?}");
    assert_eq!(s.totals["nodes_added"], 1);
    // Once the zone has capacity again, the group's next scale-up places every pod.
    let (s, _) = run(
        &scenario(
            "stockout-ends",
            &[
                (
                    "scenario.yaml",
                    &autoscaled("[{at: 0s, duration: 2m, stockout: a}]", "{}"),
                ),
                ("big.yaml", BIG),
            ],
        ),
        None,
        None,
    );
    assert_eq!(s.totals["nodes_added"], 1 + 5);
}

#[test]
fn max_nodes_total_caps_and_unregistered_nodes_time_out() {
    let sc = autoscaled("[]", "{clusterAutoscaler: {maxNodesTotal: 3}}");
    let path = scenario("max-total", &[("scenario.yaml", &sc), ("big.yaml", BIG)]);
    let (s, _) = run(&path, None, None);
    assert_eq!(s.totals["nodes_added"], 3);
    // One create at a time, 10 minutes each: the fifth node cannot register within the
    // 15 minutes of --max-node-provision-time, nor can the third.
    let sc = autoscaled(
        "[]",
        "{cloud: {maxConcurrentCreates: 1}, clusterAutoscaler: {provisioningSeconds: 600}}",
    );
    let path = scenario("timeout", &[("scenario.yaml", &sc), ("big.yaml", BIG)]);
    let (_, log) = run(&path, None, None);
    let timed_out = messages(&log, "FailedScaleUp");
    assert!(!timed_out.is_empty());
    assert!(
        timed_out[0].1.starts_with("ScaleUpTimedOut"),
        "{timed_out:?}"
    );
    // Asked at the first scan (10 s), timed out at the first scan 15 minutes later.
    assert!((910.0..=920.0).contains(&timed_out[0].0), "{timed_out:?}");
}

/// Two 8-CPU nodes, n-0 in zone a and n-1 in zone b, four replicas of 3 CPU (two a node), and
/// a node repair that replaces a node NotReady for 2 minutes.
fn zone_fault(faults: &str, parameters: &str) -> String {
    format!(
        r#"apiVersion: cascade.dev/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  duration: 40m
  cluster:
    nodeGroups:
    - {{namePrefix: n, count: 2, zones: [a, b], allocatable: {{cpu: "8", memory: 16Gi, pods: "110"}}}}
    manifests: [work.yaml]
  faults: {faults}
  parameters: {parameters}
"#
    )
}

const WORK: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: work}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: work}}\n  template:\n    metadata: {labels: {app: work}}\n    spec:\n      containers: [{name: c, image: x, resources: {requests: {cpu: \"3\"}}}]\n";

/// The pods bound to `node` within [from, to).
fn bound_to(log: &[String], node: &str, from: f64, to: f64) -> Vec<(f64, String)> {
    messages(log, "Scheduled")
        .into_iter()
        .filter(|(t, m)| *t >= from && *t < to && m.ends_with(&format!(" to {node}")))
        .collect()
}

/// When the events of `kind` on `object` happened.
fn times(log: &[String], kind: &str, object: &str) -> Vec<f64> {
    log.iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == kind && v["object"] == object)
        .map(|v| v["t"].as_f64().unwrap())
        .collect()
}

/// A repair's replacement for a node of a zone that is down, or partitioned, joins that zone
/// while the fault lasts: it is under the fault as every machine there is until the fault
/// ends, and only then takes the pods waiting for room. Having never posted status, it is
/// NotReady once its startup grace period (60 s) has run out; before that the not-ready
/// NoSchedule taint it was created with keeps pods off it
/// (docs/kubernetes.md#node-lifecycle-controller).
#[test]
fn a_node_joining_a_zone_under_a_fault_is_under_it_too() {
    let repair = "{nodeRepair: {enabled: true, notReadySeconds: 120}}";
    for fault in [
        "[{at: 1m, duration: 30m, zoneDown: a}]",
        "[{at: 1m, duration: 30m, partition: {zones: [a]}}]",
    ] {
        let path = scenario(
            "zone-join",
            &[
                ("scenario.yaml", &zone_fault(fault, repair)),
                ("work.yaml", WORK),
            ],
        );
        let (s, log) = run(&path, None, None);
        let end = 31.0 * 60.0;
        // The repair replaced n-0 (deleted, created again through the cloud) during the fault.
        let joined: Vec<f64> = messages(&log, "NodeAdded")
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| *t > 60.0 && *t < end)
            .collect();
        assert!(!joined.is_empty(), "{fault}: {log:#?}");
        assert!(s.totals["nodes_repaired"] >= 1);
        // Nothing is scheduled onto zone a's node while the fault lasts: the two replicas
        // n-0 held wait for room.
        let during = bound_to(&log, "n-0", 60.0, end);
        assert!(during.is_empty(), "{fault}: {during:?}");
        let under = messages(&log, "NodeJoinedUnderFault");
        assert_eq!(under.len(), joined.len(), "{fault}: {under:?}");
        assert!(under
            .iter()
            .all(|(_, m)| m.starts_with("fault/0: its zone is")));
        // Each replacement is NotReady once its startup grace period has run out (at the
        // first monitor pass, every 5 s, from then), and no node of zone a is Ready before the
        // fault ends; after it, n-0 is Ready again. (A replacement that joins less than that
        // before the fault ends is never NotReady.)
        let not_ready = times(&log, "NodeNotReady", "node/n-0");
        for t in joined.iter().filter(|t| **t + 65.0 < end) {
            assert!(
                not_ready.iter().any(|n| *n >= t + 60.0 && *n < t + 65.0)
                    && !not_ready.iter().any(|n| *n >= *t && *n < t + 60.0),
                "{fault}: joined at {t}, NotReady at {not_ready:?}"
            );
        }
        let ready = times(&log, "NodeReady", "node/n-0");
        assert!(ready.iter().all(|t| *t >= end), "{fault}: {ready:?}");
        assert!(!ready.is_empty(), "{fault}: {log:#?}");
        // Once it ends the node that is there comes back and takes them.
        let after = bound_to(&log, "n-0", end, 40.0 * 60.0);
        assert_eq!(after.len(), 2, "{fault}: {log:#?}");
    }
}

/// `nodeStartupGracePeriodSeconds` (60 s, kube-controller-manager `--node-startup-grace-period`,
/// v1.33): a node that joins a zone under a `zoneDown` has never posted status, so the node
/// lifecycle controller marks it NotReady ("Kubelet never posted node status.") that long after
/// it joined, rather than after `nodeMonitorGracePeriodSeconds` (50 s) or at once; overridden,
/// the wait follows.
#[test]
fn a_node_that_never_posted_status_is_not_ready_after_the_startup_grace_period() {
    let fault = "[{at: 1m, duration: 30m, zoneDown: a}]";
    for (grace, parameters) in [
        (60.0, "{nodeRepair: {enabled: true, notReadySeconds: 120}}"),
        (
            200.0,
            "{nodeRepair: {enabled: true, notReadySeconds: 120}, nodeLifecycle: {nodeStartupGracePeriodSeconds: 200}}",
        ),
    ] {
        let path = scenario(
            "startup-grace",
            &[
                ("scenario.yaml", &zone_fault(fault, parameters)),
                ("work.yaml", WORK),
            ],
        );
        let (_, log) = run(&path, None, None);
        let joined: Vec<f64> = messages(&log, "NodeAdded")
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| *t > 60.0 && *t < 31.0 * 60.0)
            .collect();
        assert!(!joined.is_empty(), "{log:#?}");
        let never: Vec<f64> = messages(&log, "NodeNotReady")
            .into_iter()
            .filter(|(_, m)| m == "Kubelet never posted node status.")
            .map(|(t, _)| t)
            .collect();
        // The first replacement: NotReady at the first monitor pass (every 5 s) once `grace`
        // has passed since it joined, never before.
        let first = joined[0];
        assert!(
            never.first().is_some_and(|n| *n >= first + grace && *n < first + grace + 5.0),
            "grace {grace}: joined at {first}, NotReady at {never:?}"
        );
    }
}

/// docs/control-plane-and-nodes.md#node-auto-repair, `action: reboot`: a node whose kernel
/// hangs (nodeDown for 30 minutes) is NotReady after the grace period; `notReadySeconds` later
/// (read at a monitor pass) the policy reboots it, the same machine, and `rebootSeconds` after
/// that its kubelet posts status again and the node is Ready, long before the hang would have
/// ended and before the 300 s toleration runs out, so none of its pods is evicted. Without the
/// policy it stays NotReady until the fault ends.
#[test]
fn a_reboot_repair_brings_the_same_node_back_after_its_reboot() {
    let fault = "[{at: 1m, duration: 30m, nodeDown: n-0}]";
    let repair =
        "{nodeRepair: {enabled: true, action: reboot, notReadySeconds: 120, rebootSeconds: 60}}";
    let path = scenario(
        "reboot",
        &[
            ("scenario.yaml", &zone_fault(fault, repair)),
            ("work.yaml", WORK),
        ],
    );
    let (s, log) = run(&path, None, None);
    let not_ready = times(&log, "NodeNotReady", "node/n-0");
    let t_down = not_ready[0];
    assert!(
        t_down > 60.0 && t_down <= 60.0 + 50.0 + 10.0 + 5.0,
        "{t_down}"
    );
    let repairs = times(&log, "NodeRepair", "node/n-0");
    assert_eq!(repairs.len(), 1, "{log:#?}");
    let t_repair = repairs[0];
    assert!(
        t_repair >= t_down + 120.0 && t_repair <= t_down + 125.0,
        "NotReady {t_down}, repair {t_repair}"
    );
    assert!(messages(&log, "NodeRepair")[0].1.ends_with("rebooting"));
    assert_eq!(s.totals["nodes_repaired"], 1);
    // The same machine: nothing deleted or added, no cloud request.
    assert!(messages(&log, "NodeAdded").iter().all(|(t, _)| *t == 0.0));
    assert!(times(&log, "NodeDeleted", "node/n-0").is_empty());
    // Ready once the reboot is over (its kubelet posts status at once; the controller reads it
    // at its next monitor pass).
    let ready = times(&log, "NodeReady", "node/n-0");
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!(
        ready[0] >= t_repair + 60.0 && ready[0] <= t_repair + 60.0 + 5.0 + 0.01,
        "repair {t_repair}, Ready {}",
        ready[0]
    );
    assert!(messages(&log, "TaintManagerEviction").is_empty());
    // The fault's end brings back a node that is already up: no second NotReady.
    assert_eq!(not_ready.len(), 1, "{not_ready:?}");

    // Without the policy: NotReady until the hang ends.
    let path = scenario(
        "no-reboot",
        &[
            ("scenario.yaml", &zone_fault(fault, "{}")),
            ("work.yaml", WORK),
        ],
    );
    let (_, log) = run(&path, None, None);
    let ready = times(&log, "NodeReady", "node/n-0");
    assert!(ready.iter().all(|t| *t >= 31.0 * 60.0), "{ready:?}");
    assert!(times(&log, "NodeRepair", "node/n-0").is_empty());
}
