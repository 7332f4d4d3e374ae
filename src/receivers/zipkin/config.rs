//! `zipkin` receiver config: the Collector's keys (`endpoint`, `parse_string_tags`
//! and the `confighttp` server settings sloop's OTLP/HTTP receiver has) and defaults.

use std::time::Duration;

use serde::Deserialize;

use crate::component::auth::AuthConfig;
use crate::confmap::{deserialize_duration, deserialize_present, ConfigError, Validate};
use crate::receivers::otlp::limits;
use crate::receivers::otlp::{check_endpoint, CorsConfig, HttpConfig};
use crate::tls::ServerTls;

/// `receivers.zipkin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZipkinReceiverConfig {
    /// `host:port` to listen on (default `localhost:9411`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Turn tag values that look like integers, floats or booleans into attributes
    /// of those types (default false: every tag is a string attribute).
    #[serde(default)]
    pub parse_string_tags: bool,
    /// Largest accepted body in bytes, both as sent and after decompression
    /// (default 20 MiB, the Collector's).
    #[serde(default = "default_max_request_body_size")]
    pub max_request_body_size: usize,
    /// `auth.authenticator`: the server authenticator every request must pass.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Keep each request's headers with its data (default false).
    #[serde(default)]
    pub include_metadata: bool,
    /// Cross-origin requests from browsers (default: none allowed).
    #[serde(default, deserialize_with = "deserialize_present")]
    pub cors: Option<CorsConfig>,
    /// How long a request head may take (default 30s).
    #[serde(
        default = "limits::default_read_header_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub read_header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request (default 1m).
    #[serde(default = "limits::default_idle_timeout", deserialize_with = "deserialize_duration")]
    pub idle_timeout: Duration,
    /// Connections open at once; more are closed at once (default 10000).
    #[serde(default = "limits::default_max_connections")]
    pub max_connections: usize,
    /// TLS (and mTLS with `client_ca_file`); absent: plaintext. Present but empty
    /// (`tls:`) is an error, not plaintext.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub tls: Option<ServerTls>,
}

fn default_endpoint() -> String {
    "localhost:9411".into()
}

fn default_max_request_body_size() -> usize {
    20 * 1024 * 1024
}

impl ZipkinReceiverConfig {
    /// The same server settings in the OTLP/HTTP receiver's shape, whose listener
    /// plumbing (connection limits, timeouts) the zipkin receiver shares.
    pub fn http_server(&self) -> HttpConfig {
        HttpConfig {
            endpoint: self.endpoint.clone(),
            max_request_body_size: self.max_request_body_size,
            auth: self.auth.clone(),
            include_metadata: self.include_metadata,
            cors: self.cors.clone(),
            read_header_timeout: self.read_header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            tls: self.tls.clone(),
            ..HttpConfig::default()
        }
    }
}

impl Validate for ZipkinReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = check_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if self.max_request_body_size == 0 {
            errors.push(ConfigError::new("max_request_body_size", "must be greater than 0"));
        }
        // The OTLP receiver's checks, with their `protocols.http.` prefix taken off:
        // here the same keys sit at the top of the block.
        let mut server = Vec::new();
        limits::validate_http(
            "protocols.http",
            self.read_header_timeout,
            self.idle_timeout,
            self.max_connections,
            &mut server,
        );
        if let Some(cors) = &self.cors {
            cors.validate("protocols.http.cors", &mut server);
        }
        errors.extend(server.into_iter().map(|mut e| {
            e.path = e.path.trim_start_matches("protocols.http.").to_owned();
            e
        }));
        if let Some(tls) = &self.tls {
            errors.extend(tls.validate().into_iter().map(|e| e.under("tls")));
        }
        errors
    }
}
