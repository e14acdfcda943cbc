//! The Cortex consistent-hash ring (cortexproject/cortex `pkg/ring`, 2019) as a pure state
//! machine: which ingesters a distributor writes a series to, and whether that write can reach
//! quorum. No I/O and no clock: the caller passes simulated time in, and randomness comes from a
//! [`cascade_model::Rng`] stream, so a run stays a pure function of its inputs and seed.
//!
//! # The model
//! - Each ingester registers in the ring `PENDING` with no tokens, then claims `num_tokens`
//!   (default 128) random tokens in the `u32` hash space (`GenerateTokens` in `pkg/ring/util.go`)
//!   or takes a leaving ingester's tokens by hand-over (`ClaimTokensFor`), and goes `ACTIVE`; on
//!   shutdown it goes `LEAVING` and finally unregisters, taking its tokens with it.
//! - A series' key (a `u32` hash) is owned by the ingesters found walking clockwise from the
//!   first token strictly greater than the key, wrapping (`Ring.search`: `sort.Search(...,
//!   Tokens[x].Token > key)`), collecting `replication_factor` (default 3) *distinct* ingesters
//!   (`Ring.Get` / `getInternal` in `pkg/ring/ring.go`). For a write, every non-`ACTIVE`
//!   ingester met is kept in the set but extends it by one (`n++`), so the extra replica still
//!   lands somewhere; the walk stops when `n` distinct ingesters are collected or every token has
//!   been visited.
//! - The replica set is then filtered (`replicationStrategy`, later
//!   `defaultReplicationStrategy.Filter`, `pkg/ring/replication_strategy.go`): quorum is
//!   `minSuccess = max(RF, len(set)) / 2 + 1`, an ingester is healthy for a write iff it is
//!   `ACTIVE` and its last heartbeat is at most `heartbeat_timeout` (default 1 min) old
//!   (`IsHealthy`), and the write is attempted only if at least `minSuccess` healthy ingesters
//!   remain; otherwise the distributor answers 5xx. Unhealthy ingesters still count towards
//!   `len(set)` and hence `minSuccess`, which is why two stale replicas out of three fail a write.
//! - [`quorum_loss_probability`] is the closed form in
//!   `docs/cortex-and-prometheus.md#quorum-loss-formula`: with k of n ingesters down at
//!   random and no extension, the fraction of series below quorum is hypergeometric.
//!
//! Key ranges: because `search` looks for the first token `> key`, the keys that start their walk
//! at token `i` are `[token[i-1], token[i])` (with the range of token 0 wrapping through
//! `u32::MAX`), so [`Ring::write_availability`] can weigh each token's replica set exactly by the
//! size of its range instead of sampling keys.
//!
//! Names follow Cortex's (`IngesterDesc`, `ACTIVE`, `minSuccess`, `heartbeat_timeout`) so that
//! the model reads side by side with the source.

use std::collections::BTreeMap;
use std::fmt;

use cascade_engine::{Duration, Time};
use cascade_model::Rng;

#[cfg(test)]
mod tests;

/// Opaque ingester identity, chosen by the caller (Cortex uses the ingester's hostname).
/// A newtype, so that no other id (a pod's, a gossip member's) can be passed for one; it
/// orders as its number, which the ring's tie-breaks and iteration order rely on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IngesterId(u32);

impl IngesterId {
    pub const fn new(n: u32) -> IngesterId {
        IngesterId(n)
    }

    /// The number the caller chose.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for IngesterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The size of the hash space: keys and tokens are `u32`.
const HASH_SPACE: u64 = 1 << 32;

/// The ring's parameters, with Cortex 2019's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// `-ingester.num-tokens`: tokens each ingester claims on joining (default 128).
    pub num_tokens: u32,
    /// `-distributor.replication-factor`: replicas per series (default 3).
    pub replication_factor: u32,
    /// `-ring.heartbeat-timeout`: an ingester whose last heartbeat is older is unhealthy
    /// (default 1 min).
    pub heartbeat_timeout: Duration,
}

impl Default for RingConfig {
    fn default() -> RingConfig {
        RingConfig {
            num_tokens: 128,
            replication_factor: 3,
            heartbeat_timeout: Duration::from_secs(60),
        }
    }
}

/// An ingester's lifecycle state in the ring (`IngesterState` in `pkg/ring/ring.proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngesterState {
    /// Registered, no tokens yet: waiting to join or to receive a hand-over.
    Pending,
    /// Receiving a leaving ingester's series (hand-over in progress).
    Joining,
    /// Owns tokens and accepts writes.
    Active,
    /// Shutting down: still readable, but writes skip it and extend the replica set.
    Leaving,
}

impl fmt::Display for IngesterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IngesterState::Pending => "PENDING",
            IngesterState::Joining => "JOINING",
            IngesterState::Active => "ACTIVE",
            IngesterState::Leaving => "LEAVING",
        })
    }
}

/// One ingester's entry in the ring (`IngesterDesc`), minus its tokens, which live in the
/// ring's sorted token list.
#[derive(Clone, Debug, PartialEq, Eq)]
struct IngesterDesc {
    state: IngesterState,
    /// `Timestamp`: the time of the last heartbeat.
    last_heartbeat: Time,
    /// How many of the ring's tokens this ingester owns, kept so `tokens_of` is O(1).
    tokens: usize,
}

impl IngesterDesc {
    /// `IsHealthy(ingester, Write)`: ACTIVE and heartbeated within the timeout. A heartbeat in
    /// the future counts as fresh, as Go's negative `time.Since` does.
    fn healthy_for_write(&self, now: Time, heartbeat_timeout: Duration) -> bool {
        self.state == IngesterState::Active && now.since(self.last_heartbeat) <= heartbeat_timeout
    }
}

/// The consistent-hash ring: ingesters with their state and heartbeat, and every token.
#[derive(Clone, Debug)]
pub struct Ring {
    cfg: RingConfig,
    ingesters: BTreeMap<IngesterId, IngesterDesc>,
    /// Every token with its owner, sorted by (token, owner): the denormalised `Desc.Tokens`
    /// that `Ring.search` binary-searches. Tokens are normally unique; `set_tokens` may give two
    /// ingesters the same token, which Cortex's `Desc` allows too, and the walk copes.
    tokens: Vec<(u32, IngesterId)>,
}

impl Ring {
    pub fn new(cfg: RingConfig) -> Ring {
        Ring {
            cfg,
            ingesters: BTreeMap::new(),
            tokens: Vec::new(),
        }
    }

    pub fn config(&self) -> &RingConfig {
        &self.cfg
    }

    /// Registers an ingester with no tokens (PENDING) and heartbeat at `now`. An ingester
    /// already in the ring keeps its tokens and state and only heartbeats, as the lifecycler's
    /// `initRing` trusts an existing entry ("we exist in the ring, so assume the ring is right").
    pub fn register(&mut self, id: IngesterId, now: Time) {
        self.ingesters
            .entry(id)
            .and_modify(|d| d.last_heartbeat = now)
            .or_insert(IngesterDesc {
                state: IngesterState::Pending,
                last_heartbeat: now,
                tokens: 0,
            });
    }

    /// Generates random tokens not already taken (u32 space) and gives them to `id`, topping it
    /// up to `num_tokens` as `autoJoin` does (`GenerateTokens(NumTokens - len(myTokens),
    /// takenTokens)`): an ingester with no tokens gets exactly `num_tokens`. Candidates that are
    /// taken, or repeat one just drawn, are skipped and redrawn, as in `GenerateTokens`. The
    /// state is left to the caller (`autoJoin` sets ACTIVE in the same update).
    /// Does nothing for an unregistered id.
    pub fn claim_random_tokens(&mut self, id: IngesterId, rng: &mut Rng) {
        let Some(desc) = self.ingesters.get(&id) else {
            return;
        };
        let want = (self.cfg.num_tokens as usize).saturating_sub(desc.tokens);
        // Sorted, so both "taken" checks are binary searches and no hashing is involved.
        let mut fresh: Vec<u32> = Vec::with_capacity(want);
        while fresh.len() < want {
            let candidate = (rng.next_u64() >> 32) as u32;
            if self.token_taken(candidate) {
                continue;
            }
            if let Err(pos) = fresh.binary_search(&candidate) {
                fresh.insert(pos, candidate);
            }
        }
        self.tokens.extend(fresh.into_iter().map(|t| (t, id)));
        // Two sorted runs: the stable sort finds them and merges in linear time.
        self.tokens.sort();
        if let Some(desc) = self.ingesters.get_mut(&id) {
            desc.tokens += want;
        }
    }

    /// Replaces `id`'s tokens with `tokens` (duplicates within the list dropped), for tests and
    /// callers that place tokens by hand. Does nothing for an unregistered id.
    pub fn set_tokens(&mut self, id: IngesterId, mut tokens: Vec<u32>) {
        let Some(desc) = self.ingesters.get_mut(&id) else {
            return;
        };
        tokens.sort_unstable();
        tokens.dedup();
        desc.tokens = tokens.len();
        self.tokens.retain(|&(_, owner)| owner != id);
        self.tokens.extend(tokens.into_iter().map(|t| (t, id)));
        self.tokens.sort();
    }

    /// Hand-over: `to` takes all of `from`'s tokens (from keeps none), as the joining ingester's
    /// `ClaimTokensFor(from)` does at the end of a chunk transfer. `to` keeps any tokens it
    /// already had. Does nothing if either id is unregistered or they are the same.
    pub fn transfer_tokens(&mut self, from: IngesterId, to: IngesterId) {
        if from == to || !self.ingesters.contains_key(&to) {
            return;
        }
        let Some(moved) = self
            .ingesters
            .get_mut(&from)
            .map(|d| std::mem::take(&mut d.tokens))
        else {
            return;
        };
        if let Some(d) = self.ingesters.get_mut(&to) {
            d.tokens += moved;
        }
        for t in &mut self.tokens {
            if t.1 == from {
                t.1 = to;
            }
        }
        // Only ties between equal tokens can fall out of order; re-sort (one nearly sorted run,
        // so linear) to keep the (token, owner) order that makes every walk deterministic.
        self.tokens.sort();
    }

    /// Does nothing for an unregistered id.
    pub fn set_state(&mut self, id: IngesterId, state: IngesterState) {
        if let Some(d) = self.ingesters.get_mut(&id) {
            d.state = state;
        }
    }

    pub fn state(&self, id: IngesterId) -> Option<IngesterState> {
        self.ingesters.get(&id).map(|d| d.state)
    }

    /// How many tokens `id` owns (0 if unregistered).
    pub fn tokens_of(&self, id: IngesterId) -> usize {
        self.ingesters.get(&id).map_or(0, |d| d.tokens)
    }

    /// All tokens with their owners, sorted by (token, owner).
    pub fn tokens(&self) -> &[(u32, IngesterId)] {
        &self.tokens
    }

    /// The lifecycler's periodic heartbeat: records `now` as `id`'s last heartbeat (it is set,
    /// not maxed, so a caller can also backdate it). Does nothing for an unregistered id.
    pub fn heartbeat(&mut self, id: IngesterId, now: Time) {
        if let Some(d) = self.ingesters.get_mut(&id) {
            d.last_heartbeat = now;
        }
    }

    pub fn last_heartbeat(&self, id: IngesterId) -> Option<Time> {
        self.ingesters.get(&id).map(|d| d.last_heartbeat)
    }

    /// `IsHealthy(ingester, Write)` at `now`: ACTIVE and heartbeated within the timeout.
    pub fn is_healthy(&self, id: IngesterId, now: Time) -> bool {
        self.ingesters
            .get(&id)
            .is_some_and(|d| d.healthy_for_write(now, self.cfg.heartbeat_timeout))
    }

    /// Unregister (clean shutdown): removes the ingester and its tokens.
    pub fn remove(&mut self, id: IngesterId) {
        if let Some(d) = self.ingesters.remove(&id) {
            if d.tokens > 0 {
                self.tokens.retain(|&(_, owner)| owner != id);
            }
        }
    }

    /// Number of registered ingesters.
    pub fn len(&self) -> usize {
        self.ingesters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ingesters.is_empty()
    }

    /// Registered ingesters and their states, by id.
    pub fn ingesters(&self) -> impl Iterator<Item = (IngesterId, IngesterState)> + '_ {
        self.ingesters.iter().map(|(&id, d)| (id, d.state))
    }

    /// Replica set for a write of key `hash`, as Cortex's `Ring.Get(key, Write)` before
    /// filtering: walk clockwise from the first token > hash (wrapping), collect distinct
    /// ingesters; each non-ACTIVE ingester met extends the set by one (n++); stop when n distinct
    /// are collected or the tokens are exhausted. `out` is cleared first; empty if the ring has
    /// no tokens.
    pub fn write_replicas(&self, hash: u32, out: &mut Vec<IngesterId>) {
        out.clear();
        if let Some(start) = self.search(hash) {
            // Health plays no part in choosing the set, only ACTIVE does.
            self.walk_write(
                start,
                |i| self.replica_at(i, Time::ZERO),
                |id, _| out.push(id),
            );
        }
    }

    /// Whether a write of key `hash` meets quorum at `now`: `defaultReplicationStrategy.Filter`
    /// over the replica set, i.e. minSuccess = max(RF, len(set)) / 2 + 1 and at least minSuccess
    /// of the set ACTIVE with a heartbeat no older than `heartbeat_timeout`. False on a ring
    /// with no tokens (`ErrEmptyRing`). Allocates nothing for replica sets of up to 16.
    pub fn write_ok(&self, hash: u32, now: Time) -> bool {
        self.search(hash)
            .is_some_and(|start| self.write_quorum_from(start, |i| self.replica_at(i, now)))
    }

    /// Fraction of the 2^32 hash space whose writes meet quorum at `now`, computed exactly: the
    /// keys `[token[i-1], token[i])` all start their walk at token `i` and so share one replica
    /// set. 0.0 if the ring has no tokens. O(tokens x walk length).
    pub fn write_availability(&self, now: Time) -> f64 {
        let n = self.tokens.len();
        if n == 0 {
            return 0.0;
        }
        // Shortcut, also the guard against the slow case: when hardly any token owner is
        // ACTIVE every walk runs round the whole ring, but then no replica set can hold
        // minSuccess (>= RF/2 + 1) healthy ingesters either.
        let healthy_owners = self
            .ingesters
            .values()
            .filter(|d| d.tokens > 0 && d.healthy_for_write(now, self.cfg.heartbeat_timeout))
            .count();
        if healthy_owners < self.cfg.replication_factor as usize / 2 + 1 {
            return 0.0;
        }
        // Each owner's flags, looked up once per token rather than at every step of every walk.
        let flags: Vec<Replica> = (0..n).map(|i| self.replica_at(i, now)).collect();
        let mut ok_keys: u64 = 0;
        for i in 0..n {
            let size = if i == 0 {
                HASH_SPACE - u64::from(self.tokens[n - 1].0) + u64::from(self.tokens[0].0)
            } else {
                u64::from(self.tokens[i].0 - self.tokens[i - 1].0)
            };
            if size > 0 && self.write_quorum_from(i, |j| flags[j]) {
                ok_keys += size;
            }
        }
        ok_keys as f64 / HASH_SPACE as f64
    }

    /// Recounts the per-ingester token counts and checks that tokens are sorted and owned by
    /// registered ingesters.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.tokens.windows(2).all(|w| w[0] <= w[1]) {
            return Err("ring tokens are not sorted".into());
        }
        let mut counts: BTreeMap<IngesterId, usize> = BTreeMap::new();
        for &(token, owner) in &self.tokens {
            if !self.ingesters.contains_key(&owner) {
                return Err(format!(
                    "token {token} owned by unregistered ingester {owner}"
                ));
            }
            *counts.entry(owner).or_default() += 1;
        }
        for (&id, d) in &self.ingesters {
            let actual = counts.get(&id).copied().unwrap_or(0);
            if d.tokens != actual {
                return Err(format!(
                    "ingester {id} counts {} tokens but owns {actual}",
                    d.tokens
                ));
            }
        }
        Ok(())
    }

    fn token_taken(&self, token: u32) -> bool {
        let i = self.tokens.partition_point(|&(t, _)| t < token);
        self.tokens.get(i).is_some_and(|&(t, _)| t == token)
    }

    /// `Ring.search`: index of the first token strictly greater than `key`, wrapping to 0;
    /// `None` on a ring with no tokens.
    fn search(&self, key: u32) -> Option<usize> {
        if self.tokens.is_empty() {
            return None;
        }
        let i = self.tokens.partition_point(|&(t, _)| t <= key);
        Some(if i == self.tokens.len() { 0 } else { i })
    }

    /// What the walk and `Filter` need to know of the owner of token `i` at `now`.
    fn replica_at(&self, i: usize, now: Time) -> Replica {
        let desc = &self.ingesters[&self.tokens[i].1];
        Replica {
            active: desc.state == IngesterState::Active,
            healthy: desc.healthy_for_write(now, self.cfg.heartbeat_timeout),
        }
    }

    /// `getInternal`'s walk for `op == Write` from token index `start`, calling `visit` for
    /// each ingester of the replica set in walk order; `replica_at(i)` describes the owner of
    /// token `i`.
    fn walk_write(
        &self,
        start: usize,
        replica_at: impl Fn(usize) -> Replica,
        mut visit: impl FnMut(IngesterId, Replica),
    ) {
        let len = self.tokens.len();
        let mut n = self.cfg.replication_factor as usize;
        let mut distinct = IdSet::new();
        let mut i = start;
        // `iterations < len(r.ringDesc.Tokens)`: at most one lap.
        for _ in 0..len {
            if distinct.len() >= n {
                break;
            }
            let id = self.tokens[i].1;
            let at = i;
            i += 1;
            if i == len {
                i = 0;
            }
            if distinct.contains(id) {
                continue;
            }
            distinct.insert(id);
            let replica = replica_at(at);
            // Non-ACTIVE ingesters stay in the set (Filter drops them as unhealthy) but the
            // write still wants RF ACTIVE ones, so the set grows by one.
            if !replica.active {
                n += 1;
            }
            visit(id, replica);
        }
    }

    /// The walk from token index `start` followed by `Filter`'s quorum check.
    fn write_quorum_from(&self, start: usize, replica_at: impl Fn(usize) -> Replica) -> bool {
        let mut set_len = 0usize;
        let mut healthy = 0usize;
        self.walk_write(start, replica_at, |_, r| {
            set_len += 1;
            if r.healthy {
                healthy += 1;
            }
        });
        // "In the case of a node joining/leaving, the actual replica set might be bigger than
        // the replication factor, so use the bigger or the two."
        let replication_factor = set_len.max(self.cfg.replication_factor as usize);
        let min_success = replication_factor / 2 + 1;
        healthy >= min_success
    }
}

/// One member of a replica set as the walk and `Filter` see it.
#[derive(Clone, Copy, Debug)]
struct Replica {
    /// State ACTIVE: otherwise the walk extends the set by one.
    active: bool,
    /// `IsHealthy(_, Write)`: ACTIVE and heartbeating; only these count towards minSuccess.
    healthy: bool,
}

/// The distinct ingesters met on one walk: a stack array for the usual handful, spilling to the
/// heap only when many non-ACTIVE ingesters extend the set past 16.
struct IdSet {
    inline: [IngesterId; IdSet::INLINE],
    inline_len: usize,
    spill: Vec<IngesterId>,
}

impl IdSet {
    const INLINE: usize = 16;

    fn new() -> IdSet {
        IdSet {
            inline: [IngesterId(0); IdSet::INLINE],
            inline_len: 0,
            spill: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.inline_len + self.spill.len()
    }

    fn contains(&self, id: IngesterId) -> bool {
        self.inline[..self.inline_len].contains(&id) || self.spill.contains(&id)
    }

    fn insert(&mut self, id: IngesterId) {
        if self.inline_len < IdSet::INLINE {
            self.inline[self.inline_len] = id;
            self.inline_len += 1;
        } else {
            self.spill.push(id);
        }
    }
}

/// Analytic: the probability that a series' write misses quorum when `k` of `n` ingesters are
/// down at random and no replica set is extended (the down ones stay ACTIVE but stale), i.e.
/// that its replicas hold more failed ingesters than `Filter` tolerates. The replica set has
/// `m = min(RF, n)` ingesters, quorum is `RF/2 + 1`, so the write fails iff more than
/// `m - (RF/2 + 1)` of its replicas are down: a hypergeometric tail. For RF = 3 that is the
/// `[C(k,2)C(n-k,1) + C(k,3)] / C(n,3)` (docs/cortex-and-prometheus.md#quorum-loss-formula).
///
/// For odd RF the threshold is `floor(RF/2) + 1` failed replicas; for even RF it is `RF/2`
/// (RF = 2 tolerates no failure, RF = 4 tolerates one). Returns 1.0 when no write can succeed
/// (n = 0, or fewer ingesters than the quorum).
pub fn quorum_loss_probability(n: u32, k: u32, rf: u32) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let k = k.min(n);
    let m = rf.min(n);
    let min_success = rf / 2 + 1;
    if m < min_success {
        return 1.0;
    }
    let max_failures = m - min_success;
    let mut lost = 0.0;
    for failed in (max_failures + 1)..=k.min(m) {
        lost += choose(k, failed) * choose(n - k, m - failed);
    }
    lost / choose(n, m)
}

/// Binomial coefficient as f64 (exact for the small second arguments used here).
fn choose(n: u32, k: u32) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}
