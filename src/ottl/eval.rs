//! The compiled condition tree and its evaluation. Nothing here allocates: values borrow
//! from the telemetry or from literals stored in the tree.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;

use super::lexer::CmpOp;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};

use super::{DataPoint, DataPointView, LogView, MetricView, ResourceView, ScopeView, SpanEventView, SpanView};

/// A boolean expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// `true` / `false`.
    Const(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Compare(Box<(Expr, CmpOp, Expr)>),
    /// A value used as a condition: true only when it is the bool `true`.
    Truthy(Expr),
}

/// A value expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Lit(Lit),
    Path(Path),
    Call(Box<Call>),
}

/// A literal, stored once at parse time.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Bytes(Box<[u8]>),
}

/// A path: a field of the telemetry, then zero or more `[key]` lookups.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub(crate) field: Field,
    pub(crate) keys: Box<[Key]>,
}

/// A `[key]` lookup into a map (string) or a list (int).
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Str(Box<str>),
    Int(i64),
}

/// Every field a path can start at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    // Shared.
    Attributes,
    ResourceAttributes,
    ScopeAttributes,
    ScopeName,
    ScopeVersion,
    TraceId,
    SpanId,
    Flags,
    // Span.
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    Duration,
    StartTime,
    EndTime,
    TraceState,
    ParentSpanId,
    // Log.
    Body,
    SeverityNumber,
    SeverityText,
    Time,
    ObservedTime,
    EventName,
    // Span event.
    SpanName,
    SpanAttributes,
    // Metric.
    Description,
    Unit,
    MetricType,
    // Data point.
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricMetricType,
    ValueDouble,
    ValueInt,
}

/// A function call, arguments already checked.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    IsMatch(Expr, Regex),
    Is(TypeTest, Expr),
    Len(Expr),
    HasPrefix(Expr, Box<str>),
    HasSuffix(Expr, Box<str>),
}

/// Which type `IsString`, `IsInt`, … test for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    String,
    Int,
    Double,
    Bool,
    Map,
    List,
}

/// What a condition is evaluated against.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    Span(SpanView<'a>),
    Log(LogView<'a>),
    SpanEvent(SpanEventView<'a>),
    Metric(MetricView<'a>),
    DataPoint(DataPointView<'a>),
    Resource(ResourceView<'a>),
    Scope(ScopeView<'a>),
}

/// A runtime value, borrowed from the telemetry or from the condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    List(&'a [AnyValue]),
    Map(&'a [KeyValue]),
}

impl Node {
    pub(crate) fn eval<'a>(&'a self, subject: Subject<'a>) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(items) => items.iter().all(|n| n.eval(subject)),
            Node::Or(items) => items.iter().any(|n| n.eval(subject)),
            Node::Not(inner) => !inner.eval(subject),
            Node::Compare(cmp) => {
                let (left, op, right) = &**cmp;
                compare(left.eval(subject), *op, right.eval(subject))
            }
            Node::Truthy(expr) => matches!(expr.eval(subject), Val::Bool(true)),
        }
    }
}

impl Expr {
    pub(crate) fn eval<'a>(&'a self, subject: Subject<'a>) -> Val<'a> {
        match self {
            Expr::Lit(lit) => lit.val(),
            Expr::Path(path) => path.eval(subject),
            Expr::Call(call) => call.eval(subject),
        }
    }
}

impl Lit {
    pub(crate) fn val(&self) -> Val<'_> {
        match self {
            Lit::Nil => Val::Nil,
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Int(i) => Val::Int(*i),
            Lit::Float(f) => Val::Float(*f),
            Lit::Str(s) => Val::Str(s),
            Lit::Bytes(b) => Val::Bytes(b),
        }
    }
}

impl Path {
    pub(crate) fn eval<'a>(&'a self, subject: Subject<'a>) -> Val<'a> {
        let mut val = self.field.eval(subject);
        for key in self.keys.iter() {
            val = match (val, key) {
                (Val::Map(kvs), Key::Str(k)) => lookup(kvs, k),
                (Val::List(items), Key::Int(i)) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| items.get(i))
                    .map_or(Val::Nil, any_value),
                _ => Val::Nil,
            };
        }
        val
    }
}

/// The first attribute named `key`, or nil.
pub(crate) fn lookup<'a>(kvs: &'a [KeyValue], key: &str) -> Val<'a> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map_or(Val::Nil, any_value)
}

/// An `AnyValue` as a [`Val`]; an empty value is nil.
pub(crate) fn any_value(value: &AnyValue) -> Val<'_> {
    match &value.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Val::Nil,
        Some(any_value::Value::StringValue(s)) => Val::Str(s),
        Some(any_value::Value::BoolValue(b)) => Val::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Val::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Val::Float(*d),
        Some(any_value::Value::ArrayValue(a)) => Val::List(&a.values),
        Some(any_value::Value::KvlistValue(m)) => Val::Map(&m.values),
        Some(any_value::Value::BytesValue(b)) => Val::Bytes(b),
    }
}

/// The `METRIC_DATA_TYPE_*` number of a metric (0 when it has no data).
fn metric_type(metric: &Metric) -> i64 {
    match metric.data {
        None => 0,
        Some(metric::Data::Gauge(_)) => 1,
        Some(metric::Data::Sum(_)) => 2,
        Some(metric::Data::Histogram(_)) => 3,
        Some(metric::Data::ExponentialHistogram(_)) => 4,
        Some(metric::Data::Summary(_)) => 5,
    }
}

fn nanos(t: u64) -> Val<'static> {
    Val::Int(i64::try_from(t).unwrap_or(i64::MAX))
}

impl Field {
    pub(crate) fn eval<'a>(self, subject: Subject<'a>) -> Val<'a> {
        match subject {
            Subject::Span(view) => self.eval_span(view),
            Subject::Log(view) => self.eval_log(view),
            Subject::SpanEvent(view) => self.eval_span_event(view),
            Subject::Metric(view) => self.eval_metric(view),
            Subject::DataPoint(view) => self.eval_data_point(view),
            Subject::Resource(view) => match self {
                Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
                _ => Val::Nil,
            },
            Subject::Scope(view) => match self {
                Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
                Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
                Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
                Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
                _ => Val::Nil,
            },
        }
    }

    fn eval_span_event<'a>(self, view: SpanEventView<'a>) -> Val<'a> {
        let event = view.event;
        match self {
            Field::Name => Val::Str(&event.name),
            Field::Attributes => Val::Map(&event.attributes),
            Field::Time => nanos(event.time_unix_nano),
            Field::SpanName => Val::Str(&view.span.name),
            Field::SpanAttributes => Val::Map(&view.span.attributes),
            Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
            Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
            Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
            Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
            _ => Val::Nil,
        }
    }

    fn eval_metric<'a>(self, view: MetricView<'a>) -> Val<'a> {
        let metric = view.metric;
        match self {
            Field::Name => Val::Str(&metric.name),
            Field::Description => Val::Str(&metric.description),
            Field::Unit => Val::Str(&metric.unit),
            Field::MetricType => Val::Int(metric_type(metric)),
            Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
            Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
            Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
            Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
            _ => Val::Nil,
        }
    }

    fn eval_data_point<'a>(self, view: DataPointView<'a>) -> Val<'a> {
        let (attributes, start, time) = match view.point {
            DataPoint::Number(p) => (&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
            DataPoint::Histogram(p) => (&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
            DataPoint::ExponentialHistogram(p) => (&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
            DataPoint::Summary(p) => (&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
        };
        let metric = view.metric;
        match self {
            Field::Attributes => Val::Map(attributes),
            Field::Time => nanos(time),
            Field::StartTime => nanos(start),
            // As in the Collector: the value of the other type reads as zero.
            Field::ValueDouble => match view.point {
                DataPoint::Number(p) => Val::Float(match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    _ => 0.0,
                }),
                _ => Val::Nil,
            },
            Field::ValueInt => match view.point {
                DataPoint::Number(p) => Val::Int(match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i,
                    _ => 0,
                }),
                _ => Val::Nil,
            },
            Field::MetricName => Val::Str(&metric.name),
            Field::MetricDescription => Val::Str(&metric.description),
            Field::MetricUnit => Val::Str(&metric.unit),
            Field::MetricMetricType => Val::Int(metric_type(metric)),
            Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
            Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
            Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
            Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
            _ => Val::Nil,
        }
    }

    fn eval_span<'a>(self, view: SpanView<'a>) -> Val<'a> {
        let span = view.span;
        match self {
            Field::Attributes => Val::Map(&span.attributes),
            Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
            Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
            Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
            Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
            Field::TraceId => Val::Bytes(&span.trace_id),
            Field::SpanId => Val::Bytes(&span.span_id),
            Field::Flags => Val::Int(i64::from(span.flags)),
            Field::Name => Val::Str(&span.name),
            Field::Kind => Val::Int(i64::from(span.kind)),
            Field::StatusCode => Val::Int(span.status.as_ref().map_or(0, |s| i64::from(s.code))),
            Field::StatusMessage => Val::Str(span.status.as_ref().map_or("", |s| &s.message)),
            Field::Duration => {
                let d = i128::from(span.end_time_unix_nano) - i128::from(span.start_time_unix_nano);
                Val::Int(d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
            }
            Field::StartTime => nanos(span.start_time_unix_nano),
            Field::EndTime => nanos(span.end_time_unix_nano),
            Field::TraceState => Val::Str(&span.trace_state),
            Field::ParentSpanId => Val::Bytes(&span.parent_span_id),
            _ => Val::Nil,
        }
    }

    fn eval_log<'a>(self, view: LogView<'a>) -> Val<'a> {
        let log = view.log;
        match self {
            Field::Attributes => Val::Map(&log.attributes),
            Field::ResourceAttributes => Val::Map(view.resource.map_or(&[][..], |r| &r.attributes)),
            Field::ScopeAttributes => Val::Map(view.scope.map_or(&[][..], |s| &s.attributes)),
            Field::ScopeName => Val::Str(view.scope.map_or("", |s| &s.name)),
            Field::ScopeVersion => Val::Str(view.scope.map_or("", |s| &s.version)),
            Field::TraceId => Val::Bytes(&log.trace_id),
            Field::SpanId => Val::Bytes(&log.span_id),
            Field::Flags => Val::Int(i64::from(log.flags)),
            Field::Body => log.body.as_ref().map_or(Val::Nil, any_value),
            Field::SeverityNumber => Val::Int(i64::from(log.severity_number)),
            Field::SeverityText => Val::Str(&log.severity_text),
            Field::Time => nanos(log.time_unix_nano),
            Field::ObservedTime => nanos(log.observed_time_unix_nano),
            Field::EventName => Val::Str(&log.event_name),
            Field::Duration => request_duration(&log.attributes),
            _ => Val::Nil,
        }
    }
}

/// The attribute a log record carries its request's duration in, in seconds (the
/// semantic conventions' unit): what the filelog receiver's access-log `format`s set.
pub(crate) const REQUEST_DURATION: &str = "http.server.request.duration";

/// A log record's `duration`: [`REQUEST_DURATION`] (seconds, double or int) in
/// nanoseconds; nil when the record has none or it is not a finite, non-negative
/// number.
fn request_duration(attributes: &[KeyValue]) -> Val<'static> {
    let seconds = attributes
        .iter()
        .find(|kv| kv.key == REQUEST_DURATION)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref());
    let nanos = match seconds {
        Some(any_value::Value::DoubleValue(s)) if s.is_finite() && *s >= 0.0 => (s * 1e9).round(),
        Some(any_value::Value::IntValue(s)) if *s >= 0 => *s as f64 * 1e9,
        _ => return Val::Nil,
    };
    Val::Int(nanos.min(i64::MAX as f64) as i64)
}

impl Call {
    fn eval<'a>(&'a self, subject: Subject<'a>) -> Val<'a> {
        match self {
            Call::IsMatch(target, regex) => Val::Bool(match target.eval(subject) {
                Val::Str(s) => regex.is_match(s),
                _ => false,
            }),
            Call::Is(test, value) => {
                let v = value.eval(subject);
                Val::Bool(match test {
                    TypeTest::String => matches!(v, Val::Str(_)),
                    TypeTest::Int => matches!(v, Val::Int(_)),
                    TypeTest::Double => matches!(v, Val::Float(_)),
                    TypeTest::Bool => matches!(v, Val::Bool(_)),
                    TypeTest::Map => matches!(v, Val::Map(_)),
                    TypeTest::List => matches!(v, Val::List(_)),
                })
            }
            Call::Len(value) => match value.eval(subject) {
                Val::Str(s) => Val::Int(s.len() as i64),
                Val::Bytes(b) => Val::Int(b.len() as i64),
                Val::List(l) => Val::Int(l.len() as i64),
                Val::Map(m) => Val::Int(m.len() as i64),
                _ => Val::Nil,
            },
            Call::HasPrefix(target, prefix) => Val::Bool(match target.eval(subject) {
                Val::Str(s) => s.starts_with(&**prefix),
                _ => false,
            }),
            Call::HasSuffix(target, suffix) => Val::Bool(match target.eval(subject) {
                Val::Str(s) => s.ends_with(&**suffix),
                _ => false,
            }),
        }
    }
}

fn ordered(ord: std::cmp::Ordering, op: CmpOp) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
        CmpOp::Lt => ord == Less,
        CmpOp::Le => ord != Greater,
        CmpOp::Gt => ord == Greater,
        CmpOp::Ge => ord != Less,
    }
}

fn floats(a: f64, op: CmpOp, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// OTTL comparison semantics: nil equals only nil; ints and floats compare numerically;
/// strings and bytes lexically; bools with false < true; lists and maps only for
/// (in)equality. Values of different types are unequal: every operator but `!=` is false.
pub(crate) fn compare(a: Val<'_>, op: CmpOp, b: Val<'_>) -> bool {
    match (a, b) {
        (Val::Nil, Val::Nil) => matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge),
        (Val::Bool(x), Val::Bool(y)) => ordered(x.cmp(&y), op),
        (Val::Int(x), Val::Int(y)) => ordered(x.cmp(&y), op),
        (Val::Int(x), Val::Float(y)) => floats(x as f64, op, y),
        (Val::Float(x), Val::Int(y)) => floats(x, op, y as f64),
        (Val::Float(x), Val::Float(y)) => floats(x, op, y),
        (Val::Str(x), Val::Str(y)) => ordered(x.cmp(y), op),
        (Val::Bytes(x), Val::Bytes(y)) => ordered(x.cmp(y), op),
        (Val::List(x), Val::List(y)) => equality(x == y, op),
        (Val::Map(x), Val::Map(y)) => equality(maps_equal(x, y), op),
        _ => op == CmpOp::Ne,
    }
}

fn equality(equal: bool, op: CmpOp) -> bool {
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

/// Maps are equal when they hold the same keys with equal values, in any order.
fn maps_equal(x: &[KeyValue], y: &[KeyValue]) -> bool {
    x.len() == y.len()
        && x.iter()
            .all(|kv| y.iter().any(|other| other.key == kv.key && other.value == kv.value))
}
