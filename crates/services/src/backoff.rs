//! Retry delays: exponential backoff with a cap and the jitter variants of Brooker's "Exponential
//! Backoff And Jitter" (AWS Architecture Blog, 2015). Synchronised, unjittered retries are what
//! keeps a retry storm in step; jitter spreads it.

use crate::config::{Backoff, Jitter};
use cascade_model::Rng;

/// The delay before retry number `attempt` (1 for the first retry), given the previous delay
/// (for decorrelated jitter).
pub fn delay(b: &Backoff, attempt: u32, previous: f64, rng: &mut Rng) -> f64 {
    let exp = attempt.saturating_sub(1).min(64) as i32;
    let capped = (b.initial_seconds * b.multiplier.powi(exp)).min(b.max_seconds);
    match b.jitter {
        Jitter::None => capped,
        Jitter::Full => rng.unit() * capped,
        Jitter::Equal => capped / 2.0 + rng.unit() * capped / 2.0,
        Jitter::Decorrelated => {
            let hi = (previous.max(b.initial_seconds) * 3.0).min(b.max_seconds);
            let lo = b.initial_seconds.min(hi);
            lo + rng.unit() * (hi - lo)
        }
    }
}

/// An exponentially distributed duration with the given mean.
pub fn exponential(mean: f64, rng: &mut Rng) -> f64 {
    // 1 - unit() is in (0, 1], so the logarithm is finite.
    -mean * (1.0 - rng.unit()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(jitter: Jitter) -> Backoff {
        Backoff {
            initial_seconds: 0.1,
            max_seconds: 1.0,
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn exponential_growth_is_capped() {
        let mut r = Rng::new(1);
        let d: Vec<f64> = (1..=6)
            .map(|a| delay(&b(Jitter::None), a, 0.0, &mut r))
            .collect();
        assert_eq!(d, vec![0.1, 0.2, 0.4, 0.8, 1.0, 1.0]);
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        let mut r = Rng::new(2);
        let full: Vec<f64> = (0..1000)
            .map(|_| delay(&b(Jitter::Full), 4, 0.0, &mut r))
            .collect();
        assert!(full.iter().all(|d| (0.0..=0.8).contains(d)));
        let mean = full.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.4).abs() < 0.03, "{mean}");
        let equal: Vec<f64> = (0..1000)
            .map(|_| delay(&b(Jitter::Equal), 4, 0.0, &mut r))
            .collect();
        assert!(equal.iter().all(|d| (0.4..=0.8).contains(d)));
        let mut prev = 0.1;
        for _ in 0..1000 {
            prev = delay(&b(Jitter::Decorrelated), 1, prev, &mut r);
            assert!((0.1..=1.0).contains(&prev), "{prev}");
        }
    }

    #[test]
    fn exponential_mean() {
        let mut r = Rng::new(3);
        let n = 20_000;
        let m = (0..n).map(|_| exponential(2.0, &mut r)).sum::<f64>() / n as f64;
        assert!((m - 2.0).abs() < 0.06, "{m}");
    }
}
