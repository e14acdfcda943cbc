//! Open-loop clients: logical calls arrive as a Poisson process whatever happens to earlier
//! ones, each fans out to `requestsPerCall` requests, an answer may come from a client-side
//! cache, and failed requests are retried on the client's backoff policy. A client that
//! protects itself by sealing (Vault on Consul) stops sending once its calls have failed
//! long enough, until an operator unseals it.

use crate::backoff;
use crate::config::ClientSpec;
use crate::contract::{secs, ClientIdx, Out, PodInfo, PodRef, ServiceIdx, SvcEv};
use crate::defences::{Defences, RetryRefusal};
use crate::dns::DnsCache;
use crate::resolver::Query;
use crate::service::LatencyHistogram;
use cascade_engine::Time;
use cascade_model::PodDns;
use cascade_model::Rng;
use std::collections::BTreeMap;

mod lookups;
use lookups::{LookupState, ResolverPlan};

/// How an attempt ended, as its client learns it: answered well, answered with an error
/// (a DNS server's SERVFAIL), no answer before its timeout, refused at once (nothing
/// listening: a Service without endpoints, a process gone), or cut by the client itself
/// (its circuit breaker, its seal: a DNS lookup then ends, whatever its resolver would do).
/// Only a DNS lookup's resolver tells the failures apart (docs/dns.md#when-a-query-fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Ok,
    Error,
    Timeout,
    Refused,
    Cut,
}

impl Reply {
    /// A server's answer: well, or with an error.
    pub(crate) fn answered(ok: bool) -> Reply {
        if ok {
            Reply::Ok
        } else {
            Reply::Error
        }
    }

    pub(crate) fn ok(self) -> bool {
        self == Reply::Ok
    }
}

/// One request of a client's logical call and where it is in its retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientAttempt {
    pub(crate) client: ClientIdx,
    /// The cache key the call looked up.
    key: u32,
    /// The logical call it belongs to.
    call: u32,
    /// Attempts so far after the first.
    attempt: u32,
    prev_delay: f64,
    /// The node of the pod that sent it (a DNS client's node-local cache; 0 otherwise).
    node: u32,
    /// A DNS query the node-local cache sends behind an answer it gave (`prefetch`,
    /// `serve_stale`): part of no call, never retried, its answer only refreshing the cache.
    background: bool,
}

/// What a client has counted over the run.
#[derive(Debug, Default)]
pub(crate) struct ClientCounts {
    pub calls: u64,
    pub cache_hits: u64,
    pub requests: u64,
    pub succeeded: u64,
    pub gave_up: u64,
    pub calls_failed: u64,
    pub calls_ok: u64,
    /// Retries the gRPC retry throttle refused (the request failed for good).
    pub retries_throttled: u64,
    /// Retries Envoy's retry budget refused (the request failed for good).
    pub retries_over_budget: u64,
    /// Attempts the open circuit breaker failed at once, without sending them.
    pub short_circuited: u64,
}

/// What a client has counted since the last sample.
#[derive(Debug, Default)]
pub(crate) struct ClientInterval {
    pub requests: u64,
    pub succeeded: u64,
    pub calls_failed: u64,
    /// A DNS client's lookups that ended, each from the application's call to its answer
    /// (every try, one after another, and their retries): docs/dns.md#lookup-latency.
    pub lookup_latency: LatencyHistogram,
}

#[derive(Debug)]
pub(crate) struct ClientRt {
    pub name: String,
    pub spec: ClientSpec,
    pub target: ServiceIdx,
    /// Per cache key, until when the cached answer is fresh.
    cache: Vec<Time>,
    pub counts: ClientCounts,
    pub interval: ClientInterval,
    /// Calls in progress: requests still out, and whether one of them has failed for good.
    pub open_calls: BTreeMap<u32, (u32, bool)>,
    next_call: u32,
    /// Since when every call has failed (none succeeded since); cleared by a success.
    failing_since: Option<Time>,
    /// When it sealed itself (`sealAfterFailingSeconds`): it sends nothing more.
    pub sealed_at: Option<Time>,
    /// Its defences against retry storms, those configured (docs/retry-defences.md).
    pub defences: Defences,
    /// A `perPodOf` client's Running pods, their nodes and (a DNS client's) the index of
    /// their resolver in `dns.resolvers`, in the order they started.
    callers: Vec<(PodRef, u32, u32)>,
    /// Whether its next arrival is scheduled (a `perPodOf` client with no pod has none).
    armed: bool,
    /// A DNS client's queries, resolvers, node caches and lookups (empty for any other).
    dns: ClientDns,
}

/// A DNS client's own state (`clients/lookups.rs` walks it).
#[derive(Debug, Default)]
pub(crate) struct ClientDns {
    /// Its distinct queries, its callers' together (a query's cache key is its index here).
    queries: Vec<Query>,
    /// Its resolvers: the keys of the queries one lookup sends, per resolver configuration
    /// its pods have (docs/dns.md#a-pods-dnsconfig). The first is the client's own
    /// `dns.resolver`, used when no pod is drawn.
    resolvers: Vec<ResolverPlan>,
    /// Its node-local caches, per node.
    node_caches: BTreeMap<u32, DnsCache>,
    /// Its lookups in progress, per call: where each is in its tries.
    lookups: BTreeMap<u32, LookupState>,
}

/// Every client of a run.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    clients: Vec<ClientRt>,
}

impl Clients {
    /// `targets`: each client's service, resolved by [`crate::validate`].
    pub fn new<'a>(
        specs: impl Iterator<Item = (&'a String, &'a ClientSpec)>,
        targets: &[ServiceIdx],
    ) -> Clients {
        let clients = specs
            .zip(targets)
            .map(|((name, spec), &target)| ClientRt {
                name: name.clone(),
                target,
                cache: vec![
                    Time::ZERO;
                    if spec.cache_ttl_seconds > 0.0 {
                        spec.cache_keys.max(1) as usize
                    } else {
                        0
                    }
                ],
                spec: spec.clone(),
                counts: ClientCounts::default(),
                interval: ClientInterval::default(),
                open_calls: BTreeMap::new(),
                next_call: 0,
                failing_since: None,
                sealed_at: None,
                defences: Defences::new(
                    spec.retry_throttling.as_ref(),
                    spec.retry_budget.as_ref(),
                    spec.circuit_breaker.as_ref(),
                ),
                callers: Vec::new(),
                armed: false,
                dns: ClientDns::default(),
            })
            .collect();
        let mut c = Clients { clients };
        for rt in &mut c.clients {
            if let Some(d) = &rt.spec.dns {
                let r = d.resolver.clone();
                rt.resolver_index(r);
            }
        }
        c
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ClientRt> {
        self.clients.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut ClientRt> {
        self.clients.iter_mut()
    }

    fn get_mut(&mut self, client: ClientIdx) -> &mut ClientRt {
        &mut self.clients[client.ix()]
    }

    /// Every client's first call, from its start time on; a warm cache's entries each fresh
    /// for a time uniform in [0, TTL) (`warmCacheAtStart`).
    pub fn start(&mut self, now: Time, rng: &mut Rng, out: &mut Out) {
        for c in &mut self.clients {
            if c.spec.warm_cache_at_start {
                let ttl = c.spec.cache_ttl_seconds;
                for slot in &mut c.cache {
                    *slot = now + secs(rng.unit() * ttl);
                }
            }
        }
        for i in 0..self.clients.len() {
            // A `perPodOf` client whose pods started before this is already armed.
            if self.clients[i].armed {
                continue;
            }
            let first = secs(self.clients[i].spec.start_seconds).max(now);
            self.next_arrival(first, ClientIdx::at(i), rng, out);
        }
    }

    /// The client's next call, an exponential gap after `from` (Poisson arrivals). A
    /// `perPodOf` client's rate is its rate per pod times its Running pods, read when the gap
    /// is drawn: a change of pods shows from the next call on (docs/dns.md#clients-on-pods).
    fn next_arrival(&mut self, from: Time, client: ClientIdx, rng: &mut Rng, out: &mut Out) {
        let c = &mut self.clients[client.ix()];
        let rate = match (&c.spec.per_pod_of, c.spec.rate_per_pod) {
            #[allow(clippy::cast_precision_loss)]
            (Some(_), Some(per_pod)) => per_pod * c.callers.len() as f64,
            _ => c.spec.rate_per_second,
        };
        c.armed = rate > 0.0;
        if rate > 0.0 {
            let gap = backoff::exponential(1.0 / rate, rng);
            out.at(from + secs(gap), SvcEv::ClientArrival { client });
        }
    }

    /// The `perPodOf` clients whose selector picks this pod.
    pub fn callers_of(&self, info: &PodInfo) -> Vec<ClientIdx> {
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.spec
                    .per_pod_of
                    .as_ref()
                    .is_some_and(|s| s.matches_meta(&info.namespace, &info.labels))
            })
            .map(|(i, _)| ClientIdx::at(i))
            .collect()
    }

    /// The resolver a pod of a DNS client looks up with (its index, for [`Self::caller_up`]):
    /// the client's `dns.resolver` with the pod's dnsConfig merged in as kubelet merges it
    /// (docs/dns.md#a-pods-dnsconfig). 0 for a client without `dns`.
    pub fn resolver_of(&mut self, client: ClientIdx, pod: Option<&PodDns>) -> u32 {
        let c = &mut self.clients[client.ix()];
        let Some(d) = &c.spec.dns else { return 0 };
        let r = crate::dns::pod_resolver(&d.resolver, pod);
        c.resolver_index(r)
    }

    /// A pod of a `perPodOf` client runs: it calls from now on (from the client's start),
    /// with the resolver [`Self::resolver_of`] gave.
    #[allow(clippy::too_many_arguments)]
    pub fn caller_up(
        &mut self,
        now: Time,
        client: ClientIdx,
        pod: PodRef,
        node: u32,
        resolver: u32,
        rng: &mut Rng,
        out: &mut Out,
    ) {
        let c = &mut self.clients[client.ix()];
        if c.callers.iter().any(|(p, _, _)| *p == pod) {
            return;
        }
        c.callers.push((pod, node, resolver));
        if !c.armed && c.sealed_at.is_none() {
            let from = secs(c.spec.start_seconds).max(now);
            self.next_arrival(from, client, rng, out);
        }
    }

    /// A pod of a `perPodOf` client stopped (its process died, or it is gone): it calls no more.
    pub fn caller_down(&mut self, client: ClientIdx, pod: PodRef) {
        self.clients[client.ix()]
            .callers
            .retain(|(p, _, _)| *p != pod);
    }

    /// An operator unseals a client that sealed itself: it calls again, and seals again if
    /// its calls keep failing. False if there is no such sealed client.
    pub fn unseal(&mut self, now: Time, name: &str, rng: &mut Rng, out: &mut Out) -> bool {
        let Some(i) = self.clients.iter().position(|c| c.name == name) else {
            return false;
        };
        let c = &mut self.clients[i];
        if c.sealed_at.take().is_none() {
            return false;
        }
        c.failing_since = None;
        self.next_arrival(now, ClientIdx::at(i), rng, out);
        true
    }

    /// The client's next logical call: the next one is scheduled, the cache looked up, and on
    /// a miss the call opened. Returns the requests to send: one attempt, `n` times.
    pub fn arrival(
        &mut self,
        now: Time,
        client: ClientIdx,
        rng: &mut Rng,
        out: &mut Out,
    ) -> Option<(Vec<ClientAttempt>, u32)> {
        let c = &mut self.clients[client.ix()];
        if c.spec.stop_seconds.is_some_and(|s| now >= secs(s)) || c.sealed_at.is_some() {
            c.armed = false;
            return None;
        }
        self.next_arrival(now, client, rng, out);
        let c = self.get_mut(client);
        if c.spec.per_pod_of.is_some() && c.callers.is_empty() {
            // Its last pod stopped since this arrival was drawn.
            return None;
        }
        c.counts.calls += 1;
        if c.spec.dns.is_some() {
            return c.dns_lookup(now, client, rng);
        }
        let key = if c.cache.is_empty() {
            0
        } else {
            let k = cascade_engine::index_u32(rng.below_index(c.cache.len()));
            if c.cache[k as usize] > now {
                c.counts.cache_hits += 1;
                return None;
            }
            k
        };
        let n = c.spec.requests_per_call;
        if n == 0 {
            return None;
        }
        let call = c.next_call;
        c.next_call = c.next_call.wrapping_add(1);
        c.open_calls.insert(call, (n, false));
        let a = ClientAttempt {
            client,
            key,
            call,
            attempt: 0,
            prev_delay: 0.0,
            node: 0,
            background: false,
        };
        Some((vec![a], n))
    }

    /// An attempt is about to go out: the service to send it to and the timeout, or None if
    /// an open circuit breaker fails it at once (docs/retry-defences.md#circuit-breaker): the
    /// request then fails for good without reaching the service.
    pub fn send(&mut self, now: Time, a: &ClientAttempt) -> Option<(ServiceIdx, f64)> {
        let c = self.get_mut(a.client);
        if c.defences.breaker.as_mut().is_some_and(|b| !b.allows(now)) {
            c.counts.short_circuited += 1;
            c.retry_ended(a);
            if a.background {
                c.dns_refresh_ended(a);
            } else {
                // Failed at once, without reaching the service: a lookup ends here.
                let _ = c.request_done(now, a, Reply::Cut);
            }
            return None;
        }
        c.counts.requests += 1;
        c.interval.requests += 1;
        if let Some(b) = c.defences.budget.as_mut() {
            b.attempt_sent();
        }
        Some((c.target, c.spec.timeout_seconds))
    }

    /// A retry's backoff has passed: true if it goes out, false if the client has sealed
    /// since (the request then fails for good).
    pub fn retry_due(&mut self, now: Time, a: &ClientAttempt) -> bool {
        let c = self.get_mut(a.client);
        if c.sealed_at.is_none() {
            return true;
        }
        c.retry_ended(a);
        let _ = c.request_done(now, a, Reply::Cut);
        false
    }

    /// The outcome of an attempt: a success fills the cache, a failure is retried after the
    /// backoff or, past `maxRetries`, given up. Returns what to send now: a DNS lookup's next
    /// try, once every query of its current one has its answer (docs/dns.md#lookups-as-a-client).
    pub fn answered(
        &mut self,
        now: Time,
        a: ClientAttempt,
        reply: Reply,
        rng: &mut Rng,
        out: &mut Out,
    ) -> Vec<ClientAttempt> {
        let ok = reply.ok();
        let c = self.get_mut(a.client);
        // Every defence hears every attempt's outcome (docs/retry-defences.md).
        if let Some(b) = c.defences.budget.as_mut() {
            b.attempt_answered();
        }
        c.retry_ended(&a);
        if let Some(t) = c.defences.throttle.as_mut() {
            if ok {
                t.record_success();
            } else {
                t.record_failure();
            }
        }
        if let Some(b) = c.defences.breaker.as_mut() {
            b.record(now, ok);
        }
        if a.background {
            // A cache's refresh: its answer only refreshes the entry (docs/dns.md#the-cache-plugin).
            if ok {
                c.counts.succeeded += 1;
                c.interval.succeeded += 1;
                c.dns_answered(now, &a, rng);
            } else {
                c.dns_refresh_ended(&a);
            }
        } else if ok {
            c.counts.succeeded += 1;
            c.interval.succeeded += 1;
            c.dns_answered(now, &a, rng);
            if let Some(slot) = c.cache.get_mut(a.key as usize) {
                *slot = now + secs(c.spec.cache_ttl_seconds);
            }
            return c.request_done(now, &a, Reply::Ok);
        } else if a.attempt < c.spec.max_retries && !c.retry_refused() {
            if let Some(b) = c.defences.budget.as_mut() {
                b.retry_started();
            }
            let d = backoff::delay(&c.spec.backoff, a.attempt + 1, a.prev_delay, rng);
            out.at(
                now + secs(d),
                SvcEv::ClientRetry(ClientAttempt {
                    attempt: a.attempt + 1,
                    prev_delay: d,
                    ..a
                }),
            );
        } else {
            c.counts.gave_up += 1;
            return c.request_done(now, &a, reply);
        }
        Vec::new()
    }
}

impl ClientRt {
    /// Whether a defence refuses the retry of a failed attempt (counted; the request then
    /// fails for good). Throttling is asked first: a retry it refuses takes no budget.
    fn retry_refused(&mut self) -> bool {
        match self.defences.retry_refusal() {
            Some(RetryRefusal::Throttled) => self.counts.retries_throttled += 1,
            Some(RetryRefusal::OverBudget) => self.counts.retries_over_budget += 1,
            None => return false,
        }
        true
    }

    /// A retry attempt is over (answered, or never sent): it leaves the budget.
    fn retry_ended(&mut self, a: &ClientAttempt) {
        if a.attempt > 0 {
            if let Some(b) = self.defences.budget.as_mut() {
                b.retry_ended();
            }
        }
    }

    /// A DNS lookup that began at `started` has ended (answered, or failed): the application
    /// waited this long.
    fn lookup_ended(&mut self, now: Time, started: Time) {
        self.interval
            .lookup_latency
            .record((now - started).as_secs_f64());
    }

    /// A request of call `a.call` is finished for good (succeeded, or failed past its
    /// retries) with `reply`. When the call's last request is in, a DNS lookup's resolver
    /// decides from its try's answers: the next try (returned, to send now), or the lookup
    /// over (docs/dns.md#when-a-query-fails); any other call counts as ok or failed. A client
    /// with `sealAfterFailingSeconds` seals itself once its calls have failed that long.
    #[must_use]
    fn request_done(&mut self, now: Time, a: &ClientAttempt, reply: Reply) -> Vec<ClientAttempt> {
        let call = a.call;
        if self.dns.lookups.contains_key(&call) {
            self.dns_query_ended(a, reply);
        }
        let Some(entry) = self.open_calls.get_mut(&call) else {
            return Vec::new();
        };
        entry.0 = entry.0.saturating_sub(1);
        entry.1 |= !reply.ok();
        if entry.0 > 0 {
            return Vec::new();
        }
        let mut failed = entry.1;
        let mut sends = Vec::new();
        if let Some(state) = self.dns.lookups.remove(&call) {
            let end = self.dns_try_ended(now, call, state);
            sends = end.sends;
            match end.over {
                None => return sends,
                Some(found) => failed = !found,
            }
            self.lookup_ended(now, state.started);
        }
        self.open_calls.remove(&call);
        if failed {
            self.counts.calls_failed += 1;
            self.interval.calls_failed += 1;
            let since = *self.failing_since.get_or_insert(now);
            if let Some(after) = self.spec.seal_after_failing_seconds {
                if self.sealed_at.is_none() && (now - since).as_secs_f64() >= after {
                    self.sealed_at = Some(now);
                }
            }
        } else {
            self.counts.calls_ok += 1;
            self.failing_since = None;
        }
        sends
    }
}
