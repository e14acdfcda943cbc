//! The resolver a pod looks up with under `dnsPolicy: ClusterFirst`: the client's
//! `dns.resolver` (what kubelet writes into resolv.conf) with the pod's spec.dnsConfig merged
//! in as kubelet merges it. docs/dns.md#a-pods-dnsconfig

use crate::resolver::ResolverSpec;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::DnsLookup;

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
}
