//! The endpointslice controller (kube-controller-manager) as an API client, and kube-proxy
//! routing by the slices it writes (docs/control-plane-and-nodes.md#endpointslices).
//!
//! A pod's readiness changes where the kubelet sees it (`kubelet.rs`, `node_lifecycle.rs`);
//! the services' routing follows the Service's EndpointSlice, which changes only when the
//! controller's write is taken by the API server. A change queues the Service's sync
//! `--endpointslice-updates-batch-period` later (0 by default: at once); the sync is a write
//! through `api_writes.rs` with the controller's own token bucket; while the server does not
//! serve the write waits and is sent when it serves again, and one that fails while it
//! serves is retried after the controller's per-Service backoff. When the slice is written,
//! it lists the replicas Ready at that instant (the controller's informer has caught up by
//! then; a change after it queues another sync).
//!
//! Nothing moves while the server is not the bottleneck: with no batch period, a server that
//! serves and a token in the controller's bucket, the change is written at once
//! (`SliceWrites::Requested`), its request charged to the bucket and to the server, which
//! answers it lazily, so no event is added.

use super::api_writes::{Write, Writer};
use super::control_plane::ControlPlaneEv;
use super::{secs, Ev, Simulation, Stage};
use cascade_apiserver::client::workqueue_item_delay;
use cascade_apiserver::queueset::flow_hash_parts;
use cascade_apiserver::server::{ApiRequest, LevelId};
use cascade_apiserver::work::Verb;
use cascade_engine::Duration;
use cascade_services::{ServiceIdx, SliceWrites};
use std::collections::BTreeMap;

/// One Service's slice as the controller handles it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SliceSync {
    /// A sync is queued or its write is under way: later changes ride along with it.
    pub pending: bool,
    /// Failed writes in a row (the work queue's per-item backoff).
    pub failures: u32,
}

/// The endpointslice controller's per-Service state.
#[derive(Clone, Debug, Default)]
pub struct EndpointSlices {
    pub(super) services: BTreeMap<ServiceIdx, SliceSync>,
}

impl EndpointSlices {
    /// The Service's sync state, made on first use.
    fn of(&mut self, svc: ServiceIdx) -> &mut SliceSync {
        self.services.entry(svc).or_default()
    }
}

impl Simulation<'_> {
    /// How the services' readiness changes reach their slices in the call about to be made.
    pub(super) fn slice_writes_mode(&mut self) -> SliceWrites {
        if self.info.stage == Stage::Bootstrap {
            return SliceWrites::Immediate;
        }
        if self
            .p()
            .controllers
            .endpoint_slice_updates_batch_period_seconds
            > 0.0
            || !self.api_serving()
        {
            return SliceWrites::Deferred;
        }
        let now = self.now();
        if self.writer_bucket(Writer::EndpointSlice).tokens_at(now) >= 1.0 {
            SliceWrites::Requested
        } else {
            SliceWrites::Deferred
        }
    }

    fn slice_flow(&self, svc: ServiceIdx) -> u64 {
        // Its requests match the `kube-controller-manager` FlowSchema (or, with per-controller
        // credentials, `kube-system-service-accounts`): workload-high, by namespace.
        flow_hash_parts(
            "kube-controller-manager",
            &[self.services.world.service_namespace(svc)],
        )
    }

    /// A readiness change was written into the slice at once: the write's token and request.
    pub(super) fn slice_written_at_once(&mut self, svc: ServiceIdx) {
        let now = self.now();
        self.writer_bucket(Writer::EndpointSlice).when(now);
        self.rec.metrics.count("endpoint_slice_writes", 1);
        let req = ApiRequest {
            token: 0,
            verb: Verb::Update,
            level: LevelId::WORKLOAD_HIGH,
            flow: self.slice_flow(svc),
            stored: 0,
            returned: 0,
            notify: false,
        };
        self.api_submit(super::control_plane::Caller::Applied, req);
    }

    /// A readiness change waits for the controller: its sync is queued, unless one is.
    pub(super) fn slice_stale(&mut self, svc: ServiceIdx) {
        let st = self.controllers.endpoint_slices.of(svc);
        if st.pending {
            return;
        }
        st.pending = true;
        let batch = self
            .p()
            .controllers
            .endpoint_slice_updates_batch_period_seconds;
        if batch > 0.0 {
            self.engine.schedule_in(
                secs(batch),
                Ev::ControlPlane(ControlPlaneEv::SliceSync { svc }),
            );
        } else {
            self.slice_sync(svc);
        }
    }

    /// The Service's sync: the slice's write goes out.
    pub(super) fn slice_sync(&mut self, svc: ServiceIdx) {
        let ns = self.services.world.service_namespace(svc).to_string();
        self.api_write(Writer::EndpointSlice, &ns, Write::Slice { svc });
    }

    /// The slice's write was taken: routing follows the replicas Ready now.
    pub(super) fn slice_taken(&mut self, svc: ServiceIdx) {
        let st = self.controllers.endpoint_slices.of(svc);
        st.pending = false;
        st.failures = 0;
        self.rec.metrics.count("endpoint_slice_writes", 1);
        self.svc_call_with(SliceWrites::Immediate, |w, now, out| {
            w.write_slice(now, svc, out);
        });
    }

    /// The slice's write failed while the server serves: the delay before it is sent again
    /// (the work queue's per-Service backoff).
    pub(super) fn slice_retry_delay(&mut self, svc: ServiceIdx) -> Duration {
        let st = self.controllers.endpoint_slices.of(svc);
        st.failures += 1;
        let c = &self.sc.params.controllers;
        workqueue_item_delay(
            st.failures,
            Duration::from_secs_f64(c.endpoint_slice_sync_backoff_seconds),
            Duration::from_secs_f64(c.endpoint_slice_max_sync_backoff_seconds),
        )
    }
}
