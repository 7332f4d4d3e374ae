//! What each fuzz target in `fuzz/` checks, one function per target: the target is a
//! one-line call, and `cargo test` replays every seed of `fuzz/corpus/<target>`
//! through the same function (see `tests.rs`), so the entry points stay compiled and
//! the seed corpora stay valid. `FUZZING.md` says how to run the fuzzers.
//!
//! Each function takes arbitrary bytes, must not panic on any of them, and asserts the
//! properties that hold for every input (an assertion failure is a crash to libFuzzer).
//! Hidden from the docs: this is test support, public only so the fuzz crate can
//! reach it.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};

use crate::config::Config;
use crate::ottl::{
    Condition, Context, DataPoint, DataPointView, LogView, MetricView, ResourceView, ScopeView, SpanEventView, SpanView,
};
use crate::pdata::sampling::{self, MAX_THRESHOLD};
use crate::pdata::{Signal, Telemetry};
use crate::receivers::otlp::drop_malformed_ids;
use crate::receivers::otlp::fuzzing as otlp;

#[cfg(test)]
mod tests;

/// The fuzz targets, by name: the directories under `fuzz/corpus` and
/// `fuzz/fuzz_targets`.
pub const TARGETS: [&str; 9] = [
    "otlp_protobuf",
    "otlp_json",
    "inflate",
    "config_validate",
    "condition",
    "tracestate",
    "zipkin",
    "jaeger",
    "filelog_format",
];

/// Runs `target` on `data` (the corpus replay in the unit tests).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "otlp_protobuf" => otlp_protobuf(data),
        "otlp_json" => otlp_json(data),
        "inflate" => inflate(data),
        "config_validate" => config_validate(data),
        "condition" => condition(data),
        "tracestate" => tracestate(data),
        "zipkin" => zipkin(data),
        "jaeger" => jaeger(data),
        "filelog_format" => filelog_format(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// `zipkin`: the first byte picks the format (v2 JSON, v2 protobuf, v1 JSON) and
/// `parse_string_tags`, the rest is a request body. What the receiver accepts must
/// be a request the pipeline can take: ids of the right length, and an encoding
/// that decodes back to the same request.
pub fn zipkin(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    if let Ok(request) = crate::receivers::zipkin::fuzzing::decode_any(first, body) {
        check_translated(&request);
    }
}

/// `filelog_format`: the first byte picks an access-log format, the rest is a
/// line; see [`crate::receivers::filelog::format::fuzzing::check`] for what is
/// checked.
pub fn filelog_format(data: &[u8]) {
    crate::receivers::filelog::format::fuzzing::check(data);
}

/// `jaeger`: the first byte picks the decoder (Thrift HTTP body, compact or binary
/// agent datagram, gRPC protobuf), the rest is the body; as [`zipkin`].
pub fn jaeger(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    if let Some(request) = crate::receivers::jaeger::fuzzing::decode_any(first, body) {
        check_translated(&request);
    }
}

/// What holds for every request a translating receiver hands the pipeline.
fn check_translated(request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest) {
    use prost::Message;
    for span in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        assert_eq!(span.trace_id.len(), 16, "trace id of {span:?}");
        assert_eq!(span.span_id.len(), 8, "span id of {span:?}");
        assert!(
            span.parent_span_id.is_empty() || span.parent_span_id.len() == 8,
            "parent id of {span:?}"
        );
    }
    let encoded = request.encode_to_vec();
    let decoded =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(encoded.as_slice())
            .expect("a translated request encodes to protobuf that decodes");
    assert_eq!(&decoded, request);
}

/// The signal a leading byte picks.
fn signal_of(byte: u8) -> Signal {
    Signal::ALL[usize::from(byte) % Signal::ALL.len()]
}

/// `otlp_protobuf`: the first byte picks the signal, the rest is an
/// `Export*ServiceRequest` in protobuf, as both transports receive it.
pub fn otlp_protobuf(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    intake(signal_of(first), false, body);
}

/// `otlp_json`: the first byte picks the signal, the rest is an OTLP/JSON request.
pub fn otlp_json(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    intake(signal_of(first), true, body);
}

/// Decodes and checks a request as the receiver does, then asserts what the
/// pipelines rely on: the intake check leaves only well-formed items (running it
/// again drops nothing), what it drops plus what it keeps is what arrived, and what
/// is kept can be sent on as protobuf (every exporter's wire format) and read back.
fn intake(signal: Signal, json: bool, body: &[u8]) {
    let Ok(arrived) = otlp::decode(signal, json, body) else {
        return;
    };
    assert_eq!(arrived.signal(), signal);
    let Ok((mut kept, rejected)) = otlp::intake(signal, json, body) else {
        panic!("intake refused a body that decodes");
    };
    assert_eq!(kept.item_count() + rejected.count, arrived.item_count());
    assert_eq!(rejected.count == 0, rejected.message.is_empty());
    assert_eq!(
        drop_malformed_ids(&mut kept).count,
        0,
        "the intake check is not idempotent"
    );

    let encoded = kept.encode_protobuf();
    let again = Telemetry::decode_protobuf(signal, &encoded)
        .unwrap_or_else(|e| panic!("accepted data does not survive protobuf re-encoding: {e}"));
    assert_eq!(again.encode_protobuf(), encoded, "protobuf re-encoding is not stable");
    assert_eq!(again.item_count(), kept.item_count());
    // The file and debug exporters write OTLP/JSON: it must not panic.
    kept.encode_json();
}

/// The codings `inflate` picks from, by the low two bits of its first byte.
const CODINGS: [&str; 4] = ["identity", "gzip", "zstd", "deflate"];

/// `inflate`: byte 0 picks the coding (bits 0-1) and whether the rest is first
/// compressed with it (bit 2; raw otherwise), bytes 1-2 are the size limit
/// (big-endian, in bytes), the rest is the body. Asserts that decompression never
/// returns more than the limit, refuses only with 400 or 413, and gives back exactly
/// what was compressed when that fits the limit.
pub fn inflate(data: &[u8]) {
    let [mode, limit_high, limit_low, body @ ..] = data else {
        return;
    };
    let coding = CODINGS[usize::from(mode & 0b11)];
    let limit = usize::from(u16::from_be_bytes([*limit_high, *limit_low]));
    if mode & 0b100 != 0 {
        let compressed = compress(coding, body);
        match otlp::decompress(coding, &compressed, limit) {
            Ok(out) => {
                assert_eq!(out, body, "{coding} did not round-trip");
                assert!(coding == "identity" || out.len() <= limit);
            }
            Err((status, message)) => {
                assert!(
                    coding != "identity" && body.len() > limit,
                    "{coding}: {status} {message}"
                );
                assert_eq!(status, 413, "{message}");
            }
        }
        return;
    }
    // The transport has already cut an unencoded body to the limit; only a coding
    // can make it grow.
    match otlp::decompress(coding, body, limit) {
        Ok(out) if coding == "identity" => assert_eq!(out, body),
        Ok(out) => assert!(
            out.len() <= limit,
            "{coding}: {} bytes over a {limit}-byte limit",
            out.len()
        ),
        Err((status, message)) => assert!(status == 400 || status == 413, "{coding}: {status} {message}"),
    }
}

/// `body` compressed with `coding` as a client would.
fn compress(coding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let written = match coding {
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
        "deflate" => {
            let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
        "zstd" => zstd::encode_all(body, 1),
        _ => Ok(body.to_vec()),
    };
    written.unwrap_or_else(|e| panic!("compressing in memory failed: {e}"))
}

/// The environment `config_validate` expands `${env:NAME}` from: fixed, so a run
/// does not depend on the machine.
fn fixed_env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("localhost".into()),
        "PORT" => Some("4317".into()),
        "API_KEY" | "VENDOR_API_KEY" => Some("secret".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// `config_validate`: UTF-8 YAML through the checks `sloop validate` runs, with a
/// fixed environment. A config is only checked, never built or started, so nothing
/// is opened, bound or created (file paths are at most tested with `is_dir`).
/// Asserts that a refused config always says why.
pub fn config_validate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Config::from_yaml_with_env(text, &fixed_env) {
        assert!(!errors.0.is_empty(), "refused without an error");
        let shown = errors.to_string();
        assert!(!shown.is_empty());
    }
}

/// `condition`: UTF-8 text parsed as a condition in every context; when it parses,
/// it is evaluated against a fixed item of that context. Asserts that errors carry a
/// position (1-based) and that a parsed condition keeps its text.
pub fn condition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let item = FixedItems::new();
    for context in Context::ALL {
        match Condition::parse(text, context) {
            Ok(condition) => {
                assert_eq!(condition.text(), text);
                assert_eq!(condition.context(), context);
                item.evaluate(&condition);
            }
            Err(error) => assert!(error.line >= 1 && error.column >= 1, "{error:?}"),
        }
    }
}

/// One item of every context, with fields set that conditions commonly read.
struct FixedItems {
    resource: Resource,
    scope: InstrumentationScope,
    span: Span,
    log: LogRecord,
    metric: Metric,
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int_kv(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

impl FixedItems {
    fn new() -> Self {
        let attributes = vec![
            string_kv("http.request.method", "GET"),
            int_kv("http.response.status_code", 200),
            string_kv("user_agent.original", "Mozilla/5.0"),
            KeyValue {
                key: "sampled".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                }),
                ..Default::default()
            },
        ];
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "ot=th:8".into(),
            name: "GET /".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_250_000_000,
            attributes: attributes.clone(),
            events: vec![span::Event {
                time_unix_nano: 1_100_000_000,
                name: "exception".into(),
                attributes: vec![string_kv("exception.type", "Timeout")],
                ..Default::default()
            }],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        let log = LogRecord {
            time_unix_nano: 1_000_000_000,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("payment failed".into())),
            }),
            attributes,
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        let metric = Metric {
            name: "http.server.request.duration".into(),
            unit: "s".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: vec![int_kv("http.response.status_code", 500)],
                    value: Some(number_data_point::Value::AsDouble(0.25)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        Self {
            resource: Resource {
                attributes: vec![string_kv("service.name", "checkout")],
                ..Default::default()
            },
            scope: InstrumentationScope {
                name: "io.opentelemetry.http".into(),
                version: "1.0".into(),
                ..Default::default()
            },
            span,
            log,
            metric,
        }
    }

    /// Evaluates `condition` against the item of its context.
    fn evaluate(&self, condition: &Condition) -> bool {
        let resource = Some(&self.resource);
        let scope = Some(&self.scope);
        match condition.context() {
            Context::Span => condition.eval_span(&SpanView {
                span: &self.span,
                resource,
                scope,
            }),
            Context::Log => condition.eval_log(&LogView {
                log: &self.log,
                resource,
                scope,
            }),
            Context::SpanEvent => condition.eval_span_event(&SpanEventView {
                event: &self.span.events[0],
                span: &self.span,
                resource,
                scope,
            }),
            Context::Metric => condition.eval_metric(&MetricView {
                metric: &self.metric,
                resource,
                scope,
            }),
            Context::DataPoint => {
                let Some(metric::Data::Gauge(gauge)) = &self.metric.data else {
                    unreachable!("the fixed metric is a gauge")
                };
                condition.eval_data_point(&DataPointView {
                    point: DataPoint::Number(&gauge.data_points[0]),
                    metric: &self.metric,
                    resource,
                    scope,
                })
            }
            Context::Resource => condition.eval_resource(&ResourceView { resource }),
            Context::Scope => condition.eval_scope(&ScopeView { resource, scope }),
        }
    }
}

/// `tracestate`: bytes 0-7 are a threshold (big-endian), byte 8 picks a
/// `SampleRate` attribute kind, the rest is a W3C tracestate (lossy UTF-8). Asserts
/// that thresholds read from the wire are in range, that adjusted counts are finite
/// and at least 1, and that writing a threshold and reading it back gives it back.
pub fn tracestate(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let raw_threshold = u64::from_be_bytes(*head);
    let (kind, rest) = rest.split_first().map_or((0, rest), |(k, r)| (*k, r));
    let trace_state = String::from_utf8_lossy(rest);

    if let Some(t) = sampling::threshold(&trace_state) {
        assert!(t < MAX_THRESHOLD, "threshold {t:#x} out of range in {trace_state:?}");
        let p = sampling::probability(t);
        assert!(p > 0.0 && p <= 1.0, "probability {p} for {t:#x}");
    }
    let sample_rate = match kind % 4 {
        0 => None,
        1 => Some(any_value::Value::IntValue(raw_threshold as i64)),
        2 => Some(any_value::Value::DoubleValue(f64::from_bits(raw_threshold))),
        _ => Some(any_value::Value::StringValue(
            trace_state.chars().rev().take(24).collect(),
        )),
    };
    let attributes: Vec<KeyValue> = sample_rate
        .map(|value| KeyValue {
            key: "SampleRate".into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        })
        .into_iter()
        .collect();
    let count = sampling::adjusted_count(&trace_state, &attributes);
    assert!(
        count.is_finite() && count >= 1.0,
        "adjusted count {count} for {trace_state:?}"
    );

    let t = raw_threshold % MAX_THRESHOLD;
    let encoded = sampling::encode_threshold(t);
    assert!(!encoded.is_empty() && encoded.len() <= 14, "{encoded:?}");
    assert_eq!(sampling::threshold(&format!("ot=th:{encoded}")), Some(t), "{encoded:?}");
    let written = sampling::with_threshold(&trace_state, t);
    assert_eq!(
        sampling::threshold(&written),
        Some(t),
        "with_threshold({trace_state:?}, {t:#x}) = {written:?}"
    );
    // Thresholds survive a trip through a probability up to f64's 53 bits.
    let back = sampling::threshold_for(sampling::probability(t));
    assert!(back.abs_diff(t) <= 16, "{t:#x} -> {back:#x}");
}
