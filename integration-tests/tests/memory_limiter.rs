//! The `memory_limiter` processor in the real binary: with a limit far below
//! sloop's own resident memory, every export is refused with a retryable
//! status (gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After),
//! the refusals are counted in `/metrics` and the process keeps serving; with
//! a limit far above it (a percentage of the machine's or cgroup's memory)
//! the same exports reach the backend.

use integration_tests::payloads::{logs_request, metrics_request, trace_request};
use integration_tests::{GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;

const N: usize = 10;
const PROCESSOR: &str = "memory_limiter";

fn config(ports: &SloopPorts, backend: &GrpcBackend, limits: &str) -> String {
    format!(
        "{receivers}\
processors:
  memory_limiter:
    check_interval: 100ms
{limits}
exporters:
  otlp_grpc:
    endpoint: {endpoint}
    tls:
      insecure: true
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.service_yaml(&[PROCESSOR], &["otlp_grpc"]),
    )
}

/// `VmRSS` of `pid` in bytes, read the way sloop reads its own.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("building a reqwest client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_soft_limit_exports_are_refused_retryably_and_counted() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // Hard limit 2 MiB, soft limit 1 MiB: far below any running sloop.
    let limits = "    limit_mib: 2\n    spike_limit_mib: 1";
    let mut sloop = Sloop::start(&config(&ports, &backend, limits), &ports).await;
    let rss = rss_bytes(sloop.pid());
    assert!(
        rss > 2 << 20,
        "the test assumes sloop uses more than 2 MiB; it uses {rss} bytes"
    );

    let channel = tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let status = TraceServiceClient::new(channel.clone())
        .export(trace_request("refused", N))
        .await
        .expect_err("a trace export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        !status.details().is_empty(),
        "RESOURCE_EXHAUSTED without RetryInfo details is not retryable for OTLP clients: {status:?}"
    );
    assert!(status.message().contains("high memory usage"), "{status:?}");

    let status = MetricsServiceClient::new(channel.clone())
        .export(metrics_request("refused", N))
        .await
        .expect_err("a metrics export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let status = LogsServiceClient::new(channel.clone())
        .export(logs_request("refused", N))
        .await
        .expect_err("a logs export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    let response = http_client()
        .post(ports.http_url("/v1/traces"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .body(trace_request("refused-http", N).encode_to_vec())
        .send()
        .await
        .expect("posting to sloop's OTLP/HTTP receiver");
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(retry_after, Some(1), "Retry-After: check_interval rounded up to 1s");

    // Still serving, still refusing (several checks later), and counted.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sloop.is_running(), "sloop died while refusing");
    let status = TraceServiceClient::new(channel)
        .export(trace_request("refused-again", N))
        .await
        .expect_err("accepted after a few checks, still far above the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    let text = sloop.scrape_metrics().await;
    let refused = |name: &str| integration_tests::metric_sum(&text, name, &[("processor", PROCESSOR)]);
    assert_eq!(refused("otelcol_processor_refused_spans"), (3 * N) as f64, "{text}");
    assert_eq!(refused("otelcol_processor_refused_metric_points"), N as f64, "{text}");
    assert_eq!(refused("otelcol_processor_refused_log_records"), N as f64, "{text}");
    assert!(
        refused("otelcol_processor_memory_limiter_rss_bytes") > (1 << 20) as f64,
        "usage gauge\n{text}"
    );
    assert_eq!(backend.span_count(), 0, "refused spans reached the backend");
    assert_eq!(backend.log_record_count(), 0);
    assert_eq!(backend.metric_point_count(), 0);
    let logs = sloop.stderr();
    assert_eq!(
        logs.matches("above the soft limit; refusing data").count(),
        1,
        "the change of state is logged once, not per request:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_soft_limit_exports_are_delivered() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // 90% of the machine's (or the cgroup's) memory, soft limit 70%.
    let limits = "    limit_percentage: 90\n    spike_limit_percentage: 20";
    let sloop = Sloop::start(&config(&ports, &backend, limits), &ports).await;

    let channel = tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    TraceServiceClient::new(channel.clone())
        .export(trace_request("accepted", N))
        .await
        .expect("a trace export below the soft limit was refused");
    LogsServiceClient::new(channel)
        .export(logs_request("accepted", N))
        .await
        .expect("a logs export below the soft limit was refused");
    let response = http_client()
        .post(ports.http_url("/v1/traces"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .body(trace_request("accepted-http", N).encode_to_vec())
        .send()
        .await
        .expect("posting to sloop's OTLP/HTTP receiver");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    assert_eq!(backend.wait_for_spans(2 * N, DATA_TIMEOUT).await.len(), 2 * N);
    assert_eq!(backend.wait_for_log_records(N, DATA_TIMEOUT).await.len(), N);
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        integration_tests::metric_sum(&text, "otelcol_processor_refused_spans", &[("processor", PROCESSOR)]),
        0.0,
        "{text}"
    );
    assert!(!sloop.stderr().contains("refusing data"), "{}", sloop.stderr());
}
