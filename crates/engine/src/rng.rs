//! The one pseudo-random generator every model uses: xoshiro256** seeded through SplitMix64.
//!
//! Randomness is owned by one place: a run has one seed, and each component draws from its own
//! stream derived from (seed, component name), so adding a model or a draw in one component
//! never reshuffles another's. The algorithm is fixed here (not a crate's choice that could
//! change between versions), so the same seed gives the same run on every machine, forever.

/// One step of FNV-1a over the eight little-endian bytes of `x`, from hash state `h` (start
/// from [`FNV_OFFSET`]): a stable digest of a sequence of numbers.
pub fn fnv1a_u64(h: u64, x: u64) -> u64 {
    let mut h = h;
    for b in x.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a's 64-bit offset basis and prime.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// A fixed place in [0, 1) for item `x` in a run seeded with `seed` (MurmurHash3's 64-bit
/// finaliser): the same item gets the same place on every machine, with no draw from any
/// stream, so choosing a subset by it reshuffles nothing.
pub fn unit_hash(seed: u64, x: u64) -> f64 {
    let mut h = seed ^ x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    /// The stream of component `name` in a run seeded with `seed` (FNV-1a of the name mixed
    /// into the seed).
    pub fn stream(seed: u64, name: &str) -> Rng {
        let mut h: u64 = FNV_OFFSET;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
        Rng::new(seed ^ h.rotate_left(17))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (n > 0), without modulo bias (Lemire's method).
    // The casts take the low and the high 64 bits of a 128-bit product: truncation is the method.
    #[allow(clippy::cast_possible_truncation)]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `0..n` (n > 0) as an index into a table of `n` entries: the same draw as
    /// `below(n)`, so a caller can switch between the two without changing a run.
    pub fn below_index(&mut self, n: usize) -> usize {
        let i = self.below(n as u64);
        usize::try_from(i).expect("an index below a usize length fits a usize")
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s1 = Rng::stream(7, "scheduler");
        let mut s2 = Rng::stream(7, "gossip");
        assert_ne!(s1.next_u64(), s2.next_u64());
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut r = Rng::new(1);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
