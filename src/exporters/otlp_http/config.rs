//! `otlp_http` exporter config, with the Collector's otlphttp exporter keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::component::Signal;
use crate::confmap::{deserialize_duration, ConfigError, Validate};
use crate::exporters::{
    default_timeout, validate_helper, ClientTls, Compression, CompressionParams, QueueConfig, RetryConfig,
};

/// `exporters.otlp_http` (alias `otlphttp`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpHttpConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Full URL for traces, overriding `endpoint`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, overriding `endpoint`.
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, overriding `endpoint`.
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// `proto` (default) or `json`.
    #[serde(default)]
    pub encoding: HttpEncoding,
    /// Headers sent with every request (vendor API keys).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default), `zstd` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// `compression_params.level`: gzip 1 (fastest, default) to 9; zstd's levels
    /// (default 3). See [`CompressionParams`].
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub compression_params: CompressionParams,
    /// Per-attempt deadline (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// TLS settings (`ca_file`); the URL scheme decides between http and https.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub tls: ClientTls,
    /// The bounded queue in front of the exporter.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub sending_queue: QueueConfig,
    /// `auth.authenticator`: a client authenticator extension whose headers every
    /// request carries.
    #[serde(default)]
    pub auth: Option<crate::component::auth::AuthConfig>,
    /// Retry policy for retryable failures.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub retry_on_failure: RetryConfig,
}

/// Request body encoding.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HttpEncoding {
    /// `application/x-protobuf`.
    #[default]
    Proto,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl OtlpHttpConfig {
    /// The URL for `signal`.
    pub fn url(&self, signal: Signal) -> Result<String, String> {
        let specific = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        let url = match (specific, &self.endpoint) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{}/v1/{}", base.trim_end_matches('/'), signal.as_str()),
            (None, None) => return Err("set endpoint (or traces_endpoint, metrics_endpoint, logs_endpoint)".into()),
        };
        let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => Ok(url),
            _ => Err(format!("{url:?} must start with http:// or https://")),
        }
    }
}

impl Validate for OtlpHttpConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = validate_helper(&self.sending_queue, &self.retry_on_failure, self.timeout);
        if self.endpoint.is_none()
            && self.traces_endpoint.is_none()
            && self.metrics_endpoint.is_none()
            && self.logs_endpoint.is_none()
        {
            errors.push(ConfigError::new(
                "endpoint",
                "missing: set endpoint (or a per-signal *_endpoint)",
            ));
        } else {
            for (signal, key, value) in [
                (Signal::Traces, "traces_endpoint", &self.traces_endpoint),
                (Signal::Metrics, "metrics_endpoint", &self.metrics_endpoint),
                (Signal::Logs, "logs_endpoint", &self.logs_endpoint),
            ] {
                let key = if value.is_some() { key } else { "endpoint" };
                if value.is_some() || self.endpoint.is_some() {
                    if let Err(e) = self.url(signal) {
                        let error = ConfigError::new(key, e);
                        if !errors.contains(&error) {
                            errors.push(error);
                        }
                    }
                }
            }
        }
        for (key, value) in &self.headers {
            if http::HeaderName::from_bytes(key.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err() {
                errors.push(ConfigError::new(format!("headers.{key}"), "not a valid HTTP header"));
            }
        }
        errors.extend(self.compression_params.validate(self.compression));
        errors.extend(self.tls.validate().into_iter().map(|e| e.under("tls")));
        errors
    }
}
