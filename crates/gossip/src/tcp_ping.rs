//! memberlist's fallback TCP ping (`state.go probeNode`, `net.go sendPingAndWaitForAck` and the
//! stream handler's `pingMsg` case in `handleConn`): when the direct UDP ping gets no ack within
//! `probe_timeout`, the prober also dials the target over TCP, at the same moment as the
//! indirect pings, with the probe's awareness-scaled deadline as the dial and connection
//! deadline. The prober still waits for the UDP acks until that deadline; only then, if none
//! came, does it read the TCP result: a contact ends the probe as a success (awareness -1, no
//! suspicion, memberlist's "was able to connect over TCP but UDP probes failed" warning).
//!
//! A stream survives the loss that drops datagrams: TCP retransmits. The model plays the
//! exchange as its four segments that matter (SYN, SYN-ACK, the ping, the ack), each lost
//! i.i.d. with the network's `loss` and resent after the sender's retransmission timeout, which
//! doubles per resend: `tcp_syn_rto` (1 s, RFC 6298's initial RTO, Linux `TCP_TIMEOUT_INIT`)
//! for the handshake, `tcp_data_rto` (200 ms, Linux `TCP_RTO_MIN`, the floor a LAN's
//! microsecond round trip sits on) for the data. The exchange counts if its last segment
//! arrives by the deadline. So at awareness 0 (500 ms left after the UDP timeout) a lost SYN
//! or SYN-ACK fails it, a lost data segment does not; a degraded prober's longer deadline
//! leaves room for handshake resends too.
//!
//! The stream handler is its own goroutine and takes none of the locks the packet path does
//! (no broadcasts are piggybacked on a stream ack): a member stalled behind its Serf snapshot
//! still answers, though a CPU-starved one (its slowdown) reads and answers late. A target that
//! is not running, or across a partition, or whose keyring does
//! not match, does not.

use cascade_engine::{Duration, Rng, Time};

use crate::event::Ev;
use crate::mesh::Mesh;
use crate::security::can_read;
use crate::{Config, MemberId};

/// Retransmissions the model plays before it gives up on a segment (the deadline, at most
/// 8 s, is long past by then at a 1 s or 200 ms first timeout).
const MAX_RESENDS: u32 = 8;

/// When the TCP exchange's last segment arrives, `start` being the dial: each of the four
/// segments takes a one-way `latency()` and, for each loss, its retransmission timeout
/// (doubling). `None` when a segment is lost more than [`MAX_RESENDS`] times.
pub(crate) fn exchange_time(
    cfg: &Config,
    rng: &mut Rng,
    mut latency: impl FnMut(&mut Rng) -> Duration,
) -> Option<Duration> {
    let (tcp, loss) = (&cfg.tcp_ping, cfg.network.loss);
    let mut t = Duration::ZERO;
    for rto in [tcp.syn_rto, tcp.syn_rto, tcp.data_rto, tcp.data_rto] {
        let mut wait = rto;
        let mut resends = 0;
        while loss > 0.0 && rng.unit() < loss {
            resends += 1;
            if resends > MAX_RESENDS {
                return None;
            }
            t = t.saturating_add(wait);
            wait = wait.saturating_mul(2);
        }
        t = t.saturating_add(latency(rng));
    }
    Some(t)
}

impl Mesh {
    /// Whether the prober dials the target over TCP (`DisableTcpPings`; memberlist's
    /// per-node `DisableTcpPingsForNode` is not modelled: Consul sets it only for WAN
    /// members reached through mesh gateways).
    pub(crate) fn tcp_pings_enabled(&self) -> bool {
        !self.cfg.tcp_ping.disabled
    }

    /// `probeNode`'s fallback goroutine: dial `target` now, deadline `deadline`. A contact
    /// that makes it in time is recorded at its arrival by [`Ev::TcpAck`].
    pub(crate) fn tcp_ping(&mut self, m: MemberId, seq: u32, target: MemberId, deadline: Time) {
        self.counters.probe.tcp_pings += 1;
        let now = self.now();
        let tx = &self.members[m.idx()];
        let rx = &self.members[target.idx()];
        let verify = self.cfg.network.gossip_verify_incoming;
        // The target reads the ping, the prober reads the ack: both must decrypt.
        let keys_ok =
            can_read(tx.keyring, rx.keyring, verify) && can_read(rx.keyring, tx.keyring, verify);
        if !rx.running || !self.net.same_side(m, target) || !keys_ok {
            return;
        }
        // Each side reads one message (the ping, the ack) on its own goroutine, at its CPU's
        // pace: a starved process answers late over TCP too.
        let handling = rx
            .service(self.cfg.network.packet_service_time)
            .saturating_add(tx.service(self.cfg.network.packet_service_time));
        let Some(took) = self.net.tcp_exchange(&self.cfg) else {
            return;
        };
        let at = now.after(took).after(handling);
        if at <= deadline {
            self.schedule(at, Ev::TcpAck(m, seq, target));
        }
    }

    /// The TCP ack arrives: the target was still there to send it (running, same side).
    pub(crate) fn tcp_ack(&mut self, m: MemberId, seq: u32, target: MemberId) {
        if !self.members[target.idx()].running || !self.net.same_side(m, target) {
            return;
        }
        self.members[m.idx()].prober.tcp_contact(seq);
    }
}
