use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::component::Retry;
use crate::confmap::Locate;
use crate::testing::Recorder;

fn compile(yaml: &str) -> Result<CompiledTransform, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    let config: TransformConfig = parse_block(&figment::value::Value::from(dict))?;
    CompiledTransform::compile(&config)
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

fn i(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}

fn map(kvs: Vec<KeyValue>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList { values: kvs })),
    })
}

fn span_fixture() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("process.command_line", s("run --pw x")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans: vec![
                    Span {
                        name: "GET /users/42".into(),
                        kind: 2,
                        attributes: vec![
                            kv("http.response.status_code", i(503)),
                            kv("url.full", s("https://x/?token=abc&q=1")),
                            kv("user.email", s("a@example.com")),
                            kv("user.name", s("ÅsaÅsa")),
                        ],
                        events: vec![Event {
                            name: "exception".into(),
                            attributes: vec![kv("exception.message", s("boom"))],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    Span {
                        name: "GET /healthz".into(),
                        kind: 2,
                        attributes: vec![kv("http.response.status_code", i(200))],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Runs `yaml` over the span fixture; returns it changed.
fn on_spans(yaml: &str) -> ExportTraceServiceRequest {
    let transform = compile(yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
    let mut data = Telemetry::Traces(span_fixture());
    transform.apply(&mut data, "transform").unwrap();
    let Telemetry::Traces(out) = data else { unreachable!() };
    out
}

/// One statement over the fixture must give the fixture with exactly `change` made.
fn check_span_statement(statement: &str, change: impl FnOnce(&mut ExportTraceServiceRequest)) {
    let out = on_spans(&format!("trace_statements: ['{statement}']"));
    let mut expected = span_fixture();
    change(&mut expected);
    assert_eq!(out, expected, "{statement}");
}

fn first_span(r: &mut ExportTraceServiceRequest) -> &mut Span {
    &mut r.resource_spans[0].scope_spans[0].spans[0]
}

fn resource_attrs(r: &mut ExportTraceServiceRequest) -> &mut Vec<KeyValue> {
    &mut r.resource_spans[0].resource.as_mut().unwrap().attributes
}

#[test]
fn each_editor_changes_exactly_what_it_says_on_spans() {
    check_span_statement(
        r#"set(span.name, "GET /users/{id}") where span.name == "GET /users/42""#,
        |r| first_span(r).name = "GET /users/{id}".into(),
    );
    check_span_statement(r#"set(span.attributes["tier"], "gold")"#, |r| {
        for span in &mut r.resource_spans[0].scope_spans[0].spans {
            span.attributes.push(kv("tier", s("gold")));
        }
    });
    check_span_statement(
        r#"set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.response.status_code"] >= 500"#,
        |r| {
            first_span(r).status = Some(Status {
                code: 2,
                ..Default::default()
            })
        },
    );
    check_span_statement(
        r#"set(span.kind, SPAN_KIND_CLIENT) where span.name == "GET /healthz""#,
        |r| r.resource_spans[0].scope_spans[0].spans[1].kind = 3,
    );
    check_span_statement(r#"delete_key(resource.attributes, "process.command_line")"#, |r| {
        resource_attrs(r).truncate(1)
    });
    check_span_statement(r#"delete_matching_keys(span.attributes, "^user\\.")"#, |r| {
        first_span(r).attributes.truncate(2)
    });
    check_span_statement(r#"keep_keys(span.attributes, ["url.full"])"#, |r| {
        first_span(r).attributes = vec![kv("url.full", s("https://x/?token=abc&q=1"))];
        r.resource_spans[0].scope_spans[0].spans[1].attributes.clear();
    });
    check_span_statement(r#"keep_matching_keys(span.attributes, "^http")"#, |r| {
        first_span(r).attributes.truncate(1)
    });
    check_span_statement(r#"limit(span.attributes, 2, ["user.name"])"#, |r| {
        let attrs = &mut first_span(r).attributes;
        attrs.remove(2);
        attrs.remove(1);
    });
    check_span_statement(r#"truncate_all(span.attributes, 3)"#, |r| {
        let attrs = &mut first_span(r).attributes;
        attrs[1].value = s("htt");
        attrs[2].value = s("a@e");
        // "Å" is two bytes: three bytes end inside the second one.
        attrs[3].value = s("Ås");
    });
    check_span_statement(
        r#"replace_pattern(span.attributes["url.full"], "token=[^&]*", "token=***")"#,
        |r| first_span(r).attributes[1].value = s("https://x/?token=***&q=1"),
    );
    check_span_statement(r#"replace_pattern(span.name, "/(\\d+)$", "/{id:$1}")"#, |r| {
        first_span(r).name = "GET /users/{id:42}".into()
    });
    check_span_statement(
        r#"replace_all_patterns(span.attributes, "key", "^user\\.", "enduser.")"#,
        |r| {
            let attrs = &mut first_span(r).attributes;
            attrs[2].key = "enduser.email".into();
            attrs[3].key = "enduser.name".into();
        },
    );
    check_span_statement(
        r#"replace_all_patterns(span.attributes, "value", "@.*$", "@***")"#,
        |r| first_span(r).attributes[2].value = s("a@***"),
    );
    check_span_statement(r#"replace_match(span.name, "GET /users/*", "GET /users/{id}")"#, |r| {
        first_span(r).name = "GET /users/{id}".into()
    });
    check_span_statement(
        r#"replace_all_matches(span.attributes, "*@example.com", "redacted")"#,
        |r| first_span(r).attributes[2].value = s("redacted"),
    );
    check_span_statement(
        r#"set(span.attributes["route"], Concat([span.name, span.kind], "|"))"#,
        |r| {
            for span in &mut r.resource_spans[0].scope_spans[0].spans {
                let value = format!("{}|2", span.name);
                span.attributes.push(kv("route", s(&value)));
            }
        },
    );
    check_span_statement(
        r#"set(resource.attributes["svc"], ConvertCase(resource.attributes["service.name"], "upper"))"#,
        |r| resource_attrs(r).push(kv("svc", s("CHECKOUT"))),
    );
    check_span_statement(r#"set(scope.version, "2.0")"#, |r| {
        r.resource_spans[0].scope_spans[0].scope.as_mut().unwrap().version = "2.0".into()
    });
    check_span_statement(
        r#"set(spanevent.attributes["seen"], true) where spanevent.name == "exception""#,
        |r| {
            first_span(r).events[0].attributes.push(kv(
                "seen",
                Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                }),
            ))
        },
    );
}

#[test]
fn converters() {
    let cases: &[(&str, Option<AnyValue>)] = &[
        (r#"Split(span.attributes["url.full"], "?")"#, {
            Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![s("https://x/").unwrap(), s("token=abc&q=1").unwrap()],
                })),
            })
        }),
        (r#"Substring(span.name, 4, 6)"#, s("/users")),
        (r#"ConvertCase("HelloWorld", "snake")"#, s("hello_world")),
        (r#"ConvertCase("hello_world", "camel")"#, s("HelloWorld")),
        (r#"ToLowerCase("ABC")"#, s("abc")),
        (r#"Int("42")"#, i(42)),
        (r#"Int(2.9)"#, i(2)),
        (
            r#"Double("1.5")"#,
            Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(1.5)),
            }),
        ),
        (r#"String(span.attributes["http.response.status_code"])"#, s("503")),
        (
            r#"SHA256("abc")"#,
            s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        (r#"Concat(["a", span.attributes["missing"]], "-")"#, s("a-<nil>")),
    ];
    for (converter, expected) in cases {
        let out = on_spans(&format!(
            "trace_statements: ['set(span.attributes[\"out\"], {converter}) where span.name == \"GET /users/42\"']"
        ));
        let span = &out.resource_spans[0].scope_spans[0].spans[0];
        let got = span
            .attributes
            .iter()
            .find(|kv| kv.key == "out")
            .and_then(|kv| kv.value.clone());
        assert_eq!(&got, expected, "{converter}");
    }
    // A converter that cannot convert gives nil, and nothing is set to nil.
    let out = on_spans(r#"trace_statements: ['set(span.attributes["out"], Int("abc"))']"#);
    assert_eq!(out, span_fixture());
}

#[test]
fn merge_maps_and_flatten() {
    let mut data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: map(vec![
                        kv("user", map(vec![kv("id", i(7)), kv("name", s("ann"))])),
                        kv("tags", {
                            Some(AnyValue {
                                value: Some(any_value::Value::ArrayValue(ArrayValue {
                                    values: vec![s("a").unwrap()],
                                })),
                            })
                        }),
                    ]),
                    attributes: vec![kv("user.id", i(1)), kv("keep", s("me"))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let transform = compile(
        r#"
log_statements:
  - set(log.attributes["copy"], log.body)
  - flatten(log.attributes["copy"])
  - merge_maps(log.attributes, log.attributes["copy"], "insert")
  - delete_key(log.attributes, "copy")
"#,
    )
    .unwrap();
    transform.apply(&mut data, "transform").unwrap();
    let Telemetry::Logs(out) = data else { unreachable!() };
    let record = &out.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        record.attributes,
        vec![
            kv("user.id", i(1)),
            kv("keep", s("me")),
            kv("user.name", s("ann")),
            kv("tags.0", s("a")),
        ],
        "insert keeps user.id = 1"
    );
}

fn log_fixture() -> Telemetry {
    Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: s("request failed"),
                        severity_number: 9,
                        attributes: vec![kv("http.route", s("/cart"))],
                        ..Default::default()
                    },
                    LogRecord {
                        body: s("ok"),
                        severity_number: 9,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn records(data: &Telemetry) -> Vec<LogRecord> {
    let Telemetry::Logs(r) = data else { unreachable!() };
    r.resource_logs[0].scope_logs[0].log_records.clone()
}

#[test]
fn log_statements_and_where_clauses() {
    let transform = compile(
        r#"
log_statements:
  - set(log.severity_text, "FAIL") where log.body == "request failed"
  - set(log.severity_number, SEVERITY_NUMBER_ERROR) where log.severity_text == "FAIL"
  - set(log.body, log.attributes["http.route"]) where log.attributes["http.route"] != nil
"#,
    )
    .unwrap();
    let mut data = log_fixture();
    transform.apply(&mut data, "transform").unwrap();
    let mut expected = records(&log_fixture());
    expected[0].severity_text = "FAIL".into();
    expected[0].severity_number = 17;
    expected[0].body = s("/cart");
    assert_eq!(records(&data), expected);
}

#[test]
fn group_conditions_are_ored_and_gate_the_statements() {
    let transform = compile(
        r#"
log_statements:
  - context: log
    conditions: ['body == "nothing"', 'body == "ok"']
    statements: ['set(attributes["matched"], 1)']
"#,
    )
    .unwrap();
    let mut data = log_fixture();
    transform.apply(&mut data, "transform").unwrap();
    let out = records(&data);
    assert_eq!(out[0], records(&log_fixture())[0]);
    assert_eq!(out[1].attributes, vec![kv("matched", i(1))]);
}

#[test]
fn context_is_inferred_from_the_most_specific_prefix() {
    let transform = compile(
        r#"
trace_statements:
  - set(resource.attributes["a"], "1")
  - set(span.name, "x")
metric_statements:
  - set(metric.description, "d") where datapoint.attributes["k"] == "v"
log_statements:
  - statements: ['set(resource.attributes["b"], "2")']
"#,
    )
    .unwrap();
    assert_eq!(transform.traces.len(), 1);
    assert_eq!(transform.traces[0].context, Context::Span);
    assert_eq!(transform.metrics[0].context, Context::DataPoint);
    assert_eq!(transform.logs[0].context, Context::Resource);
}

#[test]
fn error_modes() {
    // Substring out of range fails on the first record ("request failed" is long
    // enough, "ok" is not).
    let yaml = |mode: &str| {
        format!(
            "error_mode: {mode}\nlog_statements:\n  - set(log.attributes[\"head\"], Substring(log.body, 0, 7))\n  - set(log.attributes[\"after\"], true)\n"
        )
    };
    let bool_true = Some(AnyValue {
        value: Some(any_value::Value::BoolValue(true)),
    });
    for mode in ["ignore", "silent"] {
        let mut data = log_fixture();
        compile(&yaml(mode)).unwrap().apply(&mut data, "transform").unwrap();
        let out = records(&data);
        assert_eq!(
            out[0].attributes[1..],
            [kv("head", s("request")), kv("after", bool_true.clone())]
        );
        assert_eq!(
            out[1].attributes,
            [kv("after", bool_true.clone())],
            "{mode}: the next statement still runs"
        );
    }
    let mut data = log_fixture();
    let error = compile(&yaml("propagate"))
        .unwrap()
        .apply(&mut data, "transform")
        .unwrap_err();
    assert!(error.message.contains("Substring(0, 7) is out of range"), "{error}");
    // The default is propagate.
    let default =
        compile("log_statements: ['set(log.attributes[\"x\"], ToUpperCase(log.attributes[\"missing\"]))']").unwrap();
    assert_eq!(default.logs[0].error_mode, ErrorMode::Propagate);
    // A group's error_mode overrides the processor's.
    let group = compile(
        "error_mode: ignore\nlog_statements:\n  - error_mode: silent\n    statements: ['set(log.body, \"x\")']\n",
    )
    .unwrap();
    assert_eq!(group.logs[0].error_mode, ErrorMode::Silent);
}

#[tokio::test]
async fn propagate_refuses_the_payload_and_sends_nothing() {
    let transform =
        compile("log_statements: ['set(log.attributes[\"x\"], ToUpperCase(log.attributes[\"missing\"]))']").unwrap();
    let next = Recorder::new();
    let processor = crate::testing::build_processor(&transform, "transform", Signal::Logs, next.clone());
    let error = processor.consume(log_fixture()).await.unwrap_err();
    assert_eq!(error.retry, Retry::Never);
    assert!(
        error.message.contains("ToUpperCase expects a string, found nil"),
        "{error}"
    );
    assert!(next.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_processor_forwards_the_changed_data() {
    let transform = compile("trace_statements: ['set(span.name, \"renamed\")']").unwrap();
    let next = Recorder::new();
    let processor = crate::testing::build_processor(&transform, "transform", Signal::Traces, next.clone());
    processor.consume(Telemetry::Traces(span_fixture())).await.unwrap();
    let received = next.received.lock().unwrap();
    assert_eq!(crate::testing::span_names(&received[0]), ["renamed", "renamed"]);
}

/// Compiles `yaml` and returns its one error as (path, line, column, message).
fn error_of(yaml: &str) -> (String, usize, usize, String) {
    let errors = compile(yaml).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    let (line, column) = error
        .locate
        .as_ref()
        .map_or((0, 0), |Locate { line, column, .. }| (*line, *column));
    (error.path.clone(), line, column, error.message.clone())
}

#[test]
fn invalid_statements_are_refused_with_their_position() {
    let cases: &[(&str, &str, usize, usize, &str)] = &[
        ("trace_statements: ['set(span.nme, \"x\")']", "trace_statements[0]", 1, 5, "unknown path nme, did you mean name?"),
        ("trace_statements: ['sett(span.name, \"x\")']", "trace_statements[0]", 1, 1, "unknown editor sett, did you mean set?"),
        ("trace_statements: ['set(span.duration, 5)']", "trace_statements[0]", 1, 5, "duration cannot be changed in span statements"),
        ("trace_statements: ['set(span.name, 5)']", "trace_statements[0]", 1, 16, "cannot set a string field to 5 (int)"),
        ("trace_statements: ['set(span.name, \"x\") where span.kind == \"server\"']", "trace_statements[0]", 1, 40, "cannot compare"),
        ("log_statements: ['set(span.name, \"x\")']", "log_statements[0]", 1, 5, "span paths cannot be used here"),
        ("log_statements: ['set(attributes[\"x\"], \"y\")']", "log_statements[0]", 1, 1, "cannot infer the context"),
        ("trace_statements: ['replace_pattern(span.name, \"(\", \"x\")']", "trace_statements[0]", 1, 28, "invalid regex"),
        ("trace_statements: ['limit(span.attributes, 1, [\"a\"])']", "trace_statements[0]", 1, 24, "must be greater than the number of priority keys"),
        ("log_statements:\n  - context: log\n    statements: ['set(body, Int())']", "log_statements[0].statements[0]", 1, 11, "wrong number of arguments: Int(value) takes 1, found 0"),
        ("log_statements:\n  - context: log\n    conditions: ['IsMatch(Concat([body], \"\"), \"x\")']\n    statements: ['set(body, \"x\")']", "log_statements[0].conditions[0]", 1, 9, "Concat can be used in a statement's arguments, not in conditions"),
        ("metric_statements:\n  - context: span\n    statements: ['set(name, \"x\")']", "metric_statements[0].context", 0, 0, "span is not a context of this section"),
    ];
    for (yaml, path, line, column, message) in cases {
        let (got_path, got_line, got_column, got_message) = error_of(yaml);
        assert_eq!(
            (got_path.as_str(), got_line, got_column),
            (*path, *line, *column),
            "{yaml}: {got_message}"
        );
        assert!(got_message.contains(message), "{yaml}: {got_message}");
    }
    let errors = compile("log_statements:\n  - context: log\n    statement: ['set(body, \"x\")']").unwrap_err();
    assert!(
        errors.iter().any(|e| e.path.starts_with("log_statements[0]")),
        "{errors:?}"
    );
    let errors = compile("flatten_data: true").unwrap_err();
    assert_eq!(errors[0].path, "flatten_data");
}

#[test]
fn metric_and_data_point_statements() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };

    let point = |env: &str, value: i64| NumberDataPoint {
        attributes: vec![kv("env", s(env))],
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    };
    let fixture = || ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "requests".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![point("dev", 1), point("prod", 2)],
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let transform = compile(
        r#"
metric_statements:
  - set(metric.description, "Sum") where metric.type == METRIC_DATA_TYPE_SUM
  - statements:
      - set(datapoint.attributes["stage"], "live") where datapoint.attributes["env"] == "prod"
      - set(datapoint.value_int, 0) where datapoint.attributes["env"] == "dev"
"#,
    )
    .unwrap();
    assert_eq!(transform.metrics[0].context, Context::Metric);
    assert_eq!(transform.metrics[1].context, Context::DataPoint);
    let mut data = Telemetry::Metrics(fixture());
    transform.apply(&mut data, "transform").unwrap();
    let Telemetry::Metrics(out) = data else { unreachable!() };
    let mut expected = fixture();
    let metric = &mut expected.resource_metrics[0].scope_metrics[0].metrics[0];
    metric.description = "Sum".into();
    let Some(metric::Data::Sum(sum)) = &mut metric.data else {
        unreachable!()
    };
    sum.data_points[0].value = Some(number_data_point::Value::AsInt(0));
    sum.data_points[1].attributes.push(kv("stage", s("live")));
    assert_eq!(out, expected);
}

proptest::proptest! {
    /// Whatever a config holds, parsing a statement returns, never panics, and an
    /// error has a 1-based position.
    #[test]
    fn statement_parsing_never_panics(text in proptest::prelude::any::<String>()) {
        for context in Context::ALL {
            if let Err(error) = crate::ottl::Statement::parse(&text, context) {
                proptest::prop_assert!(error.line >= 1 && error.column >= 1);
            }
        }
    }

    #[test]
    fn statement_fragments_never_panic(parts in proptest::collection::vec(proptest::sample::select(vec![
        "set(", "delete_key(", "keep_keys(", "limit(", "replace_pattern(", "merge_maps(", "flatten(",
        "span.name", "span.attributes", "[\"k\"]", "[0]", "log.body", "resource.attributes", "scope.name",
        "Concat(", "Split(", "Substring(", "Int(", "[", "]", "(", ")", ",", "\"x\"", "1", "-1", "where",
        "==", "and", "nil", "true", "SPAN_KIND_SERVER",
    ]), 0..14)) {
        let text = parts.join(" ");
        for context in Context::ALL {
            let _ = crate::ottl::Statement::parse(&text, context);
        }
    }
}
