//! The attribute action engine shared by the `attributes` processor (span, log record
//! and data point attributes) and the `resource` processor (resource attributes):
//! `insert`, `update`, `upsert`, `delete`, `hash`, `extract` and `convert`, with the
//! Collector's keys and semantics.
//!
//! Actions are compiled once from their config ([`Actions::compile`]); applying them
//! compiles nothing and allocates only for the values it writes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::confmap::ConfigError;
use crate::pdata::Telemetry;

/// One entry of `actions:` (attributes processor) or `attributes:` (resource processor).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute acted on. Optional only for `delete` and `hash` with `pattern`.
    #[serde(default)]
    pub key: String,
    /// What to do.
    pub action: ActionKind,
    /// The value for `insert`, `update` and `upsert`: a string, number, bool or array.
    #[serde(default)]
    pub value: Option<ConfigValue>,
    /// For `insert`, `update` and `upsert`: copy this attribute's value instead
    /// (nothing happens when it is absent).
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// For `insert`, `update` and `upsert`: the value from the request's client
    /// information: `metadata.<key>` (a header the receiver kept with
    /// `include_metadata: true`; several values are joined with `;`) or
    /// `auth.<name>` (what its authenticator said, e.g. `auth.username`). Nothing
    /// happens when it is absent (behind a `batch` processor it always is).
    #[serde(default)]
    pub from_context: Option<String>,
    /// For `extract`: a regex with named groups, matched against the string value of
    /// `key`. For `delete` and `hash`: a regex selecting attribute keys.
    #[serde(default)]
    pub pattern: Option<String>,
    /// For `convert`: the type to convert to.
    #[serde(default)]
    pub converted_type: Option<ConvertedType>,
}

/// The `action` of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Set the attribute only when it is missing.
    Insert,
    /// Set the attribute only when it is present.
    Update,
    /// Set the attribute either way.
    Upsert,
    /// Remove the attribute (and those whose keys match `pattern`).
    Delete,
    /// Replace the value by the SHA-256 hex digest of its string form.
    Hash,
    /// Add an attribute per named group of `pattern` matched against the value.
    Extract,
    /// Change the value's type to `converted_type`.
    Convert,
}

impl ActionKind {
    fn as_str(self) -> &'static str {
        match self {
            ActionKind::Insert => "insert",
            ActionKind::Update => "update",
            ActionKind::Upsert => "upsert",
            ActionKind::Delete => "delete",
            ActionKind::Hash => "hash",
            ActionKind::Extract => "extract",
            ActionKind::Convert => "convert",
        }
    }
}

/// `converted_type` of a `convert` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvertedType {
    /// 64-bit integer: strings are parsed, doubles truncated, bools become 1 or 0.
    Int,
    /// Double: strings are parsed, ints widened, bools become 1.0 or 0.0.
    Double,
    /// The value's string form.
    String,
}

/// A value written in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Any other number.
    Double(f64),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<ConfigValue>),
    /// A map.
    Map(BTreeMap<String, ConfigValue>),
}

impl ConfigValue {
    /// The OTLP value.
    pub fn to_any_value(&self) -> AnyValue {
        let value = match self {
            ConfigValue::Bool(b) => any_value::Value::BoolValue(*b),
            ConfigValue::Int(i) => any_value::Value::IntValue(*i),
            ConfigValue::Double(d) => any_value::Value::DoubleValue(*d),
            ConfigValue::String(s) => any_value::Value::StringValue(s.clone()),
            ConfigValue::Array(items) => any_value::Value::ArrayValue(ArrayValue {
                values: items.iter().map(ConfigValue::to_any_value).collect(),
            }),
            ConfigValue::Map(map) => any_value::Value::KvlistValue(KeyValueList {
                values: map
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: Some(v.to_any_value()),
                        ..Default::default()
                    })
                    .collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }
}

/// Where `insert`/`update`/`upsert` take their value from.
#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    Attribute(String),
    Context(String),
}

#[derive(Debug, Clone)]
enum Op {
    Set { kind: ActionKind, source: Source },
    Delete { pattern: Option<Regex> },
    Hash { pattern: Option<Regex> },
    Extract { regex: Regex, groups: Vec<(usize, String)> },
    Convert(ConvertedType),
}

/// One compiled action.
#[derive(Debug, Clone)]
pub struct Action {
    key: String,
    op: Op,
}

/// A compiled list of actions, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

impl Actions {
    /// Checks and compiles `configs`. Error paths are `<list>[i].<field>`.
    pub fn compile(list: &str, configs: &[ActionConfig]) -> Result<Actions, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut actions = Vec::with_capacity(configs.len());
        if configs.is_empty() {
            errors.push(ConfigError::new(list, "at least one action is required"));
        }
        for (i, config) in configs.iter().enumerate() {
            match compile_one(config, &format!("{list}[{i}]")) {
                Ok(action) => actions.push(action),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(Actions(actions))
        } else {
            Err(errors)
        }
    }

    /// Whether there are no actions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action, in order, to one attribute list.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        for action in &self.0 {
            action.apply(attributes);
        }
    }
}

fn compile_one(config: &ActionConfig, at: &str) -> Result<Action, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let kind = config.action;
    let name = kind.as_str();
    let path = |field: &str| format!("{at}.{field}");
    let not_used = |field: &str, errors: &mut Vec<ConfigError>| {
        errors.push(ConfigError::new(path(field), format!("not used by action {name}")));
    };
    let pattern_allowed_for_keys = matches!(kind, ActionKind::Delete | ActionKind::Hash);
    if config.key.is_empty() && !(pattern_allowed_for_keys && config.pattern.is_some()) {
        let message = if pattern_allowed_for_keys {
            "missing key (or a pattern selecting keys)"
        } else {
            "missing key"
        };
        errors.push(ConfigError::new(path("key"), message));
    }
    let is_set = matches!(kind, ActionKind::Insert | ActionKind::Update | ActionKind::Upsert);
    if !is_set {
        if config.value.is_some() {
            not_used("value", &mut errors);
        }
        if config.from_attribute.is_some() {
            not_used("from_attribute", &mut errors);
        }
        if config.from_context.is_some() {
            not_used("from_context", &mut errors);
        }
    }
    if kind != ActionKind::Convert && config.converted_type.is_some() {
        not_used("converted_type", &mut errors);
    }
    if !matches!(kind, ActionKind::Delete | ActionKind::Hash | ActionKind::Extract) && config.pattern.is_some() {
        not_used("pattern", &mut errors);
    }
    let regex = match (&config.pattern, kind) {
        (Some(pattern), ActionKind::Delete | ActionKind::Hash | ActionKind::Extract) => match Regex::new(pattern) {
            Ok(regex) => Some(regex),
            Err(e) => {
                errors.push(ConfigError::new(path("pattern"), format!("invalid regex: {e}")));
                None
            }
        },
        _ => None,
    };
    let op = match kind {
        ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
            let sources = [
                config.value.is_some(),
                config.from_attribute.is_some(),
                config.from_context.is_some(),
            ];
            match sources.iter().filter(|s| **s).count() {
                0 => {
                    errors.push(ConfigError::new(
                        path("value"),
                        format!("missing: action {name} needs one of value, from_attribute or from_context"),
                    ));
                    None
                }
                1 => match (&config.value, &config.from_attribute, &config.from_context) {
                    (Some(value), _, _) => Some(Source::Value(value.to_any_value())),
                    (_, Some(from), _) if from.is_empty() => {
                        errors.push(ConfigError::new(path("from_attribute"), "must not be empty"));
                        None
                    }
                    (_, Some(from), _) => Some(Source::Attribute(from.clone())),
                    (_, _, Some(from)) if from.is_empty() => {
                        errors.push(ConfigError::new(path("from_context"), "must not be empty"));
                        None
                    }
                    (_, _, Some(from)) => Some(Source::Context(from.clone())),
                    _ => None,
                },
                _ => {
                    errors.push(ConfigError::new(
                        at,
                        "set only one of value, from_attribute and from_context",
                    ));
                    None
                }
            }
            .map(|source| Op::Set { kind, source })
        }
        ActionKind::Delete => Some(Op::Delete { pattern: regex }),
        ActionKind::Hash => Some(Op::Hash { pattern: regex }),
        ActionKind::Extract => match regex {
            None if config.pattern.is_none() => {
                errors.push(ConfigError::new(
                    path("pattern"),
                    "missing: extract needs a regex with named groups",
                ));
                None
            }
            None => None,
            Some(regex) => {
                let groups: Vec<(usize, String)> = regex
                    .capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
                    .collect();
                if groups.is_empty() {
                    errors.push(ConfigError::new(
                        path("pattern"),
                        "has no named groups; name each part to extract, like (?P<name>...)",
                    ));
                    None
                } else {
                    Some(Op::Extract { regex, groups })
                }
            }
        },
        ActionKind::Convert => match config.converted_type {
            Some(to) => Some(Op::Convert(to)),
            None => {
                errors.push(ConfigError::new(
                    path("converted_type"),
                    "missing: convert needs converted_type (int, double or string)",
                ));
                None
            }
        },
    };
    match op {
        Some(op) if errors.is_empty() => Ok(Action {
            key: config.key.clone(),
            op,
        }),
        _ => Err(errors),
    }
}

fn position(attributes: &[KeyValue], key: &str) -> Option<usize> {
    attributes.iter().position(|kv| kv.key == key)
}

impl Action {
    /// For `delete` and `hash`: whether `key` is `self.key` or matches the pattern.
    fn selects(&self, key: &str, pattern: Option<&Regex>) -> bool {
        (!self.key.is_empty() && key == self.key) || pattern.is_some_and(|p| p.is_match(key))
    }

    fn apply(&self, attributes: &mut Vec<KeyValue>) {
        match &self.op {
            Op::Set { kind, source } => {
                let at = position(attributes, &self.key);
                let allowed = match kind {
                    ActionKind::Insert => at.is_none(),
                    ActionKind::Update => at.is_some(),
                    _ => true,
                };
                if !allowed {
                    return;
                }
                let value = match source {
                    Source::Value(v) => v.clone(),
                    Source::Attribute(from) => match attributes.iter().find(|kv| &kv.key == from) {
                        Some(kv) => kv.value.clone().unwrap_or_default(),
                        None => return,
                    },
                    Source::Context(from) => match from_context(from) {
                        Some(text) => AnyValue {
                            value: Some(any_value::Value::StringValue(text)),
                        },
                        None => return,
                    },
                };
                set_at(attributes, at, &self.key, value);
            }
            Op::Delete { pattern } => {
                attributes.retain(|kv| !self.selects(&kv.key, pattern.as_ref()));
            }
            Op::Hash { pattern } => {
                for kv in attributes.iter_mut() {
                    if self.selects(&kv.key, pattern.as_ref()) {
                        if let Some(value) = kv.value.as_mut() {
                            let digest = hash(value);
                            value.value = Some(any_value::Value::StringValue(digest));
                        }
                    }
                }
            }
            Op::Extract { regex, groups } => {
                let Some(at) = position(attributes, &self.key) else {
                    return;
                };
                let Some(any_value::Value::StringValue(text)) =
                    attributes[at].value.as_ref().and_then(|v| v.value.as_ref())
                else {
                    return;
                };
                let Some(captures) = regex.captures(text) else { return };
                // Collect first: the captures borrow the attribute list being written.
                let found: Vec<(&str, String)> = groups
                    .iter()
                    .filter_map(|(i, name)| captures.get(*i).map(|m| (name.as_str(), m.as_str().to_owned())))
                    .collect();
                for (name, text) in found {
                    let value = AnyValue {
                        value: Some(any_value::Value::StringValue(text)),
                    };
                    let at = position(attributes, name);
                    set_at(attributes, at, name, value);
                }
            }
            Op::Convert(to) => {
                let Some(at) = position(attributes, &self.key) else {
                    return;
                };
                if let Some(value) = attributes[at].value.as_mut() {
                    convert(value, *to);
                }
            }
        }
    }
}

/// The value `from` names in the current request's client information, if any:
/// several metadata values joined with `;`, as the Collector does.
fn from_context(from: &str) -> Option<String> {
    let client = crate::pdata::client::current()?;
    let values = client.lookup(from);
    (!values.is_empty()).then(|| values.join(";"))
}

fn set_at(attributes: &mut Vec<KeyValue>, at: Option<usize>, key: &str, value: AnyValue) {
    match at {
        Some(i) => attributes[i].value = Some(value),
        None => attributes.push(KeyValue {
            key: key.to_owned(),
            value: Some(value),
            ..Default::default()
        }),
    }
}

/// SHA-256 of the value's string form, as lowercase hex.
pub fn hash(value: &AnyValue) -> String {
    hex::encode(Sha256::digest(string_form(value).as_bytes()))
}

/// Converts in place; a value that cannot be converted is left as it is.
pub fn convert(value: &mut AnyValue, to: ConvertedType) {
    use any_value::Value as V;
    let converted = match (to, value.value.as_ref()) {
        (_, None) => None,
        (ConvertedType::Int, Some(V::IntValue(_))) => None,
        (ConvertedType::Int, Some(V::DoubleValue(d))) if d.is_finite() => Some(V::IntValue(*d as i64)),
        (ConvertedType::Int, Some(V::BoolValue(b))) => Some(V::IntValue(i64::from(*b))),
        (ConvertedType::Int, Some(V::StringValue(s))) => s.trim().parse::<i64>().ok().map(V::IntValue),
        (ConvertedType::Double, Some(V::DoubleValue(_))) => None,
        (ConvertedType::Double, Some(V::IntValue(i))) => Some(V::DoubleValue(*i as f64)),
        (ConvertedType::Double, Some(V::BoolValue(b))) => Some(V::DoubleValue(if *b { 1.0 } else { 0.0 })),
        (ConvertedType::Double, Some(V::StringValue(s))) => s.trim().parse::<f64>().ok().map(V::DoubleValue),
        (ConvertedType::String, Some(V::StringValue(_))) => None,
        (ConvertedType::String, Some(_)) => Some(V::StringValue(string_form(value).into_owned())),
        _ => None,
    };
    if let Some(converted) = converted {
        value.value = Some(converted);
    }
}

/// A value as a string, as the Collector's `AsString`: strings as they are, numbers
/// and bools as written, bytes in base64, arrays and maps as JSON.
pub fn string_form(value: &AnyValue) -> Cow<'_, str> {
    use any_value::Value as V;
    match value.value.as_ref() {
        // A string-table index is only meaningful in profiles, which sloop does not carry.
        None | Some(V::StringValueStrindex(_)) => Cow::Borrowed(""),
        Some(V::StringValue(s)) => Cow::Borrowed(s),
        Some(V::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(V::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(V::DoubleValue(d)) => Cow::Owned(d.to_string()),
        Some(V::BytesValue(b)) => Cow::Owned(base64(b)),
        Some(V::ArrayValue(_) | V::KvlistValue(_)) => Cow::Owned(to_json(value).to_string()),
    }
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    use any_value::Value as V;
    match value.value.as_ref() {
        None | Some(V::StringValueStrindex(_)) => serde_json::Value::Null,
        Some(V::StringValue(s)) => s.clone().into(),
        Some(V::BoolValue(b)) => (*b).into(),
        Some(V::IntValue(i)) => (*i).into(),
        Some(V::DoubleValue(d)) => (*d).into(),
        Some(V::BytesValue(b)) => base64(b).into(),
        Some(V::ArrayValue(a)) => a.values.iter().map(to_json).collect(),
        Some(V::KvlistValue(kv)) => kv
            .values
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().map_or(serde_json::Value::Null, to_json),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Calls `f` on every resource of the payload, creating empty resources where a
/// resource is missing so that attributes can be added to it.
pub fn for_each_resource(data: &mut Telemetry, mut f: impl FnMut(&mut Resource)) {
    match data {
        Telemetry::Traces(r) => r
            .resource_spans
            .iter_mut()
            .for_each(|rs| f(rs.resource.get_or_insert_with(Default::default))),
        Telemetry::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|rm| f(rm.resource.get_or_insert_with(Default::default))),
        Telemetry::Logs(r) => r
            .resource_logs
            .iter_mut()
            .for_each(|rl| f(rl.resource.get_or_insert_with(Default::default))),
    }
}
