//! `otlp_grpc` exporter config, with the Collector's otlp exporter keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::confmap::{deserialize_duration, ConfigError, Validate};
use crate::exporters::{default_timeout, validate_helper};
use crate::exporters::{ClientTls, Compression, CompressionParams, QueueConfig, RetryConfig};

/// `exporters.otlp_grpc` (alias `otlp`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpGrpcConfig {
    /// `host:port`, or a URL whose scheme picks plaintext (`http://`) or TLS.
    pub endpoint: String,
    /// Metadata sent with every call (vendor API keys).
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
    /// `auth.authenticator`: a client authenticator extension whose headers every
    /// request carries.
    #[serde(default)]
    pub auth: Option<crate::component::auth::AuthConfig>,
    /// TLS settings; `insecure: true` for plaintext.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub tls: ClientTls,
    /// The bounded queue in front of the exporter.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub sending_queue: QueueConfig,
    /// Retry policy for retryable failures.
    #[serde(default, deserialize_with = "crate::confmap::null_as_default")]
    pub retry_on_failure: RetryConfig,
}

impl OtlpGrpcConfig {
    /// The URI to dial and whether it is plaintext.
    pub fn target(&self) -> Result<(String, bool), String> {
        let endpoint = self.endpoint.trim();
        let (rest, plaintext) = if let Some(rest) = endpoint.strip_prefix("http://") {
            (rest, true)
        } else if let Some(rest) = endpoint.strip_prefix("https://") {
            (rest, self.tls.insecure)
        } else if endpoint.contains("://") {
            return Err(format!(
                "{endpoint:?}: use host:port, http://host:port or https://host:port"
            ));
        } else {
            (endpoint, self.tls.insecure)
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || !rest.contains(':') {
            return Err(format!("{endpoint:?} needs a port (host:port)"));
        }
        let scheme = if plaintext { "http" } else { "https" };
        let uri = format!("{scheme}://{rest}");
        uri.parse::<http::Uri>()
            .map_err(|e| format!("{endpoint:?} is not a valid address: {e}"))?;
        Ok((uri, plaintext))
    }
}

impl Validate for OtlpGrpcConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = validate_helper(&self.sending_queue, &self.retry_on_failure, self.timeout);
        if let Err(e) = self.target() {
            errors.push(ConfigError::new("endpoint", e));
        }
        for (key, value) in &self.headers {
            if tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(key.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    format!("headers.{key}"),
                    "not a valid gRPC metadata key (lowercase ASCII)",
                ));
            } else if tonic::metadata::MetadataValue::<tonic::metadata::Ascii>::try_from(value.as_str()).is_err() {
                errors.push(ConfigError::new(
                    format!("headers.{key}"),
                    "value is not valid ASCII metadata",
                ));
            }
        }
        errors.extend(self.compression_params.validate(self.compression));
        errors.extend(self.tls.validate().into_iter().map(|e| e.under("tls")));
        errors
    }
}
