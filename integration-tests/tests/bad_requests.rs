//! Bad input to the OTLP receiver is rejected with the right status, is not
//! forwarded, and does not stop sloop from serving the next valid request.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use integration_tests::payloads::{big_trace_request, trace_request};
use integration_tests::{GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use reqwest::StatusCode;

/// The HTTP receiver's `max_request_body_size` in these tests. Large enough
/// that a 50 MiB gzip bomb (about 50 KiB on the wire) fits under it
/// compressed, so only a bound on the decompressed size can reject it.
const MAX_BODY: usize = 65536;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn config(ports: &SloopPorts, backend: &GrpcBackend) -> String {
    let max_body = format!("max_request_body_size: {MAX_BODY}");
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 100ms
exporters:
  otlp_grpc/a:
    endpoint: {a}
    tls:
      insecure: true
{service}",
        receivers = ports.otlp_receiver_yaml(&["max_recv_msg_size_mib: 1"], &[&max_body]),
        a = backend.endpoint(),
        service = ports.service_yaml(&["batch"], &["otlp_grpc/a"]),
    )
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("building a reqwest client")
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(encoding) = content_encoding {
        request = request.header(reqwest::header::CONTENT_ENCODING, encoding);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} ({content_type}, {content_encoding:?}) failed: {e}"))
}

fn first_span_name(req: &ExportTraceServiceRequest) -> String {
    req.resource_spans[0].scope_spans[0].spans[0].name.clone()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip-compressing in memory");
    encoder.finish().expect("finishing gzip")
}

/// Test state: one sloop, one backend, and the names of the spans that were
/// sent in valid requests (and so must reach the backend).
struct Harness {
    sloop: Sloop,
    ports: SloopPorts,
    backend: GrpcBackend,
    client: reqwest::Client,
    accepted_names: BTreeSet<String>,
    rejected_names: BTreeSet<String>,
}

impl Harness {
    async fn start() -> Self {
        let backend = GrpcBackend::start().await;
        let ports = SloopPorts::new();
        let sloop = Sloop::start(&config(&ports, &backend), &ports).await;
        Harness {
            sloop,
            ports,
            backend,
            client: http_client(),
            accepted_names: BTreeSet::new(),
            rejected_names: BTreeSet::new(),
        }
    }

    fn traces_url(&self) -> String {
        self.ports.http_url("/v1/traces")
    }

    /// Posts `body` and asserts the status.
    async fn expect_status(
        &self,
        what: &str,
        content_type: &str,
        content_encoding: Option<&str>,
        body: Vec<u8>,
        expected: StatusCode,
    ) {
        let resp = post(&self.client, &self.traces_url(), content_type, content_encoding, body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, expected,
            "{what}: expected HTTP {expected}, got {status} (body: {text:?})"
        );
    }

    /// After a bad request: a valid protobuf request still gets 200 and
    /// the process is still alive.
    async fn assert_still_serving(&mut self, after: &str) {
        let req = trace_request(&format!("valid-after-{after}"), 1);
        self.accepted_names.insert(first_span_name(&req));
        let resp = post(&self.client, &self.traces_url(), PROTOBUF, None, req.encode_to_vec()).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "a valid request after {after} was not accepted"
        );
        assert!(self.sloop.is_running(), "sloop died after {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_receiver_rejects_bad_requests_and_keeps_serving() {
    let mut h = Harness::start().await;

    // Malformed protobuf: field 1, length 5, but only 1 byte follows.
    h.expect_status(
        "malformed protobuf",
        PROTOBUF,
        None,
        vec![0x0a, 0x05, 0x01],
        StatusCode::BAD_REQUEST,
    )
    .await;
    h.assert_still_serving("malformed-protobuf").await;

    h.expect_status(
        "invalid JSON",
        JSON,
        None,
        br#"{"resourceSpans": [ {"resource": "#.to_vec(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    h.assert_still_serving("invalid-json").await;

    let plain = trace_request("rejected-text-plain", 1);
    h.rejected_names.insert(first_span_name(&plain));
    h.expect_status(
        "Content-Type: text/plain",
        "text/plain",
        None,
        plain.encode_to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    h.assert_still_serving("text-plain").await;

    let brotli = trace_request("rejected-content-encoding-br", 1);
    h.rejected_names.insert(first_span_name(&brotli));
    h.expect_status(
        "Content-Encoding: br",
        PROTOBUF,
        Some("br"),
        brotli.encode_to_vec(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    h.assert_still_serving("content-encoding-br").await;

    let big = big_trace_request(MAX_BODY + 10_000);
    h.rejected_names.insert(first_span_name(&big));
    let big = big.encode_to_vec();
    assert!(big.len() > MAX_BODY);
    h.expect_status(
        "body larger than max_request_body_size",
        PROTOBUF,
        None,
        big,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    h.assert_still_serving("oversized-body").await;

    // A valid request whose compressed size is tiny but whose decompressed
    // size exceeds the limit.
    let padded = big_trace_request(4 * MAX_BODY);
    h.rejected_names.insert(first_span_name(&padded));
    let padded_gz = gzip(&padded.encode_to_vec());
    assert!(padded_gz.len() < MAX_BODY, "test setup: {}", padded_gz.len());
    h.expect_status(
        "gzip body that decompresses past max_request_body_size",
        PROTOBUF,
        Some("gzip"),
        padded_gz,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    h.assert_still_serving("gzip-oversized").await;

    // Gzip bomb: 50 MiB of zeros, about 50 KiB on the wire.
    let zeros = vec![0u8; 50 * 1024 * 1024];
    let bomb = gzip(&zeros);
    assert!(
        bomb.len() < MAX_BODY,
        "test setup: the gzip bomb must fit under the limit compressed ({} bytes)",
        bomb.len()
    );
    h.expect_status(
        "gzip bomb (50 MiB of zeros)",
        PROTOBUF,
        Some("gzip"),
        bomb,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    h.assert_still_serving("gzip-bomb").await;

    let zstd_bomb = zstd::stream::encode_all(zeros.as_slice(), 3).expect("zstd-compressing");
    drop(zeros);
    assert!(zstd_bomb.len() < MAX_BODY);
    h.expect_status(
        "zstd bomb (50 MiB of zeros)",
        PROTOBUF,
        Some("zstd"),
        zstd_bomb,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    h.assert_still_serving("zstd-bomb").await;

    // Only the valid requests reach the backend.
    let spans = h.backend.wait_for_spans(h.accepted_names.len(), DATA_TIMEOUT).await;
    // Give a wrongly forwarded rejected span a moment to show up too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names: BTreeSet<String> = h.backend.spans().into_iter().map(|s| s.span.name).collect();
    assert_eq!(spans.len(), h.accepted_names.len(), "spans at the backend: {names:?}");
    assert_eq!(names, h.accepted_names);
    assert!(names.is_disjoint(&h.rejected_names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_receiver_answers_in_the_request_encoding() {
    let mut h = Harness::start().await;

    // JSON in, JSON out.
    let req = trace_request("json-request", 2);
    let body = serde_json::to_vec(&req).expect("encoding OTLP/JSON");
    let resp = post(&h.client, &h.traces_url(), JSON, None, body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with(JSON),
        "JSON request answered with content-type {content_type:?}"
    );
    let bytes = resp.bytes().await.expect("reading the JSON response");
    let parsed: Result<ExportTraceServiceResponse, _> = serde_json::from_slice(&bytes);
    assert!(
        parsed.is_ok(),
        "JSON response is not an ExportTraceServiceResponse: {:?}",
        String::from_utf8_lossy(&bytes)
    );

    // Protobuf in, protobuf out; and gzip-encoded protobuf is accepted.
    for encoding in [None, Some("gzip")] {
        let req = trace_request(&format!("protobuf-request-{encoding:?}"), 2);
        let mut body = req.encode_to_vec();
        if encoding.is_some() {
            body = gzip(&body);
        }
        let resp = post(&h.client, &h.traces_url(), PROTOBUF, encoding, body).await;
        assert_eq!(resp.status(), StatusCode::OK, "encoding {encoding:?}");
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with(PROTOBUF),
            "protobuf request answered with content-type {content_type:?}"
        );
        let bytes = resp.bytes().await.expect("reading the protobuf response");
        ExportTraceServiceResponse::decode(bytes.as_ref()).expect("protobuf response is an ExportTraceServiceResponse");
    }

    let spans = h.backend.wait_for_spans(6, DATA_TIMEOUT).await;
    assert_eq!(spans.len(), 6, "all three valid requests are forwarded");
    h.assert_still_serving("encodings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_receiver_rejects_oversized_messages_and_keeps_serving() {
    let mut h = Harness::start().await;
    let mut client = TraceServiceClient::connect(h.ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");

    // max_recv_msg_size_mib: 1, so 2 MiB is too big.
    let big = big_trace_request(2 * 1024 * 1024);
    let big_name = first_span_name(&big);
    assert_grpc_refused(
        client.export(big).await,
        tonic::Code::ResourceExhausted,
        "a 2 MiB gRPC message",
    );

    let valid = trace_request("grpc-valid-after-oversized", 3);
    client
        .export(valid)
        .await
        .expect("a valid gRPC export after an oversized one succeeds");
    assert!(h.sloop.is_running(), "sloop died after an oversized gRPC message");

    let spans = h.backend.wait_for_spans(3, DATA_TIMEOUT).await;
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.span.name != big_name));
    h.assert_still_serving("grpc-oversized").await;
}

/// Asserts that a gRPC call was refused with `expected`.
fn assert_grpc_refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, expected: tonic::Code, what: &str) {
    match result {
        Ok(resp) => panic!("{what} was accepted: {resp:?}"),
        Err(status) => assert_eq!(status.code(), expected, "{what}: {status:?}"),
    }
}

/// A gRPC codec that sends the request bytes as they are, so a test can send a
/// body that is not valid protobuf, and decodes the traces response.
#[derive(Default)]
struct RawRequestCodec;

impl tonic::codec::Codec for RawRequestCodec {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawRequestCodec;
    type Decoder = RawRequestCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawRequestCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawRequestCodec
    }
}

impl tonic::codec::Encoder for RawRequestCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawRequestCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("decoding the response: {e}")))
    }
}

/// Sends `body` as an `ExportTraceServiceRequest` to the gRPC receiver.
async fn export_raw(
    channel: tonic::transport::Channel,
    body: Vec<u8>,
) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the gRPC channel is ready");
    let path = http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    grpc.unary(tonic::Request::new(body), path, RawRequestCodec).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_receiver_answers_invalid_argument_to_malformed_protobuf() {
    let mut h = Harness::start().await;
    let channel = tonic::transport::Channel::from_shared(h.ports.grpc_url())
        .expect("a valid gRPC URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");

    // The raw codec itself works: a valid request sent through it is accepted.
    let valid = trace_request("grpc-raw-valid", 2);
    export_raw(channel.clone(), valid.encode_to_vec())
        .await
        .expect("a valid request sent as raw bytes is accepted");

    // Field 1 (resource_spans), length 5, but only 1 byte follows.
    assert_grpc_refused(
        export_raw(channel.clone(), vec![0x0a, 0x05, 0x01]).await,
        tonic::Code::InvalidArgument,
        "a malformed protobuf body over gRPC",
    );

    let after = trace_request("grpc-valid-after-malformed", 3);
    TraceServiceClient::new(channel)
        .export(after)
        .await
        .expect("a valid gRPC export after a malformed one succeeds");
    assert!(h.sloop.is_running(), "sloop died after a malformed gRPC body");
    let spans = h.backend.wait_for_spans(5, DATA_TIMEOUT).await;
    assert_eq!(spans.len(), 5, "only the valid requests are forwarded");
    h.assert_still_serving("grpc-malformed").await;
}
