//! DNS lookups as a client: a pod's lookup of a name becomes the queries its resolver sends
//! (`resolver.rs`), answered by a node-local cache (NodeLocal DNSCache) when it holds them,
//! the rest sent to the DNS service (CoreDNS, a service whose replicas are pods like any
//! other). The cache is the CoreDNS `cache` plugin's, as a state machine with time passed in.
//! docs/dns.md

use crate::resolver::{external_lookup, Query, ResolverSpec};
use cascade_engine::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client's lookups: every call is one lookup of `name` by a pod's resolver.
/// docs/dns.md#lookups-as-a-client
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DnsLookup {
    /// The name the program asks for, as it writes it (`api.example.com`, or with a final dot
    /// for an absolute name). It is taken to exist only as written (an external name): every
    /// search-list expansion is NXDOMAIN.
    pub name: String,
    /// The pod's resolver: ndots, search list, C library.
    pub resolver: ResolverSpec,
    /// The TTL the name's records carry, in seconds (60: a common TTL for an API endpoint).
    pub record_ttl_seconds: f64,
    /// The TTL of an NXDOMAIN answer (the SOA minimum the server answers with: CoreDNS's
    /// `kubernetes` plugin answers with its `ttl`, 5 s by default).
    pub denial_ttl_seconds: f64,
    /// NodeLocal DNSCache: a cache on every node in front of the DNS service (none: pods
    /// query the service directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_local_cache: Option<CacheSpec>,
}

impl Default for DnsLookup {
    fn default() -> Self {
        DnsLookup {
            name: String::new(),
            resolver: ResolverSpec::default(),
            record_ttl_seconds: 60.0,
            denial_ttl_seconds: 5.0,
            node_local_cache: None,
        }
    }
}

impl DnsLookup {
    /// The queries one lookup sends (before any cache).
    pub fn queries(&self) -> Vec<Query> {
        external_lookup(&self.name, &self.resolver)
    }

    /// What is wrong with it, as `field: problem` relative to the lookup (None: usable).
    pub fn problem(&self) -> Option<String> {
        if self.name.trim_end_matches('.').is_empty() {
            return Some("name: empty: expected the name the program looks up".into());
        }
        if let Some(p) = self.resolver.problem() {
            return Some(format!("resolver.{p}"));
        }
        for (f, v) in [
            ("recordTtlSeconds", self.record_ttl_seconds),
            ("denialTtlSeconds", self.denial_ttl_seconds),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Some(format!(
                    "{f}: {v} is not a TTL: expected a finite number of seconds, 0 or more"
                ));
            }
        }
        if let Some(c) = &self.node_local_cache {
            return c.problem().map(|p| format!("nodeLocalCache.{p}"));
        }
        None
    }
}

/// kubelet's cap on a pod's search list (`MaxDNSSearchPaths`, 32 since Kubernetes 1.28's
/// expanded DNS configuration; 6 before): the domains past it are dropped (kubelet
/// `pkg/kubelet/network/dns`, with an event). docs/dns.md#a-pods-dnsconfig
pub const MAX_DNS_SEARCH_PATHS: usize = 32;

/// The resolver of a pod under `dnsPolicy: ClusterFirst`: `base` (what kubelet writes, the
/// client's `dns.resolver`) with the pod's spec.dnsConfig merged in as kubelet merges it:
/// its searches appended after the cluster's, a domain already listed not repeated; its
/// options merged by name, so its `ndots` replaces the 5 kubelet writes; the list cut at
/// [`MAX_DNS_SEARCH_PATHS`]. Nameservers and the other options (`timeout`, `attempts`:
/// the client's `timeoutSeconds` and `maxRetries`) change no query count.
/// docs/dns.md#a-pods-dnsconfig
pub fn pod_resolver(base: &ResolverSpec, pod: Option<&cascade_model::PodDns>) -> ResolverSpec {
    let mut r = base.clone();
    let Some(d) = pod else { return r };
    for s in &d.searches {
        if !r.search.contains(s) {
            r.search.push(s.clone());
        }
    }
    r.search.truncate(MAX_DNS_SEARCH_PATHS);
    if let Some(n) = d.ndots {
        r.ndots = n;
    }
    r
}

/// A client's `perPodOf`, `ratePerPod` and `dns` together: errors worded from `at`
/// (`clients.NAME`), as the scenario loader locates them.
pub(crate) fn check_client(at: &str, spec: &crate::config::ClientSpec) -> Result<(), String> {
    match (&spec.per_pod_of, spec.rate_per_pod) {
        (Some(_), None) => {
            return Err(format!(
                "{at}.perPodOf: set without ratePerPod: expected the calls per second of each pod"
            ))
        }
        (None, Some(_)) => {
            return Err(format!(
                "{at}.ratePerPod: set without perPodOf: expected the selector of the calling pods"
            ))
        }
        (Some(_), Some(r)) if !(r >= 0.0 && r.is_finite()) => {
            return Err(format!(
                "{at}.ratePerPod: {r} is not a rate: expected a finite number of calls per second, 0 or more"
            ))
        }
        _ => {}
    }
    if !(spec.rate_per_second >= 0.0 && spec.rate_per_second.is_finite()) {
        return Err(format!(
            "{at}.ratePerSecond: {} is not a rate: expected a finite number of calls per second, 0 or more",
            spec.rate_per_second
        ));
    }
    if let Some(d) = &spec.dns {
        if let Some(p) = d.problem() {
            return Err(format!("{at}.dns.{p}"));
        }
        if spec.cache_ttl_seconds > 0.0 {
            return Err(format!(
                "{at}.cacheTtlSeconds: not modelled with dns (the lookup's caches are dns.nodeLocalCache): expected 0"
            ));
        }
    }
    Ok(())
}

/// The CoreDNS `cache` plugin's settings (CoreDNS 1.8+, `plugin/cache`): per kind of answer
/// (success, denial) a capacity and the TTL bounds an entry is kept within. The defaults are
/// the Corefile NodeLocal DNSCache ships for `cluster.local` (kubernetes
/// `cluster/addons/dns/nodelocaldns`, 1.18 on: `success 9984 30`, `denial 9984 5`), with the
/// plugin's own minimum TTL of 5 s. docs/dns.md#the-cache-plugin
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CacheSpec {
    /// `success CAPACITY`: answers with records kept at most.
    pub success_capacity: u32,
    /// `success CAPACITY TTL`: the longest a success is kept (the plugin's own default 3600).
    pub success_ttl_seconds: f64,
    /// `success ... MINTTL` (5): the shortest.
    pub success_min_ttl_seconds: f64,
    /// `denial CAPACITY`: NXDOMAIN and NODATA answers kept at most.
    pub denial_capacity: u32,
    /// `denial CAPACITY TTL`: the longest a denial is kept (the plugin's own default 1800).
    pub denial_ttl_seconds: f64,
    /// `denial ... MINTTL` (5).
    pub denial_min_ttl_seconds: f64,
    /// `prefetch`: refresh a popular entry before it expires (off unless set, as in the
    /// plugin and in NodeLocal DNSCache's Corefile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<Prefetch>,
    /// `serve_stale`: answer from an expired entry and refresh it behind the answer (off
    /// unless set, as in the plugin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_stale: Option<ServeStale>,
}

/// The cache plugin's `prefetch AMOUNT [[DURATION] [PERCENTAGE%]]` (CoreDNS 1.14.7,
/// `plugin/cache`): an entry looked up `amount` times with no gap longer than
/// `durationSeconds` between lookups is popular; a lookup of a popular entry whose remaining
/// TTL is at most `percentage`% of the TTL it was stored with (rounded up to whole seconds: at
/// the latest its last second) sends the query upstream behind the answer (one at a time per
/// entry), and the answer refreshes the entry. docs/dns.md#the-cache-plugin
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Prefetch {
    /// AMOUNT: lookups that make an entry popular (the Corefile requires it; 1, the smallest
    /// that turns prefetch on, is our default).
    pub amount: u32,
    /// DURATION (the plugin's default 1m): a longer gap between lookups resets the count.
    pub duration_seconds: f64,
    /// PERCENTAGE (the plugin's default 10, accepted from 10 to 90).
    pub percentage: u32,
}

impl Default for Prefetch {
    fn default() -> Self {
        Prefetch {
            amount: 1,
            duration_seconds: 60.0,
            percentage: 10,
        }
    }
}

/// The cache plugin's `serve_stale [DURATION]` (CoreDNS 1.14.7, `plugin/cache`, its default
/// `immediate` refresh mode): an entry expired less than `durationSeconds` ago still answers
/// (with a TTL of 0), and the answer sends the query upstream behind it to refresh the entry
/// (one at a time per entry). The `verify` mode (ask upstream first) is not modelled.
/// docs/dns.md#the-cache-plugin
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServeStale {
    /// DURATION (the plugin's default 1h): how long past its expiry an entry still answers.
    pub duration_seconds: f64,
}

impl Default for ServeStale {
    fn default() -> Self {
        ServeStale {
            duration_seconds: 3600.0,
        }
    }
}

/// The bounds the plugin accepts `prefetch`'s PERCENTAGE in (its setup refuses the rest).
pub const PREFETCH_PERCENTAGE_RANGE: std::ops::RangeInclusive<u32> = 10..=90;

/// The plugin's default capacity: 256 shards of 39 entries.
pub const CACHE_CAPACITY: u32 = 9984;

impl Default for CacheSpec {
    fn default() -> Self {
        CacheSpec {
            success_capacity: CACHE_CAPACITY,
            success_ttl_seconds: 30.0,
            success_min_ttl_seconds: 5.0,
            denial_capacity: CACHE_CAPACITY,
            denial_ttl_seconds: 5.0,
            denial_min_ttl_seconds: 5.0,
            prefetch: None,
            serve_stale: None,
        }
    }
}

impl CacheSpec {
    fn problem(&self) -> Option<String> {
        for (f, v) in [
            ("successTtlSeconds", self.success_ttl_seconds),
            ("successMinTtlSeconds", self.success_min_ttl_seconds),
            ("denialTtlSeconds", self.denial_ttl_seconds),
            ("denialMinTtlSeconds", self.denial_min_ttl_seconds),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Some(format!(
                    "{f}: {v} is not a TTL: expected a finite number of seconds, 0 or more"
                ));
            }
        }
        if let Some(p) = &self.prefetch {
            if p.amount == 0 {
                return Some(
                    "prefetch.amount: 0: expected the lookups that make an entry popular, 1 or more (leave prefetch out to turn it off)".into(),
                );
            }
            if !(p.duration_seconds > 0.0 && p.duration_seconds.is_finite()) {
                return Some(format!(
                    "prefetch.durationSeconds: {} is not a duration: expected a finite number of seconds above 0",
                    p.duration_seconds
                ));
            }
            if !PREFETCH_PERCENTAGE_RANGE.contains(&p.percentage) {
                return Some(format!(
                    "prefetch.percentage: {} is out of range: expected 10 to 90 (the plugin's bounds)",
                    p.percentage
                ));
            }
        }
        if let Some(st) = &self.serve_stale {
            if !(st.duration_seconds >= 0.0 && st.duration_seconds.is_finite()) {
                return Some(format!(
                    "serveStale.durationSeconds: {} is not a duration: expected a finite number of seconds, 0 or more",
                    st.duration_seconds
                ));
            }
        }
        None
    }

    /// How long an answer with `ttl` is kept: the TTL brought within [min, max] of its kind.
    pub fn kept_for(&self, ttl: f64, success: bool) -> f64 {
        let (max, min) = if success {
            (self.success_ttl_seconds, self.success_min_ttl_seconds)
        } else {
            (self.denial_ttl_seconds, self.denial_min_ttl_seconds)
        };
        ttl.min(max).max(min)
    }
}

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

    fn t(s: f64) -> Time {
        crate::contract::secs(s)
    }

    #[test]
    fn a_pods_dns_config_is_merged_as_kubelet_merges_it() {
        let base = ResolverSpec::default();
        assert_eq!(pod_resolver(&base, None), base);
        let pod = cascade_model::PodDns {
            searches: vec!["svc.cluster.local".into(), "corp.example.com".into()],
            options: vec![
                ("ndots".into(), Some("1".into())),
                ("single-request".into(), None),
            ],
            ndots: Some(1),
            ..Default::default()
        };
        let r = pod_resolver(&base, Some(&pod));
        assert_eq!(r.ndots, 1, "the pod's ndots replaces kubelet's 5");
        assert_eq!(
            r.search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example.com"
            ],
            "appended after the cluster's, a domain already there not repeated"
        );
        // api.example.com has 2 dots >= ndots 1: tried as written first (2 queries).
        let lookup = DnsLookup {
            name: "api.example.com".into(),
            resolver: r,
            ..DnsLookup::default()
        };
        assert_eq!(lookup.queries().len(), 2);
        // Without ndots, only the list grows: one more try (10 queries, not 8).
        let more = cascade_model::PodDns {
            searches: vec!["corp.example.com".into()],
            ..Default::default()
        };
        let lookup = DnsLookup {
            name: "api.example.com".into(),
            resolver: pod_resolver(&base, Some(&more)),
            ..DnsLookup::default()
        };
        assert_eq!(lookup.queries().len(), 10);
        // kubelet keeps 32 domains at most.
        let many = cascade_model::PodDns {
            searches: (0..40).map(|i| format!("d{i}.example.com")).collect(),
            ..Default::default()
        };
        assert_eq!(
            pod_resolver(&base, Some(&many)).search.len(),
            MAX_DNS_SEARCH_PATHS
        );
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
