//! `nop` — a receiver that receives nothing, as the Collector's nop receiver: a
//! placeholder that lets a pipeline exist (of any signal) without a source, e.g.
//! for a pipeline fed only by a processor's own output, or in tests.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! It has no keys, opens no port and sends nothing.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::NopReceiverConfig;

use crate::component::registry::ReceiverFactory;
use crate::component::{
    BuildError, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverContext, ReceiverOutputs, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "nop",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<NopReceiverConfig>(value)?))
}

impl ReceiverConfig for NopReceiverConfig {
    fn build(
        &self,
        _id: &ComponentId,
        _outputs: ReceiverOutputs,
        _ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        Ok(Arc::new(NopReceiver))
    }
}

/// The running receiver: starts and stops, and does nothing in between.
pub struct NopReceiver;

impl Lifecycle for NopReceiver {}
