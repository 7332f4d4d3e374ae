//! `jaeger.api_v2`: the messages of `model.proto` and `collector.proto` that
//! `CollectorService/PostSpans` carries, and their conversion to [`super::model`].
//!
//! Written by hand with `prost`'s derive rather than generated: sloop builds without
//! `protoc`, and these few messages are stable (Jaeger froze api_v2).

use super::model::{Batch, Log, Process, Span, SpanRef, Tag, TagValue};

/// `jaeger.api_v2.PostSpansRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    /// The batch.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<ProtoBatch>,
}

/// `jaeger.api_v2.PostSpansResponse`: empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansResponse {}

/// `jaeger.api_v2.Batch`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoBatch {
    /// `spans`.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
    /// `process`.
    #[prost(message, optional, tag = "2")]
    pub process: Option<ProtoProcess>,
}

/// `jaeger.api_v2.Process`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoProcess {
    /// `service_name`.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// `tags`.
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// `jaeger.api_v2.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpan {
    /// 16 bytes, big-endian high then low half.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// `operation_name`.
    #[prost(string, tag = "3")]
    pub operation_name: String,
    /// `references`.
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<ProtoSpanRef>,
    /// `flags` (not translated, as in the Collector).
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    /// `start_time`.
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<Timestamp>,
    /// `duration`.
    #[prost(message, optional, tag = "7")]
    pub duration: Option<Timestamp>,
    /// `tags`.
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    /// `logs`.
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<ProtoLog>,
    /// The span's own process, taking precedence over the batch's.
    #[prost(message, optional, tag = "10")]
    pub process: Option<ProtoProcess>,
    /// `process_id` (not used).
    #[prost(string, tag = "11")]
    pub process_id: String,
    /// `warnings` (not translated, as in the Collector).
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// `google.protobuf.Timestamp`, and `google.protobuf.Duration`, which has the same
/// fields.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// In ns, wrapping as Go's `Time.UnixNano` on out-of-range times.
    fn nanos(self) -> i64 {
        self.seconds
            .wrapping_mul(1_000_000_000)
            .wrapping_add(i64::from(self.nanos))
    }
}

/// `jaeger.api_v2.SpanRef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpanRef {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// `CHILD_OF` 0, `FOLLOWS_FROM` 1.
    #[prost(int32, tag = "3")]
    pub ref_type: i32,
}

/// `jaeger.api_v2.Log`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoLog {
    /// `timestamp`.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// `fields`.
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `jaeger.api_v2.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// `key`.
    #[prost(string, tag = "1")]
    pub key: String,
    /// `ValueType`: STRING 0, BOOL 1, INT64 2, FLOAT64 3, BINARY 4.
    #[prost(int32, tag = "2")]
    pub v_type: i32,
    /// `v_str`.
    #[prost(string, tag = "3")]
    pub v_str: String,
    /// `v_bool`.
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    /// `v_int64`.
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    /// `v_float64`.
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    /// `v_binary`.
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// A request that decodes as protobuf but not as a Jaeger batch.
#[derive(Debug, thiserror::Error)]
#[error("span {span}: {field} must be {expected} bytes, not {len}")]
pub struct IdError {
    span: usize,
    field: &'static str,
    expected: usize,
    len: usize,
}

/// The request's batch in the shared model. IDs must be absent or of their size.
pub fn to_model(request: PostSpansRequest) -> Result<Batch, IdError> {
    let Some(batch) = request.batch else {
        return Ok(Batch::default());
    };
    let spans = batch
        .spans
        .into_iter()
        .enumerate()
        .map(|(i, span)| span_to_model(i, span))
        .collect::<Result<_, _>>()?;
    Ok(Batch {
        process: batch.process.map(process),
        spans,
    })
}

fn span_to_model(i: usize, span: ProtoSpan) -> Result<Span, IdError> {
    let (trace_id_high, trace_id_low) = trace_id(i, "trace_id", &span.trace_id)?;
    let start = span.start_time.unwrap_or_default().nanos();
    let duration = span.duration.unwrap_or_default().nanos();
    let references = span
        .references
        .into_iter()
        .map(|r| {
            let (trace_id_high, trace_id_low) = trace_id(i, "references.trace_id", &r.trace_id)?;
            Ok(SpanRef {
                ref_type: r.ref_type,
                trace_id_high,
                trace_id_low,
                span_id: span_id(i, "references.span_id", &r.span_id)?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Span {
        trace_id_high,
        trace_id_low,
        span_id: span_id(i, "span_id", &span.span_id)?,
        parent_span_id: 0,
        operation_name: span.operation_name,
        references,
        start_unix_nano: start as u64,
        end_unix_nano: start.wrapping_add(duration) as u64,
        tags: tags(span.tags),
        logs: span
            .logs
            .into_iter()
            .map(|log| Log {
                unix_nano: log.timestamp.unwrap_or_default().nanos() as u64,
                fields: tags(log.fields),
            })
            .collect(),
        process: span.process.map(process),
    })
}

fn trace_id(span: usize, field: &'static str, id: &[u8]) -> Result<(u64, u64), IdError> {
    match id.len() {
        0 => Ok((0, 0)),
        16 => {
            let (high, low) = id.split_at(8);
            Ok((be(high), be(low)))
        }
        len => Err(IdError {
            span,
            field,
            expected: 16,
            len,
        }),
    }
}

fn span_id(span: usize, field: &'static str, id: &[u8]) -> Result<u64, IdError> {
    match id.len() {
        0 => Ok(0),
        8 => Ok(be(id)),
        len => Err(IdError {
            span,
            field,
            expected: 8,
            len,
        }),
    }
}

/// Eight bytes as a big-endian u64 (callers pass exactly eight).
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, b| (n << 8) | u64::from(*b))
}

fn process(p: ProtoProcess) -> Process {
    Process {
        service_name: p.service_name,
        // Protobuf cannot tell an empty list from an absent one; the Collector sees
        // absent, as gogo leaves the slice nil.
        tags: (!p.tags.is_empty()).then(|| tags(p.tags)),
    }
}

fn tags(kvs: Vec<KeyValue>) -> Vec<Tag> {
    kvs.into_iter()
        .map(|kv| Tag {
            value: match kv.v_type {
                0 => TagValue::Str(kv.v_str),
                1 => TagValue::Bool(kv.v_bool),
                2 => TagValue::Long(kv.v_int64),
                3 => TagValue::Double(kv.v_float64),
                4 => TagValue::Binary(kv.v_binary),
                // gogo's String() for a value the enum does not define.
                other => TagValue::Unknown(other.to_string()),
            },
            key: kv.key,
        })
        .collect()
}
