//! `otlp` — receives OTLP over gRPC and HTTP, as the Collector's otlp receiver does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! A transport listed without settings (`grpc:`) is served with the defaults. Only the
//! signals that some pipeline takes from this receiver are served (others answer
//! UNIMPLEMENTED / 404).
//!
//! Responses follow the OTLP specification: malformed bodies are 400 /
//! INVALID_ARGUMENT with a message saying what was wrong; an unknown content type or
//! encoding is 415; a body over the limit, before or after decompression, is 413 /
//! RESOURCE_EXHAUSTED; a full pipeline is 429 with Retry-After / RESOURCE_EXHAUSTED
//! with RetryInfo; spans or log records with malformed IDs are dropped and reported
//! as partial success.
//!
//! Shutdown: the listeners close at once, requests already handing data to the
//! pipelines finish, and every later request on a connection that is still open is
//! answered 503 with Retry-After / UNAVAILABLE with RetryInfo (HTTP responses then
//! close the connection). No client can hold shutdown up: open connections are not
//! waited for, and are closed when the service has finished draining (see
//! `connections.rs`).

mod config;
mod connections;
#[doc(hidden)]
pub mod fuzzing;
mod grpc;
mod http;
mod intake;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{check_endpoint, GrpcConfig, HttpConfig, OtlpReceiverConfig, Protocols};
pub use intake::{drop_malformed_ids, Rejected};

use crate::component::registry::ReceiverFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverOutputs, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use intake::{Admission, Intake, Transport};

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "otlp",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<OtlpReceiverConfig>(value)?))
}

impl ReceiverConfig for OtlpReceiverConfig {
    fn build(&self, id: &ComponentId, outputs: ReceiverOutputs) -> Result<Arc<dyn Receiver>, BuildError> {
        let draining = CancellationToken::new();
        Ok(Arc::new(OtlpReceiver {
            id: id.clone(),
            config: self.clone(),
            outputs,
            admission: Admission::new(draining.clone()),
            draining,
            servers: Mutex::new(JoinSet::new()),
            listeners_closed: Mutex::new(Vec::new()),
        }))
    }
}

/// The running receiver: one gRPC and/or one HTTP server.
pub struct OtlpReceiver {
    id: ComponentId,
    config: OtlpReceiverConfig,
    outputs: ReceiverOutputs,
    /// Whether requests may still enter the pipelines; shared by both transports.
    admission: Arc<Admission>,
    /// Cancelled when shutdown begins: the listeners close.
    draining: CancellationToken,
    /// The servers, and through them every open connection. Dropping the receiver
    /// aborts them, which closes connections that linger after shutdown.
    servers: Mutex<JoinSet<()>>,
    /// One per server: resolves once its listener is closed.
    listeners_closed: Mutex<Vec<oneshot::Receiver<()>>>,
}

/// Binds `endpoint` (resolving a host name such as `localhost` first).
async fn bind(id: &ComponentId, endpoint: &str) -> Result<TcpListener, StartError> {
    let mut last_error = None;
    let addresses = tokio::net::lookup_host(endpoint)
        .await
        .map_err(|e| StartError::new(id, format!("cannot resolve {endpoint}: {e}")))?;
    for address in addresses {
        match TcpListener::bind(address).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(format!("cannot listen on {address}: {e}")),
        }
    }
    Err(StartError::new(
        id,
        last_error.unwrap_or_else(|| format!("{endpoint} resolved to no address")),
    ))
}

impl Lifecycle for OtlpReceiver {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            // Bind everything before serving anything, so a port in use fails start.
            let grpc = match &self.config.protocols.grpc {
                Some(c) => Some((
                    bind(&self.id, &c.endpoint).await?,
                    c.max_recv_msg_size_mib * 1024 * 1024,
                )),
                None => None,
            };
            let http = match &self.config.protocols.http {
                Some(c) => Some((bind(&self.id, &c.endpoint).await?, c.clone())),
                None => None,
            };
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((listener, max_bytes)) = grpc {
                let intake = self.intake(Transport::Grpc);
                tracing::info!(message = "Serving OTLP/gRPC.", receiver = %self.id, endpoint = %local(&listener));
                let listener = self.watch_closing(listener);
                servers.spawn(grpc::serve(listener, intake, max_bytes, self.draining.clone()));
            }
            if let Some((listener, config)) = http {
                let intake = self.intake(Transport::Http);
                let draining = self.draining.clone();
                tracing::info!(message = "Serving OTLP/HTTP.", receiver = %self.id, endpoint = %local(&listener));
                let listener = self.watch_closing(listener);
                servers.spawn(async move { http::serve(listener, intake, &config, draining).await });
            }
            Ok(())
        })
    }

    /// Closes the listeners and waits for them to close and for requests that are
    /// handing data to the pipelines, but not for connections. Cancel-safe, so the
    /// topology bounds it with its share of `shutdown_timeout`: once polled, nothing
    /// more is admitted.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.admission.close().await;
            let closing = std::mem::take(&mut *self.listeners_closed.lock().unwrap_or_else(|p| p.into_inner()));
            for closed in closing {
                // Err: the sender is dropped with the listener, which is the signal.
                let _ = closed.await;
            }
        })
    }
}

impl OtlpReceiver {
    /// Pairs `listener` with the sender whose drop tells `shutdown` it is closed.
    fn watch_closing(&self, listener: TcpListener) -> connections::Listener {
        let (closed, on_closed) = oneshot::channel();
        self.listeners_closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(on_closed);
        (listener, closed)
    }

    fn intake(&self, transport: Transport) -> Arc<Intake> {
        Intake::new(&self.id, transport, self.outputs.clone(), self.admission.clone())
    }
}

fn local(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into())
}
