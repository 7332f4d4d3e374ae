//! `routing` connector config: the Collector's routingconnector keys, conditions in
//! sloop's condition language, compiled when the config is parsed.

use serde::Deserialize;

use crate::confmap::{ConfigError, Locate, Validate};
use crate::ottl::{Condition, Context};

/// `connectors.routing`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The routes, tried in order; the first whose condition holds takes the data.
    pub table: Vec<RouteConfig>,
    /// Where data that no route takes goes (default: nowhere; it is counted).
    #[serde(default)]
    pub default_pipelines: Vec<String>,
    /// What to do when a condition fails when evaluated (default `propagate`, as in
    /// the Collector). Accepted for compatibility: sloop's conditions are
    /// type-checked when the config is loaded and cannot fail when evaluated (a
    /// comparison of mismatched types is false), so every mode behaves the same.
    #[serde(default)]
    pub error_mode: ErrorMode,
}

/// `error_mode`, as in the Collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// Refuse the payload.
    #[default]
    Propagate,
    /// Log the error and send the item to the default pipelines.
    Ignore,
    /// As `ignore`, without logging.
    Silent,
}

/// One entry of `table`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// What the condition is evaluated against (default `resource`).
    #[serde(default)]
    pub context: RouteContext,
    /// The routing condition.
    #[serde(default)]
    pub condition: Option<String>,
    /// The Collector's statement form, `route() where <condition>`.
    #[serde(default)]
    pub statement: Option<String>,
    /// The pipelines that get what the route takes.
    pub pipelines: Vec<String>,
}

/// `table[].context`: what a route's condition is evaluated against, and so what
/// it moves (a whole resource with its scopes and items, or single items).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteContext {
    /// Each resource; `attributes` are the resource's.
    #[default]
    Resource,
    /// Each span (traces only).
    Span,
    /// Each log record (logs only).
    Log,
    /// Each metric (metrics only).
    Metric,
    /// Each data point: not supported by sloop (refused with a message).
    Datapoint,
    /// Request headers: not supported by sloop (refused with a message).
    Request,
}

impl RouteContext {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteContext::Resource => "resource",
            RouteContext::Span => "span",
            RouteContext::Log => "log",
            RouteContext::Metric => "metric",
            RouteContext::Datapoint => "datapoint",
            RouteContext::Request => "request",
        }
    }
}

impl Validate for RoutingConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.table.is_empty() {
            errors.push(ConfigError::new("table", "at least one route is required"));
        }
        for (i, route) in self.table.iter().enumerate() {
            if route.pipelines.is_empty() {
                errors.push(ConfigError::new(
                    format!("table[{i}].pipelines"),
                    "a route needs at least one pipeline",
                ));
            }
            match (&route.condition, &route.statement) {
                (None, None) => errors.push(ConfigError::new(
                    format!("table[{i}]"),
                    "a route needs a `condition` (or a `statement`)",
                )),
                (Some(_), Some(_)) => errors.push(ConfigError::new(
                    format!("table[{i}]"),
                    "use either `condition` or `statement`, not both",
                )),
                _ => {}
            }
            if matches!(route.context, RouteContext::Datapoint | RouteContext::Request) {
                errors.push(ConfigError::new(
                    format!("table[{i}].context"),
                    format!(
                        "the {} context is not supported by sloop; use resource, span, log or metric",
                        route.context.as_str()
                    ),
                ));
            }
        }
        errors
    }
}

/// One route, compiled.
#[derive(Debug, Clone)]
pub struct Route {
    /// What the condition is evaluated against.
    pub context: RouteContext,
    /// The condition, compiled for `context`.
    pub condition: Condition,
    /// The pipelines that get what the route takes.
    pub pipelines: Vec<String>,
}

/// The parsed config: every condition compiled once, here.
#[derive(Debug, Clone)]
pub struct CompiledRouting {
    /// The routes, in order.
    pub routes: Vec<Route>,
    /// `default_pipelines`.
    pub default_pipelines: Vec<String>,
    /// `error_mode` (documented, no effect: see [`RoutingConfig::error_mode`]).
    pub error_mode: ErrorMode,
}

/// The Collector's statement form: `route() where <condition>`. Returns the
/// condition and the number of characters before it in `statement`.
fn condition_of_statement(statement: &str) -> Option<(&str, usize)> {
    let rest = statement.trim_start().strip_prefix("route()")?;
    let after_where = rest.trim_start().strip_prefix("where")?;
    if !after_where.starts_with(char::is_whitespace) {
        return None;
    }
    let condition = after_where.trim_start();
    let offset = statement[..statement.len() - condition.len()].chars().count();
    Some((condition, offset))
}

impl CompiledRouting {
    /// Compiles every route's condition for its context; each that does not compile
    /// is an error at its path (`table[1].condition`) with the line and column.
    pub fn compile(config: RoutingConfig) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut routes = Vec::new();
        for (i, route) in config.table.into_iter().enumerate() {
            let context = match route.context {
                RouteContext::Resource => Context::Resource,
                RouteContext::Span => Context::Span,
                RouteContext::Log => Context::Log,
                RouteContext::Metric => Context::Metric,
                // Refused by `validate`.
                RouteContext::Datapoint | RouteContext::Request => continue,
            };
            let (path, text, condition, offset) = match (&route.condition, &route.statement) {
                (Some(condition), None) => (format!("table[{i}].condition"), condition, condition.as_str(), 0),
                (None, Some(statement)) => match condition_of_statement(statement) {
                    Some((condition, offset)) => (format!("table[{i}].statement"), statement, condition, offset),
                    None => {
                        errors.push(ConfigError::new(
                            format!("table[{i}].statement"),
                            "sloop understands statements of the form `route() where <condition>`; \
                             or write the condition alone under `condition`",
                        ));
                        continue;
                    }
                },
                // Refused by `validate`.
                _ => continue,
            };
            match Condition::parse(condition, context) {
                Ok(compiled) => routes.push(Route {
                    context: route.context,
                    condition: compiled,
                    pipelines: route.pipelines,
                }),
                Err(error) => {
                    // A statement's condition starts `offset` characters in; errors on
                    // its first line are shifted by that much.
                    let column = if error.line == 1 {
                        error.column + offset
                    } else {
                        error.column
                    };
                    errors.push(ConfigError::new(path, error.message).located(Locate {
                        text: text.clone(),
                        line: error.line,
                        column,
                    }));
                }
            }
        }
        if errors.is_empty() {
            Ok(Self {
                routes,
                default_pipelines: config.default_pipelines,
                error_mode: config.error_mode,
            })
        } else {
            Err(errors)
        }
    }
}
