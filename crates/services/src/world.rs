//! The services on a cluster as one state machine: it is told what happens to pods (started,
//! Ready, terminating, died, gone), fed its own timer events back, and answers with timers to
//! schedule and effects on the cluster (an OOM kill, a container that has exited). It owns no
//! clock and no queue: the caller (cascade-sim) does, so the engine stays the one place time
//! lives.
//!
//! Requests flow client -> service replica -> (ring) -> response; a failed or timed-out request
//! goes back to its origin, whose retry policy decides what happens next. That loop is where
//! retry storms and metastable overload come from: nothing here scripts them.

use crate::backoff;
use crate::config::{ClientSpec, RemoteWriteSpec, RingSpec, ServicesConfig};
use crate::service::{Admission, Replica, Service};
use cascade_engine::Time;
use cascade_model::{Labels, Rng};
use cascade_ring::{IngesterId, IngesterState, Ring, RingConfig};
use std::collections::BTreeMap;

/// The caller's name for a pod (cascade-sim's `PodId`).
pub type PodRef = u32;

/// A request in flight: a slot in the request table and the slot's generation, so that a timer
/// for a request already finished (its slot reused) is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReqId {
    slot: u32,
    gen: u32,
}

/// What the services need to know of a pod whose containers start.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    /// The container's memory limit in bytes (0: none).
    pub memory_limit: i64,
}

/// A step of an ingester's lifecycle (cortex `pkg/ingester/lifecycle.go`, `transfer.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngesterStep {
    /// `-ingester.join-after` has passed without a hand-over: claim tokens of its own.
    JoinAfter,
    /// Try again to find a PENDING ingester to hand the series to.
    TransferRetry,
    /// The chunk transfer to `to` is complete.
    TransferDone { to: IngesterId, to_gen: u32 },
    /// The flush of in-memory chunks to the store is complete.
    FlushDone,
}

/// A timer of the services, scheduled by the caller and handed back to [`World::handle`].
#[derive(Clone, Debug)]
pub enum SvcEv {
    /// A worker finishes a request.
    Complete(ReqId),
    /// The client's timeout for a request.
    Timeout(ReqId),
    /// A Prometheus server's idle shard looks for a batch (the generation dedupes wakes).
    ServerWake { rw: u16, server: u32, gen: u32 },
    /// A shard resends a failed batch after its backoff.
    ShardRetry(Batch),
    /// A fleet's queue managers recompute their shard counts.
    UpdateShards { rw: u16 },
    /// A client's next logical request.
    ClientArrival { client: u16 },
    /// A client retries a failed request.
    ClientRetry(ClientAttempt),
    /// An ingester's lifecycle timer (`gen` guards against a restarted process).
    Ingester {
        ring: u16,
        id: IngesterId,
        gen: u32,
        step: IngesterStep,
    },
    /// A dead ingester's heartbeat has just gone stale: the ring's health changes.
    RingHealth { ring: u16 },
}

/// What the services do to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// The container went past its memory limit: the kubelet's OOM kill and restart.
    OomKill(PodRef),
    /// A terminating pod's process has finished its shutdown (hand-over or flush done).
    Exited(PodRef),
    /// Something worth a line in the event log.
    Log {
        kind: &'static str,
        object: String,
        message: String,
    },
}

/// Timers to schedule and effects to apply, filled by each call.
#[derive(Debug, Default)]
pub struct Out {
    pub timers: Vec<(Time, SvcEv)>,
    pub effects: Vec<Effect>,
}

impl Out {
    fn at(&mut self, t: Time, ev: SvcEv) {
        self.timers.push((t, ev));
    }
    fn log(&mut self, kind: &'static str, object: String, message: String) {
        self.effects.push(Effect::Log {
            kind,
            object,
            message,
        });
    }
}

#[derive(Clone, Copy, Debug)]
enum Origin {
    Client(ClientAttempt),
    RemoteWrite(Batch),
    /// Work the cluster itself submits (a Consul agent registering): no retry, nobody waits.
    Internal,
}

/// One request of a client's logical call and where it is in its retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientAttempt {
    client: u16,
    /// The cache key the call looked up.
    key: u32,
    /// The logical call it belongs to.
    call: u32,
    /// Attempts so far after the first.
    attempt: u32,
    prev_delay: f64,
}

/// A remote_write batch and where its shard is in retrying it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Batch {
    rw: u16,
    server: u32,
    samples: u32,
    /// When the shard first sent it: the send's duration, retries included, is what the
    /// shard calculation sees.
    first_sent: Time,
    /// Attempts so far after the first.
    attempt: u32,
    /// The last backoff delay (for decorrelated jitter).
    prev_delay: f64,
}

#[derive(Debug)]
struct Req {
    origin: Origin,
    svc: u16,
    replica: u32,
    replica_gen: u32,
    arrived: Time,
    /// The origin has its answer (a response, an error or its own timeout).
    client_done: bool,
    /// The server is done with it (served, rejected, shed or lost with its process).
    server_done: bool,
    /// Refused for want of endpoints.
    no_endpoints: bool,
    /// Rejected with 429 Too Many Requests (a service whose `rejectStatus` is 429).
    throttled: bool,
}

/// A remote_write shard whose last attempt was refused for want of endpoints: it keeps
/// retrying on its backoff schedule, and since every retry is refused until a replica is
/// Ready again, those retries are counted in one go when that happens instead of being
/// simulated one by one (the retry storm against a crash-looping gateway is millions of
/// such refusals).
#[derive(Clone, Copy, Debug)]
struct Parked {
    origin: Origin,
    failed_at: Time,
}

/// An ingester as the lifecycler in its pod sees it.
#[derive(Debug, Default)]
struct IngesterRt {
    pod: Option<PodRef>,
    alive: bool,
    /// Bumped at every process start and death: timers of an earlier life are stale.
    gen: u32,
    /// In-memory samples (chunks not yet flushed).
    held: f64,
    transfer_retries: u32,
    /// A hand-over to this ingester is in progress.
    receiving: bool,
    /// Shutting down: handing over or flushing.
    leaving: bool,
    /// Across a partition from the ring's KV store: its heartbeats do not arrive.
    cut_off: bool,
}

struct RingRt {
    name: String,
    spec: RingSpec,
    ring: Ring,
    /// Pod name ("namespace/name") -> ingester id: a pod recreated under the same name (a
    /// StatefulSet's) is the same ingester and finds its tokens in the ring.
    ids: BTreeMap<String, IngesterId>,
    ingesters: BTreeMap<IngesterId, IngesterRt>,
    /// Fraction of series whose writes reach quorum, recomputed when the ring changes.
    availability: f64,
    dirty: bool,
    availability_sum: f64,
    availability_samples: u32,
    samples_lost: f64,
    samples_flushed: f64,
    samples_transferred: f64,
}

#[derive(Debug, Default)]
struct RwServer {
    shards: u32,
    /// Shards with a batch out (in flight or waiting out a backoff).
    busy: u32,
    /// Samples in the WAL not yet taken by a shard.
    pending: f64,
    last_fill: Time,
    wake_gen: u32,
    wake_at: Option<Time>,
    // Counters since the last shard update, and their EWMA rates (queue_manager.go's
    // samplesIn, samplesOut, samplesOutDuration).
    in_count: f64,
    out_count: f64,
    out_duration: f64,
    in_rate: Option<f64>,
    out_rate: Option<f64>,
    duration_rate: Option<f64>,
}

struct RwFleet {
    name: String,
    spec: RemoteWriteSpec,
    target: u16,
    servers: Vec<RwServer>,
    requests: u64,
    failed: u64,
    samples_written: f64,
    samples_lost: f64,
    interval_requests: u64,
    interval_failed: u64,
    peak_shards: u32,
}

struct ClientRt {
    name: String,
    spec: ClientSpec,
    target: u16,
    /// Per cache key, until when the cached answer is fresh.
    cache: Vec<Time>,
    calls: u64,
    cache_hits: u64,
    requests: u64,
    succeeded: u64,
    gave_up: u64,
    interval_requests: u64,
    interval_succeeded: u64,
    /// Calls in progress: requests still out, and whether one of them has failed for good.
    open_calls: BTreeMap<u32, (u32, bool)>,
    next_call: u32,
    calls_failed: u64,
    /// Calls failed since the last sample.
    interval_calls_failed: u64,
    calls_ok: u64,
    /// Since when every call has failed (none succeeded since); cleared by a success.
    failing_since: Option<Time>,
    /// When it sealed itself (`sealAfterFailingSeconds`): it sends nothing more.
    sealed_at: Option<Time>,
    sealed_seconds: f64,
}

#[derive(Debug, Default)]
struct PodLink {
    replicas: Vec<(u16, u32)>,
    ingesters: Vec<(u16, IngesterId)>,
}

/// Every service, ring, remote_write fleet and client of a run.
pub struct World {
    cfg: ServicesConfig,
    services: Vec<Service>,
    rings: Vec<RingRt>,
    fleets: Vec<RwFleet>,
    clients: Vec<ClientRt>,
    pods: BTreeMap<PodRef, PodLink>,
    /// Per service, the shards parked while it has no endpoints.
    parked: Vec<Vec<Parked>>,
    reqs: Vec<Option<Req>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    rng: Rng,
    ring_rng: Rng,
    baseline_from: Time,
    baseline_until: Time,
    write_outage_seconds: f64,
    last_sample: Option<Time>,
    outage_intervals: u32,
    sampled_intervals: u32,
}

/// Turns seconds into simulated time.
fn secs(s: f64) -> Time {
    Time::from_secs_f64(s.max(0.0))
}

impl World {
    /// Builds the services of a run. Errors name a reference that does not resolve (a ring or
    /// target service that is not declared).
    pub fn new(cfg: ServicesConfig, seed: u64) -> Result<World, String> {
        let svc_index: BTreeMap<&str, u16> = cfg
            .services
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as u16))
            .collect();
        let ring_index: BTreeMap<&str, u16> = cfg
            .rings
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as u16))
            .collect();
        let mut services = Vec::new();
        for (name, spec) in &cfg.services {
            let ring = match &spec.ring {
                None => None,
                Some(r) => Some(*ring_index.get(r.as_str()).ok_or_else(|| {
                    format!(
                        "services.{name}.ring: no ring named {r:?} (declared: {})",
                        names(cfg.rings.keys())
                    )
                })?),
            };
            if spec.reject_status != 503 && spec.reject_status != 429 {
                return Err(format!(
                    "services.{name}.rejectStatus: {} is not modelled: expected 503 or 429",
                    spec.reject_status
                ));
            }
            services.push(Service::new(name.clone(), spec.clone(), ring));
        }
        let target = |what: &str, name: &str, t: &str| {
            svc_index.get(t).copied().ok_or_else(|| {
                format!(
                    "{what}.{name}.target: no service named {t:?} (declared: {})",
                    names(cfg.services.keys())
                )
            })
        };
        let rings = cfg
            .rings
            .iter()
            .map(|(name, spec)| RingRt {
                name: name.clone(),
                spec: spec.clone(),
                ring: Ring::new(RingConfig {
                    num_tokens: spec.num_tokens,
                    replication_factor: spec.replication_factor,
                    heartbeat_timeout: secs(spec.heartbeat_timeout_seconds),
                }),
                ids: BTreeMap::new(),
                ingesters: BTreeMap::new(),
                availability: 0.0,
                dirty: true,
                availability_sum: 0.0,
                availability_samples: 0,
                samples_lost: 0.0,
                samples_flushed: 0.0,
                samples_transferred: 0.0,
            })
            .collect();
        let mut fleets = Vec::new();
        for (name, spec) in &cfg.remote_write {
            if spec.max_samples_per_send == 0 || spec.min_shards == 0 {
                return Err(format!(
                    "remoteWrite.{name}: maxSamplesPerSend and minShards must be at least 1"
                ));
            }
            fleets.push(RwFleet {
                name: name.clone(),
                target: target("remoteWrite", name, &spec.target)?,
                servers: (0..spec.servers)
                    .map(|_| RwServer {
                        shards: spec.min_shards,
                        ..RwServer::default()
                    })
                    .collect(),
                spec: spec.clone(),
                requests: 0,
                failed: 0,
                samples_written: 0.0,
                samples_lost: 0.0,
                interval_requests: 0,
                interval_failed: 0,
                peak_shards: 0,
            });
        }
        let mut clients = Vec::new();
        for (name, spec) in &cfg.clients {
            clients.push(ClientRt {
                name: name.clone(),
                target: target("clients", name, &spec.target)?,
                cache: vec![
                    Time::ZERO;
                    if spec.cache_ttl_seconds > 0.0 {
                        spec.cache_keys.max(1) as usize
                    } else {
                        0
                    }
                ],
                spec: spec.clone(),
                calls: 0,
                cache_hits: 0,
                requests: 0,
                succeeded: 0,
                gave_up: 0,
                interval_requests: 0,
                interval_succeeded: 0,
                open_calls: BTreeMap::new(),
                next_call: 0,
                calls_failed: 0,
                interval_calls_failed: 0,
                calls_ok: 0,
                failing_since: None,
                sealed_at: None,
                sealed_seconds: 0.0,
            });
        }
        let warmup = secs(cfg.baseline_warmup_seconds);
        Ok(World {
            cfg,
            parked: vec![Vec::new(); services.len()],
            services,
            rings,
            fleets,
            clients,
            pods: BTreeMap::new(),
            reqs: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            rng: Rng::stream(seed, "services"),
            ring_rng: Rng::stream(seed, "ring-tokens"),
            baseline_from: warmup,
            baseline_until: Time::MAX,
            write_outage_seconds: 0.0,
            last_sample: None,
            outage_intervals: 0,
            sampled_intervals: 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.cfg.is_empty()
    }

    /// Whether the named service refuses connections now (no Ready replica, or cut off).
    /// Unknown names refuse.
    pub fn refuses(&self, name: &str) -> bool {
        self.services
            .iter()
            .find(|s| s.name == name)
            .is_none_or(|s| s.refuses())
    }

    /// A dependency fault: while unreachable, the service refuses every connection (its pods
    /// keep running and keep what they hold). True if that changed anything.
    pub fn set_service_reachable(
        &mut self,
        now: Time,
        name: &str,
        reachable: bool,
        out: &mut Out,
    ) -> bool {
        let Some(s) = self.services.iter().position(|s| s.name == name) else {
            return false;
        };
        let was = !self.services[s].unreachable;
        self.services[s].unreachable = !reachable;
        if reachable && !was && !self.services[s].refuses() {
            self.unpark(now, s as u16, out);
        }
        was != reachable
    }

    /// An operator unseals a client that sealed itself (Vault): it starts sending again, and
    /// seals again if its calls keep failing. False if there is no such sealed client.
    pub fn unseal(&mut self, now: Time, name: &str, out: &mut Out) -> bool {
        let Some(i) = self.clients.iter().position(|c| c.name == name) else {
            return false;
        };
        let c = &mut self.clients[i];
        if c.sealed_at.take().is_none() {
            return false;
        }
        c.failing_since = None;
        self.next_arrival(now, i as u16, out);
        true
    }

    /// The client's next call, an exponential gap after `from` (Poisson arrivals).
    fn next_arrival(&mut self, from: Time, client: u16, out: &mut Out) {
        let rate = self.clients[client as usize].spec.rate_per_second;
        if rate > 0.0 {
            let gap = backoff::exponential(1.0 / rate, &mut self.rng);
            out.at(from + secs(gap), SvcEv::ClientArrival { client });
        }
    }

    /// The steady-state window `peaks.*_qps_ratio` divides by: from the warm-up until `until`
    /// (the first change or fault).
    pub fn set_baseline_until(&mut self, until: Time) {
        self.baseline_until = until;
    }

    /// The first timers: clients' first arrivals, remote_write's wakes and shard updates.
    pub fn start(&mut self, now: Time, out: &mut Out) {
        for i in 0..self.clients.len() {
            let first = secs(self.clients[i].spec.start_seconds).max(now);
            self.next_arrival(first, i as u16, out);
        }
        for (f, fleet) in self.fleets.iter_mut().enumerate() {
            for s in &mut fleet.servers {
                s.last_fill = now;
            }
            out.at(
                now + secs(fleet.spec.shard_update_seconds),
                SvcEv::UpdateShards { rw: f as u16 },
            );
            for s in 0..fleet.servers.len() {
                // Servers start out of step: each first ships after a random part of a batch.
                let fill = f64::from(fleet.spec.max_samples_per_send)
                    / fleet.spec.samples_per_second.max(1e-9);
                let first = now + secs(self.rng.unit() * fill);
                fleet.servers[s].wake_at = Some(first);
                out.at(
                    first,
                    SvcEv::ServerWake {
                        rw: f as u16,
                        server: s as u32,
                        gen: 0,
                    },
                );
            }
        }
    }

    // ----- what happens to pods -----

    /// A pod's containers have (re)started: it becomes a replica of the services and an
    /// ingester of the rings whose selectors pick it. A replica takes requests once Ready.
    pub fn container_started(&mut self, now: Time, pod: PodRef, info: &PodInfo, out: &mut Out) {
        if !self.pods.contains_key(&pod) {
            let mut link = PodLink::default();
            for (s, svc) in self.services.iter_mut().enumerate() {
                if svc
                    .spec
                    .selector
                    .matches_meta(&info.namespace, &info.labels)
                {
                    svc.replicas.push(Replica {
                        pod,
                        routable: false,
                        alive: false,
                        gen: 0,
                        in_service: Vec::new(),
                        queue: Default::default(),
                        memory_limit: info.memory_limit,
                        cut_off: false,
                    });
                    link.replicas
                        .push((s as u16, svc.replicas.len() as u32 - 1));
                }
            }
            for (r, ring) in self.rings.iter_mut().enumerate() {
                if ring
                    .spec
                    .selector
                    .matches_meta(&info.namespace, &info.labels)
                {
                    let key = format!("{}/{}", info.namespace, info.name);
                    let next = ring.ids.len() as IngesterId;
                    let id = *ring.ids.entry(key).or_insert(next);
                    link.ingesters.push((r as u16, id));
                }
            }
            if link.replicas.is_empty() && link.ingesters.is_empty() {
                return;
            }
            self.pods.insert(pod, link);
        }
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        for &(s, r) in &link.replicas {
            self.services[s as usize].replicas[r as usize].alive = true;
        }
        for &(r, id) in &link.ingesters.clone() {
            self.start_ingester(now, r, id, pod, &info.name, out);
        }
    }

    /// A network partition puts the pod on the far side from its callers (or takes it back):
    /// requests routed to it vanish and the answers of those it holds are lost, so callers
    /// see timeouts until the endpoints drop it (the pod marked not Ready).
    /// An ingester across the partition stops heartbeating to the ring's store, so it turns
    /// unhealthy after the heartbeat timeout, and heartbeats again once it is healed.
    pub fn set_pod_cut_off(&mut self, now: Time, pod: PodRef, cut_off: bool, out: &mut Out) {
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        for &(s, r) in &link.replicas {
            self.services[s as usize].replicas[r as usize].cut_off = cut_off;
        }
        for &(r, id) in &link.ingesters {
            let rr = &mut self.rings[r as usize];
            let Some(ing) = rr.ingesters.get_mut(&id) else {
                continue;
            };
            if ing.cut_off == cut_off {
                continue;
            }
            // Bring its heartbeat up to now while it still reaches the store.
            if cut_off && ing.alive {
                rr.ring.heartbeat(id, now);
            }
            ing.cut_off = cut_off;
            rr.dirty = true;
            if cut_off {
                let stale = now + secs(rr.spec.heartbeat_timeout_seconds) + Time(1);
                out.at(stale, SvcEv::RingHealth { ring: r });
            }
        }
    }

    /// The readiness probe passes: the replicas take requests.
    pub fn pod_ready(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        self.set_routable(now, pod, true, out);
    }

    /// The pod is no longer Ready (its node is NotReady, or it is being deleted).
    pub fn pod_not_ready(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        self.set_routable(now, pod, false, out);
    }

    fn set_routable(&mut self, now: Time, pod: PodRef, on: bool, out: &mut Out) {
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        let mut reopened = Vec::new();
        for &(s, r) in &link.replicas {
            let svc = &mut self.services[s as usize];
            if !on || svc.replicas[r as usize].alive {
                let refused = svc.refuses();
                svc.set_routable(r, on);
                if refused && !svc.refuses() {
                    reopened.push(s);
                }
            }
        }
        for s in reopened {
            self.unpark(now, s, out);
        }
    }

    /// The service has endpoints again: every parked shard's refused retries up to now are
    /// counted, and its next retry is scheduled where its backoff puts it.
    fn unpark(&mut self, now: Time, svc: u16, out: &mut Out) {
        let parked = std::mem::take(&mut self.parked[svc as usize]);
        for p in parked {
            let Origin::RemoteWrite(mut batch) = p.origin else {
                continue;
            };
            let Batch {
                rw,
                mut attempt,
                mut prev_delay,
                ..
            } = batch;
            let backoff = self.fleets[rw as usize].spec.backoff.clone();
            let mut failed_at = p.failed_at;
            let mut refused = 0u64;
            loop {
                let d = backoff::delay(&backoff, attempt + 1, prev_delay, &mut self.rng);
                let next = failed_at + secs(d);
                attempt += 1;
                prev_delay = d;
                if next >= now {
                    batch.attempt = attempt;
                    batch.prev_delay = prev_delay;
                    out.at(next, SvcEv::ShardRetry(batch));
                    break;
                }
                refused += 1;
                failed_at = next;
                // At the cap without jitter the schedule is a fixed period: skip to the
                // last retry before now in one step.
                if backoff.jitter == crate::Jitter::None && d >= backoff.max_seconds && d > 0.0 {
                    let period = secs(d);
                    let steps = (now - failed_at).0 / period.0.max(1);
                    if steps > 1 {
                        let skip = steps - 1;
                        failed_at = failed_at + Time(period.0 * skip);
                        attempt += skip as u32;
                        refused += skip;
                    }
                }
            }
            let fleet = &mut self.fleets[rw as usize];
            fleet.requests += refused;
            fleet.failed += refused;
            self.services[svc as usize].stats.unavailable += refused;
        }
    }

    /// The pod got SIGTERM (deleted, preempted, evicted): its replicas leave the endpoints and
    /// finish what they hold; its ingesters start leaving the ring. True if the pod's process
    /// will report its own exit with [`Effect::Exited`] (an ingester handing over or
    /// flushing); the caller then only enforces the grace period.
    pub fn terminating(&mut self, now: Time, pod: PodRef, out: &mut Out) -> bool {
        self.set_routable(now, pod, false, out);
        let Some(link) = self.pods.get(&pod) else {
            return false;
        };
        let mut claims = false;
        for (r, id) in link.ingesters.clone() {
            let rr = &mut self.rings[r as usize];
            let Some(ing) = rr.ingesters.get_mut(&id) else {
                continue;
            };
            if !ing.alive || ing.leaving {
                claims |= ing.alive && ing.leaving;
                continue;
            }
            match rr.ring.state(id) {
                Some(IngesterState::Active) if rr.ring.tokens_of(id) > 0 => {
                    ing.leaving = true;
                    ing.transfer_retries = 0;
                    rr.ring.set_state(id, IngesterState::Leaving);
                    rr.dirty = true;
                    claims = true;
                    self.try_transfer(now, r, id, out);
                }
                // PENDING or JOINING: nothing of its own to hand over. A JOINING one's sender
                // sees it gone and tries again.
                _ => {
                    ing.alive = false;
                    ing.gen += 1;
                    ing.receiving = false;
                    rr.ring.remove(id);
                    rr.dirty = true;
                }
            }
        }
        claims
    }

    /// The pod's process died without a clean shutdown (OOM kill, node lost): requests in its
    /// replicas fail; its ingesters' in-memory samples are lost and their ring entries go
    /// stale after the heartbeat timeout.
    pub fn process_died(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        let replicas = link.replicas.clone();
        let ingesters = link.ingesters.clone();
        for (s, r) in replicas {
            if self.services[s as usize].replicas[r as usize].alive {
                self.kill_replica(now, s, r, out);
            }
        }
        for (r, id) in ingesters {
            self.ingester_died(now, r, id, out);
        }
    }

    /// The pod object is gone. A process still running (a grace period that expired before
    /// the hand-over finished) is killed.
    pub fn pod_gone(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        self.process_died(now, pod, out);
        self.pods.remove(&pod);
    }

    // ----- requests -----

    fn alloc(&mut self, req: Req) -> ReqId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.reqs.push(None);
                self.gens.push(0);
                self.reqs.len() as u32 - 1
            }
        };
        self.reqs[slot as usize] = Some(req);
        ReqId {
            slot,
            gen: self.gens[slot as usize],
        }
    }

    fn req(&mut self, id: ReqId) -> Option<&mut Req> {
        if self.gens.get(id.slot as usize) != Some(&id.gen) {
            return None;
        }
        self.reqs[id.slot as usize].as_mut()
    }

    fn release_if_done(&mut self, id: ReqId) {
        let done = self.req(id).is_some_and(|r| r.client_done && r.server_done);
        if done {
            self.reqs[id.slot as usize] = None;
            self.gens[id.slot as usize] = self.gens[id.slot as usize].wrapping_add(1);
            self.free.push(id.slot);
        }
    }

    /// Sends a request to a service: a replica picked at random among the routable ones
    /// (kube-proxy's random endpoint choice), served at once, queued or rejected.
    fn send(&mut self, now: Time, svc: u16, origin: Origin, timeout: f64, out: &mut Out) {
        let id = self.alloc(Req {
            origin,
            svc,
            replica: 0,
            replica_gen: 0,
            arrived: now,
            client_done: false,
            server_done: false,
            no_endpoints: false,
            throttled: false,
        });
        let pick = self.rng.next_u64();
        let s = &mut self.services[svc as usize];
        let admission = s.admit(id, pick);
        if let Admission::NoEndpoints = admission {
            s.stats.unavailable += 1;
        } else {
            s.stats.arrivals += 1;
            s.stats.interval_arrivals += 1;
        }
        match admission {
            Admission::NoEndpoints => {
                if let Some(r) = self.req(id) {
                    r.no_endpoints = true;
                }
                self.server_finished(now, id, false, out);
                return;
            }
            Admission::Rejected => {
                let s = &mut self.services[svc as usize];
                s.stats.rejected += 1;
                let throttled = s.spec.reject_status == 429;
                if let Some(r) = self.req(id) {
                    r.throttled = throttled;
                }
                self.server_finished(now, id, false, out);
                return;
            }
            Admission::CutOff => {
                // Nobody will answer: the caller waits out its timeout (internal work, which
                // has none, fails at once).
                self.services[svc as usize].stats.failed += 1;
                if let Some(r) = self.req(id) {
                    r.server_done = true;
                }
                if !timeout.is_finite() {
                    self.server_finished(now, id, false, out);
                    return;
                }
            }
            Admission::Serve(r) => {
                self.bind(id, svc, r);
                let d = self.services[svc as usize].service_time(&mut self.rng);
                out.at(now + secs(d), SvcEv::Complete(id));
                self.check_memory(now, svc, r, out);
            }
            Admission::Queued(r) => {
                self.bind(id, svc, r);
                self.check_memory(now, svc, r, out);
            }
        }
        // Nobody times out internal work (an infinite timeout).
        if timeout.is_finite() && self.req(id).is_some_and(|r| !r.client_done) {
            out.at(now + secs(timeout), SvcEv::Timeout(id));
        }
    }

    fn bind(&mut self, id: ReqId, svc: u16, r: u32) {
        let gen = self.services[svc as usize].replicas[r as usize].gen;
        if let Some(req) = self.req(id) {
            req.replica = r;
            req.replica_gen = gen;
        }
    }

    /// Past its memory limit, a replica's container is OOM-killed with every request in it.
    fn check_memory(&mut self, now: Time, svc: u16, r: u32, out: &mut Out) {
        if !self.services[svc as usize].over_memory(r) {
            return;
        }
        let s = &self.services[svc as usize];
        let pod = s.replicas[r as usize].pod;
        let held = s.replicas[r as usize].requests();
        let name = s.name.clone();
        self.services[svc as usize].stats.oom_kills += 1;
        self.kill_replica(now, svc, r, out);
        out.log(
            "ServiceOOMKilled",
            format!("service/{name}"),
            format!("a replica holding {held} requests exceeded its memory limit"),
        );
        out.effects.push(Effect::OomKill(pod));
    }

    fn kill_replica(&mut self, now: Time, svc: u16, r: u32, out: &mut Out) {
        let lost = self.services[svc as usize].kill(r);
        for id in lost {
            self.services[svc as usize].stats.failed += 1;
            self.server_finished(now, id, false, out);
        }
    }

    /// The server is done with a request: answer its origin (unless it gave up) and free it.
    fn server_finished(&mut self, now: Time, id: ReqId, ok: bool, out: &mut Out) {
        let Some(req) = self.req(id) else {
            return;
        };
        req.server_done = true;
        if !req.client_done {
            self.respond(now, id, ok, out);
        }
        self.release_if_done(id);
    }

    fn complete(&mut self, now: Time, id: ReqId, out: &mut Out) {
        let Some(req) = self.req(id) else {
            return;
        };
        if req.server_done {
            return;
        }
        let (svc, r, arrived, origin, replica_gen) = (
            req.svc,
            req.replica,
            req.arrived,
            req.origin,
            req.replica_gen,
        );
        if self.services[svc as usize].replicas[r as usize].gen != replica_gen {
            return;
        }
        let rep = &mut self.services[svc as usize].replicas[r as usize];
        if let Some(i) = rep.in_service.iter().position(|x| *x == id) {
            rep.in_service.swap_remove(i);
        }
        if rep.cut_off {
            // Served, but the answer cannot cross the partition.
            self.services[svc as usize].stats.failed += 1;
            if let Some(req) = self.req(id) {
                req.server_done = true;
            }
            self.release_if_done(id);
            self.next_from_queue(now, svc, r, out);
            return;
        }
        // A distributor's write: every series in it must reach quorum.
        let ok = match self.services[svc as usize].ring {
            None => true,
            Some(ring) => {
                let p = self.write_success_probability(now, ring);
                let ok = self.rng.unit() < p;
                if ok {
                    if let Origin::RemoteWrite(b) = origin {
                        self.deposit(ring, f64::from(b.samples));
                    }
                }
                ok
            }
        };
        let stats = &mut self.services[svc as usize].stats;
        if ok {
            stats.succeeded += 1;
            let latency = (now - arrived).as_secs_f64();
            stats.latency_sum += latency;
            stats.interval_latency.record(latency);
        } else {
            stats.failed += 1;
        }
        self.server_finished(now, id, ok, out);
        self.next_from_queue(now, svc, r, out);
    }

    /// A freed worker takes the oldest queued request (shedding those past the queue timeout).
    fn next_from_queue(&mut self, now: Time, svc: u16, r: u32, out: &mut Out) {
        let workers = self.services[svc as usize].spec.workers_per_replica as usize;
        let queue_timeout = self.services[svc as usize].spec.queue_timeout_seconds;
        loop {
            let rep = &mut self.services[svc as usize].replicas[r as usize];
            if !rep.alive || rep.in_service.len() >= workers {
                return;
            }
            let Some(next) = rep.queue.pop_front() else {
                return;
            };
            let arrived = self.req(next).map_or(now, |q| q.arrived);
            if queue_timeout.is_some_and(|t| (now - arrived).as_secs_f64() > t) {
                self.services[svc as usize].stats.shed += 1;
                self.server_finished(now, next, false, out);
                continue;
            }
            self.services[svc as usize].replicas[r as usize]
                .in_service
                .push(next);
            let d = self.services[svc as usize].service_time(&mut self.rng);
            out.at(now + secs(d), SvcEv::Complete(next));
        }
    }

    fn timeout(&mut self, now: Time, id: ReqId, out: &mut Out) {
        let Some(req) = self.req(id) else {
            return;
        };
        if req.client_done {
            return;
        }
        // The client gives up; the server still holds the request and will serve it for
        // nobody (the work a metastable overload wastes).
        self.respond(now, id, false, out);
        self.release_if_done(id);
    }

    /// The origin learns the outcome of an attempt.
    fn respond(&mut self, now: Time, id: ReqId, ok: bool, out: &mut Out) {
        let Some(req) = self.req(id) else {
            return;
        };
        req.client_done = true;
        let (no_endpoints, throttled, svc) = (req.no_endpoints, req.throttled, req.svc);
        match req.origin {
            Origin::Client(a) => {
                let c = &mut self.clients[a.client as usize];
                if ok {
                    c.succeeded += 1;
                    c.interval_succeeded += 1;
                    if let Some(slot) = c.cache.get_mut(a.key as usize) {
                        *slot = now + secs(c.spec.cache_ttl_seconds);
                    }
                    c.request_done(now, a.call, true);
                } else if a.attempt < c.spec.max_retries {
                    let d =
                        backoff::delay(&c.spec.backoff, a.attempt + 1, a.prev_delay, &mut self.rng);
                    out.at(
                        now + secs(d),
                        SvcEv::ClientRetry(ClientAttempt {
                            attempt: a.attempt + 1,
                            prev_delay: d,
                            ..a
                        }),
                    );
                } else {
                    c.gave_up += 1;
                    c.request_done(now, a.call, false);
                }
            }
            Origin::Internal => {}
            Origin::RemoteWrite(batch) => {
                let Batch {
                    rw,
                    server,
                    samples,
                    first_sent,
                    attempt,
                    prev_delay,
                } = batch;
                let fleet = &mut self.fleets[rw as usize];
                if ok {
                    let s = &mut fleet.servers[server as usize];
                    s.busy = s.busy.saturating_sub(1);
                    s.out_count += f64::from(samples);
                    s.out_duration += (now - first_sent).as_secs_f64();
                    fleet.samples_written += f64::from(samples);
                    self.try_send(now, rw, server, false, out);
                } else if throttled && !fleet.spec.retry_on_http_429 {
                    // Before Prometheus 2.26 a 429 was not recoverable: the batch is dropped
                    // (counted as sent for the shard calculation, as sendSamples does).
                    fleet.failed += 1;
                    fleet.interval_failed += 1;
                    fleet.samples_lost += f64::from(samples);
                    let s = &mut fleet.servers[server as usize];
                    s.busy = s.busy.saturating_sub(1);
                    s.out_count += f64::from(samples);
                    s.out_duration += (now - first_sent).as_secs_f64();
                    self.try_send(now, rw, server, false, out);
                } else {
                    fleet.failed += 1;
                    fleet.interval_failed += 1;
                    if no_endpoints && self.services[svc as usize].refuses() {
                        self.parked[svc as usize].push(Parked {
                            origin: Origin::RemoteWrite(batch),
                            failed_at: now,
                        });
                        return;
                    }
                    // 5xx and timeouts are recoverable: the shard retries the same batch
                    // until it succeeds (queue_manager.go sendSamplesWithBackoff).
                    let d =
                        backoff::delay(&fleet.spec.backoff, attempt + 1, prev_delay, &mut self.rng);
                    out.at(
                        now + secs(d),
                        SvcEv::ShardRetry(Batch {
                            attempt: attempt + 1,
                            prev_delay: d,
                            ..batch
                        }),
                    );
                }
            }
        }
    }

    // ----- clients -----

    fn client_arrival(&mut self, now: Time, client: u16, out: &mut Out) {
        let c = &self.clients[client as usize];
        if c.spec.stop_seconds.is_some_and(|s| now >= secs(s)) || c.sealed_at.is_some() {
            return;
        }
        self.next_arrival(now, client, out);
        let c = &mut self.clients[client as usize];
        c.calls += 1;
        let key = if c.cache.is_empty() {
            0
        } else {
            let k = self.rng.below(c.cache.len() as u64) as u32;
            if c.cache[k as usize] > now {
                c.cache_hits += 1;
                return;
            }
            k
        };
        if c.spec.requests_per_call == 0 {
            return;
        }
        let call = c.next_call;
        c.next_call = c.next_call.wrapping_add(1);
        c.open_calls.insert(call, (c.spec.requests_per_call, false));
        for _ in 0..c.spec.requests_per_call {
            let a = ClientAttempt {
                client,
                key,
                call,
                attempt: 0,
                prev_delay: 0.0,
            };
            self.client_send(now, a, out);
        }
    }

    fn client_send(&mut self, now: Time, a: ClientAttempt, out: &mut Out) {
        let c = &mut self.clients[a.client as usize];
        c.requests += 1;
        c.interval_requests += 1;
        let (target, timeout) = (c.target, c.spec.timeout_seconds);
        self.send(now, target, Origin::Client(a), timeout, out);
    }

    /// Work the cluster submits to a service (registrations, reconciliation): `n` requests
    /// that nobody retries or waits for; they load the service like any other. False if there
    /// is no such service.
    pub fn submit(&mut self, now: Time, service: &str, n: u32, out: &mut Out) -> bool {
        let Some(s) = self.services.iter().position(|x| x.name == service) else {
            return false;
        };
        for _ in 0..n {
            self.send(now, s as u16, Origin::Internal, f64::INFINITY, out);
        }
        true
    }

    // ----- Prometheus remote_write -----

    /// Appends the samples scraped since the last look to the server's WAL backlog; what the
    /// WAL no longer holds (older than its retention) is lost.
    fn fill(&mut self, now: Time, rw: u16, server: u32) {
        let fleet = &mut self.fleets[rw as usize];
        let s = &mut fleet.servers[server as usize];
        let dt = (now - s.last_fill).as_secs_f64();
        let added = fleet.spec.samples_per_second * dt;
        s.pending += added;
        s.in_count += added;
        s.last_fill = now;
        // With the WAL (Prometheus 2.8+) unsent samples wait on disk until truncation; without
        // it they wait in the shards' in-memory queues, and what does not fit is dropped.
        let kept = if fleet.spec.wal {
            fleet.spec.samples_per_second * fleet.spec.wal_retention_seconds
        } else {
            f64::from(fleet.spec.capacity) * f64::from(s.shards)
        };
        if s.pending > kept {
            fleet.samples_lost += s.pending - kept;
            s.pending = kept;
        }
    }

    /// Idle shards take full batches; a partial batch goes once the batch deadline passes.
    /// `woken`: called by the idle shards' own wake-up, which comes at the batch deadline at
    /// the latest, so a partial batch may go.
    fn try_send(&mut self, now: Time, rw: u16, server: u32, woken: bool, out: &mut Out) {
        self.fill(now, rw, server);
        let batch = f64::from(self.fleets[rw as usize].spec.max_samples_per_send);
        let deadline_due = woken;
        loop {
            let s = &self.fleets[rw as usize].servers[server as usize];
            if s.busy >= s.shards {
                break;
            }
            let n = if s.pending >= batch {
                batch
            } else if deadline_due && s.pending >= 1.0 {
                s.pending.floor()
            } else {
                break;
            };
            let s = &mut self.fleets[rw as usize].servers[server as usize];
            s.pending -= n;
            s.busy += 1;
            self.rw_send(
                now,
                rw,
                Origin::RemoteWrite(Batch {
                    rw,
                    server,
                    samples: n as u32,
                    first_sent: now,
                    attempt: 0,
                    prev_delay: 0.0,
                }),
                out,
            );
        }
        // An idle shard waits for a full batch or the deadline, whichever comes first.
        let fleet = &mut self.fleets[rw as usize];
        let spec = &fleet.spec;
        let s = &mut fleet.servers[server as usize];
        if s.busy < s.shards {
            let fill = (batch - s.pending).max(0.0) / spec.samples_per_second.max(1e-9);
            let at = now + secs(fill.min(spec.batch_send_deadline_seconds)).max(Time(1));
            if s.wake_at.is_none_or(|w| w <= now || w > at) {
                s.wake_gen = s.wake_gen.wrapping_add(1);
                s.wake_at = Some(at);
                out.at(
                    at,
                    SvcEv::ServerWake {
                        rw,
                        server,
                        gen: s.wake_gen,
                    },
                );
            }
        } else {
            s.wake_at = None;
        }
    }

    fn rw_send(&mut self, now: Time, rw: u16, origin: Origin, out: &mut Out) {
        let fleet = &mut self.fleets[rw as usize];
        fleet.requests += 1;
        fleet.interval_requests += 1;
        let (target, timeout) = (fleet.target, fleet.spec.remote_timeout_seconds);
        self.send(now, target, origin, timeout, out);
    }

    /// `calculateDesiredShards` (queue_manager.go, 2019): from EWMA rates of samples in,
    /// samples out and time spent sending (retries included), the shards needed to keep up
    /// plus a catch-up term for the backlog; changes within the tolerance are ignored.
    fn update_shards(&mut self, now: Time, rw: u16, out: &mut Out) {
        for server in 0..self.fleets[rw as usize].servers.len() as u32 {
            self.fill(now, rw, server);
            let fleet = &mut self.fleets[rw as usize];
            let spec = &fleet.spec;
            let s = &mut fleet.servers[server as usize];
            let interval = spec.shard_update_seconds.max(1e-9);
            let ewma = |rate: &mut Option<f64>, count: f64| {
                let inst = count / interval;
                *rate = Some(match *rate {
                    None => inst,
                    Some(r) => spec.ewma_weight * inst + (1.0 - spec.ewma_weight) * r,
                });
            };
            ewma(&mut s.in_rate, s.in_count);
            ewma(&mut s.out_rate, s.out_count);
            ewma(&mut s.duration_rate, s.out_duration);
            s.in_count = 0.0;
            s.out_count = 0.0;
            s.out_duration = 0.0;
            let out_rate = s.out_rate.unwrap_or(0.0);
            // "We haven't sent any samples yet": nothing to base a decision on.
            if out_rate <= 0.0 {
                continue;
            }
            let time_per_sample = s.duration_rate.unwrap_or(0.0) / out_rate;
            let catch_up = spec.pending_gain * s.pending / interval;
            let desired = time_per_sample * (s.in_rate.unwrap_or(0.0) + catch_up);
            let current = f64::from(s.shards);
            let lower = current * (1.0 - spec.shard_tolerance_fraction);
            let upper = current * (1.0 + spec.shard_tolerance_fraction);
            if desired >= lower && desired <= upper {
                continue;
            }
            let shards = (desired.ceil() as u32).clamp(spec.min_shards, spec.max_shards);
            s.shards = shards;
            fleet.peak_shards = fleet.peak_shards.max(shards);
            self.try_send(now, rw, server, false, out);
        }
        let every = secs(self.fleets[rw as usize].spec.shard_update_seconds);
        out.at(now + every, SvcEv::UpdateShards { rw });
    }

    // ----- the ring and its ingesters -----

    fn start_ingester(
        &mut self,
        now: Time,
        r: u16,
        id: IngesterId,
        pod: PodRef,
        name: &str,
        out: &mut Out,
    ) {
        let rr = &mut self.rings[r as usize];
        let ing = rr.ingesters.entry(id).or_default();
        ing.pod = Some(pod);
        ing.alive = true;
        ing.gen += 1;
        ing.transfer_retries = 0;
        ing.receiving = false;
        ing.leaving = false;
        // A new process reaches the store unless its node is told to be cut off.
        ing.cut_off = false;
        let gen = ing.gen;
        rr.ring.register(id, now);
        rr.dirty = true;
        if rr.ring.tokens_of(id) > 0 {
            // The lifecycler finds its own entry and tokens ("we exist in the ring, so assume
            // the ring is right") and serves at once.
            rr.ring.set_state(id, IngesterState::Active);
            out.log(
                "IngesterActive",
                format!("ingester/{}/{name}", rr.name),
                "rejoined the ring with its tokens".into(),
            );
        } else {
            rr.ring.set_state(id, IngesterState::Pending);
            out.at(
                now + secs(rr.spec.join_after_seconds),
                SvcEv::Ingester {
                    ring: r,
                    id,
                    gen,
                    step: IngesterStep::JoinAfter,
                },
            );
        }
    }

    fn ingester_name(&self, r: u16, id: IngesterId) -> String {
        let rr = &self.rings[r as usize];
        let name = rr
            .ids
            .iter()
            .find(|(_, v)| **v == id)
            .map_or("?", |(k, _)| k.as_str());
        format!("ingester/{}/{name}", rr.name)
    }

    fn ingester_died(&mut self, now: Time, r: u16, id: IngesterId, out: &mut Out) {
        let rr = &mut self.rings[r as usize];
        let Some(ing) = rr.ingesters.get_mut(&id) else {
            return;
        };
        if !ing.alive {
            return;
        }
        ing.alive = false;
        ing.gen += 1;
        ing.receiving = false;
        ing.leaving = false;
        let lost = std::mem::take(&mut ing.held);
        rr.samples_lost += lost;
        rr.dirty = true;
        if rr.ring.tokens_of(id) == 0 {
            rr.ring.remove(id);
        } else {
            // Its entry stays, heartbeat frozen: unhealthy once the timeout passes.
            rr.ring.heartbeat(id, now);
            let stale = now + secs(rr.spec.heartbeat_timeout_seconds) + Time(1);
            out.at(stale, SvcEv::RingHealth { ring: r });
        }
        let name = self.ingester_name(r, id);
        out.log(
            "IngesterDied",
            name,
            format!("process died without hand-over or flush; {lost:.0} in-memory samples lost"),
        );
    }

    /// A leaving ingester looks for a PENDING one to hand its series to (`transferOut`),
    /// retrying up to `maxTransferRetries`, then flushes instead.
    fn try_transfer(&mut self, now: Time, r: u16, id: IngesterId, out: &mut Out) {
        let rr = &mut self.rings[r as usize];
        let gen = rr.ingesters[&id].gen;
        let target = rr.ingesters.iter().find_map(|(&to, ing)| {
            (to != id
                && ing.alive
                && !ing.leaving
                && !ing.receiving
                && rr.ring.state(to) == Some(IngesterState::Pending))
            .then_some((to, ing.gen))
        });
        let step = match target {
            Some((to, to_gen)) => {
                if let Some(t) = rr.ingesters.get_mut(&to) {
                    t.receiving = true;
                }
                rr.ring.set_state(to, IngesterState::Joining);
                (
                    rr.spec.transfer_seconds,
                    IngesterStep::TransferDone { to, to_gen },
                )
            }
            None => {
                let ing = rr.ingesters.get_mut(&id).expect("leaving ingester");
                ing.transfer_retries += 1;
                if ing.transfer_retries <= rr.spec.max_transfer_retries {
                    (rr.spec.transfer_retry_seconds, IngesterStep::TransferRetry)
                } else {
                    let name = self.ingester_name(r, id);
                    out.log(
                        "IngesterFlushing",
                        name,
                        "no PENDING ingester to hand over to: flushing chunks to the store".into(),
                    );
                    (
                        self.rings[r as usize].spec.flush_seconds,
                        IngesterStep::FlushDone,
                    )
                }
            }
        };
        out.at(
            now + secs(step.0),
            SvcEv::Ingester {
                ring: r,
                id,
                gen,
                step: step.1,
            },
        );
    }

    fn ingester_step(
        &mut self,
        now: Time,
        r: u16,
        id: IngesterId,
        gen: u32,
        step: IngesterStep,
        out: &mut Out,
    ) {
        let current = self.rings[r as usize]
            .ingesters
            .get(&id)
            .is_some_and(|i| i.alive && i.gen == gen);
        if !current {
            return;
        }
        match step {
            IngesterStep::JoinAfter => {
                let rr = &mut self.rings[r as usize];
                if rr.ring.state(id) == Some(IngesterState::Pending) && !rr.ingesters[&id].receiving
                {
                    rr.ring.claim_random_tokens(id, &mut self.ring_rng);
                    rr.ring.set_state(id, IngesterState::Active);
                    rr.dirty = true;
                    let name = self.ingester_name(r, id);
                    out.log(
                        "IngesterActive",
                        name,
                        "no hand-over within join_after: claimed new tokens".into(),
                    );
                }
            }
            IngesterStep::TransferRetry => self.try_transfer(now, r, id, out),
            IngesterStep::TransferDone { to, to_gen } => {
                let rr = &mut self.rings[r as usize];
                let receiver_ok = rr
                    .ingesters
                    .get(&to)
                    .is_some_and(|t| t.alive && t.gen == to_gen && t.receiving);
                if !receiver_ok {
                    return self.try_transfer(now, r, id, out);
                }
                rr.ring.transfer_tokens(id, to);
                rr.ring.set_state(to, IngesterState::Active);
                rr.ring.remove(id);
                rr.dirty = true;
                let held = std::mem::take(&mut rr.ingesters.get_mut(&id).expect("sender").held);
                rr.samples_transferred += held;
                let t = rr.ingesters.get_mut(&to).expect("receiver");
                t.held += held;
                t.receiving = false;
                let from = self.ingester_name(r, id);
                let to_name = self.ingester_name(r, to);
                out.log(
                    "IngesterHandedOver",
                    from,
                    format!("handed {held:.0} in-memory samples and its tokens to {to_name}"),
                );
                self.ingester_exited(r, id, out);
            }
            IngesterStep::FlushDone => {
                let rr = &mut self.rings[r as usize];
                let held = std::mem::take(&mut rr.ingesters.get_mut(&id).expect("flusher").held);
                rr.samples_flushed += held;
                rr.ring.remove(id);
                rr.dirty = true;
                self.ingester_exited(r, id, out);
            }
        }
    }

    fn ingester_exited(&mut self, r: u16, id: IngesterId, out: &mut Out) {
        let ing = self.rings[r as usize]
            .ingesters
            .get_mut(&id)
            .expect("ingester");
        ing.alive = false;
        ing.leaving = false;
        ing.gen += 1;
        if let Some(pod) = ing.pod {
            out.effects.push(Effect::Exited(pod));
        }
    }

    /// The ring's write availability now, recomputed if it changed (live ingesters heartbeat
    /// continuously; dead ones keep the heartbeat of their death).
    fn availability(&mut self, now: Time, r: u16) -> f64 {
        let rr = &mut self.rings[r as usize];
        if rr.dirty {
            for (&id, ing) in &rr.ingesters {
                if ing.alive && !ing.cut_off {
                    rr.ring.heartbeat(id, now);
                }
            }
            rr.availability = rr.ring.write_availability(now);
            rr.dirty = false;
        }
        rr.availability
    }

    /// A write succeeds if every series it carries reaches quorum.
    fn write_success_probability(&mut self, now: Time, r: u16) -> f64 {
        let a = self.availability(now, r);
        a.powi(self.rings[r as usize].spec.series_per_write as i32)
    }

    /// Accepted samples go to RF ingesters each; spread evenly over the ACTIVE ones.
    fn deposit(&mut self, r: u16, samples: f64) {
        let rr = &mut self.rings[r as usize];
        let active: Vec<IngesterId> = rr
            .ring
            .ingesters()
            .filter(|(id, s)| {
                *s == IngesterState::Active && rr.ingesters.get(id).is_some_and(|i| i.alive)
            })
            .map(|(id, _)| id)
            .collect();
        if active.is_empty() {
            return;
        }
        let copies = f64::from(rr.spec.replication_factor).min(active.len() as f64);
        let each = samples * copies / active.len() as f64;
        for id in active {
            if let Some(i) = rr.ingesters.get_mut(&id) {
                i.held += each;
            }
        }
    }

    // ----- the event loop's entry -----

    /// Handles one of the services' own timers.
    pub fn handle(&mut self, now: Time, ev: SvcEv, out: &mut Out) {
        match ev {
            SvcEv::Complete(id) => self.complete(now, id, out),
            SvcEv::Timeout(id) => self.timeout(now, id, out),
            SvcEv::ServerWake { rw, server, gen } => {
                if self.fleets[rw as usize].servers[server as usize].wake_gen == gen {
                    self.fleets[rw as usize].servers[server as usize].wake_at = None;
                    self.try_send(now, rw, server, true, out);
                }
            }
            SvcEv::ShardRetry(batch) => {
                self.rw_send(now, batch.rw, Origin::RemoteWrite(batch), out)
            }
            SvcEv::UpdateShards { rw } => self.update_shards(now, rw, out),
            SvcEv::ClientArrival { client } => self.client_arrival(now, client, out),
            SvcEv::ClientRetry(a) => {
                if self.clients[a.client as usize].sealed_at.is_none() {
                    self.client_send(now, a, out);
                } else {
                    self.clients[a.client as usize].request_done(now, a.call, false);
                }
            }
            SvcEv::Ingester {
                ring,
                id,
                gen,
                step,
            } => self.ingester_step(now, ring, id, gen, step, out),
            SvcEv::RingHealth { ring } => self.rings[ring as usize].dirty = true,
        }
    }

    // ----- metrics -----

    /// One row of series for metrics.csv (always the same columns, in the same order), and
    /// the bookkeeping of peaks, the baseline and the outage clock.
    pub fn sample(&mut self, now: Time) -> Vec<(String, f64)> {
        let interval = self.last_sample.map_or(0.0, |t| (now - t).as_secs_f64());
        self.last_sample = Some(now);
        let in_baseline = now > self.baseline_from && now <= self.baseline_until;
        // The service levels count from the end of the warm-up: a cluster that starts empty
        // has no ring for its first minute, which is a boot, not an outage.
        let measured = now > self.baseline_from;
        let mut row = Vec::new();
        for s in &mut self.services {
            let qps = if interval > 0.0 {
                s.stats.interval_arrivals as f64 / interval
            } else {
                0.0
            };
            s.stats.interval_arrivals = 0;
            if interval > 0.0 {
                s.stats.peak_qps = s.stats.peak_qps.max(qps);
                if in_baseline {
                    s.stats.baseline_sum += qps;
                    s.stats.baseline_n += 1;
                }
            }
            let in_flight: usize = s.replicas.iter().map(Replica::requests).sum();
            let p50 = s.stats.interval_latency.quantile(0.5);
            let p99 = s.stats.interval_latency.quantile(0.99);
            s.stats.interval_latency.clear();
            s.stats.peak_p99 = s.stats.peak_p99.max(p99);
            row.push((format!("{}_qps", s.name), qps));
            row.push((format!("{}_latency_p50_seconds", s.name), p50));
            row.push((format!("{}_latency_p99_seconds", s.name), p99));
            row.push((
                format!("{}_ready_replicas", s.name),
                s.routable.len() as f64,
            ));
            row.push((format!("{}_requests_in_flight", s.name), in_flight as f64));
        }
        for r in 0..self.rings.len() {
            let a = self.availability(now, r as u16);
            let rr = &mut self.rings[r];
            if measured {
                rr.availability_sum += a;
                rr.availability_samples += 1;
            }
            let active = rr
                .ring
                .ingesters()
                .filter(|(_, s)| *s == IngesterState::Active)
                .count();
            row.push((format!("{}_write_availability", rr.name), a));
            row.push((format!("{}_active_ingesters", rr.name), active as f64));
            row.push((format!("{}_ring_members", rr.name), rr.ring.len() as f64));
        }
        let mut failed = 0u64;
        let mut sent = 0u64;
        for f in 0..self.fleets.len() {
            for server in 0..self.fleets[f].servers.len() as u32 {
                self.fill(now, f as u16, server);
            }
            let fleet = &mut self.fleets[f];
            failed += fleet.interval_failed;
            sent += fleet.interval_requests;
            let qps = if interval > 0.0 {
                fleet.interval_requests as f64 / interval
            } else {
                0.0
            };
            fleet.interval_failed = 0;
            fleet.interval_requests = 0;
            let shards: u32 = fleet.servers.iter().map(|s| s.shards).sum();
            let pending: f64 = fleet.servers.iter().map(|s| s.pending).sum();
            row.push((format!("{}_requests_per_second", fleet.name), qps));
            row.push((format!("{}_shards", fleet.name), f64::from(shards)));
            row.push((format!("{}_pending_samples", fleet.name), pending.round()));
        }
        if !self.fleets.is_empty() {
            let parked = self.parked.iter().any(|p| !p.is_empty());
            let ratio = if parked {
                1.0
            } else if sent > 0 {
                failed as f64 / sent as f64
            } else {
                0.0
            };
            row.push(("write_error_ratio".to_string(), ratio));
        }
        if measured && interval > 0.0 && !self.fleets.is_empty() {
            self.sampled_intervals += 1;
            // Shards parked on a service without endpoints are failing too, silently.
            let parked = self.parked.iter().any(|p| !p.is_empty());
            if parked || (sent > 0 && failed as f64 > self.cfg.outage_error_ratio * sent as f64) {
                self.write_outage_seconds += interval;
                self.outage_intervals += 1;
            }
        }
        for c in &mut self.clients {
            if c.sealed_at.is_some() {
                c.sealed_seconds += interval;
            }
            let (offered, goodput) = if interval > 0.0 {
                (
                    c.interval_requests as f64 / interval,
                    c.interval_succeeded as f64 / interval,
                )
            } else {
                (0.0, 0.0)
            };
            c.interval_requests = 0;
            c.interval_succeeded = 0;
            row.push((format!("{}_offered_qps", c.name), offered));
            row.push((format!("{}_goodput_qps", c.name), goodput));
            row.push((
                format!("{}_calls_failed", c.name),
                std::mem::take(&mut c.interval_calls_failed) as f64,
            ));
            if c.spec.seal_after_failing_seconds.is_some() {
                row.push((
                    format!("{}_sealed", c.name),
                    f64::from(u8::from(c.sealed_at.is_some())),
                ));
            }
        }
        row
    }

    /// Counters for summary.json's `totals`.
    pub fn totals(&self) -> Vec<(String, u64)> {
        let mut t = Vec::new();
        for s in &self.services {
            t.push((format!("{}_requests", s.name), s.stats.arrivals));
            t.push((format!("{}_succeeded", s.name), s.stats.succeeded));
            t.push((format!("{}_rejected", s.name), s.stats.rejected));
            t.push((format!("{}_failed", s.name), s.stats.failed));
            t.push((format!("{}_shed", s.name), s.stats.shed));
            t.push((format!("{}_unavailable", s.name), s.stats.unavailable));
            t.push((format!("{}_oom_kills", s.name), s.stats.oom_kills));
        }
        if !self.fleets.is_empty() || !self.rings.is_empty() {
            let requests = self.fleets.iter().map(|f| f.requests).sum();
            let failed = self.fleets.iter().map(|f| f.failed).sum();
            let written: f64 = self.fleets.iter().map(|f| f.samples_written).sum();
            let lost: f64 = self.fleets.iter().map(|f| f.samples_lost).sum::<f64>()
                + self.rings.iter().map(|r| r.samples_lost).sum::<f64>();
            t.push(("write_requests".into(), requests));
            t.push(("write_requests_failed".into(), failed));
            t.push(("samples_written".into(), written.round() as u64));
            t.push(("samples_lost".into(), lost.round() as u64));
            t.push((
                "write_outage_seconds".into(),
                self.write_outage_seconds.round() as u64,
            ));
        }
        for r in &self.rings {
            t.push((
                format!("{}_samples_transferred", r.name),
                r.samples_transferred.round() as u64,
            ));
            t.push((
                format!("{}_samples_flushed", r.name),
                r.samples_flushed.round() as u64,
            ));
        }
        for c in &self.clients {
            t.push((format!("{}_calls", c.name), c.calls));
            t.push((format!("{}_cache_hits", c.name), c.cache_hits));
            t.push((format!("{}_requests", c.name), c.requests));
            t.push((format!("{}_succeeded", c.name), c.succeeded));
            t.push((format!("{}_gave_up", c.name), c.gave_up));
            t.push((format!("{}_failed", c.name), c.calls_failed));
            t.push((format!("{}_ok", c.name), c.calls_ok));
            if c.spec.seal_after_failing_seconds.is_some() {
                t.push((
                    format!("{}_sealed_seconds", c.name),
                    c.sealed_seconds.round() as u64,
                ));
            }
        }
        t
    }

    /// Maxima for summary.json's `peaks`.
    pub fn peaks(&self) -> Vec<(String, f64)> {
        let mut p = Vec::new();
        for s in &self.services {
            p.push((format!("{}_qps", s.name), s.stats.peak_qps));
            let baseline = if s.stats.baseline_n > 0 {
                s.stats.baseline_sum / f64::from(s.stats.baseline_n)
            } else {
                0.0
            };
            let ratio = if baseline > 0.0 {
                s.stats.peak_qps / baseline
            } else {
                0.0
            };
            p.push((format!("{}_baseline_qps", s.name), baseline));
            p.push((format!("{}_qps_ratio", s.name), ratio));
            p.push((format!("{}_latency_p99_seconds", s.name), s.stats.peak_p99));
            p.push((
                format!("{}_max_requests_in_replica", s.name),
                s.stats.peak_requests_in_replica as f64,
            ));
        }
        for f in &self.fleets {
            p.push((format!("{}_shards", f.name), f64::from(f.peak_shards)));
        }
        p
    }

    /// Fractions for summary.json's `ratios`.
    pub fn ratios(&self) -> Vec<(String, f64)> {
        let mut q = Vec::new();
        for r in &self.rings {
            let a = if r.availability_samples > 0 {
                r.availability_sum / f64::from(r.availability_samples)
            } else {
                1.0
            };
            q.push((format!("{}_write_availability", r.name), a));
        }
        if !self.fleets.is_empty() {
            let a = if self.sampled_intervals > 0 {
                1.0 - f64::from(self.outage_intervals) / f64::from(self.sampled_intervals)
            } else {
                1.0
            };
            q.push(("write_availability".into(), a));
        }
        for s in &self.services {
            let done = s.stats.succeeded + s.stats.failed + s.stats.rejected + s.stats.shed;
            let mean = if s.stats.succeeded > 0 {
                s.stats.latency_sum / s.stats.succeeded as f64
            } else {
                0.0
            };
            q.push((
                format!("{}_success_ratio", s.name),
                if done > 0 {
                    s.stats.succeeded as f64 / done as f64
                } else {
                    1.0
                },
            ));
            q.push((format!("{}_mean_latency_seconds", s.name), mean));
        }
        for c in &self.clients {
            let amp = if c.calls > 0 {
                c.requests as f64 / c.calls as f64
            } else {
                0.0
            };
            q.push((format!("{}_amplification", c.name), amp));
        }
        q
    }
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

impl ClientRt {
    /// A request of call `call` is finished for good (succeeded, or failed past its retries).
    /// When the call's last request is in, the call counts as ok or failed, and a client with
    /// `sealAfterFailingSeconds` seals itself once its calls have failed that long.
    fn request_done(&mut self, now: Time, call: u32, ok: bool) {
        let Some(entry) = self.open_calls.get_mut(&call) else {
            return;
        };
        entry.0 = entry.0.saturating_sub(1);
        entry.1 |= !ok;
        if entry.0 > 0 {
            return;
        }
        let failed = entry.1;
        self.open_calls.remove(&call);
        if failed {
            self.calls_failed += 1;
            self.interval_calls_failed += 1;
            let since = *self.failing_since.get_or_insert(now);
            if let Some(after) = self.spec.seal_after_failing_seconds {
                if self.sealed_at.is_none() && (now - since).as_secs_f64() >= after {
                    self.sealed_at = Some(now);
                }
            }
        } else {
            self.calls_ok += 1;
            self.failing_since = None;
        }
    }
}
