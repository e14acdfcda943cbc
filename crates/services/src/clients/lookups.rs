//! A DNS client's lookups (docs/dns.md#lookups-as-a-client): the queries each resolver
//! configuration of its pods sends, interned once; a lookup's tries walked one after another,
//! each past the node-local cache; the cache filled by the answers. Part of [`super`]'s
//! `ClientRt`, kept apart as the one concern only a client with `dns` has.

use super::{ClientAttempt, ClientRt, Reply};
use crate::contract::ClientIdx;
use crate::dns::Hit;
use crate::resolver::{self, healthy_answer, Answer, Query, ResolverSpec, Role, Step};
use cascade_engine::Time;
use cascade_model::Rng;

/// One resolver configuration of a DNS client's pods: every try a lookup may make (in
/// order, each with its role) and the keys of their queries, `address_families` a try.
#[derive(Debug)]
pub(super) struct ResolverPlan {
    pub(super) spec: ResolverSpec,
    keys: Vec<u32>,
    roles: Vec<Role>,
}

/// A query's place in its try's answers: the A query first, then the AAAA.
fn slot(family: u32) -> usize {
    usize::from(family != 0)
}

impl ResolverPlan {
    fn per_try(&self) -> usize {
        self.spec.address_families.max(1) as usize
    }
}

/// Where a lookup is in its resolver's tries (docs/dns.md#lookups-as-a-client).
#[derive(Clone, Copy, Debug)]
pub(super) struct LookupState {
    client: ClientIdx,
    /// The pod's resolver (an index into `dns.resolvers`) and node.
    resolver: u32,
    node: u32,
    /// The try to send once every query of the current one has its answer.
    next_try: usize,
    /// The answers of the try out, by family (A, AAAA) as they come in: the node cache's
    /// at once, the DNS service's when each query has ended for good.
    answers: [Option<Answer>; 2],
    /// The client cut one of its queries (`Reply::Cut`): the lookup ends with this try.
    cut: bool,
    /// When the application asked (its `getaddrinfo` call began): what
    /// `{client}_lookup_latency_*` measure from.
    pub(super) started: Time,
}

/// What the end of a try leads to: the queries to send now (the next try's, and the node
/// cache's refreshes), and, when the lookup is over, whether it found an address.
pub(super) struct TryEnd {
    pub(super) sends: Vec<ClientAttempt>,
    pub(super) over: Option<bool>,
}

/// What one try of a lookup sends: its queries the node's cache did not answer (and the
/// refreshes the cache sends behind the answers it gave), how many of them the lookup waits
/// for, the try after it and the answers the cache gave it. With nothing to wait for, `found`
/// says how the lookup ended: the cache held an address, or no try was left.
pub(super) struct TrySends {
    pub(super) sends: Vec<ClientAttempt>,
    pub(super) foreground: u32,
    next_try: usize,
    answers: [Option<Answer>; 2],
    pub(super) found: bool,
}

impl ClientRt {
    /// The index of resolver `r` in `dns.resolvers`, added (with its queries interned) if new:
    /// every try the resolver may make, in the order it makes them, so a run without failures
    /// interns what it always did first.
    pub(super) fn resolver_index(&mut self, r: ResolverSpec) -> u32 {
        if let Some(i) = self.dns.resolvers.iter().position(|p| p.spec == r) {
            return cascade_engine::index_u32(i);
        }
        let name = self
            .spec
            .dns
            .as_ref()
            .map(|d| d.name.clone())
            .unwrap_or_default();
        // The name exists only as written (docs/dns.md#lookups-as-a-client).
        let target = format!("{}.", name.trim_end_matches('.'));
        let tries = resolver::tries(&name, &r);
        let mut keys = Vec::new();
        for t in &tries {
            for family in 0..r.address_families {
                let q = Query {
                    exists: t.name == target,
                    name: t.name.clone(),
                    family,
                };
                let i = match self.dns.queries.iter().position(|x| *x == q) {
                    Some(i) => i,
                    None => {
                        self.dns.queries.push(q);
                        self.dns.queries.len() - 1
                    }
                };
                keys.push(cascade_engine::index_u32(i));
            }
        }
        self.dns.resolvers.push(ResolverPlan {
            spec: r,
            keys,
            roles: tries.iter().map(|t| t.role).collect(),
        });
        cascade_engine::index_u32(self.dns.resolvers.len() - 1)
    }

    /// A DNS client's lookup from one of its pods: its first try whose queries the node's
    /// cache does not all hold goes to the DNS service (a try the cache answers whole is
    /// passed at once: its name does not exist), and the next try waits until every query of
    /// this one has its answer, as glibc's and musl's resolvers walk the search list
    /// (docs/dns.md#lookups-as-a-client). A lookup answered whole by the cache counts as a
    /// cache hit.
    pub(super) fn dns_lookup(
        &mut self,
        now: Time,
        client: ClientIdx,
        rng: &mut Rng,
    ) -> Option<(Vec<ClientAttempt>, u32)> {
        let node_local = self
            .spec
            .dns
            .as_ref()
            .is_some_and(|d| d.node_local_cache.is_some());
        // Only a node-local cache, or pods whose resolvers differ, make the calling pod
        // matter: only then is one drawn.
        let (node, resolver) =
            if (node_local || self.dns.resolvers.len() > 1) && !self.callers.is_empty() {
                let (_, node, resolver) = self.callers[rng.below_index(self.callers.len())];
                (node, resolver)
            } else {
                (0, self.callers.first().map_or(0, |c| c.2))
            };
        let call = self.next_call;
        let state = LookupState {
            client,
            resolver,
            node,
            next_try: 0,
            answers: [None; 2],
            cut: false,
            started: now,
        };
        let t = self.dns_try(now, call, state);
        if t.foreground == 0 {
            // Answered whole by the node's cache: at once, as the application sees it (its
            // walk always reaches the name as written, which exists: found).
            self.counts.cache_hits += 1;
            self.interval.lookup_latency.record(0.0);
        } else {
            self.next_call = self.next_call.wrapping_add(1);
            self.await_try(call, &t, state);
        }
        if t.sends.is_empty() {
            return None;
        }
        Some((t.sends, 1))
    }

    /// The lookup's tries from `state.next_try` on: the first one that sends a query the
    /// lookup must wait for, with every query the node's cache answered on the way there
    /// (foreground 0: the cache answered every try left).
    /// The lookup waits for the `foreground` answers of the try just sent; the try after it is
    /// `t.next_try`.
    pub(super) fn await_try(&mut self, call: u32, t: &TrySends, state: LookupState) {
        self.open_calls.insert(call, (t.foreground, false));
        self.dns.lookups.insert(
            call,
            LookupState {
                next_try: t.next_try,
                answers: t.answers,
                ..state
            },
        );
    }

    pub(super) fn dns_try(&mut self, now: Time, call: u32, state: LookupState) -> TrySends {
        let spec = self
            .spec
            .dns
            .as_ref()
            .and_then(|d| d.node_local_cache.as_ref());
        let plan = &self.dns.resolvers[state.resolver as usize];
        let (per_try, keys) = (plan.per_try(), &plan.keys);
        let mut sends = Vec::new();
        let mut try_ix = state.next_try;
        while try_ix * per_try < keys.len() {
            let mut foreground = 0;
            let mut answers = [None; 2];
            for &key in keys.iter().skip(try_ix * per_try).take(per_try) {
                let q = &self.dns.queries[key as usize];
                let hit = match spec {
                    Some(spec) => self
                        .dns
                        .node_caches
                        .entry(state.node)
                        .or_default()
                        .lookup(spec, now, key),
                    None => Hit::Miss,
                };
                let background = match hit {
                    Hit::Fresh { prefetch: false } | Hit::Stale { refresh: false } => {
                        answers[slot(q.family)] = Some(healthy_answer(q.exists, q.family));
                        continue;
                    }
                    Hit::Fresh { prefetch: true } | Hit::Stale { refresh: true } => {
                        answers[slot(q.family)] = Some(healthy_answer(q.exists, q.family));
                        true
                    }
                    Hit::Miss => {
                        foreground += 1;
                        false
                    }
                };
                sends.push(ClientAttempt {
                    client: state.client,
                    key,
                    call,
                    attempt: 0,
                    prev_delay: 0.0,
                    node: state.node,
                    background,
                });
            }
            try_ix += 1;
            if foreground > 0 {
                return TrySends {
                    sends,
                    foreground,
                    next_try: try_ix,
                    answers,
                    found: false,
                };
            }
            // The cache answered the whole try: an address ends the walk, a denial moves on.
            let found = answers.contains(&Some(Answer::Records));
            if found {
                return TrySends {
                    sends,
                    foreground: 0,
                    next_try: try_ix,
                    answers,
                    found,
                };
            }
        }
        TrySends {
            sends,
            foreground: 0,
            next_try: try_ix,
            answers: [None; 2],
            found: false,
        }
    }

    /// A query of lookup `call` ended for good with `reply`: its answer, as the resolver
    /// reads it, is kept for the try's decision.
    pub(super) fn dns_query_ended(&mut self, a: &ClientAttempt, reply: Reply) {
        let Some(state) = self.dns.lookups.get_mut(&a.call) else {
            return;
        };
        let Some(q) = self.dns.queries.get(a.key as usize) else {
            return;
        };
        state.cut |= reply == Reply::Cut;
        state.answers[slot(q.family)] = Some(match reply {
            Reply::Ok => healthy_answer(q.exists, q.family),
            Reply::Error => Answer::ServFail,
            Reply::Timeout => Answer::Timeout,
            Reply::Refused | Reply::Cut => Answer::Refused,
        });
    }

    /// Every query of the lookup's try out has ended: what its resolver does next
    /// (docs/dns.md#when-a-query-fails): the next try sent (`over` None), or the lookup over
    /// (`over`: whether it found an address), with the node cache's refreshes on the way.
    pub(super) fn dns_try_ended(&mut self, now: Time, call: u32, state: LookupState) -> TryEnd {
        let plan = &self.dns.resolvers[state.resolver as usize];
        let current = state.next_try.saturating_sub(1);
        let role = plan.roles.get(current).copied().unwrap_or(Role::AsIs);
        let answers: Vec<Answer> = state
            .answers
            .iter()
            .take(plan.per_try())
            .map(|a| a.unwrap_or(Answer::NxDomain))
            .collect();
        let step = if state.cut {
            Step::Fail
        } else {
            resolver::after_try(plan.spec.libc, role, &answers)
        };
        let next = resolver::next_try(&plan.roles, current, step);
        let Some(next) = next else {
            return TryEnd {
                sends: Vec::new(),
                over: Some(step == Step::Found),
            };
        };
        let state = LookupState {
            next_try: next,
            answers: [None; 2],
            ..state
        };
        let t = self.dns_try(now, call, state);
        if t.foreground > 0 {
            self.await_try(call, &t, state);
            return TryEnd {
                sends: t.sends,
                over: None,
            };
        }
        // The cache answered every try left: done (found if it held the address).
        TryEnd {
            sends: t.sends,
            over: Some(t.found),
        }
    }

    /// A DNS query was answered: its node's cache keeps the answer (a record for the A query
    /// of the name that exists; NXDOMAIN, or NODATA for its AAAA, a denial).
    pub(super) fn dns_answered(&mut self, now: Time, a: &ClientAttempt, rng: &mut Rng) {
        let Some(d) = &self.spec.dns else { return };
        let Some(spec) = &d.node_local_cache else {
            return;
        };
        let Some(q) = self.dns.queries.get(a.key as usize) else {
            return;
        };
        let success = q.exists && q.family == 0;
        let ttl = if success {
            d.record_ttl_seconds
        } else {
            d.denial_ttl_seconds
        };
        self.dns
            .node_caches
            .entry(a.node)
            .or_default()
            .insert(spec, now, a.key, success, ttl, rng);
    }

    /// A cache's refresh failed: its entry may be refreshed again (docs/dns.md#the-cache-plugin).
    pub(super) fn dns_refresh_ended(&mut self, a: &ClientAttempt) {
        if let Some(c) = self.dns.node_caches.get_mut(&a.node) {
            c.refresh_ended(a.key);
        }
    }
}
