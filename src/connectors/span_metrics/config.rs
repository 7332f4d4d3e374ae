//! `spanmetrics` connector config: the Collector's spanmetricsconnector keys and
//! defaults.

use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};

/// The dimensions every series has, in this order.
pub const BUILTIN_DIMENSIONS: [&str; 4] = ["service.name", "span.name", "span.kind", "status.code"];

/// `connectors.spanmetrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Prefix of the metric names (default `traces.span.metrics`; empty: none).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Dimensions besides the four built-in ones, looked up in the span's
    /// attributes, then the resource's.
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Exemplars on the duration histogram.
    #[serde(default)]
    pub exemplars: ExemplarsConfig,
    /// How often the metrics are sent (default 60s, as in the Collector).
    #[serde(default = "default_flush_interval", deserialize_with = "deserialize_duration")]
    pub metrics_flush_interval: Duration,
    /// Cumulative (default) or delta.
    #[serde(default)]
    pub aggregation_temporality: Temporality,
    /// The duration histogram.
    #[serde(default)]
    pub histogram: HistogramConfig,
    /// The most series (distinct resource and dimension values) kept at once
    /// (default 1000); spans of further series are counted in one overflow series.
    #[serde(default = "default_dimensions_cache_size")]
    pub dimensions_cache_size: usize,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            namespace: default_namespace(),
            dimensions: Vec::new(),
            exemplars: ExemplarsConfig::default(),
            metrics_flush_interval: default_flush_interval(),
            aggregation_temporality: Temporality::default(),
            histogram: HistogramConfig::default(),
            dimensions_cache_size: default_dimensions_cache_size(),
        }
    }
}

fn default_namespace() -> String {
    "traces.span.metrics".to_string()
}

fn default_flush_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_dimensions_cache_size() -> usize {
    1000
}

/// One configured dimension.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// The attribute name, and the dimension's.
    pub name: String,
    /// The value when neither the span nor its resource has the attribute; without
    /// one, the dimension is left out of that series.
    #[serde(default)]
    pub default: Option<String>,
}

/// `exemplars`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemplarsConfig {
    /// Attach the trace and span id of measured spans to the histogram points.
    #[serde(default)]
    pub enabled: bool,
    /// The most exemplars per data point and flush (default 5).
    #[serde(default = "default_max_per_data_point")]
    pub max_per_data_point: usize,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_per_data_point: default_max_per_data_point(),
        }
    }
}

fn default_max_per_data_point() -> usize {
    5
}

/// `aggregation_temporality`, spelled as in the Collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Temporality {
    /// Totals since the series started.
    #[default]
    #[serde(rename = "AGGREGATION_TEMPORALITY_CUMULATIVE")]
    Cumulative,
    /// What happened since the last flush.
    #[serde(rename = "AGGREGATION_TEMPORALITY_DELTA")]
    Delta,
}

/// `histogram`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramConfig {
    /// No duration histogram at all.
    #[serde(default)]
    pub disable: bool,
    /// The unit durations are recorded in (default `ms`).
    #[serde(default)]
    pub unit: DurationUnit,
    /// Explicit bucket boundaries.
    #[serde(default)]
    pub explicit: Option<ExplicitBuckets>,
    /// Exponential histograms are not supported; refused with a message.
    #[serde(default)]
    pub exponential: Option<serde::de::IgnoredAny>,
}

/// `histogram.unit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DurationUnit {
    /// Milliseconds.
    #[default]
    #[serde(rename = "ms")]
    Milliseconds,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
}

impl DurationUnit {
    /// The unit as written in metric metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Milliseconds => "ms",
            DurationUnit::Seconds => "s",
        }
    }

    /// `duration` in this unit.
    pub fn of(self, duration: Duration) -> f64 {
        match self {
            DurationUnit::Milliseconds => duration.as_secs_f64() * 1000.0,
            DurationUnit::Seconds => duration.as_secs_f64(),
        }
    }
}

/// `histogram.explicit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitBuckets {
    /// Upper bounds, increasing (default: the Collector's, 2ms to 15s).
    pub buckets: Vec<BucketBound>,
}

/// One bucket bound, a duration (`100ms`, `1s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct BucketBound(#[serde(deserialize_with = "deserialize_duration")] pub Duration);

/// The Collector's default bounds.
pub const DEFAULT_BUCKETS: [Duration; 16] = [
    Duration::from_millis(2),
    Duration::from_millis(4),
    Duration::from_millis(6),
    Duration::from_millis(8),
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_secs(1),
    Duration::from_millis(1400),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(15),
];

impl SpanMetricsConfig {
    /// The histogram's bucket bounds as durations.
    pub fn buckets(&self) -> Vec<Duration> {
        match &self.histogram.explicit {
            Some(explicit) => explicit.buckets.iter().map(|b| b.0).collect(),
            None => DEFAULT_BUCKETS.to_vec(),
        }
    }

    /// `<namespace>.<name>`, or `<name>` without a namespace.
    pub fn metric_name(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.namespace)
        }
    }
}

impl Validate for SpanMetricsConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut seen: Vec<&str> = BUILTIN_DIMENSIONS.to_vec();
        for (i, dimension) in self.dimensions.iter().enumerate() {
            if dimension.name.is_empty() {
                errors.push(ConfigError::new(format!("dimensions[{i}].name"), "must not be empty"));
            } else if seen.contains(&dimension.name.as_str()) {
                errors.push(ConfigError::new(
                    format!("dimensions[{i}].name"),
                    format!("duplicate dimension name {}", dimension.name),
                ));
            }
            seen.push(&dimension.name);
        }
        if self.dimensions_cache_size == 0 {
            errors.push(ConfigError::new("dimensions_cache_size", "must be greater than 0"));
        }
        if self.metrics_flush_interval.is_zero() {
            errors.push(ConfigError::new("metrics_flush_interval", "must be greater than 0"));
        }
        if self.exemplars.enabled && self.exemplars.max_per_data_point == 0 {
            errors.push(ConfigError::new(
                "exemplars.max_per_data_point",
                "must be greater than 0 when exemplars are enabled",
            ));
        }
        if self.histogram.exponential.is_some() {
            errors.push(ConfigError::new(
                "histogram.exponential",
                "exponential histograms are not supported by sloop; use histogram.explicit",
            ));
        }
        if let Some(explicit) = &self.histogram.explicit {
            if explicit.buckets.is_empty() {
                errors.push(ConfigError::new(
                    "histogram.explicit.buckets",
                    "at least one bound is required",
                ));
            }
            if explicit.buckets.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
                errors.push(ConfigError::new(
                    "histogram.explicit.buckets",
                    "bounds must be strictly increasing",
                ));
            }
        }
        errors
    }
}
