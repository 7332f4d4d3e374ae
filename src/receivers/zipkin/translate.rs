//! Zipkin spans to OTLP, by the Collector's rules (`pkg/translator/zipkin`: `zipkinv2`
//! for v2 JSON and protobuf, `zipkinv1` for v1 JSON), with its default feature gates
//! of v0.155: network attributes under their stable names (`network.local.address`,
//! `network.peer.address`, `service.peer.name`) and the scope from `otel.scope.name`.
//!
//! v2, per span:
//! - trace ID (a 64-bit one in the low 8 bytes), span ID, parent ID (unless it is
//!   the span's own), name; `w3c.tracestate` tag → trace state;
//! - kind from `kind`; without one, a `span.kind` tag of `internal` → INTERNAL;
//! - start = `timestamp` µs → ns, end = start + `duration`; without a timestamp,
//!   start is 0, end the duration, and `otel.zipkin.absentField.startTime = true`;
//! - status: `otel.status_code` (`STATUS_CODE_OK`, `Ok`, ... — case-sensitive as the
//!   Collector's, so `OK` from some SDKs gives UNSET) with `otel.status_description`;
//!   then an `error` tag of any value makes it ERROR (the tag stays an attribute
//!   unless its value is `true`);
//! - links from `otlp.link.<n>` tags, events from annotations (`name|{json attrs}|
//!   dropped count`, or the whole value as the name);
//! - other tags → attributes (typed with `parse_string_tags`), then the local
//!   endpoint's address → `network.local.address`, port → `net.host.port`, the remote
//!   endpoint's service → `service.peer.name`, address → `network.peer.address`,
//!   port → `net.peer.port`.
//!
//! Spans are grouped by local service name (→ `service.name`, or the key an
//! `otlp.service.name.source` tag names) and then by scope name; tags with resource
//! attribute names (`host.name`, `telemetry.sdk.language`, ...) go to the resource
//! of the group's first span and are dropped from every span.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::model::{self, Endpoint, Kind, V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span, ZipkinSpan};

/// Marks a span that came without a start time.
pub const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";
/// A tag naming the resource attribute the local service name goes to.
const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";
/// The service name a span without a local endpoint sorts under.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
const SCOPE_NAME: &str = "otel.scope.name";
const SCOPE_VERSION: &str = "otel.scope.version";
const LIBRARY_NAME: &str = "otel.library.name";
const LIBRARY_VERSION: &str = "otel.library.version";

/// Tags that describe the resource or scope, never a span: semantic-convention
/// resource attributes (v1.6.1, the Collector's list), the scope tags, and
/// OpenCensus' process tags.
const NON_SPAN_TAGS: &[&str] = &[
    SERVICE_NAME_SOURCE,
    SCOPE_NAME,
    SCOPE_VERSION,
    LIBRARY_NAME,
    LIBRARY_VERSION,
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
    "cloud.provider",
    "cloud.account.id",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.platform",
    "aws.ecs.container.arn",
    "aws.ecs.cluster.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
    "container.name",
    "container.id",
    "container.runtime",
    "container.image.name",
    "container.image.tag",
    "deployment.environment",
    "device.id",
    "device.model.identifier",
    "device.model.name",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "host.id",
    "host.name",
    "host.type",
    "host.arch",
    "host.image.name",
    "host.image.id",
    "host.image.version",
    "k8s.cluster.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.namespace.name",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.container.restart_count",
    "k8s.replicaset.uid",
    "k8s.replicaset.name",
    "k8s.deployment.uid",
    "k8s.deployment.name",
    "k8s.statefulset.uid",
    "k8s.statefulset.name",
    "k8s.daemonset.uid",
    "k8s.daemonset.name",
    "k8s.job.uid",
    "k8s.job.name",
    "k8s.cronjob.uid",
    "k8s.cronjob.name",
    "os.type",
    "os.description",
    "os.name",
    "os.version",
    "process.pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.command_args",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "service.name",
    "service.namespace",
    "service.instance.id",
    "service.version",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "telemetry.auto.version",
    "webengine.name",
    "webengine.version",
    "webengine.description",
];

fn is_non_span_tag(key: &str) -> bool {
    NON_SPAN_TAGS.contains(&key)
}

/// The scope tags, taken from the span's scope rather than moved to the resource.
fn is_scope_tag(key: &str) -> bool {
    matches!(key, SCOPE_NAME | SCOPE_VERSION | LIBRARY_NAME | LIBRARY_VERSION)
}

/// Translates v2 spans (from JSON or protobuf). `Err` says which span and why.
pub fn v2_to_otlp(mut spans: Vec<ZipkinSpan>, parse_string_tags: bool) -> Result<ExportTraceServiceRequest, String> {
    // Stable, so spans keep their order within a group.
    spans.sort_by(|a, b| (service_name(a), scope_name(a)).cmp(&(service_name(b), scope_name(b))));
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    // The groups being filled: moved into their parents when the next one begins.
    let mut resource: Option<ResourceSpans> = None;
    let mut scope_spans: Option<ScopeSpans> = None;
    let mut previous: Option<(String, String)> = None;
    for (i, mut span) in spans.into_iter().enumerate() {
        let service = service_name(&span).to_owned();
        let scope = scope_name(&span).to_owned();
        let mut tags = std::mem::take(&mut span.tags);
        let new_resource = previous.as_ref().is_none_or(|(s, _)| *s != service);
        if new_resource {
            close_scope(&mut scope_spans, &mut resource);
            resource_spans.extend(resource.take());
            resource = Some(ResourceSpans {
                resource: Some(resource_from(&mut tags, &service)),
                ..Default::default()
            });
        }
        if new_resource || previous.as_ref().is_some_and(|(_, c)| *c != scope) {
            close_scope(&mut scope_spans, &mut resource);
            scope_spans = Some(ScopeSpans {
                scope: scope_from(&mut tags, &scope),
                ..Default::default()
            });
        }
        let span = v2_span(span, tags, parse_string_tags).map_err(|e| format!("span {i}: {e}"))?;
        scope_spans.get_or_insert_with(Default::default).spans.push(span);
        previous = Some((service, scope));
    }
    close_scope(&mut scope_spans, &mut resource);
    resource_spans.extend(resource);
    Ok(ExportTraceServiceRequest { resource_spans })
}

/// Moves a finished scope group into its resource group.
fn close_scope(scope_spans: &mut Option<ScopeSpans>, resource: &mut Option<ResourceSpans>) {
    if let Some(scope_spans) = scope_spans.take() {
        resource
            .get_or_insert_with(Default::default)
            .scope_spans
            .push(scope_spans);
    }
}

fn service_name(span: &ZipkinSpan) -> &str {
    match &span.local_endpoint {
        Some(endpoint) if !endpoint.service_name.is_empty() => &endpoint.service_name,
        _ => NO_SERVICE_NAME,
    }
}

fn scope_name(span: &ZipkinSpan) -> &str {
    span.tags
        .get(SCOPE_NAME)
        .or_else(|| span.tags.get(LIBRARY_NAME))
        .map_or("", String::as_str)
}

/// The resource of a group, from its first span: `service.name` (or the key the
/// `otlp.service.name.source` tag names) and the resource tags, taken out of `tags`.
fn resource_from(tags: &mut BTreeMap<String, String>, service: &str) -> Resource {
    let mut attributes = Attributes::default();
    if service != NO_SERVICE_NAME {
        let key = tags
            .remove(SERVICE_NAME_SOURCE)
            .filter(|source| !source.is_empty())
            .unwrap_or_else(|| "service.name".into());
        attributes.put(key, string(service));
        for key in NON_SPAN_TAGS.iter().filter(|key| !is_scope_tag(key)) {
            if let Some(value) = tags.remove(*key) {
                attributes.put((*key).to_owned(), string(&value));
            }
        }
    }
    Resource {
        attributes: attributes.0,
        ..Default::default()
    }
}

fn scope_from(tags: &mut BTreeMap<String, String>, name: &str) -> Option<InstrumentationScope> {
    if name.is_empty() {
        return None;
    }
    let take = |tags: &mut BTreeMap<String, String>, key, old| {
        let value = tags.remove(key);
        let old_value = tags.remove(old);
        value.or(old_value).unwrap_or_default()
    };
    Some(InstrumentationScope {
        name: take(tags, SCOPE_NAME, LIBRARY_NAME),
        version: take(tags, SCOPE_VERSION, LIBRARY_VERSION),
        ..Default::default()
    })
}

fn v2_span(span: ZipkinSpan, mut tags: BTreeMap<String, String>, parse_string_tags: bool) -> Result<Span, String> {
    let mut out = Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.id.to_vec(),
        parent_span_id: span
            .parent_id
            .filter(|parent| *parent != span.id)
            .map(|parent| parent.to_vec())
            .unwrap_or_default(),
        trace_state: tags.remove("w3c.tracestate").unwrap_or_default(),
        name: span.name,
        ..Default::default()
    };
    out.kind = v2_kind(span.kind, &mut tags) as i32;
    out.status = v2_status(&mut tags);
    out.links = links(&mut tags)?;
    let mut attributes = Attributes::default();
    for (key, value) in tags {
        if !is_non_span_tag(&key) {
            attributes.put(key, tag_value(&value, parse_string_tags));
        }
    }
    endpoint_attributes(
        span.local_endpoint.as_ref(),
        span.remote_endpoint.as_ref(),
        &mut attributes,
    );
    if span.timestamp_us == 0 {
        out.start_time_unix_nano = 0;
        out.end_time_unix_nano = micros_to_nanos(span.duration_us);
        attributes.put(START_TIME_ABSENT.into(), Value::BoolValue(true));
    } else {
        out.start_time_unix_nano = micros_to_nanos(span.timestamp_us);
        out.end_time_unix_nano = micros_to_nanos(span.timestamp_us.saturating_add(span.duration_us));
    }
    out.attributes = attributes.0;
    out.events = span
        .annotations
        .into_iter()
        .enumerate()
        .map(|(i, a)| event(a.timestamp_us, &a.value).map_err(|e| format!("annotation {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(out)
}

fn micros_to_nanos(micros: u64) -> u64 {
    micros.saturating_mul(1000)
}

fn v2_kind(kind: Kind, tags: &mut BTreeMap<String, String>) -> SpanKind {
    match kind {
        Kind::Client => SpanKind::Client,
        Kind::Server => SpanKind::Server,
        Kind::Producer => SpanKind::Producer,
        Kind::Consumer => SpanKind::Consumer,
        Kind::Unspecified => match tags.remove("span.kind").as_deref() {
            Some("internal") => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    }
}

fn v2_status(tags: &mut BTreeMap<String, String>) -> Option<Status> {
    let mut status = Status::default();
    if let Some(code) = tags.remove("otel.status_code") {
        // An unknown name is UNSET, as the Collector's map lookup gives 0.
        status.code = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => StatusCode::Ok,
            "STATUS_CODE_ERROR" | "Error" => StatusCode::Error,
            _ => StatusCode::Unset,
        } as i32;
        if let Some(message) = tags.remove("otel.status_description") {
            status.message = message;
        }
    }
    if let Some(error) = tags.get("error") {
        status.code = StatusCode::Error as i32;
        if error == "true" {
            tags.remove("error");
        }
    }
    (status != Status::default()).then_some(status)
}

/// Links from `otlp.link.0`, `otlp.link.1`, ... (at most 128, up to the first gap):
/// `trace id|span id|trace state|{json attributes}|dropped attributes count`.
fn links(tags: &mut BTreeMap<String, String>) -> Result<Vec<Link>, String> {
    let mut links = Vec::new();
    for i in 0..128 {
        let key = format!("otlp.link.{i}");
        let Some(value) = tags.remove(&key) else { break };
        let parts: Vec<&str> = value.split('|').collect();
        if parts.len() < 5 {
            continue;
        }
        let last = parts.len() - 1;
        let in_link = |e: String| format!("tag {key}: {e}");
        links.push(Link {
            trace_id: hex_id::<16>(parts[0]).map_err(in_link)?.to_vec(),
            span_id: hex_id::<8>(parts[1]).map_err(in_link)?.to_vec(),
            trace_state: parts[2].to_owned(),
            attributes: json_attributes(&parts[3..last].join("|")).map_err(in_link)?,
            dropped_attributes_count: dropped_count(parts[last]).map_err(in_link)?,
            ..Default::default()
        });
    }
    Ok(links)
}

/// An event from an annotation: `name|{json attributes}|dropped count`, or, with
/// fewer than three `|`-separated parts, the name up to the first `|`.
fn event(timestamp_us: u64, value: &str) -> Result<Event, String> {
    let parts: Vec<&str> = value.split('|').collect();
    let mut event = Event {
        time_unix_nano: micros_to_nanos(timestamp_us),
        name: parts[0].to_owned(),
        ..Default::default()
    };
    if parts.len() >= 3 {
        let last = parts.len() - 1;
        event.attributes = json_attributes(&parts[1..last].join("|"))?;
        event.dropped_attributes_count = dropped_count(parts[last])?;
    }
    Ok(event)
}

fn dropped_count(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("dropped attributes count {text:?} is not a number"))
}

/// Hex `[N]`-byte ID, optionally in quotes; empty is all zeros.
fn hex_id<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let mut id = [0; N];
    if !text.is_empty() {
        if text.len() != 2 * N {
            return Err(format!("ID {text:?} is not {} hex digits", 2 * N));
        }
        hex::decode_to_slice(text, &mut id).map_err(|e| format!("ID {text:?}: {e}"))?;
    }
    Ok(id)
}

/// A JSON object's strings, numbers (integral ones as ints) and booleans as
/// attributes; other values are left out, as the Collector leaves them.
fn json_attributes(text: &str) -> Result<Vec<KeyValue>, String> {
    let object: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(text).map_err(|e| format!("attributes are not a JSON object: {e}"))?;
    let mut attributes = Attributes::default();
    for (key, value) in object.unwrap_or_default() {
        let value = match value {
            serde_json::Value::String(s) => Value::StringValue(s),
            serde_json::Value::Bool(b) => Value::BoolValue(b),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => Value::IntValue(f as i64),
                Some(f) => Value::DoubleValue(f),
                None => continue,
            },
            _ => continue,
        };
        attributes.put(key, value);
    }
    Ok(attributes.0)
}

fn endpoint_attributes(local: Option<&Endpoint>, remote: Option<&Endpoint>, attributes: &mut Attributes) {
    if let Some(local) = local {
        if let Some(ip) = local.ipv4 {
            attributes.put("network.local.address".into(), string(&ip.to_string()));
        }
        if let Some(ip) = local.ipv6 {
            attributes.put("network.local.address".into(), string(&ip.to_string()));
        }
        if local.port > 0 {
            attributes.put("net.host.port".into(), Value::IntValue(local.port.into()));
        }
    }
    if let Some(remote) = remote {
        if !remote.service_name.is_empty() {
            attributes.put("service.peer.name".into(), string(&remote.service_name));
        }
        if let Some(ip) = remote.ipv4 {
            attributes.put("network.peer.address".into(), string(&ip.to_string()));
        }
        if let Some(ip) = remote.ipv6 {
            attributes.put("network.peer.address".into(), string(&ip.to_string()));
        }
        if remote.port > 0 {
            attributes.put("net.peer.port".into(), Value::IntValue(remote.port.into()));
        }
    }
}

/// A tag's value: a string, or with `parse_string_tags` an int (`-?\d+`), a double
/// (`-?\d+\.\d+`) or a bool (`true`/`false`) when it looks like one. An int too large
/// for 64 bits saturates, as Go's `ParseInt` result does.
fn tag_value(value: &str, parse_string_tags: bool) -> Value {
    if !parse_string_tags {
        return string(value);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    if digits(unsigned) {
        let parsed = value
            .parse::<i64>()
            .unwrap_or(if value.starts_with('-') { i64::MIN } else { i64::MAX });
        return Value::IntValue(parsed);
    }
    if let Some((whole, fraction)) = unsigned.split_once('.') {
        if digits(whole) && digits(fraction) {
            if let Ok(parsed) = value.parse::<f64>() {
                return Value::DoubleValue(parsed);
            }
        }
    }
    match value {
        "true" => Value::BoolValue(true),
        "false" => Value::BoolValue(false),
        _ => string(value),
    }
}

fn string(value: &str) -> Value {
    Value::StringValue(value.to_owned())
}

/// Attributes in insertion order where a second put of a key replaces the first,
/// as pdata's `Put*` does.
#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn put(&mut self, key: String, value: Value) {
        let value = Some(AnyValue { value: Some(value) });
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(existing) => existing.value = value,
            None => self.0.push(KeyValue {
                key,
                value,
                ..Default::default()
            }),
        }
    }
}

// ---------------------------------------------------------------- v1

/// The service name of a v1 span whose annotations name none.
const UNKNOWN_SERVICE: &str = "unknown-service";

/// Translates v1 JSON spans, by the Collector's `zipkinv1` rules:
/// - IDs: trace ID of exactly 16 or 32 hex digits, span and parent IDs of 16;
/// - the first core annotation sets the kind (`cs`/`cr` CLIENT, `sr`/`ss` SERVER,
///   `ms` PRODUCER, `mr` CONSUMER) and, if it names a service, the span's endpoint;
///   every other annotation becomes an event; start and end are the earliest and
///   latest annotation, unless `timestamp` (and `duration`) say otherwise;
/// - binary annotations become attributes (`lc` as `component`), and set the status:
///   `census.status_code`, then `otel.status_code` (a number) with its description,
///   then `error`, then `http.status_code` (ERROR outside 100..399);
/// - without an endpoint from the annotations, the service is the last binary
///   annotation's endpoint service, else the `lc` value, else `unknown-service`;
/// - spans are grouped into one resource per endpoint (`service.name`, and the
///   endpoint's `ipv4`, `ipv6`, `port` as resource attributes);
/// - a span without any time starts and ends when it is received, marked with
///   `otel.zipkin.absentField.startTime`.
pub fn v1_to_otlp(spans: Vec<V1Span>, parse_string_tags: bool) -> Result<ExportTraceServiceRequest, String> {
    let mut groups: Vec<(V1Endpoint, Vec<Span>)> = Vec::new();
    for (i, span) in spans.into_iter().enumerate() {
        let (span, endpoint) = v1_span(span, parse_string_tags).map_err(|e| format!("span {i}: {e}"))?;
        match groups.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, spans)) => spans.push(span),
            None => groups.push((endpoint, vec![span])),
        }
    }
    let resource_spans = groups
        .into_iter()
        .map(|(endpoint, spans)| {
            let mut attributes = Attributes::default();
            attributes.put("service.name".into(), string(&endpoint.service_name));
            if !endpoint.ipv4.is_empty() {
                attributes.put("ipv4".into(), string(&endpoint.ipv4));
            }
            if !endpoint.ipv6.is_empty() {
                attributes.put("ipv6".into(), string(&endpoint.ipv6));
            }
            if endpoint.port != 0 {
                attributes.put("port".into(), string(&endpoint.port.to_string()));
            }
            ResourceSpans {
                resource: Some(Resource {
                    attributes: attributes.0,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    Ok(ExportTraceServiceRequest { resource_spans })
}

fn v1_span(span: V1Span, parse_string_tags: bool) -> Result<(Span, V1Endpoint), String> {
    let trace_id = model::v1_trace_id(span.trace_id.as_deref().unwrap_or(""))?;
    let id = model::v1_span_id("id", span.id.as_deref().unwrap_or(""))?;
    let parent_id = match span.parent_id.as_deref() {
        None | Some("") => Vec::new(),
        Some(hex) => model::v1_span_id("parentId", hex)?.to_vec(),
    };
    let (mut out, mut endpoint) = v1_annotations(span.annotations.unwrap_or_default().into_iter().flatten());
    let fallback_service = v1_binary_annotations(
        &mut out,
        span.binary_annotations.unwrap_or_default().into_iter().flatten(),
        parse_string_tags,
    );
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback_service.is_empty() {
        endpoint.service_name = fallback_service;
    }
    let timestamp = span.timestamp.unwrap_or(0);
    if timestamp != 0 {
        out.start_time_unix_nano = v1_nanos(timestamp);
        out.end_time_unix_nano = v1_nanos(timestamp.saturating_add(span.duration.unwrap_or(0)));
    }
    out.name = span.name.unwrap_or_default();
    out.trace_id = trace_id.to_vec();
    out.span_id = id.to_vec();
    out.parent_span_id = parent_id;
    if out.start_time_unix_nano == 0 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        out.start_time_unix_nano = now;
        out.end_time_unix_nano = now;
        let mut attributes = Attributes(std::mem::take(&mut out.attributes));
        attributes.put(START_TIME_ABSENT.into(), Value::BoolValue(true));
        out.attributes = attributes.0;
    }
    Ok((out, endpoint))
}

/// µs since the epoch to ns; 0 for a time at or before the epoch.
fn v1_nanos(micros: i64) -> u64 {
    u64::try_from(micros).map_or(0, micros_to_nanos)
}

/// The kind, times and events a v1 span's annotations give, and its endpoint.
fn v1_annotations(annotations: impl Iterator<Item = V1Annotation>) -> (Span, V1Endpoint) {
    let mut span = Span::default();
    let mut endpoint: Option<V1Endpoint> = None;
    let mut kind_set = false;
    let (mut earliest, mut latest) = (i64::MAX, i64::MIN);
    for annotation in annotations.filter(|a| !a.value.is_empty()) {
        let kind = match annotation.value.as_str() {
            "cs" | "cr" => Some(SpanKind::Client),
            "ms" => Some(SpanKind::Producer),
            "mr" => Some(SpanKind::Consumer),
            "ss" | "sr" => Some(SpanKind::Server),
            _ => None,
        };
        let named = annotation.endpoint.as_ref().is_some_and(|e| !e.service_name.is_empty());
        if endpoint.is_none() && named && kind.is_some() {
            endpoint = annotation.endpoint.clone();
        }
        if let (false, Some(kind)) = (kind_set, kind) {
            span.kind = kind as i32;
            kind_set = true;
        }
        let timestamp = annotation.timestamp.unwrap_or(0);
        let nanos = v1_nanos(timestamp);
        if timestamp < earliest {
            earliest = timestamp;
            span.start_time_unix_nano = nanos;
        }
        if timestamp > latest {
            latest = timestamp;
            span.end_time_unix_nano = nanos;
        }
        if kind.is_none() {
            span.events.push(Event {
                time_unix_nano: nanos,
                name: annotation.value,
                ..Default::default()
            });
        }
    }
    let endpoint = endpoint.unwrap_or_else(|| V1Endpoint {
        service_name: UNKNOWN_SERVICE.into(),
        ..Default::default()
    });
    (span, endpoint)
}

/// Sets the attributes and status of `span` from its binary annotations; returns the
/// service name they suggest (empty: none).
fn v1_binary_annotations(
    span: &mut Span,
    annotations: impl Iterator<Item = V1BinaryAnnotation>,
    parse_string_tags: bool,
) -> String {
    let mut status = V1Status::default();
    let mut attributes = Attributes::default();
    let mut fallback_service = String::new();
    let mut local_component = String::new();
    let mut any = false;
    for annotation in annotations {
        any = true;
        if let Some(endpoint) = annotation.endpoint.as_ref().filter(|e| !e.service_name.is_empty()) {
            fallback_service = endpoint.service_name.clone();
        }
        let mut key = annotation.key;
        if key == "lc" {
            key = "component".into();
            local_component = annotation.value.clone();
        }
        let value = tag_value(&annotation.value, parse_string_tags);
        if status.take(&key, &value) {
            continue;
        }
        attributes.put(key, value);
    }
    if !any {
        return String::new();
    }
    if fallback_service.is_empty() {
        fallback_service = local_component;
    }
    span.attributes = attributes.0;
    span.status = status.status();
    fallback_service
}

/// The status a v1 span's binary annotations say, from the most to the least
/// specific source (the Collector's `statusMapper`).
#[derive(Default)]
struct V1Status {
    census: (Option<i32>, String),
    otel: (Option<i32>, String),
    http: (Option<i32>, String),
    error: bool,
}

impl V1Status {
    /// Takes what a binary annotation says; whether it is consumed (not an attribute).
    fn take(&mut self, key: &str, value: &Value) -> bool {
        let message = || match value {
            Value::StringValue(s) => s.clone(),
            _ => String::new(),
        };
        match key {
            "census.status_code" => {
                if let Some(code) = status_number(value) {
                    let ok = code == 0;
                    self.census.0 = Some(if ok { StatusCode::Ok } else { StatusCode::Error } as i32);
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.1 = message();
                true
            }
            "otel.status_code" => {
                // Kept as it is, even unknown, as the Collector keeps it.
                if let Some(code) = status_number(value) {
                    self.otel.0 = Some(code);
                }
                true
            }
            "otel.status_description" => {
                self.otel.1 = message();
                true
            }
            "http.status_code" => {
                if let Some(code) = status_number(value) {
                    let ok = (100..400).contains(&code);
                    self.http.0 = Some(if ok { StatusCode::Unset } else { StatusCode::Error } as i32);
                }
                false
            }
            "http.status_message" => {
                self.http.1 = message();
                false
            }
            "error" => {
                self.error = true;
                true
            }
            _ => false,
        }
    }

    fn status(self) -> Option<Status> {
        let (code, message) = if self.census.0.is_some() {
            self.census
        } else if self.otel.0.is_some() {
            self.otel
        } else if self.error {
            let message = if !self.census.1.is_empty() {
                self.census.1
            } else {
                self.otel.1
            };
            (Some(StatusCode::Error as i32), message)
        } else {
            self.http
        };
        code.map(|code| Status { code, message })
    }
}

/// A status code attribute as an i32: an int, or a string holding one.
fn status_number(value: &Value) -> Option<i32> {
    match value {
        Value::IntValue(i) => i32::try_from(*i).ok(),
        Value::StringValue(s) => s.parse::<i64>().ok().and_then(|i| i32::try_from(i).ok()),
        _ => None,
    }
}
