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
//!
//! Memory per idle connection (live heap, as `memory_limiter` counts it): one that
//! has sent nothing holds ~1 KiB, on either port (it held ~30 KiB on gRPC and ~19 KiB
//! on HTTP, the buffers hyper allocates up front; it now gets them with its first
//! byte, see [`client_spoke`]). After the HTTP/2 preface it holds ~31 KiB, fixed
//! in h2 (16 KiB write, 8 KiB read, 4 KiB HPACK buffers), so 10,000 open gRPC
//! channels need ~300 MiB; an idle HTTP/1.1 keep-alive connection holds ~20 KiB, or
//! ~75 KiB after a large body (~420 KiB before `max_buf_size`), until hyper's 30 s
//! header read timeout closes it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use crate::tls::ServerTlsSource;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTP version a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpVersion {
    /// OTLP/HTTP: HTTP/1.1 only, as the axum server sloop used before.
    Http1,
    /// OTLP/gRPC: HTTP/2 only, with tonic's server defaults (no stream limit).
    Http2,
}

/// How long hyper waits for a request head on an HTTP/1.1 connection (its default,
/// set here so that the wait for a connection's first byte can use it too).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most an HTTP/1.1 connection's read buffer may grow to (hyper's default is
/// 408 KiB). The buffer grows while a large body is read and keeps its size while
/// the connection is idle on keep-alive; 64 KiB reads still take a body of several
/// MiB at full speed.
const HTTP1_MAX_BUF_SIZE: usize = 64 * 1024;

impl HttpVersion {
    /// A hyper connection builder for this version.
    fn builder(self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        match self {
            HttpVersion::Http1 => {
                // The timer makes hyper enforce the header read timeout.
                builder = builder.http1_only();
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .max_buf_size(HTTP1_MAX_BUF_SIZE);
            }
            HttpVersion::Http2 => {
                builder = builder.http2_only();
                builder.http2().timer(TokioTimer::new()).max_concurrent_streams(None);
            }
        }
        builder
    }

    /// How long a connection may stay silent before its first byte: what hyper
    /// allows before the first request head on HTTP/1.1; no limit on HTTP/2, where
    /// hyper has none either (an idle gRPC channel is normal).
    fn first_byte_timeout(self) -> Option<Duration> {
        match self {
            HttpVersion::Http1 => Some(HEADER_READ_TIMEOUT),
            HttpVersion::Http2 => None,
        }
    }
}

/// A listener, what tells the receiver it has closed (dropping the sender), and its
/// TLS if it has any.
pub(super) type Listener = (TcpListener, oneshot::Sender<()>, Option<Arc<ListenerTls>>);

/// Accepts connections on `listener` and serves each with `service`, speaking
/// `version`, until `draining` is cancelled; then closes the listener and keeps the
/// open connections until they end or this future is dropped (see the module docs).
pub(super) async fn serve<S, B>(
    (listener, closed, tls): Listener,
    version: HttpVersion,
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
    let builder = Arc::new(version.builder());
    let first_byte_timeout = version.first_byte_timeout();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = draining.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Nagle off, as grpc-go and the Collector do: a response's headers
                    // and trailers go out as separate small writes, and with Nagle the
                    // second waits for the client's delayed ACK (40 ms on Linux). The
                    // benchmark showed it as a p99 of ~48 ms on every export.
                    let _ = tcp.set_nodelay(true);
                    let (builder, service) = (builder.clone(), TowerToHyperService::new(service.clone()));
                    let tls = tls.clone();
                    connections.spawn(async move {
                        if !client_spoke(&tcp, first_byte_timeout).await {
                            return;
                        }
                        let Some(stream) = handshake(tcp, tls.as_deref(), peer).await else {
                            return;
                        };
                        // Boxed, so that the task a silent connection holds is not
                        // sized for hyper's connection.
                        let connection = Box::pin(builder.serve_connection(TokioIo::new(stream), service));
                        if let Err(error) = connection.await {
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
    drop((listener, closed, tls));
    while connections.join_next().await.is_some() {}
}

/// Waits until the client has sent its first byte (or `timeout` passes): whether
/// it did. hyper is given a connection only then.
///
/// hyper allocates a connection's buffers when it is created, before any byte is
/// read: h2's codec holds a 16 KiB write buffer, an 8 KiB read buffer and a 4 KiB
/// HPACK buffer (all fixed in h2, no setting changes them), and HTTP/1.1 an 8 KiB
/// header buffer plus an 8 KiB read buffer. Waiting for a byte allocates nothing,
/// so a connection that says nothing holds only its task and socket (~1 KiB).
/// HTTP/1.1 and HTTP/2 clients speak first, so no client waits for this.
async fn client_spoke(tcp: &TcpStream, timeout: Option<Duration>) -> bool {
    // Peeking leaves the byte for hyper. Not `readable()`: tokio marks an accepted
    // socket readable before anything arrives, so it returns at once.
    let mut first_byte = [0; 1];
    let peeked = tcp.peek(&mut first_byte);
    let peeked = match timeout {
        Some(limit) => tokio::time::timeout(limit, peeked).await.ok(),
        None => Some(peeked.await),
    };
    // Not within the timeout, a hang-up (0 bytes) or a reset: nothing to serve.
    matches!(peeked, Some(Ok(1..)))
}

/// A listener's TLS: its config (reloaded from files) and a count of failed
/// handshakes.
pub(super) struct ListenerTls {
    /// The current rustls config.
    pub source: ServerTlsSource,
    /// `otelcol_receiver_tls_handshake_failures`.
    pub failures: metrics::Counter,
}

/// The longest a TLS handshake may take once the client has spoken.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// With TLS on the listener, the TLS handshake (bounded by [`HANDSHAKE_TIMEOUT`],
/// failures logged at debug with the peer and counted); without, the connection as
/// it is. `None`: nothing to serve.
async fn handshake(
    tcp: TcpStream,
    tls: Option<&ListenerTls>,
    peer: SocketAddr,
) -> Option<Either<tokio_rustls::server::TlsStream<TcpStream>, TcpStream>> {
    let Some(tls) = tls else {
        return Some(Either::Right(tcp));
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.source.acceptor().accept(tcp)).await {
        Ok(Ok(stream)) => return Some(Either::Left(stream)),
        Ok(Err(error)) => tracing::debug!(message = "TLS handshake failed.", %peer, %error),
        Err(_) => tracing::debug!(message = "TLS handshake timed out.", %peer, timeout = ?HANDSHAKE_TIMEOUT),
    }
    tls.failures.increment(1);
    None
}
