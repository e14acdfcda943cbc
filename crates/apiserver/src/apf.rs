//! API Priority and Fairness: the v1.33 bootstrap PriorityLevelConfigurations and how the
//! server's concurrency limit is divided among them. See `docs/control-plane-and-nodes.md`,
//! "API server overload protection (APF)" and "API Priority and Fairness".

/// kube-apiserver `--max-requests-inflight` default (apiserver v0.33, `pkg/server/config.go`).
pub const MAX_REQUESTS_INFLIGHT: u32 = 400;

/// kube-apiserver `--max-mutating-requests-inflight` default (same file).
pub const MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 200;

/// The server concurrency limit with APF on: the sum of the two inflight flags (apiserver v0.33,
/// `server_run_options.go` flag help).
pub const fn server_concurrency_limit(max_requests_inflight: u32, max_mutating: u32) -> u32 {
    max_requests_inflight + max_mutating
}

/// The request-width ceiling of the work estimator, `maximumSeatsLimit` (apiserver v0.33,
/// `pkg/util/flowcontrol/request/config.go`).
pub const MAXIMUM_SEATS_LIMIT: u32 = 10;

/// A level's queuing parameters (`spec.limited.limitResponse.queuing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queuing {
    pub queues: u32,
    pub hand_size: u32,
    pub queue_length_limit: u32,
}

/// What a Limited level does with a request it cannot run now (`limitResponse.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitResponse {
    /// Queue (shuffle-sharded fair queues), reject when the chosen queue is full.
    Queue(Queuing),
    /// Reject at once with 429.
    Reject,
}

/// `spec.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityLevelType {
    /// Never queued nor limited (the mandatory `exempt` level).
    Exempt,
    Limited(LimitResponse),
}

/// A PriorityLevelConfiguration's spec, in the API's own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityLevelConfiguration {
    pub name: &'static str,
    pub kind: PriorityLevelType,
    /// `nominalConcurrencyShares` (NCS).
    pub nominal_concurrency_shares: u32,
    /// `lendablePercent`: the share of the nominal limit other levels may borrow.
    pub lendable_percent: u32,
}

impl PriorityLevelConfiguration {
    pub fn queuing(&self) -> Option<Queuing> {
        match self.kind {
            PriorityLevelType::Limited(LimitResponse::Queue(q)) => Some(q),
            _ => None,
        }
    }
}

const fn queued(queues: u32, hand_size: u32, queue_length_limit: u32) -> PriorityLevelType {
    PriorityLevelType::Limited(LimitResponse::Queue(Queuing {
        queues,
        hand_size,
        queue_length_limit,
    }))
}

const fn plc(
    name: &'static str,
    kind: PriorityLevelType,
    nominal_concurrency_shares: u32,
    lendable_percent: u32,
) -> PriorityLevelConfiguration {
    PriorityLevelConfiguration {
        name,
        kind,
        nominal_concurrency_shares,
        lendable_percent,
    }
}

/// The bootstrap PriorityLevelConfigurations of Kubernetes v1.33 (apiserver v0.33,
/// `pkg/apis/flowcontrol/bootstrap/default.go`): the two mandatory levels (exempt, catch-all)
/// and the suggested ones. Earlier releases differ (catch-all used to queue; see the docs page).
pub const BOOTSTRAP_PRIORITY_LEVELS: [PriorityLevelConfiguration; 8] = [
    plc("exempt", PriorityLevelType::Exempt, 0, 0),
    plc(
        "catch-all",
        PriorityLevelType::Limited(LimitResponse::Reject),
        5,
        0,
    ),
    plc("system", queued(64, 6, 50), 30, 33),
    plc("node-high", queued(64, 6, 50), 40, 25),
    plc("leader-election", queued(16, 4, 50), 10, 0),
    plc("workload-high", queued(128, 6, 50), 40, 50),
    plc("workload-low", queued(128, 6, 50), 100, 90),
    plc("global-default", queued(128, 6, 50), 20, 50),
];

/// The seat limits a level gets from the server concurrency limit (apiserver v0.33,
/// `pkg/util/flowcontrol/apf_controller.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConcurrencyLimits {
    /// NominalCL = ceil(ServerCL × NCS / ΣNCS).
    pub nominal: u32,
    /// LendableCL = round(NominalCL × lendablePercent / 100).
    pub lendable: u32,
    /// The widest a request may be at this level, in seats.
    pub max_seats: u32,
}

impl ConcurrencyLimits {
    /// MinCL = NominalCL − LendableCL: what the level keeps whatever others borrow.
    pub fn min(&self) -> u32 {
        self.nominal - self.lendable
    }
    /// The limit a new queue set starts at: NominalCL − LendableCL/2 (integer halving).
    pub fn initial_current(&self) -> u32 {
        self.nominal - self.lendable / 2
    }
}

/// NominalCL(i) = ceil(ServerCL × NCS(i) / Σ NCS), the sum over every level (exempt included).
pub fn nominal_concurrency_limit(server_cl: u32, ncs: u32, sum_ncs: u32) -> u32 {
    if sum_ncs == 0 {
        return 0;
    }
    let num = u64::from(server_cl) * u64::from(ncs);
    let v = num.div_ceil(u64::from(sum_ncs));
    // At most server_cl, since ncs <= sum_ncs for any level of the sum.
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The limits of every level in `levels` for a server limit `server_cl`, in the same order.
pub fn concurrency_limits(
    levels: &[PriorityLevelConfiguration],
    server_cl: u32,
) -> Vec<ConcurrencyLimits> {
    let sum: u32 = levels.iter().map(|l| l.nominal_concurrency_shares).sum();
    levels
        .iter()
        .map(|l| {
            let nominal = nominal_concurrency_limit(server_cl, l.nominal_concurrency_shares, sum);
            // round(nominal × pct / 100), half away from zero, in integers.
            let lendable = (nominal * l.lendable_percent.min(100) + 50) / 100;
            ConcurrencyLimits {
                nominal,
                lendable,
                max_seats: max_seats(nominal, l.queuing().map(|q| q.hand_size)),
            }
        })
        .collect()
}

/// max(1, min(ceil(0.15 × NominalCL), floor(NominalCL / handSize), MAXIMUM_SEATS_LIMIT)). A
/// level without queues has no hand-size term.
pub fn max_seats(nominal: u32, hand_size: Option<u32>) -> u32 {
    let mut m = (nominal * 15).div_ceil(100).min(MAXIMUM_SEATS_LIMIT);
    if let Some(h) = hand_size.filter(|&h| h > 0) {
        m = m.min(nominal / h);
    }
    m.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(name: &str) -> (PriorityLevelConfiguration, ConcurrencyLimits) {
        let scl = server_concurrency_limit(MAX_REQUESTS_INFLIGHT, MAX_MUTATING_REQUESTS_INFLIGHT);
        let limits = concurrency_limits(&BOOTSTRAP_PRIORITY_LEVELS, scl);
        let i = BOOTSTRAP_PRIORITY_LEVELS
            .iter()
            .position(|l| l.name == name)
            .expect("level");
        (BOOTSTRAP_PRIORITY_LEVELS[i].clone(), limits[i])
    }

    /// The nominal seats and maximum request widths of the 1.33 levels at the default 600
    /// seats, as in the docs page's table (computed upstream's way).
    #[test]
    fn default_levels_at_600_seats() {
        let sum: u32 = BOOTSTRAP_PRIORITY_LEVELS
            .iter()
            .map(|l| l.nominal_concurrency_shares)
            .sum();
        assert_eq!(sum, 245);
        let expect = [
            ("exempt", 0),
            ("catch-all", 13),
            ("system", 74),
            ("node-high", 98),
            ("leader-election", 25),
            ("workload-high", 98),
            ("workload-low", 245),
            ("global-default", 49),
        ];
        for (name, nominal) in expect {
            assert_eq!(by_name(name).1.nominal, nominal, "{name}");
        }
        let seats = [
            ("system", 10),
            ("node-high", 10),
            ("leader-election", 4),
            ("workload-high", 10),
            ("workload-low", 10),
            ("global-default", 8),
        ];
        for (name, s) in seats {
            assert_eq!(by_name(name).1.max_seats, s, "{name}");
        }
    }

    #[test]
    fn lendable_and_min_limits() {
        // workload-low lends round(245 × 0.9) = 221 (220.5 rounds up), keeps 24.
        let (_, wl) = by_name("workload-low");
        assert_eq!((wl.lendable, wl.min()), (221, 24));
        assert_eq!(wl.initial_current(), 245 - 110);
        // leader-election lends nothing.
        let (_, le) = by_name("leader-election");
        assert_eq!((le.lendable, le.min()), (0, 25));
        // system: round(74 × 0.33) = 24.
        assert_eq!(by_name("system").1.lendable, 24);
    }

    #[test]
    fn queuing_parameters() {
        let (le, _) = by_name("leader-election");
        assert_eq!(
            le.queuing(),
            Some(Queuing {
                queues: 16,
                hand_size: 4,
                queue_length_limit: 50
            })
        );
        assert_eq!(by_name("catch-all").0.queuing(), None);
        assert_eq!(by_name("exempt").0.kind, PriorityLevelType::Exempt);
    }

    #[test]
    fn nominal_limit_is_a_ceiling_and_scales() {
        assert_eq!(nominal_concurrency_limit(600, 1, 3), 200);
        assert_eq!(nominal_concurrency_limit(601, 1, 3), 201);
        assert_eq!(nominal_concurrency_limit(600, 0, 3), 0);
        assert_eq!(nominal_concurrency_limit(600, 5, 0), 0);
        // Doubling the server limit doubles workload-low's share (ceil(1200·100/245) = 490).
        let limits = concurrency_limits(&BOOTSTRAP_PRIORITY_LEVELS, 1200);
        assert_eq!(limits[6].nominal, 490);
    }
}
