//! `otlp_http` (alias `otlphttp`) — sends OTLP over HTTP, as the Collector's otlphttp
//! exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Per the OTLP spec, 429, 502, 503 and 504 are retried (honouring `Retry-After`),
//! other statuses are permanent; a partial-success body is counted as rejected.
//!
//! `compression` is `gzip` (default), `zstd` or `none`, sent as `Content-Encoding`;
//! `compression_params.level` sets its level ([`CompressionParams`]: gzip 1 to 9,
//! default 1; zstd's levels, default 3). A batch is encoded and compressed once, and
//! every retry sends the same bytes.
//!
//! `tls` ([`crate::tls::ClientTls`]) applies to `https://` URLs: trusted CAs, a
//! client certificate (mTLS), `insecure_skip_verify`, `server_name_override` (the
//! name the certificate is checked for; SNI stays the URL's host).

mod config;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

pub use config::{HttpEncoding, OtlpHttpConfig};

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::otlp_grpc::partial_outcome;
use crate::exporters::{
    compress, Compression, CompressionParams, ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings,
};

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "otlp_http",
    aliases: &["otlphttp"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<OtlpHttpConfig>(value)?))
}

impl OtlpHttpConfig {
    /// The one-attempt exporter, without queue or retries.
    pub fn exporter(&self, id: &ComponentId) -> Result<Arc<dyn Exporter>, StartError> {
        self.authenticated_exporter(id, None)
    }

    /// The one-attempt exporter, with `auth`'s headers on every request.
    pub fn authenticated_exporter(
        &self,
        id: &ComponentId,
        auth: Option<Arc<dyn ClientAuthenticator>>,
    ) -> Result<Arc<dyn Exporter>, StartError> {
        Ok(Arc::new(self.build_exporter(id, auth)?))
    }

    /// The exporter itself (tests read its counters).
    pub(crate) fn build_exporter(
        &self,
        id: &ComponentId,
        auth: Option<Arc<dyn ClientAuthenticator>>,
    ) -> Result<OtlpHttpExporter, StartError> {
        let headers = header_map(&self.headers);
        // The configured headers go on each request rather than the client's
        // defaults, so that an authenticator's changes (delete, insert) apply to them.
        let mut client = reqwest::Client::builder()
            .user_agent(concat!("sloop/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.timeout);
        let url = |signal| self.url(signal).ok();
        let urls = [url(Signal::Traces), url(Signal::Metrics), url(Signal::Logs)];
        // sloop's own rustls config (CAs, client certificate, versions), read only
        // when some URL says https: the scheme decides whether TLS is used at all.
        if urls.iter().flatten().any(|u| u.starts_with("https://")) {
            let tls = self
                .tls
                .client_config(&[b"h2", b"http/1.1"])
                .map_err(|e| StartError::new(id, e.under("tls")))?;
            client = client.use_preconfigured_tls(tls);
        }
        let client = client.build().map_err(|e| StartError::new(id, e))?;
        Ok(OtlpHttpExporter {
            client,
            headers,
            auth,
            urls,
            encoding: self.encoding,
            compression: self.compression,
            compression_params: self.compression_params,
            bodies_made: AtomicU64::new(0),
        })
    }

    /// Queue, retry and timeout settings.
    pub fn helper(&self) -> HelperSettings {
        HelperSettings {
            timeout: self.timeout,
            queue: self.sending_queue.clone(),
            retry: self.retry_on_failure.clone(),
        }
    }
}

/// The running exporter.
pub struct OtlpHttpExporter {
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    auth: Option<Arc<dyn ClientAuthenticator>>,
    urls: [Option<String>; 3],
    encoding: HttpEncoding,
    compression: Compression,
    compression_params: CompressionParams,
    /// Request bodies encoded and compressed so far (one per batch, not per attempt).
    bodies_made: AtomicU64,
}

impl OtlpHttpExporter {
    /// The request body of `batch`: encoded and compressed as configured.
    fn body(&self, batch: &ExportBatch) -> Result<Bytes, ExportError> {
        self.bodies_made.fetch_add(1, Ordering::Relaxed);
        let compression = self.compression;
        let compressed = |body: &[u8]| {
            compress(compression, &self.compression_params, body)
                .map(Bytes::from)
                .map_err(|e| ExportError::permanent(format!("compressing the body ({compression:?}): {e}")))
        };
        match (self.encoding, compression) {
            // The shared encoding, as it is: no copy.
            (HttpEncoding::Proto, Compression::None) => Ok(batch.protobuf()),
            (HttpEncoding::Proto, _) => compressed(&batch.protobuf()),
            (HttpEncoding::Json, Compression::None) => Ok(Bytes::from(batch.data().encode_json())),
            (HttpEncoding::Json, _) => compressed(&batch.data().encode_json()),
        }
    }

    /// How many request bodies this exporter has made.
    pub fn bodies_made(&self) -> u64 {
        self.bodies_made.load(Ordering::Relaxed)
    }
}

impl Exporter for OtlpHttpExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        self.export_prepared(batch, None)
    }

    fn prepare(&self, batch: &ExportBatch) -> Option<Bytes> {
        // A failure here is the attempt's to report.
        self.body(batch).ok()
    }

    fn export_prepared<'a>(
        &'a self,
        batch: &'a ExportBatch,
        prepared: Option<&'a Bytes>,
    ) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let signal = batch.signal();
            let Some(url) = &self.urls[signal as usize] else {
                return Err(ExportError::permanent(format!("no endpoint configured for {signal}")));
            };
            let content_type = match self.encoding {
                HttpEncoding::Proto => "application/x-protobuf",
                HttpEncoding::Json => "application/json",
            };
            // Cloning `Bytes` shares them: a retry sends the first attempt's body.
            let body = match prepared {
                Some(body) => body.clone(),
                None => self.body(batch)?,
            };
            let headers = authenticated_headers(&self.headers, self.auth.as_ref(), batch).await?;
            let mut request = self
                .client
                .post(url)
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, content_type);
            match self.compression {
                Compression::None => {}
                Compression::Gzip => request = request.header(reqwest::header::CONTENT_ENCODING, "gzip"),
                Compression::Zstd => request = request.header(reqwest::header::CONTENT_ENCODING, "zstd"),
            }
            let response = request
                .body(body)
                .send()
                .await
                .map_err(|e| ExportError::retryable(format!("sending to {url}: {e}")))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let is_json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body = response.bytes().await.unwrap_or_default();
            if status.is_success() {
                return Ok(partial_outcome(partial_success(signal, &body, is_json)));
            }
            Err(classify(
                status,
                retry_after,
                &String::from_utf8_lossy(&body[..body.len().min(512)]),
            ))
        })
    }
}

/// Configured `headers` as a header map (validation refused invalid ones). Shared
/// with the other HTTP exporters.
pub(crate) fn header_map(headers: &std::collections::BTreeMap<String, String>) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (key, value) in headers {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            map.insert(k, v);
        }
    }
    map
}

/// `headers` with the changes `auth` makes for the client `batch` came from; an
/// authenticator's failure is retryable or not as it says. Shared with the other
/// HTTP exporters.
pub(crate) async fn authenticated_headers(
    headers: &reqwest::header::HeaderMap,
    auth: Option<&Arc<dyn ClientAuthenticator>>,
    batch: &ExportBatch,
) -> Result<reqwest::header::HeaderMap, ExportError> {
    let mut headers = headers.clone();
    if let Some(auth) = auth {
        let changes = auth.headers(batch.client().map(|c| &**c)).await.map_err(|error| {
            let message = format!("authenticator: {}", error.message);
            match error.retryable {
                true => ExportError::retryable(message),
                false => ExportError::permanent(message),
            }
        })?;
        crate::component::auth::apply_header_changes(&changes, &mut headers);
    }
    Ok(headers)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by OTLP backends in
/// practice and is ignored, which falls back to the backoff).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Retryable or permanent, per the OTLP/HTTP spec.
pub fn classify(status: reqwest::StatusCode, retry_after: Option<Duration>, body: &str) -> ExportError {
    let message = format!("HTTP {status}: {}", body.trim());
    match status.as_u16() {
        429 | 502 | 503 | 504 => ExportError::Retryable {
            message,
            throttle: retry_after,
        },
        _ => ExportError::Permanent { message },
    }
}

/// The partial-success field of a 2xx response body, if any.
fn partial_success(signal: Signal, body: &[u8], json: bool) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    macro_rules! decode {
        ($ty:ty, $field:ident) => {{
            let response: Option<$ty> = if json {
                serde_json::from_slice(body).ok()
            } else {
                <$ty>::decode(body).ok()
            };
            response
                .and_then(|r| r.partial_success)
                .map(|p| (p.$field, p.error_message))
        }};
    }
    match signal {
        Signal::Traces => decode!(ExportTraceServiceResponse, rejected_spans),
        Signal::Metrics => decode!(ExportMetricsServiceResponse, rejected_data_points),
        Signal::Logs => decode!(ExportLogsServiceResponse, rejected_log_records),
    }
}

impl ExporterConfig for OtlpHttpConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let auth = ctx.authenticators.client_for(self.auth.as_ref())?;
        let exporter = self
            .authenticated_exporter(ctx.id, auth)
            .map_err(|e| BuildError::new(e.message))?;
        crate::exporters::helper::queued(ctx, exporter, self.helper())
    }

    fn storage(&self) -> Option<&str> {
        self.sending_queue.storage.as_deref()
    }

    fn authenticator(&self) -> Option<&str> {
        self.auth.as_ref().map(|auth| auth.authenticator.as_str())
    }
}
