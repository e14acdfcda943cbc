//! A ratio kept as its two running counts, so that a window's ratio is the counts'
//! differences (`ratios.NAME` over a window).

/// What a quotient of two running counts means, and so the summary.json section it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quotient {
    /// A fraction in [0, 1] (requests served of requests asked, the share of time writable):
    /// `ratios`.
    Ratio,
    /// An average per counted thing, in the unit its name says (seconds per request served,
    /// requests per call): `averages`; never bounded by 1.
    Average,
}

/// A ratio or an average as two running counts (requests served and requests asked, say):
/// its value is `numerator / denominator` (one minus that for a complement, e.g. the share of
/// intervals without an outage), or `empty` while the denominator is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioParts {
    pub numerator: f64,
    pub denominator: f64,
    pub complement: bool,
    pub empty: f64,
    pub quotient: Quotient,
}

impl RatioParts {
    pub(super) fn of(numerator: f64, denominator: f64, empty: f64) -> RatioParts {
        RatioParts {
            numerator,
            denominator,
            complement: false,
            empty,
            quotient: Quotient::Ratio,
        }
    }

    /// An average: `sum / count`, 0 while nothing was counted.
    pub(super) fn average(sum: f64, count: f64) -> RatioParts {
        RatioParts {
            quotient: Quotient::Average,
            ..RatioParts::of(sum, count, 0.0)
        }
    }

    /// The ratio.
    pub fn value(&self) -> f64 {
        if self.denominator > 0.0 {
            let r = self.numerator / self.denominator;
            if self.complement {
                1.0 - r
            } else {
                r
            }
        } else {
            self.empty
        }
    }

    /// The same ratio over what was counted after `earlier` (the counts' differences).
    pub fn since(&self, earlier: &RatioParts) -> RatioParts {
        RatioParts {
            numerator: self.numerator - earlier.numerator,
            denominator: self.denominator - earlier.denominator,
            ..*self
        }
    }
}
