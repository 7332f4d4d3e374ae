//! Jaeger's span model as both wire formats carry it (Thrift `jaeger.thrift`,
//! protobuf `jaeger.api_v2`), decoded but not yet translated: the one input of
//! [`super::translate`], so both formats follow the same rules.

/// One batch: the process that sent it and its spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// The sending process (`Batch.process`).
    pub process: Option<Process>,
    /// The spans.
    pub spans: Vec<Span>,
}

/// A process: the service and its tags (the OTLP resource).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// `serviceName`.
    pub service_name: String,
    /// `tags`; `None` when absent on the wire.
    pub tags: Option<Vec<Tag>>,
}

/// One span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// High 64 bits of the trace ID.
    pub trace_id_high: u64,
    /// Low 64 bits of the trace ID.
    pub trace_id_low: u64,
    /// The span ID.
    pub span_id: u64,
    /// Thrift's `parentSpanId` (protobuf has none: 0); 0 means "look at references".
    pub parent_span_id: u64,
    /// `operationName`.
    pub operation_name: String,
    /// `references`.
    pub references: Vec<SpanRef>,
    /// Start, ns since the Unix epoch.
    pub start_unix_nano: u64,
    /// End (start + duration), ns since the Unix epoch.
    pub end_unix_nano: u64,
    /// `tags`.
    pub tags: Vec<Tag>,
    /// `logs`.
    pub logs: Vec<Log>,
    /// The span's own process (protobuf only), which takes precedence over the
    /// batch's.
    pub process: Option<Process>,
}

/// A reference to another span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRef {
    /// `CHILD_OF` (0), `FOLLOWS_FROM` (1), or an unknown value.
    pub ref_type: i32,
    /// High 64 bits of the referenced trace ID.
    pub trace_id_high: u64,
    /// Low 64 bits of the referenced trace ID.
    pub trace_id_low: u64,
    /// The referenced span ID.
    pub span_id: u64,
}

/// `SpanRefType.CHILD_OF`, in both formats.
pub const CHILD_OF: i32 = 0;
/// `SpanRefType.FOLLOWS_FROM`, in both formats.
pub const FOLLOWS_FROM: i32 = 1;

/// A timed log: a span event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Log {
    /// ns since the Unix epoch.
    pub unix_nano: u64,
    /// `fields`.
    pub fields: Vec<Tag>,
}

/// A key and a typed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: TagValue,
}

/// A tag's value, by its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// `STRING`.
    Str(String),
    /// `BOOL`.
    Bool(bool),
    /// `LONG` / `INT64`.
    Long(i64),
    /// `DOUBLE` / `FLOAT64`.
    Double(f64),
    /// `BINARY`.
    Binary(Vec<u8>),
    /// A type this version of Jaeger does not define: how the Collector names it
    /// (the string form of the type, e.g. `"7"`).
    Unknown(String),
}
