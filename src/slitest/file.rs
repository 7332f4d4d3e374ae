//! The test file: cases of sample events and the verdicts they must get, read into
//! the OTLP types the pipeline carries (see the [module docs](super) for the format).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::confmap::parse_duration;

/// When every sample span starts, and when every sample log record happened:
/// 2026-01-01T00:00:00Z. Fixed, so a case gives the same verdict on every run.
pub const SAMPLE_TIME_UNIX_NANO: u64 = 1_767_225_600_000_000_000;

/// The attribute a log record carries its request's duration in (seconds), which
/// `duration` reads on log records; a log case's `duration:` is written there.
const REQUEST_DURATION: &str = "http.server.request.duration";

/// Largest test file read, so a wrong path (a log file, a binary) fails at once
/// instead of filling memory. Test files are hand-written: 16 MiB is far more
/// than any needs.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// A test file, read and checked.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file's name as given, for messages.
    pub path: String,
    /// The cases, in file order.
    pub cases: Vec<TestCase>,
}

/// One case: a sample event and the verdicts SLIs must give it.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// What the case is about, unique in its file.
    pub name: String,
    /// The line of the case's `name`.
    pub line: u64,
    /// The event, as the pipeline would carry it.
    pub sample: Sample,
    /// SLI name → the verdict it must give, sorted by SLI name.
    pub expect: BTreeMap<String, Verdict>,
}

/// A sample event with its resource and instrumentation scope.
#[derive(Debug, Clone)]
pub enum Sample {
    /// A span.
    Span {
        /// The `ResourceSpans`' resource.
        resource: Resource,
        /// The `ScopeSpans`' scope, if the case gives one.
        scope: Option<InstrumentationScope>,
        /// The span.
        span: Box<Span>,
    },
    /// A log record.
    Log {
        /// The `ResourceLogs`' resource.
        resource: Resource,
        /// The `ScopeLogs`' scope, if the case gives one.
        scope: Option<InstrumentationScope>,
        /// The record.
        log: Box<LogRecord>,
    },
}

impl Sample {
    /// `span` or `log record`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Sample::Span { .. } => "span",
            Sample::Log { .. } => "log record",
        }
    }
}

/// What an SLI says of an event, as a test file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Eligible, and the `good` condition holds.
    Good,
    /// Eligible, and the `good` condition does not hold.
    Bad,
    /// Not eligible: `when` does not hold, or an `exclude` condition does.
    None,
}

impl<'de> Deserialize<'de> for Verdict {
    /// By hand rather than derived: serde's message for a wrong value speaks of
    /// "variants", a Rust word; this one speaks of verdicts.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "good" => Ok(Verdict::Good),
            "bad" => Ok(Verdict::Bad),
            "none" => Ok(Verdict::None),
            _ => Err(de::Error::custom(format!(
                "unknown verdict {text:?}, expected good, bad or none (none: the SLI does not apply)"
            ))),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::None => "none",
        })
    }
}

/// A test file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", position(*.line, *.column))]
pub struct TestFileError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong, with the path inside the case when there is one.
    pub message: String,
}

fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl TestFile {
    /// Reads and checks the test file at `path`.
    pub fn read(path: &Path) -> Result<TestFile, TestFileError> {
        let name = path.display().to_string();
        let error = |message: String| TestFileError {
            file: name.clone(),
            line: None,
            column: None,
            message,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| error(format!("cannot read the test file: {e}")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(error(format!(
                "the test file has {size} bytes; at most {MAX_FILE_BYTES} are read"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read the test file: {e}")))?;
        TestFile::parse(&name, &text)
    }

    /// Parses a test file's text; `name` is what messages call the file.
    pub fn parse(name: &str, text: &str) -> Result<TestFile, TestFileError> {
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(name, &e))?;
        let at = |line: u64, message: String| TestFileError {
            file: name.to_owned(),
            line: Some(line),
            column: None,
            message,
        };
        if raw.cases.is_empty() {
            return Err(TestFileError {
                file: name.to_owned(),
                line: None,
                column: None,
                message: "cases: the file has no case; a test that checks nothing would pass".into(),
            });
        }
        let mut cases: Vec<TestCase> = Vec::with_capacity(raw.cases.len());
        for (i, case) in raw.cases.into_iter().enumerate() {
            let line = case.name.referenced.line();
            let label = format!("cases[{i}] ({:?})", case.name.value);
            if case.name.value.trim().is_empty() {
                return Err(at(
                    line,
                    format!("cases[{i}].name: a case needs a name to be reported by"),
                ));
            }
            if let Some(first) = cases.iter().find(|c| c.name == case.name.value) {
                return Err(at(
                    line,
                    format!(
                        "cases[{i}].name: {:?} is also the name of the case at line {}; names must be unique",
                        case.name.value, first.line
                    ),
                ));
            }
            let sample = match (case.span, case.log) {
                (Some(span), None) => span.into_sample(),
                (None, Some(log)) => log
                    .into_sample()
                    .map_err(|message| at(line, format!("{label}.log.{message}")))?,
                (Some(_), Some(_)) => {
                    return Err(at(
                        line,
                        format!("{label}: give either span or log, not both (one event per case)"),
                    ))
                }
                (None, None) => return Err(at(line, format!("{label}: give the event to classify: span or log"))),
            };
            if case.expect.is_empty() {
                return Err(at(
                    line,
                    format!("{label}.expect: name at least one SLI and its verdict (good, bad or none)"),
                ));
            }
            cases.push(TestCase {
                name: case.name.value,
                line,
                sample,
                expect: case.expect,
            });
        }
        Ok(TestFile {
            path: name.to_owned(),
            cases,
        })
    }
}

/// A YAML or shape error, at the line and column serde-saphyr found it.
fn yaml_error(file: &str, error: &serde_saphyr::Error) -> TestFileError {
    let location = error.location().filter(|l| l.line() > 0);
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let mut message = error.render_with_options(options);
    // The plain rendering ends with " at line L, column C"; the position leads the
    // message here instead, as in the config's errors.
    if let Some(location) = location {
        let suffix = format!(" at line {}, column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    TestFileError {
        file: file.to_owned(),
        line: location.map(|l| l.line()),
        column: location.map(|l| l.column()),
        message,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    #[serde(default)]
    span: Option<RawSpan>,
    #[serde(default)]
    log: Option<RawLog>,
    expect: BTreeMap<String, Verdict>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    attributes: Attributes,
}

impl RawScope {
    fn into_scope(self) -> InstrumentationScope {
        InstrumentationScope {
            name: self.name,
            version: self.version,
            attributes: self.attributes.0,
            ..Default::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "span_kind")]
    kind: i32,
    #[serde(default, deserialize_with = "duration")]
    duration: Duration,
    #[serde(default, deserialize_with = "status_code")]
    status: i32,
    #[serde(default)]
    status_message: String,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    resource: Attributes,
    #[serde(default)]
    scope: Option<RawScope>,
}

impl RawSpan {
    fn into_sample(self) -> Sample {
        let nanos = u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX);
        let span = Span {
            name: self.name,
            kind: self.kind,
            start_time_unix_nano: SAMPLE_TIME_UNIX_NANO,
            end_time_unix_nano: SAMPLE_TIME_UNIX_NANO.saturating_add(nanos),
            attributes: self.attributes.0,
            // As a receiver decodes it: a span without status has none.
            status: (self.status != 0 || !self.status_message.is_empty()).then_some(Status {
                code: self.status,
                message: self.status_message,
            }),
            ..Default::default()
        };
        Sample::Span {
            resource: Resource {
                attributes: self.resource.0,
                ..Default::default()
            },
            scope: self.scope.map(RawScope::into_scope),
            span: Box::new(span),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    body: Option<Value>,
    #[serde(default, deserialize_with = "severity_number")]
    severity_number: i32,
    #[serde(default)]
    severity_text: String,
    #[serde(default)]
    event_name: String,
    #[serde(default, deserialize_with = "optional_duration")]
    duration: Option<Duration>,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    resource: Attributes,
    #[serde(default)]
    scope: Option<RawScope>,
}

impl RawLog {
    /// The record; `Err` (a path under `log` and what is wrong) when `duration` is
    /// given twice.
    fn into_sample(self) -> Result<Sample, String> {
        let mut attributes = self.attributes.0;
        if let Some(duration) = self.duration {
            if attributes.iter().any(|kv| kv.key == REQUEST_DURATION) {
                return Err(format!(
                    "duration: the attribute {REQUEST_DURATION} gives the duration too; keep one"
                ));
            }
            attributes.push(KeyValue {
                key: REQUEST_DURATION.to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(duration.as_secs_f64())),
                }),
                ..Default::default()
            });
        }
        let log = LogRecord {
            time_unix_nano: SAMPLE_TIME_UNIX_NANO,
            observed_time_unix_nano: SAMPLE_TIME_UNIX_NANO,
            severity_number: self.severity_number,
            severity_text: self.severity_text,
            body: self.body.map(|v| v.0),
            attributes,
            event_name: self.event_name,
            ..Default::default()
        };
        Ok(Sample::Log {
            resource: Resource {
                attributes: self.resource.0,
                ..Default::default()
            },
            scope: self.scope.map(RawScope::into_scope),
            log: Box::new(log),
        })
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

/// An enum value the condition language names `PREFIX_NAME`, written either way and
/// in any case (`server`, `SPAN_KIND_SERVER`); `lookup` is prost's `from_str_name`.
fn named_enum<E: de::Error>(text: &str, prefix: &str, lookup: fn(&str) -> Option<i32>, names: &str) -> Result<i32, E> {
    let upper = text.trim().to_ascii_uppercase();
    let full = if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    };
    lookup(&full).ok_or_else(|| E::custom(format!("unknown value {text:?}, expected one of: {names}")))
}

/// A string field read with [`named_enum`].
fn named_field<'de, D: Deserializer<'de>>(
    deserializer: D,
    prefix: &str,
    lookup: fn(&str) -> Option<i32>,
    names: &str,
) -> Result<i32, D::Error> {
    named_enum(&String::deserialize(deserializer)?, prefix, lookup, names)
}

fn span_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let lookup = |n: &str| SpanKind::from_str_name(n).map(|k| k as i32);
    named_field(
        deserializer,
        "SPAN_KIND_",
        lookup,
        "unspecified, internal, server, client, producer, consumer",
    )
}

fn status_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let lookup = |n: &str| StatusCode::from_str_name(n).map(|c| c as i32);
    named_field(deserializer, "STATUS_CODE_", lookup, "unset, ok, error")
}

/// `severity_number`: 0–24, or a name (`error`, `WARN2`, `SEVERITY_NUMBER_INFO`).
fn severity_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    struct Severity;
    impl Visitor<'_> for Severity {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a severity number (0 to 24) or name (trace, debug, info, warn, error, fatal, error2, ...)")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            match i32::try_from(v) {
                Ok(n) if SeverityNumber::try_from(n).is_ok() => Ok(n),
                _ => Err(E::custom(format!("severity number {v} is out of range (0 to 24)"))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            named_enum(
                v,
                "SEVERITY_NUMBER_",
                |n| SeverityNumber::from_str_name(n).map(|s| s as i32),
                "trace, debug, info, warn, error, fatal (each also with 2, 3, 4), or 0 to 24",
            )
        }
    }
    deserializer.deserialize_any(Severity)
}

/// Attributes as the file writes them (a mapping), in file order, each value keeping
/// its YAML type.
#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Map;
        impl<'de> Visitor<'de> for Map {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of attribute keys to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Attributes, E> {
                Ok(Attributes::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                key_values(&mut map).map(Attributes)
            }
        }
        deserializer.deserialize_any(Map)
    }
}

fn key_values<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<KeyValue>, A::Error> {
    let mut out: Vec<KeyValue> = Vec::new();
    while let Some(key) = map.next_key::<String>()? {
        if out.iter().any(|kv| kv.key == key) {
            return Err(de::Error::custom(format!("attribute {key:?} is given twice")));
        }
        let Value(value) = map.next_value()?;
        out.push(KeyValue {
            key,
            value: Some(value),
            ..Default::default()
        });
    }
    Ok(out)
}

/// One attribute value (or log body): a YAML string, int, float or bool becomes
/// the OTLP value of that type; a list an array value and a mapping a key-value
/// list. `null` is refused: OTLP has no null attribute, and a case that means
/// "absent" leaves the key out.
struct Value(AnyValue);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        fn wrap(value: any_value::Value) -> Value {
            Value(AnyValue { value: Some(value) })
        }
        impl<'de> Visitor<'de> for Any {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean, list or mapping")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(wrap(any_value::Value::BoolValue(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(wrap(any_value::Value::IntValue(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v)
                    .map(|v| wrap(any_value::Value::IntValue(v)))
                    .map_err(|_| E::custom(format!("{v} is too large for an int attribute (64-bit signed)")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(wrap(any_value::Value::DoubleValue(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(wrap(any_value::Value::StringValue(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(wrap(any_value::Value::StringValue(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Err(E::custom(
                    "null is not an attribute value: leave the key out for an absent attribute, or quote it for the text",
                ))
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                self.visit_unit()
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut values = Vec::new();
                while let Some(Value(value)) = seq.next_element()? {
                    values.push(value);
                }
                Ok(wrap(any_value::Value::ArrayValue(ArrayValue { values })))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                Ok(wrap(any_value::Value::KvlistValue(KeyValueList {
                    values: key_values(&mut map)?,
                })))
            }
        }
        deserializer.deserialize_any(Any)
    }
}
