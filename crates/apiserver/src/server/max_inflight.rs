//! The legacy max-inflight filter, in API Priority and Fairness' place when
//! `--enable-priority-and-fairness=false`: two counts, read-only and mutating requests in
//! flight, each against its flag (`--max-requests-inflight`, `--max-mutating-requests-inflight`);
//! past its limit a request gets a 429 with `Retry-After: 1` at once, with no queue.
//! docs/control-plane-and-nodes.md, "API server overload protection".

use super::config::FlowControlConfig;
use cascade_engine::Duration;

/// The `Retry-After` the filter answers with (1 s, apiserver `maxinflight.go`).
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Requests in flight, by kind.
#[derive(Clone, Debug, Default)]
pub(super) struct MaxInflight {
    readonly: u32,
    mutating: u32,
}

impl MaxInflight {
    /// Whether a request (`mutating` or not) may run now; a limit of 0 is no limit.
    pub(super) fn admits(&self, mutating: bool, cfg: &FlowControlConfig) -> bool {
        let (n, limit) = if mutating {
            (self.mutating, cfg.max_mutating_requests_inflight)
        } else {
            (self.readonly, cfg.max_requests_inflight)
        };
        !(limit > 0 && n >= limit)
    }

    /// A request starts.
    pub(super) fn start(&mut self, mutating: bool) {
        if mutating {
            self.mutating += 1;
        } else {
            self.readonly += 1;
        }
    }

    /// A request is done.
    pub(super) fn finish(&mut self, mutating: bool) {
        if mutating {
            self.mutating = self.mutating.saturating_sub(1);
        } else {
            self.readonly = self.readonly.saturating_sub(1);
        }
    }

    /// Requests in flight.
    pub(super) fn in_flight(&self) -> u32 {
        self.readonly + self.mutating
    }
}
