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
    MetricType,
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

/// Which contexts a path is valid in: a set of [`Context`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope(u8);

impl Scope {
    pub(crate) const SPAN: Scope = Scope(1);
    pub(crate) const LOG: Scope = Scope(2);
    pub(crate) const SPAN_EVENT: Scope = Scope(4);
    pub(crate) const METRIC: Scope = Scope(8);
    pub(crate) const DATA_POINT: Scope = Scope(16);
    pub(crate) const RESOURCE: Scope = Scope(32);
    pub(crate) const SCOPE: Scope = Scope(64);
    /// Spans and log records (the two contexts with ids and flags).
    pub(crate) const BOTH: Scope = Scope(1 | 2);
    /// Every context of an item (all but [`Context::Resource`]).
    pub(crate) const ALL: Scope = Scope(1 | 2 | 4 | 8 | 16);

    pub(crate) const fn or(self, other: Scope) -> Scope {
        Scope(self.0 | other.0)
    }

    fn of(context: Context) -> Scope {
        match context {
            Context::Span => Scope::SPAN,
            Context::Log => Scope::LOG,
            Context::SpanEvent => Scope::SPAN_EVENT,
            Context::Metric => Scope::METRIC,
            Context::DataPoint => Scope::DATA_POINT,
            Context::Resource => Scope::RESOURCE,
            Context::Scope => Scope::SCOPE,
        }
    }

    pub(crate) fn allows(self, context: Context) -> bool {
        self.0 & Scope::of(context).0 != 0
    }

    /// The contexts in the set, plural, for error messages: `spans and span events`.
    pub(crate) fn describe(self) -> String {
        let names: Vec<&str> = Context::ALL
            .iter()
            .filter(|c| self.allows(**c))
            .map(|c| c.plural())
            .collect();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
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
const METRIC_TYPE: Ty = Ty::Int(IntKind::MetricType);
/// Contexts with a `name`: spans, span events and metrics.
const NAMED: Scope = Scope::SPAN.or(Scope::SPAN_EVENT).or(Scope::METRIC);
/// Contexts with a `time`: log records, span events and data points.
const TIMED: Scope = Scope::LOG.or(Scope::SPAN_EVENT).or(Scope::DATA_POINT);
/// Contexts with their own `attributes`: everything but metrics.
const ATTRIBUTED: Scope = Scope::BOTH.or(Scope::SPAN_EVENT).or(Scope::DATA_POINT);

/// Every path, in the order they are documented.
pub(crate) const PATHS: &[PathDef] = &[
    path("name", Field::Name, Ty::Str, NAMED),
    path("kind", Field::Kind, Ty::Int(IntKind::SpanKind), Scope::SPAN),
    path(
        "status.code",
        Field::StatusCode,
        Ty::Int(IntKind::StatusCode),
        Scope::SPAN,
    ),
    path("status.message", Field::StatusMessage, Ty::Str, Scope::SPAN),
    // On log records: the request duration an access-log line carries
    // (`http.server.request.duration`, seconds), so an SLI on logs reads as on spans.
    path(
        "duration",
        Field::Duration,
        Ty::Int(IntKind::Duration),
        Scope::SPAN.or(Scope::LOG),
    ),
    path("start_time", Field::StartTime, TIMESTAMP, Scope::SPAN),
    path("start_time_unix_nano", Field::StartTime, TIMESTAMP, Scope::SPAN),
    path("end_time", Field::EndTime, TIMESTAMP, Scope::SPAN),
    path("end_time_unix_nano", Field::EndTime, TIMESTAMP, Scope::SPAN),
    path("trace_state", Field::TraceState, Ty::Str, Scope::SPAN),
    path("parent_span_id", Field::ParentSpanId, Ty::Bytes(8), Scope::SPAN),
    path("parent_span_id.string", Field::ParentSpanId, Ty::Bytes(8), Scope::SPAN),
    path("body", Field::Body, Ty::Any, Scope::LOG),
    path(
        "severity_number",
        Field::SeverityNumber,
        Ty::Int(IntKind::Severity),
        Scope::LOG,
    ),
    path("severity_text", Field::SeverityText, Ty::Str, Scope::LOG),
    path("time", Field::Time, TIMESTAMP, TIMED),
    path("time_unix_nano", Field::Time, TIMESTAMP, TIMED),
    path("observed_time", Field::ObservedTime, TIMESTAMP, Scope::LOG),
    path("observed_time_unix_nano", Field::ObservedTime, TIMESTAMP, Scope::LOG),
    path("event_name", Field::EventName, Ty::Str, Scope::LOG),
    path("attributes", Field::Attributes, Ty::Map, ATTRIBUTED),
    path("attributes", Field::ResourceAttributes, Ty::Map, Scope::RESOURCE),
    path(
        "resource.attributes",
        Field::ResourceAttributes,
        Ty::Map,
        Scope::ALL.or(Scope::RESOURCE).or(Scope::SCOPE),
    ),
    path(
        "instrumentation_scope.name",
        Field::ScopeName,
        Ty::Str,
        Scope::ALL.or(Scope::SCOPE),
    ),
    path(
        "instrumentation_scope.version",
        Field::ScopeVersion,
        Ty::Str,
        Scope::ALL.or(Scope::SCOPE),
    ),
    path(
        "instrumentation_scope.attributes",
        Field::ScopeAttributes,
        Ty::Map,
        Scope::ALL.or(Scope::SCOPE),
    ),
    // Scopes on their own.
    path("name", Field::ScopeName, Ty::Str, Scope::SCOPE),
    path("version", Field::ScopeVersion, Ty::Str, Scope::SCOPE),
    path("attributes", Field::ScopeAttributes, Ty::Map, Scope::SCOPE),
    path("trace_id", Field::TraceId, Ty::Bytes(16), Scope::BOTH),
    path("trace_id.string", Field::TraceId, Ty::Bytes(16), Scope::BOTH),
    path("span_id", Field::SpanId, Ty::Bytes(8), Scope::BOTH),
    path("span_id.string", Field::SpanId, Ty::Bytes(8), Scope::BOTH),
    path("flags", Field::Flags, Ty::Int(IntKind::Plain), Scope::BOTH),
    // Span events.
    path("span.name", Field::SpanName, Ty::Str, Scope::SPAN_EVENT),
    path("span.attributes", Field::SpanAttributes, Ty::Map, Scope::SPAN_EVENT),
    // Metrics, and data points through `metric.`.
    path("description", Field::Description, Ty::Str, Scope::METRIC),
    path("unit", Field::Unit, Ty::Str, Scope::METRIC),
    path("type", Field::MetricType, METRIC_TYPE, Scope::METRIC),
    path("metric.name", Field::MetricName, Ty::Str, Scope::DATA_POINT),
    path(
        "metric.description",
        Field::MetricDescription,
        Ty::Str,
        Scope::DATA_POINT,
    ),
    path("metric.unit", Field::MetricUnit, Ty::Str, Scope::DATA_POINT),
    path("metric.type", Field::MetricMetricType, METRIC_TYPE, Scope::DATA_POINT),
    // Data points.
    path("value_double", Field::ValueDouble, Ty::Float, Scope::DATA_POINT),
    path("value_int", Field::ValueInt, Ty::Int(IntKind::Plain), Scope::DATA_POINT),
    path("start_time", Field::StartTime, TIMESTAMP, Scope::DATA_POINT),
    path("start_time_unix_nano", Field::StartTime, TIMESTAMP, Scope::DATA_POINT),
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
    ("METRIC_DATA_TYPE_NONE", 0, IntKind::MetricType),
    ("METRIC_DATA_TYPE_GAUGE", 1, IntKind::MetricType),
    ("METRIC_DATA_TYPE_SUM", 2, IntKind::MetricType),
    ("METRIC_DATA_TYPE_HISTOGRAM", 3, IntKind::MetricType),
    ("METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM", 4, IntKind::MetricType),
    ("METRIC_DATA_TYPE_SUMMARY", 5, IntKind::MetricType),
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

/// A path written with a context prefix, as the Collector's transform processor writes
/// them (`span.name`, `log.body`, `scope.version`), in the form the [`PATHS`] table
/// knows for `context`; `None` when `name` has no prefix to rewrite. `span.` in span
/// event conditions and `metric.` in data point conditions keep meaning the span or
/// metric the item belongs to.
pub(crate) fn canonical_path(name: &str, context: Context) -> Option<String> {
    if let Some(rest) = name.strip_prefix("scope.") {
        return Some(format!("instrumentation_scope.{rest}"));
    }
    let own = match context {
        Context::Span => "span.",
        Context::Log => "log.",
        Context::SpanEvent => "spanevent.",
        Context::Metric => "metric.",
        Context::DataPoint => "datapoint.",
        Context::Resource | Context::Scope => return None,
    };
    name.strip_prefix(own).map(str::to_string)
}

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
