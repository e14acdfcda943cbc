//! Prometheus' `calculateDesiredShards` (queue_manager.go), in the form of each
//! `prometheusVersion`: a pure function of the rates a server's queue manager has seen
//! (docs/cortex-and-prometheus.md#desired-shards).

use crate::config::{PrometheusVersion, RemoteWriteSpec};

/// What `calculateDesiredShards` reads, per server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShardInputs {
    /// The shard count now.
    pub current: u32,
    /// EWMA rates per second: samples appended, samples out (batches finished, success or
    /// not), seconds spent sending them (retries included).
    pub in_rate: f64,
    pub out_rate: f64,
    pub duration_rate: f64,
    /// Newest sample appended minus newest sample sent, in seconds.
    pub delay_seconds: f64,
    /// Seconds since the last successful send (None: never).
    pub since_last_success_seconds: Option<f64>,
}

/// The shard count `calculateDesiredShards` asks for, or None to keep the current one
/// (docs/cortex-and-prometheus.md#desired-shards). With `timePerSample` = duration / out and
/// `pending` = delay × in (cascade drops nothing by relabelling, so the kept ratio is 1):
/// - v2.11 (v2.8-v2.11): `timePerSample × pending`: the whole backlog, which grows with the
///   delay behind the WAL, sets the count;
/// - v2.16: `timePerSample × (in + 0.1 / shardUpdateDuration × pending)`, skipped when the
///   last successful send is older than 2 × batch_send_deadline (v2.14+), and never lower
///   while more than 10 s behind.
///
/// Both: nothing before a batch has finished (out rate 0); a count within the tolerance of
/// the current one is kept; the count is `ceil`ed and clamped to [min_shards, max_shards].
pub(crate) fn desired_shards(spec: &RemoteWriteSpec, x: &ShardInputs) -> Option<u32> {
    if x.out_rate <= 0.0 {
        return None;
    }
    let time_per_sample = x.duration_rate / x.out_rate;
    let pending = x.delay_seconds * x.in_rate;
    let desired = match spec.prometheus_version {
        PrometheusVersion::V2_11 => time_per_sample * pending,
        PrometheusVersion::V2_16 => {
            let stale = 2.0 * spec.batch_send_deadline_seconds;
            if x.since_last_success_seconds.is_none_or(|d| d > stale) {
                return None;
            }
            let gain = spec.pending_gain / spec.shard_update_seconds.max(1e-9);
            time_per_sample * (x.in_rate + gain * pending)
        }
    };
    let current = f64::from(x.current);
    let lower = current * (1.0 - spec.shard_tolerance_fraction);
    let upper = current * (1.0 + spec.shard_tolerance_fraction);
    if desired >= lower && desired <= upper {
        return None;
    }
    // Prometheus' own `int(math.Ceil(desired))`, then clamped; the cast saturates.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let wanted = desired.ceil() as u32;
    if spec.prometheus_version == PrometheusVersion::V2_16
        && wanted < x.current
        && x.delay_seconds > 10.0
    {
        return None;
    }
    let shards = wanted.clamp(spec.min_shards, spec.max_shards);
    (shards != x.current).then_some(shards)
}

#[cfg(test)]
mod tests {
    use super::{desired_shards, ShardInputs};
    use crate::config::{PrometheusVersion, RemoteWriteSpec};

    fn spec(v: PrometheusVersion) -> RemoteWriteSpec {
        RemoteWriteSpec {
            prometheus_version: v,
            ..RemoteWriteSpec::default()
        }
    }

    /// 500 samples/s in and out, 0.25 s of sending per second: 0.5 ms a sample.
    fn inputs(delay: f64, since_success: Option<f64>) -> ShardInputs {
        ShardInputs {
            current: 4,
            in_rate: 500.0,
            out_rate: 500.0,
            duration_rate: 0.25,
            delay_seconds: delay,
            since_last_success_seconds: since_success,
        }
    }

    #[test]
    fn v2_11_sizes_the_shards_to_the_whole_backlog() {
        let s = spec(PrometheusVersion::V2_11);
        // 40 s behind: pending 40 x 500 = 20,000; 0.0005 x 20,000 = 10.
        assert_eq!(desired_shards(&s, &inputs(40.0, Some(1.0))), Some(10));
        // No skip for want of a successful send in 2.11.
        assert_eq!(desired_shards(&s, &inputs(40.0, None)), Some(10));
        // 400 s behind: 100 shards; 4,000 s: 1,000, the max_shards clamp (not 1,001).
        assert_eq!(desired_shards(&s, &inputs(400.0, Some(1.0))), Some(100));
        assert_eq!(desired_shards(&s, &inputs(4002.0, Some(1.0))), Some(1000));
        // 10 s behind: 2.5 -> 3, below the tolerance band [2.8, 5.2]: 3.
        assert_eq!(desired_shards(&s, &inputs(10.0, Some(1.0))), Some(3));
        // 16 s: exactly 4, inside the band: kept.
        assert_eq!(desired_shards(&s, &inputs(16.0, Some(1.0))), None);
        // Nothing out yet: no decision.
        let mut x = inputs(40.0, Some(1.0));
        x.out_rate = 0.0;
        assert_eq!(desired_shards(&s, &x), None);
    }

    #[test]
    fn v2_16_sizes_the_shards_to_the_incoming_rate_plus_a_hundredth_of_the_backlog() {
        let s = spec(PrometheusVersion::V2_16);
        // 10 ms a sample: 0.01 x (500 + 0.01 x 40 x 500) = 7 (2.11 would ask for 200).
        let slow = |delay, since| ShardInputs {
            duration_rate: 5.0,
            ..inputs(delay, since)
        };
        assert_eq!(desired_shards(&s, &slow(40.0, Some(1.0))), Some(7));
        assert_eq!(
            desired_shards(&spec(PrometheusVersion::V2_11), &slow(40.0, Some(1.0))),
            Some(200)
        );
        // The last successful send older than 2 x batch_send_deadline (10 s): skipped.
        assert_eq!(desired_shards(&s, &slow(40.0, Some(10.5))), None);
        assert_eq!(desired_shards(&s, &slow(40.0, None)), None);
        // Fewer shards are wanted (0.0005 x 700 = 0.35 -> 1) but 40 s behind: kept.
        assert_eq!(desired_shards(&s, &inputs(40.0, Some(1.0))), None);
        // 5 s behind: 0.0005 x 525 = 0.2625 -> 1.
        assert_eq!(desired_shards(&s, &inputs(5.0, Some(1.0))), Some(1));
    }

    #[test]
    fn versions_read_as_written_and_others_are_refused() {
        for (text, v) in [
            ("2.11", PrometheusVersion::V2_11),
            ("v2.8", PrometheusVersion::V2_11),
            ("2.10", PrometheusVersion::V2_11),
            ("2.16", PrometheusVersion::V2_16),
        ] {
            assert_eq!(PrometheusVersion::parse(text), Some(v), "{text}");
        }
        for text in ["2.12", "2.15", "2.45", "3.0", ""] {
            assert_eq!(PrometheusVersion::parse(text), None, "{text}");
        }
        assert_eq!(
            RemoteWriteSpec::default().prometheus_version,
            PrometheusVersion::V2_16
        );
    }
}
