//! `file` — appends OTLP/JSON lines to a file, one batch per line, as the Collector's
//! file exporter does with `format: json`.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Each line is a whole `Export*ServiceRequest` in OTLP/JSON, so the file can be
//! replayed to any OTLP/HTTP endpoint line by line.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

pub use config::FileConfig;

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::{ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings};

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "file",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<FileConfig>(value)?))
}

impl FileConfig {
    /// The one-attempt exporter, without queue or retries.
    pub fn exporter(&self, id: &ComponentId) -> Result<Arc<dyn Exporter>, StartError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| StartError::new(id, format!("cannot open {} for appending: {e}", self.path.display())))?;
        Ok(Arc::new(FileExporter {
            file: Mutex::new(tokio::fs::File::from_std(file)),
        }))
    }

    /// Queue, retry and timeout settings.
    pub fn helper(&self) -> HelperSettings {
        config::helper()
    }
}

/// The running exporter.
pub struct FileExporter {
    file: Mutex<tokio::fs::File>,
}

impl Exporter for FileExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let mut line = batch.data().encode_json();
            line.push(b'\n');
            let mut file = self.file.lock().await;
            file.write_all(&line)
                .await
                .map_err(|e| ExportError::retryable(format!("writing: {e}")))?;
            file.flush()
                .await
                .map_err(|e| ExportError::retryable(format!("flushing: {e}")))?;
            Ok(ExportOutcome::default())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.file.lock().await.sync_all().await;
        })
    }
}

impl ExporterConfig for FileConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let exporter = self.exporter(ctx.id).map_err(|e| BuildError::new(e.message))?;
        crate::exporters::helper::queued(ctx, exporter, self.helper())
    }
}
