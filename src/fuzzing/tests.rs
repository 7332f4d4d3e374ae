//! The seed corpora replayed through the checks the fuzz targets run, one test per
//! target: the entry points stay compiled under `cargo test`, and a seed that stops
//! passing (a changed config key, a renamed path) fails here rather than silently
//! shrinking what the fuzzers start from.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point, metric, summary_data_point, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};

use super::*;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

/// Runs every seed of `target` through its check; a panic names the seed.
fn replay(target: &str) {
    let dir = corpus_dir(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{} holds only {} seed(s)", dir.display(), seeds.len());
    for seed in seeds {
        let data = std::fs::read(&seed).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(target, &data)) {
            panic!("{target} fails on {}: {panic:?}", seed.display());
        }
    }
}

#[test]
fn every_target_has_a_fuzz_target_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for target in TARGETS {
        let source = root.join("fuzz_targets").join(format!("{target}.rs"));
        let text = std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("sloop::fuzzing::{target}(data)")),
            "{}",
            source.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml lacks {target}"
        );
        assert!(corpus_dir(target).is_dir(), "no seed corpus for {target}");
    }
}

#[test]
fn otlp_protobuf_seeds_pass() {
    replay("otlp_protobuf");
}

#[test]
fn zipkin_seeds_pass() {
    replay("zipkin");
}

#[test]
fn filelog_format_seeds_pass() {
    replay("filelog_format");
}

#[test]
fn jaeger_seeds_pass() {
    replay("jaeger");
}

#[test]
fn otlp_json_seeds_pass() {
    replay("otlp_json");
}

#[test]
fn inflate_seeds_pass() {
    replay("inflate");
}

#[test]
fn config_validate_seeds_pass() {
    replay("config_validate");
}

#[test]
fn condition_seeds_pass() {
    replay("condition");
}

/// A condition seed that parses nowhere would only ever exercise error paths.
#[test]
fn condition_seeds_parse_in_some_context() {
    for entry in std::fs::read_dir(corpus_dir("condition")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let errors: Vec<String> = Context::ALL
            .iter()
            .filter_map(|c| Condition::parse(&text, *c).err().map(|e| format!("{c:?}: {e}")))
            .collect();
        assert!(errors.len() < Context::ALL.len(), "{}: {errors:#?}", path.display());
    }
}

/// Every committed config seed but the one made to fail is a valid config.
#[test]
fn config_seeds_are_valid_configs() {
    for entry in std::fs::read_dir(corpus_dir("config_validate")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let result = Config::from_yaml_with_env(&text, &fixed_env);
        if path.ends_with("seed-env-and-errors.yaml") {
            let errors = result.expect_err("the seed with mistakes is refused").to_string();
            for expected in ["batchh", "verbositty"] {
                assert!(errors.contains(expected), "{errors}");
            }
        } else if let Err(errors) = result {
            panic!("{}: {errors}", path.display());
        }
    }
}

#[test]
fn tracestate_seeds_pass() {
    replay("tracestate");
}

/// The OTLP seeds are real requests: written by this test, run with
/// `cargo test --lib fuzzing::tests::write_otlp_seeds -- --ignored` after changing
/// them. Each file is the signal byte then the body.
#[test]
#[ignore = "writes the committed OTLP seed corpora"]
fn write_otlp_seeds() {
    for (name, data) in seed_requests() {
        let signal = Signal::ALL.iter().position(|s| *s == data.signal()).unwrap() as u8;
        for (target, body) in [
            ("otlp_protobuf", data.encode_protobuf()),
            ("otlp_json", data.encode_json()),
        ] {
            let mut bytes = vec![signal];
            bytes.extend_from_slice(&body);
            std::fs::write(corpus_dir(target).join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

/// Every seed request decodes to itself (the seeds are what they claim to be).
#[test]
fn otlp_seed_requests_round_trip() {
    for (name, data) in seed_requests() {
        let signal = data.signal();
        assert_eq!(
            otlp::decode(signal, false, &data.encode_protobuf()).unwrap(),
            data,
            "{name}"
        );
        assert_eq!(otlp::decode(signal, true, &data.encode_json()).unwrap(), data, "{name}");
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Attributes of every value type.
fn every_value_type() -> Vec<KeyValue> {
    use any_value::Value;
    vec![
        kv("s", Value::StringValue("GET /".into())),
        kv("b", Value::BoolValue(true)),
        kv("i", Value::IntValue(-42)),
        kv("d", Value::DoubleValue(0.5)),
        kv("bytes", Value::BytesValue(vec![0, 1, 255])),
        kv(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(1)),
                }],
            }),
        ),
        kv(
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![kv("inner", Value::StringValue("x".into()))],
            }),
        ),
    ]
}

fn resource() -> Option<opentelemetry_proto::tonic::resource::v1::Resource> {
    Some(opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![kv("service.name", any_value::Value::StringValue("checkout".into()))],
        ..Default::default()
    })
}

fn seed_requests() -> Vec<(&'static str, Telemetry)> {
    let fixed = FixedItems::new();
    let mut malformed = fixed.span.clone();
    malformed.trace_id = vec![0; 16];
    let mut short_parent = fixed.span.clone();
    short_parent.parent_span_id = vec![1, 2, 3];
    let rich = Span {
        attributes: every_value_type(),
        links: vec![span::Link {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            trace_state: "ot=th:c".into(),
            attributes: every_value_type(),
            ..Default::default()
        }],
        parent_span_id: vec![5; 8],
        flags: 0x101,
        ..fixed.span.clone()
    };
    let traces = |spans: Vec<Span>| {
        Telemetry::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(),
                scope_spans: vec![ScopeSpans {
                    scope: Some(fixed.scope.clone()),
                    spans,
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                }],
                ..Default::default()
            }],
        })
    };
    let point_attributes = vec![kv("http.route", any_value::Value::StringValue("/".into()))];
    let metrics = Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(fixed.scope.clone()),
                metrics: vec![
                    fixed.metric.clone(),
                    Metric {
                        name: "requests".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![opentelemetry_proto::tonic::metrics::v1::NumberDataPoint {
                                attributes: point_attributes.clone(),
                                value: Some(number_data_point::Value::AsInt(7)),
                                exemplars: vec![Exemplar {
                                    trace_id: vec![1; 16],
                                    span_id: vec![2; 8],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: point_attributes.clone(),
                                count: 3,
                                sum: Some(1.5),
                                bucket_counts: vec![1, 2, 0],
                                explicit_bounds: vec![0.1, 1.0],
                                min: Some(0.05),
                                max: Some(0.9),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency.exp".into(),
                        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                count: 4,
                                scale: 3,
                                zero_count: 1,
                                positive: Some(exponential_histogram_data_point::Buckets {
                                    offset: -2,
                                    bucket_counts: vec![1, 2],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency.summary".into(),
                        data: Some(metric::Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                count: 10,
                                sum: 2.5,
                                quantile_values: vec![summary_data_point::ValueAtQuantile {
                                    quantile: 0.99,
                                    value: 0.4,
                                }],
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut bad_log = fixed.log.clone();
    bad_log.span_id = vec![9; 3];
    let map_body = LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: every_value_type(),
            })),
        }),
        event_name: "checkout.failed".into(),
        trace_id: Vec::new(),
        span_id: Vec::new(),
        ..fixed.log.clone()
    };
    let logs = |records: Vec<LogRecord>| {
        Telemetry::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    scope: Some(fixed.scope.clone()),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    };
    vec![
        ("traces", traces(vec![fixed.span.clone(), rich])),
        (
            "traces-malformed-ids",
            traces(vec![fixed.span.clone(), malformed, short_parent]),
        ),
        ("metrics", metrics),
        ("logs", logs(vec![fixed.log.clone(), map_body])),
        ("logs-malformed-ids", logs(vec![fixed.log.clone(), bad_log])),
    ]
}

/// The Zipkin and Jaeger seeds are requests the receivers accept (written by the
/// SDKs' own encoders and the Zipkin API's examples), so the fuzzers start from
/// inputs that reach the translation, not only the decoders' first checks.
#[test]
fn zipkin_and_jaeger_seeds_are_accepted_requests() {
    for (target, accepts) in [
        (
            "zipkin",
            (|data: &[u8]| crate::receivers::zipkin::fuzzing::decode_any(data[0], &data[1..]).is_ok())
                as fn(&[u8]) -> bool,
        ),
        ("jaeger", |data: &[u8]| {
            crate::receivers::jaeger::fuzzing::decode_any(data[0], &data[1..])
                .is_some_and(|r| !r.resource_spans.is_empty())
        }),
    ] {
        for entry in std::fs::read_dir(corpus_dir(target)).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            assert!(accepts(&data), "{} is refused", path.display());
        }
    }
}
