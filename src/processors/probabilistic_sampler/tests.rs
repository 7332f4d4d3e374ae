use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;

use super::*;
use crate::pdata::sampling::{encode_threshold, MAX_THRESHOLD};
use crate::testing::{traces, Recorder};

fn config(yaml: &str) -> Result<ProbabilisticSamplerConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    parse_block(&figment::value::Value::from(dict))
}

fn sampler(yaml: &str) -> Sampler {
    Sampler::new(&config(yaml).unwrap(), false)
}

fn log_sampler(yaml: &str) -> Sampler {
    Sampler::new(&config(yaml).unwrap(), true)
}

/// Deterministic pseudo-random trace ids (splitmix64).
struct Ids(u64);

impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn trace_id(&mut self) -> Vec<u8> {
        let mut id = self.next_u64().to_be_bytes().to_vec();
        id.extend(self.next_u64().to_be_bytes());
        id
    }
}

fn span_with(trace_id: Vec<u8>, trace_state: &str) -> Span {
    Span {
        trace_id,
        span_id: vec![1; 8],
        trace_state: trace_state.into(),
        name: "op".into(),
        ..Default::default()
    }
}

/// A trace id whose low 56 bits (its W3C randomness) are `randomness`.
fn id_with_randomness(randomness: u64) -> Vec<u8> {
    let mut id = vec![0xab; 9];
    id.extend(&randomness.to_be_bytes()[1..]);
    id
}

fn kept_fraction(s: &Sampler, n: usize, seed: u64) -> f64 {
    let mut ids = Ids(seed);
    let kept = (0..n)
        .filter(|_| s.sample_span(&mut span_with(ids.trace_id(), "")).0)
        .count();
    kept as f64 / n as f64
}

#[test]
fn kept_fraction_matches_the_percentage_in_every_mode() {
    for mode in ["hash_seed", "proportional", "equalizing"] {
        for pct in [1.0, 10.0, 25.0, 50.0, 90.0] {
            let s = sampler(&format!("sampling_percentage: {pct}\nmode: {mode}\nhash_seed: 7\n"));
            let fraction = kept_fraction(&s, 100_000, 42);
            let want = pct / 100.0;
            assert!(
                (fraction - want).abs() <= 0.01,
                "{mode} at {pct}%: kept {fraction}, want {want} ± 0.01"
            );
        }
    }
}

#[test]
fn zero_and_hundred_percent() {
    for mode in ["hash_seed", "proportional", "equalizing"] {
        let none = sampler(&format!("sampling_percentage: 0\nmode: {mode}\n"));
        assert_eq!(kept_fraction(&none, 1000, 1), 0.0, "{mode}");
        let all = sampler(&format!("sampling_percentage: 100\nmode: {mode}\n"));
        assert_eq!(kept_fraction(&all, 1000, 1), 1.0, "{mode}");
    }
}

fn decisions(s: &Sampler, n: usize) -> Vec<bool> {
    let mut ids = Ids(99);
    (0..n)
        .map(|_| s.sample_span(&mut span_with(ids.trace_id(), "")).0)
        .collect()
}

#[test]
fn instances_with_the_same_settings_agree() {
    for yaml in [
        "sampling_percentage: 30\nmode: hash_seed\nhash_seed: 22\n",
        "sampling_percentage: 30\nmode: proportional\n",
        "sampling_percentage: 30\nmode: equalizing\n",
    ] {
        assert_eq!(
            decisions(&sampler(yaml), 10_000),
            decisions(&sampler(yaml), 10_000),
            "{yaml}"
        );
    }
    let a = decisions(&sampler("sampling_percentage: 30\nhash_seed: 22\n"), 10_000);
    let b = decisions(&sampler("sampling_percentage: 30\nhash_seed: 23\n"), 10_000);
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    // Independent 30% decisions disagree on 2 · 0.3 · 0.7 = 42% of traces.
    assert!(
        differ > 3_000,
        "different seeds should decide independently, {differ} differ"
    );
}

#[test]
fn every_span_of_a_trace_gets_the_same_decision() {
    let s = sampler("sampling_percentage: 50\nmode: hash_seed\nhash_seed: 3\n");
    let mut ids = Ids(5);
    for _ in 0..1000 {
        let id = ids.trace_id();
        let first = s.sample_span(&mut span_with(id.clone(), "")).0;
        assert_eq!(s.sample_span(&mut span_with(id, "")).0, first);
    }
}

#[test]
fn fnv_is_fnv1a_over_the_seed_then_the_bytes() {
    // FNV-1a("foobar") = 0xbf9cf968; the seed's little-endian bytes come first.
    assert_eq!(fnv_hash(b"ar", u32::from_le_bytes(*b"foob")), 0xbf9c_f968);
    assert_eq!(fnv_hash(b"", u32::from_le_bytes(*b"a\0\0\0")), {
        let mut h: u32 = 0x811c_9dc5;
        for b in b"a\0\0\0" {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        h
    });
}

#[test]
fn hash_mode_keeps_when_the_bucket_is_below_the_rate() {
    // 10%: uint32(10 * 163.84) = 1638 buckets of 16384.
    let s = sampler("sampling_percentage: 10\nmode: hash_seed\nhash_seed: 22\n");
    let mut ids = Ids(11);
    for _ in 0..5000 {
        let id = ids.trace_id();
        let bucket = fnv_hash(&id, 22) % 16384;
        let mut span = span_with(id, "");
        assert_eq!(s.sample_span(&mut span).0, bucket < 1638, "bucket {bucket}");
    }
}

#[test]
fn specification_threshold_examples() {
    let th = |p: f64, precision: u8| encode_threshold(probability_to_threshold(p, precision).unwrap());
    assert_eq!(th(0.25, 4), "c");
    assert_eq!(th(0.5, 4), "8");
    assert_eq!(th(1.0, 4), "0");
    // 1%: T = 0xfd70a3d70a3d70…; one digit is added for the leading `f`.
    assert_eq!(th(0.01, 4), "fd70a");
    assert_eq!(th(0.01, 5), "fd70a4", "the specification's example");
    assert_eq!(th(0.01, 14), "fd70a3d70a3d71");
    assert_eq!(th(2.0 / 3.0, 4), "5555");
    assert_eq!(th(1.0 / 3.0, 4), "aaab");
    assert!(probability_to_threshold(0.0, 4).is_none());
    assert!(probability_to_threshold(1.5, 4).is_none());
}

#[test]
fn kept_spans_carry_the_threshold() {
    let s = sampler("sampling_percentage: 25\nmode: proportional\n");
    let mut kept = span_with(id_with_randomness(0xd0 << 48), "vendor=x");
    assert!(s.sample_span(&mut kept).0);
    assert_eq!(kept.trace_state, "ot=th:c,vendor=x");
    let mut dropped = span_with(id_with_randomness(0xb0 << 48), "");
    assert!(!s.sample_span(&mut dropped).0);

    let one_percent = sampler("sampling_percentage: 1\nmode: equalizing\nsampling_precision: 5\n");
    let mut span = span_with(id_with_randomness(MAX_THRESHOLD - 1), "");
    assert!(one_percent.sample_span(&mut span).0);
    assert_eq!(span.trace_state, "ot=th:fd70a4");
}

#[test]
fn proportional_multiplies_with_an_arriving_threshold() {
    let s = sampler("sampling_percentage: 50\nmode: proportional\n");
    // Sampled at 50% before (th:8); 50% of that is 25%: th:c.
    let mut span = span_with(id_with_randomness(0xe0 << 48), "ot=th:8;rv:x,other=1");
    // (rv:x is malformed: the whole state is rejected; use a clean one.)
    assert!(!s.sample_span(&mut span).0, "malformed rv fails closed");
    let mut span = span_with(id_with_randomness(0xe0 << 48), "other=1,ot=th:8");
    assert!(s.sample_span(&mut span).0);
    assert_eq!(span.trace_state, "ot=th:c,other=1");
    // Randomness between the two thresholds: passed the first sampler, not this one.
    let mut span = span_with(id_with_randomness(0xa0 << 48), "ot=th:8");
    assert!(!s.sample_span(&mut span).0);
    // An explicit rv wins over the trace id.
    let mut span = span_with(id_with_randomness(0), "ot=th:8;rv:f0000000000000");
    assert!(s.sample_span(&mut span).0);
    assert_eq!(span.trace_state, "ot=th:c;rv:f0000000000000");
}

#[test]
fn equalizing_keeps_the_larger_threshold() {
    let s = sampler("sampling_percentage: 50\nmode: equalizing\n");
    // Arriving at 25% (th:c): stricter than 50%, it stays.
    let mut span = span_with(id_with_randomness(0xd0 << 48), "ot=th:c");
    assert!(s.sample_span(&mut span).0);
    assert_eq!(span.trace_state, "ot=th:c");
    // Arriving at 75% (th:4): raised to 50% (th:8).
    let mut span = span_with(id_with_randomness(0xd0 << 48), "ot=th:4");
    assert!(s.sample_span(&mut span).0);
    assert_eq!(span.trace_state, "ot=th:8");
    let mut span = span_with(id_with_randomness(0x60 << 48), "ot=th:4");
    assert!(!s.sample_span(&mut span).0);
}

#[test]
fn an_inconsistent_arriving_threshold_is_an_error() {
    // Randomness 0x10… cannot have passed th:8.
    let closed = sampler("sampling_percentage: 100\nmode: proportional\n");
    assert!(
        !closed
            .sample_span(&mut span_with(id_with_randomness(0x10 << 48), "ot=th:8"))
            .0
    );
    let open = sampler("sampling_percentage: 100\nmode: proportional\nfail_closed: false\n");
    let mut span = span_with(id_with_randomness(0x10 << 48), "ot=th:8");
    assert!(open.sample_span(&mut span).0);
    assert_eq!(
        span.trace_state, "ot=th:0",
        "the lie is removed, the new threshold written"
    );
}

#[test]
fn fail_closed_decides_items_without_randomness() {
    for mode in ["hash_seed", "proportional", "equalizing"] {
        let closed = sampler(&format!("sampling_percentage: 100\nmode: {mode}\n"));
        let open = sampler(&format!("sampling_percentage: 1\nmode: {mode}\nfail_closed: false\n"));
        for (trace_id, state) in [
            (vec![], ""),
            (vec![0; 16], ""),
            (vec![1, 2, 3], ""),
            (vec![7; 16], "ot=th:zz"),
        ] {
            let span = span_with(trace_id, state);
            assert!(!closed.sample_span(&mut span.clone()).0, "{mode}: {span:?}");
            assert!(open.sample_span(&mut span.clone()).0, "{mode}: {span:?}");
        }
    }
}

#[test]
fn hash_mode_records_randomness_and_threshold() {
    let s = sampler("sampling_percentage: 100\nmode: hash_seed\nhash_seed: 1\n");
    let id = vec![9; 16];
    let mut span = span_with(id.clone(), "vendor=a");
    assert!(s.sample_span(&mut span).0);
    let rv = randomness_from_bytes(&id, 1);
    assert_eq!(span.trace_state, format!("ot=th:0;rv:{rv:014x},vendor=a"));
    // Consistent-sampling values already there cannot be honoured: no randomness.
    assert!(!s.sample_span(&mut span_with(id.clone(), "ot=th:8")).0);
    assert!(!s.sample_span(&mut span_with(id, "ot=rv:00000000000001")).0);
}

#[test]
fn span_sampling_priority_overrides() {
    let s = sampler("sampling_percentage: 0\n");
    let mut span = span_with(vec![7; 16], "");
    span.attributes.push(int("sampling.priority", 1));
    assert_eq!(s.sample_span(&mut span), (true, Policy::SamplingPriority));
    let s = sampler("sampling_percentage: 100\n");
    let mut span = span_with(vec![7; 16], "");
    span.attributes.push(int("sampling.priority", 0));
    assert_eq!(s.sample_span(&mut span), (false, Policy::SamplingPriority));
}

#[test]
fn malformed_tracestates_do_not_panic() {
    let s = sampler("sampling_percentage: 50\nmode: proportional\nfail_closed: false\n");
    let h = sampler("sampling_percentage: 50\nhash_seed: 9\nfail_closed: false\n");
    let long = "a=b,".repeat(40);
    for state in [
        "ot",
        "ot=",
        "=x",
        ",,,",
        "ot=th:",
        "ot=th:123456789abcdef",
        "ot=rv:123",
        "ot=th:8;th:8",
        "ot=th:8,ot=th:c",
        "ot=;;;",
        "ot=th:8;",
        "ot=:8",
        "OT=th:8",
        "ot=th:8 ",
        "ot=th:ç",
        "vendor=\u{7f}",
        long.as_str(),
        "ot=th:fffffffffffffff",
        "ot=th:ffffffffffffff",
        "ot=rv:ffffffffffffff;th:ffffffffffffff",
    ] {
        let mut ids = Ids(3);
        for _ in 0..20 {
            let _ = s.sample_span(&mut span_with(ids.trace_id(), state));
            let _ = h.sample_span(&mut span_with(ids.trace_id(), state));
        }
        let _ = TraceState::parse(state);
    }
    assert!(TraceState::parse("ot=th:8,ot=th:c").is_err());
    assert!(TraceState::parse("ot=rv:123").is_err());
    assert_eq!(
        TraceState::parse(" a=1 , ot=th:c;rv:0123456789abcd;x:y ")
            .unwrap()
            .serialize(),
        "ot=th:c;rv:0123456789abcd;x:y,a=1"
    );
}

fn int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn string(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn attr<'a>(log: &'a LogRecord, key: &str) -> Option<&'a str> {
    match log
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?
    {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[test]
fn logs_follow_their_trace_ids() {
    let spans = sampler("sampling_percentage: 20\n");
    let logs = log_sampler("sampling_percentage: 20\n");
    let mut ids = Ids(17);
    let mut kept = 0;
    for _ in 0..20_000 {
        let id = ids.trace_id();
        let span_kept = spans.sample_span(&mut span_with(id.clone(), "")).0;
        let mut log = LogRecord {
            trace_id: id,
            ..Default::default()
        };
        let (log_kept, policy) = logs.sample_log(&mut log);
        assert_eq!(log_kept, span_kept, "a trace's logs and spans agree");
        assert_eq!(policy, Policy::TraceIdW3c);
        if log_kept {
            kept += 1;
            assert_eq!(attr(&log, "sampling.threshold"), Some("cccd"));
        }
    }
    assert!((kept as f64 / 20_000.0 - 0.2).abs() <= 0.01, "{kept}");
    // No trace id and no attribute: no randomness, dropped (fail_closed).
    assert!(!logs.sample_log(&mut LogRecord::default()).0);
}

#[test]
fn logs_by_record_attribute() {
    let s = log_sampler("sampling_percentage: 10\nattribute_source: record\nfrom_attribute: request.id\n");
    let mut ids = Ids(23);
    let mut kept = 0;
    for i in 0..100_000 {
        let id = format!("req-{}", ids.next_u64());
        let mut log = LogRecord {
            attributes: vec![string("request.id", &id)],
            // The trace id is ignored with attribute_source: record.
            trace_id: if i % 2 == 0 { vec![] } else { vec![1; 16] },
            ..Default::default()
        };
        let (sampled, policy) = s.sample_log(&mut log);
        assert_eq!(policy, Policy::Attribute);
        let again = s
            .sample_log(&mut LogRecord {
                attributes: vec![string("request.id", &id)],
                ..Default::default()
            })
            .0;
        assert_eq!(sampled, again, "the same attribute value, the same decision");
        if sampled {
            kept += 1;
            // hash_seed mode (the default with attribute_source: record) records both.
            assert!(attr(&log, "sampling.randomness").is_some());
            assert!(attr(&log, "sampling.threshold").is_some());
        }
    }
    assert!((kept as f64 / 100_000.0 - 0.1).abs() <= 0.01, "{kept}");
    let mut missing = LogRecord::default();
    assert_eq!(s.sample_log(&mut missing), (false, Policy::MissingRandomness));
}

#[test]
fn logs_fall_back_to_the_attribute_without_a_trace_id() {
    let s = log_sampler("sampling_percentage: 100\nmode: proportional\nfrom_attribute: id\n");
    let mut log = LogRecord {
        attributes: vec![string("id", "abc")],
        ..Default::default()
    };
    assert_eq!(s.sample_log(&mut log), (true, Policy::Attribute));
    assert_eq!(attr(&log, "sampling.threshold"), Some("0"));
}

#[test]
fn log_sampling_priority_overrides_the_percentage() {
    let s = log_sampler("sampling_percentage: 0\nsampling_priority: priority\n");
    let with = |p: KeyValue| LogRecord {
        trace_id: vec![5; 16],
        attributes: vec![p],
        ..Default::default()
    };
    assert!(s.sample_log(&mut with(int("priority", 100))).0);
    let s = log_sampler("sampling_percentage: 100\nsampling_priority: priority\n");
    assert!(!s.sample_log(&mut with(int("priority", 0))).0, "0 drops");
    assert!(
        s.sample_log(&mut with(string("other", "x"))).0,
        "without it the percentage applies"
    );
    // 50%: the record's randomness decides against th:8.
    let mut ids = Ids(31);
    let kept = (0..10_000)
        .filter(|_| {
            let mut log = with(KeyValue {
                key: "priority".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(50.0)),
                }),
                ..Default::default()
            });
            log.trace_id = ids.trace_id();
            s.sample_log(&mut log).0
        })
        .count();
    assert!((kept as f64 / 10_000.0 - 0.5).abs() <= 0.02, "{kept}");
}

#[test]
fn malformed_log_sampling_attributes_fail_closed() {
    let s = log_sampler("sampling_percentage: 100\nmode: proportional\n");
    let mut log = LogRecord {
        trace_id: vec![5; 16],
        attributes: vec![string("sampling.threshold", "not hex")],
        ..Default::default()
    };
    assert!(!s.sample_log(&mut log).0);
    let open = log_sampler("sampling_percentage: 100\nmode: proportional\nfail_closed: false\n");
    assert!(open.sample_log(&mut log).0);
}

#[test]
fn mode_defaults_follow_the_collector() {
    // Unset: hash_seed when a seed is set (or logs by record), proportional otherwise.
    let id = vec![9; 16];
    let run = |s: Sampler| {
        let mut span = span_with(id.clone(), "");
        s.sample_span(&mut span).1
    };
    assert_eq!(run(sampler("sampling_percentage: 100\n")), Policy::TraceIdW3c);
    assert_eq!(
        run(sampler("sampling_percentage: 100\nhash_seed: 1\n")),
        Policy::TraceIdHash
    );
}

#[test]
fn config_validation() {
    let defaults = config("{}").unwrap();
    assert_eq!(defaults.sampling_percentage, 0.0);
    assert!(defaults.fail_closed);
    assert_eq!(defaults.sampling_precision, 4);
    assert_eq!(defaults.mode, None);
    assert_eq!(defaults.attribute_source, AttributeSource::TraceId);
    for (yaml, path) in [
        ("sampling_percentage: -1\n", "sampling_percentage"),
        ("sampling_percentage: 1e-20\n", "sampling_percentage"),
        ("sampling_precision: 0\n", "sampling_precision"),
        ("sampling_precision: 15\n", "sampling_precision"),
        ("attribute_source: record\n", "from_attribute"),
        ("attribute_source: span\n", "attribute_source"),
        ("mode: random\n", "mode"),
        ("sampling_percent: 10\n", "sampling_percent"),
    ] {
        let errors = config(yaml).expect_err(yaml);
        assert!(
            errors.iter().any(|e| e.path.contains(path) || e.message.contains(path)),
            "{yaml}: {errors:?}"
        );
    }
    assert!(config("sampling_percentage: 150\n").is_ok(), "above 100 means 100");
    let cfg = config("sampling_percentage: 10\n").unwrap();
    assert!(cfg.check_signal(Signal::Metrics).is_err());
    assert!(cfg.check_signal(Signal::Traces).is_ok());
    assert!(cfg.check_signal(Signal::Logs).is_ok());
}

async fn run(cfg: &ProbabilisticSamplerConfig, data: Telemetry) -> Option<Telemetry> {
    let next = Recorder::new();
    let processor: Arc<dyn Processor> =
        crate::testing::build_processor(cfg, "probabilistic_sampler", data.signal(), next.clone());
    processor.consume(data).await.unwrap();
    let mut received = next.received.lock().unwrap();
    received.pop()
}

#[tokio::test]
async fn the_processor_drops_unsampled_items_and_empty_containers() {
    let mut data = traces(&[&["a", "b"], &["c"]]);
    if let Telemetry::Traces(r) = &mut data {
        // Resource 0: one kept, one dropped span; resource 1: dropped.
        let spans = &mut r.resource_spans[0].scope_spans[0].spans;
        spans[0].trace_id = id_with_randomness(0xf0 << 48);
        spans[1].trace_id = id_with_randomness(0x10 << 48);
        r.resource_spans[1].scope_spans[0].spans[0].trace_id = id_with_randomness(0x20 << 48);
    }
    let cfg = config("sampling_percentage: 50\nmode: proportional\n").unwrap();
    let Some(Telemetry::Traces(out)) = run(&cfg, data).await else {
        panic!("expected traces")
    };
    assert_eq!(out.resource_spans.len(), 1);
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1);
    assert_eq!(
        (spans[0].name.as_str(), spans[0].trace_state.as_str()),
        ("a", "ot=th:8")
    );

    let none = config("sampling_percentage: 0\n").unwrap();
    assert!(
        run(&none, traces(&[&["a"]])).await.is_none(),
        "nothing kept, nothing sent"
    );

    let logs = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        trace_id: id_with_randomness(0xf0 << 48),
                        ..Default::default()
                    },
                    LogRecord::default(),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    assert_eq!(run(&cfg, logs).await.unwrap().item_count(), 1);
}

#[test]
fn validate_reports_full_paths_and_signals() {
    let yaml = |block: &str, signal: &str| {
        format!(
            "
receivers:
  otlp:
    protocols:
      grpc:
processors:
  probabilistic_sampler:
{block}
exporters:
  debug:
service:
  pipelines:
    {signal}:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [debug]
"
        )
    };
    let errors = |text: String| match crate::config::Config::from_yaml(&text) {
        Ok(_) => Vec::new(),
        Err(crate::confmap::ConfigErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    };
    assert!(errors(yaml("    sampling_percentage: 10", "traces")).is_empty());
    assert!(errors(yaml("    sampling_percentage: 10", "logs")).is_empty());
    let bad = errors(yaml("    sampling_precision: 20", "traces"));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].starts_with("processors.probabilistic_sampler.sampling_precision: "),
        "{bad:?}"
    );
    let metrics = errors(yaml("    sampling_percentage: 10", "metrics"));
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert!(metrics[0].contains("does not support metrics"), "{metrics:?}");
}
