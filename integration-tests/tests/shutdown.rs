//! Graceful shutdown: data that sloop accepted but still holds in its batch
//! processor (30 s timeout, huge batch size) is flushed to the backends when
//! sloop gets SIGTERM, and sloop then exits 0. No client can hold shutdown past
//! `shutdown_timeout`, and requests on connections still open while sloop
//! drains are answered 503 / UNAVAILABLE with a retry hint.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use integration_tests::payloads::{logs_request, metrics_request, trace_request};
use integration_tests::{free_port, poll_until, port_is_open, GrpcBackend, HttpBackend, Received, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;

const SPANS: usize = 50;
const POINTS: usize = 10;
const LOGS: usize = 30;

/// A batch processor that holds everything (30 s timeout, huge batch size) in
/// front of the exporters in `exporters_yaml` (the `exporters:` entries).
fn batch_config(ports: &SloopPorts, exporters_yaml: &str, exporter_ids: &[&str]) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 30s
    send_batch_size: 100000
exporters:
{exporters_yaml}{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        service = ports.service_yaml(&["batch"], exporter_ids),
    )
}

fn config(ports: &SloopPorts, a: &GrpcBackend, b: &HttpBackend) -> String {
    let exporters = format!(
        "  otlp_grpc/a:\n    endpoint: {a}\n    tls:\n      insecure: true\n  otlp_http/b:\n    endpoint: {b}\n",
        a = a.endpoint(),
        b = b.url(),
    );
    batch_config(ports, &exporters, &["otlp_grpc/a", "otlp_http/b"])
}

fn assert_everything_arrived(label: &str, received: &Received, span_names: &BTreeSet<String>) {
    let spans = received.spans();
    let names: BTreeSet<String> = spans.iter().map(|s| s.span.name.clone()).collect();
    assert_eq!(spans.len(), SPANS, "{label}: span count after shutdown");
    assert_eq!(&names, span_names, "{label}: span names after shutdown");
    assert_eq!(
        received.metric_point_count(),
        POINTS,
        "{label}: metric points after shutdown"
    );
    assert_eq!(received.log_record_count(), LOGS, "{label}: log records after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_pending_batches_and_exits_zero() {
    let backend_a = GrpcBackend::start().await;
    let backend_b = HttpBackend::start().await;
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&config(&ports, &backend_a, &backend_b), &ports).await;

    let channel = Channel::from_shared(ports.grpc_url())
        .expect("a valid gRPC URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let traces = trace_request("shutdown", SPANS);
    let span_names: BTreeSet<String> = traces.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.clone())
        .collect();
    TraceServiceClient::new(channel.clone())
        .export(traces)
        .await
        .expect("sloop accepts the spans");
    MetricsServiceClient::new(channel.clone())
        .export(metrics_request("shutdown", POINTS))
        .await
        .expect("sloop accepts the metric points");
    LogsServiceClient::new(channel.clone())
        .export(logs_request("shutdown", LOGS))
        .await
        .expect("sloop accepts the log records");
    drop(channel);

    // Sanity check that the test means something: with a 30 s batch
    // timeout, nothing has reached the backends yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (label, received) in [
        ("gRPC backend", backend_a.received()),
        ("HTTP backend", backend_b.received()),
    ] {
        assert_eq!(
            (
                received.span_count(),
                received.metric_point_count(),
                received.log_record_count()
            ),
            (0, 0, 0),
            "{label} got data before shutdown; the batch processor should still hold it"
        );
    }

    sloop.sigterm();
    let status = sloop.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "sloop should exit 0 after SIGTERM, got {status}\n{}",
        sloop.logs()
    );

    // Backends record a request before answering it, so once sloop has
    // exited everything it flushed is recorded.
    assert_everything_arrived("gRPC backend", backend_a.received(), &span_names);
    assert_everything_arrived("HTTP backend", backend_b.received(), &span_names);

    for (name, port) in [("gRPC", ports.grpc), ("HTTP", ports.http)] {
        assert!(
            !port_is_open(port),
            "the {name} receiver port {port} is still open after sloop exited"
        );
    }
}

/// The shutdown budget in the tests below: short, so that "exits within
/// shutdown_timeout + 1 s" tells a bounded shutdown from one that waits for
/// clients (hyper's header read timeout alone is 30 s).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// [`batch_config`] with `shutdown_timeout: 3s`.
fn short_shutdown_config(ports: &SloopPorts, exporters_yaml: &str, exporter_ids: &[&str]) -> String {
    let yaml =
        batch_config(ports, exporters_yaml, exporter_ids).replace("shutdown_timeout: 10s", "shutdown_timeout: 3s");
    assert!(
        yaml.contains("shutdown_timeout: 3s"),
        "service_yaml changed its timeout line"
    );
    yaml
}

/// Waits (bounded) for the process to exit after SIGTERM sent at `sent`, and
/// asserts it took less than `SHUTDOWN_TIMEOUT` + 1 s.
async fn assert_exits_within_shutdown_timeout(sloop: &mut Sloop, sent: Instant) -> std::process::ExitStatus {
    let bound = SHUTDOWN_TIMEOUT + Duration::from_secs(1);
    let status = sloop.wait_exit(bound + Duration::from_secs(30)).await;
    let elapsed = sent.elapsed();
    assert!(
        elapsed < bound,
        "sloop took {elapsed:?} to exit after SIGTERM; shutdown_timeout is {SHUTDOWN_TIMEOUT:?}\n{}",
        sloop.logs()
    );
    status
}

/// Bound for every single network read or write the tests do by hand.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(port: u16) -> TcpStream {
    tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connecting in time")
        .unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"))
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) {
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(bytes))
        .await
        .expect("writing in time")
        .expect("writing to sloop");
}

/// Reads until `buffer` holds at least `n` bytes; panics on EOF or timeout.
async fn read_at_least(stream: &mut TcpStream, buffer: &mut Vec<u8>, n: usize, what: &str) {
    while buffer.len() < n {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("{what}: nothing to read within {IO_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{what}: reading: {e}"));
        assert!(read > 0, "{what}: sloop closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// A gRPC (HTTP/2) connection that sends `sent` (at least one byte: sloop starts
/// HTTP/2 when the client speaks) and then nothing more. Returns once sloop's
/// HTTP/2 server has answered with its SETTINGS frame, so the connection is being
/// served, not waiting in the listen backlog.
async fn stalled_grpc_connection(port: u16, sent: &[u8]) -> TcpStream {
    let mut stream = connect(port).await;
    write(&mut stream, sent).await;
    let mut buffer = Vec::new();
    // A frame header is 9 bytes; the type (byte 3) of the first frame is SETTINGS (4).
    read_at_least(&mut stream, &mut buffer, 9, "stalled gRPC connection").await;
    assert_eq!(buffer[3], 4, "the server's first HTTP/2 frame is SETTINGS: {buffer:?}");
    stream
}

/// One HTTP/1.1 response, read by hand.
#[derive(Debug)]
struct Http1Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http1Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 keep-alive connection written and read by hand, so a test
/// knows exactly which connection each request goes on (a client pool would
/// quietly open a new one).
struct Http1Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Http1Connection {
    async fn open(port: u16) -> Self {
        Http1Connection {
            stream: connect(port).await,
            buffer: Vec::new(),
        }
    }

    /// Sends the head of a protobuf `POST /v1/traces` with `extra` header lines.
    async fn send_head(&mut self, content_length: usize, extra: &str) {
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n\
             Content-Length: {content_length}\r\n{extra}\r\n"
        );
        write(&mut self.stream, head.as_bytes()).await;
    }

    async fn post(&mut self, body: &[u8]) -> Http1Response {
        self.send_head(body.len(), "").await;
        write(&mut self.stream, body).await;
        self.read_response().await
    }

    async fn read_response(&mut self) -> Http1Response {
        let end = loop {
            if let Some(i) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.buffer.len() + 1;
            read_at_least(&mut self.stream, &mut self.buffer, n, "HTTP/1.1 response head").await;
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut response = Http1Response {
            status,
            headers,
            body: Vec::new(),
        };
        let length: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a numeric Content-Length"));
        read_at_least(
            &mut self.stream,
            &mut self.buffer,
            end + length,
            "HTTP/1.1 response body",
        )
        .await;
        response.body = self.buffer[end..end + length].to_vec();
        self.buffer.drain(..end + length);
        response
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_shutdown_timeout_despite_stalled_connections() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let exporters = format!(
        "  otlp_grpc/a:\n    endpoint: {}\n    tls:\n      insecure: true\n",
        backend.endpoint()
    );
    let mut sloop = Sloop::start(&short_shutdown_config(&ports, &exporters, &["otlp_grpc/a"]), &ports).await;

    // Connects and sends nothing: sloop answers nothing until the client speaks,
    // but accepts in order, so once the next connection is answered this one is
    // accepted too, not waiting in the listen backlog.
    let _silent = connect(ports.grpc).await;
    // Half the HTTP/2 client preface.
    let _half_preface = stalled_grpc_connection(ports.grpc, b"PRI * HTTP/2.0\r\n").await;

    // A keep-alive connection: one accepted request (held by the batch
    // processor until shutdown), then half of the next request's head.
    let mut half_head = Http1Connection::open(ports.http).await;
    let accepted = trace_request("accepted-before-sigterm", 5);
    let response = half_head.post(&accepted.encode_to_vec()).await;
    assert_eq!(response.status, 200, "a valid request is accepted: {response:?}");
    write(
        &mut half_head.stream,
        b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty",
    )
    .await;

    // A complete head promising 1000 bytes, then 10. `Expect: 100-continue`
    // makes sloop say when its handler starts reading the body.
    let mut half_body = Http1Connection::open(ports.http).await;
    half_body.send_head(1000, "Expect: 100-continue\r\n").await;
    let continue_ = half_body.read_response().await;
    assert_eq!(continue_.status, 100, "the handler reads the body: {continue_:?}");
    write(&mut half_body.stream, &[0x0a; 10]).await;

    sloop.sigterm();
    let sent = Instant::now();
    let status = assert_exits_within_shutdown_timeout(&mut sloop, sent).await;
    assert!(status.success(), "sloop exits 0, got {status}\n{}", sloop.logs());

    // What was accepted before SIGTERM was still flushed to the exporter.
    assert_eq!(
        backend.received().span_count(),
        5,
        "the accepted spans reach the backend during shutdown\n{}",
        sloop.logs()
    );
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`: just enough to read a gRPC status's retry hint.
mod rpc {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<Duration>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// The RetryInfo delay in a gRPC status's details, if any.
fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    let details = rpc::Status::decode(status.details()).ok()?;
    let any = details
        .details
        .iter()
        .find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))?;
    let delay = rpc::RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(
        delay.seconds.try_into().ok()?,
        delay.nanos.try_into().ok()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_open_connections_while_draining_get_unavailable_with_retry_hint() {
    // The exporter's backend refuses connections, so the spans accepted below
    // stay queued and sloop drains until its deadline: a window of about
    // shutdown_timeout in which the receiver is shutting down but still
    // answers on connections that are already open.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let exporters = format!(
        "  otlp_http/dead:\n    endpoint: {dead}\n    retry_on_failure:\n      initial_interval: 100ms\n      \
         max_interval: 200ms\n"
    );
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&short_shutdown_config(&ports, &exporters, &["otlp_http/dead"]), &ports).await;

    let mut http = Http1Connection::open(ports.http).await;
    let body = trace_request("draining", 1).encode_to_vec();
    let response = http.post(&body).await;
    assert_eq!(response.status, 200, "accepted before shutdown: {response:?}");
    let channel = Channel::from_shared(ports.grpc_url())
        .expect("a valid gRPC URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let mut grpc = TraceServiceClient::new(channel);
    grpc.export(trace_request("draining", 1))
        .await
        .expect("accepted before shutdown");

    sloop.sigterm();
    let sent = Instant::now();

    // Until sloop has seen the signal, requests are still accepted; then the
    // answer on the same connection is 503 with Retry-After, and the
    // connection closes.
    let refused = loop {
        let response = http.post(&body).await;
        match response.status {
            200 if sent.elapsed() < SHUTDOWN_TIMEOUT => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => break response,
        }
    };
    assert_eq!(refused.status, 503, "while draining: {refused:?}\n{}", sloop.logs());
    assert_eq!(refused.header("retry-after"), Some("1"), "{refused:?}");
    assert_eq!(refused.header("connection"), Some("close"), "{refused:?}");
    let status = rpc::Status::decode(refused.body.as_slice()).expect("a google.rpc.Status body");
    assert_eq!(status.code, tonic::Code::Unavailable as i32, "{status:?}");

    // The same on the gRPC channel opened before SIGTERM (draining has begun).
    let status = grpc
        .export(trace_request("draining", 1))
        .await
        .expect_err("sloop refuses exports while draining");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}\n{}", sloop.logs());
    assert_eq!(retry_delay(&status), Some(Duration::from_secs(1)), "{status:?}");

    // New connections are refused: the listeners closed when draining began.
    for (name, port) in [("gRPC", ports.grpc), ("HTTP", ports.http)] {
        let closed = poll_until(Duration::from_secs(2), Duration::from_millis(20), || async {
            (!port_is_open(port)).then_some(())
        })
        .await;
        assert!(
            closed.is_some(),
            "the {name} port {port} still accepts connections while draining"
        );
    }
    assert!(
        sloop.is_running(),
        "the test's window closed too early: sloop already exited"
    );
    assert_exits_within_shutdown_timeout(&mut sloop, sent).await;
}
