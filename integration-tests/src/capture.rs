//! Recording what the OpenTelemetry SDK actually sends.
//!
//! [`Capture`] wraps an SDK exporter (typically an `opentelemetry-otlp`
//! exporter). Before each export is forwarded, the batch is converted to the
//! OTLP proto request with the same `opentelemetry-proto` transform the OTLP
//! exporter uses, and recorded; the outcome of each forwarded export is
//! recorded too. Tests then compare the recorded protos, field for field,
//! with what sloop delivered to the backends.
//!
//! ```no_run
//! # async fn demo(otlp_span_exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static) {
//! let capture = integration_tests::capture::Capture::new();
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_batch_exporter(capture.span_exporter(otlp_span_exporter))
//!     .build();
//! // ... emit spans, shut the provider down, then:
//! let sent = capture.spans();
//! assert!(capture.export_errors().is_empty());
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::backends::{FlatLogRecord, FlatMetricPoint, FlatSpan, Received};

/// The outcome of one export the SDK made through a capturing exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    /// `"traces"`, `"metrics"` or `"logs"`.
    pub signal: &'static str,
    /// `Err` carries the exporter's error, formatted.
    pub result: Result<(), String>,
}

/// A shared record of everything sent through the exporters it wrapped.
/// Cloning gives another handle to the same record.
#[derive(Clone, Default)]
pub struct Capture {
    sent: Received,
    outcomes: Arc<Mutex<Vec<ExportOutcome>>>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture").finish_non_exhaustive()
    }
}

impl Capture {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a span exporter so that its exports are recorded here.
    pub fn span_exporter<E: SpanExporter>(&self, inner: E) -> CapturingSpanExporter<E> {
        CapturingSpanExporter {
            inner,
            capture: self.clone(),
            resource: ResourceAttributesWithSchema::default(),
        }
    }

    /// Wraps a log exporter so that its exports are recorded here.
    pub fn log_exporter<E: LogExporter>(&self, inner: E) -> CapturingLogExporter<E> {
        CapturingLogExporter {
            inner,
            capture: self.clone(),
            resource: ResourceAttributesWithSchema::default(),
        }
    }

    /// Wraps a push metric exporter so that its exports are recorded here.
    pub fn metric_exporter<E: PushMetricExporter>(&self, inner: E) -> CapturingMetricExporter<E> {
        CapturingMetricExporter {
            inner,
            capture: self.clone(),
        }
    }

    /// The requests as the SDK sent them (as a [`Received`] store, so the
    /// same accessors as for backends apply).
    pub fn sent(&self) -> &Received {
        &self.sent
    }

    /// Every span the SDK sent.
    pub fn spans(&self) -> Vec<FlatSpan> {
        self.sent.spans()
    }

    /// Every metric data point the SDK sent.
    pub fn metric_points(&self) -> Vec<FlatMetricPoint> {
        self.sent.metric_points()
    }

    /// Every log record the SDK sent.
    pub fn log_records(&self) -> Vec<FlatLogRecord> {
        self.sent.log_records()
    }

    /// The outcome of every export, in completion order.
    pub fn outcomes(&self) -> Vec<ExportOutcome> {
        self.outcomes.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Formatted errors of the exports that failed (empty if all succeeded).
    pub fn export_errors(&self) -> Vec<String> {
        self.outcomes()
            .into_iter()
            .filter_map(|o| o.result.err().map(|e| format!("{}: {e}", o.signal)))
            .collect()
    }

    fn record_outcome(&self, signal: &'static str, result: &OTelSdkResult) {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ExportOutcome {
                signal,
                result: result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            });
    }
}

/// A [`SpanExporter`] that records each batch in a [`Capture`], then
/// forwards it to `inner`.
#[derive(Debug)]
pub struct CapturingSpanExporter<E> {
    inner: E,
    capture: Capture,
    resource: ResourceAttributesWithSchema,
}

impl<E: SpanExporter> SpanExporter for CapturingSpanExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let resource_spans = group_spans_by_resource_and_scope(batch.clone(), &self.resource);
        self.capture
            .sent
            .push_traces(ExportTraceServiceRequest { resource_spans });
        let export = self.inner.export(batch);
        let capture = self.capture.clone();
        async move {
            let result = export.await;
            capture.record_outcome("traces", &result);
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
        self.inner.set_resource(resource);
    }
}

/// A [`LogExporter`] that records each batch in a [`Capture`], then
/// forwards it to `inner`.
#[derive(Debug)]
pub struct CapturingLogExporter<E> {
    inner: E,
    capture: Capture,
    resource: ResourceAttributesWithSchema,
}

impl<E: LogExporter> LogExporter for CapturingLogExporter<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let resource_logs = group_logs_by_resource_and_scope(&batch, &self.resource);
        self.capture.sent.push_logs(ExportLogsServiceRequest { resource_logs });
        let export = self.inner.export(batch);
        let capture = self.capture.clone();
        async move {
            let result = export.await;
            capture.record_outcome("logs", &result);
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
        self.inner.set_resource(resource);
    }
}

/// A [`PushMetricExporter`] that records each export in a [`Capture`], then
/// forwards it to `inner`.
#[derive(Debug)]
pub struct CapturingMetricExporter<E> {
    inner: E,
    capture: Capture,
}

impl<E: PushMetricExporter> PushMetricExporter for CapturingMetricExporter<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.capture
            .sent
            .push_metrics(ExportMetricsServiceRequest::from(metrics));
        let export = self.inner.export(metrics);
        let capture = self.capture.clone();
        async move {
            let result = export.await;
            capture.record_outcome("metrics", &result);
            result
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
