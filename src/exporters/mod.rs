//! Exporters: the last stage of a pipeline. Each exporter makes *one attempt* per
//! call ([`Exporter`]); its config's `build` wraps it in the [`helper`]'s
//! [`ExporterQueue`](helper::ExporterQueue), which adds the bounded `sending_queue`, the
//! consumer workers, `retry_on_failure` and `timeout` — the Collector's
//! exporterhelper, shared by every exporter.

pub mod debug;
pub mod file;
pub mod helper;
pub mod load_balancing;
pub mod nop;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod prometheus;
pub mod prometheus_remote_write;

use std::time::Duration;

use bytes::Bytes;

pub use helper::{
    compress, compress_after, default_timeout, validate_helper, ClientTls, Compression, CompressionParams,
    HelperSettings, QueueConfig, RetryConfig,
};

use crate::component::BoxFuture;
pub use crate::pdata::ExportBatch;

/// What a backend said about a delivered batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Items the backend rejected in a partial-success response.
    pub rejected: u64,
    /// The backend's partial-success message, if any.
    pub message: Option<String>,
}

/// Why an attempt failed, classified per the OTLP specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth another attempt (UNAVAILABLE, HTTP 429/502/503/504, timeouts, connection
    /// errors), no sooner than `throttle` when the backend said so
    /// (RetryInfo, Retry-After).
    #[error("{message}")]
    Retryable {
        /// What happened.
        message: String,
        /// The backend's requested delay.
        throttle: Option<Duration>,
    },
    /// Will fail again as sent (HTTP 400-class, INVALID_ARGUMENT, ...): not retried.
    #[error("{message}")]
    Permanent {
        /// What happened.
        message: String,
    },
}

impl ExportError {
    /// A retryable failure without a backend-requested delay.
    pub fn retryable(message: impl Into<String>) -> Self {
        ExportError::Retryable {
            message: message.into(),
            throttle: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError::Permanent {
            message: message.into(),
        }
    }
}

/// A running exporter: one delivery attempt per call.
pub trait Exporter: Send + Sync + 'static {
    /// Sends `batch` once. Timeouts are applied by the caller.
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>>;

    /// Prepares, once per batch, the request body every attempt at sending it
    /// sends: the OTLP exporters encode and compress the batch here, so that a
    /// retried batch is not compressed again (the exporterhelper calls this before
    /// its first attempt and hands the result to each [`Exporter::export_prepared`]).
    /// `None`: nothing prepared, each attempt does all the work.
    fn prepare(&self, _batch: &ExportBatch) -> Option<Bytes> {
        None
    }

    /// One attempt, with the body [`Exporter::prepare`] made for `batch` if any.
    fn export_prepared<'a>(
        &'a self,
        batch: &'a ExportBatch,
        _prepared: Option<&'a Bytes>,
    ) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        self.export(batch)
    }

    /// Releases resources (flushes files). Safe to call twice.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Spawns background work, on the runtime, when the topology starts (the
    /// loadbalancing exporter's resolver and backend queues). Safe to call twice.
    fn start(&self) {}

    /// Called by the topology at shutdown instead of [`Exporter::shutdown`]: delivers
    /// whatever the exporter holds of its own (the loadbalancing exporter's backend
    /// queues) until `deadline`, then shuts down. Returns the items it could not deliver.
    fn drain(&self, _deadline: tokio::time::Instant) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            self.shutdown().await;
            0
        })
    }
}
