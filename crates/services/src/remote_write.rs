//! Fleets of Prometheus servers shipping samples with remote_write
//! (prometheus/storage/remote/queue_manager.go, 2019; see docs/cortex-and-prometheus.md): each
//! server appends samples to its WAL, its shards send them in batches, a failed batch is
//! retried on a backoff until it succeeds, and the queue manager recomputes the shard count
//! from the rates it sees (`calculateDesiredShards`).

use crate::backoff;
use crate::config::{Backoff, RemoteWriteSpec};
use crate::contract::{secs, FleetIdx, Out, ServiceIdx, SvcEv};
use cascade_engine::Time;
use cascade_model::Rng;

/// A remote_write batch and where its shard is in retrying it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Batch {
    pub(crate) rw: FleetIdx,
    pub(crate) server: u32,
    pub(crate) samples: u32,
    /// When the shard first sent it: the send's duration, retries included, is what the
    /// shard calculation sees.
    first_sent: Time,
    /// Attempts so far after the first.
    pub(crate) attempt: u32,
    /// The last backoff delay (for decorrelated jitter).
    pub(crate) prev_delay: f64,
}

#[derive(Debug, Default)]
pub(crate) struct RwServer {
    pub shards: u32,
    /// Shards with a batch out (in flight or waiting out a backoff).
    pub busy: u32,
    /// Samples in the WAL not yet taken by a shard.
    pub pending: f64,
    last_fill: Time,
    wake_gen: u32,
    wake_at: Option<Time>,
    // Counters since the last shard update, and their EWMA rates (queue_manager.go's
    // samplesIn, samplesOut, samplesOutDuration).
    in_count: f64,
    out_count: f64,
    out_duration: f64,
    in_rate: Option<f64>,
    out_rate: Option<f64>,
    duration_rate: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct RwFleet {
    pub name: String,
    pub spec: RemoteWriteSpec,
    pub target: ServiceIdx,
    pub servers: Vec<RwServer>,
    pub requests: u64,
    pub failed: u64,
    pub samples_written: f64,
    pub samples_lost: f64,
    /// Requests sent and failed since the last sample.
    pub interval_requests: u64,
    pub interval_failed: u64,
    /// The most shards the fleet's servers ran at once, in all (`peaks.{fleet}_shards`, the
    /// largest value its `{fleet}_shards` column could show).
    pub peak_shards: u32,
}

/// What a shard does after an answer.
pub(crate) enum Next {
    /// Its batch is done with: the server's idle shards look for work.
    TrySend,
    /// Refused for want of endpoints: it waits for them.
    Park,
    /// It resends the batch after its backoff (scheduled).
    Retry,
}

/// Every remote_write fleet of a run.
#[derive(Debug, Default)]
pub(crate) struct RemoteWrite {
    fleets: Vec<RwFleet>,
}

impl RemoteWrite {
    /// `targets`: each fleet's service, resolved by [`crate::validate`].
    pub fn new<'a>(
        specs: impl Iterator<Item = (&'a String, &'a RemoteWriteSpec)>,
        targets: &[ServiceIdx],
    ) -> RemoteWrite {
        let fleets = specs
            .zip(targets)
            .map(|((name, spec), &target)| RwFleet {
                name: name.clone(),
                target,
                servers: (0..spec.servers)
                    .map(|_| RwServer {
                        shards: spec.min_shards,
                        ..RwServer::default()
                    })
                    .collect(),
                spec: spec.clone(),
                requests: 0,
                failed: 0,
                samples_written: 0.0,
                samples_lost: 0.0,
                interval_requests: 0,
                interval_failed: 0,
                peak_shards: spec.servers.saturating_mul(spec.min_shards),
            })
            .collect();
        RemoteWrite { fleets }
    }

    pub fn is_empty(&self) -> bool {
        self.fleets.is_empty()
    }

    pub fn len(&self) -> usize {
        self.fleets.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RwFleet> {
        self.fleets.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut RwFleet> {
        self.fleets.iter_mut()
    }

    pub fn servers(&self, rw: FleetIdx) -> u32 {
        cascade_engine::index_u32(self.fleets[rw.ix()].servers.len())
    }

    pub fn backoff(&self, rw: FleetIdx) -> &Backoff {
        &self.fleets[rw.ix()].spec.backoff
    }

    /// Retries refused while parked, counted when the shard is unparked.
    pub fn count_refused(&mut self, rw: FleetIdx, refused: u64) {
        let fleet = &mut self.fleets[rw.ix()];
        fleet.requests += refused;
        fleet.failed += refused;
    }

    /// The first timers: each fleet's shard updates, and each server's first wake after a
    /// random part of a batch (servers start out of step).
    pub fn start(&mut self, now: Time, rng: &mut Rng, out: &mut Out) {
        for (f, fleet) in self.fleets.iter_mut().enumerate() {
            let rw = FleetIdx::at(f);
            for s in &mut fleet.servers {
                s.last_fill = now;
            }
            out.at(
                now + secs(fleet.spec.shard_update_seconds),
                SvcEv::UpdateShards { rw },
            );
            for (server, s) in fleet.servers.iter_mut().enumerate() {
                let fill = f64::from(fleet.spec.max_samples_per_send)
                    / fleet.spec.samples_per_second.max(1e-9);
                let first = now + secs(rng.unit() * fill);
                s.wake_at = Some(first);
                out.at(
                    first,
                    SvcEv::ServerWake {
                        rw,
                        server: cascade_engine::index_u32(server),
                        gen: 0,
                    },
                );
            }
        }
    }

    /// Appends the samples scraped since the last look to the server's WAL backlog; what the
    /// WAL no longer holds (older than its retention) is lost.
    pub fn fill(&mut self, now: Time, rw: FleetIdx, server: u32) {
        let fleet = &mut self.fleets[rw.ix()];
        let s = &mut fleet.servers[server as usize];
        let dt = (now - s.last_fill).as_secs_f64();
        let added = fleet.spec.samples_per_second * dt;
        s.pending += added;
        s.in_count += added;
        s.last_fill = now;
        // With the WAL (Prometheus 2.8+) unsent samples wait on disk until truncation; without
        // it they wait in the shards' in-memory queues, and what does not fit is dropped.
        let kept = if fleet.spec.wal {
            fleet.spec.samples_per_second * fleet.spec.wal_retention_seconds
        } else {
            f64::from(fleet.spec.capacity) * f64::from(s.shards)
        };
        if s.pending > kept {
            fleet.samples_lost += s.pending - kept;
            s.pending = kept;
        }
    }

    /// Every server's WAL brought up to now.
    pub fn fill_all(&mut self, now: Time) {
        for f in 0..self.fleets.len() {
            let rw = FleetIdx::at(f);
            for server in 0..self.servers(rw) {
                self.fill(now, rw, server);
            }
        }
    }

    /// The wake of an idle shard: false if a later wake superseded it.
    pub fn woken(&mut self, rw: FleetIdx, server: u32, gen: u32) -> bool {
        let s = &mut self.fleets[rw.ix()].servers[server as usize];
        if s.wake_gen != gen {
            return false;
        }
        s.wake_at = None;
        true
    }

    /// An idle shard takes a full batch, or a partial one once the batch deadline is due
    /// (`deadline_due`): the batch to send, if any.
    pub fn take_batch(
        &mut self,
        now: Time,
        rw: FleetIdx,
        server: u32,
        deadline_due: bool,
    ) -> Option<Batch> {
        let batch = f64::from(self.fleets[rw.ix()].spec.max_samples_per_send);
        let s = &mut self.fleets[rw.ix()].servers[server as usize];
        if s.busy >= s.shards {
            return None;
        }
        let n = if s.pending >= batch {
            batch
        } else if deadline_due && s.pending >= 1.0 {
            s.pending.floor()
        } else {
            return None;
        };
        s.pending -= n;
        s.busy += 1;
        Some(Batch {
            rw,
            server,
            samples: whole_samples(n),
            first_sent: now,
            attempt: 0,
            prev_delay: 0.0,
        })
    }

    /// An idle shard waits for a full batch or the deadline, whichever comes first.
    pub fn schedule_wake(&mut self, now: Time, rw: FleetIdx, server: u32, out: &mut Out) {
        let fleet = &mut self.fleets[rw.ix()];
        let spec = &fleet.spec;
        let batch = f64::from(spec.max_samples_per_send);
        let s = &mut fleet.servers[server as usize];
        if s.busy < s.shards {
            let fill = (batch - s.pending).max(0.0) / spec.samples_per_second.max(1e-9);
            let at = now + secs(fill.min(spec.batch_send_deadline_seconds)).max(Time(1));
            if s.wake_at.is_none_or(|w| w <= now || w > at) {
                s.wake_gen = s.wake_gen.wrapping_add(1);
                s.wake_at = Some(at);
                out.at(
                    at,
                    SvcEv::ServerWake {
                        rw,
                        server,
                        gen: s.wake_gen,
                    },
                );
            }
        } else {
            s.wake_at = None;
        }
    }

    /// A batch goes out (first send or retry): counted, and sent to the returned service with
    /// the returned timeout.
    pub fn count_send(&mut self, rw: FleetIdx) -> (ServiceIdx, f64) {
        let fleet = &mut self.fleets[rw.ix()];
        fleet.requests += 1;
        fleet.interval_requests += 1;
        (fleet.target, fleet.spec.remote_timeout_seconds)
    }

    /// The outcome of a batch's attempt. `throttled`: a 429; `refused`: refused for want of
    /// endpoints by a service that still has none.
    #[allow(clippy::too_many_arguments)]
    pub fn answered(
        &mut self,
        now: Time,
        batch: Batch,
        ok: bool,
        throttled: bool,
        refused: bool,
        rng: &mut Rng,
        out: &mut Out,
    ) -> Next {
        let fleet = &mut self.fleets[batch.rw.ix()];
        let samples = f64::from(batch.samples);
        if ok {
            fleet.samples_written += samples;
        } else if throttled && !fleet.spec.retry_on_http_429 {
            // Before Prometheus 2.26 a 429 was not recoverable: the batch is dropped (counted
            // as sent for the shard calculation, as sendSamples does).
            fleet.failed += 1;
            fleet.interval_failed += 1;
            fleet.samples_lost += samples;
        } else {
            fleet.failed += 1;
            fleet.interval_failed += 1;
            if refused {
                return Next::Park;
            }
            // 5xx and timeouts are recoverable: the shard retries the same batch until it
            // succeeds (queue_manager.go sendSamplesWithBackoff).
            let d = backoff::delay(
                &fleet.spec.backoff,
                batch.attempt + 1,
                batch.prev_delay,
                rng,
            );
            out.at(
                now + secs(d),
                SvcEv::ShardRetry(Batch {
                    attempt: batch.attempt + 1,
                    prev_delay: d,
                    ..batch
                }),
            );
            return Next::Retry;
        }
        let s = &mut fleet.servers[batch.server as usize];
        s.busy = s.busy.saturating_sub(1);
        s.out_count += samples;
        s.out_duration += (now - batch.first_sent).as_secs_f64();
        Next::TrySend
    }

    /// `calculateDesiredShards` (queue_manager.go, 2019) for one server: from EWMA rates of
    /// samples in, samples out and time spent sending (retries included), the shards needed
    /// to keep up plus a catch-up term for the backlog; changes within the tolerance are
    /// ignored. True if the shard count changed.
    pub fn update_shards(&mut self, now: Time, rw: FleetIdx, server: u32) -> bool {
        self.fill(now, rw, server);
        let fleet = &mut self.fleets[rw.ix()];
        let spec = &fleet.spec;
        let s = &mut fleet.servers[server as usize];
        let interval = spec.shard_update_seconds.max(1e-9);
        let ewma = |rate: &mut Option<f64>, count: f64| {
            let inst = count / interval;
            *rate = Some(match *rate {
                None => inst,
                Some(r) => spec.ewma_weight * inst + (1.0 - spec.ewma_weight) * r,
            });
        };
        ewma(&mut s.in_rate, s.in_count);
        ewma(&mut s.out_rate, s.out_count);
        ewma(&mut s.duration_rate, s.out_duration);
        s.in_count = 0.0;
        s.out_count = 0.0;
        s.out_duration = 0.0;
        let out_rate = s.out_rate.unwrap_or(0.0);
        // "We haven't sent any samples yet": nothing to base a decision on.
        if out_rate <= 0.0 {
            return false;
        }
        let time_per_sample = s.duration_rate.unwrap_or(0.0) / out_rate;
        let catch_up = spec.pending_gain * s.pending / interval;
        let desired = time_per_sample * (s.in_rate.unwrap_or(0.0) + catch_up);
        let current = f64::from(s.shards);
        let lower = current * (1.0 - spec.shard_tolerance_fraction);
        let upper = current * (1.0 + spec.shard_tolerance_fraction);
        if desired >= lower && desired <= upper {
            return false;
        }
        // Prometheus' own `int(math.Ceil(desired))`, then clamped; the cast saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let shards = (desired.ceil() as u32).clamp(spec.min_shards, spec.max_shards);
        s.shards = shards;
        // The fleet's shards in all, as its metrics.csv column counts them, so that the
        // summary's peak is the same figure at every instant, not only at the samples.
        let total: u32 = fleet.servers.iter().map(|s| s.shards).sum();
        fleet.peak_shards = fleet.peak_shards.max(total);
        true
    }

    /// The next shard update of the fleet.
    pub fn schedule_update(&self, now: Time, rw: FleetIdx, out: &mut Out) {
        let every = secs(self.fleets[rw.ix()].spec.shard_update_seconds);
        out.at(now + every, SvcEv::UpdateShards { rw });
    }
}

/// A batch's size: `n` is whole and at most `max_samples_per_send`, a u32, so the saturating
/// cast is exact.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole_samples(n: f64) -> u32 {
    n as u32
}
