use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;
use crate::testing::{traces, Recorder};

const USER_EMAIL_SHA256: &str = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514";

fn raw(yaml: &str) -> RawValue {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    figment::value::Value::from(dict)
}

fn compile(yaml: &str) -> Result<CompiledAttributes, Vec<ConfigError>> {
    let config: AttributesConfig = parse_block(&raw(yaml))?;
    CompiledAttributes::compile(&config)
}

fn errors(yaml: &str) -> Vec<String> {
    compile(yaml).unwrap_err().iter().map(ToString::to_string).collect()
}

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn i(v: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    }
}

fn d(v: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(v)),
    }
}

fn b(v: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(v)),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn get<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes.iter().find(|kv| kv.key == key)?.value.as_ref()
}

/// Applies the processor of `yaml` to one attribute list (as a span's).
fn apply(yaml: &str, attributes: Vec<KeyValue>) -> Vec<KeyValue> {
    let compiled = compile(yaml).unwrap();
    let mut data = traces(&[&["span"]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0].scope_spans[0].spans[0].attributes = attributes;
    }
    compiled.processor(Recorder::new()).process(&mut data);
    let Telemetry::Traces(r) = data else { panic!() };
    r.resource_spans[0].scope_spans[0].spans[0].attributes.clone()
}

#[test]
fn insert_sets_a_missing_attribute_only() {
    let yaml = "actions: [{key: env, action: insert, value: prod}]";
    assert_eq!(get(&apply(yaml, vec![]), "env"), Some(&s("prod")));
    let kept = apply(yaml, vec![kv("env", s("dev"))]);
    assert_eq!(get(&kept, "env"), Some(&s("dev")));
    assert_eq!(kept.len(), 1);
}

#[test]
fn update_changes_an_existing_attribute_only() {
    let yaml = "actions: [{key: env, action: update, value: prod}]";
    assert_eq!(get(&apply(yaml, vec![kv("env", s("dev"))]), "env"), Some(&s("prod")));
    assert!(apply(yaml, vec![kv("other", s("x"))]).iter().all(|kv| kv.key != "env"));
}

#[test]
fn upsert_sets_either_way() {
    let yaml = "actions: [{key: env, action: upsert, value: prod}]";
    assert_eq!(get(&apply(yaml, vec![]), "env"), Some(&s("prod")));
    let replaced = apply(yaml, vec![kv("env", s("dev"))]);
    assert_eq!(get(&replaced, "env"), Some(&s("prod")));
    assert_eq!(replaced.len(), 1);
}

#[test]
fn values_keep_their_yaml_types() {
    let yaml = r#"
actions:
  - {key: num, action: insert, value: 42}
  - {key: x, action: insert, value: 1.5}
  - {key: t, action: insert, value: true}
  - {key: s, action: insert, value: "42"}
  - {key: a, action: insert, value: [a, 1]}
"#;
    let out = apply(yaml, vec![]);
    assert_eq!(get(&out, "num"), Some(&i(42)));
    assert_eq!(get(&out, "x"), Some(&d(1.5)));
    assert_eq!(get(&out, "t"), Some(&b(true)));
    assert_eq!(get(&out, "s"), Some(&s("42")));
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![s("a"), i(1)],
        })),
    };
    assert_eq!(get(&out, "a"), Some(&array));
}

#[test]
fn from_attribute_copies_a_value_and_skips_when_the_source_is_missing() {
    let yaml = "actions: [{key: route, action: upsert, from_attribute: http.target}]";
    let out = apply(yaml, vec![kv("http.target", i(7))]);
    assert_eq!(get(&out, "route"), Some(&i(7)));
    assert_eq!(get(&out, "http.target"), Some(&i(7)));
    assert!(get(&apply(yaml, vec![kv("other", i(1))]), "route").is_none());
}

#[test]
fn delete_removes_the_key_and_keys_matching_pattern() {
    let out = apply(
        "actions: [{key: secret, action: delete}]",
        vec![kv("secret", s("x")), kv("keep", s("y"))],
    );
    assert_eq!(out, vec![kv("keep", s("y"))]);
    let out = apply(
        "actions: [{action: delete, pattern: '^db\\.'}]",
        vec![kv("db.statement", s("x")), kv("db.user", s("u")), kv("keep", s("y"))],
    );
    assert_eq!(out, vec![kv("keep", s("y"))]);
}

#[test]
fn hash_replaces_the_value_with_its_sha256() {
    let out = apply(
        "actions: [{key: user.email, action: hash}]",
        vec![
            kv("user.email", s("user@example.com")),
            kv("other", s("user@example.com")),
        ],
    );
    assert_eq!(get(&out, "user.email"), Some(&s(USER_EMAIL_SHA256)));
    assert_eq!(get(&out, "other"), Some(&s("user@example.com")));
    // Stable: the same input always gives the same digest, so hashed values group.
    assert_eq!(actions::hash(&s("user@example.com")), USER_EMAIL_SHA256);
    // Non-strings hash their string form.
    assert_eq!(actions::hash(&i(42)), actions::hash(&s("42")));
    // A missing key is left alone.
    assert!(get(
        &apply("actions: [{key: user.email, action: hash}]", vec![]),
        "user.email"
    )
    .is_none());
}

#[test]
fn extract_upserts_each_named_group_when_the_pattern_matches() {
    let yaml =
        r#"actions: [{key: url.path, action: extract, pattern: '^/api/(?P<api.version>v\d+)/(?P<api.resource>\w+)'}]"#;
    let out = apply(
        yaml,
        vec![kv("url.path", s("/api/v2/users/7")), kv("api.version", s("old"))],
    );
    assert_eq!(get(&out, "api.version"), Some(&s("v2")));
    assert_eq!(get(&out, "api.resource"), Some(&s("users")));
    assert_eq!(get(&out, "url.path"), Some(&s("/api/v2/users/7")));
    assert_eq!(out.len(), 3);
    // No match, or not a string: nothing added.
    assert_eq!(apply(yaml, vec![kv("url.path", s("/health"))]).len(), 1);
    assert_eq!(apply(yaml, vec![kv("url.path", i(1))]).len(), 1);
}

#[test]
fn convert_changes_types_and_leaves_unconvertible_values() {
    let to = |t: &str, v: AnyValue| {
        let yaml = format!("actions: [{{key: v, action: convert, converted_type: {t}}}]");
        get(&apply(&yaml, vec![kv("v", v)]), "v").cloned().unwrap()
    };
    assert_eq!(to("int", s("200")), i(200));
    assert_eq!(to("int", d(3.9)), i(3));
    assert_eq!(to("int", b(true)), i(1));
    assert_eq!(to("int", s("abc")), s("abc"));
    assert_eq!(to("double", s("2.5")), d(2.5));
    assert_eq!(to("double", i(2)), d(2.0));
    assert_eq!(to("double", s("x")), s("x"));
    assert_eq!(to("string", i(200)), s("200"));
    assert_eq!(to("string", d(1.5)), s("1.5"));
    assert_eq!(to("string", b(false)), s("false"));
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![i(1)] })),
    };
    assert_eq!(to("int", array.clone()), array);
}

#[test]
fn actions_run_in_order() {
    let yaml = r#"
actions:
  - {key: a, action: insert, value: "5"}
  - {key: a, action: convert, converted_type: int}
  - {key: b, action: insert, from_attribute: a}
  - {key: a, action: delete}
"#;
    assert_eq!(apply(yaml, vec![]), vec![kv("b", i(5))]);
}

fn with_service_and_attribute(name: &str, service: &str, attr: AnyValue) -> Telemetry {
    let mut data = traces(&[&[name]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0].resource.as_mut().unwrap().attributes =
            vec![kv("service.name", s(service)), kv("deployment.environment", s("prod"))];
        r.resource_spans[0].scope_spans[0].spans[0].attributes = vec![kv("http.method", attr)];
    }
    data
}

fn tagged(compiled: &CompiledAttributes, data: Telemetry) -> bool {
    let mut data = data;
    compiled.processor(Recorder::new()).process(&mut data);
    let Telemetry::Traces(r) = data else { panic!() };
    get(&r.resource_spans[0].scope_spans[0].spans[0].attributes, "tagged").is_some()
}

const TAG: &str = "actions: [{key: tagged, action: insert, value: true}]\n";

#[test]
fn include_strict_selects_spans_by_service_name_attribute_and_resource() {
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: strict\n  services: [checkout]\n  span_names: [GET /cart]\n  \
         attributes: [{{key: http.method, value: GET}}]\n  resources: [{{key: deployment.environment, value: prod}}]\n"
    ))
    .unwrap();
    assert!(tagged(
        &compiled,
        with_service_and_attribute("GET /cart", "checkout", s("GET"))
    ));
    assert!(!tagged(
        &compiled,
        with_service_and_attribute("GET /cart", "search", s("GET"))
    ));
    assert!(!tagged(
        &compiled,
        with_service_and_attribute("GET /cartx", "checkout", s("GET"))
    ));
    assert!(!tagged(
        &compiled,
        with_service_and_attribute("GET /cart", "checkout", s("POST"))
    ));
    // Strict values compare types too.
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: strict\n  attributes: [{{key: http.method, value: 1}}]\n"
    ))
    .unwrap();
    assert!(tagged(&compiled, with_service_and_attribute("x", "a", i(1))));
    assert!(!tagged(&compiled, with_service_and_attribute("x", "a", s("1"))));
    // A key without value only needs to be present.
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: strict\n  resources: [{{key: deployment.environment}}]\n"
    ))
    .unwrap();
    assert!(tagged(&compiled, with_service_and_attribute("x", "a", i(1))));
}

#[test]
fn exclude_regexp_skips_matching_spans() {
    let compiled = compile(&format!(
        "{TAG}exclude:\n  match_type: regexp\n  span_names: ['^health', 'ready$']\n"
    ))
    .unwrap();
    assert!(!tagged(&compiled, with_service_and_attribute("healthz", "a", s("GET"))));
    assert!(!tagged(
        &compiled,
        with_service_and_attribute("GET /ready", "a", s("GET"))
    ));
    assert!(tagged(
        &compiled,
        with_service_and_attribute("GET /cart", "a", s("GET"))
    ));
}

#[test]
fn include_and_exclude_combine() {
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: regexp\n  services: ['^check']\n\
         exclude:\n  match_type: regexp\n  attributes: [{{key: http.method, value: '^(HEAD|OPTIONS)$'}}]\n"
    ))
    .unwrap();
    assert!(tagged(&compiled, with_service_and_attribute("x", "checkout", s("GET"))));
    assert!(!tagged(
        &compiled,
        with_service_and_attribute("x", "checkout", s("HEAD"))
    ));
    assert!(!tagged(&compiled, with_service_and_attribute("x", "search", s("GET"))));
}

#[test]
fn span_kinds_and_libraries_select_spans() {
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: strict\n  span_kinds: [SPAN_KIND_SERVER]\n  \
         libraries: [{{name: test}}, {{name: other, version: '1.0'}}]\n"
    ))
    .unwrap();
    // testing::span is a server span in scope `test`.
    assert!(tagged(&compiled, with_service_and_attribute("x", "a", s("GET"))));
    let mut client = with_service_and_attribute("x", "a", s("GET"));
    if let Telemetry::Traces(r) = &mut client {
        r.resource_spans[0].scope_spans[0].spans[0].kind = 3;
    }
    assert!(!tagged(&compiled, client));
    let mut other_scope = with_service_and_attribute("x", "a", s("GET"));
    if let Telemetry::Traces(r) = &mut other_scope {
        r.resource_spans[0].scope_spans[0].scope.as_mut().unwrap().name = "other".into();
    }
    assert!(!tagged(&compiled, other_scope.clone()), "version 1.0 required");
    if let Telemetry::Traces(r) = &mut other_scope {
        r.resource_spans[0].scope_spans[0].scope.as_mut().unwrap().version = "1.0".into();
    }
    assert!(tagged(&compiled, other_scope));
    let errs =
        errors("actions: [{key: a, action: delete}]\ninclude: {match_type: strict, span_kinds: [SPAN_KIND_SERVR]}");
    assert_eq!(
        errs,
        vec!["include.span_kinds[0]: unknown span kind, did you mean SPAN_KIND_SERVER?"]
    );
}

#[test]
fn delete_without_key_does_not_touch_empty_keys_outside_the_pattern() {
    let out = apply(
        "actions: [{action: delete, pattern: '^tmp'}]",
        vec![kv("", s("odd")), kv("tmp.x", s("x"))],
    );
    assert_eq!(out, vec![kv("", s("odd"))]);
}

fn logs(records: Vec<LogRecord>) -> Telemetry {
    Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("api"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn applies_to_log_records_selected_by_severity_text() {
    let compiled = compile(
        "actions: [{key: user.email, action: hash}, {key: team, action: insert, value: core}]\n\
         include:\n  match_type: strict\n  log_severity_texts: [ERROR]\n",
    )
    .unwrap();
    compiled.check_signal(Signal::Logs).unwrap();
    let record = |severity: &str| LogRecord {
        severity_text: severity.into(),
        attributes: vec![kv("user.email", s("user@example.com"))],
        ..Default::default()
    };
    let mut data = logs(vec![record("ERROR"), record("INFO")]);
    compiled.processor(Recorder::new()).process(&mut data);
    let Telemetry::Logs(r) = data else { panic!() };
    let records = &r.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(get(&records[0].attributes, "user.email"), Some(&s(USER_EMAIL_SHA256)));
    assert_eq!(get(&records[0].attributes, "team"), Some(&s("core")));
    assert_eq!(get(&records[1].attributes, "user.email"), Some(&s("user@example.com")));
    assert!(get(&records[1].attributes, "team").is_none());
}

#[test]
fn log_bodies_match_with_regexp() {
    let compiled = compile(&format!(
        "{TAG}include:\n  match_type: regexp\n  log_bodies: ['timeout']\n"
    ))
    .unwrap();
    let record = |body: &str| LogRecord {
        body: Some(s(body)),
        ..Default::default()
    };
    let mut data = logs(vec![record("upstream timeout after 3s"), record("ok")]);
    compiled.processor(Recorder::new()).process(&mut data);
    let Telemetry::Logs(r) = data else { panic!() };
    let records = &r.resource_logs[0].scope_logs[0].log_records;
    assert!(get(&records[0].attributes, "tagged").is_some());
    assert!(get(&records[1].attributes, "tagged").is_none());
}

fn metrics() -> Telemetry {
    let point = |v: &str| NumberDataPoint {
        attributes: vec![kv("http.route", s(v))],
        ..Default::default()
    };
    Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("api"))],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![point("/a"), point("/b")],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "http.server.duration".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: vec![kv("http.route", s("/a"))],
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "process.cpu".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![point("/c")],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn point_attributes(data: &Telemetry) -> Vec<Vec<KeyValue>> {
    let Telemetry::Metrics(r) = data else { panic!() };
    let mut out = Vec::new();
    for m in &r.resource_metrics[0].scope_metrics[0].metrics {
        match m.data.as_ref().unwrap() {
            metric::Data::Sum(x) => out.extend(x.data_points.iter().map(|p| p.attributes.clone())),
            metric::Data::Gauge(x) => out.extend(x.data_points.iter().map(|p| p.attributes.clone())),
            metric::Data::Histogram(x) => out.extend(x.data_points.iter().map(|p| p.attributes.clone())),
            _ => unreachable!(),
        }
    }
    out
}

#[test]
fn applies_to_metric_data_points_selected_by_metric_name() {
    let compiled = compile(
        "actions: [{key: http.route, action: upsert, value: redacted}]\n\
         include:\n  match_type: regexp\n  metric_names: ['^http\\.server\\.']\n",
    )
    .unwrap();
    compiled.check_signal(Signal::Metrics).unwrap();
    let mut data = metrics();
    compiled.processor(Recorder::new()).process(&mut data);
    let points = point_attributes(&data);
    assert_eq!(points.len(), 4);
    for p in &points[..3] {
        assert_eq!(get(p, "http.route"), Some(&s("redacted")));
    }
    assert_eq!(get(&points[3], "http.route"), Some(&s("/c")));
}

#[test]
fn metric_names_strict_and_without_filters() {
    let compiled = compile(
        "actions: [{key: http.route, action: delete}]\n\
         exclude:\n  match_type: strict\n  metric_names: [process.cpu]\n",
    )
    .unwrap();
    let mut data = metrics();
    compiled.processor(Recorder::new()).process(&mut data);
    let points = point_attributes(&data);
    assert!(points[..3].iter().all(Vec::is_empty));
    assert_eq!(points[3].len(), 1);

    let compiled = compile("actions: [{key: http.route, action: delete}]").unwrap();
    let mut data = metrics();
    compiled.processor(Recorder::new()).process(&mut data);
    assert!(point_attributes(&data).iter().all(Vec::is_empty));
}

#[test]
fn match_properties_of_another_signal_are_rejected_for_that_pipeline() {
    let compiled = compile(&format!("{TAG}include:\n  match_type: strict\n  span_names: [x]\n")).unwrap();
    compiled.check_signal(Signal::Traces).unwrap();
    assert_eq!(
        compiled.check_signal(Signal::Logs).unwrap_err(),
        "include.span_names does not apply to logs"
    );
    assert!(compiled.check_signal(Signal::Metrics).is_err());
    let compiled = compile(&format!("{TAG}exclude:\n  match_type: strict\n  metric_names: [x]\n")).unwrap();
    assert_eq!(
        compiled.check_signal(Signal::Traces).unwrap_err(),
        "exclude.metric_names does not apply to traces"
    );
}

#[test]
fn config_errors_name_the_action_and_field() {
    let errs = errors(
        r#"
actions:
  - {key: a, action: insert, value: x}
  - {key: b, action: insert}
  - {key: c, action: extract, pattern: '^(\d+)$'}
  - {key: d, action: extract, pattern: '(?P<x'}
  - {key: e, action: convert}
  - {key: f, action: upsert, value: 1, from_attribute: g}
  - {action: update, value: 1}
  - {key: h, action: delete, value: 1}
"#,
    );
    assert_eq!(errs.len(), 7, "{errs:#?}");
    assert!(errs[0].starts_with("actions[1].value: missing"), "{errs:#?}");
    assert!(
        errs[1].starts_with("actions[2].pattern: has no named groups"),
        "{errs:#?}"
    );
    assert!(errs[2].starts_with("actions[3].pattern: invalid regex"), "{errs:#?}");
    assert!(errs[3].starts_with("actions[4].converted_type: missing"), "{errs:#?}");
    assert!(errs[4].starts_with("actions[5]: set only one of"), "{errs:#?}");
    assert_eq!(errs[5], "actions[6].key: missing key");
    assert_eq!(errs[6], "actions[7].value: not used by action delete");
}

#[tokio::test]
async fn from_context_copies_request_metadata_and_auth_attributes() {
    use crate::pdata::client::{self, ClientInfo};
    let yaml = "actions:\n  - {key: tenant, action: insert, from_context: metadata.x-tenant}\n  - {key: user, action: upsert, from_context: auth.username}\n  - {key: missing, action: insert, from_context: metadata.absent}\n";
    let mut headers = http::HeaderMap::new();
    headers.append("X-Tenant", http::HeaderValue::from_static("acme"));
    headers.append("x-tenant", http::HeaderValue::from_static("beta"));
    let info = ClientInfo::new(
        ClientInfo::metadata_from(&headers),
        [("username".to_string(), "alice".to_string())].into(),
    );
    let out = client::scope(Some(Arc::new(info)), async { apply(yaml, vec![]) }).await;
    assert_eq!(
        get(&out, "tenant"),
        Some(&s("acme;beta")),
        "several values are joined with ;"
    );
    assert_eq!(get(&out, "user"), Some(&s("alice")));
    assert_eq!(get(&out, "missing"), None, "an absent value sets nothing");
    let out = apply(yaml, vec![]);
    assert!(out.is_empty(), "outside a request nothing is set: {out:?}");
    let errs =
        errors("actions: [{key: a, action: insert, from_context: \"\"}, {key: b, action: delete, from_context: x}]");
    assert_eq!(
        errs,
        vec![
            "actions[0].from_context: must not be empty".to_string(),
            "actions[1].from_context: not used by action delete".to_string()
        ]
    );
}

#[test]
fn unknown_actions_get_a_hint_and_empty_configs_are_rejected() {
    let errs = errors("actions: [{key: a, action: upsrt, value: 1}]");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("did you mean upsert?"), "{errs:?}");
    let errs = errors("actions: [{key: a, action: convert, converted_type: float}]");
    assert!(errs[0].contains("converted_type"), "{errs:?}");
    assert_eq!(errors("{}"), vec!["actions: at least one action is required"]);
    let errs = errors("actions: [{key: a, action: delete}]\ninclude: {match_type: strict}");
    assert!(errs[0].starts_with("include: set at least one of"), "{errs:?}");
    let errs = errors("actions: [{key: a, action: delete}]\nexclude: {match_type: regexp, span_names: ['(']}");
    assert!(errs[0].starts_with("exclude.span_names[0]: invalid regex"), "{errs:?}");
    let errs = errors("actions: [{key: a, action: delete}]\nacitons: []");
    assert!(errs[0].contains("did you mean actions?"), "{errs:?}");
}

#[tokio::test]
async fn consume_forwards_and_start_shutdown_twice_are_safe() {
    let compiled = compile("actions: [{key: env, action: upsert, value: prod}]").unwrap();
    let next = Recorder::new();
    let processor: Arc<dyn Processor> =
        crate::testing::build_processor(&compiled, "attributes", Signal::Traces, next.clone());
    processor.start().await.unwrap();
    processor.start().await.unwrap();
    processor.consume(traces(&[&["a", "b"]])).await.unwrap();
    processor.shutdown().await;
    processor.shutdown().await;
    let received = next.received.lock().unwrap();
    let Telemetry::Traces(r) = &received[0] else { panic!() };
    for span in &r.resource_spans[0].scope_spans[0].spans {
        assert_eq!(get(&span.attributes, "env"), Some(&s("prod")));
    }
}

#[test]
fn the_factory_is_registered() {
    let factory = crate::component::registry::find(crate::components::PROCESSORS, "attributes").unwrap();
    assert!((factory.parse)(&raw("actions: [{key: a, action: delete}]")).is_ok());
}
