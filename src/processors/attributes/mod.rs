//! `attributes` — inserts, updates, deletes, hashes, extracts and converts attributes
//! of spans, log records and metric data points, as the Collector's attributes
//! processor does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Actions run in order. `insert` sets a missing attribute, `update` an existing one,
//! `upsert` either; the value is `value` or the value of `from_attribute` (nothing
//! happens when that is absent). `delete` removes `key` and, with `pattern`, every
//! key the regex matches; `hash` replaces those values with the SHA-256 hex digest
//! of their string form. `extract` matches `pattern` against the string value of
//! `key` and upserts one attribute per named group that took part in the match.
//! `convert` changes the type to `int`, `double` or `string`; values that cannot be
//! converted stay as they are.
//!
//! An item is processed when it matches `include` (if set) and does not match
//! `exclude` (if set): `services`, `span_names`, `span_kinds`, `libraries`,
//! `attributes`, `resources`, `log_bodies`, `log_severity_texts` and `metric_names`,
//! compared `strict`ly or as `regexp`s. Metric data points are matched by their
//! metric (`metric_names`, `resources`).

pub mod actions;
mod config;
mod matcher;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use actions::{ActionConfig, ActionKind, Actions, ConfigValue, ConvertedType};
pub use config::{AttributeMatch, AttributesConfig, LibraryMatch, MatchConfig, MatchType, SPAN_KINDS};
pub use matcher::{Item, Matcher};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::{for_each_data_point, Telemetry};

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "attributes",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: AttributesConfig = parse_block(value)?;
    Ok(Box::new(CompiledAttributes::compile(&config)?))
}

/// A checked and compiled `attributes` config.
#[derive(Debug, Clone)]
pub struct CompiledAttributes {
    actions: Arc<Actions>,
    include: Option<Arc<Matcher>>,
    exclude: Option<Arc<Matcher>>,
    /// (`include`/`exclude`, property) pairs that are set, for `check_signal`.
    used: Vec<(&'static str, &'static str)>,
}

impl CompiledAttributes {
    /// Checks and compiles a config: every regex once, every error reported with
    /// its path (`actions[0].pattern`, `exclude.span_names[1]`).
    pub fn compile(config: &AttributesConfig) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let actions = Actions::compile("actions", &config.actions)
            .map_err(|e| errors.extend(e))
            .ok();
        let mut used = Vec::new();
        let mut matcher = |name: &'static str, config: &Option<MatchConfig>| {
            let m = config.as_ref()?;
            used.extend(m.used().into_iter().map(|p| (name, p)));
            Matcher::compile(m, name)
                .map_err(|e| errors.extend(e))
                .ok()
                .map(Arc::new)
        };
        let include = matcher("include", &config.include);
        let exclude = matcher("exclude", &config.exclude);
        match actions {
            Some(actions) if errors.is_empty() => Ok(Self {
                actions: Arc::new(actions),
                include,
                exclude,
                used,
            }),
            _ => Err(errors),
        }
    }

    /// Builds the running processor in front of `next`.
    pub fn processor(&self, next: Arc<dyn Consumer>) -> AttributesProcessor {
        AttributesProcessor {
            config: self.clone(),
            next,
        }
    }
}

/// Which match properties apply to items of `signal` (as in the Collector).
fn applies(signal: Signal, property: &str) -> bool {
    match signal {
        Signal::Traces => matches!(
            property,
            "services" | "span_names" | "span_kinds" | "libraries" | "attributes" | "resources"
        ),
        Signal::Logs => matches!(
            property,
            "libraries" | "attributes" | "resources" | "log_bodies" | "log_severity_texts"
        ),
        Signal::Metrics => matches!(property, "metric_names" | "resources"),
    }
}

impl ProcessorConfig for CompiledAttributes {
    fn build(&self, _ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        Ok(Arc::new(self.processor(next)))
    }

    fn check_signal(&self, signal: Signal) -> Result<(), String> {
        match self.used.iter().find(|(_, p)| !applies(signal, p)) {
            Some((which, property)) => Err(format!("{which}.{property} does not apply to {signal}")),
            None => Ok(()),
        }
    }
}

/// The running processor.
pub struct AttributesProcessor {
    config: CompiledAttributes,
    next: Arc<dyn Consumer>,
}

impl AttributesProcessor {
    fn selected(&self, item: &matcher::Item<'_>) -> bool {
        self.config.include.as_ref().is_none_or(|m| m.matches(item))
            && !self.config.exclude.as_ref().is_some_and(|m| m.matches(item))
    }

    /// Applies the actions to every selected item of `data`.
    pub fn process(&self, data: &mut Telemetry) {
        let actions = &*self.config.actions;
        let filtered = self.config.include.is_some() || self.config.exclude.is_some();
        match data {
            Telemetry::Traces(request) => {
                for rs in &mut request.resource_spans {
                    let resource = rs.resource.as_ref();
                    for ss in &mut rs.scope_spans {
                        let scope = ss.scope.as_ref();
                        for span in &mut ss.spans {
                            if filtered {
                                let item = Item {
                                    resource,
                                    scope,
                                    attributes: &span.attributes,
                                    span_name: Some(&span.name),
                                    span_kind: Some(span.kind),
                                    ..Default::default()
                                };
                                if !self.selected(&item) {
                                    continue;
                                }
                            }
                            actions.apply(&mut span.attributes);
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
                            if filtered {
                                let item = Item {
                                    resource,
                                    scope,
                                    attributes: &log.attributes,
                                    log_body: log.body.as_ref(),
                                    severity_text: Some(&log.severity_text),
                                    ..Default::default()
                                };
                                if !self.selected(&item) {
                                    continue;
                                }
                            }
                            actions.apply(&mut log.attributes);
                        }
                    }
                }
            }
            Telemetry::Metrics(request) => {
                for rm in &mut request.resource_metrics {
                    let resource = rm.resource.as_ref();
                    for m in rm.scope_metrics.iter_mut().flat_map(|sm| &mut sm.metrics) {
                        if filtered {
                            let item = Item {
                                resource,
                                metric_name: Some(&m.name),
                                ..Default::default()
                            };
                            if !self.selected(&item) {
                                continue;
                            }
                        }
                        for_each_data_point(m, |attributes| actions.apply(attributes));
                    }
                }
            }
        }
    }
}

impl Consumer for AttributesProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.process(&mut data);
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for AttributesProcessor {}
