//! The load balancer in front of kube-apiserver's replicas, as its clients see it: each client
//! holds one long-lived connection to one replica (client-go multiplexes its requests over one
//! HTTP/2 connection), chosen when it connects, and keeps it until it breaks (the replica
//! stops or is OOM-killed). A new connection goes to the next serving replica in round-robin
//! order, as a round-robin TCP load balancer spreads them; a replica that serves again gets
//! only connections made after it came back, so the clients of a replica that went down pile
//! onto the survivors and stay there. docs/control-plane-and-nodes.md#api-server-replicas.
//!
//! No clock and no randomness: the rule is a cursor over the replicas, so a run is the same
//! for the same order of connections.

use std::collections::BTreeMap;

/// The connections of clients `K` to the replicas.
#[derive(Clone, Debug)]
pub struct Balancer<K: Ord + Copy> {
    replicas: usize,
    /// The replica the next new connection is tried on first.
    cursor: usize,
    conns: BTreeMap<K, usize>,
    /// Connections per replica.
    counts: Vec<usize>,
}

impl<K: Ord + Copy> Balancer<K> {
    /// A balancer over `replicas` replicas (at least 1).
    pub fn new(replicas: usize) -> Balancer<K> {
        let replicas = replicas.max(1);
        Balancer {
            replicas,
            cursor: 0,
            conns: BTreeMap::new(),
            counts: vec![0; replicas],
        }
    }

    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The replica `client` sends its request to: the one it is connected to, or else a new
    /// connection to the next replica at or after the cursor that serves (`serving(i)`). With
    /// none serving the request goes to the replica at the cursor, which refuses it, and no
    /// connection is kept.
    pub fn route(&mut self, client: K, serving: impl Fn(usize) -> bool) -> usize {
        if let Some(&r) = self.conns.get(&client) {
            return r;
        }
        let n = self.replicas;
        let Some(r) = (0..n).map(|k| (self.cursor + k) % n).find(|&r| serving(r)) else {
            return self.cursor % n;
        };
        self.cursor = (r + 1) % n;
        self.conns.insert(client, r);
        self.counts[r] += 1;
        r
    }

    /// The replica `client` is connected to, if any.
    pub fn replica_of(&self, client: K) -> Option<usize> {
        self.conns.get(&client).copied()
    }

    /// The replica went away: every connection to it breaks. The clients that held one, in
    /// their order; each connects anew at its next request.
    pub fn broken(&mut self, replica: usize) -> Vec<K> {
        let gone: Vec<K> = self
            .conns
            .iter()
            .filter(|(_, &r)| r == replica)
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            self.conns.remove(k);
        }
        if let Some(c) = self.counts.get_mut(replica) {
            *c = 0;
        }
        gone
    }

    /// The client is gone (its process stopped): its connection closes.
    pub fn close(&mut self, client: K) {
        if let Some(r) = self.conns.remove(&client) {
            self.counts[r] -= 1;
        }
    }

    /// Connections open to the replica.
    pub fn connections(&self, replica: usize) -> usize {
        self.counts.get(replica).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_connections_go_round_robin_and_stay() {
        let mut b = Balancer::new(3);
        let got: Vec<usize> = (0..7u32).map(|c| b.route(c, |_| true)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        // A client keeps its connection.
        assert_eq!(b.route(1, |_| true), 1);
        assert_eq!(
            (b.connections(0), b.connections(1), b.connections(2)),
            (3, 2, 2)
        );
    }

    #[test]
    fn the_clients_of_a_broken_replica_reconnect_to_the_survivors_and_stay() {
        let mut b = Balancer::new(3);
        for c in 0..9u32 {
            b.route(c, |_| true);
        }
        let moved = b.broken(0);
        assert_eq!(moved, [0, 3, 6]);
        assert_eq!(b.connections(0), 0);
        // Replica 0 is restarting: they land on 1 and 2.
        for &c in &moved {
            let r = b.route(c, |r| r != 0);
            assert_ne!(r, 0);
        }
        assert_eq!(b.connections(1) + b.connections(2), 9);
        // Replica 0 serves again: nobody moves back, it gets only new connections.
        for c in 0..9u32 {
            assert_ne!(b.route(c, |_| true), 0);
        }
        assert_eq!(b.connections(0), 0);
        let fresh = b.route(100, |_| true);
        assert_eq!(b.connections(fresh), if fresh == 0 { 1 } else { 5 });
    }

    #[test]
    fn with_none_serving_the_request_is_refused_without_a_connection() {
        let mut b = Balancer::new(2);
        let r = b.route(7u32, |_| false);
        assert!(r < 2);
        assert_eq!(b.replica_of(7), None);
        assert_eq!(b.connections(0) + b.connections(1), 0);
    }

    #[test]
    fn one_replica_takes_everything() {
        let mut b = Balancer::new(1);
        for c in 0..5u32 {
            assert_eq!(b.route(c, |_| true), 0);
        }
        assert_eq!(b.route(9, |_| false), 0);
        b.close(3);
        assert_eq!(b.connections(0), 4);
        assert_eq!(b.broken(0).len(), 4);
    }
}
