//! `nop` — an exporter that drops everything it is given, as the Collector's nop
//! exporter: a sink for pipelines whose output is not wanted (benchmarks, a
//! pipeline kept only for its side effects such as the slo processor's state).
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! It has no keys and no queue: every batch is accepted at once and counted in
//! `otelcol_exporter_sent_<items>` (labelled `exporter`), so the figures show what
//! passed through.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use metrics::Counter;

pub use config::NopExporterConfig;

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, ExporterConfig, ExporterContext, QueuedExporter, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::ExportBatch;

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "nop",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<NopExporterConfig>(value)?))
}

impl ExporterConfig for NopExporterConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let sent = Signal::ALL.map(|signal| {
            metrics::counter!(
                format!("otelcol_exporter_sent_{}", signal.item_name()),
                "exporter" => ctx.id.to_string()
            )
        });
        Ok(Arc::new(NopExporter { sent }))
    }
}

/// The running exporter: counts and drops.
pub struct NopExporter {
    /// Items "sent", per signal in [`Signal::ALL`] order.
    sent: [Counter; 3],
}

impl QueuedExporter for NopExporter {
    fn start(&self) -> Result<(), StartError> {
        Ok(())
    }

    fn enqueue(&self, batch: Arc<ExportBatch>) -> BoxFuture<'_, Result<(), ConsumeError>> {
        let index = Signal::ALL.iter().position(|s| *s == batch.signal()).unwrap_or(0);
        self.sent[index].increment(batch.items() as u64);
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&self, _deadline: tokio::time::Instant) -> BoxFuture<'_, u64> {
        Box::pin(async { 0 })
    }
}
