//! DNS lookups as a client: a pod's lookup of a name becomes the queries its resolver sends
//! (`resolver.rs`), answered by a node-local cache (NodeLocal DNSCache) when it holds them,
//! the rest sent to the DNS service (CoreDNS, a service whose replicas are pods like any
//! other). The cache is the CoreDNS `cache` plugin's, as a state machine with time passed in.
//! docs/dns.md
//!
//! One concern a file: this one holds a client's `dns` configuration ([`DnsLookup`]) and its
//! checks; `dns/pod_resolver.rs` the resolver a pod gets from kubelet (its dnsConfig merged
//! in); `dns/cache_plugin.rs` the `cache` plugin's settings ([`CacheSpec`]); `dns/cache.rs`
//! one cache as a state machine ([`DnsCache`]), as NodeLocal DNSCache keeps one per node.

mod cache;
mod cache_plugin;
mod pod_resolver;

pub use cache::{DnsCache, Hit};
pub use cache_plugin::{
    CacheSpec, Prefetch, ServeStale, CACHE_CAPACITY, PREFETCH_PERCENTAGE_RANGE,
};
pub use pod_resolver::{pod_resolver, MAX_DNS_SEARCH_PATHS};

use crate::resolver::{external_lookup, Query, ResolverSpec};
use serde::{Deserialize, Serialize};

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
