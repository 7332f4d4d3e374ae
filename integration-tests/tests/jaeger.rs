//! The `jaeger` receiver with real clients: the OpenTelemetry Python SDK's Jaeger
//! exporters (the last releases, `target/jaeger-venv`, which `./scripts/test`
//! creates from `integration-tests/requirements-jaeger.txt`) send over the agent's
//! UDP port (Thrift compact), the collector's HTTP endpoint (Thrift binary) and
//! gRPC (`jaeger.api_v2`); an OTLP backend must receive the spans translated by the
//! Collector's rules. Malformed input on each protocol is refused with the
//! protocol's error and the receiver keeps serving.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use integration_tests::backends::{FlatSpan, GrpcBackend};
use integration_tests::process::{Sloop, SloopPorts};
use integration_tests::{free_port, poll_until, run_bounded, venv_python, workspace_root};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

const WAIT: Duration = Duration::from_secs(20);

/// The Jaeger exporters' venv.
fn python() -> PathBuf {
    venv_python("jaeger-venv", "integration-tests/requirements-jaeger.txt")
}

/// Runs `jaeger_send.py` for `mode`, bounded by 60 s; what the SDK recorded, as JSON.
async fn python_sends(mode: &str, port: u16) -> serde_json::Value {
    let script = workspace_root().join("integration-tests/python/jaeger_send.py");
    let mut command = Command::new(python());
    command.arg(&script).args([mode, "127.0.0.1", &port.to_string(), mode]);
    let (status, output) = run_bounded(&mut command, Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(status.is_some(), "jaeger_send.py {mode} did not finish within 60 s");
    assert!(
        output.status.success(),
        "jaeger_send.py {mode} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{mode}: {e}: {stdout}"))
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string(s: &str) -> Value {
    Value::StringValue(s.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the two spans one mode sent against what the SDK recorded.
fn check_mode(mode: &str, sent: &serde_json::Value, received: &[FlatSpan]) {
    let find = |kind: &str| {
        let name = sent[kind]["name"].as_str().unwrap();
        received
            .iter()
            .find(|s| s.span.name == name)
            .unwrap_or_else(|| panic!("{mode}: span {name} did not reach the backend"))
    };
    for kind in ["parent", "child"] {
        let flat = find(kind);
        let span = &flat.span;
        let sdk = &sent[kind];
        assert_eq!(
            hex(&span.trace_id),
            sdk["trace_id"].as_str().unwrap(),
            "{mode} {kind}: trace id"
        );
        assert_eq!(
            hex(&span.span_id),
            sdk["span_id"].as_str().unwrap(),
            "{mode} {kind}: span id"
        );
        assert_eq!(
            hex(&span.parent_span_id),
            sdk["parent_span_id"].as_str().unwrap(),
            "{mode} {kind}: parent span id"
        );
        let wire = (sdk["wire"][0].as_u64().unwrap(), sdk["wire"][1].as_u64().unwrap());
        assert_eq!(
            (span.start_time_unix_nano, span.end_time_unix_nano),
            wire,
            "{mode} {kind}: times"
        );
        let sdk_start = sdk["sdk_start"].as_u64().unwrap();
        assert!(
            sdk_start.abs_diff(wire.0) < 1000,
            "{mode} {kind}: {sdk_start} is the start the SDK timed"
        );
        let resource = &flat.resource_attributes;
        assert_eq!(
            attr(resource, "service.name"),
            Some(&string("jaeger-python")),
            "{mode}: service.name"
        );
        let scope = flat.scope.as_ref().expect("a scope");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("jaeger-test-lib", "1.2.3"),
            "{mode}: scope"
        );
        for translated in [
            "span.kind",
            "otel.scope.name",
            "otel.scope.version",
            "error",
            "otel.status_code",
        ] {
            assert!(
                attr(&span.attributes, translated).is_none(),
                "{mode} {kind}: {translated} kept"
            );
        }
        // Resource attributes other than the service: the Thrift exporter sends them as
        // span tags, the protobuf one as process tags (the resource).
        let environment = if mode == "grpc" { resource } else { &span.attributes };
        assert_eq!(
            attr(environment, "deployment.environment"),
            Some(&string("test")),
            "{mode} {kind}"
        );
    }
    let parent = &find("parent").span;
    assert_eq!(parent.kind, SpanKind::Server as i32, "{mode}: parent kind");
    assert!(parent.status.is_none(), "{mode}: the parent has no status");

    let child = &find("child").span;
    assert_eq!(child.kind, SpanKind::Client as i32, "{mode}: child kind");
    let status = child.status.as_ref().expect("the child's status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "boom"),
        "{mode}"
    );
    assert_eq!(attr(&child.attributes, "http.method"), Some(&string("GET")), "{mode}");
    assert_eq!(attr(&child.attributes, "retries"), Some(&Value::IntValue(3)), "{mode}");
    assert_eq!(
        attr(&child.attributes, "cached"),
        Some(&Value::BoolValue(false)),
        "{mode}"
    );
    assert_eq!(
        attr(&child.attributes, "ratio"),
        Some(&Value::DoubleValue(0.25)),
        "{mode}"
    );
    // The SDK's event: a Jaeger log whose name travels in `message` (the Collector
    // names events from `event` only).
    assert_eq!(child.events.len(), 1, "{mode}: one event");
    let event = &child.events[0];
    assert_eq!(
        Some(event.time_unix_nano),
        sent["child"]["wire_event"][0].as_u64(),
        "{mode}: event time"
    );
    assert_eq!(
        attr(&event.attributes, "message"),
        Some(&string("cache-miss")),
        "{mode}"
    );
    assert_eq!(attr(&event.attributes, "key"), Some(&string("user:42")), "{mode}");
    // The span link: a FOLLOWS_FROM reference; the gRPC exporter's CHILD_OF
    // reference to the parent is the parent, not a link.
    assert_eq!(child.links.len(), 1, "{mode}: one link");
    let link = &child.links[0];
    assert_eq!(
        hex(&link.trace_id),
        "0af7651916cd43dd8448eb211c80319c",
        "{mode}: link trace id"
    );
    assert_eq!(hex(&link.span_id), "00f067aa0ba902b7", "{mode}: link span id");
    assert_eq!(
        attr(&link.attributes, "opentracing.ref_type"),
        Some(&string("follows_from")),
        "{mode}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_jaeger_exporters_reach_the_otlp_backend_translated() {
    let _ = python();
    let mut backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let (grpc, http, compact) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "receivers:\n  jaeger:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      \
         thrift_http:\n        endpoint: 127.0.0.1:{http}\n      thrift_compact:\n        \
         endpoint: 127.0.0.1:{compact}\n        workers: 2\n\
         exporters:\n  otlp_grpc:\n    endpoint: {backend}\n    tls:\n      insecure: true\n\
         extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{telemetry}\n  \
         pipelines:\n    traces:\n      receivers: [jaeger]\n      exporters: [otlp_grpc]\n",
        backend = backend.endpoint(),
        health = ports.health,
        telemetry = ports.telemetry,
    );
    let sloop = Sloop::start(&yaml, &ports).await;

    // Malformed input first: each is refused, and the receiver keeps serving.
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{http}/api/traces");
    let garbage = client
        .post(&url)
        .header("content-type", "application/x-thrift")
        .body(vec![0x0c, 0xff, 0x13, 0x37])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert!(garbage.text().await.unwrap().contains("malformed Jaeger Thrift batch"));
    let json = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400, "only Thrift bodies");

    let grpc_client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let mut frame = vec![0u8, 0, 0, 0, 3];
    frame.extend_from_slice(&[0x0a, 0xff, 0xff]); // field 1, a length past the end
    let response = grpc_client
        .post(format!(
            "http://127.0.0.1:{grpc}/jaeger.api_v2.CollectorService/PostSpans"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(frame)
        .send()
        .await
        .unwrap();
    let code = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(code.as_deref(), Some("3"), "INVALID_ARGUMENT: {:?}", response.headers());

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"\x82\x81\x01\x09emitBatch\xff\xff", ("127.0.0.1", compact))
        .unwrap();
    let counted = poll_until(WAIT, Duration::from_millis(50), || async {
        let dropped = sloop
            .metric(
                "otelcol_receiver_jaeger_udp_packets_dropped",
                &[("reason", "malformed")],
            )
            .await;
        (dropped >= 1.0).then_some(())
    })
    .await;
    assert!(counted.is_some(), "the malformed datagram is counted");

    // The three exporters, one after another (each sends two spans).
    let mut sent = Vec::new();
    for (mode, port) in [("agent", compact), ("collector", http), ("grpc", grpc)] {
        sent.push((mode, python_sends(mode, port).await));
    }
    let received = backend.received().wait_for_spans(6, WAIT).await;
    assert_eq!(received.len(), 6, "every span reached the backend: {received:#?}");
    for (mode, sent) in &sent {
        check_mode(mode, sent, &received);
    }
    let accepted = sloop
        .metric("otelcol_receiver_accepted_spans", &[("receiver", "jaeger")])
        .await;
    assert_eq!(accepted, 6.0);
    backend.stop().await;
}
