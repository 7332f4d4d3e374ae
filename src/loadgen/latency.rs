//! The span latency distribution: log-normal, fitted to a median and a 99th
//! percentile, which is how people describe latency ("p50 50 ms, p99 300 ms").

use rand::Rng;

/// z-score of the 99th percentile of the standard normal distribution.
const Z_99: f64 = 2.326_347_874;

/// A log-normal distribution of span durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyDistribution {
    mu: f64,
    sigma: f64,
}

impl LatencyDistribution {
    /// Fits `ln(X) ~ N(mu, sigma)` so that the median is `p50_ms` and the 99th
    /// percentile `p99_ms`. A p99 at or below the p50 gives a constant `p50_ms`.
    pub fn from_percentiles(p50_ms: f64, p99_ms: f64) -> Self {
        let p50 = p50_ms.max(0.001);
        let sigma = if p99_ms > p50 { (p99_ms / p50).ln() / Z_99 } else { 0.0 };
        Self { mu: p50.ln(), sigma }
    }

    /// One duration in milliseconds.
    pub fn sample_ms(&self, rng: &mut impl Rng) -> f64 {
        (self.mu + self.sigma * standard_normal(rng)).exp()
    }
}

/// Box–Muller: one draw from N(0, 1).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 - [0, 1) is (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
