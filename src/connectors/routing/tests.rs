use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use super::FACTORY;
use crate::component::{ConnectorConfig, ConsumeError, Consumer, Processor, Retry, Signal};
use crate::connectors::testing::{assert_refused, build, parse};
use crate::pdata::Telemetry;
use crate::testing::{span, span_names, Recorder};

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(tenant: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("tenant", tenant)],
        ..Default::default()
    })
}

/// One resource per (tenant, span names); each span is named `<tenant>-<name>`.
fn tenant_traces(tenants: &[(&str, &[&str])]) -> Telemetry {
    Telemetry::Traces(ExportTraceServiceRequest {
        resource_spans: tenants
            .iter()
            .map(|(tenant, names)| ResourceSpans {
                resource: resource(tenant),
                scope_spans: vec![ScopeSpans {
                    spans: names.iter().map(|n| span(&format!("{tenant}-{n}"))).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

fn names(recorder: &Recorder) -> Vec<String> {
    recorder.received.lock().unwrap().iter().flat_map(span_names).collect()
}

fn routing(yaml: &str) -> Box<dyn ConnectorConfig> {
    parse(&FACTORY, yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Builds `yaml` for `signal` with one recorder per pipeline name.
fn connector(yaml: &str, signal: Signal, pipelines: &[&str]) -> (Arc<dyn Processor>, Vec<Arc<Recorder>>) {
    let recorders: Vec<Arc<Recorder>> = pipelines.iter().map(|_| Recorder::new()).collect();
    let outputs: Vec<(&str, Arc<dyn Consumer>)> = pipelines
        .iter()
        .zip(&recorders)
        .map(|(name, r)| (*name, r.clone() as Arc<dyn Consumer>))
        .collect();
    let connector = build(&*routing(yaml), "routing", signal, signal, &outputs).unwrap_or_else(|e| panic!("{e}"));
    (connector, recorders)
}

const TENANTS: &str = r#"
default_pipelines: [traces/other]
table:
  - condition: attributes["tenant"] == "a"
    pipelines: [traces/a]
  - statement: route() where attributes["tenant"] == "b"
    pipelines: [traces/b]
"#;

#[tokio::test]
async fn each_tenant_reaches_exactly_its_pipeline_and_the_rest_the_default() {
    let (connector, out) = connector(TENANTS, Signal::Traces, &["traces/a", "traces/b", "traces/other"]);
    connector.start().await.unwrap();
    let data = tenant_traces(&[("a", &["1", "2"]), ("b", &["1"]), ("c", &["1"]), ("a", &["3"])]);
    connector.consume(data).await.unwrap();
    assert_eq!(names(&out[0]), ["a-1", "a-2", "a-3"]);
    assert_eq!(names(&out[1]), ["b-1"]);
    assert_eq!(names(&out[2]), ["c-1"]);
    // One request per pipeline and payload, resources kept whole.
    assert_eq!(out[0].batch_sizes(), vec![3]);
    {
        let received = out[0].received.lock().unwrap();
        let Telemetry::Traces(request) = &received[0] else {
            panic!()
        };
        assert_eq!(request.resource_spans.len(), 2);
        assert_eq!(request.resource_spans[0].resource, resource("a"));
    }
    connector.shutdown().await;
    connector.shutdown().await;
}

#[tokio::test]
async fn the_first_matching_route_takes_the_data_alone() {
    let yaml = r#"
table:
  - condition: attributes["tenant"] != nil
    pipelines: [traces/any]
  - condition: attributes["tenant"] == "a"
    pipelines: [traces/a]
"#;
    let (connector, out) = connector(yaml, Signal::Traces, &["traces/any", "traces/a"]);
    connector.consume(tenant_traces(&[("a", &["1"])])).await.unwrap();
    assert_eq!(names(&out[0]), ["a-1"]);
    assert!(names(&out[1]).is_empty(), "matched by an earlier route");
}

#[tokio::test]
async fn a_route_to_several_pipelines_copies_and_a_shared_pipeline_gets_one_request() {
    let yaml = r#"
default_pipelines: [traces/all]
table:
  - condition: attributes["tenant"] == "a"
    pipelines: [traces/a, traces/all]
"#;
    let (connector, out) = connector(yaml, Signal::Traces, &["traces/a", "traces/all"]);
    connector
        .consume(tenant_traces(&[("a", &["1"]), ("b", &["1"])]))
        .await
        .unwrap();
    assert_eq!(names(&out[0]), ["a-1"]);
    assert_eq!(out[1].batch_sizes(), vec![2], "routed and default data in one request");
    let mut all = names(&out[1]);
    all.sort();
    assert_eq!(all, ["a-1", "b-1"]);
}

#[tokio::test]
async fn unrouted_data_without_default_pipelines_is_dropped_and_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let yaml = "table: [{condition: 'attributes[\"tenant\"] == \"a\"', pipelines: [traces/a]}]";
    let (connector, out) = metrics::with_local_recorder(&recorder, || connector(yaml, Signal::Traces, &["traces/a"]));
    connector
        .consume(tenant_traces(&[("a", &["1"]), ("z", &["1", "2"])]))
        .await
        .unwrap();
    assert_eq!(names(&out[0]), ["a-1"]);
    let rendered = handle.render();
    let line = rendered
        .lines()
        .find(|l| l.starts_with("otelcol_connector_routing_unrouted_spans{"))
        .unwrap_or_else(|| panic!("no counter in {rendered}"));
    assert!(line.contains("connector=\"routing\""), "{line}");
    assert!(line.ends_with(" 2"), "{line}");
}

#[tokio::test]
async fn span_routes_move_single_spans_and_an_earlier_resource_route_takes_the_whole_resource() {
    let yaml = r#"
default_pipelines: [traces/other]
table:
  - condition: attributes["tenant"] == "vip"
    pipelines: [traces/vip]
  - context: span
    condition: name == "a-health" or name == "vip-health"
    pipelines: [traces/health]
"#;
    let (connector, out) = connector(yaml, Signal::Traces, &["traces/vip", "traces/health", "traces/other"]);
    let data = tenant_traces(&[("a", &["1", "health", "2"]), ("vip", &["health", "1"])]);
    connector.consume(data).await.unwrap();
    assert_eq!(names(&out[0]), ["vip-health", "vip-1"]);
    assert_eq!(names(&out[1]), ["a-health"]);
    assert_eq!(names(&out[2]), ["a-1", "a-2"]);
    // The split span keeps its resource and scope.
    let received = out[1].received.lock().unwrap();
    let Telemetry::Traces(request) = &received[0] else {
        panic!()
    };
    assert_eq!(request.resource_spans[0].resource, resource("a"));
}

#[tokio::test]
async fn log_routes_see_each_record() {
    let yaml = r#"
default_pipelines: [logs/rest]
table:
  - context: log
    condition: severity_number >= SEVERITY_NUMBER_ERROR
    pipelines: [logs/errors]
"#;
    let (connector, out) = connector(yaml, Signal::Logs, &["logs/errors", "logs/rest"]);
    let record = |severity: i32| LogRecord {
        severity_number: severity,
        ..Default::default()
    };
    let data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("a"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record(9), record(17), record(21), record(5)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    connector.consume(data).await.unwrap();
    assert_eq!(out[0].batch_sizes(), vec![2]);
    assert_eq!(out[1].batch_sizes(), vec![2]);
}

#[tokio::test]
async fn metric_routes_see_each_metric_and_resource_routes_work_for_metrics() {
    let yaml = r#"
default_pipelines: [metrics/rest]
table:
  - condition: attributes["tenant"] == "b"
    pipelines: [metrics/b]
  - context: metric
    condition: HasPrefix(name, "http.")
    pipelines: [metrics/http]
"#;
    let (connector, out) = connector(yaml, Signal::Metrics, &["metrics/b", "metrics/http", "metrics/rest"]);
    let gauge = |name: &str| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default()],
        })),
        ..Default::default()
    };
    let resource_metrics = |tenant: &str| ResourceMetrics {
        resource: resource(tenant),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![gauge("http.requests"), gauge("cpu")],
            ..Default::default()
        }],
        ..Default::default()
    };
    let data = Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![resource_metrics("a"), resource_metrics("b")],
    });
    connector.consume(data).await.unwrap();
    let metric_names = |r: &Recorder| -> Vec<String> {
        r.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|t| match t {
                Telemetry::Metrics(m) => m
                    .resource_metrics
                    .iter()
                    .flat_map(|rm| &rm.scope_metrics)
                    .flat_map(|sm| &sm.metrics)
                    .map(|m| m.name.clone())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect()
    };
    assert_eq!(metric_names(&out[0]), ["http.requests", "cpu"]);
    assert_eq!(metric_names(&out[1]), ["http.requests"]);
    assert_eq!(metric_names(&out[2]), ["cpu"]);
}

#[tokio::test]
async fn a_refusal_from_a_pipeline_goes_back_to_the_sender_and_the_others_still_get_theirs() {
    let (connector, out) = connector(TENANTS, Signal::Traces, &["traces/a", "traces/b", "traces/other"]);
    *out[1].refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", None));
    *out[2].refuse.lock().unwrap() = Some(ConsumeError::permanent("bad"));
    let error = connector
        .consume(tenant_traces(&[("a", &["1"]), ("b", &["1"]), ("c", &["1"])]))
        .await
        .unwrap_err();
    assert_eq!(error.message, "queue full", "the retryable refusal wins");
    assert!(matches!(error.retry, Retry::After(_)));
    assert_eq!(names(&out[0]), ["a-1"]);
}

#[test]
fn pipelines_names_every_routed_and_default_pipeline_with_its_path() {
    let config = routing(TENANTS);
    assert_eq!(
        config.pipelines(),
        vec![
            ("table[0].pipelines[0]".to_string(), "traces/a".to_string()),
            ("table[1].pipelines[0]".to_string(), "traces/b".to_string()),
            ("default_pipelines[0]".to_string(), "traces/other".to_string()),
        ]
    );
    assert!(config.supports(Signal::Logs, Signal::Logs));
    assert!(!config.supports(Signal::Traces, Signal::Logs));
}

#[test]
fn a_bad_condition_is_refused_when_parsed_with_its_path_and_position() {
    let yaml = r#"
table:
  - condition: attributes["tenant"] == "a"
    pipelines: [traces/a]
  - condition: attributes["tenant"] === "b"
    pipelines: [traces/b]
  - statement: route() where nme == "x"
    context: span
    pipelines: [traces/b]
"#;
    let errors = parse(&FACTORY, yaml).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].path, "table[1].condition");
    assert_eq!(errors[1].path, "table[2].statement");
    assert!(errors[1].message.contains("did you mean name"), "{}", errors[1].message);
    let located = errors[1].locate.as_ref().expect("located");
    assert_eq!((located.line, located.column), (1, 15), "column within the statement");
}

#[test]
fn unsupported_and_incomplete_routes_are_refused_with_their_paths() {
    let cases = [
        ("table: []", "table", "at least one route"),
        ("table: [{pipelines: [traces/a]}]", "table[0]", "needs a `condition`"),
        (
            "table: [{condition: 'true', statement: 'route() where true', pipelines: [traces/a]}]",
            "table[0]",
            "not both",
        ),
        (
            "table: [{condition: 'true', pipelines: []}]",
            "table[0].pipelines",
            "at least one pipeline",
        ),
        (
            "table: [{statement: 'set(attributes[\"x\"], 1)', pipelines: [traces/a]}]",
            "table[0].statement",
            "route() where",
        ),
        (
            "table: [{context: request, condition: 'true', pipelines: [traces/a]}]",
            "table[0].context",
            "not supported",
        ),
        (
            "table: [{context: datapoint, condition: 'true', pipelines: [metrics/a]}]",
            "table[0].context",
            "not supported",
        ),
        (
            "{error_mode: loud, table: [{condition: 'true', pipelines: [traces/a]}]}",
            "error_mode",
            "unknown value",
        ),
    ];
    assert_refused(&FACTORY, &cases);
}

#[test]
fn every_error_mode_of_the_collector_is_accepted() {
    for mode in ["propagate", "ignore", "silent"] {
        let yaml = format!("{{error_mode: {mode}, table: [{{condition: 'true', pipelines: [traces/a]}}]}}");
        routing(&yaml);
    }
}

#[test]
fn build_refuses_a_context_that_does_not_fit_the_signal_and_a_pipeline_not_wired() {
    let yaml = r#"
default_pipelines: [logs/rest, traces/rest]
table:
  - context: span
    condition: name == "x"
    pipelines: [logs/a]
"#;
    let config = routing(yaml);
    let rest: Arc<dyn Consumer> = Recorder::new();
    let a: Arc<dyn Consumer> = Recorder::new();
    let error = build(
        &*config,
        "routing",
        Signal::Logs,
        Signal::Logs,
        &[("logs/a", a), ("logs/rest", rest)],
    )
    .err()
    .expect("refused");
    assert_eq!(error.path, "table[0].context");
    // traces/rest is another signal's: the logs instance leaves it to the traces one.
    let rest: Arc<dyn Consumer> = Recorder::new();
    let error = build(&*config, "routing", Signal::Logs, Signal::Logs, &[("logs/rest", rest)])
        .err()
        .expect("refused");
    assert_eq!(error.path, "table[0].pipelines[0]");
    assert!(
        error.message.contains("logs/a does not list routing as a receiver"),
        "{error}"
    );
}

#[tokio::test]
async fn a_route_naming_only_another_signals_pipelines_is_left_out_for_this_signal() {
    let yaml = r#"
default_pipelines: [traces/rest, logs/rest]
table:
  - condition: attributes["tenant"] == "a"
    pipelines: [logs/a]
"#;
    let (connector, out) = connector(yaml, Signal::Traces, &["traces/rest"]);
    connector.consume(tenant_traces(&[("a", &["1"])])).await.unwrap();
    assert_eq!(names(&out[0]), ["a-1"], "falls through to the default");
}
