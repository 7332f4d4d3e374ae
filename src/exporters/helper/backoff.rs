//! Exponential backoff with jitter, as the Collector's `retry_on_failure` computes it.

use std::time::Duration;

use rand::Rng;

use crate::exporters::RetryConfig;

/// The wait before each retry: `initial_interval`, growing by `multiplier` up to
/// `max_interval`, each scaled by a random factor in `[1 - r, 1 + r]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    current: Duration,
    max: Duration,
    multiplier: f64,
    randomization: f64,
}

impl Backoff {
    /// Starts at `config.initial_interval`.
    pub fn new(config: &RetryConfig) -> Self {
        Self {
            current: config.initial_interval,
            max: config.max_interval,
            multiplier: config.multiplier,
            randomization: config.randomization_factor,
        }
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current.as_secs_f64();
        let jitter = if self.randomization > 0.0 {
            rand::rng().random_range(-self.randomization..=self.randomization)
        } else {
            0.0
        };
        self.current = Duration::from_secs_f64((base * self.multiplier).min(self.max.as_secs_f64()));
        Duration::from_secs_f64((base * (1.0 + jitter)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(randomization: f64) -> RetryConfig {
        RetryConfig {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(4),
            multiplier: 2.0,
            randomization_factor: randomization,
            ..RetryConfig::default()
        }
    }

    #[test]
    fn grows_by_multiplier_up_to_max() {
        let mut b = Backoff::new(&config(0.0));
        let waits: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 4, 4]);
    }

    #[test]
    fn jitter_stays_within_factor() {
        let mut b = Backoff::new(&config(0.5));
        let first = b.next_delay().as_secs_f64();
        assert!((0.5..=1.5).contains(&first), "{first}");
        let second = b.next_delay().as_secs_f64();
        assert!((1.0..=3.0).contains(&second), "{second}");
    }
}
