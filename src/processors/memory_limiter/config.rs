//! `memory_limiter` processor config, with the Collector's keys and rules.

use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// Bytes in a MiB.
pub const MIB: u64 = 1 << 20;

/// `processors.memory_limiter`.
///
/// As in the Collector, a limit or spike of 0 means "not set", and an unset spike
/// limit is 20% of the limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// How often memory usage is measured (required, greater than 0).
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub check_interval: Duration,
    /// Hard limit in MiB.
    #[serde(default)]
    pub limit_mib: u64,
    /// Headroom below `limit_mib` in MiB; the soft limit is `limit_mib - spike_limit_mib`.
    #[serde(default)]
    pub spike_limit_mib: u64,
    /// Hard limit as a percentage (1..=100) of total memory: the cgroup's limit if the
    /// process has one, else the machine's memory.
    #[serde(default)]
    pub limit_percentage: u64,
    /// Headroom below `limit_percentage`, as a percentage of total memory.
    #[serde(default)]
    pub spike_limit_percentage: u64,
}

/// The two thresholds, in bytes of resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At or above this, the Collector forces a garbage collection; sloop can only
    /// refuse data (and say so in the log).
    pub hard: u64,
    /// At or above this, incoming data is refused; below it, accepted again.
    pub soft: u64,
}

impl MemoryLimiterConfig {
    /// The thresholds in bytes. `total_memory` is asked only for percentage limits.
    pub fn limits(&self, total_memory: impl FnOnce() -> std::io::Result<u64>) -> Result<Limits, String> {
        let (hard, spike) = if self.limit_mib > 0 {
            (
                self.limit_mib.saturating_mul(MIB),
                self.spike_limit_mib.saturating_mul(MIB),
            )
        } else {
            let total = total_memory().map_err(|e| format!("cannot read total memory for limit_percentage: {e}"))?;
            (
                percent_of(total, self.limit_percentage),
                percent_of(total, self.spike_limit_percentage),
            )
        };
        let spike = if spike == 0 { hard / 5 } else { spike };
        if spike >= hard {
            return Err(format!(
                "spike limit ({spike} bytes) must be below the limit ({hard} bytes)"
            ));
        }
        Ok(Limits {
            hard,
            soft: hard - spike,
        })
    }
}

fn percent_of(total: u64, percent: u64) -> u64 {
    // u128: a total near u64::MAX times 100 must not overflow.
    (u128::from(total) * u128::from(percent) / 100) as u64
}

impl Validate for MemoryLimiterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.check_interval.is_zero() {
            errors.push(ConfigError::new(
                "check_interval",
                "is required and must be greater than 0 (e.g. 1s)",
            ));
        }
        match (self.limit_mib > 0, self.limit_percentage > 0) {
            (false, false) => errors.push(ConfigError::new(
                "limit_mib",
                "set limit_mib or limit_percentage (neither is set, or both are 0)",
            )),
            (true, true) => errors.push(ConfigError::new(
                "limit_percentage",
                "set either limit_mib or limit_percentage, not both",
            )),
            _ => {}
        }
        for (key, value) in [
            ("limit_percentage", self.limit_percentage),
            ("spike_limit_percentage", self.spike_limit_percentage),
        ] {
            if value > 100 {
                errors.push(ConfigError::new(key, format!("must be between 1 and 100, got {value}")));
            }
        }
        if self.limit_mib > 0 {
            if self.spike_limit_mib >= self.limit_mib {
                errors.push(ConfigError::new(
                    "spike_limit_mib",
                    format!("must be less than limit_mib ({})", self.limit_mib),
                ));
            }
            if self.spike_limit_percentage > 0 && self.limit_percentage == 0 {
                errors.push(ConfigError::new(
                    "spike_limit_percentage",
                    "goes with limit_percentage; with limit_mib, use spike_limit_mib",
                ));
            }
        }
        if self.limit_percentage > 0 {
            if self.spike_limit_percentage >= self.limit_percentage && self.limit_percentage <= 100 {
                errors.push(ConfigError::new(
                    "spike_limit_percentage",
                    format!("must be less than limit_percentage ({})", self.limit_percentage),
                ));
            }
            if self.spike_limit_mib > 0 && self.limit_mib == 0 {
                errors.push(ConfigError::new(
                    "spike_limit_mib",
                    "goes with limit_mib; with limit_percentage, use spike_limit_percentage",
                ));
            }
        }
        errors
    }
}
