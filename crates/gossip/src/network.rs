//! The network between members (memberlist `net.go`, `transport.go`): UDP packets with a
//! latency, i.i.d. loss and partitions, push/pull streams that are never lost but cannot cross
//! a partition, the fallback TCP ping's exchange (its segments lost and resent: `tcp_ping.rs`),
//! and each member's packet listener, which handles one packet at a time.

use cascade_engine::Rng;
use cascade_engine::{Duration, Time};

use crate::event::Ev;
use crate::mesh::Mesh;
use crate::queue::Rumor;
use crate::{Config, KeyId, MemberId};

/// The inline-handled messages of a UDP packet (`net.go` message types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    Ping {
        seq: u32,
    },
    Ack {
        seq: u32,
    },
    IndirectPing {
        seq: u32,
        target: MemberId,
    },
    Nack {
        seq: u32,
    },
    /// Only broadcasts (`state.go gossip`).
    Gossip,
}

/// A compound UDP packet: one message and the broadcasts piggybacked on it.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub(crate) from: MemberId,
    pub(crate) to: MemberId,
    /// The sender's key when it sent it (`security.go encryptPayload`).
    pub(crate) key: Option<KeyId>,
    pub(crate) msg: Msg,
    pub(crate) piggy: Vec<Rumor>,
}

/// A push/pull stream (`net.go sendLocalState`): the sender's table, a request or its reply.
#[derive(Clone, Debug)]
pub(crate) struct PushPull {
    pub(crate) from: MemberId,
    pub(crate) to: MemberId,
    pub(crate) key: Option<KeyId>,
    pub(crate) reply: bool,
    pub(crate) entries: Vec<(MemberId, u32, crate::MemberState)>,
}

/// Values in flight, stored by slot so events name them by a number; freed slots are reused.
#[derive(Clone, Debug)]
pub(crate) struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// Stores `v` in a free slot (reusing one if any) and returns its index.
    #[inline]
    pub(crate) fn put(&mut self, v: T) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.items[s as usize] = Some(v);
                s
            }
            None => {
                self.items.push(Some(v));
                cascade_engine::index_u32(self.items.len() - 1)
            }
        }
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.items.get(slot as usize).and_then(Option::as_ref)
    }

    /// Takes the value out, freeing its slot.
    #[inline]
    pub(crate) fn take(&mut self, slot: u32) -> Option<T> {
        let v = self.items.get_mut(slot as usize).and_then(Option::take)?;
        self.free.push(slot);
        Some(v)
    }
}

/// The network's topology and state: who can reach whom, how long it takes, and when each
/// member's packet listener is free. One random stream draws losses and latencies (and join
/// peers: see [`Network::rng`]).
pub(crate) struct Network {
    rng: Rng,
    /// The fallback TCP pings' losses and latencies, a stream of their own so that turning
    /// them on or off leaves the UDP packets' draws where they were.
    tcp_rng: Rng,
    latency: Duration,
    jitter: Duration,
    loss: f64,
    /// Each member's side of a network partition (0 = no partition).
    groups: Vec<u32>,
    /// When each member's packet listener is next free.
    listener_free: Vec<Time>,
    pub(crate) packets: Slots<Packet>,
    pub(crate) streams: Slots<PushPull>,
}

impl Network {
    pub(crate) fn new(cfg: &Config, seed: u64) -> Network {
        Network {
            rng: Rng::stream(seed, "gossip"),
            tcp_rng: Rng::stream(seed, "gossip-tcp"),
            latency: cfg.network.latency,
            jitter: cfg.network.latency_jitter,
            loss: cfg.network.loss,
            groups: Vec::new(),
            listener_free: Vec::new(),
            packets: Slots::default(),
            streams: Slots::default(),
        }
    }

    pub(crate) fn add_member(&mut self) {
        self.groups.push(0);
        self.listener_free.push(Time::ZERO);
    }

    /// The mesh's shared random stream. Joins draw their peer from it too, so the order of
    /// draws (and the trace) is the one the mesh has always had.
    pub(crate) fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    pub(crate) fn set_group(&mut self, id: MemberId, group: u32) {
        self.groups[id.idx()] = group;
    }

    /// Whether `a` and `b` are on the same side of any partition.
    #[inline]
    pub(crate) fn same_side(&self, a: MemberId, b: MemberId) -> bool {
        self.groups[a.idx()] == self.groups[b.idx()]
    }

    /// One-way latency: the floor plus exponential jitter.
    #[inline]
    pub(crate) fn latency(&mut self) -> Duration {
        let u = self.rng.unit();
        let jitter = -self.jitter.as_secs_f64() * (1.0 - u).ln();
        self.latency.saturating_add(Duration::from_secs_f64(jitter))
    }

    /// A fallback TCP ping's exchange time (`tcp_ping.rs`), or `None` if a segment is never
    /// delivered.
    pub(crate) fn tcp_exchange(&mut self, cfg: &Config) -> Option<Duration> {
        let (floor, jitter) = (self.latency, self.jitter);
        crate::tcp_ping::exchange_time(cfg, &mut self.tcp_rng, |rng| {
            let u = rng.unit();
            let j = -jitter.as_secs_f64() * (1.0 - u).ln();
            floor.saturating_add(Duration::from_secs_f64(j))
        })
    }

    /// A UDP packet from `from` to `to`: its latency, or `None` when it is lost (across a
    /// partition, or to i.i.d. loss).
    #[inline]
    fn route(&mut self, from: MemberId, to: MemberId) -> Option<Duration> {
        if !self.same_side(from, to) {
            return None;
        }
        if self.loss > 0.0 && self.rng.unit() < self.loss {
            return None;
        }
        Some(self.latency())
    }

    /// `to`'s listener takes a packet arriving at `arrive`, once it is free and not before
    /// `not_before`, for `cost`: returns when it is handled.
    #[inline]
    fn occupy_listener(
        &mut self,
        to: MemberId,
        arrive: Time,
        not_before: Time,
        cost: Duration,
    ) -> Time {
        let free = &mut self.listener_free[to.idx()];
        let done = arrive.max(*free).max(not_before).after(cost);
        *free = done;
        done
    }
}

impl Mesh {
    /// Sends a packet from `from` to `to`, piggybacking `from`'s queued broadcasts
    /// (`net.go sendMsg`) unless it is a gossip packet whose rumours are already in `piggy`.
    pub(crate) fn send(&mut self, from: MemberId, to: MemberId, msg: Msg, mut piggy: Vec<Rumor>) {
        if !self.valid(to) {
            return;
        }
        let key = self.members[from.idx()].keyring;
        if msg != Msg::Gossip {
            let budget = self
                .cfg
                .wire
                .packet_budget(key.is_some())
                .saturating_sub(self.cfg.wire.probe_msg_size);
            self.take_broadcasts(from, budget, &mut piggy);
        }
        self.counters.network.packets_sent += 1;
        let Some(latency) = self.net.route(from, to) else {
            self.counters.network.packets_lost += 1;
            return;
        };
        let arrive = self.now().after(latency);
        // The receiver's listener handles packets one at a time (in send order, an
        // approximation of arrival order that differs only by latency jitter). A stalled
        // member's listener blocks too: answering a ping asks Serf for its broadcasts, whose
        // queue asks for the member count under the lock the stalled event path holds.
        let rx = &self.members[to.idx()];
        let cost = rx.service(self.cfg.network.packet_service_time);
        let stalled_until = rx.serf.snapshot.stalled_until();
        let done = self.net.occupy_listener(to, arrive, stalled_until, cost);
        let slot = self.net.packets.put(Packet {
            from,
            to,
            key,
            msg,
            piggy,
        });
        self.schedule(done, Ev::Deliver(slot));
    }

    /// A packet reaches its receiver's listener.
    pub(crate) fn deliver(&mut self, slot: u32) {
        if let Some(p) = self.net.packets.take(slot) {
            self.on_packet(p);
        }
    }
}
