//! The retry-storm experiment of `tests.rs` ([`storm_after`]) swept in the trigger's size at
//! a fixed duration: how much slower the service runs, or how many of its 10 workers it
//! loses. The boundary between a trigger the service recovers from and one that tips it into
//! a storm outliving it is sharp (goodput long after is either all of it or none) and
//! monotone in the size, and LIFO or a client's retry defence moves it past every size swept
//! (docs/retry-defences.md#the-triggers-size).

use super::*;

/// The trigger's duration for the size sweeps: the shortest one that tips FIFO at a tripled
/// service time (the duration sweep's boundary is between 4 and 8 s).
const DURATION: f64 = 8.0;

/// Service-time factors swept, smallest trigger first (capacity 100/s divided by each; the
/// clients offer 40/s, so from 2.5 up the degraded service cannot keep up).
const FACTORS: [f64; 8] = [1.5, 2.0, 2.5, 2.75, 3.0, 4.0, 6.0, 10.0];

/// Workers per replica while degraded, smallest trigger (fewest lost of 10) first.
const WORKERS: [u32; 9] = [9, 8, 7, 6, 5, 4, 3, 2, 1];

fn slower(factor: f64) -> Degradation {
    Degradation {
        service_time_factor: factor,
        ..Degradation::default()
    }
}

fn fewer_workers(workers: u32) -> Degradation {
    Degradation {
        workers_per_replica: Some(workers),
        ..Degradation::default()
    }
}

type Serve = fn(&mut ServiceSpec);
type Defend = fn(&mut ClientSpec);

/// Sweeps the triggers (each `DURATION` long, smallest first) and returns the index of the
/// first that tipped the service over (None: none did). Asserts that the boundary is sharp
/// (goodput long after the trigger is at least 90% of before, or at most 10% of it: nothing
/// in between) and monotone (every larger trigger tips it over too).
fn size_boundary(
    name: &str,
    triggers: &[Degradation],
    duration: f64,
    serve: Serve,
    defend: Defend,
) -> Option<usize> {
    let outcome: Vec<(f64, bool)> = triggers
        .iter()
        .map(|slow| {
            let (before, after, _) = storm_after(slow.clone(), duration, serve, defend, 1);
            assert!(
                before > 36.0,
                "{name}: healthy before the trigger: {before}"
            );
            let recovered = after >= 0.9 * before;
            assert!(
                recovered || after <= 0.1 * before,
                "{name}: sharp: {after}/s after {slow:?}, {before}/s before"
            );
            (after, recovered)
        })
        .collect();
    eprintln!("{name}: goodput after each trigger: {outcome:?}");
    let first_down = outcome.iter().position(|(_, ok)| !ok);
    if let Some(i) = first_down {
        assert!(
            outcome[i..].iter().all(|(_, ok)| !ok),
            "{name}: monotone in the trigger's size: {triggers:?} -> {outcome:?}"
        );
    }
    first_down
}

/// The defences expected to move the boundary: LIFO at the service, Envoy's retry budget or
/// gRPC's retry throttling at the clients.
fn defences() -> [(&'static str, Serve, Defend); 3] {
    [
        (
            "lifo",
            |s| s.queue_discipline = QueueDiscipline::Lifo,
            |_| {},
        ),
        (
            "retryBudget",
            |_| {},
            |c| c.retry_budget = Some(RetryBudget::default()),
        ),
        (
            "retryThrottling",
            |_| {},
            |c| c.retry_throttling = Some(RetryThrottling::default()),
        ),
    ]
}

#[test]
fn the_boundary_is_sharp_and_monotone_in_how_much_slower_the_service_runs() {
    // 8 s of a service time 2.5 x as long (capacity 40/s, the offered load) passes; 2.75 x
    // (36/s) and every larger factor tip FIFO into the storm. The boundary is where the
    // degraded capacity falls below the offered load: the queue then grows for the whole
    // trigger, and 8 s of it is enough for the wait to pass the 1 s timeout.
    let triggers: Vec<Degradation> = FACTORS.iter().map(|&f| slower(f)).collect();
    let fifo = size_boundary("fifo", &triggers, DURATION, |_| {}, |_| {});
    assert_eq!(
        fifo.map(|i| FACTORS[i]),
        Some(2.75),
        "FIFO tips from 2.75 x"
    );
    // Size and duration trade against each other (docs/retry-defences.md#the-triggers-size):
    // a shorter trigger needs to be larger. At 4 s, 4 x passes (the tripled service time's 4 s passed too) and 6 x tips.
    let short = size_boundary("fifo 4 s", &[slower(4.0), slower(6.0)], 4.0, |_| {}, |_| {});
    assert_eq!(short, Some(1), "4 s: 4 x passes, 6 x tips");
    // Newest first, or retries capped: every factor swept passes (up to 10 x, 10/s).
    for (name, serve, defend) in defences() {
        let down = size_boundary(name, &triggers, DURATION, serve, defend);
        assert_eq!(down, None, "{name} moves the boundary past 10 x");
    }
}

#[test]
fn the_boundary_is_sharp_and_monotone_in_how_many_workers_the_service_loses() {
    // 8 s with 4 of 10 workers left (capacity 40/s, the offered load) passes; with 3 (30/s)
    // or fewer FIFO tips into the storm.
    let triggers: Vec<Degradation> = WORKERS.iter().map(|&w| fewer_workers(w)).collect();
    let fifo = size_boundary("fifo", &triggers, DURATION, |_| {}, |_| {});
    assert_eq!(
        fifo.map(|i| WORKERS[i]),
        Some(3),
        "FIFO tips from 3 workers left"
    );
    for (name, serve, defend) in defences() {
        let down = size_boundary(name, &triggers, DURATION, serve, defend);
        assert_eq!(down, None, "{name} moves the boundary past 1 worker left");
    }
}
