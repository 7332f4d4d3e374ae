//! `probabilistic_sampler` config, with the Collector's keys and defaults.

use serde::Deserialize;

use crate::confmap::{ConfigError, Validate};

/// Smallest non-zero probability consistent sampling can express: 2^-56.
pub const MIN_PROBABILITY: f64 = 1.0 / (1u64 << 56) as f64;

/// `processors.probabilistic_sampler`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticSamplerConfig {
    /// Percentage of traces (or log records) to keep, 0 to 100 (default 0: keep
    /// nothing). Values above 100 mean 100, as in the Collector.
    #[serde(default)]
    pub sampling_percentage: f32,
    /// Seed of the `hash_seed` mode's hash (default 0). Layers of samplers that must
    /// make independent decisions use different seeds.
    #[serde(default)]
    pub hash_seed: u32,
    /// `hash_seed`, `proportional` or `equalizing`. Unset, as in the Collector:
    /// `hash_seed` when `hash_seed` is set (or for logs with `attribute_source:
    /// record`), `proportional` otherwise.
    #[serde(default)]
    pub mode: Option<SamplerMode>,
    /// Drop items whose randomness cannot be found (no trace id, malformed
    /// tracestate or sampling attributes) instead of keeping them (default true).
    #[serde(default = "default_fail_closed")]
    pub fail_closed: bool,
    /// Hex digits of the threshold written to `ot=th:` (1 to 14, default 4). One more
    /// digit is added per leading `0`/`f` near probabilities of 0 or 1, as the
    /// Collector does: 1% writes `th:fd70a` with 4, `th:fd70a4` with 5.
    #[serde(default = "default_sampling_precision")]
    pub sampling_precision: u8,
    /// Logs only: where randomness comes from, `traceID` (default) or `record` (the
    /// `from_attribute` attribute).
    #[serde(default)]
    pub attribute_source: AttributeSource,
    /// Logs only: a record attribute to hash when there is no trace id, or always
    /// with `attribute_source: record`.
    #[serde(default)]
    pub from_attribute: String,
    /// Logs only: a record attribute holding a percentage that replaces
    /// `sampling_percentage` for that record (0 drops it, 100 keeps it).
    #[serde(default)]
    pub sampling_priority: String,
}

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMode {
    /// The processor's original FNV hash of the seed and trace id (14-bit buckets).
    HashSeed,
    /// OpenTelemetry consistent sampling; the threshold multiplies with an earlier one.
    Proportional,
    /// OpenTelemetry consistent sampling; the stricter of the two thresholds wins.
    Equalizing,
}

/// `attribute_source`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AttributeSource {
    /// The record's trace id.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// The record attribute named by `from_attribute`.
    #[serde(rename = "record")]
    Record,
}

fn default_fail_closed() -> bool {
    true
}

fn default_sampling_precision() -> u8 {
    4
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        Self {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: None,
            fail_closed: true,
            sampling_precision: default_sampling_precision(),
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

impl Validate for ProbabilisticSamplerConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let pct = f64::from(self.sampling_percentage);
        if !pct.is_finite() {
            errors.push(ConfigError::new(
                "sampling_percentage",
                "must be a number from 0 to 100",
            ));
        } else if pct < 0.0 {
            errors.push(ConfigError::new("sampling_percentage", "must not be negative"));
        } else if pct > 0.0 && pct / 100.0 < MIN_PROBABILITY {
            errors.push(ConfigError::new(
                "sampling_percentage",
                format!("{pct}% is too small: the smallest is 2^-56 (about 1.4e-15%)"),
            ));
        }
        if !(1..=14).contains(&self.sampling_precision) {
            errors.push(ConfigError::new(
                "sampling_precision",
                "must be from 1 to 14 hex digits",
            ));
        }
        if self.attribute_source == AttributeSource::Record && self.from_attribute.is_empty() {
            errors.push(ConfigError::new(
                "from_attribute",
                "required with attribute_source: record (the attribute to sample by)",
            ));
        }
        errors
    }
}
