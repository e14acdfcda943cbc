//! A DNS lookup's tries, one after another (docs/dns.md#lookups-as-a-client): the search
//! list's candidates are tried in order, each once the previous one's answers (NXDOMAIN) are
//! in, with a try's A and AAAA queries sent together.

use super::*;
use crate::dns::DnsLookup;
use crate::resolver::{Libc, ResolverSpec};

/// A client making lookups of `name` (Kubernetes' ndots 5 and search list) against a DNS
/// service with ample workers and a deterministic 0.1 s per query; its first lookup comes at a
/// random time, the next long after.
fn one_lookup(name: &str, fail: bool) -> Driver {
    lookup_with(name, Libc::Glibc, fail)
}

/// [`one_lookup`] with the resolver of `libc`.
fn lookup_with(name: &str, libc: Libc, fail: bool) -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "dns".into(),
        ServiceSpec {
            selector: selector("dns"),
            workers_per_replica: 100,
            service_seconds: 0.1,
            service_time: ServiceTime::Deterministic,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "lookups".into(),
        ClientSpec {
            target: "dns".into(),
            rate_per_second: 0.001,
            timeout_seconds: 5.0,
            max_retries: 0,
            dns: Some(DnsLookup {
                name: name.into(),
                resolver: ResolverSpec {
                    libc,
                    ..ResolverSpec::default()
                },
                ..DnsLookup::default()
            }),
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 4);
    d.ready_pod(1, "dns-0", "dns");
    if fail {
        let all = Degradation {
            error_rate: 1.0,
            ..Degradation::default()
        };
        d.call(|w, now, out| w.set_service_degraded(now, "dns", Some(all), out));
    }
    d
}

/// Steps `d` through its first lookup: the times (from the lookup's start) at which the
/// DNS service received each query, and when the lookup ended.
fn trace(d: &mut Driver) -> (Vec<f64>, f64) {
    let mut start = None;
    let mut sent = Vec::new();
    loop {
        let Reverse((t, _, i)) = d.queue.pop().expect("an event");
        d.now = t;
        let ev = d.events[i].take().expect("event once");
        let before = d.total("dns_requests");
        d.call(|w, now, out| w.handle(now, ev, out));
        d.check();
        let t = t.as_secs_f64();
        let t0 = *start.get_or_insert(t);
        for _ in before..d.total("dns_requests") {
            sent.push(((t - t0) * 1000.0).round() / 1000.0);
        }
        let c = d.world.clients.iter().next().expect("client");
        if c.counts.calls > 0 && c.open_calls.is_empty() {
            return (sent, ((t - t0) * 1000.0).round() / 1000.0);
        }
    }
}

#[test]
fn a_lookups_tries_go_one_after_another_and_its_latency_is_their_sum() {
    // api.example.com under ndots 5: three search domains, then as written; each try an A
    // and an AAAA query, answered in 0.1 s: 8 queries, a pair every 0.1 s, done at 0.4 s.
    let mut d = one_lookup("api.example.com", false);
    let (sent, done) = trace(&mut d);
    assert_eq!(sent, [0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3]);
    assert_eq!(done, 0.4);
    assert_eq!(d.world.clients.iter().next().unwrap().counts.calls_ok, 1);
    // An absolute name: one try, 0.1 s.
    let mut d = one_lookup("api.example.com.", false);
    let (sent, done) = trace(&mut d);
    assert_eq!((sent.as_slice(), done), ([0.0, 0.0].as_slice(), 0.1));
}

/// Every answer an error (SERVFAIL): glibc tries the next search domain after each ("try
/// next search element"), so the lookup sends all 8 queries and fails at 0.4 s; musl ends it
/// at the first try's pair (EAI_AGAIN), at 0.1 s (docs/dns.md#when-a-query-fails).
#[test]
fn a_servfail_moves_glibc_on_and_ends_musls_lookup() {
    let failed = |d: &Driver| d.world.clients.iter().next().unwrap().counts.calls_failed;
    let mut d = lookup_with("api.example.com", Libc::Glibc, true);
    let (sent, done) = trace(&mut d);
    assert_eq!(sent, [0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3]);
    assert_eq!((done, failed(&d)), (0.4, 1));
    let mut d = lookup_with("api.example.com", Libc::Musl, true);
    let (sent, done) = trace(&mut d);
    assert_eq!((sent.as_slice(), done), ([0.0, 0.0].as_slice(), 0.1));
    assert_eq!(failed(&d), 1);
}

/// A DNS service whose only replica is cut off (a partition): every query times out, after
/// the client's 5 s. glibc stops the search list at the first domain's timeout and tries the
/// name as written (4 queries, 10 s); musl ends the lookup at the first (2 queries, 5 s).
#[test]
fn a_timeout_stops_glibcs_search_list_but_not_its_try_as_written() {
    for (libc, queries, secs) in [(Libc::Glibc, 4, 10.0), (Libc::Musl, 2, 5.0)] {
        let mut d = lookup_with("api.example.com", libc, false);
        d.call(|w, now, out| w.set_pod_cut_off(now, PodRef::new(1), true, out));
        let (sent, done) = trace(&mut d);
        assert_eq!((sent.len(), done), (queries, secs), "{libc:?}");
        let c = d.world.clients.iter().next().unwrap();
        assert_eq!(c.counts.calls_failed, 1, "{libc:?}");
    }
}

/// The DNS service unreachable (its connections refused, as a Service without endpoints is):
/// glibc's ECONNREFUSED ends the lookup at the first domain, as musl does: 2 queries, at once.
#[test]
fn a_refused_connection_ends_the_lookup_for_both() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let mut d = lookup_with("api.example.com", libc, false);
        d.call(|w, now, out| w.set_service_reachable(now, "dns", false, out));
        let (_, done) = trace(&mut d);
        // Refused before reaching the service: counted by the client, not by the service.
        assert_eq!((d.total("lookups_requests"), done), (2, 0.0), "{libc:?}");
        let c = d.world.clients.iter().next().unwrap();
        assert_eq!(c.counts.calls_failed, 1, "{libc:?}");
    }
}

#[test]
fn a_lookups_latency_is_measured_as_the_application_sees_it() {
    // The lookup of `a_lookups_tries_go_one_after_another...`: 0.4 s from the call to the
    // answer, four tries of 0.1 s; the DNS service's own latency is 0.1 s a query. The
    // percentile reads as its bucket's upper bound (up to 19% above).
    let mut d = one_lookup("api.example.com", false);
    let (_, done) = trace(&mut d);
    assert_eq!(done, 0.4);
    let now = d.now;
    d.world.roll_interval(now);
    let row: BTreeMap<String, f64> = d.world.sample().into_iter().collect();
    let p50 = row["lookups_lookup_latency_p50_seconds"];
    assert!((0.4..0.48).contains(&p50), "{row:?}");
    assert_eq!(p50, row["lookups_lookup_latency_p99_seconds"]);
    // A client without `dns` has no such column.
    assert!(row
        .keys()
        .all(|k| k.starts_with("lookups_") || !k.contains("lookup")));
}
