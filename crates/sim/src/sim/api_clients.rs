//! Pods' API clients (docs/control-plane-and-nodes.md#the-api-server-in-the-run): a
//! behaviour's `apiClient` makes each of its pods a client-go informer (LIST, then WATCH; a
//! broken watch relists after the reflector's backoff) or a poller, behind its own token
//! bucket, retrying 429s and resets as client-go does; with `readyWhenSynced` the pod's
//! readiness waits for the informer's first sync.

use super::control_plane::{Caller, Conn, ControlPlaneEv, CLIENT_GO_MAX_RETRIES};
use super::{Ev, Generation, Simulation};
use crate::scenario::ApiClient;
use cascade_apiserver::client::TokenBucket;
use cascade_apiserver::queueset::flow_hash;
use cascade_apiserver::reflector::ReflectorBackoff;
use cascade_apiserver::server::{flow_schema, ApiRequest, LevelId, Outcome};
use cascade_apiserver::work::Verb;
use cascade_engine::{Duration, Time};
use cascade_scheduler::{NodeId, PodId};

/// A pod's API client.
#[derive(Clone, Debug)]
pub(super) struct ClientRt {
    pub(super) behaviour: usize,
    /// Bumped whenever its pending timer or request is superseded.
    pub(super) epoch: Generation,
    pub(super) state: ClientState,
    /// Retries of the current request (429s and refused connections).
    pub(super) retries: u32,
    /// Its next request already has its token from the bucket.
    pub(super) paid: bool,
    pub(super) backoff: ReflectorBackoff,
    pub(super) bucket: TokenBucket,
    pub(super) node: Option<NodeId>,
    pub(super) flow: u64,
    pub(super) level: LevelId,
    /// Its informer has synced once (client-go's `HasSynced`: true from then on, a broken
    /// watch and a relist included).
    pub(super) synced: bool,
    /// The pod's readiness probe passed (for this start) while the informer had not synced:
    /// with `readyWhenSynced` the pod turns Ready when it syncs.
    pub(super) ready_waiting: Option<Generation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientState {
    /// Waiting for its next attempt.
    Idle,
    /// A LIST in flight.
    Listing,
    /// Synced and watching (an informer).
    Watching,
}

impl<'a> Simulation<'a> {
    fn api_client_spec(&self, behaviour: usize) -> &'a ApiClient {
        let sc: &'a crate::scenario::Scenario = self.sc;
        sc.spec.behaviours[behaviour]
            .api_client
            .as_ref()
            .expect("a client's behaviour has an apiClient")
    }

    /// The pod's containers started: its API client makes its first LIST.
    pub(super) fn api_client_started(&mut self, pod: PodId) {
        let Some(b) = self.pods.get(pod).and_then(|r| r.behaviour) else {
            return;
        };
        let Some(spec) = self.sc.spec.behaviours[b].api_client.as_ref() else {
            return;
        };
        let e = self.cluster.pod(pod);
        let ns = e.pod.namespace.clone();
        let default_fs = if ns == "kube-system" {
            "kube-system-service-accounts"
        } else {
            "service-accounts"
        };
        let fs_name = spec.flow_schema.as_deref().unwrap_or(default_fs);
        let fs = flow_schema(fs_name).expect("flow schemas are checked at load");
        // A workload's pods share its ServiceAccount: one user, one namespace.
        let owner = self.pods.get(pod).and_then(|r| r.workload).map_or_else(
            || e.pod.name.clone(),
            |w| self.controllers.workloads[w].w.name.clone(),
        );
        let distinguisher = match fs.distinguisher {
            cascade_apiserver::server::Distinguisher::ByUser => {
                format!("system:serviceaccount:{ns}:{owner}")
            }
            cascade_apiserver::server::Distinguisher::ByNamespace => ns.clone(),
            cascade_apiserver::server::Distinguisher::None => String::new(),
        };
        let prev = self
            .control_plane
            .clients
            .get(&pod)
            .map_or(Generation::FIRST, |c| c.epoch);
        let c = ClientRt {
            behaviour: b,
            epoch: prev.next(),
            state: ClientState::Idle,
            retries: 0,
            paid: false,
            backoff: ReflectorBackoff::default(),
            bucket: TokenBucket::new(spec.qps, spec.burst),
            node: e.node,
            flow: flow_hash(fs.name, &distinguisher),
            level: fs.level,
            synced: false,
            ready_waiting: None,
        };
        let epoch = c.epoch;
        // A pod that was running before the run began listed long ago: the run starts from
        // the cluster's steady state, with its informers synced.
        let initial = e.pod.creation_timestamp <= self.info.start_ms
            && self.pods.get(pod).is_some_and(|r| r.starts <= 1);
        self.control_plane.clients.insert(pod, c);
        if initial {
            if let Some(c) = self.control_plane.clients.get_mut(&pod) {
                c.state = ClientState::Watching;
                c.synced = true;
            }
            // Its watch is on the replica the load balancer gave its connection.
            let cp = &mut self.control_plane;
            let servers = &cp.servers;
            cp.balancer.route(Conn::Pod(pod), |i| servers[i].serving());
            return;
        }
        self.client_attempt(pod, epoch);
    }

    /// With `readyWhenSynced`, whether the pod's readiness waits for its informer's first
    /// sync; if so the probe's pass (`starts`) is kept, and the pod turns Ready when it syncs.
    pub(super) fn ready_waits_for_sync(&mut self, pod: PodId, starts: Generation) -> bool {
        let Some(c) = self.control_plane.clients.get(&pod) else {
            return false;
        };
        if c.synced || !self.api_client_spec(c.behaviour).ready_when_synced {
            return false;
        }
        if let Some(c) = self.control_plane.clients.get_mut(&pod) {
            c.ready_waiting = Some(starts);
        }
        true
    }

    /// The pod's containers stopped: so did its client.
    pub(super) fn api_client_stopped(&mut self, pod: PodId) {
        self.control_plane.clients.remove(&pod);
        self.control_plane.balancer.close(Conn::Pod(pod));
    }

    fn client_schedule(&mut self, pod: PodId, delay: Duration) {
        let Some(c) = self.control_plane.clients.get_mut(&pod) else {
            return;
        };
        let epoch = c.epoch.bump();
        c.state = ClientState::Idle;
        self.engine.schedule_after(
            delay,
            Ev::ControlPlane(ControlPlaneEv::Client { pod, epoch }),
        );
    }

    /// The client lists now, or when its token bucket lets it (client-go waits for a token,
    /// it never fails for want of one).
    pub(super) fn client_attempt(&mut self, pod: PodId, epoch: Generation) {
        let now = self.now();
        let Some(c) = self.control_plane.clients.get_mut(&pod) else {
            return;
        };
        if !c.epoch.is_current(epoch) || c.state != ClientState::Idle {
            return;
        }
        if !c.paid {
            let at = c.bucket.when(now);
            if at > now {
                c.paid = true;
                let epoch = c.epoch.bump();
                self.engine
                    .schedule(at, Ev::ControlPlane(ControlPlaneEv::Client { pod, epoch }));
                return;
            }
        }
        c.paid = false;
        self.client_list(pod);
    }

    fn client_list(&mut self, pod: PodId) {
        let Some(c) = self.control_plane.clients.get(&pod) else {
            return;
        };
        let spec = self.api_client_spec(c.behaviour);
        let pods = self.cluster.pod_count() as u64;
        let (stored, returned) = match (spec.resource.as_str(), spec.scope.as_str()) {
            ("nodes", _) => {
                let n = self.cluster.node_count() as u64;
                (n, n)
            }
            ("services" | "endpointslices", _) => {
                // The run's Services and the `kubernetes` Service every cluster has, one
                // EndpointSlice each (CoreDNS's informers list both).
                let n = self.services.world.service_count() as u64 + 1;
                (n, n)
            }
            (_, "node") => {
                let on_node = c
                    .node
                    .filter(|&n| self.cluster.has_node(n))
                    .map_or(0, |n| self.cluster.node(n).pods.len() as u64);
                (pods, on_node)
            }
            _ => (pods, pods),
        };
        let req = ApiRequest {
            token: 0,
            verb: Verb::List,
            level: c.level,
            flow: c.flow,
            stored,
            returned,
            notify: true,
        };
        let epoch = c.epoch;
        if let Some(c) = self.control_plane.clients.get_mut(&pod) {
            c.state = ClientState::Listing;
        }
        self.rec.metrics.count("api_client_lists", 1);
        self.api_submit(Caller::Client { pod, epoch }, req);
    }

    pub(super) fn client_answer(&mut self, pod: PodId, epoch: Generation, outcome: Outcome) {
        let now = self.now();
        let Some(behaviour) = self.control_plane.clients.get(&pod).map(|c| c.behaviour) else {
            return;
        };
        let spec = self.api_client_spec(behaviour);
        let Some(c) = self.control_plane.clients.get_mut(&pod) else {
            return;
        };
        if !c.epoch.is_current(epoch) || c.state != ClientState::Listing {
            return;
        }
        match outcome {
            Outcome::Ok => {
                c.retries = 0;
                if spec.watch {
                    c.state = ClientState::Watching;
                    c.synced = true;
                    // Synced: a probe that passed meanwhile makes the pod Ready now.
                    if let Some(start) = c.ready_waiting.take() {
                        self.engine.schedule_in(
                            Time::ZERO,
                            Ev::Kubelet(super::KubeletEv::PodReady { pod, start }),
                        );
                    }
                } else {
                    let period = Duration::from_secs_f64(spec.period_seconds.unwrap_or(60.0));
                    self.client_schedule(pod, period);
                }
            }
            Outcome::TooManyRequests { retry_after } if c.retries < CLIENT_GO_MAX_RETRIES => {
                // client-go sleeps Retry-After and sends it again, within the same call.
                c.retries += 1;
                self.client_schedule(pod, retry_after);
            }
            Outcome::Reset if c.retries < CLIENT_GO_MAX_RETRIES => {
                // A LIST is an HTTP GET: a connection reset under it is retried after 1 s
                // (a refused connection is not: the call fails at once).
                c.retries += 1;
                self.client_schedule(pod, Duration::from_secs(1));
            }
            _ => {
                // The call failed: the reflector backs off before it lists again (a poller
                // waits for its next period).
                c.retries = 0;
                self.rec.metrics.count("api_client_list_failures", 1);
                let delay = if spec.watch {
                    let u = self.control_plane.rng.unit();
                    self.control_plane
                        .clients
                        .get_mut(&pod)
                        .map_or(Duration::from_secs(1), |c| c.backoff.next_delay(now, u))
                } else {
                    Duration::from_secs_f64(spec.period_seconds.unwrap_or(60.0))
                };
                self.client_schedule(pod, delay);
            }
        }
    }

    /// Replica `replica` went away: every connection to it breaks, every watch on it ends, and
    /// each of its informers relists after its reflector's backoff, on a replica that serves
    /// (docs/control-plane-and-nodes.md#api-server-replicas).
    pub(super) fn watches_broken(&mut self, replica: usize) {
        let now = self.now();
        let broken = self.control_plane.balancer.broken(replica);
        let clients = &self.control_plane.clients;
        let watching: Vec<PodId> = broken
            .into_iter()
            .filter_map(|conn| match conn {
                Conn::Pod(p) => Some(p),
                _ => None,
            })
            .filter(|p| {
                clients
                    .get(p)
                    .is_some_and(|c| c.state == ClientState::Watching)
            })
            .collect();
        for pod in watching {
            let u = self.control_plane.rng.unit();
            let Some(c) = self.control_plane.clients.get_mut(&pod) else {
                continue;
            };
            let d = c.backoff.next_delay(now, u);
            self.client_schedule(pod, d);
        }
        self.rec.metrics.count("apiserver_watch_breaks", 1);
    }
}
