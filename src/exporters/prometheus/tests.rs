use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram as OtlpHistogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::translate::{sanitize_label, Histogram, Kind, Series, Translation, Value};
use super::*;

/// A config block from YAML.
pub(crate) fn raw(yaml: &str) -> RawValue {
    use figment::providers::Format;
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .expect("test YAML is a mapping");
    RawValue::from(dict)
}

/// Builds an exporter as the graph does, without extensions.
pub(crate) fn build_exporter(config: &dyn ExporterConfig) -> Result<std::sync::Arc<dyn QueuedExporter>, BuildError> {
    let service = crate::component::ServiceHandles::default();
    config.build(&ExporterContext {
        id: &ComponentId::parse("prometheus").expect("a valid id"),
        storage: &std::collections::BTreeMap::new(),
        authenticators: &crate::component::Authenticators::default(),
        service: &service,
    })
}

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn s(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

pub(crate) fn point(attributes: Vec<KeyValue>, value: f64, start_ms: u64, time_ms: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start_ms * 1_000_000,
        time_unix_nano: time_ms * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

pub(crate) fn sum(
    name: &str,
    unit: &str,
    temporality: AggregationTemporality,
    monotonic: bool,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: "what it counts".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

pub(crate) fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    }
}

pub(crate) fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "sloop/slo".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn translation() -> Translation {
    Translation {
        add_metric_suffixes: true,
        target_info: true,
        ..Translation::default()
    }
}

fn translate(t: &Translation, request: &ExportMetricsServiceRequest) -> Vec<Series> {
    let mut out = Vec::new();
    t.translate(request, |s| out.push(s));
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn names_get_unit_and_type_suffixes_as_the_collector_writes_them() {
    let t = translation();
    let cases = [
        ("slo.events", "{event}", Kind::Counter, "slo_events_total"),
        (
            "slo.error_budget.remaining",
            "1",
            Kind::Gauge,
            "slo_error_budget_remaining_ratio",
        ),
        (
            "slo.error_budget.exhaustion",
            "s",
            Kind::Gauge,
            "slo_error_budget_exhaustion_seconds",
        ),
        (
            "http.server.request.duration",
            "s",
            Kind::Histogram,
            "http_server_request_duration_seconds",
        ),
        (
            "system.network.io",
            "By",
            Kind::Counter,
            "system_network_io_bytes_total",
        ),
        ("requests_total", "1", Kind::Counter, "requests_total"),
        ("throughput", "m/s", Kind::Gauge, "throughput_meters_per_second"),
        ("latency.seconds", "s", Kind::Gauge, "latency_seconds"),
        ("queue..depth__now", "", Kind::Gauge, "queue_depth_now"),
        ("2xx.responses", "", Kind::Counter, "_2xx_responses_total"),
        ("mem", "MiBy", Kind::Gauge, "mem_mebibytes"),
        ("ratio.of.x", "1", Kind::Gauge, "of_x_ratio"),
        ("updown", "1", Kind::Gauge, "updown_ratio"),
    ];
    for (name, unit, kind, expected) in cases {
        assert_eq!(t.metric_name(name, unit, kind), expected, "{name} [{unit}] {kind:?}");
    }
    let namespaced = Translation {
        namespace: Some("shop".into()),
        ..translation()
    };
    assert_eq!(
        namespaced.metric_name("slo.events", "{event}", Kind::Counter),
        "shop_slo_events_total"
    );
    let bare = Translation {
        add_metric_suffixes: false,
        ..translation()
    };
    assert_eq!(bare.metric_name("slo.events", "{event}", Kind::Counter), "slo_events");
    assert_eq!(bare.metric_name("http.duration", "s", Kind::Histogram), "http_duration");
}

#[test]
fn labels_are_sanitized_and_colliding_ones_joined() {
    assert_eq!(sanitize_label("http.response.status_code"), "http_response_status_code");
    assert_eq!(sanitize_label("9lives"), "key_9lives");
    assert_eq!(sanitize_label("_private"), "key_private");
    assert_eq!(sanitize_label("__reserved"), "__reserved");
    assert_eq!(sanitize_label("a-b c"), "a_b_c");
    let data = request(
        vec![
            kv("service.name", s("checkout")),
            kv("service.namespace", s("shop")),
            kv("service.instance.id", s("pod-1")),
            kv("host.name", s("node-7")),
        ],
        vec![gauge(
            "temp",
            "",
            vec![point(
                vec![
                    kv("a.b", s("dotted")),
                    kv("a_b", s("underscored")),
                    kv("count", any_value::Value::IntValue(3)),
                    kv("ok", any_value::Value::BoolValue(true)),
                    kv("empty", s("")),
                ],
                1.5,
                0,
                1000,
            )],
        )],
    );
    let series = translate(&translation(), &data);
    assert_eq!(series.len(), 2, "{series:#?}");
    assert_eq!(
        series[0].labels,
        labels(&[
            ("a_b", "dotted;underscored"),
            ("count", "3"),
            ("instance", "pod-1"),
            ("job", "shop/checkout"),
            ("ok", "true"),
            ("otel_scope_name", "sloop/slo"),
            ("otel_scope_version", "1.2"),
        ])
    );
    assert_eq!(series[0].value, Value::Number(1.5));
    assert_eq!(series[0].time_ms, 1000);
    // target_info carries what job and instance do not.
    let info = &series[1];
    assert_eq!((info.name.as_str(), info.kind), ("target_info", Kind::Gauge));
    assert_eq!(
        info.labels,
        labels(&[("host_name", "node-7"), ("instance", "pod-1"), ("job", "shop/checkout")])
    );
    assert_eq!(info.value, Value::Number(1.0));
}

#[test]
fn resource_attributes_become_labels_when_asked() {
    let t = Translation {
        resource_to_telemetry: true,
        without_scope_info: true,
        extra_labels: labels(&[("region", "eu")]),
        ..translation()
    };
    let data = request(
        vec![
            kv("service.name", s("api")),
            kv("host.name", s("node-7")),
            kv("zone", s("a")),
        ],
        vec![gauge("g", "", vec![point(vec![kv("zone", s("b"))], 1.0, 0, 5)])],
    );
    let series = translate(&t, &data);
    assert_eq!(
        series[0].labels,
        labels(&[
            ("host_name", "node-7"),
            ("job", "api"),
            ("region", "eu"),
            ("service_name", "api"),
            ("zone", "b"),
        ])
    );
}

#[test]
fn histograms_have_cumulative_buckets_ending_with_inf() {
    let data = request(
        vec![kv("service.name", s("api"))],
        vec![Metric {
            name: "http.server.request.duration".into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(OtlpHistogram {
                data_points: vec![HistogramDataPoint {
                    count: 6,
                    sum: Some(2.5),
                    explicit_bounds: vec![0.1, 0.5, 1.0],
                    bucket_counts: vec![1, 2, 0, 3],
                    time_unix_nano: 2_000_000_000,
                    exemplars: vec![OtlpExemplar {
                        value: Some(exemplar::Value::AsDouble(0.3)),
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        time_unix_nano: 1_500_000_000,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        }],
    );
    let series = translate(&translation(), &data);
    assert_eq!(series.len(), 1, "no target_info for a resource with service.name only");
    let Value::Histogram(h) = &series[0].value else {
        panic!("{series:?}");
    };
    assert_eq!(
        h.cumulative().collect::<Vec<_>>(),
        vec![(0.1, 1), (0.5, 3), (1.0, 3), (f64::INFINITY, 6)]
    );
    let page = render(&series, Format::Text, false);
    let expected = "# TYPE http_server_request_duration_seconds histogram\n\
        http_server_request_duration_seconds_bucket{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\",le=\"0.1\"} 1\n\
        http_server_request_duration_seconds_bucket{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\",le=\"0.5\"} 3\n\
        http_server_request_duration_seconds_bucket{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\",le=\"1\"} 3\n\
        http_server_request_duration_seconds_bucket{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\",le=\"+Inf\"} 6\n\
        http_server_request_duration_seconds_sum{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\"} 2.5\n\
        http_server_request_duration_seconds_count{job=\"api\",otel_scope_name=\"sloop/slo\",otel_scope_version=\"1.2\"} 6\n";
    assert_eq!(page, expected);
    // OpenMetrics puts the exemplar on the bucket its value falls in.
    let open = render(&series, Format::OpenMetrics, false);
    let bucket = open.lines().find(|l| l.contains("le=\"0.5\"")).unwrap_or_default();
    assert!(
        bucket.ends_with("3 # {trace_id=\"01010101010101010101010101010101\",span_id=\"0202020202020202\"} 0.3 1.500"),
        "{open}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
}

#[test]
fn delta_sums_are_marked_and_unsupported_points_counted() {
    let data = request(
        vec![],
        vec![
            sum(
                "hits",
                "",
                AggregationTemporality::Delta,
                true,
                vec![point(vec![], 2.0, 0, 10)],
            ),
            sum(
                "level",
                "",
                AggregationTemporality::Delta,
                false,
                vec![point(vec![], 2.0, 0, 10)],
            ),
            sum(
                "open",
                "",
                AggregationTemporality::Cumulative,
                false,
                vec![point(vec![], 4.0, 0, 10)],
            ),
            Metric {
                name: "exp".into(),
                data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint::default()],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            },
        ],
    );
    let mut series = Vec::new();
    let dropped = translation().translate(&data, |s| series.push(s));
    assert_eq!((dropped.delta_gauges, dropped.exponential_histograms), (1, 1));
    let found: Vec<(&str, Kind, bool)> = series.iter().map(|s| (s.name.as_str(), s.kind, s.delta)).collect();
    assert_eq!(
        found,
        vec![("hits_total", Kind::Counter, true), ("open", Kind::Gauge, false)]
    );
}

fn number_series(value: f64, delta: bool, start_ms: i64, time_ms: i64) -> Series {
    Series {
        name: "hits_total".into(),
        kind: Kind::Counter,
        help: String::new(),
        labels: labels(&[("job", "api")]),
        value: Value::Number(value),
        delta,
        start_ms,
        time_ms,
        exemplars: Vec::new(),
    }
}

#[test]
fn accumulator_adds_contiguous_deltas_and_keeps_the_newest_cumulative() {
    let now = Instant::now();
    let acc = Accumulator::new(Duration::from_secs(60));
    acc.add(number_series(2.0, true, 0, 10), now);
    acc.add(number_series(3.0, true, 10, 20), now);
    assert_eq!(acc.snapshot(now)[0].value, Value::Number(5.0));
    // A delta that does not continue the last one starts afresh (a restart).
    acc.add(number_series(1.0, true, 50, 60), now);
    assert_eq!(acc.snapshot(now)[0].value, Value::Number(1.0));
    // Cumulative: an older point does not replace a newer one.
    let acc = Accumulator::new(Duration::from_secs(60));
    acc.add(number_series(7.0, false, 0, 20), now);
    acc.add(number_series(6.0, false, 0, 10), now);
    assert_eq!(acc.snapshot(now)[0].value, Value::Number(7.0));
    acc.add(number_series(9.0, false, 0, 30), now);
    assert_eq!(acc.snapshot(now)[0].value, Value::Number(9.0));
    // Delta histograms add up bucket by bucket.
    let histogram = |counts: Vec<u64>, start_ms, time_ms| Series {
        kind: Kind::Histogram,
        value: Value::Histogram(Histogram {
            count: counts.iter().sum(),
            sum: 1.0,
            bounds: vec![1.0],
            counts,
        }),
        ..number_series(0.0, true, start_ms, time_ms)
    };
    let acc = Accumulator::new(Duration::from_secs(60));
    acc.add(histogram(vec![1, 2], 0, 10), now);
    acc.add(histogram(vec![3, 0], 10, 20), now);
    let Value::Histogram(h) = &acc.snapshot(now)[0].value else {
        panic!("not a histogram");
    };
    assert_eq!((h.count, h.sum, h.counts.clone()), (6, 2.0, vec![4, 2]));
}

#[test]
fn series_expire_without_updates() {
    let start = Instant::now();
    let acc = Accumulator::new(Duration::from_secs(60));
    acc.add(number_series(1.0, false, 0, 10), start);
    assert_eq!(acc.snapshot(start + Duration::from_secs(59)).len(), 1);
    assert!(acc.snapshot(start + Duration::from_secs(61)).is_empty());
}

#[test]
fn text_and_openmetrics_pages_for_the_slo_counter() {
    let mut good = number_series(42.0, false, 0, 1_700_000_000_123);
    good.help = "Events \"classified\"\nby the SLI".into();
    good.labels = labels(&[("slo_name", "home\"page"), ("slo_outcome", "good")]);
    good.exemplars = vec![translate::Exemplar {
        value: 1.0,
        time_ms: 0,
        trace_id: "ab".into(),
        span_id: String::new(),
    }];
    let text = render(std::slice::from_ref(&good), Format::Text, true);
    assert_eq!(
        text,
        "# HELP hits_total Events \"classified\"\\nby the SLI\n\
         # TYPE hits_total counter\n\
         hits_total{slo_name=\"home\\\"page\",slo_outcome=\"good\"} 42 1700000000123\n"
    );
    let open = render(&[good], Format::OpenMetrics, true);
    assert_eq!(
        open,
        "# HELP hits Events \\\"classified\\\"\\nby the SLI\n\
         # TYPE hits counter\n\
         hits_total{slo_name=\"home\\\"page\",slo_outcome=\"good\"} 42 1700000000.123 # {trace_id=\"ab\"} 1\n\
         # EOF\n"
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;version=1.0.0"), true),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;version=1.0.0"), false),
        Format::Text
    );
    assert_eq!(Format::negotiate(None, true), Format::Text);
}

#[test]
fn config_refuses_what_sloop_cannot_do() {
    let errors = |yaml: &str| match crate::confmap::parse_block::<PrometheusConfig>(&raw(yaml)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.path).collect::<Vec<_>>(),
    };
    assert_eq!(errors("endpoint: 127.0.0.1:0"), Vec::<String>::new());
    assert_eq!(errors("endpoint: nowhere"), vec!["endpoint"]);
    assert_eq!(errors("tls: {cert_file: a.pem}"), vec!["tls"]);
    assert_eq!(errors("const_labels: {__x: y}"), vec!["const_labels.__x"]);
    assert_eq!(errors("metric_expiration: 0s"), vec!["metric_expiration"]);
}

#[tokio::test]
async fn the_page_serves_what_the_pipeline_sent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let config = crate::confmap::parse_block::<PrometheusConfig>(&raw(&format!(
        "endpoint: 127.0.0.1:{port}\nconst_labels: {{region: eu}}"
    )))
    .expect("valid config");
    let exporter = build_exporter(&config).expect("builds");
    exporter.start().expect("starts");
    let data = request(
        vec![kv("service.name", s("sloop")), kv("service.instance.id", s("pod-1"))],
        vec![sum(
            "slo.events",
            "{event}",
            AggregationTemporality::Cumulative,
            true,
            vec![point(
                vec![kv("slo.name", s("homepage")), kv("slo.outcome", s("good"))],
                9.0,
                0,
                10,
            )],
        )],
    );
    exporter
        .enqueue(std::sync::Arc::new(ExportBatch::new(Telemetry::Metrics(data))))
        .await
        .expect("taken");
    let page = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scraped")
        .text()
        .await
        .expect("a body");
    assert!(
        page.contains(
            "slo_events_total{instance=\"pod-1\",job=\"sloop\",otel_scope_name=\"sloop/slo\",\
             otel_scope_version=\"1.2\",region=\"eu\",slo_name=\"homepage\",slo_outcome=\"good\"} 9\n"
        ),
        "{page}"
    );
    exporter
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.is_err(),
        "the page stops with the exporter"
    );
}

#[tokio::test]
async fn a_taken_port_fails_start_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = taken.local_addr().expect("bound");
    let config =
        crate::confmap::parse_block::<PrometheusConfig>(&raw(&format!("endpoint: {address}"))).expect("valid config");
    let exporter = build_exporter(&config).expect("builds");
    let error = exporter.start().expect_err("the port is taken");
    assert!(
        error.message.contains(&format!("cannot listen on {address}")),
        "{error:?}"
    );
    // Shutting down what never started is safe.
    exporter
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
}
