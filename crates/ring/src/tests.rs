// Tests index small fixtures: truncating casts cannot occur there.
#![allow(clippy::cast_possible_truncation)]
use super::*;
use cascade_model::Rng;
use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest, ProptestConfig};
use IngesterState::{Active, Joining, Leaving, Pending};

const TIMEOUT: Duration = Duration::from_secs(60);
/// A time by which a heartbeat at 0 is stale and one at `NOW` is fresh.
const NOW: Time = Time::from_secs(120);

/// A ring of `n` ingesters (ids 0..n) with random tokens, ACTIVE and heartbeating at `now`.
fn random_ring(cfg: RingConfig, n: u32, rng: &mut Rng, now: Time) -> Ring {
    let mut ring = Ring::new(cfg);
    for id in 0..n {
        ring.register(ing(id), now);
        ring.claim_random_tokens(ing(id), rng);
        ring.set_state(ing(id), Active);
    }
    ring
}

/// Ingester i (1..=count) owns the single token i*100, ACTIVE, heartbeating at `NOW`.
fn hand_ring(count: u32) -> Ring {
    let mut ring = Ring::new(RingConfig::default());
    for id in 1..=count {
        ring.register(ing(id), NOW);
        ring.set_tokens(ing(id), vec![id * 100]);
        ring.set_state(ing(id), Active);
    }
    ring
}

/// Ingester `n` of a test's fixture.
const fn ing(n: u32) -> IngesterId {
    IngesterId::new(n)
}

/// The numbers of the ingesters a write of `hash` goes to, in the ring's order.
fn replicas(ring: &Ring, hash: u32) -> Vec<u32> {
    let mut out = Vec::new();
    ring.write_replicas(hash, &mut out);
    out.into_iter().map(IngesterId::get).collect()
}

// ---- Analytic check against the hypergeometric formula (docs/cortex-and-prometheus.md#quorum-loss-formula) ----

/// k of 30 ACTIVE ingesters stop heartbeating: they stay ACTIVE, so no replica set is extended
/// and the mean unavailable fraction over random rings and down-sets must be exactly the
/// hypergeometric tail (each key's replica set is 3 distinct ingesters, and the down-set is
/// uniform and independent of the ring). RF=2 semantics would give ~0.13 at k=2 instead of
/// ~0.007, far outside the tolerance.
#[test]
fn stale_ingesters_lose_quorum_as_the_hypergeometric_formula_says() {
    let n = 30u32;
    let ks = [1u32, 2, 3, 5, 10];
    let trials = 200;
    let mut rng = Rng::stream(42, "ring-analytic");
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); ks.len()];
    let mut ids: Vec<IngesterId> = (0..n).map(ing).collect();
    for _ in 0..trials {
        let mut ring = random_ring(RingConfig::default(), n, &mut rng, NOW);
        for (ki, &k) in ks.iter().enumerate() {
            // Partial Fisher-Yates: the first k ids are a uniform k-subset.
            for j in 0..k as usize {
                let r = j + rng.below(u64::from(n) - j as u64) as usize;
                ids.swap(j, r);
            }
            for (j, &id) in ids.iter().enumerate() {
                ring.heartbeat(id, if j < k as usize { Time::ZERO } else { NOW });
            }
            samples[ki].push(1.0 - ring.write_availability(NOW));
        }
    }
    for (ki, &k) in ks.iter().enumerate() {
        let xs = &samples[ki];
        let len = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / len;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (len - 1.0);
        let se = (var / len).sqrt();
        let expected = quorum_loss_probability(n, k, 3);
        assert!(
            (mean - expected).abs() <= 4.0 * se + 1e-4,
            "k={k}: measured {mean:.5} +- {se:.5}, expected {expected:.5}"
        );
        if k == 1 {
            // One stale replica of three never breaks a 2-of-3 quorum.
            assert_eq!(mean, 0.0);
        }
    }
}

// ---- quorum_loss_probability by hand ----

#[test]
fn quorum_loss_probability_unit_values() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    // Every replica set of 3 among 3 holds both failed ingesters.
    assert!(close(quorum_loss_probability(3, 2, 3), 1.0));
    assert_eq!(quorum_loss_probability(10, 0, 3), 0.0);
    assert_eq!(quorum_loss_probability(10, 1, 3), 0.0);
    // C(2,2)C(8,1) / C(10,3) = 8 / 120.
    assert!(close(quorum_loss_probability(10, 2, 3), 8.0 / 120.0));
    // [C(3,2)C(7,1) + C(3,3)] / C(10,3) = (21 + 1) / 120.
    assert!(close(quorum_loss_probability(10, 3, 3), 22.0 / 120.0));
    // [C(2,2)C(28,1)] / C(30,3) = 28 / 4060.
    assert!(close(quorum_loss_probability(30, 2, 3), 28.0 / 4060.0));
    assert!(close(quorum_loss_probability(10, 10, 3), 1.0));
    // RF=2: quorum is 2 of 2, so any failed replica loses it: 1 - C(8,2)/C(10,2) = 1 - 28/45.
    assert!(close(quorum_loss_probability(10, 2, 2), 17.0 / 45.0));
    // RF=5: quorum 3, lost with 3+ failed: [C(3,3)C(7,2)] / C(10,5) = 21 / 252.
    assert!(close(quorum_loss_probability(10, 3, 5), 21.0 / 252.0));
    // Fewer ingesters than RF: the set is both of them, quorum still 2.
    assert_eq!(quorum_loss_probability(2, 0, 3), 0.0);
    assert!(close(quorum_loss_probability(2, 1, 3), 1.0));
    // No ingesters, no writes.
    assert_eq!(quorum_loss_probability(0, 0, 3), 1.0);
}

// ---- Hand-placed rings: search, extension, Filter ----

#[test]
fn walk_starts_after_the_first_token_greater_than_the_key_and_wraps() {
    let ring = hand_ring(6);
    assert_eq!(replicas(&ring, 0), vec![1, 2, 3]);
    assert_eq!(replicas(&ring, 99), vec![1, 2, 3]);
    // Ring.search looks for Token > key: a key equal to a token belongs to the next one.
    assert_eq!(replicas(&ring, 100), vec![2, 3, 4]);
    assert_eq!(replicas(&ring, 450), vec![5, 6, 1]);
    assert_eq!(replicas(&ring, 600), vec![1, 2, 3]);
    assert_eq!(replicas(&ring, u32::MAX), vec![1, 2, 3]);
    assert!(ring.write_ok(100, NOW));
    assert_eq!(ring.write_availability(NOW), 1.0);
}

#[test]
fn walk_skips_repeated_owners_and_stops_when_ingesters_run_out() {
    let mut ring = Ring::new(RingConfig::default());
    ring.register(ing(1), NOW);
    ring.register(ing(2), NOW);
    ring.set_tokens(ing(1), vec![10, 20, 30]);
    ring.set_tokens(ing(2), vec![40]);
    ring.set_state(ing(1), Active);
    ring.set_state(ing(2), Active);
    assert_eq!(replicas(&ring, 0), vec![1, 2]);
    assert_eq!(replicas(&ring, 35), vec![2, 1]);
    // Two of RF=3: minSuccess is still 3/2 + 1 = 2, and both are healthy.
    assert!(ring.write_ok(0, NOW));
    assert_eq!(ring.write_availability(NOW), 1.0);
    ring.heartbeat(ing(2), Time::ZERO);
    assert!(!ring.write_ok(0, NOW));
    assert_eq!(ring.write_availability(NOW), 0.0);
}

#[test]
fn one_leaving_ingester_extends_the_set_to_four_and_writes_succeed() {
    let mut ring = hand_ring(6);
    ring.set_state(ing(2), Leaving);
    assert_eq!(replicas(&ring, 50), vec![1, 2, 3, 4]);
    // minSuccess = max(3, 4)/2 + 1 = 3; healthy: 1, 3, 4.
    assert!(ring.write_ok(50, NOW));
}

#[test]
fn three_non_active_in_the_walk_need_four_of_six_and_fail() {
    let mut ring = hand_ring(6);
    ring.set_state(ing(2), Leaving);
    ring.set_state(ing(3), Joining);
    ring.set_state(ing(4), Pending);
    assert_eq!(replicas(&ring, 50), vec![1, 2, 3, 4, 5, 6]);
    // minSuccess = 6/2 + 1 = 4; healthy: 1, 5, 6.
    assert!(!ring.write_ok(50, NOW));
}

#[test]
fn two_stale_active_replicas_of_three_fail_and_one_does_not() {
    let mut ring = hand_ring(6);
    ring.heartbeat(ing(1), Time::ZERO);
    // Stale but ACTIVE: no extension, and one failure is tolerated.
    assert_eq!(replicas(&ring, 50), vec![1, 2, 3]);
    assert!(ring.write_ok(50, NOW));
    ring.heartbeat(ing(2), Time::ZERO);
    assert_eq!(replicas(&ring, 50), vec![1, 2, 3]);
    assert!(!ring.write_ok(50, NOW));
    assert!(!ring.is_healthy(ing(1), NOW));
}

#[test]
fn heartbeat_exactly_timeout_old_is_healthy() {
    let mut ring = hand_ring(3);
    ring.heartbeat(ing(1), Time::ZERO);
    ring.heartbeat(ing(2), Time::ZERO);
    assert!(ring.write_ok(50, Time::ZERO + TIMEOUT));
    assert!(!ring.write_ok(50, Time::ZERO + TIMEOUT + Duration::from_micros(1)));
}

#[test]
fn availability_weighs_each_token_range_exactly() {
    // Tokens 100..600, ingesters 1 and 2 stale. Sets by start token: 100 {1,2,3} fail,
    // 200 {2,3,4} ok, 300 {3,4,5} ok, 400 {4,5,6} ok, 500 {5,6,1} ok, 600 {6,1,2} fail.
    // Keys starting at token i+1 are [token i, token i+1): the ok ranges are 100..500.
    let mut ring = hand_ring(6);
    ring.heartbeat(ing(1), Time::ZERO);
    ring.heartbeat(ing(2), Time::ZERO);
    assert_eq!(ring.write_availability(NOW), 400.0 / HASH_SPACE as f64);
    assert!(!ring.write_ok(99, NOW));
    assert!(ring.write_ok(100, NOW));
    assert!(ring.write_ok(499, NOW));
    assert!(!ring.write_ok(500, NOW));
}

#[test]
fn empty_ring_has_no_replicas_and_no_availability() {
    let mut ring = Ring::new(RingConfig::default());
    assert!(ring.is_empty());
    assert_eq!(ring.write_availability(NOW), 0.0);
    assert!(!ring.write_ok(7, NOW));
    ring.register(ing(1), NOW);
    assert_eq!(ring.state(ing(1)), Some(Pending));
    assert_eq!(ring.tokens_of(ing(1)), 0);
    assert!(replicas(&ring, 7).is_empty());
    assert_eq!(ring.write_availability(NOW), 0.0);
}

#[test]
fn lifecycle_claim_transfer_remove() {
    let cfg = RingConfig::default();
    let mut rng = Rng::stream(1, "ring-lifecycle");
    let mut ring = random_ring(cfg, 4, &mut rng, NOW);
    assert_eq!(ring.len(), 4);
    assert_eq!(ring.tokens().len(), 4 * 128);
    assert!((0..4).all(|id| ring.tokens_of(ing(id)) == 128));
    ring.check_invariants().unwrap();

    // Claiming again tops up to num_tokens: nothing new.
    ring.claim_random_tokens(ing(0), &mut rng);
    assert_eq!(ring.tokens_of(ing(0)), 128);

    // Re-registering an existing ingester keeps its tokens and state.
    ring.register(ing(0), Time::from_secs(5));
    assert_eq!(ring.tokens_of(ing(0)), 128);
    assert_eq!(ring.state(ing(0)), Some(Active));
    assert_eq!(ring.last_heartbeat(ing(0)), Some(Time::from_secs(5)));

    // Hand-over from a LEAVING ingester to a JOINING one.
    ring.set_state(ing(3), Leaving);
    ring.register(ing(9), NOW);
    ring.set_state(ing(9), Joining);
    ring.transfer_tokens(ing(3), ing(9));
    assert_eq!(ring.tokens_of(ing(3)), 0);
    assert_eq!(ring.tokens_of(ing(9)), 128);
    ring.set_state(ing(9), Active);
    ring.check_invariants().unwrap();
    ring.remove(ing(3));
    assert_eq!(ring.state(ing(3)), None);
    assert_eq!(
        ring.ingesters().collect::<Vec<_>>(),
        vec![
            (ing(0), Active),
            (ing(1), Active),
            (ing(2), Active),
            (ing(9), Active)
        ]
    );
    assert_eq!(ring.write_availability(NOW), 1.0);

    // Clean shutdown without hand-over: tokens leave with the ingester.
    ring.remove(ing(9));
    assert_eq!(ring.tokens().len(), 3 * 128);
    ring.check_invariants().unwrap();
}

#[test]
fn claimed_tokens_are_deterministic_and_unique() {
    let cfg = RingConfig::default();
    let a = random_ring(cfg, 10, &mut Rng::stream(7, "ring"), NOW);
    let b = random_ring(cfg, 10, &mut Rng::stream(7, "ring"), NOW);
    assert_eq!(a.tokens(), b.tokens());
    assert!(a.tokens().windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn state_displays_as_cortex_spells_it() {
    let names: Vec<String> = [Pending, Joining, Active, Leaving]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, ["PENDING", "JOINING", "ACTIVE", "LEAVING"]);
}

// ---- Properties ----

/// Ring.Get(key, Write) + Filter written out plainly (linear search, Vec) to cross-check the
/// optimised walk.
fn naive_write_ok(ring: &Ring, key: u32, now: Time) -> bool {
    let tokens = ring.tokens();
    if tokens.is_empty() {
        return false;
    }
    let rf = ring.config().replication_factor as usize;
    let start = tokens.iter().position(|&(t, _)| t > key).unwrap_or(0);
    let mut n = rf;
    let mut set: Vec<IngesterId> = Vec::new();
    let mut iterations = 0;
    let mut i = start;
    while set.len() < n && iterations < tokens.len() {
        iterations += 1;
        let id = tokens[i % tokens.len()].1;
        i += 1;
        if set.contains(&id) {
            continue;
        }
        set.push(id);
        if ring.state(id) != Some(Active) {
            n += 1;
        }
    }
    let min_success = set.len().max(rf) / 2 + 1;
    set.iter().filter(|&&id| ring.is_healthy(id, now)).count() >= min_success
}

/// Availability by evaluating `naive_write_ok` at each range's lowest key: a key equal to
/// token i starts its walk after it, and covers up to the next token.
fn naive_availability(ring: &Ring, now: Time) -> f64 {
    let tokens = ring.tokens();
    let mut ok = 0u64;
    for (i, &(t, _)) in tokens.iter().enumerate() {
        let next = if i + 1 == tokens.len() {
            u64::from(tokens[0].0) + HASH_SPACE
        } else {
            u64::from(tokens[i + 1].0)
        };
        if naive_write_ok(ring, t, now) {
            ok += next - u64::from(t);
        }
    }
    ok as f64 / HASH_SPACE as f64
}

fn state_of(code: u8) -> IngesterState {
    [Pending, Joining, Active, Leaving][usize::from(code % 4)]
}

/// A ring of `n` ingesters with `num_tokens` random tokens each, RF `rf`, states and
/// heartbeat freshness from `mix` (ACTIVE and fresh when `mix` is None).
fn prop_ring(n: u32, num_tokens: u32, rf: u32, seed: u64, mix: Option<&[(u8, bool)]>) -> Ring {
    let cfg = RingConfig {
        num_tokens,
        replication_factor: rf,
        heartbeat_timeout: TIMEOUT,
    };
    let mut ring = random_ring(cfg, n, &mut Rng::new(seed), NOW);
    if let Some(mix) = mix {
        for (id, &(code, fresh)) in (0..n).zip(mix) {
            ring.set_state(ing(id), state_of(code));
            ring.heartbeat(ing(id), if fresh { NOW } else { Time::ZERO });
        }
    }
    ring
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn healthy_active_rings_are_fully_available(
        n in 3u32..20, num_tokens in 1u32..16, rf in 1u32..=5, seed: u64,
    ) {
        let ring = prop_ring(n, num_tokens, rf, seed, None);
        prop_assert_eq!(ring.write_availability(NOW), 1.0);
    }

    #[test]
    fn availability_and_write_ok_match_the_plain_algorithm(
        n in 1u32..12, num_tokens in 1u32..8, rf in 1u32..=5, seed: u64,
        mix in proptest::collection::vec((0u8..4, any::<bool>()), 12),
        keys in proptest::collection::vec(any::<u32>(), 16),
    ) {
        let ring = prop_ring(n, num_tokens, rf, seed, Some(&mix));
        let a = ring.write_availability(NOW);
        prop_assert!((0.0..=1.0).contains(&a));
        prop_assert_eq!(a, naive_availability(&ring, NOW));
        for &key in keys.iter().chain(ring.tokens().iter().map(|(t, _)| t)) {
            prop_assert_eq!(ring.write_ok(key, NOW), naive_write_ok(&ring, key, NOW));
            prop_assert_eq!(ring.write_ok(key.wrapping_sub(1), NOW),
                naive_write_ok(&ring, key.wrapping_sub(1), NOW));
        }
    }

    #[test]
    fn write_replicas_are_distinct_and_at_least_rf(
        n in 1u32..20, num_tokens in 1u32..8, rf in 1u32..=5, seed: u64,
        mix in proptest::collection::vec((0u8..4, any::<bool>()), 20),
        keys in proptest::collection::vec(any::<u32>(), 16),
    ) {
        let ring = prop_ring(n, num_tokens, rf, seed, Some(&mix));
        let mut out = Vec::new();
        for key in keys {
            ring.write_replicas(key, &mut out);
            let mut sorted = out.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), out.len(), "duplicates in {:?}", out);
            prop_assert!(out.len() >= rf.min(n) as usize);
            // ACTIVE replicas never exceed RF: extension only adds room for non-ACTIVE ones.
            let active = out.iter().filter(|&&id| ring.state(id) == Some(Active)).count();
            prop_assert!(active <= rf as usize);
        }
    }

    #[test]
    fn transfer_preserves_the_token_count(
        n in 2u32..12, num_tokens in 1u32..16, seed: u64, from in 0u32..12, to in 0u32..13,
    ) {
        let mut ring = prop_ring(n, num_tokens, 3, seed, None);
        // `to` may be a fresh PENDING ingester (id n), as in a real hand-over.
        ring.register(ing(n), NOW);
        let (from, to) = (from % n, to % (n + 1));
        let total = ring.tokens().len();
        let (had_from, had_to) = (ring.tokens_of(ing(from)), ring.tokens_of(ing(to)));
        ring.transfer_tokens(ing(from), ing(to));
        prop_assert_eq!(ring.tokens().len(), total);
        if from != to {
            prop_assert_eq!(ring.tokens_of(ing(from)), 0);
            prop_assert_eq!(ring.tokens_of(ing(to)), had_from + had_to);
        }
        prop_assert!(ring.check_invariants().is_ok());
    }
}
