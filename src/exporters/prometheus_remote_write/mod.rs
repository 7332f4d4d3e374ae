//! `prometheus_remote_write` (alias `prometheusremotewrite`) — pushes the pipeline's
//! metrics to Prometheus, Mimir, Cortex, Thanos and the like with remote write 1.0,
//! as the Collector's prometheusremotewrite exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Each batch becomes one `prometheus.WriteRequest` (several when it would exceed
//! `max_batch_size_bytes`), snappy-compressed (block format), POSTed with
//! `Content-Encoding: snappy` and `X-Prometheus-Remote-Write-Version: 0.1.0`.
//! Names and labels follow the same rules as the [`prometheus`](super::prometheus)
//! exporter's ([`translate`](super::prometheus::translate)), with `external_labels`
//! on every series; histograms become `_bucket`/`_sum`/`_count` series, summaries
//! `{quantile}`/`_sum`/`_count`.
//!
//! As in the Collector, remote write 1.0 takes cumulative data only: delta sums and
//! delta histograms are dropped, as are exponential histograms; they are counted as
//! rejected (`otelcol_exporter_send_failed_metric_points`) and logged.
//!
//! 5xx and 429 answers (honouring `Retry-After`) and connection errors are retried
//! by `retry_on_failure`; other 4xx answers are permanent. `remote_write_queue`
//! (`enabled`, `queue_size`, `num_consumers`) is the exporterhelper's in-memory
//! sending queue. `auth.authenticator` names a client authenticator extension, `tls`
//! applies to `https://` endpoints.
//!
//! Differences from the Collector: no write-ahead log (`wal` is refused), no
//! metadata requests (`send_metadata: true` is refused), no remote write 2.0
//! (`protobuf_message` other than `prometheus.WriteRequest` is refused); exemplars
//! are not sent. A `retry_on_failure` block that is given takes sloop's
//! exporterhelper defaults for the keys it leaves out (the Collector's defaults for
//! this exporter, 50ms/200ms/1m, apply when the block is absent).

mod config;
mod proto;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::{PrometheusRemoteWriteConfig, RemoteWriteQueue, TargetInfo};
pub use proto::{Label, Sample, TimeSeries, WriteRequest};

use prost::Message;

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::otlp_http::{authenticated_headers, header_map, parse_retry_after};
use crate::exporters::prometheus::translate::{format_float, Dropped, Series, Translation, Value};
use crate::exporters::{ExportBatch, ExportError, ExportOutcome, Exporter};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "prometheus_remote_write",
    aliases: &["prometheusremotewrite"],
    signals: &[Signal::Metrics],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<PrometheusRemoteWriteConfig>(value)?))
}

impl ExporterConfig for PrometheusRemoteWriteConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let auth = ctx.authenticators.client_for(self.auth.as_ref())?;
        let exporter = self.exporter(ctx.id, auth).map_err(|e| BuildError::new(e.message))?;
        crate::exporters::helper::queued(ctx, Arc::new(exporter), self.helper())
    }

    fn authenticator(&self) -> Option<&str> {
        self.auth.as_ref().map(|auth| auth.authenticator.as_str())
    }
}

impl PrometheusRemoteWriteConfig {
    /// The one-attempt exporter, without queue or retries.
    pub fn exporter(
        &self,
        id: &ComponentId,
        auth: Option<Arc<dyn ClientAuthenticator>>,
    ) -> Result<RemoteWriteExporter, StartError> {
        let headers = header_map(&self.headers);
        let mut client = reqwest::Client::builder()
            .user_agent(concat!("sloop/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.timeout);
        if self.endpoint.starts_with("https://") {
            let tls = self
                .tls
                .client_config(&[b"h2", b"http/1.1"])
                .map_err(|e| StartError::new(id, e.under("tls")))?;
            client = client.use_preconfigured_tls(tls);
        }
        Ok(RemoteWriteExporter {
            id: id.clone(),
            client: client.build().map_err(|e| StartError::new(id, e))?,
            url: self.endpoint.clone(),
            headers,
            auth,
            translation: self.translation(),
            max_batch_size_bytes: self.max_batch_size_bytes,
        })
    }
}

/// The running exporter.
pub struct RemoteWriteExporter {
    id: ComponentId,
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    auth: Option<Arc<dyn ClientAuthenticator>>,
    translation: Translation,
    max_batch_size_bytes: usize,
}

/// What a batch becomes: request bodies (snappy-compressed) and what was left out.
#[derive(Debug)]
pub struct Requests {
    /// Compressed `WriteRequest`s, each within the size limit (unless one series
    /// alone exceeds it).
    pub bodies: Vec<Vec<u8>>,
    /// Points remote write 1.0 cannot take.
    pub dropped: u64,
}

impl RemoteWriteExporter {
    /// The requests for `batch`.
    pub fn requests(&self, batch: &ExportBatch) -> Result<Requests, ExportError> {
        let Telemetry::Metrics(request) = batch.data() else {
            return Ok(Requests {
                bodies: Vec::new(),
                dropped: 0,
            });
        };
        let mut timeseries = Vec::new();
        let mut deltas = 0u64;
        let dropped: Dropped = self.translation.translate(request, |series| {
            if series.delta {
                deltas += 1;
            } else {
                write_series(&series, &mut timeseries);
            }
        });
        let mut bodies = Vec::new();
        for chunk in chunks(timeseries, self.max_batch_size_bytes) {
            let encoded = WriteRequest { timeseries: chunk }.encode_to_vec();
            let body = snap::raw::Encoder::new()
                .compress_vec(&encoded)
                .map_err(|e| ExportError::permanent(format!("snappy-compressing the request: {e}")))?;
            bodies.push(body);
        }
        Ok(Requests {
            bodies,
            dropped: dropped.total() + deltas,
        })
    }

    async fn send(&self, batch: &ExportBatch, body: Vec<u8>) -> Result<(), ExportError> {
        let headers = authenticated_headers(&self.headers, self.auth.as_ref(), batch).await?;
        let response = self
            .client
            .post(&self.url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .map_err(|e| ExportError::retryable(format!("sending to {}: {e}", self.url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.unwrap_or_default();
        let message = format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(512)]).trim()
        );
        Err(classify(status, retry_after, message))
    }
}

/// Remote write's rule: 5xx and 429 are worth another attempt, other answers not.
fn classify(status: reqwest::StatusCode, throttle: Option<std::time::Duration>, message: String) -> ExportError {
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        ExportError::Retryable { message, throttle }
    } else {
        ExportError::Permanent { message }
    }
}

impl Exporter for RemoteWriteExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let requests = self.requests(batch)?;
            // A retry sends every request again: remote write receivers ignore a
            // sample they already have (same series, time and value).
            for body in requests.bodies {
                self.send(batch, body).await?;
            }
            if requests.dropped == 0 {
                return Ok(ExportOutcome::default());
            }
            let message = format!(
                "{} data point(s) remote write 1.0 cannot take (delta sums and histograms, exponential \
                 histograms) were dropped",
                requests.dropped
            );
            tracing::warn!(message = "Data points dropped.", exporter = %self.id, reason = %message);
            Ok(ExportOutcome {
                rejected: requests.dropped,
                message: Some(message),
            })
        })
    }
}

/// Appends the remote-write series of one translated series: one for a number, one
/// per bucket plus `_sum` and `_count` for a histogram, one per quantile plus
/// `_sum` and `_count` for a summary.
pub fn write_series(series: &Series, out: &mut Vec<TimeSeries>) {
    let sample = |value: f64| Sample {
        value,
        timestamp: series.time_ms,
    };
    let one = |suffix: &str, extra: Option<(&str, String)>, value: f64| {
        let mut labels: Vec<Label> = series
            .labels
            .iter()
            .map(|(name, value)| Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        labels.push(Label {
            name: "__name__".into(),
            value: format!("{}{suffix}", series.name),
        });
        if let Some((name, value)) = extra {
            labels.push(Label {
                name: name.into(),
                value,
            });
        }
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        TimeSeries {
            labels,
            samples: vec![sample(value)],
        }
    };
    match &series.value {
        Value::Number(value) => out.push(one("", None, *value)),
        Value::Histogram(h) => {
            for (le, count) in h.cumulative() {
                out.push(one("_bucket", Some(("le", format_float(le))), count as f64));
            }
            out.push(one("_sum", None, h.sum));
            out.push(one("_count", None, h.count as f64));
        }
        Value::Summary(s) => {
            for (quantile, value) in &s.quantiles {
                out.push(one("", Some(("quantile", format_float(*quantile))), *value));
            }
            out.push(one("_sum", None, s.sum));
            out.push(one("_count", None, s.count as f64));
        }
    }
}

/// Splits series into requests of at most `limit` encoded bytes each (a series
/// larger than the limit goes alone).
fn chunks(timeseries: Vec<TimeSeries>, limit: usize) -> Vec<Vec<TimeSeries>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for series in timeseries {
        // The series' size as a field of the WriteRequest: tag, length, message.
        let len = series.encoded_len();
        let field = 1 + prost::length_delimiter_len(len) + len;
        if !current.is_empty() && size + field > limit {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += field;
        current.push(series);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}
