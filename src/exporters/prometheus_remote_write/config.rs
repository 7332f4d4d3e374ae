//! `prometheus_remote_write` exporter config, with the keys and defaults of the
//! Collector's prometheusremotewrite exporter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::component::auth::AuthConfig;
use crate::confmap::{deserialize_duration, ConfigError, Validate};
use crate::exporters::prometheus::translate::Translation;
use crate::exporters::prometheus::{check_labels, sanitized, ResourceToTelemetry};
use crate::exporters::{default_timeout, ClientTls, HelperSettings, QueueConfig, RetryConfig};

/// `exporters.prometheus_remote_write` (alias `prometheusremotewrite`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRemoteWriteConfig {
    /// The remote-write URL (`http://prometheus:9090/api/v1/write`); required.
    pub endpoint: String,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Prefix of every metric name.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels on every series.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// `enabled`: every resource attribute becomes a label.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Unit and type suffixes on metric names (default true).
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    /// `enabled`: write `target_info` series (default true).
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub target_info: TargetInfo,
    /// No `otel_scope_name`/`otel_scope_version` labels (default false).
    #[serde(default)]
    pub disable_scope_info: bool,
    /// Largest request body before snappy, in bytes (default 3000000): a batch with
    /// more series is sent as several requests.
    #[serde(default = "default_max_batch_size_bytes")]
    pub max_batch_size_bytes: usize,
    /// The bounded queue in front of the exporter.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub remote_write_queue: RemoteWriteQueue,
    /// Retry policy for 5xx and 429 answers and connection errors.
    #[serde(default = "default_retry", deserialize_with = "crate::confmap::null_as_default")]
    pub retry_on_failure: RetryConfig,
    /// Per-request deadline (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// TLS settings for `https://` endpoints.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub tls: ClientTls,
    /// `auth.authenticator`: a client authenticator extension whose headers every
    /// request carries.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Only `prometheus.WriteRequest` (remote write 1.0) is supported.
    #[serde(default)]
    pub protobuf_message: Option<String>,
    /// Only `snappy`, the one remote write allows.
    #[serde(default)]
    pub compression: Option<String>,
    /// The write-ahead log: not supported (refused with a message).
    #[serde(default)]
    pub wal: Option<IgnoredAny>,
    /// Metric metadata requests: not supported (refused when true).
    #[serde(default)]
    pub send_metadata: bool,
}

/// `target_info`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// Write `target_info` series (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `remote_write_queue`: the Collector's name for this exporter's sending queue.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteQueue {
    /// Off: the pipeline waits for each write (default on).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Batches held before refusing more (default 10000).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Concurrent writes (default 5).
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
}

impl Default for RemoteWriteQueue {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_size: default_queue_size(),
            num_consumers: default_num_consumers(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_queue_size() -> usize {
    10_000
}
fn default_num_consumers() -> usize {
    5
}
fn default_max_batch_size_bytes() -> usize {
    3_000_000
}

/// The Collector's retry defaults for this exporter (50ms, at most 200ms apart, for
/// a minute), used when `retry_on_failure` is not given at all; keys left out of a
/// given block take the exporterhelper's defaults.
fn default_retry() -> RetryConfig {
    RetryConfig {
        initial_interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(200),
        max_elapsed_time: Duration::from_secs(60),
        ..RetryConfig::default()
    }
}

impl PrometheusRemoteWriteConfig {
    /// The naming and labelling rules this config asks for.
    pub fn translation(&self) -> Translation {
        Translation {
            namespace: self.namespace.clone(),
            add_metric_suffixes: self.add_metric_suffixes,
            resource_to_telemetry: self.resource_to_telemetry_conversion.enabled,
            without_scope_info: self.disable_scope_info,
            target_info: self.target_info.enabled,
            extra_labels: sanitized(&self.external_labels),
        }
    }

    /// Queue, retry and timeout settings.
    pub fn helper(&self) -> HelperSettings {
        HelperSettings {
            timeout: self.timeout,
            queue: QueueConfig {
                enabled: self.remote_write_queue.enabled,
                queue_size: self.remote_write_queue.queue_size,
                num_consumers: self.remote_write_queue.num_consumers,
                ..QueueConfig::default()
            },
            retry: self.retry_on_failure.clone(),
        }
    }
}

impl Validate for PrometheusRemoteWriteConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let helper = self.helper();
        let mut errors: Vec<ConfigError> = helper
            .queue
            .validate()
            .into_iter()
            .map(|e| e.under("remote_write_queue"))
            .collect();
        errors.extend(helper.retry.validate().into_iter().map(|e| e.under("retry_on_failure")));
        if self.timeout.is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        match self.endpoint.parse::<http::Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
            _ => errors.push(ConfigError::new(
                "endpoint",
                format!("{:?} is not an http:// or https:// URL", self.endpoint),
            )),
        }
        for (key, value) in &self.headers {
            if http::HeaderName::from_bytes(key.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err() {
                errors.push(ConfigError::new(format!("headers.{key}"), "not a valid HTTP header"));
            }
        }
        errors.extend(check_labels("external_labels", &self.external_labels));
        if self.max_batch_size_bytes == 0 {
            errors.push(ConfigError::new("max_batch_size_bytes", "must be greater than 0"));
        }
        if let Some(message) = self
            .protobuf_message
            .as_deref()
            .filter(|m| *m != "prometheus.WriteRequest")
        {
            errors.push(ConfigError::new(
                "protobuf_message",
                format!("{message:?} is not supported by sloop: only prometheus.WriteRequest (remote write 1.0)"),
            ));
        }
        if let Some(compression) = self.compression.as_deref().filter(|c| *c != "snappy") {
            errors.push(ConfigError::new(
                "compression",
                format!("{compression:?}: remote write is always snappy-compressed"),
            ));
        }
        if self.wal.is_some() {
            errors.push(ConfigError::new(
                "wal",
                "the write-ahead log is not supported by sloop; the remote_write_queue is in memory",
            ));
        }
        if self.send_metadata {
            errors.push(ConfigError::new(
                "send_metadata",
                "metadata requests are not supported by sloop",
            ));
        }
        errors.extend(self.tls.validate().into_iter().map(|e| e.under("tls")));
        errors
    }
}
