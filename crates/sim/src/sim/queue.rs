//! kube-scheduler's scheduling queue (pkg/scheduler/backend/queue/scheduling_queue.go): the
//! active queue ordered by priority, then by when the pod was queued (PrioritySort's Less);
//! pods that failed an attempt parked as unschedulable (unschedulablePods) until a cluster
//! event moves them (MoveAllToActiveOrBackoffQueue) or they have waited
//! podMaxInUnschedulablePodsDuration (flushUnschedulablePodsLeftover); and the backoff, whose
//! expiry is a timer (flushBackoffQCompleted), doubling per attempt up to podMaxBackoff.
//!
//! The queue also paces the scheduler's loop (ScheduleOne): a pod entering an idle queue
//! starts a cycle at once, and while pods wait one cycle follows another.

use super::{secs, Ev, Generation, QueueEv};
use crate::params::QueueParams;
use cascade_engine::{Engine, Time};
use cascade_scheduler::{Cluster, PodId};
use std::collections::BTreeSet;

/// Where a pod is in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Queued {
    /// In no sub-queue: being scheduled, bound, terminating, or waiting for a bind.
    No,
    Active,
    Backoff,
    /// Parked since then.
    Unschedulable(Time),
}

/// kube-scheduler's QueuedPodInfo: what the queue knows of a pod.
#[derive(Clone, Debug)]
pub(super) struct QueuedPodInfo {
    /// The pod's priority (fixed at admission).
    priority: i32,
    /// Scheduling attempts so far, and when the last one started.
    attempts: u32,
    last_attempt: Time,
    /// QueuedPodInfo.Timestamp: when the pod was added to the queue, refreshed when a failed
    /// attempt puts it back (AddUnschedulableIfNotPresent). The active queue orders by
    /// priority, then by this.
    timestamp: i64,
    queued: Queued,
}

impl QueuedPodInfo {
    /// The pod's key in the active queue: higher priority first, then the older timestamp.
    fn key(&self, id: PodId) -> (i64, i64, PodId) {
        (-(self.priority as i64), self.timestamp, id)
    }
}

/// The scheduling queue of every live pod, by PodId.
#[derive(Clone, Debug)]
pub(super) struct SchedulingQueue {
    p: QueueParams,
    pods: Vec<Option<QueuedPodInfo>>,
    active: BTreeSet<(i64, i64, PodId)>,
    /// Pods parked as unschedulable (kube-scheduler's unschedulablePods), by id.
    unschedulable: BTreeSet<PodId>,
    /// A scheduling cycle is scheduled.
    cycle_pending: bool,
}

impl SchedulingQueue {
    pub fn new(p: QueueParams) -> Self {
        SchedulingQueue {
            p,
            pods: Vec::new(),
            active: BTreeSet::new(),
            unschedulable: BTreeSet::new(),
            cycle_pending: false,
        }
    }

    fn info(&self, id: PodId) -> Option<&QueuedPodInfo> {
        self.pods.get(id.idx()).and_then(Option::as_ref)
    }

    fn info_mut(&mut self, id: PodId) -> Option<&mut QueuedPodInfo> {
        self.pods.get_mut(id.idx()).and_then(Option::as_mut)
    }

    /// A new pod, created at `created_ms` (its first timestamp); not yet in any sub-queue.
    pub fn add(&mut self, id: PodId, priority: i32, created_ms: i64) {
        if self.pods.len() <= id.idx() {
            self.pods.resize(id.idx() + 1, None);
        }
        self.pods[id.idx()] = Some(QueuedPodInfo {
            priority,
            attempts: 0,
            last_attempt: Time::ZERO,
            timestamp: created_ms,
            queued: Queued::No,
        });
    }

    /// Scheduling attempts the pod has had.
    pub fn attempts(&self, id: PodId) -> u32 {
        self.info(id).map_or(0, |q| q.attempts)
    }

    /// Pods parked as unschedulable, by id.
    pub fn unschedulable(&self) -> impl Iterator<Item = PodId> + '_ {
        self.unschedulable.iter().copied()
    }

    /// Puts a pending pod in the active queue (a pod that is bound or terminating, or already
    /// there, stays where it is) and starts a cycle if none is coming.
    pub fn activate(&mut self, cluster: &Cluster, id: PodId, engine: &mut Engine<Ev>) {
        let e = cluster.pod(id);
        if e.node.is_some() || e.pod.terminating {
            return;
        }
        let Some(q) = self.info_mut(id) else {
            return;
        };
        if q.queued == Queued::Active {
            return;
        }
        q.queued = Queued::Active;
        let key = q.key(id);
        self.active.insert(key);
        if !self.cycle_pending {
            self.cycle_pending = true;
            engine.schedule(engine.now(), Ev::Queue(QueueEv::SchedulingCycle));
        }
    }

    /// The initial backoff doubled per attempt after the first, up to podMaxBackoff
    /// (getBackoffTime / calculateBackoffDuration).
    fn backoff(&self, attempts: u32) -> Time {
        let d = self.p.pod_initial_backoff_seconds
            * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
        secs(d.min(self.p.pod_max_backoff_seconds))
    }

    /// MoveAllToActiveOrBackoffQueue: a cluster event (a pod deleted, a node added) may have
    /// made room; unschedulable pods go back to the active queue, or to backoff if their
    /// backoff has not expired.
    pub fn move_all_to_active_or_backoff(&mut self, cluster: &Cluster, engine: &mut Engine<Ev>) {
        let waiting: Vec<PodId> = self.unschedulable.iter().copied().collect();
        for id in waiting {
            self.move_to_active_or_backoff(cluster, id, engine);
        }
    }

    fn move_to_active_or_backoff(&mut self, cluster: &Cluster, id: PodId, engine: &mut Engine<Ev>) {
        self.unschedulable.remove(&id);
        let Some(q) = self.info(id) else {
            return;
        };
        let until = q.last_attempt + self.backoff(q.attempts);
        let Some(q) = self.info_mut(id) else {
            return;
        };
        if until <= engine.now() {
            q.queued = Queued::No;
            self.activate(cluster, id, engine);
        } else {
            q.queued = Queued::Backoff;
            let attempt = q.attempts;
            engine.schedule(
                until,
                Ev::Queue(QueueEv::BackoffDone {
                    pod: id,
                    attempt: Generation::new(attempt),
                }),
            );
        }
    }

    /// A pod's backoff timer: it goes to the active queue if it is still backing off from
    /// that attempt.
    pub fn backoff_done(
        &mut self,
        cluster: &Cluster,
        id: PodId,
        attempt: Generation,
        engine: &mut Engine<Ev>,
    ) {
        let Some(q) = self.info_mut(id) else {
            return;
        };
        if q.queued == Queued::Backoff && Generation::new(q.attempts).is_current(attempt) {
            q.queued = Queued::No;
            self.activate(cluster, id, engine);
        }
    }

    /// AddUnschedulableIfNotPresent: the attempt failed; the pod waits for a cluster event,
    /// queued again from now (`now_ms` on the wall clock).
    pub fn park_unschedulable(&mut self, id: PodId, now: Time, now_ms: i64) {
        let Some(q) = self.info_mut(id) else {
            return;
        };
        q.queued = Queued::Unschedulable(now);
        q.timestamp = now_ms;
        self.unschedulable.insert(id);
    }

    /// Pop: the scheduling cycle takes the head of the active queue (None when it is
    /// empty). The attempt is counted only for a pod that still exists (see `attempt`).
    pub fn pop(&mut self) -> Option<PodId> {
        self.cycle_pending = false;
        let head = self.active.pop_first()?;
        Some(head.2)
    }

    /// The popped pod's attempt starts now.
    pub fn attempt(&mut self, id: PodId, now: Time) {
        if let Some(q) = self.info_mut(id) {
            q.queued = Queued::No;
            q.attempts += 1;
            q.last_attempt = now;
        }
    }

    /// The scheduler cannot bind (the API server does not serve): no cycle until
    /// [`SchedulingQueue::resume`].
    pub fn pause(&mut self) {
        self.cycle_pending = false;
    }

    /// The API server serves again: a cycle now if pods wait.
    pub fn resume(&mut self, engine: &mut Engine<Ev>) {
        if !self.active.is_empty() && !self.cycle_pending {
            self.cycle_pending = true;
            engine.schedule(engine.now(), Ev::Queue(QueueEv::SchedulingCycle));
        }
    }

    /// After a cycle: the next one, a cycle's time later, while pods wait.
    pub fn next_cycle(&mut self, engine: &mut Engine<Ev>) {
        if !self.active.is_empty() && !self.cycle_pending {
            self.cycle_pending = true;
            engine.schedule_in(
                secs(self.p.scheduling_cycle_seconds),
                Ev::Queue(QueueEv::SchedulingCycle),
            );
        }
    }

    /// The pod is terminating: out of every sub-queue (its attempts are kept).
    pub fn remove(&mut self, id: PodId) {
        if let Some(q) = self.pods.get_mut(id.idx()).and_then(Option::as_mut) {
            if q.queued == Queued::Active {
                self.active.remove(&q.key(id));
            }
            q.queued = Queued::No;
        }
        self.unschedulable.remove(&id);
    }

    /// The pod is gone: the queue forgets it (a stale backoff timer then finds nothing).
    pub fn forget(&mut self, id: PodId) {
        if let Some(q) = self.pods.get_mut(id.idx()) {
            *q = None;
        }
        self.unschedulable.remove(&id);
    }

    /// flushUnschedulablePodsLeftover: pods parked longer than
    /// podMaxInUnschedulablePodsDuration go back; then the next flush is scheduled.
    pub fn flush_unschedulable(&mut self, cluster: &Cluster, engine: &mut Engine<Ev>) {
        let limit = secs(self.p.pod_max_in_unschedulable_pods_seconds);
        let now = engine.now();
        let stale: Vec<PodId> = self
            .unschedulable
            .iter()
            .copied()
            .filter(|id| match self.info(*id).map(|q| q.queued) {
                Some(Queued::Unschedulable(since)) => since + limit <= now,
                _ => false,
            })
            .collect();
        for id in stale {
            self.move_to_active_or_backoff(cluster, id, engine);
        }
        engine.schedule_in(
            secs(self.p.unschedulable_flush_interval_seconds),
            Ev::Queue(QueueEv::FlushUnschedulable),
        );
    }

    /// Each active pod appears exactly once, under its current key; the unschedulable set is
    /// exactly the pods whose state says so; a non-empty active queue has a cycle coming.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut active = 0;
        for (i, q) in self.pods.iter().enumerate() {
            let Some(q) = q else { continue };
            let id = PodId::at(i);
            if q.queued == Queued::Active {
                active += 1;
                if !self.active.contains(&q.key(id)) {
                    return Err(format!(
                        "pod {id} is active but not under its key {:?}",
                        q.key(id)
                    ));
                }
            }
            let parked = matches!(q.queued, Queued::Unschedulable(_));
            if parked != self.unschedulable.contains(&id) {
                return Err(format!(
                    "pod {id} is {:?} but {}in the unschedulable set",
                    q.queued,
                    if parked { "not " } else { "" }
                ));
            }
        }
        if active != self.active.len() {
            return Err(format!(
                "{} entries in the active queue for {active} active pods",
                self.active.len()
            ));
        }
        if let Some(id) = self
            .unschedulable
            .iter()
            .find(|id| self.info(**id).is_none())
        {
            return Err(format!("unschedulable pod {id} is unknown to the queue"));
        }
        if !self.active.is_empty() && !self.cycle_pending {
            return Err("pods are active but no scheduling cycle is coming".into());
        }
        Ok(())
    }
}

/// In the manner of kube-scheduler's scheduling_queue_test.go: pods through the queue, the
/// timers it sets, and its invariants after every step.
#[cfg(test)]
mod tests {
    use super::*;
    use cascade_model::Pod;

    /// A cluster with pending pods (name, priority, creation time in ms), all known to a
    /// queue with default parameters.
    fn setup(pods: &[(&str, i32, i64)]) -> (Cluster, SchedulingQueue, Vec<PodId>) {
        let mut c = Cluster::new();
        let mut q = SchedulingQueue::new(QueueParams::default());
        let mut ids = Vec::new();
        for &(name, priority, created) in pods {
            let mut p = Pod::new("default", name, 100, 1 << 20);
            p.priority = priority;
            p.creation_timestamp = created;
            let id = c.add_pending_pod(p).expect("pod");
            q.add(id, priority, created);
            ids.push(id);
        }
        (c, q, ids)
    }

    /// Runs the engine to `t`, returning the events due by then.
    fn run_until(e: &mut Engine<Ev>, t: Time) -> Vec<(Time, Ev)> {
        e.schedule(t, Ev::Sample);
        let mut out = Vec::new();
        while let Some((at, ev)) = e.next_until(t) {
            if !matches!(ev, Ev::Sample) {
                out.push((at, ev));
            }
        }
        out
    }

    /// Pops the head and counts the attempt at the engine's time.
    fn pop_attempt(q: &mut SchedulingQueue, e: &Engine<Ev>) -> Option<PodId> {
        let id = q.pop()?;
        q.attempt(id, e.now());
        Some(id)
    }

    #[test]
    fn pop_orders_by_priority_then_timestamp() {
        let (c, mut q, ids) =
            setup(&[("low", 1, 0), ("high-late", 10, 20), ("high-early", 10, 10)]);
        let mut e = Engine::new();
        for &id in &ids {
            q.activate(&c, id, &mut e);
            q.check_invariants().unwrap();
        }
        // One cycle for the whole burst, at once.
        let events = run_until(&mut e, Time::ZERO);
        assert_eq!(events.len(), 1);
        assert!(matches!(
            events[0],
            (Time::ZERO, Ev::Queue(QueueEv::SchedulingCycle))
        ));
        let order: Vec<PodId> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![ids[2], ids[1], ids[0]]);
    }

    #[test]
    fn activating_twice_queues_once() {
        let (c, mut q, ids) = setup(&[("a", 0, 0)]);
        let mut e = Engine::new();
        q.activate(&c, ids[0], &mut e);
        q.activate(&c, ids[0], &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.pop(), Some(ids[0]));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn bound_or_terminating_pods_are_not_activated() {
        let (mut c, mut q, ids) = setup(&[("a", 0, 0), ("b", 0, 1)]);
        let mut e = Engine::new();
        c.set_terminating(ids[0]);
        q.activate(&c, ids[0], &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.pop(), None);
        assert!(run_until(&mut e, Time::ZERO).is_empty());
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_max() {
        let q = SchedulingQueue::new(QueueParams::default());
        let got: Vec<f64> = [1, 2, 3, 4, 5, 50]
            .map(|a| q.backoff(a).as_secs_f64())
            .to_vec();
        assert_eq!(got, vec![1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
    }

    #[test]
    fn a_cluster_event_within_the_backoff_moves_the_pod_to_backoff() {
        let (c, mut q, ids) = setup(&[("a", 0, 0)]);
        let a = ids[0];
        let mut e = Engine::new();
        q.activate(&c, a, &mut e);
        run_until(&mut e, Time::ZERO);
        assert_eq!(pop_attempt(&mut q, &e), Some(a));
        q.park_unschedulable(a, e.now(), 0);
        q.check_invariants().unwrap();
        assert_eq!(q.unschedulable().collect::<Vec<_>>(), vec![a]);
        // A node is added half a second later: the first backoff (1 s) has not expired.
        run_until(&mut e, secs(0.5));
        q.move_all_to_active_or_backoff(&c, &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.unschedulable().count(), 0);
        assert_eq!(q.pop(), None);
        let events = run_until(&mut e, secs(5.0));
        assert_eq!(events.len(), 1);
        let (at, Ev::Queue(QueueEv::BackoffDone { pod, attempt })) = events[0].clone() else {
            panic!("expected a backoff timer, got {events:?}");
        };
        assert_eq!((at, pod, attempt), (secs(1.0), a, Generation::new(1)));
        q.backoff_done(&c, pod, attempt, &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.pop(), Some(a));
    }

    #[test]
    fn a_cluster_event_after_the_backoff_activates_the_pod() {
        let (c, mut q, ids) = setup(&[("a", 0, 0)]);
        let a = ids[0];
        let mut e = Engine::new();
        q.activate(&c, a, &mut e);
        run_until(&mut e, Time::ZERO);
        pop_attempt(&mut q, &e);
        q.park_unschedulable(a, e.now(), 0);
        run_until(&mut e, secs(3.0));
        q.move_all_to_active_or_backoff(&c, &mut e);
        q.check_invariants().unwrap();
        let events = run_until(&mut e, secs(3.0));
        assert!(matches!(events[..], [(t, Ev::Queue(QueueEv::SchedulingCycle))] if t == secs(3.0)));
        assert_eq!(q.pop(), Some(a));
    }

    #[test]
    fn a_stale_backoff_timer_is_ignored() {
        let (c, mut q, ids) = setup(&[("a", 0, 0)]);
        let a = ids[0];
        let mut e = Engine::new();
        q.activate(&c, a, &mut e);
        pop_attempt(&mut q, &e);
        q.park_unschedulable(a, e.now(), 0);
        q.move_all_to_active_or_backoff(&c, &mut e);
        // A timer from another attempt does nothing; nor does the right one once the pod is
        // terminating.
        q.backoff_done(&c, a, Generation::new(7), &mut e);
        assert_eq!(q.pop(), None);
        q.remove(a);
        q.backoff_done(&c, a, Generation::new(1), &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.pop(), None);
        // Nor once it is gone.
        q.forget(a);
        q.backoff_done(&c, a, Generation::new(1), &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.attempts(a), 0);
    }

    #[test]
    fn a_requeued_pod_goes_behind_pods_of_its_priority_queued_earlier() {
        let (c, mut q, ids) = setup(&[("a", 0, 0), ("b", 0, 500)]);
        let (a, b) = (ids[0], ids[1]);
        let mut e = Engine::new();
        q.activate(&c, a, &mut e);
        assert_eq!(pop_attempt(&mut q, &e), Some(a));
        // a fails at wall time 1000 ms: queued again from then, after b (500).
        q.park_unschedulable(a, e.now(), 1000);
        q.activate(&c, b, &mut e);
        run_until(&mut e, secs(2.0));
        q.move_all_to_active_or_backoff(&c, &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.pop(), Some(b));
        assert_eq!(q.pop(), Some(a));
    }

    #[test]
    fn flush_moves_only_pods_parked_too_long() {
        let (c, mut q, ids) = setup(&[("old", 0, 0), ("young", 0, 1)]);
        let (old, young) = (ids[0], ids[1]);
        let mut e = Engine::new();
        q.activate(&c, old, &mut e);
        q.activate(&c, young, &mut e);
        pop_attempt(&mut q, &e);
        q.park_unschedulable(old, e.now(), 0);
        run_until(&mut e, secs(200.0));
        pop_attempt(&mut q, &e);
        q.park_unschedulable(young, e.now(), 200_000);
        run_until(&mut e, secs(300.0));
        q.flush_unschedulable(&c, &mut e);
        q.check_invariants().unwrap();
        assert_eq!(q.unschedulable().collect::<Vec<_>>(), vec![young]);
        assert_eq!(q.pop(), Some(old));
        // The next flush is due after the flush interval.
        let events = run_until(&mut e, secs(400.0));
        assert!(events.iter().any(
            |(t, ev)| *t == secs(330.0) && matches!(ev, Ev::Queue(QueueEv::FlushUnschedulable))
        ));
    }

    #[test]
    fn the_invariants_catch_a_pod_parked_twice_over() {
        let (_, mut q, ids) = setup(&[("a", 0, 0)]);
        q.unschedulable.insert(ids[0]);
        assert!(q.check_invariants().is_err());
    }
}
