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

use crate::component::{find_storage, BuildError, ExporterContext, QueuedExporter};

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
            let storage = find_storage(ctx.storage, name, "sending_queue.storage")?;
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
