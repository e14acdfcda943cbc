//! Prints the gossip mesh's speed: `cargo run --release -p cascade-gossip --example bench
//! [members] [seconds] [seed]` (default 10 000 members for 3 600 simulated seconds).
//!
//! Builds a converged mesh of `members`, runs it for `seconds` of simulated time with one
//! crash and one spawn per simulated minute, and measures the wall time. The wall clock is
//! read here only: the library reads none.

use cascade_engine::Rng;
use cascade_engine::{Duration, Time};
use cascade_gossip::{Config, MemberId, Mesh};

fn main() {
    let mut args = std::env::args().skip(1);
    let members = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000u32);
    let seconds = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_600.0f64);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1u64);

    let start = std::time::Instant::now();
    let mut mesh = Mesh::with_members(Config::default_lan(), seed, members, None);
    let mut rng = Rng::stream(seed, "gossip-bench");
    let end = Time::from_secs_f64(seconds);
    let mut t = Time::ZERO;
    while t < end {
        let next = t.after(Duration::from_secs(60)).min(end);
        let n = mesh.member_count();
        if n > 0 {
            let victim =
                MemberId::new(u32::try_from(rng.below(u64::from(n))).expect("below a u32 count"));
            mesh.crash(t, victim);
            mesh.spawn(t, None);
        }
        mesh.advance_to(next);
        t = next;
    }
    let wall = start.elapsed().as_secs_f64();
    let c = mesh.counters();
    println!(
        "members {members} simulated {seconds:.0} s: {} events, {} packets, {} handoff messages in {wall:.2} s wall ({:.2} M events/s, {:.0}x real time)",
        c.events,
        c.network.packets_sent,
        c.handoff.messages_processed,
        c.events as f64 / wall.max(1e-9) / 1e6,
        seconds / wall.max(1e-9),
    );
}
