//! `otlp_http` (alias `otlphttp`) — sends OTLP over HTTP, as the Collector's otlphttp
//! exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Per the OTLP spec, 429, 502, 503 and 504 are retried (honouring `Retry-After`),
//! other statuses are permanent; a partial-success body is counted as rejected.
//!
//! `tls` ([`crate::tls::ClientTls`]) applies to `https://` URLs: trusted CAs, a
//! client certificate (mTLS), `insecure_skip_verify`, `server_name_override` (the
//! name the certificate is checked for; SNI stays the URL's host).

mod config;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

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
use crate::exporters::{Compression, ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings};

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
        let mut headers = reqwest::header::HeaderMap::new();
        for (key, value) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(key.as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                headers.insert(k, v);
            }
        }
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
        Ok(Arc::new(OtlpHttpExporter {
            client,
            headers,
            auth,
            urls,
            encoding: self.encoding,
            compression: self.compression,
        }))
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
}

impl Exporter for OtlpHttpExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let signal = batch.signal();
            let Some(url) = &self.urls[signal as usize] else {
                return Err(ExportError::permanent(format!("no endpoint configured for {signal}")));
            };
            let (content_type, body) = match self.encoding {
                HttpEncoding::Proto => ("application/x-protobuf", batch.protobuf().to_vec()),
                HttpEncoding::Json => ("application/json", batch.data().encode_json()),
            };
            let mut headers = self.headers.clone();
            if let Some(auth) = &self.auth {
                let changes = auth.headers(batch.client().map(|c| &**c)).await.map_err(|error| {
                    let message = format!("authenticator: {}", error.message);
                    match error.retryable {
                        true => ExportError::retryable(message),
                        false => ExportError::permanent(message),
                    }
                })?;
                crate::component::auth::apply_header_changes(&changes, &mut headers);
            }
            let mut request = self
                .client
                .post(url)
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, content_type);
            let body = match self.compression {
                Compression::None => body,
                Compression::Gzip => {
                    request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
                    gzip(&body).map_err(|e| ExportError::permanent(format!("gzip: {e}")))?
                }
                Compression::Zstd => {
                    request = request.header(reqwest::header::CONTENT_ENCODING, "zstd");
                    zstd::encode_all(body.as_slice(), 3).map_err(|e| ExportError::permanent(format!("zstd: {e}")))?
                }
            };
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

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
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
        let auth = self
            .auth
            .as_ref()
            .map(|auth| ctx.authenticators.client(&auth.authenticator))
            .transpose()
            .map_err(|e| BuildError::at("auth.authenticator", e))?;
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
