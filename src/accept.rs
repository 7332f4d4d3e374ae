//! What every listener does when `accept` fails: wait, longer each time, and say so at
//! a bounded rate.
//!
//! `accept` fails when the process (EMFILE) or the system (ENFILE) is out of file
//! descriptors, or the kernel out of memory (ENOBUFS, ENOMEM). The connection that
//! could not be accepted stays in the backlog, so the listener is ready again at
//! once, and retrying at once is a busy loop: tonic's accept loop does exactly that
//! with a trace-level message, which is the 98% CPU with nothing logged of issue 13.
//! Every sloop listener (the OTLP receiver's, the health check's, the self-metrics
//! one) instead:
//!
//! - waits [`FIRST_DELAY`] after the first failure, doubling up to [`MAX_DELAY`], and
//!   starts over after an accept succeeds (the OTLP receiver also tries again as
//!   soon as one of its own connections closes, since that freed a descriptor);
//! - logs the first failure at once, then at most once per [`LOG_INTERVAL`] with the
//!   number of failures since the last line, and one line when accepting works again;
//! - counts every failure in `sloop_listener_accept_errors{listener}`.
//!
//! Errors that concern only the connection being accepted (it was reset or aborted
//! before `accept` returned) are not failures of the listener: the next accept is
//! tried at once, and a busy loop cannot come of it since each consumed a connection.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Opens the listener for a configured `host:port` endpoint, resolving a host name
/// (`localhost`) first and taking the first address that binds.
///
/// A host-less endpoint (`:4317`, common in Collector configs) means every
/// interface, as it does in Go: it binds `0.0.0.0` and logs a warning naming
/// `listener`, since the port is then reachable from beyond this host. Errors say
/// what could not be resolved or bound.
pub async fn bind(listener: &str, endpoint: &str) -> Result<TcpListener, String> {
    let endpoint = listen_address_logged(listener, endpoint);
    let addresses = tokio::net::lookup_host(endpoint.as_ref())
        .await
        .map_err(|e| format!("cannot resolve {endpoint}: {e}"))?;
    let mut last_error = None;
    for address in addresses {
        match listen(address) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(format!("cannot listen on {address}: {e}")),
        }
    }
    Err(last_error.unwrap_or_else(|| format!("{endpoint} resolved to no address")))
}

/// The accept backlog every listener asks for (the kernel caps it at
/// `net.core.somaxconn`). Go's listeners, and so the Collector's, ask for somaxconn
/// (4096 on current Linux); std's and tokio's `bind` ask for 128, which made a burst
/// of 5,000 connects wait on SYN retransmissions, seconds each, while sloop had
/// capacity to spare.
pub const BACKLOG: u32 = 4096;

/// A listening socket on `address` with [`BACKLOG`], and `SO_REUSEADDR` as std's
/// `bind` sets it on Unix (a restart can listen again while old connections are in
/// TIME_WAIT). For listeners whose address is already resolved; [`bind`] resolves
/// an endpoint first.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// [`listen_address`], logging the warning [`bind`] logs, for listeners bound
/// another way.
pub fn listen_address_logged<'a>(listener: &str, endpoint: &'a str) -> Cow<'a, str> {
    let address = listen_address(endpoint);
    if let Cow::Owned(every) = &address {
        tracing::warn!(
            message = "Endpoint has no host; listening on every interface.",
            listener = %listener,
            endpoint = %every,
        );
    }
    address
}

/// `endpoint` with an empty host replaced by `0.0.0.0` (every IPv4 interface).
pub fn listen_address(endpoint: &str) -> Cow<'_, str> {
    match endpoint.strip_prefix(':') {
        Some(port) => Cow::Owned(format!("0.0.0.0:{port}")),
        None => Cow::Borrowed(endpoint),
    }
}

/// The wait after the first failure in a row.
pub const FIRST_DELAY: Duration = Duration::from_millis(5);
/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(1);
/// At most one log line per this interval while failures go on.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The accept-failure state of one listener.
#[derive(Debug)]
pub struct AcceptBackoff {
    listener: String,
    /// The wait after the next failure.
    next_delay: Duration,
    /// When the last line was logged.
    last_logged: Option<Instant>,
    /// Failures since the last line.
    unlogged: u64,
    /// Failures since the last line saying accepts work again.
    failures: u64,
    errors: metrics::Counter,
}

impl AcceptBackoff {
    /// The state for the listener called `listener` in logs and metrics
    /// (`otlp/grpc`, `health_check`, `telemetry`, ...).
    pub fn new(listener: impl Into<String>) -> Self {
        let listener = listener.into();
        let errors = metrics::counter!("sloop_listener_accept_errors", "listener" => listener.clone());
        Self {
            listener,
            next_delay: FIRST_DELAY,
            last_logged: None,
            unlogged: 0,
            failures: 0,
            errors,
        }
    }

    /// Records that an accept succeeded: the next failure waits [`FIRST_DELAY`] again.
    /// Says so if failures were logged, within the same bound on log lines (accepts
    /// can succeed and fail in turn while descriptors come and go).
    pub fn succeeded(&mut self) {
        if self.failures > 0 && self.may_log(Instant::now()) {
            tracing::warn!(
                message = "Accepting connections again.",
                listener = %self.listener,
                failures = self.failures,
            );
            self.unlogged = 0;
            self.failures = 0;
        }
        self.next_delay = FIRST_DELAY;
    }

    /// Whether a line may be logged at `now`; if so, it counts as logged.
    fn may_log(&mut self, now: Instant) -> bool {
        let may = self.last_logged.is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL);
        if may {
            self.last_logged = Some(now);
        }
        may
    }

    /// Records that an accept failed with `error`: how long to wait before the next
    /// attempt (zero for an error that concerns only the connection being accepted).
    pub fn failed(&mut self, error: &io::Error) -> Duration {
        if concerns_one_connection(error) {
            tracing::debug!(message = "A connection failed before it was accepted.", listener = %self.listener, %error);
            return Duration::ZERO;
        }
        self.errors.increment(1);
        self.failures += 1;
        self.unlogged += 1;
        let delay = self.next_delay;
        if self.may_log(Instant::now()) {
            // `unlogged - 1`: the failure this line reports is not one of the others.
            tracing::error!(
                message = "Cannot accept connections; backing off.",
                listener = %self.listener,
                %error,
                retry_in = ?delay,
                failures_since_last_report = self.unlogged - 1,
            );
            self.unlogged = 0;
        }
        self.next_delay = (delay * 2).min(MAX_DELAY);
        delay
    }
}

/// Whether `error` concerns only the connection `accept` was returning, not the
/// listener (the list hyper 0.14 and axum use).
fn concerns_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// A TCP listener for `axum::serve` that backs off and logs as the module docs say.
/// (axum's own `Listener` for `TcpListener` waits a fixed second and logs only with
/// its `tracing` feature, which sloop does not enable.)
pub struct BackingOffListener {
    listener: TcpListener,
    backoff: AcceptBackoff,
}

impl BackingOffListener {
    /// Wraps `listener`, named `name` in logs and metrics.
    pub fn new(listener: TcpListener, name: impl Into<String>) -> Self {
        Self {
            listener,
            backoff: AcceptBackoff::new(name),
        }
    }
}

impl axum::serve::Listener for BackingOffListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    self.backoff.succeeded();
                    return accepted;
                }
                Err(error) => {
                    let delay = self.backoff.failed(&error);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    /// A burst of connects that sloop has not accepted yet completes: the kernel
    /// queues them. With std's backlog of 128 the kernel drops the SYNs beyond it, and
    /// as nothing accepts here the queue never drains, so those connects never
    /// complete: the timeout only ends them, it measures no speed.
    #[tokio::test]
    async fn a_burst_of_600_connects_is_queued_without_accepting() {
        let listener = bind("test", "127.0.0.1:0").await.expect("binding loopback");
        let address = listener.local_addr().expect("the bound address");
        let connected = tokio::task::spawn_blocking(move || {
            (0..600)
                .map(|i| {
                    std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))
                        .unwrap_or_else(|e| panic!("connect {i} to a listener that has not accepted: {e}"))
                })
                .collect::<Vec<_>>()
        })
        .await
        .expect("the connects");
        assert_eq!(connected.len(), 600);
        drop(listener);
    }

    #[test]
    fn waits_grow_from_5ms_to_1s_and_start_over_after_a_success() {
        let mut backoff = AcceptBackoff::new("test");
        let waits: Vec<_> = (0..10).map(|_| backoff.failed(&emfile())).collect();
        assert_eq!(waits[0], Duration::from_millis(5));
        assert_eq!(waits[1], Duration::from_millis(10));
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(waits[9], MAX_DELAY);
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile()), FIRST_DELAY);
    }

    #[test]
    fn a_reset_connection_is_retried_at_once() {
        let mut backoff = AcceptBackoff::new("test");
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&reset), Duration::ZERO);
        // and does not count towards the back-off.
        assert_eq!(backoff.failed(&emfile()), FIRST_DELAY);
    }

    #[test]
    fn failures_within_a_second_are_counted_not_logged() {
        let mut backoff = AcceptBackoff::new("test");
        backoff.failed(&emfile());
        assert_eq!(backoff.unlogged, 0, "the first failure is logged at once");
        for _ in 0..50 {
            backoff.failed(&emfile());
        }
        assert_eq!(backoff.unlogged, 50, "later ones wait for the next line");
        backoff.last_logged = Some(Instant::now() - LOG_INTERVAL);
        backoff.failed(&emfile());
        assert_eq!(backoff.unlogged, 0, "a second later, one line reports them");
    }
}
