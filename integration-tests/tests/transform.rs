//! The `transform` processor in the real binary: OTLP spans and logs go in over gRPC,
//! come out at an OTLP backend changed exactly as the statements say; and `sloop
//! validate` refuses an invalid statement, pointing at its file, line and column.

use std::time::Duration;

use integration_tests::payloads::{kv_int, kv_str};
use integration_tests::{GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

const STATEMENTS: &str = r#"
  transform:
    trace_statements:
      - set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.response.status_code"] >= 500
      - replace_pattern(span.attributes["url.full"], "token=[^&]*", "token=***")
      - set(span.name, Concat([span.attributes["http.request.method"], span.attributes["http.route"]], " "))
      - delete_key(resource.attributes, "process.command_line")
    log_statements:
      - context: log
        conditions: ['log.severity_number >= SEVERITY_NUMBER_ERROR']
        statements:
          - set(log.attributes["alert"], true)
          - set(log.severity_text, "ERROR")
          - keep_keys(log.attributes, ["alert", "user.id"])
"#;

fn attr(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

fn string(s: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(s.into()))
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv_str("service.name", "shop"),
            kv_str("process.command_line", "shop --password hunter2"),
        ],
        ..Default::default()
    })
}

fn spans() -> ExportTraceServiceRequest {
    let span = |id: u8, status: i64| Span {
        trace_id: vec![id; 16],
        span_id: vec![id; 8],
        name: format!("span {id}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        attributes: vec![
            kv_str("http.request.method", "GET"),
            kv_str("http.route", "/cart"),
            kv_int("http.response.status_code", status),
            kv_str("url.full", "https://shop/cart?token=s3cret&page=2"),
        ],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1, 503), span(2, 200)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let record = |severity: i32, body: &str| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_number: severity,
        severity_text: "x".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        attributes: vec![kv_str("user.id", "u-7"), kv_str("session", "abc")],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record(17, "payment failed"), record(9, "fine")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_change_exactly_what_they_say_on_spans_and_logs() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}processors:{STATEMENTS}exporters:\n  otlp_grpc:\n    endpoint: {endpoint}\n    tls:\n      insecure: true\n{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.service_yaml(&["transform"], &["otlp_grpc"]),
    );
    let mut sloop = Sloop::start(&yaml, &ports).await;

    let mut traces = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop");
    traces.export(spans()).await.expect("sloop accepts the spans");
    let mut logs_client = LogsServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop");
    logs_client.export(logs()).await.expect("sloop accepts the logs");

    backend.received().wait_for_spans(2, DATA_TIMEOUT).await;
    backend.received().wait_for_log_records(2, DATA_TIMEOUT).await;

    let requests = backend.received().trace_requests();
    let rs = &requests[0].resource_spans[0];
    assert_eq!(
        rs.resource.as_ref().unwrap().attributes,
        vec![kv_str("service.name", "shop")],
        "process.command_line is deleted, service.name kept"
    );
    let out = &rs.scope_spans[0].spans;
    let sent = spans();
    let sent = &sent.resource_spans[0].scope_spans[0].spans;
    for (out, sent) in out.iter().zip(sent) {
        assert_eq!(out.name, "GET /cart");
        assert_eq!(
            attr(&out.attributes, "url.full"),
            string("https://shop/cart?token=***&page=2")
        );
        // Everything else is as sent.
        assert_eq!(out.trace_id, sent.trace_id);
        assert_eq!(out.span_id, sent.span_id);
        assert_eq!(out.kind, sent.kind);
        assert_eq!(out.start_time_unix_nano, sent.start_time_unix_nano);
        assert_eq!(out.end_time_unix_nano, sent.end_time_unix_nano);
        assert_eq!(out.attributes.len(), 4);
        assert_eq!(out.attributes[..3], sent.attributes[..3]);
    }
    assert_eq!(out[0].status.as_ref().map(|s| s.code), Some(2), "503 is an error");
    assert_eq!(out[1].status.as_ref().map_or(0, |s| s.code), 0, "200 is left unset");

    let requests = backend.received().log_requests();
    let rl = &requests[0].resource_logs[0];
    assert_eq!(
        rl.resource.as_ref().unwrap().attributes,
        logs().resource_logs[0].resource.as_ref().unwrap().attributes,
        "trace statements do not touch logs"
    );
    let records = &rl.scope_logs[0].log_records;
    let sent = logs();
    let sent = &sent.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[0].severity_text, "ERROR");
    assert_eq!(
        records[0].attributes,
        vec![
            kv_str("user.id", "u-7"),
            KeyValue {
                key: "alert".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true))
                }),
                ..Default::default()
            }
        ]
    );
    assert_eq!(records[0].body, sent[0].body);
    assert_eq!(records[0].severity_number, 17);
    assert_eq!(
        records[1], sent[1],
        "the group's condition does not hold for an info record"
    );

    sloop.sigterm();
    assert!(
        sloop.wait_exit(Duration::from_secs(20)).await.success(),
        "{}",
        sloop.logs()
    );
}

/// 1-based (line, column) of `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find(needle).map(|b| (i + 1, line[..b].chars().count() + 1)))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_points_at_an_invalid_statement_with_file_line_and_column() {
    let ports = SloopPorts::new();
    let config = |statements: &str| {
        format!(
            "{receivers}processors:{statements}exporters:\n  debug:\n{service}",
            receivers = ports.otlp_receiver_yaml(&[], &[]),
            service = ports.service_yaml(&["transform"], &["debug"]),
        )
    };
    let bad = STATEMENTS.replace("span.attributes[\"http.route\"]", "span.atributes[\"http.route\"]");
    let yaml = config(&bad);
    let (line, column) = position_of(&yaml, "span.atributes");
    let mut sloop = Sloop::spawn(&["validate"], &[&yaml]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    let stderr = sloop.stderr();
    assert!(!status.success(), "validate accepted an invalid statement\n{stderr}");
    let location = format!("{}:{line}:{column}", sloop.dir().join("config-0.yaml").display());
    assert!(
        stderr.contains(&location),
        "stderr should point at {location}:\n{stderr}"
    );
    assert!(stderr.contains("processors.transform.trace_statements[2]"), "{stderr}");
    assert!(stderr.contains("did you mean attributes"), "{stderr}");

    let mut sloop = Sloop::spawn(&["validate"], &[&config(STATEMENTS)]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(status.success(), "the valid statements are accepted\n{}", sloop.logs());
}
