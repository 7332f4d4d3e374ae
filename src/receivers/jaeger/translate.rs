//! Jaeger spans to OTLP, by the Collector's rules (`pkg/translator/jaeger`,
//! `jaegerproto_to_traces.go` and `jaegerthrift_to_traces.go`):
//!
//! - resource: the process's `serviceName` as `service.name` (unless it is the
//!   Collector's `OTLPResourceNoServiceName` placeholder), its tags as attributes,
//!   `hostname` renamed `host.name` and `jaeger.version` turned into
//!   `opencensus.exporterversion: Jaeger-<version>`, each unless the target is set;
//!   spans carrying a process of their own are grouped under that process;
//! - scope: the tags `otel.scope.name`/`otel.scope.version` (or the deprecated
//!   `otel.library.name`/`otel.library.version`), removed from the attributes;
//!   spans are grouped by scope in order of first appearance;
//! - ids from the 64-bit halves (big-endian), times from µs to ns;
//! - parent: Thrift's `parentSpanId`, else the first `CHILD_OF` reference into the
//!   same trace, else the first such `FOLLOWS_FROM`; every other reference is a
//!   link with `opentracing.ref_type` (`child_of` / `follows_from`);
//! - tags are attributes, except `span.kind` (the kind), `w3c.tracestate` (the
//!   trace state) and the status tags: `error: true` makes the status ERROR (its
//!   message `otel.status_description`, else `http.status_message`); otherwise
//!   `otel.status_code` (`OK`/`ERROR`) with `otel.status_description`; otherwise an
//!   `http.status_code` of 4xx (client spans) or 5xx and out-of-range codes is ERROR;
//! - logs are events, named by their `event` field.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};

use super::model::{self, Batch, Process, Tag, TagValue, CHILD_OF, FOLLOWS_FROM};

/// The service name the Collector writes when a resource has none; not a name.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// Translates `batch` into one OTLP request.
pub fn batch(batch: Batch) -> ExportTraceServiceRequest {
    let mut groups: Vec<(Option<Process>, Vec<model::Span>)> = Vec::new();
    // Processes are compared by value, as the Collector does by hashing them; the
    // `Debug` form is an exact key (floats print round-trippably).
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut group_of = |groups: &mut Vec<(Option<Process>, Vec<model::Span>)>, process: Option<Process>| {
        let key = format!("{process:?}");
        *index.entry(key).or_insert_with(|| {
            groups.push((process, Vec::new()));
            groups.len() - 1
        })
    };
    if batch.process.is_none() && batch.spans.is_empty() {
        return ExportTraceServiceRequest::default();
    }
    let home = group_of(&mut groups, batch.process);
    for mut span in batch.spans {
        let i = match span.process.take() {
            Some(process) => group_of(&mut groups, Some(process)),
            None => home,
        };
        groups[i].1.push(span);
    }
    let resource_spans = groups
        .into_iter()
        .map(|(process, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attributes(process),
                ..Default::default()
            }),
            scope_spans: scope_spans(spans),
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn resource_attributes(process: Option<Process>) -> Vec<KeyValue> {
    let Some(process) = process else { return Vec::new() };
    if process.service_name == NO_SERVICE_NAME || (process.service_name.is_empty() && process.tags.is_none()) {
        return Vec::new();
    }
    let mut attrs = Vec::new();
    if !process.service_name.is_empty() {
        put(&mut attrs, "service.name", string(process.service_name));
    }
    put_tags(&mut attrs, process.tags.unwrap_or_default());
    if get(&attrs, "host.name").is_none() {
        if let Some(hostname) = take(&mut attrs, "hostname") {
            put(&mut attrs, "host.name", hostname);
        }
    }
    if get(&attrs, "opencensus.exporterversion").is_none() {
        if let Some(version) = take(&mut attrs, "jaeger.version") {
            let version = format!("Jaeger-{}", str_of(&version));
            put(&mut attrs, "opencensus.exporterversion", string(version));
        }
    }
    attrs
}

/// Spans grouped by instrumentation scope, in order of first appearance.
fn scope_spans(spans: Vec<model::Span>) -> Vec<ScopeSpans> {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for mut span in spans {
        if span == model::Span::default() {
            continue;
        }
        let (name, version) = scope_of(&mut span.tags);
        let i = match scopes.iter().position(|s| {
            s.scope
                .as_ref()
                .is_some_and(|scope| scope.name == name && scope.version == version)
        }) {
            Some(i) => i,
            None => {
                scopes.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name,
                        version,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                scopes.len() - 1
            }
        };
        scopes[i].spans.push(translate_span(span));
    }
    scopes
}

/// The scope named by the span's tags, which are removed.
fn scope_of(tags: &mut Vec<Tag>) -> (String, String) {
    for (name_key, version_key) in [
        ("otel.scope.name", "otel.scope.version"),
        ("otel.library.name", "otel.library.version"),
    ] {
        if let Some(name) = take_tag(tags, name_key) {
            let version = take_tag(tags, version_key).unwrap_or_default();
            return (name, version);
        }
    }
    (String::new(), String::new())
}

/// Removes the first tag named `key`; its string value ("" if not a string).
fn take_tag(tags: &mut Vec<Tag>, key: &str) -> Option<String> {
    let i = tags.iter().position(|t| t.key == key)?;
    Some(match tags.remove(i).value {
        TagValue::Str(s) => s,
        _ => String::new(),
    })
}

fn translate_span(span: model::Span) -> OtlpSpan {
    let parent = parent_span_id(&span);
    let mut attrs = Vec::with_capacity(span.tags.len());
    put_tags(&mut attrs, span.tags);
    let kind = match take(&mut attrs, "span.kind") {
        Some(kind) => span_kind(str_of(&kind)),
        None => SpanKind::Unspecified,
    };
    let status = status(&mut attrs, kind);
    let trace_state = take(&mut attrs, "w3c.tracestate")
        .map(|v| str_of(&v).to_string())
        .unwrap_or_default();
    let events = span
        .logs
        .into_iter()
        .map(|log| {
            let mut attributes = Vec::with_capacity(log.fields.len());
            put_tags(&mut attributes, log.fields);
            let name = take(&mut attributes, "event")
                .map(|v| str_of(&v).to_string())
                .unwrap_or_default();
            Event {
                time_unix_nano: log.unix_nano,
                name,
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let links = span
        .references
        .iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == CHILD_OF))
        .map(|r| Link {
            trace_id: trace_id(r.trace_id_high, r.trace_id_low),
            span_id: r.span_id.to_be_bytes().to_vec(),
            attributes: vec![KeyValue {
                key: "opentracing.ref_type".into(),
                value: Some(string(
                    if r.ref_type == CHILD_OF {
                        "child_of"
                    } else {
                        "follows_from"
                    }
                    .into(),
                )),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    OtlpSpan {
        trace_id: trace_id(span.trace_id_high, span.trace_id_low),
        span_id: span.span_id.to_be_bytes().to_vec(),
        trace_state,
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            parent.to_be_bytes().to_vec()
        },
        name: span.operation_name,
        kind: kind as i32,
        start_time_unix_nano: span.start_unix_nano,
        end_time_unix_nano: span.end_unix_nano,
        attributes: attrs,
        events,
        links,
        status,
        ..Default::default()
    }
}

/// Thrift's explicit parent, else the first `CHILD_OF` into the same trace, else
/// the first `FOLLOWS_FROM` into it (Jaeger's `Span.ParentSpanID`).
fn parent_span_id(span: &model::Span) -> u64 {
    if span.parent_span_id != 0 {
        return span.parent_span_id;
    }
    let same_trace = |r: &&model::SpanRef| r.trace_id_high == span.trace_id_high && r.trace_id_low == span.trace_id_low;
    let first = |ref_type| {
        span.references
            .iter()
            .filter(same_trace)
            .find(|r| r.ref_type == ref_type)
    };
    first(CHILD_OF).or_else(|| first(FOLLOWS_FROM)).map_or(0, |r| r.span_id)
}

fn span_kind(kind: &str) -> SpanKind {
    match kind {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

/// The status from the status tags, which are removed (`setInternalSpanStatus`).
fn status(attrs: &mut Vec<KeyValue>, kind: SpanKind) -> Option<Status> {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if matches!(value_of(get(attrs, "error")), Some(any_value::Value::BoolValue(true))) {
        take(attrs, "error");
        code = StatusCode::Error;
        exists = true;
        if let Some(description) = take(attrs, "otel.status_description") {
            message = str_of(&description).to_string();
        } else if let Some(http_message) = get(attrs, "http.status_message") {
            message = str_of(http_message).to_string();
        }
    }
    if let Some(status_code) = take(attrs, "otel.status_code") {
        if !exists {
            exists = true;
            match str_of(&status_code).to_ascii_uppercase().as_str() {
                "OK" => code = StatusCode::Ok,
                "ERROR" => code = StatusCode::Error,
                _ => {}
            }
            if let Some(description) = take(attrs, "otel.status_description") {
                message = str_of(&description).to_string();
            }
        }
    } else if let (false, Some(http_code)) = (exists, get(attrs, "http.status_code")) {
        let parsed = match value_of(Some(http_code)) {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            Some(any_value::Value::StringValue(s)) => s.parse::<i64>().ok(),
            _ => None,
        };
        if let Some(http_code) = parsed {
            let from_http = match (http_code, kind) {
                (400..=499, SpanKind::Client) => StatusCode::Error,
                (400..=499, SpanKind::Server) => StatusCode::Unset,
                (100..=398, _) => StatusCode::Unset,
                _ => StatusCode::Error,
            };
            if from_http != StatusCode::Unset {
                exists = true;
                code = from_http;
            }
            if let Some(http_message) = get(attrs, "http.status_message") {
                message = str_of(http_message).to_string();
            }
        }
    }
    exists.then_some(Status {
        message,
        code: code as i32,
    })
}

fn trace_id(high: u64, low: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

fn string(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// Tags as attributes; a repeated key keeps its first place and its last value.
fn put_tags(attrs: &mut Vec<KeyValue>, tags: Vec<Tag>) {
    for tag in tags {
        let value = match tag.value {
            TagValue::Str(s) => any_value::Value::StringValue(s),
            TagValue::Bool(b) => any_value::Value::BoolValue(b),
            TagValue::Long(i) => any_value::Value::IntValue(i),
            TagValue::Double(d) => any_value::Value::DoubleValue(d),
            TagValue::Binary(b) => any_value::Value::BytesValue(b),
            TagValue::Unknown(t) => any_value::Value::StringValue(format!("<Unknown Jaeger TagType {t:?}>")),
        };
        put(attrs, &tag.key, AnyValue { value: Some(value) });
    }
}

/// Sets `key` as the Collector's `Map.Put*` does: in place if present, else at the end.
fn put(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(value),
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(value),
            ..Default::default()
        }),
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// Removes `key` as the Collector's `Map.Remove` does (the last entry takes its place).
fn take(attrs: &mut Vec<KeyValue>, key: &str) -> Option<AnyValue> {
    let i = attrs.iter().position(|kv| kv.key == key)?;
    Some(attrs.swap_remove(i).value.unwrap_or_default())
}

fn value_of(value: Option<&AnyValue>) -> Option<&any_value::Value> {
    value.and_then(|v| v.value.as_ref())
}

/// A value's string, "" for other types (as the Collector's `Value.Str`).
fn str_of(value: &AnyValue) -> &str {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s,
        _ => "",
    }
}
