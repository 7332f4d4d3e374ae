//! The OTLP metrics an slo processor emits every `interval`:
//!
//! | metric | type | attributes |
//! |---|---|---|
//! | `slo.events` | cumulative monotonic sum, with exemplars of recent bad events | `slo.name`, `slo.outcome` (`good`/`bad`) |
//! | `slo.objective` | gauge: the target | `slo.name` |
//! | `slo.error_budget.remaining` | gauge: 1 untouched, 0 exhausted | `slo.name` |
//! | `slo.burn_rate` | gauge | `slo.name`, `slo.window` (`5m`, `1h`, ...) |
//! | `slo.error_budget.exhaustion` | gauge, seconds (only while burning) | `slo.name` |
//! | `slo.alert` | gauge 1/0 | `slo.name`, `slo.severity` (`page`/`ticket`) |
//!
//! Per-group series carry the `group_by` attributes as well.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::budget::assess;
use super::ring::Minute;
use super::state::{ObjectiveHandle, Series};

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn point(attributes: Vec<KeyValue>, value: f64, start: u64, time: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// Collects points per metric name, in a stable order.
#[derive(Default)]
struct Points {
    events: Vec<NumberDataPoint>,
    objective: Vec<NumberDataPoint>,
    remaining: Vec<NumberDataPoint>,
    burn_rate: Vec<NumberDataPoint>,
    exhaustion: Vec<NumberDataPoint>,
    alert: Vec<NumberDataPoint>,
}

impl Points {
    fn add_series(&mut self, handle: &ObjectiveHandle, base: &[KeyValue], series: &Series, now: Minute, time: u64) {
        let config = &handle.config;
        let with = |extra: &[KeyValue]| base.iter().chain(extra).cloned().collect::<Vec<_>>();
        self.events.push(point(
            with(&[kv("slo.outcome", "good")]),
            series.cumulative_good,
            series.start_unix_nano,
            time,
        ));
        let mut bad = point(
            with(&[kv("slo.outcome", "bad")]),
            series.cumulative_bad,
            series.start_unix_nano,
            time,
        );
        bad.exemplars = series
            .recent_bad
            .iter()
            .map(|e| Exemplar {
                time_unix_nano: e.time_unix_nano,
                trace_id: e.trace_id.clone(),
                span_id: e.span_id.clone(),
                value: Some(exemplar::Value::AsDouble(e.weight)),
                ..Default::default()
            })
            .collect();
        self.events.push(bad);
        let a = assess(&series.ring, config, now);
        self.objective.push(point(with(&[]), config.target, 0, time));
        self.remaining.push(point(with(&[]), a.error_budget_remaining, 0, time));
        for burn in &a.burn_rates {
            self.burn_rate
                .push(point(with(&[kv("slo.window", &burn.window)]), burn.rate, 0, time));
        }
        if let Some(seconds) = a.exhaustion_seconds {
            self.exhaustion.push(point(with(&[]), seconds, 0, time));
        }
        for (severity, firing) in [("page", a.page), ("ticket", a.ticket)] {
            self.alert.push(point(
                with(&[kv("slo.severity", severity)]),
                if firing { 1.0 } else { 0.0 },
                0,
                time,
            ));
        }
    }
}

fn gauge(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points })),
        ..Default::default()
    }
}

/// The metrics for every objective at `now` (Unix nanoseconds `time`).
pub fn build(handles: &[std::sync::Arc<ObjectiveHandle>], now: Minute, time: u64) -> ExportMetricsServiceRequest {
    let mut points = Points::default();
    for handle in handles {
        let mut state = handle.lock();
        state.advance(now);
        let name = [kv("slo.name", &handle.config.name)];
        points.add_series(handle, &name, &state.overall, now, time);
        for (values, series) in state.groups.values() {
            let mut attributes = name.to_vec();
            attributes.extend(handle.config.group_by.iter().zip(values).map(|(k, v)| kv(k, v)));
            points.add_series(handle, &attributes, series, now, time);
        }
    }
    let metrics = vec![
        Metric {
            name: "slo.events".into(),
            description: "Events classified by the SLO's SLI, weighted by their sampling adjusted count.".into(),
            unit: "{event}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: points.events,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        gauge(
            "slo.objective",
            "The SLO's target ratio of good events.",
            "1",
            points.objective,
        ),
        gauge(
            "slo.error_budget.remaining",
            "Fraction of the error budget left in the window (negative when overspent).",
            "1",
            points.remaining,
        ),
        gauge(
            "slo.burn_rate",
            "Rate of error-budget spend over a window; 1 spends it exactly by the end of the SLO window.",
            "1",
            points.burn_rate,
        ),
        gauge(
            "slo.error_budget.exhaustion",
            "Seconds until the error budget is spent at the last hour's rate.",
            "s",
            points.exhaustion,
        ),
        gauge(
            "slo.alert",
            "1 while a multiwindow burn-rate alert of the severity fires.",
            "1",
            points.alert,
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "sloop"), kv("service.instance.id", instance_id())],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "sloop/slo".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: metrics
                    .into_iter()
                    .filter(|m| crate::pdata::data_point_count(m) > 0)
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// This replica's `service.instance.id`, so replicas' `slo.events` series stay apart
/// once Prometheus turns it into the `instance` label: the pod name in Kubernetes
/// (`K8S_POD_NAME` from the downward API, else the hostname, which Kubernetes sets to
/// the pod name), else the host's name. Stable across restarts, unlike the random
/// UUID the Collector gives its own telemetry, because the counters continue from the
/// stored state after a restart and should continue the same series.
fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let non_empty = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        std::env::var("K8S_POD_NAME")
            .ok()
            .and_then(non_empty)
            .or_else(|| std::env::var("HOSTNAME").ok().and_then(non_empty))
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .and_then(non_empty)
            })
            .unwrap_or_else(|| "unknown".into())
    })
}
