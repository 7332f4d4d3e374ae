//! OTLP backends run by the tests, for sloop to export into.
//!
//! * [`GrpcBackend`]: a tonic server implementing the OTLP `TraceService`,
//!   `MetricsService` and `LogsService`, accepting gzip and zstd.
//! * [`HttpBackend`]: an axum server for `POST /v1/traces`, `/v1/metrics`
//!   and `/v1/logs`, accepting protobuf or JSON bodies, optionally gzip or
//!   zstd encoded, answering with an empty `Export*ServiceResponse` in the
//!   request's encoding.
//!
//! Both record every request they accept in a [`Received`] store (reachable
//! through `Deref`), which also flattens the requests into individual spans,
//! metric points and log records ([`FlatSpan`], [`FlatMetricPoint`],
//! [`FlatLogRecord`]).

use std::io::Read;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, ExponentialHistogram, Gauge, Histogram, Metric, Sum, Summary};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;

/// Largest message the test backends accept (sloop may batch a lot).
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How long `stop()` waits for a server to drain before giving up on it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Flattened views
// ---------------------------------------------------------------------------

/// One span together with the resource attributes and instrumentation scope
/// it was sent under. Attribute lists are sorted by key (OTLP attribute
/// order carries no meaning), so two `FlatSpan`s compare equal iff they
/// carry the same data.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatSpan {
    pub resource_attributes: Vec<KeyValue>,
    pub scope: Option<InstrumentationScope>,
    pub span: Span,
}

/// One log record with its resource attributes and scope (attributes sorted
/// by key, as for [`FlatSpan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FlatLogRecord {
    pub resource_attributes: Vec<KeyValue>,
    pub scope: Option<InstrumentationScope>,
    pub record: LogRecord,
}

/// One metric data point: `metric` is the full metric (name, description,
/// unit, type, temporality, monotonicity) with exactly one data point in
/// `metric.data` (attributes sorted by key).
#[derive(Debug, Clone, PartialEq)]
pub struct FlatMetricPoint {
    pub resource_attributes: Vec<KeyValue>,
    pub scope: Option<InstrumentationScope>,
    pub metric: Metric,
}

impl FlatMetricPoint {
    /// The attributes of the single data point.
    pub fn point_attributes(&self) -> &[KeyValue] {
        match &self.metric.data {
            Some(metric::Data::Gauge(g)) => point_attrs(&g.data_points, |p| &p.attributes),
            Some(metric::Data::Sum(s)) => point_attrs(&s.data_points, |p| &p.attributes),
            Some(metric::Data::Histogram(h)) => point_attrs(&h.data_points, |p| &p.attributes),
            Some(metric::Data::ExponentialHistogram(h)) => point_attrs(&h.data_points, |p| &p.attributes),
            Some(metric::Data::Summary(s)) => point_attrs(&s.data_points, |p| &p.attributes),
            None => &[],
        }
    }
}

fn point_attrs<P>(points: &[P], attrs: impl Fn(&P) -> &Vec<KeyValue>) -> &[KeyValue] {
    points.first().map(|p| attrs(p).as_slice()).unwrap_or(&[])
}

fn sort_attrs(attrs: &mut [KeyValue]) {
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
}

fn resource_attrs(resource: &Option<Resource>) -> Vec<KeyValue> {
    let mut attrs = resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default();
    sort_attrs(&mut attrs);
    attrs
}

fn normalize_scope(scope: &Option<InstrumentationScope>) -> Option<InstrumentationScope> {
    scope.clone().map(|mut s| {
        sort_attrs(&mut s.attributes);
        s
    })
}

/// Flattens trace requests into spans (see [`FlatSpan`]).
pub fn flatten_spans(requests: &[ExportTraceServiceRequest]) -> Vec<FlatSpan> {
    let mut out = Vec::new();
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        let resource_attributes = resource_attrs(&rs.resource);
        for ss in &rs.scope_spans {
            let scope = normalize_scope(&ss.scope);
            for span in &ss.spans {
                let mut span = span.clone();
                sort_attrs(&mut span.attributes);
                for event in &mut span.events {
                    sort_attrs(&mut event.attributes);
                }
                for link in &mut span.links {
                    sort_attrs(&mut link.attributes);
                }
                out.push(FlatSpan {
                    resource_attributes: resource_attributes.clone(),
                    scope: scope.clone(),
                    span,
                });
            }
        }
    }
    out
}

/// Flattens log requests into log records (see [`FlatLogRecord`]).
pub fn flatten_logs(requests: &[ExportLogsServiceRequest]) -> Vec<FlatLogRecord> {
    let mut out = Vec::new();
    for rl in requests.iter().flat_map(|r| &r.resource_logs) {
        let resource_attributes = resource_attrs(&rl.resource);
        for sl in &rl.scope_logs {
            let scope = normalize_scope(&sl.scope);
            for record in &sl.log_records {
                let mut record = record.clone();
                sort_attrs(&mut record.attributes);
                out.push(FlatLogRecord {
                    resource_attributes: resource_attributes.clone(),
                    scope: scope.clone(),
                    record,
                });
            }
        }
    }
    out
}

/// Flattens metric requests into one entry per data point (see
/// [`FlatMetricPoint`]).
pub fn flatten_metrics(requests: &[ExportMetricsServiceRequest]) -> Vec<FlatMetricPoint> {
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource_attributes = resource_attrs(&rm.resource);
        for sm in &rm.scope_metrics {
            let scope = normalize_scope(&sm.scope);
            for m in &sm.metrics {
                let mut push = |data: metric::Data| {
                    let mut metadata = m.metadata.clone();
                    sort_attrs(&mut metadata);
                    out.push(FlatMetricPoint {
                        resource_attributes: resource_attributes.clone(),
                        scope: scope.clone(),
                        metric: Metric {
                            name: m.name.clone(),
                            description: m.description.clone(),
                            unit: m.unit.clone(),
                            metadata,
                            data: Some(data),
                        },
                    });
                };
                match &m.data {
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            let mut p = p.clone();
                            sort_attrs(&mut p.attributes);
                            push(metric::Data::Gauge(Gauge { data_points: vec![p] }));
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            let mut p = p.clone();
                            sort_attrs(&mut p.attributes);
                            push(metric::Data::Sum(Sum {
                                data_points: vec![p],
                                aggregation_temporality: s.aggregation_temporality,
                                is_monotonic: s.is_monotonic,
                            }));
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let mut p = p.clone();
                            sort_attrs(&mut p.attributes);
                            push(metric::Data::Histogram(Histogram {
                                data_points: vec![p],
                                aggregation_temporality: h.aggregation_temporality,
                            }));
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let mut p = p.clone();
                            sort_attrs(&mut p.attributes);
                            push(metric::Data::ExponentialHistogram(ExponentialHistogram {
                                data_points: vec![p],
                                aggregation_temporality: h.aggregation_temporality,
                            }));
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            let mut p = p.clone();
                            sort_attrs(&mut p.attributes);
                            push(metric::Data::Summary(Summary { data_points: vec![p] }));
                        }
                    }
                    None => {}
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Recording store
// ---------------------------------------------------------------------------

/// Metadata of one HTTP request received by an [`HttpBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestInfo {
    pub path: String,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// Length of the body as received (before decompression).
    pub body_len: usize,
    /// The status the backend answered with.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    http_requests: Vec<HttpRequestInfo>,
}

/// Everything a backend received. Cloning gives another handle to the same
/// store.
#[derive(Clone, Default)]
pub struct Received {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Received")
            .field("trace_requests", &inner.traces.len())
            .field("metric_requests", &inner.metrics.len())
            .field("log_requests", &inner.logs.len())
            .field("http_requests", &inner.http_requests.len())
            .finish()
    }
}

impl Received {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push_traces(&self, req: ExportTraceServiceRequest) {
        self.lock().traces.push(req);
    }

    pub(crate) fn push_metrics(&self, req: ExportMetricsServiceRequest) {
        self.lock().metrics.push(req);
    }

    pub(crate) fn push_logs(&self, req: ExportLogsServiceRequest) {
        self.lock().logs.push(req);
    }

    fn push_http(&self, info: HttpRequestInfo) {
        self.lock().http_requests.push(info);
    }

    /// All trace requests received so far, in arrival order.
    pub fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.lock().traces.clone()
    }

    /// All metric requests received so far, in arrival order.
    pub fn metric_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.lock().metrics.clone()
    }

    /// All log requests received so far, in arrival order.
    pub fn log_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.lock().logs.clone()
    }

    /// Metadata of every HTTP request (HTTP backend only; empty for gRPC).
    pub fn http_requests(&self) -> Vec<HttpRequestInfo> {
        self.lock().http_requests.clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<FlatSpan> {
        flatten_spans(&self.lock().traces)
    }

    /// Every metric data point received so far.
    pub fn metric_points(&self) -> Vec<FlatMetricPoint> {
        flatten_metrics(&self.lock().metrics)
    }

    /// Every log record received so far.
    pub fn log_records(&self) -> Vec<FlatLogRecord> {
        flatten_logs(&self.lock().logs)
    }

    /// Number of spans received so far.
    pub fn span_count(&self) -> usize {
        self.lock()
            .traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// Number of metric data points received so far.
    pub fn metric_point_count(&self) -> usize {
        flatten_metrics(&self.lock().metrics).len()
    }

    /// Number of log records received so far.
    pub fn log_record_count(&self) -> usize {
        self.lock()
            .logs
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len())
            .sum()
    }

    /// Waits (polling every 50 ms, at most `timeout`) until at least `n`
    /// spans have arrived; returns all spans received by then, which may be
    /// fewer than `n` on timeout: the caller asserts.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<FlatSpan> {
        self.wait_until(timeout, |r| r.span_count() >= n).await;
        self.spans()
    }

    /// Like [`Received::wait_for_spans`], for metric data points.
    pub async fn wait_for_metric_points(&self, n: usize, timeout: Duration) -> Vec<FlatMetricPoint> {
        self.wait_until(timeout, |r| r.metric_point_count() >= n).await;
        self.metric_points()
    }

    /// Like [`Received::wait_for_spans`], for log records.
    pub async fn wait_for_log_records(&self, n: usize, timeout: Duration) -> Vec<FlatLogRecord> {
        self.wait_until(timeout, |r| r.log_record_count() >= n).await;
        self.log_records()
    }

    /// Polls `cond` every 50 ms until it holds or `timeout` passes; returns
    /// whether it held.
    pub async fn wait_until(&self, timeout: Duration, cond: impl Fn(&Received) -> bool) -> bool {
        crate::poll_until(timeout, Duration::from_millis(50), || {
            let ok = cond(self);
            async move { ok.then_some(()) }
        })
        .await
        .is_some()
    }

    /// Forgets everything received so far.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

// ---------------------------------------------------------------------------
// gRPC backend
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct GrpcService {
    received: Received,
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.push_traces(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.received.push_metrics(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.received.push_logs(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// An OTLP/gRPC backend on `127.0.0.1:<free port>` recording every request.
///
/// Dereferences to its [`Received`] store.
pub struct GrpcBackend {
    port: u16,
    received: Received,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl GrpcBackend {
    /// Binds a free loopback port and starts serving on it.
    pub async fn start() -> GrpcBackend {
        Self::start_with_tls(None).await
    }

    /// Like [`GrpcBackend::start`]; with `tls`, the backend speaks TLS with that
    /// config (which may require a client certificate, see
    /// [`crate::certs::Issued::server_config`]).
    pub async fn start_with_tls(tls: Option<Arc<rustls::ServerConfig>>) -> GrpcBackend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the gRPC backend to 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("reading the gRPC backend's local address")
            .port();
        let received = Received::default();
        let svc = GrpcService {
            received: received.clone(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let router = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                MetricsServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                LogsServiceServer::new(svc)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            );
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = match tls {
            None => {
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown))
            }
            Some(config) => tokio::spawn(router.serve_with_incoming_shutdown(tls_incoming(listener, config), shutdown)),
        };
        GrpcBackend {
            port,
            received,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, the form sloop's `otlp_grpc` exporter takes.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`, for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The recorded requests (also reachable through `Deref`).
    pub fn received(&self) -> &Received {
        &self.received
    }

    /// Shuts the server down: the listening socket is closed (new
    /// connections are refused) and open connections are drained, for at
    /// most a few seconds, after which the server task is aborted.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => eprintln!("gRPC backend on port {} failed: {e}", self.port),
                Ok(Err(e)) => eprintln!("gRPC backend task on port {} failed: {e}", self.port),
                Err(_) => {
                    eprintln!(
                        "gRPC backend on port {} did not drain within {STOP_TIMEOUT:?}; aborting",
                        self.port
                    );
                    abort.abort();
                }
            }
        }
    }
}

/// The connections `listener` accepts, after a TLS handshake with `config`; those
/// whose handshake fails (no client certificate) are dropped. One handshake at a
/// time, each bounded, which is enough for a test backend.
fn tls_incoming(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl futures_util::Stream<Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    futures_util::stream::unfold((listener, acceptor), |(listener, acceptor)| async move {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(error) => return Some((Err(error), (listener, acceptor))),
            };
            match tokio::time::timeout(STOP_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return Some((Ok(tls), (listener, acceptor))),
                Ok(Err(error)) => eprintln!("TLS backend refused a handshake: {error}"),
                Err(_) => eprintln!("TLS backend: a handshake timed out"),
            }
        }
    })
}

impl Deref for GrpcBackend {
    type Target = Received;
    fn deref(&self) -> &Received {
        &self.received
    }
}

impl Drop for GrpcBackend {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP backend
// ---------------------------------------------------------------------------

const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
const CONTENT_TYPE_JSON: &str = "application/json";

/// The three OTLP export request types, as the HTTP handler needs them.
trait OtlpRequest: Message + Default + serde::de::DeserializeOwned + Send + 'static {
    type Response: Message + Default + serde::Serialize;
    fn record(self, received: &Received);
}

impl OtlpRequest for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    fn record(self, received: &Received) {
        received.push_traces(self);
    }
}

impl OtlpRequest for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    fn record(self, received: &Received) {
        received.push_metrics(self);
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    fn record(self, received: &Received) {
        received.push_logs(self);
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
}

async fn handle_export<R: OtlpRequest>(
    State(received): State<Received>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let content_encoding = header_str(&headers, header::CONTENT_ENCODING);
    let response = decode_and_record::<R>(&received, content_type.as_deref(), content_encoding.as_deref(), &body);
    received.push_http(HttpRequestInfo {
        path: uri.path().to_string(),
        content_type,
        content_encoding,
        body_len: body.len(),
        status: response.status().as_u16(),
    });
    response
}

fn decode_and_record<R: OtlpRequest>(
    received: &Received,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Response {
    let decoded = match content_encoding {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).map(|_| out)
        }
        Some("zstd") => zstd::stream::decode_all(body),
        Some(other) => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content-encoding {other}"),
            )
                .into_response()
        }
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("decompression failed: {e}")).into_response(),
    };
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    match media_type {
        CONTENT_TYPE_PROTOBUF => match R::decode(decoded.as_slice()) {
            Ok(req) => {
                req.record(received);
                (
                    [(header::CONTENT_TYPE, CONTENT_TYPE_PROTOBUF)],
                    R::Response::default().encode_to_vec(),
                )
                    .into_response()
            }
            Err(e) => (StatusCode::BAD_REQUEST, format!("bad protobuf: {e}")).into_response(),
        },
        CONTENT_TYPE_JSON => match serde_json::from_slice::<R>(&decoded) {
            Ok(req) => {
                req.record(received);
                match serde_json::to_vec(&R::Response::default()) {
                    Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE_JSON)], body).into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }
            Err(e) => (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")).into_response(),
        },
        other => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-type {other:?}"),
        )
            .into_response(),
    }
}

/// An OTLP/HTTP backend on `127.0.0.1:<free port>` recording every request.
///
/// Dereferences to its [`Received`] store; [`Received::http_requests`] also
/// records the content type and encoding sloop used.
pub struct HttpBackend {
    port: u16,
    received: Received,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl HttpBackend {
    /// Binds a free loopback port and starts serving on it.
    pub async fn start() -> HttpBackend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the HTTP backend to 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("reading the HTTP backend's local address")
            .port();
        let received = Received::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(handle_export::<ExportTraceServiceRequest>))
            .route("/v1/metrics", post(handle_export::<ExportMetricsServiceRequest>))
            .route("/v1/logs", post(handle_export::<ExportLogsServiceRequest>))
            .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
            .with_state(received.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(async move { serve.await });
        HttpBackend {
            port,
            received,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (sloop's `otlp_http` exporter appends
    /// `/v1/traces` etc.).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The recorded requests (also reachable through `Deref`).
    pub fn received(&self) -> &Received {
        &self.received
    }

    /// Shuts the server down (bounded, like [`GrpcBackend::stop`]).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Deref for HttpBackend {
    type Target = Received;
    fn deref(&self) -> &Received {
        &self.received
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
