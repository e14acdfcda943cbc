//! The discrete-event core: one simulated clock and one queue of events ordered by
//! (time, sequence number). Events at the same instant run in the order they were scheduled, so
//! a run is a pure function of its inputs and seed. No wall clock, no I/O, no knowledge of what
//! the events mean: models are state machines that the simulation feeds events to.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

/// Simulated time in microseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);

    pub fn from_secs_f64(s: f64) -> Time {
        Time((s.max(0.0) * 1e6).round() as u64)
    }
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1_000_000)
    }
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
    pub fn saturating_add(self, d: Time) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}

impl std::ops::Add for Time {
    type Output = Time;
    fn add(self, o: Time) -> Time {
        Time(self.0 + o.0)
    }
}

impl std::ops::Sub for Time {
    type Output = Time;
    fn sub(self, o: Time) -> Time {
        Time(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

struct Entry<E> {
    at: Time,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    // BinaryHeap is a max-heap: reverse so the earliest (time, seq) comes out first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// The event queue and the clock.
pub struct Engine<E> {
    now: Time,
    seq: u64,
    heap: BinaryHeap<Entry<E>>,
    processed: u64,
}

impl<E> Default for Engine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Engine<E> {
    pub fn new() -> Self {
        Engine {
            now: Time::ZERO,
            seq: 0,
            heap: BinaryHeap::new(),
            processed: 0,
        }
    }

    pub fn now(&self) -> Time {
        self.now
    }

    /// Events taken from the queue so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    pub fn pending(&self) -> usize {
        self.heap.len()
    }

    /// Schedules `event` at `at`; an instant in the past means now (time never runs backwards).
    pub fn schedule(&mut self, at: Time, event: E) {
        let at = at.max(self.now);
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    /// Schedules `event` after `delay`.
    pub fn schedule_in(&mut self, delay: Time, event: E) {
        self.schedule(self.now.saturating_add(delay), event);
    }

    /// The next event, advancing the clock to its time; None when the queue is empty or the next
    /// event is after `until` (the clock then stops at `until`).
    pub fn next_until(&mut self, until: Time) -> Option<(Time, E)> {
        match self.heap.peek() {
            Some(e) if e.at <= until => {
                let e = self.heap.pop().expect("peeked");
                self.now = e.at;
                self.processed += 1;
                Some((e.at, e.event))
            }
            _ => {
                self.now = self.now.max(until);
                None
            }
        }
    }

    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|e| e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_instant_runs_in_scheduling_order() {
        let mut e = Engine::new();
        e.schedule(Time::from_secs(1), "b");
        e.schedule(Time::from_secs(1), "c");
        e.schedule(Time::from_secs(0), "a");
        let horizon = Time::from_secs(100);
        let order: Vec<_> = std::iter::from_fn(|| e.next_until(horizon))
            .map(|(_, x)| x)
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(e.now(), horizon);
    }

    #[test]
    fn stops_at_the_horizon_and_never_goes_back() {
        let mut e = Engine::new();
        e.schedule(Time::from_secs(10), 1);
        assert!(e.next_until(Time::from_secs(5)).is_none());
        assert_eq!(e.now(), Time::from_secs(5));
        e.schedule(Time::from_secs(1), 2); // in the past: runs now
        assert_eq!(e.next_until(Time::MAX), Some((Time::from_secs(5), 2)));
    }

    proptest! {
        #[test]
        fn pops_in_time_then_sequence_order(times in prop::collection::vec(0u64..50, 0..200)) {
            let mut e = Engine::new();
            for (i, t) in times.iter().enumerate() {
                e.schedule(Time(*t), i);
            }
            let mut last = (Time::ZERO, 0usize);
            let mut first = true;
            while let Some((t, i)) = e.next_until(Time::MAX) {
                if !first {
                    prop_assert!(t > last.0 || (t == last.0 && i > last.1));
                }
                first = false;
                last = (t, i);
            }
            prop_assert_eq!(e.processed() as usize, times.len());
        }
    }
}
