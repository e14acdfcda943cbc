//! Each node's container runtime daemon (dockerd, containerd) as a single queue of operations:
//! container create/start and stop, exec probes, and the work sidecars cause (a reconnecting
//! log shipper re-attaching to its containers' logs). The kubelet's PLEG relists through the
//! same queue every second; when a relist waits longer than the PLEG threshold (3 min), the
//! kubelet reports the node NotReady ("PLEG is not healthy"), and Ready again once the queue
//! drains (../shared/reference/kubernetes.md, "Kubelet and node health"). This is the choke
//! point of the Target outage: a shared per-node daemon that cheap, synchronised retries
//! overwhelm.
//!
//! The queue is fluid: work (in operations) arrives in lumps and as a steady rate per running
//! container, and drains at the daemon's capacity. A new operation waits behind the backlog.

use super::{secs, Ev, Phase, Simulation};
use crate::scenario::SidecarSpec;
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};

/// One node's runtime daemon.
#[derive(Clone, Debug, Default)]
pub struct RuntimeRt {
    /// Operations queued, as of `last`.
    backlog: f64,
    last: Time,
    /// Steady operations per second from the running containers (exec probes, log streams).
    background: f64,
}

impl RuntimeRt {
    /// Brings the backlog up to `now`: the steady load arrives, the capacity drains.
    fn advance(&mut self, now: Time, capacity: f64) {
        let dt = (now - self.last).as_secs_f64();
        self.backlog = (self.backlog + (self.background - capacity) * dt).max(0.0);
        self.last = now;
    }
}

/// A sidecar's connection to its dependency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SidecarState {
    Connected,
    /// Retrying: attempts so far and the last delay.
    Retrying {
        attempt: u32,
        prev_delay: f64,
    },
}

impl<'a> Simulation<'a> {
    fn runtime_capacity(&self) -> f64 {
        self.p.kubelet.runtime.ops_per_second
    }

    fn runtime_rt(&mut self, node: NodeId) -> &mut RuntimeRt {
        if self.runtimes.len() <= node as usize {
            self.runtimes
                .resize(node as usize + 1, RuntimeRt::default());
        }
        &mut self.runtimes[node as usize]
    }

    /// The node's runtime brought up to now, with its capacity; None for an unlimited runtime
    /// (capacity 0), which does everything at once.
    fn runtime_now(&mut self, node: NodeId) -> Option<(&mut RuntimeRt, f64)> {
        let cap = self.runtime_capacity();
        if cap <= 0.0 {
            return None;
        }
        let now = self.now();
        let rt = self.runtime_rt(node);
        rt.advance(now, cap);
        Some((rt, cap))
    }

    /// Queues `ops` operations on the node's runtime; returns how long until they are done.
    /// An unlimited runtime (capacity 0) does everything at once.
    pub(super) fn runtime_submit(&mut self, node: NodeId, ops: f64) -> f64 {
        let Some((rt, cap)) = self.runtime_now(node) else {
            return 0.0;
        };
        rt.backlog += ops;
        rt.backlog / cap
    }

    /// How long a relist submitted now would wait.
    pub(super) fn runtime_latency(&mut self, node: NodeId) -> f64 {
        self.runtime_submit(node, 0.0)
    }

    /// A container's steady load starts (`sign` 1) or stops (-1).
    pub(super) fn runtime_background(&mut self, node: NodeId, containers: usize, sign: f64) {
        let rate = self.p.kubelet.runtime.probe_ops_per_container_per_second;
        if rate <= 0.0 {
            return;
        }
        let Some((rt, _)) = self.runtime_now(node) else {
            return;
        };
        rt.background = (rt.background + sign * rate * containers as f64).max(0.0);
    }

    /// How busy the node's daemon is, 0 to 1: 1 while it has a backlog, else its steady load
    /// over its capacity (an unlimited daemon is never busy).
    pub(super) fn runtime_utilisation(&mut self, node: NodeId) -> f64 {
        let Some((rt, cap)) = self.runtime_now(node) else {
            return 0.0;
        };
        if rt.backlog > 0.0 {
            1.0
        } else {
            (rt.background / cap).min(1.0)
        }
    }

    /// The kubelet's view: is PLEG healthy (the last relist finished within the threshold)?
    pub(super) fn pleg_healthy(&mut self, node: NodeId) -> bool {
        self.runtime_latency(node) <= self.p.kubelet.runtime.pleg_threshold_seconds
    }

    /// Containers in a pod (at least one).
    pub(super) fn containers(&self, id: PodId) -> usize {
        self.cluster.pod(id).pod.images.len().max(1)
    }

    // ----- sidecars -----

    /// The pod's sidecars as its behaviour declares them (borrowed from the scenario, which
    /// outlives the run).
    fn sidecar_specs(&self, id: PodId) -> &'a [SidecarSpec] {
        let sc: &'a crate::scenario::Scenario = self.sc;
        match self.pods.get(id).and_then(|r| r.behaviour) {
            Some(i) => &sc.spec.behaviours[i].sidecars,
            None => &[],
        }
    }

    fn sidecar_states(&mut self, id: PodId) -> Option<&mut (u32, Vec<SidecarState>)> {
        self.pods.get_mut(id).and_then(|r| r.sidecars.as_mut())
    }

    /// The pod's containers started: its sidecars connect (or start retrying).
    pub(super) fn sidecars_started(&mut self, id: PodId) {
        let specs = self.sidecar_specs(id);
        if specs.is_empty() {
            return;
        }
        let states = vec![SidecarState::Connected; specs.len()];
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        let starts = rt.starts;
        rt.sidecars = Some((starts, states));
        for (i, s) in specs.iter().enumerate() {
            if self.services.refuses(&s.target) {
                self.sidecar_fail(id, i, starts);
            }
        }
    }

    /// A dependency went away: every connected sidecar bound to it notices on its next send,
    /// within its send interval, and starts retrying.
    pub(super) fn sidecars_dependency_down(&mut self, target: &str) {
        let pods: Vec<(PodId, u32, usize)> = self
            .pods
            .iter()
            .filter_map(|(pod, r)| r.sidecars.as_ref().map(|s| (pod, s)))
            .flat_map(|(pod, (starts, states))| {
                states
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s == SidecarState::Connected)
                    .map(move |(i, _)| (pod, *starts, i))
            })
            .collect();
        for (pod, starts, i) in pods {
            let specs = self.sidecar_specs(pod);
            let Some(spec) = specs.get(i) else { continue };
            if spec.target != target {
                continue;
            }
            let notice = self.sidecar_rng.unit() * spec.send_interval_seconds;
            self.engine
                .schedule_in(secs(notice), Ev::Sidecar(pod, i as u16, starts));
        }
    }

    /// The first failure a connected sidecar sees.
    fn sidecar_fail(&mut self, id: PodId, i: usize, starts: u32) {
        if let Some((_, states)) = self.sidecar_states(id) {
            states[i] = SidecarState::Retrying {
                attempt: 0,
                prev_delay: 0.0,
            };
        }
        self.sidecar_attempt(id, i, starts);
    }

    /// A sidecar's timer: a connected one checks its dependency, a retrying one tries again.
    /// Every attempt costs its node's runtime `opsPerAttempt`.
    pub(super) fn sidecar_event(&mut self, id: PodId, i: usize, starts: u32) {
        let Some((s, states)) = self.pods.get(id).and_then(|r| r.sidecars.as_ref()) else {
            return;
        };
        if *s != starts || self.cluster.pod(id).pod.terminating {
            return;
        }
        match states[i] {
            SidecarState::Connected => {
                let specs = self.sidecar_specs(id);
                if self.services.refuses(&specs[i].target) {
                    self.sidecar_fail(id, i, starts);
                }
            }
            SidecarState::Retrying { .. } => self.sidecar_attempt(id, i, starts),
        }
    }

    fn sidecar_attempt(&mut self, id: PodId, i: usize, starts: u32) {
        let specs = self.sidecar_specs(id);
        let spec = &specs[i];
        let running = self.pods.get(id).is_some_and(|r| r.phase == Phase::Running);
        let Some(node) = self.cluster.pod(id).node else {
            return;
        };
        if !running {
            return;
        }
        self.rec.metrics.count("sidecar_retries", 1);
        self.runtime_submit(node, spec.ops_per_attempt);
        if !self.services.refuses(&spec.target) {
            if let Some((_, states)) = self.sidecar_states(id) {
                states[i] = SidecarState::Connected;
            }
            // Reconnected: it replays what it buffered, through the runtime too.
            self.runtime_submit(node, spec.ops_on_reconnect);
            return;
        }
        let Some(SidecarState::Retrying {
            attempt,
            prev_delay,
        }) = self.sidecar_states(id).map(|(_, states)| states[i])
        else {
            return;
        };
        let d = cascade_services::backoff::delay(
            &spec.backoff,
            attempt + 1,
            prev_delay,
            &mut self.sidecar_rng,
        );
        let Some((_, states)) = self.sidecar_states(id) else {
            return;
        };
        states[i] = SidecarState::Retrying {
            attempt: attempt + 1,
            prev_delay: d,
        };
        self.engine
            .schedule_in(secs(d), Ev::Sidecar(id, i as u16, starts));
    }

    /// The pod is gone or its containers died: its sidecars with it.
    pub(super) fn sidecars_stopped(&mut self, id: PodId) {
        if let Some(rt) = self.pods.get_mut(id) {
            rt.sidecars = None;
        }
    }
}
