//! metrics.om as Prometheus reads it: two runs of one scenario (the outage and its
//! mitigation) backfilled into one TSDB with `promtool tsdb create-blocks-from openmetrics`,
//! then found again with `promtool tsdb dump --match`, told apart by their labels.
//!
//! Needs promtool (Debian's `prometheus` package); without it the test says so and passes,
//! unless CASCADE_REQUIRE_PROMTOOL=1 (as `.ci/run` sets), when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CASCADE_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
            "CASCADE_REQUIRE_PROMTOOL=1 but promtool is not on PATH (apt-get install prometheus)"
        );
        eprintln!("NOTICE: promtool not found; the Prometheus backfill test is skipped");
    }
    found
}

fn cascade(args: &[&str], out: &Path) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .status()
        .unwrap()
        .code()
        .unwrap()
}

fn total(summary: &Path, name: &str) -> f64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    s["totals"][name].as_f64().unwrap()
}

#[test]
fn two_runs_backfilled_into_one_tsdb_stay_apart_by_their_labels() {
    let Some(promtool) = promtool() else { return };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-promtool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (outage, mitigation, tsdb) = (dir.join("outage"), dir.join("mitigation"), dir.join("tsdb"));
    let scenario = "scenarios/grafana-2019-preemption.yaml";
    assert_eq!(cascade(&[scenario], &outage), 1);
    assert_eq!(
        cascade(&[scenario, "--variant", "ingesters-high"], &mitigation),
        0
    );
    for run in [&outage, &mitigation] {
        let o = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(run.join("metrics.om"))
            .arg(&tsdb)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // promtool's dump opens the database as Prometheus would, WAL included.
    std::fs::create_dir_all(tsdb.join("wal")).unwrap();
    let o = Command::new(&promtool)
        .args(["tsdb", "dump", "--match=cascade_pods_preempted_total"])
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dump = String::from_utf8(o.stdout).unwrap();
    // Each line: `{labels} value timestamp`; the largest value of each series.
    let mut series: std::collections::BTreeMap<String, f64> = Default::default();
    for l in dump.lines() {
        let (labels, rest) = l.split_once("} ").unwrap();
        let v: f64 = rest.split(' ').next().unwrap().parse().unwrap();
        let m = series.entry(format!("{labels}}}")).or_insert(0.0);
        *m = m.max(v);
    }
    let base = r#"{__name__="cascade_pods_preempted_total", scenario="grafana-2019-preemption", seed="1"}"#;
    let variant = r#"{__name__="cascade_pods_preempted_total", scenario="grafana-2019-preemption", seed="1", variant="ingesters-high"}"#;
    let mut found: Vec<&str> = series.keys().map(String::as_str).collect();
    found.sort_by_key(|k| k.len());
    assert_eq!(found, [base, variant], "{dump}");
    // Both runs kept their own samples: each series ends at its own run's count.
    assert_eq!(
        series[base],
        total(&outage.join("summary.json"), "pods_preempted")
    );
    assert_eq!(
        series[variant],
        total(&mitigation.join("summary.json"), "pods_preempted")
    );
    assert_ne!(series[base], series[variant]);
    let _ = std::fs::remove_dir_all(&dir);
}
