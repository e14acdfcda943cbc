//! A DNS lookup storm computed from configuration (docs/dns.md#a-lookup-storm), the bundled
//! `scenarios/dns-lookup-storm.yaml`: the pods of a workload look up an external name through
//! CoreDNS; under Kubernetes' ndots 5 each lookup costs 8 queries, and when the workload
//! scales up CoreDNS saturates. The mitigations (the pods' dnsConfig ndots 1, a trailing-dot
//! name, NodeLocal DNSCache) are variants that hold the SLOs.

mod common;

use common::{run, scenario};
use std::path::PathBuf;

/// The bundled scenario, `scenarios/dns-lookup-storm.yaml` (its numbers and why are in its
/// comments): nothing there is written as "8 queries per lookup", the resolver computes it.
const BUNDLED: &str = include_str!("../../../scenarios/dns-lookup-storm.yaml");

/// Its manifests, as the scenario names them.
const MANIFESTS: [(&str, &str); 3] = [
    (
        "dns-lookup-storm/coredns.yaml",
        include_str!("../../../scenarios/dns-lookup-storm/coredns.yaml"),
    ),
    (
        "dns-lookup-storm/web.yaml",
        include_str!("../../../scenarios/dns-lookup-storm/web.yaml"),
    ),
    (
        "dns-lookup-storm/web-ndots-1.yaml",
        include_str!("../../../scenarios/dns-lookup-storm/web-ndots-1.yaml"),
    ),
];

/// The scenario `sc` (the bundled one, or an edit of it) in a directory of its own, with the
/// bundled manifests, `replace` changing one of them (name, from, to).
fn write(suite: &str, name: &str, sc: &str, replace: Option<(&str, &str, &str)>) -> PathBuf {
    let path = scenario(suite, name, &[("scenario.yaml", sc)]);
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir.join("dns-lookup-storm")).unwrap();
    for (n, text) in MANIFESTS {
        let text = match replace {
            Some((m, from, to)) if m == n => {
                assert!(text.contains(from), "{n}: no {from:?}");
                text.replace(from, to)
            }
            _ => text.to_string(),
        };
        std::fs::write(dir.join(n), text).unwrap();
    }
    path
}

fn storm(name: &str, sc: &str, variant: Option<&str>) -> common::Run {
    run(&write("dns", name, sc, None), variant, &[], None)
}

fn total(r: &common::Run, k: &str) -> u64 {
    *r.summary
        .totals
        .get(k)
        .unwrap_or_else(|| panic!("no total {k}: {:?}", r.summary.totals.keys()))
}

#[test]
fn ndots_5_saturates_coredns_when_the_workload_scales_and_each_mitigation_holds() {
    let base = storm("base", BUNDLED, None);
    assert!(!base.summary.passed(), "{:?}", base.summary.expectations);
    assert!(base.summary.expectations.iter().all(|e| !e.passed));
    for v in ["ndots-1", "fqdn", "node-local-cache"] {
        let r = storm(v, BUNDLED, Some(v));
        assert!(r.summary.passed(), "{v}: {:?}", r.summary.expectations);
    }
}

#[test]
fn queries_per_lookup_come_from_the_resolver_and_load_follows_the_pods() {
    // No scale-up and a CoreDNS far from saturation: the counts are the resolver's.
    let calm = BUNDLED.replace("replicas: 30", "replicas: 10");
    let base = storm("calm", &calm, None);
    let lookups = total(&base, "lookups_calls");
    let sent = total(&base, "lookups_requests");
    assert!(lookups > 0);
    assert_eq!(sent, 8 * lookups, "8 queries per lookup under ndots 5");
    let fqdn = storm("calm-fqdn", &calm, Some("fqdn"));
    assert_eq!(
        total(&fqdn, "lookups_requests"),
        2 * total(&fqdn, "lookups_calls")
    );
    // 10 pods x 2/s from 1m: about 20 lookups/s. The scaled run has three times the pods
    // for four fifths of it.
    let secs = base.summary.simulated_seconds - 60.0;
    #[allow(clippy::cast_precision_loss)]
    let rate = lookups as f64 / secs;
    assert!((17.0..21.0).contains(&rate), "{rate} lookups/s");
    let scaled = storm("scaled-fqdn", BUNDLED, Some("fqdn"));
    #[allow(clippy::cast_precision_loss)]
    let ratio = total(&scaled, "lookups_calls") as f64 / total(&fqdn, "lookups_calls") as f64;
    assert!((2.4..2.8).contains(&ratio), "{ratio}");
    // The node-local caches answer nearly all of it: per node at most the 8 queries once per
    // denial TTL (5 s), far below the 8 per lookup.
    let cached = storm("calm-cache", &calm, Some("node-local-cache"));
    let sent = total(&cached, "lookups_requests");
    #[allow(clippy::cast_precision_loss)]
    let bound = 10.0 * 8.0 * cached.summary.simulated_seconds / 5.0;
    #[allow(clippy::cast_precision_loss)]
    let sent_f = sent as f64;
    assert!(sent > 0 && sent_f <= bound, "{sent} queries, bound {bound}");
    assert!(total(&cached, "lookups_cache_hits") > total(&cached, "lookups_calls") / 2);
}

/// Bad input is refused with its place in the file (the CLI exits 2 on it).
#[test]
fn bad_lookups_are_located_errors() {
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "selector-key",
            "perPodOf: {namespace: shop, matchLabels: {app: web}}",
            "perPodOf: {namespace: shop, matchLabel: {app: web}}",
            "matchLabel",
        ),
        (
            "negative-rate",
            "ratePerPod: 2",
            "ratePerPod: -2",
            "ratePerPod",
        ),
        (
            "ndots",
            "dns: {name: api.example.com}",
            "dns: {name: api.example.com, resolver: {ndots: 16}}",
            "ndots: 16 is out of range",
        ),
        (
            "libc",
            "dns: {name: api.example.com}",
            "dns: {name: api.example.com, resolver: {libc: uclibc}}",
            "unknown variant `uclibc`, expected `glibc` or `musl`",
        ),
        (
            "empty-domain",
            "dns: {name: api.example.com}",
            "dns: {name: api.example.com, resolver: {search: [svc.cluster.local, \"\"]}}",
            "search: entry 1 is empty",
        ),
        (
            "rate-without-selector",
            "perPodOf: {namespace: shop, matchLabels: {app: web}}",
            "ratePerSecond: 3",
            "ratePerPod: set without perPodOf",
        ),
    ];
    for (name, from, to, expected) in cases {
        let sc = BUNDLED.replace(from, to);
        assert_ne!(sc, BUNDLED, "{name}");
        let path = write("dns-bad", name, &sc, None);
        let err = cascade_sim::load(&path, None, &[], None)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"))
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
        // Located at the field's line in scenario.yaml (a rate without its selector: at the
        // rate).
        let line = if name == "rate-without-selector" {
            "ratePerPod: 2"
        } else {
            to
        };
        let at = format!(
            "scenario.yaml:{}:",
            1 + sc.lines().position(|l| l.contains(line)).unwrap()
        );
        assert!(err.contains(&at), "{name}: not at {at}: {err}");
    }
}

/// A client attached to pods no workload has gets the warning other selectors get.
#[test]
fn a_per_pod_selector_matching_nothing_warns() {
    let sc = BUNDLED.replace("matchLabels: {app: web}}", "matchLabels: {app: wbe}}");
    let path = write("dns-warn", "nothing", &sc, None);
    let loaded = cascade_sim::load(&path, None, &[], None).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("client lookups: selector {app=wbe}")
                && w.contains("matches no pod")),
        "{warnings:?}"
    );
}

/// The `ndots-1` variant changes no client field: the pods' dnsConfig does it, merged into
/// their resolv.conf as kubelet merges it (docs/dns.md#a-pods-dnsconfig). A lookup then costs
/// 2 queries; a dnsConfig adding a search domain without ndots costs one try more (10).
#[test]
fn a_pods_dns_config_sets_the_queries_per_lookup() {
    let calm = BUNDLED.replace("replicas: 30", "replicas: 10");
    let r = storm("calm-ndots-1", &calm, Some("ndots-1"));
    let lookups = total(&r, "lookups_calls");
    assert!(lookups > 0);
    assert_eq!(total(&r, "lookups_requests"), 2 * lookups);
    let path = write(
        "dns",
        "calm-search",
        &calm,
        Some((
            "dns-lookup-storm/web-ndots-1.yaml",
            "options:\n        - name: ndots\n          value: \"1\"",
            "searches: [corp.example.com]",
        )),
    );
    let r = run(&path, Some("ndots-1"), &[], None);
    let lookups = total(&r, "lookups_calls");
    let (ok, requests) = (total(&r, "lookups_ok"), total(&r, "lookups_requests"));
    assert!(lookups > 0);
    assert_eq!(total(&r, "lookups_failed"), 0);
    // Tries go one after another: the lookups still searching when the run ends have sent
    // only their first tries (fewer than 10 queries each; a handful at 5 ms a try).
    let searching = lookups - ok;
    assert!(searching < 20, "{searching} lookups in progress at the end");
    assert!(
        (10 * ok..10 * ok + 10 * searching).contains(&requests),
        "{requests} queries for {ok} lookups done and {searching} in progress"
    );
}

/// A dnsConfig cascade cannot read as the resolvers would, and pods whose lookups do not go
/// to the cluster's DNS under a DNS client, are located errors (exit 2 in the CLI).
#[test]
fn bad_dns_configs_are_located_errors() {
    let cases: [(&str, &str, &str, &str, &str); 4] = [
        (
            "ndots-not-a-number",
            "value: \"1\"",
            "value: \"one\"",
            "ndots value \"one\": expected a number of dots from 0 to 15",
            "web-ndots-1.yaml:",
        ),
        (
            "ndots-over-cap",
            "value: \"1\"",
            "value: \"16\"",
            "ndots value \"16\"",
            "web-ndots-1.yaml:",
        ),
        (
            "policy-default",
            "dnsConfig:",
            "dnsPolicy: Default\n      dnsConfig:",
            "client lookups: selects pods with dnsPolicy Default",
            "scenario.yaml:",
        ),
        (
            "policy-typo",
            "dnsConfig:",
            "dnsPolicy: ClusterFrist\n      dnsConfig:",
            "unsupported dnsPolicy \"ClusterFrist\"",
            "web-ndots-1.yaml:",
        ),
    ];
    for (name, from, to, expected, at) in cases {
        let path = write(
            "dns-bad-config",
            name,
            BUNDLED,
            Some(("dns-lookup-storm/web-ndots-1.yaml", from, to)),
        );
        let err = cascade_sim::load(&path, Some("ndots-1"), &[], None)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"))
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(err.contains(at), "{name}: not in {at}: {err}");
        // The base run, whose pods have no dnsConfig, is not affected.
        assert!(cascade_sim::load(&path, None, &[], None).is_ok(), "{name}");
    }
}

/// `serve_stale` on the node-local caches (docs/dns.md#the-cache-plugin): once a node holds a
/// name's answers, every later lookup there is answered from its cache, stale or not, and
/// the refreshes go behind the answers, one per entry at a time; only the first lookups of
/// each of the 10 nodes (a few at once before the first answers land) wait for CoreDNS.
#[test]
fn serve_stale_answers_every_lookup_after_a_nodes_first_from_its_cache() {
    let plain = storm("nlc-plain", BUNDLED, Some("node-local-cache"));
    let sc = BUNDLED.replace(
        "dns: {nodeLocalCache: {}}",
        "dns: {nodeLocalCache: {serveStale: {}}}",
    );
    assert_ne!(sc, BUNDLED);
    let stale = storm("nlc-stale", &sc, Some("node-local-cache"));
    assert!(stale.summary.passed(), "{:?}", stale.summary.expectations);
    let (calls, hits, waited) = (
        total(&stale, "lookups_calls"),
        total(&stale, "lookups_cache_hits"),
        total(&stale, "lookups_ok"),
    );
    assert_eq!(hits + waited, calls, "every lookup answered once");
    assert!(
        (10..20).contains(&waited),
        "{waited} lookups waited for CoreDNS"
    );
    assert!(total(&plain, "lookups_ok") > 50 * waited);
    assert_eq!(total(&stale, "lookups_failed"), 0);
    // Each refresh is a query CoreDNS serves: one per entry per expiry at most, fewer than
    // the plain cache's misses (8 queries per miss lookup).
    assert!(total(&stale, "lookups_requests") < total(&plain, "lookups_requests"));
}
