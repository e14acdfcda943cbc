//! Events per second through the engine: `cargo bench -p cascade-engine`. A steady state of
//! `live` pending events, each handled event scheduling one more at a random delay (the shape of
//! a simulation: timers re-arming themselves).

use cascade_engine::{Engine, Time};

fn main() {
    divan::main();
}

#[divan::bench(args = [1_000, 100_000, 1_000_000])]
fn steady_state(bencher: divan::Bencher, live: u64) {
    const EVENTS: u64 = 1_000_000;
    bencher
        .with_inputs(|| {
            let mut e: Engine<u64> = Engine::new();
            for i in 0..live {
                e.schedule(Time(i * 7919 % 1_000_003), i);
            }
            e
        })
        .counter(divan::counter::ItemsCount::new(EVENTS))
        .bench_local_values(|mut e| {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..EVENTS {
                let (_, v) = e.next_until(Time::MAX).expect("steady");
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                e.schedule_in(Time(x % 1_000_000), v);
            }
            e
        });
}
