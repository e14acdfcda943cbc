//! What a request costs the API server: API Priority and Fairness' work estimator in v1.33
//! (KEP-1040's "width"), in seats held for a time. A LIST costs in proportion to the objects
//! *stored* of its resource, whatever its selector keeps; a mutation costs more when many
//! watchers must be told of it. docs/control-plane-and-nodes.md, "API Priority and Fairness"
//! (seats) and "The cost of LIST, GET and WATCH".

use cascade_engine::Duration;

/// Objects one seat of a LIST covers (`objectsPerSeat`, v1.33 request/config.go).
pub const OBJECTS_PER_SEAT: u64 = 100;
/// Watchers one extra seat of a mutation covers (`watchesPerSeat`).
pub const WATCHES_PER_SEAT: u64 = 10;
/// Time a mutation holds its extra seats per seat of watchers, after its handler returns
/// (`eventAdditionalDuration`, 5 ms).
pub const EVENT_ADDITIONAL_DURATION: Duration = Duration::from_millis(5);
/// The fewest seats any request takes (`minimumSeats`).
pub const MINIMUM_SEATS: u32 = 1;

/// A request's verb, as the work estimator tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    /// Every verb by its Kubernetes name, for reading a scenario.
    pub const ALL: [(&'static str, Verb); 7] = [
        ("get", Verb::Get),
        ("list", Verb::List),
        ("watch", Verb::Watch),
        ("create", Verb::Create),
        ("update", Verb::Update),
        ("patch", Verb::Patch),
        ("delete", Verb::Delete),
    ];

    /// The verb named `name` (lowercase, as in RBAC rules and audit logs).
    pub fn parse(name: &str) -> Option<Verb> {
        Verb::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
        )
    }
}

/// What the estimator knows of a request and of the resource it touches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    pub verb: Verb,
    /// A LIST or GET naming one object (`metadata.name` set): costed as one object.
    pub named: bool,
    /// Objects of the resource stored (`numStored`, per resource, from the storage's count).
    pub stored: u64,
    /// Watches open on the resource (a mutation's fan-out).
    pub watchers: u64,
}

/// The seats a request occupies while it executes and, for a mutation, the extra seats it
/// keeps afterwards for the watch fan-out and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkEstimate {
    pub initial_seats: u32,
    pub final_seats: u32,
    pub additional_latency: Duration,
}

impl WorkEstimate {
    const ONE: WorkEstimate = WorkEstimate {
        initial_seats: MINIMUM_SEATS,
        final_seats: 0,
        additional_latency: Duration::ZERO,
    };

    /// The seats the queue set must have free to dispatch it.
    pub fn max_seats(&self) -> u32 {
        self.initial_seats.max(self.final_seats)
    }
}

/// v1.33's estimate for `r` at a priority level whose largest request is `max_seats` seats
/// (`apf::max_seats`):
/// - GET and named LIST: 1 seat;
/// - LIST: ceil(stored / 100), clamped to [1, max_seats];
/// - WATCH: 1 seat, only until it is initialised (WatchList is off by default in 1.33);
/// - mutations: 1 seat; with W >= 10 watchers, min(ceil(W / 10), max_seats) final seats held
///   ceil(W / 10) x 5 ms / final seats after the handler returns.
pub fn estimate(r: &Request, max_seats: u32) -> WorkEstimate {
    let max_seats = max_seats.max(MINIMUM_SEATS);
    match r.verb {
        Verb::List if !r.named => WorkEstimate {
            initial_seats: clamp_seats(r.stored.div_ceil(OBJECTS_PER_SEAT), max_seats),
            ..WorkEstimate::ONE
        },
        v if v.is_mutating() && r.watchers >= WATCHES_PER_SEAT => {
            let needed = r.watchers.div_ceil(WATCHES_PER_SEAT);
            let final_seats = clamp_seats(needed, max_seats);
            WorkEstimate {
                initial_seats: MINIMUM_SEATS,
                final_seats,
                additional_latency: Duration::from_secs_f64(
                    needed as f64 * EVENT_ADDITIONAL_DURATION.as_secs_f64()
                        / f64::from(final_seats),
                ),
            }
        }
        _ => WorkEstimate::ONE,
    }
}

fn clamp_seats(seats: u64, max_seats: u32) -> u32 {
    u32::try_from(seats)
        .unwrap_or(u32::MAX)
        .clamp(MINIMUM_SEATS, max_seats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apf::{self, MAX_MUTATING_REQUESTS_INFLIGHT, MAX_REQUESTS_INFLIGHT};
    use proptest::prelude::*;

    fn list(stored: u64) -> Request {
        Request {
            verb: Verb::List,
            named: false,
            stored,
            watchers: 0,
        }
    }

    #[test]
    fn a_list_costs_a_seat_per_hundred_stored_objects_up_to_the_level_limit() {
        assert_eq!(estimate(&list(0), 10).initial_seats, 1);
        assert_eq!(estimate(&list(100), 10).initial_seats, 1);
        assert_eq!(estimate(&list(101), 10).initial_seats, 2);
        assert_eq!(estimate(&list(950), 10).initial_seats, 10);
        // 150,000 pods: the whole level's largest request, however selective the LIST.
        assert_eq!(estimate(&list(150_000), 10).initial_seats, 10);
        assert_eq!(estimate(&list(150_000), 4).initial_seats, 4);
        let named = Request {
            named: true,
            ..list(150_000)
        };
        assert_eq!(estimate(&named, 10), WorkEstimate::ONE);
    }

    #[test]
    fn gets_and_watches_take_one_seat() {
        for verb in [Verb::Get, Verb::Watch] {
            let r = Request {
                verb,
                ..list(150_000)
            };
            assert_eq!(estimate(&r, 10), WorkEstimate::ONE);
        }
    }

    #[test]
    fn a_mutation_pays_for_its_watchers_after_it_returns() {
        let create = |watchers| Request {
            verb: Verb::Create,
            named: false,
            stored: 0,
            watchers,
        };
        assert_eq!(estimate(&create(9), 10), WorkEstimate::ONE);
        let e = estimate(&create(45), 10);
        assert_eq!((e.initial_seats, e.final_seats), (1, 5));
        assert!((e.additional_latency.as_secs_f64() - 5.0 * 0.005 / 5.0).abs() < 1e-12);
        // 5,000 kubelets watching: capped at the level's limit, held longer per seat.
        let e = estimate(&create(5_000), 10);
        assert_eq!(e.final_seats, 10);
        assert!((e.additional_latency.as_secs_f64() - 500.0 * 0.005 / 10.0).abs() < 1e-12);
        assert_eq!(e.max_seats(), 10);
    }

    #[test]
    fn the_bootstrap_levels_cap_a_list_where_upstream_does() {
        // maxSeats of the default levels at the default 600-seat server: workload-low has 98
        // seats and hand size 6, so min(ceil(14.7), floor(98 / 6), 10) = 10.
        let scl =
            apf::server_concurrency_limit(MAX_REQUESTS_INFLIGHT, MAX_MUTATING_REQUESTS_INFLIGHT);
        let limits = apf::concurrency_limits(&apf::BOOTSTRAP_PRIORITY_LEVELS, scl);
        for (level, l) in apf::BOOTSTRAP_PRIORITY_LEVELS.iter().zip(&limits) {
            let m = apf::max_seats(l.nominal, level.queuing().map(|q| q.hand_size));
            let e = estimate(&list(1_000_000), m);
            assert_eq!(e.initial_seats, m, "{}", level.name);
            assert!(e.initial_seats <= apf::MAXIMUM_SEATS_LIMIT);
        }
    }

    proptest! {
        /// A LIST's seats never fall as the stored objects grow, stay within [1, max], and
        /// are exactly ceil(N / 100) below the cap: linear in the objects, then flat.
        #[test]
        fn list_seats_grow_linearly_then_cap(n in 0u64..2_000_000, m in 1u32..=10) {
            let a = estimate(&list(n), m).initial_seats;
            let b = estimate(&list(n + 1), m).initial_seats;
            prop_assert!(a <= b);
            prop_assert!((1..=m).contains(&a));
            let linear = n.div_ceil(100).max(1);
            if linear < u64::from(m) {
                prop_assert_eq!(u64::from(a), linear);
            } else {
                prop_assert_eq!(a, m);
            }
        }
    }
}
