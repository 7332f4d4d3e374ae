use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, HistogramDataPoint, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::{SpanMetricsConfig, FACTORY};
use crate::component::{ConnectorConfig, ConsumeError, Consumer, Processor, Signal};
use crate::connectors::testing::{assert_refused, build, parse};
use crate::pdata::Telemetry;
use crate::testing::Recorder;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A span of `name` lasting `millis`, with `status` (0 unset, 1 ok, 2 error).
fn span(name: &str, millis: u64, status: i32) -> Span {
    let start = 1_700_000_000_000_000_000;
    Span {
        trace_id: vec![7; 16],
        span_id: name.bytes().chain(std::iter::repeat(0)).take(8).collect(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + millis * 1_000_000,
        status: (status != 0).then(|| Status {
            code: status,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One resource per (resource attributes, spans).
fn traces(resources: Vec<(Vec<KeyValue>, Vec<Span>)>) -> Telemetry {
    Telemetry::Traces(ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(attributes, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

fn service(name: &str) -> Vec<KeyValue> {
    vec![kv("service.name", name)]
}

fn config(yaml: &str) -> Box<dyn ConnectorConfig> {
    parse(&FACTORY, yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn connector(yaml: &str) -> (Arc<dyn Processor>, Arc<Recorder>) {
    let out = Recorder::new();
    let output: Arc<dyn Consumer> = out.clone();
    let connector = build(
        &*config(yaml),
        "spanmetrics",
        Signal::Traces,
        Signal::Metrics,
        &[("metrics/red", output)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (connector, out)
}

/// A series' attributes as `k=v` pairs joined by `,`.
fn label(attributes: &[KeyValue]) -> String {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}={value}", kv.key)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The metrics of the last payload `out` received, by name.
fn last_metrics(out: &Recorder) -> Vec<Metric> {
    let received = out.received.lock().unwrap();
    match received.last() {
        Some(Telemetry::Metrics(request)) => request
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| sm.metrics.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// `calls` per series label, from the last payload, summed over resources.
fn calls(out: &Recorder) -> Vec<(String, i64)> {
    let mut calls: Vec<(String, i64)> = last_metrics(out)
        .iter()
        .filter(|m| m.name == "traces.span.metrics.calls")
        .flat_map(|m| match &m.data {
            Some(metric::Data::Sum(sum)) => {
                assert!(sum.is_monotonic);
                sum.data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(number_data_point::Value::AsInt(n)) => (label(&p.attributes), n),
                        _ => panic!("calls are ints"),
                    })
                    .collect::<Vec<_>>()
            }
            other => panic!("calls is a sum, not {other:?}"),
        })
        .collect();
    calls.sort();
    calls
}

fn durations(out: &Recorder) -> Vec<(String, HistogramDataPoint)> {
    last_metrics(out)
        .iter()
        .filter(|m| m.name == "traces.span.metrics.duration")
        .flat_map(|m| {
            assert_eq!(m.unit, "ms");
            match &m.data {
                Some(metric::Data::Histogram(h)) => h.data_points.clone(),
                other => panic!("duration is a histogram, not {other:?}"),
            }
        })
        .map(|p| (label(&p.attributes), p))
        .collect()
}

const CHECKOUT_GET: &str = "service.name=checkout,span.name=GET,span.kind=SPAN_KIND_SERVER";

#[tokio::test(start_paused = true)]
async fn calls_are_counted_per_service_name_kind_and_status_and_sent_at_shutdown() {
    let (connector, out) = connector("");
    connector.start().await.unwrap();
    let data = traces(vec![
        (
            service("checkout"),
            vec![span("GET", 1, 0), span("GET", 3, 0), span("GET", 5, 2)],
        ),
        (service("cart"), vec![span("POST", 1, 1)]),
    ]);
    connector.consume(data).await.unwrap();
    connector
        .consume(traces(vec![(service("checkout"), vec![span("GET", 1, 0)])]))
        .await
        .unwrap();
    assert!(out.batch_sizes().is_empty(), "nothing before the flush interval");
    connector.shutdown().await;
    assert_eq!(
        calls(&out),
        vec![
            (
                "service.name=cart,span.name=POST,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_OK".to_string(),
                1
            ),
            (format!("{CHECKOUT_GET},status.code=STATUS_CODE_ERROR"), 1),
            (format!("{CHECKOUT_GET},status.code=STATUS_CODE_UNSET"), 3),
        ]
    );
    // One ResourceMetrics per resource, with its attributes and the connector's scope.
    let received = out.received.lock().unwrap();
    let Some(Telemetry::Metrics(request)) = received.last() else {
        panic!()
    };
    assert_eq!(request.resource_metrics.len(), 2);
    for rm in &request.resource_metrics {
        let attributes = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(attributes.len(), 1);
        assert_eq!(attributes[0].key, "service.name");
        assert_eq!(rm.scope_metrics[0].scope.as_ref().unwrap().name, "spanmetricsconnector");
    }
}

#[tokio::test(start_paused = true)]
async fn durations_fall_into_the_collector_default_buckets_in_milliseconds() {
    let (connector, out) = connector("");
    // 2ms is the first bucket's upper bound (inclusive); 3ms the second bucket;
    // 20s beyond the last bound (15s).
    let spans = vec![
        span("GET", 2, 0),
        span("GET", 3, 0),
        span("GET", 20_000, 0),
        span("GET", 0, 0),
    ];
    connector
        .consume(traces(vec![(service("checkout"), spans)]))
        .await
        .unwrap();
    connector.shutdown().await;
    let points = durations(&out);
    assert_eq!(points.len(), 1);
    let point = &points[0].1;
    assert_eq!(
        point.explicit_bounds,
        vec![
            2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0, 10000.0,
            15000.0
        ]
    );
    assert_eq!(point.count, 4);
    assert_eq!(point.bucket_counts.len(), 17);
    assert_eq!(point.bucket_counts[0], 2, "0ms and 2ms");
    assert_eq!(point.bucket_counts[1], 1, "3ms");
    assert_eq!(point.bucket_counts[16], 1, "20s");
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 4);
    assert_eq!(point.sum, Some(20_005.0));
    assert!(point.exemplars.is_empty(), "exemplars are off by default");
}

#[tokio::test(start_paused = true)]
async fn configured_buckets_unit_and_namespace_are_used() {
    let yaml = "namespace: red\nhistogram: {unit: s, explicit: {buckets: [100ms, 1s]}}";
    let (connector, out) = connector(yaml);
    connector
        .consume(traces(vec![(service("a"), vec![span("x", 50, 0), span("x", 500, 0)])]))
        .await
        .unwrap();
    connector.shutdown().await;
    let metrics = last_metrics(&out);
    assert_eq!(metrics[0].name, "red.calls");
    assert_eq!(metrics[1].name, "red.duration");
    assert_eq!(metrics[1].unit, "s");
    let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(h.data_points[0].explicit_bounds, vec![0.1, 1.0]);
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn configured_dimensions_come_from_the_span_then_the_resource_then_the_default() {
    let yaml = r#"
dimensions:
  - name: http.method
    default: GET
  - name: region
  - name: tier
"#;
    let (connector, out) = connector(yaml);
    let mut with_method = span("x", 1, 0);
    with_method.attributes.push(kv("http.method", "POST"));
    with_method.attributes.push(kv("region", "eu"));
    let mut resource = service("a");
    resource.push(kv("region", "us"));
    let data = traces(vec![(resource, vec![with_method, span("x", 1, 0)])]);
    connector.consume(data).await.unwrap();
    connector.shutdown().await;
    let base = "service.name=a,span.name=x,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET";
    assert_eq!(
        calls(&out),
        vec![
            (format!("{base},http.method=GET,region=us"), 1),
            (format!("{base},http.method=POST,region=eu"), 1),
        ],
        "span attribute first, then resource, then default; `tier` has neither and no default"
    );
}

#[tokio::test(start_paused = true)]
async fn exemplars_carry_trace_and_span_ids_up_to_the_limit_per_flush() {
    let yaml = "exemplars: {enabled: true, max_per_data_point: 2}\nmetrics_flush_interval: 10s";
    let (connector, out) = connector(yaml);
    connector.start().await.unwrap();
    let spans = vec![span("a", 1, 0), span("a", 2, 0), span("a", 3, 0)];
    connector.consume(traces(vec![(service("s"), spans)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10_001)).await;
    let point = &durations(&out)[0].1;
    assert_eq!(point.exemplars.len(), 2);
    assert_eq!(point.exemplars[0].trace_id, vec![7; 16]);
    assert_eq!(point.exemplars[0].span_id, span("a", 1, 0).span_id);
    assert_eq!(
        point.exemplars[1].value,
        Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(2.0))
    );
    // Cumulative: the next flush sends the totals again, without the old exemplars.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(out.batch_sizes().len(), 2);
    let point = &durations(&out)[0].1;
    assert_eq!(point.count, 3);
    assert!(point.exemplars.is_empty());
    connector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_are_flushed_on_the_interval_with_a_start_time_that_stays() {
    let (connector, out) = connector("metrics_flush_interval: 5s");
    connector.start().await.unwrap();
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(4_900)).await;
    assert!(out.batch_sizes().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls(&out).len(), 1);
    let first = durations(&out)[0].1.clone();
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let second = durations(&out)[0].1.clone();
    assert_eq!(second.count, 2, "cumulative");
    assert_eq!(second.start_time_unix_nano, first.start_time_unix_nano);
    assert!(second.time_unix_nano >= first.time_unix_nano);
    connector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delta_counts_start_again_after_a_flush_and_a_refused_flush_is_kept() {
    let yaml = "aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA\nmetrics_flush_interval: 1s";
    let (connector, out) = connector(yaml);
    connector.start().await.unwrap();
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_001)).await;
    assert_eq!(calls(&out)[0].1, 1);
    let Some(metric::Data::Sum(sum)) = &last_metrics(&out)[0].data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1, "delta");

    *out.refuse.lock().unwrap() = Some(ConsumeError::retryable("full", None));
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    *out.refuse.lock().unwrap() = None;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(out.batch_sizes().len(), 2);
    assert_eq!(calls(&out)[0].1, 2, "the refused flush's span and the new one");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(out.batch_sizes().len(), 2, "nothing new: nothing sent");
    connector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn series_beyond_dimensions_cache_size_are_counted_in_the_overflow_series() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (connector, out) = metrics::with_local_recorder(&recorder, || connector("dimensions_cache_size: 2"));
    let spans = vec![
        span("a", 1, 0),
        span("b", 1, 0),
        span("c", 1, 0),
        span("d", 1, 0),
        span("a", 1, 0),
    ];
    connector.consume(traces(vec![(service("s"), spans)])).await.unwrap();
    connector.shutdown().await;
    let calls = calls(&out);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls.iter().map(|(_, n)| n).sum::<i64>(), 5, "every span is counted");
    assert!(
        calls.contains(&("otel.metric.overflow=true".to_string(), 2)),
        "{calls:?}"
    );
    let rendered = handle.render();
    assert!(
        rendered
            .lines()
            .any(|l| l.starts_with("otelcol_connector_spanmetrics_overflow_spans{") && l.ends_with(" 2")),
        "{rendered}"
    );
}

#[tokio::test(start_paused = true)]
async fn spans_without_a_service_are_not_counted_but_counted_as_dropped() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (connector, out) = metrics::with_local_recorder(&recorder, || connector(""));
    let data = traces(vec![
        (vec![], vec![span("a", 1, 0), span("b", 1, 0)]),
        (service("s"), vec![span("a", 1, 0)]),
    ]);
    connector.consume(data).await.unwrap();
    connector.shutdown().await;
    assert_eq!(calls(&out).len(), 1);
    let rendered = handle.render();
    assert!(
        rendered
            .lines()
            .any(|l| l.starts_with("otelcol_connector_spanmetrics_dropped_spans{") && l.ends_with(" 2")),
        "{rendered}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_safe_without_start_and_twice_and_late_spans_are_still_sent() {
    let (connector, out) = connector("");
    connector.shutdown().await;
    assert!(out.batch_sizes().is_empty(), "nothing measured, nothing sent");
    connector.start().await.unwrap();
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    connector.shutdown().await;
    connector.shutdown().await;
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    assert_eq!(calls(&out)[0].1, 2, "a span after shutdown is flushed at once");
}

#[tokio::test(start_paused = true)]
async fn histogram_disable_sends_calls_only() {
    let (connector, out) = connector("histogram: {disable: true}");
    connector
        .consume(traces(vec![(service("s"), vec![span("a", 1, 0)])]))
        .await
        .unwrap();
    connector.shutdown().await;
    let metrics = last_metrics(&out);
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].name, "traces.span.metrics.calls");
}

#[test]
fn defaults_are_the_collectors() {
    let config = SpanMetricsConfig::default();
    assert_eq!(config.namespace, "traces.span.metrics");
    assert_eq!(config.metrics_flush_interval, Duration::from_secs(60));
    assert_eq!(config.dimensions_cache_size, 1000);
    assert_eq!(config.exemplars.max_per_data_point, 5);
    assert_eq!(config.histogram.unit.as_str(), "ms");
    assert_eq!(config.buckets().len(), 16);
    let parsed = parse(&FACTORY, "").unwrap();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{config:?}"),
        "an empty block is the default"
    );
}

#[test]
fn it_takes_traces_and_emits_metrics_only() {
    let config = config("");
    assert!(config.supports(Signal::Traces, Signal::Metrics));
    assert!(!config.supports(Signal::Traces, Signal::Traces));
    assert!(!config.supports(Signal::Logs, Signal::Metrics));
    let error = build(&*config, "spanmetrics", Signal::Traces, Signal::Metrics, &[])
        .err()
        .expect("refused");
    assert!(error.message.contains("no metrics pipeline"), "{error}");
}

#[test]
fn bad_settings_are_refused_with_their_paths() {
    let cases = [
        ("dimensions: [{name: span.name}]", "dimensions[0].name", "duplicate"),
        ("dimensions: [{name: a}, {name: a}]", "dimensions[1].name", "duplicate"),
        ("dimensions_cache_size: 0", "dimensions_cache_size", "greater than 0"),
        ("metrics_flush_interval: 0s", "metrics_flush_interval", "greater than 0"),
        (
            "histogram: {exponential: {max_size: 160}}",
            "histogram.exponential",
            "not supported",
        ),
        (
            "histogram: {explicit: {buckets: [1s, 100ms]}}",
            "histogram.explicit.buckets",
            "increasing",
        ),
        ("histogram: {unit: us}", "histogram.unit", "unknown value"),
        (
            "aggregation_temporality: DELTA",
            "aggregation_temporality",
            "unknown value",
        ),
        (
            "exemplars: {enabled: true, max_per_data_point: 0}",
            "exemplars.max_per_data_point",
            "greater than 0",
        ),
        ("dimension: []", "dimension", "unknown field"),
    ];
    assert_refused(&FACTORY, &cases);
}
