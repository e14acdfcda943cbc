//! The control plane as a system that can fail: kube-apiserver (`cascade_apiserver::server`)
//! and its clients. Every kubelet renews its node's Lease through it (`system-node-high`,
//! every `nodeStatusUpdateFrequencySeconds`) and PATCHes its node's status when the status
//! changed or `nodeStatusReportFrequencySeconds` passed since its last report (a changed
//! condition reaches the scheduler and the controllers when that PATCH is taken); pods whose behaviour has an `apiClient` list
//! and watch through it; the node lifecycle controller sees a node's heartbeat only through
//! the Leases it accepted; and while it does not serve, the controllers create no pod and the
//! scheduler binds none (they wait, and resume when it serves again).
//! docs/control-plane-and-nodes.md#the-api-server-in-the-run.
//!
//! With `apiServer.replicas` above 1 there are that many servers behind one load balancer
//! (`cascade_apiserver::balancer`): every client (a kubelet, kube-controller-manager, the
//! scheduler, a pod's API client) keeps one connection to one replica until that replica goes
//! away, and then reconnects to one that serves; the API is unavailable only while none
//! serves. docs/control-plane-and-nodes.md#api-server-replicas.

use super::api_clients::{ClientRt, ClientState};
use super::api_writes::Writer;
use super::{secs, Ev, Generation, Simulation, Stage};
use cascade_apiserver::balancer::Balancer;
use cascade_apiserver::queueset::flow_hash_parts;
use cascade_apiserver::server::{
    Answer, ApiRequest, ApiServer, ApiServerConfig, LevelId, Outcome, ServerEvent,
};
use cascade_apiserver::work::Verb;
use cascade_engine::rng::Rng;
use cascade_engine::Time;
use cascade_model::PriorityClasses;
use cascade_scheduler::{NodeId, PodId};
use std::collections::{BTreeMap, BTreeSet};

/// client-go's `maxRetries` for a request answered 429 with `Retry-After` (or a GET's
/// transport error): 10 (client-go v0.33 `rest/request.go`).
pub const CLIENT_GO_MAX_RETRIES: u32 = 10;

/// The control plane's timers.
#[derive(Clone, Debug)]
pub enum ControlPlaneEv {
    /// The API server asked to be called now.
    Wake,
    /// A kubelet renews its node's Lease.
    RenewLease { node: NodeId },
    /// A pod's API client acts (lists, retries, polls), for the informer incarnation given.
    Client { pod: PodId, epoch: Generation },
    /// A controller's or the scheduler's write is sent (again).
    SendWrite { id: u64 },
    /// The endpointslice controller syncs a Service, its batch period over.
    SliceSync { svc: cascade_services::ServiceIdx },
}

/// Who sent a request.
#[derive(Clone, Copy, Debug)]
pub(in crate::sim) enum Caller {
    Lease(NodeId),
    /// A kubelet's PATCH of its node's status, computed at `sent`.
    NodeStatus {
        node: NodeId,
        conditions: NodeConditions,
        sent: Time,
    },
    Client {
        pod: PodId,
        epoch: Generation,
    },
    /// A controller's or the scheduler's write (`api_writes`).
    Write(u64),
    /// A write already taken when the server dispatched it: its answer changes nothing.
    Applied,
}

/// A client's connection to the API server, one per process (client-go's clients in one
/// process share its HTTP/2 connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::sim) enum Conn {
    /// A node's kubelet: its Lease renewals and status updates.
    Kubelet(NodeId),
    /// kube-controller-manager: every controller's writes.
    ControllerManager,
    Scheduler,
    /// A pod's API client.
    Pod(PodId),
}

/// The node conditions a kubelet reports that cascade models as changing (Ready is read from
/// the Lease and the runtime's health; the rest never change in a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct NodeConditions {
    /// MemoryPressure, from the kubelet's eviction manager.
    pub memory_pressure: bool,
}

/// A kubelet's node status loop.
#[derive(Clone, Copy, Debug, Default)]
struct NodeStatusRt {
    /// The conditions the API server holds: those of the last PATCH it took.
    reported: NodeConditions,
    /// When an unchanged status is next reported anyway (upstream's `lastStatusReportTime` +
    /// `nodeStatusReportFrequency`).
    next_report: Time,
    /// A PATCH is unanswered (the kubelet's status loop waits for it).
    in_flight: bool,
}

/// The API server and what the simulation knows of its clients.
#[derive(Debug)]
pub struct ControlPlane {
    /// kube-apiserver's replicas (`apiServer.replicas`, 1 by default).
    pub servers: Vec<ApiServer>,
    /// Each client's connection to a replica.
    pub(super) balancer: Balancer<Conn>,
    /// Whether the API serves, and for how long it has not.
    availability: Availability,
    /// The wake-up scheduled with the engine, if any.
    wake_at: Option<Time>,
    callers: BTreeMap<u64, Caller>,
    next_token: u64,
    /// Each node's last Lease renewal the API server accepted, by NodeId.
    renewed: Vec<Time>,
    /// Each node's kubelet's APF flow (`system-node-high`, user `system:node:NAME`), by
    /// NodeId: hashed once when the node joins rather than at every renewal.
    lease_flows: Vec<u64>,
    /// Each node's status loop, by NodeId.
    status: Vec<NodeStatusRt>,
    pub(super) clients: BTreeMap<PodId, ClientRt>,
    /// Workloads whose sync came while the server did not serve.
    deferred_syncs: BTreeSet<usize>,
    /// The controllers' and the scheduler's writes.
    pub(super) writes: super::api_writes::Writes,
    pub(super) rng: Rng,
    /// The PriorityClasses the Priority admission plugin resolves new pods against.
    pub(super) classes: PriorityClasses,
}

/// Whether the API serves: it does while any replica serves, and is down only while none does.
#[derive(Debug)]
struct Availability {
    /// Each replica serves, as of the last of its events handled.
    up: Vec<bool>,
    /// When the API last began serving: the node lifecycle controller counts heartbeats
    /// from here (it restarts with the server, with fresh probe timestamps).
    serving_since: Time,
    /// Since when no replica has served, while none does.
    down_since: Option<Time>,
    /// The time no replica served, in whole milliseconds (`apiserver_unavailable_seconds`).
    unavailable_ms: u64,
}

impl ControlPlane {
    pub fn new(cfg: ApiServerConfig, replicas: usize, seed: u64) -> ControlPlane {
        let replicas = replicas.max(1);
        ControlPlane {
            servers: vec![ApiServer::new(cfg); replicas],
            balancer: Balancer::new(replicas),
            availability: Availability {
                up: vec![true; replicas],
                serving_since: Time::ZERO,
                down_since: None,
                unavailable_ms: 0,
            },
            wake_at: None,
            callers: BTreeMap::new(),
            next_token: 0,
            renewed: Vec::new(),
            lease_flows: Vec::new(),
            status: Vec::new(),
            clients: BTreeMap::new(),
            classes: PriorityClasses::new(),
            deferred_syncs: BTreeSet::new(),
            writes: Default::default(),
            rng: Rng::stream(seed, "control-plane"),
        }
    }

    /// The instant from which the node lifecycle controller counts a node's heartbeat: its
    /// last accepted renewal, or the server's start if later.
    pub fn heartbeat(&self, node: NodeId) -> Time {
        let r = self.renewed.get(node.idx()).copied().unwrap_or(Time::ZERO);
        r.max(self.availability.serving_since)
    }

    /// When the server last began serving.
    pub fn serving_since(&self) -> Time {
        self.availability.serving_since
    }

    /// Some replica serves.
    pub fn serving(&self) -> bool {
        self.servers.iter().any(ApiServer::serving)
    }

    /// The replica's name in events: `kube-apiserver`, or `kube-apiserver-I` of several.
    fn replica_name(&self, i: usize) -> String {
        if self.servers.len() == 1 {
            "kube-apiserver".into()
        } else {
            format!("kube-apiserver-{i}")
        }
    }

    /// Informers synced and watching, and API clients in all.
    pub fn clients_synced(&self) -> (usize, usize) {
        let synced = self
            .clients
            .values()
            .filter(|c| c.state == ClientState::Watching)
            .count();
        (synced, self.clients.len())
    }

    fn status_mut(&mut self, node: NodeId) -> &mut NodeStatusRt {
        if self.status.len() <= node.idx() {
            self.status.resize(node.idx() + 1, NodeStatusRt::default());
        }
        &mut self.status[node.idx()]
    }

    /// Whether the API server holds MemoryPressure=True for the node (what the scheduler and
    /// the controllers see).
    pub fn memory_pressure_reported(&self, node: NodeId) -> bool {
        self.status
            .get(node.idx())
            .is_some_and(|s| s.reported.memory_pressure)
    }

    fn renewed_mut(&mut self, node: NodeId) -> &mut Time {
        if self.renewed.len() <= node.idx() {
            self.renewed.resize(node.idx() + 1, Time::ZERO);
        }
        &mut self.renewed[node.idx()]
    }
}

/// When a server's event happened.
fn event_at(e: ServerEvent) -> Time {
    match e {
        ServerEvent::OomKilled { at, .. }
        | ServerEvent::Stopped { at }
        | ServerEvent::Started { at } => at,
    }
}

/// A node's Lease phase within the renewal period: kubelets start at different times, so
/// their renewals are spread over the period (upstream jitters each by up to 4%).
fn lease_phase(node: NodeId, period: f64) -> f64 {
    cascade_engine::rng::unit_hash(0x1ea5e, u64::from(node.get())) * period
}

/// Where a node that ran before the run began is within its status report period: the
/// kubelets started at different times, so their 5-minute reports are spread over it.
fn report_phase(node: NodeId, period: f64) -> f64 {
    cascade_engine::rng::unit_hash(0x5747, u64::from(node.get())) * period
}

impl<'a> Simulation<'a> {
    /// Lets the server catch up to now and hands out what it answered (the node lifecycle
    /// controller does so before it reads the Leases).
    pub(super) fn api_poll(&mut self) {
        let now = self.now();
        for s in &mut self.control_plane.servers {
            s.advance(now);
        }
        self.api_after();
    }

    /// The API serves: some replica does.
    pub(super) fn api_serving(&self) -> bool {
        self.control_plane.serving()
    }

    /// A controller's sync that must wait for the server.
    pub(super) fn defer_sync(&mut self, w: usize) {
        self.control_plane.deferred_syncs.insert(w);
    }

    /// The cluster as set up: the watch cache holds its objects.
    pub(super) fn start_control_plane(&mut self) {
        self.api_stored_objects();
    }

    /// A node joins: its kubelet posts status (a heartbeat) and renews its Lease from now on.
    pub(super) fn start_lease(&mut self, id: NodeId) {
        let name = &self.cluster.node(id).node.name;
        let flow = flow_hash_parts("system-node-high", &["system:node:", name]);
        let flows = &mut self.control_plane.lease_flows;
        if flows.len() <= id.idx() {
            flows.resize(id.idx() + 1, 0);
        }
        flows[id.idx()] = flow;
        self.kubelet_heartbeat(id);
        // A kubelet that registers now reports at its first status update (its last report
        // time is zero); one that ran before the run reported at a point of its own.
        let report = self.p().node_lifecycle.node_status_report_frequency_seconds;
        let next_report = if self.info.stage == Stage::Run {
            self.now()
        } else {
            secs(report_phase(id, report))
        };
        *self.control_plane.status_mut(id) = NodeStatusRt {
            next_report,
            ..NodeStatusRt::default()
        };
        let period = self.p().node_lifecycle.node_status_update_frequency_seconds;
        self.engine.schedule_in(
            secs(lease_phase(id, period)),
            Ev::ControlPlane(ControlPlaneEv::RenewLease { node: id }),
        );
    }

    /// A kubelet that comes back posts its status at once (a heartbeat, if the server takes it).
    pub(super) fn kubelet_heartbeat(&mut self, id: NodeId) {
        let now = self.now();
        if self.api_serving() {
            *self.control_plane.renewed_mut(id) = now;
        }
        // Its next status update reports, changed or not.
        let st = self.control_plane.status_mut(id);
        st.next_report = st.next_report.min(now);
    }

    /// The node's kubelet is gone: the node lifecycle controller sets its conditions Unknown,
    /// so the API server no longer holds MemoryPressure=True for it.
    pub(super) fn node_status_unknown(&mut self, id: NodeId) {
        self.control_plane.status_mut(id).reported = NodeConditions::default();
    }

    /// The conditions the node's kubelet computes now.
    fn node_conditions(&self, node: NodeId) -> NodeConditions {
        NodeConditions {
            memory_pressure: self.kubelet_memory_pressure(node),
        }
    }

    /// The kubelet's status update (every `nodeStatusUpdateFrequencySeconds`, at its Lease's
    /// phase): a PATCH of `nodes/status` when the conditions differ from those the server
    /// holds or the report period has passed (`tryUpdateNodeStatus`, v1.33). A failed PATCH is
    /// tried again at the next update.
    fn node_status_update(&mut self, node: NodeId) {
        let now = self.now();
        let conditions = self.node_conditions(node);
        let st = self.control_plane.status_mut(node);
        if st.in_flight {
            return;
        }
        let changed = conditions != st.reported;
        if !changed && now < st.next_report {
            return;
        }
        st.in_flight = true;
        let flow = self.control_plane.lease_flows[node.idx()];
        self.rec.metrics.count("node_status_patches", 1);
        let caller = Caller::NodeStatus {
            node,
            conditions,
            sent: now,
        };
        let req = ApiRequest {
            token: 0,
            verb: Verb::Patch,
            level: LevelId::NODE_HIGH,
            flow,
            stored: 0,
            returned: 0,
            // Only a changed condition has someone waiting on it (the scheduler, the
            // controllers); an unchanged report is answered lazily, as a Lease renewal.
            notify: changed,
        };
        if self.api_submit(caller, req) {
            self.node_status_taken(node, conditions, now, now);
        }
    }

    /// The server took a kubelet's status PATCH: its conditions are the node's now (a changed
    /// one reaches the node lifecycle controller, which taints for it), and it is a heartbeat.
    fn node_status_taken(
        &mut self,
        node: NodeId,
        conditions: NodeConditions,
        sent: Time,
        at: Time,
    ) {
        let report = secs(self.p().node_lifecycle.node_status_report_frequency_seconds);
        let st = self.control_plane.status_mut(node);
        st.in_flight = false;
        st.next_report = sent.saturating_add(report);
        let was = std::mem::replace(&mut st.reported, conditions);
        let r = self.control_plane.renewed_mut(node);
        *r = (*r).max(at);
        if was.memory_pressure != conditions.memory_pressure && self.cluster.has_node(node) {
            self.memory_pressure_condition(node, conditions.memory_pressure);
        }
    }

    pub(super) fn on_control_plane(&mut self, e: ControlPlaneEv) {
        match e {
            ControlPlaneEv::Wake => {
                let now = self.now();
                if self.control_plane.wake_at == Some(now) {
                    self.control_plane.wake_at = None;
                }
                for s in &mut self.control_plane.servers {
                    s.advance(now);
                }
                self.api_after();
            }
            ControlPlaneEv::RenewLease { node } => self.renew_lease(node),
            ControlPlaneEv::Client { pod, epoch } => self.client_attempt(pod, epoch),
            ControlPlaneEv::SendWrite { id } => self.write_attempt(id),
            ControlPlaneEv::SliceSync { svc } => self.slice_sync(svc),
        }
    }

    /// The objects the server stores (the watch cache, and what a LIST of everything costs).
    fn api_stored_objects(&mut self) {
        let n = self.cluster.pod_count() + self.cluster.node_count();
        for s in &mut self.control_plane.servers {
            s.set_stored_objects(n as u64);
        }
    }

    fn renew_lease(&mut self, node: NodeId) {
        if !self.cluster.has_node(node) {
            return;
        }
        // A thrashing kubelet renews nothing (docs/kubernetes.md#a-thrashing-node).
        if self.kubelet_answers(node) {
            let flow = self.control_plane.lease_flows[node.idx()];
            self.api_submit(
                Caller::Lease(node),
                ApiRequest {
                    token: 0,
                    verb: Verb::Update,
                    level: LevelId::NODE_HIGH,
                    flow,
                    stored: 0,
                    returned: 0,
                    notify: false,
                },
            );
            self.node_status_update(node);
        }
        self.engine.schedule_in(
            secs(self.p().node_lifecycle.node_status_update_frequency_seconds),
            Ev::ControlPlane(ControlPlaneEv::RenewLease { node }),
        );
    }

    /// Sends a request; true when it is a write the server dispatched at once at full speed
    /// (its answer will then change nothing: the caller takes it now).
    pub(super) fn api_submit(&mut self, caller: Caller, mut req: ApiRequest) -> bool {
        let cp = &mut self.control_plane;
        cp.next_token += 1;
        let token = cp.next_token;
        req.token = token;
        cp.callers.insert(token, caller);
        self.api_stored_objects();
        let conn = self.conn_of(caller);
        let cp = &mut self.control_plane;
        let servers = &cp.servers;
        let r = cp.balancer.route(conn, |i| servers[i].serving());
        let now = self.engine.now();
        let server = &mut self.control_plane.servers[r];
        server.submit(now, req);
        let at_once = matches!(caller, Caller::Write(_) | Caller::NodeStatus { .. })
            && server.executing_at_full_speed(token);
        if at_once {
            server.answer_lazily(token);
            self.control_plane.callers.insert(token, Caller::Applied);
        }
        self.api_after();
        at_once
    }

    /// The connection a caller's request goes over.
    fn conn_of(&self, caller: Caller) -> Conn {
        match caller {
            Caller::Lease(node) | Caller::NodeStatus { node, .. } => Conn::Kubelet(node),
            Caller::Client { pod, .. } => Conn::Pod(pod),
            Caller::Write(id) if self.writer_of(id) == Some(Writer::Scheduler) => Conn::Scheduler,
            // The controllers' writes, the endpointslice controller's included.
            Caller::Write(_) | Caller::Applied => Conn::ControllerManager,
        }
    }

    /// Routes the servers' events (in time order) and answers, and keeps their wake-up
    /// scheduled.
    fn api_after(&mut self) {
        let mut events: Vec<(usize, ServerEvent)> = Vec::new();
        for (i, s) in self.control_plane.servers.iter_mut().enumerate() {
            events.extend(s.take_events().into_iter().map(|e| (i, e)));
        }
        events.sort_by_key(|&(i, e)| (event_at(e), i));
        for (i, e) in events {
            self.api_server_event(i, e);
        }
        for i in 0..self.control_plane.servers.len() {
            let answers = self.control_plane.servers[i].take_answers();
            for a in answers {
                self.api_answer(a);
            }
        }
        let wake = self
            .control_plane
            .servers
            .iter_mut()
            .filter_map(ApiServer::next_wake)
            .min();
        if let Some(w) = wake {
            if self.control_plane.wake_at.is_none_or(|s| w < s) {
                self.control_plane.wake_at = Some(w);
                self.engine
                    .schedule(w, Ev::ControlPlane(ControlPlaneEv::Wake));
            }
        }
    }

    /// What became of replica `i`. The API is down while no replica serves; when one serves
    /// again, what waited on the API goes on.
    fn api_server_event(&mut self, i: usize, e: ServerEvent) {
        let cp = &mut self.control_plane;
        let was_down = cp.availability.down_since.is_some();
        match e {
            ServerEvent::OomKilled { at, .. } | ServerEvent::Stopped { at } => {
                cp.availability.up[i] = false;
                if !cp.availability.up.contains(&true) {
                    cp.availability.down_since.get_or_insert(at);
                }
            }
            ServerEvent::Started { at } => {
                cp.availability.up[i] = true;
                self.count_unavailable(at);
            }
        }
        let object = format!("apiserver/{}", self.control_plane.replica_name(i));
        match e {
            ServerEvent::OomKilled { bytes, .. } => {
                self.rec.metrics.count("apiserver_oom_kills", 1);
                self.record(
                    "APIServerOOMKilled",
                    object,
                    format!(
                        "memory {:.1} GiB over its limit: every request and watch on it fails",
                        bytes / (1024.0 * 1024.0 * 1024.0)
                    ),
                    None,
                );
                self.watches_broken(i);
            }
            ServerEvent::Stopped { .. } => {
                self.record("APIServerStopped", object, String::new(), None);
                self.watches_broken(i);
            }
            ServerEvent::Started { at } => {
                self.record("APIServerServing", object, String::new(), None);
                if !was_down {
                    // Another replica served all along: nothing waited.
                    return;
                }
                self.control_plane.availability.serving_since = at;
                // What waited on it goes on.
                for w in std::mem::take(&mut self.control_plane.deferred_syncs) {
                    self.request_sync(w);
                }
                self.scheduler.queue.resume(&mut self.engine);
                self.writes_resume();
            }
        }
    }

    fn api_answer(&mut self, a: Answer) {
        let Some(caller) = self.control_plane.callers.remove(&a.token) else {
            return;
        };
        match (caller, a.outcome) {
            (Caller::Lease(node), Outcome::Ok) => {
                let r = self.control_plane.renewed_mut(node);
                *r = (*r).max(a.at);
            }
            (Caller::Lease(_), _) => self.rec.metrics.count("lease_renewals_failed", 1),
            (
                Caller::NodeStatus {
                    node,
                    conditions,
                    sent,
                },
                Outcome::Ok,
            ) => self.node_status_taken(node, conditions, sent, a.at),
            (Caller::NodeStatus { node, .. }, _) => {
                self.control_plane.status_mut(node).in_flight = false;
            }
            (Caller::Client { pod, epoch }, outcome) => self.client_answer(pod, epoch, outcome),
            (Caller::Write(id), outcome) => self.write_answer(id, outcome),
            (Caller::Applied, _) => {}
        }
    }

    /// Counts the time the server did not serve, up to `until`, in whole milliseconds summed
    /// as seconds (`totals.apiserver_unavailable_seconds`).
    fn count_unavailable(&mut self, until: Time) {
        if let Some(since) = self.control_plane.availability.down_since.take() {
            let ms = (until - since).as_millis();
            self.control_plane.availability.unavailable_ms += ms;
        }
    }

    /// The run ends: a server still down counts until the end.
    pub(super) fn finish_control_plane(&mut self) {
        let now = self.now();
        self.count_unavailable(now);
        let secs = self.control_plane.availability.unavailable_ms / 1000;
        if secs > 0 {
            self.rec
                .metrics
                .count("apiserver_unavailable_seconds", secs);
        }
    }

    // The server's own faults.

    /// An `apiServerDown` fault starts (`start`) or ends, for one replica or all of them.
    pub(super) fn api_server_fault(&mut self, start: bool, replica: Option<u32>) {
        let now = self.now();
        for (i, s) in self.control_plane.servers.iter_mut().enumerate() {
            if replica.is_some_and(|r| r as usize != i) {
                continue;
            }
            if start {
                s.stop(now);
            } else {
                s.start(now);
            }
        }
        self.api_after();
    }

    /// The metrics.csv columns of the control plane: read as of now, changing nothing.
    pub(super) fn control_plane_sample(
        &self,
        row: &mut Vec<(std::borrow::Cow<'static, str>, f64)>,
    ) {
        let now = self.now();
        let cp = &self.control_plane;
        let (synced, clients) = cp.clients_synced();
        let up = if cp.serving() { 1.0 } else { 0.0 };
        // Over every replica: the API's figures.
        let sum = |f: &dyn Fn(&ApiServer) -> f64| cp.servers.iter().map(f).sum::<f64>();
        row.extend([
            ("apiserver_up".into(), up),
            (
                "apiserver_memory_bytes".into(),
                sum(&|s| s.memory_bytes_at(now)),
            ),
            (
                "apiserver_seats_in_use".into(),
                sum(&|s| f64::from(s.seats_in_use_at(now))),
            ),
            (
                "apiserver_requests_waiting".into(),
                sum(&|s| s.waiting() as f64),
            ),
            (
                "apiserver_requests_total".into(),
                sum(&|s| s.stats().requests as f64),
            ),
            (
                "apiserver_rejected_total".into(),
                sum(&|s| s.stats().rejected as f64),
            ),
            (
                "apiserver_unavailable_total".into(),
                sum(&|s| s.stats().unavailable as f64),
            ),
            (
                "apiserver_oom_kills_total".into(),
                sum(&|s| s.stats().oom_kills as f64),
            ),
            ("api_clients".into(), clients as f64),
            ("api_clients_unsynced".into(), (clients - synced) as f64),
        ]);
        if cp.servers.len() > 1 {
            for (i, s) in cp.servers.iter().enumerate() {
                replica_sample(row, i, s, cp.balancer.connections(i), now);
            }
        }
    }
}

/// One replica's columns (`apiserver_I_...`), when there are several: the aggregate
/// columns' figures for it alone, and the connections its clients hold.
fn replica_sample(
    row: &mut Vec<(std::borrow::Cow<'static, str>, f64)>,
    i: usize,
    s: &ApiServer,
    connections: usize,
    now: Time,
) {
    let stats = s.stats();
    let up = if s.serving() { 1.0 } else { 0.0 };
    for (name, v) in [
        ("up", up),
        ("connections", connections as f64),
        ("memory_bytes", s.memory_bytes_at(now)),
        ("seats_in_use", f64::from(s.seats_in_use_at(now))),
        ("requests_waiting", s.waiting() as f64),
        ("requests_total", stats.requests as f64),
        ("rejected_total", stats.rejected as f64),
        ("oom_kills_total", stats.oom_kills as f64),
    ] {
        row.push((format!("apiserver_{i}_{name}").into(), v));
    }
}
