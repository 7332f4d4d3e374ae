//! Hand-built OTLP requests for tests that talk to sloop with raw clients
//! (opentelemetry-proto's generated tonic clients, or plain HTTP).
//!
//! Every span, log record and data point gets globally unique IDs or
//! attributes, so tests can tell exactly which ones arrived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

/// Current time in nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// A fresh 16-byte trace ID and 8-byte span ID, unique within the process
/// (and, via the clock and pid, almost surely across processes).
pub fn unique_ids() -> ([u8; 16], [u8; 8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&now_nanos().to_be_bytes());
    trace_id[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    trace_id[12..].copy_from_slice(&(n as u32).to_be_bytes());
    let mut span_id = [0u8; 8];
    span_id.copy_from_slice(&(n ^ 0x5100_9000_0000_0000).to_be_bytes());
    (trace_id, span_id)
}

/// A key/value attribute with a string value.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// A key/value attribute with an int value.
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv_str("service.name", service)],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "sloop-integration-tests".to_string(),
        version: "0.0.0".to_string(),
        ..Default::default()
    })
}

/// `n` spans named `<prefix>-<i>`, each with its own trace, attributes
/// `test.prefix` (string) and `test.index` (int).
pub fn trace_request(prefix: &str, n: usize) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let spans = (0..n)
        .map(|i| {
            let (trace_id, span_id) = unique_ids();
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: format!("{prefix}-{i}"),
                kind: span::SpanKind::Internal as i32,
                start_time_unix_nano: now - 1_000_000,
                end_time_unix_nano: now,
                attributes: vec![kv_str("test.prefix", prefix), kv_int("test.index", i as i64)],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("sloop-it-raw"),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One span whose `payload` attribute is a string of `bytes` bytes, to
/// produce a request of (slightly more than) that size.
pub fn big_trace_request(bytes: usize) -> ExportTraceServiceRequest {
    let mut req = trace_request("big", 1);
    req.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv_str("payload", &"x".repeat(bytes)));
    req
}

/// A gauge `sloop.it.gauge` with `n` data points, attribute `test.index` =
/// `i` and value `i`, plus `test.prefix`.
pub fn metrics_request(prefix: &str, n: usize) -> ExportMetricsServiceRequest {
    let now = now_nanos();
    let data_points = (0..n)
        .map(|i| NumberDataPoint {
            attributes: vec![kv_str("test.prefix", prefix), kv_int("test.index", i as i64)],
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("sloop-it-raw"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "sloop.it.gauge".to_string(),
                    unit: "1".to_string(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `n` log records with bodies `<prefix>-<i>`, severity INFO, attributes
/// `test.prefix` and `test.index`.
pub fn logs_request(prefix: &str, n: usize) -> ExportLogsServiceRequest {
    let now = now_nanos();
    let log_records = (0..n)
        .map(|i| {
            let (trace_id, span_id) = unique_ids();
            LogRecord {
                time_unix_nano: now,
                observed_time_unix_nano: now,
                severity_number: SeverityNumber::Info as i32,
                severity_text: "INFO".to_string(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(format!("{prefix}-{i}"))),
                }),
                attributes: vec![kv_str("test.prefix", prefix), kv_int("test.index", i as i64)],
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("sloop-it-raw"),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The `sli` processor's block, indented to sit under `processors:`, that judges
/// [`homepage_spans`]: SLI `homepage`, spans named `GET /`, good when HTTP 200.
pub const HOMEPAGE_SLI_YAML: &str = "  sli:
    slis:
      - name: homepage
        when: 'name == \"GET /\"'
        good: 'attributes[\"http.response.status_code\"] == 200'
";

/// `n` spans `GET /` ending at `end` (100 ms long), each with its own trace:
/// `http.response.status_code` 200 when `good`, else 500, and `customer.segment`
/// = `segment`. What the SLO tests' `homepage` SLI classifies.
pub fn homepage_spans(n: usize, good: bool, segment: &str, end: u64) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|_| {
            let (trace_id, span_id) = unique_ids();
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: "GET /".to_string(),
                start_time_unix_nano: end - 100_000_000,
                end_time_unix_nano: end,
                attributes: vec![
                    kv_int("http.response.status_code", if good { 200 } else { 500 }),
                    kv_str("customer.segment", segment),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends `requests` in order to the OTLP/gRPC receiver at `grpc_url`; panics on a
/// refusal, naming the request.
pub async fn send_traces(grpc_url: String, requests: &[ExportTraceServiceRequest]) {
    let mut client = TraceServiceClient::connect(grpc_url)
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    for (i, request) in requests.iter().enumerate() {
        client
            .export(request.clone())
            .await
            .unwrap_or_else(|status| panic!("sloop refused trace request {i}: {status:?}"));
    }
}
