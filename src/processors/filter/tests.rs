use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::trace::v1::span::Event;

use super::*;
use crate::config::Config;
use crate::confmap::ConfigErrors;
use crate::testing::{span_names, traces, Recorder};

fn compile(yaml: &str) -> Result<CompiledFilter, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    let config: FilterConfig = parse_block(&figment::value::Value::from(dict))?;
    CompiledFilter::compile(&config)
}

fn string(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// Runs one payload through a built processor; `None` when nothing was sent on.
async fn run(filter: &CompiledFilter, data: Telemetry) -> Option<Telemetry> {
    let next = Recorder::new();
    let processor: Arc<dyn Processor> = crate::testing::build_processor(filter, "filter", data.signal(), next.clone());
    processor.consume(data).await.unwrap();
    let mut received = next.received.lock().unwrap();
    assert!(received.len() <= 1);
    received.pop()
}

#[tokio::test]
async fn span_conditions_drop_matching_spans() {
    let filter = compile(
        r#"
traces:
  span:
    - 'name == "GET /healthz"'
    - 'resource.attributes["service.name"] == "service-1" and name == "noise"'
"#,
    )
    .unwrap();
    let data = traces(&[
        &["GET /", "GET /healthz", "noise"],
        &["noise", "GET /healthz", "POST /cart"],
    ]);
    let out = run(&filter, data).await.unwrap();
    assert_eq!(span_names(&out), ["GET /", "noise", "POST /cart"]);
}

#[tokio::test]
async fn emptied_containers_are_removed_and_empty_payloads_not_sent() {
    let filter = compile("traces:\n  span: ['name == \"GET /healthz\"']\n").unwrap();
    let data = traces(&[&["GET /healthz"], &["GET /", "GET /healthz"]]);
    let Some(Telemetry::Traces(out)) = run(&filter, data).await else {
        panic!("expected traces")
    };
    assert_eq!(out.resource_spans.len(), 1, "the resource left empty is removed");
    assert_eq!(out.resource_spans[0].scope_spans.len(), 1);
    assert_eq!(out.resource_spans[0].scope_spans[0].spans.len(), 1);

    let all = traces(&[&["GET /healthz"], &["GET /healthz"]]);
    assert!(run(&filter, all).await.is_none(), "nothing left: nothing sent");
}

#[tokio::test]
async fn unmatched_data_passes_unchanged() {
    let filter = compile(
        r#"
traces:
  span: ['name == "nothing like this"']
  spanevent: ['name == "nothing"']
"#,
    )
    .unwrap();
    let data = traces(&[&["GET /", "POST /cart"], &["GET /"]]);
    let out = run(&filter, data.clone()).await.unwrap();
    assert_eq!(out, data);
}

#[tokio::test]
async fn span_event_conditions_drop_events_not_spans() {
    let filter = compile(
        r#"
traces:
  spanevent:
    - 'name == "debug"'
    - 'span.name == "POST /cart" and attributes["level"] == "trace"'
"#,
    )
    .unwrap();
    let event = |name: &str, level: &str| Event {
        name: name.into(),
        attributes: vec![string("level", level)],
        ..Default::default()
    };
    let mut data = traces(&[&["GET /", "POST /cart"]]);
    if let Telemetry::Traces(r) = &mut data {
        for span in &mut r.resource_spans[0].scope_spans[0].spans {
            span.events = vec![event("debug", "x"), event("exception", "trace"), event("log", "info")];
        }
    }
    let Some(Telemetry::Traces(out)) = run(&filter, data).await else {
        panic!("expected traces")
    };
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2, "spans stay");
    let names = |i: usize| spans[i].events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>();
    assert_eq!(names(0), ["exception", "log"]);
    assert_eq!(names(1), ["log"]);
}

fn number_point(env: &str, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![string("env", env)],
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn metrics_payload() -> Telemetry {
    let gauge = |name: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    };
    let scope = |metrics: Vec<Metric>| ScopeMetrics {
        metrics,
        ..Default::default()
    };
    Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![
            ResourceMetrics {
                scope_metrics: vec![scope(vec![
                    gauge(
                        "noisy.metric",
                        vec![number_point("prod", 1.0), number_point("prod", 2.0)],
                    ),
                    gauge("cpu", vec![number_point("dev", 0.5), number_point("prod", 0.7)]),
                    Metric {
                        name: "requests".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![number_point("dev", 3.0)],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![
                                HistogramDataPoint {
                                    attributes: vec![string("env", "dev")],
                                    ..Default::default()
                                },
                                HistogramDataPoint {
                                    attributes: vec![string("env", "prod")],
                                    ..Default::default()
                                },
                            ],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                ])],
                ..Default::default()
            },
            ResourceMetrics {
                scope_metrics: vec![scope(vec![gauge("noisy.metric", vec![number_point("prod", 1.0)])])],
                ..Default::default()
            },
        ],
    })
}

fn metric_summary(data: &Telemetry) -> Vec<(String, usize)> {
    let Telemetry::Metrics(r) = data else {
        panic!("expected metrics")
    };
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| (m.name.clone(), data_point_count(m)))
        .collect()
}

#[tokio::test]
async fn metric_and_data_point_conditions() {
    let filter = compile(
        r#"
metrics:
  metric: ['name == "noisy.metric"']
  datapoint: ['attributes["env"] == "dev"']
"#,
    )
    .unwrap();
    let mut data = metrics_payload();
    let dropped = filter.apply(&mut data);
    // noisy.metric: 2 + 1 points; dev points: cpu 1, requests 1, latency 1.
    assert_eq!(dropped.data_points, 6);
    assert_eq!(
        metric_summary(&data),
        [("cpu".to_string(), 1), ("latency".to_string(), 1)],
        "requests lost its only point and is dropped"
    );
    let Telemetry::Metrics(r) = &data else { unreachable!() };
    assert_eq!(
        r.resource_metrics.len(),
        1,
        "the resource with only noisy.metric is gone"
    );
}

#[tokio::test]
async fn data_point_conditions_see_the_metric() {
    let filter = compile(
        r#"
metrics:
  datapoint:
    - 'metric.name == "cpu" and value_double > 0.6'
    - 'metric.type == METRIC_DATA_TYPE_HISTOGRAM and attributes["env"] == "prod"'
"#,
    )
    .unwrap();
    let out = run(&filter, metrics_payload()).await.unwrap();
    assert_eq!(
        metric_summary(&out),
        [
            ("noisy.metric".to_string(), 2),
            ("cpu".to_string(), 1),
            ("requests".to_string(), 1),
            ("latency".to_string(), 1),
            ("noisy.metric".to_string(), 1),
        ]
    );
}

fn logs_payload() -> Telemetry {
    let log = |severity: i32, body: &str| LogRecord {
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    };
    Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![log(5, "debug"), log(9, "info"), log(17, "error")],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![log(1, "trace")],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    })
}

#[tokio::test]
async fn log_record_conditions() {
    let filter = compile("logs:\n  log_record: ['severity_number < SEVERITY_NUMBER_INFO']\n").unwrap();
    let mut data = logs_payload();
    assert_eq!(filter.apply(&mut data).logs, 2);
    let Telemetry::Logs(r) = &data else { unreachable!() };
    assert_eq!(r.resource_logs.len(), 1);
    let severities: Vec<i32> = r.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| l.severity_number)
        .collect();
    assert_eq!(severities, [9, 17]);
}

#[tokio::test]
async fn sections_for_other_signals_pass_data_through() {
    // Only traces conditions: metrics and logs go through untouched (Collector behaviour).
    let filter = compile("traces:\n  span: ['name == \"x\"']\n").unwrap();
    assert_eq!(run(&filter, metrics_payload()).await.unwrap(), metrics_payload());
    assert_eq!(run(&filter, logs_payload()).await.unwrap(), logs_payload());
    for signal in Signal::ALL {
        assert!(filter.check_signal(signal).is_ok());
    }
    // An empty filter is a no-op everywhere.
    let empty = compile("error_mode: propagate\n").unwrap();
    assert_eq!(run(&empty, logs_payload()).await.unwrap(), logs_payload());
}

#[test]
fn condition_errors_name_their_path_and_position() {
    let errors = compile(
        r#"
traces:
  span: ['name == "ok"', 'nmae == "x"']
metrics:
  datapoint: ['kind == SPAN_KIND_SERVER']
logs:
  log_record: ['severity_number < "high"']
"#,
    )
    .unwrap_err();
    let summary: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                e.message.clone(),
                e.locate.as_ref().map(|l| (l.line, l.column)),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "traces.span[1]".to_string(),
                "unknown path nmae, did you mean name?".to_string(),
                Some((1, 1))
            ),
            (
                "metrics.datapoint[0]".to_string(),
                "kind is only available for spans, not in data point conditions".to_string(),
                Some((1, 1))
            ),
            (
                "logs.log_record[0]".to_string(),
                "cannot compare severity_number (int) with a string; severity numbers are 1 to 24, or \
                 SEVERITY_NUMBER_TRACE to SEVERITY_NUMBER_FATAL4"
                    .to_string(),
                Some((1, 19))
            ),
        ]
    );
}

#[test]
fn config_keys_are_strict() {
    let errors = compile("traces:\n  spans: ['name == \"x\"']\n").unwrap_err();
    assert_eq!(errors[0].path, "traces.spans", "{errors:?}");
    assert!(errors[0].message.contains("did you mean span?"), "{errors:?}");
    let errors = compile("error_mode: loud\n").unwrap_err();
    assert!(errors[0].path.contains("error_mode"), "{errors:?}");
    assert_eq!(compile("error_mode: silent\n").unwrap().error_mode, ErrorMode::Silent);
    assert_eq!(compile("{}").unwrap().error_mode, ErrorMode::Ignore);
}

#[test]
fn validate_points_at_file_line_and_column() {
    let yaml = "
receivers:
  otlp:
    protocols:
      grpc:
processors:
  filter:
    traces:
      span:
        - 'name == \"ok\"'
        - 'attributes[\"http.route\"] == \"/healthz\" and duraton > 1s'
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter]
      exporters: [debug]
";
    let Err(ConfigErrors(errors)) = Config::from_yaml(yaml) else {
        panic!("expected an error")
    };
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Line 11; the value starts at column 12 and `duraton` is the 44th character.
    assert!(
        errors[0].starts_with("processors.filter.traces.span[1]: <config>:11:55: unknown path duraton"),
        "{errors:?}"
    );
}

#[test]
fn runs_in_a_metrics_pipeline() {
    let yaml = "
receivers:
  otlp:
    protocols:
      grpc:
processors:
  filter:
    metrics:
      metric: ['name == \"noisy\"']
exporters:
  debug:
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [filter]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [filter]
      exporters: [debug]
";
    Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
}
