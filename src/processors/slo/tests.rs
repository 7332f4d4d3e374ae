use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;
use rand::Rng;

use super::*;
use crate::component::{ComponentId, Lifecycle, ServiceHandles};
use crate::pdata::sampling::{adjusted_count, encode_threshold, MAX_THRESHOLD};
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
    /// The stage after the processor in its pipeline.
    next: Arc<Recorder>,
    service: ServiceHandles,
}

impl Harness {
    fn service_slos(&self) -> Arc<SloRegistry> {
        SloRegistry::of(&self.service.state)
    }
}

fn harness(config: SloConfig) -> Harness {
    harness_on(&ServiceHandles::default(), config)
}

/// A processor built on `service`, as a graph (or a reload's new graph) builds it.
fn harness_on(service: &ServiceHandles, config: SloConfig) -> Harness {
    let service = service.clone();
    let exporters = Recorder::new();
    let id = ComponentId::parse("slo").unwrap();
    let ctx = crate::component::ProcessorContext {
        id: &id,
        pipeline: "traces",
        signal: Signal::Traces,
        exporters: exporters.clone(),
        pipelines: &Default::default(),
        service: &service,
        durable: false,
    };
    let next = Recorder::new();
    let processor = SloProcessor::new(config, &ctx, next.clone()).unwrap();
    Harness {
        processor,
        exporters,
        next,
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

/// The attribute `HOMEPAGE` groups by.
fn segment(value: &str) -> KeyValue {
    attr("customer.segment", value)
}

/// The default `max_clock_skew` (5m), in nanoseconds.
const SKEW: u64 = 300_000_000_000;

const HOMEPAGE: &str =
    "objectives:\n  - name: homepage\n    sli: homepage\n    target: 0.99\n    group_by: [customer.segment]\n";

#[tokio::test]
async fn counts_outcomes_overall_and_per_group_and_forwards_unchanged() {
    let h = harness(config(HOMEPAGE));
    h.processor.start().await.unwrap();
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

/// slo only reads: data that came with its encoding leaves with it, so a batch
/// after slo is not encoded again (`pdata::Encoded`), and it is counted all the same.
#[tokio::test]
async fn counts_data_that_comes_with_its_encoding_and_passes_the_encoding_on() {
    let h = harness(config(HOMEPAGE));
    h.processor.start().await.unwrap();
    let data = tagged(&[("good", "gold"), ("bad", "free")]);
    let bytes = bytes::Bytes::from(data.encode_protobuf());
    let encoded = crate::pdata::Encoded::new(bytes.clone());
    h.processor.consume_encoded(data.clone(), encoded).await.unwrap();
    let status = h.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (1.0, 1.0));
    let passed = h.next.encodings.lock().unwrap().clone();
    assert_eq!(passed.len(), 1);
    assert_eq!(passed[0].clone().map(crate::pdata::Encoded::into_bytes), Some(bytes));
    assert_eq!(h.next.received.lock().unwrap()[0], data);
}

/// One span carrying `SampleRate=1000000` added a million bad events (issue 13).
#[tokio::test]
async fn a_weight_from_the_wire_counts_at_most_max_event_weight() {
    let h = harness(config(&format!("max_event_weight: 50\n{HOMEPAGE}")));
    h.processor.start().await.unwrap();
    let mut data = tagged(&[("bad", "gold"), ("good", "gold"), ("good", "gold")]);
    if let Telemetry::Traces(request) = &mut data {
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        spans[0].attributes.push(KeyValue {
            key: "SampleRate".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(1_000_000)),
            }),
            ..Default::default()
        });
        // A threshold keeping 1 in 2^52 says the same, and is capped the same.
        spans[1].trace_state = format!("ot=th:{}", encode_threshold(MAX_THRESHOLD - 16));
        spans[2].attributes.push(attr("SampleRate", "10"));
    }
    h.processor.consume(data).await.unwrap();
    let status = h.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!((status.figures.bad, status.figures.good), (50.0, 60.0));
}

#[tokio::test]
async fn an_untrusted_sample_rate_counts_once() {
    let h = harness(config(&format!("trust_sample_rate: false\n{HOMEPAGE}")));
    h.processor.start().await.unwrap();
    let mut data = tagged(&[("bad", "gold"), ("good", "gold")]);
    if let Telemetry::Traces(request) = &mut data {
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        spans[0].attributes.push(attr("SampleRate", "100"));
        // The threshold still counts: it is how consistent samplers record a keep.
        spans[1].trace_state = format!("ot=th:{}", encode_threshold(MAX_THRESHOLD / 2));
    }
    h.processor.consume(data).await.unwrap();
    let status = h.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!((status.figures.bad, status.figures.good), (1.0, 2.0));
}

#[test]
fn max_event_weight_below_one_is_refused() {
    for bad in ["0.5", "-1", "0"] {
        let yaml = format!("max_event_weight: {bad}\n{HOMEPAGE}");
        let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(&yaml))
            .extract()
            .unwrap();
        let errors = crate::confmap::parse_block::<SloConfig>(&figment::value::Value::from(dict)).unwrap_err();
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].path, "max_event_weight", "{bad}");
    }
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
            attributes: &[],
            resource: &[],
            minute: now,
            time_unix_nano: 0,
            bad,
            weight,
            trace_id: &[],
            span_id: &[],
        };
        state.record(&objective, std::slice::from_ref(&event), now, 0, SKEW);
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
    let gold = [segment("gold")];
    let event = |minute: Minute| Event {
        attributes: &gold,
        resource: &[],
        minute,
        time_unix_nano: minute as u64 * ring::SLICE_NANOS,
        bad: false,
        weight: 1.0,
        trace_id: &[],
        span_id: &[],
    };
    let outcome = state.record(
        &objective,
        &[event(now - 31 * 1440), event(now + 60), event(now - 60), event(now + 2)],
        now,
        now as u64 * ring::SLICE_NANOS,
        SKEW,
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
    let attributes: Vec<[KeyValue; 1]> = ["a", "b", "c", "d", "a"].iter().map(|g| [segment(g)]).collect();
    let events: Vec<Event<'_>> = attributes
        .iter()
        .map(|attributes| Event {
            attributes,
            resource: &[],
            minute: now,
            time_unix_nano: 0,
            bad: false,
            weight: 1.0,
            trace_id: &[],
            span_id: &[],
        })
        .collect();
    let outcome = state.record(&objective, &events, now, 0, SKEW);
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

// Reload: the service calls `state.begin()`, builds the new graph on the same
// `ServiceHandles`, `state.sweep()`s, starts the new graph, switches receivers to it,
// then shuts the old graph down.

fn homepage_yaml(head: &str, target: &str, window: &str) -> String {
    format!(
        "{head}objectives:\n  - name: homepage\n    sli: homepage\n    target: {target}\n{window}    group_by: [customer.segment]\n"
    )
}

/// The slo.events points (overall good, overall bad, then per group) of the last
/// metrics `recorder` received, if any.
fn last_events(recorder: &Recorder) -> Option<Vec<opentelemetry_proto::tonic::metrics::v1::NumberDataPoint>> {
    let received = recorder.received.lock().unwrap();
    received.iter().rev().find_map(|t| match t {
        Telemetry::Metrics(request) => request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == "slo.events")
            .and_then(|m| match &m.data {
                Some(metric::Data::Sum(sum)) => Some(sum.data_points.clone()),
                _ => None,
            }),
        _ => None,
    })
}

fn value(point: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> f64 {
    match point.value {
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)) => v,
        _ => panic!("not a double: {point:?}"),
    }
}

fn metrics_count(recorder: &Recorder) -> usize {
    let received = recorder.received.lock().unwrap();
    received.iter().filter(|t| matches!(t, Telemetry::Metrics(_))).count()
}

impl Harness {
    /// Takes a checkpoint now, as the checkpoint timer does.
    async fn checkpoint(&self) {
        save(
            self.processor.storage.as_deref(),
            &self.processor.objectives,
            &self.processor.registry,
            &self.processor.replay,
        )
        .await;
    }
}

/// The running instance: built on `service`, started, fed `events`, checkpointed.
async fn running(service: &ServiceHandles, config: SloConfig, events: &[(&str, &str)]) -> Harness {
    let h = harness_on(service, config);
    h.processor.start().await.unwrap();
    h.processor.consume(tagged(events)).await.unwrap();
    h.checkpoint().await;
    h
}

/// The new instance of a reload to `config`, built and started as the service does
/// it (the old instance still runs); `kept` is whether it took the counts over.
async fn reloaded(service: &ServiceHandles, config: SloConfig, kept: bool) -> Harness {
    service.state.begin();
    let h = harness_on(service, config);
    assert_eq!(h.processor.objectives[0].kept, kept);
    service.state.sweep();
    h.processor.start().await.unwrap();
    h
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sloop-slo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_changes_the_target_continues_the_counts_with_the_new_target() {
    let service = ServiceHandles::default();
    let a = harness_on(&service, config(&homepage_yaml("interval: 1s\n", "0.99", "")));
    a.processor.start().await.unwrap();
    a.processor
        .consume(tagged(&[("good", "gold"), ("bad", "gold"), ("good", "free")]))
        .await
        .unwrap();
    // A emits once (paused clock): its slo.events start time is what Prometheus knows.
    for _ in 0..50 {
        if last_events(&a.exporters).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let emitted_by_a = last_events(&a.exporters).expect("A emitted");
    assert_eq!(value(&emitted_by_a[0]), 2.0);

    service.state.begin();
    let b = harness_on(&service, config(&homepage_yaml("interval: 1s\n", "0.95", "")));
    assert!(
        b.processor.objectives[0].kept,
        "same SLI and window: the counts are kept"
    );
    assert!(service.state.sweep().is_empty(), "the new graph claimed everything");
    b.processor.start().await.unwrap();
    // What was in flight in the old graph when receivers switched still counts.
    a.processor.consume(tagged(&[("good", "free")])).await.unwrap();
    let emitted_before = metrics_count(&a.exporters);
    a.processor.shutdown().await;
    assert_eq!(
        metrics_count(&a.exporters),
        emitted_before,
        "the old instance sends no figures after the new one took over"
    );
    b.processor
        .consume(tagged(&[("bad", "free"), ("good", "gold")]))
        .await
        .unwrap();

    let registry = b.service_slos();
    let statuses = registry.statuses(minute_of(unix_nanos()));
    assert_eq!(statuses.len(), 1, "listed once: {statuses:?}");
    let status = &statuses[0];
    assert_eq!(
        (status.figures.good, status.figures.bad, status.target),
        (4.0, 2.0, 0.95),
        "A's and B's events, each once, under the new target"
    );
    let group = |name: &str| {
        let g = status
            .worst_groups
            .iter()
            .find(|g| g.group["customer.segment"] == name)
            .unwrap();
        (g.figures.good, g.figures.bad)
    };
    assert_eq!((group("gold"), group("free")), ((2.0, 1.0), (2.0, 1.0)));

    b.processor.shutdown().await; // B's final figures
    let emitted_by_b = last_events(&b.exporters).expect("B emitted");
    assert_eq!((value(&emitted_by_b[0]), value(&emitted_by_b[1])), (4.0, 2.0));
    assert_eq!(
        emitted_by_b[0].start_time_unix_nano, emitted_by_a[0].start_time_unix_nano,
        "the counter continues: no reset for Prometheus to see"
    );
}

/// A reload that changes the window, with or without `storage`: fresh counts, and
/// the old instance writes nothing over them.
async fn a_changed_window_starts_afresh(storage: Option<&std::path::Path>) {
    let head = storage.map_or(String::new(), |dir| format!("storage: {}\n", dir.display()));
    let service = ServiceHandles::default();
    let before = config(&homepage_yaml(&head, "0.99", ""));
    let a = running(&service, before, &[("good", "gold"), ("bad", "gold")]).await;
    let b_config = config(&homepage_yaml(&head, "0.99", "    window: 7d\n"));
    let b = reloaded(&service, b_config.clone(), false).await;
    let now = minute_of(unix_nanos());
    let status = b.service_slos().status("homepage", now).unwrap();
    assert_eq!(
        (status.figures.total, status.window.as_str()),
        (0.0, "7d"),
        "{status:?}"
    );
    // B checkpoints (replacing A's rows); then A drains, counts and shuts down.
    b.checkpoint().await;
    a.processor.consume(tagged(&[("bad", "gold")])).await.unwrap();
    a.processor.shutdown().await;
    b.processor.consume(tagged(&[("good", "free")])).await.unwrap();
    let status = b.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (1.0, 0.0));
    assert_eq!(status.worst_groups.len(), 1, "{status:?}");
    b.processor.shutdown().await;
    drop((a, b, service));

    if storage.is_some() {
        // A restart reads B's counts only: A wrote nothing after B took over.
        let c = harness(b_config);
        c.processor.start().await.unwrap();
        let status = c.service_slos().status("homepage", now).unwrap();
        assert_eq!((status.figures.good, status.figures.bad), (1.0, 0.0), "{status:?}");
        let groups: Vec<&str> = status
            .worst_groups
            .iter()
            .map(|g| g.group["customer.segment"].as_str())
            .collect();
        assert_eq!(groups, vec!["free"]);
        c.processor.shutdown().await;
    }
}

#[tokio::test]
async fn a_reload_that_changes_the_window_starts_afresh() {
    a_changed_window_starts_afresh(None).await;
}

#[tokio::test]
async fn a_reload_that_changes_the_window_starts_afresh_in_storage_too() {
    let dir = temp_dir("reload-window");
    a_changed_window_starts_afresh(Some(&dir)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restart_with_another_sli_starts_afresh() {
    let dir = temp_dir("restart-sli");
    let head = format!("storage: {}\n", dir.display());
    let first = harness(config(&homepage_yaml(&head, "0.99", "")));
    first.processor.start().await.unwrap();
    first.processor.consume(tagged(&[("bad", "gold")])).await.unwrap();
    first.processor.shutdown().await;
    drop(first);
    let second = harness(config(
        &homepage_yaml(&head, "0.99", "").replace("sli: homepage", "sli: other"),
    ));
    second.processor.start().await.unwrap();
    let status = second
        .service_slos()
        .status("homepage", minute_of(unix_nanos()))
        .unwrap();
    assert_eq!(status.figures.total, 0.0, "the stored counts are of another SLI");
    second.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_objective_a_reload_removes_leaves_the_status() {
    let service = ServiceHandles::default();
    let two = format!("{HOMEPAGE}  - name: old\n    sli: homepage\n    target: 0.9\n");
    let a = harness_on(&service, config(&two));
    a.processor.start().await.unwrap();
    a.processor.consume(tagged(&[("good", "gold")])).await.unwrap();

    service.state.begin();
    let b = harness_on(&service, config(HOMEPAGE));
    let swept = service.state.sweep();
    assert_eq!(swept, vec!["processors/slo/objectives/old".to_string()]);
    b.processor.start().await.unwrap();
    a.processor.shutdown().await;

    let now = minute_of(unix_nanos());
    let names: Vec<String> = b.service_slos().statuses(now).into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["homepage"]);
    assert_eq!(b.service_slos().status("homepage", now).unwrap().figures.good, 1.0);
    b.processor.shutdown().await;
    assert_eq!(
        b.service_slos().statuses(now).len(),
        1,
        "a final shutdown leaves the status in place"
    );
}

#[tokio::test]
async fn a_reload_shares_the_open_store_and_a_restart_reads_the_latest_counts() {
    let dir = temp_dir("reload-store");
    let head = format!("storage: {}\n", dir.display());
    let service = ServiceHandles::default();
    let before = config(&homepage_yaml(&head, "0.99", ""));
    let a = running(&service, before, &[("good", "gold"), ("bad", "gold"), ("good", "free")]).await;
    // redb refuses to open a file twice in one process: B starts only on A's database.
    let b_config = config(&homepage_yaml(&head, "0.95", ""));
    let b = reloaded(&service, b_config.clone(), true).await;
    a.processor.consume(tagged(&[("good", "free")])).await.unwrap();
    a.processor.shutdown().await;
    b.processor.consume(tagged(&[("bad", "free")])).await.unwrap();
    // The old instance closed nothing: B's checkpoints still reach the file.
    save(
        b.processor.storage.as_deref(),
        &b.processor.objectives,
        &b.processor.registry,
        &b.processor.replay,
    )
    .await;
    b.processor.consume(tagged(&[("good", "gold")])).await.unwrap();
    b.processor.shutdown().await; // the last owner's final checkpoint
    drop((a, b, service));

    let c = harness(b_config);
    c.processor.start().await.unwrap();
    let now = minute_of(unix_nanos());
    let status = c.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (4.0, 2.0), "{status:?}");
    {
        let state = c.processor.objectives[0].handle.lock();
        assert_eq!(
            (state.overall.cumulative_good, state.overall.cumulative_bad),
            (4.0, 2.0)
        );
    }
    c.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_that_sets_storage_writes_the_kept_counts_whole() {
    let dir = temp_dir("reload-sets-storage");
    let service = ServiceHandles::default();
    let a = running(&service, config(HOMEPAGE), &[("good", "gold"), ("bad", "free")]).await;
    // Nothing has changed since A's last checkpoint would have been taken: only a
    // whole write gets these counts into the new store.
    for objective in a.processor.objectives.iter() {
        for (_, series) in objective.handle.lock().series_mut() {
            series.dirty = false;
            series.dirty_from = None;
        }
    }

    // Storage is not in the fingerprint: the counts are kept.
    let b_config = config(&format!("storage: {}\n{HOMEPAGE}", dir.display()));
    let b = reloaded(&service, b_config.clone(), true).await;
    a.processor.shutdown().await;
    b.processor.shutdown().await;
    drop((a, b, service));

    let c = harness(b_config);
    c.processor.start().await.unwrap();
    let status = c.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (1.0, 1.0), "{status:?}");
    assert_eq!(status.worst_groups.len(), 2);
    c.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_fingerprints_hold_what_the_counts_depend_on() {
    let base = config(HOMEPAGE).objectives.remove(0);
    let fingerprints = |f: &dyn Fn(&mut ObjectiveConfig)| {
        let mut o = base.clone();
        f(&mut o);
        (o.counts_fingerprint(), o.groups_fingerprint())
    };
    let same = fingerprints(&|_| {});
    assert_eq!(fingerprints(&|o| o.target = 0.5), same);
    assert_eq!(fingerprints(&|o| o.alerting.min_events = 1.0), same);
    assert_eq!(
        fingerprints(&|o| o.window = Some(DEFAULT_WINDOW)),
        same,
        "30d is the default"
    );
    for changed in [
        fingerprints(&|o| o.sli = "other".into()),
        fingerprints(&|o| o.window = Some(std::time::Duration::from_secs(86400))),
        fingerprints(&|o| o.calendar = Some(Calendar::Month)),
    ] {
        assert_ne!(changed.0, same.0);
    }
    for changed in [
        fingerprints(&|o| o.group_by.clear()),
        fingerprints(&|o| o.max_groups = 3),
    ] {
        assert_eq!(changed.0, same.0, "the objective's own counts stay");
        assert_ne!(changed.1, same.1);
    }
}

#[tokio::test]
async fn a_reload_that_changes_group_by_keeps_the_counts_and_starts_the_groups_afresh() {
    let dir = temp_dir("reload-group-by");
    let head = format!("storage: {}\n", dir.display());
    let service = ServiceHandles::default();
    let before = config(&homepage_yaml(&head, "0.99", ""));
    let a = running(&service, before, &[("good", "gold"), ("bad", "free")]).await;
    let b_config = config(&homepage_yaml(&head, "0.99", "").replace("customer.segment", "region"));
    let b = reloaded(&service, b_config.clone(), true).await;
    // The old instance drains: its event counts, but in no group of the old grouping.
    a.processor.consume(tagged(&[("good", "gold")])).await.unwrap();
    a.processor.shutdown().await;
    let now = minute_of(unix_nanos());
    let status = b.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (2.0, 1.0));
    assert!(status.worst_groups.is_empty(), "{status:?}");
    b.processor.shutdown().await;
    drop((a, b, service));

    let c = harness(b_config);
    c.processor.start().await.unwrap();
    let status = c.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (2.0, 1.0));
    assert!(
        status.worst_groups.is_empty(),
        "the old grouping's rows are gone: {status:?}"
    );
    c.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_new_instance_that_never_starts_changes_nothing_the_status_shows() {
    let service = ServiceHandles::default();
    let a = running(&service, config(HOMEPAGE), &[("good", "gold"), ("bad", "gold")]).await;
    // A reload whose new graph is built but not started (another component failed).
    service.state.begin();
    let b = harness_on(&service, config(&HOMEPAGE.replace("0.99", "0.95")));
    b.processor.shutdown().await;
    drop(b);
    a.processor.consume(tagged(&[("good", "free")])).await.unwrap();
    let status = a.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!(
        (status.target, status.figures.good, status.figures.bad),
        (0.99, 2.0, 1.0)
    );
    assert!(a.service_slos().is_current(&a.processor.objectives[0].handle));
    a.processor.shutdown().await;
}

#[test]
fn group_keys_show_values_as_before_and_fall_back_to_the_resource() {
    let value = |v| KeyValue {
        key: "k".into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let group_by = ["k".to_string(), "missing".to_string(), "region".to_string()];
    let resource = [attr("region", "eu"), attr("k", "shadowed")];
    for (v, shown) in [
        (any_value::Value::StringValue("gold".into()), "gold"),
        (any_value::Value::BoolValue(true), "true"),
        (any_value::Value::IntValue(-42), "-42"),
        (any_value::Value::DoubleValue(1.5), "1.5"),
        (any_value::Value::DoubleValue(2.0), "2"),
    ] {
        let attributes = [value(v)];
        let mut key = String::from("left over");
        key.clear();
        state::write_group_key(&mut key, &group_by, &attributes, &resource);
        assert_eq!(key, format!("{shown}\u{1f}\u{1f}eu"));
        assert_eq!(
            state::group_values(&group_by, &attributes, &resource),
            vec![shown, "", "eu"]
        );
    }
    // Not on the event: the resource's value.
    let mut key = String::new();
    state::write_group_key(&mut key, &group_by, &[], &resource);
    assert_eq!(key, "shadowed\u{1f}\u{1f}eu");
}

#[tokio::test]
async fn replay_positions_are_stored_with_exactly_the_counts_that_include_their_batches() {
    use crate::component::replay::Position;
    let dir = temp_dir("replay");
    let yaml = format!("storage: {}\n{HOMEPAGE}", dir.display());
    let position = |seq: u64| Position {
        seq,
        state: std::sync::Arc::from(vec![seq as u8]),
    };
    let first = harness(config(&yaml));
    first.processor.start().await.unwrap();
    let replay = first.service.replay.clone();
    let p = &first.processor;
    replay
        .hand_over(
            "receivers/filelog",
            position(1),
            p.consume(tagged(&[("good", "gold"), ("bad", "free")])),
        )
        .await
        .unwrap();
    // A source that never fed this processor is not its business.
    replay
        .hand_over("receivers/other", position(9), async { Ok::<(), ()>(()) })
        .await
        .unwrap();
    first.checkpoint().await;
    // After the checkpoint: neither its counts nor its position reach the store,
    // as when the process is killed before the next checkpoint.
    replay
        .hand_over("receivers/filelog", position(2), p.consume(tagged(&[("bad", "gold")])))
        .await
        .unwrap();
    p.stop.cancel();
    let task = p.task.lock().unwrap().take();
    let _ = task.unwrap().await;
    drop(first);

    let second = harness(config(&yaml));
    second.processor.start().await.unwrap();
    let replay = &second.service.replay;
    assert_eq!(replay.resume_point("receivers/filelog"), Some(position(1)));
    assert_eq!(replay.resume_point("receivers/other"), None);
    let now = minute_of(unix_nanos());
    let status = second.service_slos().status("homepage", now).unwrap();
    assert_eq!((status.figures.good, status.figures.bad), (1.0, 1.0));
    second.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

impl Harness {
    /// What the store holds for the first objective, under its fingerprints.
    fn stored(&self) -> store::Loaded {
        let objective = &self.processor.objectives[0].handle.config;
        let store = self.processor.storage.as_ref().unwrap().get().unwrap();
        let (counts, groups) = (objective.counts_fingerprint(), objective.groups_fingerprint());
        store.load(&objective.name, &counts, &groups).unwrap()
    }
}

/// Records `n` events of segment `value`, all `bad` or all good, at `minute`
/// (the present).
fn record_segment(
    state: &mut ObjectiveState,
    objective: &ObjectiveConfig,
    (value, n): (&str, usize),
    bad: bool,
    minute: Minute,
) -> state::RecordOutcome {
    let attributes = [segment(value)];
    let event = Event {
        attributes: &attributes,
        resource: &[],
        minute,
        time_unix_nano: 0,
        bad,
        weight: 1.0,
        trace_id: &[],
        span_id: &[],
    };
    state.record(objective, &vec![event; n], minute, 0, SKEW)
}

/// An objective at 90% grouped by `customer.segment` into `max_groups`, and its
/// fresh state at `now`.
fn grouped(max_groups: usize, now: Minute) -> (ObjectiveConfig, ObjectiveState) {
    let mut objective = config(&HOMEPAGE.replace("0.99", "0.9")).objectives.remove(0);
    objective.max_groups = max_groups;
    let state = ObjectiveState::new(&objective, now, 0);
    (objective, state)
}

#[test]
fn a_segment_without_events_for_the_whole_window_frees_its_slot() {
    let mut objective = config(HOMEPAGE).objectives.remove(0);
    objective.window = Some(std::time::Duration::from_secs(3600));
    objective.max_groups = 1;
    let start = 1_000_000;
    let mut state = ObjectiveState::new(&objective, start, 0);
    record_segment(&mut state, &objective, ("gold", 1), false, start);
    // Its event is in the window until the window has moved a whole hour on.
    state.advance(start + 59);
    assert!(state.groups.contains_key("gold"));
    let outcome = record_segment(&mut state, &objective, ("free", 1), false, start + 59);
    assert_eq!(outcome.overflowed, 1, "gold still holds the only slot");
    state.advance(start + 60);
    assert!(!state.groups.contains_key("gold"), "{:?}", state.groups.keys());
    assert!(state.freed.is_empty(), "without a store nothing is kept for one");
    let outcome = record_segment(&mut state, &objective, ("free", 1), true, start + 60);
    assert_eq!(outcome.overflowed, 0, "the freed slot is taken");
    assert_eq!(state.groups["free"].1.ring.totals(), (0.0, 1.0));
    // `other` holds no slot, and is freed in turn when its events leave.
    state.advance(start + 59 + 60);
    assert_eq!(state.groups.keys().collect::<Vec<_>>(), vec!["free"]);
}

#[tokio::test]
async fn a_freed_segment_leaves_the_store_and_does_not_come_back_after_a_restart() {
    let dir = temp_dir("freed");
    // A 1h window, and alert rules that fit in it.
    let yaml = format!(
        "storage: {}\n{HOMEPAGE}    window: 1h\n    alerting:\n      page: [{{long: 1h, short: 5m, burn_rate: 14.4}}]\n      ticket: []\n",
        dir.display()
    );
    let objective = config(&yaml).objectives.remove(0);
    let now = minute_of(unix_nanos());
    // A store written by an earlier run: `gold`'s last event is 61 minutes old
    // (out of the 1h window), `free`'s is current.
    {
        let store = store::SloStore::open(&dir).unwrap();
        let series = |group: &str, minute: Minute| SeriesCheckpoint {
            group: group.into(),
            series: StoredSeries {
                cumulative_good: 1.0,
                cumulative_bad: 0.0,
                start_unix_nano: 1,
                slices: vec![(minute, 1.0, 0.0)],
            },
            oldest: 0,
        };
        let checkpoint = ObjectiveCheckpoint {
            objective: "homepage".into(),
            fingerprint: objective.counts_fingerprint(),
            groups_fingerprint: objective.groups_fingerprint(),
            replace: false,
            freed: Vec::new(),
            series: vec![series("", now), series("g:gold", now - 61), series("g:free", now)],
        };
        store.save(&[checkpoint], None).unwrap();
    }
    let stored_groups = |h: &Harness| -> Vec<String> { h.stored().series.into_keys().collect() };
    let first = harness(config(&yaml));
    first.processor.start().await.unwrap();
    let status = first.service_slos().status("homepage", now).unwrap();
    let shown: Vec<&str> = status
        .worst_groups
        .iter()
        .map(|g| g.group["customer.segment"].as_str())
        .collect();
    assert_eq!(shown, vec!["free"], "gold had no event in the window");
    assert_eq!(
        stored_groups(&first),
        vec!["", "g:free", "g:gold"],
        "not yet checkpointed"
    );
    first.checkpoint().await;
    assert_eq!(
        stored_groups(&first),
        vec!["", "g:free"],
        "the checkpoint deleted gold's rows"
    );
    first.processor.shutdown().await;
    drop(first);

    let second = harness(config(&yaml));
    second.processor.start().await.unwrap();
    assert!(!second.processor.objectives[0].handle.lock().groups.contains_key("gold"));
    assert_eq!(stored_groups(&second), vec!["", "g:free"]);
    second.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_segment_evicted_for_a_burning_one_is_deleted_from_the_store_and_its_counts_go_to_other() {
    let dir = temp_dir("evicted");
    let yaml = format!(
        "storage: {}\n{}    max_groups: 2\n",
        dir.display(),
        HOMEPAGE.replace("0.99", "0.9")
    );
    let h = harness(config(&yaml));
    h.processor.start().await.unwrap();
    let mut events = vec![("good", "gold"); 5];
    events.extend([("good", "silver"); 3]);
    h.processor.consume(tagged(&events)).await.unwrap();
    h.checkpoint().await;
    // `bronze` comes after the slots were taken, and fails hard.
    h.processor.consume(tagged(&[("bad", "bronze"); 15])).await.unwrap();
    {
        let state = h.processor.objectives[0].handle.lock();
        let keys: Vec<&String> = state.groups.keys().collect();
        assert_eq!(
            keys,
            vec!["bronze", "gold", state::OVERFLOW_GROUP],
            "silver, the quietest, left"
        );
        assert_eq!(
            state.groups["bronze"].1.ring.totals(),
            (0.0, 6.0),
            "from its 10th event on"
        );
        assert_eq!(
            state.groups[state::OVERFLOW_GROUP].1.ring.totals(),
            (3.0, 9.0),
            "silver's counts and bronze's first nine"
        );
        assert_eq!(state.freed.iter().collect::<Vec<_>>(), vec!["silver"]);
    }
    h.checkpoint().await;
    let loaded = h.stored();
    assert_eq!(
        loaded.series.keys().collect::<Vec<_>>(),
        vec!["", "g:bronze", "g:gold", "g:other"]
    );
    let other = loaded.series["g:other"]
        .slices
        .iter()
        .fold((0.0, 0.0), |(g, b), (_, good, bad)| (g + good, b + bad));
    assert_eq!(other, (3.0, 9.0));
    h.processor.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_segment_first_seen_after_max_groups_gets_a_slot_and_pages() {
    let now = minute_of(unix_nanos());
    let (objective, mut state) = grouped(3, now);
    for segment in [("a", 1000), ("b", 500), ("c", 1000)] {
        record_segment(&mut state, &objective, segment, false, now);
    }
    // Untracked keys' good events, and other keys' bad ones, do not make `d` burn.
    for i in 0..20 {
        record_segment(&mut state, &objective, (&format!("noise{i}"), 1), i % 2 == 0, now);
    }
    let outcome = record_segment(&mut state, &objective, ("d", 30), true, now);
    assert_eq!(outcome.overflowed, 9, "d is promoted at its 10th event (min_events)");
    let keys: Vec<&String> = state.groups.keys().collect();
    assert_eq!(
        keys,
        vec!["a", "c", "d", state::OVERFLOW_GROUP],
        "b, the quietest, left"
    );
    assert!(!state.candidates.keys().contains(&"d"));
    // No count is lost: the groups add up to the objective.
    let (mut good, mut bad) = (0.0, 0.0);
    for (_, series) in state.groups.values() {
        good += series.ring.totals().0;
        bad += series.ring.totals().1;
    }
    assert_eq!((good, bad), state.overall.ring.totals());
    assert_eq!(state.overall.ring.totals(), (2510.0, 40.0));

    let registry = SloRegistry::default();
    registry.register(ObjectiveHandle::new(objective, state));
    let status = registry.status("homepage", now).unwrap();
    assert!(!status.figures.alerts.page, "the objective as a whole does not page");
    assert_eq!(status.paging_groups, 1);
    let d = &status.worst_groups[0];
    assert_eq!(d.group["customer.segment"], "d");
    assert!(d.figures.alerts.page);
    assert_eq!((d.figures.good, d.figures.bad), (0.0, 21.0));
    assert!(status::gate_failures(std::slice::from_ref(&status)).is_empty());
    let failures = status::segment_gate_failures(std::slice::from_ref(&status));
    assert_eq!(failures.len(), 1);
    assert!(failures[0].contains("customer.segment=d"), "{failures:?}");
}

#[test]
fn a_burning_candidate_does_not_take_the_slot_of_a_group_that_spent_more() {
    let now = minute_of(unix_nanos());
    let (objective, mut state) = grouped(1, now);
    record_segment(&mut state, &objective, ("a", 50), true, now);
    record_segment(&mut state, &objective, ("b", 30), true, now);
    let keys: Vec<&String> = state.groups.keys().collect();
    assert_eq!(keys, vec!["a", state::OVERFLOW_GROUP]);
    assert_eq!(state.groups[state::OVERFLOW_GROUP].1.ring.totals(), (0.0, 30.0));
}

#[test]
fn a_paging_segment_is_listed_however_many_groups_have_less_budget_left() {
    let now = minute_of(unix_nanos());
    let (long_ago, then) = (now - 400, now - 180);
    let (objective, mut state) = grouped(20, long_ago);
    // One segment had good traffic seven hours ago...
    record_segment(&mut state, &objective, ("burning", 100), false, long_ago);
    // ...twelve spent their whole budget three hours ago, and no longer burn...
    for i in 0..12 {
        record_segment(&mut state, &objective, (&format!("spent{i:02}"), 20), true, then);
    }
    // ...and the first burns now, with more budget left than those twelve.
    record_segment(&mut state, &objective, ("burning", 20), true, now);
    let registry = SloRegistry::default();
    registry.register(ObjectiveHandle::new(objective, state));
    let status = registry.status("homepage", now).unwrap();
    assert_eq!(status.paging_groups, 1);
    assert_eq!(status.worst_groups.len(), 11, "ten worst, then the paging one");
    let last = &status.worst_groups[10];
    assert_eq!(last.group["customer.segment"], "burning");
    assert!(last.figures.alerts.page);
    let remaining: Vec<f64> = status
        .worst_groups
        .iter()
        .map(|g| g.figures.error_budget_remaining)
        .collect();
    assert!(
        remaining.is_sorted_by(|a, b| a <= b),
        "still in budget order: {remaining:?}"
    );
}

#[test]
fn max_clock_skew_is_exact_to_the_nanosecond() {
    let objective = config(HOMEPAGE).objectives.remove(0);
    // Mid-minute, so a cut-off rounded to minutes would differ.
    let now_unix_nano: u64 = 1_800_000_000 * 1_000_000_000 + 17_000_000_000;
    let now = minute_of(now_unix_nano);
    let ahead = |nanos: u64| {
        let mut state = ObjectiveState::new(&objective, now, now_unix_nano);
        let time = now_unix_nano + nanos;
        let event = Event {
            attributes: &[],
            resource: &[],
            minute: minute_of(time),
            time_unix_nano: time,
            bad: false,
            weight: 1.0,
            trace_id: &[],
            span_id: &[],
        };
        let outcome = state.record(&objective, std::slice::from_ref(&event), now, now_unix_nano, SKEW);
        (outcome.counted, outcome.too_early)
    };
    let second = 1_000_000_000;
    assert_eq!(ahead(299 * second), (1, 0), "4m59s ahead");
    assert_eq!(ahead(300 * second), (1, 0), "5m ahead: not further than max_clock_skew");
    assert_eq!(ahead(300 * second + 1_000_000), (0, 1), "5m0.001s ahead");
    assert_eq!(ahead(330 * second), (0, 1), "5m30s ahead");
}

#[tokio::test]
async fn the_processor_refuses_an_event_five_and_a_half_minutes_ahead() {
    let h = harness(config(HOMEPAGE));
    h.processor.start().await.unwrap();
    let mut data = tagged(&[("good", "gold"), ("good", "gold")]);
    let now = unix_nanos();
    if let Telemetry::Traces(request) = &mut data {
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        spans[0].end_time_unix_nano = now + 330 * 1_000_000_000;
        spans[1].end_time_unix_nano = now + 270 * 1_000_000_000;
    }
    h.processor.consume(data).await.unwrap();
    let status = h.service_slos().status("homepage", minute_of(unix_nanos())).unwrap();
    assert_eq!(status.figures.total, 1.0, "only the span 4m30s ahead counts");
    h.processor.shutdown().await;
}
