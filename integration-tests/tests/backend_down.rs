//! One of two exporters' backends is down: the other backend still gets
//! every span, and sloop's self-metrics count the failed exporter's spans as
//! `send_failed` once its retries run out (`max_elapsed_time: 1s`).

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::payloads::trace_request;
use integration_tests::{metric_sum, poll_until, port_is_open, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

const EXPORTER_A: &str = "otlp_grpc/a";
const EXPORTER_B: &str = "otlp_grpc/b";
const REQUESTS: usize = 5;
const SPANS_PER_REQUEST: usize = 20;
const N: usize = REQUESTS * SPANS_PER_REQUEST;

fn config(ports: &SloopPorts, a: &GrpcBackend, b: &GrpcBackend) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 100ms
exporters:
  {EXPORTER_A}:
    endpoint: {a}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 1s
  {EXPORTER_B}:
    endpoint: {b}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 10s
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        a = a.endpoint(),
        b = b.endpoint(),
        service = ports.service_yaml(&["batch"], &[EXPORTER_A, EXPORTER_B]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_backend_gets_everything_and_failures_are_counted() {
    let mut backend_a = GrpcBackend::start().await;
    let backend_b = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&config(&ports, &backend_a, &backend_b), &ports).await;

    backend_a.stop().await;
    assert!(
        !port_is_open(backend_a.port()),
        "backend A still accepts connections after stop()"
    );

    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let mut expected_names = BTreeSet::new();
    for r in 0..REQUESTS {
        let request = trace_request(&format!("down-{r}"), SPANS_PER_REQUEST);
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                expected_names.extend(ss.spans.iter().map(|s| s.name.clone()));
            }
        }
        client
            .export(request)
            .await
            .unwrap_or_else(|status| panic!("sloop refused request {r} while one backend is down: {status:?}"));
    }
    assert_eq!(expected_names.len(), N);

    // Backend B receives all N spans.
    let spans = backend_b.wait_for_spans(N, DATA_TIMEOUT).await;
    let names: BTreeSet<String> = spans.iter().map(|s| s.span.name.clone()).collect();
    assert_eq!(
        spans.len(),
        N,
        "backend B should receive every span exactly once (got names {names:?})"
    );
    assert_eq!(names, expected_names);

    // A's retries give up after ~1 s; every span it could not deliver is
    // counted as send_failed, and B's are all counted as sent.
    let text = poll_until(DATA_TIMEOUT, Duration::from_millis(200), || async {
        let text = sloop.scrape_metrics().await;
        let failed_a = metric_sum(&text, "otelcol_exporter_send_failed_spans", &[("exporter", EXPORTER_A)]);
        let sent_b = metric_sum(&text, "otelcol_exporter_sent_spans", &[("exporter", EXPORTER_B)]);
        (failed_a >= N as f64 && sent_b >= N as f64).then_some(text)
    })
    .await;
    let text = match text {
        Some(text) => text,
        None => sloop.scrape_metrics().await,
    };
    let failed_a = metric_sum(&text, "otelcol_exporter_send_failed_spans", &[("exporter", EXPORTER_A)]);
    assert!(
        failed_a > 0.0,
        "otelcol_exporter_send_failed_spans{{exporter=\"{EXPORTER_A}\"}} should be > 0\n{text}"
    );
    assert_eq!(
        failed_a, N as f64,
        "every span A could not deliver should be counted once as send_failed\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "otelcol_exporter_sent_spans", &[("exporter", EXPORTER_A)]),
        0.0,
        "nothing can have been sent to the stopped backend A\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "otelcol_exporter_sent_spans", &[("exporter", EXPORTER_B)]),
        N as f64,
        "otelcol_exporter_sent_spans{{exporter=\"{EXPORTER_B}\"}}\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "otelcol_exporter_send_failed_spans", &[("exporter", EXPORTER_B)]),
        0.0,
        "{text}"
    );
    assert_eq!(
        metric_sum(&text, "otelcol_receiver_accepted_spans", &[("receiver", "otlp")]),
        N as f64,
        "the receiver accepted every span\n{text}"
    );
    assert_eq!(backend_a.span_count(), 0);
    assert!(sloop.is_running(), "sloop died while a backend was down");
}
