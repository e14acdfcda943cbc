//! The one door to cascade-services: calls into the services' world with the current time,
//! and what they answer (timers, effects on pods, log lines) carried out on the cluster.

use crate::sim::{Ev, Generation, Simulation};
use cascade_engine::Time;
use cascade_scheduler::PodId;
use cascade_services::{Effect, Out, PodRef, SliceWrites, World};

/// The services' world and the buffer its answers come back in (reused between calls).
pub(super) struct ServicesBridge {
    pub world: World,
    out: Out,
}

impl ServicesBridge {
    pub fn new(world: World) -> Self {
        ServicesBridge {
            world,
            out: Out::default(),
        }
    }

    /// The answer buffer, lent to one call.
    pub fn take_out(&mut self) -> Out {
        std::mem::take(&mut self.out)
    }
}

impl Simulation<'_> {
    /// Calls into the services with the current time and applies what they answer.
    /// Readiness changes reach the slices as the endpointslice controller can write them
    /// (`endpoint_slices.rs`).
    pub(super) fn svc_call<R>(&mut self, f: impl FnOnce(&mut World, Time, &mut Out) -> R) -> R {
        let mode = if self.services.world.is_empty() {
            SliceWrites::Immediate
        } else {
            self.slice_writes_mode()
        };
        self.svc_call_with(mode, f)
    }

    /// The same, with readiness changes reaching the slices as `mode` says (a pod from before
    /// the run was listed already).
    pub(super) fn svc_call_with<R>(
        &mut self,
        mode: SliceWrites,
        f: impl FnOnce(&mut World, Time, &mut Out) -> R,
    ) -> R {
        let mut out = self.services.take_out();
        let now = self.now();
        self.services.world.set_slice_writes(mode);
        let r = f(&mut self.services.world, now, &mut out);
        self.apply_svc(out);
        r
    }

    /// Requests in flight at the pod's replicas (node memory reads them,
    /// docs/kubernetes.md#memory-per-request).
    pub(super) fn pod_in_flight(&self, pod: PodId) -> usize {
        self.services.world.in_flight(PodRef::new(pod.get()))
    }

    /// Asks the services to say when the pod's requests in flight reach `at_least`
    /// ([`Effect::InFlightReached`]); None withdraws the watch.
    pub(super) fn watch_pod_in_flight(&mut self, pod: PodId, at_least: Option<usize>) {
        self.services
            .world
            .watch_in_flight(PodRef::new(pod.get()), at_least);
    }

    /// Schedules the services' timers and carries out their effects on the cluster.
    pub(super) fn apply_svc(&mut self, mut out: Out) {
        for (at, ev) in out.timers.drain(..) {
            self.engine.schedule(at, Ev::Svc(ev));
        }
        let effects = std::mem::take(&mut out.effects);
        self.services.out = out;
        for e in effects {
            match e {
                Effect::OomKill(pod) => {
                    let pod = PodId::new(pod.get());
                    if let Some(starts) = self.pods.get(pod).map(|r| Generation::new(r.starts)) {
                        self.oom_kill(pod, starts);
                    }
                }
                Effect::InFlightReached(pod) => self.in_flight_reached(PodId::new(pod.get())),
                Effect::Exited(pod) => {
                    let pod = PodId::new(pod.get());
                    if self.cluster.try_pod(pod).is_some_and(|e| e.pod.terminating) {
                        self.pod_gone(pod);
                    }
                }
                Effect::Log {
                    kind,
                    object,
                    message,
                } => self.record(kind, object, message, None),
                Effect::SliceWritten(svc) => self.slice_written_at_once(svc),
                Effect::SliceStale(svc) => self.slice_stale(svc),
            }
        }
    }
}
