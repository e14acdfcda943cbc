//! What must hold between any two calls into a [`World`]: checked by the tests, and by the
//! run loop in debug builds. Each check names the rule its failure breaks.

use crate::contract::ServiceIdx;
use crate::world::World;
use std::collections::BTreeSet;

impl World {
    /// Checks the services' invariants:
    /// - every request in flight is still open at one end at least (its slot is freed once it
    ///   is both answered and left), and one the server has not left sits in exactly one
    ///   replica (in service or queued): the one it is bound to, in the same process life;
    /// - every request a replica holds is in flight, bound there, not left by the server;
    /// - a replica serves at most `workersPerReplica` requests and queues at most
    ///   `queueCapacity`; a dead replica holds nothing and is not Ready; a replica is
    ///   routable exactly when Ready unless the service's slice awaits a write (then it may
    ///   still list a replica that is gone);
    /// - a service's routable list names each routable replica once, and nothing else;
    /// - shards are parked on a service only while it refuses connections;
    /// - a client's open calls each have a request out; a fleet's servers keep their shard
    ///   count within `[minShards, maxShards]` and no negative backlog;
    /// - each ring is consistent (`cascade_ring::Ring::check_invariants`), and its leaving or
    ///   receiving ingesters are alive;
    /// - what a pod is linked to exists.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_requests()?;
        for (i, s) in self.endpoints.iter().enumerate() {
            let svc = ServiceIdx::at(i);
            let name = &s.name;
            let workers = s.spec.workers_per_replica as usize;
            let cap = s.spec.queue_capacity as usize;
            for (replica, rep) in s.replicas.iter().enumerate() {
                if rep.in_service.len() > workers {
                    return Err(format!(
                        "service {name} replica {replica}: {} requests in service, {workers} workers",
                        rep.in_service.len()
                    ));
                }
                if rep.queue.len() > cap {
                    return Err(format!(
                        "service {name} replica {replica}: {} queued, capacity {cap}",
                        rep.queue.len()
                    ));
                }
                if !rep.alive && (rep.requests() > 0 || (rep.ready && !rep.lost)) {
                    return Err(format!(
                        "service {name} replica {replica}: dead but holds {} requests (ready: {})",
                        rep.requests(),
                        rep.ready
                    ));
                }
                if !s.slice_stale && rep.routable != rep.ready {
                    return Err(format!(
                        "service {name} replica {replica}: routable {} but ready {} with its slice written",
                        rep.routable, rep.ready
                    ));
                }
            }
            let listed: BTreeSet<u32> = s.routable.iter().copied().collect();
            let routable: BTreeSet<u32> = (0..cascade_engine::index_u32(s.replicas.len()))
                .filter(|&replica| s.replicas[replica as usize].routable)
                .collect();
            if listed.len() != s.routable.len() || listed != routable {
                return Err(format!(
                    "service {name}: routable list {:?}, routable replicas {routable:?}",
                    s.routable
                ));
            }
            if !self.endpoints.parked(svc).is_empty() && !s.refuses() {
                return Err(format!(
                    "service {name}: {} shards parked while it takes connections",
                    self.endpoints.parked(svc).len()
                ));
            }
        }
        for c in self.clients.iter() {
            if let Some((call, _)) = c.open_calls.iter().find(|(_, (left, _))| *left == 0) {
                return Err(format!(
                    "client {}: open call {call} has no request out",
                    c.name
                ));
            }
        }
        for f in self.fleets.iter() {
            for (i, s) in f.servers.iter().enumerate() {
                if s.shards < f.spec.min_shards.min(f.spec.max_shards)
                    || s.shards > f.spec.max_shards.max(f.spec.min_shards)
                    || s.wal.pending < 0.0
                {
                    return Err(format!(
                        "remoteWrite {} server {i}: {} shards, {} pending",
                        f.name, s.shards, s.wal.pending
                    ));
                }
            }
        }
        for rt in self.rings.iter() {
            rt.ring
                .check_invariants()
                .map_err(|e| format!("ring {}: {e}", rt.name))?;
            if let Some((id, _)) = rt
                .ingesters
                .iter()
                .find(|(_, i)| !i.alive && (i.leaving || i.receiving))
            {
                return Err(format!(
                    "ring {}: ingester {id} is dead but leaving or receiving",
                    rt.name
                ));
            }
        }
        for (pod, link) in &self.pods {
            let bad_replica = link.replicas.iter().any(|&(svc, replica)| {
                svc.ix() >= self.endpoints.len()
                    || replica as usize >= self.endpoints.get(svc).replicas.len()
            });
            let bad_ring = link.ingesters.iter().any(|&(ring, id)| {
                self.rings
                    .iter()
                    .nth(ring.ix())
                    .is_none_or(|rt| !rt.ingesters.contains_key(&id))
            });
            if bad_replica || bad_ring {
                return Err(format!(
                    "pod {pod}: linked to a replica or ring that does not exist"
                ));
            }
        }
        Ok(())
    }

    /// Requests against the replicas holding them: a bijection between the requests the
    /// server has not left and the entries of the replicas' workers and queues.
    fn check_requests(&self) -> Result<(), String> {
        let mut held = BTreeSet::new();
        for (i, s) in self.endpoints.iter().enumerate() {
            for (replica, rep) in s.replicas.iter().enumerate() {
                for id in rep.in_service.iter().chain(rep.queue.iter()) {
                    if !held.insert(*id) {
                        return Err(format!("{id:?} is held twice"));
                    }
                    let Some(req) = self.requests.get(*id) else {
                        return Err(format!(
                            "service {} replica {replica} holds {id:?}, which is not in flight",
                            s.name
                        ));
                    };
                    if req.left
                        || req.svc.ix() != i
                        || req.replica != Some((cascade_engine::index_u32(replica), rep.gen))
                    {
                        return Err(format!(
                            "service {} replica {replica} (life {}) holds {id:?}, which is {req:?}",
                            s.name,
                            rep.gen.get()
                        ));
                    }
                }
            }
        }
        let mut open = 0usize;
        for (id, req) in self.requests.iter() {
            if req.answered && req.left {
                return Err(format!("{id:?} answered and left but not freed"));
            }
            if !req.left {
                open += 1;
            }
        }
        // The entries above are distinct requests the server has not left: all of them
        // exactly when the counts agree.
        if open != held.len() {
            return Err(format!(
                "{open} requests not left by the server, {} held by replicas",
                held.len()
            ));
        }
        Ok(())
    }
}
