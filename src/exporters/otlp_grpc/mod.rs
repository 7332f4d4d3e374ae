//! `otlp_grpc` (alias `otlp`) — sends OTLP over gRPC, as the Collector's otlp exporter.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! The batch's protobuf encoding is shared by every exporter of a pipeline, so this
//! exporter sends those bytes as they are (a pass-through codec) instead of
//! re-encoding. Failures are classified per the OTLP spec: UNAVAILABLE and friends
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

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::CompressionEncoding;
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
use crate::exporters::{Compression, ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings};

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
        Ok(Arc::new(OtlpGrpcExporter {
            channel: match tls {
                Some(connector) => endpoint.connect_with_connector_lazy(connector),
                None => endpoint.connect_lazy(),
            },
            metadata,
            auth,
            compression: match self.compression {
                Compression::Gzip => Some(CompressionEncoding::Gzip),
                Compression::Zstd => Some(CompressionEncoding::Zstd),
                Compression::None => None,
            },
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

/// The running exporter: one lazily connected channel, reused by every worker.
pub struct OtlpGrpcExporter {
    channel: Channel,
    metadata: MetadataMap,
    auth: Option<Arc<dyn ClientAuthenticator>>,
    compression: Option<CompressionEncoding>,
}

impl OtlpGrpcExporter {
    async fn call<R>(
        &self,
        path: &'static str,
        body: Bytes,
        client: Option<&crate::pdata::ClientInfo>,
    ) -> Result<R, tonic::Status>
    where
        R: prost::Message + Default + Send + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if let Some(encoding) = self.compression {
            grpc = grpc.send_compressed(encoding);
        }
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connecting: {e}")))?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = match &self.auth {
            None => self.metadata.clone(),
            Some(auth) => {
                let changes = auth.headers(client).await.map_err(auth_failed)?;
                let mut headers = self.metadata.clone().into_headers();
                crate::component::auth::apply_header_changes(&changes, &mut headers);
                MetadataMap::from_headers(headers)
            }
        };
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_static(path),
                codec::PreEncoded::<R>::default(),
            )
            .await?;
        Ok(response.into_inner())
    }
}

impl Exporter for OtlpGrpcExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let body = batch.protobuf();
            let client = batch.client().map(|c| &**c);
            let outcome = match batch.signal() {
                Signal::Traces => self
                    .call::<ExportTraceServiceResponse>(
                        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                        body,
                        client,
                    )
                    .await
                    .map(|r| r.partial_success.map(|p| (p.rejected_spans, p.error_message))),
                Signal::Metrics => self
                    .call::<ExportMetricsServiceResponse>(
                        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                        body,
                        client,
                    )
                    .await
                    .map(|r| r.partial_success.map(|p| (p.rejected_data_points, p.error_message))),
                Signal::Logs => self
                    .call::<ExportLogsServiceResponse>(
                        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                        body,
                        client,
                    )
                    .await
                    .map(|r| r.partial_success.map(|p| (p.rejected_log_records, p.error_message))),
            };
            match outcome {
                Ok(partial) => Ok(partial_outcome(partial)),
                Err(status) => Err(classify(&status)),
            }
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
