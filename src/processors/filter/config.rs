//! `filter` processor config: the Collector's filterprocessor OTTL form.

use serde::Deserialize;

use crate::confmap::{ConfigError, Locate, Validate};
use crate::ottl::{Condition, Context};

/// `processors.filter`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// What to do when a condition fails at runtime (default `ignore`). Kept for
    /// compatibility with the Collector: sloop's conditions are type-checked when the
    /// config is loaded and cannot fail when evaluated (a comparison of mismatched
    /// types is false), so every mode behaves the same.
    #[serde(default)]
    pub error_mode: ErrorMode,
    /// Conditions for spans and span events.
    #[serde(default)]
    pub traces: TracesConditions,
    /// Conditions for metrics and data points.
    #[serde(default)]
    pub metrics: MetricsConditions,
    /// Conditions for log records.
    #[serde(default)]
    pub logs: LogsConditions,
}

/// `error_mode`, as in the Collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// Log the error and go on with the next item.
    #[default]
    Ignore,
    /// Go on without logging.
    Silent,
    /// Refuse the whole payload.
    Propagate,
}

/// `traces`: an item is dropped when any of its conditions is true.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConditions {
    /// Span conditions: a matching span is dropped with its events.
    #[serde(default)]
    pub span: Vec<String>,
    /// Span event conditions: a matching event is removed from its span.
    #[serde(default)]
    pub spanevent: Vec<String>,
}

/// `metrics`: an item is dropped when any of its conditions is true.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConditions {
    /// Metric conditions: a matching metric is dropped with all its points.
    #[serde(default)]
    pub metric: Vec<String>,
    /// Data point conditions: a matching point is dropped; a metric left without
    /// points is dropped too.
    #[serde(default)]
    pub datapoint: Vec<String>,
}

/// `logs`: a record is dropped when any of its conditions is true.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConditions {
    /// Log record conditions.
    #[serde(default)]
    pub log_record: Vec<String>,
}

impl Validate for FilterConfig {}

/// Every condition of a filter, compiled for its context.
#[derive(Debug, Clone, Default)]
pub struct CompiledFilter {
    /// `traces.span`.
    pub span: Vec<Condition>,
    /// `traces.spanevent`.
    pub span_event: Vec<Condition>,
    /// `metrics.metric`.
    pub metric: Vec<Condition>,
    /// `metrics.datapoint`.
    pub data_point: Vec<Condition>,
    /// `logs.log_record`.
    pub log_record: Vec<Condition>,
    /// `error_mode` (documented, no effect: see [`FilterConfig::error_mode`]).
    pub error_mode: ErrorMode,
}

impl CompiledFilter {
    /// Compiles every condition; each one that does not compile is an error at its
    /// path (`traces.span[0]`) with the line and column inside the condition.
    pub fn compile(config: &FilterConfig) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut compile = |path: &str, texts: &[String], context: Context| -> Vec<Condition> {
            texts
                .iter()
                .enumerate()
                .filter_map(|(i, text)| match Condition::parse(text, context) {
                    Ok(condition) => Some(condition),
                    Err(error) => {
                        errors.push(ConfigError::new(format!("{path}[{i}]"), error.message).located(Locate {
                            text: text.clone(),
                            line: error.line,
                            column: error.column,
                        }));
                        None
                    }
                })
                .collect()
        };
        let compiled = CompiledFilter {
            span: compile("traces.span", &config.traces.span, Context::Span),
            span_event: compile("traces.spanevent", &config.traces.spanevent, Context::SpanEvent),
            metric: compile("metrics.metric", &config.metrics.metric, Context::Metric),
            data_point: compile("metrics.datapoint", &config.metrics.datapoint, Context::DataPoint),
            log_record: compile("logs.log_record", &config.logs.log_record, Context::Log),
            error_mode: config.error_mode,
        };
        if errors.is_empty() {
            Ok(compiled)
        } else {
            Err(errors)
        }
    }
}
