//! The causal chain report.html tells: which change or fault set the run off, which health
//! signals left their steady state and in what order, whether the failure outlived its trigger
//! (a fault that ended while the signals stayed bad: the failure sustaining itself), and when,
//! if ever, they came back. Derived from the sampled series by rules that know what each
//! series means (which way is worse), never written by the scenario.

use super::html::Mark;
use super::Metrics;

/// Which way a health signal goes when things get worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Worse {
    Up,
    Down,
}

/// The health signals, by column name or suffix, and which way is worse. What is not here
/// (rates, counters, sizes) is load or bookkeeping, not health.
fn health(column: &str) -> Option<Worse> {
    const UP: &[&str] = &[
        "nodes_not_ready",
        "pods_pending",
        "write_error_ratio",
        "phantom_members",
        "api_clients_unsynced",
        "nodes_memory_pressure",
    ];
    const UP_SUFFIX: &[&str] = &["_sealed", "_calls_failed"];
    const DOWN_SUFFIX: &[&str] = &[
        "_ready_replicas",
        "_up_ratio",
        "_write_availability",
        "_active_ingesters",
        "_goodput_qps",
    ];
    if UP.contains(&column) || UP_SUFFIX.iter().any(|s| column.ends_with(s)) {
        Some(Worse::Up)
    } else if column == "pods_ready"
        || column == "apiserver_up"
        || column == "gossip_alive_members"
        || DOWN_SUFFIX.iter().any(|s| column.ends_with(s))
    {
        Some(Worse::Down)
    } else {
        None
    }
}

/// How far from its steady value a signal must move to count as departed: a fraction for
/// ratios (`_ratio`, `_availability`), else one unit or a tenth of the steady value.
fn departed(column: &str, worse: Worse, steady: f64, v: f64) -> bool {
    let margin = if column.ends_with("_ratio") || column.ends_with("_availability") {
        0.01
    } else {
        (0.1 * steady.abs()).max(1.0)
    };
    match worse {
        Worse::Up => v >= steady + margin,
        Worse::Down => v <= steady - margin,
    }
}

/// Whether samples `k` and `k + 1` both exist and are both `b` (bad or good): two samples
/// running, the chain's unit of a departure and of a return.
fn two_running(bad: &[bool], k: usize, b: bool) -> bool {
    bad.get(k) == Some(&b) && bad.get(k + 1) == Some(&b)
}

/// The sample from which the run's failure is looked for. An episode in which health left
/// its steady state (two bad samples running, any signal) and came all the way back (two good
/// samples running) before a later change or fault began, with another episode after it, was
/// that earlier mark's passing effect (a rollout's pending pods), not the failure: the search
/// starts after it.
fn failure_start(any_bad: &[bool], times: &[f64], marks: &[Mark]) -> usize {
    let pair = |k: usize, b: bool| two_running(any_bad, k, b);
    let mut from = 0;
    loop {
        let Some(k) = (from..any_bad.len()).find(|&k| pair(k, true)) else {
            return from;
        };
        let Some(back) = (k + 2..any_bad.len()).find(|&j| pair(j, false)) else {
            return k;
        };
        let later_mark = marks.iter().any(|m| m.at > times[back]);
        let later_episode = (back..any_bad.len()).any(|j| pair(j, true));
        if !(later_mark && later_episode) {
            return k;
        }
        from = back;
    }
}

/// One step of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: f64,
    pub what: String,
}

/// The chain of one run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Chain {
    /// The change or fault in force when the first signal departed.
    pub trigger: Option<Step>,
    /// Each signal's departure from its steady value, in time order.
    pub effects: Vec<Step>,
    /// A fault that ended while signals stayed departed: the failure sustaining itself.
    pub sustained: Option<Step>,
    /// When every departed signal was back, or `None` if some never came back.
    pub recovered: Option<Step>,
}

/// Samples taken before the first change or fault are the steady state (the last one of them);
/// a run with a change at 0 takes its first sample.
pub fn derive(m: &Metrics, marks: &[Mark]) -> Chain {
    let first_mark = marks.iter().map(|k| k.at).fold(f64::INFINITY, f64::min);
    let steady_row = m
        .rows
        .iter()
        .rposition(|(t, _)| t.as_secs_f64() < first_mark)
        .unwrap_or(0);
    let mut chain = Chain::default();
    let rows = m.rows.get(steady_row..).unwrap_or_default();
    let times: Vec<f64> = rows.iter().map(|(t, _)| t.as_secs_f64()).collect();
    // Each health signal's steady value and, per sample, whether it is out of its margin.
    let mut health_signals: Vec<(usize, &str, Worse, f64, Vec<bool>)> = Vec::new();
    for (i, c) in m.columns.iter().enumerate() {
        let Some(worse) = health(c) else { continue };
        let Some(steady) = rows.first().map(|(_, r)| r[i]) else {
            continue;
        };
        let bad = rows
            .iter()
            .map(|(_, r)| departed(c, worse, steady, r[i]))
            .collect();
        health_signals.push((i, c.as_ref(), worse, steady, bad));
    }
    let any_bad: Vec<bool> = (0..rows.len())
        .map(|r| health_signals.iter().any(|s| s.4[r]))
        .collect();
    let from = failure_start(&any_bad, &times, marks);
    // (column, departed at, back at, steady, worst)
    let mut signals: Vec<(&str, f64, Option<f64>, f64, f64)> = Vec::new();
    for (i, c, worse, steady, bad) in &health_signals {
        // Departed: out for two samples running (a rollout's one-sample dip is not a failure).
        let Some(k) = (from..bad.len()).find(|&k| two_running(bad, k, true)) else {
            continue;
        };
        // Back: the first sample from which it stays within its margin to the end.
        let back = bad
            .iter()
            .rposition(|b| *b)
            .and_then(|last| times.get(last + 1))
            .copied();
        let worst = rows[k..]
            .iter()
            .map(|(_, r)| r[*i])
            .fold(*steady, |w, v| match worse {
                Worse::Up => w.max(v),
                Worse::Down => w.min(v),
            });
        signals.push((c, times[k], back, *steady, worst));
    }
    signals.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    let Some(first) = signals.first().map(|s| s.1) else {
        return chain;
    };
    let trigger = marks
        .iter()
        .filter(|k| k.at <= first)
        .max_by(|a, b| a.at.total_cmp(&b.at));
    chain.trigger = trigger.map(|k| Step {
        at: k.at,
        what: k.text.clone(),
    });
    chain.effects = signals
        .iter()
        .map(|(c, at, _, steady, worst)| Step {
            at: *at,
            what: format!(
                "{c} left its steady {} (worst {})",
                super::readable(*steady, super::catalog::family(c).unit),
                super::readable(*worst, super::catalog::family(c).unit)
            ),
        })
        .collect();
    // A fault that ended with signals still out: the failure outlived its cause. Still out
    // means out at the first sample after the end: a sample at the end (or a column over the
    // interval up to it, `_up_ratio`) still shows the fault itself.
    if let Some(end) = trigger.and_then(|k| k.until) {
        let first_after = times.iter().copied().find(|&t| t > end);
        let still: Vec<&str> = signals
            .iter()
            .filter(|(_, at, back, _, _)| {
                *at <= end && back.is_none_or(|b| first_after.is_none_or(|f| b > f))
            })
            .map(|(c, ..)| *c)
            .collect();
        if !still.is_empty() && end < m.rows.last().map_or(0.0, |(t, _)| t.as_secs_f64()) {
            chain.sustained = Some(Step {
                at: end,
                what: format!(
                    "the fault ended and {} stayed out: the failure sustains itself",
                    still.join(", ")
                ),
            });
        }
    }
    if signals.iter().all(|(_, _, back, _, _)| back.is_some()) {
        let at = signals
            .iter()
            .filter_map(|(_, _, back, _, _)| *back)
            .fold(0.0, f64::max);
        chain.recovered = Some(Step {
            at,
            what: "every signal back at its steady value".into(),
        });
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_engine::Time;
    use std::borrow::Cow;

    fn series(points: &[(f64, f64, f64)]) -> Metrics {
        let mut m = Metrics::default();
        for (t, not_ready, ready) in points {
            m.sample(
                Time::from_secs_f64(*t),
                vec![
                    (Cow::Borrowed("nodes_not_ready"), *not_ready),
                    (Cow::Borrowed("pods_ready"), *ready),
                    (Cow::Borrowed("pods_created_total"), *t),
                ],
            );
        }
        m
    }

    fn fault(at: f64, until: f64) -> Mark {
        Mark {
            at,
            until: Some(until),
            text: "fault: serviceDown kafka".into(),
        }
    }

    #[test]
    fn a_failure_that_outlives_its_fault_is_said_to_sustain_itself() {
        let m = series(&[
            (0.0, 0.0, 100.0),
            (60.0, 0.0, 100.0),
            (120.0, 3.0, 90.0),
            (180.0, 5.0, 80.0),
            (240.0, 5.0, 80.0),
            (300.0, 4.0, 85.0),
        ]);
        let c = derive(&m, &[fault(90.0, 200.0)]);
        assert_eq!(c.trigger.as_ref().map(|s| s.at), Some(90.0));
        assert_eq!(c.effects.len(), 2, "counters are not health");
        assert!(c.effects[0]
            .what
            .starts_with("nodes_not_ready left its steady 0 (worst 5)"));
        assert_eq!(c.effects[0].at, 120.0);
        let s = c.sustained.expect("sustained");
        assert_eq!(s.at, 200.0);
        assert!(
            s.what.contains("nodes_not_ready, pods_ready stayed out"),
            "{}",
            s.what
        );
        assert_eq!(c.recovered, None);
    }

    #[test]
    fn a_failure_that_ends_with_its_fault_recovers_and_does_not_sustain() {
        let m = series(&[
            (0.0, 0.0, 100.0),
            (60.0, 0.0, 100.0),
            (120.0, 3.0, 90.0),
            (180.0, 3.0, 90.0),
            (240.0, 0.0, 100.0),
            (300.0, 0.0, 100.0),
        ]);
        let c = derive(&m, &[fault(90.0, 260.0)]);
        assert_eq!(c.effects.len(), 2);
        assert_eq!(c.sustained, None);
        assert_eq!(c.recovered.map(|s| s.at), Some(240.0));
        // One bad sample is a blip (a rollout's dip), not a departure.
        let blip = series(&[
            (0.0, 0.0, 100.0),
            (60.0, 0.0, 100.0),
            (120.0, 3.0, 90.0),
            (180.0, 0.0, 100.0),
        ]);
        assert_eq!(derive(&blip, &[fault(90.0, 200.0)]), Chain::default());
    }

    #[test]
    fn a_passing_excursion_before_a_later_mark_is_not_the_failure() {
        // A rollout at 30 s leaves pods pending for two samples and is over; the fault at
        // 250 s is what the run's failure follows.
        let m = series(&[
            (0.0, 0.0, 100.0),
            (60.0, 2.0, 100.0),
            (120.0, 2.0, 100.0),
            (180.0, 0.0, 100.0),
            (240.0, 0.0, 100.0),
            (300.0, 4.0, 80.0),
            (360.0, 5.0, 70.0),
        ]);
        let rollout = Mark {
            at: 30.0,
            until: None,
            text: "change: roll out".into(),
        };
        let c = derive(&m, &[rollout.clone(), fault(250.0, 330.0)]);
        assert_eq!(c.trigger.as_ref().map(|s| s.at), Some(250.0), "{c:?}");
        assert_eq!(c.effects[0].at, 300.0);
        assert!(c.sustained.is_some());
        // Without the later fault the excursion is the run's only departure, and it is kept.
        let c = derive(&m, &[rollout]);
        assert_eq!(c.effects[0].at, 60.0, "{c:?}");
    }

    /// A dependency's `_up_ratio` shows the fault itself, up to the sample at its end (the
    /// interval before it); back at the first sample after the end, it ended with its fault.
    /// A signal still out at that sample outlived it.
    #[test]
    fn a_signal_back_at_the_first_sample_after_the_fault_ended_with_it() {
        let mut m = Metrics::default();
        for (t, up, not_ready) in [
            (0.0, 1.0, 0.0),
            (60.0, 1.0, 0.0),
            (120.0, 0.0, 0.0),
            (180.0, 0.5, 2.0),
            (240.0, 0.0, 2.0),
            (300.0, 1.0, 2.0),
            (360.0, 1.0, 0.0),
            (420.0, 1.0, 0.0),
        ] {
            m.sample(
                Time::from_secs_f64(t),
                vec![
                    (Cow::Borrowed("kafka_up_ratio"), up),
                    (Cow::Borrowed("nodes_not_ready"), not_ready),
                ],
            );
        }
        let c = derive(&m, &[fault(60.0, 240.0)]);
        assert!(
            c.effects[0]
                .what
                .starts_with("kafka_up_ratio left its steady 100% (worst 0%)"),
            "{c:?}"
        );
        let s = c.sustained.expect("nodes_not_ready outlived the fault");
        assert!(
            s.what.contains("and nodes_not_ready stayed out"),
            "{}",
            s.what
        );
        assert_eq!(c.recovered.map(|s| s.at), Some(360.0));
    }

    #[test]
    fn a_quiet_run_has_no_chain() {
        let m = series(&[(0.0, 0.0, 100.0), (60.0, 0.0, 100.0), (120.0, 0.0, 100.0)]);
        assert_eq!(derive(&m, &[fault(30.0, 60.0)]), Chain::default());
    }
}
