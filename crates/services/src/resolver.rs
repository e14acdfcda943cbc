//! A pod's stub resolver: the DNS queries one name lookup (`getaddrinfo`) costs, from the
//! resolver's configuration (`ndots`, the search list, the C library) and from which names
//! exist. Pure: no clock, no state. docs/dns.md#the-resolver.

use serde::{Deserialize, Serialize};

/// The resolv.conf `ndots` option's upper bound: glibc and musl both cap it at 15
/// (glibc `RES_MAXNDOTS`, musl `resolvconf.c`); a value above is refused here rather than
/// silently capped. docs/dns.md#the-resolver
pub const MAX_NDOTS: u32 = cascade_model::objects::MAX_NDOTS;

/// The `ndots` Kubernetes writes into a pod's resolv.conf under `dnsPolicy: ClusterFirst`
/// (kubelet `pkg/kubelet/network/dns`, every release since 1.x: `options ndots:5`).
pub const KUBERNETES_NDOTS: u32 = 5;

/// The C library whose resolver the pod's program uses: they differ in when they search.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Libc {
    /// glibc's `res_nsearch` (glibc 2.x): a name with at least `ndots` dots is tried as
    /// written first and the search list after it fails; one with fewer dots goes through
    /// the search list first and is tried as written last.
    #[default]
    Glibc,
    /// musl's `name_from_dns_search` (musl 1.1.13 on, Alpine images): a name with at least
    /// `ndots` dots is tried as written only, never with the search list.
    Musl,
}

/// A pod's resolver configuration: its resolv.conf and its C library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ResolverSpec {
    /// resolv.conf `options ndots:N` (Kubernetes: 5), in 0..=15.
    pub ndots: u32,
    /// resolv.conf `search`, in order (Kubernetes' ClusterFirst in namespace `default`:
    /// `default.svc.cluster.local svc.cluster.local cluster.local`, followed by the node's
    /// own search domains, which a scenario adds: on EC2 `<region>.compute.internal`).
    pub search: Vec<String>,
    /// The C library (glibc).
    pub libc: Libc,
    /// Queries per try: 2 when the program asks for any address family (`AF_UNSPEC`: A and
    /// AAAA, sent together by glibc and musl alike), 1 when it asks for IPv4 only.
    pub address_families: u32,
}

impl Default for ResolverSpec {
    fn default() -> Self {
        ResolverSpec {
            ndots: KUBERNETES_NDOTS,
            search: kubernetes_search("default", "cluster.local"),
            libc: Libc::Glibc,
            address_families: 2,
        }
    }
}

/// The search list kubelet writes for a pod of `namespace` (ClusterFirst), before the node's
/// own search domains.
pub fn kubernetes_search(namespace: &str, cluster_domain: &str) -> Vec<String> {
    vec![
        format!("{namespace}.svc.{cluster_domain}"),
        format!("svc.{cluster_domain}"),
        cluster_domain.to_string(),
    ]
}

/// One query a lookup sends: the fully qualified name (with its final dot), its type, and
/// whether the name exists (the answer is records or NODATA rather than NXDOMAIN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    /// 0: A, 1: AAAA.
    pub family: u32,
    pub exists: bool,
}

impl ResolverSpec {
    /// What is wrong with this configuration, as `field: problem` (None: it is usable).
    pub fn problem(&self) -> Option<String> {
        if self.ndots > MAX_NDOTS {
            return Some(format!(
                "ndots: {} is out of range: expected 0 to {MAX_NDOTS} (the resolv.conf cap of glibc and musl)",
                self.ndots
            ));
        }
        if let Some(i) = self
            .search
            .iter()
            .position(|d| d.trim_end_matches('.').trim().is_empty())
        {
            return Some(format!(
                "search: entry {i} is empty: expected a domain such as svc.cluster.local"
            ));
        }
        if let Some(d) = self
            .search
            .iter()
            .find(|d| d.chars().any(char::is_whitespace))
        {
            return Some(format!(
                "search: {d:?} holds a space: expected one domain per entry"
            ));
        }
        if !(1..=2).contains(&self.address_families) {
            return Some(format!(
                "addressFamilies: {} is out of range: expected 1 (A only) or 2 (A and AAAA)",
                self.address_families
            ));
        }
        None
    }
}

/// The names a lookup of `name` tries, in order, before knowing which exist: the whole list
/// the resolver would walk if every try failed. docs/dns.md#the-resolver
pub fn candidates(name: &str, r: &ResolverSpec) -> Vec<String> {
    let absolute = name.ends_with('.');
    let bare = name.trim_end_matches('.');
    let as_is = format!("{bare}.");
    if absolute {
        return vec![as_is];
    }
    let dots = u32::try_from(bare.matches('.').count()).unwrap_or(u32::MAX);
    let searched = r
        .search
        .iter()
        .map(|d| format!("{bare}.{}.", d.trim_end_matches('.')));
    match (r.libc, dots >= r.ndots) {
        // glibc: as written first, then the search list.
        (Libc::Glibc, true) => std::iter::once(as_is).chain(searched).collect(),
        // musl: "an explicit request for global scope": no search at all.
        (Libc::Musl, true) => vec![as_is],
        // Both: the search list in order, then as written.
        (_, false) => searched.chain(std::iter::once(as_is)).collect(),
    }
}

/// The queries one lookup of `name` sends: each try in turn (A and AAAA together when
/// `addressFamilies` is 2) until a try whose name exists. `exists` says which fully qualified
/// names (with their final dot) exist. A lookup of a name that exists nowhere sends every
/// try. docs/dns.md#the-resolver
pub fn lookup_queries(name: &str, r: &ResolverSpec, exists: impl Fn(&str) -> bool) -> Vec<Query> {
    let mut out = Vec::new();
    for n in candidates(name, r) {
        let found = exists(&n);
        for family in 0..r.address_families {
            out.push(Query {
                name: n.clone(),
                family,
                exists: found,
            });
        }
        if found {
            break;
        }
    }
    out
}

/// The queries one lookup of an external name (one that exists only as written, like
/// `api.example.com`) costs: every search-list expansion is NXDOMAIN.
pub fn external_lookup(name: &str, r: &ResolverSpec) -> Vec<Query> {
    let target = format!("{}.", name.trim_end_matches('.'));
    lookup_queries(name, r, |n| n == target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(ndots: u32, search: &[&str], libc: Libc) -> ResolverSpec {
        ResolverSpec {
            ndots,
            search: search.iter().map(|s| s.to_string()).collect(),
            libc,
            address_families: 2,
        }
    }

    const K8S: [&str; 3] = [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ];

    #[test]
    fn an_external_name_under_kubernetes_defaults_costs_eight_queries() {
        // api.example.com has 2 dots < ndots 5: three NXDOMAIN tries, then the name itself,
        // each an A and an AAAA query.
        for libc in [Libc::Glibc, Libc::Musl] {
            let q = external_lookup("api.example.com", &spec(5, &K8S, libc));
            assert_eq!(q.len(), 8, "{libc:?}");
            assert_eq!(q[0].name, "api.example.com.default.svc.cluster.local.");
            assert!(q[..6].iter().all(|q| !q.exists));
            assert_eq!(q[6].name, "api.example.com.");
            assert!(q[6].exists && q[7].exists);
            assert_eq!((q[6].family, q[7].family), (0, 1));
        }
        // A node search domain (EC2's) adds one more try: 10.
        let mut with_node = K8S.to_vec();
        with_node.push("us-east-1.compute.internal");
        assert_eq!(
            external_lookup("api.example.com", &spec(5, &with_node, Libc::Glibc)).len(),
            10
        );
        // IPv4 only: one query per try.
        let mut v4 = spec(5, &K8S, Libc::Glibc);
        v4.address_families = 1;
        assert_eq!(external_lookup("api.example.com", &v4).len(), 4);
    }

    #[test]
    fn the_mitigations_cost_one_try() {
        // ndots 1: the name has enough dots to be tried as written first.
        assert_eq!(
            external_lookup("api.example.com", &spec(1, &K8S, Libc::Glibc)).len(),
            2
        );
        // A trailing dot: absolute, never searched.
        for libc in [Libc::Glibc, Libc::Musl] {
            let q = external_lookup("api.example.com.", &spec(5, &K8S, libc));
            assert_eq!(q.len(), 2);
            assert_eq!(q[0].name, "api.example.com.");
        }
    }

    #[test]
    fn in_cluster_names_stop_at_the_first_domain_that_has_them() {
        let r = spec(5, &K8S, Libc::Glibc);
        let exists =
            |n: &str| n == "redis.default.svc.cluster.local." || n == "db.other.svc.cluster.local.";
        // A service of the pod's own namespace: the first try.
        assert_eq!(lookup_queries("redis", &r, exists).len(), 2);
        // `db.other`: other.default.svc... is NXDOMAIN, then db.other.svc.cluster.local.
        let q = lookup_queries("db.other", &r, exists);
        assert_eq!(q.len(), 4);
        assert_eq!(q[3].name, "db.other.svc.cluster.local.");
    }

    #[test]
    fn glibc_and_musl_differ_past_ndots() {
        // A name with dots >= ndots that only exists under a search domain: glibc finds it
        // after the as-written try fails; musl never searches.
        let r = |libc| spec(1, &K8S, libc);
        let exists = |n: &str| n == "db.other.svc.cluster.local.";
        let g = lookup_queries("db.other", &r(Libc::Glibc), exists);
        assert_eq!(g.len(), 6);
        assert!(g.last().unwrap().exists);
        let m = lookup_queries("db.other", &r(Libc::Musl), exists);
        assert_eq!(m.len(), 2);
        assert!(!m[0].exists);
    }

    #[test]
    fn problems_are_named() {
        assert!(spec(16, &K8S, Libc::Glibc)
            .problem()
            .unwrap()
            .starts_with("ndots:"));
        assert!(spec(15, &K8S, Libc::Glibc).problem().is_none());
        assert!(spec(0, &K8S, Libc::Glibc).problem().is_none());
        assert!(spec(5, &["a", ""], Libc::Glibc)
            .problem()
            .unwrap()
            .starts_with("search: entry 1"));
        assert!(ResolverSpec::default().problem().is_none());
    }

    proptest! {
        /// The query count in closed form: a name nothing resolves tries every candidate; an
        /// external name costs (search domains + 1) tries below ndots and 1 at or above it
        /// (glibc and musl alike), times the address families.
        #[test]
        fn query_count(
            labels in 1usize..6,
            ndots in 0u32..=15,
            domains in 0usize..7,
            fams in 1u32..=2,
            musl in any::<bool>(),
            trailing in any::<bool>(),
        ) {
            let name = format!("{}{}", vec!["x"; labels].join("."), if trailing { "." } else { "" });
            let search: Vec<String> = (0..domains).map(|i| format!("d{i}.example")).collect();
            let r = ResolverSpec {
                ndots,
                search,
                libc: if musl { Libc::Musl } else { Libc::Glibc },
                address_families: fams,
            };
            let dots = u32::try_from(labels - 1).unwrap();
            let tries = if trailing || dots >= ndots { 1 } else { domains + 1 };
            let ext = external_lookup(&name, &r);
            prop_assert_eq!(ext.len(), tries * fams as usize);
            // Exactly the last try exists, and every query of a try shares its name.
            prop_assert!(ext.iter().rev().take(fams as usize).all(|q| q.exists));
            prop_assert!(ext.iter().rev().skip(fams as usize).all(|q| !q.exists));
            // Nothing exists: every candidate is tried.
            let none = lookup_queries(&name, &r, |_| false);
            let all = if trailing || (dots >= ndots && musl) { 1 } else { domains + 1 };
            prop_assert_eq!(none.len(), all * fams as usize);
        }
    }
}
