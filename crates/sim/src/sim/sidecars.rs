//! Sidecars (a log shipper, a metrics agent) and their connections to a dependency: when it
//! goes away each notices on its next send and retries with its backoff, and every attempt
//! costs its node's runtime daemon (re-attaching to its containers' logs): the synchronised
//! retries that overwhelm the daemon in the Target outage.

use super::{secs, Ev, Generation, Phase, Simulation};
use crate::scenario::SidecarSpec;
use cascade_scheduler::PodId;

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
            if self.services.world.refuses(&s.target) {
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
            let notice = self.nodes.sidecar_rng.unit() * spec.send_interval_seconds;
            self.engine.schedule_in(
                secs(notice),
                Ev::Sidecar {
                    pod,
                    sidecar: u16::try_from(i).expect("fewer than 2^16 sidecars in a pod"),
                    start: Generation::new(starts),
                },
            );
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
    pub(super) fn sidecar_event(&mut self, id: PodId, i: usize, start: Generation) {
        let starts = start.get();
        let Some((s, states)) = self.pods.get(id).and_then(|r| r.sidecars.as_ref()) else {
            return;
        };
        if *s != starts || self.cluster.pod(id).pod.terminating {
            return;
        }
        match states[i] {
            SidecarState::Connected => {
                let specs = self.sidecar_specs(id);
                if self.services.world.refuses(&specs[i].target) {
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
        self.nodes
            .runtimes
            .submit(node, self.engine.now(), spec.ops_per_attempt);
        if !self.services.world.refuses(&spec.target) {
            if let Some((_, states)) = self.sidecar_states(id) {
                states[i] = SidecarState::Connected;
            }
            // Reconnected: it replays what it buffered, through the runtime too.
            self.nodes
                .runtimes
                .submit(node, self.engine.now(), spec.ops_on_reconnect);
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
            &mut self.nodes.sidecar_rng,
        );
        let Some((_, states)) = self.sidecar_states(id) else {
            return;
        };
        states[i] = SidecarState::Retrying {
            attempt: attempt + 1,
            prev_delay: d,
        };
        self.engine.schedule_in(
            secs(d),
            Ev::Sidecar {
                pod: id,
                sidecar: u16::try_from(i).expect("fewer than 2^16 sidecars in a pod"),
                start: Generation::new(starts),
            },
        );
    }

    /// The pod is gone or its containers died: its sidecars with it.
    pub(super) fn sidecars_stopped(&mut self, id: PodId) {
        if let Some(rt) = self.pods.get_mut(id) {
            rt.sidecars = None;
        }
    }
}
