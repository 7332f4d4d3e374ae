//! `otlp` receiver config, with the Collector's keys and defaults.

use serde::Deserialize;

use crate::confmap::{deserialize_present, ConfigError, Validate};
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

/// Checks a `host:port` listen address without resolving it.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return Err(format!("{endpoint:?} is not host:port"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{endpoint:?} has no valid port"));
    }
    if host.is_empty() {
        return Err(format!("{endpoint:?} has no host (use 0.0.0.0 for every interface)"));
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
