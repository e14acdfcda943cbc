// Test scenarios scale counts and durations by float factors on purpose (truncation is the rounding).
#![allow(clippy::cast_possible_truncation)]

use super::*;
use crate::queue::{BroadcastQueue, Rumor, RumorKind};
use cascade_engine::{Duration, Rng, Time};
use proptest::prelude::{prop_assert, prop_assert_eq, proptest, ProptestConfig};

fn secs(s: f64) -> Time {
    Time::from_secs_f64(s)
}

fn span(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

// ---- memberlist's formulas, exactly ----

#[test]
fn suspicion_timeout_matches_memberlist_table() {
    let s = Duration::from_secs(1);
    assert_eq!(suspicion_timeout(4, 100, s), Duration::from_secs(8));
    assert_eq!(
        suspicion_timeout(4, 2_000, s),
        Duration::from_millis(13_204)
    );
    assert_eq!(suspicion_timeout(4, 10_000, s), Duration::from_secs(16));
    assert_eq!(
        suspicion_timeout(4, 41_000, s),
        Duration::from_millis(18_448)
    );
    // max(1, log10(max(1, n))): small tables are never below one probe interval per mult.
    for n in [0, 1, 5, 10] {
        assert_eq!(suspicion_timeout(4, n, s), Duration::from_secs(4), "n={n}");
    }
    // The pre-Lifeguard mult of 5.
    assert_eq!(suspicion_timeout(5, 100, s), Duration::from_secs(10));
}

#[test]
fn remaining_suspicion_time_matches_memberlists_formula() {
    let cases = [
        (100, 8_000, 22_762),
        (2_000, 13_204, 37_570),
        (10_000, 16_000, 45_525),
        (41_000, 18_448, 52_491),
    ];
    for (n, min_ms, c1_ms) in cases {
        let min = suspicion_timeout(4, n, Duration::from_secs(1));
        assert_eq!(min, Duration::from_millis(min_ms));
        let max = min.saturating_mul(6);
        // k = SuspicionMult - 2 = 2.
        assert_eq!(
            remaining_suspicion_time(0, 2, Duration::ZERO, min, max),
            max
        );
        assert_eq!(
            remaining_suspicion_time(1, 2, Duration::ZERO, min, max),
            Duration::from_millis(c1_ms),
            "n={n}"
        );
        // All k confirmations: the minimum, never below it.
        assert_eq!(
            remaining_suspicion_time(2, 2, Duration::ZERO, min, max),
            min
        );
    }
    // Elapsed time is subtracted, and the result saturates at zero.
    let (min, max) = (Duration::from_secs(8), Duration::from_secs(48));
    assert_eq!(
        remaining_suspicion_time(1, 2, Duration::from_secs(10), min, max),
        Duration::from_millis(12_762)
    );
    assert_eq!(
        remaining_suspicion_time(1, 2, Duration::from_secs(100), min, max),
        Duration::ZERO
    );
    // k = 0: nothing to confirm, the minimum.
    assert_eq!(
        remaining_suspicion_time(0, 0, Duration::ZERO, min, max),
        min
    );
}

#[test]
fn retransmit_limit_and_push_pull_scale_match_memberlist() {
    for (n, want) in [
        (100, 12),
        (999, 12),
        (1_000, 16),
        (2_000, 16),
        (10_000, 20),
        (41_000, 20),
    ] {
        assert_eq!(retransmit_limit(4, n), want, "n={n}");
    }
    assert_eq!(retransmit_limit(4, 0), 0);
    assert_eq!(retransmit_limit(1, 500), 3);
    let iv = Duration::from_secs(30);
    assert_eq!(push_pull_scale(iv, 10), iv);
    assert_eq!(push_pull_scale(iv, 32), iv);
    assert_eq!(push_pull_scale(iv, 33), Duration::from_secs(60));
    assert_eq!(push_pull_scale(iv, 2_000), Duration::from_secs(210));
    assert_eq!(push_pull_scale(iv, 10_000), Duration::from_secs(300));
    assert_eq!(push_pull_scale(iv, 41_000), Duration::from_secs(360));
}

#[test]
fn default_config_is_memberlist_lan_with_consul_overrides() {
    let c = Config::default_lan();
    assert_eq!(c.probe.interval, Duration::from_secs(1));
    assert_eq!(c.probe.timeout, Duration::from_millis(500));
    assert_eq!((c.probe.indirect_checks, c.gossip.nodes), (3, 3));
    assert_eq!(c.gossip.interval, Duration::from_millis(200));
    assert_eq!(
        (
            c.gossip.retransmit_mult,
            c.suspicion.mult,
            c.suspicion.max_timeout_mult
        ),
        (4, 4, 6)
    );
    assert_eq!(c.probe.awareness_max_multiplier, 8);
    assert_eq!(c.handoff.queue_depth, 1024);
    assert_eq!(c.serf.reconnect_timeout, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(c.serf.tombstone_timeout, Duration::from_secs(24 * 3600));
    assert_eq!(Config::pre_1_2_3().handoff.policy, HandoffPolicy::Fifo);
    let off = Config::default_lan().without_lifeguard();
    assert_eq!(
        (
            off.probe.awareness_max_multiplier,
            off.suspicion.max_timeout_mult
        ),
        (1, 1)
    );
    assert!(!off.suspicion.buddy);
}

// ---- TransmitLimitedQueue ----

/// The queue as memberlist keeps it, one btree in its order: what `BroadcastQueue` must
/// match message for message.
mod reference {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BTreeMap;

    /// `limitedBroadcast`'s btree order: transmits ascending, message length descending, id
    /// descending (newest first).
    type Key = (u32, Reverse<u32>, Reverse<u64>);

    #[derive(Clone, Debug, Default)]
    pub(super) struct ReferenceQueue {
        pub(super) items: BTreeMap<Key, Rumor>,
        /// `memberlistBroadcast.Name() = node`: a newer broadcast about a subject invalidates the
        /// queued one (`queue.go queueBroadcast`, `Invalidates`).
        by_subject: crate::IdMap<MemberId, Key>,
        next_id: u64,
    }

    impl ReferenceQueue {
        /// `QueueBroadcast`: replaces any queued broadcast about the same subject.
        pub(super) fn push(&mut self, rumor: Rumor, size: u32) {
            if let Some(old) = self.by_subject.remove(&rumor.subject) {
                self.items.remove(&old);
            }
            self.next_id += 1;
            let key = (0, Reverse(size), Reverse(self.next_id));
            self.items.insert(key, rumor);
            self.by_subject.insert(rumor.subject, key);
        }

        /// `GetBroadcasts(overhead, limit)`: walks the transmit tiers from the lowest, taking in each
        /// the first item (largest, then newest) that fits the remaining bytes; taken items move up
        /// a tier, or are finished when `transmits + 1 >= transmit_limit`. Appends to `out` and
        /// returns the bytes used. An item whose count already reached a limit that shrank (the
        /// table lost entries) is finished without being sent, so no item is ever sent more than
        /// the limit in force at the send (memberlist would send it once more).
        pub(super) fn get(
            &mut self,
            overhead: u32,
            budget: u32,
            transmit_limit: u32,
            out: &mut Vec<Rumor>,
        ) -> u32 {
            let mut used = 0u32;
            let mut reinsert: Vec<(Key, Rumor)> = Vec::new();
            let mut tier = match self.items.keys().next() {
                Some(k) => k.0,
                None => return 0,
            };
            loop {
                let free = i64::from(budget) - i64::from(used) - i64::from(overhead);
                if free <= 0 {
                    break;
                }
                let lo: Key = (tier, Reverse(free as u32), Reverse(u64::MAX));
                let found = self
                    .items
                    .range(lo..)
                    .next()
                    .filter(|(k, _)| k.0 == tier)
                    .map(|(k, r)| (*k, *r));
                let Some((key, rumor)) = found else {
                    // Next tier that exists at all.
                    match self
                        .items
                        .range((tier.saturating_add(1), Reverse(u32::MAX), Reverse(u64::MAX))..)
                        .next()
                    {
                        Some((k, _)) if tier < u32::MAX => {
                            tier = k.0;
                            continue;
                        }
                        _ => break,
                    }
                };
                self.items.remove(&key);
                self.by_subject.remove(&rumor.subject);
                if key.0 >= transmit_limit {
                    continue;
                }
                used += overhead + key.1 .0;
                out.push(rumor);
                if key.0 + 1 < transmit_limit {
                    reinsert.push(((key.0 + 1, key.1, key.2), rumor));
                }
            }
            for (key, rumor) in reinsert {
                self.items.insert(key, rumor);
                self.by_subject.insert(rumor.subject, key);
            }
            used
        }
    }
}

#[test]
fn broadcast_queue_rebuilds_buckets_full_of_replaced_broadcasts() {
    // Thousands of replacements of a few subjects: garbage piles up and is swept, and the
    // queue still sends what memberlist's btree would.
    let mut q = BroadcastQueue::default();
    let mut r = reference::ReferenceQueue::default();
    for i in 0..5_000u32 {
        let rumor = Rumor {
            kind: RumorKind::Dead,
            subject: MemberId::new(i % 7),
            incarnation: i,
            from: MemberId::new(0),
        };
        let size = if i % 3 == 0 { 160 } else { 70 };
        q.push(rumor, size);
        r.push(rumor, size);
        if i % 97 == 0 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            assert_eq!(q.get(2, 400, 4, &mut a), r.get(2, 400, 4, &mut b));
            assert_eq!(a, b);
        }
    }
    assert_eq!(q.len(), 7);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    q.get(2, 100_000, 4, &mut a);
    r.get(2, 100_000, 4, &mut b);
    assert_eq!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The bucketed queue sends exactly what memberlist's btree would, in the same order.
    #[test]
    fn broadcast_queue_matches_memberlists_btree(
        ops in proptest::collection::vec((0u8..4, 0u32..12, 0u8..3, 60u32..1500, 1u32..6), 1..200),
    ) {
        let mut q = BroadcastQueue::default();
        let mut r = reference::ReferenceQueue::default();
        for (op, subject, size, budget, limit) in ops {
            if op == 0 {
                let size = [70, 160, 110][size as usize];
                let rumor = Rumor { kind: RumorKind::Alive, subject: MemberId::new(subject), incarnation: budget, from: MemberId::new(subject) };
                q.push(rumor, size);
                r.push(rumor, size);
            } else {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let ua = q.get(2, budget, limit, &mut a);
                let ub = r.get(2, budget, limit, &mut b);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(ua, ub);
            }
            prop_assert_eq!(q.len(), r.items.len());
        }
    }
}

fn rumor(kind: RumorKind, subject: MemberId) -> Rumor {
    Rumor {
        kind,
        subject,
        incarnation: 1,
        from: subject,
    }
}

#[test]
fn broadcast_queue_sends_fewest_transmits_then_largest_then_newest() {
    let mut q = BroadcastQueue::default();
    q.push(rumor(RumorKind::Dead, MemberId::new(1)), 70);
    q.push(rumor(RumorKind::Alive, MemberId::new(2)), 160);
    q.push(rumor(RumorKind::Dead, MemberId::new(3)), 70);
    let mut out = Vec::new();
    // Room for one 160 B item plus overhead only: the largest goes first.
    q.get(2, 165, 10, &mut out);
    assert_eq!(
        out.iter().map(|r| r.subject).collect::<Vec<_>>(),
        vec![MemberId::new(2)]
    );
    out.clear();
    // Then the two never-sent items, newest first, before the once-sent one.
    q.get(2, 150, 10, &mut out);
    assert_eq!(
        out.iter().map(|r| r.subject).collect::<Vec<_>>(),
        vec![MemberId::new(3), MemberId::new(1)]
    );
    // A newer rumour about a subject replaces the queued one.
    q.push(rumor(RumorKind::Suspect, MemberId::new(3)), 70);
    assert_eq!(q.len(), 3);
    out.clear();
    q.get(2, 10_000, 10, &mut out);
    assert_eq!(out[0], rumor(RumorKind::Suspect, MemberId::new(3)));
    assert_eq!(out.len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Each queued rumour is sent at most `limit` times, and exactly `limit` times when it is
    /// never replaced and budgets always have room.
    #[test]
    fn broadcast_queue_never_exceeds_the_retransmit_limit(
        limit in 1u32..8,
        ops in proptest::collection::vec((0u8..3, 0u32..6, 100u32..1500), 1..60),
    ) {
        let mut q = BroadcastQueue::default();
        let mut sends: std::collections::HashMap<(MemberId, u32), u32> = Default::default();
        let mut gen = 0u32;
        let mut replaced = std::collections::HashSet::new();
        let mut live: std::collections::HashMap<MemberId, u32> = Default::default();
        for (op, subject, budget) in ops {
            if op == 0 {
                gen += 1;
                if let Some(old) = live.insert(MemberId::new(subject), gen) {
                    replaced.insert((MemberId::new(subject), old));
                }
                q.push(Rumor { kind: RumorKind::Alive, subject: MemberId::new(subject), incarnation: gen, from: MemberId::new(subject) }, 160);
            } else {
                let mut out = Vec::new();
                let used = q.get(2, budget, limit, &mut out);
                prop_assert!(used <= budget);
                for r in out {
                    *sends.entry((r.subject, r.incarnation)).or_default() += 1;
                }
            }
        }
        loop {
            let mut out = Vec::new();
            q.get(2, 100_000, limit, &mut out);
            if out.is_empty() { break; }
            for r in out {
                *sends.entry((r.subject, r.incarnation)).or_default() += 1;
            }
        }
        for (key, &count) in &sends {
            prop_assert!(count <= limit, "{:?} sent {} > {}", key, count, limit);
            if !replaced.contains(key) {
                prop_assert_eq!(count, limit);
            }
        }
        prop_assert!(q.is_empty());
    }
}

// ---- Mesh behaviour ----

#[test]
fn a_stable_mesh_probes_once_per_interval_and_never_suspects() {
    let n = 20;
    let mut mesh = Mesh::with_members(Config::default_lan(), 1, n, None);
    mesh.advance_to(Time::from_secs(60));
    let c = mesh.counters().clone();
    // Every member probes once per second: 60 ticks each, +-1 for the stagger.
    assert!(
        (c.probe.pings as i64 - 60 * i64::from(n)).abs() <= i64::from(n),
        "{c:?}"
    );
    // Every probe but those still in flight at the end was acked directly.
    assert!(
        c.probe.acks <= c.probe.pings && c.probe.acks + u64::from(n) >= c.probe.pings,
        "{c:?}"
    );
    assert_eq!(c.probe.indirect_pings, 0);
    assert_eq!(
        (
            c.detection.suspicions_raised,
            c.detection.dead_declarations,
            c.detection.refutations
        ),
        (0, 0, 0)
    );
    assert_eq!(c.handoff.drops, 0);
    assert_eq!(mesh.phantom_members(), 0);
    for id in 0..n {
        assert_eq!(mesh.view_size(MemberId::new(id)), n as usize);
        assert_eq!(mesh.awareness(MemberId::new(id)), 0);
    }
    mesh.check_invariants().unwrap();
}

#[test]
fn a_crashed_member_is_suspected_declared_dead_and_failed_everywhere() {
    let n = 20;
    let mut mesh = Mesh::with_members(Config::default_lan(), 2, n, None);
    mesh.advance_to(Time::from_secs(5));
    mesh.crash(Time::from_secs(5), MemberId::new(7));
    mesh.advance_to(Time::from_secs(120));
    assert_eq!(mesh.live_members(), n as usize - 1);
    let (crashed, probed, dead) = mesh.crash_detection(MemberId::new(7));
    let (crashed, probed, dead) = (crashed.unwrap(), probed.unwrap(), dead.unwrap());
    assert!(probed >= crashed);
    // Suspected at the first probe + one interval, dead no sooner than the minimum timeout
    // (4 * max(1, log10 20) = 5.2 s) after that.
    assert!(
        dead >= probed
            .after(Duration::from_secs(1))
            .after(suspicion_timeout(4, 20, Duration::from_secs(1)))
    );
    for id in (0..n).filter(|&i| i != 7) {
        // Dead, or already forgotten by memberlist at a probe-list wrap; failed for Serf.
        let s = mesh.state_of(MemberId::new(id), MemberId::new(7)).0;
        assert!(
            matches!(s, MemberState::Dead | MemberState::Unknown),
            "member {id}: {s:?}"
        );
        assert_eq!(
            mesh.serf_status_of(MemberId::new(id), MemberId::new(7)),
            SerfStatus::Failed
        );
    }
    assert_eq!(mesh.counters().detection.false_dead_declarations, 0);
    assert_eq!(mesh.phantom_members(), 0);
    mesh.check_invariants().unwrap();
}

/// Relays nack `probe_timeout` after their own receipt of the request, i.e. after the
/// prober's deadline at awareness 0, so a healthy prober of a real crash misses all 3 nacks.
#[test]
fn nacks_arrive_after_the_deadline_so_a_real_crash_costs_three_awareness() {
    let mut mesh = Mesh::with_members(Config::default_lan(), 3, 10, None);
    mesh.advance_to(Time::from_secs(3));
    mesh.crash(Time::from_secs(3), MemberId::new(0));
    let mut t = Time::from_secs(3);
    while mesh.crash_detection(MemberId::new(0)).1.is_none() && t < Time::from_secs(60) {
        t += Duration::from_millis(10);
        mesh.advance_to(t);
    }
    let first = mesh.crash_detection(MemberId::new(0)).1.unwrap();
    // The deadline at awareness 0 is first + 1 s; the prober's next probe starts right then
    // (its tick is pending) and its ack would lower the score again.
    mesh.advance_to(first + Duration::from_secs(1));
    assert_eq!(mesh.counters().probe.nacks, 0);
    assert!(mesh.counters().probe.indirect_pings >= 3);
    let max_awareness = (1..10)
        .map(|i| mesh.awareness(MemberId::new(i)))
        .max()
        .unwrap();
    assert_eq!(max_awareness, 3);
}

#[test]
fn join_leave_and_refutation() {
    let mut mesh = Mesh::with_members(Config::default_lan(), 4, 12, None);
    let newcomer = mesh.spawn(Time::from_secs(2), None);
    mesh.advance_to(Time::from_secs(20));
    for id in 0..12 {
        assert_eq!(
            mesh.state_of(MemberId::new(id), newcomer).0,
            MemberState::Alive,
            "member {id}"
        );
        assert_eq!(
            mesh.state_of(newcomer, MemberId::new(id)).0,
            MemberState::Alive
        );
    }
    mesh.leave(Time::from_secs(20), MemberId::new(3));
    mesh.advance_to(Time::from_secs(40));
    assert!(!mesh.is_running(MemberId::new(3)));
    for id in (0..13).filter(|&i| i != 3) {
        assert_eq!(
            mesh.state_of(MemberId::new(id), MemberId::new(3)).0,
            MemberState::Left,
            "member {id}"
        );
        assert_eq!(
            mesh.serf_status_of(MemberId::new(id), MemberId::new(3)),
            SerfStatus::Left
        );
    }
    assert_eq!(mesh.counters().detection.dead_declarations, 0);
    mesh.check_invariants().unwrap();
}

#[test]
fn failed_members_are_forgotten_at_a_wrap_and_reaped_after_reconnect_timeout() {
    let mut cfg = Config::default_lan();
    cfg.serf.reconnect_timeout = Duration::from_secs(300);
    let mut mesh = Mesh::with_members(cfg, 5, 10, None);
    mesh.crash(Time::from_secs(1), MemberId::new(4));
    mesh.advance_to(Time::from_secs(200));
    // memberlist forgot it (Dead older than 30 s, and a 9-member list wraps in ~9 s), Serf
    // still lists it as failed.
    for id in (0..10).filter(|&i| i != 4) {
        assert_eq!(
            mesh.state_of(MemberId::new(id), MemberId::new(4)).0,
            MemberState::Unknown
        );
        assert_eq!(
            mesh.serf_status_of(MemberId::new(id), MemberId::new(4)),
            SerfStatus::Failed
        );
        assert_eq!(mesh.view_size(MemberId::new(id)), 10);
        assert_eq!(mesh.known_members(MemberId::new(id)), 9);
    }
    mesh.advance_to(Time::from_secs(400));
    for id in (0..10).filter(|&i| i != 4) {
        assert_eq!(
            mesh.serf_status_of(MemberId::new(id), MemberId::new(4)),
            SerfStatus::None
        );
        assert_eq!(mesh.view_size(MemberId::new(id)), 9);
    }
    assert_eq!(mesh.counters().membership.reaped, 9);
}

#[test]
fn encrypted_and_plaintext_members_cannot_talk() {
    let mut mesh = Mesh::with_members(Config::default_lan(), 6, 12, None);
    for id in 0..6 {
        mesh.set_keyring(Time::from_secs(1), MemberId::new(id), Some(KeyId::new(1)));
    }
    mesh.advance_to(Time::from_secs(200));
    for a in 0..12u32 {
        for b in 0..12u32 {
            if a == b {
                continue;
            }
            let same_side = (a < 6) == (b < 6);
            let s = mesh.state_of(MemberId::new(a), MemberId::new(b)).0;
            if same_side {
                assert_eq!(s, MemberState::Alive, "{a} about {b}");
            } else {
                assert!(
                    matches!(s, MemberState::Dead | MemberState::Unknown),
                    "{a} about {b}: {s:?}"
                );
            }
        }
    }
    assert!(mesh.counters().network.packets_undecryptable > 0);
}

#[test]
fn a_network_partition_splits_the_pool_into_its_sides() {
    let mut mesh = Mesh::with_members(Config::default_lan(), 9, 12, None);
    mesh.advance_to(Time::from_secs(5));
    for id in 0..4 {
        mesh.set_network_group(Time::from_secs(5), MemberId::new(id), 1);
    }
    mesh.advance_to(Time::from_secs(200));
    for a in 0..12u32 {
        for b in (0..12u32).filter(|b| *b != a) {
            let s = mesh.state_of(MemberId::new(a), MemberId::new(b)).0;
            if (a < 4) == (b < 4) {
                assert_eq!(s, MemberState::Alive, "{a} about {b}");
            } else {
                // Each side declares the other failed; nobody refutes across the cut.
                assert!(
                    matches!(s, MemberState::Dead | MemberState::Unknown),
                    "{a} about {b}: {s:?}"
                );
                assert_eq!(
                    mesh.serf_status_of(MemberId::new(a), MemberId::new(b)),
                    SerfStatus::Failed
                );
            }
        }
    }
    assert!(mesh.counters().network.packets_lost > 0);
    assert_eq!(mesh.live_members(), 12, "every process kept running");
    mesh.check_invariants().unwrap();
    // Healed: Serf's reconnect (every 30 s, to a random failed member) reaches across, the
    // members declared dead refute, and the pool is whole again.
    for id in 0..4 {
        mesh.set_network_group(Time::from_secs(200), MemberId::new(id), 0);
    }
    mesh.advance_to(Time::from_secs(400));
    for a in 0..12u32 {
        for b in (0..12u32).filter(|b| *b != a) {
            assert_eq!(
                mesh.state_of(MemberId::new(a), MemberId::new(b)).0,
                MemberState::Alive,
                "{a} about {b}"
            );
            assert_eq!(
                mesh.serf_status_of(MemberId::new(a), MemberId::new(b)),
                SerfStatus::Alive
            );
        }
    }
    mesh.check_invariants().unwrap();
}

// ---- Serf's snapshot (consul#4511, serf#524, serf#525) ----

/// A mesh of `n` simulated members standing for `reps` each (the scale model: handling times
/// × reps, depths ÷ reps), with Consul's pre-1.2.3 FIFO handoff and the given snapshot.
fn snapshot_mesh(n: u32, reps: f64, snapshot: Option<Snapshot>, seed: u64, tcp: bool) -> Mesh {
    let mut cfg = Config::pre_1_2_3();
    cfg.tcp_ping.disabled = !tcp;
    cfg.serf.snapshot = snapshot.map(|s| Snapshot {
        entries_per_member: reps,
        buffer_events: ((s.buffer_events as f64 / reps).round() as usize).max(1),
        ..s
    });
    cfg.handoff.queue_depth = ((cfg.handoff.queue_depth as f64 / reps).round() as usize).max(1);
    let scaled = |d: Duration| Duration::from_micros((d.as_micros() as f64 * reps) as u64);
    cfg.handoff.service_time = scaled(cfg.handoff.service_time);
    cfg.network.packet_service_time = scaled(cfg.network.packet_service_time);
    Mesh::with_members(cfg, seed, n, None)
}

#[test]
fn a_fixed_limit_snapshot_compacts_at_every_event_above_2000_members() {
    // 100 members standing for 30 each: 3,000 alive lines of 64 B, past 128 KiB.
    for (snap, every) in [(Snapshot::pre_1_2_3(), true), (Snapshot::v1_2_3(), false)] {
        let mut mesh = snapshot_mesh(100, 30.0, Some(snap), 3, true);
        mesh.advance_to(Time::from_secs(60));
        let before = mesh.counters().snapshot.compactions;
        mesh.crash(Time::from_secs(60), MemberId::new(5));
        mesh.advance_to(Time::from_secs(180));
        let compactions = mesh.counters().snapshot.compactions - before;
        // 99 members each see one event (failed), standing for 30 events.
        if every {
            assert_eq!(compactions, 99 * 30, "fixed 128 KiB");
        } else {
            // serf#525: limit 2 x 128 B x 3,000 = 768 KB against a 192 KB file: none.
            assert_eq!(compactions, 0, "per-node limit");
        }
    }
}

/// Churn (one member replaced per second for `churn` seconds), then nothing: the phantom
/// members listed 20 minutes after the churn stopped.
fn phantoms_after_churn(snapshot: Option<Snapshot>, churn: u64, tcp_pings: bool) -> usize {
    let mut mesh = snapshot_mesh(200, 40.0, snapshot, 1, tcp_pings);
    let mut live: Vec<MemberId> = (0..200).map(MemberId::new).collect();
    let start = 60;
    mesh.advance_to(Time::from_secs(start));
    for k in 1..=churn {
        let at = Time::from_secs(start + k);
        mesh.advance_to(at);
        let victim = live.remove((k * 7919 % live.len() as u64) as usize);
        mesh.crash(at, victim);
        live.push(mesh.spawn(at, None));
    }
    mesh.advance_to(Time::from_secs(start + churn + 1200));
    mesh.check_invariants().unwrap();
    mesh.phantom_members()
}

#[test]
fn a_pool_past_the_snapshot_limit_stays_poisoned_after_the_churn_stops() {
    // 8,000 members (200 standing for 40) and 40 replaced per second for 5 minutes. With
    // Serf's snapshot in the message path and its fixed limit, agents stall, miss deaths,
    // are declared dead themselves and come back: the member events that keep them stalled.
    // That loop needs the stalled agents to be declared dead, i.e. UDP probes only.
    let stuck = phantoms_after_churn(Some(Snapshot::pre_1_2_3()), 300, false);
    assert!(stuck > 100, "phantoms 20 min after the churn: {stuck}");
    // The same churn heals without the snapshot, and with Consul 1.2.3's.
    assert_eq!(phantoms_after_churn(None, 300, false), 0);
    assert_eq!(
        phantoms_after_churn(Some(Snapshot::v1_2_3()), 300, false),
        0
    );
    // With memberlist's TCP fallback (its default) a stalled agent still answers over TCP
    // (the stream handler takes none of the locks its stall holds), so none is declared dead
    // and this five-minute churn heals too: what keeps target-2019's pool poisoned is its
    // hours of churn and the deaths the stalled agents' full queues drop, not false deaths.
    assert_eq!(
        phantoms_after_churn(Some(Snapshot::pre_1_2_3()), 300, true),
        0
    );
}

// ---- Time to the first probe of a crashed member ----

/// The first probe of a crashed member, in probe intervals after the crash, over `trials`
/// fresh meshes of `n`.
fn first_probe_delays(cfg: &Config, n: u32, trials: u64, crash_offset: f64) -> Vec<f64> {
    let mut rng = Rng::stream(99, "gossip-a1");
    let mut out = Vec::new();
    for trial in 0..trials {
        let mut mesh = Mesh::with_members(cfg.clone(), 1000 + trial, n, None);
        let crash_at = if cfg.probe.stagger {
            secs(3.0 + rng.unit())
        } else {
            secs(3.0 + crash_offset)
        };
        let victim = MemberId::new(rng.below(u64::from(n)) as u32);
        mesh.crash(crash_at, victim);
        let mut t = crash_at;
        while mesh.crash_detection(victim).1.is_none() && t < secs(60.0) {
            t += Duration::from_secs(1);
            mesh.advance_to(t);
        }
        let probed = mesh.crash_detection(victim).1.unwrap_or(Time::MAX);
        out.push(probed.since(crash_at).as_secs_f64());
    }
    out
}

/// memberlist's shuffled round robin: each survivor reaches the victim after a uniform
/// position in its list of m = n-1, so the first probe is the minimum of m uniforms on
/// [0, m) intervals: mean m/(m+1) ~ 1 interval.
#[test]
fn round_robin_first_probe_of_a_crash_takes_about_one_interval() {
    let n = 100;
    let xs = first_probe_delays(&Config::default_lan(), n, 300, 0.0);
    let (mean, se) = mean_se(&xs);
    let m = f64::from(n - 1);
    let expected = m / (m + 1.0);
    eprintln!(
        "round robin first probe: mean {mean:.3} +- {se:.3} intervals, expected {expected:.3}"
    );
    assert!(
        (mean - expected).abs() <= 4.0 * se,
        "mean {mean} +- {se}, expected {expected}"
    );
    // Far from SWIM's 1.58 periods.
    assert!(mean < 1.3);
}

/// SWIM's uniform random target on synchronous periods: the number of periods until the
/// first one in which someone pings the victim is geometric with
/// p = 1 - (1 - 1/(n-1))^(n-1) -> 1 - 1/e, mean 1/p -> e/(e-1) ~ 1.582.
#[test]
fn uniform_random_first_probe_of_a_crash_takes_e_over_e_minus_1_periods() {
    let n = 100;
    let mut cfg = Config::default_lan();
    cfg.probe.selection = ProbeSelection::UniformRandom;
    cfg.probe.stagger = false;
    // Crash half a period after a tick; count periods as ticks up to the first probe.
    let xs: Vec<f64> = first_probe_delays(&cfg, n, 300, 0.5)
        .into_iter()
        .map(|d| (d + 0.5).round())
        .collect();
    let (mean, se) = mean_se(&xs);
    let m = f64::from(n - 1);
    let p = 1.0 - (1.0 - 1.0 / m).powf(m);
    let expected = 1.0 / p;
    eprintln!(
        "uniform random first probe: mean {mean:.3} +- {se:.3} periods, expected {expected:.4} (e/(e-1) = 1.582)"
    );
    assert!(
        (mean - expected).abs() <= 4.0 * se,
        "mean {mean} +- {se}, expected {expected}"
    );
    assert!(xs.iter().all(|&x| x >= 1.0));
}

// ---- Dissemination ----

/// Rounds (gossip intervals) until every running member has learned member 0's new
/// incarnation.
fn rounds_to_all(n: u32, seed: u64) -> f64 {
    let mut cfg = Config::default_lan();
    cfg.push_pull.interval = Duration::ZERO;
    let mut mesh = Mesh::with_members(cfg, seed, n, None);
    let start = secs(2.0);
    mesh.advance_to(start);
    mesh.update_node(start, MemberId::new(0));
    let step = Duration::from_millis(20);
    let mut t = start;
    loop {
        t += step;
        mesh.advance_to(t);
        let inc = mesh.incarnation(MemberId::new(0));
        if (0..n).all(|i| mesh.state_of(MemberId::new(i), MemberId::new(0)).1 == inc)
            || t > secs(30.0)
        {
            break;
        }
    }
    t.since(start).as_secs_f64() / 0.2
}

#[test]
fn dissemination_reaches_everyone_in_logarithmic_rounds() {
    let sizes = [100u32, 400, 1600];
    let trials = [6u64, 4, 2];
    let mut means = Vec::new();
    for (&n, &tr) in sizes.iter().zip(&trials) {
        let xs: Vec<f64> = (0..tr).map(|s| rounds_to_all(n, 50 + s)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        // Push rounds with fanout 3: ~log4(n) + ln(n)/3 (the push phase, then the tail of the
        // epidemic), as a band.
        let band = (n as f64).ln() / 4f64.ln() + (n as f64).ln() / 3.0;
        eprintln!("dissemination n={n}: {mean:.2} rounds (band estimate {band:.2}), trials {xs:?}");
        assert!(
            mean > 0.4 * band && mean < 2.0 * band,
            "n={n}: {mean} vs {band}"
        );
        means.push(mean);
    }
    // 16x the members: log n grows 1.6x; linear growth would be 16x, sqrt 4x.
    let ratio = means[2] / means[0];
    assert!(ratio > 1.0 && ratio < 2.5, "ratio {ratio}");
}

/// The epidemic's final size: with a retransmit limit L each informed member sends L copies to ~uniform targets and
/// passes on only news, so the uninformed fraction s solves s = exp(-L (1 - s)); L = 3 gives
/// s = 0.0595.
#[test]
fn a_small_retransmit_limit_leaves_the_epidemic_final_size_uninformed() {
    let n = 500u32;
    let mut cfg = Config::default_lan();
    cfg.push_pull.interval = Duration::ZERO;
    cfg.gossip.retransmit_mult = 1;
    assert_eq!(retransmit_limit(1, n as usize), 3);
    let mut fractions = Vec::new();
    for trial in 0..8 {
        let mut mesh = Mesh::with_members(cfg.clone(), 300 + trial, n, None);
        mesh.advance_to(secs(2.0));
        mesh.update_node(secs(2.0), MemberId::new(0));
        mesh.advance_to(secs(12.0));
        let inc = mesh.incarnation(MemberId::new(0));
        let uninformed = (1..n)
            .filter(|&i| mesh.state_of(MemberId::new(i), MemberId::new(0)).1 != inc)
            .count();
        fractions.push(uninformed as f64 / f64::from(n - 1));
        assert_eq!(mesh.queued_broadcasts(MemberId::new(1)), 0);
    }
    let (mean, se) = mean_se(&fractions);
    let mut s = 0.5f64;
    for _ in 0..200 {
        s = (-3.0 * (1.0 - s)).exp();
    }
    eprintln!("final size: uninformed {mean:.4} +- {se:.4}, equation {s:.4}");
    assert!((mean - s).abs() <= 4.0 * se + 0.01, "{mean} +- {se} vs {s}");
}

// ---- False suspicions under loss ----

/// `P(suspect | probe) = [1 - (1-p)^2] [1 - (1-p)^4]^k` with the TCP fallback off.
#[test]
fn false_suspicions_under_iid_loss_match_the_formula() {
    let p = 0.2;
    let mut cfg = Config::default_lan();
    cfg.network.loss = p;
    cfg.tcp_ping.disabled = true;
    let mut mesh = Mesh::with_members(cfg, 7, 40, None);
    mesh.advance_to(secs(150.0));
    let c = mesh.counters();
    let probes = c.detection.suspicions_raised + c.probe.acks;
    let rate = c.detection.false_suspicions as f64 / probes as f64;
    let q = 1.0 - (1.0 - p) * (1.0 - p);
    let expected = q * (1.0 - (1.0 - p).powi(4)).powi(3);
    let se = (expected * (1.0 - expected) / probes as f64).sqrt();
    eprintln!(
        "false suspicions: {rate:.4} over {probes} probes, expected {expected:.4} +- {se:.4}"
    );
    assert!(
        (rate - expected).abs() <= 4.0 * se,
        "{rate} vs {expected} +- {se}"
    );
}

/// memberlist's fallback TCP ping (`DisableTcpPings` false, its default): under 30% UDP loss
/// a healthy pool's failed UDP probes are mostly saved by the stream, which resends what the
/// loss drops, so the false suspicions the UDP-only probe raises mostly go.
#[test]
fn the_tcp_fallback_prevents_false_suspicions_under_udp_loss() {
    let run = |disable_tcp_pings: bool| {
        let mut cfg = Config::default_lan();
        cfg.network.loss = 0.3;
        cfg.tcp_ping.disabled = disable_tcp_pings;
        let mut mesh = Mesh::with_members(cfg, 11, 30, None);
        mesh.advance_to(secs(120.0));
        mesh.counters().clone()
    };
    let udp_only = run(true);
    let with_tcp = run(false);
    eprintln!(
        "30% loss: UDP only {} false suspicions, {} dead; with TCP {} ({} dead), {} TCP pings, {} saved",
        udp_only.detection.false_suspicions,
        udp_only.detection.false_dead_declarations,
        with_tcp.detection.false_suspicions,
        with_tcp.detection.false_dead_declarations,
        with_tcp.probe.tcp_pings,
        with_tcp.probe.tcp_fallback_acks
    );
    assert_eq!(
        (udp_only.probe.tcp_pings, udp_only.probe.tcp_fallback_acks),
        (0, 0)
    );
    assert!(udp_only.detection.false_suspicions >= 100, "{udp_only:?}");
    assert!(
        with_tcp.probe.tcp_fallback_acks > 0
            && with_tcp.probe.tcp_pings >= with_tcp.probe.tcp_fallback_acks
    );
    // A lost SYN or SYN-ACK fails the exchange at awareness 0 (its resend comes after 1 s, the
    // deadline after 0.5 s): about 40% of the failed UDP probes are saved, more once a prober
    // is degraded. The flaps (healthy members declared dead) go.
    assert!(
        with_tcp.detection.false_suspicions * 4 <= udp_only.detection.false_suspicions * 3,
        "{with_tcp:?}"
    );
    assert!(udp_only.detection.false_dead_declarations > 0);
    assert_eq!(with_tcp.detection.false_dead_declarations, 0);
}

/// Without loss a probe that misses its UDP ack is saved by TCP only if the target answers
/// streams: a crashed target does not, so it is still suspected at the probe's deadline and
/// declared dead after the suspicion timeout, as with UDP only; and a target across a
/// partition does not either.
#[test]
fn the_tcp_fallback_still_lets_a_crashed_member_be_declared_dead_on_time() {
    let n = 20;
    for loss in [0.0, 0.3] {
        let mut cfg = Config::default_lan();
        cfg.network.loss = loss;
        let mut mesh = Mesh::with_members(cfg, 2, n, None);
        mesh.advance_to(Time::from_secs(5));
        mesh.crash(Time::from_secs(5), MemberId::new(7));
        mesh.advance_to(Time::from_secs(120));
        let (crashed, probed, dead) = mesh.crash_detection(MemberId::new(7));
        let (crashed, probed, dead) = (crashed.unwrap(), probed.unwrap(), dead.unwrap());
        assert!(probed >= crashed);
        let min = suspicion_timeout(4, 20, Duration::from_secs(1));
        // Suspected at the first probe's deadline (one interval), dead between the minimum
        // suspicion timeout and its Lifeguard maximum (6x) after that. (Under loss a false
        // suspicion before the crash may already be running: only the upper bound holds.)
        if loss == 0.0 {
            assert!(dead >= probed.after(Duration::from_secs(1)).after(min));
        }
        assert!(
            dead <= probed
                .after(Duration::from_secs(2))
                .after(min.saturating_mul(6)),
            "loss {loss}: probed {probed}, dead {dead}"
        );
        assert!(mesh.counters().probe.tcp_pings > 0);
        for id in (0..n).filter(|&i| i != 7) {
            assert_eq!(
                mesh.serf_status_of(MemberId::new(id), MemberId::new(7)),
                SerfStatus::Failed,
                "loss {loss}"
            );
        }
    }
    // No loss: only probes of the crashed member fail, and TCP saves none of them.
    let mut mesh = Mesh::with_members(Config::default_lan(), 2, n, None);
    mesh.crash(Time::from_secs(5), MemberId::new(7));
    mesh.advance_to(Time::from_secs(60));
    let c = mesh.counters();
    assert!(c.probe.tcp_pings > 0);
    assert_eq!(
        (c.probe.tcp_fallback_acks, c.detection.false_suspicions),
        (0, 0)
    );
}

// ---- Lifeguard ----

/// Lifeguard acts on the UDP failure detector, which is what the paper measures: the TCP
/// fallback is off here (with it, the starved members' streams still answer in time and there
/// is nothing left for Lifeguard to cut).
fn lifeguard_run(mut cfg: Config, seed: u64) -> Counters {
    cfg.tcp_ping.disabled = true;
    let n = 32;
    let mut mesh = Mesh::with_members(cfg, seed, n, None);
    // A quarter of the members get a heavily slowed CPU: their listener takes ~0.4 s a packet.
    for id in 0..n / 4 {
        mesh.set_cpu_slowdown(secs(1.0), MemberId::new(id), 20_000.0);
    }
    mesh.advance_to(secs(200.0));
    mesh.counters().clone()
}

#[test]
fn lifeguard_cuts_false_dead_declarations_of_healthy_members() {
    let mut off_total = 0u64;
    let mut on_total = 0u64;
    for seed in 0..2 {
        let off = lifeguard_run(Config::default_lan().without_lifeguard(), 40 + seed);
        let on = lifeguard_run(Config::default_lan(), 40 + seed);
        off_total += off.detection.false_dead_of_healthy;
        on_total += on.detection.false_dead_of_healthy;
    }
    let factor = off_total as f64 / (on_total.max(1)) as f64;
    eprintln!(
        "Lifeguard: off {off_total}, on {on_total} false dead of healthy, factor {factor:.1}"
    );
    assert!(
        off_total >= 20,
        "the baseline must produce false positives: {off_total}"
    );
    assert!(factor >= 5.0, "factor {factor}");
}

// ---- Phantoms (see docs/gossip.md) and the encryption fix ----

/// Runs the poisoned-pool scenario; with `encrypt`, the healthy survivors move to an encrypted
/// pool at crash + 400 s. Returns the healthy members' resurrections during the last 300 s and
/// the phantoms they list at the end.
fn phantom_scenario(encrypt: bool) -> (u64, usize) {
    // Consul < 1.2.3 (one FIFO handoff queue). Handlers cost 20 ms a message (Serf and Consul
    // event work); 20 CPU-starved members take 10 s a message, so their small queues overflow
    // and they miss most deaths, while their packet listeners still ack in time. Dead entries
    // are forgotten soon (5 s instead of 30 s) to compress Target's hours into minutes.
    let n = 120u32;
    let slow = 0..20u32;
    let healthy = 20..80u32;
    let mut cfg = Config::pre_1_2_3();
    cfg.handoff.queue_depth = 32;
    cfg.handoff.service_time = Duration::from_millis(20);
    cfg.gossip.to_the_dead_time = Duration::from_secs(5);
    let mut mesh = Mesh::with_members(cfg, 11, n, None);
    for id in slow.clone() {
        mesh.set_cpu_slowdown(Time::ZERO, MemberId::new(id), 500.0);
    }
    // A burst of deaths: 40 members crash at once.
    let crash_at = secs(5.0);
    for id in 80..n {
        mesh.crash(crash_at, MemberId::new(id));
    }
    // By crash + 180 s every crashed member has been probed by every survivor (a 120-tick
    // wrap) and its suspicion has run out (max 6 * 8.3 s): whatever is listed alive after that
    // came back.
    let late = crash_at + span(180.0);
    let mut max_phantoms_late = 0;
    let mut t = crash_at;
    while t < crash_at + span(400.0) {
        t += Duration::from_secs(5);
        mesh.advance_to(t);
        if t > late {
            max_phantoms_late = max_phantoms_late.max(mesh.phantom_members());
        }
    }
    let c = mesh.counters().clone();
    eprintln!(
        "phantoms: drops {}, resurrections {}, phantoms after crash + 180 s up to {max_phantoms_late}",
        c.handoff.drops, c.push_pull.resurrections
    );
    assert!(c.handoff.drops > 0);
    assert!(c.push_pull.resurrections > 0);
    assert!(max_phantoms_late > 0);

    // The fix: the healthy survivors move to an encrypted pool.
    if encrypt {
        for id in healthy.clone() {
            mesh.set_keyring(t, MemberId::new(id), Some(KeyId::new(1)));
        }
    }
    let enc_at = t;
    let healthy_resurrections = |mesh: &Mesh| -> u64 {
        healthy
            .clone()
            .map(|i| mesh.resurrections_at(MemberId::new(i)))
            .sum()
    };
    let before = healthy_resurrections(&mesh);
    mesh.advance_to(enc_at + span(300.0));
    let settled = healthy_resurrections(&mesh);
    mesh.advance_to(enc_at + span(600.0));
    let after = healthy_resurrections(&mesh);
    let seen = mesh.phantom_members_seen_by(|id| healthy.contains(&id.get()));
    let seen_by_slow = mesh.phantom_members_seen_by(|id| slow.contains(&id.get()));
    eprintln!(
        "encrypt {encrypt}: healthy resurrections {before} -> {settled} -> {after}, phantoms seen by healthy {seen}, by slow {seen_by_slow}"
    );
    (after - settled, seen)
}

#[test]
fn phantoms_return_through_push_pull_and_encryption_quarantines_them() {
    let (late_resurrections, seen) = phantom_scenario(true);
    assert_eq!(seen, 0);
    assert_eq!(late_resurrections, 0);
    // Without the fix the waves go on.
    let (late_resurrections, _) = phantom_scenario(false);
    assert!(late_resurrections > 0);
}

// ---- Determinism ----

fn scripted(seed: u64) -> (Counters, u64) {
    let mut cfg = Config::default_lan();
    cfg.network.loss = 0.05;
    let mut mesh = Mesh::with_members(cfg, seed, 30, None);
    mesh.crash(secs(3.0), MemberId::new(5));
    mesh.leave(secs(4.0), MemberId::new(6));
    mesh.spawn(secs(5.0), None);
    mesh.set_cpu_slowdown(secs(6.0), MemberId::new(7), 5_000.0);
    mesh.advance_to(secs(90.0));
    (mesh.counters().clone(), mesh.trace_digest())
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let a = scripted(1);
    let b = scripted(1);
    assert_eq!(a, b);
    let c = scripted(2);
    assert_ne!(a.1, c.1);
    assert_ne!(a.0, c.0);
}

// ---- The clock contract ----

/// An input advances the mesh to its time itself: a caller that advances first gets the same
/// run as one that does not.
#[test]
fn inputs_advance_the_mesh_so_callers_need_not() {
    let run = |pre_advance: bool| {
        let mut mesh = Mesh::with_members(Config::default_lan(), 8, 30, None);
        for k in 1..20u32 {
            let at = Time::from_secs(u64::from(k) * 2);
            if pre_advance {
                mesh.advance_to(at);
            }
            mesh.crash(at, MemberId::new(k));
            assert_eq!(mesh.now(), at);
            mesh.spawn(at, None);
            mesh.set_cpu_slowdown(at, MemberId::new(k + 1), 3.0);
        }
        mesh.advance_to(secs(90.0));
        mesh.check_invariants().unwrap();
        (mesh.counters().clone(), mesh.trace_digest())
    };
    assert_eq!(run(true), run(false));
}

/// `leave_after` advances the mesh to `at` only: inputs before the leave still come in order.
#[test]
fn a_delayed_leave_lets_earlier_inputs_in() {
    let mut mesh = Mesh::with_members(Config::default_lan(), 8, 10, None);
    mesh.leave_after(
        secs(6.0),
        cascade_engine::Duration::from_secs(2),
        MemberId::new(4),
    );
    assert_eq!(mesh.now(), secs(6.0));
    mesh.crash(secs(7.0), MemberId::new(5));
    assert!(mesh.is_running(MemberId::new(4)));
    mesh.advance_to(secs(20.0));
    assert!(!mesh.is_running(MemberId::new(4)) && !mesh.is_running(MemberId::new(5)));
    assert_eq!(
        mesh.state_of(MemberId::new(0), MemberId::new(4)).0,
        MemberState::Left
    );
    assert_eq!(mesh.crash_detection(MemberId::new(5)).0, Some(secs(7.0)));
    mesh.check_invariants().unwrap();
}

// ---- Properties ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_operations_keep_the_invariants(
        seed in 0u64..1_000,
        ops in proptest::collection::vec((0u8..7, 0u32..16, 1u64..4_000), 1..25),
    ) {
        let mut cfg = Config::default_lan();
        cfg.network.loss = 0.02;
        cfg.handoff.queue_depth = 8;
        cfg.push_pull.interval = Duration::from_secs(5);
        cfg.gossip.to_the_dead_time = Duration::from_secs(5);
        cfg.serf.reconnect_timeout = Duration::from_secs(40);
        cfg.serf.tombstone_timeout = Duration::from_secs(20);
        let mut mesh = Mesh::with_members(cfg, seed, 6, None);
        let mut t = Time::ZERO;
        let mut incs: Vec<u32> = Vec::new();
        for (op, who, dt) in ops {
            let count = mesh.member_count();
            let id = who % count.max(1);
            match op {
                0 => { mesh.spawn(t, if who % 5 == 0 { Some(KeyId::new(1)) } else { None }); }
                1 => mesh.leave(t, MemberId::new(id)),
                2 => mesh.crash(t, MemberId::new(id)),
                3 => mesh.set_cpu_slowdown(t, MemberId::new(id), f64::from(who) * 500.0),
                4 => mesh.set_keyring(t, MemberId::new(id), if who % 2 == 0 { Some(KeyId::new(1)) } else { None }),
                5 => mesh.update_node(t, MemberId::new(id)),
                _ => mesh.crash(t, MemberId::new(who + 1_000)), // unknown ids are ignored
            }
            t += Duration::from_millis(dt * 10);
            mesh.advance_to(t);
            prop_assert!(mesh.check_invariants().is_ok(), "{:?}", mesh.check_invariants());
            incs.resize(mesh.member_count() as usize, 0);
            for i in 0..mesh.member_count() {
                let inc = mesh.incarnation(MemberId::new(i));
                prop_assert!(inc >= incs[i as usize], "member {} incarnation went down", i);
                incs[i as usize] = inc;
            }
        }
    }
}
