//! What goes into the server and what comes out of it: the [`ApiRequest`] as it arrives, the
//! [`Answer`] each gets (with its [`Outcome`]), what becomes of the server itself
//! ([`ServerEvent`], [`State`]), and the [`Outbox`] that collects answers, events and the
//! [`ServerStats`] counters until the caller takes them.

use super::flow_schema::LevelId;
use crate::work::Verb;
use cascade_engine::{Duration, Time};

/// A request as the server receives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiRequest {
    /// The caller's handle, given back with the answer.
    pub token: u64,
    pub verb: Verb,
    /// Its FlowSchema's level.
    pub level: LevelId,
    /// Its flow ([`crate::queueset::flow_hash`] of its FlowSchema and distinguisher).
    pub flow: u64,
    /// Objects stored of its resource (the work estimate of a LIST).
    pub stored: u64,
    /// Objects it returns (a LIST's time and memory).
    pub returned: u64,
    /// The caller waits on the answer (it is given at the instant the request completes);
    /// otherwise the answer may come at any later call, stamped with its instant.
    pub notify: bool,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    /// HTTP 429 with `Retry-After`.
    TooManyRequests {
        retry_after: Duration,
    },
    /// No server listening (stopped or starting): the connection is refused.
    Refused,
    /// The server died while the request was in it: the connection is reset.
    Reset,
}

/// A request's answer, at the instant it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub token: u64,
    pub outcome: Outcome,
    pub at: Time,
}

/// What became of the server itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServerEvent {
    /// OOM-killed at `at` with this much memory in use: every watch on it is broken.
    OomKilled { at: Time, bytes: f64 },
    /// Stopped from outside (a fault): every watch on it is broken.
    Stopped { at: Time },
    /// Serving again.
    Started { at: Time },
}

/// Whether the server serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum State {
    Serving,
    /// Started, serving from `until`.
    Starting {
        until: Time,
    },
    Stopped,
}

/// Counters since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServerStats {
    pub requests: u64,
    pub rejected: u64,
    pub unavailable: u64,
    pub oom_kills: u64,
}

/// The answers and events given since the caller last took them, and the counters.
#[derive(Clone, Debug, Default)]
pub(super) struct Outbox {
    answers: Vec<Answer>,
    events: Vec<ServerEvent>,
    stats: ServerStats,
}

impl Outbox {
    pub(super) fn stats(&self) -> ServerStats {
        self.stats
    }

    /// A request arrived.
    pub(super) fn received(&mut self) {
        self.stats.requests += 1;
    }

    /// The request `token` completed at `at`.
    pub(super) fn ok(&mut self, at: Time, token: u64) {
        self.answers.push(Answer {
            token,
            outcome: Outcome::Ok,
            at,
        });
    }

    /// A 429 with `Retry-After`.
    pub(super) fn reject(&mut self, at: Time, token: u64, retry_after: Duration) {
        self.stats.rejected += 1;
        self.answers.push(Answer {
            token,
            outcome: Outcome::TooManyRequests { retry_after },
            at,
        });
    }

    /// Refused (no server listening) or reset (the server died under it).
    pub(super) fn unavailable(&mut self, at: Time, token: u64, outcome: Outcome) {
        self.stats.unavailable += 1;
        self.answers.push(Answer { token, outcome, at });
    }

    pub(super) fn event(&mut self, e: ServerEvent) {
        if matches!(e, ServerEvent::OomKilled { .. }) {
            self.stats.oom_kills += 1;
        }
        self.events.push(e);
    }

    pub(super) fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    pub(super) fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }
}
