//! The requests executing: each with its seats, its response's memory and the instant it
//! completes (fixed when it starts, its service time stretched by the CPU share it gets,
//! `cost.rs`). [`Executing`] owns them and the two completion orders: every request's, and
//! only those whose caller waits on the answer, so that answers nobody waits on (a Lease
//! renewal) complete lazily at the server's next call and ask for no wake-up of their own.

use super::cost::Costed;
use super::flow_schema::LevelId;
use crate::queueset::Dispatched;
use cascade_engine::Time;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A request executing.
#[derive(Clone, Copy, Debug)]
pub(super) struct Running {
    pub(super) token: u64,
    pub(super) level: LevelId,
    pub(super) seats: u32,
    pub(super) mutating: bool,
    pub(super) bytes: f64,
    /// Its queue set's handle, when a level's queues dispatched it.
    pub(super) dispatched: Option<Dispatched>,
    /// It got a whole CPU when it started.
    pub(super) full_speed: bool,
}

/// The requests executing, numbered in the order they started.
#[derive(Clone, Debug, Default)]
pub(super) struct Executing {
    /// Each with whether its caller waits on its answer.
    running: BTreeMap<u64, (Running, bool)>,
    /// Every running request by completion instant; and those whose caller waits on them.
    completions: BinaryHeap<Reverse<(Time, u64)>>,
    notify: BinaryHeap<Reverse<(Time, u64)>>,
    next_id: u64,
}

impl Executing {
    /// `w` starts at `now` with `cpus` CPUs shared among every request executing; the
    /// request it is running as.
    pub(super) fn start(
        &mut self,
        now: Time,
        w: &Costed,
        dispatched: Option<Dispatched>,
        cpus: f64,
    ) -> Running {
        let id = self.next_id;
        self.next_id += 1;
        let (service, full_speed) = w.service_time(self.running.len() + 1, cpus);
        let done = now.after(service);
        let r = Running {
            token: w.req.token,
            level: w.req.level,
            seats: w.seats,
            mutating: w.req.verb.is_mutating(),
            bytes: w.bytes,
            dispatched,
            full_speed,
        };
        self.running.insert(id, (r, w.req.notify));
        self.completions.push(Reverse((done, id)));
        if w.req.notify {
            self.notify.push(Reverse((done, id)));
        }
        r
    }

    /// The earliest completion pending.
    pub(super) fn next_completion(&self) -> Option<Time> {
        self.completions.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest completion pending leaves the server: the request that completed.
    pub(super) fn complete_next(&mut self) -> Option<Running> {
        let Reverse((_, id)) = self.completions.pop()?;
        self.running.remove(&id).map(|(r, _)| r)
    }

    /// The earliest completion a caller waits on, dropping those of requests gone or no
    /// longer waited on.
    pub(super) fn next_notified(&mut self) -> Option<Time> {
        while let Some(Reverse((_, id))) = self.notify.peek() {
            if self.running.get(id).is_some_and(|(_, notify)| *notify) {
                break;
            }
            self.notify.pop();
        }
        self.notify.peek().map(|Reverse((at, _))| *at)
    }

    /// The requests that completed by `now` but that no call has released yet.
    pub(super) fn completed_by(&self, now: Time) -> impl Iterator<Item = &Running> {
        self.completions
            .iter()
            .filter(move |Reverse((at, _))| *at <= now)
            .filter_map(|Reverse((_, id))| self.running.get(id).map(|(r, _)| r))
    }

    /// Whether the last request started is `token`'s, and runs at full speed.
    pub(super) fn last_at_full_speed(&self, token: u64) -> bool {
        self.running
            .values()
            .next_back()
            .is_some_and(|(r, _)| r.token == token && r.full_speed)
    }

    /// Nobody waits on the answer of `token` (the latest request with it) any more.
    pub(super) fn answer_lazily(&mut self, token: u64) {
        if let Some((_, notify)) = self
            .running
            .values_mut()
            .rev()
            .find(|(r, _)| r.token == token)
        {
            *notify = false;
        }
    }

    /// The process is gone: every request executing, in the order they started.
    pub(super) fn take_all(&mut self) -> Vec<Running> {
        self.completions.clear();
        self.notify.clear();
        std::mem::take(&mut self.running)
            .into_values()
            .map(|(r, _)| r)
            .collect()
    }
}
