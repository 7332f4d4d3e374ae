//! Graceful shutdown: data that sloop accepted but still holds in its batch
//! processor (30 s timeout, huge batch size) is flushed to the backends when
//! sloop gets SIGTERM, and sloop then exits 0.

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::payloads::{logs_request, metrics_request, trace_request};
use integration_tests::{port_is_open, GrpcBackend, HttpBackend, Received, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::transport::Channel;

const SPANS: usize = 50;
const POINTS: usize = 10;
const LOGS: usize = 30;

fn config(ports: &SloopPorts, a: &GrpcBackend, b: &HttpBackend) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 30s
    send_batch_size: 100000
exporters:
  otlp_grpc/a:
    endpoint: {a}
    tls:
      insecure: true
  otlp_http/b:
    endpoint: {b}
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        a = a.endpoint(),
        b = b.url(),
        service = ports.service_yaml(&["batch"], &["otlp_grpc/a", "otlp_http/b"]),
    )
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
