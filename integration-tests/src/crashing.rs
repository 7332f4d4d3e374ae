//! An OTLP/gRPC trace backend that can crash and come back on the same port.
//!
//! It runs on a Tokio runtime of its own; [`CrashingGrpcBackend::crash`] drops that
//! runtime, which closes every connection and abandons every request in flight
//! without an answer, as a killed process does. [`CrashingGrpcBackend::restart`]
//! serves again on the same port with the same [`Received`] store. Each request is
//! recorded only once the handler finishes (after an optional delay), so a request
//! cut off by a crash is not recorded: whoever sent it must send it again.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;

use crate::backends::Received;

/// Requests begun and finished, to tell whether a crash cut any off.
#[derive(Default)]
struct Calls {
    begun: AtomicU64,
    finished: AtomicU64,
}

#[derive(Clone)]
struct SlowTraceService {
    received: Received,
    delay: Duration,
    calls: Arc<Calls>,
}

#[tonic::async_trait]
impl TraceService for SlowTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.calls.begun.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.received.push_traces(request.into_inner());
        self.calls.finished.fetch_add(1, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// See the module docs.
pub struct CrashingGrpcBackend {
    address: SocketAddr,
    service: SlowTraceService,
    runtime: Option<tokio::runtime::Runtime>,
}

impl CrashingGrpcBackend {
    /// A backend for `127.0.0.1:port` that answers each request after `delay`.
    /// It is not serving yet: call [`CrashingGrpcBackend::restart`].
    pub fn new(port: u16, delay: Duration) -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            service: SlowTraceService {
                received: Received::default(),
                delay,
                calls: Arc::default(),
            },
            runtime: None,
        }
    }

    /// `127.0.0.1:<port>`, the form sloop's `otlp_grpc` exporter takes.
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// Serves (again) on the port. The listener is bound before this returns.
    ///
    /// # Panics
    /// If the port cannot be bound or the runtime cannot be built.
    pub fn restart(&mut self) {
        self.crash();
        // std sets SO_REUSEADDR on Unix, so the port can be bound again at once
        // although the crashed server's connections linger in TIME_WAIT.
        let runtime = serve_traces_on_own_runtime(self.address, self.service.clone(), "crashing backend");
        self.runtime = Some(runtime);
    }

    /// Drops the server with every connection and request in flight. Returns how
    /// many requests were cut off unanswered.
    pub fn crash(&mut self) -> u64 {
        let Some(runtime) = self.runtime.take() else {
            return 0;
        };
        runtime.shutdown_background();
        let calls = &self.service.calls;
        let cut_off = calls.begun.load(Ordering::SeqCst) - calls.finished.load(Ordering::SeqCst);
        // Count each cut-off request once, however often the backend crashes.
        calls.finished.fetch_add(cut_off, Ordering::SeqCst);
        cut_off
    }

    /// Requests the backend is working on right now.
    pub fn in_flight(&self) -> u64 {
        let calls = &self.service.calls;
        calls.begun.load(Ordering::SeqCst) - calls.finished.load(Ordering::SeqCst)
    }

    /// The recorded requests.
    pub fn received(&self) -> &Received {
        &self.service.received
    }
}

impl Deref for CrashingGrpcBackend {
    type Target = Received;
    fn deref(&self) -> &Received {
        &self.service.received
    }
}

impl Drop for CrashingGrpcBackend {
    fn drop(&mut self) {
        self.crash();
    }
}

/// Binds `address` (before returning) and serves `service` as an OTLP/gRPC trace
/// backend on a Tokio runtime of its own, so that dropping the runtime drops the
/// server with every connection and request in flight: a backend that crashes.
///
/// # Panics
/// If the port cannot be bound or the runtime cannot be built.
pub fn serve_traces_on_own_runtime<S: TraceService>(
    address: SocketAddr,
    service: S,
    label: &'static str,
) -> tokio::runtime::Runtime {
    let listener = std::net::TcpListener::bind(address).unwrap_or_else(|e| panic!("{label}: binding {address}: {e}"));
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{label}: building its runtime: {e}"));
    runtime.spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("{label}: listener: {error}");
                return;
            }
        };
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let server = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(service)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(256 * 1024 * 1024),
            )
            .serve_with_incoming(incoming);
        if let Err(error) = server.await {
            eprintln!("{label}: {error}");
        }
    });
    runtime
}
