//! metrics.om: the sampled series as OpenMetrics text, one family per metrics.csv column with
//! `# TYPE`, `# UNIT` and `# HELP` from the catalog, every sample labelled with its run
//! (`scenario`, `variant`, `seed`) and timestamped in seconds from `start_unix`, loadable with
//! `promtool tsdb create-blocks-from openmetrics`. Runs of one scenario (the outage and its
//! mitigation, several seeds) backfilled into one Prometheus stay apart by their labels.

use super::catalog::{family, Kind};
use super::Metrics;
use std::fmt::Write as _;

/// What tells one run's series from another's.
#[derive(Clone, Debug)]
pub struct RunLabels<'a> {
    pub scenario: &'a str,
    /// Empty for the scenario without a variant (Prometheus reads an empty label as absent).
    pub variant: &'a str,
    pub seed: u64,
}

/// OpenMetrics escaping of a label value: backslash, double quote, line feed.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The series as OpenMetrics text.
pub fn metrics_openmetrics(m: &Metrics, start_unix: f64, run: &RunLabels<'_>) -> String {
    let mut out = String::new();
    let labels = format!(
        "{{scenario=\"{}\",variant=\"{}\",seed=\"{}\"}}",
        label_value(run.scenario),
        label_value(run.variant),
        run.seed
    );
    for (i, c) in m.columns.iter().enumerate() {
        let f = family(c);
        let name = format!("cascade_{}", f.name);
        let sample = match f.kind {
            Kind::Counter => format!("{name}_total"),
            Kind::Gauge => name.clone(),
        };
        let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
        let _ = writeln!(out, "# UNIT {name} {}", f.unit);
        let _ = writeln!(out, "# HELP {name} {}", label_value(&f.help));
        for (t, row) in &m.rows {
            let _ = writeln!(
                out,
                "{sample}{labels} {} {:.3}",
                row[i],
                start_unix + t.as_secs_f64()
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_engine::Time;

    #[test]
    fn families_are_typed_labelled_and_described() {
        let mut m = Metrics::default();
        for s in [0.0, 10.0] {
            m.sample(
                Time::from_secs_f64(s),
                vec![
                    ("nodes".into(), 3.0),
                    ("pods_created_total".into(), s),
                    ("proxy_latency_p99_seconds".into(), 0.25),
                ],
            );
        }
        let run = RunLabels {
            scenario: "x\"y",
            variant: "fix",
            seed: 7,
        };
        let om = metrics_openmetrics(&m, 1000.0, &run);
        let l = "{scenario=\"x\\\"y\",variant=\"fix\",seed=\"7\"}";
        assert!(om.contains("# TYPE cascade_nodes gauge\n# UNIT cascade_nodes \n# HELP cascade_nodes Nodes in the cluster.\n"), "{om}");
        assert!(
            om.contains(&format!("cascade_nodes{l} 3 1010.000\n")),
            "{om}"
        );
        assert!(om.contains("# TYPE cascade_pods_created counter\n"), "{om}");
        assert!(
            om.contains(&format!("cascade_pods_created_total{l} 10 1010.000\n")),
            "{om}"
        );
        assert!(
            om.contains("# UNIT cascade_proxy_latency_p99_seconds seconds\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));
    }
}
