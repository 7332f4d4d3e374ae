//! `sloop loadgen` end to end: the real binary generates traffic into a real sloop
//! (otlp → batch → otlp_grpc) whose exporter writes to a test backend. Every span
//! loadgen reports as accepted must reach the backend, each with its own span ID.

use std::collections::HashSet;
use std::time::Duration;

use integration_tests::{run_loadgen as loadgen, GrpcBackend, Sloop, SloopPorts};

fn collector_config(ports: &SloopPorts, backend: &GrpcBackend) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 100ms
exporters:
  otlp_grpc:
    endpoint: {endpoint}
    tls:
      insecure: true
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.service_yaml(&["batch"], &["otlp_grpc"]),
    )
}

async fn run_protocol(protocol: &str, extra: &[&str]) {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&collector_config(&ports, &backend), &ports).await;
    let endpoint = match protocol {
        "grpc" => ports.grpc_url(),
        _ => format!("http://127.0.0.1:{}", ports.http),
    };

    let (code, report) = loadgen(
        &[
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--count",
            "20",
            "--spans-per-request",
            "50",
            "--spans-per-trace",
            "5",
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(code, 0, "loadgen exit code; report: {report:#}\n{}", sloop.logs());
    assert_eq!(report["requests_sent"], 20, "{report:#}");
    assert_eq!(report["requests_ok"], 20, "{report:#}");
    assert_eq!(report["requests_failed"], 0, "{report:#}");
    assert_eq!(report["spans_sent"], 1000, "{report:#}");
    assert_eq!(report["spans_accepted"], 1000, "{report:#}");
    assert_eq!(report["protocol"], protocol);
    assert!(
        report["spans_per_second"].as_f64().is_some_and(|r| r > 0.0),
        "{report:#}"
    );
    assert!(
        report["latency_ms"]["p50"].as_f64().is_some_and(|p| p > 0.0),
        "{report:#}"
    );

    let spans = backend.wait_for_spans(1000, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 1000, "backend received {} spans", spans.len());
    let span_ids: HashSet<&[u8]> = spans.iter().map(|s| s.span.span_id.as_slice()).collect();
    assert_eq!(span_ids.len(), 1000, "span IDs are distinct");
    let trace_ids: HashSet<&[u8]> = spans.iter().map(|s| s.span.trace_id.as_slice()).collect();
    assert_eq!(trace_ids.len(), 200, "5 spans per trace");
    drop(sloop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_over_grpc_is_fully_accepted() {
    run_protocol("grpc", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_over_grpc_with_gzip_and_headers_is_fully_accepted() {
    run_protocol("grpc", &["--gzip", "--header", "x-tenant=a", "--concurrency", "2"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_over_http_is_fully_accepted() {
    run_protocol("http", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_over_http_with_gzip_and_rate_is_fully_accepted() {
    // 20 requests of 50 spans at 10 000 spans/s: about 100 ms.
    run_protocol("http", &["--gzip", "--rate", "10000"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_exits_1_when_requests_fail() {
    // Nothing listens on a freshly freed port.
    let port = integration_tests::free_port();
    let (code, report) = loadgen(&[
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--count",
        "2",
        "--timeout",
        "2s",
    ])
    .await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["requests_failed"], 2, "{report:#}");
}
