//! `jaeger` — receives Jaeger spans, as the Collector's jaeger receiver does, and
//! translates them to OTLP.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Protocols (each served when listed, even with no settings):
//! - `grpc` (default `localhost:14250`): `jaeger.api_v2.CollectorService/PostSpans`;
//!   a body that is not a `PostSpansRequest`, or IDs of the wrong length, is
//!   INVALID_ARGUMENT; `max_recv_msg_size_mib` (default 4) bounds a message.
//! - `thrift_http` (default `localhost:14268`): `POST /api/traces` with a Thrift
//!   binary `Batch` (`application/x-thrift` or `application/vnd.apache.thrift.binary`);
//!   202 when taken, 400 for another content type or a body that is not a batch, 413
//!   over `max_request_body_size` (default 20 MiB).
//! - `thrift_compact` (UDP, default `localhost:6831`) and `thrift_binary` (UDP,
//!   default `localhost:6832`): the agent's `emitBatch`, one call per datagram, with
//!   the Collector's UDP settings `queue_size` (1000), `max_packet_size` (65000),
//!   `workers` (10) and `socket_buffer_size` (0: the system's). Datagrams that cannot
//!   be taken are counted in `otelcol_receiver_jaeger_udp_packets_dropped` (by
//!   `reason`) and logged at debug level.
//!
//! Spans are translated by the Collector's rules (`pkg/translator/jaeger`): see
//! `translate.rs`. Accepted and refused spans are counted in
//! `otelcol_receiver_accepted_spans` / `otelcol_receiver_refused_spans` with the
//! Collector's `transport` labels (`grpc`, `collector_http`, `udp_thrift_compact`,
//! `udp_thrift_binary`).
//!
//! Differences from the Collector: the gRPC and HTTP servers take only the keys
//! above (no `tls`, `auth`, `cors`, `keepalive`, ...: refused as unknown keys);
//! `remote_sampling` (removed from the Collector too) is refused; Thrift batches get
//! the protobuf path's scope (`otel.scope.name`, `otel.library.name`) and
//! `w3c.tracestate` rules, which the Collector applies to protobuf only; strings
//! that are not UTF-8 have their bad bytes replaced. At shutdown the UDP queue's
//! datagrams that have not reached the pipeline are dropped (UDP has no answer to
//! retry on), and once the batches already inside have reached the pipeline, open
//! connections are closed.

mod config;
mod grpc;
mod http;
mod intake;
mod model;
mod proto;
#[cfg(test)]
mod tests;
mod thrift;
mod translate;
mod udp;

/// The decoders a Jaeger request goes through, for `crate::fuzzing` (test support).
#[doc(hidden)]
pub mod fuzzing {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::thrift::{decode_batch, decode_emit_batch, Protocol};
    use super::{proto, translate};

    /// Decodes and translates `body` as a Thrift binary HTTP body, a compact or a
    /// binary agent datagram, or a gRPC `PostSpansRequest` (`which % 4`); `None`
    /// when the receiver would refuse it.
    pub fn decode_any(which: u8, body: &[u8]) -> Option<ExportTraceServiceRequest> {
        let batch = match which % 4 {
            0 => decode_batch(body).ok()?,
            1 => decode_emit_batch(body, Protocol::Compact).ok()?,
            2 => decode_emit_batch(body, Protocol::Binary).ok()?,
            _ => proto::to_model(proto::PostSpansRequest::decode(body).ok()?).ok()?,
        };
        Some(translate::batch(batch))
    }
}

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{GrpcConfig, HttpConfig, JaegerReceiverConfig, Protocols, UdpConfig};

use crate::component::registry::ReceiverFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverContext, ReceiverOutputs, Signal,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::receivers::otlp::Admission;
use intake::Intake;
use thrift::Protocol;

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "jaeger",
    aliases: &[],
    signals: &[Signal::Traces],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<JaegerReceiverConfig>(value)?))
}

impl ReceiverConfig for JaegerReceiverConfig {
    fn build(
        &self,
        id: &ComponentId,
        outputs: ReceiverOutputs,
        _ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let draining = CancellationToken::new();
        Ok(Arc::new(JaegerReceiver {
            id: id.clone(),
            config: self.clone(),
            outputs,
            admission: Admission::new(draining.clone()),
            draining,
            servers: Mutex::new(JoinSet::new()),
        }))
    }
}

/// The running receiver: a server per protocol.
pub struct JaegerReceiver {
    id: ComponentId,
    config: JaegerReceiverConfig,
    outputs: ReceiverOutputs,
    /// Whether batches may still enter the pipeline; shared by the protocols.
    admission: Arc<Admission>,
    /// Cancelled when shutdown begins: the servers stop taking requests.
    draining: CancellationToken,
    /// The servers; shutdown (or dropping the receiver) aborts them.
    servers: Mutex<JoinSet<()>>,
}

/// Binds `endpoint` over TCP ([`crate::accept::bind`]: host names resolved, a
/// host-less endpoint on every interface with a warning).
async fn bind_tcp(id: &ComponentId, endpoint: &str) -> Result<TcpListener, String> {
    crate::accept::bind(&id.to_string(), endpoint).await
}

impl Lifecycle for JaegerReceiver {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let fail = |message: String| StartError::new(&self.id, message);
            let p = &self.config.protocols;
            // Bind everything before serving anything, so a port in use fails start.
            let grpc = match &p.grpc {
                Some(c) => Some((
                    bind_tcp(&self.id, &c.endpoint).await.map_err(fail)?,
                    c.max_recv_msg_size_mib,
                )),
                None => None,
            };
            let http = match &p.thrift_http {
                Some(c) => Some((
                    bind_tcp(&self.id, &c.endpoint).await.map_err(fail)?,
                    c.max_request_body_size,
                )),
                None => None,
            };
            let mut udp = Vec::new();
            for (config, default, protocol, transport) in [
                (
                    &p.thrift_compact,
                    config::COMPACT_ENDPOINT,
                    Protocol::Compact,
                    "udp_thrift_compact",
                ),
                (
                    &p.thrift_binary,
                    config::BINARY_ENDPOINT,
                    Protocol::Binary,
                    "udp_thrift_binary",
                ),
            ] {
                let Some(config) = config else { continue };
                let endpoint = config.endpoint_or(default);
                let server = udp::UdpServer::bind(&self.id, &endpoint, protocol, transport, config)
                    .await
                    .map_err(fail)?;
                udp.push((server, transport));
            }
            let draining = &self.draining;
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((listener, mib)) = grpc {
                tracing::info!(message = "Serving Jaeger gRPC.", receiver = %self.id, endpoint = %local(&listener));
                let intake = self.intake("grpc");
                servers.spawn(grpc::serve(listener, intake, mib * 1024 * 1024, draining.clone()));
            }
            if let Some((listener, max_body)) = http {
                tracing::info!(message = "Serving Jaeger Thrift over HTTP.", receiver = %self.id, endpoint = %local(&listener));
                let intake = self.intake("collector_http");
                servers.spawn(http::serve(listener, intake, max_body, draining.clone()));
            }
            for (server, transport) in udp {
                tracing::info!(message = "Serving Jaeger Thrift over UDP.", receiver = %self.id, transport, endpoint = %server.local_addr());
                servers.spawn(server.serve(self.intake(transport), draining.clone()));
            }
            Ok(())
        })
    }

    /// Refuses every batch from now on and waits for those already handing data to
    /// the pipeline; then stops the servers, which closes their sockets and any
    /// connection still open (a client cannot hold shutdown up). Cancel-safe: the
    /// servers are aborted when the future is dropped too.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.admission.close().await;
            let mut servers = std::mem::take(&mut *self.servers.lock().unwrap_or_else(|p| p.into_inner()));
            servers.abort_all();
            while servers.join_next().await.is_some() {}
        })
    }
}

impl JaegerReceiver {
    fn intake(&self, transport: &'static str) -> Arc<Intake> {
        Intake::new(&self.id, transport, self.outputs.traces.clone(), self.admission.clone())
    }
}

fn local(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into())
}
