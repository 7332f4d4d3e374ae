//! `otlp` receiver config, with the Collector's keys and defaults.

use serde::Deserialize;

use std::time::Duration;

use super::cors::CorsConfig;
use super::limits::{self, KeepaliveConfig};
use crate::component::auth::AuthConfig;
use crate::confmap::{deserialize_duration, deserialize_present, ConfigError, Validate};
use crate::tls::ServerTls;

/// `receivers.otlp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// Which transports to serve; at least one.
    pub protocols: Protocols,
}

/// `protocols`: a transport listed (even with no settings) is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub http: Option<HttpConfig>,
}

/// `protocols.grpc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// `host:port` to listen on (default `localhost:4317`).
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    /// Largest accepted message, after decompression, in MiB (default 4).
    #[serde(default = "default_max_recv_msg_size_mib")]
    pub max_recv_msg_size_mib: usize,
    /// `auth.authenticator`: the server authenticator every request must pass.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Keep each request's metadata with its data (default false).
    #[serde(default)]
    pub include_metadata: bool,
    /// Streams one connection may have open at once (default: no limit).
    #[serde(default)]
    pub max_concurrent_streams: Option<u32>,
    /// Connection keepalive and lifetime (see `limits.rs`).
    #[serde(default, deserialize_with = "deserialize_present")]
    pub keepalive: Option<KeepaliveConfig>,
    /// Connections open at once; more are closed at once (default 10000).
    #[serde(default = "limits::default_max_connections")]
    pub max_connections: usize,
    /// TLS (and mTLS with `client_ca_file`); absent: plaintext. Present but
    /// empty (`tls:`) is an error, not plaintext.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub tls: Option<ServerTls>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size_mib: default_max_recv_msg_size_mib(),
            auth: None,
            include_metadata: false,
            max_concurrent_streams: None,
            keepalive: None,
            max_connections: limits::default_max_connections(),
            tls: None,
        }
    }
}

/// `protocols.http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on (default `localhost:4318`).
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// Largest accepted body in bytes, both as sent and after decompression
    /// (default 20 MiB).
    #[serde(default = "default_max_request_body_size")]
    pub max_request_body_size: usize,
    /// Path for traces (default `/v1/traces`).
    #[serde(default = "default_traces_url_path")]
    pub traces_url_path: String,
    /// Path for metrics (default `/v1/metrics`).
    #[serde(default = "default_metrics_url_path")]
    pub metrics_url_path: String,
    /// Path for logs (default `/v1/logs`).
    #[serde(default = "default_logs_url_path")]
    pub logs_url_path: String,
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
    /// TLS (and mTLS with `client_ca_file`); absent: plaintext. Present but
    /// empty (`tls:`) is an error, not plaintext.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub tls: Option<ServerTls>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: default_http_endpoint(),
            max_request_body_size: default_max_request_body_size(),
            traces_url_path: default_traces_url_path(),
            metrics_url_path: default_metrics_url_path(),
            logs_url_path: default_logs_url_path(),
            auth: None,
            include_metadata: false,
            cors: None,
            read_header_timeout: limits::default_read_header_timeout(),
            idle_timeout: limits::default_idle_timeout(),
            max_connections: limits::default_max_connections(),
            tls: None,
        }
    }
}

fn default_grpc_endpoint() -> String {
    "localhost:4317".into()
}
fn default_max_recv_msg_size_mib() -> usize {
    4
}
fn default_http_endpoint() -> String {
    "localhost:4318".into()
}
fn default_max_request_body_size() -> usize {
    20 * 1024 * 1024
}
fn default_traces_url_path() -> String {
    "/v1/traces".into()
}
fn default_metrics_url_path() -> String {
    "/v1/metrics".into()
}
fn default_logs_url_path() -> String {
    "/v1/logs".into()
}

/// Checks a `host:port` listen address without resolving it. A host-less `:port`
/// is accepted: it listens on every interface ([`crate::accept::bind`]).
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let Some((_host, port)) = endpoint.rsplit_once(':') else {
        return Err(format!("{endpoint:?} is not host:port"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{endpoint:?} has no valid port"));
    }
    Ok(())
}

impl Validate for OtlpReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let p = &self.protocols;
        if p.grpc.is_none() && p.http.is_none() {
            errors.push(ConfigError::new(
                "protocols",
                "at least one of grpc and http is required",
            ));
        }
        if let Some(grpc) = &p.grpc {
            if let Err(e) = check_endpoint(&grpc.endpoint) {
                errors.push(ConfigError::new("protocols.grpc.endpoint", e));
            }
            if grpc.max_recv_msg_size_mib == 0 {
                errors.push(ConfigError::new(
                    "protocols.grpc.max_recv_msg_size_mib",
                    "must be greater than 0",
                ));
            }
            limits::validate_grpc(
                "protocols.grpc",
                grpc.max_concurrent_streams,
                grpc.keepalive.as_ref(),
                grpc.max_connections,
                &mut errors,
            );
        }
        if let Some(http) = &p.http {
            if let Err(e) = check_endpoint(&http.endpoint) {
                errors.push(ConfigError::new("protocols.http.endpoint", e));
            }
            if http.max_request_body_size == 0 {
                errors.push(ConfigError::new(
                    "protocols.http.max_request_body_size",
                    "must be greater than 0",
                ));
            }
            for (key, path) in [
                ("traces_url_path", &http.traces_url_path),
                ("metrics_url_path", &http.metrics_url_path),
                ("logs_url_path", &http.logs_url_path),
            ] {
                if !path.starts_with('/') {
                    errors.push(ConfigError::new(format!("protocols.http.{key}"), "must start with '/'"));
                }
            }
            limits::validate_http(
                "protocols.http",
                http.read_header_timeout,
                http.idle_timeout,
                http.max_connections,
                &mut errors,
            );
            if let Some(cors) = &http.cors {
                cors.validate("protocols.http.cors", &mut errors);
            }
        }
        errors.extend(validate_tls(p));
        if let (Some(g), Some(h)) = (&p.grpc, &p.http) {
            if g.endpoint == h.endpoint && !g.endpoint.ends_with(":0") {
                errors.push(ConfigError::new(
                    "protocols.http.endpoint",
                    "must differ from protocols.grpc.endpoint",
                ));
            }
        }
        errors
    }
}

/// The `tls` blocks of both protocols, with their paths.
fn validate_tls(protocols: &Protocols) -> Vec<ConfigError> {
    let blocks = [
        (
            "protocols.grpc.tls",
            protocols.grpc.as_ref().and_then(|g| g.tls.as_ref()),
        ),
        (
            "protocols.http.tls",
            protocols.http.as_ref().and_then(|h| h.tls.as_ref()),
        ),
    ];
    blocks
        .into_iter()
        .filter_map(|(path, tls)| Some((path, tls?)))
        .flat_map(|(path, tls)| tls.validate().into_iter().map(move |e| e.under(path)))
        .collect()
}
