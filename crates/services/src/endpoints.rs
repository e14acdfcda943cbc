//! The services' endpoints: which replicas take requests (kube-proxy routes to the Ready
//! ones), whether a service refuses connections, and the remote_write shards parked on a
//! service while it refuses.

use crate::backoff;
use crate::config::{Backoff, Jitter};
use crate::contract::{secs, Effect, Out, ServiceIdx, SliceWrites};
use crate::remote_write::Batch;
use crate::service::Service;
use cascade_engine::Time;
use cascade_model::Rng;

/// A remote_write shard whose last attempt was refused for want of endpoints: it keeps
/// retrying on its backoff schedule, and since every retry is refused until a replica is
/// Ready again, those retries are counted in one go when that happens instead of being
/// simulated one by one (the retry storm against a crash-looping gateway is millions of
/// such refusals).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parked {
    pub batch: Batch,
    pub failed_at: Time,
}

/// Where a parked shard's retries stand once its service has endpoints again.
pub(crate) struct Unparked {
    /// Its next retry: when, and the batch with its attempt count and last delay.
    pub next: (Time, Batch),
    /// Retries refused while it was parked.
    pub refused: u64,
}

/// Every service of a run and the shards parked on each.
#[derive(Debug, Default)]
pub(crate) struct Endpoints {
    services: Vec<Service>,
    /// Per service, the shards parked while it has no endpoints.
    parked: Vec<Vec<Parked>>,
    /// How a readiness change reaches the slices now (set by the caller before each call).
    pub slice_writes: SliceWrites,
}

impl Endpoints {
    pub fn new(services: Vec<Service>) -> Endpoints {
        Endpoints {
            parked: vec![Vec::new(); services.len()],
            services,
            slice_writes: SliceWrites::Immediate,
        }
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.services.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        self.services.iter_mut()
    }

    pub fn get(&self, svc: ServiceIdx) -> &Service {
        &self.services[svc.ix()]
    }

    pub fn get_mut(&mut self, svc: ServiceIdx) -> &mut Service {
        &mut self.services[svc.ix()]
    }

    pub fn find(&self, name: &str) -> Option<ServiceIdx> {
        self.services
            .iter()
            .position(|s| s.name == name)
            .map(ServiceIdx::at)
    }

    /// Whether the named service refuses connections now. Unknown names refuse.
    pub fn refuses(&self, name: &str) -> bool {
        self.find(name).is_none_or(|s| self.get(s).refuses())
    }

    /// A dependency fault cuts the service off (or heals). Returns whether that changed
    /// anything and whether the service now takes connections again (its parked shards are
    /// then due).
    pub fn set_reachable(&mut self, now: Time, svc: ServiceIdx, reachable: bool) -> (bool, bool) {
        let s = self.get_mut(svc);
        let was = !s.unreachable;
        s.unreachable = !reachable;
        s.note_refusals(now);
        (was != reachable, reachable && !was && !s.refuses())
    }

    /// A replica's readiness changes (the kubelet's view). Its slice entry follows at once
    /// or when the endpointslice controller writes the slice, as `slice_writes` says. True if
    /// the service took no connections before and does now (its parked shards are then due).
    pub fn set_ready(
        &mut self,
        now: Time,
        svc: ServiceIdx,
        replica: u32,
        on: bool,
        out: &mut Out,
    ) -> bool {
        let mode = self.slice_writes;
        let s = self.get_mut(svc);
        let rep = &mut s.replicas[replica as usize];
        if (on && !rep.alive) || rep.ready == on {
            return false;
        }
        rep.ready = on;
        rep.lost = false;
        match mode {
            SliceWrites::Immediate => {}
            SliceWrites::Requested if !s.slice_stale => out.effects.push(Effect::SliceWritten(svc)),
            _ => {
                if !s.slice_stale {
                    s.slice_stale = true;
                    out.effects.push(Effect::SliceStale(svc));
                }
                return false;
            }
        }
        let refused = s.refuses();
        s.set_routable(replica, on);
        s.note_refusals(now);
        refused && !s.refuses()
    }

    /// The endpointslice controller's write of the service's slice is taken: every replica is
    /// listed as it is Ready now. True if the service took no connections before and does now.
    pub fn write_slice(&mut self, now: Time, svc: ServiceIdx) -> bool {
        let s = self.get_mut(svc);
        s.slice_stale = false;
        let refused = s.refuses();
        for replica in 0..cascade_engine::index_u32(s.replicas.len()) {
            let ready = s.replicas[replica as usize].ready;
            s.set_routable(replica, ready);
        }
        // The up-ratio's clock follows what routing sees, which is the slice as written.
        s.note_refusals(now);
        refused && !s.refuses()
    }

    /// A shard's attempt was refused for want of endpoints: it waits for them.
    pub fn park(&mut self, svc: ServiceIdx, batch: Batch, failed_at: Time) {
        self.parked[svc.ix()].push(Parked { batch, failed_at });
    }

    pub fn take_parked(&mut self, svc: ServiceIdx) -> Vec<Parked> {
        std::mem::take(&mut self.parked[svc.ix()])
    }

    pub fn parked(&self, svc: ServiceIdx) -> &[Parked] {
        &self.parked[svc.ix()]
    }

    pub fn any_parked(&self) -> bool {
        self.parked.iter().any(|p| !p.is_empty())
    }
}

impl Parked {
    /// The service has endpoints again at `now`: the shard's refused retries up to now are
    /// counted, and its next retry goes where its backoff schedule puts it
    /// (queue_manager.go's sendSamplesWithBackoff, fast-forwarded).
    pub fn unpark(self, now: Time, backoff: &Backoff, rng: &mut Rng) -> Unparked {
        let mut batch = self.batch;
        let (mut attempt, mut prev_delay) = (batch.attempt, batch.prev_delay);
        let mut failed_at = self.failed_at;
        let mut refused = 0u64;
        loop {
            let d = backoff::delay(backoff, attempt + 1, prev_delay, rng);
            let next = failed_at + secs(d);
            attempt += 1;
            prev_delay = d;
            if next >= now {
                batch.attempt = attempt;
                batch.prev_delay = prev_delay;
                return Unparked {
                    next: (next, batch),
                    refused,
                };
            }
            refused += 1;
            failed_at = next;
            // At the cap without jitter the schedule is a fixed period: skip to the last retry
            // before now in one step.
            if backoff.jitter == Jitter::None && d >= backoff.max_seconds && d > 0.0 {
                let period = secs(d);
                let steps = (now - failed_at).0 / period.0.max(1);
                if steps > 1 {
                    let skip = steps - 1;
                    failed_at = failed_at + Time(period.0 * skip);
                    attempt += u32::try_from(skip).unwrap_or(u32::MAX);
                    refused += skip;
                }
            }
        }
    }
}
