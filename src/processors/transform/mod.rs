//! `transform` — changes telemetry with OTTL statements, like the Collector's
//! transformprocessor: `editor(arguments) where condition`, run in order against
//! every item of a context.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! ## Config
//!
//! | key | default | |
//! |---|---|---|
//! | `error_mode` | `propagate` | what a statement that fails on an item does: `ignore` logs it and goes on with the next statement, `silent` goes on quietly, `propagate` refuses the payload (the client gets a permanent error) |
//! | `trace_statements` | `[]` | contexts `resource`, `scope`, `span`, `spanevent` |
//! | `metric_statements` | `[]` | contexts `resource`, `scope`, `metric`, `datapoint` |
//! | `log_statements` | `[]` | contexts `resource`, `scope`, `log` |
//!
//! Each list holds statement strings (the basic form: consecutive strings form one
//! group) or groups (the advanced form): `{context, conditions, statements,
//! error_mode}`. A group's `conditions` are or-ed: its statements run on an item only
//! when one holds. Without `context`, the context is inferred from the path prefixes
//! as in the Collector: the most specific one used (`span.name` and
//! `resource.attributes` → `span`). So `set(resource.attributes["k"], "v")` next to a
//! `span.` statement runs once per span, and a group mixing `span.` and `spanevent.`
//! paths runs only on span events. Groups run in order, each over the whole payload.
//!
//! Statements and conditions are parsed and type-checked when the config is loaded:
//! a mistake fails `sloop validate` at its file, line and column.
//!
//! ## Statements
//!
//! Paths, literals, operators and the functions usable in `where` are those of the
//! [condition language](crate::ottl), written with their context prefix (`span.name`,
//! `log.body`, `resource.attributes["k"]`, `scope.name`, `spanevent.attributes`,
//! `metric.name`, `datapoint.attributes`) or, in a group with a `context`, without.
//! Changeable paths: `attributes[…]` (any depth), `resource.attributes`,
//! `scope.name`/`version`/`attributes`; spans: `name`, `kind`, `status.code`,
//! `status.message`, `start_time`/`end_time` (`_unix_nano`), `trace_state`; span
//! events: `name`, `time`, `span.name`, `span.attributes`; logs: `body` (and
//! `body[…]`), `severity_number`, `severity_text`, `time`, `observed_time`,
//! `event_name`; metrics: `name`, `description`, `unit`; data points: `time`,
//! `start_time`, `value_double`, `value_int`, `metric.name`/`description`/`unit`.
//!
//! | editor | |
//! |---|---|
//! | `set(target, value)` | a value of the wrong type for a typed field (an int for a name), or nil, leaves it as it is |
//! | `delete_key(map, "key")`, `delete_matching_keys(map, "regex")` | |
//! | `keep_keys(map, ["a", "b"])`, `keep_matching_keys(map, "regex")` | |
//! | `limit(map, n, ["priority", …])` | keeps the priority keys, then the first others, up to n |
//! | `truncate_all(map, n)` | string values to at most n bytes, at a character boundary |
//! | `replace_pattern(target, "regex", replacement)` | every match; `$1`/`${name}` in the replacement are groups |
//! | `replace_all_patterns(map, "key" \| "value", "regex", replacement)` | |
//! | `replace_match(target, "glob", replacement)`, `replace_all_matches(map, "glob", replacement)` | `*`, `?`, `[…]`, `{a,b}`; the whole value must match |
//! | `merge_maps(map, source, "insert" \| "update" \| "upsert")` | |
//! | `flatten(map[, "prefix"[, depth]])` | nested maps and lists to `a.b` and `a.0` keys |
//!
//! | converter | |
//! |---|---|
//! | `Concat([values], "delimiter")` | nil reads as `<nil>`, as in the Collector |
//! | `Split(target, "delimiter")` | a list of strings |
//! | `Substring(target, start, length)` | bytes; an error when out of range or inside a character |
//! | `ConvertCase(target, "lower" \| "upper" \| "snake" \| "camel")`, `ToLowerCase`, `ToUpperCase` | |
//! | `Int(v)`, `Double(v)`, `String(v)` | nil when `v` cannot be converted |
//! | `SHA256(v)` | hex |
//!
//! Converters that take a string fail on anything else (nil included), as in the
//! Collector; that is what `error_mode` is about.
//!
//! ## Differences from the Collector
//!
//! - Converters are values of editor arguments; they cannot be used inside `where`
//!   clauses and group conditions yet (refused when loading). Arithmetic (`+ - * /`),
//!   map literals `{…}`, and editors' optional function arguments
//!   (`replace_pattern(…, SHA256)`) are not supported.
//! - Missing converters include `ParseJSON`, `IsRootSpan`, `Time`, `Now`, `TraceID`,
//!   `SpanID`, `Hex`, `MD5`, `SHA1`, `UUID`, `ExtractPatterns`, `URL`, `UserAgent`; missing
//!   editors include the metric-only ones (`convert_sum_to_gauge`, …),
//!   `set_semconv_span_name` and `append`. The exemplar and profile contexts and
//!   `flatten_data` are not supported.
//! - Keys, patterns, limits and cases must be literals (the Collector also takes
//!   most of them as literals).

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::metric;

pub use config::{CompiledTransform, Group, TransformConfig};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::ottl::{Context, DataPointMut, Target};
use crate::pdata::Telemetry;
use crate::processors::filter::ErrorMode;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "transform",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: TransformConfig = parse_block(value)?;
    Ok(Box::new(CompiledTransform::compile(&config)?))
}

impl ProcessorConfig for CompiledTransform {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        Ok(Arc::new(TransformProcessor {
            transform: Arc::new(self.clone()),
            id: ctx.id.to_string(),
            next,
        }))
    }
}

/// The running processor.
pub struct TransformProcessor {
    transform: Arc<CompiledTransform>,
    id: String,
    next: Arc<dyn Consumer>,
}

/// A statement that failed under `error_mode: propagate`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {statement:?} failed: {message}")]
pub struct StatementError {
    /// The statement's text.
    pub statement: String,
    /// What went wrong.
    pub message: String,
}

impl Group {
    /// Runs the group's statements against one item, if a condition lets it.
    fn run(&self, target: &mut Target<'_>, processor: &str) -> Result<(), StatementError> {
        if !self.conditions.is_empty() && !self.conditions.iter().any(|c| c.eval_target(target)) {
            return Ok(());
        }
        for statement in &self.statements {
            let Err(error) = statement.execute(target) else {
                continue;
            };
            match self.error_mode {
                ErrorMode::Propagate => {
                    return Err(StatementError {
                        statement: statement.text().to_string(),
                        message: error.message,
                    })
                }
                ErrorMode::Ignore => tracing::warn!(
                    message = "A transform statement failed; going on with the next.",
                    processor,
                    statement = statement.text(),
                    %error
                ),
                ErrorMode::Silent => {}
            }
        }
        Ok(())
    }
}

impl CompiledTransform {
    /// Runs every group of `data`'s signal over it, in place. With `propagate`, the
    /// first failing statement stops the run (the data is then partly changed).
    pub fn apply(&self, data: &mut Telemetry, processor: &str) -> Result<(), StatementError> {
        match data {
            Telemetry::Traces(request) => {
                for group in &self.traces {
                    for rs in &mut request.resource_spans {
                        let resource = &mut rs.resource;
                        if group.context == Context::Resource {
                            group.run(&mut Target::Resource { resource }, processor)?;
                            continue;
                        }
                        for ss in &mut rs.scope_spans {
                            let scope = &mut ss.scope;
                            match group.context {
                                Context::Scope => group.run(&mut Target::Scope { resource, scope }, processor)?,
                                Context::Span => {
                                    for span in &mut ss.spans {
                                        group.run(&mut Target::Span { span, resource, scope }, processor)?;
                                    }
                                }
                                _ => {
                                    for span in &mut ss.spans {
                                        // Moved out so statements can use the span beside its event.
                                        let mut events = std::mem::take(&mut span.events);
                                        let result = events.iter_mut().try_for_each(|event| {
                                            group.run(
                                                &mut Target::SpanEvent {
                                                    event,
                                                    span: &mut *span,
                                                    resource: &mut *resource,
                                                    scope: &mut *scope,
                                                },
                                                processor,
                                            )
                                        });
                                        span.events = events;
                                        result?;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Telemetry::Logs(request) => {
                for group in &self.logs {
                    for rl in &mut request.resource_logs {
                        let resource = &mut rl.resource;
                        if group.context == Context::Resource {
                            group.run(&mut Target::Resource { resource }, processor)?;
                            continue;
                        }
                        for sl in &mut rl.scope_logs {
                            let scope = &mut sl.scope;
                            if group.context == Context::Scope {
                                group.run(&mut Target::Scope { resource, scope }, processor)?;
                                continue;
                            }
                            for log in &mut sl.log_records {
                                group.run(&mut Target::Log { log, resource, scope }, processor)?;
                            }
                        }
                    }
                }
            }
            Telemetry::Metrics(request) => {
                for group in &self.metrics {
                    for rm in &mut request.resource_metrics {
                        let resource = &mut rm.resource;
                        if group.context == Context::Resource {
                            group.run(&mut Target::Resource { resource }, processor)?;
                            continue;
                        }
                        for sm in &mut rm.scope_metrics {
                            let scope = &mut sm.scope;
                            match group.context {
                                Context::Scope => group.run(&mut Target::Scope { resource, scope }, processor)?,
                                Context::Metric => {
                                    for metric in &mut sm.metrics {
                                        group.run(
                                            &mut Target::Metric {
                                                metric,
                                                resource,
                                                scope,
                                            },
                                            processor,
                                        )?;
                                    }
                                }
                                _ => {
                                    for metric in &mut sm.metrics {
                                        run_points(group, metric, resource, scope, processor)?;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs a data point group over one metric's points.
fn run_points(
    group: &Group,
    metric: &mut opentelemetry_proto::tonic::metrics::v1::Metric,
    resource: &mut Option<opentelemetry_proto::tonic::resource::v1::Resource>,
    scope: &mut Option<opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    processor: &str,
) -> Result<(), StatementError> {
    // The points are moved out so statements can use the metric beside them; the
    // metric keeps its type meanwhile.
    macro_rules! each_point {
        ($data:expr, $variant:ident) => {{
            let mut points = std::mem::take(&mut $data.data_points);
            let result = points.iter_mut().try_for_each(|point| {
                group.run(
                    &mut Target::DataPoint {
                        point: DataPointMut::$variant(point),
                        metric: &mut *metric,
                        resource: &mut *resource,
                        scope: &mut *scope,
                    },
                    processor,
                )
            });
            (points, result)
        }};
    }
    let result = match metric.data.as_mut() {
        None => Ok(()),
        Some(metric::Data::Gauge(d)) => {
            let (points, result) = each_point!(d, Number);
            if let Some(metric::Data::Gauge(d)) = metric.data.as_mut() {
                d.data_points = points;
            }
            result
        }
        Some(metric::Data::Sum(d)) => {
            let (points, result) = each_point!(d, Number);
            if let Some(metric::Data::Sum(d)) = metric.data.as_mut() {
                d.data_points = points;
            }
            result
        }
        Some(metric::Data::Histogram(d)) => {
            let (points, result) = each_point!(d, Histogram);
            if let Some(metric::Data::Histogram(d)) = metric.data.as_mut() {
                d.data_points = points;
            }
            result
        }
        Some(metric::Data::ExponentialHistogram(d)) => {
            let (points, result) = each_point!(d, ExponentialHistogram);
            if let Some(metric::Data::ExponentialHistogram(d)) = metric.data.as_mut() {
                d.data_points = points;
            }
            result
        }
        Some(metric::Data::Summary(d)) => {
            let (points, result) = each_point!(d, Summary);
            if let Some(metric::Data::Summary(d)) = metric.data.as_mut() {
                d.data_points = points;
            }
            result
        }
    };
    result
}

impl Consumer for TransformProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if let Err(error) = self.transform.apply(&mut data, &self.id) {
                // As the Collector with `propagate`: the payload is refused.
                return Err(ConsumeError::permanent(format!(
                    "transform processor {}: {error}",
                    self.id
                )));
            }
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for TransformProcessor {}
