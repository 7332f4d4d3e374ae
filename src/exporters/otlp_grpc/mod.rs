//! `otlp_grpc` (alias `otlp`) — sends OTLP over gRPC, as the Collector's otlp exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! The batch's protobuf encoding is shared by every exporter of a pipeline, so this
//! exporter sends those bytes as they are instead of re-encoding.
//!
//! `compression` is `gzip` (default), `zstd` or `none` (`grpc-encoding`);
//! `compression_params.level` sets its level ([`CompressionParams`]: gzip 1 to 9,
//! default 1; zstd's levels, default 3). The exporter compresses and frames the
//! gRPC message itself, once per batch: every retry sends the same bytes.
//! (tonic 0.14 compresses inside its encoder on every call, at a level it fixes —
//! gzip 6, zstd 3 — and marks a message compressed only when it compressed it, so a
//! codec cannot hand it compressed bytes; hence the request is built here and sent on
//! tonic's channel, and only the response is decoded with tonic's `Streaming`.)
//!
//! Failures are classified per the OTLP spec: UNAVAILABLE and friends
//! are retried, RESOURCE_EXHAUSTED only with RetryInfo (whose delay is honoured),
//! everything else is permanent.
//!
//! `tls` ([`crate::tls::ClientTls`]) takes the Collector's keys, client certificates
//! (mTLS), `insecure_skip_verify` and `server_name_override` included; the channel
//! dials through sloop's own rustls connector (`connector.rs`).

pub(crate) mod codec;
mod config;
mod connector;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, TE};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::{CompressionEncoding, Streaming};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

pub use config::OtlpGrpcConfig;

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ClientAuthenticator, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::{
    compress_after, Compression, CompressionParams, ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings,
};

/// A gRPC message's header: the compressed flag and the length (big-endian u32).
const FRAME_HEADER: usize = 5;

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "otlp_grpc",
    aliases: &["otlp"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<OtlpGrpcConfig>(value)?))
}

impl OtlpGrpcConfig {
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
    ) -> Result<OtlpGrpcExporter, StartError> {
        let (channel, metadata) = self.channel(id)?;
        Ok(OtlpGrpcExporter {
            channel,
            metadata,
            auth,
            compression: self.compression,
            compression_params: self.compression_params,
            frames_made: AtomicU64::new(0),
        })
    }

    /// The lazily connected channel and the configured metadata.
    fn channel(&self, id: &ComponentId) -> Result<(Channel, MetadataMap), StartError> {
        let (uri, plaintext) = self.target().map_err(|e| StartError::new(id, e))?;
        // With TLS, tonic is given an http:// address (it refuses https:// without
        // its own TLS, and the connector below does TLS) and the https:// one as
        // the origin its requests name.
        let dial = match uri.strip_prefix("https://") {
            Some(rest) if !plaintext => format!("http://{rest}"),
            _ => uri.clone(),
        };
        let mut endpoint = Endpoint::from_shared(dial)
            .map_err(|e| StartError::new(id, e))?
            .connect_timeout(self.timeout)
            .tcp_nodelay(true);
        if !plaintext {
            let origin = uri.parse::<http::Uri>().map_err(|e| StartError::new(id, e))?;
            endpoint = endpoint.origin(origin);
        }
        let tls = if plaintext {
            None
        } else {
            let tls_error = |e: crate::tls::TlsError| StartError::new(id, e.under("tls"));
            Some(connector::TlsConnector {
                config: Arc::new(self.tls.client_config(&[b"h2"]).map_err(tls_error)?),
                server_name: self.tls.server_name().transpose().map_err(tls_error)?,
                timeout: self.timeout,
            })
        };
        let mut metadata = MetadataMap::new();
        for (key, value) in &self.headers {
            // Validated at config time; an invalid pair cannot reach here, skip if so.
            if let (Ok(k), Ok(v)) = (
                tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
                tonic::metadata::MetadataValue::try_from(value.as_str()),
            ) {
                metadata.insert(k, v);
            }
        }
        Ok((
            match tls {
                Some(connector) => endpoint.connect_with_connector_lazy(connector),
                None => endpoint.connect_lazy(),
            },
            metadata,
        ))
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

/// The running exporter: one lazily connected channel, reused by every worker.
pub struct OtlpGrpcExporter {
    channel: Channel,
    metadata: MetadataMap,
    auth: Option<Arc<dyn ClientAuthenticator>>,
    compression: Compression,
    compression_params: CompressionParams,
    /// gRPC messages framed (and compressed) so far: one per batch, not per attempt.
    frames_made: AtomicU64,
}

impl OtlpGrpcExporter {
    /// The gRPC message of `batch`: the 5-byte header (compressed flag, length)
    /// and the protobuf encoding, compressed as configured — one allocation.
    fn frame(&self, batch: &ExportBatch) -> Result<Bytes, tonic::Status> {
        self.frames_made.fetch_add(1, Ordering::Relaxed);
        let protobuf = batch.protobuf();
        let header = Vec::from([0u8; FRAME_HEADER]);
        let mut frame = compress_after(header, self.compression, &self.compression_params, &protobuf)
            .map_err(|e| tonic::Status::internal(format!("compressing the message ({:?}): {e}", self.compression)))?;
        let len = u32::try_from(frame.len() - FRAME_HEADER)
            .map_err(|_| tonic::Status::out_of_range("the message is larger than gRPC's 4 GiB limit"))?;
        frame[0] = u8::from(self.compression != Compression::None);
        frame[1..FRAME_HEADER].copy_from_slice(&len.to_be_bytes());
        Ok(Bytes::from(frame))
    }

    /// How many gRPC messages this exporter has framed.
    pub fn frames_made(&self) -> u64 {
        self.frames_made.load(Ordering::Relaxed)
    }

    /// One unary call with an already framed message, as tonic's `Grpc::unary`
    /// makes it (same headers; the channel adds scheme, authority and user-agent),
    /// the response decoded by tonic.
    async fn call<R>(
        &self,
        path: &'static str,
        frame: Bytes,
        client: Option<&crate::pdata::ClientInfo>,
    ) -> Result<R, tonic::Status>
    where
        R: prost::Message + Default + Send + 'static,
    {
        use tower::Service;
        let mut channel = self.channel.clone();
        std::future::poll_fn(|cx| channel.poll_ready(cx))
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connecting: {e}")))?;
        let metadata = match &self.auth {
            None => self.metadata.clone(),
            Some(auth) => {
                let changes = auth.headers(client).await.map_err(auth_failed)?;
                let mut headers = self.metadata.clone().into_headers();
                crate::component::auth::apply_header_changes(&changes, &mut headers);
                MetadataMap::from_headers(headers)
            }
        };
        let mut headers = metadata.into_headers();
        // What tonic keeps out of metadata (it sets these itself).
        for reserved in ["te", "content-type", "grpc-message", "grpc-message-type", "grpc-status"] {
            headers.remove(reserved);
        }
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        match self.compression {
            Compression::None => {}
            Compression::Gzip => _ = headers.insert("grpc-encoding", HeaderValue::from_static("gzip")),
            Compression::Zstd => _ = headers.insert("grpc-encoding", HeaderValue::from_static("zstd")),
        }
        let mut request = http::Request::new(tonic::body::Body::new(http_body_util::Full::new(frame)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = http::Uri::from_static(path);
        *request.version_mut() = http::Version::HTTP_2;
        *request.headers_mut() = headers;
        let response = channel
            .call(request)
            .await
            .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
        // As tonic's client: a trailers-only response carries the status in its
        // headers; otherwise the message, then the status in the trailers.
        if let Some(status) = tonic::Status::from_header_map(response.headers()) {
            if status.code() != Code::Ok {
                return Err(status);
            }
            return Err(tonic::Status::internal("Missing response message."));
        }
        // No grpc-accept-encoding is sent, so the reply should be plain; a server
        // that compresses anyway is understood.
        let encoding = match response.headers().get("grpc-encoding").map(HeaderValue::as_bytes) {
            None | Some(b"identity") => None,
            Some(b"gzip") => Some(CompressionEncoding::Gzip),
            Some(b"zstd") => Some(CompressionEncoding::Zstd),
            Some(other) => {
                return Err(tonic::Status::unimplemented(format!(
                    "the response's grpc-encoding {:?} is not supported",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let status = response.status();
        let mut body = Streaming::new_response(
            codec::MessageDecoder::<R>::default(),
            response.into_body(),
            status,
            encoding,
            None,
        );
        let message = body
            .message()
            .await?
            .ok_or_else(|| tonic::Status::internal("Missing response message."))?;
        body.trailers().await?;
        Ok(message)
    }

    async fn send(&self, batch: &ExportBatch, frame: Bytes) -> Result<ExportOutcome, ExportError> {
        let client = batch.client().map(|c| &**c);
        let outcome = match batch.signal() {
            Signal::Traces => self
                .call::<ExportTraceServiceResponse>(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    frame,
                    client,
                )
                .await
                .map(|r| r.partial_success.map(|p| (p.rejected_spans, p.error_message))),
            Signal::Metrics => self
                .call::<ExportMetricsServiceResponse>(
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                    frame,
                    client,
                )
                .await
                .map(|r| r.partial_success.map(|p| (p.rejected_data_points, p.error_message))),
            Signal::Logs => self
                .call::<ExportLogsServiceResponse>(
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    frame,
                    client,
                )
                .await
                .map(|r| r.partial_success.map(|p| (p.rejected_log_records, p.error_message))),
        };
        match outcome {
            Ok(partial) => Ok(partial_outcome(partial)),
            Err(status) => Err(classify(&status)),
        }
    }
}

impl Exporter for OtlpGrpcExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        self.export_prepared(batch, None)
    }

    fn prepare(&self, batch: &ExportBatch) -> Option<Bytes> {
        // A failure here is the attempt's to report.
        self.frame(batch).ok()
    }

    fn export_prepared<'a>(
        &'a self,
        batch: &'a ExportBatch,
        prepared: Option<&'a Bytes>,
    ) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            // Cloning `Bytes` shares them: a retry sends the first attempt's frame.
            let frame = match prepared {
                Some(frame) => frame.clone(),
                None => self.frame(batch).map_err(|status| classify(&status))?,
            };
            self.send(batch, frame).await
        })
    }
}

/// A client authenticator that gave no credentials, as a status [`classify`] retries
/// or not as the authenticator says.
fn auth_failed(error: crate::component::auth::ClientAuthError) -> tonic::Status {
    let message = format!("authenticator: {}", error.message);
    match error.retryable {
        true => tonic::Status::unavailable(message),
        false => tonic::Status::unauthenticated(message),
    }
}

/// Turns a partial-success field into an outcome.
pub fn partial_outcome(partial: Option<(i64, String)>) -> ExportOutcome {
    match partial {
        Some((rejected, message)) => ExportOutcome {
            rejected: rejected.max(0) as u64,
            message: (!message.is_empty()).then_some(message),
        },
        None => ExportOutcome::default(),
    }
}

/// Retryable or permanent, per the OTLP spec's table of gRPC codes.
///
/// That table is about statuses the *backend* sent. A status tonic made up locally
/// from a failed connection (reset, refused, broken pipe, GOAWAY, an HTTP/2 stream
/// error) carries the transport error as its source, and usually the code `Unknown`
/// or `Internal`; the backend never saw or never answered the request, so it is
/// retried whatever its code.
pub fn classify(status: &tonic::Status) -> ExportError {
    use tonic_types::StatusExt;
    let throttle: Option<Duration> = status.get_details_retry_info().and_then(|info| info.retry_delay);
    if let Some(source) = std::error::Error::source(status) {
        return ExportError::Retryable {
            message: format!(
                "connection failed ({:?}): {}: {source}",
                status.code(),
                status.message()
            ),
            throttle,
        };
    }
    let message = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::Retryable { message, throttle },
        Code::ResourceExhausted if throttle.is_some() => ExportError::Retryable { message, throttle },
        _ => ExportError::Permanent { message },
    }
}

impl ExporterConfig for OtlpGrpcConfig {
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
