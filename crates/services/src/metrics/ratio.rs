//! A ratio kept as its two running counts, so that a window's ratio is the counts'
//! differences (`ratios.NAME` over a window).

/// A ratio as two running counts (requests served and requests asked, say): its value is
/// `numerator / denominator` (one minus that for a complement, e.g. the share of intervals
/// without an outage), or `empty` while the denominator is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioParts {
    pub numerator: f64,
    pub denominator: f64,
    pub complement: bool,
    pub empty: f64,
}

impl RatioParts {
    pub(super) fn of(numerator: f64, denominator: f64, empty: f64) -> RatioParts {
        RatioParts {
            numerator,
            denominator,
            complement: false,
            empty,
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
