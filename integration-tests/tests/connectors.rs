//! Connectors, end to end through the real binary: a `routing` connector sends each
//! tenant's spans from `traces/in` to exactly its own pipeline and backend, and a
//! `spanmetrics` connector turns a traces pipeline's spans into call counts that
//! reach a metrics pipeline's backend, one per span sent, per dimension.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::payloads::{kv_str, trace_request};
use integration_tests::{poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Status};

/// `extensions:` and the head of `service:` (up to `pipelines:`) on `ports`.
fn service_head(ports: &SloopPorts) -> String {
    format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      \
         address: 127.0.0.1:{telemetry}\n  shutdown_timeout: 10s\n  pipelines:\n",
        health = ports.health,
        telemetry = ports.telemetry
    )
}

/// An `otlp_grpc` exporter block named `name`, sending to `backend`.
fn exporter(name: &str, backend: &GrpcBackend) -> String {
    format!(
        "  {name}:\n    endpoint: {}\n    tls:\n      insecure: true\n    retry_on_failure:\n      \
         initial_interval: 100ms\n      max_interval: 500ms\n      max_elapsed_time: 10s\n",
        backend.endpoint()
    )
}

/// The resource spans of `trace_request(prefix, n)` under a resource of
/// `service.name` = `service` and, if given, `tenant`.
fn resource_spans(prefix: &str, n: usize, service: &str, tenant: Option<&str>) -> ResourceSpans {
    let mut spans = trace_request(prefix, n).resource_spans.remove(0);
    let mut attributes = vec![kv_str("service.name", service)];
    attributes.extend(tenant.map(|t| kv_str("tenant", t)));
    spans.resource = Some(Resource {
        attributes,
        ..Default::default()
    });
    spans
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

async fn send(ports: &SloopPorts, requests: Vec<ExportTraceServiceRequest>) {
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop");
    for request in requests {
        client.export(request).await.expect("sloop accepts the spans");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_sends_each_tenants_spans_to_exactly_its_backend() {
    let backend_a = GrpcBackend::start().await;
    let backend_b = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:\n{a}{b}\
connectors:
  routing:
    table:
      - condition: attributes[\"tenant\"] == \"a\"
        pipelines: [traces/a]
      - statement: route() where attributes[\"tenant\"] == \"b\"
        pipelines: [traces/b]
{service}    traces/in:
      receivers: [otlp]
      exporters: [routing]
    traces/a:
      receivers: [routing]
      exporters: [otlp_grpc/a]
    traces/b:
      receivers: [routing]
      exporters: [otlp_grpc/b]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        a = exporter("otlp_grpc/a", &backend_a),
        b = exporter("otlp_grpc/b", &backend_b),
        service = service_head(&ports),
    );
    let mut sloop = Sloop::start(&yaml, &ports).await;

    // Every request mixes the tenants, so the connector has to split it.
    let requests: Vec<ExportTraceServiceRequest> = (0..4)
        .map(|r| ExportTraceServiceRequest {
            resource_spans: vec![
                resource_spans(&format!("a{r}"), 3, "shop", Some("a")),
                resource_spans(&format!("b{r}"), 2, "shop", Some("b")),
                resource_spans(&format!("c{r}"), 1, "shop", Some("c")),
                resource_spans(&format!("a{r}x"), 1, "cart", Some("a")),
            ],
        })
        .collect();
    send(&ports, requests).await;
    backend_a.received().wait_for_spans(16, DATA_TIMEOUT).await;
    backend_b.received().wait_for_spans(8, DATA_TIMEOUT).await;
    // Tenant c matches no route and there is no default pipeline: dropped, counted.
    let unrouted = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let n = sloop
            .metric("otelcol_connector_routing_unrouted_spans", &[("connector", "routing")])
            .await;
        (n == 4.0).then_some(n)
    })
    .await;
    assert_eq!(unrouted, Some(4.0), "{}", sloop.logs());

    sloop.sigterm();
    assert!(
        sloop.wait_exit(Duration::from_secs(20)).await.success(),
        "{}",
        sloop.logs()
    );
    for (backend, tenant, expected) in [(&backend_a, "a", 16), (&backend_b, "b", 8)] {
        let spans = backend.received().spans();
        assert_eq!(spans.len(), expected, "tenant {tenant}: exactly its spans, once");
        for span in &spans {
            assert_eq!(
                string_attribute(&span.resource_attributes, "tenant"),
                Some(tenant),
                "{} reached the backend of tenant {tenant}",
                span.span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spanmetrics_call_counts_equal_the_spans_sent_per_dimension() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:\n{m}\
connectors:
  spanmetrics:
    metrics_flush_interval: 1h
{service}    traces:
      receivers: [otlp]
      exporters: [spanmetrics]
    metrics/red:
      receivers: [spanmetrics]
      exporters: [otlp_grpc/m]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        m = exporter("otlp_grpc/m", &backend),
        service = service_head(&ports),
    );
    let mut sloop = Sloop::start(&yaml, &ports).await;

    // (service, span name prefix, spans, of which errors), over several requests.
    let plan = [
        ("checkout", "GET", 5, 2),
        ("checkout", "POST", 3, 0),
        ("cart", "GET", 4, 1),
    ];
    let mut expected: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut requests = Vec::new();
    for (service, name, n, errors) in plan {
        for _ in 0..2 {
            let mut resource = resource_spans(name, n, service, None);
            for (i, span) in resource.scope_spans[0].spans.iter_mut().enumerate() {
                span.name = name.to_string();
                if i < errors {
                    span.status = Some(Status {
                        code: 2,
                        ..Default::default()
                    });
                }
            }
            requests.push(ExportTraceServiceRequest {
                resource_spans: vec![resource],
            });
        }
        let key = |status: &str| (service.to_string(), name.to_string(), status.to_string());
        *expected.entry(key("STATUS_CODE_UNSET")).or_default() += 2 * (n - errors) as i64;
        if errors > 0 {
            *expected.entry(key("STATUS_CODE_ERROR")).or_default() += 2 * errors as i64;
        }
    }
    send(&ports, requests).await;

    // The flush interval is long: the figures come with the final flush at shutdown.
    sloop.sigterm();
    assert!(
        sloop.wait_exit(Duration::from_secs(20)).await.success(),
        "{}",
        sloop.logs()
    );
    let mut calls: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut histogram_counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for request in backend.received().metric_requests() {
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
        {
            let key = |attributes: &[KeyValue]| {
                let get = |k| string_attribute(attributes, k).unwrap_or_default().to_string();
                (get("service.name"), get("span.name"), get("status.code"))
            };
            match (&metric.name[..], &metric.data) {
                ("traces.span.metrics.calls", Some(metric::Data::Sum(sum))) => {
                    assert!(sum.is_monotonic);
                    for point in &sum.data_points {
                        let Some(number_data_point::Value::AsInt(n)) = point.value else {
                            panic!("calls are ints: {point:?}")
                        };
                        // Cumulative: the last value of a series is its total.
                        calls.insert(key(&point.attributes), n);
                    }
                }
                ("traces.span.metrics.duration", Some(metric::Data::Histogram(h))) => {
                    assert_eq!(metric.unit, "ms");
                    for point in &h.data_points {
                        histogram_counts.insert(key(&point.attributes), point.count);
                    }
                }
                (name, data) => panic!("unexpected metric {name}: {data:?}"),
            }
        }
    }
    assert_eq!(calls, expected, "calls per service, span name and status");
    let expected_counts: BTreeMap<_, u64> = expected.iter().map(|(k, v)| (k.clone(), *v as u64)).collect();
    assert_eq!(histogram_counts, expected_counts, "one duration per span");
}
