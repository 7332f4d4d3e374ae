//! The exporterhelper: what every exporter gets around its one-attempt
//! [`Exporter`](super::Exporter) — a bounded `sending_queue`, consumer workers,
//! `retry_on_failure` with backoff that honours the backend's throttle hints, and
//! `timeout`. As in the Collector, exporters do not queue or retry on their own.

mod backoff;
mod queue;
mod settings;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

pub use queue::ExporterQueue;
pub use settings::{
    default_timeout, validate_helper, ClientTls, Compression, HelperSettings, QueueConfig, RetryConfig,
};

use crate::component::{ComponentId, QueuedExporter};

/// Wraps `exporter` in its queue, workers and retries: what an exporter config's
/// `build` hands to the graph.
pub fn queued(
    id: &ComponentId,
    exporter: Arc<dyn super::Exporter>,
    settings: HelperSettings,
) -> Arc<dyn QueuedExporter> {
    Arc::new(ExporterQueue::new(id.clone(), exporter, settings))
}
