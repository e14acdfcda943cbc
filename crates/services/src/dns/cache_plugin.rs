//! The CoreDNS `cache` plugin's settings (CoreDNS 1.8+, `plugin/cache`): per kind of answer
//! a capacity and TTL bounds, `prefetch` and `serve_stale`, their defaults and their checks.
//! The cache they drive is `cache.rs`. docs/dns.md#the-cache-plugin

use serde::{Deserialize, Serialize};

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
    pub(crate) fn problem(&self) -> Option<String> {
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
