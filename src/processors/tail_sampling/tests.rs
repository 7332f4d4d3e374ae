use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use rand::{Rng, SeedableRng};

use super::*;
use crate::pdata::sampling::{probability, threshold};
use crate::testing::Recorder;

fn config(yaml: &str) -> Result<CompiledTailSampling, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    let config: TailSamplingConfig = parse_block(&figment::value::Value::from(dict))?;
    CompiledTailSampling::compile(config)
}

fn processor(yaml: &str, next: Arc<Recorder>) -> TailSamplingProcessor {
    TailSamplingProcessor::new(&config(yaml).unwrap(), "tail_sampling", next)
}

fn tid(trace: u128) -> Vec<u8> {
    trace.to_be_bytes().to_vec()
}

/// A span of `trace` lasting `ms` milliseconds.
fn span(trace: u128, span_id: u64, ms: u64) -> Span {
    let start = 1_700_000_000_000_000_000u64 + span_id * 1_000_000;
    Span {
        trace_id: tid(trace),
        span_id: span_id.to_be_bytes().to_vec(),
        name: format!("s{span_id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * 1_000_000,
        ..Default::default()
    }
}

fn with_attr(mut span: Span, key: &str, value: any_value::Value) -> Span {
    span.attributes.push(KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    });
    span
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

fn request(spans: Vec<Span>) -> Telemetry {
    Telemetry::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Every span received, in order.
fn received(next: &Recorder) -> Vec<Span> {
    next.received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|t| match t {
            Telemetry::Traces(r) => r.resource_spans.clone(),
            _ => Vec::new(),
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

/// Distinct trace IDs (as u128) among received spans.
fn kept_traces(next: &Recorder) -> Vec<u128> {
    let mut ids: Vec<u128> = received(next)
        .iter()
        .map(|s| u128::from_be_bytes(s.trace_id.as_slice().try_into().unwrap()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match span
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

#[tokio::test(start_paused = true)]
async fn a_trace_arriving_over_several_requests_is_decided_once_and_late_spans_follow() {
    let next = Recorder::new();
    let yaml = "decision_wait: 5s\npolicies:\n  - {name: fat, type: span_count, span_count: {min_spans: 3}}\n";
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    // Trace 1: children first, the root last, in three requests; trace 2: one span.
    tail.consume(request(vec![span(1, 3, 10), span(2, 9, 10)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tail.consume(request(vec![span(1, 2, 10)])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tail.consume(request(vec![span(1, 1, 100)])).await.unwrap();
    assert_eq!(tail.traces_held(), 2);
    tokio::time::sleep(Duration::from_millis(999)).await;
    assert!(next.batch_sizes().is_empty(), "decided before decision_wait");
    tokio::time::sleep(Duration::from_millis(2)).await;
    // All three spans of trace 1, together, once; trace 2 dropped.
    assert_eq!(next.batch_sizes(), vec![3]);
    let mut ids: Vec<String> = received(&next).iter().map(|s| s.name.clone()).collect();
    ids.sort();
    assert_eq!(ids, vec!["s1", "s2", "s3"]);
    assert_eq!(tail.traces_held(), 0);
    // Late spans follow the cached decisions: kept for 1 at once, dropped for 2.
    tokio::time::sleep(Duration::from_secs(10)).await;
    tail.consume(request(vec![span(1, 4, 1), span(2, 8, 1)])).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![3, 1]);
    assert_eq!(received(&next)[3].name, "s4");
    assert_eq!(tail.traces_held(), 0, "late spans are not held again");
    tokio::time::sleep(Duration::from_secs(60)).await;
    tail.shutdown().await;
    assert_eq!(next.batch_sizes(), vec![3, 1], "nothing decided twice");
}

#[tokio::test(start_paused = true)]
async fn errors_slow_traces_and_bad_sli_events_are_kept_alongside_zero_percent() {
    let next = Recorder::new();
    let yaml = r#"
decision_wait: 1s
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 500}}
  - {name: budget, type: sli, sli: {names: [homepage]}}
  - {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 0}}
"#;
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    let mut error = span(1, 1, 10);
    error.status = Some(Status {
        code: status::StatusCode::Error as i32,
        ..Default::default()
    });
    let spans = vec![
        error,
        span(1, 2, 10),
        // Trace 2 lasts from its first span's start to its last span's end: 600ms.
        span(2, 10, 100),
        span(2, 600, 0),
        with_attr(span(3, 1, 10), "sli.homepage", string("bad")),
        with_attr(span(4, 1, 10), "sli.homepage", string("good")),
        with_attr(span(5, 1, 10), "sli.checkout", string("bad")),
        span(6, 1, 499),
    ];
    tail.consume(request(spans)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(kept_traces(&next), vec![1, 2, 3]);
    // Kept deterministically: weight 1.
    assert!(received(&next).iter().all(|s| s.trace_state == "ot=th:0"));

    // Any SLI when no names are given.
    let next = Recorder::new();
    let tail = processor("decision_wait: 1s\npolicies: [{name: b, type: sli}]\n", next.clone());
    tail.consume(request(vec![
        with_attr(span(5, 1, 10), "sli.checkout", string("bad")),
        with_attr(span(6, 1, 10), "sli.checkout", string("good")),
        with_attr(span(7, 1, 10), "other", string("bad")),
    ]))
    .await
    .unwrap();
    tail.shutdown().await;
    assert_eq!(kept_traces(&next), vec![5]);
}

#[tokio::test(start_paused = true)]
async fn rate_limiting_holds_its_spans_per_second() {
    let next = Recorder::new();
    let yaml =
        "decision_wait: 1s\npolicies: [{name: cap, type: rate_limiting, rate_limiting: {spans_per_second: 100}}]\n";
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    // 1000 single-span traces per second for 10 s, in 100 ms steps.
    let mut trace = 0u128;
    for _ in 0..100 {
        let spans = (0..100)
            .map(|_| {
                trace += 1;
                span(trace, 1, 1)
            })
            .collect();
        tail.consume(request(spans)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    tail.shutdown().await;
    // Decisions run from t=1s to t=10.9s: ten one-second windows, each offered 1000
    // spans and each filling its 100 exactly. Eleven windows would be the most any
    // alignment could touch, hence the bound.
    let kept = received(&next).len();
    assert!((1000..=1100).contains(&kept), "kept {kept}");
    assert_eq!(kept, 1000, "windows line up with the paused clock");
    // Each kept span stands for the ~10 offered per kept one.
    let weights: Vec<f64> = received(&next)
        .iter()
        .skip(200)
        .map(|s| 1.0 / probability(threshold(&s.trace_state).unwrap()))
        .collect();
    assert!(weights.iter().all(|w| (*w - 10.0).abs() < 0.5), "{:?}", &weights[..5]);
}

#[tokio::test(start_paused = true)]
async fn memory_stays_within_num_traces_under_a_flood_of_trace_ids() {
    let next = Recorder::new();
    let yaml = "decision_wait: 60s\nnum_traces: 3000\npolicies: [{name: all, type: always_sample}]\n";
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    let shards = tail.shard_usage();
    assert_eq!(shards.len(), 2);
    assert_eq!(shards.iter().map(|(_, cap)| cap).sum::<usize>(), 3000);
    let mut trace = 0u128;
    for _ in 0..200 {
        let spans = (0..100)
            .map(|_| {
                trace += 1;
                span(trace.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835), 1, 1)
            })
            .collect();
        tail.consume(request(spans)).await.unwrap();
        assert!(tail.traces_held() <= 3000);
        assert!(tail.shard_usage().iter().all(|(held, cap)| held <= cap));
    }
    assert_eq!(tail.traces_held(), 3000, "every shard is full");
    assert_eq!(tail.decided_early(), 20_000 - 3000);
    assert_eq!(received(&next).len(), 17_000);
    tail.shutdown().await;
    assert_eq!(tail.traces_held(), 0);
    assert_eq!(kept_traces(&next).len(), 20_000, "every trace forwarded once");
    assert_eq!(received(&next).len(), 20_000);
}

#[tokio::test]
async fn probabilistic_keeps_its_fraction_and_writes_the_matching_threshold() {
    let next = Recorder::new();
    let yaml =
        "num_traces: 200000\npolicies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}]\n";
    let tail = processor(yaml, next.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let spans: Vec<Span> = (0..100_000).map(|_| span(rng.random(), 1, 1)).collect();
    tail.consume(request(spans)).await.unwrap();
    tail.shutdown().await;
    let kept = received(&next);
    let fraction = kept.len() as f64 / 100_000.0;
    // Binomial standard deviation sqrt(0.25 * 0.75 / 1e5) = 0.0014: 1% is 7 of them.
    assert!((fraction - 0.25).abs() < 0.01, "kept {fraction}");
    assert!(
        kept.iter().all(|s| s.trace_state == "ot=th:c"),
        "{}",
        kept[0].trace_state
    );
    assert_eq!(probability(threshold("ot=th:c").unwrap()), 0.25);

    // The same trace IDs decide the same way (hash of the trace ID), and an upstream
    // threshold multiplies: 50% upstream x 25% here = 12.5% (th:e).
    let next2 = Recorder::new();
    let tail = processor(yaml, next2.clone());
    let mut again: Vec<Span> = kept.iter().take(100).cloned().collect();
    for s in &mut again {
        s.trace_state = "ot=th:8;rv:abcdef01234567,x=y".into();
    }
    tail.consume(request(again)).await.unwrap();
    tail.shutdown().await;
    let kept2 = received(&next2);
    assert_eq!(kept2.len(), 100);
    assert!(kept2.iter().all(|s| s.trace_state == "ot=th:e;rv:abcdef01234567,x=y"));
}

#[tokio::test]
async fn weights_of_deterministic_keeps_are_left_alone() {
    let next = Recorder::new();
    let tail = processor("policies: [{name: all, type: always_sample}]\n", next.clone());
    let mut upstream = span(1, 1, 1);
    upstream.trace_state = "ot=th:8".into();
    let rate = with_attr(span(2, 1, 1), "SampleRate", any_value::Value::IntValue(20));
    let mut vendor = span(3, 1, 1);
    vendor.trace_state = "v=1".into();
    tail.consume(request(vec![upstream, rate, vendor])).await.unwrap();
    tail.shutdown().await;
    let states: BTreeMap<u8, String> = received(&next)
        .iter()
        .map(|s| (s.trace_id[15], s.trace_state.clone()))
        .collect();
    assert_eq!(states[&1], "ot=th:8");
    assert_eq!(states[&2], "", "SampleRate keeps counting");
    assert_eq!(states[&3], "ot=th:0,v=1");
}

#[tokio::test]
async fn record_policy_names_the_first_policy_that_kept_the_trace() {
    let next = Recorder::new();
    let yaml = r#"
record_policy: true
policies:
  - {name: fat, type: span_count, span_count: {min_spans: 2}}
  - {name: all, type: always_sample}
"#;
    let tail = processor(yaml, next.clone());
    tail.consume(request(vec![span(1, 1, 1), span(1, 2, 1), span(2, 1, 1)]))
        .await
        .unwrap();
    tail.shutdown().await;
    let names: BTreeMap<u8, Option<String>> = received(&next)
        .iter()
        .map(|s| (s.trace_id[15], attr(s, POLICY_ATTRIBUTE).map(str::to_owned)))
        .collect();
    assert_eq!(names[&1].as_deref(), Some("fat"));
    assert_eq!(names[&2].as_deref(), Some("all"));
}

#[tokio::test]
async fn attribute_and_span_count_policies() {
    async fn kept(policy: &str, spans: Vec<Span>) -> Vec<u128> {
        let next = Recorder::new();
        let tail = processor(&format!("policies:\n  - {policy}\n"), next.clone());
        tail.consume(request(spans)).await.unwrap();
        tail.shutdown().await;
        kept_traces(&next)
    }
    let strings = || {
        vec![
            with_attr(span(1, 1, 1), "k", string("a")),
            with_attr(span(2, 1, 1), "k", string("zzz")),
            span(3, 1, 1),
            with_attr(span(4, 1, 1), "k", string("b-1")),
        ]
    };
    let exact = "{name: s, type: string_attribute, string_attribute: {key: k, values: [a, b]}}";
    assert_eq!(kept(exact, strings()).await, vec![1]);
    let regex = "{name: s, type: string_attribute, string_attribute: {key: k, values: ['^b-\\d$', '^a$'], enabled_regex_matching: true}}";
    assert_eq!(kept(regex, strings()).await, vec![1, 4]);
    let inverted = "{name: s, type: string_attribute, string_attribute: {key: k, values: [a, b], invert_match: true}}";
    assert_eq!(kept(inverted, strings()).await, vec![2, 3, 4]);

    let numbers = || {
        vec![
            with_attr(span(1, 1, 1), "num", any_value::Value::IntValue(5)),
            with_attr(span(2, 1, 1), "num", any_value::Value::IntValue(11)),
            with_attr(span(3, 1, 1), "num", any_value::Value::DoubleValue(1.0)),
            span(4, 1, 1),
        ]
    };
    let range = "{name: num, type: numeric_attribute, numeric_attribute: {key: num, min_value: 1, max_value: 10}}";
    assert_eq!(kept(range, numbers()).await, vec![1, 3]);
    let inverted = "{name: num, type: numeric_attribute, numeric_attribute: {key: num, min_value: 1, max_value: 10, invert_match: true}}";
    assert_eq!(kept(inverted, numbers()).await, vec![2, 4]);

    let counts = vec![
        span(1, 1, 1),
        span(2, 1, 1),
        span(2, 2, 1),
        span(3, 1, 1),
        span(3, 2, 1),
        span(3, 3, 1),
        span(3, 4, 1),
    ];
    let between = "{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}";
    assert_eq!(kept(between, counts.clone()).await, vec![2]);
    let at_least = "{name: c, type: span_count, span_count: {min_spans: 2}}";
    assert_eq!(kept(at_least, counts).await, vec![2, 3]);

    let ottl = r#"{name: o, type: ottl_condition, ottl_condition: {span: ['attributes["x"] == true']}}"#;
    let spans = vec![
        with_attr(span(1, 1, 1), "x", any_value::Value::BoolValue(true)),
        span(2, 1, 1),
    ];
    assert_eq!(kept(ottl, spans).await, vec![1]);
}

#[tokio::test]
async fn and_needs_every_sub_policy() {
    let next = Recorder::new();
    let yaml = r#"
policies:
  - name: slow-errors
    type: and
    and:
      and_sub_policy:
        - {name: slow, type: latency, latency: {threshold_ms: 100}}
        - {name: err, type: string_attribute, string_attribute: {key: e, values: ["yes"]}}
"#;
    let tail = processor(yaml, next.clone());
    tail.consume(request(vec![
        with_attr(span(1, 1, 200), "e", string("yes")),
        with_attr(span(2, 1, 50), "e", string("yes")),
        span(3, 1, 200),
    ]))
    .await
    .unwrap();
    tail.shutdown().await;
    assert_eq!(kept_traces(&next), vec![1]);
    assert!(received(&next).iter().all(|s| s.trace_state == "ot=th:0"));
}

#[tokio::test(start_paused = true)]
async fn composite_gives_each_sub_policy_its_share_in_order() {
    let next = Recorder::new();
    let yaml = r#"
decision_wait: 1s
policies:
  - name: mix
    type: composite
    composite:
      max_total_spans_per_second: 100
      policy_order: [important, rest]
      composite_sub_policy:
        - {name: rest, type: always_sample}
        - {name: important, type: string_attribute, string_attribute: {key: k, values: [vip]}}
      rate_allocation: [{policy: important, percent: 50}, {policy: rest, percent: 25}]
"#;
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    // 80 vip and 80 plain single-span traces in one second.
    let mut spans = Vec::new();
    for i in 0..80u128 {
        spans.push(with_attr(span(1000 + i, 1, 1), "k", string("vip")));
        spans.push(span(2000 + i, 1, 1));
    }
    tail.consume(request(spans)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tail.shutdown().await;
    let kept = kept_traces(&next);
    let vip = kept.iter().filter(|t| **t < 2000).count();
    let plain = kept.len() - vip;
    // important: 50 of its own; overflow vips then fall to rest (25), which plain ones share.
    assert_eq!(vip + plain, 75);
    assert!(vip >= 50, "vip {vip}");
    // Rate-limited keeps carry a weight estimated from the share kept so far (no
    // earlier second to go by here): 75 kept of the 97 offered when the last was kept.
    let last = received(&next).last().unwrap().trace_state.clone();
    let weight = 1.0 / probability(threshold(&last).unwrap());
    assert!((weight - 97.0 / 75.0).abs() < 1e-6, "{last}: {weight}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_decides_everything_and_is_safe_twice_and_without_start() {
    let next = Recorder::new();
    let yaml = "decision_wait: 60s\npolicies: [{name: all, type: always_sample}]\n";
    let tail = processor(yaml, next.clone());
    tail.shutdown().await;
    let tail = processor(yaml, next.clone());
    tail.start().await.unwrap();
    tail.start().await.unwrap();
    tail.consume(request(vec![span(1, 1, 1), span(2, 1, 1)])).await.unwrap();
    tail.shutdown().await;
    tail.shutdown().await;
    assert_eq!(next.batch_sizes(), vec![2]);
    // After shutdown nothing waits: traces are decided at once.
    tail.consume(request(vec![span(3, 1, 1)])).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![2, 1]);
    assert_eq!(tail.traces_held(), 0);
}

fn errors(yaml: &str) -> Vec<(String, String)> {
    config(yaml)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect()
}

#[test]
fn config_errors_name_their_paths() {
    let e = errors("policies: [{name: a, type: status_cod}]\n");
    assert_eq!(e[0].0, "policies.0.type");
    assert!(e[0].1.contains("did you mean status_code"), "{e:?}");

    let e = errors("policies: [{name: a, type: latency}]\n");
    assert_eq!(
        e,
        vec![(
            "policies[0].latency".into(),
            "a policy of type latency needs this block".into()
        )]
    );

    let e = errors("policies: [{name: a, type: latency, latency: {threshold_ms: 1}, span_count: {min_spans: 1}}]\n");
    assert_eq!(e[0].0, "policies[0].span_count");

    let e = errors("policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]\n");
    assert_eq!(
        e,
        vec![("policies[1].name".into(), "duplicate policy name \"a\"".into())]
    );

    let e = errors(
        r#"
policies:
  - name: mix
    type: composite
    composite:
      max_total_spans_per_second: 10
      policy_order: [first]
      composite_sub_policy: [{name: first, type: always_sample}]
      rate_allocation: [{policy: frist, percent: 50}]
"#,
    );
    assert_eq!(e[0].0, "policies[0].composite.rate_allocation[0].policy");
    assert!(e[0].1.contains("did you mean first"), "{e:?}");

    let e = errors("policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 101}}]\n");
    assert_eq!(e[0].0, "policies[0].probabilistic.sampling_percentage");

    let e = errors("policies: []\n");
    assert_eq!(e[0].0, "policies");
}

#[test]
fn conditions_and_regexes_are_compiled_at_config_time() {
    let errors =
        config("policies:\n  - {name: o, type: ottl_condition, ottl_condition: {span: ['duration < \"abc\"']}}\n")
            .unwrap_err();
    assert_eq!(errors[0].path, "policies[0].ottl_condition.span[0]");
    let locate = errors[0].locate.as_ref().unwrap();
    assert_eq!((locate.line, locate.column), (1, 12));

    let errors = config(
        "policies:\n  - {name: s, type: string_attribute, string_attribute: {key: k, values: ['^ok', '('], enabled_regex_matching: true}}\n",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "policies[0].string_attribute.values[1]");
    assert!(errors[0].message.starts_with("invalid regex"), "{errors:?}");
}

#[test]
fn sli_policies_require_their_sli_names_and_only_run_on_traces() {
    let config = config(
        "policies:\n  - {name: b, type: sli, sli: {names: [homepage]}}\n  - name: x\n    type: and\n    and: {and_sub_policy: [{name: c, type: sli, sli: {names: [checkout]}}]}\n",
    )
    .unwrap();
    assert_eq!(
        config.required_slis(),
        vec![
            ("policies[0].sli.names[0]".to_string(), "homepage".to_string()),
            (
                "policies[1].and.and_sub_policy[0].sli.names[0]".to_string(),
                "checkout".to_string()
            ),
        ]
    );
    assert!(config.check_signal(Signal::Traces).is_ok());
    assert!(config.check_signal(Signal::Logs).is_err());
}

#[test]
fn a_whole_config_checks_sli_names_against_the_sli_processor_before_it() {
    let yaml = |names: &str| {
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
processors:
  sli:
    slis: [{{name: homepage, good: 'true'}}]
  tail_sampling:
    policies: [{{name: b, type: sli, sli: {{names: [{names}]}}}}]
exporters:
  debug:
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [sli, tail_sampling], exporters: [debug]}}
"#
        )
    };
    assert!(crate::config::Config::from_yaml(&yaml("homepage")).is_ok());
    let errors = crate::config::Config::from_yaml(&yaml("homepag")).unwrap_err().0;
    assert_eq!(errors[0].path, "processors.tail_sampling.policies[0].sli.names[0]");
    assert!(
        errors[0].message.contains("did you mean homepage"),
        "{}",
        errors[0].message
    );
}

#[tokio::test(start_paused = true)]
async fn self_metrics_count_decisions_early_ones_and_traces_held() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let next = Recorder::new();
    let yaml = r#"
decision_wait: 10s
num_traces: 2
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: fat, type: span_count, span_count: {min_spans: 2}}
"#;
    let tail = metrics::with_local_recorder(&recorder, || processor(yaml, next.clone()));
    tail.start().await.unwrap();
    // Trace 3 pushes trace 1 out early; trace 1 (two spans) is kept, 2 and 3 are not.
    tail.consume(request(vec![span(1, 1, 1), span(1, 2, 1), span(2, 1, 1)]))
        .await
        .unwrap();
    tail.consume(request(vec![span(3, 1, 1)])).await.unwrap();
    let value = |needle: &[&str]| -> Option<f64> {
        handle
            .render()
            .lines()
            .find(|l| !l.starts_with('#') && needle.iter().all(|n| l.contains(n)))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let on_memory = "otelcol_processor_tail_sampling_traces_on_memory";
    assert_eq!(value(&[on_memory]), Some(2.0));
    assert_eq!(value(&["dropped_too_early"]), Some(1.0));
    tokio::time::sleep(Duration::from_secs(11)).await;
    let global = "otelcol_processor_tail_sampling_global_count_traces_sampled";
    assert_eq!(value(&[global, "sampled=\"true\""]), Some(1.0));
    assert_eq!(value(&[global, "sampled=\"false\""]), Some(2.0));
    let per_policy = "otelcol_processor_tail_sampling_count_traces_sampled{";
    assert_eq!(value(&[per_policy, "policy=\"fat\"", "sampled=\"true\""]), Some(1.0));
    assert_eq!(
        value(&[per_policy, "policy=\"errors\"", "sampled=\"false\""]),
        Some(3.0)
    );
    assert_eq!(value(&[on_memory]), Some(0.0));
    assert_eq!(kept_traces(&next), vec![1]);
    tail.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_the_same_traces_forward_every_span_once() {
    let next = Recorder::new();
    let yaml = "decision_wait: 50ms\nnum_traces: 5000\npolicies: [{name: all, type: always_sample}]\n";
    let tail = Arc::new(processor(yaml, next.clone()));
    tail.start().await.unwrap();
    // Four senders each send one span of each of 2000 traces, in requests of 100,
    // while the timer decides traces as they come due: every span must come out
    // exactly once, whether it joined its trace before the decision or came late.
    let tasks: Vec<_> = (0..4u64)
        .map(|sender| {
            let tail = tail.clone();
            tokio::spawn(async move {
                for chunk in 0..20u128 {
                    let spans = (0..100u128).map(|i| span(chunk * 100 + i + 1, sender + 1, 1)).collect();
                    tail.consume(request(spans)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    tail.shutdown().await;
    let mut seen: Vec<(Vec<u8>, Vec<u8>)> = received(&next).into_iter().map(|s| (s.trace_id, s.span_id)).collect();
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(total, 8000);
    assert_eq!(seen.len(), 8000);
}

#[tokio::test]
async fn probabilistic_policies_combine_by_salt_in_the_weight() {
    async fn run(salt_b: &str) -> (f64, Vec<String>) {
        let next = Recorder::new();
        let yaml = format!(
            "num_traces: 100000\npolicies:\n  - {{name: a, type: probabilistic, probabilistic: {{sampling_percentage: 50}}}}\n  - {{name: b, type: probabilistic, probabilistic: {{sampling_percentage: 50, hash_salt: '{salt_b}'}}}}\n"
        );
        let tail = processor(&yaml, next.clone());
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let spans: Vec<Span> = (0..40_000).map(|_| span(rng.random(), 1, 1)).collect();
        tail.consume(request(spans)).await.unwrap();
        tail.shutdown().await;
        let kept = received(&next);
        let mut states: Vec<String> = kept.iter().map(|s| s.trace_state.clone()).collect();
        states.dedup();
        (kept.len() as f64 / 40_000.0, states)
    }
    // The same salt: one draw, 50% (th:8).
    let (fraction, states) = run("").await;
    assert!((fraction - 0.5).abs() < 0.01, "{fraction}");
    assert_eq!(states, vec!["ot=th:8"]);
    // Different salts: independent draws, 1 - 0.5 * 0.5 = 75% (th:4).
    let (fraction, states) = run("other").await;
    assert!((fraction - 0.75).abs() < 0.01, "{fraction}");
    assert_eq!(states, vec!["ot=th:4"]);
}

#[tokio::test]
async fn spans_keep_their_resources_and_scopes() {
    let next = Recorder::new();
    let tail = processor("policies: [{name: all, type: always_sample}]\n", next.clone());
    // One trace over two resources, in two requests.
    tail.consume(crate::testing::traces(&[&["a", "b"], &["c"]]))
        .await
        .unwrap();
    tail.consume(crate::testing::traces(&[&["d"]])).await.unwrap();
    tail.shutdown().await;
    let received = next.received.lock().unwrap();
    assert_eq!(received.len(), 1);
    let Telemetry::Traces(out) = &received[0] else { panic!() };
    let layout: Vec<(String, Vec<String>)> = out
        .resource_spans
        .iter()
        .map(|rs| {
            let service = match rs.resource.as_ref().unwrap().attributes[0]
                .value
                .as_ref()
                .unwrap()
                .value
                .as_ref()
            {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            assert_eq!(rs.scope_spans.len(), 1);
            assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "test");
            (
                service,
                rs.scope_spans[0].spans.iter().map(|s| s.name.clone()).collect(),
            )
        })
        .collect();
    let expected = [
        ("service-0", vec!["a", "b"]),
        ("service-1", vec!["c"]),
        ("service-0", vec!["d"]),
    ];
    assert_eq!(
        layout,
        expected.map(|(s, names)| (s.to_string(), names.into_iter().map(String::from).collect::<Vec<_>>()))
    );
}

#[tokio::test(start_paused = true)]
async fn a_kept_trace_refused_downstream_is_held_and_new_data_refused_until_there_is_room() {
    let next = Recorder::new();
    let tail = processor(
        "decision_wait: 1s\npolicies: [{name: all, type: always_sample}]\n",
        next.clone(),
    );
    tail.start().await.unwrap();
    *next.refuse.lock().unwrap() = Some(ConsumeError::retryable("queue full", Some(Duration::from_secs(1))));
    tail.consume(request(vec![span(1, 1, 10), span(1, 2, 10)]))
        .await
        .unwrap();
    // Decided after decision_wait, refused downstream: held, not dropped.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(received(&next).is_empty());
    let refused = tail.consume(request(vec![span(2, 3, 10)])).await.unwrap_err();
    assert_eq!(
        refused.retry,
        crate::component::Retry::After(Some(Duration::from_secs(1)))
    );
    // Room again: the timer offers the held trace within its retry interval.
    *next.refuse.lock().unwrap() = None;
    tokio::time::sleep(crate::processors::backlog::RETRY_INTERVAL * 2).await;
    assert_eq!(received(&next).len(), 2);
    tail.consume(request(vec![span(2, 3, 10)])).await.unwrap();
    tail.shutdown().await;
    assert_eq!(received(&next).len(), 3);
}

/// Builds `compiled` for the traces pipeline as the graph does, on `service`.
fn build_on(
    compiled: &CompiledTailSampling,
    service: &crate::component::ServiceHandles,
    next: Arc<Recorder>,
) -> Arc<dyn Processor> {
    let id = crate::component::ComponentId::parse("tail_sampling").unwrap();
    let ctx = ProcessorContext {
        id: &id,
        pipeline: "traces",
        signal: Signal::Traces,
        exporters: Recorder::new(),
        pipelines: &BTreeMap::new(),
        service,
        durable: false,
    };
    compiled.build(&ctx, next).unwrap()
}

/// Span names received, sorted.
fn names(next: &Recorder) -> Vec<String> {
    let mut names: Vec<String> = received(next)
        .iter()
        .map(|s| format!("{}/{}", s.trace_id[15], s.name))
        .collect();
    names.sort();
    names
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_the_same_config_hands_the_buffered_traces_to_the_new_instance() {
    let yaml = "decision_wait: 5s\npolicies: [{name: fat, type: span_count, span_count: {min_spans: 2}}]\n";
    let service = crate::component::ServiceHandles::default();
    let (old_next, new_next) = (Recorder::new(), Recorder::new());
    service.state.begin();
    let old = build_on(&config(yaml).unwrap(), &service, old_next.clone());
    old.start().await.unwrap();
    // Trace 1 is decided (kept) before the reload; 2 and 3 are waiting.
    old.consume(request(vec![span(1, 1, 1), span(1, 2, 1)])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    old.consume(request(vec![span(2, 1, 1), span(3, 1, 1), span(3, 2, 1)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(names(&old_next), vec!["1/s1", "1/s2"]);

    // The reload: the config is parsed again and the new instance built and started
    // before the old one is shut down.
    service.state.begin();
    let new = build_on(&config(yaml).unwrap(), &service, new_next.clone());
    new.start().await.unwrap();
    old.shutdown().await;
    assert_eq!(
        names(&old_next),
        vec!["1/s1", "1/s2"],
        "handed over: the old instance neither decides nor drops what is buffered"
    );

    // Trace 2 gets its second span through the new instance, before its deadline;
    // a late span of trace 1 follows the decision the old instance cached.
    new.consume(request(vec![span(2, 2, 1), span(1, 3, 1)])).await.unwrap();
    assert_eq!(names(&new_next), vec!["1/s3"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        names(&new_next),
        vec!["1/s3", "2/s1", "2/s2", "3/s1", "3/s2"],
        "the new instance decides what the old one buffered, once"
    );
    new.shutdown().await;
    assert_eq!(names(&old_next), vec!["1/s1", "1/s2"], "nothing twice");
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_a_changed_config_leaves_the_old_instance_to_decide_its_traces() {
    let service = crate::component::ServiceHandles::default();
    let (old_next, new_next) = (Recorder::new(), Recorder::new());
    let build = |wait: &str, next: &Arc<Recorder>| {
        service.state.begin();
        let yaml = format!("decision_wait: {wait}\npolicies: [{{name: all, type: always_sample}}]\n");
        build_on(&config(&yaml).unwrap(), &service, next.clone())
    };
    let old = build("60s", &old_next);
    old.start().await.unwrap();
    old.consume(request(vec![span(1, 1, 1)])).await.unwrap();
    let new = build("30s", &new_next);
    new.start().await.unwrap();
    // Its state was replaced, not handed over: it decides what it holds now.
    old.shutdown().await;
    assert_eq!(names(&old_next), vec!["1/s1"]);
    new.shutdown().await;
    assert!(new_next.batch_sizes().is_empty());
}
