//! Building the pool of pre-encoded `ExportTraceServiceRequest`s, and stamping
//! fresh IDs and timestamps into a copy of one for every send.
//!
//! ## The patching trick
//! Encoding 100 spans with prost costs far more than sending them, so the load
//! generator would measure itself. Instead every request body is encoded once, up
//! front. Protobuf puts a `bytes` field of fixed length (trace_id: 16, span_id and
//! parent_span_id: 8) and a `fixed64` field (the timestamps) at a fixed place in
//! the encoding, so after encoding a template we walk the wire format once
//! (`locate_patches`) and record the byte offset of each of those fields. A send
//! is then: copy the template (one memcpy), overwrite those few bytes with
//! counter-derived IDs and "now"-relative timestamps, done. The result is still
//! valid protobuf of exactly the same length; only the values changed.
//!
//! IDs come from a run-wide span counter: each send reserves as many numbers as
//! it has spans, and a bijective mixer turns number `n` into span ID
//! `mix(n + key)`, so IDs never repeat within a run yet look random (samplers
//! hash trace IDs). A trace ID is a per-run random prefix plus the mixed number
//! of the trace's root span.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use rand::seq::SliceRandom;
use rand::Rng;

use super::latency::LatencyDistribution;

/// What the generated traffic looks like.
#[derive(Debug, Clone)]
pub struct TrafficShape {
    /// Distinct `service.name`s; request `i` of the pool comes from service `i % services`.
    pub services: usize,
    /// Server operations, picked uniformly for each trace's root span.
    pub operations: Vec<Operation>,
    /// Spans in one export request.
    pub spans_per_request: usize,
    /// Spans in one trace: a SERVER root plus CLIENT children.
    pub spans_per_trace: usize,
    /// Fraction of root (SERVER) spans with status ERROR and status code 500.
    pub error_ratio: f64,
    /// Duration of root spans.
    pub latency: LatencyDistribution,
}

/// A server operation such as `GET /api/items`: the span name, and the HTTP
/// method and route it carries as attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The span name.
    pub name: String,
    /// `http.request.method`.
    pub method: String,
    /// `http.route`.
    pub route: String,
}

impl Operation {
    /// `"POST /checkout"` → method POST, route /checkout. A name without a method
    /// is taken as a route requested with GET.
    pub fn parse(name: &str) -> Self {
        let name = name.trim();
        let (method, route) = match name.split_once(' ') {
            Some((m, r)) if !m.is_empty() && m.chars().all(|c| c.is_ascii_uppercase()) => (m, r.trim()),
            _ => ("GET", name),
        };
        Self {
            name: name.to_string(),
            method: method.to_string(),
            route: route.to_string(),
        }
    }
}

/// Service names used before falling back to `service-<n>`.
const SERVICE_NAMES: [&str; 8] = [
    "frontend",
    "checkout",
    "catalog",
    "cart",
    "payment",
    "shipping",
    "recommendation",
    "email",
];

/// Child (CLIENT) span names, used in turn.
const CHILD_NAMES: [(&str, &str); 4] = [
    ("SELECT items", "postgresql"),
    ("GET cache", "redis"),
    ("INSERT orders", "postgresql"),
    ("HGET session", "redis"),
];

/// What to write at a recorded offset on every send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// 16 bytes: the trace ID of the trace whose root is span `root` of the request.
    TraceId {
        /// Index of the root span in the request.
        root: u32,
    },
    /// 8 bytes: the ID of span `span` of the request (its own, or its parent's).
    SpanId {
        /// Index of the span in the request.
        span: u32,
    },
    /// 8 bytes little-endian: now minus this many nanoseconds.
    Time {
        /// How long before "now" the timestamp is.
        before_now_ns: u64,
    },
}

/// One field to overwrite: where its value starts in the encoded body, and with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// Byte offset of the field's value.
    pub offset: usize,
    /// What goes there.
    pub kind: PatchKind,
}

/// One pre-encoded request and the places to patch in it.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    body: Bytes,
    spans: u32,
    patches: Vec<Patch>,
}

impl RequestTemplate {
    /// The encoded body as built (placeholder IDs and timestamps).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Number of spans in the request.
    pub fn spans(&self) -> u32 {
        self.spans
    }

    /// The recorded offsets.
    pub fn patches(&self) -> &[Patch] {
        &self.patches
    }
}

/// Per-span facts needed to record patches: its trace's root, its parent and its
/// start/end relative to "now".
#[derive(Debug, Clone, Copy)]
struct SpanPlan {
    root: u32,
    parent: Option<u32>,
    start_before_now_ns: u64,
    end_before_now_ns: u64,
}

/// The pool of distinct pre-encoded requests, sent round-robin.
#[derive(Debug)]
pub struct RequestPool {
    templates: Vec<RequestTemplate>,
    trace_prefix: [u8; 8],
    span_key: u64,
    trace_key: u64,
    next_span: AtomicU64,
}

impl RequestPool {
    /// Builds and encodes `size` requests of the given shape.
    pub fn build(shape: &TrafficShape, size: usize, rng: &mut impl Rng) -> Result<Self, String> {
        let size = size.max(1);
        let spans_per_request = shape.spans_per_request.max(1);
        let spans_per_trace = shape.spans_per_trace.clamp(1, spans_per_request);
        if shape.operations.is_empty() {
            return Err("at least one operation is needed".into());
        }
        // Exactly round(ratio × roots) errors over the pool, spread at random, so a
        // full pass over the pool hits the configured ratio exactly.
        let roots_per_request = spans_per_request.div_ceil(spans_per_trace);
        let roots = size * roots_per_request;
        let errors = ((shape.error_ratio.clamp(0.0, 1.0) * roots as f64).round() as usize).min(roots);
        let mut error_flags: Vec<bool> = (0..roots).map(|i| i < errors).collect();
        error_flags.shuffle(rng);
        let mut error_flags = error_flags.into_iter();

        let mut templates = Vec::with_capacity(size);
        for index in 0..size {
            let (request, plans) = build_request(shape, index, spans_per_trace, &mut error_flags, rng);
            let body = Bytes::from(request.encode_to_vec());
            let patches = locate_patches(&body, &plans)?;
            templates.push(RequestTemplate {
                body,
                spans: plans.len() as u32,
                patches,
            });
        }
        Ok(Self {
            templates,
            trace_prefix: rng.random::<u64>().max(1).to_be_bytes(),
            span_key: rng.random(),
            trace_key: rng.random(),
            next_span: AtomicU64::new(0),
        })
    }

    /// The templates, in send order.
    pub fn templates(&self) -> &[RequestTemplate] {
        &self.templates
    }

    /// The body for send number `seq`: a copy of template `seq % len` with fresh
    /// IDs (never used before in this run) and timestamps relative to `now_ns`.
    /// Returns the body and its span count.
    pub fn request(&self, seq: u64, now_ns: u64) -> (Bytes, u32) {
        let template = &self.templates[(seq % self.templates.len() as u64) as usize];
        let base = self.next_span.fetch_add(u64::from(template.spans), Ordering::Relaxed);
        let mut body = BytesMut::from(&template.body[..]);
        for patch in &template.patches {
            let at = patch.offset;
            match patch.kind {
                PatchKind::TraceId { root } => {
                    let low = mix(base.wrapping_add(u64::from(root)).wrapping_add(self.trace_key));
                    body[at..at + 8].copy_from_slice(&self.trace_prefix);
                    body[at + 8..at + 16].copy_from_slice(&low.to_be_bytes());
                }
                PatchKind::SpanId { span } => {
                    let id = mix(base.wrapping_add(u64::from(span)).wrapping_add(self.span_key)).max(1);
                    body[at..at + 8].copy_from_slice(&id.to_be_bytes());
                }
                PatchKind::Time { before_now_ns } => {
                    body[at..at + 8].copy_from_slice(&now_ns.saturating_sub(before_now_ns).to_le_bytes());
                }
            }
        }
        (body.freeze(), template.spans)
    }
}

/// splitmix64's finalizer: a bijection on u64 that scatters consecutive inputs.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn build_request(
    shape: &TrafficShape,
    index: usize,
    spans_per_trace: usize,
    error_flags: &mut impl Iterator<Item = bool>,
    rng: &mut impl Rng,
) -> (ExportTraceServiceRequest, Vec<SpanPlan>) {
    let service_index = index % shape.services.max(1);
    let service = SERVICE_NAMES
        .get(service_index)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("service-{service_index}"));
    let resource = Resource {
        attributes: vec![
            string_attr("service.name", &service),
            string_attr("service.version", "1.4.2"),
            string_attr("service.instance.id", &format!("{service}-{:04x}", rng.random::<u16>())),
            string_attr("deployment.environment.name", "loadgen"),
            string_attr("host.name", &format!("node-{}", index % 3 + 1)),
            string_attr("telemetry.sdk.name", "sloop-loadgen"),
        ],
        ..Default::default()
    };

    let mut spans = Vec::with_capacity(shape.spans_per_request);
    let mut plans = Vec::with_capacity(shape.spans_per_request);
    while spans.len() < shape.spans_per_request.max(1) {
        let root = spans.len() as u32;
        let operation = &shape.operations[rng.random_range(0..shape.operations.len())];
        let error = error_flags.next().unwrap_or(false);
        let duration_ns = (shape.latency.sample_ms(rng) * 1e6).max(1000.0) as u64;
        // The first span of a request ends exactly at send time, so a backend can
        // read the request's end-to-end latency off its newest end time (the
        // benchmark harness's sink does); the others ended up to 5 ms earlier.
        let end_before_now_ns = if spans.is_empty() {
            0
        } else {
            rng.random_range(0..5_000_000u64)
        };
        let start_before_now_ns = end_before_now_ns + duration_ns;
        spans.push(root_span(operation, error, rng));
        plans.push(SpanPlan {
            root,
            parent: None,
            start_before_now_ns,
            end_before_now_ns,
        });
        let children = (spans_per_trace - 1).min(shape.spans_per_request - spans.len());
        for child in 0..children {
            let child_ns = ((duration_ns as f64) * rng.random_range(0.05..0.5)) as u64;
            let offset_ns = rng.random_range(0..=duration_ns - child_ns);
            let start = start_before_now_ns - offset_ns;
            spans.push(child_span(child, rng));
            plans.push(SpanPlan {
                root,
                parent: Some(root),
                start_before_now_ns: start,
                end_before_now_ns: start - child_ns,
            });
        }
    }

    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sloop-loadgen".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (request, plans)
}

/// Placeholder IDs and timestamps: right length, non-zero, overwritten per send.
fn placeholder_span(name: String, kind: SpanKind, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![1; 8],
        name,
        kind: kind as i32,
        start_time_unix_nano: 1,
        end_time_unix_nano: 1,
        attributes,
        flags: 0x101,
        ..Default::default()
    }
}

fn root_span(operation: &Operation, error: bool, rng: &mut impl Rng) -> Span {
    let status_code = if error { 500 } else { 200 };
    let mut span = placeholder_span(
        operation.name.clone(),
        SpanKind::Server,
        vec![
            string_attr("http.request.method", &operation.method),
            string_attr("http.route", &operation.route),
            string_attr("url.path", &operation.route),
            string_attr("url.scheme", "https"),
            int_attr("http.response.status_code", status_code),
            string_attr("server.address", "shop.example.com"),
            int_attr("server.port", 443),
            string_attr(
                "client.address",
                &format!("10.0.{}.{}", rng.random::<u8>(), rng.random::<u8>()),
            ),
            string_attr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) loadgen"),
            string_attr("network.protocol.version", "1.1"),
            int_attr("http.request.body.size", rng.random_range(0..4096)),
            bool_attr("app.cache_hit", rng.random_bool(0.7)),
            double_attr(
                "app.cart.value",
                (rng.random_range(0.0..500.0f64) * 100.0).round() / 100.0,
            ),
        ],
    );
    if error {
        span.status = Some(Status {
            code: StatusCode::Error as i32,
            message: "Internal Server Error".into(),
        });
    }
    span
}

fn child_span(child: usize, rng: &mut impl Rng) -> Span {
    let (name, system) = CHILD_NAMES[child % CHILD_NAMES.len()];
    let mut span = placeholder_span(
        name.to_string(),
        SpanKind::Client,
        vec![
            string_attr("db.system.name", system),
            string_attr("db.operation.name", name.split(' ').next().unwrap_or(name)),
            string_attr("db.query.text", name),
            string_attr("db.namespace", "shop"),
            string_attr("server.address", &format!("{system}.internal")),
            int_attr("server.port", if system == "redis" { 6379 } else { 5432 }),
            int_attr("db.response.returned_rows", rng.random_range(0..100)),
            bool_attr("db.pool.reused", rng.random_bool(0.9)),
            double_attr(
                "db.client.wait_ms",
                (rng.random_range(0.0..5.0f64) * 1000.0).round() / 1000.0,
            ),
            int_attr("thread.id", rng.random_range(1..64)),
        ],
    );
    span.parent_span_id = vec![1; 8];
    span
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    attr(key, any_value::Value::StringValue(value.into()))
}

fn int_attr(key: &str, value: i64) -> KeyValue {
    attr(key, any_value::Value::IntValue(value))
}

fn bool_attr(key: &str, value: bool) -> KeyValue {
    attr(key, any_value::Value::BoolValue(value))
}

fn double_attr(key: &str, value: f64) -> KeyValue {
    attr(key, any_value::Value::DoubleValue(value))
}

// ---------------------------------------------------------------------------
// Walking the wire format
// ---------------------------------------------------------------------------

/// One field of an encoded message: its number, wire type and the byte range of
/// its value (for length-delimited fields, without the length prefix).
#[derive(Debug, Clone, Copy)]
struct WireField {
    number: u64,
    wire_type: u8,
    start: usize,
    end: usize,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

/// The fields of the message encoded in `buf[start..end]`, in order.
fn wire_fields(buf: &[u8], start: usize, end: usize) -> Result<Vec<WireField>, String> {
    let mut fields = Vec::new();
    let mut pos = start;
    while pos < end {
        let key = read_varint(buf, &mut pos)?;
        let wire_type = (key & 7) as u8;
        let value_start;
        match wire_type {
            0 => {
                value_start = pos;
                read_varint(buf, &mut pos)?;
            }
            1 => {
                value_start = pos;
                pos += 8;
            }
            2 => {
                let len = read_varint(buf, &mut pos)? as usize;
                value_start = pos;
                pos += len;
            }
            5 => {
                value_start = pos;
                pos += 4;
            }
            other => return Err(format!("unexpected wire type {other}")),
        }
        if pos > end {
            return Err("field runs past its message".into());
        }
        fields.push(WireField {
            number: key >> 3,
            wire_type,
            start: value_start,
            end: pos,
        });
    }
    Ok(fields)
}

fn children(buf: &[u8], parent: &WireField, number: u64) -> Result<Vec<WireField>, String> {
    Ok(wire_fields(buf, parent.start, parent.end)?
        .into_iter()
        .filter(|f| f.number == number && f.wire_type == 2)
        .collect())
}

/// Finds the ID and timestamp fields of every span in an encoded
/// `ExportTraceServiceRequest` (resource_spans = 1 → scope_spans = 2 → spans = 2;
/// in a span trace_id = 1, span_id = 2, parent_span_id = 4, start = 7, end = 8).
fn locate_patches(buf: &[u8], plans: &[SpanPlan]) -> Result<Vec<Patch>, String> {
    let whole = WireField {
        number: 0,
        wire_type: 2,
        start: 0,
        end: buf.len(),
    };
    let mut patches = Vec::with_capacity(plans.len() * 5);
    let mut index = 0usize;
    for resource_spans in children(buf, &whole, 1)? {
        for scope_spans in children(buf, &resource_spans, 2)? {
            for span in children(buf, &scope_spans, 2)? {
                let plan = plans.get(index).ok_or("more spans encoded than planned")?;
                for field in wire_fields(buf, span.start, span.end)? {
                    let len = field.end - field.start;
                    let kind = match (field.number, len) {
                        (1, 16) => PatchKind::TraceId { root: plan.root },
                        (2, 8) => PatchKind::SpanId { span: index as u32 },
                        (4, 8) => PatchKind::SpanId {
                            span: plan.parent.ok_or("a root span has a parent_span_id")?,
                        },
                        (7, 8) if field.wire_type == 1 => PatchKind::Time {
                            before_now_ns: plan.start_before_now_ns,
                        },
                        (8, 8) if field.wire_type == 1 => PatchKind::Time {
                            before_now_ns: plan.end_before_now_ns,
                        },
                        _ => continue,
                    };
                    patches.push(Patch {
                        offset: field.start,
                        kind,
                    });
                }
                index += 1;
            }
        }
    }
    if index != plans.len() {
        return Err(format!("found {index} encoded spans, planned {}", plans.len()));
    }
    Ok(patches)
}
