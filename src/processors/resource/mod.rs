//! `resource` — applies attribute actions to the resource of every span, metric and
//! log record, as the Collector's resource processor does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! The actions are those of the [attributes](crate::processors::attributes)
//! processor (insert, update, upsert, delete, hash, extract, convert) and run in
//! order on each resource's attributes. A payload without a resource gets an empty
//! one, so `insert` and `upsert` apply to it too.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::ResourceConfig;

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;
use crate::processors::attributes::actions::{for_each_resource, Actions};

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "resource",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: ResourceConfig = parse_block(value)?;
    Ok(Box::new(CompiledResource {
        actions: Arc::new(Actions::compile("attributes", &config.attributes)?),
    }))
}

/// A checked and compiled `resource` config.
#[derive(Debug, Clone)]
pub struct CompiledResource {
    actions: Arc<Actions>,
}

impl CompiledResource {
    /// Compiles a config (errors as from validation).
    pub fn compile(config: &ResourceConfig) -> Result<Self, Vec<ConfigError>> {
        Ok(Self {
            actions: Arc::new(Actions::compile("attributes", &config.attributes)?),
        })
    }
}

impl ProcessorConfig for CompiledResource {
    fn build(&self, _ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        Ok(Arc::new(ResourceProcessor {
            actions: self.actions.clone(),
            next,
        }))
    }
}

/// The running processor.
pub struct ResourceProcessor {
    actions: Arc<Actions>,
    next: Arc<dyn Consumer>,
}

impl ResourceProcessor {
    /// Builds the processor in front of `next`.
    pub fn new(config: &CompiledResource, next: Arc<dyn Consumer>) -> Self {
        Self {
            actions: config.actions.clone(),
            next,
        }
    }

    /// Applies the actions to every resource of `data`.
    pub fn process(&self, data: &mut Telemetry) {
        for_each_resource(data, |resource| self.actions.apply(&mut resource.attributes));
    }
}

impl Consumer for ResourceProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.process(&mut data);
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for ResourceProcessor {}
