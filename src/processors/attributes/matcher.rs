//! Compiled `include` / `exclude` properties (the Collector's `filterconfig.MatchProperties`).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;

use super::actions::{string_form, ConfigValue};
use super::config::{AttributeMatch, LibraryMatch, MatchConfig, MatchType, SPAN_KINDS};
use crate::confmap::ConfigError;

/// One item as matching sees it. Fields that do not apply to the signal are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Item<'a> {
    /// The item's resource.
    pub resource: Option<&'a Resource>,
    /// The instrumentation scope of the item.
    pub scope: Option<&'a InstrumentationScope>,
    /// The item's own attributes (spans, log records).
    pub attributes: &'a [KeyValue],
    /// Span name.
    pub span_name: Option<&'a str>,
    /// Span kind (the OTLP enum value).
    pub span_kind: Option<i32>,
    /// Log record body.
    pub log_body: Option<&'a AnyValue>,
    /// Log record severity text.
    pub severity_text: Option<&'a str>,
    /// Metric name.
    pub metric_name: Option<&'a str>,
}

#[derive(Debug, Clone)]
enum Names {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

/// Compiles one regex, or records why it does not compile at `path`.
fn regex(pattern: &str, path: String, errors: &mut Vec<ConfigError>) -> Option<Regex> {
    Regex::new(pattern)
        .map_err(|e| errors.push(ConfigError::new(path, format!("invalid regex: {e}"))))
        .ok()
}

impl Names {
    /// The list at `path`; `None` when it is empty (the property is not set).
    fn compile(match_type: MatchType, list: &[String], path: &str, errors: &mut Vec<ConfigError>) -> Option<Names> {
        if list.is_empty() {
            return None;
        }
        Some(match match_type {
            MatchType::Strict => Names::Strict(list.to_vec()),
            MatchType::Regexp => Names::Regexp(
                list.iter()
                    .enumerate()
                    .filter_map(|(i, p)| regex(p, format!("{path}[{i}]"), errors))
                    .collect(),
            ),
        })
    }

    /// One name or pattern, at `path`.
    fn one(match_type: MatchType, text: &str, path: String, errors: &mut Vec<ConfigError>) -> Names {
        match match_type {
            MatchType::Strict => Names::Strict(vec![text.to_owned()]),
            MatchType::Regexp => Names::Regexp(regex(text, path, errors).into_iter().collect()),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Names::Strict(names) => names.iter().any(|n| n == text),
            Names::Regexp(patterns) => patterns.iter().any(|p| p.is_match(text)),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueMatch {
    Any,
    Strict(AnyValue),
    Regexp(Regex),
}

#[derive(Debug, Clone)]
struct AttributeMatcher {
    key: String,
    value: ValueMatch,
}

impl AttributeMatcher {
    /// The entry at `path`; `None` when its value cannot be compiled (recorded).
    fn compile(
        match_type: MatchType,
        config: &AttributeMatch,
        path: String,
        errors: &mut Vec<ConfigError>,
    ) -> Option<AttributeMatcher> {
        let value = match (&config.value, match_type) {
            (None, _) => ValueMatch::Any,
            (Some(v), MatchType::Strict) => ValueMatch::Strict(v.to_any_value()),
            (Some(ConfigValue::String(pattern)), MatchType::Regexp) => {
                ValueMatch::Regexp(regex(pattern, format!("{path}.value"), errors)?)
            }
            (Some(_), MatchType::Regexp) => {
                errors.push(ConfigError::new(
                    format!("{path}.value"),
                    "match_type regexp needs a string pattern",
                ));
                return None;
            }
        };
        Some(AttributeMatcher {
            key: config.key.clone(),
            value,
        })
    }

    fn matches(&self, attributes: &[KeyValue]) -> bool {
        let Some(kv) = attributes.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        match &self.value {
            ValueMatch::Any => true,
            ValueMatch::Strict(expected) => kv.value.as_ref() == Some(expected),
            ValueMatch::Regexp(pattern) => kv.value.as_ref().is_some_and(|v| pattern.is_match(&string_form(v))),
        }
    }
}

#[derive(Debug, Clone)]
struct LibraryMatcher {
    name: Names,
    version: Option<Names>,
}

impl LibraryMatcher {
    fn compile(match_type: MatchType, config: &LibraryMatch, path: &str, errors: &mut Vec<ConfigError>) -> Self {
        LibraryMatcher {
            name: Names::one(match_type, &config.name, format!("{path}.name"), errors),
            version: config
                .version
                .as_ref()
                .map(|v| Names::one(match_type, v, format!("{path}.version"), errors)),
        }
    }

    fn matches(&self, scope: Option<&InstrumentationScope>) -> bool {
        let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        self.name.matches(name) && self.version.as_ref().is_none_or(|v| v.matches(version))
    }
}

/// A compiled `include` or `exclude`.
#[derive(Debug, Clone)]
pub struct Matcher {
    services: Option<Names>,
    span_names: Option<Names>,
    span_kinds: Option<Names>,
    libraries: Vec<LibraryMatcher>,
    log_bodies: Option<Names>,
    log_severity_texts: Option<Names>,
    metric_names: Option<Names>,
    attributes: Vec<AttributeMatcher>,
    resources: Vec<AttributeMatcher>,
}

const NO_ATTRIBUTES: &[KeyValue] = &[];

impl Matcher {
    /// Checks and compiles the `include` or `exclude` block at `at`, each regex
    /// once; every error carries its path (`exclude.span_names[0]`).
    pub fn compile(config: &MatchConfig, at: &str) -> Result<Matcher, Vec<ConfigError>> {
        let mut errors = config.validate(at);
        let t = config.match_type;
        let e = &mut errors;
        let mut names = |key: &str, list: &[String]| Names::compile(t, list, &format!("{at}.{key}"), e);
        let (services, span_names, span_kinds) = (
            names("services", &config.services),
            names("span_names", &config.span_names),
            names("span_kinds", &config.span_kinds),
        );
        let (log_bodies, log_severity_texts, metric_names) = (
            names("log_bodies", &config.log_bodies),
            names("log_severity_texts", &config.log_severity_texts),
            names("metric_names", &config.metric_names),
        );
        let libraries = config
            .libraries
            .iter()
            .enumerate()
            .map(|(i, l)| LibraryMatcher::compile(t, l, &format!("{at}.libraries[{i}]"), &mut errors))
            .collect();
        let mut attribute_list = |key: &str, list: &[AttributeMatch]| -> Vec<AttributeMatcher> {
            list.iter()
                .enumerate()
                .filter_map(|(i, a)| AttributeMatcher::compile(t, a, format!("{at}.{key}[{i}]"), &mut errors))
                .collect()
        };
        let attributes = attribute_list("attributes", &config.attributes);
        let resources = attribute_list("resources", &config.resources);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Matcher {
            services,
            span_names,
            span_kinds,
            libraries,
            log_bodies,
            log_severity_texts,
            metric_names,
            attributes,
            resources,
        })
    }

    /// Whether every property that is set matches the item.
    pub fn matches(&self, item: &Item<'_>) -> bool {
        let resource_attributes = item.resource.map_or(NO_ATTRIBUTES, |r| r.attributes.as_slice());
        let text = |names: &Option<Names>, value: Option<&str>| {
            names.as_ref().is_none_or(|n| value.is_some_and(|v| n.matches(v)))
        };
        if let Some(services) = &self.services {
            let service = resource_attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map_or(std::borrow::Cow::Borrowed(""), string_form);
            if !services.matches(&service) {
                return false;
            }
        }
        let body = match item.log_body.and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        };
        let kind = item.span_kind.map(|k| {
            usize::try_from(k)
                .ok()
                .and_then(|k| SPAN_KINDS.get(k))
                .copied()
                .unwrap_or("")
        });
        text(&self.span_names, item.span_name)
            && text(&self.span_kinds, kind)
            && (self.libraries.is_empty() || self.libraries.iter().any(|l| l.matches(item.scope)))
            && text(&self.log_bodies, body)
            && text(&self.log_severity_texts, item.severity_text)
            && text(&self.metric_names, item.metric_name)
            && self.attributes.iter().all(|a| a.matches(item.attributes))
            && self.resources.iter().all(|a| a.matches(resource_attributes))
    }
}
