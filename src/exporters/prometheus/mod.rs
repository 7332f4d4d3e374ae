//! `prometheus` — serves the pipeline's metrics on a page Prometheus scrapes
//! (`GET /metrics`), as the Collector's prometheus exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Metrics are named and labelled by the Collector's OTLP-to-Prometheus rules
//! ([`translate`]): `slo.events` (unit `{event}`, a cumulative monotonic sum) is
//! served as the counter `slo_events_total{slo_name, slo_outcome, job, instance}`,
//! `slo.error_budget.remaining` (unit `1`, a gauge) as
//! `slo_error_budget_remaining_ratio`, `slo.error_budget.exhaustion` (unit `s`) as
//! `slo_error_budget_exhaustion_seconds`. `job` and `instance` come from the
//! resource's `service.namespace`/`service.name` and `service.instance.id`; other
//! resource attributes go on a `target_info` series (or on every series with
//! `resource_to_telemetry_conversion.enabled`).
//!
//! The page shows the latest point of every series; delta monotonic sums and delta
//! histograms are added up into cumulative ones (a delta that does not start where
//! the last one ended starts the series afresh); non-monotonic delta sums and
//! exponential histograms are dropped and logged, as in the Collector. A series
//! without updates for `metric_expiration` leaves the page.
//!
//! With `enable_open_metrics`, a scraper whose `Accept` header asks for OpenMetrics
//! gets it, with exemplars (trace links, such as those of the bad `slo.events`) on
//! counters and histogram buckets; others get the text format 0.0.4.
//!
//! Differences from the Collector: TLS on the page (`tls`) is refused (put a proxy
//! in front); the page is served at `/metrics` only. A reload that changes this
//! exporter's config cannot start the new one while the old one holds the port, and
//! fails (an unchanged one is kept running across reloads).

mod accumulator;
mod config;
mod exposition;
#[cfg(test)]
pub(crate) mod tests;
pub mod translate;

use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use accumulator::Accumulator;
pub use config::{check_labels, sanitized, PrometheusConfig, ResourceToTelemetry};
pub use exposition::{render, Format};

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ConsumeError, ExporterConfig, ExporterContext, QueuedExporter, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::{
    default_timeout, ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings, QueueConfig, RetryConfig,
};
use crate::pdata::Telemetry;
use translate::Translation;

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "prometheus",
    aliases: &[],
    signals: &[Signal::Metrics],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<PrometheusConfig>(value)?))
}

impl ExporterConfig for PrometheusConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let page = Arc::new(ScrapePage {
            id: ctx.id.clone(),
            translation: self.translation(),
            accumulator: Accumulator::new(self.metric_expiration),
            send_timestamps: self.send_timestamps,
            open_metrics: self.enable_open_metrics,
        });
        // No queue and no retries: taking a batch in is a few map updates, and
        // the exporterhelper's wrapper still counts what was taken
        // (`otelcol_exporter_sent_metric_points`).
        let settings = HelperSettings {
            timeout: default_timeout(),
            queue: QueueConfig {
                enabled: false,
                ..QueueConfig::default()
            },
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        };
        let queue = crate::exporters::helper::queued(ctx, page.clone(), settings)?;
        Ok(Arc::new(PrometheusExporter {
            id: ctx.id.clone(),
            endpoint: self.endpoint.clone(),
            page,
            queue,
            stop: CancellationToken::new(),
            server: Mutex::new(None),
        }))
    }
}

/// What the page shows and how.
#[derive(Debug)]
pub struct ScrapePage {
    id: ComponentId,
    translation: Translation,
    accumulator: Accumulator,
    send_timestamps: bool,
    open_metrics: bool,
}

impl ScrapePage {
    /// Takes a batch's metrics in.
    pub fn take(&self, batch: &ExportBatch, now: Instant) {
        let Telemetry::Metrics(request) = batch.data() else {
            return;
        };
        let dropped = self
            .translation
            .translate(request, |series| self.accumulator.add(series, now));
        if dropped.total() > 0 {
            tracing::warn!(
                message = "Data points Prometheus has no type for were dropped.",
                exporter = %self.id,
                delta_non_monotonic_sums = dropped.delta_gauges,
                exponential_histograms = dropped.exponential_histograms,
                invalid = dropped.invalid,
            );
        }
    }

    /// The page for a scraper that sent `accept`, and its content type.
    pub fn page(&self, accept: Option<&str>, now: Instant) -> (String, Format) {
        let format = Format::negotiate(accept, self.open_metrics);
        let series = self.accumulator.snapshot(now);
        (render(&series, format, self.send_timestamps), format)
    }
}

impl Exporter for ScrapePage {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        self.take(batch, Instant::now());
        Box::pin(async { Ok(ExportOutcome::default()) })
    }
}

/// The running exporter: the page's server, and the exporterhelper's wrapper that
/// takes batches in.
pub struct PrometheusExporter {
    id: ComponentId,
    endpoint: String,
    page: Arc<ScrapePage>,
    queue: Arc<dyn QueuedExporter>,
    stop: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
}

/// `GET /metrics`.
async fn scrape(State(page): State<Arc<ScrapePage>>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (body, format) = page.page(accept, Instant::now());
    ([(header::CONTENT_TYPE, format.content_type())], body)
}

impl QueuedExporter for PrometheusExporter {
    fn start(&self) -> Result<(), StartError> {
        let mut server = self.server.lock().unwrap_or_else(|p| p.into_inner());
        if server.is_some() || self.stop.is_cancelled() {
            return Ok(());
        }
        let address = crate::accept::listen_address_logged(&self.id.to_string(), &self.endpoint)
            .to_socket_addrs()
            .map_err(|e| StartError::new(&self.id, format!("cannot resolve {}: {e}", self.endpoint)))?
            .next()
            .ok_or_else(|| StartError::new(&self.id, format!("{} resolved to no address", self.endpoint)))?;
        let listener = crate::accept::listen(address)
            .map_err(|e| StartError::new(&self.id, format!("cannot listen on {address}: {e}")))?;
        self.queue.start()?;
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(self.page.clone());
        let (stop, id) = (self.stop.clone(), self.id.clone());
        tracing::info!(message = "Prometheus scrape page serving.", exporter = %id, endpoint = %address);
        *server = Some(tokio::spawn(async move {
            let listener = crate::accept::BackingOffListener::new(listener, id.to_string());
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(message = "Prometheus scrape page failed.", exporter = %id, %error);
            }
        }));
        Ok(())
    }

    fn enqueue(&self, batch: Arc<ExportBatch>) -> BoxFuture<'_, Result<(), ConsumeError>> {
        self.queue.enqueue(batch)
    }

    fn shutdown(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            let lost = self.queue.shutdown(deadline).await;
            self.stop.cancel();
            let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(server) = server {
                // A scraper holding its connection open must not hold shutdown up.
                let bound = deadline.saturating_duration_since(tokio::time::Instant::now());
                let abort = server.abort_handle();
                if tokio::time::timeout(bound.max(Duration::from_millis(100)), server)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            }
            lost
        })
    }
}
