//! The requests in flight, each a slot of a generational table ([`slotmap`]): a timer for a
//! request already finished (its slot reused) carries a stale key and finds nothing.
//!
//! A request has two ends, and each is closed exactly once: its origin is *answered* once (a
//! response, an error or its own timeout), and the server *leaves* it once (served, rejected,
//! shed, or lost with its process). The slot is freed when both are closed, and not before: a
//! client that timed out leaves the server holding the request, which it then serves for
//! nobody (the work a metastable overload wastes).

use crate::clients::ClientAttempt;
use crate::contract::{ReqId, ServiceIdx};
use crate::remote_write::Batch;
use cascade_engine::{Generation, Time};
use slotmap::SlotMap;

/// Who sent a request, and so who is answered.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    Client(ClientAttempt),
    RemoteWrite(Batch),
    /// Work the cluster itself submits (a Consul agent registering): no retry, nobody waits.
    Internal,
    /// A service's downstream call for the request `parent` it is serving (`attempt` 0 for
    /// the first try).
    Downstream(Downstream),
}

/// A downstream call attempt and where it is in its retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Downstream {
    pub(crate) parent: ReqId,
    /// The service serving `parent`, whose defences count the call (kept here: the parent's
    /// slot may be freed before the call's answer comes).
    pub(crate) caller: ServiceIdx,
    /// Which of the caller's `calls` (its position in the list; 0 for the one-call form).
    pub(crate) call: u16,
    pub(crate) attempt: u32,
    pub(crate) prev_delay: f64,
}

#[derive(Debug)]
pub(crate) struct Req {
    pub origin: Origin,
    pub svc: ServiceIdx,
    /// The replica serving or queueing it, and that replica's process generation then.
    pub replica: Option<(u32, Generation)>,
    pub arrived: Time,
    /// The origin has its answer (a response, an error or its own timeout).
    pub answered: bool,
    /// The server is done with it (served, rejected, shed or lost with its process).
    pub left: bool,
    /// Refused for want of endpoints.
    pub no_endpoints: bool,
    /// Refused at once by a listed endpoint whose process is gone (`Admission::Gone`).
    pub refused: bool,
    /// Rejected with 429 Too Many Requests (a service whose `rejectStatus` is 429).
    pub throttled: bool,
    /// Served, and answered with an error (a 500: a degradation's error rate, a failed
    /// downstream call): not a gateway failure to an outlier detector.
    pub server_error: bool,
    /// The replica picked for it, whatever became of it (for its caller's outlier
    /// detection; set only for calls that have it).
    pub host: Option<u32>,
    /// Its own work is done and its worker waits on its downstream calls (`calls`).
    pub calling: bool,
    /// Parallel calls (`fanOut: parallel`) not yet ended.
    pub calls_pending: u16,
    /// A parallel call that is not `optional` has failed: the request fails once the others
    /// have ended.
    pub calls_failed: bool,
    /// When its sender gives up on it (its attempt's timeout), if ever: what a service's
    /// calls with `propagateDeadline` pass on.
    pub deadline: Option<Time>,
    /// The deadline came with it (a call with `propagateDeadline`): the service does not
    /// start it once the deadline has passed.
    pub deadline_propagated: bool,
}

/// What the origin of an answered request needs to know.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    pub origin: Origin,
    pub svc: ServiceIdx,
    pub no_endpoints: bool,
    pub refused: bool,
    pub throttled: bool,
    pub server_error: bool,
    pub host: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    slots: SlotMap<ReqId, Req>,
}

impl Requests {
    /// A new request to `svc`, neither answered nor left.
    pub fn open(&mut self, now: Time, svc: ServiceIdx, origin: Origin) -> ReqId {
        self.slots.insert(Req {
            origin,
            svc,
            replica: None,
            arrived: now,
            answered: false,
            left: false,
            no_endpoints: false,
            refused: false,
            throttled: false,
            server_error: false,
            host: None,
            calling: false,
            calls_pending: 0,
            calls_failed: false,
            deadline: None,
            deadline_propagated: false,
        })
    }

    pub fn get(&self, id: ReqId) -> Option<&Req> {
        self.slots.get(id)
    }

    pub fn get_mut(&mut self, id: ReqId) -> Option<&mut Req> {
        self.slots.get_mut(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ReqId, &Req)> {
        self.slots.iter()
    }

    /// The request is placed in replica `replica` (of process generation `gen`).
    pub fn bind(&mut self, id: ReqId, replica: u32, gen: Generation) {
        if let Some(req) = self.slots.get_mut(id) {
            req.replica = Some((replica, gen));
        }
    }

    /// Closes the origin's end: what it needs to know, or None if it already has its answer
    /// (or the request is gone). Frees the slot if the server has left it too.
    pub fn answer(&mut self, id: ReqId) -> Option<Answer> {
        let req = self.slots.get_mut(id).filter(|r| !r.answered)?;
        req.answered = true;
        let a = Answer {
            origin: req.origin,
            svc: req.svc,
            no_endpoints: req.no_endpoints,
            refused: req.refused,
            throttled: req.throttled,
            server_error: req.server_error,
            host: req.host,
        };
        self.release_if_done(id);
        Some(a)
    }

    /// Closes the server's end. True if the origin still waits for its answer (the caller
    /// then answers it); false if it has it already or the request is gone (the slot is then
    /// freed).
    pub fn leave(&mut self, id: ReqId) -> bool {
        let Some(req) = self.slots.get_mut(id).filter(|r| !r.left) else {
            return false;
        };
        req.left = true;
        let waiting = !req.answered;
        self.release_if_done(id);
        waiting
    }

    fn release_if_done(&mut self, id: ReqId) {
        if self.slots.get(id).is_some_and(|r| r.answered && r.left) {
            self.slots.remove(id);
        }
    }
}
