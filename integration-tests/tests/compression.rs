//! Exporter compression end to end: a real sloop sends one batch through
//! otlp_http and otlp_grpc exporters with zstd and gzip at configured levels;
//! the backends see the encodings they were promised and decode every span. A
//! level the compression cannot take stops sloop with the key's path.

use std::time::Duration;

use integration_tests::payloads::trace_request;
use integration_tests::{GrpcBackend, HttpBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use prost::Message;

const SPANS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporters_send_zstd_and_gzip_at_their_levels_and_backends_decode_them() {
    let http_zstd = HttpBackend::start().await;
    let http_gzip = HttpBackend::start().await;
    let grpc_zstd = GrpcBackend::start().await;
    let grpc_gzip = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:\n  \
         otlp_http/zstd:\n    endpoint: {http_zstd}\n    compression: zstd\n    compression_params: {{level: 9}}\n  \
         otlp_http/gzip:\n    endpoint: {http_gzip}\n    compression: gzip\n    compression_params: {{level: 9}}\n  \
         otlp_grpc/zstd:\n    endpoint: {grpc_zstd}\n    tls: {{insecure: true}}\n    compression: zstd\n    compression_params: {{level: 9}}\n  \
         otlp_grpc/gzip:\n    endpoint: {grpc_gzip}\n    tls: {{insecure: true}}\n    compression: gzip\n    compression_params: {{level: 6}}\n\
         {service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        http_zstd = http_zstd.url(),
        http_gzip = http_gzip.url(),
        grpc_zstd = grpc_zstd.endpoint(),
        grpc_gzip = grpc_gzip.endpoint(),
        service = ports.service_yaml(&[], &["otlp_http/zstd", "otlp_http/gzip", "otlp_grpc/zstd", "otlp_grpc/gzip"]),
    );
    let _sloop = Sloop::start(&yaml, &ports).await;
    let status = reqwest::Client::new()
        .post(ports.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(trace_request("compressed", SPANS).encode_to_vec())
        .send()
        .await
        .expect("posting")
        .status();
    assert_eq!(status.as_u16(), 200);
    for backend in [&http_zstd, &http_gzip] {
        assert_eq!(backend.wait_for_spans(SPANS, DATA_TIMEOUT).await.len(), SPANS);
    }
    for backend in [&grpc_zstd, &grpc_gzip] {
        assert_eq!(backend.wait_for_spans(SPANS, DATA_TIMEOUT).await.len(), SPANS);
    }
    let encodings = |backend: &HttpBackend| -> Vec<Option<String>> {
        backend
            .http_requests()
            .into_iter()
            .map(|r| r.content_encoding)
            .collect()
    };
    assert_eq!(encodings(&http_zstd), vec![Some("zstd".to_string())]);
    assert_eq!(encodings(&http_gzip), vec![Some("gzip".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_level_out_of_range_stops_sloop_with_the_key_path() {
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:\n  otlp_grpc:\n    endpoint: 127.0.0.1:4317\n    compression: gzip\n    \
         compression_params: {{level: 12}}\n{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        service = ports.service_yaml(&[], &["otlp_grpc"]),
    );
    let mut sloop = Sloop::spawn(&["validate"], &[&yaml]);
    let status = sloop.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success());
    let logs = sloop.logs();
    assert!(
        logs.contains("exporters.otlp_grpc.compression_params.level"),
        "the error names the key: {logs}"
    );
}
