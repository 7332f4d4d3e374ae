//! `spanmetrics` — turns spans into request, error and duration (R.E.D.) metrics, as
//! the Collector's spanmetricsconnector: it is an exporter of traces pipelines and a
//! receiver of metrics pipelines.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! ```yaml
//! service:
//!   pipelines:
//!     traces:
//!       receivers: [otlp]
//!       exporters: [otlp_grpc, spanmetrics]
//!     metrics/red:
//!       receivers: [spanmetrics]
//!       exporters: [otlp_grpc]
//! ```
//!
//! For every series — a resource (its attributes) and the values of the dimensions
//! `service.name`, `span.name`, `span.kind` (`SPAN_KIND_SERVER`, ...), `status.code`
//! (`STATUS_CODE_UNSET`, `STATUS_CODE_OK`, `STATUS_CODE_ERROR`) and every configured
//! `dimensions[].name` (from the span's attributes, else the resource's, else
//! `default`, else left out) — it sends:
//!
//! | metric | type | |
//! |---|---|---|
//! | `traces.span.metrics.calls` | monotonic Sum (int) | spans seen; errors are the series with `status.code` = `STATUS_CODE_ERROR` |
//! | `traces.span.metrics.duration` | explicit-bucket Histogram, unit `ms` | end − start time; buckets `[2ms, 4ms, 6ms, 8ms, 10ms, 50ms, 100ms, 200ms, 400ms, 800ms, 1s, 1400ms, 2s, 5s, 10s, 15s]` unless `histogram.explicit.buckets` says otherwise |
//!
//! | key | default | |
//! |---|---|---|
//! | `namespace` | `traces.span.metrics` | prefix of the metric names; `""` for none |
//! | `dimensions` | none | `[{name, default}]` |
//! | `metrics_flush_interval` | `60s` | how often the metrics are sent; they are also sent once more at shutdown, so every span received is counted |
//! | `aggregation_temporality` | `AGGREGATION_TEMPORALITY_CUMULATIVE` | or `AGGREGATION_TEMPORALITY_DELTA`: each flush then carries what happened since the previous one |
//! | `histogram.unit` | `ms` | or `s` |
//! | `histogram.explicit.buckets` | see above | durations, increasing |
//! | `histogram.disable` | `false` | send `calls` only |
//! | `exemplars.enabled` | `false` | attach the trace and span id of measured spans to the histogram points |
//! | `exemplars.max_per_data_point` | `5` | exemplars per point and flush |
//! | `dimensions_cache_size` | `1000` | the most series kept; spans of series beyond it are counted in one series per resource with the attribute `otel.metric.overflow` = `true` (so totals stay right) and in `otelcol_connector_spanmetrics_overflow_spans` |
//!
//! Each resource gets one `ResourceMetrics` with the resource's attributes and the scope
//! `spanmetricsconnector`. With cumulative temporality every series is sent at every
//! flush, its start time being when it was first seen; with delta, only the series
//! that saw spans, and the counts start again after a flush that was accepted. A
//! flush the metrics pipelines refuse is counted in
//! `otelcol_connector_spanmetrics_failed_flushes` and logged; cumulative totals are
//! sent again at the next flush, delta counts are kept for it.
//!
//! As in the Collector, spans of a resource without `service.name` are not counted;
//! here they are counted in `otelcol_connector_spanmetrics_dropped_spans` and logged
//! (at most every ten seconds). Self-metrics are labelled `connector` = id.
//!
//! Left out, compared with the Collector: exponential histograms (refused with a
//! message), `exclude_dimensions`, the `events` metric, `resource_metrics_key_attributes`,
//! `metrics_expiration`, and exemplars on `calls`. The Collector's
//! `dimensions_cache_size` only sizes a cache; here it bounds the series, which is what
//! the Collector's `aggregation_cardinality_limit` does.

mod config;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::Counter;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, Span};
use prost::Message;
use tokio_util::sync::CancellationToken;

pub use config::{
    BucketBound, Dimension, DurationUnit, ExemplarsConfig, ExplicitBuckets, HistogramConfig, SpanMetricsConfig,
    Temporality, BUILTIN_DIMENSIONS, DEFAULT_BUCKETS,
};

use super::DropLog;
use crate::component::registry::ConnectorFactory;
use crate::component::{
    BoxFuture, BuildError, ConnectorConfig, ConnectorContext, ConsumeError, Consumer, Lifecycle, Processor, Retry,
    Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ConnectorFactory = ConnectorFactory {
    type_name: "span_metrics",
    aliases: &["spanmetrics"],
    signals: &[Signal::Traces],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ConnectorConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<SpanMetricsConfig>(value)?))
}

/// The scope name of the metrics it sends, as in the Collector.
pub const SCOPE_NAME: &str = "spanmetricsconnector";

/// The attribute of the series that counts spans beyond `dimensions_cache_size`.
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// How long a final flush that the metrics pipelines refuse (retryably) is retried.
const FINAL_FLUSH_RETRY: Duration = Duration::from_millis(100);
const FINAL_FLUSH_ATTEMPTS: u32 = 50;

impl ConnectorConfig for SpanMetricsConfig {
    fn supports(&self, from: Signal, to: Signal) -> bool {
        from == Signal::Traces && to == Signal::Metrics
    }

    fn build(&self, ctx: &ConnectorContext<'_>) -> Result<Arc<dyn Processor>, BuildError> {
        if !self.supports(ctx.from, ctx.to) {
            return Err(BuildError::new(format!(
                "spanmetrics takes traces and emits metrics, not {} to {}",
                ctx.from, ctx.to
            )));
        }
        if ctx.outputs.is_empty() {
            return Err(BuildError::new(format!(
                "no metrics pipeline lists {} as a receiver",
                ctx.id
            )));
        }
        let label = ctx.id.to_string();
        Ok(Arc::new(SpanMetricsConnector {
            core: Arc::new(Core {
                id: label.clone(),
                bounds: self.buckets().into_iter().map(|b| self.histogram.unit.of(b)).collect(),
                calls_name: self.metric_name("calls"),
                duration_name: self.metric_name("duration"),
                config: self.clone(),
                outputs: ctx.outputs.values().cloned().collect(),
                state: Mutex::new(Aggregates::new(now_nanos())),
                flush_lock: tokio::sync::Mutex::new(()),
                overflow_spans: metrics::counter!(
                    "otelcol_connector_spanmetrics_overflow_spans",
                    "connector" => label.clone()
                ),
                dropped_spans: metrics::counter!(
                    "otelcol_connector_spanmetrics_dropped_spans",
                    "connector" => label.clone()
                ),
                failed_flushes: metrics::counter!(
                    "otelcol_connector_spanmetrics_failed_flushes",
                    "connector" => label
                ),
                overflow_log: DropLog::default(),
                dropped_log: DropLog::default(),
            }),
            stop: CancellationToken::new(),
            timer: Mutex::new(None),
        }))
    }
}

/// Nanoseconds since the Unix epoch, now.
fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One series: what has been measured for one resource and set of dimension values.
#[derive(Debug, Clone)]
struct Series {
    attributes: Vec<KeyValue>,
    start_time: u64,
    calls: u64,
    bucket_counts: Vec<u64>,
    sum: f64,
    exemplars: Vec<Exemplar>,
}

impl Series {
    fn new(attributes: Vec<KeyValue>, start_time: u64, buckets: usize) -> Self {
        Self {
            attributes,
            start_time,
            calls: 0,
            bucket_counts: vec![0; buckets],
            sum: 0.0,
            exemplars: Vec::new(),
        }
    }

    /// Adds `other`'s counts (a delta flush that was refused, put back).
    fn absorb(&mut self, other: Series, max_exemplars: usize) {
        self.start_time = self.start_time.min(other.start_time);
        self.calls += other.calls;
        self.sum += other.sum;
        for (count, more) in self.bucket_counts.iter_mut().zip(other.bucket_counts) {
            *count += more;
        }
        let room = max_exemplars.saturating_sub(self.exemplars.len());
        self.exemplars.extend(other.exemplars.into_iter().take(room));
    }
}

/// One resource's series, by encoded dimension values.
#[derive(Debug, Clone, Default)]
struct ResourceSeries {
    resource: Resource,
    series: BTreeMap<Vec<u8>, Series>,
}

/// Everything measured since the start (cumulative) or the last flush (delta).
#[derive(Debug, Clone)]
struct Aggregates {
    /// By encoded resource attributes.
    resources: BTreeMap<Vec<u8>, ResourceSeries>,
    /// Series kept, not counting overflow series.
    series: usize,
    /// Start time of series created now (the last flush, for delta).
    period_start: u64,
}

impl Aggregates {
    fn new(period_start: u64) -> Self {
        Self {
            resources: BTreeMap::new(),
            series: 0,
            period_start,
        }
    }
}

/// What the connector instance and its timer share.
struct Core {
    id: String,
    config: SpanMetricsConfig,
    /// Bucket bounds in the histogram's unit.
    bounds: Vec<f64>,
    calls_name: String,
    duration_name: String,
    outputs: Vec<Arc<dyn Consumer>>,
    state: Mutex<Aggregates>,
    /// One flush at a time, so delta counts put back after a refusal are not
    /// overtaken by the next flush.
    flush_lock: tokio::sync::Mutex<()>,
    overflow_spans: Counter,
    dropped_spans: Counter,
    failed_flushes: Counter,
    overflow_log: DropLog,
    dropped_log: DropLog,
}

/// The running connector.
pub struct SpanMetricsConnector {
    core: Arc<Core>,
    stop: CancellationToken,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A string attribute.
fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// The value of attribute `key`, if set.
fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .filter(|v| v.value.is_some())
}

/// `SPAN_KIND_SERVER` and friends, as the Collector spells span kinds.
fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// `STATUS_CODE_UNSET`, `STATUS_CODE_OK` or `STATUS_CODE_ERROR`.
fn status_code_name(span: &Span) -> &'static str {
    match span.status.as_ref().map(|s| s.code) {
        Some(code) if code == status::StatusCode::Ok as i32 => "STATUS_CODE_OK",
        Some(code) if code == status::StatusCode::Error as i32 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

impl Core {
    /// The dimension values of `span` as attributes.
    fn dimensions(&self, service: &AnyValue, span: &Span, resource: &[KeyValue]) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(BUILTIN_DIMENSIONS.len() + self.config.dimensions.len());
        attributes.push(KeyValue {
            key: BUILTIN_DIMENSIONS[0].to_string(),
            value: Some(service.clone()),
            ..Default::default()
        });
        attributes.push(string_kv(BUILTIN_DIMENSIONS[1], &span.name));
        attributes.push(string_kv(BUILTIN_DIMENSIONS[2], span_kind_name(span.kind)));
        attributes.push(string_kv(BUILTIN_DIMENSIONS[3], status_code_name(span)));
        for dimension in &self.config.dimensions {
            match find(&span.attributes, &dimension.name).or_else(|| find(resource, &dimension.name)) {
                Some(value) => attributes.push(KeyValue {
                    key: dimension.name.clone(),
                    value: Some(value.clone()),
                    ..Default::default()
                }),
                None => {
                    if let Some(default) = &dimension.default {
                        attributes.push(string_kv(&dimension.name, default));
                    }
                }
            }
        }
        attributes
    }

    /// Adds every span of `request` to its series.
    fn aggregate(&self, request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest) {
        let histogram = !self.config.histogram.disable;
        let exemplars = histogram && self.config.exemplars.enabled;
        let max_series = self.config.dimensions_cache_size;
        let mut dropped = 0u64;
        let mut overflowed = 0u64;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for resource_spans in &request.resource_spans {
            let spans = resource_spans.scope_spans.iter().flat_map(|ss| &ss.spans);
            let resource_attributes = resource_spans.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            let Some(service) = find(resource_attributes, BUILTIN_DIMENSIONS[0]) else {
                dropped += spans.count() as u64;
                continue;
            };
            let resource_key = Resource {
                attributes: resource_attributes.to_vec(),
                ..Default::default()
            }
            .encode_to_vec();
            let period_start = state.period_start;
            let Aggregates { resources, series, .. } = &mut *state;
            let entry = resources.entry(resource_key).or_insert_with(|| ResourceSeries {
                resource: Resource {
                    attributes: resource_attributes.to_vec(),
                    ..Default::default()
                },
                series: BTreeMap::new(),
            });
            for span in spans {
                // The dimension values, encoded, are the series' key.
                let dimensions = Resource {
                    attributes: self.dimensions(service, span, resource_attributes),
                    ..Default::default()
                };
                let mut key = dimensions.encode_to_vec();
                let mut attributes = dimensions.attributes;
                if !entry.series.contains_key(&key) {
                    if *series >= max_series {
                        overflowed += 1;
                        attributes = vec![KeyValue {
                            key: OVERFLOW_ATTRIBUTE.to_string(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::BoolValue(true)),
                            }),
                            ..Default::default()
                        }];
                        // An empty key cannot collide with a real series (those
                        // always have the built-in dimensions).
                        key = Vec::new();
                    } else {
                        *series += 1;
                    }
                }
                let buckets = self.bounds.len() + 1;
                let series = entry
                    .series
                    .entry(key)
                    .or_insert_with(|| Series::new(attributes, period_start, buckets));
                series.calls += 1;
                if histogram {
                    let nanos = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
                    let value = self.config.histogram.unit.of(Duration::from_nanos(nanos));
                    let bucket = self.bounds.partition_point(|bound| *bound < value);
                    series.bucket_counts[bucket] += 1;
                    series.sum += value;
                    if exemplars && series.exemplars.len() < self.config.exemplars.max_per_data_point {
                        series.exemplars.push(Exemplar {
                            time_unix_nano: span.end_time_unix_nano,
                            trace_id: span.trace_id.clone(),
                            span_id: span.span_id.clone(),
                            value: Some(exemplar::Value::AsDouble(value)),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        drop(state);
        if dropped > 0 {
            self.dropped_spans.increment(dropped);
            self.dropped_log.record(dropped, |spans| {
                tracing::warn!(
                    message = "Spans of a resource without service.name are not counted.",
                    connector = %self.id,
                    spans
                );
            });
        }
        if overflowed > 0 {
            self.overflow_spans.increment(overflowed);
            self.overflow_log.record(overflowed, |spans| {
                tracing::warn!(
                    message = "Too many series (dimensions_cache_size): spans counted in the overflow series.",
                    connector = %self.id,
                    spans
                );
            });
        }
    }

    /// The metrics of `aggregates` at `now`.
    fn metrics(&self, aggregates: &Aggregates, now: u64) -> Telemetry {
        let temporality = match self.config.aggregation_temporality {
            Temporality::Cumulative => 2,
            Temporality::Delta => 1,
        };
        let resource_metrics = aggregates
            .resources
            .values()
            .filter(|r| !r.series.is_empty())
            .map(|resource| {
                let calls = resource
                    .series
                    .values()
                    .map(|s| NumberDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: s.start_time,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(s.calls).unwrap_or(i64::MAX),
                        )),
                        ..Default::default()
                    })
                    .collect();
                let mut metrics = vec![Metric {
                    name: self.calls_name.clone(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: calls,
                        aggregation_temporality: temporality,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }];
                if !self.config.histogram.disable {
                    let points = resource
                        .series
                        .values()
                        .map(|s| HistogramDataPoint {
                            attributes: s.attributes.clone(),
                            start_time_unix_nano: s.start_time,
                            time_unix_nano: now,
                            count: s.calls,
                            sum: Some(s.sum),
                            bucket_counts: s.bucket_counts.clone(),
                            explicit_bounds: self.bounds.clone(),
                            exemplars: s.exemplars.clone(),
                            ..Default::default()
                        })
                        .collect();
                    metrics.push(Metric {
                        name: self.duration_name.clone(),
                        unit: self.config.histogram.unit.as_str().to_string(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: points,
                            aggregation_temporality: temporality,
                        })),
                        ..Default::default()
                    });
                }
                ResourceMetrics {
                    resource: Some(resource.resource.clone()),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: SCOPE_NAME.to_string(),
                            ..Default::default()
                        }),
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect();
        Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics })
    }

    /// Sends the metrics to every metrics pipeline. Exemplars are sent once; for
    /// delta, counts start again once the metrics were taken.
    async fn flush(&self) -> Result<(), ConsumeError> {
        let _one_at_a_time = self.flush_lock.lock().await;
        let now = now_nanos();
        let (data, taken) = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.resources.values().all(|r| r.series.is_empty()) {
                return Ok(());
            }
            match self.config.aggregation_temporality {
                Temporality::Cumulative => {
                    let data = self.metrics(&state, now);
                    for resource in state.resources.values_mut() {
                        for series in resource.series.values_mut() {
                            series.exemplars.clear();
                        }
                    }
                    (data, None)
                }
                Temporality::Delta => {
                    let taken = std::mem::replace(&mut *state, Aggregates::new(now));
                    (self.metrics(&taken, now), Some(taken))
                }
            }
        };
        let result = super::send_to_all(&self.outputs, data).await;
        if let Err(error) = &result {
            self.failed_flushes.increment(1);
            tracing::warn!(message = "The metrics pipelines refused span metrics.", connector = %self.id, %error);
            if let Some(taken) = taken {
                self.put_back(taken);
            }
        }
        result
    }

    /// Adds the counts of a refused delta flush back, for the next flush.
    fn put_back(&self, taken: Aggregates) {
        let max_exemplars = self.config.exemplars.max_per_data_point;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.period_start = state.period_start.min(taken.period_start);
        for (key, resource) in taken.resources {
            let entry = state.resources.entry(key).or_insert_with(|| ResourceSeries {
                resource: resource.resource.clone(),
                series: BTreeMap::new(),
            });
            let mut added = 0;
            for (key, series) in resource.series {
                match entry.series.get_mut(&key) {
                    Some(existing) => existing.absorb(series, max_exemplars),
                    None => {
                        added += usize::from(!key.is_empty());
                        entry.series.insert(key, series);
                    }
                }
            }
            state.series += added;
        }
    }

    /// Flushes; a retryable refusal is tried again for a while, since nothing
    /// flushes after this.
    async fn final_flush(&self) {
        for _ in 0..FINAL_FLUSH_ATTEMPTS {
            match self.flush().await {
                Ok(()) => return,
                Err(error) if error.retry == Retry::Never => break,
                Err(_) => tokio::time::sleep(FINAL_FLUSH_RETRY).await,
            }
        }
        tracing::error!(message = "The final span metrics could not be sent.", connector = %self.id);
    }
}

impl Consumer for SpanMetricsConnector {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let Telemetry::Traces(request) = &data else {
                return Err(ConsumeError::permanent(format!(
                    "spanmetrics takes traces, not {}",
                    data.signal()
                )));
            };
            self.core.aggregate(request);
            if self.stop.is_cancelled() {
                // Shut down: no timer flushes any more, so what comes late is sent now.
                return self.core.flush().await;
            }
            Ok(())
        })
    }
}

impl Lifecycle for SpanMetricsConnector {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        // Spawn inside the future, so the timer runs on the runtime that awaits it.
        Box::pin(async move {
            let mut timer = self.timer.lock().unwrap_or_else(|p| p.into_inner());
            if timer.is_none() && !self.stop.is_cancelled() {
                let core = self.core.clone();
                let stop = self.stop.clone();
                let every = self.core.config.metrics_flush_interval;
                *timer = Some(tokio::spawn(async move {
                    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            _ = ticks.tick() => {
                                // A refusal was counted and logged; the next flush sends it.
                                let _ = core.flush().await;
                            }
                            _ = stop.cancelled() => return,
                        }
                    }
                }));
            }
            Ok(())
        })
    }

    /// Stops the timer and sends everything measured, so after shutdown the calls
    /// counted equal the spans received.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            self.core.final_flush().await;
        })
    }
}
