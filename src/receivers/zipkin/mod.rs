//! `zipkin` — receives Zipkin spans over HTTP, as the Collector's `zipkinreceiver`
//! does, and passes them on as OTLP traces.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Endpoints: `POST /api/v2/spans` takes Zipkin v2 JSON, or v2 protobuf
//! (`ListOfSpans` of `zipkin.proto`) with `Content-Type: application/x-protobuf`;
//! `POST /api/v1/spans` takes v1 JSON. Bodies may be gzip-, deflate- or
//! zstd-compressed (`Content-Encoding`). A request whose spans are taken is answered
//! 202 Accepted, as Zipkin and the Collector answer.
//!
//! Keys: `endpoint` (default `localhost:9411`), `parse_string_tags` (default false:
//! with true, tags that look like integers, floats or booleans become attributes of
//! that type), and the HTTP server settings the OTLP receiver's `protocols.http` has,
//! with the same meaning and defaults: `max_request_body_size`, `auth`,
//! `include_metadata`, `cors`, `read_header_timeout`, `idle_timeout`,
//! `max_connections`, `tls`.
//!
//! Translation to OTLP follows the Collector's `pkg/translator/zipkin` (details in
//! `translate.rs`): IDs (64-bit trace IDs in the low half), kind, µs times to ns,
//! the local endpoint's service as the resource's `service.name` and its address as
//! `network.local.address`, the remote endpoint as `service.peer.name` and
//! `network.peer.address`, ports as `net.host.port` / `net.peer.port`, tags as
//! attributes (resource-attribute tags such as `telemetry.sdk.language` on the
//! resource), annotations as events, `otel.status_code` / `error` as the status,
//! `otel.scope.name` / `otel.scope.version` as the scope.
//!
//! Errors: a body that does not decode, or a span with a missing, malformed or zero
//! trace or span ID, is 400 with a plain-text message saying which span and what
//! (the whole request is refused, as in the Collector); 401 for a request its
//! authenticator refuses; 413 for a body over `max_request_body_size`; 415 for an
//! unknown `Content-Encoding` or a v1 Thrift body; a full pipeline is 429 with
//! Retry-After; shutting down is 503 with Retry-After. Self-metrics are the OTLP
//! receiver's: `otelcol_receiver_accepted_spans` / `_refused_spans` with
//! `transport="http"`.
//!
//! Differs from the Collector:
//! - v1 Thrift (`application/x-thrift`) is refused with 415, not decoded;
//! - only `/api/v1/spans` and `/api/v2/spans` are served (the Collector takes a v2
//!   body on any path); other paths are 404;
//! - a refusal by the pipeline is 429 or 503 with Retry-After (the Collector answers
//!   500), so that clients back off;
//! - the network attributes are those the Collector's default feature gates of
//!   v0.155 give (`pkg.translator.zipkin.EmitV1NetworkConventions` and
//!   `DontEmitV0NetworkConventions` on); the gates themselves cannot be set;
//! - `debug` and `shared` are read but, as in the Collector, not carried into OTLP;
//! - `Content-Encoding: zlib` (which the Collector reads as deflate) is 415; `gzip`,
//!   `deflate` and `zstd` are taken;
//! - `read_timeout` and `write_timeout` are refused as unknown keys (see the OTLP
//!   receiver's `limits.rs`).

mod config;
mod model;
mod server;
#[cfg(test)]
mod tests;
mod translate;

/// The decoders a Zipkin request goes through, for `crate::fuzzing` (test support).
#[doc(hidden)]
pub mod fuzzing {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::server::{decode, Format};

    /// Decodes and translates `body` as v2 JSON, v2 protobuf or v1 JSON (`which % 3`),
    /// with `parse_string_tags` when `which` is odd: what the server does with a
    /// decompressed body.
    pub fn decode_any(which: u8, body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
        let format = match which % 3 {
            0 => Format::V2Json,
            1 => Format::V2Proto,
            _ => Format::V1Json,
        };
        decode(format, body, which % 2 == 1)
    }
}

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::ZipkinReceiverConfig;

use crate::component::registry::ReceiverFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverContext, ReceiverOutputs, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::receivers::otlp::client::ClientCheck;
use crate::receivers::otlp::connections::ListenerTls;
use crate::receivers::otlp::intake::{Admission, Intake, Transport};
use crate::receivers::otlp::limits::ConnectionPolicy;
use crate::tls::ServerTlsSource;

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "zipkin",
    aliases: &[],
    signals: &[Signal::Traces],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<ZipkinReceiverConfig>(value)?))
}

impl ReceiverConfig for ZipkinReceiverConfig {
    fn build(
        &self,
        id: &ComponentId,
        outputs: ReceiverOutputs,
        ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let authenticator = self
            .auth
            .as_ref()
            .map(|auth| ctx.authenticators.server(&auth.authenticator))
            .transpose()
            .map_err(|e| BuildError::at("auth.authenticator", e))?;
        let client = ClientCheck::new(id, Transport::Http, authenticator, self.include_metadata);
        let draining = CancellationToken::new();
        let admission = Admission::new(draining.clone());
        Ok(Arc::new(ZipkinReceiver {
            intake: Intake::new(id, Transport::Http, outputs, admission.clone(), client),
            id: id.clone(),
            config: self.clone(),
            admission,
            draining,
            server: Mutex::new(JoinSet::new()),
            listener_closed: Mutex::new(None),
        }))
    }

    fn authenticators(&self) -> Vec<(String, String)> {
        self.auth
            .iter()
            .map(|auth| ("auth.authenticator".to_string(), auth.authenticator.clone()))
            .collect()
    }
}

/// The running receiver: one HTTP server.
pub struct ZipkinReceiver {
    id: ComponentId,
    config: ZipkinReceiverConfig,
    intake: Arc<Intake>,
    /// Whether requests may still enter the pipelines.
    admission: Arc<Admission>,
    /// Cancelled when shutdown begins: the listener closes.
    draining: CancellationToken,
    /// The server, and through it every open connection; dropping the receiver
    /// aborts it, which closes connections that linger after shutdown.
    server: Mutex<JoinSet<()>>,
    /// Resolves once the listener is closed.
    listener_closed: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Lifecycle for ZipkinReceiver {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            // TLS files are read before binding, so a bad one fails start.
            let tls = self.tls()?;
            let listener = crate::receivers::otlp::bind(&self.id, &self.config.endpoint).await?;
            let endpoint = listener
                .local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string());
            tracing::info!(message = "Serving Zipkin.", receiver = %self.id, %endpoint, tls = tls.is_some());
            let (closed, on_closed) = oneshot::channel();
            *self.listener_closed.lock().unwrap_or_else(|p| p.into_inner()) = Some(on_closed);
            let http = self.config.http_server();
            let policy = ConnectionPolicy::http(&self.id, &http);
            self.server
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .spawn(server::serve(
                    (listener, closed, tls),
                    self.intake.clone(),
                    self.config.max_request_body_size,
                    self.config.parse_string_tags,
                    self.config.cors.clone(),
                    policy,
                    self.draining.clone(),
                ));
            Ok(())
        })
    }

    /// Closes the listener and waits for it to close and for requests that are
    /// handing data to the pipelines, not for connections; cancel-safe, as the OTLP
    /// receiver's.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.admission.close().await;
            let closing = self.listener_closed.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(closed) = closing {
                // Err: the sender is dropped with the listener, which is the signal.
                let _ = closed.await;
            }
        })
    }
}

impl ZipkinReceiver {
    /// The listener's TLS, its files read now.
    fn tls(&self) -> Result<Option<Arc<ListenerTls>>, StartError> {
        let Some(tls) = &self.config.tls else { return Ok(None) };
        let source =
            ServerTlsSource::new(tls, &[b"http/1.1"]).map_err(|e| StartError::new(&self.id, e.under("tls")))?;
        Ok(Some(Arc::new(ListenerTls {
            source,
            failures: metrics::counter!(
                "otelcol_receiver_tls_handshake_failures",
                "receiver" => self.id.to_string(),
                "transport" => "http",
            ),
        })))
    }
}
