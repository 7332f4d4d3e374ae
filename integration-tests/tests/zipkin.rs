//! The `zipkin` receiver end to end: the OpenTelemetry Python SDK's Zipkin exporters
//! (v2 JSON and v2 protobuf, from `target/zipkin-venv`, which `./scripts/test`
//! creates; integration-tests/python/zipkin_send.py) and a v1 JSON body posted by
//! the test send spans to sloop's zipkin receiver, and they reach an OTLP backend
//! translated by the Collector's rules: IDs, names, kinds, times, `service.name`,
//! attributes, events and status. A malformed body is refused with 400 and a
//! message, and the receiver's self-metric counts what it took.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use integration_tests::{
    free_port, run_bounded, venv_python, workspace_root, FlatSpan, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

/// `START` in zipkin_send.py: every span time is an offset from it.
const START: u64 = 1_700_000_000_000_123_000;

/// The venv's python, or a failure saying how to make it.
/// The Zipkin exporters' venv.
fn python() -> PathBuf {
    venv_python("zipkin-venv", "integration-tests/python/zipkin_requirements.txt")
}

/// Runs zipkin_send.py with `encoding` against `endpoint`, bounded by 60 s (the
/// child is killed, by its pid, past that): whether every export succeeded, and the
/// (name, trace id, span id) of each span it sent, from its output.
async fn python_sends(encoding: &str, endpoint: &str) -> (bool, Vec<(String, String, String)>, String) {
    let script = workspace_root().join("integration-tests/python/zipkin_send.py");
    let mut command = Command::new(python());
    command.arg(script).args([encoding, endpoint]);
    let (status, output) = run_bounded(&mut command, Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let printed = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let spans = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|span| {
            let field = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
            (field("name"), field("trace_id"), field("span_id"))
        })
        .collect();
    (status.is_some_and(|s| s.success()), spans, printed)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string(value: &str) -> Option<Value> {
    Some(Value::StringValue(value.into()))
}

/// The spans of `service` that reached the backend, by name.
fn by_name<'a>(spans: &'a [FlatSpan], service: &str, name: &str) -> &'a FlatSpan {
    spans
        .iter()
        .find(|s| s.span.name == name && attribute(&s.resource_attributes, "service.name") == string(service).as_ref())
        .unwrap_or_else(|| panic!("no span {name:?} of {service} among {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipkin_spans_from_the_python_sdk_and_a_v1_body_arrive_translated() {
    let python = python();
    assert!(python.is_file());
    let mut backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let zipkin = free_port();
    let yaml = format!(
        "receivers:\n  zipkin:\n    endpoint: 127.0.0.1:{zipkin}\n\
         exporters:\n  otlp_grpc: {{endpoint: {backend}, tls: {{insecure: true}}}}\n\
         extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{telemetry}\n  \
         pipelines:\n    traces: {{receivers: [zipkin], exporters: [otlp_grpc]}}\n",
        backend = backend.endpoint(),
        health = ports.health,
        telemetry = ports.telemetry,
    );
    let mut sloop = Sloop::start(&yaml, &ports).await;
    let v2_url = format!("http://127.0.0.1:{zipkin}/api/v2/spans");

    let mut expected_total = 0;
    for encoding in ["json", "proto"] {
        let (ok, sent, printed) = python_sends(encoding, &v2_url).await;
        assert!(ok && sent.len() == 3, "the {encoding} exporter failed: {printed}");
        expected_total += 3;
        let spans = backend.received().wait_for_spans(expected_total, DATA_TIMEOUT).await;
        let service = format!("checkout-{encoding}");
        let server = by_name(&spans, &service, "GET /cart");
        let client = by_name(&spans, &service, "SELECT cart");
        let failed = by_name(&spans, &service, "charge card");
        for ((name, trace_id, span_id), got) in sent.iter().zip([server, client, failed]) {
            assert_eq!(&got.span.name, name);
            assert_eq!(hex(&got.span.trace_id), *trace_id, "{encoding} {name}");
            assert_eq!(hex(&got.span.span_id), *span_id, "{encoding} {name}");
            // Resource tags go to the resource, the scope tags to the scope.
            assert_eq!(
                attribute(&got.resource_attributes, "telemetry.sdk.language"),
                string("python").as_ref()
            );
            let scope = got.scope.as_ref().expect("a scope");
            assert_eq!((scope.name.as_str(), scope.version.as_str()), ("cart-service", "2.1.0"));
            assert_eq!(attribute(&got.span.attributes, "otel.scope.name"), None);
            assert_eq!(attribute(&got.span.attributes, "service.name"), None);
            // The local endpoint the exporter was given.
            assert_eq!(
                attribute(&got.span.attributes, "network.local.address"),
                string("10.1.2.3").as_ref()
            );
            assert_eq!(
                attribute(&got.span.attributes, "net.host.port"),
                Some(&Value::IntValue(8080))
            );
        }
        assert_eq!(client.span.parent_span_id, server.span.span_id);
        assert_eq!(failed.span.parent_span_id, server.span.span_id);
        assert!(server.span.parent_span_id.is_empty());

        assert_eq!(server.span.kind, SpanKind::Server as i32);
        assert_eq!(client.span.kind, SpanKind::Client as i32);
        // The SDK sends no kind for INTERNAL spans, and the Collector's rules make
        // that UNSPECIFIED.
        assert_eq!(failed.span.kind, SpanKind::Unspecified as i32);

        let times = |s: &FlatSpan| (s.span.start_time_unix_nano, s.span.end_time_unix_nano);
        assert_eq!(times(server), (START, START + 10_000));
        assert_eq!(times(client), (START + 2_000, START + 7_000));
        assert_eq!(times(failed), (START + 8_000, START + 9_000));

        // Zipkin tags are strings.
        assert_eq!(
            attribute(&server.span.attributes, "http.method"),
            string("GET").as_ref()
        );
        assert_eq!(
            attribute(&server.span.attributes, "http.status_code"),
            string("200").as_ref()
        );
        assert_eq!(
            attribute(&client.span.attributes, "db.system"),
            string("postgresql").as_ref()
        );

        // The SDK's event annotation has no `|`, so its whole value is the name.
        assert_eq!(server.span.events.len(), 1);
        let event = &server.span.events[0];
        assert_eq!(event.name, r#"{"cache miss": {"key": "cart:42"}}"#);
        assert_eq!(event.time_unix_nano, START + 1_000);

        // `error` (the description) makes the status ERROR and stays an attribute.
        let status = failed.span.status.clone().unwrap_or_default();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(
            attribute(&failed.span.attributes, "error"),
            string("card declined").as_ref()
        );
        assert_eq!(attribute(&failed.span.attributes, "otel.status_code"), None);
        for ok in [server, client] {
            assert_eq!(
                ok.span.status.clone().unwrap_or_default().code,
                StatusCode::Unset as i32
            );
        }
    }

    // A v1 JSON body, as an old Zipkin client posts it.
    let v1 = r#"[{
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "id": "b7ad6b7169203331",
        "name": "get /inventory",
        "timestamp": 1700000000000200,
        "duration": 300,
        "annotations": [
            {"timestamp": 1700000000000200, "value": "sr", "endpoint": {"serviceName": "inventory", "ipv4": "10.9.8.7", "port": 9000}},
            {"timestamp": 1700000000000300, "value": "db query", "endpoint": {"serviceName": "inventory"}},
            {"timestamp": 1700000000000500, "value": "ss", "endpoint": {"serviceName": "inventory", "ipv4": "10.9.8.7", "port": 9000}}
        ],
        "binaryAnnotations": [{"key": "http.status_code", "value": "500"}, {"key": "region", "value": "eu"}]
    }]"#;
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let response = http
        .post(format!("http://127.0.0.1:{zipkin}/api/v1/spans"))
        .header("content-type", "application/json")
        .body(v1)
        .send()
        .await
        .expect("posting v1 JSON");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    expected_total += 1;
    let spans = backend.received().wait_for_spans(expected_total, DATA_TIMEOUT).await;
    let span = by_name(&spans, "inventory", "get /inventory");
    assert_eq!(hex(&span.span.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex(&span.span.span_id), "b7ad6b7169203331");
    assert_eq!(span.span.kind, SpanKind::Server as i32);
    let start = 1_700_000_000_000_200_000;
    assert_eq!(
        (span.span.start_time_unix_nano, span.span.end_time_unix_nano),
        (start, start + 300_000)
    );
    assert_eq!(
        attribute(&span.resource_attributes, "ipv4"),
        string("10.9.8.7").as_ref()
    );
    assert_eq!(attribute(&span.span.attributes, "region"), string("eu").as_ref());
    assert_eq!(span.span.events.len(), 1);
    assert_eq!(span.span.events[0].name, "db query");
    assert_eq!(
        span.span.status.clone().unwrap_or_default().code,
        StatusCode::Error as i32
    );

    // A malformed body: 400, saying what and where; nothing passed on.
    let response = http
        .post(&v2_url)
        .header("content-type", "application/json")
        .body(r#"[{"traceId": "0af7651916cd43dd8448eb211c80319c", "id": "xyz"}]"#)
        .send()
        .await
        .expect("posting a bad body");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let message = response.text().await.unwrap_or_default();
    assert!(message.contains("span 0: id \"xyz\""), "{message}");

    assert_eq!(
        sloop
            .metric(
                "otelcol_receiver_accepted_spans",
                &[("receiver", "zipkin"), ("transport", "http")]
            )
            .await,
        expected_total as f64
    );
    assert_eq!(backend.received().span_count(), expected_total);

    sloop.sigterm();
    assert!(sloop.wait_exit(Duration::from_secs(20)).await.success());
    backend.stop().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
