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

/// The C library whose resolver the pod's program uses: they differ in when they search and
/// in what a failed query does to the search (docs/dns.md#when-a-query-fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Libc {
    /// glibc's `res_nsearch` (glibc 2.x): a name with at least `ndots` dots is tried as
    /// written first and the search list after it fails; one with fewer dots goes through
    /// the search list first and is tried as written last. A SERVFAIL moves on to the next
    /// domain, a timeout skips to the name as written, a refused connection ends the lookup.
    Glibc,
    /// musl's `name_from_dns_search` (musl 1.1.13 on, Alpine images): a name with at least
    /// `ndots` dots is tried as written only, never with the search list. Any failure ends
    /// the lookup.
    Musl,
}

/// The resolver a scenario gets when it names none: glibc's, the C library of the Debian,
/// Ubuntu and distroless base images most cluster workloads are built on. Its rules are read
/// from glibc's `resolv/res_query.c` (`__res_context_search`, `__res_context_query`), the
/// same since the resolver contexts of glibc 2.26 (checked at bminor/glibc master, December
/// 2026). docs/dns.md#when-a-query-fails
pub const DEFAULT_LIBC: Libc = Libc::Glibc;

impl Default for Libc {
    fn default() -> Self {
        DEFAULT_LIBC
    }
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
    /// The C library whose resolver looks the name up: `glibc` (the default) or `musl`.
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
            libc: DEFAULT_LIBC,
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

/// Why a try is made, which decides what the resolver does when it fails
/// (docs/dns.md#when-a-query-fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The name as written, before the search list (glibc, as many dots as `ndots`).
    AsIsFirst,
    /// The name with a search domain appended.
    Search,
    /// The name as written, last (after the search list) or alone (an absolute name; musl
    /// past `ndots`).
    AsIs,
}

/// One try of a lookup: the fully qualified name (with its final dot) and why it is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Try {
    pub name: String,
    pub role: Role,
}

/// The tries a lookup of `name` may make, in order, before knowing which exist or fail: the
/// whole list the resolver would walk if every try failed. docs/dns.md#the-resolver
pub fn tries(name: &str, r: &ResolverSpec) -> Vec<Try> {
    let absolute = name.ends_with('.');
    let bare = name.trim_end_matches('.');
    let as_is = |role| Try {
        name: format!("{bare}."),
        role,
    };
    if absolute {
        return vec![as_is(Role::AsIs)];
    }
    let dots = u32::try_from(bare.matches('.').count()).unwrap_or(u32::MAX);
    let searched = r.search.iter().map(|d| Try {
        name: format!("{bare}.{}.", d.trim_end_matches('.')),
        role: Role::Search,
    });
    match (r.libc, dots >= r.ndots) {
        // glibc: as written first, then the search list.
        (Libc::Glibc, true) => std::iter::once(as_is(Role::AsIsFirst))
            .chain(searched)
            .collect(),
        // musl: "an explicit request for global scope": no search at all.
        (Libc::Musl, true) => vec![as_is(Role::AsIs)],
        // Both: the search list in order, then as written.
        (_, false) => searched.chain(std::iter::once(as_is(Role::AsIs))).collect(),
    }
}

/// The names a lookup of `name` tries, in order (the names of [`tries`]).
pub fn candidates(name: &str, r: &ResolverSpec) -> Vec<String> {
    tries(name, r).into_iter().map(|t| t.name).collect()
}

/// How one query of a try ended, as the resolver reads it (docs/dns.md#when-a-query-fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An answer with records (the name has an address of the type asked).
    Records,
    /// NXDOMAIN: no such name.
    NxDomain,
    /// NODATA: the name exists, with no record of the type asked (NOERROR, no answer).
    NoData,
    /// An answer with RCODE SERVFAIL: the server could not answer.
    ServFail,
    /// No answer within the timeout, every attempt spent.
    Timeout,
    /// The connection refused at once (an ICMP port unreachable: ECONNREFUSED), as for a
    /// Service without endpoints.
    Refused,
}

/// What the resolver does once every query of a try has its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An address: the lookup succeeds.
    Found,
    /// On to the next try (none left: the lookup fails).
    Next,
    /// glibc: the search list stops; the name as written is still tried, unless it was.
    AsWritten,
    /// The lookup fails now.
    Fail,
}

/// What `libc`'s resolver does after a try of `role` whose queries (A first, then AAAA)
/// answered `answers`. docs/dns.md#when-a-query-fails
///
/// glibc (`__res_context_search`): a try with records in either answer succeeds; the name
/// as written tried first goes on to the search list whatever its failure, and tried last
/// (or alone) ends the lookup; a search domain's try ends the lookup on ECONNREFUSED, and
/// otherwise goes by the RCODE `__res_context_query` reads (the A answer's, or the AAAA's
/// when the A answer is NOERROR): NXDOMAIN and NODATA move on, TRY_AGAIN moves on only if
/// the A answer is SERVFAIL ("try next search element"), anything else (a timeout) stops
/// the search list and leaves the name as written.
///
/// musl (`name_from_dns`, in A, AAAA order): a query with no answer or SERVFAIL
/// (`EAI_AGAIN`), or any RCODE but NOERROR and NXDOMAIN (`EAI_FAIL`), ends the lookup; an
/// NXDOMAIN moves on to the next try; NOERROR goes to the next query; with every query
/// NOERROR, records succeed and none (`EAI_NODATA`) ends the lookup.
pub fn after_try(libc: Libc, role: Role, answers: &[Answer]) -> Step {
    match libc {
        Libc::Glibc => {
            if answers.contains(&Answer::Records) {
                return Step::Found;
            }
            match role {
                Role::AsIsFirst => Step::Next,
                Role::AsIs => Step::Fail,
                Role::Search if answers.contains(&Answer::Refused) => Step::Fail,
                Role::Search => {
                    let first = answers.first().copied().unwrap_or(Answer::NxDomain);
                    let read = match (first, answers.get(1)) {
                        (Answer::NoData, Some(&second)) => second,
                        _ => first,
                    };
                    match read {
                        Answer::NxDomain | Answer::NoData | Answer::Records => Step::Next,
                        Answer::ServFail if first == Answer::ServFail => Step::Next,
                        Answer::ServFail | Answer::Timeout => Step::AsWritten,
                        Answer::Refused => Step::Fail,
                    }
                }
            }
        }
        Libc::Musl => {
            for a in answers {
                match a {
                    Answer::ServFail | Answer::Timeout | Answer::Refused => return Step::Fail,
                    Answer::NxDomain => return Step::Next,
                    Answer::NoData | Answer::Records => {}
                }
            }
            if answers.contains(&Answer::Records) {
                Step::Found
            } else {
                Step::Fail
            }
        }
    }
}

/// The try after try `current` of `roles` once it ended with `step`: None when the lookup is
/// over (found, failed, or no try left).
pub fn next_try(roles: &[Role], current: usize, step: Step) -> Option<usize> {
    match step {
        Step::Found | Step::Fail => None,
        Step::Next => (current + 1 < roles.len()).then_some(current + 1),
        Step::AsWritten => {
            let last = roles.len().checked_sub(1)?;
            (last > current && roles[last] == Role::AsIs).then_some(last)
        }
    }
}

/// The queries one lookup of `name` sends and whether it finds an address, walking the
/// tries as `r`'s C library does, `answer` giving each query's outcome (by fully qualified
/// name and family, 0: A, 1: AAAA). docs/dns.md#when-a-query-fails
pub fn walk(
    name: &str,
    r: &ResolverSpec,
    answer: impl Fn(&str, u32) -> Answer,
) -> (Vec<Query>, bool) {
    let plan = tries(name, r);
    let roles: Vec<Role> = plan.iter().map(|t| t.role).collect();
    let mut out = Vec::new();
    let mut at = Some(0);
    while let Some(i) = at.filter(|&i| i < plan.len()) {
        let t = &plan[i];
        let answers: Vec<Answer> = (0..r.address_families)
            .map(|family| answer(&t.name, family))
            .collect();
        for (family, a) in (0..).zip(&answers) {
            out.push(Query {
                name: t.name.clone(),
                family,
                exists: matches!(a, Answer::Records | Answer::NoData),
            });
        }
        let step = after_try(r.libc, t.role, &answers);
        if step == Step::Found {
            return (out, true);
        }
        at = next_try(&roles, i, step);
    }
    (out, false)
}

/// How a healthy server answers a query of a name that exists or not: an address for the A
/// query of a name that exists, NODATA for its AAAA (cascade's names have an A record only),
/// NXDOMAIN for a name that does not exist.
pub fn healthy_answer(exists: bool, family: u32) -> Answer {
    match (exists, family) {
        (true, 0) => Answer::Records,
        (true, _) => Answer::NoData,
        (false, _) => Answer::NxDomain,
    }
}

/// The queries one lookup of `name` sends: each try in turn (A and AAAA together when
/// `addressFamilies` is 2) until a try whose name exists. `exists` says which fully qualified
/// names (with their final dot) exist. A lookup of a name that exists nowhere sends every
/// try. docs/dns.md#the-resolver
pub fn lookup_queries(name: &str, r: &ResolverSpec, exists: impl Fn(&str) -> bool) -> Vec<Query> {
    walk(name, r, |n, family| healthy_answer(exists(n), family)).0
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

    /// One lookup of `api.example.com` (an external name: only as written exists) under
    /// `r`, every query of a try whose name satisfies `broken` answered `fault`: the names
    /// of the tries made, in order, and whether it found an address.
    fn broken_walk(
        r: &ResolverSpec,
        broken: impl Fn(&str) -> bool,
        fault: Answer,
    ) -> (Vec<String>, bool) {
        let (q, found) = walk("api.example.com", r, |n, family| {
            if broken(n) {
                fault
            } else {
                healthy_answer(n == "api.example.com.", family)
            }
        });
        let mut names: Vec<String> = q.into_iter().map(|q| q.name).collect();
        names.dedup();
        (names, found)
    }

    const AS_IS: &str = "api.example.com.";
    const FIRST: &str = "api.example.com.default.svc.cluster.local.";

    #[test]
    fn glibc_walks_past_a_servfail_but_not_past_a_timeout() {
        let r = spec(5, &K8S, Libc::Glibc);
        // A SERVFAIL on the first search domain: "try next search element": all four
        // tries, 8 queries, and the name is found.
        let (tries, found) = broken_walk(&r, |n| n == FIRST, Answer::ServFail);
        assert_eq!((tries.len(), found), (4, true), "{tries:?}");
        // A timeout there: the search list stops, the name as written is still tried: 2
        // tries, 4 queries, found.
        let (tries, found) = broken_walk(&r, |n| n == FIRST, Answer::Timeout);
        assert_eq!(tries, [FIRST, AS_IS]);
        assert!(found);
        // ECONNREFUSED (no endpoints): the lookup ends at once.
        let (tries, found) = broken_walk(&r, |n| n == FIRST, Answer::Refused);
        assert_eq!(tries, [FIRST]);
        assert!(!found);
        // Every answer SERVFAIL: every try (8 queries), nothing found.
        let (tries, found) = broken_walk(&r, |_| true, Answer::ServFail);
        assert_eq!((tries.len(), found), (4, false));
        // Every query timing out: the first domain, then as written: 4 queries.
        let (tries, found) = broken_walk(&r, |_| true, Answer::Timeout);
        assert_eq!(tries, [FIRST, AS_IS]);
        assert!(!found);
        // The name as written failing last fails the lookup, whatever the failure.
        for fault in [Answer::ServFail, Answer::Timeout, Answer::Refused] {
            let (tries, found) = broken_walk(&r, |n| n == AS_IS, fault);
            assert_eq!((tries.len(), found), (4, false), "{fault:?}");
        }
    }

    #[test]
    fn glibc_past_ndots_goes_to_the_search_list_when_the_name_as_written_fails() {
        // ndots 1: api.example.com is tried as written first; its failure, of any kind,
        // sends the lookup through the search list (3 more tries, all NXDOMAIN): 8 queries
        // instead of 2, and no address.
        let r = spec(1, &K8S, Libc::Glibc);
        for fault in [Answer::ServFail, Answer::Timeout, Answer::Refused] {
            let (tries, found) = broken_walk(&r, |n| n == AS_IS, fault);
            assert_eq!((tries.len(), found), (4, false), "{fault:?}");
            assert_eq!(tries[0], AS_IS);
        }
        // A trailing dot: tried as written only, failure or not.
        let (q, found) = walk("api.example.com.", &r, |_, _| Answer::ServFail);
        assert_eq!((q.len(), found), (2, false));
    }

    #[test]
    fn musl_ends_the_lookup_at_any_failure() {
        // musl under ndots 5: a SERVFAIL, a timeout or a refusal on the first domain ends the
        // lookup after its 2 queries (EAI_AGAIN), where glibc goes on.
        let r = spec(5, &K8S, Libc::Musl);
        for fault in [Answer::ServFail, Answer::Timeout, Answer::Refused] {
            let (tries, found) = broken_walk(&r, |n| n == FIRST, fault);
            assert_eq!(tries, [FIRST]);
            assert!(!found);
        }
        // Past ndots: tried as written only, and its failure is the lookup's.
        let r = spec(1, &K8S, Libc::Musl);
        let (tries, found) = broken_walk(&r, |_| true, Answer::ServFail);
        assert_eq!(tries, [AS_IS]);
        assert!(!found);
    }

    /// The A and AAAA queries of one try, sent together, read as each library reads the
    /// pair: glibc takes an address from either and reads the A answer's RCODE first; musl
    /// reads them in order, and a failure of either fails the lookup even beside an address.
    #[test]
    fn a_and_aaaa_answers_are_read_as_each_library_reads_them() {
        use Answer::*;
        use Role::*;
        let g = |role, a: &[Answer]| after_try(Libc::Glibc, role, a);
        let m = |role, a: &[Answer]| after_try(Libc::Musl, role, a);
        // The name as written: an A record, the AAAA query failed.
        assert_eq!(g(AsIs, &[Records, ServFail]), Step::Found);
        assert_eq!(g(AsIs, &[Records, Timeout]), Step::Found);
        assert_eq!(m(AsIs, &[Records, ServFail]), Step::Fail);
        assert_eq!(m(AsIs, &[Records, Timeout]), Step::Fail);
        assert_eq!(m(AsIs, &[Records, NoData]), Step::Found);
        // A search domain: NXDOMAIN on the A query decides for both libraries.
        assert_eq!(g(Search, &[NxDomain, ServFail]), Step::Next);
        assert_eq!(g(Search, &[NxDomain, Timeout]), Step::Next);
        assert_eq!(m(Search, &[NxDomain, Timeout]), Step::Next);
        // A failed A query: glibc goes on after a SERVFAIL, stops the list after a timeout;
        // musl stops at either.
        assert_eq!(g(Search, &[ServFail, NxDomain]), Step::Next);
        assert_eq!(g(Search, &[Timeout, NxDomain]), Step::AsWritten);
        assert_eq!(m(Search, &[ServFail, NxDomain]), Step::Fail);
        // NODATA on A and SERVFAIL on AAAA: glibc's TRY_AGAIN with an A answer that is not
        // SERVFAIL stops the list; musl stops too.
        assert_eq!(g(Search, &[NoData, ServFail]), Step::AsWritten);
        assert_eq!(m(Search, &[NoData, ServFail]), Step::Fail);
        // NODATA on both: glibc moves on (a wildcard of another type must not hide the
        // name), musl's EAI_NODATA ends the lookup.
        assert_eq!(g(Search, &[NoData, NoData]), Step::Next);
        assert_eq!(m(Search, &[NoData, NoData]), Step::Fail);
        // IPv4 only: one answer a try.
        assert_eq!(g(Search, &[ServFail]), Step::Next);
        assert_eq!(g(Search, &[Timeout]), Step::AsWritten);
        // Where a step leads: past the last try nothing; AsWritten to the name as written
        // last, unless it was tried first.
        let below = [Search, Search, AsIs];
        assert_eq!(next_try(&below, 0, Step::AsWritten), Some(2));
        assert_eq!(next_try(&below, 2, Step::Next), None);
        assert_eq!(
            next_try(&[AsIsFirst, Search, Search], 1, Step::AsWritten),
            None
        );
    }

    #[test]
    fn the_default_resolver_is_glibcs() {
        assert_eq!(DEFAULT_LIBC, Libc::Glibc);
        assert_eq!(ResolverSpec::default().libc, Libc::Glibc);
        let read: ResolverSpec = serde_json::from_str(r#"{"libc": "musl"}"#).unwrap();
        assert_eq!(read.libc, Libc::Musl);
        let err = serde_json::from_str::<ResolverSpec>(r#"{"libc": "uclibc"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
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
