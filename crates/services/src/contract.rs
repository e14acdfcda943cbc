//! The sans-IO surface of the services: what the caller (cascade-sim) tells [`crate::World`]
//! about pods, the timers it hands back ([`SvcEv`]) and what the services answer ([`Out`]:
//! timers to schedule, [`Effect`]s on the cluster). No clock and no I/O behind it.

use crate::clients::ClientAttempt;
use crate::remote_write::Batch;
use cascade_engine::{Generation, Time};
use cascade_model::Labels;
use cascade_ring::IngesterId;

/// The caller's name for a pod (cascade-sim's `PodId`). A newtype, so that no other number
/// (an ingester's, a replica's index) can be passed for one; it orders as the caller's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PodRef(u32);

impl PodRef {
    pub const fn new(id: u32) -> PodRef {
        PodRef(id)
    }

    /// The caller's id.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

slotmap::new_key_type! {
    /// A request in flight: a slot in the request table and the slot's generation, so that a
    /// timer for a request already finished (its slot reused) is recognised as stale.
    pub struct ReqId;
}

/// Declares a typed index into one of the services' tables (the position of a name in its
/// `BTreeMap` of the configuration).
macro_rules! index {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) u16);

        impl $name {
            pub(crate) fn ix(self) -> usize {
                usize::from(self.0)
            }
            /// The `i`-th entry (tables are built from the configuration's maps, whose size
            /// [`crate::validate`] bounds).
            pub(crate) fn at(i: usize) -> $name {
                $name(u16::try_from(i).expect("validate bounds the tables below 2^16"))
            }
        }
    };
}

index!(
    /// A service (`spec.services`), in name order.
    ServiceIdx
);
index!(
    /// A Cortex ring (`spec.rings`), in name order.
    RingIdx
);
index!(
    /// A remote_write fleet (`spec.remoteWrite`), in name order.
    FleetIdx
);
index!(
    /// A client (`spec.clients`), in name order.
    ClientIdx
);

/// What the services need to know of a pod whose containers start.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    /// The container's memory limit in bytes (0: none).
    pub memory_limit: i64,
    /// The node it runs on (its index; a node-local DNS cache is per node).
    pub node: u32,
    /// Its spec.dnsPolicy and spec.dnsConfig (None: ClusterFirst, nothing added): a DNS
    /// client's lookups from it use its resolv.conf (docs/dns.md#a-pods-dnsconfig).
    pub dns: Option<Box<cascade_model::PodDns>>,
}

/// A step of an ingester's lifecycle (cortex `pkg/ingester/lifecycle.go`, `transfer.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngesterStep {
    /// `-ingester.join-after` has passed without a hand-over: claim tokens of its own.
    JoinAfter,
    /// Try again to find a PENDING ingester to hand the series to.
    TransferRetry,
    /// The chunk transfer to `to` is complete.
    TransferDone { to: IngesterId, to_gen: Generation },
    /// The flush of in-memory chunks to the store is complete.
    FlushDone,
}

/// A timer of the services, scheduled by the caller and handed back to [`crate::World::handle`].
#[derive(Clone, Debug)]
pub enum SvcEv {
    /// A worker finishes a request.
    Complete(ReqId),
    /// The client's timeout for a request.
    Timeout(ReqId),
    /// The answer of a request served by a degraded service with added latency reaches its
    /// caller (unless the caller has timed out meanwhile).
    Deliver { id: ReqId, ok: bool },
    /// A Prometheus server's idle shard looks for a batch (the generation dedupes wakes).
    ServerWake {
        rw: FleetIdx,
        server: u32,
        gen: Generation,
    },
    /// A shard resends a failed batch after its backoff.
    ShardRetry(Batch),
    /// A fleet's queue managers recompute their shard counts.
    UpdateShards { rw: FleetIdx },
    /// A reshard's flush deadline: the old shards still out are shut down hard.
    FlushDeadline {
        rw: FleetIdx,
        server: u32,
        gen: Generation,
    },
    /// A client's next logical request.
    ClientArrival { client: ClientIdx },
    /// A client retries a failed request.
    ClientRetry(ClientAttempt),
    /// A service retries a failed downstream call for the request it serves.
    DownstreamRetry(crate::requests::Downstream),
    /// An ingester's lifecycle timer (`gen` guards against a restarted process).
    Ingester {
        ring: RingIdx,
        id: IngesterId,
        gen: Generation,
        step: IngesterStep,
    },
    /// A dead ingester's heartbeat has just gone stale: the ring's health changes.
    RingHealth { ring: RingIdx },
}

/// What the services do to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// The container went past its memory limit: the kubelet's OOM kill and restart.
    OomKill(PodRef),
    /// A terminating pod's process has finished its shutdown (hand-over or flush done).
    Exited(PodRef),
    /// The requests in flight at the pod's replicas reached the count the caller watched
    /// for (`World::watch_in_flight`); the watch is spent.
    InFlightReached(PodRef),
    /// A readiness change was written into the service's EndpointSlice at once (under
    /// [`SliceWrites::Requested`]): the endpointslice controller's write, for the caller to
    /// count against its client and the API server.
    SliceWritten(ServiceIdx),
    /// A readiness change waits for the endpointslice controller (under
    /// [`SliceWrites::Deferred`], or while an earlier one waits): the caller writes the slice
    /// with `World::write_slice` when the controller's write is taken. Given once per
    /// service until then.
    SliceStale(ServiceIdx),
    /// Something worth a line in the event log.
    Log {
        kind: &'static str,
        object: String,
        message: String,
    },
}

/// How a readiness change reaches the EndpointSlice that routing follows
/// (docs/control-plane-and-nodes.md#endpointslices). The caller sets it before each call
/// (`World::set_slice_writes`) from the endpointslice controller's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SliceWrites {
    /// At once and for free: no controller is modelled, or the pod was listed before the run.
    #[default]
    Immediate,
    /// At once, unless the service's slice already waits on a write: the controller could
    /// write it now ([`Effect::SliceWritten`] says it did).
    Requested,
    /// Later: the controller cannot write now ([`Effect::SliceStale`]).
    Deferred,
}

/// Timers to schedule and effects to apply, filled by each call.
#[derive(Debug, Default)]
pub struct Out {
    pub timers: Vec<(Time, SvcEv)>,
    pub effects: Vec<Effect>,
}

impl Out {
    pub(crate) fn at(&mut self, t: Time, ev: SvcEv) {
        self.timers.push((t, ev));
    }
    pub(crate) fn log(&mut self, kind: &'static str, object: String, message: String) {
        self.effects.push(Effect::Log {
            kind,
            object,
            message,
        });
    }
}

/// Turns seconds into simulated time.
pub(crate) fn secs(s: f64) -> Time {
    Time::from_secs_f64(s.max(0.0))
}
