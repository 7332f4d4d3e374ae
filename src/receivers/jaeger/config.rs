//! `jaeger` receiver config, with the Collector's keys and defaults.

use serde::Deserialize;

use crate::confmap::{deserialize_present, ConfigError, Validate};
use crate::receivers::otlp::check_endpoint;

/// `receivers.jaeger`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerReceiverConfig {
    /// Which protocols to serve; at least one.
    pub protocols: Protocols,
}

/// `protocols`: a protocol listed (even with no settings) is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// `jaeger.api_v2.CollectorService` over gRPC.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub grpc: Option<GrpcConfig>,
    /// `POST /api/traces` with a Thrift binary `Batch`.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub thrift_http: Option<HttpConfig>,
    /// The agent's UDP `emitBatch` in the Thrift compact protocol.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub thrift_compact: Option<UdpConfig>,
    /// The agent's UDP `emitBatch` in the Thrift binary protocol.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub thrift_binary: Option<UdpConfig>,
}

/// `protocols.grpc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// `host:port` to listen on (default `localhost:14250`).
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    /// Largest accepted message, after decompression, in MiB (default 4).
    #[serde(default = "default_max_recv_msg_size_mib")]
    pub max_recv_msg_size_mib: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size_mib: default_max_recv_msg_size_mib(),
        }
    }
}

/// `protocols.thrift_http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on (default `localhost:14268`).
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// Largest accepted body in bytes (default 20 MiB, as the Collector's HTTP servers).
    #[serde(default = "default_max_request_body_size")]
    pub max_request_body_size: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: default_http_endpoint(),
            max_request_body_size: default_max_request_body_size(),
        }
    }
}

/// `protocols.thrift_compact` and `protocols.thrift_binary`: a UDP server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpConfig {
    /// `host:port` to listen on (default `localhost:6831` compact, `localhost:6832`
    /// binary); see [`UdpConfig::endpoint_or`].
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Datagrams waiting for a worker; more are dropped and counted (default 1000).
    #[serde(default)]
    pub queue_size: Option<usize>,
    /// Largest datagram in bytes; longer ones arrive cut short and fail to decode
    /// (default 65000).
    #[serde(default)]
    pub max_packet_size: Option<usize>,
    /// Tasks decoding datagrams (default 10).
    #[serde(default)]
    pub workers: Option<usize>,
    /// The socket's receive buffer (`SO_RCVBUF`) in bytes; 0 keeps the system's
    /// (default 0).
    #[serde(default)]
    pub socket_buffer_size: Option<usize>,
}

impl UdpConfig {
    /// The endpoint, or `default` when not set.
    pub fn endpoint_or(&self, default: &str) -> String {
        self.endpoint.clone().unwrap_or_else(|| default.to_string())
    }
    /// `queue_size` with its default.
    pub fn queue_size(&self) -> usize {
        self.queue_size.unwrap_or(1000)
    }
    /// `max_packet_size` with its default.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size.unwrap_or(65_000)
    }
    /// `workers` with its default.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or(10)
    }
    /// `socket_buffer_size` with its default.
    pub fn socket_buffer_size(&self) -> usize {
        self.socket_buffer_size.unwrap_or(0)
    }
}

/// The compact agent port's default endpoint.
pub const COMPACT_ENDPOINT: &str = "localhost:6831";
/// The binary agent port's default endpoint.
pub const BINARY_ENDPOINT: &str = "localhost:6832";

fn default_grpc_endpoint() -> String {
    "localhost:14250".into()
}

fn default_http_endpoint() -> String {
    "localhost:14268".into()
}

fn default_max_recv_msg_size_mib() -> usize {
    4
}

fn default_max_request_body_size() -> usize {
    20 * 1024 * 1024
}

impl Validate for JaegerReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let p = &self.protocols;
        if p.grpc.is_none() && p.thrift_http.is_none() && p.thrift_compact.is_none() && p.thrift_binary.is_none() {
            errors.push(ConfigError::new(
                "protocols",
                "at least one of grpc, thrift_http, thrift_compact and thrift_binary is required",
            ));
        }
        let mut endpoint = |path: &str, endpoint: &str| {
            if let Err(e) = check_endpoint(endpoint) {
                errors.push(ConfigError::new(path, e));
            }
        };
        if let Some(grpc) = &p.grpc {
            endpoint("protocols.grpc.endpoint", &grpc.endpoint);
        }
        if let Some(http) = &p.thrift_http {
            endpoint("protocols.thrift_http.endpoint", &http.endpoint);
        }
        for (name, udp, default) in [
            ("thrift_compact", &p.thrift_compact, COMPACT_ENDPOINT),
            ("thrift_binary", &p.thrift_binary, BINARY_ENDPOINT),
        ] {
            if let Some(udp) = udp {
                endpoint(&format!("protocols.{name}.endpoint"), &udp.endpoint_or(default));
            }
        }
        if let Some(grpc) = &p.grpc {
            if grpc.max_recv_msg_size_mib == 0 {
                errors.push(ConfigError::new(
                    "protocols.grpc.max_recv_msg_size_mib",
                    "must be at least 1",
                ));
            }
        }
        if let Some(http) = &p.thrift_http {
            if http.max_request_body_size == 0 {
                errors.push(ConfigError::new(
                    "protocols.thrift_http.max_request_body_size",
                    "must be at least 1",
                ));
            }
        }
        for (name, udp) in [
            ("thrift_compact", &p.thrift_compact),
            ("thrift_binary", &p.thrift_binary),
        ] {
            let Some(udp) = udp else { continue };
            let checks = [
                ("queue_size", udp.queue_size() >= 1, "must be at least 1"),
                ("workers", udp.workers() >= 1, "must be at least 1"),
                (
                    "max_packet_size",
                    (1..=65_535).contains(&udp.max_packet_size()),
                    "must be between 1 and 65535",
                ),
            ];
            for (key, ok, message) in checks {
                if !ok {
                    errors.push(ConfigError::new(format!("protocols.{name}.{key}"), message));
                }
            }
        }
        errors
    }
}
