//! Fan-out: the OpenTelemetry SDK sends traces, metrics and logs to sloop's
//! `otlp` receiver over one transport (gRPC, HTTP/protobuf or HTTP/JSON);
//! sloop batches them and exports them to two backends at once, an OTLP/gRPC
//! backend (`otlp_grpc/a`) and an OTLP/HTTP backend (`otlp_http/b`).
//!
//! Both backends must receive exactly what the SDK sent: every span, metric
//! data point and log record, with resource, scope, attributes, IDs and
//! timestamps unchanged. "What the SDK sent" is recorded by wrapping each
//! `opentelemetry-otlp` exporter in a capturing exporter that converts the
//! batch to OTLP protos with the same transform the OTLP exporter uses.

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use integration_tests::capture::Capture;
use integration_tests::{
    poll_until, FlatLogRecord, FlatMetricPoint, FlatSpan, GrpcBackend, HttpBackend, Received, Sloop, SloopPorts,
    DATA_TIMEOUT,
};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

const EXPORTER_A: &str = "otlp_grpc/a";
const EXPORTER_B: &str = "otlp_http/b";
/// Spans named `fanout.bulk-<i>` sent in addition to the hand-shaped ones.
const BULK_SPANS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http-protobuf",
            Transport::HttpJson => "http-json",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_from_sdk_over_grpc() {
    run_fanout(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_from_sdk_over_http_protobuf() {
    run_fanout(Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_from_sdk_over_http_json() {
    run_fanout(Transport::HttpJson).await;
}

fn fanout_config(ports: &SloopPorts, a: &GrpcBackend, b: &HttpBackend) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 100ms
exporters:
  {EXPORTER_A}:
    endpoint: {a}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 10s
  {EXPORTER_B}:
    endpoint: {b}
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        a = a.endpoint(),
        b = b.url(),
        service = ports.service_yaml(&["batch"], &[EXPORTER_A, EXPORTER_B]),
    )
}

/// What the SDK sent in one run, as recorded by the capturing exporters.
struct Sent {
    spans: Vec<FlatSpan>,
    points: Vec<FlatMetricPoint>,
    logs: Vec<FlatLogRecord>,
}

/// Sets up the SDK for `transport` against the given OTLP endpoints, emits
/// the test telemetry, shuts the SDK down (flushing everything) and returns
/// what it sent, after checking that every export succeeded.
async fn send_with_sdk(transport: Transport, grpc_url: &str, http_base_url: &str) -> Sent {
    let capture = Capture::new();
    let resource = Resource::builder_empty()
        .with_service_name("sloop-it-fanout")
        .with_attribute(KeyValue::new("test.transport", transport.name()))
        .with_attribute(KeyValue::new("host.cpu.count", 2_i64))
        .build();
    let providers = Providers::build(transport, grpc_url, http_base_url, &capture, resource);

    let sdk_span_ids = emit_spans(&providers.tracer);
    emit_metrics(&providers.meter);
    emit_logs(&providers.logger, &sdk_span_ids[0]);
    providers.shutdown().await;

    assert!(
        capture.export_errors().is_empty(),
        "[{}] the OTLP exporter reported failed exports: {:#?}",
        transport.name(),
        capture.export_errors()
    );
    let sent = Sent {
        spans: capture.spans(),
        points: capture.metric_points(),
        logs: capture.log_records(),
    };
    assert_eq!(sent.spans.len(), 4 + BULK_SPANS, "the SDK did not export all spans");
    let captured_ids: HashSet<(Vec<u8>, Vec<u8>)> = sent
        .spans
        .iter()
        .map(|s| (s.span.trace_id.clone(), s.span.span_id.clone()))
        .collect();
    let sdk_ids: HashSet<(Vec<u8>, Vec<u8>)> = sdk_span_ids
        .iter()
        .map(|sc| (sc.trace_id().to_bytes().to_vec(), sc.span_id().to_bytes().to_vec()))
        .collect();
    assert_eq!(
        captured_ids, sdk_ids,
        "captured span IDs differ from the SDK span contexts"
    );
    assert_eq!(
        sent.points.len(),
        8,
        "the SDK did not export all metric points: {:#?}",
        sent.points
    );
    assert_eq!(sent.logs.len(), 6, "the SDK did not export all log records");
    sent
}

/// Waits for everything in `sent` to reach `received`, then asserts that
/// exactly that arrived, unchanged.
async fn assert_received_unchanged(label: &str, sent: &Sent, received: &Received) {
    let spans = received.wait_for_spans(sent.spans.len(), DATA_TIMEOUT).await;
    assert_same_items(&format!("{label}: spans"), &sent.spans, &spans, span_key);
    let points = received.wait_for_metric_points(sent.points.len(), DATA_TIMEOUT).await;
    assert_same_items(&format!("{label}: metric points"), &sent.points, &points, point_key);
    let logs = received.wait_for_log_records(sent.logs.len(), DATA_TIMEOUT).await;
    assert_same_items(&format!("{label}: log records"), &sent.logs, &logs, log_key);
}

/// Self-test of this file's machinery, without sloop: the SDK exports
/// straight into the test backends, and what they record must equal what
/// the capture recorded. If this fails, the fan-out tests' comparisons
/// cannot be trusted (e.g. a lossy JSON round trip in the test data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_sdk_straight_into_backends_round_trips_unchanged() {
    for transport in [Transport::Grpc, Transport::HttpProtobuf, Transport::HttpJson] {
        let grpc = GrpcBackend::start().await;
        let http = HttpBackend::start().await;
        let sent = send_with_sdk(transport, &grpc.url(), &http.url()).await;
        let received = match transport {
            Transport::Grpc => grpc.received(),
            Transport::HttpProtobuf | Transport::HttpJson => http.received(),
        };
        assert_received_unchanged(&format!("[{}] direct", transport.name()), &sent, received).await;
        // The SDK really used the intended encoding.
        let expected = match transport {
            Transport::Grpc => None,
            Transport::HttpProtobuf => Some(("application/x-protobuf", Some("gzip"))),
            Transport::HttpJson => Some(("application/json", None)),
        };
        if let Some((content_type, encoding)) = expected {
            let requests = http.http_requests();
            assert!(!requests.is_empty());
            for req in requests {
                assert_eq!(req.content_type.as_deref(), Some(content_type), "{req:?}");
                assert_eq!(req.content_encoding.as_deref(), encoding, "{req:?}");
            }
        }
    }
}

async fn run_fanout(transport: Transport) {
    let backend_a = GrpcBackend::start().await;
    let backend_b = HttpBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&fanout_config(&ports, &backend_a, &backend_b), &ports).await;

    let sent = send_with_sdk(transport, &ports.grpc_url(), &ports.http_url("")).await;

    for (name, received) in [
        ("gRPC backend (otlp_grpc/a)", backend_a.received()),
        ("HTTP backend (otlp_http/b)", backend_b.received()),
    ] {
        assert_received_unchanged(&format!("[{}] {name}", transport.name()), &sent, received).await;
    }

    // sloop's otlp_http exporter defaults: protobuf, gzip.
    let http_requests = backend_b.http_requests();
    assert!(!http_requests.is_empty());
    for req in &http_requests {
        assert_eq!(
            req.content_type.as_deref(),
            Some("application/x-protobuf"),
            "otlp_http should send protobuf by default: {req:?}"
        );
        assert_eq!(
            req.content_encoding.as_deref(),
            Some("gzip"),
            "otlp_http should gzip by default: {req:?}"
        );
        assert_eq!(req.status, 200, "{req:?}");
    }

    assert_self_metrics(
        &sloop,
        transport,
        &[
            ("spans", sent.spans.len()),
            ("metric_points", sent.points.len()),
            ("log_records", sent.logs.len()),
        ],
    )
    .await;
}

/// The receiver counted every item as accepted (none refused), and each
/// exporter counted every item as sent (none failed).
async fn assert_self_metrics(sloop: &Sloop, transport: Transport, expected: &[(&str, usize)]) {
    // Exporter counters are updated after the backend answers, so poll.
    let all_sent = poll_until(Duration::from_secs(10), Duration::from_millis(100), || async {
        let text = sloop.scrape_metrics().await;
        let done = expected.iter().all(|(kind, n)| {
            [EXPORTER_A, EXPORTER_B].iter().all(|exporter| {
                integration_tests::metric_sum(
                    &text,
                    &format!("otelcol_exporter_sent_{kind}"),
                    &[("exporter", exporter)],
                ) == *n as f64
            })
        });
        done.then_some(text)
    })
    .await;
    let text = match all_sent {
        Some(text) => text,
        None => sloop.scrape_metrics().await,
    };
    let label = transport.name();
    for (kind, n) in expected {
        let n = *n as f64;
        for exporter in [EXPORTER_A, EXPORTER_B] {
            let sent = integration_tests::metric_sum(
                &text,
                &format!("otelcol_exporter_sent_{kind}"),
                &[("exporter", exporter)],
            );
            assert_eq!(
                sent, n,
                "[{label}] otelcol_exporter_sent_{kind}{{exporter={exporter:?}}}\n{text}"
            );
            let failed = integration_tests::metric_sum(
                &text,
                &format!("otelcol_exporter_send_failed_{kind}"),
                &[("exporter", exporter)],
            );
            assert_eq!(
                failed, 0.0,
                "[{label}] otelcol_exporter_send_failed_{kind}{{exporter={exporter:?}}}\n{text}"
            );
        }
        let accepted = integration_tests::metric_sum(
            &text,
            &format!("otelcol_receiver_accepted_{kind}"),
            &[("receiver", "otlp")],
        );
        assert_eq!(
            accepted, n,
            "[{label}] otelcol_receiver_accepted_{kind}{{receiver=\"otlp\"}}\n{text}"
        );
        let refused = integration_tests::metric_sum(
            &text,
            &format!("otelcol_receiver_refused_{kind}"),
            &[("receiver", "otlp")],
        );
        assert_eq!(
            refused, 0.0,
            "[{label}] otelcol_receiver_refused_{kind}{{receiver=\"otlp\"}}\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------
// SDK setup
// ---------------------------------------------------------------------------

struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    logger: SdkLoggerProvider,
}

impl Providers {
    /// Builds the three SDK providers, each exporting through an
    /// `opentelemetry-otlp` exporter for `transport` wrapped by `capture`.
    /// Must run inside the Tokio runtime (the tonic exporter needs it).
    fn build(transport: Transport, grpc_url: &str, http_base_url: &str, capture: &Capture, resource: Resource) -> Self {
        let timeout = Duration::from_secs(10);
        let (spans, metrics, logs) = match transport {
            Transport::Grpc => (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(grpc_url)
                    .with_timeout(timeout)
                    .build(),
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(grpc_url)
                    .with_timeout(timeout)
                    .build(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(grpc_url)
                    .with_timeout(timeout)
                    .build(),
            ),
            Transport::HttpProtobuf | Transport::HttpJson => {
                let (protocol, compression) = if transport == Transport::HttpJson {
                    (Protocol::HttpJson, None)
                } else {
                    // Also exercises the receiver's gzip decoding.
                    (Protocol::HttpBinary, Some(Compression::Gzip))
                };
                let span_builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(format!("{http_base_url}/v1/traces"))
                    .with_timeout(timeout);
                let metric_builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(format!("{http_base_url}/v1/metrics"))
                    .with_timeout(timeout);
                let log_builder = opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(format!("{http_base_url}/v1/logs"))
                    .with_timeout(timeout);
                match compression {
                    Some(c) => (
                        span_builder.with_compression(c).build(),
                        metric_builder.with_compression(c).build(),
                        log_builder.with_compression(c).build(),
                    ),
                    None => (span_builder.build(), metric_builder.build(), log_builder.build()),
                }
            }
        };
        let spans = spans.expect("building the OTLP span exporter");
        let metrics = metrics.expect("building the OTLP metric exporter");
        let logs = logs.expect("building the OTLP log exporter");
        Providers {
            tracer: SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_batch_exporter(capture.span_exporter(spans))
                .build(),
            meter: SdkMeterProvider::builder()
                .with_resource(resource.clone())
                .with_periodic_exporter(capture.metric_exporter(metrics))
                .build(),
            logger: SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(capture.log_exporter(logs))
                .build(),
        }
    }

    /// Shuts all three providers down, which exports everything pending.
    /// Runs on a blocking thread: SDK shutdown blocks until the exports,
    /// driven by the runtime, complete.
    async fn shutdown(self) {
        let (t, m, l) = tokio::task::spawn_blocking(move || {
            (self.tracer.shutdown(), self.meter.shutdown(), self.logger.shutdown())
        })
        .await
        .expect("the SDK shutdown thread panicked");
        t.expect("shutting down the tracer provider");
        m.expect("shutting down the meter provider");
        l.expect("shutting down the logger provider");
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("sloop-it-fanout")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.attr", "scoped")])
        .build()
}

/// Emits the test spans; returns their span contexts (the first is the
/// root span, which the log records point at).
fn emit_spans(provider: &SdkTracerProvider) -> Vec<SpanContext> {
    let tracer = provider.tracer_with_scope(scope());
    let mut contexts = Vec::new();

    // A server span with attributes of every type and an event.
    let mut root = tracer
        .span_builder("fanout.root")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("attr.string", "hello"),
            KeyValue::new("attr.int", -42_i64),
            KeyValue::new("attr.double", 3.25_f64),
            KeyValue::new("attr.bool", true),
            KeyValue::new(
                "attr.string_array",
                Value::Array(Array::String(vec![StringValue::from("a"), StringValue::from("b")])),
            ),
            KeyValue::new("attr.int_array", Value::Array(Array::I64(vec![1, 2, 3]))),
            KeyValue::new("attr.double_array", Value::Array(Array::F64(vec![0.5, -1.25]))),
            KeyValue::new("attr.bool_array", Value::Array(Array::Bool(vec![true, false]))),
        ])
        .start(&tracer);
    root.add_event(
        "cache.miss",
        vec![
            KeyValue::new("cache.key", "user:1"),
            KeyValue::new("cache.size", 1024_i64),
        ],
    );
    root.set_status(Status::Ok);
    let root_cx = root.span_context().clone();
    contexts.push(root_cx.clone());
    let parent = Context::new().with_remote_span_context(root_cx.clone());

    // A client child span that failed.
    let mut child = tracer
        .span_builder("fanout.child")
        .with_kind(SpanKind::Client)
        .with_attributes([KeyValue::new("peer.service", "db")])
        .start_with_context(&tracer, &parent);
    child.set_status(Status::error("downstream failed"));
    contexts.push(child.span_context().clone());
    child.end();

    // A producer span linked to the root, with link attributes.
    let mut producer = tracer
        .span_builder("fanout.producer")
        .with_kind(SpanKind::Producer)
        .with_links(vec![Link::new(
            root_cx.clone(),
            vec![KeyValue::new("link.reason", "fan-in")],
            0,
        )])
        .start(&tracer);
    contexts.push(producer.span_context().clone());
    producer.end();

    // A consumer span with explicit start and end times.
    let start = SystemTime::now() - Duration::from_secs(3);
    let mut consumer = tracer
        .span_builder("fanout.consumer")
        .with_kind(SpanKind::Consumer)
        .with_start_time(start)
        .start(&tracer);
    contexts.push(consumer.span_context().clone());
    consumer.end_with_timestamp(start + Duration::from_millis(1500));

    for i in 0..BULK_SPANS {
        let mut span = tracer
            .span_builder(format!("fanout.bulk-{i}"))
            .with_attributes([KeyValue::new("bulk.index", i as i64)])
            .start_with_context(&tracer, &parent);
        contexts.push(span.span_context().clone());
        span.end();
    }

    root.end();
    contexts
}

/// Emits 8 metric data points: a u64 counter (2 attribute sets), an f64
/// counter, an up-down counter, an i64 gauge, an f64 gauge and a histogram
/// (2 attribute sets). Values are exact in binary floating point, so they
/// survive the JSON round trip unchanged.
fn emit_metrics(provider: &SdkMeterProvider) {
    let meter = provider.meter_with_scope(scope());
    let requests = meter
        .u64_counter("fanout.requests")
        .with_description("Requests handled")
        .with_unit("{request}")
        .build();
    requests.add(3, &[KeyValue::new("route", "/a")]);
    requests.add(5, &[KeyValue::new("route", "/b")]);
    requests.add(2, &[KeyValue::new("route", "/a")]);

    let bytes = meter.f64_counter("fanout.bytes").with_unit("By").build();
    bytes.add(1.5, &[KeyValue::new("direction", "in")]);
    bytes.add(0.25, &[KeyValue::new("direction", "in")]);

    let inflight = meter.i64_up_down_counter("fanout.inflight").build();
    inflight.add(5, &[]);
    inflight.add(-2, &[]);

    let depth = meter.i64_gauge("fanout.queue_depth").build();
    depth.record(7, &[KeyValue::new("queue", "q1"), KeyValue::new("shard", 3_i64)]);

    let temperature = meter.f64_gauge("fanout.temperature").with_unit("Cel").build();
    temperature.record(21.5, &[KeyValue::new("room", "lab")]);

    let latency = meter
        .f64_histogram("fanout.latency")
        .with_description("Operation latency")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build();
    for v in [0.5, 3.0, 7.25, 60.0] {
        latency.record(v, &[KeyValue::new("op", "get")]);
    }
    latency.record(2.0, &[KeyValue::new("op", "put"), KeyValue::new("ok", true)]);
}

/// Emits 6 log records with distinct bodies of several types, every
/// severity, typed attributes and the root span's trace context.
fn emit_logs(provider: &SdkLoggerProvider, span: &SpanContext) {
    let logger = provider.logger_with_scope(scope());
    let severities = [
        (Severity::Trace, "TRACE"),
        (Severity::Debug, "DEBUG"),
        (Severity::Info, "INFO"),
        (Severity::Warn, "WARN"),
        (Severity::Error, "ERROR"),
        (Severity::Fatal, "FATAL"),
    ];
    let base = SystemTime::now() - Duration::from_secs(10);
    for (i, (severity, text)) in severities.into_iter().enumerate() {
        let mut record = logger.create_log_record();
        record.set_timestamp(base + Duration::from_millis(i as u64 * 7));
        record.set_observed_timestamp(base + Duration::from_millis(i as u64 * 7 + 1));
        record.set_severity_number(severity);
        record.set_severity_text(text);
        let body = match i {
            1 => AnyValue::Int(4242),
            2 => AnyValue::Map(Box::new(
                [
                    (Key::from("event"), AnyValue::from("login")),
                    (Key::from("attempt"), AnyValue::Int(2)),
                ]
                .into_iter()
                .collect(),
            )),
            3 => AnyValue::ListAny(Box::new(vec![
                AnyValue::from("x"),
                AnyValue::Boolean(true),
                AnyValue::Double(0.75),
            ])),
            _ => AnyValue::from(format!("fanout log {i}")),
        };
        record.set_body(body);
        record.add_attribute("log.index", i as i64);
        record.add_attribute("log.string", "value");
        record.add_attribute("log.double", 2.5_f64);
        record.add_attribute("log.bool", i % 2 == 0);
        if i == 5 {
            record.set_event_name("fanout.event");
        }
        record.set_trace_context(span.trace_id(), span.span_id(), Some(span.trace_flags()));
        logger.emit(record);
    }
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

fn span_key(s: &FlatSpan) -> String {
    format!(
        "span {} ({}/{})",
        s.span.name,
        hex(&s.span.trace_id),
        hex(&s.span.span_id)
    )
}

fn point_key(p: &FlatMetricPoint) -> String {
    format!("metric {} {:?}", p.metric.name, p.point_attributes())
}

fn log_key(l: &FlatLogRecord) -> String {
    format!("log {:?}", l.record.body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts that `actual` holds exactly the items of `expected` (as
/// multisets). On failure, shows each missing item next to the received
/// items with the same key, so the differing field is visible.
fn assert_same_items<T: PartialEq + Debug>(label: &str, expected: &[T], actual: &[T], key: impl Fn(&T) -> String) {
    let mut unmatched: Vec<&T> = actual.iter().collect();
    let mut missing = Vec::new();
    for item in expected {
        match unmatched.iter().position(|a| *a == item) {
            Some(i) => {
                unmatched.swap_remove(i);
            }
            None => missing.push(item),
        }
    }
    if missing.is_empty() && unmatched.is_empty() {
        return;
    }
    let mut report = format!(
        "{label}: expected {} items, received {}; {} missing or changed, {} unexpected\n",
        expected.len(),
        actual.len(),
        missing.len(),
        unmatched.len()
    );
    for item in &missing {
        let k = key(item);
        report.push_str(&format!("\n=== missing/changed: {k}\nsent: {item:#?}\n"));
        for a in actual.iter().filter(|a| key(a) == k) {
            report.push_str(&format!("received with the same key: {a:#?}\n"));
        }
    }
    for item in &unmatched {
        report.push_str(&format!("\n=== unexpected: {}\n", key(item)));
    }
    panic!("{report}");
}
