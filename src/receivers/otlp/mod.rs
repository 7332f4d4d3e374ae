//! `otlp` — receives OTLP over gRPC and HTTP, as the Collector's otlp receiver does.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:
//!         endpoint: localhost:4317        # default
//!         max_recv_msg_size_mib: 4        # default; after decompression
//!       http:
//!         endpoint: localhost:4318        # default
//!         max_request_body_size: 20971520 # default (bytes); after decompression too
//!         traces_url_path: /v1/traces     # defaults for the three paths
//!         metrics_url_path: /v1/metrics
//!         logs_url_path: /v1/logs
//! ```
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

mod config;
mod grpc;
mod http;
mod intake;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{check_endpoint, GrpcConfig, HttpConfig, OtlpReceiverConfig, Protocols};
pub use intake::{drop_malformed_ids, Rejected};

use crate::component::registry::ReceiverFactory;
use crate::component::{
    BoxFuture, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverOutputs, Signal, StartError,
};
use crate::config::{parse_block, ConfigError, RawValue};
use intake::{Intake, Transport};

/// Registry entry.
pub const FACTORY: ReceiverFactory = ReceiverFactory {
    type_name: "otlp",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
};

fn parse(value: &RawValue) -> Result<Box<dyn ReceiverConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<OtlpReceiverConfig>(value)?))
}

impl ReceiverConfig for OtlpReceiverConfig {
    fn build(&self, id: &ComponentId, outputs: ReceiverOutputs) -> Arc<dyn Receiver> {
        Arc::new(OtlpReceiver {
            id: id.clone(),
            config: self.clone(),
            outputs,
            stop: CancellationToken::new(),
            servers: Mutex::new(JoinSet::new()),
        })
    }
}

/// The running receiver: one gRPC and/or one HTTP server.
pub struct OtlpReceiver {
    id: ComponentId,
    config: OtlpReceiverConfig,
    outputs: ReceiverOutputs,
    stop: CancellationToken,
    servers: Mutex<JoinSet<()>>,
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
                let intake = Intake::new(&self.id, Transport::Grpc, self.outputs.clone());
                let (id, stop) = (self.id.clone(), self.stop.clone());
                tracing::info!(message = "Serving OTLP/gRPC.", receiver = %id, endpoint = %local(&listener));
                servers.spawn(async move {
                    if let Err(error) = grpc::serve(listener, intake, max_bytes, stop).await {
                        tracing::error!(message = "OTLP/gRPC server failed.", receiver = %id, %error);
                    }
                });
            }
            if let Some((listener, config)) = http {
                let intake = Intake::new(&self.id, Transport::Http, self.outputs.clone());
                let (id, stop) = (self.id.clone(), self.stop.clone());
                tracing::info!(message = "Serving OTLP/HTTP.", receiver = %id, endpoint = %local(&listener));
                servers.spawn(async move {
                    if let Err(error) = http::serve(listener, intake, &config, stop).await {
                        tracing::error!(message = "OTLP/HTTP server failed.", receiver = %id, %error);
                    }
                });
            }
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let mut servers = std::mem::take(&mut *self.servers.lock().unwrap_or_else(|p| p.into_inner()));
            while servers.join_next().await.is_some() {}
        })
    }
}

fn local(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into())
}
