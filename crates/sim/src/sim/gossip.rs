//! The cluster's Consul LAN gossip pool: a [`cascade_gossip::Mesh`] at message level whose
//! members are the gossip agents of pods (a behaviour's `gossipAgent`) plus the Consul servers.
//!
//! The cluster drives the mesh and the mesh drives the catalog:
//! - an agent joins when its pod's containers start (or when the pod is Ready, with
//!   `joinOn: ready`), leaves gracefully when the pod is deleted (`leave_on_terminate`, once
//!   the runtime daemon has delivered the SIGTERM), and dies with its pod or its node;
//! - an agent's message handling slows with its node's container runtime daemon's utilisation
//!   (`saturatedRuntimeSlowdown`): the Target mechanism by which Docker's load reaches Consul;
//! - every Serf member event the leader server sees (a join, a failure, a leave, a reap) is a
//!   catalog write on the `catalogService`, where it competes with Vault's and the deploy
//!   engine's requests.
//!
//! The mesh keeps its own event queue; the simulation advances it to the present every
//! `stepSeconds` and before any input, so inputs arrive in time order.

use super::{secs, Ev, GossipEv, Simulation};
use cascade_engine::{Duration, Time};
use cascade_gossip::{KeyId, MemberId, Mesh};
use cascade_model::Rng;
use cascade_scheduler::{NodeId, PodId};
use std::collections::BTreeMap;

pub struct GossipRt {
    pub mesh: Mesh,
    /// The Consul servers; the first is the leader.
    servers: Vec<MemberId>,
    /// Each pod's running agent and the CPU slowdown last given to it.
    agents: BTreeMap<PodId, (MemberId, f64)>,
    /// Agents that have been told to leave, until their pod is gone.
    leaving: BTreeMap<PodId, MemberId>,
    /// The key agents start with (gossip encryption), if any.
    key: Option<KeyId>,
    /// Leader member events already written to the catalog.
    events_written: u64,
    /// Agents spawned so far (each join is a new member: a Consul node name is a pod name).
    pub agents_spawned: u64,
    /// Catalog writes owed but not yet whole (the scale model divides by the fraction).
    write_remainder: f64,
    /// When each running agent restarts in a redeploy.
    redeploy_rng: Rng,
}

/// A pod's place in [0, 1), from the run's seed: which pods the scale model simulates.
fn unit_hash(seed: u64, pod: PodId) -> f64 {
    cascade_engine::rng::unit_hash(seed, u64::from(pod.get()))
}

impl GossipRt {
    pub fn new(p: &crate::params::GossipParams, seed: u64) -> GossipRt {
        let mut mesh = Mesh::new(p.mesh_config(), seed);
        let servers: Vec<MemberId> = (0..p.servers)
            .map(|_| mesh.spawn(Time::ZERO, None))
            .collect();
        mesh.set_join_targets(servers.clone());
        GossipRt {
            mesh,
            servers,
            agents: BTreeMap::new(),
            leaving: BTreeMap::new(),
            key: None,
            events_written: 0,
            agents_spawned: 0,
            write_remainder: 0.0,
            redeploy_rng: Rng::stream(seed, "gossip-redeploy"),
        }
    }
}

impl Simulation<'_> {
    fn gossip_agent_of(&self, id: PodId) -> Option<crate::scenario::JoinOn> {
        self.behaviour(id)
            .and_then(|b| b.gossip_agent.as_ref())
            .map(|a| a.join_on.unwrap_or(self.p().gossip.join_on))
    }

    /// The pod reached `moment` (containers started, or Ready): its agent joins if that is
    /// when it joins and it has not yet.
    pub(super) fn gossip_join(&mut self, id: PodId, moment: crate::scenario::JoinOn) {
        if self.gossip_agent_of(id) != Some(moment) {
            return;
        }
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        if g.agents.contains_key(&id) || g.leaving.contains_key(&id) {
            return;
        }
        // The scale model: a fixed pseudo-random fraction of the pods run a simulated agent.
        let f = self.sc.params.gossip.fraction();
        if f < 1.0 && unit_hash(self.info.seed, id) >= f {
            return;
        }
        let m = g.mesh.spawn(now, g.key);
        g.agents.insert(id, (m, 1.0));
        g.agents_spawned += 1;
        self.gossip_node_side(id);
    }

    /// A new agent starts on its node's side of any partition.
    fn gossip_node_side(&mut self, pod: PodId) {
        if let Some(node) = self.cluster.pod(pod).node {
            let side = self.node_lifecycle.node(node).partition;
            if side != 0 {
                self.gossip_network_group(pod, side);
            }
        }
    }

    /// The pod is being deleted: its agent leaves the pool gracefully once the SIGTERM
    /// reaches it, `delay` from now.
    pub(super) fn gossip_leave(&mut self, id: PodId, delay: f64) {
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        if let Some((m, _)) = g.agents.remove(&id) {
            g.mesh.leave_after(now, Duration::from_secs_f64(delay), m);
            g.leaving.insert(id, m);
        }
    }

    /// The pod's processes are gone (the pod was deleted, or its node died): so is its agent,
    /// whether or not it finished leaving.
    pub(super) fn gossip_gone(&mut self, id: PodId) {
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        let m = g
            .agents
            .remove(&id)
            .map(|(m, _)| m)
            .or_else(|| g.leaving.remove(&id));
        if let Some(m) = m {
            g.mesh.crash(now, m);
        }
    }

    /// Turns gossip encryption on: the servers restart with the key now, new agents start with
    /// it, and the running agents restart with it over `redeploy_seconds`.
    pub(super) fn gossip_encrypt(&mut self, key: KeyId, redeploy_seconds: f64) {
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        g.key = Some(key);
        // The servers restart with the key first (Consul reads `encrypt` at start): each
        // comes back with an empty table and rejoins only those who hold the key, so their
        // old views do not carry the poison into the keyed pool.
        for s in g.servers.iter_mut() {
            g.mesh.leave(now, *s);
            *s = g.mesh.spawn(now, Some(key));
        }
        g.mesh.set_join_targets(g.servers.clone());
        // The new leader's events start from nothing.
        g.events_written = 0;
        if redeploy_seconds <= 0.0 {
            return;
        }
        let running: Vec<(PodId, MemberId)> = g.agents.iter().map(|(&p, &(m, _))| (p, m)).collect();
        for (pod, m) in running {
            let at = g.redeploy_rng.unit() * redeploy_seconds;
            self.engine
                .schedule_in(secs(at), Ev::Gossip(GossipEv::Restart { pod, member: m }));
        }
    }

    pub(super) fn on_gossip(&mut self, e: GossipEv) {
        match e {
            GossipEv::Step => self.gossip_step(),
            GossipEv::Restart { pod, member } => self.gossip_restart(pod, member),
        }
    }

    /// The redeploy reaches a pod: its agent leaves and a new one starts with the key.
    fn gossip_restart(&mut self, pod: PodId, member: MemberId) {
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        if g.agents.get(&pod).map(|a| a.0) != Some(member) {
            return; // the pod went, or its agent already restarted
        }
        g.mesh.leave(now, member);
        let m = g.mesh.spawn(now, g.key);
        g.agents.insert(pod, (m, 1.0));
        g.agents_spawned += 1;
        self.gossip_node_side(pod);
    }

    /// The pod's agent is on `side` of a network partition (0: none).
    pub(super) fn gossip_network_group(&mut self, pod: PodId, side: u32) {
        let now = self.now();
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        if let Some(&(m, _)) = g.agents.get(&pod) {
            g.mesh.set_network_group(now, m, side);
        }
    }

    /// The machine is gone: every agent on it dies.
    pub(super) fn gossip_node_down(&mut self, node: NodeId) {
        for p in self.cluster.node(node).pods.clone() {
            self.gossip_gone(p);
        }
    }

    /// The periodic meeting of the cluster and the mesh.
    fn gossip_step(&mut self) {
        let now = self.now();
        let step = self.p().gossip.step_seconds.max(1e-3);
        self.engine
            .schedule_in(secs(step), Ev::Gossip(GossipEv::Step));
        let Some(g) = self.gossip.as_mut() else {
            return;
        };
        // CPU: an agent slows with its node's runtime daemon's utilisation.
        let max_slowdown = self.sc.params.gossip.saturated_runtime_slowdown.max(1.0);
        let mut per_node: BTreeMap<NodeId, f64> = BTreeMap::new();
        for (&pod, (m, last)) in g.agents.iter_mut() {
            let Some(node) = self.cluster.try_pod(pod).and_then(|e| e.node) else {
                continue;
            };
            let f = match per_node.get(&node) {
                Some(&f) => f,
                None => {
                    let u = self.nodes.runtimes.utilisation(node, now);
                    let f = 1.0 + (max_slowdown - 1.0) * u;
                    per_node.insert(node, f);
                    f
                }
            };
            // Only changes that matter reach the mesh (each is an event there).
            if (f - *last).abs() > 0.05 * *last {
                *last = f;
                g.mesh.set_cpu_slowdown(now, *m, f);
            }
        }
        // A read: bring the mesh to the present before asking what the leader saw (inputs
        // advance the mesh themselves; queries do not).
        g.mesh.advance_to(now);
        // The leader writes what it saw to the catalog.
        let seen = g.servers.first().map_or(0, |&l| g.mesh.serf_events(l));
        let new = seen.saturating_sub(g.events_written);
        g.events_written = seen;
        let svc = self.sc.params.gossip.catalog_service.clone();
        // Scaled back up to the whole pool, carrying the remainder so nothing is lost.
        let f = self.sc.params.gossip.fraction();
        let per = f64::from(self.sc.params.gossip.catalog_writes_per_member_event) / f;
        // Each write wakes the catalog's watchers, who re-read every member listed.
        let members = g
            .servers
            .first()
            .map_or(0.0, |&l| g.mesh.serf_members(l) as f64 / f);
        let reads = f64::from(self.sc.params.gossip.catalog_watchers) * members
            / f64::from(self.sc.params.gossip.catalog_entries_per_request.max(1));
        let per = per * (1.0 + reads);
        let exact = new as f64 * per + g.write_remainder;
        // The whole writes due now; the fraction carries over. Non-negative, saturating.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let writes = exact.floor() as u64;
        g.write_remainder = exact - writes as f64;
        if writes > 0 && !svc.is_empty() {
            let n = u32::try_from(writes).unwrap_or(u32::MAX);
            self.rec
                .metrics
                .count("catalog_member_writes", u64::from(n));
            self.svc_call(|w, now, out| w.submit(now, &svc, n, out));
        }
    }

    /// The pool's columns of metrics.csv, and its peaks.
    pub(super) fn gossip_sample(&mut self, row: &mut Vec<(std::borrow::Cow<'static, str>, f64)>) {
        let Some(g) = self.gossip.as_ref() else {
            return;
        };
        // Agents' figures scaled back up to the whole pool (the servers are all simulated).
        let up = 1.0 / self.p().gossip.fraction();
        let servers = g.servers.len() as f64;
        let leader = g.servers.first().copied();
        let members = leader.map_or(0, |l| g.mesh.serf_members(l)) as f64;
        let members = servers + (members - servers).max(0.0) * up;
        let alive = leader.map_or(0, |l| g.mesh.alive_members_seen_by(l)) as f64;
        let alive = servers + (alive - servers).max(0.0) * up;
        let phantoms = g.mesh.phantom_members() as f64 * up;
        let agents = g.agents.len() as f64 * up;
        let c = g.mesh.counters();
        let drops = c.handoff.drops as f64;
        let resurrections = c.push_pull.resurrections as f64;
        row.extend([
            ("gossip_agents".into(), agents),
            ("gossip_members".into(), members),
            ("gossip_alive_members".into(), alive),
            ("phantom_members".into(), phantoms),
            ("gossip_handoff_drops_total".into(), drops),
            ("gossip_resurrections_total".into(), resurrections),
        ]);
        self.rec.metrics.peak("gossip_members", members);
        self.rec.metrics.peak("gossip_alive_members", alive);
        self.rec.metrics.peak("phantom_members", phantoms);
        self.rec.metrics.peak("gossip_agents", agents);
    }

    /// The pool's counters for summary.json's totals.
    pub fn gossip_totals(&self) -> Vec<(String, u64)> {
        let Some(g) = self.gossip.as_ref() else {
            return Vec::new();
        };
        let c = g.mesh.counters();
        vec![
            ("gossip_agents_spawned".into(), g.agents_spawned),
            ("gossip_handoff_drops".into(), c.handoff.drops),
            ("gossip_resurrections".into(), c.push_pull.resurrections),
            ("gossip_suspicions".into(), c.detection.suspicions_raised),
            ("gossip_tcp_fallback_acks".into(), c.probe.tcp_fallback_acks),
            (
                "gossip_dead_declarations".into(),
                c.detection.dead_declarations,
            ),
            (
                "gossip_false_dead_declarations".into(),
                c.detection.false_dead_declarations,
            ),
            ("gossip_packets".into(), c.network.packets_sent),
            (
                "gossip_packets_undecryptable".into(),
                c.network.packets_undecryptable,
            ),
            ("gossip_events".into(), c.events),
            ("gossip_snapshot_compactions".into(), c.snapshot.compactions),
            ("gossip_snapshot_stalls".into(), c.snapshot.stalls),
            (
                "gossip_snapshot_stalled_seconds".into(),
                c.snapshot.stalled_us / 1_000_000,
            ),
            (
                "gossip_snapshot_events_dropped".into(),
                c.snapshot.events_dropped,
            ),
        ]
    }
}
