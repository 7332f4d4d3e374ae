use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;
use rand::Rng;

use super::*;
use crate::component::{ComponentId, Lifecycle, ServiceHandles};
use crate::pdata::sampling::{encode_threshold, MAX_THRESHOLD};
use crate::testing::{traces, Recorder};

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn config(yaml: &str) -> SloConfig {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    crate::confmap::parse_block(&figment::value::Value::from(dict)).unwrap()
}

struct Harness {
    processor: SloProcessor,
    exporters: Arc<Recorder>,
    service: ServiceHandles,
}

impl Harness {
    fn service_slos(&self) -> Arc<SloRegistry> {
        SloRegistry::of(&self.service.state)
    }
}

fn harness(config: SloConfig) -> Harness {
    let service = ServiceHandles::default();
    let exporters = Recorder::new();
    let id = ComponentId::parse("slo").unwrap();
    let ctx = crate::component::ProcessorContext {
        id: &id,
        pipeline: "traces",
        signal: Signal::Traces,
        exporters: exporters.clone(),
        pipelines: &Default::default(),
        service: &service,
    };
    let processor = SloProcessor::new(config, &ctx, Recorder::new()).unwrap();
    Harness {
        processor,
        exporters,
        service,
    }
}

/// Spans ending now, tagged `sli.homepage` with the given outcomes.
fn tagged(outcomes: &[(&str, &str)]) -> Telemetry {
    let names: Vec<&str> = outcomes.iter().map(|_| "GET /").collect();
    let mut data = traces(&[&names]);
    let now = unix_nanos();
    if let Telemetry::Traces(request) = &mut data {
        for (span, (outcome, segment)) in request.resource_spans[0].scope_spans[0].spans.iter_mut().zip(outcomes) {
            span.end_time_unix_nano = now;
            span.attributes.push(attr("sli.homepage", outcome));
            span.attributes.push(attr("customer.segment", segment));
        }
    }
    data
}

const HOMEPAGE: &str =
    "objectives:\n  - name: homepage\n    sli: homepage\n    target: 0.99\n    group_by: [customer.segment]\n";

#[tokio::test]
async fn counts_outcomes_overall_and_per_group_and_forwards_unchanged() {
    let h = harness(config(HOMEPAGE));
    let data = tagged(&[
        ("good", "gold"),
        ("bad", "gold"),
        ("good", "free"),
        ("good", "free"),
        ("ugly", "free"),
    ]);
    h.processor.consume(data.clone()).await.unwrap();
    let status = h.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!(
        (status.figures.good, status.figures.bad),
        (3.0, 1.0),
        "'ugly' is not an outcome"
    );
    assert_eq!(
        status.worst_groups[0].group["customer.segment"], "gold",
        "worst group first"
    );
    assert_eq!(
        (status.worst_groups[0].figures.good, status.worst_groups[0].figures.bad),
        (1.0, 1.0)
    );
    assert_eq!(status.worst_groups[1].figures.total, 2.0);
}

#[test]
fn sampled_counts_stay_within_two_percent_of_the_truth() {
    // 100k events, 3% bad; a consistent 10% sampler keeps those whose trace
    // randomness (the low 56 bits of the trace id) is at or above the threshold and
    // records it as ot=th:...; the slo counts kept events by 1/p.
    let threshold = (0.9 * MAX_THRESHOLD as f64) as u64;
    let trace_state = format!("ot=th:{}", encode_threshold(threshold));
    // A fixed stream: with 10k samples one standard deviation of the total is ~1%,
    // so a fresh random stream would miss the 2% bound about once in 30 runs.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x5107_5a3d);
    let objective = config(HOMEPAGE).objectives.remove(0);
    let now = minute_of(unix_nanos());
    let mut state = ObjectiveState::new(&objective, now, 0);
    let (mut true_good, mut true_bad) = (0.0, 0.0);
    let mut kept = 0;
    for _ in 0..100_000 {
        let randomness: u64 = rng.random::<u64>() & (MAX_THRESHOLD - 1);
        let bad = rng.random_bool(0.03);
        if bad {
            true_bad += 1.0;
        } else {
            true_good += 1.0;
        }
        if randomness < threshold {
            continue;
        }
        kept += 1;
        let weight = adjusted_count(&trace_state, &[]);
        let event = Event {
            group: String::new(),
            group_values: vec![],
            minute: now,
            time_unix_nano: 0,
            bad,
            weight,
            trace_id: &[],
            span_id: &[],
        };
        state.record(&objective, std::slice::from_ref(&event), now, 0, 5);
    }
    assert!((9_000..11_000).contains(&kept), "kept {kept}");
    let (good, bad) = state.overall.ring.totals();
    let within = |counted: f64, truth: f64| (counted - truth).abs() / truth < 0.02;
    assert!(
        within(good + bad, true_good + true_bad),
        "total {} vs {}",
        good + bad,
        true_good + true_bad
    );
    assert!(within(good, true_good), "good {good} vs {true_good}");
    // The bad count is ~3,000 true events seen through ~300 samples: its sampling
    // error is about 1/sqrt(300) = 6%, so check it at 4 standard deviations.
    assert!((bad - true_bad).abs() / true_bad < 0.24, "bad {bad} vs {true_bad}");
}

#[tokio::test]
async fn late_and_future_events_are_refused_and_reported() {
    let objective = config(HOMEPAGE).objectives.remove(0);
    let now = minute_of(unix_nanos());
    let mut state = ObjectiveState::new(&objective, now, 0);
    let event = |minute| Event {
        group: "gold".into(),
        group_values: vec!["gold".into()],
        minute,
        time_unix_nano: 0,
        bad: false,
        weight: 1.0,
        trace_id: &[],
        span_id: &[],
    };
    let outcome = state.record(
        &objective,
        &[event(now - 31 * 1440), event(now + 60), event(now - 60), event(now + 2)],
        now,
        0,
        5,
    );
    assert_eq!((outcome.counted, outcome.too_late, outcome.too_early), (2, 1, 1));
    assert_eq!(state.overall.ring.totals(), (2.0, 0.0));
    // The event 2 minutes ahead counted in the current minute: windows still end now.
    assert_eq!(state.overall.ring.head(), now);
    assert_eq!(state.overall.ring.sum_last(1), (1.0, 0.0));
}

#[tokio::test]
async fn group_cardinality_is_capped() {
    let mut objective = config(HOMEPAGE).objectives.remove(0);
    objective.max_groups = 2;
    let now = minute_of(unix_nanos());
    let mut state = ObjectiveState::new(&objective, now, 0);
    let events: Vec<Event<'_>> = ["a", "b", "c", "d", "a"]
        .iter()
        .map(|g| Event {
            group: g.to_string(),
            group_values: vec![g.to_string()],
            minute: now,
            time_unix_nano: 0,
            bad: false,
            weight: 1.0,
            trace_id: &[],
            span_id: &[],
        })
        .collect();
    let outcome = state.record(&objective, &events, now, 0, 5);
    assert_eq!(outcome.overflowed, 2);
    let keys: Vec<&String> = state.groups.keys().collect();
    assert_eq!(keys, vec!["a", "b", state::OVERFLOW_GROUP]);
    assert_eq!(state.groups["a"].1.ring.totals(), (2.0, 0.0));
}

#[tokio::test]
async fn emits_budget_metrics_with_exemplars_into_the_pipeline_exporters() {
    let h = harness(config(&format!("interval: 1s\n{HOMEPAGE}")));
    h.processor.start().await.unwrap();
    let mut data = tagged(&[("good", "gold"), ("bad", "gold")]);
    let bad_trace = if let Telemetry::Traces(r) = &mut data {
        let span = &mut r.resource_spans[0].scope_spans[0].spans[1];
        span.trace_id = vec![7; 16];
        span.trace_id.clone()
    } else {
        unreachable!()
    };
    h.processor.consume(data).await.unwrap();
    h.processor.shutdown().await; // emits a final time
    let received = h.exporters.received.lock().unwrap();
    let Some(Telemetry::Metrics(request)) = received.last() else {
        panic!("no metrics emitted")
    };
    // Each replica's series must stay apart in Prometheus (`instance` label).
    let resource = request.resource_metrics[0].resource.as_ref().expect("a resource");
    let instance = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.instance.id")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref());
    assert!(
        matches!(instance, Some(any_value::Value::StringValue(id)) if !id.is_empty()),
        "{resource:?}"
    );
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "slo.events",
        "slo.objective",
        "slo.error_budget.remaining",
        "slo.burn_rate",
        "slo.error_budget.exhaustion",
        "slo.alert",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let Some(metric::Data::Sum(events)) = &metrics[0].data else {
        panic!("slo.events is not a sum")
    };
    assert!(events.is_monotonic);
    // Overall good, overall bad, then the gold group's two points.
    assert_eq!(events.data_points.len(), 4);
    let bad = &events.data_points[1];
    assert_eq!(
        bad.value,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(1.0))
    );
    assert_eq!(bad.exemplars.len(), 1);
    assert_eq!(bad.exemplars[0].trace_id, bad_trace);
    let Some(metric::Data::Gauge(remaining)) = &metrics[2].data else {
        panic!()
    };
    // 1 bad of 2 at 99%: allowed 0.02, remaining 1 - 1/0.02 = -49.
    let Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(value)) =
        remaining.data_points[0].value
    else {
        panic!("no value")
    };
    assert!((value + 49.0).abs() < 1e-9, "{value}");
}

#[tokio::test]
async fn state_survives_a_restart_through_the_store() {
    let dir = std::env::temp_dir().join(format!("sloop-slo-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let yaml = format!("storage: {}\n{HOMEPAGE}", dir.display());
    let first = harness(config(&yaml));
    first.processor.start().await.unwrap();
    first
        .processor
        .consume(tagged(&[("good", "gold"), ("bad", "free"), ("good", "free")]))
        .await
        .unwrap();
    first.processor.shutdown().await; // final checkpoint
    drop(first);

    let second = harness(config(&yaml));
    second.processor.start().await.unwrap();
    let now = minute_of(unix_nanos());
    let status = second.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (2.0, 1.0));
    assert_eq!(status.worst_groups.len(), 2);
    let handle = &second.processor.objectives[0].handle;
    {
        let state = handle.lock();
        assert_eq!(
            (state.overall.cumulative_good, state.overall.cumulative_bad),
            (2.0, 1.0)
        );
    }
    second.processor.consume(tagged(&[("bad", "gold")])).await.unwrap();
    assert_eq!(second.service_slos().status("homepage", now).unwrap().figures.bad, 2.0);
    second.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_errors_name_their_paths() {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(
        "objectives:\n  - name: a\n    sli: x\n    target: 1.5\n    window: 30d\n    calendar: month\n    alerting:\n      page: [{long: 5m, short: 1h, burn_rate: 14.4}]\n",
    ))
    .extract()
    .unwrap();
    let errors = crate::confmap::parse_block::<SloConfig>(&figment::value::Value::from(dict)).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "objectives[0].target",
            "objectives[0].calendar",
            "objectives[0].alerting.page[0].short"
        ]
    );
}

#[tokio::test]
async fn a_changed_config_keeps_the_state_of_unchanged_objective_names() {
    let dir = std::env::temp_dir().join(format!("sloop-slo-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let before = format!(
        "storage: {}\n{HOMEPAGE}  - name: old\n    sli: homepage\n    target: 0.9\n",
        dir.display()
    );
    let first = harness(config(&before));
    first.processor.start().await.unwrap();
    first
        .processor
        .consume(tagged(&[("good", "gold"), ("bad", "gold")]))
        .await
        .unwrap();
    first.processor.shutdown().await;
    drop(first);

    // "homepage" stays (its target changed), "old" is gone, "new" appears.
    let after = format!(
        "storage: {}\nobjectives:\n  - name: homepage\n    sli: homepage\n    target: 0.95\n  - name: new\n    sli: homepage\n    target: 0.9\n",
        dir.display()
    );
    let second = harness(config(&after));
    second.processor.start().await.unwrap();
    let now = minute_of(unix_nanos());
    let kept = second.service_slos().status("homepage", now).unwrap();
    assert_eq!((kept.figures.good, kept.figures.bad, kept.target), (1.0, 1.0, 0.95));
    let fresh = second.service_slos().status("new", now).unwrap();
    assert_eq!(fresh.figures.total, 0.0);
    assert!(second.service_slos().status("old", now).is_none());
    second.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
