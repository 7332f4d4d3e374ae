//! The exporterhelper: what every exporter gets around its one-attempt
//! [`Exporter`](super::Exporter) — a bounded `sending_queue`, consumer workers,
//! `retry_on_failure` with backoff that honours the backend's throttle hints, and
//! `timeout`. As in the Collector, exporters do not queue or retry on their own.

mod backoff;
mod compression;
mod queue;
mod settings;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

pub use compression::{compress, compress_after};
pub use queue::{ExporterQueue, Persistent};
pub use settings::{
    default_timeout, validate_helper, ClientTls, Compression, CompressionParams, HelperSettings, QueueBatchConfig,
    QueueConfig, RetryConfig, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL,
};

use crate::component::{BuildError, ComponentId, ExporterContext, QueuedExporter};

/// Wraps `exporter` in its queue, workers and retries: what an exporter config's
/// `build` hands to the graph. A `sending_queue.storage` must name a storage
/// extension the service runs.
pub fn queued(
    ctx: &ExporterContext<'_>,
    exporter: Arc<dyn super::Exporter>,
    settings: HelperSettings,
) -> Result<Arc<dyn QueuedExporter>, BuildError> {
    let persistent = match settings.queue.storage.as_deref().filter(|_| settings.queue.enabled) {
        None => None,
        Some(name) => {
            let found = ComponentId::parse(name).ok().and_then(|id| ctx.storage.get(&id));
            let Some(storage) = found else {
                let known: Vec<String> = ctx.storage.keys().map(ToString::to_string).collect();
                return Err(BuildError::at(
                    "sending_queue.storage",
                    format!(
                        "{name:?} is not a storage extension listed in service.extensions ({})",
                        if known.is_empty() {
                            "there is none; add a file_storage extension".to_string()
                        } else {
                            format!("storage extensions: {}", known.join(", "))
                        }
                    ),
                ));
            };
            Some(Persistent::new(storage.clone(), ctx.service.storage_pressure.clone()))
        }
    };
    Ok(Arc::new(ExporterQueue::with_storage(
        ctx.id.clone(),
        exporter,
        settings,
        persistent,
    )))
}
