//! `sli` — classifies events against service level indicators. Each eligible span
//! or log record gets the attribute `sli.<name>` = `good` or `bad`. An
//! [`slo`](crate::processors::slo) processor later in the pipeline counts those
//! outcomes.
//!
//! The verdict is this processor's alone: an `sli.<name>` attribute an event arrives
//! with is overwritten on events the SLI classifies and removed from events it does
//! not apply to (every copy, should the key repeat), so no client can add good or
//! bad events to an objective by sending the attribute. Verdicts of SLIs this
//! processor does not define pass through untouched; the slo processor counts them
//! only with `trust_upstream_verdicts` (an agent tier classifies, a gateway counts).
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Conditions use the [condition language](crate::ottl). On spans, `duration`,
//! `status.code` and friends are available; on log records (for example load
//! balancer access logs shipped as OTLP logs), `body`, `severity_number` and
//! attributes. A condition with a syntax or type error fails `sloop validate` with
//! the file, line and column.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

pub use config::{CompiledSli, CompiledSlis, SliConfig, SliProcessorConfig};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
    WiringView,
};
use crate::confmap::{did_you_mean, parse_block, ConfigError, RawValue};
use crate::ottl::{LogView, SpanView};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "sli",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: SliProcessorConfig = parse_block(value)?;
    Ok(Box::new(CompiledSlis::compile(config)?))
}

impl ProcessorConfig for CompiledSlis {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let slis = match ctx.signal {
            Signal::Traces => self.spans.clone(),
            Signal::Logs => self.logs.clone(),
            Signal::Metrics => Err("SLIs classify spans and log records".into()),
        }
        .map_err(|why| BuildError::new(format!("cannot run in a {} pipeline: {why}", ctx.signal)))?;
        Ok(Arc::new(SliProcessor { slis, next }))
    }

    fn check_signal(&self, signal: Signal) -> Result<(), String> {
        match signal {
            Signal::Traces => self.spans.as_ref().map(|_| ()).map_err(Clone::clone),
            Signal::Logs => self.logs.as_ref().map(|_| ()).map_err(Clone::clone),
            Signal::Metrics => Err("SLIs classify spans and log records".into()),
        }
    }
}

/// For processors that use SLI names (`slo` objectives, `tail_sampling`'s `sli`
/// policies): checks that each of `required` — (path in the block, SLI name) — is
/// defined by an sli processor before `view.id` in every pipeline that uses it.
/// A pipeline where a processor before it has errors is skipped: what that one
/// would define is unknown, and its own errors are reported already.
pub fn check_defined_before(view: &WiringView<'_>, required: &[(String, String)]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if required.is_empty() {
        return errors;
    }
    for pipeline in &view.pipelines {
        let Some(before) = view.before::<CompiledSlis>(pipeline) else {
            continue;
        };
        let defined: Vec<&str> = before
            .iter()
            .flat_map(|slis| slis.names.iter().map(String::as_str))
            .collect();
        for (path, name) in required {
            if defined.contains(&name.as_str()) {
                continue;
            }
            let hint = match did_you_mean(name, defined.iter().copied()) {
                Some(best) => format!(", did you mean {best}?"),
                None if defined.is_empty() => " (add an sli processor before it)".to_string(),
                None => format!(" (defined: {})", defined.join(", ")),
            };
            errors.push(ConfigError::new(
                view.path(path),
                format!(
                    "{name:?} is not defined by a processor before {} in pipeline {}{hint}",
                    view.id, pipeline.name
                ),
            ));
        }
    }
    errors
}

/// The running processor.
pub struct SliProcessor {
    slis: Vec<CompiledSli>,
    next: Arc<dyn Consumer>,
}

/// What an SLI says of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliOutcome {
    /// Eligible and met the success condition.
    Good,
    /// Eligible and did not.
    Bad,
}

impl CompiledSli {
    /// Classifies a span; `None` when the SLI does not apply to it.
    pub fn classify_span(&self, view: &SpanView<'_>) -> Option<SliOutcome> {
        if self.when.as_ref().is_some_and(|w| !w.eval_span(view)) || self.exclude.iter().any(|e| e.eval_span(view)) {
            return None;
        }
        Some(if self.good.eval_span(view) {
            SliOutcome::Good
        } else {
            SliOutcome::Bad
        })
    }

    /// Classifies a log record; `None` when the SLI does not apply to it.
    pub fn classify_log(&self, view: &LogView<'_>) -> Option<SliOutcome> {
        if self.when.as_ref().is_some_and(|w| !w.eval_log(view)) || self.exclude.iter().any(|e| e.eval_log(view)) {
            return None;
        }
        Some(if self.good.eval_log(view) {
            SliOutcome::Good
        } else {
            SliOutcome::Bad
        })
    }
}

/// Writes this processor's verdict for one SLI: `key` set to `good`/`bad` when the
/// SLI classified the event, and removed when it does not apply. Whatever the event
/// carried under `key` before (sent by a client, or set upstream) is gone either way,
/// every copy of it: a forged `sli.<name>` must not reach the slo processor.
fn write_verdict(attributes: &mut Vec<KeyValue>, key: &str, outcome: Option<SliOutcome>) {
    let Some(outcome) = outcome else {
        // Most events carry no verdict: check before touching the vector.
        if attributes.iter().any(|kv| kv.key == key) {
            attributes.retain(|kv| kv.key != key);
        }
        return;
    };
    let value = Some(AnyValue {
        value: Some(any_value::Value::StringValue(
            match outcome {
                SliOutcome::Good => "good",
                SliOutcome::Bad => "bad",
            }
            .to_owned(),
        )),
    });
    match attributes.iter().position(|kv| kv.key == key) {
        Some(first) => {
            attributes[first].value = value;
            // A repeated key after the first would be another (forged) verdict.
            if attributes[first + 1..].iter().any(|kv| kv.key == key) {
                let rest = attributes.split_off(first + 1);
                attributes.extend(rest.into_iter().filter(|kv| kv.key != key));
            }
        }
        None => attributes.push(KeyValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
    }
}

impl SliProcessor {
    fn classify(&self, data: &mut Telemetry) {
        // Outcomes are computed against an immutable view, then written; the buffer
        // is reused across events.
        let mut outcomes: Vec<Option<SliOutcome>> = Vec::with_capacity(self.slis.len());
        match data {
            Telemetry::Traces(request) => {
                for rs in &mut request.resource_spans {
                    let resource = rs.resource.as_ref();
                    for ss in &mut rs.scope_spans {
                        let scope = ss.scope.as_ref();
                        for span in &mut ss.spans {
                            outcomes.clear();
                            let view = SpanView { span, resource, scope };
                            outcomes.extend(self.slis.iter().map(|s| s.classify_span(&view)));
                            for (sli, outcome) in self.slis.iter().zip(&outcomes) {
                                write_verdict(&mut span.attributes, &sli.attribute, *outcome);
                            }
                        }
                    }
                }
            }
            Telemetry::Logs(request) => {
                for rl in &mut request.resource_logs {
                    let resource = rl.resource.as_ref();
                    for sl in &mut rl.scope_logs {
                        let scope = sl.scope.as_ref();
                        for log in &mut sl.log_records {
                            outcomes.clear();
                            let view = LogView { log, resource, scope };
                            outcomes.extend(self.slis.iter().map(|s| s.classify_log(&view)));
                            for (sli, outcome) in self.slis.iter().zip(&outcomes) {
                                write_verdict(&mut log.attributes, &sli.attribute, *outcome);
                            }
                        }
                    }
                }
            }
            Telemetry::Metrics(_) => {}
        }
    }
}

impl Consumer for SliProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.classify(&mut data);
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for SliProcessor {}
