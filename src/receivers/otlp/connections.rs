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
//! ~75 KiB after a large body (~420 KiB before `max_buf_size`), until
//! `read_header_timeout` or `idle_timeout` closes it.
//!
//! What one client may hold is bounded by the protocol's settings
//! ([`super::limits`]): connections beyond `max_connections` are closed at once, a
//! connection silent before its first byte is closed, hyper times request heads
//! (HTTP/1.1) and pings (HTTP/2 `keepalive`), and each connection's own task closes
//! it when it has had no request in flight for its idle limit or reaches its
//! maximum age. When `accept` itself fails (out of file descriptors), the loop backs
//! off and logs as [`crate::accept`] says, and tries again as soon as one of its
//! connections closes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use super::limits::ConnectionPolicy;
use crate::accept::AcceptBackoff;
use crate::tls::ServerTlsSource;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A listener, what tells the receiver it has closed (dropping the sender), and its
/// TLS if it has any.
pub(crate) type Listener = (TcpListener, oneshot::Sender<()>, Option<Arc<ListenerTls>>);

/// Accepts connections on `listener` and serves each with `service` under `policy`,
/// until `draining` is cancelled; then closes the listener and keeps the open
/// connections until they end or this future is dropped (see the module docs).
pub(crate) async fn serve<S, B>(
    (listener, closed, tls): Listener,
    policy: ConnectionPolicy,
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
    let policy = Arc::new(policy);
    let open = policy.open_gauge();
    let mut backoff = AcceptBackoff::new(policy.listener.clone());
    // Set while backing off after a failed accept.
    let mut retry_at: Option<Instant> = None;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = draining.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {
                open.set(connections.len() as f64);
                // A descriptor was freed: an accept that failed for want of one may
                // work now.
                retry_at = None;
            }
            () = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
            accepted = listener.accept(), if retry_at.is_none() => match accepted {
                Ok((tcp, peer)) => {
                    backoff.succeeded();
                    if connections.len() >= policy.max_connections {
                        // Closed at once: the client learns now, and can go elsewhere.
                        drop(tcp);
                        policy.count_closed("max_connections");
                        continue;
                    }
                    // Nagle off, as grpc-go and the Collector do: a response's headers
                    // and trailers go out as separate small writes, and with Nagle the
                    // second waits for the client's delayed ACK (40 ms on Linux). The
                    // benchmark showed it as a p99 of ~48 ms on every export.
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(serve_connection(tcp, peer, tls.clone(), policy.clone(), service.clone()));
                    open.set(connections.len() as f64);
                }
                Err(error) => {
                    let delay = backoff.failed(&error);
                    if !delay.is_zero() {
                        retry_at = Some(Instant::now() + delay);
                    }
                }
            },
        }
    }
    drop((listener, closed, tls));
    while connections.join_next().await.is_some() {}
    open.set(0.0);
}

/// Serves one connection until it ends, or until it has been idle or alive too
/// long; then asks it to close (GOAWAY on HTTP/2; on HTTP/1.1 the connection closes
/// after the response in progress) and gives it `close_grace` to do so.
async fn serve_connection<S, B>(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<ListenerTls>>,
    policy: Arc<ConnectionPolicy>,
    service: S,
) where
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let born = Instant::now();
    if !client_spoke(&tcp, Some(policy.first_byte_timeout)).await {
        // Not a hang-up: the client said nothing for the whole timeout.
        if born.elapsed() >= policy.first_byte_timeout {
            policy.count_closed("silent");
        }
        return;
    }
    let Some(stream) = handshake(tcp, tls.as_deref(), peer).await else {
        return;
    };
    let activity = Arc::new(Activity::new());
    let service = TowerToHyperService::new(Tracked {
        inner: service,
        activity: activity.clone(),
    });
    // Boxed, so that the task a silent connection holds is not sized for hyper's
    // connection.
    let mut connection = Box::pin(policy.builder.serve_connection(TokioIo::new(stream), service));
    let reason = loop {
        let idle_check = policy.idle_timeout.map(|limit| activity.next_check(limit));
        tokio::select! {
            ended = connection.as_mut() => {
                connection_ended(ended, &policy);
                return;
            }
            () = sleep_until(idle_check), if idle_check.is_some() => {
                if policy.idle_timeout.is_some_and(|limit| activity.idle_for() >= limit) {
                    break "idle";
                }
            }
            () = sleep_until(policy.max_age.map(|age| born + age)), if policy.max_age.is_some() => {
                break "max_connection_age";
            }
        }
    };
    policy.count_closed(reason);
    connection.as_mut().graceful_shutdown();
    match policy.close_grace {
        Some(grace) => {
            if let Ok(ended) = tokio::time::timeout(grace, connection).await {
                connection_ended(ended, &policy);
            }
        }
        None => connection_ended(connection.await, &policy),
    }
}

/// Logs and counts how a connection ended.
fn connection_ended(ended: Result<(), BoxError>, policy: &ConnectionPolicy) {
    if let Err(error) = ended {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            policy.count_closed("read_header_timeout");
        }
        tracing::debug!(message = "OTLP connection ended with an error.", listener = %policy.listener, %error);
    }
}

/// Sleeps until `at`, or forever when there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long the connection has had no request in flight (zero while it has one).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.idle_since().elapsed()
    }

    /// When to look again whether the connection has been idle for `limit`: when it
    /// will have been, or, while a request is in flight, `limit` from now.
    fn next_check(&self, limit: Duration) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Instant::now() + limit;
        }
        self.idle_since() + limit
    }

    fn begin(self: &Arc<Self>) -> RequestInFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestInFlight(self.clone())
    }
}

/// A request in flight on a connection; dropped when its response is ready.
struct RequestInFlight(Arc<Activity>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        // Set before the count falls, so a check that sees zero sees the new time.
        *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's service, keeping [`Activity`] up to date.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> tower::Service<R> for Tracked<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_flight = self.activity.begin();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
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
pub(crate) struct ListenerTls {
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
