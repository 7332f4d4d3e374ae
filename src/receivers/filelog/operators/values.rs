//! Conversions between the values operators read and write: JSON (config values
//! and `json_parser` input) into `AnyValue`, and scalar `AnyValue`s into text.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};

use super::field::map_value;
use crate::receivers::filelog::entry::string_value;

/// A JSON value as an `AnyValue`. Numbers are doubles, as Go's `encoding/json`
/// decodes them for the Collector, unless `ints` is set and the number is an
/// integer that fits an `i64`.
pub fn json_to_any(value: serde_json::Value, ints: bool) -> AnyValue {
    use any_value::Value;
    let inner = match value {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(Value::BoolValue(b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if ints => Some(Value::IntValue(i)),
            _ => n.as_f64().map(Value::DoubleValue),
        },
        serde_json::Value::String(s) => Some(Value::StringValue(s)),
        serde_json::Value::Array(items) => Some(Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(|v| json_to_any(v, ints)).collect(),
        })),
        serde_json::Value::Object(map) => return map_value(json_map(map, ints)),
    };
    AnyValue { value: inner }
}

/// A JSON object's members as key-values, sorted by key (serde_json's map).
pub fn json_map(map: serde_json::Map<String, serde_json::Value>, ints: bool) -> Vec<KeyValue> {
    map.into_iter()
        .map(|(key, value)| key_value(key, json_to_any(value, ints)))
        .collect()
}

/// A config value (YAML read as JSON) as an `AnyValue`: integers stay integers.
pub fn config_value(value: &serde_json::Value) -> AnyValue {
    json_to_any(value.clone(), true)
}

/// A key-value pair.
pub fn key_value(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

/// A scalar as text: strings as they are, numbers and booleans printed; maps,
/// lists, bytes and empty values have none.
pub fn scalar_text(value: &AnyValue) -> Option<Cow<'_, str>> {
    use any_value::Value;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(Cow::Borrowed(s)),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// The name of a value's type, for error messages.
pub fn type_name(value: &AnyValue) -> &'static str {
    use any_value::Value;
    match value.value.as_ref() {
        None => "empty",
        Some(Value::StringValue(_)) => "string",
        Some(Value::IntValue(_)) => "int",
        Some(Value::DoubleValue(_)) => "double",
        Some(Value::BoolValue(_)) => "bool",
        Some(Value::ArrayValue(_)) => "list",
        Some(Value::KvlistValue(_)) => "map",
        Some(Value::BytesValue(_)) => "bytes",
        #[allow(unreachable_patterns)]
        Some(_) => "other",
    }
}

/// The text of a string value, or an error naming what was found instead.
pub fn expect_text<'v>(value: &'v AnyValue, what: &str) -> Result<&'v str, String> {
    match value.value.as_ref() {
        Some(any_value::Value::StringValue(text)) => Ok(text),
        _ => Err(format!("{what} needs a string, found a {}", type_name(value))),
    }
}

/// A string `AnyValue` (re-exported for the operators' modules).
pub fn text(value: impl Into<String>) -> AnyValue {
    string_value(value)
}
