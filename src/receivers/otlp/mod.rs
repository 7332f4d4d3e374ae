//! `otlp` — receives OTLP over gRPC and HTTP, as the Collector's otlp receiver does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Each transport takes a `tls` block ([`crate::tls::ServerTls`]: `cert_file`,
//! `key_file`, `client_ca_file` for mTLS, `min_version`, `reload_interval`, ...);
//! the handshake happens in the accept loop (`connections.rs`), bounded by 10 s, with
//! ALPN `h2` on gRPC and `http/1.1` on HTTP.
//!
//! A transport listed without settings (`grpc:`) is served with the defaults. Only the
//! signals that some pipeline takes from this receiver are served (others answer
//! UNIMPLEMENTED / 404).
//!
//! `auth: {authenticator: <extension>}` on a protocol makes every request pass that
//! server authenticator (`bearertokenauth`, `basicauth`) before its body is read:
//! the others are answered UNAUTHENTICATED / 401 and counted in
//! `otelcol_receiver_unauthenticated_requests`. `include_metadata: true` keeps each
//! request's headers with its data (see [`crate::pdata::client`]).
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
//!
//! Exposure: what one client can hold is bounded on both protocols (connections,
//! silent and idle connections, request heads, streams, keepalive; see `limits.rs`),
//! browsers on other origins can be allowed (`cors.rs`), and a failing `accept` (out
//! of file descriptors) backs off and is logged at a bounded rate ([`crate::accept`]).

pub(crate) mod client;
mod config;
pub(crate) mod connections;
mod cors;
mod export_service;
#[doc(hidden)]
pub mod fuzzing;
mod grpc;
pub(crate) mod http;
pub(crate) mod intake;
pub(crate) mod limits;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{check_endpoint, GrpcConfig, HttpConfig, OtlpReceiverConfig, Protocols};
pub use cors::CorsConfig;
pub use intake::{drop_malformed_ids, grpc_status, http_status, Admission, Refused, Rejected};
pub use limits::{KeepaliveConfig, KeepaliveEnforcementPolicy, KeepaliveServerParameters};

use crate::component::auth::AuthConfig;
use crate::component::registry::ReceiverFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Lifecycle, Receiver, ReceiverConfig, ReceiverContext, ReceiverOutputs,
    ServerAuthenticator, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::tls::{ServerTls, ServerTlsSource};
use client::ClientCheck;
use connections::ListenerTls;
use intake::{Intake, Transport};
use limits::ConnectionPolicy;

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
    fn build(
        &self,
        id: &ComponentId,
        outputs: ReceiverOutputs,
        ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError> {
        let authenticator = |auth: &Option<AuthConfig>, path: &str| -> Result<_, BuildError> {
            auth.as_ref()
                .map(|auth| ctx.authenticators.server(&auth.authenticator))
                .transpose()
                .map_err(|e| BuildError::at(path, e))
        };
        let p = &self.protocols;
        let checks = [
            (
                Transport::Grpc,
                p.grpc.as_ref().map(|c| (&c.auth, c.include_metadata)),
                "protocols.grpc.auth.authenticator",
            ),
            (
                Transport::Http,
                p.http.as_ref().map(|c| (&c.auth, c.include_metadata)),
                "protocols.http.auth.authenticator",
            ),
        ];
        let mut clients = Vec::new();
        for (transport, settings, path) in checks {
            let (auth, include_metadata) = settings.unwrap_or((&None, false));
            let authenticator: Option<Arc<dyn ServerAuthenticator>> = authenticator(auth, path)?;
            clients.push(ClientCheck::new(id, transport, authenticator, include_metadata));
        }
        let draining = CancellationToken::new();
        Ok(Arc::new(OtlpReceiver {
            clients: [clients[0].clone(), clients[1].clone()],
            id: id.clone(),
            config: self.clone(),
            outputs,
            admission: Admission::new(draining.clone()),
            draining,
            servers: Mutex::new(JoinSet::new()),
            listeners_closed: Mutex::new(Vec::new()),
        }))
    }

    fn authenticators(&self) -> Vec<(String, String)> {
        let p = &self.protocols;
        [
            (
                "protocols.grpc.auth.authenticator",
                p.grpc.as_ref().and_then(|c| c.auth.as_ref()),
            ),
            (
                "protocols.http.auth.authenticator",
                p.http.as_ref().and_then(|c| c.auth.as_ref()),
            ),
        ]
        .into_iter()
        .filter_map(|(path, auth)| Some((path.to_string(), auth?.authenticator.clone())))
        .collect()
    }
}

/// The running receiver: one gRPC and/or one HTTP server.
pub struct OtlpReceiver {
    id: ComponentId,
    config: OtlpReceiverConfig,
    outputs: ReceiverOutputs,
    /// The client checks of the gRPC and the HTTP transport.
    clients: [Arc<ClientCheck>; 2],
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

/// Binds `endpoint` ([`crate::accept::bind`]: host names resolved, a host-less
/// endpoint on every interface with a warning).
pub(crate) async fn bind(id: &ComponentId, endpoint: &str) -> Result<TcpListener, StartError> {
    crate::accept::bind(&id.to_string(), endpoint)
        .await
        .map_err(|e| StartError::new(id, e))
}

impl Lifecycle for OtlpReceiver {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            // Bind everything before serving anything, so a port in use fails start.
            // TLS files are read before binding, so a bad one fails start.
            let grpc = match &self.config.protocols.grpc {
                Some(c) => Some((
                    self.tls(c.tls.as_ref(), Transport::Grpc)?,
                    bind(&self.id, &c.endpoint).await?,
                    c.max_recv_msg_size_mib * 1024 * 1024,
                    ConnectionPolicy::grpc(&self.id, c),
                )),
                None => None,
            };
            let http = match &self.config.protocols.http {
                Some(c) => Some((
                    self.tls(c.tls.as_ref(), Transport::Http)?,
                    bind(&self.id, &c.endpoint).await?,
                    c.clone(),
                )),
                None => None,
            };
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((tls, listener, max_bytes, policy)) = grpc {
                let intake = self.intake(Transport::Grpc);
                tracing::info!(message = "Serving OTLP/gRPC.", receiver = %self.id, endpoint = %local(&listener), tls = tls.is_some());
                let listener = self.watch_closing(listener, tls);
                servers.spawn(grpc::serve(listener, intake, max_bytes, policy, self.draining.clone()));
            }
            if let Some((tls, listener, config)) = http {
                let intake = self.intake(Transport::Http);
                let draining = self.draining.clone();
                tracing::info!(message = "Serving OTLP/HTTP.", receiver = %self.id, endpoint = %local(&listener), tls = tls.is_some());
                let listener = self.watch_closing(listener, tls);
                let policy = ConnectionPolicy::http(&self.id, &config);
                servers.spawn(async move { http::serve(listener, intake, &config, policy, draining).await });
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
    fn watch_closing(&self, listener: TcpListener, tls: Option<Arc<ListenerTls>>) -> connections::Listener {
        let (closed, on_closed) = oneshot::channel();
        self.listeners_closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(on_closed);
        (listener, closed, tls)
    }

    /// A protocol's TLS, its files read now; ALPN says the protocol's HTTP version.
    fn tls(&self, tls: Option<&ServerTls>, transport: Transport) -> Result<Option<Arc<ListenerTls>>, StartError> {
        let Some(tls) = tls else { return Ok(None) };
        let (alpn, name): (&[u8], _) = match transport {
            Transport::Grpc => (b"h2", "grpc"),
            Transport::Http => (b"http/1.1", "http"),
        };
        let path = format!("protocols.{name}.tls");
        let source = ServerTlsSource::new(tls, &[alpn]).map_err(|e| StartError::new(&self.id, e.under(&path)))?;
        Ok(Some(Arc::new(ListenerTls {
            source,
            failures: metrics::counter!(
                "otelcol_receiver_tls_handshake_failures",
                "receiver" => self.id.to_string(),
                "transport" => name,
            ),
        })))
    }

    fn intake(&self, transport: Transport) -> Arc<Intake> {
        let client = match transport {
            Transport::Grpc => &self.clients[0],
            Transport::Http => &self.clients[1],
        };
        Intake::new(
            &self.id,
            transport,
            self.outputs.clone(),
            self.admission.clone(),
            client.clone(),
        )
    }
}

fn local(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into())
}
