//! How the services' figures in summary.json are measured (`parameters.serviceMetrics`), mapped
//! onto cascade-services' `ServicesConfig` by `Params::services_config`.

use cascade_services::ServicesConfig;
use serde::{Deserialize, Serialize};

/// How the services' figures in summary.json are measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceMetricsParams {
    /// The warm-up: service levels (`ratios.write_availability`, the ring's availability,
    /// `totals.write_outage_seconds`) are measured from this long after the start, and
    /// `peaks.{service}_qps_ratio` divides by the mean request rate from then until the first
    /// change or fault.
    pub baseline_warmup_seconds: f64,
    /// A sample interval counts towards `totals.write_outage_seconds` when more than this
    /// fraction of its remote_write requests failed (1%).
    pub outage_error_ratio: f64,
    /// The rate window of `peaks.{service}_qps_1m` and `_qps_ratio` (60 s, `rate(...[1m])`),
    /// independent of `sampleIntervalSeconds`.
    pub rate_window_seconds: f64,
    /// The surge's peak is taken from the first change or fault until this instant (absent:
    /// the end of the run): set it to the operators' fix so the replay is not the storm.
    pub surge_until_seconds: Option<f64>,
    /// The baseline is steady when each of its rate windows is within this fraction of their
    /// mean (0.5) and it holds at least two; otherwise no ratio is given.
    pub steady_tolerance: f64,
}

impl Default for ServiceMetricsParams {
    fn default() -> Self {
        let d = ServicesConfig::default();
        ServiceMetricsParams {
            baseline_warmup_seconds: d.baseline_warmup_seconds,
            outage_error_ratio: d.outage_error_ratio,
            rate_window_seconds: d.rate_window_seconds,
            surge_until_seconds: d.surge_until_seconds,
            steady_tolerance: d.steady_tolerance,
        }
    }
}
