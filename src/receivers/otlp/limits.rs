//! What a receiver protocol lets one client hold: its connection settings, with the
//! Collector's keys where it has them (`keepalive`, `max_concurrent_streams`,
//! `read_header_timeout`, `idle_timeout`) and sloop's `max_connections`.
//!
//! gRPC (`protocols.grpc`):
//!
//! | key | default | effect |
//! |---|---|---|
//! | `max_concurrent_streams` | no limit (as grpc-go) | streams one connection may have open at once (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`) |
//! | `keepalive.server_parameters.max_connection_idle` | none | a connection with no request in flight for this long gets GOAWAY and is closed (checked at least every `max_connection_idle`, so within twice that); also bounds the wait for a new connection's first byte |
//! | `keepalive.server_parameters.max_connection_age` | none | a connection this old gets GOAWAY; requests in flight finish |
//! | `keepalive.server_parameters.max_connection_age_grace` | none (wait for them) | how long those requests get after GOAWAY before the connection is closed |
//! | `keepalive.server_parameters.time` | none (no pings) | after this long without a frame from the client, sloop pings it |
//! | `keepalive.server_parameters.timeout` | 20s | a ping unanswered for this long closes the connection |
//! | `keepalive.enforcement_policy.min_time`, `.permit_without_stream` | 5m, false | **accepted without effect**: hyper answers client pings and has no ping policing, so Collector configs load, but no client is sent GOAWAY for pinging too often |
//! | `max_connections` | 10000 | see below |
//!
//! A gRPC connection that sends nothing at all (every gRPC client sends the HTTP/2
//! preface at once) is closed after [`SILENT_GRPC_CONNECTION_TIMEOUT`], or after
//! `max_connection_idle` if that is shorter.
//!
//! HTTP (`protocols.http`):
//!
//! | key | default | effect |
//! |---|---|---|
//! | `read_header_timeout` | 30s (hyper's; the Collector's is 1m) | a connection gets this long for its first byte, and then this long for each request head, counted from when sloop starts reading it: a client sending its headers a byte at a time (slowloris) is closed after it |
//! | `idle_timeout` | 1m (the Collector's) | a keep-alive connection with no request in flight for this long is closed (checked at least every `idle_timeout`). hyper also counts the wait for the next request's head against `read_header_timeout`, so an idle keep-alive connection is closed after the smaller of the two |
//! | `max_connections` | 10000 | see below |
//! | `cors` | none | see `cors.rs` |
//!
//! `max_connections` (sloop's own key, on either protocol): once that many
//! connections are open, each new one is accepted and closed at once (the client sees
//! the connection closed and can go to another instance), counted in
//! `sloop_receiver_connections_closed{reason="max_connections"}`; connections already
//! open keep working. `sloop_receiver_connections` is the number open. Each open
//! connection holds a file descriptor, so keep the sum of both protocols' limits
//! below the process's descriptor limit (`ulimit -n`) with room for exporters and
//! queue files; beyond that, the accept back-off of [`crate::accept`] applies.
//!
//! `read_timeout` and `write_timeout` (HTTP) are not supported: a body trickled
//! slowly is bounded by `max_request_body_size` and the connection limit.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Deserializer};

use super::config::{GrpcConfig, HttpConfig};
use crate::component::ComponentId;
use crate::confmap::{deserialize_duration, null_as_default, ConfigError};

/// The default `max_connections` of either protocol.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default HTTP `read_header_timeout`.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The default HTTP `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a gRPC connection may stay silent before its first byte.
pub const SILENT_GRPC_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The default `keepalive.server_parameters.timeout` (grpc-go's).
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// `protocols.grpc.keepalive`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveConfig {
    /// `server_parameters`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub server_parameters: KeepaliveServerParameters,
    /// `enforcement_policy`: accepted without effect (see the module docs).
    #[serde(default, deserialize_with = "null_as_default")]
    pub enforcement_policy: KeepaliveEnforcementPolicy,
}

/// `protocols.grpc.keepalive.server_parameters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveServerParameters {
    /// Close a connection with no request in flight for this long.
    #[serde(default, deserialize_with = "optional_duration")]
    pub max_connection_idle: Option<Duration>,
    /// Send GOAWAY to a connection this old.
    #[serde(default, deserialize_with = "optional_duration")]
    pub max_connection_age: Option<Duration>,
    /// How long requests in flight get after `max_connection_age`.
    #[serde(default, deserialize_with = "optional_duration")]
    pub max_connection_age_grace: Option<Duration>,
    /// Ping a client silent for this long.
    #[serde(default, deserialize_with = "optional_duration")]
    pub time: Option<Duration>,
    /// Close a connection whose ping is unanswered for this long (default 20s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
}

/// `protocols.grpc.keepalive.enforcement_policy` (no effect, see the module docs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveEnforcementPolicy {
    /// Accepted without effect.
    #[serde(default, deserialize_with = "optional_duration")]
    pub min_time: Option<Duration>,
    /// Accepted without effect.
    #[serde(default)]
    pub permit_without_stream: bool,
}

/// A duration key that may be left out.
fn optional_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(deserializer).map(Some)
}

/// Serde default of `max_connections`.
pub fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
/// Serde default of `read_header_timeout`.
pub fn default_read_header_timeout() -> Duration {
    DEFAULT_READ_HEADER_TIMEOUT
}
/// Serde default of `idle_timeout`.
pub fn default_idle_timeout() -> Duration {
    DEFAULT_IDLE_TIMEOUT
}

/// Checks the gRPC connection settings; `path` is `protocols.grpc`.
pub fn validate_grpc(
    path: &str,
    max_concurrent_streams: Option<u32>,
    keepalive: Option<&KeepaliveConfig>,
    max_connections: usize,
    errors: &mut Vec<ConfigError>,
) {
    if max_concurrent_streams == Some(0) {
        errors.push(ConfigError::new(
            format!("{path}.max_concurrent_streams"),
            "must be greater than 0 (leave it out for no limit)",
        ));
    }
    check_max_connections(path, max_connections, errors);
    let Some(keepalive) = keepalive else { return };
    let server = &keepalive.server_parameters;
    for (key, value) in [
        ("max_connection_idle", server.max_connection_idle),
        ("max_connection_age", server.max_connection_age),
        ("time", server.time),
        ("timeout", server.timeout),
    ] {
        if value == Some(Duration::ZERO) {
            errors.push(ConfigError::new(
                format!("{path}.keepalive.server_parameters.{key}"),
                "must be greater than 0 (leave it out for none)",
            ));
        }
    }
    if server.max_connection_age_grace.is_some() && server.max_connection_age.is_none() {
        errors.push(ConfigError::new(
            format!("{path}.keepalive.server_parameters.max_connection_age_grace"),
            "has no effect without max_connection_age",
        ));
    }
    if server.timeout.is_some() && server.time.is_none() {
        errors.push(ConfigError::new(
            format!("{path}.keepalive.server_parameters.timeout"),
            "has no effect without time (the interval of the pings it times out)",
        ));
    }
}

/// Checks the HTTP connection settings; `path` is `protocols.http`.
pub fn validate_http(
    path: &str,
    read_header_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    errors: &mut Vec<ConfigError>,
) {
    for (key, value) in [
        ("read_header_timeout", read_header_timeout),
        ("idle_timeout", idle_timeout),
    ] {
        if value.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}.{key}"),
                "must be greater than 0: without it, a client that never finishes would hold its connection forever",
            ));
        }
    }
    check_max_connections(path, max_connections, errors);
}

fn check_max_connections(path: &str, max_connections: usize, errors: &mut Vec<ConfigError>) {
    if max_connections == 0 {
        errors.push(ConfigError::new(
            format!("{path}.max_connections"),
            "must be greater than 0",
        ));
    }
}

/// The most an HTTP/1.1 connection's read buffer may grow to (hyper's default is
/// 408 KiB). The buffer grows while a large body is read and keeps its size while
/// the connection is idle on keep-alive; 64 KiB reads still take a body of several
/// MiB at full speed.
const HTTP1_MAX_BUF_SIZE: usize = 64 * 1024;

/// What the accept loop enforces on one listener, from its protocol's settings.
pub(crate) struct ConnectionPolicy {
    /// `receiver/transport`, for logs.
    pub listener: String,
    /// The receiver id, a metric label.
    pub receiver: String,
    /// `grpc` or `http`, a metric label.
    pub transport: &'static str,
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a new connection may stay silent before its first byte.
    pub first_byte_timeout: Duration,
    /// Close a connection with no request in flight for this long.
    pub idle_timeout: Option<Duration>,
    /// Send GOAWAY to a connection this old.
    pub max_age: Option<Duration>,
    /// How long a connection told to close may finish its requests.
    pub close_grace: Option<Duration>,
    /// hyper's connection settings.
    pub builder: auto::Builder<TokioExecutor>,
}

impl ConnectionPolicy {
    /// OTLP/gRPC: HTTP/2 only.
    pub fn grpc(id: &ComponentId, config: &GrpcConfig) -> Self {
        let server = config.keepalive.clone().unwrap_or_default().server_parameters;
        let mut builder = auto::Builder::new(TokioExecutor::new()).http2_only();
        let mut http2 = builder.http2();
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(config.max_concurrent_streams)
            .keep_alive_interval(server.time);
        if server.time.is_some() {
            http2.keep_alive_timeout(server.timeout.unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT));
        }
        let silent = server
            .max_connection_idle
            .map_or(SILENT_GRPC_CONNECTION_TIMEOUT, |idle| {
                idle.min(SILENT_GRPC_CONNECTION_TIMEOUT)
            });
        Self {
            listener: format!("{id}/grpc"),
            receiver: id.to_string(),
            transport: "grpc",
            max_connections: config.max_connections,
            first_byte_timeout: silent,
            idle_timeout: server.max_connection_idle,
            max_age: server.max_connection_age,
            close_grace: server.max_connection_age_grace,
            builder,
        }
    }

    /// OTLP/HTTP: HTTP/1.1 only, as the axum server sloop used before.
    pub fn http(id: &ComponentId, config: &HttpConfig) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
        // The timer makes hyper enforce the header read timeout.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.read_header_timeout)
            .max_buf_size(HTTP1_MAX_BUF_SIZE);
        Self {
            listener: format!("{id}/http"),
            receiver: id.to_string(),
            transport: "http",
            max_connections: config.max_connections,
            first_byte_timeout: config.read_header_timeout,
            idle_timeout: Some(config.idle_timeout),
            max_age: None,
            close_grace: None,
            builder,
        }
    }

    /// Counts a connection sloop closed, and why.
    pub fn count_closed(&self, reason: &'static str) {
        metrics::counter!(
            "sloop_receiver_connections_closed",
            "receiver" => self.receiver.clone(),
            "transport" => self.transport,
            "reason" => reason,
        )
        .increment(1);
    }

    /// The gauge of open connections.
    pub fn open_gauge(&self) -> metrics::Gauge {
        metrics::gauge!(
            "sloop_receiver_connections",
            "receiver" => self.receiver.clone(),
            "transport" => self.transport,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::OtlpReceiverConfig;
    use super::*;
    use crate::confmap::{parse_block, RawValue};

    fn parse(yaml: &str) -> Result<OtlpReceiverConfig, Vec<ConfigError>> {
        let dict: figment::value::Dict = figment::Figment::from(
            <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
        )
        .extract()
        .expect("test YAML is a mapping");
        parse_block::<OtlpReceiverConfig>(&RawValue::from(dict))
    }

    fn messages(yaml: &str) -> Vec<String> {
        parse(yaml).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_bound_every_protocol() {
        let config = parse("protocols: {grpc: , http: }").unwrap();
        let grpc = config.protocols.grpc.unwrap();
        assert_eq!(grpc.max_connections, 10_000);
        assert_eq!(grpc.max_concurrent_streams, None);
        assert!(grpc.keepalive.is_none());
        let http = config.protocols.http.unwrap();
        assert_eq!(http.max_connections, 10_000);
        assert_eq!(http.read_header_timeout, Duration::from_secs(30));
        assert_eq!(http.idle_timeout, Duration::from_secs(60));
        assert!(http.cors.is_none());
    }

    #[test]
    fn collector_keys_parse() {
        let config = parse(
            "protocols:
  grpc:
    max_concurrent_streams: 16
    max_connections: 500
    keepalive:
      server_parameters:
        max_connection_idle: 11s
        max_connection_age: 12s
        max_connection_age_grace: 13s
        time: 30s
        timeout: 5s
      enforcement_policy:
        min_time: 10s
        permit_without_stream: true
  http:
    read_header_timeout: 2.5s
    idle_timeout: 90s
    max_connections: 20",
        )
        .unwrap();
        let grpc = config.protocols.grpc.unwrap();
        assert_eq!(grpc.max_concurrent_streams, Some(16));
        let server = grpc.keepalive.unwrap().server_parameters;
        assert_eq!(server.max_connection_idle, Some(Duration::from_secs(11)));
        assert_eq!(server.max_connection_age_grace, Some(Duration::from_secs(13)));
        assert_eq!(server.timeout, Some(Duration::from_secs(5)));
        let http = config.protocols.http.unwrap();
        assert_eq!(http.read_header_timeout, Duration::from_millis(2500));
        assert_eq!(http.max_connections, 20);
    }

    #[test]
    fn the_policy_follows_the_settings() {
        let config = parse(
            "protocols:
  grpc:
    keepalive:
      server_parameters: {max_connection_idle: 5s, max_connection_age: 1h}
  http:
    read_header_timeout: 2s",
        )
        .unwrap();
        let id = ComponentId::parse("otlp/edge").unwrap();
        let grpc = ConnectionPolicy::grpc(&id, config.protocols.grpc.as_ref().unwrap());
        assert_eq!(
            grpc.first_byte_timeout,
            Duration::from_secs(5),
            "max_connection_idle is shorter"
        );
        assert_eq!(grpc.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(grpc.max_age, Some(Duration::from_secs(3600)));
        assert_eq!(grpc.listener, "otlp/edge/grpc");
        let http = ConnectionPolicy::http(&id, config.protocols.http.as_ref().unwrap());
        assert_eq!(http.first_byte_timeout, Duration::from_secs(2));
        assert_eq!(http.idle_timeout, Some(DEFAULT_IDLE_TIMEOUT));
        let quiet = ConnectionPolicy::grpc(&id, &GrpcConfig::default());
        assert_eq!(quiet.first_byte_timeout, SILENT_GRPC_CONNECTION_TIMEOUT);
        assert_eq!(quiet.idle_timeout, None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let errors = messages(
            "protocols:
  grpc:
    max_concurrent_streams: 0
    max_connections: 0
    keepalive:
      server_parameters: {time: 0s, max_connection_age_grace: 5s, timeout: 1s}
  http:
    read_header_timeout: 0s
    idle_timeout: 0s
    max_connections: 0",
        );
        for expected in [
            "protocols.grpc.max_concurrent_streams: must be greater than 0",
            "protocols.grpc.max_connections: must be greater than 0",
            "protocols.grpc.keepalive.server_parameters.time: must be greater than 0",
            "protocols.grpc.keepalive.server_parameters.max_connection_age_grace: has no effect without max_connection_age",
            "protocols.http.read_header_timeout: must be greater than 0",
            "protocols.http.idle_timeout: must be greater than 0",
            "protocols.http.max_connections: must be greater than 0",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "no {expected:?} in {errors:#?}"
            );
        }
        let errors = messages("protocols: {grpc: {keepalive: {server_parameters: {timeout: 1s}}}}");
        assert!(errors[0].contains("timeout: has no effect without time"), "{errors:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        for yaml in [
            "protocols: {grpc: {keepalive: {server_parameters: {max_idle: 1s}}}}",
            "protocols: {grpc: {keepalive: {enforcement: {}}}}",
            "protocols: {http: {read_timeout: 1s}}",
            "protocols: {http: {cors: {allowed_methods: [GET]}}}",
        ] {
            assert!(parse(yaml).is_err(), "{yaml} was accepted");
        }
    }
}
