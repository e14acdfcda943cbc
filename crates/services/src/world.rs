//! The services on a cluster as one state machine: it is told what happens to pods (started,
//! Ready, terminating, died, gone), fed its own timer events back, and answers with timers to
//! schedule and effects on the cluster (an OOM kill, a container that has exited). It owns no
//! clock and no queue: the caller (cascade-sim) does, so the engine stays the one place time
//! lives.
//!
//! [`World`] holds the parts, each owning its state: the services' [`Endpoints`], the
//! [`Requests`] in flight, the [`Clients`], the [`RemoteWrite`] fleets, the [`Rings`] and their
//! ingesters, and the [`ServiceMetrics`]. It fans what happens to a pod out to the parts, and
//! runs the request loop between them (`flow.rs`).

use crate::clients::Clients;
use crate::config::ServicesConfig;
use crate::contract::{secs, ClientIdx, Out, PodInfo, PodRef, ServiceIdx, SliceWrites, SvcEv};
use crate::endpoints::Endpoints;
use crate::ingesters::Rings;
use crate::metrics::{ServiceMetrics, View};
use crate::remote_write::RemoteWrite;
use crate::requests::Requests;
use crate::service::{Replica, Service};
use cascade_engine::{Generation, Time};
use cascade_model::Rng;
use cascade_ring::IngesterId;
use std::collections::BTreeMap;

/// What a pod is to the services: replicas (service, replica index) and ingesters.
#[derive(Debug, Default)]
pub(crate) struct PodLink {
    pub replicas: Vec<(ServiceIdx, u32)>,
    pub ingesters: Vec<(crate::contract::RingIdx, IngesterId)>,
    /// The `perPodOf` clients it calls for, each with its resolver (`Clients::resolver_of`),
    /// and its node.
    pub callers: Vec<(ClientIdx, u32)>,
    pub node: u32,
}

/// Every service, ring, remote_write fleet and client of a run.
pub struct World {
    pub(crate) endpoints: Endpoints,
    pub(crate) requests: Requests,
    pub(crate) clients: Clients,
    pub(crate) fleets: RemoteWrite,
    pub(crate) rings: Rings,
    pub(crate) metrics: ServiceMetrics,
    pub(crate) pods: BTreeMap<PodRef, PodLink>,
    /// The caller's watches on requests in flight (`watch_in_flight`): a pod and the count
    /// at which it is told.
    pub(crate) in_flight_watches: BTreeMap<PodRef, usize>,
    /// "services": every draw but the ring's tokens.
    pub(crate) rng: Rng,
    /// The rate window services count their arrivals in (`rateWindowSeconds`).
    pub(crate) rate_window: f64,
    /// Tests only, when set: per origin (its `Debug` form), the requests sent for it and
    /// the answers it was given, to check that each is answered exactly once.
    #[cfg(test)]
    pub(crate) ledger: Option<BTreeMap<String, (u32, u32)>>,
}

impl World {
    /// Builds the services of a run. Errors are [`crate::validate`]'s: a reference that does
    /// not resolve (a ring or target service that is not declared), or a value not modelled.
    pub fn new(cfg: ServicesConfig, seed: u64) -> Result<World, String> {
        let resolved = crate::validate::resolve(&cfg)?;
        let services = cfg
            .services
            .iter()
            .zip(resolved.rings)
            .map(|((name, spec), ring)| Service::new(name.clone(), spec.clone(), ring))
            .collect();
        let endpoints = Endpoints::new(services);
        let rings = Rings::new(cfg.rings.iter(), Rng::stream(seed, "ring-tokens"));
        let fleets = RemoteWrite::new(cfg.remote_write.iter(), &resolved.fleet_targets);
        let clients = Clients::new(cfg.clients.iter(), &resolved.client_targets);
        let metrics = ServiceMetrics::new(
            secs(cfg.baseline_warmup_seconds),
            cfg.outage_error_ratio,
            crate::metrics::RateWindows {
                seconds: cfg.rate_window_seconds,
                surge_until: cfg.surge_until_seconds.map(secs),
                steady_tolerance: cfg.steady_tolerance,
            },
            View {
                endpoints: &endpoints,
                rings: &rings,
                fleets: &fleets,
                clients: &clients,
            },
        );
        Ok(World {
            endpoints,
            requests: Requests::default(),
            clients,
            fleets,
            rings,
            metrics,
            pods: BTreeMap::new(),
            in_flight_watches: BTreeMap::new(),
            rng: Rng::stream(seed, "services"),
            rate_window: cfg.rate_window_seconds,
            #[cfg(test)]
            ledger: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
            && self.rings.is_empty()
            && self.fleets.is_empty()
            && self.clients.is_empty()
    }

    /// Whether the named service refuses connections now (no Ready replica, or cut off).
    /// Unknown names refuse.
    pub fn refuses(&self, name: &str) -> bool {
        self.endpoints.refuses(name)
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
        let Some(svc) = self.endpoints.find(name) else {
            return false;
        };
        let (changed, reopened) = self.endpoints.set_reachable(now, svc, reachable);
        if reopened {
            self.unpark(now, svc, out);
        }
        changed
    }

    /// A degradation fault starts (`Some`) or ends (`None`) on the named service: fewer
    /// workers, slower service, added latency, an error rate (docs/retry-defences.md#degradation),
    /// on every replica. Requests already in service keep the service time they drew; when
    /// workers come back, queued requests take them at once. False if there is no such service.
    pub fn set_service_degraded(
        &mut self,
        now: Time,
        name: &str,
        degradation: Option<crate::config::Degradation>,
        out: &mut Out,
    ) -> bool {
        self.set_service_degraded_on(now, name, degradation, None, out)
    }

    /// As [`World::set_service_degraded`], on the replicas whose pods run on `nodes` only
    /// (`PodInfo::node`; a replica that starts there later is degraded too), or on every
    /// replica with None: one bad replica of several (docs/retry-defences.md#degradation).
    pub fn set_service_degraded_on(
        &mut self,
        now: Time,
        name: &str,
        degradation: Option<crate::config::Degradation>,
        nodes: Option<Vec<u32>>,
        out: &mut Out,
    ) -> bool {
        let Some(svc) = self.endpoints.find(name) else {
            return false;
        };
        let s = self.endpoints.get_mut(svc);
        s.degraded_nodes = nodes.filter(|_| degradation.is_some());
        s.degraded = degradation;
        self.refill_workers(now, svc, out);
        true
    }

    /// An operator unseals a client that sealed itself (Vault): it starts sending again, and
    /// seals again if its calls keep failing. False if there is no such sealed client.
    pub fn unseal(&mut self, now: Time, name: &str, out: &mut Out) -> bool {
        self.clients.unseal(now, name, &mut self.rng, out)
    }

    /// The steady-state window `peaks.*_qps_ratio` divides by: from the warm-up until `until`
    /// (the first change or fault).
    pub fn set_baseline_until(&mut self, until: Time) {
        self.metrics.set_baseline_until(until);
    }

    /// The first timers: clients' first arrivals, remote_write's wakes and shard updates.
    pub fn start(&mut self, now: Time, out: &mut Out) {
        self.clients.start(now, &mut self.rng, out);
        self.fleets.start(now, &mut self.rng, out);
    }

    // ----- what happens to pods -----

    /// A pod's containers have (re)started: it becomes a replica of the services and an
    /// ingester of the rings whose selectors pick it. A replica takes requests once Ready.
    pub fn container_started(&mut self, now: Time, pod: PodRef, info: &PodInfo, out: &mut Out) {
        if !self.pods.contains_key(&pod) {
            let mut link = PodLink::default();
            for (i, svc) in self.endpoints.iter_mut().enumerate() {
                if svc
                    .spec
                    .selector
                    .matches_meta(&info.namespace, &info.labels)
                {
                    svc.replicas.push(Replica {
                        pod,
                        routable: false,
                        ready: false,
                        alive: false,
                        gen: Generation::FIRST,
                        in_service: Vec::new(),
                        queue: Default::default(),
                        queue_state: Default::default(),
                        memory_limit: info.memory_limit,
                        node: info.node,
                        cut_off: false,
                        lost: false,
                    });
                    let replica = cascade_engine::index_u32(svc.replicas.len()) - 1;
                    link.replicas.push((ServiceIdx::at(i), replica));
                }
            }
            link.ingesters = self.rings.ingesters_of(info);
            link.callers = self
                .clients
                .callers_of(info)
                .into_iter()
                .map(|c| (c, self.clients.resolver_of(c, info.dns.as_deref())))
                .collect();
            link.node = info.node;
            if link.replicas.is_empty() && link.ingesters.is_empty() && link.callers.is_empty() {
                return;
            }
            self.pods.insert(pod, link);
        }
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        for &(svc, replica) in &link.replicas {
            let rep = &mut self.endpoints.get_mut(svc).replicas[replica as usize];
            rep.alive = true;
            rep.lost = false;
        }
        for &(ring, id) in &link.ingesters {
            self.rings.start(now, ring, id, pod, &info.name, out);
        }
        for &(c, resolver) in &link.callers {
            self.clients
                .caller_up(now, c, pod, link.node, resolver, &mut self.rng, out);
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
        for &(svc, replica) in &link.replicas {
            self.endpoints.get_mut(svc).replicas[replica as usize].cut_off = cut_off;
        }
        for &(ring, id) in &link.ingesters {
            self.rings.set_cut_off(now, ring, id, cut_off, out);
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
        for &(svc, replica) in &link.replicas {
            if self.endpoints.set_ready(now, svc, replica, on, out) {
                reopened.push(svc);
            }
        }
        for svc in reopened {
            self.unpark(now, svc, out);
        }
    }

    /// How the readiness changes of the calls that follow reach the EndpointSlices: the
    /// caller's endpointslice controller decides (docs/control-plane-and-nodes.md#endpointslices).
    pub fn set_slice_writes(&mut self, mode: SliceWrites) {
        self.endpoints.slice_writes = mode;
    }

    /// The endpointslice controller's write of the service's slice is taken: kube-proxy now
    /// routes to the replicas Ready at this instant, and no longer to the others.
    pub fn write_slice(&mut self, now: Time, svc: ServiceIdx, out: &mut Out) {
        if self.endpoints.write_slice(now, svc) {
            self.unpark(now, svc, out);
        }
    }

    /// How many services the run has (each a Service with one EndpointSlice).
    pub fn service_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The namespace a service's pods are selected in (the flow its slice writes belong to).
    pub fn service_namespace(&self, svc: ServiceIdx) -> &str {
        self.endpoints
            .get(svc)
            .spec
            .selector
            .namespace
            .as_deref()
            .unwrap_or("default")
    }

    /// The pod got SIGTERM (deleted, preempted, evicted): its replicas leave the endpoints and
    /// finish what they hold; its ingesters start leaving the ring. True if the pod's process
    /// will report its own exit with [`crate::Effect::Exited`] (an ingester handing over or
    /// flushing); the caller then only enforces the grace period.
    pub fn terminating(&mut self, now: Time, pod: PodRef, out: &mut Out) -> bool {
        self.set_routable(now, pod, false, out);
        let Some(link) = self.pods.get(&pod) else {
            return false;
        };
        let mut claims = false;
        for &(ring, id) in &link.ingesters {
            claims |= self.rings.terminating(now, ring, id, out);
        }
        claims
    }

    /// The pod's process died without a clean shutdown (OOM kill, node lost): requests in its
    /// replicas fail; its ingesters' in-memory samples are lost and their ring entries go
    /// stale after the heartbeat timeout.
    pub fn process_died(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        self.process_ends(now, pod, false, out);
    }

    /// The pod's process died with its node (the machine is gone): as `process_died`, but its
    /// Ready condition stays as the API server last had it, since no kubelet reports the
    /// death, so its Service's slice keeps listing it and requests routed to it are refused
    /// (`SERVICE_stale_endpoint_failures`) until the node lifecycle controller marks the pod
    /// not Ready (`pod_not_ready`) or the kubelet comes back (`kubelet_reports_lost`).
    pub fn process_lost(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        self.process_ends(now, pod, true, out);
    }

    /// The node's kubelet is back: it reports the pod's containers that died with the node
    /// as not Ready.
    pub fn kubelet_reports_lost(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        let lost: Vec<(ServiceIdx, u32)> = link
            .replicas
            .iter()
            .copied()
            .filter(|&(svc, r)| self.endpoints.get(svc).replicas[r as usize].lost)
            .collect();
        let mut reopened = Vec::new();
        for (svc, replica) in lost {
            if self.endpoints.set_ready(now, svc, replica, false, out) {
                reopened.push(svc);
            }
        }
        for svc in reopened {
            self.unpark(now, svc, out);
        }
    }

    fn process_ends(&mut self, now: Time, pod: PodRef, keep_ready: bool, out: &mut Out) {
        let Some(link) = self.pods.get(&pod) else {
            return;
        };
        let replicas = link.replicas.clone();
        let ingesters = link.ingesters.clone();
        for &(c, _) in &link.callers {
            self.clients.caller_down(c, pod);
        }
        for (svc, replica) in replicas {
            if self.endpoints.get(svc).replicas[replica as usize].alive {
                if keep_ready {
                    self.lose_replica(now, svc, replica, out);
                } else {
                    self.kill_replica(now, svc, replica, out);
                }
            }
        }
        for (ring, id) in ingesters {
            self.rings.died(now, ring, id, out);
        }
    }

    /// The pod object is gone. A process still running (a grace period that expired before
    /// the hand-over finished) is killed.
    pub fn pod_gone(&mut self, now: Time, pod: PodRef, out: &mut Out) {
        // A pod object deleted is out of its slices, even one whose node died unmarked.
        self.set_routable(now, pod, false, out);
        self.process_died(now, pod, out);
        self.pods.remove(&pod);
        self.in_flight_watches.remove(&pod);
    }

    /// Requests in flight at the pod's replicas, served or queued, summed over the services
    /// it backs (0 for a pod that backs none, or whose process is not running).
    pub fn in_flight(&self, pod: PodRef) -> usize {
        self.pods.get(&pod).map_or(0, |link| {
            link.replicas
                .iter()
                .map(|&(svc, r)| self.endpoints.get(svc).replicas[r as usize].requests())
                .sum()
        })
    }

    /// Asks to be told, once, when the requests in flight at the pod's replicas reach
    /// `at_least` ([`crate::Effect::InFlightReached`]); None withdraws the watch. The world
    /// does not say why: the caller (the simulation's node memory) decides what a count
    /// means.
    pub fn watch_in_flight(&mut self, pod: PodRef, at_least: Option<usize>) {
        match at_least {
            Some(n) => {
                self.in_flight_watches.insert(pod, n);
            }
            None => {
                self.in_flight_watches.remove(&pod);
            }
        }
    }

    /// Work the cluster submits to a service (registrations, reconciliation): `n` requests
    /// that nobody retries or waits for; they load the service like any other. False if there
    /// is no such service.
    pub fn submit(&mut self, now: Time, service: &str, n: u32, out: &mut Out) -> bool {
        let Some(svc) = self.endpoints.find(service) else {
            return false;
        };
        for _ in 0..n {
            self.send(
                now,
                svc,
                crate::requests::Origin::Internal,
                f64::INFINITY,
                out,
            );
        }
        true
    }

    // ----- the event loop's entry -----

    /// Handles one of the services' own timers.
    pub fn handle(&mut self, now: Time, ev: SvcEv, out: &mut Out) {
        match ev {
            SvcEv::Complete(id) => self.complete(now, id, out),
            SvcEv::Timeout(id) => self.timeout(now, id, out),
            SvcEv::Deliver { id, ok } => self.deliver(now, id, ok, out),
            SvcEv::ServerWake { rw, server, gen } => {
                if self.fleets.woken(rw, server, gen) {
                    self.try_send(now, rw, server, true, out);
                }
            }
            SvcEv::ShardRetry(batch) => {
                // A retry of a batch whose shards were shut down hard is not sent.
                if self.fleets.is_current(&batch) {
                    self.send_batch(now, batch, out);
                }
            }
            SvcEv::UpdateShards { rw } => {
                for server in 0..self.fleets.servers(rw) {
                    if self.fleets.update_shards(now, rw, server, out) {
                        self.try_send(now, rw, server, false, out);
                    }
                }
                self.fleets.schedule_update(now, rw, out);
            }
            SvcEv::FlushDeadline { rw, server, gen } => {
                if self.fleets.flush_deadline(rw, server, gen) {
                    self.try_send(now, rw, server, false, out);
                }
            }
            SvcEv::ClientArrival { client } => self.client_arrival(now, client, out),
            SvcEv::DownstreamRetry(d) => self.downstream_retry(now, d, out),
            SvcEv::ClientRetry(a) => {
                if self.clients.retry_due(now, &a) {
                    self.client_send(now, a, out);
                }
            }
            SvcEv::Ingester {
                ring,
                id,
                gen,
                step,
            } => self.rings.step(now, ring, id, gen, step, out),
            SvcEv::RingHealth { ring } => self.rings.mark_dirty(ring),
        }
    }

    // ----- metrics -----

    fn view(&self) -> View<'_> {
        View {
            endpoints: &self.endpoints,
            rings: &self.rings,
            fleets: &self.fleets,
            clients: &self.clients,
        }
    }

    /// Closes the sample interval ending at `now` (the one step of the reports that changes
    /// state): rates, peaks, the baseline, ring availability and the outage clock take it in.
    /// Call it at each sample, before [`World::sample`].
    pub fn roll_interval(&mut self, now: Time) {
        self.metrics.roll_interval(
            now,
            &mut self.endpoints,
            &mut self.rings,
            &mut self.fleets,
            &mut self.clients,
        );
    }

    /// One row of series for metrics.csv (always the same columns, in the same order): the
    /// rates of the interval last closed by [`World::roll_interval`] and the state now.
    pub fn sample(&self) -> Vec<(String, f64)> {
        self.metrics.sample(self.view())
    }

    /// Counters for summary.json's `totals`.
    pub fn totals(&self) -> Vec<(String, u64)> {
        self.metrics.totals(self.view())
    }

    /// Maxima for summary.json's `peaks`.
    pub fn peaks(&self) -> Vec<(String, f64)> {
        self.metrics.peaks(self.view())
    }

    /// Fractions for summary.json's `ratios`.
    pub fn ratios(&self) -> Vec<(String, f64)> {
        self.metrics.ratios(self.view())
    }

    /// Averages (not fractions) for summary.json's `averages`.
    pub fn averages(&self) -> Vec<(String, f64)> {
        self.metrics.averages(self.view())
    }

    /// Each ratio's and average's running counts (`ratios` and `averages` over a window
    /// difference them).
    pub fn ratio_parts(&self) -> Vec<(String, crate::metrics::RatioParts)> {
        self.metrics.ratio_parts(self.view())
    }

    /// What a reader of the figures must know (summary.json's `notes`): e.g. a service whose
    /// request rate had no steady baseline, so that its `_qps_ratio` is not given; each with
    /// the summary figure it is about.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.metrics.notes(self.view())
    }
}
