//! One DNS cache (one node's, for NodeLocal DNSCache) as the CoreDNS `cache` plugin keeps
//! it: two bounded partitions (successes, denials), TTLs within the plugin's bounds, random
//! eviction, `prefetch` and `serve_stale`, as a state machine with time and randomness passed
//! in. Its settings are `cache_plugin.rs`. docs/dns.md#the-cache-plugin

use super::CacheSpec;
use cascade_engine::Time;
use std::collections::BTreeMap;

/// One cached answer: until when it is fresh, the TTL it was stored with (whole seconds, as
/// the plugin keeps it) and, for `prefetch`, the lookups of it (the plugin's `freq`).
#[derive(Clone, Copy, Debug)]
struct Entry {
    stored: Time,
    until: Time,
    orig_ttl: u64,
    /// Lookups counted with no gap longer than the prefetch duration, and the last one.
    hits: u32,
    last: Time,
    /// A refresh of it (prefetch or serve_stale) is in flight: no other is sent (the
    /// plugin's `refreshing` flag, CoreDNS 1.14.3+).
    refreshing: bool,
}

/// What a lookup in the cache found. docs/dns.md#the-cache-plugin
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// Nothing usable: the query goes upstream and its answer is kept.
    Miss,
    /// A fresh answer; `prefetch`: the query also goes upstream behind it (the entry is
    /// popular and close to expiry, and no refresh of it is in flight).
    Fresh { prefetch: bool },
    /// An expired answer within `serve_stale`'s duration: it answers; `refresh`: the query
    /// goes upstream behind it to refresh the entry (unless a refresh is in flight).
    Stale { refresh: bool },
}

/// One cache (one node's, or one CoreDNS replica's): entries keyed by query, in two
/// partitions of bounded size, as a state machine with time and randomness passed in.
#[derive(Debug, Default)]
pub struct DnsCache {
    success: BTreeMap<u32, Entry>,
    denial: BTreeMap<u32, Entry>,
}

/// Whole seconds elapsed, as the plugin counts an item's age (`int(now.Sub(stored).Seconds())`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole_secs(from: Time, to: Time) -> i64 {
    (to - from).as_secs_f64().floor() as i64
}

impl DnsCache {
    /// Looks `key` up at `now`: a fresh entry answers (and counts a lookup toward
    /// `prefetch`); an expired one answers only under `serve_stale`, within its duration,
    /// and is dropped otherwise (the plugin keeps it until overwritten or evicted; it can
    /// never answer again, so only a full partition would notice).
    pub fn lookup(&mut self, spec: &CacheSpec, now: Time, key: u32) -> Hit {
        for part in [&mut self.success, &mut self.denial] {
            let Some(e) = part.get_mut(&key) else {
                continue;
            };
            if e.until > now {
                let Some(p) = &spec.prefetch else {
                    return Hit::Fresh { prefetch: false };
                };
                // The plugin's freq.Update: a gap longer than the duration starts the count
                // again at 1.
                if (now - e.last).as_secs_f64() > p.duration_seconds {
                    e.hits = 1;
                } else {
                    e.hits += 1;
                }
                e.last = now;
                // ttl(now) <= ceil(percentage% of the stored TTL), in whole seconds.
                #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
                let (remaining, threshold) = (
                    e.orig_ttl as i64 - whole_secs(e.stored, now),
                    (f64::from(p.percentage) / 100.0 * e.orig_ttl as f64).ceil() as i64,
                );
                let prefetch = e.hits >= p.amount && remaining <= threshold && !e.refreshing;
                e.refreshing |= prefetch;
                return Hit::Fresh { prefetch };
            }
            if let Some(st) = &spec.serve_stale {
                if (now - e.until).as_secs_f64() < st.duration_seconds {
                    let refresh = !e.refreshing;
                    e.refreshing = true;
                    return Hit::Stale { refresh };
                }
            }
            part.remove(&key);
        }
        Hit::Miss
    }

    /// A refresh of `key` ended without an answer to keep (it failed or was refused): the
    /// next lookup that calls for one sends one again (the plugin's `endRefresh` with no
    /// failure recheck, its default).
    pub fn refresh_ended(&mut self, key: u32) {
        for part in [&mut self.success, &mut self.denial] {
            if let Some(e) = part.get_mut(&key) {
                e.refreshing = false;
            }
        }
    }

    /// Whether `key`'s answer is fresh at `now`, under the plugin's defaults (no prefetch, no
    /// serve_stale).
    pub fn fresh(&mut self, now: Time, key: u32) -> bool {
        matches!(
            self.lookup(&CacheSpec::default(), now, key),
            Hit::Fresh { .. }
        )
    }

    /// An answer came in at `now`: kept for its TTL within the spec's bounds. A full
    /// partition first drops an entry drawn at random from `rng` (the plugin's shards drop
    /// an arbitrary one: Go's map order), so the run stays a function of its seed. A
    /// refresh of an entry keeps its lookup count (the plugin copies it after a prefetch).
    pub fn insert(
        &mut self,
        spec: &CacheSpec,
        now: Time,
        key: u32,
        success: bool,
        ttl: f64,
        rng: &mut cascade_engine::Rng,
    ) {
        let keep = spec.kept_for(ttl, success);
        let (part, other, cap) = if success {
            (&mut self.success, &mut self.denial, spec.success_capacity)
        } else {
            (&mut self.denial, &mut self.success, spec.denial_capacity)
        };
        let old = part.remove(&key).or_else(|| other.remove(&key));
        if cap == 0 || keep <= 0.0 {
            return;
        }
        if part.len() >= cap as usize {
            let i = rng.below_index(part.len());
            if let Some(&k) = part.keys().nth(i) {
                part.remove(&k);
            }
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let orig_ttl = keep.floor() as u64;
        part.insert(
            key,
            Entry {
                stored: now,
                until: now + crate::contract::secs(keep),
                orig_ttl,
                hits: old.map_or(0, |e| e.hits),
                last: old.map_or(now, |e| e.last),
                refreshing: false,
            },
        );
    }

    /// Entries held (fresh or not yet dropped).
    pub fn len(&self) -> usize {
        self.success.len() + self.denial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Prefetch, ServeStale};

    fn t(s: f64) -> Time {
        crate::contract::secs(s)
    }

    fn rng() -> cascade_engine::Rng {
        cascade_engine::Rng::stream(1, "dns-cache")
    }

    #[test]
    fn ttls_are_capped_and_floored_per_kind() {
        let s = CacheSpec::default();
        assert_eq!(s.kept_for(60.0, true), 30.0);
        assert_eq!(s.kept_for(1.0, true), 5.0);
        assert_eq!(s.kept_for(300.0, false), 5.0);
        let mut c = DnsCache::default();
        let r = &mut rng();
        c.insert(&s, t(0.0), 1, true, 60.0, r);
        c.insert(&s, t(0.0), 2, false, 60.0, r);
        assert!(c.fresh(t(29.9), 1));
        assert!(
            !c.fresh(t(30.0), 1),
            "a success lives 30 s, not its 60 s TTL"
        );
        assert!(c.fresh(t(4.9), 2));
        assert!(!c.fresh(t(5.0), 2), "a denial lives 5 s");
        assert!(c.is_empty(), "expired entries are dropped when looked up");
    }

    #[test]
    fn prefetch_and_serve_stale_are_off_by_default() {
        let s = CacheSpec::default();
        assert_eq!((s.prefetch.clone(), s.serve_stale.clone()), (None, None));
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, true, 30.0, &mut rng());
        for i in 0..100 {
            // Popular and in its last second: still no prefetch.
            assert_eq!(
                c.lookup(&s, t(29.0 + f64::from(i) * 0.009), 1),
                Hit::Fresh { prefetch: false }
            );
        }
        assert_eq!(c.lookup(&s, t(30.0), 1), Hit::Miss);
    }

    /// `prefetch 3 1m 10%` on a 30 s entry: the third lookup with no gap of more than a minute
    /// makes it popular; from then on a lookup with at most ceil(10% x 30) = 3 s left
    /// prefetches, one at a time per entry (CoreDNS 1.14.3+), and the refresh keeps the count.
    #[test]
    fn prefetch_asks_upstream_for_a_popular_entry_in_its_last_percentage() {
        let s = CacheSpec {
            prefetch: Some(Prefetch {
                amount: 3,
                ..Prefetch::default()
            }),
            ..CacheSpec::default()
        };
        assert_eq!(s.problem(), None);
        let r = &mut rng();
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, true, 30.0, r);
        let no = Hit::Fresh { prefetch: false };
        let yes = Hit::Fresh { prefetch: true };
        // Two lookups: not popular, even in the last seconds.
        assert_eq!(c.lookup(&s, t(1.0), 1), no);
        assert_eq!(c.lookup(&s, t(27.5), 1), no);
        // The third: popular, 3 s left (30 - 27): prefetch.
        assert_eq!(c.lookup(&s, t(27.9), 1), yes);
        assert_eq!(
            c.lookup(&s, t(28.5), 1),
            no,
            "one prefetch in flight per entry"
        );
        // The refresh lands: the entry is new (30 s) and keeps its count of 4.
        c.insert(&s, t(28.6), 1, true, 30.0, r);
        assert_eq!(c.lookup(&s, t(30.0), 1), no, "27 s left is above 3 s");
        assert_eq!(c.lookup(&s, t(56.0), 1), yes, "still popular: 3 s left");
        // A gap of more than a minute starts the count again at 1: not popular.
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, true, 600.0, r);
        for at in [1.0, 2.0, 3.0] {
            c.lookup(&s, t(at), 1);
        }
        assert_eq!(
            c.lookup(&s, t(29.5), 1),
            yes,
            "4 lookups, 0.5 s left of 30 s"
        );
        assert_eq!(c.lookup(&s, t(29.6), 1), no, "in flight");
        c.refresh_ended(1);
        assert_eq!(
            c.lookup(&s, t(29.7), 1),
            yes,
            "a failed refresh can be sent again"
        );
        // The count: a gap of exactly the duration keeps it, a longer one starts it again at
        // 1 (freq.Update resets only when the last lookup is before now - duration).
        let long = CacheSpec {
            success_ttl_seconds: 3600.0,
            ..s.clone()
        };
        let mut c = DnsCache::default();
        c.insert(&long, t(0.0), 1, true, 200.0, r);
        c.lookup(&long, t(1.0), 1);
        c.lookup(&long, t(2.0), 1);
        assert_eq!(
            c.lookup(&long, t(95.0), 1),
            no,
            "93 s since the last lookup: the count starts again at 1"
        );
        assert_eq!(c.lookup(&long, t(96.0), 1), no, "2 lookups");
        assert_eq!(
            c.lookup(&long, t(156.0), 1),
            no,
            "3 lookups (a gap of exactly 60 s counts), but 44 s left of 200 is above 20 s"
        );
        assert_eq!(
            c.lookup(&long, t(180.5), 1),
            yes,
            "4 lookups, 20 s left: ceil(10% x 200) = 20"
        );
        let mut c = DnsCache::default();
        c.insert(&long, t(0.0), 1, true, 200.0, r);
        for at in [118.0, 119.0, 179.5] {
            c.lookup(&long, t(at), 1);
        }
        assert_eq!(
            c.lookup(&long, t(180.5), 1),
            no,
            "a gap of 60.5 s restarted the count: 2 lookups, not popular"
        );
        // The percentage is accepted from 10 to 90; amount 0 is refused.
        for (p, ok) in [(9, false), (10, true), (90, true), (91, false)] {
            let s = CacheSpec {
                prefetch: Some(Prefetch {
                    percentage: p,
                    ..Prefetch::default()
                }),
                ..CacheSpec::default()
            };
            assert_eq!(s.problem().is_none(), ok, "{p}%");
        }
        let zero = CacheSpec {
            prefetch: Some(Prefetch {
                amount: 0,
                ..Prefetch::default()
            }),
            ..CacheSpec::default()
        };
        assert!(zero.problem().unwrap().starts_with("prefetch.amount"));
    }

    /// `serve_stale` (default 1h): an expired entry answers within the duration, and not past
    /// it.
    #[test]
    fn serve_stale_answers_from_an_expired_entry_within_its_duration() {
        let s = CacheSpec {
            serve_stale: Some(ServeStale::default()),
            ..CacheSpec::default()
        };
        assert_eq!(s.serve_stale.as_ref().unwrap().duration_seconds, 3600.0);
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, false, 5.0, &mut rng());
        assert_eq!(c.lookup(&s, t(4.0), 1), Hit::Fresh { prefetch: false });
        // Expired at 5 s (its TTL in whole seconds is 0): it answers, and one refresh goes out
        // (immediate mode: the answer first, the refresh behind it).
        let (stale, again) = (Hit::Stale { refresh: true }, Hit::Stale { refresh: false });
        assert_eq!(c.lookup(&s, t(5.0), 1), stale);
        assert_eq!(c.lookup(&s, t(6.0), 1), again, "one refresh in flight");
        c.refresh_ended(1);
        assert_eq!(
            c.lookup(&s, t(3604.9), 1),
            stale,
            "a failed refresh leaves the stale entry, and the next lookup sends another"
        );
        assert_eq!(c.lookup(&s, t(3605.0), 1), Hit::Miss, "an hour past expiry");
        assert!(c.is_empty());
        // A refresh that lands makes it fresh again.
        c.insert(&s, t(0.0), 1, false, 5.0, &mut rng());
        assert_eq!(c.lookup(&s, t(7.0), 1), stale);
        c.insert(&s, t(7.1), 1, false, 5.0, &mut rng());
        assert_eq!(c.lookup(&s, t(12.0), 1), Hit::Fresh { prefetch: false });
        // Without serve_stale the expired entry is a miss.
        assert_eq!(c.lookup(&CacheSpec::default(), t(12.1), 1), Hit::Miss);
    }

    /// A full partition drops an entry drawn from the run's randomness: any of them, never the
    /// one coming in, the same draw for the same seed; the other partition keeps its room.
    #[test]
    fn a_full_partition_drops_a_random_entry() {
        let s = CacheSpec {
            success_capacity: 4,
            ..CacheSpec::default()
        };
        let fill = |seed: u64| {
            let mut r = cascade_engine::Rng::stream(seed, "dns-cache");
            let mut c = DnsCache::default();
            for k in 0..4 {
                c.insert(&s, t(f64::from(k)), k, true, 30.0, &mut r);
            }
            c.insert(&s, t(4.0), 4, true, 30.0, &mut r);
            assert_eq!(c.len(), 4);
            assert!(c.fresh(t(4.0), 4), "the newcomer is kept");
            (0..4).find(|&k| !c.fresh(t(4.0), k)).unwrap()
        };
        let dropped: Vec<u32> = (0..64).map(fill).collect();
        assert_eq!(
            dropped,
            (0..64).map(fill).collect::<Vec<_>>(),
            "deterministic"
        );
        for k in 0..4 {
            assert!(dropped.contains(&k), "entry {k} never dropped: {dropped:?}");
        }
        // Overwriting an entry held evicts nothing; denials have their own room.
        let mut r = rng();
        let mut c = DnsCache::default();
        for k in 0..4 {
            c.insert(&s, t(0.0), k, true, 30.0, &mut r);
        }
        c.insert(&s, t(1.0), 2, true, 30.0, &mut r);
        c.insert(&s, t(1.0), 9, false, 30.0, &mut r);
        assert_eq!(c.len(), 5);
        // A zero capacity caches nothing.
        let none = CacheSpec {
            denial_capacity: 0,
            ..CacheSpec::default()
        };
        c.insert(&none, t(3.0), 5, false, 10.0, &mut r);
        assert!(!c.fresh(t(3.0), 5));
    }
}
