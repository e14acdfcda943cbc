//! Cortex rings whose ingesters are pods, each run by the lifecycler in its pod (cortex
//! `pkg/ingester/lifecycle.go`, `transfer.go`, 2019; see docs/cortex-and-prometheus.md): a new
//! ingester waits PENDING for a hand-over (`-ingester.join-after`) before claiming tokens of
//! its own; a leaving one hands its series and tokens to a PENDING one (`transferOut`), or
//! flushes them to the store; a dead one's entry stays in the ring until its heartbeat goes
//! stale. The distributors' writes succeed when every series reaches quorum.

use crate::config::RingSpec;
use crate::contract::{secs, Effect, IngesterStep, Out, PodInfo, PodRef, RingIdx, SvcEv};
use cascade_engine::{Duration, Generation, Time};
use cascade_model::Rng;
use cascade_ring::{IngesterId, IngesterState, Ring, RingConfig};
use std::collections::BTreeMap;

/// An ingester as the lifecycler in its pod sees it.
#[derive(Debug, Default)]
pub(crate) struct IngesterRt {
    pod: Option<PodRef>,
    pub alive: bool,
    /// Bumped at every process start and death: timers of an earlier life are stale.
    gen: Generation,
    /// In-memory samples (chunks not yet flushed).
    held: f64,
    transfer_retries: u32,
    /// A hand-over to this ingester is in progress.
    pub receiving: bool,
    /// Shutting down: handing over or flushing.
    pub leaving: bool,
    /// Across a partition from the ring's KV store: its heartbeats do not arrive.
    cut_off: bool,
}

pub(crate) struct RingRt {
    pub name: String,
    spec: RingSpec,
    pub ring: Ring,
    /// Pod name ("namespace/name") -> ingester id: a pod recreated under the same name (a
    /// StatefulSet's) is the same ingester and finds its tokens in the ring.
    ids: BTreeMap<String, IngesterId>,
    pub ingesters: BTreeMap<IngesterId, IngesterRt>,
    /// Fraction of series whose writes reach quorum, recomputed when the ring changes.
    availability: f64,
    dirty: bool,
    pub samples_lost: f64,
    pub samples_flushed: f64,
    pub samples_transferred: f64,
}

/// Every ring of a run, and the random stream its ingesters draw tokens from.
pub(crate) struct Rings {
    rings: Vec<RingRt>,
    /// "ring-tokens": tokens drawn apart from the services' stream.
    rng: Rng,
}

impl Rings {
    pub fn new<'a>(specs: impl Iterator<Item = (&'a String, &'a RingSpec)>, rng: Rng) -> Rings {
        let rings = specs
            .map(|(name, spec)| RingRt {
                name: name.clone(),
                spec: spec.clone(),
                ring: Ring::new(RingConfig {
                    num_tokens: spec.num_tokens,
                    replication_factor: spec.replication_factor,
                    heartbeat_timeout: Duration::from_secs_f64(spec.heartbeat_timeout_seconds),
                }),
                ids: BTreeMap::new(),
                ingesters: BTreeMap::new(),
                availability: 0.0,
                dirty: true,
                samples_lost: 0.0,
                samples_flushed: 0.0,
                samples_transferred: 0.0,
            })
            .collect();
        Rings { rings, rng }
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rings.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RingRt> {
        self.rings.iter()
    }

    fn get_mut(&mut self, ring: RingIdx) -> &mut RingRt {
        &mut self.rings[ring.ix()]
    }

    /// The ingesters a starting pod is, one per ring whose selector picks it.
    pub fn ingesters_of(&mut self, info: &PodInfo) -> Vec<(RingIdx, IngesterId)> {
        let mut found = Vec::new();
        for (i, rt) in self.rings.iter_mut().enumerate() {
            if rt.spec.selector.matches_meta(&info.namespace, &info.labels) {
                let key = format!("{}/{}", info.namespace, info.name);
                let next = IngesterId::new(cascade_engine::index_u32(rt.ids.len()));
                let id = *rt.ids.entry(key).or_insert(next);
                found.push((RingIdx::at(i), id));
            }
        }
        found
    }

    /// The ring's health may have changed (a dead ingester's heartbeat went stale).
    pub fn mark_dirty(&mut self, ring: RingIdx) {
        self.get_mut(ring).dirty = true;
    }

    /// The ingester's process starts: it registers, and either finds its tokens (a
    /// StatefulSet pod recreated) and serves at once, or waits PENDING for `join_after`.
    pub fn start(
        &mut self,
        now: Time,
        ring: RingIdx,
        id: IngesterId,
        pod: PodRef,
        name: &str,
        out: &mut Out,
    ) {
        let rt = self.get_mut(ring);
        let ing = rt.ingesters.entry(id).or_default();
        ing.pod = Some(pod);
        ing.alive = true;
        let gen = ing.gen.bump();
        ing.transfer_retries = 0;
        ing.receiving = false;
        ing.leaving = false;
        // A new process reaches the store unless its node is told to be cut off.
        ing.cut_off = false;
        rt.ring.register(id, now);
        rt.dirty = true;
        if rt.ring.tokens_of(id) > 0 {
            // The lifecycler finds its own entry and tokens ("we exist in the ring, so assume
            // the ring is right") and serves at once.
            rt.ring.set_state(id, IngesterState::Active);
            out.log(
                "IngesterActive",
                format!("ingester/{}/{name}", rt.name),
                "rejoined the ring with its tokens".into(),
            );
        } else {
            rt.ring.set_state(id, IngesterState::Pending);
            out.at(
                now + secs(rt.spec.join_after_seconds),
                SvcEv::Ingester {
                    ring,
                    id,
                    gen,
                    step: IngesterStep::JoinAfter,
                },
            );
        }
    }

    /// A partition cuts the ingester off from the ring's store (or heals): cut off, it stops
    /// heartbeating and turns unhealthy after the heartbeat timeout.
    pub fn set_cut_off(
        &mut self,
        now: Time,
        ring: RingIdx,
        id: IngesterId,
        cut_off: bool,
        out: &mut Out,
    ) {
        let rt = self.get_mut(ring);
        let Some(ing) = rt.ingesters.get_mut(&id) else {
            return;
        };
        if ing.cut_off == cut_off {
            return;
        }
        // Bring its heartbeat up to now while it still reaches the store.
        if cut_off && ing.alive {
            rt.ring.heartbeat(id, now);
        }
        ing.cut_off = cut_off;
        rt.dirty = true;
        if cut_off {
            let stale = now + rt.ring.config().heartbeat_timeout + Duration::from_micros(1);
            out.at(stale, SvcEv::RingHealth { ring });
        }
    }

    /// SIGTERM: an ACTIVE ingester with tokens starts handing them over; a PENDING or
    /// JOINING one has nothing to hand over and is gone. True if the process will report its
    /// own exit ([`Effect::Exited`]).
    pub fn terminating(&mut self, now: Time, ring: RingIdx, id: IngesterId, out: &mut Out) -> bool {
        let rt = self.get_mut(ring);
        let Some(ing) = rt.ingesters.get_mut(&id) else {
            return false;
        };
        if !ing.alive || ing.leaving {
            return ing.alive && ing.leaving;
        }
        match rt.ring.state(id) {
            Some(IngesterState::Active) if rt.ring.tokens_of(id) > 0 => {
                ing.leaving = true;
                ing.transfer_retries = 0;
                rt.ring.set_state(id, IngesterState::Leaving);
                rt.dirty = true;
                self.try_transfer(now, ring, id, out);
                true
            }
            // PENDING or JOINING: nothing of its own to hand over. A JOINING one's sender
            // sees it gone and tries again.
            _ => {
                ing.alive = false;
                ing.gen.bump();
                ing.receiving = false;
                rt.ring.remove(id);
                rt.dirty = true;
                false
            }
        }
    }

    /// The process died without hand-over or flush: its in-memory samples are lost, and its
    /// entry (if it has tokens) stays with a frozen heartbeat until it goes stale.
    pub fn died(&mut self, now: Time, ring: RingIdx, id: IngesterId, out: &mut Out) {
        let rt = self.get_mut(ring);
        let Some(ing) = rt.ingesters.get_mut(&id) else {
            return;
        };
        if !ing.alive {
            return;
        }
        ing.alive = false;
        ing.gen.bump();
        ing.receiving = false;
        ing.leaving = false;
        let lost = std::mem::take(&mut ing.held);
        rt.samples_lost += lost;
        rt.dirty = true;
        if rt.ring.tokens_of(id) == 0 {
            rt.ring.remove(id);
        } else {
            // Its entry stays, heartbeat frozen: unhealthy once the timeout passes.
            rt.ring.heartbeat(id, now);
            let stale = now + rt.ring.config().heartbeat_timeout + Duration::from_micros(1);
            out.at(stale, SvcEv::RingHealth { ring });
        }
        out.log(
            "IngesterDied",
            rt.ingester_name(id),
            format!("process died without hand-over or flush; {lost:.0} in-memory samples lost"),
        );
    }

    /// A leaving ingester looks for a PENDING one to hand its series to (`transferOut`),
    /// retrying up to `maxTransferRetries`, then flushes instead.
    fn try_transfer(&mut self, now: Time, ring: RingIdx, id: IngesterId, out: &mut Out) {
        let rt = self.get_mut(ring);
        let Some(gen) = rt.ingesters.get(&id).map(|i| i.gen) else {
            return;
        };
        let target = rt.ingesters.iter().find_map(|(&to, ing)| {
            (to != id
                && ing.alive
                && !ing.leaving
                && !ing.receiving
                && rt.ring.state(to) == Some(IngesterState::Pending))
            .then_some((to, ing.gen))
        });
        let (after, step) = match target {
            Some((to, to_gen)) => {
                if let Some(t) = rt.ingesters.get_mut(&to) {
                    t.receiving = true;
                }
                rt.ring.set_state(to, IngesterState::Joining);
                (
                    rt.spec.transfer_seconds,
                    IngesterStep::TransferDone { to, to_gen },
                )
            }
            None => {
                let retries = rt.ingesters.get_mut(&id).map_or(u32::MAX, |i| {
                    i.transfer_retries += 1;
                    i.transfer_retries
                });
                if retries <= rt.spec.max_transfer_retries {
                    (rt.spec.transfer_retry_seconds, IngesterStep::TransferRetry)
                } else {
                    out.log(
                        "IngesterFlushing",
                        rt.ingester_name(id),
                        "no PENDING ingester to hand over to: flushing chunks to the store".into(),
                    );
                    (rt.spec.flush_seconds, IngesterStep::FlushDone)
                }
            }
        };
        out.at(
            now + secs(after),
            SvcEv::Ingester {
                ring,
                id,
                gen,
                step,
            },
        );
    }

    /// One of an ingester's lifecycle timers; stale if its process has restarted or died.
    pub fn step(
        &mut self,
        now: Time,
        ring: RingIdx,
        id: IngesterId,
        gen: Generation,
        step: IngesterStep,
        out: &mut Out,
    ) {
        let rt = &mut self.rings[ring.ix()];
        let current = rt
            .ingesters
            .get(&id)
            .is_some_and(|i| i.alive && i.gen.is_current(gen));
        if !current {
            return;
        }
        match step {
            IngesterStep::JoinAfter => {
                let receiving = rt.ingesters.get(&id).is_some_and(|i| i.receiving);
                if rt.ring.state(id) == Some(IngesterState::Pending) && !receiving {
                    rt.ring.claim_random_tokens(id, &mut self.rng);
                    rt.ring.set_state(id, IngesterState::Active);
                    rt.dirty = true;
                    out.log(
                        "IngesterActive",
                        rt.ingester_name(id),
                        "no hand-over within join_after: claimed new tokens".into(),
                    );
                }
            }
            IngesterStep::TransferRetry => self.try_transfer(now, ring, id, out),
            IngesterStep::TransferDone { to, to_gen } => {
                let receiver_ok = rt
                    .ingesters
                    .get(&to)
                    .is_some_and(|t| t.alive && t.gen.is_current(to_gen) && t.receiving);
                if !receiver_ok {
                    return self.try_transfer(now, ring, id, out);
                }
                rt.ring.transfer_tokens(id, to);
                rt.ring.set_state(to, IngesterState::Active);
                rt.ring.remove(id);
                rt.dirty = true;
                let held = rt.take_held(id);
                rt.samples_transferred += held;
                if let Some(t) = rt.ingesters.get_mut(&to) {
                    t.held += held;
                    t.receiving = false;
                }
                let to_name = rt.ingester_name(to);
                out.log(
                    "IngesterHandedOver",
                    rt.ingester_name(id),
                    format!("handed {held:.0} in-memory samples and its tokens to {to_name}"),
                );
                rt.exited(id, out);
            }
            IngesterStep::FlushDone => {
                let held = rt.take_held(id);
                rt.samples_flushed += held;
                rt.ring.remove(id);
                rt.dirty = true;
                rt.exited(id, out);
            }
        }
    }

    /// The ring's write availability now, recomputed if it changed (live ingesters heartbeat
    /// continuously; dead ones keep the heartbeat of their death).
    pub fn availability(&mut self, now: Time, ring: RingIdx) -> f64 {
        let rt = self.get_mut(ring);
        if rt.dirty {
            for (&id, ing) in &rt.ingesters {
                if ing.alive && !ing.cut_off {
                    rt.ring.heartbeat(id, now);
                }
            }
            rt.availability = rt.ring.write_availability(now);
            rt.dirty = false;
        }
        rt.availability
    }

    /// Every ring's availability brought up to now.
    pub fn refresh(&mut self, now: Time) {
        for i in 0..self.rings.len() {
            self.availability(now, RingIdx::at(i));
        }
    }

    /// A write succeeds if every series it carries reaches quorum.
    pub fn write_success_probability(&mut self, now: Time, ring: RingIdx) -> f64 {
        let a = self.availability(now, ring);
        a.powi(self.rings[ring.ix()].spec.series_per_write as i32)
    }

    /// Accepted samples go to RF ingesters each; spread evenly over the ACTIVE ones.
    pub fn deposit(&mut self, ring: RingIdx, samples: f64) {
        let rt = self.get_mut(ring);
        let active: Vec<IngesterId> = rt
            .ring
            .ingesters()
            .filter(|(id, s)| {
                *s == IngesterState::Active && rt.ingesters.get(id).is_some_and(|i| i.alive)
            })
            .map(|(id, _)| id)
            .collect();
        if active.is_empty() {
            return;
        }
        let copies = f64::from(rt.spec.replication_factor).min(active.len() as f64);
        let each = samples * copies / active.len() as f64;
        for id in active {
            if let Some(i) = rt.ingesters.get_mut(&id) {
                i.held += each;
            }
        }
    }
}

impl RingRt {
    /// The availability last computed (see [`Rings::availability`]).
    pub fn availability(&self) -> f64 {
        self.availability
    }

    fn ingester_name(&self, id: IngesterId) -> String {
        let name = self
            .ids
            .iter()
            .find(|(_, v)| **v == id)
            .map_or("?", |(k, _)| k.as_str());
        format!("ingester/{}/{name}", self.name)
    }

    fn take_held(&mut self, id: IngesterId) -> f64 {
        self.ingesters
            .get_mut(&id)
            .map_or(0.0, |i| std::mem::take(&mut i.held))
    }

    /// The process has finished its shutdown: the pod may go.
    fn exited(&mut self, id: IngesterId, out: &mut Out) {
        let Some(ing) = self.ingesters.get_mut(&id) else {
            return;
        };
        ing.alive = false;
        ing.leaving = false;
        ing.gen.bump();
        if let Some(pod) = ing.pod {
            out.effects.push(Effect::Exited(pod));
        }
    }
}
