//! `service.telemetry` in the Collector's dialect, against the real binary: two
//! `pull` readers serve the self-metrics on their own ports (each with its own
//! Prometheus options), `periodic` readers push them as OTLP over gRPC and over
//! HTTP/protobuf with the resource of `service.telemetry.resource`, and the Helm
//! chart's `service.telemetry` block (with `${env:MY_POD_IP}`) runs as it is.

use std::time::Duration;

use integration_tests::backends::FlatMetricPoint;
use integration_tests::payloads::trace_request;
use integration_tests::{free_port, metric_sum, poll_until, GrpcBackend, HttpBackend, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);
const SPANS: usize = 7;

/// The `receivers`, `exporters` and `extensions` sections, and the start of
/// `service` (a traces pipeline to `debug`), for `telemetry` to follow.
fn config(ports: &SloopPorts, telemetry: &str) -> String {
    format!(
        "{receivers}exporters:
  debug:
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
  telemetry:
{telemetry}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        health = ports.health,
    )
}

async fn send_spans(ports: &SloopPorts) {
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop");
    client
        .export(trace_request("self-telemetry", SPANS))
        .await
        .expect("sloop accepts the spans");
}

async fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let response = reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    response.text().await.expect("reading /metrics")
}

/// Scrapes `port` until `name{receiver="otlp"}` reads `SPANS`; returns the text.
async fn scrape_until_counted(port: u16, name: &str, sloop: &Sloop) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = scrape(port).await;
        if metric_sum(&text, name, &[("receiver", "otlp")]) == SPANS as f64 {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{{receiver=\"otlp\"}} never read {SPANS} on :{port}\n{text}\n{}",
            sloop.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

fn string_attribute(point: &FlatMetricPoint, key: &str) -> Option<String> {
    point
        .resource_attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The value of the `otelcol_receiver_accepted_spans{receiver="otlp"}` point, if it
/// is a cumulative monotonic sum.
fn accepted_spans(point: &FlatMetricPoint) -> Option<i64> {
    if point.metric.name != "otelcol_receiver_accepted_spans"
        || !point.point_attributes().iter().any(|a| {
            a.key == "receiver"
                && a.value.as_ref().and_then(|v| v.value.as_ref())
                    == Some(&any_value::Value::StringValue("otlp".into()))
        })
    {
        return None;
    }
    match &point.metric.data {
        Some(metric::Data::Sum(sum)) if sum.is_monotonic && sum.aggregation_temporality == 2 => {
            match sum.data_points.first()?.value? {
                number_data_point::Value::AsInt(n) => Some(n),
                number_data_point::Value::AsDouble(_) => None,
            }
        }
        _ => None,
    }
}

/// Waits until a pushed `otelcol_receiver_accepted_spans` point reads `SPANS`;
/// returns that point.
async fn wait_for_pushed_count(
    points: impl Fn() -> Vec<FlatMetricPoint>,
    what: &str,
    sloop: &Sloop,
) -> FlatMetricPoint {
    let found = poll_until(WAIT, POLL, || async {
        points().into_iter().find(|p| accepted_spans(p) == Some(SPANS as i64))
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "no {what} push of otelcol_receiver_accepted_spans = {SPANS}\n{}",
            sloop.logs()
        )
    })
}

#[tokio::test]
async fn pull_readers_serve_and_periodic_readers_push_self_metrics() {
    let grpc_backend = GrpcBackend::start().await;
    let http_backend = HttpBackend::start().await;
    let ports = SloopPorts::new();
    let (sdk_port, legacy_port) = (free_port(), free_port());
    let telemetry = format!(
        "    logs:
      level: INFO
      encoding: json
    resource:
      deployment.environment: selftest
      service.version: null
    metrics:
      level: Detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {sdk_port}
                with_resource_constant_labels:
                  included: [deployment.environment]
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {legacy_port}
                without_units: true
                without_type_suffix: true
                without_scope_info: true
        - periodic:
            interval: 100
            exporter:
              otlp:
                protocol: grpc
                endpoint: {grpc}
                insecure: true
                headers:
                  - name: x-tenant
                    value: sloop
        - periodic:
            interval: 100
            timeout: 5000
            exporter:
              otlp:
                protocol: http/protobuf
                endpoint: {http}/v1/metrics
                compression: gzip
                headers_list: x-tenant=sloop
                temporality_preference: cumulative
",
        grpc = grpc_backend.url(),
        http = http_backend.url(),
    );
    let sloop = Sloop::start(&config(&ports, &telemetry), &ports).await;
    send_spans(&ports).await;

    // The SDK's defaults: `_total` on counters, scope labels, resource labels asked
    // for, and target_info with the resource.
    let text = scrape_until_counted(sdk_port, "otelcol_receiver_accepted_spans_total", &sloop).await;
    let sample = integration_tests::parse_samples(&text)
        .into_iter()
        .find(|s| s.name == "otelcol_receiver_accepted_spans_total")
        .expect("the counter is there");
    assert_eq!(sample.label("otel_scope_name"), Some("sloop"), "{text}");
    assert_eq!(sample.label("deployment_environment"), Some("selftest"), "{text}");
    assert_eq!(
        sample.label("service_name"),
        None,
        "only the included attribute: {text}"
    );
    let target = integration_tests::parse_samples(&text)
        .into_iter()
        .find(|s| s.name == "target_info")
        .unwrap_or_else(|| panic!("no target_info: {text}"));
    assert_eq!(target.label("service_name"), Some("sloop"), "{text}");
    assert_eq!(target.label("service_version"), None, "removed by a null: {text}");
    // The Collector's legacy form on the second port: plain names.
    let legacy = scrape_until_counted(legacy_port, "otelcol_receiver_accepted_spans", &sloop).await;
    assert!(!legacy.contains("otel_scope_name"), "{legacy}");

    for (name, point) in [
        (
            "gRPC",
            wait_for_pushed_count(|| grpc_backend.received().metric_points(), "gRPC", &sloop).await,
        ),
        (
            "HTTP",
            wait_for_pushed_count(|| http_backend.received().metric_points(), "HTTP", &sloop).await,
        ),
    ] {
        assert_eq!(
            string_attribute(&point, "deployment.environment").as_deref(),
            Some("selftest"),
            "{name}"
        );
        assert_eq!(
            string_attribute(&point, "service.name").as_deref(),
            Some("sloop"),
            "{name}"
        );
        assert_eq!(
            string_attribute(&point, "service.version"),
            None,
            "{name}: removed by a null"
        );
        let instance = string_attribute(&point, "service.instance.id").unwrap_or_default();
        assert_eq!(
            instance.len(),
            36,
            "{name}: a UUID service.instance.id, got {instance:?}"
        );
        assert_eq!(point.scope.as_ref().map(|s| s.name.as_str()), Some("sloop"), "{name}");
    }
    let posts = http_backend.received().http_requests();
    assert!(
        posts
            .iter()
            .any(|r| r.path == "/v1/metrics" && r.content_encoding.as_deref() == Some("gzip") && r.status == 200),
        "gzip-compressed protobuf POSTs to /v1/metrics: {posts:?}"
    );
}

/// The Collector Helm chart's default `service.telemetry` block, with the pod IP
/// from the environment; `level: Debug` as some charts write it, and a log file
/// beside stderr.
#[tokio::test]
async fn the_helm_charts_telemetry_block_runs() {
    let ports = SloopPorts::new();
    let log_file = integration_tests::unique_temp_dir().join("sloop.log");
    let telemetry = format!(
        "    logs:
      level: Debug
      output_paths: [stderr, {log}]
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: ${{env:MY_POD_IP}}
                port: {port}
",
        port = ports.telemetry,
        log = log_file.display(),
    );
    let sloop = Sloop::start_with_env(&[&config(&ports, &telemetry)], &ports, &[("MY_POD_IP", "127.0.0.1")]).await;
    send_spans(&ports).await;
    scrape_until_counted(ports.telemetry, "otelcol_receiver_accepted_spans_total", &sloop).await;
    assert!(
        sloop.logs().contains("DEBUG"),
        "level: Debug logs at debug\n{}",
        sloop.logs()
    );
    let written = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(
        written.contains("Everything is ready"),
        "the log file gets the lines stderr gets: {written:?}"
    );
}
