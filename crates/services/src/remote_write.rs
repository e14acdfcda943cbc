//! Fleets of Prometheus servers shipping samples with remote_write
//! (prometheus/storage/remote/queue_manager.go, 2019; see docs/cortex-and-prometheus.md): each
//! server appends samples to its WAL, its shards send them in batches, a failed batch is
//! retried on a backoff until it succeeds, and the queue manager recomputes the shard count
//! from the rates it sees (`calculateDesiredShards`, in the form of the fleet's
//! `prometheusVersion`). Every change of shard count stops the old shards and waits for them
//! to flush, up to the flush deadline, before the new ones start (`reshardLoop`,
//! `shards.stop`).

mod desired_shards;

use crate::backoff;
use crate::config::{Backoff, RemoteWriteSpec};
use crate::contract::{secs, FleetIdx, Out, ServiceIdx, SvcEv};
use cascade_engine::{Generation, Time};
use cascade_model::Rng;
use desired_shards::{desired_shards, ShardInputs};

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
    /// The server's shards it was taken by: a hard shutdown of those shards abandons it.
    epoch: Generation,
    /// The WAL position just past its last sample: what the server has sent up to once it
    /// succeeds (queue_manager.go's highest sent timestamp).
    end: f64,
}

/// One Prometheus server's queue manager: its shards, its WAL and what it has measured.
#[derive(Debug, Default)]
pub(crate) struct RwServer {
    pub shards: u32,
    /// Shards with a batch out (in flight or waiting out a backoff).
    pub busy: u32,
    pub wal: Wal,
    /// The idle shards' wake-up: when, and the generation that keeps only the latest.
    wake_gen: Generation,
    wake_at: Option<Time>,
    rates: Rates,
    reshard: Reshard,
}

/// The write-ahead log as the shards read it: positions in samples since the server started.
#[derive(Debug, Default)]
pub(crate) struct Wal {
    /// Samples in the WAL not yet taken by a shard.
    pub pending: f64,
    last_fill: Time,
    /// When the server started scraping (`startSeconds`).
    start: Time,
    /// Samples appended to the WAL since the start (the newest one's position).
    received: f64,
    /// The WAL reader's position: samples taken into batches or lost to truncation.
    read: f64,
    /// The position past the newest sample sent successfully (`highestSentTimestamp`: the
    /// delay behind the WAL is `received - sent_upto` over the scrape rate).
    sent_upto: f64,
    /// Samples in batches that are out (in flight, backing off or parked).
    in_flight: f64,
}

/// What the shard calculation measures between shard updates, and its EWMA rates
/// (queue_manager.go's samplesIn, samplesOut, samplesOutDuration).
#[derive(Debug, Default)]
struct Rates {
    /// `received` at the last shard update (the samples in since then).
    in_mark: f64,
    out_count: f64,
    out_duration: f64,
    in_rate: Option<f64>,
    out_rate: Option<f64>,
    duration_rate: Option<f64>,
    /// The last successful send (`lastSendTimestamp`, v2.14+).
    last_success: Option<Time>,
}

impl Rates {
    /// A shard update: the counts since the last one folded into the EWMA rates
    /// (`spec.ewma_weight`), the counts restarted.
    fn update(&mut self, spec: &RemoteWriteSpec, received: f64) {
        let interval = spec.shard_update_seconds.max(1e-9);
        let ewma = |rate: &mut Option<f64>, count: f64| {
            let inst = count / interval;
            *rate = Some(match *rate {
                None => inst,
                Some(r) => spec.ewma_weight * inst + (1.0 - spec.ewma_weight) * r,
            });
        };
        ewma(&mut self.in_rate, received - self.in_mark);
        self.in_mark = received;
        ewma(&mut self.out_rate, self.out_count);
        ewma(&mut self.duration_rate, self.out_duration);
        self.out_count = 0.0;
        self.out_duration = 0.0;
    }
}

/// The shards' generations and a reshard under way.
#[derive(Debug, Default)]
struct Reshard {
    /// The generation of the running shards: batches of an earlier one were abandoned.
    epoch: Generation,
    /// A reshard under way: the old shards are flushing; the new count starts once they
    /// are done, or at the flush deadline.
    to: Option<u32>,
    /// Numbers the reshards, so that a flush deadline finds its own.
    gen: Generation,
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
    /// Requests sent since the last sample; answers and failed answers since the last sample
    /// (counted when the answer arrives, so failed <= answered in every interval).
    pub interval_requests: u64,
    pub interval_answered: u64,
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
    /// The batch's shards were shut down meanwhile: nobody waits for it.
    Abandoned,
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
                interval_answered: 0,
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
            let now = now + secs(fleet.spec.start_seconds);
            for s in &mut fleet.servers {
                s.wal.last_fill = now;
                s.wal.start = now;
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
                        gen: Generation::FIRST,
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
        // Before the fleet starts (`startSeconds`) nothing is scraped.
        let wal = &mut s.wal;
        if now <= wal.last_fill {
            return;
        }
        // What was scraped and what is unread are functions of the instant, not of how often
        // the WAL was looked at: another sample interval gives the same batches.
        wal.received = fleet.spec.samples_per_second * (now - wal.start).as_secs_f64();
        wal.pending = wal.received - wal.read;
        wal.last_fill = now;
        // With the WAL (Prometheus 2.8+) unsent samples wait on disk until truncation; without
        // it they wait in the shards' in-memory queues, and what does not fit is dropped.
        let kept = if fleet.spec.wal {
            fleet.spec.samples_per_second * fleet.spec.wal_retention_seconds
        } else {
            f64::from(fleet.spec.capacity) * f64::from(s.shards)
        };
        if wal.pending > kept {
            fleet.samples_lost += wal.pending - kept;
            wal.read += wal.pending - kept;
            wal.pending = kept;
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
    pub fn woken(&mut self, rw: FleetIdx, server: u32, gen: Generation) -> bool {
        let s = &mut self.fleets[rw.ix()].servers[server as usize];
        if !s.wake_gen.is_current(gen) {
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
        // While resharding the old shards only flush what they hold: nothing new is enqueued.
        if s.busy >= s.shards || s.reshard.to.is_some() {
            return None;
        }
        let n = if s.wal.pending >= batch {
            batch
        } else if deadline_due && s.wal.pending >= 1.0 {
            s.wal.pending.floor()
        } else {
            return None;
        };
        let samples = whole_samples(n);
        s.wal.pending -= n;
        s.wal.read += f64::from(samples);
        s.wal.in_flight += f64::from(samples);
        s.busy += 1;
        Some(Batch {
            rw,
            server,
            samples,
            first_sent: now,
            attempt: 0,
            prev_delay: 0.0,
            epoch: s.reshard.epoch,
            end: s.wal.read,
        })
    }

    /// An idle shard waits for a full batch or the deadline, whichever comes first.
    pub fn schedule_wake(&mut self, now: Time, rw: FleetIdx, server: u32, out: &mut Out) {
        let fleet = &mut self.fleets[rw.ix()];
        let spec = &fleet.spec;
        let batch = f64::from(spec.max_samples_per_send);
        let s = &mut fleet.servers[server as usize];
        if s.busy < s.shards && s.reshard.to.is_none() {
            let fill = (batch - s.wal.pending).max(0.0) / spec.samples_per_second.max(1e-9);
            let at = now + secs(fill.min(spec.batch_send_deadline_seconds)).max(Time(1));
            if s.wake_at.is_none_or(|w| w <= now || w > at) {
                let gen = s.wake_gen.bump();
                s.wake_at = Some(at);
                out.at(at, SvcEv::ServerWake { rw, server, gen });
            }
        } else {
            s.wake_at = None;
        }
    }

    /// Whether the shards that took the batch still run (a hard shutdown abandons its
    /// batches: their retries are not sent).
    pub fn is_current(&self, batch: &Batch) -> bool {
        self.fleets[batch.rw.ix()].servers[batch.server as usize]
            .reshard
            .epoch
            .is_current(batch.epoch)
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
        if !fleet.servers[batch.server as usize]
            .reshard
            .epoch
            .is_current(batch.epoch)
        {
            return Next::Abandoned;
        }
        let samples = f64::from(batch.samples);
        fleet.interval_answered += 1;
        if ok {
            fleet.samples_written += samples;
            let s = &mut fleet.servers[batch.server as usize];
            s.wal.sent_upto = s.wal.sent_upto.max(batch.end);
            s.rates.last_success = Some(now);
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
        s.wal.in_flight = (s.wal.in_flight - samples).max(0.0);
        s.rates.out_count += samples;
        s.rates.out_duration += (now - batch.first_sent).as_secs_f64();
        // The last of the old shards has flushed: the new ones start.
        if s.busy == 0 {
            if let Some(n) = s.reshard.to.take() {
                s.shards = n;
                let total: u32 = fleet.servers.iter().map(|s| s.shards).sum();
                fleet.peak_shards = fleet.peak_shards.max(total);
            }
        }
        Next::TrySend
    }

    /// `calculateDesiredShards` for one server, then `reshardLoop`: the EWMA rates are
    /// updated, the desired count computed in the form of the fleet's version
    /// ([`desired_shards`]), and a new count outside the tolerance starts a reshard. The old
    /// shards stop taking samples and flush the batches they hold; the new count runs once
    /// they are done, or at the flush deadline, when the batches still out are abandoned and
    /// their samples lost (`shards.stop`'s hard shutdown). While a reshard is under way the
    /// update is skipped ("Currently resharding, skipping"). True if the new shards run
    /// already (nothing was out), so the server's shards should look for work.
    pub fn update_shards(&mut self, now: Time, rw: FleetIdx, server: u32, out: &mut Out) -> bool {
        self.fill(now, rw, server);
        let fleet = &mut self.fleets[rw.ix()];
        let spec = &fleet.spec;
        let s = &mut fleet.servers[server as usize];
        s.rates.update(spec, s.wal.received);
        let delay = (s.wal.received - s.wal.sent_upto).max(0.0) / spec.samples_per_second.max(1e-9);
        let failing_since = s.rates.last_success.map(|t| (now - t).as_secs_f64());
        let Some(shards) = desired_shards(
            spec,
            &ShardInputs {
                current: s.shards,
                in_rate: s.rates.in_rate.unwrap_or(0.0),
                out_rate: s.rates.out_rate.unwrap_or(0.0),
                duration_rate: s.rates.duration_rate.unwrap_or(0.0),
                delay_seconds: delay,
                since_last_success_seconds: failing_since,
            },
        ) else {
            return false;
        };
        if s.reshard.to.is_some() {
            return false;
        }
        if s.busy == 0 {
            // Nothing to flush: the new shards start at once.
            s.shards = shards;
            let total: u32 = fleet.servers.iter().map(|s| s.shards).sum();
            fleet.peak_shards = fleet.peak_shards.max(total);
            return true;
        }
        s.reshard.to = Some(shards);
        let gen = s.reshard.gen.bump();
        out.at(
            now + secs(spec.flush_deadline_seconds),
            SvcEv::FlushDeadline { rw, server, gen },
        );
        false
    }

    /// The flush deadline of a reshard: if the old shards still hold batches, they are shut
    /// down hard (the batches abandoned, their samples lost) and the new count starts. True
    /// if it did, so the server's shards should look for work.
    pub fn flush_deadline(&mut self, rw: FleetIdx, server: u32, gen: Generation) -> bool {
        let fleet = &mut self.fleets[rw.ix()];
        let s = &mut fleet.servers[server as usize];
        if !s.reshard.gen.is_current(gen) {
            return false;
        }
        let Some(n) = s.reshard.to.take() else {
            return false;
        };
        fleet.samples_lost += s.wal.in_flight;
        s.wal.in_flight = 0.0;
        s.busy = 0;
        s.reshard.epoch.bump();
        s.shards = n;
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
