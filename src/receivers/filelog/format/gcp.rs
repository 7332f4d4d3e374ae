//! Google Cloud Load Balancing request logs, one JSON `LogEntry` a line as
//! Cloud Logging exports them (cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry
//! and its `HttpRequest`):
//!
//! ```json
//! {"httpRequest":{"requestMethod":"GET","requestUrl":"https://example.com/a?b=1","status":200,
//!  "responseSize":"1234","userAgent":"curl/8.5.0","remoteIp":"203.0.113.7","latency":"0.012345s",
//!  "protocol":"HTTP/1.1"},"timestamp":"2024-05-01T12:00:00.123456789Z", …}
//! ```
//!
//! Liberal in what it reads: `http_request` and snake-case keys (as some exports
//! and the BigQuery schema write them), sizes and status as JSON numbers or
//! strings (proto3 JSON writes int64 as a string), and `remoteIp` with or without
//! a port. Fields it does not know are ignored. A line without `httpRequest` is
//! not a request log.

use std::borrow::Cow;

use serde::Deserialize;

use super::scan::{protocol_version, request_method, request_target, split_socket, Attributes};
use super::{time, Malformed, Parsed};

const FORMAT: &str = "gcp_lb";

#[derive(Deserialize)]
struct LogEntry<'a> {
    #[serde(borrow, default, rename = "httpRequest", alias = "http_request")]
    http_request: Option<HttpRequest<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HttpRequest<'a> {
    #[serde(borrow, default, rename = "requestMethod", alias = "request_method")]
    request_method: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "requestUrl", alias = "request_url")]
    request_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Scalar<'a>>,
    #[serde(borrow, default, rename = "requestSize", alias = "request_size")]
    request_size: Option<Scalar<'a>>,
    #[serde(borrow, default, rename = "responseSize", alias = "response_size")]
    response_size: Option<Scalar<'a>>,
    #[serde(borrow, default, rename = "userAgent", alias = "user_agent")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "remoteIp", alias = "remote_ip")]
    remote_ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    latency: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    protocol: Option<Cow<'a, str>>,
}

/// A JSON number or a string holding one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Int(i64),
    Float(f64),
    Text(#[serde(borrow)] Cow<'a, str>),
}

impl Scalar<'_> {
    fn as_int(&self) -> Option<i64> {
        match self {
            Scalar::Int(value) => Some(*value).filter(|value| *value >= 0),
            Scalar::Float(_) => None,
            Scalar::Text(text) => super::scan::parse_int(text),
        }
    }

    /// A `google.protobuf.Duration` in its JSON form (`"0.012345s"`), or a
    /// plain number of seconds.
    fn as_seconds(&self) -> Option<f64> {
        match self {
            Scalar::Int(value) => Some(*value).filter(|value| *value >= 0).map(|value| value as f64),
            Scalar::Float(value) => Some(*value).filter(|seconds| seconds.is_finite() && *seconds >= 0.0),
            Scalar::Text(text) => super::scan::parse_decimal(text.strip_suffix('s').unwrap_or(text)),
        }
    }
}

/// Parses one LogEntry line.
pub(super) fn parse(line: &str) -> Result<Parsed, Malformed> {
    let entry: LogEntry<'_> =
        serde_json::from_str(line).map_err(|error| Malformed::new(FORMAT, format!("not a JSON LogEntry: {error}")))?;
    let request = entry
        .http_request
        .ok_or_else(|| Malformed::new(FORMAT, "no httpRequest object"))?;
    let time_unix_nano = match entry.timestamp {
        Some(text) => {
            Some(time::rfc3339(&text).ok_or_else(|| Malformed::new(FORMAT, "the timestamp is not an RFC 3339 time"))?)
        }
        None => None,
    };

    let mut attributes = Attributes::new();
    if let Some(method) = &request.request_method {
        request_method(&mut attributes, method);
    }
    if let Some(url) = &request.request_url {
        request_target(&mut attributes, url);
    }
    if let Some(version) = request.protocol.as_deref().and_then(protocol_version) {
        attributes.text("network.protocol.version", version);
    }
    if let Some(code) = &request.status {
        match code.as_int() {
            Some(code) if (0..1000).contains(&code) => attributes.int("http.response.status_code", code),
            _ => return Err(Malformed::new(FORMAT, "httpRequest.status is not a status code")),
        }
    }
    if let Some(remote) = &request.remote_ip {
        remote_ip(&mut attributes, remote);
    }
    if let Some(user_agent) = &request.user_agent {
        attributes.text("user_agent.original", user_agent);
    }
    for (key, size) in [
        ("http.request.size", &request.request_size),
        ("http.response.size", &request.response_size),
    ] {
        if let Some(bytes) = size.as_ref().and_then(Scalar::as_int) {
            attributes.int(key, bytes);
        }
    }
    if let Some(seconds) = request.latency.as_ref().and_then(Scalar::as_seconds) {
        attributes.double("http.server.request.duration", seconds);
    }
    Ok(Parsed {
        attributes: attributes.0,
        time_unix_nano,
    })
}

/// `remoteIp`: an address (IPv4 or IPv6), or one with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`).
fn remote_ip(attributes: &mut Attributes, remote: &str) {
    let with_port = remote.starts_with('[') || remote.bytes().filter(|b| *b == b':').count() == 1;
    match split_socket(remote).filter(|_| with_port) {
        Some((address, port)) => {
            attributes.text("client.address", address);
            attributes.int("client.port", port);
        }
        None => attributes.text("client.address", remote),
    }
}
