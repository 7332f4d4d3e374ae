//! `transform` processor config: the Collector's transformprocessor, basic and
//! advanced forms.

use serde::Deserialize;

use crate::confmap::{parse_block, ConfigError, Locate, RawValue, Validate};
use crate::ottl::{infer_context, Condition, Context, ParseError, Statement};
use crate::processors::filter::ErrorMode;

/// `processors.transform`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// What a statement that fails on an item does (default `propagate`, as in the
    /// Collector): `ignore` logs it and goes on with the next statement, `silent`
    /// goes on without logging, `propagate` refuses the whole payload.
    #[serde(default = "propagate")]
    pub error_mode: ErrorMode,
    /// Statements for spans: strings (the basic form) or groups (the advanced form).
    #[serde(default)]
    pub trace_statements: Vec<RawValue>,
    /// Statements for metrics.
    #[serde(default)]
    pub metric_statements: Vec<RawValue>,
    /// Statements for logs.
    #[serde(default)]
    pub log_statements: Vec<RawValue>,
    /// The Collector's `flatten_data` (one log record per resource and scope); not
    /// supported, so only `false` is accepted.
    #[serde(default)]
    pub flatten_data: bool,
}

fn propagate() -> ErrorMode {
    ErrorMode::Propagate
}

impl Validate for TransformConfig {
    fn validate(&self) -> Vec<ConfigError> {
        if self.flatten_data {
            return vec![ConfigError::new(
                "flatten_data",
                "flatten_data is not supported by sloop's transform processor; remove it",
            )];
        }
        Vec::new()
    }
}

/// One group of the advanced form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupConfig {
    #[serde(default)]
    context: Option<ContextName>,
    #[serde(default)]
    conditions: Vec<String>,
    statements: Vec<String>,
    #[serde(default)]
    error_mode: Option<ErrorMode>,
}

impl Validate for GroupConfig {}

/// The contexts a group can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ContextName {
    Resource,
    Scope,
    Span,
    Spanevent,
    Log,
    Metric,
    Datapoint,
}

impl ContextName {
    fn context(self) -> Context {
        match self {
            ContextName::Resource => Context::Resource,
            ContextName::Scope => Context::Scope,
            ContextName::Span => Context::Span,
            ContextName::Spanevent => Context::SpanEvent,
            ContextName::Log => Context::Log,
            ContextName::Metric => Context::Metric,
            ContextName::Datapoint => Context::DataPoint,
        }
    }
}

/// Statements that run together against every item of one context.
#[derive(Debug, Clone)]
pub struct Group {
    /// The context every statement and condition was parsed for.
    pub context: Context,
    /// The group runs on an item only when one of these holds (all items when empty).
    pub conditions: Vec<Condition>,
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// The group's `error_mode`, or the processor's.
    pub error_mode: ErrorMode,
}

/// A checked and compiled `transform` config.
#[derive(Debug, Clone, Default)]
pub struct CompiledTransform {
    /// `trace_statements`, in order.
    pub traces: Vec<Group>,
    /// `metric_statements`, in order.
    pub metrics: Vec<Group>,
    /// `log_statements`, in order.
    pub logs: Vec<Group>,
}

/// The contexts of each section, least specific first (the order inference uses).
const TRACE_CONTEXTS: &[Context] = &[Context::Resource, Context::Scope, Context::Span, Context::SpanEvent];
const METRIC_CONTEXTS: &[Context] = &[Context::Resource, Context::Scope, Context::Metric, Context::DataPoint];
const LOG_CONTEXTS: &[Context] = &[Context::Resource, Context::Scope, Context::Log];

fn located(path: String, text: &str, error: ParseError) -> ConfigError {
    ConfigError::new(path, error.message).located(Locate {
        text: text.to_string(),
        line: error.line,
        column: error.column,
    })
}

impl CompiledTransform {
    /// Parses and type-checks every statement and condition; each mistake is an
    /// error at its path (`trace_statements[1].statements[0]`) with the line and
    /// column inside the statement.
    pub fn compile(config: &TransformConfig) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut section = |name: &str, entries: &[RawValue], allowed: &[Context]| {
            compile_section(name, entries, allowed, config.error_mode, &mut errors)
        };
        let compiled = CompiledTransform {
            traces: section("trace_statements", &config.trace_statements, TRACE_CONTEXTS),
            metrics: section("metric_statements", &config.metric_statements, METRIC_CONTEXTS),
            logs: section("log_statements", &config.log_statements, LOG_CONTEXTS),
        };
        if errors.is_empty() {
            Ok(compiled)
        } else {
            Err(errors)
        }
    }
}

/// Parses each (path, text) for `context`; each failure is an error at its path.
fn parse_each<T>(
    texts: &[(String, String)],
    context: Context,
    parse: fn(&str, Context) -> Result<T, ParseError>,
    errors: &mut Vec<ConfigError>,
) -> Vec<T> {
    texts
        .iter()
        .filter_map(|(path, text)| match parse(text, context) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                errors.push(located(path.clone(), text, error));
                None
            }
        })
        .collect()
}

/// One `<signal>_statements` list: consecutive strings form one group (the basic
/// form), each map is a group of its own (the advanced form).
fn compile_section(
    name: &str,
    entries: &[RawValue],
    allowed: &[Context],
    error_mode: ErrorMode,
    errors: &mut Vec<ConfigError>,
) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut basic: Vec<(String, String)> = Vec::new();
    let flush = |basic: &mut Vec<(String, String)>, groups: &mut Vec<Group>, errors: &mut Vec<ConfigError>| {
        if basic.is_empty() {
            return;
        }
        let texts: Vec<&str> = basic.iter().map(|(_, text)| text.as_str()).collect();
        match infer_context(&texts, allowed) {
            Ok(context) => {
                let statements = parse_each(basic, context, Statement::parse, errors);
                groups.push(Group {
                    context,
                    conditions: Vec::new(),
                    statements,
                    error_mode,
                });
            }
            Err((i, error)) => errors.push(located(basic[i].0.clone(), &basic[i].1, error)),
        }
        basic.clear();
    };
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("{name}[{i}]");
        if let Some(text) = entry.as_str() {
            basic.push((path, text.to_string()));
            continue;
        }
        flush(&mut basic, &mut groups, errors);
        match parse_block::<GroupConfig>(entry) {
            Ok(group) => {
                if let Some(group) = compile_group(&path, &group, allowed, error_mode, errors) {
                    groups.push(group);
                }
            }
            Err(group_errors) => errors.extend(group_errors.into_iter().map(|e| e.under(&path))),
        }
    }
    flush(&mut basic, &mut groups, errors);
    groups
}

fn compile_group(
    path: &str,
    config: &GroupConfig,
    allowed: &[Context],
    error_mode: ErrorMode,
    errors: &mut Vec<ConfigError>,
) -> Option<Group> {
    let context = match config.context {
        Some(name) if allowed.contains(&name.context()) => name.context(),
        Some(name) => {
            errors.push(ConfigError::new(
                format!("{path}.context"),
                format!(
                    "{} is not a context of this section; use one of {}",
                    name.context().singular(),
                    allowed
                        .iter()
                        .map(|c| c.singular().replace(' ', ""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            return None;
        }
        None if config.statements.is_empty() && config.conditions.is_empty() => {
            errors.push(ConfigError::new(
                format!("{path}.statements"),
                "a group without statements needs a context",
            ));
            return None;
        }
        None => {
            let texts: Vec<&str> = config
                .statements
                .iter()
                .chain(&config.conditions)
                .map(String::as_str)
                .collect();
            match infer_context(&texts, allowed) {
                Ok(context) => context,
                Err((i, error)) => {
                    let (field, k) = if i < config.statements.len() {
                        ("statements", i)
                    } else {
                        ("conditions", i - config.statements.len())
                    };
                    let text = texts.get(i).copied().unwrap_or_default();
                    errors.push(located(format!("{path}.{field}[{k}]"), text, error));
                    return None;
                }
            }
        }
    };
    let before = errors.len();
    let texts = |field: &str, texts: &[String]| -> Vec<(String, String)> {
        texts
            .iter()
            .enumerate()
            .map(|(k, text)| (format!("{path}.{field}[{k}]"), text.clone()))
            .collect()
    };
    let conditions = parse_each(
        &texts("conditions", &config.conditions),
        context,
        Condition::parse_prefixed,
        errors,
    );
    let statements = parse_each(
        &texts("statements", &config.statements),
        context,
        Statement::parse,
        errors,
    );
    (errors.len() == before).then_some(Group {
        context,
        conditions,
        statements,
        error_mode: config.error_mode.unwrap_or(error_mode),
    })
}
