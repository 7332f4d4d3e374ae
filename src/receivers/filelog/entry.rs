//! One log record on its way from a line of a file through the `format` parser and
//! the operators to the pipeline: the OTLP record itself (data stays in the
//! opentelemetry-proto types end to end) and the resource attributes it will be
//! sent with. Records with equal resources are grouped into one `ResourceLogs`
//! when a batch is sent.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// A record being read and parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The log record: `body` is the line as read; parsers fill `attributes`,
    /// `time_unix_nano`, `severity_*`.
    pub record: LogRecord,
    /// Attributes of the resource the record is sent under.
    pub resource: Vec<KeyValue>,
}

impl Entry {
    /// A record whose body is `line`, observed at `observed_unix_nano`.
    pub fn from_line(line: String, observed_unix_nano: u64) -> Self {
        Self {
            record: LogRecord {
                observed_time_unix_nano: observed_unix_nano,
                body: Some(string_value(line)),
                ..Default::default()
            },
            resource: Vec::new(),
        }
    }

    /// The body, when it is text (a line not yet parsed into a map).
    pub fn body_text(&self) -> Option<&str> {
        match self.record.body.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(text) => Some(text),
            _ => None,
        }
    }
}

/// A string `AnyValue`.
pub fn string_value(text: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    }
}
