//! `attributes` processor config, with the Collector's keys.

use serde::Deserialize;

use super::actions::{ActionConfig, ConfigValue};
use crate::confmap::{ConfigError, Validate};

/// `processors.attributes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    /// The actions, applied in order to each item's attributes.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    /// When set, only items matching it are processed.
    #[serde(default)]
    pub include: Option<MatchConfig>,
    /// When set, items matching it are not processed.
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

/// `include` / `exclude`: every property that is set must match (a list matches when
/// any of its entries does; `attributes` and `resources` need all their entries).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// How names and values are compared.
    pub match_type: MatchType,
    /// Resource `service.name` values (spans).
    #[serde(default)]
    pub services: Vec<String>,
    /// Span names (spans).
    #[serde(default)]
    pub span_names: Vec<String>,
    /// Span kinds, as `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`, ... (spans).
    #[serde(default)]
    pub span_kinds: Vec<String>,
    /// Instrumentation scopes: `name`, and `version` when given (spans, log records).
    #[serde(default)]
    pub libraries: Vec<LibraryMatch>,
    /// Item attributes that must all be present, with the value when one is given
    /// (spans and log records).
    #[serde(default)]
    pub attributes: Vec<AttributeMatch>,
    /// Resource attributes that must all be present, likewise (every signal).
    #[serde(default)]
    pub resources: Vec<AttributeMatch>,
    /// String bodies of log records (logs).
    #[serde(default)]
    pub log_bodies: Vec<String>,
    /// Severity texts of log records (logs).
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
    /// Metric names (metrics).
    #[serde(default)]
    pub metric_names: Vec<String>,
}

/// `strict` (exact equality) or `regexp` (the pattern is found in the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact equality.
    Strict,
    /// Regex search (unanchored, as in Go's `MatchString`).
    Regexp,
}

/// One `{key, value}` of `attributes` / `resources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    /// The attribute key.
    pub key: String,
    /// The value; when absent, the key only has to be present.
    #[serde(default)]
    pub value: Option<ConfigValue>,
}

/// One `{name, version}` of `libraries`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryMatch {
    /// The instrumentation scope name.
    pub name: String,
    /// The scope version; when absent, any version.
    #[serde(default)]
    pub version: Option<String>,
}

impl MatchConfig {
    /// The properties that are set, by config key.
    pub fn used(&self) -> Vec<&'static str> {
        [
            ("services", !self.services.is_empty()),
            ("span_names", !self.span_names.is_empty()),
            ("span_kinds", !self.span_kinds.is_empty()),
            ("libraries", !self.libraries.is_empty()),
            ("attributes", !self.attributes.is_empty()),
            ("resources", !self.resources.is_empty()),
            ("log_bodies", !self.log_bodies.is_empty()),
            ("log_severity_texts", !self.log_severity_texts.is_empty()),
            ("metric_names", !self.metric_names.is_empty()),
        ]
        .into_iter()
        .filter_map(|(k, used)| used.then_some(k))
        .collect()
    }

    /// What can be checked without compiling (regexes are compiled, and checked,
    /// once: by [`Matcher::compile`](super::Matcher::compile)).
    pub(super) fn validate(&self, at: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.used().is_empty() {
            errors.push(ConfigError::new(
                at,
                "set at least one of services, span_names, span_kinds, libraries, attributes, resources, \
                 log_bodies, log_severity_texts, metric_names",
            ));
        }
        for (name, list) in [("attributes", &self.attributes), ("resources", &self.resources)] {
            for (i, attribute) in list.iter().enumerate() {
                if attribute.key.is_empty() {
                    errors.push(ConfigError::new(format!("{at}.{name}[{i}].key"), "must not be empty"));
                }
            }
        }
        if self.match_type == MatchType::Strict {
            for (i, kind) in self.span_kinds.iter().enumerate() {
                if !SPAN_KINDS.contains(&kind.as_str()) {
                    let hint = crate::confmap::did_you_mean(kind, SPAN_KINDS.iter().copied())
                        .map_or(String::new(), |k| format!(", did you mean {k}?"));
                    errors.push(ConfigError::new(
                        format!("{at}.span_kinds[{i}]"),
                        format!("unknown span kind{hint}"),
                    ));
                }
            }
        }
        errors
    }
}

/// Span kind names, indexed by the OTLP enum value.
pub const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

/// Everything is checked by compiling, once, in
/// [`CompiledAttributes::compile`](super::CompiledAttributes::compile): the actions'
/// and matchers' regexes are compiled there and nowhere else.
impl Validate for AttributesConfig {}
