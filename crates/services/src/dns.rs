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
}

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

/// One cache (one node's, or one CoreDNS replica's): entries keyed by query, each until
/// when it is fresh, in two partitions of bounded size.
#[derive(Debug, Default)]
pub struct DnsCache {
    success: BTreeMap<u32, Time>,
    denial: BTreeMap<u32, Time>,
}

impl DnsCache {
    /// Whether `key`'s answer is fresh at `now` (an expired entry is dropped).
    pub fn lookup(&mut self, now: Time, key: u32) -> bool {
        for part in [&mut self.success, &mut self.denial] {
            if let Some(&until) = part.get(&key) {
                if until > now {
                    return true;
                }
                part.remove(&key);
            }
        }
        false
    }

    /// An answer came in at `now`: kept for its TTL within the spec's bounds. A full
    /// partition first drops its entry closest to expiry (the plugin drops one at random;
    /// ours is deterministic, docs/dns.md#the-cache-plugin).
    pub fn insert(&mut self, spec: &CacheSpec, now: Time, key: u32, success: bool, ttl: f64) {
        let keep = spec.kept_for(ttl, success);
        let (part, other, cap) = if success {
            (&mut self.success, &mut self.denial, spec.success_capacity)
        } else {
            (&mut self.denial, &mut self.success, spec.denial_capacity)
        };
        other.remove(&key);
        if cap == 0 || keep <= 0.0 {
            part.remove(&key);
            return;
        }
        if !part.contains_key(&key) && part.len() >= cap as usize {
            if let Some((&k, _)) = part.iter().min_by_key(|(k, t)| (**t, **k)) {
                part.remove(&k);
            }
        }
        part.insert(key, now + crate::contract::secs(keep));
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

    #[test]
    fn ttls_are_capped_and_floored_per_kind() {
        let s = CacheSpec::default();
        assert_eq!(s.kept_for(60.0, true), 30.0);
        assert_eq!(s.kept_for(1.0, true), 5.0);
        assert_eq!(s.kept_for(300.0, false), 5.0);
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, true, 60.0);
        c.insert(&s, t(0.0), 2, false, 60.0);
        assert!(c.lookup(t(29.9), 1));
        assert!(
            !c.lookup(t(30.0), 1),
            "a success lives 30 s, not its 60 s TTL"
        );
        assert!(c.lookup(t(4.9), 2));
        assert!(!c.lookup(t(5.0), 2), "a denial lives 5 s");
        assert!(c.is_empty(), "expired entries are dropped when looked up");
    }

    #[test]
    fn a_full_partition_drops_the_entry_closest_to_expiry() {
        let s = CacheSpec {
            success_capacity: 2,
            ..CacheSpec::default()
        };
        let mut c = DnsCache::default();
        c.insert(&s, t(0.0), 1, true, 10.0);
        c.insert(&s, t(1.0), 2, true, 10.0);
        c.insert(&s, t(2.0), 3, true, 10.0);
        assert_eq!(c.len(), 2);
        assert!(!c.lookup(t(3.0), 1));
        assert!(c.lookup(t(3.0), 2) && c.lookup(t(3.0), 3));
        // Denials have their own room.
        c.insert(&s, t(3.0), 4, false, 10.0);
        assert_eq!(c.len(), 3);
        // A zero capacity caches nothing.
        let none = CacheSpec {
            denial_capacity: 0,
            ..CacheSpec::default()
        };
        c.insert(&none, t(3.0), 5, false, 10.0);
        assert!(!c.lookup(t(3.0), 5));
    }
}
