//! `forward` — joins pipelines of one signal, as the Collector's forward connector:
//! everything that reaches it as an exporter of one pipeline goes on, unchanged, into
//! every pipeline that lists it as a receiver. Use it to give several pipelines a
//! common tail, or one input several differently processed outputs.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! ```yaml
//! service:
//!   pipelines:
//!     traces/in:
//!       receivers: [otlp]
//!       exporters: [forward]
//!     traces/out:
//!       receivers: [forward]
//!       processors: [batch]
//!       exporters: [otlp_grpc]
//! ```
//!
//! Traces go to traces pipelines, metrics to metrics pipelines, logs to logs
//! pipelines. Each output pipeline gets its own copy (processors change data in
//! place). A refusal from any output pipeline goes back to the sender, a retryable
//! one first, so the client retries; pipelines that took the data may then see it
//! twice (at-least-once), never zero times.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::ForwardConfig;

use crate::component::registry::ConnectorFactory;
use crate::component::{
    BoxFuture, BuildError, ConnectorConfig, ConnectorContext, ConsumeError, Consumer, Lifecycle, Processor, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ConnectorFactory = ConnectorFactory {
    type_name: "forward",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ConnectorConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<ForwardConfig>(value)?))
}

impl ConnectorConfig for ForwardConfig {
    fn supports(&self, from: Signal, to: Signal) -> bool {
        from == to
    }

    fn build(&self, ctx: &ConnectorContext<'_>) -> Result<Arc<dyn Processor>, BuildError> {
        if ctx.from != ctx.to {
            return Err(BuildError::new(format!(
                "forward joins pipelines of one signal; it cannot take {} and emit {}",
                ctx.from, ctx.to
            )));
        }
        if ctx.outputs.is_empty() {
            return Err(BuildError::new(format!(
                "no {} pipeline lists {} as a receiver",
                ctx.to, ctx.id
            )));
        }
        Ok(Arc::new(ForwardConnector {
            outputs: ctx.outputs.values().cloned().collect(),
        }))
    }
}

/// The running connector for one signal.
pub struct ForwardConnector {
    outputs: Vec<Arc<dyn Consumer>>,
}

impl Consumer for ForwardConnector {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            super::send_to_all(&self.outputs, data).await
        })
    }
}

impl Lifecycle for ForwardConnector {}
