//! Zipkin's wire formats, decoded into one span model ([`ZipkinSpan`], the shape of
//! zipkin-go's `SpanModel`, which the Collector translates from): v2 JSON
//! (`zipkin2-api.yaml`), v2 protobuf (`zipkin.proto`) and v1 JSON ([`V1Span`],
//! translated on its own rules in `translate.rs`).
//!
//! Every malformed body is an error that says what and where (`span 3: traceId ...`);
//! nothing here panics on input.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer};

/// One Zipkin v2 span, IDs and endpoints checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZipkinSpan {
    /// 128-bit trace ID; a 64-bit one is its low half (the high 8 bytes are zero).
    pub trace_id: [u8; 16],
    /// Span ID, never zero.
    pub id: [u8; 8],
    /// Parent span ID, if any.
    pub parent_id: Option<[u8; 8]>,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: Kind,
    /// Start, in µs since the epoch; 0 when absent.
    pub timestamp_us: u64,
    /// Duration in µs; 0 when absent.
    pub duration_us: u64,
    /// The service that recorded the span.
    pub local_endpoint: Option<Endpoint>,
    /// The other side of an RPC or message.
    pub remote_endpoint: Option<Endpoint>,
    /// Timestamped events.
    pub annotations: Vec<Annotation>,
    /// String tags, in key order.
    pub tags: BTreeMap<String, String>,
}

/// Zipkin's span kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// No kind, or one Zipkin does not define.
    #[default]
    Unspecified,
    /// `CLIENT`.
    Client,
    /// `SERVER`.
    Server,
    /// `PRODUCER`.
    Producer,
    /// `CONSUMER`.
    Consumer,
}

/// A network endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `serviceName`; may be empty.
    pub service_name: String,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Port; 0 when absent.
    pub port: u16,
}

/// A timestamped event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotation {
    /// When, in µs since the epoch.
    pub timestamp_us: u64,
    /// What.
    pub value: String,
}

// ---------------------------------------------------------------- v2 JSON

/// A v2 JSON span as sent. Unknown fields are ignored, as zipkin-go does; `null`
/// is accepted wherever a field may be absent (OpenTelemetry's Python exporter sends
/// `"kind": null` and `null` tag values).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    local_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default, deserialize_with = "nullable_tags")]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default)]
    port: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    value: Option<String>,
}

/// Tags as a string map; a `null` value is the empty string (as in Go).
fn nullable_tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let tags: Option<BTreeMap<String, Option<String>>> = Option::deserialize(deserializer)?;
    Ok(tags
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or_default()))
        .collect())
}

/// Decodes a v2 JSON body: an array of spans.
pub fn decode_v2_json(body: &[u8]) -> Result<Vec<ZipkinSpan>, String> {
    let spans: Vec<Option<JsonSpan>> =
        serde_json::from_slice(body).map_err(|e| format!("invalid Zipkin v2 JSON body: {e}"))?;
    spans
        .into_iter()
        .enumerate()
        // A `null` element is skipped, as the Collector skips nil spans.
        .filter_map(|(i, span)| span.map(|span| (i, span)))
        .map(|(i, span)| json_span(span).map_err(|e| format!("span {i}: {e}")))
        .collect()
}

fn json_span(span: JsonSpan) -> Result<ZipkinSpan, String> {
    let trace_id = trace_id_from_hex(span.trace_id.as_deref().unwrap_or(""))?;
    let id = span_id_from_hex("id", span.id.as_deref().unwrap_or(""))?;
    let parent_id = match span.parent_id.as_deref() {
        None | Some("") => None,
        Some(hex) => Some(span_id_from_hex("parentId", hex)?),
    };
    let kind = match span.kind.as_deref() {
        Some("CLIENT") => Kind::Client,
        Some("SERVER") => Kind::Server,
        Some("PRODUCER") => Kind::Producer,
        Some("CONSUMER") => Kind::Consumer,
        _ => Kind::Unspecified,
    };
    let annotations = span
        .annotations
        .unwrap_or_default()
        .into_iter()
        .map(|a| Annotation {
            timestamp_us: a.timestamp.unwrap_or(0),
            value: a.value.unwrap_or_default(),
        })
        .collect();
    Ok(ZipkinSpan {
        trace_id,
        id,
        parent_id,
        name: span.name.unwrap_or_default(),
        kind,
        timestamp_us: span.timestamp.unwrap_or(0),
        duration_us: span.duration.unwrap_or(0),
        local_endpoint: span.local_endpoint.and_then(json_endpoint),
        remote_endpoint: span.remote_endpoint.and_then(json_endpoint),
        annotations,
        tags: span.tags,
    })
}

/// An endpoint; `None` when it says nothing. An address that does not parse is left
/// out, as Go's `net.ParseIP` leaves it nil.
fn json_endpoint(endpoint: JsonEndpoint) -> Option<Endpoint> {
    let endpoint = Endpoint {
        service_name: endpoint.service_name.unwrap_or_default(),
        ipv4: endpoint.ipv4.and_then(|ip| ip.parse().ok()),
        ipv6: endpoint.ipv6.and_then(|ip| ip.parse().ok()),
        port: endpoint.port.unwrap_or(0),
    };
    (endpoint != Endpoint::default()).then_some(endpoint)
}

/// A trace ID of 1 to 32 hex digits (16 or fewer: a 64-bit ID), not zero.
fn trace_id_from_hex(hex: &str) -> Result<[u8; 16], String> {
    let invalid = || format!("traceId {hex:?} is not 1 to 32 hex digits");
    if hex.is_empty() || hex.len() > 32 {
        return Err(invalid());
    }
    let value = u128::from_str_radix(hex, 16).map_err(|_| invalid())?;
    // `from_str_radix` takes a leading sign; an ID has none.
    if hex.starts_with(['+', '-']) {
        return Err(invalid());
    }
    if value == 0 {
        return Err("traceId is zero".into());
    }
    Ok(value.to_be_bytes())
}

/// A span ID of 1 to 16 hex digits, not zero.
fn span_id_from_hex(field: &str, hex: &str) -> Result<[u8; 8], String> {
    let invalid = || format!("{field} {hex:?} is not 1 to 16 hex digits");
    if hex.is_empty() || hex.len() > 16 || hex.starts_with(['+', '-']) {
        return Err(invalid());
    }
    let value = u64::from_str_radix(hex, 16).map_err(|_| invalid())?;
    if value == 0 {
        return Err(format!("{field} is zero"));
    }
    Ok(value.to_be_bytes())
}

// ---------------------------------------------------------------- v2 protobuf

/// `zipkin.proto`'s messages (package `zipkin.proto3`), written out by hand with
/// prost's derive: no maintained crate ships them, and four small messages do not
/// justify a build-time protoc step.
pub mod proto {
    /// `ListOfSpans`: the body of `POST /api/v2/spans` as protobuf.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListOfSpans {
        /// The spans.
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }

    /// `Span`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        /// 8 or 16 bytes.
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        /// Empty or 8 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        /// 8 bytes.
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        /// `Kind`: 0 unspecified, 1 client, 2 server, 3 producer, 4 consumer.
        #[prost(int32, tag = "4")]
        pub kind: i32,
        /// Span name.
        #[prost(string, tag = "5")]
        pub name: String,
        /// Start, µs since the epoch.
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        /// Duration, µs.
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        /// The service that recorded the span.
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        /// The other side.
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        /// Timestamped events.
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        /// String tags.
        #[prost(map = "string, string", tag = "11")]
        pub tags: std::collections::HashMap<String, String>,
        /// Force sampling.
        #[prost(bool, tag = "12")]
        pub debug: bool,
        /// Shares its ID with a client span.
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }

    /// `Endpoint`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Endpoint {
        /// Service name.
        #[prost(string, tag = "1")]
        pub service_name: String,
        /// 4 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        /// 16 bytes.
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        /// Port.
        #[prost(int32, tag = "4")]
        pub port: i32,
    }

    /// `Annotation`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Annotation {
        /// µs since the epoch.
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        /// What happened.
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

/// Decodes a v2 protobuf body (`ListOfSpans`).
pub fn decode_v2_proto(body: &[u8]) -> Result<Vec<ZipkinSpan>, String> {
    let list = <proto::ListOfSpans as prost::Message>::decode(body)
        .map_err(|e| format!("invalid Zipkin v2 protobuf body: {e}"))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(i, span)| proto_span(span).map_err(|e| format!("span {i}: {e}")))
        .collect()
}

fn proto_span(span: proto::Span) -> Result<ZipkinSpan, String> {
    let mut trace_id = [0; 16];
    match span.trace_id.len() {
        8 => trace_id[8..].copy_from_slice(&span.trace_id),
        16 => trace_id.copy_from_slice(&span.trace_id),
        n => return Err(format!("trace_id has {n} bytes, not 8 or 16")),
    }
    if trace_id == [0; 16] {
        return Err("trace_id is zero".into());
    }
    let id = proto_span_id("id", &span.id)?;
    let parent_id = match span.parent_id.is_empty() {
        true => None,
        false => Some(proto_span_id("parent_id", &span.parent_id)?),
    };
    let kind = match span.kind {
        1 => Kind::Client,
        2 => Kind::Server,
        3 => Kind::Producer,
        4 => Kind::Consumer,
        _ => Kind::Unspecified,
    };
    let local_endpoint = span.local_endpoint.map(proto_endpoint).transpose()?.flatten();
    let remote_endpoint = span.remote_endpoint.map(proto_endpoint).transpose()?.flatten();
    Ok(ZipkinSpan {
        trace_id,
        id,
        parent_id,
        name: span.name,
        kind,
        timestamp_us: span.timestamp,
        duration_us: span.duration,
        local_endpoint,
        remote_endpoint,
        annotations: span
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp_us: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: span.tags.into_iter().collect(),
    })
}

fn proto_span_id(field: &str, bytes: &[u8]) -> Result<[u8; 8], String> {
    let id: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("{field} has {} bytes, not 8", bytes.len()))?;
    if id == [0; 8] {
        return Err(format!("{field} is zero"));
    }
    Ok(id)
}

fn proto_endpoint(endpoint: proto::Endpoint) -> Result<Option<Endpoint>, String> {
    let ipv4 = match endpoint.ipv4.len() {
        0 => None,
        _ => Some(
            <[u8; 4]>::try_from(&endpoint.ipv4[..])
                .map(Ipv4Addr::from)
                .map_err(|_| format!("endpoint ipv4 has {} bytes, not 4", endpoint.ipv4.len()))?,
        ),
    };
    let ipv6 = match endpoint.ipv6.len() {
        0 => None,
        _ => Some(
            <[u8; 16]>::try_from(&endpoint.ipv6[..])
                .map(Ipv6Addr::from)
                .map_err(|_| format!("endpoint ipv6 has {} bytes, not 16", endpoint.ipv6.len()))?,
        ),
    };
    let port = u16::try_from(endpoint.port).map_err(|_| format!("endpoint port {} is out of range", endpoint.port))?;
    let endpoint = Endpoint {
        service_name: endpoint.service_name,
        ipv4,
        ipv6,
        port,
    };
    Ok((endpoint != Endpoint::default()).then_some(endpoint))
}

// ---------------------------------------------------------------- v1 JSON

/// A v1 JSON span (`zipkin-api.yaml`), as the Collector reads it: binary annotation
/// values are strings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Span {
    /// 16 or 32 hex digits.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Span name.
    #[serde(default)]
    pub name: Option<String>,
    /// 16 hex digits, or absent.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// 16 hex digits.
    #[serde(default)]
    pub id: Option<String>,
    /// Start, µs since the epoch; 0 when absent.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Duration, µs.
    #[serde(default)]
    pub duration: Option<i64>,
    /// Timestamped events, including the core ones (`cs`, `sr`, ...) that say the kind.
    #[serde(default)]
    pub annotations: Option<Vec<Option<V1Annotation>>>,
    /// Tags.
    #[serde(default)]
    pub binary_annotations: Option<Vec<Option<V1BinaryAnnotation>>>,
}

/// A v1 endpoint.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Endpoint {
    /// Service name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service_name: String,
    /// IPv4 address, as written.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ipv4: String,
    /// IPv6 address, as written.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ipv6: String,
    /// Port; 0 when absent or `null`.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub port: i32,
}

/// A v1 annotation.
#[derive(Debug, Default, Deserialize)]
pub struct V1Annotation {
    /// µs since the epoch.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// What.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub value: String,
    /// Where.
    #[serde(default)]
    pub endpoint: Option<V1Endpoint>,
}

/// A v1 binary annotation (a tag).
#[derive(Debug, Default, Deserialize)]
pub struct V1BinaryAnnotation {
    /// Tag key.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub key: String,
    /// Tag value.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub value: String,
    /// Where.
    #[serde(default)]
    pub endpoint: Option<V1Endpoint>,
}

fn null_as_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    Ok(Option::<i32>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// Decodes a v1 JSON body: an array of spans (a `null` element is skipped).
pub fn decode_v1_json(body: &[u8]) -> Result<Vec<V1Span>, String> {
    let spans: Vec<Option<V1Span>> =
        serde_json::from_slice(body).map_err(|e| format!("invalid Zipkin v1 JSON body: {e}"))?;
    Ok(spans.into_iter().flatten().collect())
}

/// A v1 trace ID: exactly 16 or 32 hex digits, not zero (the Collector's v1 rule).
pub fn v1_trace_id(hex: &str) -> Result<[u8; 16], String> {
    let mut id = [0; 16];
    let half = match hex.len() {
        16 => &mut id[8..],
        32 => &mut id[..],
        n => return Err(format!("traceId has {n} hex digits, not 16 or 32")),
    };
    hex::decode_to_slice(hex, half).map_err(|e| format!("traceId {hex:?}: {e}"))?;
    if id == [0; 16] {
        return Err("traceId is zero".into());
    }
    Ok(id)
}

/// A v1 span ID: exactly 16 hex digits, not zero.
pub fn v1_span_id(field: &str, hex: &str) -> Result<[u8; 8], String> {
    if hex.len() != 16 {
        return Err(format!("{field} has {} hex digits, not 16", hex.len()));
    }
    let mut id = [0; 8];
    hex::decode_to_slice(hex, &mut id).map_err(|e| format!("{field} {hex:?}: {e}"))?;
    if id == [0; 8] {
        return Err(format!("{field} is zero"));
    }
    Ok(id)
}
