//! The 1-minute rates behind `peaks.{service}_qps_1m` and `_qps_ratio`: the steady baseline
//! before the first change or fault, and the surge's peak after it
//! (docs/services.md#qps-ratio). Pure functions of the arrivals per window.

use cascade_engine::Time;

/// How the 1-minute rates behind `peaks.{service}_qps_1m` and `_qps_ratio` are measured
/// (docs/services.md#qps-ratio).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateWindows {
    /// The window, in seconds (aligned on the start of the run).
    pub seconds: f64,
    /// The surge's peak is taken up to here (None: the end of the run).
    pub surge_until: Option<Time>,
    /// How far from their mean the baseline's windows may be for it to be steady.
    pub steady_tolerance: f64,
}

/// A service's 1-minute rates: the steady baseline before the first change or fault, and the
/// surge's peak after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Surge {
    /// The mean rate of the baseline's windows, and whether it is steady.
    pub baseline: f64,
    pub steady: bool,
    /// The baseline's lowest and highest window, and how many windows it has.
    pub baseline_range: (f64, f64),
    pub baseline_windows: usize,
    /// The highest window rate from the first change or fault to the end of the surge.
    pub peak: f64,
}

impl Surge {
    /// Peak over baseline, if the baseline is steady.
    pub fn ratio(&self) -> Option<f64> {
        (self.steady && self.baseline > 0.0).then(|| self.peak / self.baseline)
    }
}

/// The surge of one service from its arrivals per window. Windows count whole: a baseline
/// window lies in [from, until], a surge window starts at or after `until`'s window and ends
/// by `surge_end`.
// Window counts and indices are small whole numbers: the casts are exact.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
pub(crate) fn surge(
    arrivals: &[u64],
    w: RateWindows,
    from: Time,
    until: Time,
    surge_end: Time,
) -> Surge {
    let width = w.seconds;
    let (from, until, end) = (
        from.as_secs_f64(),
        until.as_secs_f64(),
        surge_end.as_secs_f64(),
    );
    let n_windows = (end / width).floor() as usize;
    let rate = |i: usize| arrivals.get(i).copied().unwrap_or(0) as f64 / width;
    let mut base = Vec::new();
    let mut peak = 0.0f64;
    // Without a change or fault before the end, the surge is the whole measured run.
    let surge_from = if until < end { until } else { from };
    for i in 0..n_windows {
        let (start, stop) = (i as f64 * width, (i + 1) as f64 * width);
        if start >= from && stop <= until {
            base.push(rate(i));
        }
        if stop > surge_from {
            peak = peak.max(rate(i));
        }
    }
    let mean = if base.is_empty() {
        0.0
    } else {
        base.iter().sum::<f64>() / base.len() as f64
    };
    let lo = base.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = base.iter().copied().fold(0.0, f64::max);
    let steady = base.len() >= 2
        && mean > 0.0
        && lo >= mean * (1.0 - w.steady_tolerance)
        && hi <= mean * (1.0 + w.steady_tolerance);
    Surge {
        baseline: mean,
        steady,
        baseline_range: (if base.is_empty() { 0.0 } else { lo }, hi),
        baseline_windows: base.len(),
        peak,
    }
}
