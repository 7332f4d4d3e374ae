//! The graph end to end: stop order across pipelines, and hot reload.
//!
//! * `slo_final_figures_reach_a_metrics_pipeline_that_sorts_first`: the slo
//!   processor sends into `metrics`, which sorts before `traces`; on SIGTERM its
//!   final figures (it emits only hourly) still reach the metrics backend, because
//!   the graph stops pipelines upstream first, not by name.
//! * `reload_under_load_refuses_nothing_and_loses_nothing`: while `sloop loadgen`
//!   streams, the exporter's endpoint changes and sloop gets SIGHUP: no request is
//!   refused, every accepted span reaches one of the two backends, and the SLO
//!   totals on `/api/v1/slos` continue from where they were.
//! * `an_invalid_reload_keeps_the_old_graph_serving`: SIGHUP with a broken config
//!   (and then `--watch-config` with one) is refused with the file and path in the
//!   log, counted, and the old pipelines keep delivering; a valid edit then applies.

use std::collections::HashSet;
use std::time::Duration;

use integration_tests::payloads::trace_request;
use integration_tests::{poll_until, run_loadgen, FlatMetricPoint, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// A config: `otlp` → `sli` (every span good) → `slo` → `otlp_grpc` at `traces_to`;
/// the slo processor's metrics go to `metrics_pipeline: metrics`, whose exporter
/// sends to `metrics_to`.
fn config(ports: &SloopPorts, traces_to: &str, metrics_to: &str, slo_interval: &str) -> String {
    format!(
        "{receivers}processors:
  sli:
    slis: [{{name: every-span, good: 'true'}}]
  slo:
    interval: {slo_interval}
    metrics_pipeline: metrics
    objectives: [{{name: all-spans, sli: every-span, target: 0.99}}]
  batch:
    timeout: 10s
exporters:
  otlp_grpc:
    endpoint: {traces_to}
    tls:
      insecure: true
  otlp_grpc/metrics:
    endpoint: {metrics_to}
    tls:
      insecure: true
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  shutdown_timeout: 10s
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/metrics]
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [otlp_grpc]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

/// The latest cumulative `slo.events` count, over both outcomes.
fn slo_events(points: &[FlatMetricPoint]) -> f64 {
    let mut latest: std::collections::BTreeMap<String, f64> = Default::default();
    for point in points.iter().filter(|p| p.metric.name == "slo.events") {
        let Some(metric::Data::Sum(sum)) = &point.metric.data else {
            continue;
        };
        for data in &sum.data_points {
            let outcome = data
                .attributes
                .iter()
                .find(|kv| kv.key == "slo.outcome")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let value = match data.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                None => 0.0,
            };
            let entry = latest.entry(outcome).or_default();
            *entry = entry.max(value);
        }
    }
    latest.values().sum()
}

/// Runs `sloop loadgen` (bounded) against `endpoint` and returns its JSON report.
async fn loadgen(endpoint: String, args: Vec<String>) -> serde_json::Value {
    let mut all = vec!["--endpoint".to_string(), endpoint];
    all.extend(args);
    run_loadgen(&all).await.1
}

/// `total` of the objective `all-spans` on the status API.
async fn slo_total(ports: &SloopPorts) -> f64 {
    let url = format!("http://127.0.0.1:{}/api/v1/slos/all-spans", ports.telemetry);
    let text = reqwest::get(&url)
        .await
        .expect("GET /api/v1/slos/all-spans")
        .text()
        .await
        .expect("a status body");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    body["total"].as_f64().unwrap_or_else(|| panic!("no total in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_final_figures_reach_a_metrics_pipeline_that_sorts_first() {
    let traces = GrpcBackend::start().await;
    let metrics = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&config(&ports, &traces.endpoint(), &metrics.endpoint(), "1h"), &ports).await;
    let report = loadgen(
        ports.grpc_url(),
        ["--count", "10", "--spans-per-request", "50", "--concurrency", "2"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(report["spans_accepted"], 500, "{report:#}");
    traces.wait_for_spans(500, DATA_TIMEOUT).await;
    // The hourly emission has not come round: whatever arrived so far counts
    // fewer events than were sent.
    assert!(slo_events(&metrics.received().metric_points()) < 500.0);
    sloop.sigterm();
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(status.success(), "{status}\n{}", sloop.logs());
    let counted = poll_until(DATA_TIMEOUT, POLL, || {
        let points = metrics.received().metric_points();
        async move { (slo_events(&points) == 500.0).then_some(()) }
    })
    .await;
    assert!(
        counted.is_some(),
        "the final slo.events figures ({}) did not reach the metrics backend\n{}",
        slo_events(&metrics.received().metric_points()),
        sloop.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_refuses_nothing_and_loses_nothing() {
    let before = GrpcBackend::start().await;
    let after = GrpcBackend::start().await;
    let metrics = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &before.endpoint(), &metrics.endpoint(), "1s"), &ports).await;
    let load = tokio::spawn(loadgen(
        ports.grpc_url(),
        [
            "--duration",
            "6s",
            "--rate",
            "3000",
            "--spans-per-request",
            "50",
            "--concurrency",
            "4",
        ]
        .map(String::from)
        .to_vec(),
    ));
    // Mid-stream: the old backend has data and the SLO has counted some.
    assert!(
        poll_until(DATA_TIMEOUT, POLL, || async {
            (before.received().span_count() >= 1000).then_some(())
        })
        .await
        .is_some(),
        "no data reached the first backend\n{}",
        sloop.logs()
    );
    let counted_before = slo_total(&ports).await;
    assert!(counted_before > 0.0);
    std::fs::write(
        sloop.config_path(0),
        config(&ports, &after.endpoint(), &metrics.endpoint(), "1s"),
    )
    .unwrap();
    sloop.sighup();
    assert!(
        poll_until(DATA_TIMEOUT, POLL, || async {
            (after.received().span_count() > 0).then_some(())
        })
        .await
        .is_some(),
        "after the reload nothing reached the new endpoint\n{}",
        sloop.logs()
    );
    let report = load.await.expect("the loadgen task");
    assert_eq!(
        report["requests_failed"],
        0,
        "a request was refused: {report:#}\n{}",
        sloop.logs()
    );
    let accepted = report["spans_accepted"].as_u64().expect("spans_accepted");
    assert_eq!(Some(accepted), report["spans_sent"].as_u64(), "{report:#}");
    // Every accepted span reached a backend (old or new), each exactly once.
    let delivered = poll_until(DATA_TIMEOUT, POLL, || async {
        let total = before.received().span_count() + after.received().span_count();
        (total as u64 >= accepted).then_some(total)
    })
    .await;
    let mut ids = HashSet::new();
    for span in before.received().spans().iter().chain(after.received().spans().iter()) {
        ids.insert(span.span.span_id.clone());
    }
    assert_eq!(
        ids.len() as u64,
        accepted,
        "distinct spans at the backends vs accepted (delivered: {delivered:?})\n{}",
        sloop.logs()
    );
    // The SLO kept counting across the reload: every accepted span, none twice.
    let total = slo_total(&ports).await;
    assert_eq!(
        total, accepted as f64,
        "the SLO total did not continue across the reload"
    );
    assert!(sloop.logs().contains("Config reloaded"), "{}", sloop.logs());
    assert_eq!(sloop.metric("otelcol_service_config_reloads", &[]).await, 1.0);
}

/// Sends one request of `n` spans over gRPC and expects it accepted.
async fn send(ports: &SloopPorts, tag: &str, n: usize) {
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connecting");
    client.export(trace_request(tag, n)).await.expect("accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_keeps_the_old_graph_serving() {
    let first = GrpcBackend::start().await;
    let second = GrpcBackend::start().await;
    let metrics = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let good = config(&ports, &first.endpoint(), &metrics.endpoint(), "1s");
    let sloop = Sloop::start_with_args(&["--watch-config"], &good, &ports).await;
    let path = sloop.config_path(0);
    let file = path.display().to_string();

    // SIGHUP with a typo in an exporter key.
    std::fs::write(
        &path,
        good.replace(
            "    tls:\n      insecure: true\n  otlp_grpc/metrics",
            "    tsl:\n      insecure: true\n  otlp_grpc/metrics",
        ),
    )
    .unwrap();
    sloop.sighup();
    let failures = poll_until(DATA_TIMEOUT, POLL, || async {
        let n = sloop.metric("otelcol_service_config_reload_failures", &[]).await;
        (n >= 1.0).then_some(n)
    })
    .await;
    assert!(
        failures.is_some(),
        "the failed reload was not counted\n{}",
        sloop.logs()
    );
    let logs = sloop.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("Config reload refused") && l.contains(&file) && l.contains("exporters.otlp_grpc.tsl")),
        "the log names neither the file nor the path\n{logs}"
    );
    send(&ports, "still-served", 7).await;
    first.wait_for_spans(7, DATA_TIMEOUT).await;

    // --watch-config: a broken edit is refused too (a second failure, no SIGHUP)...
    std::fs::write(
        &path,
        good.replace(
            "receivers: [otlp]\n      processors: [sli, slo]",
            "receivers: [otlp]\n      processors: [sli, slo, nope]",
        ),
    )
    .unwrap();
    let failures = poll_until(DATA_TIMEOUT, POLL, || async {
        let n = sloop.metric("otelcol_service_config_reload_failures", &[]).await;
        (n >= 2.0).then_some(n)
    })
    .await;
    assert!(failures.is_some(), "the watched edit was not checked\n{}", sloop.logs());
    send(&ports, "still-served-2", 5).await;
    first.wait_for_spans(12, DATA_TIMEOUT).await;

    // ...and a valid one applies.
    std::fs::write(&path, config(&ports, &second.endpoint(), &metrics.endpoint(), "1s")).unwrap();
    let reloaded = poll_until(DATA_TIMEOUT, POLL, || async {
        (sloop.metric("otelcol_service_config_reloads", &[]).await >= 1.0).then_some(())
    })
    .await;
    assert!(
        reloaded.is_some(),
        "the watched valid edit was not applied\n{}",
        sloop.logs()
    );
    send(&ports, "after-edit", 3).await;
    second.wait_for_spans(3, DATA_TIMEOUT).await;
    assert_eq!(
        first.received().span_count(),
        12,
        "nothing after the edit went to the old endpoint"
    );
}
