//! `prometheus` exporter config, with the keys and defaults of the Collector's
//! prometheus exporter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::translate::{sanitize_label, Translation};
use crate::confmap::{deserialize_duration, ConfigError, Validate};
use crate::receivers::otlp::check_endpoint;

/// `exporters.prometheus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `host:port` the scrape page (`/metrics`) listens on (default `0.0.0.0:8889`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Prefix of every metric name.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels on every series.
    #[serde(default)]
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's timestamp (default false: Prometheus uses the scrape's).
    #[serde(default)]
    pub send_timestamps: bool,
    /// How long a series stays on the page without updates (default 5m).
    #[serde(default = "default_expiration", deserialize_with = "deserialize_duration")]
    pub metric_expiration: Duration,
    /// `enabled`: every resource attribute becomes a label.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Serve OpenMetrics (with exemplars) to scrapers that ask for it.
    #[serde(default)]
    pub enable_open_metrics: bool,
    /// Unit and type suffixes on metric names (default true).
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    /// No `otel_scope_name`/`otel_scope_version` labels (default false).
    #[serde(default)]
    pub without_scope_info: bool,
    /// Server TLS on the scrape page: not supported (refused with a message).
    #[serde(default)]
    pub tls: Option<IgnoredAny>,
}

/// `resource_to_telemetry_conversion`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceToTelemetry {
    /// Every resource attribute becomes a label (default false).
    #[serde(default)]
    pub enabled: bool,
}

fn default_endpoint() -> String {
    "0.0.0.0:8889".into()
}

fn default_expiration() -> Duration {
    Duration::from_secs(300)
}

fn yes() -> bool {
    true
}

impl PrometheusConfig {
    /// The naming and labelling rules this config asks for.
    pub fn translation(&self) -> Translation {
        Translation {
            namespace: self.namespace.clone(),
            add_metric_suffixes: self.add_metric_suffixes,
            resource_to_telemetry: self.resource_to_telemetry_conversion.enabled,
            without_scope_info: self.without_scope_info,
            target_info: true,
            extra_labels: sanitized(&self.const_labels),
        }
    }
}

/// Configured labels (`const_labels`, `external_labels`) under Prometheus names.
pub fn sanitized(labels: &BTreeMap<String, String>) -> Vec<(String, String)> {
    labels.iter().map(|(k, v)| (sanitize_label(k), v.clone())).collect()
}

/// Errors for configured labels Prometheus would not take: empty names, names
/// starting with `__` (reserved), empty values. Other invalid characters are
/// replaced by `_`, as for attributes.
pub fn check_labels(key: &str, labels: &BTreeMap<String, String>) -> Vec<ConfigError> {
    labels
        .iter()
        .filter_map(|(name, value)| {
            let problem = if name.is_empty() {
                "an empty label name"
            } else if name.starts_with("__") {
                "label names starting with __ are reserved for Prometheus"
            } else if value.is_empty() {
                "an empty value (Prometheus treats it as no label)"
            } else {
                return None;
            };
            Some(ConfigError::new(format!("{key}.{name}"), problem))
        })
        .collect()
}

impl Validate for PrometheusConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = check_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if self.metric_expiration.is_zero() {
            errors.push(ConfigError::new("metric_expiration", "must be greater than 0"));
        }
        errors.extend(check_labels("const_labels", &self.const_labels));
        if self.tls.is_some() {
            errors.push(ConfigError::new(
                "tls",
                "TLS on the scrape page is not supported by sloop; put a TLS-terminating proxy in front",
            ));
        }
        errors
    }
}
