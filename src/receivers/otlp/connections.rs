//! The accept loop both transports share, with a shutdown that no client can hold up.
//!
//! tonic's `serve_with_incoming_shutdown` and axum's graceful shutdown wait for every
//! connection to close, so one client that connects and sends nothing (or half a
//! header, or half a body) kept sloop alive past `shutdown_timeout`. Here nothing
//! waits for connections:
//!
//! - When draining begins the listener is closed at once (new connections are refused
//!   by the OS), and the receiver's shutdown waits only for that and for requests that
//!   are handing data to the pipelines ([`super::intake::Admission`]), never for a
//!   client's socket.
//! - Open connections linger while the rest of the service drains, so a request on a
//!   keep-alive connection or an open gRPC channel gets an answer (503 with
//!   Retry-After / UNAVAILABLE with RetryInfo) instead of a reset.
//! - They are closed when the receiver is dropped, which in the binary is when the
//!   service has finished shutting down (or the process exits).

use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTP version a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpVersion {
    /// OTLP/HTTP: HTTP/1.1 only, as the axum server sloop used before.
    Http1,
    /// OTLP/gRPC: HTTP/2 only, with tonic's server defaults (no stream limit).
    Http2,
}

/// A hyper connection builder for `version`.
pub(super) fn builder(version: HttpVersion) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    match version {
        HttpVersion::Http1 => {
            // The timer makes hyper enforce its 30 s header read timeout.
            builder = builder.http1_only();
            builder.http1().timer(TokioTimer::new());
        }
        HttpVersion::Http2 => {
            builder = builder.http2_only();
            builder.http2().timer(TokioTimer::new()).max_concurrent_streams(None);
        }
    }
    builder
}

/// A listener and what tells the receiver it has closed: dropping the sender.
pub(super) type Listener = (TcpListener, oneshot::Sender<()>);

/// Accepts connections on `listener` and serves each with `service` until `draining`
/// is cancelled; then closes the listener and keeps the open connections until they
/// end or this future is dropped (see the module docs).
pub(super) async fn serve<S, B>(
    (listener, closed): Listener,
    builder: auto::Builder<TokioExecutor>,
    service: S,
    draining: CancellationToken,
) where
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = draining.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Nagle off, as grpc-go and the Collector do: a response's headers
                    // and trailers go out as separate small writes, and with Nagle the
                    // second waits for the client's delayed ACK (40 ms on Linux). The
                    // benchmark showed it as a p99 of ~48 ms on every export.
                    let _ = tcp.set_nodelay(true);
                    let (builder, service) = (builder.clone(), TowerToHyperService::new(service.clone()));
                    connections.spawn(async move {
                        if let Err(error) = builder.serve_connection(TokioIo::new(tcp), service).await {
                            tracing::debug!(message = "OTLP connection ended with an error.", %error);
                        }
                    });
                }
                // Out of file descriptors and the like: a tight loop would not help.
                Err(error) => {
                    tracing::warn!(message = "Cannot accept a connection.", %error);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop((listener, closed));
    while connections.join_next().await.is_some() {}
}
