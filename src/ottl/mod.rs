//! # Conditions
//!
//! The condition language every component uses to select telemetry: SLI classification
//! and the filter processor today, the tail-sampling processor later. It is the condition part of the
//! [OpenTelemetry Transform Language (OTTL)](https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl):
//! the same paths, operators, functions and comparison rules, so conditions written for
//! the Collector read the same here.
//!
//! ```yaml
//! good: name == "GET /" and attributes["http.response.status_code"] == 200 and duration < 300ms
//! bots: not IsMatch(attributes["user_agent.original"], ".*(bot|crawler).*")
//! errors: |
//!   resource.attributes["service.name"] == "checkout"
//!     and status.code == STATUS_CODE_ERROR
//! loud_logs: severity_number >= SEVERITY_NUMBER_ERROR or body == nil
//! ```
//!
//! A condition is parsed once, when the config is loaded, for one [`Context`] (spans, log
//! records, span events, metrics or data points); every mistake that can be found then is a [`ParseError`] with the line and
//! column inside the condition. Evaluating a parsed [`Condition`] does not allocate.
//!
//! ```
//! use opentelemetry_proto::tonic::trace::v1::Span;
//! use sloop::ottl::{Condition, Context, SpanView};
//!
//! let slow = Condition::parse(r#"name == "GET /" and duration >= 300ms"#, Context::Span).unwrap();
//! let span = Span {
//!     name: "GET /".into(),
//!     start_time_unix_nano: 1_000_000_000,
//!     end_time_unix_nano: 1_500_000_000,
//!     ..Default::default()
//! };
//! assert!(slow.eval_span(&SpanView { span: &span, resource: None, scope: None }));
//!
//! let err = Condition::parse("duration < \"abc\"", Context::Span).unwrap_err();
//! assert_eq!((err.line, err.column), (1, 12));
//! assert!(err.message.starts_with("cannot compare duration (int) with a string"));
//! ```
//!
//! ## Grammar
//!
//! ```text
//! condition  = or
//! or         = and { "or" and }
//! and        = unary { "and" unary }
//! unary      = "not" unary | "(" or ")" | comparison
//! comparison = value [ ("==" | "!=" | "<" | "<=" | ">" | ">=") value ]
//! value      = literal | ENUM | path | Function "(" [ value { "," value } ] ")"
//! path       = name { "." name } { "[" ( string | int ) "]" }
//! literal    = string | int | float | duration | "true" | "false" | "nil"
//! ```
//!
//! `and` binds tighter than `or`: `a or b and c` is `a or (b and c)`. `not` negates the
//! comparison (or parenthesized condition) right after it, as in OTTL: `not name == "x" and
//! kind == SPAN_KIND_SERVER` is `(not (name == "x")) and (kind == SPAN_KIND_SERVER)`. Comparisons cannot be chained (`a < b < c` is an error).
//! A value on its own is a condition when it is a bool: a function such as `IsMatch(...)`,
//! or an attribute holding `true` (anything else, including a missing attribute, is false).
//! Whitespace, including newlines, is free, so long conditions can use YAML block scalars.
//!
//! ## Literals
//!
//! | literal | examples | notes |
//! |---|---|---|
//! | string | `"GET /"`, `"a \"quoted\" word"` | double quotes; escapes `\"` `\\` `\n` `\t` `\r`. Regexes need `\\`: `"\\d+"` |
//! | int | `200`, `-1` | 64-bit |
//! | float | `0.5`, `-1.5e3` | |
//! | duration | `300ms`, `1.5s`, `2m`, `1h30m`, `10us`, `5ns` | units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, written right after the number; an int of nanoseconds |
//! | bool | `true`, `false` | |
//! | nil | `nil` | what a missing attribute or empty log body is |
//! | enum | `SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`, `SEVERITY_NUMBER_WARN` | ints with a meaning: `SPAN_KIND_{UNSPECIFIED,INTERNAL,SERVER,CLIENT,PRODUCER,CONSUMER}`, `STATUS_CODE_{UNSET,OK,ERROR}`, `SEVERITY_NUMBER_{UNSPECIFIED,TRACE,TRACE2..4,DEBUG..,INFO..,WARN..,ERROR..,FATAL..4}` |
//!
//! ## Paths
//!
//! Spans ([`Context::Span`]):
//!
//! | path | type | |
//! |---|---|---|
//! | `name` | string | |
//! | `kind` | int | compare with `SPAN_KIND_*` or 0–5 |
//! | `status.code` | int | compare with `STATUS_CODE_*` or 0–2; a span without status is `STATUS_CODE_UNSET` |
//! | `status.message` | string | |
//! | `duration` | int | end time − start time in nanoseconds; compare with durations: `duration < 300ms`. On log records: the attribute `http.server.request.duration` (seconds, as the filelog receiver's access-log formats set it) in nanoseconds, nil when absent |
//! | `start_time`, `end_time` | int | unix nanoseconds (also `start_time_unix_nano`, `end_time_unix_nano`) |
//! | `trace_state` | string | the W3C `tracestate` |
//! | `parent_span_id` | bytes | `parent_span_id == ""` selects root spans |
//!
//! Log records ([`Context::Log`]):
//!
//! | path | type | |
//! |---|---|---|
//! | `body` | any | `body == "text"`; a map body can be indexed: `body["user"]` |
//! | `severity_number` | int | 1–24 or `SEVERITY_NUMBER_*` |
//! | `severity_text` | string | |
//! | `time`, `observed_time` | int | unix nanoseconds (also `time_unix_nano`, `observed_time_unix_nano`) |
//! | `event_name` | string | |
//!
//! Spans and log records:
//!
//! | path | type | |
//! |---|---|---|
//! | `attributes["key"]` | any | the span's or log record's attribute; nil when missing |
//! | `resource.attributes["key"]` | any | |
//! | `instrumentation_scope.name`, `instrumentation_scope.version` | string | empty without a scope |
//! | `instrumentation_scope.attributes["key"]` | any | |
//! | `trace_id`, `span_id` | bytes | compare with hex strings: `trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"` (`.string` variants too) |
//! | `flags` | int | |
//!
//! Span events ([`Context::SpanEvent`], the filter processor's `spanevent`):
//!
//! | path | type | |
//! |---|---|---|
//! | `name` | string | the event's name |
//! | `attributes["key"]` | any | the event's attribute |
//! | `time` | int | unix nanoseconds (also `time_unix_nano`) |
//! | `span.name` | string | the span the event belongs to |
//! | `span.attributes["key"]` | any | |
//!
//! Metrics ([`Context::Metric`], the filter processor's `metric`):
//!
//! | path | type | |
//! |---|---|---|
//! | `name`, `description`, `unit` | string | |
//! | `type` | int | `METRIC_DATA_TYPE_{NONE,GAUGE,SUM,HISTOGRAM,EXPONENTIAL_HISTOGRAM,SUMMARY}` |
//!
//! Data points ([`Context::DataPoint`], the filter processor's `datapoint`):
//!
//! | path | type | |
//! |---|---|---|
//! | `attributes["key"]` | any | the point's attribute |
//! | `metric.name`, `metric.description`, `metric.unit` | string | the point's metric |
//! | `metric.type` | int | as `type` for metrics |
//! | `value_double`, `value_int` | float, int | gauge and sum points; the other type reads as 0 (as in the Collector), nil for other points |
//! | `time`, `start_time` | int | unix nanoseconds (also `time_unix_nano`, `start_time_unix_nano`) |
//!
//! Resources ([`Context::Resource`], the routing connector's default context):
//!
//! | path | type | |
//! |---|---|---|
//! | `attributes["key"]` | any | the resource's attribute (also `resource.attributes["key"]`) |
//!
//! Scopes ([`Context::Scope`], the transform processor's `scope` context):
//!
//! | path | type | |
//! |---|---|---|
//! | `name`, `version` | string | the scope's (also `instrumentation_scope.name`, `instrumentation_scope.version`) |
//! | `attributes["key"]` | any | the scope's attribute (also `instrumentation_scope.attributes["key"]`) |
//!
//! Every other context also has `resource.attributes["key"]` and the `instrumentation_scope.*` paths;
//! `trace_id`, `span_id` and `flags` are only for spans and log records.
//!
//! `attributes`, `resource.attributes` and `instrumentation_scope.attributes` without a key are
//! the whole map (for `Len` and `IsMap`). Values inside attributes can be indexed further:
//! `attributes["http.request.header"]["accept"]` for maps, `attributes["tags"][0]` for lists.
//! Using a path in a context that does not have it (a span path in a log condition) is an error.
//!
//! ## Functions
//!
//! | function | returns | |
//! |---|---|---|
//! | `IsMatch(target, "regex")` | bool | the regex matches somewhere in `target` (use `^…$` to anchor); false when `target` is not a string. The regex is compiled when parsing |
//! | `HasPrefix(target, "prefix")`, `HasSuffix(target, "suffix")` | bool | false when `target` is not a string |
//! | `IsString(v)`, `IsInt(v)`, `IsDouble(v)`, `IsBool(v)`, `IsMap(v)`, `IsList(v)` | bool | the value's type |
//! | `Len(v)` | int | bytes in a string, items in a list or map; nil for anything else |
//!
//! ## Statements
//!
//! The [transform processor](crate::processors::transform) changes telemetry with
//! [`Statement`]s: `editor(arguments) where condition`, such as
//! `set(span.attributes["tier"], "gold") where span.name == "GET /"`. Arguments are
//! values as above, lists (`["a", "b"]`) and converter calls (`Concat`, `Split`, …);
//! the `where` clause is a condition. In statements (and in conditions parsed with
//! [`Condition::parse_prefixed`]) paths may carry their context's prefix, as the
//! Collector writes them: `span.name`, `log.body`, `spanevent.name`, `metric.name`,
//! `datapoint.attributes`, and `scope.name` for `instrumentation_scope.name`;
//! [`infer_context`] picks a group's context from those prefixes. A statement is
//! parsed and type-checked once; [`Statement::execute`] runs it against a [`Target`]
//! (the item, borrowed mutably with its resource and scope) and fails only where the
//! Collector's would (a converter given the wrong type), with an [`ExecError`].
//!
//! ## Comparing
//!
//! As in OTTL:
//! - A missing attribute is `nil`. `nil == nil` is true; `nil` is not equal to anything else,
//!   so `attributes["k"] == nil` tests for a missing attribute and `attributes["k"] != nil`
//!   for a present one.
//! - Ints and floats compare numerically (`attributes["ratio"] > 0.5` works for both),
//!   strings compare byte-wise (`"a" < "b"`), lists and maps only with `==` and `!=`.
//! - Values of different types are never equal: `==`, `<`, `<=`, `>` and `>=` are false,
//!   `!=` is true. So `attributes["http.response.status_code"] == "200"` is false for an
//!   int attribute.
//! - Durations are ints of nanoseconds: `duration < 300ms` is `duration < 300000000`.
//!
//! Where both types are known when parsing, a comparison that could never make sense is a
//! [`ParseError`] instead: `name < 5`, `duration < "abc"`, `status.code == 300ms`,
//! `kind == STATUS_CODE_OK`, `name == nil`, `true < false`.

mod converters;
mod editors;
mod eval;
mod lexer;
mod parser;
mod paths;
mod statement;
#[cfg(test)]
mod tests;

pub use editors::{DataPointMut, ExecError, Target};
pub use statement::{infer_context, Statement};

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;

use eval::{Node, Subject};

/// Which telemetry a condition is evaluated against; decides which paths are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Spans, with their resource and instrumentation scope.
    Span,
    /// Log records, with their resource and instrumentation scope.
    Log,
    /// Span events, with their span, resource and instrumentation scope.
    SpanEvent,
    /// Metrics (the metric as a whole, not its points), with their resource and scope.
    Metric,
    /// Metric data points, with their metric, resource and scope.
    DataPoint,
    /// Resources on their own (the routing connector's default context): `attributes`
    /// are the resource's attributes, as in OTTL's resource context.
    Resource,
    /// Instrumentation scopes on their own (the transform processor's `scope` context):
    /// `name`, `version` and `attributes` are the scope's.
    Scope,
}

impl Context {
    /// Every context, in documentation order.
    pub const ALL: [Context; 7] = [
        Context::Span,
        Context::Log,
        Context::SpanEvent,
        Context::Metric,
        Context::DataPoint,
        Context::Resource,
        Context::Scope,
    ];

    /// `span`, `log`, `span event`, `metric`, `data point`.
    pub fn singular(self) -> &'static str {
        match self {
            Context::Span => "span",
            Context::Log => "log",
            Context::SpanEvent => "span event",
            Context::Metric => "metric",
            Context::DataPoint => "data point",
            Context::Resource => "resource",
            Context::Scope => "scope",
        }
    }

    /// `spans`, `logs`, `span events`, `metrics`, `data points`.
    pub fn plural(self) -> &'static str {
        match self {
            Context::Span => "spans",
            Context::Log => "logs",
            Context::SpanEvent => "span events",
            Context::Metric => "metrics",
            Context::DataPoint => "data points",
            Context::Resource => "resources",
            Context::Scope => "scopes",
        }
    }
}

/// A parsed condition. Parse once at startup with [`Condition::parse`]; evaluation does not
/// allocate. Cloning is cheap enough to do per component (compiled regexes are shared).
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    context: Context,
    root: Node,
}

impl Condition {
    /// Parses and type-checks `text` for `context`. See the [module docs](self) for the language.
    pub fn parse(text: &str, context: Context) -> Result<Condition, ParseError> {
        let root = parser::parse(text, context)?;
        Ok(Condition {
            text: text.to_string(),
            context,
            root,
        })
    }

    /// Like [`Condition::parse`], and paths may also carry their context's prefix as
    /// the Collector's transform processor writes them (`span.name`, `log.body`,
    /// `scope.name`): the conditions of transform statement groups.
    pub fn parse_prefixed(text: &str, context: Context) -> Result<Condition, ParseError> {
        let tokens = lexer::tokenize(text)?;
        let mut parser = parser::Parser::new(text, tokens, context, true);
        let root = parser.condition()?;
        Ok(Condition {
            text: text.to_string(),
            context,
            root,
        })
    }

    /// The original text (for error messages and docs).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The context the condition was parsed for.
    pub fn context(&self) -> Context {
        self.context
    }

    /// Evaluates the condition against a span. False if the condition was parsed for logs.
    pub fn eval_span(&self, span: &SpanView<'_>) -> bool {
        self.context == Context::Span && self.root.eval(Subject::Span(*span))
    }

    /// Evaluates the condition against a log record. False if the condition was parsed for spans.
    pub fn eval_log(&self, log: &LogView<'_>) -> bool {
        self.context == Context::Log && self.root.eval(Subject::Log(*log))
    }

    /// Evaluates the condition against a span event. False if parsed for another context.
    pub fn eval_span_event(&self, event: &SpanEventView<'_>) -> bool {
        self.context == Context::SpanEvent && self.root.eval(Subject::SpanEvent(*event))
    }

    /// Evaluates the condition against a metric. False if parsed for another context.
    pub fn eval_metric(&self, metric: &MetricView<'_>) -> bool {
        self.context == Context::Metric && self.root.eval(Subject::Metric(*metric))
    }

    /// Evaluates the condition against a data point. False if parsed for another context.
    pub fn eval_data_point(&self, point: &DataPointView<'_>) -> bool {
        self.context == Context::DataPoint && self.root.eval(Subject::DataPoint(*point))
    }

    /// Evaluates the condition against a resource. False if parsed for another context.
    pub fn eval_resource(&self, resource: &ResourceView<'_>) -> bool {
        self.context == Context::Resource && self.root.eval(Subject::Resource(*resource))
    }

    /// Evaluates the condition against an instrumentation scope. False if parsed for
    /// another context.
    pub fn eval_scope(&self, scope: &ScopeView<'_>) -> bool {
        self.context == Context::Scope && self.root.eval(Subject::Scope(*scope))
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A span with its resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct SpanView<'a> {
    /// The span.
    pub span: &'a Span,
    /// The resource of the `ResourceSpans` the span came in, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the `ScopeSpans` the span came in, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// A log record with its resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct LogView<'a> {
    /// The log record.
    pub log: &'a LogRecord,
    /// The resource of the `ResourceLogs` the record came in, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the `ScopeLogs` the record came in, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// A span event with its span, resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct SpanEventView<'a> {
    /// The event.
    pub event: &'a Event,
    /// The span the event belongs to.
    pub span: &'a Span,
    /// The resource of the `ResourceSpans` the span came in, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the `ScopeSpans` the span came in, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// A metric with its resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct MetricView<'a> {
    /// The metric.
    pub metric: &'a Metric,
    /// The resource of the `ResourceMetrics` the metric came in, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the `ScopeMetrics` the metric came in, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// A resource on its own, for [`Context::Resource`].
#[derive(Debug, Clone, Copy)]
pub struct ResourceView<'a> {
    /// The resource of a `ResourceSpans`, `ResourceMetrics` or `ResourceLogs`, if any.
    pub resource: Option<&'a Resource>,
}

/// An instrumentation scope on its own, with its resource, for [`Context::Scope`].
#[derive(Debug, Clone, Copy)]
pub struct ScopeView<'a> {
    /// The resource of the `ResourceSpans`, `ResourceMetrics` or `ResourceLogs`, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// One data point of any metric type.
#[derive(Debug, Clone, Copy)]
pub enum DataPoint<'a> {
    /// A gauge or sum point.
    Number(&'a NumberDataPoint),
    /// A histogram point.
    Histogram(&'a HistogramDataPoint),
    /// An exponential histogram point.
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    /// A summary point.
    Summary(&'a SummaryDataPoint),
}

/// A data point with its metric, resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct DataPointView<'a> {
    /// The point.
    pub point: DataPoint<'a>,
    /// The metric the point belongs to.
    pub metric: &'a Metric,
    /// The resource of the `ResourceMetrics` the metric came in, if any.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the `ScopeMetrics` the metric came in, if any.
    pub scope: Option<&'a InstrumentationScope>,
}

/// A syntax or type error, with a 1-based line and column *within the condition text*
/// (conditions may span lines with YAML block scalars), and a lowercase message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line within the condition.
    pub line: usize,
    /// 1-based column (in characters) within the line.
    pub column: usize,
    /// What is wrong, in lowercase.
    pub message: String,
}
