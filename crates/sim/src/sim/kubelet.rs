//! The kubelet's side of a pod: containers started (through the node's runtime daemon),
//! readiness, OOM kills and CrashLoopBackOff, graceful termination and the pod's removal.

use crate::sim::{secs, Ev, Generation, KubeletEv, Phase, Simulation};
use cascade_engine::Time;
use cascade_scheduler::{NodeId, PodId};
use cascade_services::{PodInfo, PodRef};

impl Simulation<'_> {
    pub(super) fn on_kubelet(&mut self, e: KubeletEv) {
        match e {
            KubeletEv::ContainersStarted { pod } => self.containers_started(pod),
            KubeletEv::PodReady { pod, start } => self.pod_ready(pod, start),
            KubeletEv::OomKill { pod, start } => self.oom_kill(pod, start),
            KubeletEv::PodGone { pod } => self.pod_gone(pod),
            KubeletEv::EvictionPass { node, pass } => self.eviction_pass(node, pass),
            KubeletEv::NodeOomCheck { node, check } => self.node_oom_check(node, check),
            KubeletEv::ThrashCheck { node, check } => self.thrash_check(node, check),
        }
    }

    /// The pod's grace period: terminationGracePeriodSeconds, or the shorter one an
    /// eviction for node pressure gave it (docs/kubernetes.md#node-memory-pressure).
    fn grace_period(&self, id: PodId) -> f64 {
        let spec = self.cluster.pod(id).pod.termination_grace_period_seconds as f64;
        match self.pods.get(id).and_then(|r| r.grace_override) {
            Some(g) => g.min(spec),
            None => spec,
        }
    }

    /// Starts a pod's graceful termination: it keeps its resources until its containers exit,
    /// after min(shutdown time, terminationGracePeriodSeconds). A pod never bound goes at once.
    pub(super) fn terminate(&mut self, id: PodId) {
        let e = self.cluster.pod(id);
        if e.pod.terminating {
            return;
        }
        let bound = e.node.is_some();
        self.cluster.set_terminating(id);
        if let Some(rt) = self.pods.get_mut(id) {
            rt.ready = false;
        }
        self.scheduler.queue.remove(id);
        // SIGTERM: a process with a shutdown of its own (an ingester handing over) reports
        // its exit; the kubelet only enforces the grace period.
        let claimed = self.svc_call(|w, now, out| w.terminating(now, PodRef::new(id.get()), out));
        if !bound {
            self.engine
                .schedule_in(Time::ZERO, Ev::Kubelet(KubeletEv::PodGone { pod: id }));
        } else if self.kubelet_answers(self.cluster.pod(id).node.expect("bound")) {
            if claimed {
                let grace = self.grace_period(id);
                self.engine
                    .schedule_in(secs(grace), Ev::Kubelet(KubeletEv::PodGone { pod: id }));
                self.gossip_leave(id, 0.0);
            } else {
                let sigterm = self.schedule_pod_gone(id);
                self.gossip_leave(id, sigterm);
            }
        }
        // On a node that is down, or thrashing (docs/kubernetes.md#a-thrashing-node), the
        // kubelet cannot confirm the deletion: the pod stays Terminating, holding its place,
        // until the node returns.
        if let Some(w) = self.pods.get(id).and_then(|r| r.workload) {
            self.request_sync(w);
        }
    }

    /// The kubelet stops the pod: gone after min(shutdown time, terminationGracePeriodSeconds).
    /// Returns how long until the runtime delivers the SIGTERM.
    pub(super) fn schedule_pod_gone(&mut self, id: PodId) -> f64 {
        let grace = self.grace_period(id);
        let shutdown = self
            .behaviour(id)
            .and_then(|b| b.shutdown_seconds)
            .unwrap_or(self.p().kubelet.default_shutdown_seconds);
        // Stopping the containers queues on the runtime too: a busy daemon keeps the pod
        // Terminating longer.
        let stop = match self.cluster.pod(id).node {
            Some(node) => {
                let ops = super::runtime::containers(&self.cluster, id) as f64
                    * self.p().kubelet.runtime.container_stop_ops;
                self.nodes.runtimes.submit(node, self.engine.now(), ops)
            }
            None => 0.0,
        };
        self.engine.schedule_in(
            secs(shutdown.min(grace).max(stop)),
            Ev::Kubelet(KubeletEv::PodGone { pod: id }),
        );
        stop
    }

    pub(super) fn containers_started(&mut self, id: PodId) {
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        if self.cluster.pod(id).pod.terminating {
            return;
        }
        rt.phase = Phase::Running;
        rt.starts += 1;
        rt.last_start = self.engine.now();
        rt.ran_before = Time::ZERO;
        let starts = rt.starts;
        // A pod that was running before the run began starts it at some point of its life,
        // not freshly started (docs/kubernetes.md#pods-at-time-0).
        let aged = rt.initial && starts == 1;
        let counted = std::mem::replace(&mut rt.runtime_load, true);
        let age = aged.then(|| self.initial_pod_age(id));
        if let Some(node) = self.cluster.pod(id).node {
            if !counted {
                let n = super::runtime::containers(&self.cluster, id);
                self.nodes
                    .runtimes
                    .background(node, self.engine.now(), n, 1.0);
            }
        }
        self.sidecars_started(id);
        self.api_client_started(id);
        self.gossip_join(id, crate::scenario::JoinOn::Start);
        if let Some(r) = self.behaviour(id).and_then(|b| b.registers.clone()) {
            self.svc_call(|w, now, out| w.submit(now, &r.service, r.on_start, out));
        }
        let key = self.cluster.pod(id).pod.key();
        self.record("Started", format!("pod/{key}"), String::new(), Some(id));
        if !self.services.world.is_empty() {
            let pod = &self.cluster.pod(id).pod;
            let info = PodInfo {
                name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                labels: pod.labels.clone(),
                memory_limit: pod.memory_limit,
                node: self.cluster.pod(id).node.map_or(u32::MAX, NodeId::get),
                dns: pod.dns.clone(),
            };
            self.svc_call(|w, now, out| {
                w.container_started(now, PodRef::new(id.get()), &info, out)
            });
        }
        // On a partitioned node its replicas start cut off (its gossip agent already joined
        // on its node's side).
        if let Some(node) = self.cluster.pod(id).node {
            if self.node_lifecycle.node(node).partition != 0 {
                self.svc_call(|w, now, out| {
                    w.set_pod_cut_off(now, PodRef::new(id.get()), true, out)
                });
            }
        }
        // A container whose memory grows (or spikes) past its limit is OOM-killed when it gets
        // there (docs/kubernetes.md#memory-spikes).
        let limit = self.cluster.pod(id).pod.memory_limit;
        if let Some(m) = self.behaviour(id).and_then(|b| b.memory.clone()) {
            if let Some(cycle) = (limit > 0).then(|| m.limit_reached_after(limit)).flatten() {
                // Its age within its OOM cycle (the restarts' back-off is small beside a
                // cycle of minutes to hours, and left out).
                let ran = match age {
                    Some(a) if cycle > 0.0 => a % cycle,
                    _ => 0.0,
                };
                if let Some(rt) = self.pods.get_mut(id) {
                    rt.ran_before = secs(ran);
                }
                self.engine.schedule_in(
                    secs(cycle - ran),
                    Ev::Kubelet(KubeletEv::OomKill {
                        pod: id,
                        start: Generation::new(starts),
                    }),
                );
            }
        }
        // Node memory: the new container's memory counts on its node from now.
        if self.nodes.memory.is_some() {
            if let Some(node) = self.cluster.pod(id).node {
                self.oom_check(node);
                self.eviction_pass_due(node);
            }
        }
        // Ready, and for a controller available: minReadySeconds after the probe succeeds.
        let mut probe = self
            .behaviour(id)
            .and_then(|b| b.readiness_seconds)
            .unwrap_or(self.p().kubelet.readiness_seconds);
        // The prober runs in the kubelet: a saturated node delays it (docs/kubernetes.md#node-cpu).
        if self.nodes.cpu.is_some() {
            if let Some(node) = self.cluster.pod(id).node {
                probe *= self.kubelet_cpu_slowdown(node);
            }
        }
        let min_ready = self
            .pods
            .get(id)
            .and_then(|r| r.workload)
            .map_or(0, |w| self.controllers.workloads[w].w.min_ready_seconds);
        self.engine.schedule_in(
            secs(probe + f64::from(min_ready)),
            Ev::Kubelet(KubeletEv::PodReady {
                pod: id,
                start: Generation::new(starts),
            }),
        );
    }

    /// OOMKilled at its memory limit, then restarted after CrashLoopBackOff's delay.
    pub(super) fn oom_kill(&mut self, id: PodId, starts: Generation) {
        self.oom_kill_because(id, starts, "container exceeded its memory limit");
    }

    /// OOMKilled (`cause` says by which OOM killer), then restarted after CrashLoopBackOff's
    /// delay.
    pub(super) fn oom_kill_because(&mut self, id: PodId, starts: Generation, cause: &str) {
        let now = self.now();
        let k = self.p().kubelet.clone();
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        if !Generation::new(rt.starts).is_current(starts) || self.cluster.pod(id).pod.terminating {
            return;
        }
        // The kubelet's back-off entry for the container (flowcontrol.Backoff): forgotten once
        // the container ran `crashLoopResetSeconds`; a container with no entry restarts at once.
        if now - rt.last_start >= secs(k.crash_loop_reset_seconds) {
            rt.restarts = 0;
        }
        rt.restarts += 1;
        rt.ready = false;
        rt.phase = Phase::Starting;
        self.svc_call(|w, now, out| w.process_died(now, PodRef::new(id.get()), out));
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        let backoff = if rt.restarts <= 1 {
            0.0
        } else {
            (k.crash_loop_initial_backoff_seconds
                * 2f64.powi(rt.restarts.saturating_sub(2).min(30) as i32))
            .min(k.crash_loop_max_backoff_seconds)
        };
        let workload = rt.workload;
        let delay = crash_loop_restart(
            backoff,
            k.pod_worker_retry_seconds,
            k.pod_worker_retry_jitter,
            &mut self.nodes.kubelet_rng,
        );
        let key = self.cluster.pod(id).pod.key();
        self.rec.metrics.count("pods_oom_killed", 1);
        self.record(
            "OOMKilled",
            format!("pod/{key}"),
            format!("{cause}; back-off {backoff}s restarting failed container"),
            Some(id),
        );
        self.engine.schedule_in(
            secs(delay),
            Ev::Kubelet(KubeletEv::ContainersStarted { pod: id }),
        );
        if let Some(w) = workload {
            self.request_sync(w);
        }
    }

    /// How long a pod that existed when the run began had been running: uniform in
    /// [0, initialPodAgeMaxSeconds), drawn from the pod's id and the seed alone so that no
    /// other draw moves (docs/kubernetes.md#pods-at-time-0).
    pub(super) fn initial_pod_age(&self, id: PodId) -> f64 {
        cascade_engine::rng::unit_hash(self.info.seed ^ 0xa6e5, u64::from(id.get()))
            * self.p().kubelet.initial_pod_age_max_seconds
    }

    pub(super) fn pod_ready(&mut self, id: PodId, starts: Generation) {
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        if self.cluster.pod(id).pod.terminating || !Generation::new(rt.starts).is_current(starts) {
            return;
        }
        if self.ready_waits_for_sync(id, starts) {
            return;
        }
        let Some(rt) = self.pods.get_mut(id) else {
            return;
        };
        rt.ready = true;
        // A pod from before the run, Ready for the first time in it, was in its Services'
        // EndpointSlices already: no write (docs/control-plane-and-nodes.md#endpointslices).
        let listed = rt.initial && rt.starts == 1;
        if let Some(w) = rt.workload {
            self.request_sync(w);
        }
        self.gossip_join(id, crate::scenario::JoinOn::Ready);
        if listed {
            self.svc_call_with(cascade_services::SliceWrites::Immediate, |w, now, out| {
                w.pod_ready(now, PodRef::new(id.get()), out)
            });
        } else {
            self.svc_call(|w, now, out| w.pod_ready(now, PodRef::new(id.get()), out));
        }
    }

    pub(super) fn pod_gone(&mut self, id: PodId) {
        if self.cluster.try_pod(id).is_none() {
            return;
        }
        self.svc_call(|w, now, out| w.pod_gone(now, PodRef::new(id.get()), out));
        self.sidecars_stopped(id);
        self.api_client_stopped(id);
        self.gossip_gone(id);
        let started = self.pods.get(id).is_some_and(|r| r.starts > 0);
        if let Some(r) = self.behaviour(id).and_then(|b| b.registers.clone()) {
            if started {
                self.svc_call(|w, now, out| w.submit(now, &r.service, r.on_stop, out));
            }
        }
        if self.pods.get(id).is_some_and(|r| r.runtime_load) {
            if let Some(node) = self.cluster.pod(id).node {
                let n = super::runtime::containers(&self.cluster, id);
                self.nodes
                    .runtimes
                    .background(node, self.engine.now(), n, -1.0);
            }
        }
        let pod = self.cluster.delete_pod(id);
        let workload = self.pods.remove(id).and_then(|r| r.workload);
        self.scheduler.queue.forget(id);
        self.rec.metrics.count("pods_deleted", 1);
        self.record(
            "Deleted",
            format!("pod/{}", pod.key()),
            String::new(),
            Some(id),
        );
        if let Some(w) = workload {
            self.controllers.workloads[w].pods.retain(|p| *p != id);
            self.request_sync(w);
        }
        self.move_all_to_active_or_backoff();
    }
}

/// When a crashed container restarts, `backoff` seconds being its back-off: the pod worker
/// syncs at once, finds the container in back-off and retries every `retry` x (1 + u x
/// `jitter`) seconds (u uniform in [0, 1)); the first retry at or after the back-off's end
/// restarts it. No back-off: at once. `retry` 0: at the back-off's end exactly.
/// docs/kubernetes.md#crashloopbackoff
pub(super) fn crash_loop_restart(
    backoff: f64,
    retry: f64,
    jitter: f64,
    rng: &mut cascade_engine::rng::Rng,
) -> f64 {
    if backoff <= 0.0 || retry <= 0.0 {
        return backoff.max(0.0);
    }
    let mut t = 0.0;
    while t < backoff {
        t += retry * (1.0 + jitter * rng.unit());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::crash_loop_restart;
    use cascade_engine::rng::Rng;

    #[test]
    fn a_restart_waits_for_the_first_pod_worker_retry_after_its_back_off() {
        let mut rng = Rng::stream(1, "t");
        // No back-off entry: at once, whatever the retries.
        assert_eq!(crash_loop_restart(0.0, 10.0, 0.5, &mut rng), 0.0);
        // v1.32+: at the back-off's end exactly.
        assert_eq!(crash_loop_restart(40.0, 0.0, 0.5, &mut rng), 40.0);
        // No jitter: the retries fall every 10 s, and a 40 s back-off ends on one.
        assert_eq!(crash_loop_restart(40.0, 10.0, 0.0, &mut rng), 40.0);
        assert_eq!(crash_loop_restart(41.0, 10.0, 0.0, &mut rng), 50.0);
        // With the upstream jitter: never before the back-off ends, never later than one
        // longest retry (15 s) after it, and replicas killed together spread out.
        let delays: Vec<f64> = (0..200)
            .map(|_| crash_loop_restart(300.0, 10.0, 0.5, &mut rng))
            .collect();
        assert!(
            delays.iter().all(|d| (300.0..315.0).contains(d)),
            "{delays:?}"
        );
        let distinct: std::collections::BTreeSet<u64> =
            delays.iter().map(|d| d.to_bits()).collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!((303.0..310.0).contains(&mean), "{mean}");
    }
}
