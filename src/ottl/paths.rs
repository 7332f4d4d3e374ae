//! The names the language knows: paths, enum literals and functions, with their static types.

use super::eval::Field;
use super::Context;

/// The type of a value as far as it is known when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// Only known when evaluating (attributes, log bodies).
    Any,
    Nil,
    Bool,
    Int(IntKind),
    Float,
    Str,
    /// Trace, span and parent span ids; the length in bytes of a valid id.
    Bytes(usize),
    Map,
}

/// What an int means; ints of different, specific meanings cannot be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntKind {
    Plain,
    Duration,
    Timestamp,
    SpanKind,
    StatusCode,
    Severity,
}

impl Ty {
    /// The type's name, as shown in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Any => "any",
            Ty::Nil => "nil",
            Ty::Bool => "bool",
            Ty::Int(_) => "int",
            Ty::Float => "float",
            Ty::Str => "string",
            Ty::Bytes(_) => "bytes",
            Ty::Map => "map",
        }
    }
}

/// Which contexts a path is valid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Both,
    Span,
    Log,
}

impl Scope {
    pub(crate) fn allows(self, context: Context) -> bool {
        matches!(
            (self, context),
            (Scope::Both, _) | (Scope::Span, Context::Span) | (Scope::Log, Context::Log)
        )
    }
}

/// A path the language knows.
pub(crate) struct PathDef {
    pub(crate) name: &'static str,
    pub(crate) field: Field,
    pub(crate) ty: Ty,
    pub(crate) scope: Scope,
}

const fn path(name: &'static str, field: Field, ty: Ty, scope: Scope) -> PathDef {
    PathDef { name, field, ty, scope }
}

const TIMESTAMP: Ty = Ty::Int(IntKind::Timestamp);

/// Every path, in the order they are documented.
pub(crate) const PATHS: &[PathDef] = &[
    path("name", Field::Name, Ty::Str, Scope::Span),
    path("kind", Field::Kind, Ty::Int(IntKind::SpanKind), Scope::Span),
    path(
        "status.code",
        Field::StatusCode,
        Ty::Int(IntKind::StatusCode),
        Scope::Span,
    ),
    path("status.message", Field::StatusMessage, Ty::Str, Scope::Span),
    path("duration", Field::Duration, Ty::Int(IntKind::Duration), Scope::Span),
    path("start_time", Field::StartTime, TIMESTAMP, Scope::Span),
    path("start_time_unix_nano", Field::StartTime, TIMESTAMP, Scope::Span),
    path("end_time", Field::EndTime, TIMESTAMP, Scope::Span),
    path("end_time_unix_nano", Field::EndTime, TIMESTAMP, Scope::Span),
    path("trace_state", Field::TraceState, Ty::Str, Scope::Span),
    path("parent_span_id", Field::ParentSpanId, Ty::Bytes(8), Scope::Span),
    path("parent_span_id.string", Field::ParentSpanId, Ty::Bytes(8), Scope::Span),
    path("body", Field::Body, Ty::Any, Scope::Log),
    path(
        "severity_number",
        Field::SeverityNumber,
        Ty::Int(IntKind::Severity),
        Scope::Log,
    ),
    path("severity_text", Field::SeverityText, Ty::Str, Scope::Log),
    path("time", Field::Time, TIMESTAMP, Scope::Log),
    path("time_unix_nano", Field::Time, TIMESTAMP, Scope::Log),
    path("observed_time", Field::ObservedTime, TIMESTAMP, Scope::Log),
    path("observed_time_unix_nano", Field::ObservedTime, TIMESTAMP, Scope::Log),
    path("event_name", Field::EventName, Ty::Str, Scope::Log),
    path("attributes", Field::Attributes, Ty::Map, Scope::Both),
    path("resource.attributes", Field::ResourceAttributes, Ty::Map, Scope::Both),
    path("instrumentation_scope.name", Field::ScopeName, Ty::Str, Scope::Both),
    path(
        "instrumentation_scope.version",
        Field::ScopeVersion,
        Ty::Str,
        Scope::Both,
    ),
    path(
        "instrumentation_scope.attributes",
        Field::ScopeAttributes,
        Ty::Map,
        Scope::Both,
    ),
    path("trace_id", Field::TraceId, Ty::Bytes(16), Scope::Both),
    path("trace_id.string", Field::TraceId, Ty::Bytes(16), Scope::Both),
    path("span_id", Field::SpanId, Ty::Bytes(8), Scope::Both),
    path("span_id.string", Field::SpanId, Ty::Bytes(8), Scope::Both),
    path("flags", Field::Flags, Ty::Int(IntKind::Plain), Scope::Both),
];

/// Enum literals: name, value and meaning.
pub(crate) const ENUMS: &[(&str, i64, IntKind)] = &[
    ("SPAN_KIND_UNSPECIFIED", 0, IntKind::SpanKind),
    ("SPAN_KIND_INTERNAL", 1, IntKind::SpanKind),
    ("SPAN_KIND_SERVER", 2, IntKind::SpanKind),
    ("SPAN_KIND_CLIENT", 3, IntKind::SpanKind),
    ("SPAN_KIND_PRODUCER", 4, IntKind::SpanKind),
    ("SPAN_KIND_CONSUMER", 5, IntKind::SpanKind),
    ("STATUS_CODE_UNSET", 0, IntKind::StatusCode),
    ("STATUS_CODE_OK", 1, IntKind::StatusCode),
    ("STATUS_CODE_ERROR", 2, IntKind::StatusCode),
    ("SEVERITY_NUMBER_UNSPECIFIED", 0, IntKind::Severity),
    ("SEVERITY_NUMBER_TRACE", 1, IntKind::Severity),
    ("SEVERITY_NUMBER_TRACE2", 2, IntKind::Severity),
    ("SEVERITY_NUMBER_TRACE3", 3, IntKind::Severity),
    ("SEVERITY_NUMBER_TRACE4", 4, IntKind::Severity),
    ("SEVERITY_NUMBER_DEBUG", 5, IntKind::Severity),
    ("SEVERITY_NUMBER_DEBUG2", 6, IntKind::Severity),
    ("SEVERITY_NUMBER_DEBUG3", 7, IntKind::Severity),
    ("SEVERITY_NUMBER_DEBUG4", 8, IntKind::Severity),
    ("SEVERITY_NUMBER_INFO", 9, IntKind::Severity),
    ("SEVERITY_NUMBER_INFO2", 10, IntKind::Severity),
    ("SEVERITY_NUMBER_INFO3", 11, IntKind::Severity),
    ("SEVERITY_NUMBER_INFO4", 12, IntKind::Severity),
    ("SEVERITY_NUMBER_WARN", 13, IntKind::Severity),
    ("SEVERITY_NUMBER_WARN2", 14, IntKind::Severity),
    ("SEVERITY_NUMBER_WARN3", 15, IntKind::Severity),
    ("SEVERITY_NUMBER_WARN4", 16, IntKind::Severity),
    ("SEVERITY_NUMBER_ERROR", 17, IntKind::Severity),
    ("SEVERITY_NUMBER_ERROR2", 18, IntKind::Severity),
    ("SEVERITY_NUMBER_ERROR3", 19, IntKind::Severity),
    ("SEVERITY_NUMBER_ERROR4", 20, IntKind::Severity),
    ("SEVERITY_NUMBER_FATAL", 21, IntKind::Severity),
    ("SEVERITY_NUMBER_FATAL2", 22, IntKind::Severity),
    ("SEVERITY_NUMBER_FATAL3", 23, IntKind::Severity),
    ("SEVERITY_NUMBER_FATAL4", 24, IntKind::Severity),
];

/// Every function, sorted by name.
pub(crate) const FUNCTIONS: &[&str] = &[
    "HasPrefix",
    "HasSuffix",
    "IsBool",
    "IsDouble",
    "IsInt",
    "IsList",
    "IsMap",
    "IsMatch",
    "IsString",
    "Len",
];

/// The candidate closest to `word` if it is close enough to be a likely typo.
pub(crate) fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
