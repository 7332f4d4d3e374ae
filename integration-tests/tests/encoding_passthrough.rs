//! A pipeline that changes nothing sends what arrived, byte for byte, instead of
//! encoding the batch again (`sloop::pdata::Encoded`); one with a processor that may
//! change data encodes it again.
//!
//! The observable difference: a request carrying a protobuf field sloop does not
//! know (as a newer OTLP client may send). Decoding drops it and encoding again
//! leaves it out, so a body that still has it at the backend was never re-encoded.

use std::marker::PhantomData;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use integration_tests::backends::HttpBackend;
use integration_tests::payloads::trace_request;
use integration_tests::{Sloop, SloopPorts};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Field 15 of `ExportTraceServiceRequest` (not in the schema), varint 1.
const UNKNOWN_FIELD: [u8; 2] = [15 << 3, 1];

/// A traces request of `n` spans with [`UNKNOWN_FIELD`] appended.
fn body_with_unknown_field(prefix: &str, n: usize) -> Vec<u8> {
    let mut body = trace_request(prefix, n).encode_to_vec();
    body.extend_from_slice(&UNKNOWN_FIELD);
    body
}

/// sloop with `processors` then `batch`, exporting traces uncompressed over
/// OTLP/HTTP to `backend` (so its recorded body length is what sloop sent).
fn config(ports: &SloopPorts, backend: &HttpBackend, processors: &[&str]) -> String {
    let mut chain: Vec<&str> = processors.to_vec();
    chain.push("batch");
    format!(
        "{receivers}processors:
  batch:
    timeout: 50ms
  attributes:
    actions:
      - key: not.there
        action: delete
exporters:
  otlp_http:
    endpoint: {endpoint}
    compression: none
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.url(),
        service = ports.service_yaml(&chain, &["otlp_http"]),
    )
}

/// Sends `body` to sloop's OTLP/HTTP traces endpoint and checks it was accepted.
async fn send_http(ports: &SloopPorts, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(ports.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("sloop answers");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// A tonic codec that sends bytes as they are (the message a client encoded).
#[derive(Default)]
struct RawRequest(PhantomData<()>);

struct RawEncoder;
struct IgnoreResponse;

impl Codec for RawRequest {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawEncoder;
    type Decoder = IgnoreResponse;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> IgnoreResponse {
        IgnoreResponse
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for IgnoreResponse {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        bytes::Buf::advance(src, bytes::Buf::remaining(src));
        Ok(Some(()))
    }
}

/// Sends `body` as an OTLP/gRPC traces export and checks it was accepted.
async fn send_grpc(ports: &SloopPorts, body: Vec<u8>) {
    let channel = tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("endpoint")
        .connect()
        .await
        .expect("connecting to sloop");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    client
        .unary(tonic::Request::new(Bytes::from(body)), path, RawRequest::default())
        .await
        .expect("sloop accepts the export");
}

/// Waits until the backend got `n` requests; their body lengths.
async fn body_lengths(backend: &HttpBackend, sloop: &Sloop, n: usize) -> Vec<usize> {
    let arrived = backend
        .received()
        .wait_until(Duration::from_secs(10), |r| r.http_requests().len() >= n)
        .await;
    assert!(
        arrived,
        "the backend got {:?}\n{}",
        backend.http_requests(),
        sloop.logs()
    );
    backend.http_requests().iter().map(|r| r.body_len).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_requests_are_sent_as_they_arrived_over_grpc_and_http() {
    let backend = HttpBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &backend, &[]), &ports).await;
    let grpc_body = body_with_unknown_field("grpc", 3);
    send_grpc(&ports, grpc_body.clone()).await;
    let sent = body_lengths(&backend, &sloop, 1).await;
    assert_eq!(
        sent,
        vec![grpc_body.len()],
        "over gRPC: the body as it arrived, unknown field included"
    );
    let http_body = body_with_unknown_field("http", 2);
    send_http(&ports, http_body.clone()).await;
    let sent = body_lengths(&backend, &sloop, 2).await;
    assert_eq!(sent[1], http_body.len(), "over HTTP: the body as it arrived");
    // Both spans' data arrived intact.
    let spans = backend.received().wait_for_spans(5, Duration::from_secs(5)).await;
    assert_eq!(spans.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_that_may_change_data_makes_the_batch_encoded_again() {
    let backend = HttpBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &backend, &["attributes"]), &ports).await;
    let body = body_with_unknown_field("changed", 3);
    send_grpc(&ports, body.clone()).await;
    let sent = body_lengths(&backend, &sloop, 1).await;
    // The attribute processor changed nothing, but it does not say so: the batch
    // was decoded and encoded again, which drops the unknown field.
    assert_eq!(sent, vec![body.len() - UNKNOWN_FIELD.len()]);
    let spans = backend.received().wait_for_spans(3, Duration::from_secs(5)).await;
    assert_eq!(spans.len(), 3);
}
