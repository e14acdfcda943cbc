//! What the services report: a row of metrics.csv per sample, and summary.json's totals,
//! peaks and ratios. Closing a sample interval ([`ServiceMetrics::roll_interval`]) is the one
//! step that advances state: it turns the interval's counters into rates, keeps the peaks,
//! the steady-state baseline and the outage clock, and starts the next interval. Everything
//! else here only reads.

mod ratio;
mod surge;

use crate::clients::Clients;
use crate::endpoints::Endpoints;
use crate::ingesters::Rings;
use crate::remote_write::RemoteWrite;
use crate::service::Replica;
use cascade_engine::Time;
use cascade_ring::IngesterState;
pub use ratio::{Quotient, RatioParts};
pub(crate) use surge::RateWindows;
use surge::{surge, Surge};

/// Read access to the parts the reports are made of.
pub(crate) struct View<'a> {
    pub endpoints: &'a Endpoints,
    pub rings: &'a Rings,
    pub fleets: &'a RemoteWrite,
    pub clients: &'a Clients,
}

/// A service's levels: those of the last closed interval, and their peaks and baseline.
#[derive(Debug, Default, Clone)]
struct ServiceLevels {
    qps: f64,
    p50: f64,
    p99: f64,
    /// The share of the interval in which it took connections.
    up_ratio: f64,
    peak_qps: f64,
    peak_p99: f64,
}

/// A client's rates over the last closed interval, and how long it has been sealed.
#[derive(Debug, Default, Clone)]
struct ClientLevels {
    offered_qps: f64,
    goodput_qps: f64,
    calls_failed: u64,
    sealed_seconds: f64,
    /// A DNS client's lookups as the application sees them (docs/dns.md#lookup-latency).
    lookup_p50: f64,
    lookup_p99: f64,
}

/// The sample intervals and what is measured across them.
#[derive(Debug)]
pub(crate) struct ServiceMetrics {
    /// Service levels count from the end of the warm-up: a cluster that starts empty has no
    /// ring for its first minute, which is a boot, not an outage.
    baseline_from: Time,
    /// The steady-state window `peaks.*_qps_ratio` divides by ends here (the first change or
    /// fault).
    baseline_until: Time,
    windows: RateWindows,
    /// The failed fraction of remote_write requests above which an interval is an outage.
    outage_error_ratio: f64,
    /// When the last interval closed.
    last_roll: Option<Time>,
    services: Vec<ServiceLevels>,
    /// Per ring, the sum and count of its availability at each measured roll.
    ring_availability: Vec<(f64, u32)>,
    /// Per fleet, its request rate over the last closed interval.
    fleet_qps: Vec<f64>,
    write_error_ratio: f64,
    clients: Vec<ClientLevels>,
    write_outage_seconds: f64,
    outage_intervals: u32,
    sampled_intervals: u32,
}

impl ServiceMetrics {
    pub fn new(
        warmup: Time,
        outage_error_ratio: f64,
        windows: RateWindows,
        view: View<'_>,
    ) -> ServiceMetrics {
        ServiceMetrics {
            baseline_from: warmup,
            baseline_until: Time::MAX,
            windows,
            outage_error_ratio,
            last_roll: None,
            services: vec![ServiceLevels::default(); view.endpoints.len()],
            ring_availability: vec![(0.0, 0); view.rings.len()],
            fleet_qps: vec![0.0; view.fleets.len()],
            write_error_ratio: 0.0,
            clients: vec![ClientLevels::default(); view.clients.len()],
            write_outage_seconds: 0.0,
            outage_intervals: 0,
            sampled_intervals: 0,
        }
    }

    pub fn set_baseline_until(&mut self, until: Time) {
        self.baseline_until = until;
    }

    /// Closes the sample interval ending at `now`: the WALs and rings are brought up to now,
    /// each part's interval counters become rates (and restart from zero), and the peaks, the
    /// baseline, the ring availability and the outage clock take the interval in. The first
    /// call opens the first interval (rates 0).
    pub fn roll_interval(
        &mut self,
        now: Time,
        endpoints: &mut Endpoints,
        rings: &mut Rings,
        fleets: &mut RemoteWrite,
        clients: &mut Clients,
    ) {
        let span = self.last_roll.map_or(Time::ZERO, |t| now - t);
        let interval = span.as_secs_f64();
        self.last_roll = Some(now);
        let measured = now > self.baseline_from;
        let rate = |n: u64| {
            if interval > 0.0 {
                n as f64 / interval
            } else {
                0.0
            }
        };
        for (s, lv) in endpoints.iter_mut().zip(&mut self.services) {
            let qps = rate(s.stats.interval.arrivals);
            s.stats.interval.arrivals = 0;
            if interval > 0.0 {
                lv.peak_qps = lv.peak_qps.max(qps);
            }
            lv.qps = qps;
            lv.p50 = s.stats.interval.latency.quantile(0.5);
            lv.p99 = s.stats.interval.latency.quantile(0.99);
            s.stats.interval.latency.clear();
            lv.peak_p99 = lv.peak_p99.max(lv.p99);
            lv.up_ratio = s.roll_up_ratio(now, span);
        }
        rings.refresh(now);
        if measured {
            for (rt, (sum, n)) in rings.iter().zip(&mut self.ring_availability) {
                *sum += rt.availability();
                *n += 1;
            }
        }
        fleets.fill_all(now);
        // Failures over answers, both counted when the answer arrives: a request sent in one
        // interval and failing in the next counts in the next only, so the ratio is in [0, 1].
        let (mut failed, mut sent) = (0u64, 0u64);
        for (fleet, qps) in fleets.iter_mut().zip(&mut self.fleet_qps) {
            failed += fleet.interval_failed;
            sent += fleet.interval_answered;
            *qps = rate(fleet.interval_requests);
            fleet.interval_failed = 0;
            fleet.interval_answered = 0;
            fleet.interval_requests = 0;
        }
        if !fleets.is_empty() {
            // Shards parked on a service without endpoints are failing too, silently.
            let parked = endpoints.any_parked();
            self.write_error_ratio = if parked {
                1.0
            } else if sent > 0 {
                failed as f64 / sent as f64
            } else {
                0.0
            };
            if measured && interval > 0.0 {
                self.sampled_intervals += 1;
                if parked || (sent > 0 && failed as f64 > self.outage_error_ratio * sent as f64) {
                    self.write_outage_seconds += interval;
                    self.outage_intervals += 1;
                }
            }
        }
        for (c, lv) in clients.iter_mut().zip(&mut self.clients) {
            if c.sealed_at.is_some() {
                lv.sealed_seconds += interval;
            }
            lv.offered_qps = rate(c.interval.requests);
            lv.goodput_qps = rate(c.interval.succeeded);
            lv.calls_failed = c.interval.calls_failed;
            lv.lookup_p50 = c.interval.lookup_latency.quantile(0.5);
            lv.lookup_p99 = c.interval.lookup_latency.quantile(0.99);
            c.interval = Default::default();
        }
    }

    /// One row of series for metrics.csv (always the same columns, in the same order): the
    /// rates of the last closed interval and the state now.
    pub fn sample(&self, v: View<'_>) -> Vec<(String, f64)> {
        let mut row = Vec::new();
        for (s, lv) in v.endpoints.iter().zip(&self.services) {
            let in_flight: usize = s.replicas.iter().map(Replica::requests).sum();
            row.push((format!("{}_qps", s.name), lv.qps));
            row.push((format!("{}_latency_p50_seconds", s.name), lv.p50));
            row.push((format!("{}_latency_p99_seconds", s.name), lv.p99));
            // Ready as the kubelet reports it; routing follows the slice (`routable`), which
            // may lag (docs/control-plane-and-nodes.md#endpointslices).
            let ready = s.replicas.iter().filter(|r| r.ready).count();
            row.push((format!("{}_ready_replicas", s.name), ready as f64));
            row.push((format!("{}_requests_in_flight", s.name), in_flight as f64));
            row.push((format!("{}_up_ratio", s.name), lv.up_ratio));
        }
        for rt in v.rings.iter() {
            let active = rt
                .ring
                .ingesters()
                .filter(|(_, s)| *s == IngesterState::Active)
                .count();
            row.push((format!("{}_write_availability", rt.name), rt.availability()));
            row.push((format!("{}_active_ingesters", rt.name), active as f64));
            row.push((format!("{}_ring_members", rt.name), rt.ring.len() as f64));
        }
        for (fleet, qps) in v.fleets.iter().zip(&self.fleet_qps) {
            let shards: u32 = fleet.servers.iter().map(|s| s.shards).sum();
            let pending: f64 = fleet.servers.iter().map(|s| s.wal.pending).sum();
            row.push((format!("{}_requests_per_second", fleet.name), *qps));
            row.push((format!("{}_shards", fleet.name), f64::from(shards)));
            row.push((format!("{}_pending_samples", fleet.name), pending.round()));
        }
        if !v.fleets.is_empty() {
            row.push(("write_error_ratio".to_string(), self.write_error_ratio));
        }
        for (c, lv) in v.clients.iter().zip(&self.clients) {
            row.push((format!("{}_offered_qps", c.name), lv.offered_qps));
            row.push((format!("{}_goodput_qps", c.name), lv.goodput_qps));
            row.push((format!("{}_calls_failed", c.name), lv.calls_failed as f64));
            if c.spec.dns.is_some() {
                let name = &c.name;
                row.push((format!("{name}_lookup_latency_p50_seconds"), lv.lookup_p50));
                row.push((format!("{name}_lookup_latency_p99_seconds"), lv.lookup_p99));
            }
            if c.spec.seal_after_failing_seconds.is_some() {
                row.push((
                    format!("{}_sealed", c.name),
                    f64::from(u8::from(c.sealed_at.is_some())),
                ));
            }
            if let Some(t) = &c.defences.throttle {
                row.push((format!("{}_retry_tokens", c.name), t.tokens()));
            }
            if let Some(b) = &c.defences.breaker {
                let open = !matches!(b.state(), crate::defences::BreakerState::Closed);
                row.push((
                    format!("{}_circuit_open", c.name),
                    f64::from(u8::from(open)),
                ));
            }
        }
        row
    }

    /// Counters for summary.json's `totals`.
    pub fn totals(&self, v: View<'_>) -> Vec<(String, u64)> {
        let mut t = Vec::new();
        for s in v.endpoints.iter() {
            t.push((format!("{}_requests", s.name), s.stats.arrivals));
            t.push((format!("{}_succeeded", s.name), s.stats.succeeded));
            t.push((format!("{}_rejected", s.name), s.stats.rejected));
            t.push((format!("{}_failed", s.name), s.stats.failed));
            t.push((format!("{}_shed", s.name), s.stats.shed));
            t.push((format!("{}_unavailable", s.name), s.stats.unavailable));
            t.push((
                format!("{}_stale_endpoint_failures", s.name),
                s.stats.stale_endpoint,
            ));
            t.push((format!("{}_oom_kills", s.name), s.stats.oom_kills));
            // Only for a service whose calls have the defence (existing outputs keep their keys).
            if s.has_call_throttle() {
                t.push((
                    format!("{}_call_retries_throttled", s.name),
                    s.stats.calls.retries_throttled,
                ));
            }
            if s.has_call_budget() {
                t.push((
                    format!("{}_call_retries_over_budget", s.name),
                    s.stats.calls.retries_over_budget,
                ));
            }
            if s.has_call_breaker() {
                t.push((
                    format!("{}_call_short_circuited", s.name),
                    s.stats.calls.short_circuited,
                ));
            }
            if s.has_call_outlier_detection() {
                t.push((
                    format!("{}_call_outlier_ejections", s.name),
                    s.stats.calls.outlier_ejections,
                ));
            }
            // The queue disciplines, load shedding and deadlines: only where configured.
            if s.queue_policy.drops() {
                t.push((format!("{}_queue_dropped", s.name), s.stats.dropped.queue));
            }
            if s.spec.concurrency_limit.is_some() {
                t.push((format!("{}_overflowed", s.name), s.stats.overflowed));
            }
            if s.spec.calls.iter().any(|c| c.propagate_deadline) {
                t.push((
                    format!("{}_call_deadline_exceeded", s.name),
                    s.stats.calls.deadline_exceeded,
                ));
            }
            if s.spec.honor_cancellation {
                t.push((format!("{}_cancelled", s.name), s.stats.dropped.cancelled));
            }
            let receives_deadlines = v.endpoints.iter().any(|x| {
                x.spec
                    .calls
                    .iter()
                    .any(|c| c.propagate_deadline && c.service == s.name)
            });
            if receives_deadlines {
                t.push((
                    format!("{}_deadline_exceeded", s.name),
                    s.stats.dropped.deadline_exceeded,
                ));
            }
        }
        if !v.fleets.is_empty() || !v.rings.is_empty() {
            let requests = v.fleets.iter().map(|f| f.requests).sum();
            let failed = v.fleets.iter().map(|f| f.failed).sum();
            let written: f64 = v.fleets.iter().map(|f| f.samples_written).sum();
            let lost: f64 = v.fleets.iter().map(|f| f.samples_lost).sum::<f64>()
                + v.rings.iter().map(|rt| rt.samples_lost).sum::<f64>();
            t.push(("write_requests".into(), requests));
            t.push(("write_requests_failed".into(), failed));
            t.push(("samples_written".into(), round_count(written)));
            t.push(("samples_lost".into(), round_count(lost)));
            t.push((
                "write_outage_seconds".into(),
                round_count(self.write_outage_seconds),
            ));
        }
        for rt in v.rings.iter() {
            t.push((
                format!("{}_samples_transferred", rt.name),
                round_count(rt.samples_transferred),
            ));
            t.push((
                format!("{}_samples_flushed", rt.name),
                round_count(rt.samples_flushed),
            ));
        }
        for (c, lv) in v.clients.iter().zip(&self.clients) {
            let n = &c.counts;
            t.push((format!("{}_calls", c.name), n.calls));
            t.push((format!("{}_cache_hits", c.name), n.cache_hits));
            t.push((format!("{}_requests", c.name), n.requests));
            t.push((format!("{}_succeeded", c.name), n.succeeded));
            t.push((format!("{}_gave_up", c.name), n.gave_up));
            t.push((format!("{}_failed", c.name), n.calls_failed));
            t.push((format!("{}_ok", c.name), n.calls_ok));
            if c.spec.seal_after_failing_seconds.is_some() {
                t.push((
                    format!("{}_sealed_seconds", c.name),
                    round_count(lv.sealed_seconds),
                ));
            }
            // Each defence's refusals, only for a client that has it (existing outputs keep
            // their keys).
            if c.defences.throttle.is_some() {
                t.push((format!("{}_retries_throttled", c.name), n.retries_throttled));
            }
            if c.defences.budget.is_some() {
                t.push((
                    format!("{}_retries_over_budget", c.name),
                    n.retries_over_budget,
                ));
            }
            if c.defences.breaker.is_some() {
                t.push((format!("{}_short_circuited", c.name), n.short_circuited));
            }
        }
        t
    }

    /// Maxima for summary.json's `peaks`.
    pub fn peaks(&self, v: View<'_>) -> Vec<(String, f64)> {
        let mut p = Vec::new();
        for (s, lv) in v.endpoints.iter().zip(&self.services) {
            p.push((format!("{}_qps", s.name), lv.peak_qps));
            let surge = self.surge(&s.stats.interval.window_arrivals);
            p.push((format!("{}_qps_1m", s.name), surge.peak));
            p.push((format!("{}_baseline_qps", s.name), surge.baseline));
            // No steady baseline: no ratio (0, and a note says why).
            p.push((
                format!("{}_qps_ratio", s.name),
                surge.ratio().unwrap_or(0.0),
            ));
            p.push((format!("{}_latency_p99_seconds", s.name), lv.peak_p99));
            p.push((
                format!("{}_max_requests_in_replica", s.name),
                s.stats.peak_requests_in_replica as f64,
            ));
        }
        for f in v.fleets.iter() {
            p.push((format!("{}_shards", f.name), f64::from(f.peak_shards)));
        }
        p
    }

    /// A service's 1-minute rates: its baseline up to the first change or fault, its surge
    /// after it (up to `surgeUntilSeconds` or the last sample).
    fn surge(&self, arrivals: &[u64]) -> Surge {
        let end = self.last_roll.unwrap_or(Time::ZERO);
        let end = self.windows.surge_until.map_or(end, |u| u.min(end));
        surge(
            arrivals,
            self.windows,
            self.baseline_from,
            self.baseline_until,
            end,
        )
    }

    /// A note per service whose baseline is not steady (its `_qps_ratio` is then 0), with
    /// the figure it is about (`peaks.{service}_qps_ratio`): an expectation on that figure
    /// cannot be judged.
    pub fn notes(&self, v: View<'_>) -> Vec<(String, String)> {
        let mut notes = Vec::new();
        for s in v.endpoints.iter() {
            let g = self.surge(&s.stats.interval.window_arrivals);
            if g.ratio().is_none() {
                notes.push((format!("peaks.{}_qps_ratio", s.name), format!(
                    "peaks.{name}_qps_ratio: not given (0): no steady baseline: {n} whole {w} s windows from {from} s to {until} s, \
                     rates {lo:.3} to {hi:.3} qps, mean {mean:.3} (steady: at least 2 windows, each within {tol}% of the mean)",
                    name = s.name,
                    n = g.baseline_windows,
                    w = self.windows.seconds,
                    from = self.baseline_from.as_secs_f64(),
                    until = self.baseline_until.min(self.last_roll.unwrap_or(Time::ZERO)).as_secs_f64(),
                    lo = g.baseline_range.0,
                    hi = g.baseline_range.1,
                    mean = g.baseline,
                    tol = self.windows.steady_tolerance * 100.0,
                )));
            }
        }
        notes
    }

    /// Fractions for summary.json's `ratios`: each [`RatioParts::value`] of
    /// [`Self::ratio_parts`] that is a [`Quotient::Ratio`] (in [0, 1]).
    pub fn ratios(&self, v: View<'_>) -> Vec<(String, f64)> {
        self.quotients(v, Quotient::Ratio)
    }

    /// Averages for summary.json's `averages`: each [`RatioParts::value`] of
    /// [`Self::ratio_parts`] that is a [`Quotient::Average`] (seconds per request, requests
    /// per call: not fractions, not bounded by 1).
    pub fn averages(&self, v: View<'_>) -> Vec<(String, f64)> {
        self.quotients(v, Quotient::Average)
    }

    fn quotients(&self, v: View<'_>, quotient: Quotient) -> Vec<(String, f64)> {
        self.ratio_parts(v)
            .into_iter()
            .filter(|(_, p)| p.quotient == quotient)
            .map(|(name, p)| (name, p.value()))
            .collect()
    }

    /// Each ratio's and average's two running counts, so that either can also be taken over a
    /// window (the counts' differences between its edges).
    pub fn ratio_parts(&self, v: View<'_>) -> Vec<(String, RatioParts)> {
        let mut q = Vec::new();
        for (rt, (sum, n)) in v.rings.iter().zip(&self.ring_availability) {
            q.push((
                format!("{}_write_availability", rt.name),
                RatioParts::of(*sum, f64::from(*n), 1.0),
            ));
        }
        if !v.fleets.is_empty() {
            q.push((
                "write_availability".into(),
                RatioParts {
                    complement: true,
                    ..RatioParts::of(
                        f64::from(self.outage_intervals),
                        f64::from(self.sampled_intervals),
                        1.0,
                    )
                },
            ));
        }
        for s in v.endpoints.iter() {
            let st = &s.stats;
            // Every request the service was asked, answered or not: one refused for want of a
            // Ready replica is a failure too (else a service with no replica reads 100%).
            let done = st.succeeded
                + st.failed
                + st.rejected
                + st.shed
                + st.unavailable
                + st.dropped.queue
                + st.overflowed
                + st.dropped.deadline_exceeded
                + st.dropped.cancelled;
            q.push((
                format!("{}_success_ratio", s.name),
                RatioParts::of(st.succeeded as f64, done as f64, 1.0),
            ));
            q.push((
                format!("{}_mean_latency_seconds", s.name),
                RatioParts::average(st.latency_sum, st.succeeded as f64),
            ));
        }
        for c in v.clients.iter() {
            q.push((
                format!("{}_amplification", c.name),
                RatioParts::average(c.counts.requests as f64, c.counts.calls as f64),
            ));
        }
        q
    }
}

/// A non-negative tally kept as a float (fluid samples, seconds) as the whole number a total
/// shows. The cast saturates (Rust's float-to-integer rule), and a tally is never negative.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn round_count(x: f64) -> u64 {
    x.round() as u64
}
