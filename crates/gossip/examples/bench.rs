//! Prints the gossip mesh's speed: `cargo run --release -p cascade-gossip --example bench
//! [members] [seconds] [seed]` (default 10 000 members for 3 600 simulated seconds).

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
    let f = cascade_gossip::bench(members, seconds, seed);
    println!(
        "members {} simulated {:.0} s: {} events, {} packets, {} handoff messages in {:.2} s wall ({:.2} M events/s, {:.0}x real time)",
        f.members,
        f.simulated_seconds,
        f.events,
        f.packets,
        f.messages_processed,
        f.wall_seconds,
        f.events_per_second / 1e6,
        f.simulated_seconds / f.wall_seconds.max(1e-9),
    );
}
